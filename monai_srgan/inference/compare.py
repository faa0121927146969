"""Per-image comparison outputs: a side-by-side PNG (bicubic | SR | difference) and the LR-consistency residual map.

The side-by-side figure has two rows: the whole image (each panel reduced to at most ``max_panel`` pixels) and a
centre crop at full SR resolution, where the difference between bicubic and SR is visible. The LR-consistency residual
is ``degrade(SR) - LR`` from :func:`monai_srgan.metrics.lr_consistency` (bicubic back to the LR grid): bright areas are
content of the SR output that the input cannot explain.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from monai_srgan.inference.writers._common import atomic_write_file

__all__ = ["comparison_images", "write_comparison", "comparison_paths"]


def comparison_paths(out_path: str | os.PathLike) -> tuple[Path, Path]:
    """``(<stem>_compare.png, <stem>_lr_residual.png)`` next to an output file or DICOM folder."""
    p = Path(out_path)
    name = p.name
    for ext in (".nii.gz", ".png", ".jpg", ".tif", ".nii"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return p.parent / f"{name}_compare.png", p.parent / f"{name}_lr_residual.png"


def _plane(x: torch.Tensor) -> torch.Tensor:
    """(C, H, W) of a 2D image, or the middle slice (last axis) of a volume."""
    return x if x.ndim == 3 else x[..., x.shape[-1] // 2]


def _to_u8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] → (H, W) or (H, W, 3) uint8."""
    a = (x.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()
    return a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)


def comparison_images(
    lr_norm: torch.Tensor, sr_norm: torch.Tensor, scale: Any, max_panel: int = 768, crop: int = 384
) -> tuple[np.ndarray, np.ndarray, float]:
    """Build the side-by-side figure and the residual map from normalised ([0, 1]) LR and SR images.

    Args:
        lr_norm: ``(C, *spatial)`` normalised input.
        sr_norm: ``(C, *scale·spatial)`` normalised SR output.
        scale: per-axis scale of ``sr_norm`` relative to ``lr_norm``.
        max_panel: longest side of each whole-image panel.
        crop: side of the centre crop (SR pixels).

    Returns:
        ``(figure uint8, residual map uint8, LR-consistency PSNR in dB)``.
    """
    from monai_srgan.metrics import lr_consistency
    from monai_srgan.transforms.resize import imresize

    lr_p, sr_p = _plane(lr_norm.float()), _plane(sr_norm.float())
    s2 = [int(s) for s in list(scale)[:2]]
    cons = lr_consistency(sr_p[None], lr_p[None], scale=s2, input_range=(0.0, 1.0))
    psnr = float(cons["psnr"][0])
    res = cons["residual"][0].abs().mean(0, keepdim=True)
    residual = _to_u8((res / 0.1).clamp(0, 1))  # 0.1 of the range (e.g. 25 grey levels of 255) is white
    bic = imresize(lr_p[None], size=tuple(sr_p.shape[1:]), mode="bicubic").clamp(0, 1)[0]
    diff = ((sr_p - bic).abs().mean(0, keepdim=True) * 4.0).clamp(0, 1).expand_as(sr_p)
    h, w = sr_p.shape[1:]
    f = min(1.0, max_panel / max(h, w))
    small = [
        imresize(t[None], size=(max(int(h * f), 1), max(int(w * f), 1)), mode="area")[0] for t in (bic, sr_p, diff)
    ]
    cy, cx, c = h // 2, w // 2, min(crop, h, w)
    y0, x0 = max(cy - c // 2, 0), max(cx - c // 2, 0)
    crops = [t[:, y0 : y0 + c, x0 : x0 + c] for t in (bic, sr_p, diff)]
    gap = 4
    top = [_to_u8(t) for t in small]
    bottom = [_to_u8(t) for t in crops]
    rgb = any(a.ndim == 3 for a in top)

    def _rgb(a: np.ndarray) -> np.ndarray:
        return a if a.ndim == 3 else np.repeat(a[..., None], 3, -1)

    if rgb:
        top, bottom = [_rgb(a) for a in top], [_rgb(a) for a in bottom]
    row_w = max(sum(a.shape[1] for a in top), sum(a.shape[1] for a in bottom)) + 2 * gap
    rows_h = top[0].shape[0] + bottom[0].shape[0] + gap
    fig = np.zeros((rows_h, row_w, 3) if rgb else (rows_h, row_w), dtype=np.uint8)
    x = 0
    for a in top:
        fig[: a.shape[0], x : x + a.shape[1]] = a
        x += a.shape[1] + gap
    x, y = 0, top[0].shape[0] + gap
    for a in bottom:
        fig[y : y + a.shape[0], x : x + a.shape[1]] = a
        x += a.shape[1] + gap
    return fig, residual, psnr


def write_comparison(pipeline: Any, source: Any, sr: MetaTensor, out_path: str | os.PathLike) -> float:
    """Write ``<stem>_compare.png`` and ``<stem>_lr_residual.png`` for one input; returns the LR-consistency PSNR.

    Args:
        pipeline: the :class:`~monai_srgan.inference.pipeline.SRInferencePipeline` that produced ``sr``.
        source: the input (path, list of paths, InputItem or MetaTensor); loaded again.
        sr: the SR output of :meth:`SRInferencePipeline.predict` (value domain).
        out_path: the main output's path (the comparison files go next to it).
    """
    from PIL import Image

    lr = pipeline.load(source)
    lr_norm, params = pipeline._normalize(lr)
    scale = torch.as_tensor(np.asarray(params["scale"], dtype=np.float64)).float()
    offset = torch.as_tensor(np.asarray(params["offset"], dtype=np.float64)).float()
    shape = [-1] + [1] * (sr.ndim - 1)
    sr_norm = sr.as_tensor().float() * scale.reshape(shape) + offset.reshape(shape)
    fig, residual, psnr = comparison_images(lr_norm, sr_norm, sr.meta.get("srgan_sr_scale", [1, 1]))
    cmp_path, res_path = comparison_paths(out_path)
    atomic_write_file(cmp_path, lambda t: Image.fromarray(fig).save(t, format="PNG"), overwrite=True)
    atomic_write_file(res_path, lambda t: Image.fromarray(residual).save(t, format="PNG"), overwrite=True)
    return round(psnr, 3)
