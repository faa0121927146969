"""Per-image comparison outputs of ``monai-srgan infer --compare``: one labelled figure and the LR-residual map.

``<stem>_compare.png`` (layout of :func:`monai_srgan.utils.figures.comparison_figure`, the one ``evaluate.json`` uses):

- top: the whole image (2D) or the axial, coronal and sagittal planes through the centre (volumes; the coronal and
  sagittal planes are the ones a through-plane model changes, shown with the slice axis vertical), with the crops
  boxed, and below it max |SR − bicubic| per block of the same view;
- then crops at full SR resolution chosen where SR and bicubic differ most (the window maximising the mean
  |SR − bicubic|, away from the image border and the black background): LR input (nearest) | bicubic | SR |
  |SR − bicubic| (colour map) | HR (when given);
- a colour bar for the difference maps (fraction of the value range).

``<stem>_lr_residual.png`` is |degrade(SR) − LR| on the LR grid (degrade = the antialiased bicubic of
:func:`monai_srgan.metrics.lr_consistency`), coloured, with its own colour bar: bright areas are content of the SR
output that the input cannot explain; its PSNR (the LR-consistency PSNR) goes into the report.

Memory: the SR image is read in stripes; only downsampled views, crops and LR-sized maps are held in float, never a
full-size float copy of the SR image (a 3504×2336 photograph ×4 stays within inference's own peak).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_srgan.io.writers.common import atomic_write_file
from monai_srgan.io.writers.formats import FORMAT_EXTENSIONS
from monai_srgan.transforms.resize import imresize
from monai_srgan.utils.figures import colorbar, colorize, comparison_figure

__all__ = ["comparison_paths", "write_comparison", "comparison_planes", "lr_residual", "uncertainty_figure"]

_CTX = 4  # LR pixels of context for bicubic up/down-sampling of a stripe (kernel support 2)
_STRIPE_BYTES = 64 * 2**20  # float SR pixels converted at a time


def comparison_paths(out_path: str | os.PathLike) -> tuple[Path, Path]:
    """``(<stem>_compare.png, <stem>_lr_residual.png)`` next to an output file or DICOM folder."""
    p = Path(out_path)
    name = p.name

    for ext in sorted({*filter(None, FORMAT_EXTENSIONS.values()), ".nii"}, key=len, reverse=True):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return p.parent / f"{name}_compare.png", p.parent / f"{name}_lr_residual.png"


def _stripes(lr: torch.Tensor, sr: torch.Tensor, step: int) -> Any:
    """Yield ``(a, b, la, lb)``: LR rows ``[a, b)`` of the first spatial axis and their context rows ``[la, lb)``."""
    h = lr.shape[1]
    px = max(int(np.prod(sr.shape)) // max(sr.shape[1], 1), 1)
    n = max(step, (_STRIPE_BYTES // (4 * px * max(sr.shape[1] // h, 1))) // step * step)
    for a in range(0, h, n):
        b = min(a + n, h)
        yield a, b, max(a - _CTX, 0), min(b + _CTX, h)


def lr_residual(lr: torch.Tensor, sr: torch.Tensor, to_norm: Callable[[torch.Tensor], torch.Tensor]) -> tuple:
    """|degrade(SR) − LR| (channel mean, on the LR grid) and the LR-consistency PSNR, computed stripe by stripe.

    Args:
        lr: ``(C, *lr_spatial)`` normalised input.
        sr: ``(C, *sr_spatial)`` SR output in any dtype (value domain).
        to_norm: maps a block of ``sr`` to normalised float32.

    Returns:
        ``(residual (*lr_spatial) float32, PSNR in dB)``.
    """
    s = [so // si for so, si in zip(sr.shape[1:], lr.shape[1:])]
    res = torch.empty(lr.shape[1:], dtype=torch.float32)
    sq = 0.0
    for a, b, la, lb in _stripes(lr, sr, 1):
        block = to_norm(sr[:, la * s[0] : lb * s[0]])
        deg = imresize(block[None], size=(lb - la, *lr.shape[2:]), spatial_dims=lr.ndim - 1)[0][:, a - la : b - la]
        d = deg - lr[:, a:b]
        sq += float((d.double() ** 2).sum())
        res[a:b] = d.abs().mean(0)
    mse = sq / max(lr.numel(), 1)
    return res, (100.0 if mse == 0 else 10.0 * math.log10(1.0 / mse))


def _scan(lr: torch.Tensor, sr: torch.Tensor, to_norm: Callable, s: list[int], cell: int) -> tuple:
    """Per ``cell``×``cell`` SR block of a 2D view: SR mean (C, hc, wc) and mean |SR − bicubic| (hc, wc)."""
    small, dmean = [], []
    for a, b, la, lb in _stripes(lr, sr, math.lcm(cell, s[0]) // s[0]):
        block = to_norm(sr[:, a * s[0] : b * s[0]])
        bic = imresize(lr[None, :, la:lb], size=((lb - la) * s[0], block.shape[2]))[0]
        d = (block - bic[:, (a - la) * s[0] : (b - la) * s[0]]).abs().mean(0, keepdim=True)[None]
        pool = dict(kernel_size=cell, stride=cell, ceil_mode=True)
        small.append(torch.nn.functional.avg_pool2d(block[None], **pool)[0])
        dmean.append(torch.nn.functional.avg_pool2d(d, **pool)[0, 0])
    return torch.cat(small, 1), torch.cat(dmean, 0)


def _pick(dmean: torch.Tensor, small: torch.Tensor, k: int, n: int) -> list[tuple[int, int]]:
    """Top-left cells of ``n`` non-overlapping ``k``×``k``-cell windows with the largest mean |SR − bicubic| weighted
    by gradient energy, away from the border and from (black) background."""
    hc, wc = dmean.shape
    k = max(1, min(k, hc, wc))
    g = small.mean(0)
    grad = torch.zeros_like(g)
    grad[:-1] += (g[1:] - g[:-1]).abs()
    grad[:, :-1] += (g[:, 1:] - g[:, :-1]).abs()
    # structure first (edges, vessels, ribs: the gradient clipped at its 95th percentile, so that a few very strong
    # edges do not win), weighted by how much SR differs from bicubic there (square root: a noisy flat area where
    # they differ most, e.g. the mediastinum of a radiograph, must not outweigh structure)
    grad = grad.clamp(max=float(torch.quantile(grad.flatten()[:: max(grad.numel() // 100_000, 1)], 0.95)))
    score = torch.nn.functional.avg_pool2d(((grad + 1e-6) * dmean.sqrt())[None, None], k, stride=1)[0, 0]
    # background: dark *and* flat (the black or dark-green surround of a fundus photograph, air around a volume);
    # dark lung fields have texture and stay foreground
    mean = small.mean(0)
    local_sq = torch.nn.functional.avg_pool2d((mean * mean)[None, None], 5, stride=1, padding=2)[0, 0]
    local_mean = torch.nn.functional.avg_pool2d(mean[None, None], 5, stride=1, padding=2)[0, 0]
    flat = (local_sq - local_mean**2).clamp(min=0).sqrt() < 0.01
    fg = ~((mean < 0.03) | ((mean < 0.2) & flat))
    fg = fg.float()
    e = max(1, round(0.02 * max(hc, wc)))  # stay clear of the field-of-view edge (its gradient is not detail)
    fg = -torch.nn.functional.max_pool2d(-fg[None, None], 2 * e + 1, stride=1, padding=e)[0, 0]
    ok = torch.nn.functional.avg_pool2d(fg[None, None], k, stride=1)[0, 0] > 0.9
    m = max(1, round(0.03 * max(hc, wc)))
    border = torch.zeros_like(ok)
    border[m : max(score.shape[0] - m, m + 1), m : max(score.shape[1] - m, m + 1)] = True
    for keep in (ok & border, ok, torch.ones_like(ok)):
        if keep.any():
            break
    score = torch.where(keep, score, torch.full_like(score, -1.0))
    picks = []
    for _ in range(n):
        i = int(torch.argmax(score))
        if score.view(-1)[i] < 0:
            break
        r, c = divmod(i, score.shape[1])
        picks.append((r, c))
        score[max(r - k + 1, 0) : r + k, max(c - k + 1, 0) : c + k] = -1.0
    return picks


def _crop(lr, sr, to_norm, s, y0, x0, c, hr=None) -> tuple[torch.Tensor, ...]:
    """LR (nearest-upsampled), bicubic, SR, |SR − bicubic| and HR crops of side ``c`` at SR pixel ``(y0, x0)``."""
    ly, lx = y0 // s[0], x0 // s[1]
    ny, nx = -(-c // s[0]), -(-c // s[1])
    lo_y, lo_x = max(ly - _CTX, 0), max(lx - _CTX, 0)
    ctx = lr[:, lo_y : ly + ny + _CTX, lo_x : lx + nx + _CTX]
    bic = imresize(ctx[None], size=(ctx.shape[1] * s[0], ctx.shape[2] * s[1]))[0].clamp(0, 1)
    oy, ox = (ly - lo_y) * s[0], (lx - lo_x) * s[1]
    bic = bic[:, oy : oy + c, ox : ox + c]
    up = lr[:, ly : ly + ny, lx : lx + nx].repeat_interleave(s[0], 1).repeat_interleave(s[1], 2)[:, :c, :c]
    srp = to_norm(sr[:, y0 : y0 + c, x0 : x0 + c]).clamp(0, 1)
    diff = (srp - bic).abs().mean(0, keepdim=True)
    return up, bic, srp, diff, (None if hr is None else hr[:, y0 : y0 + c, x0 : x0 + c].float())


def _box(img: torch.Tensor, y0: int, x0: int, h: int, w: int) -> None:
    """Draw a yellow 1-pixel rectangle into an RGB ``(3, H, W)`` tensor (in place)."""
    y1, x1 = min(y0 + h, img.shape[1]) - 1, min(x0 + w, img.shape[2]) - 1
    color = torch.tensor([1.0, 1.0, 0.0])[:, None]
    img[:, y0, x0 : x1 + 1] = img[:, y1, x0 : x1 + 1] = color
    img[:, y0 : y1 + 1, x0] = img[:, y0 : y1 + 1, x1] = color


def comparison_planes(planes: list[tuple], crop: int = 128, zoom: int = 2, n_crops: int = 2, view: int = 384):
    """Build the comparison figure of 2D views.

    Args:
        planes: ``[(name, lr (C, h, w) normalised, sr (C, H, W) any dtype, [sy, sx], to_norm, hr or None)]``.
        crop: crop side in SR pixels; ``zoom``: its nearest enlargement in the figure.
        n_crops: crops per view whose scale is not 1 (views a model does not change get none).
        view: longest side of a whole-view panel.

    Returns:
        ``(H, W, 3)`` uint8 figure.
    """
    tops, crops = [], []
    for name, lr, sr, s, to_norm, hr in planes:
        big = max(sr.shape[1:])
        cell = max(1, round(big / view))
        small, dmean = _scan(lr, sr, to_norm, s, cell)
        c = min(crop, *sr.shape[1:])
        picks = _pick(dmean, small, max(c // cell, 1), n_crops) if max(s) > 1 else []
        small = small.clamp(0, 1)
        small = small.expand(3, *small.shape[1:]).clone() if small.shape[0] == 1 else small[:3].clone()
        z = max(1, view // max(small.shape[1:]))
        for i, (r, col) in enumerate(picks):
            y0 = min(r * cell, sr.shape[1] - c) // s[0] * s[0]
            x0 = min(col * cell, sr.shape[2] - c) // s[1] * s[1]
            b = max(c // cell, 1)
            m = max(0, (6 - b) // 2)  # a box of at least 6 view pixels, centred on the crop
            _box(small, max(y0 // cell - m, 0), max(x0 // cell - m, 0), b + 2 * m, b + 2 * m)
            plane = "" if name == "image" else f"{name} "  # SR pixel rows/columns of the output file
            where = f"{plane}{i + 1}: rows {y0}-{y0 + c}, cols {x0}-{x0 + c}"
            crops.append((where, _crop(lr, sr, to_norm, s, y0, x0, c, hr)))
        tops.append((name, small, dmean, z))
    diffs = [cr[3] for _, cr in crops]
    vmax = float(torch.quantile(torch.cat([d.flatten() for d in diffs])[::7], 0.995)) if diffs else 0.1
    vmax = max(vmax, 2.0 / 255.0)
    vtop = max(float(torch.quantile(torch.cat([t[2].flatten() for t in tops]), 0.995)), 1e-4)
    dlabel = "mean |SR-bicubic| per block"
    if len(tops) == 1:  # one view: the SR view and its difference map side by side
        n, sm, dm, z = tops[0]
        top = comparison_figure([(f"{n}: SR, crops boxed", [sm]), (dlabel, [colorize(dm, vtop)])], zoom=z)
        top = np.concatenate([top, colorbar(top.shape[1], dlabel, vtop)], 0)
    else:  # volumes: one column per plane, the SR view above its difference map
        panels = [(f"{n}: SR", [sm]) for n, sm, _, _ in tops] + [(n, [colorize(dm, vtop)]) for n, _, dm, _ in tops]
        top = comparison_figure(panels, zoom=min(t[3] for t in tops))
        top = np.concatenate([top, colorbar(top.shape[1], f"right: {dlabel}", vtop)], 0)
    parts = [top]
    if crops:
        cols = ["LR input", "bicubic", "SR", "|SR-bicubic|"] + (["HR"] if crops[0][1][4] is not None else [])
        panels = [(lab, [cr[j] if j != 3 else colorize(cr[3], vmax) for _, cr in crops]) for j, lab in enumerate(cols)]
        parts.append(comparison_figure(panels, zoom=zoom, names=[n for n, _ in crops]))
    width = max(p.shape[1] for p in parts)
    parts.append(colorbar(width, "|SR - bicubic| (fraction of the value range)", vmax))
    return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0))) for p in parts], 0)


def _lr_at(lr: torch.Tensor, axis: int, ks: int, s: int) -> torch.Tensor:
    """The LR plane at SR index ``ks`` of spatial ``axis`` (bicubic along that axis when ``s`` > 1)."""
    if s == 1:
        return lr.select(axis + 1, ks)

    k = ks // s
    lo, hi = max(k - _CTX, 0), min(k + _CTX + 1, lr.shape[axis + 1])
    size = list(lr.shape[1:])
    size[axis] = (hi - lo) * s
    return imresize(lr.narrow(axis + 1, lo, hi - lo)[None], size=size, spatial_dims=3)[0].select(axis + 1, ks - lo * s)


def _views(lr: torch.Tensor, sr: torch.Tensor, s: list[int], hr: torch.Tensor | None) -> list[tuple]:
    """2D views ``(name, lr, sr, [sy, sx], hr)``: the image itself, or a volume's axial, coronal and sagittal planes
    through the centre (coronal/sagittal with the slice axis vertical, first slice at the bottom). A plane's LR is
    interpolated to the SR plane's position along the fixed axis, so that only in-plane scales remain."""
    if lr.ndim == 3:
        return [("image", lr, sr, s[:2], hr)]

    def show(p: torch.Tensor | None, axis: int) -> torch.Tensor | None:
        return p if p is None or axis == 2 else p.transpose(1, 2).flip(1)

    views = []
    for name, axis in (("axial", 2), ("coronal", 1), ("sagittal", 0)):
        ks = (lr.shape[axis + 1] // 2) * s[axis]
        rest = [s[a] for a in range(3) if a != axis]
        views.append(
            (
                name,
                show(_lr_at(lr, axis, ks, s[axis]), axis),
                show(sr.select(axis + 1, ks), axis),
                rest if axis == 2 else rest[::-1],
                show(None if hr is None else hr.select(axis + 1, ks), axis),
            )
        )
    return views  # fmt: skip


def write_comparison(
    pipeline: Any,
    source: Any,
    sr: MetaTensor,
    out_path: str | os.PathLike,
    hr: torch.Tensor | None = None,
    sigma: MetaTensor | None = None,
) -> float:
    """Write ``<stem>_compare.png`` and ``<stem>_lr_residual.png`` for one input; returns the LR-consistency PSNR.

    Args:
        pipeline: the :class:`~monai_srgan.inference.pipeline.SRInferencePipeline` that produced ``sr``.
        source: the input (path, list of paths, InputItem, or the MetaTensor already loaded: used as it is, so the
            CLI's ``--compare`` reads the source once); a path is loaded again (LR size only).
        sr: the SR output of :meth:`SRInferencePipeline.predict` (value domain, any dtype); read in stripes.
        out_path: the main output's path (the comparison files go next to it).
        hr: optional ground truth normalised to [0, 1], ``sr``'s shape: adds an HR column.
        sigma: the uncertainty map of ``sr`` (``--uncertainty``): also writes ``<stem>_uncertainty.png``, the SR
            image with sigma overlaid in colour and a colour bar.
    """
    lr = pipeline.load(source)
    lr_norm, params = pipeline._normalize(lr)
    lr_norm = lr_norm.as_subclass(torch.Tensor).float() if isinstance(lr_norm, torch.Tensor) else lr_norm
    scale = torch.as_tensor(np.asarray(params["scale"], dtype=np.float64)).float().reshape(-1)
    offset = torch.as_tensor(np.asarray(params["offset"], dtype=np.float64)).float().reshape(-1)
    sr_t = sr.as_tensor() if isinstance(sr, MetaTensor) else torch.as_tensor(sr)

    def to_norm(block: torch.Tensor) -> torch.Tensor:
        shape = [-1] + [1] * (block.ndim - 1)
        return block.float() * scale.reshape(shape) + offset.reshape(shape)

    s = [int(v) for v in sr.meta.get("srgan_sr_scale", [so // si for so, si in zip(sr_t.shape[1:], lr.shape[1:])])]
    views = _views(lr_norm, sr_t, s, hr)
    big = max(sr_t.shape[1:]) >= 2048  # large images: wider crops (more context) at 1:1
    fig = comparison_planes(
        [(n, lo, hi, sc, to_norm, h) for n, lo, hi, sc, h in views],
        crop=256 if big else 128,
        zoom=1 if big else 2,
        n_crops=2 if len(views) == 1 else 1,
    )
    res, psnr = lr_residual(lr_norm, sr_t, to_norm)
    f = -(-max(res.shape[:2]) // 1024)  # a 2D residual map beyond 1024 px is max-pooled: bright spots stay visible
    if f > 1 and res.ndim == 2:
        res = torch.nn.functional.max_pool2d(res[None, None], f, ceil_mode=True)[0, 0]
    vmax = max(float(torch.quantile(res.flatten()[:: max(res.numel() // 1_000_000, 1)], 0.999)), 2.0 / 255.0)
    res_views = [(n, colorize(v, vmax)) for n, v, *_ in _views(res[None], res[None], [1, 1, 1], None)]
    res_fig = comparison_figure(
        [
            (
                n
                if len(res_views) > 1
                else "where the output disagrees with its input: |downsampled SR - input| on the input grid"
                + (f" (max per {f}x{f})" if f > 1 else ""),
                [v],
            )
            for n, v in res_views
        ],
        zoom=1,
        color_bar=(
            f"dark = consistent with the input; bright = content the input cannot explain (fraction of the range); "
            f"consistency PSNR {psnr:.1f} dB",
            vmax,
        ),
    )
    cmp_path, res_path = comparison_paths(out_path)
    if sigma is not None:
        unc = uncertainty_figure(sr_t, sigma.as_subclass(torch.Tensor), to_norm, float(scale.abs().mean()))
        unc_path = cmp_path.with_name(cmp_path.name.replace("_compare.png", "_uncertainty.png"))
        atomic_write_file(unc_path, lambda t: Image.fromarray(unc).save(t, format="PNG"), overwrite=True)
    atomic_write_file(cmp_path, lambda t: Image.fromarray(fig).save(t, format="PNG"), overwrite=True)
    atomic_write_file(res_path, lambda t: Image.fromarray(res_fig).save(t, format="PNG"), overwrite=True)
    return round(psnr, 3)


def uncertainty_figure(sr: torch.Tensor, sigma: torch.Tensor, to_norm: Callable, norm_scale: float) -> np.ndarray:
    """The SR image (grey) with its uncertainty overlaid in colour, beside the uncertainty map alone, plus a colour
    bar in value-range fractions; images wider than 1024 px are shown downsampled (sigma max-pooled, so uncertain
    spots stay visible), volumes by their middle slice.

    Args:
        sr: the SR output ``(C, *spatial)`` (value domain).
        sigma: its one-SD map ``(1, *spatial)`` (value units).
        to_norm: value domain → [0, 1] (the pipeline's normalisation).
        norm_scale: the normalisation's scale (value units → fraction of the range).
    """
    if sr.ndim == 4:  # volume: the middle slice
        k = sr.shape[-1] // 2
        sr, sigma = sr[..., k], sigma[..., k]
    f = -(-max(sr.shape[-2:]) // 1024)
    img = to_norm(sr.float()).clamp(0, 1).mean(0, keepdim=True)
    sig = sigma.float() * norm_scale
    if f > 1:
        img = torch.nn.functional.avg_pool2d(img[None], f, ceil_mode=True)[0]
        sig = torch.nn.functional.max_pool2d(sig[None], f, ceil_mode=True)[0]
    sample = sig.flatten()[:: max(sig.numel() // 1_000_000, 1)]
    low = float(torch.quantile(sample, 0.01))  # the image's floor (noise level): shown as no colour
    span = max(float(torch.quantile(sample, 0.995)) - low, 1.0 / 255.0)
    heat = colorize(sig - low, span)
    weight = ((sig - low) / span).clamp(0, 1) * 0.7  # certain pixels show the image, uncertain ones the colour
    overlay = img.expand(3, -1, -1) * (1 - weight) + heat * weight
    label = "uncertainty over SR" + (f" (1/{f} size, max per block)" if f > 1 else "")
    return comparison_figure(
        [(label, [overlay]), ("uncertainty (1 SD)", [heat])],
        zoom=1,
        color_bar=(f"1 SD of the SR value above the image's floor of {low:.4f} (fraction of the value range)", span),
    )
