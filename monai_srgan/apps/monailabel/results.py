"""What an SR infer request returns: output format choice, LR-consistency and the JSON result parameters."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from monai_srgan.errors import ConfigError
from monai_srgan.io.writers.formats import FORMAT_EXTENSIONS, format_name
from monai_srgan.metrics import lr_consistency

__all__ = ["choose_output_format", "lr_consistency_psnr", "result_params", "OUTPUT_FORMATS"]

#: request ``format`` values → (pipeline writer format, file suffix); names and suffixes from monai_srgan.io.writers
OUTPUT_FORMATS = {fmt: (fmt, FORMAT_EXTENSIONS[fmt]) for fmt in ("png", "nifti")}


def choose_output_format(requested: str | None, spatial_dims: int) -> tuple[str, str]:
    """Writer format and file suffix for a result.

    Args:
        requested: request parameter ``format`` (``"auto"``, ``"png"``, ``"nifti"``; ``result_extension`` values such
            as ``".nii.gz"`` are accepted). ``auto``/empty: NIfTI for volumes, PNG for 2D images.
        spatial_dims: 2 or 3, of the SR image.

    Raises:
        ConfigError: unknown format, or PNG asked for a volume.
    """
    fmt = format_name(str(requested or "auto").strip().lstrip("."))  # a result_extension: ".nii.gz" -> "nifti"
    if fmt == "auto":
        fmt = "nifti" if spatial_dims == 3 else "png"
    if fmt not in OUTPUT_FORMATS:
        raise ConfigError(f"format={requested!r}: choose auto, png or nifti")
    if fmt == "png" and spatial_dims != 2:
        raise ConfigError(f"format={requested!r}: a {spatial_dims}D result cannot be a PNG; use nifti or auto")
    return OUTPUT_FORMATS[fmt]


def lr_consistency_psnr(lr: torch.Tensor, sr: torch.Tensor, scale: Sequence[int], meta: Mapping[str, Any]) -> float:
    """PSNR (dB) between the SR image brought back to the LR grid and the LR input, in the source value domain.

    Uses :func:`monai_srgan.metrics.lr_consistency` (antialiased bicubic degradation); ``data_range`` is the source's
    representable range (``srgan_value_max - srgan_value_min``), else the LR image's value range.
    """
    lr_t = torch.as_tensor(np.asarray(lr)).float()[None]
    sr_t = torch.as_tensor(np.asarray(sr)).float()[None]
    lo, hi = meta.get("srgan_value_min"), meta.get("srgan_value_max")
    if lo is None or hi is None or float(hi) <= float(lo):
        lo, hi = float(lr_t.min()), float(lr_t.max())
    data_range = max(float(hi) - float(lo), 1e-12)
    out = lr_consistency(sr_t, lr_t, scale=[float(s) for s in scale], data_range=data_range)
    value = float(out["psnr"].reshape(-1)[0])
    return value if math.isfinite(value) else float("inf")


def _plain(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def result_params(
    model: str,
    bundle: str,
    lr_shape: Sequence[int],
    sr: Any,
    fmt: str,
    timing: Mapping[str, float],
    lr_psnr: float | None,
) -> dict[str, Any]:
    """JSON result parameters of one SR request (all plain JSON types).

    Keys: ``model`` (served name), ``bundle``, ``model_name`` (the pipeline's), ``scale`` (per spatial axis),
    ``input_shape``/``output_shape`` (C, spatial), ``input_spacing``/``spacing`` (mm per spatial axis, before/after),
    ``dtype``, ``format``, ``timing`` (seconds per step), ``lr_consistency_psnr`` (dB, None when not computed).
    """
    meta = dict(getattr(sr, "meta", {}) or {})
    scale = [int(s) for s in meta.get("srgan_sr_scale", [1] * (len(sr.shape) - 1))]
    spacing = meta.get("srgan_spacing")
    in_spacing = None if spacing is None else [float(a) * s for a, s in zip(spacing, scale)]
    psnr = None if lr_psnr is None else (round(lr_psnr, 4) if math.isfinite(lr_psnr) else "inf")
    return {
        "model": model,
        "bundle": bundle,
        "model_name": str(meta.get("srgan_model", model)),
        "scale": scale,
        "input_shape": [int(v) for v in lr_shape],
        "output_shape": [int(v) for v in sr.shape],
        "input_spacing": _plain(in_spacing),
        "spacing": _plain(None if spacing is None else [float(v) for v in spacing]),
        "dtype": str(getattr(sr, "dtype", "")).replace("torch.", ""),
        "format": fmt,
        "timing": {k: round(float(v), 4) for k, v in timing.items()},
        "lr_consistency_psnr": psnr,
    }
