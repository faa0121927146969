"""Helpers shared by every HR → LR degradation: the size policy, scale checks, MetaTensor in/out, quantisation.

Size policy (HR size not divisible by the scale): by default (``size_policy="crop"``) the HR image is cropped at
its bottom/right edge to the largest multiple of the scale before degrading, so pixel ``(0, 0)`` and the affine
origin are unchanged and LR pixel ``i`` covers HR pixels ``[i*s, (i+1)*s)`` exactly. The cropped HR records the
crop in its meta as ``srgan_crop_to_multiple = {"from": [...], "to": [...]}``. ``size_policy="raise"`` raises
:class:`~monai_srgan.errors.InputFileError` naming the file instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from monai_srgan.errors import ConfigError, InputFileError, source_path
from monai_srgan.transforms.resize import rescale_affine, rescale_spacing
from monai_srgan.utils.axes import per_axis

__all__ = ["crop_to_multiple", "quantize"]

SIZE_POLICIES = ("crop", "raise")


def check_size_policy(policy: str) -> str:
    """Return ``policy`` when it is one of :data:`SIZE_POLICIES`; raise :class:`ConfigError` otherwise."""
    if policy not in SIZE_POLICIES:
        raise ConfigError(f"size_policy={policy!r}; use one of {SIZE_POLICIES}.")
    return policy


def check_scale(scale: Any) -> Any:
    """Return ``scale`` (one factor or one per axis) when every factor is >= 1; raise :class:`ConfigError` otherwise."""
    vals = scale if isinstance(scale, (Sequence, np.ndarray)) and not isinstance(scale, str) else [scale]
    for v in vals:
        if not float(v) >= 1.0:
            raise ConfigError(f"scale={scale}: every downsampling factor must be >= 1 (e.g. 4 for ×4).")
    return scale


def _int_scales(scales: tuple[float, ...]) -> tuple[int, ...] | None:
    if all(abs(s - round(s)) < 1e-9 for s in scales):
        return tuple(int(round(s)) for s in scales)
    return None


def crop_to_multiple(img: torch.Tensor, scale: float | Sequence[float], policy: str = "crop") -> torch.Tensor:
    """Apply the size policy: crop ``(C, *spatial)`` at the bottom/right to a multiple of ``scale`` or raise.

    Non-integer scales are left alone (the LR size is ``floor(size / scale)``).

    Raises:
        InputFileError: ``policy="raise"`` and a spatial size is not divisible (names ``filename_or_obj``), or the
            image is smaller than one LR pixel.
    """
    check_size_policy(policy)
    nd = img.ndim - 1
    scales = per_axis(scale, nd, "scale")
    ints = _int_scales(scales)
    shape = tuple(img.shape[1:])
    if any(s < sc for s, sc in zip(shape, scales)):
        raise InputFileError(
            source_path(img), f"image of spatial size {shape} is smaller than the scale {scales}", "use a larger image"
        )
    if ints is None:
        return img
    target = tuple(s - s % k for s, k in zip(shape, ints))
    if target == shape:
        return img
    if policy == "raise":
        raise InputFileError(
            source_path(img),
            f"spatial size {shape} is not divisible by the scale {ints}",
            "crop or pad the image to a multiple of the scale, or use size_policy='crop'",
        )
    out = img[(slice(None),) + tuple(slice(0, t) for t in target)]
    meta = getattr(out, "meta", None)
    if isinstance(meta, dict):
        meta["srgan_crop_to_multiple"] = {"from": list(shape), "to": list(target)}
    return out


def prepare_hr(
    img: torch.Tensor, scale: float | Sequence[float], policy: str
) -> tuple[torch.Tensor, torch.Tensor, tuple[float, ...]]:
    """The common start of a degradation: the HR after the size policy, its plain float tensor, per-axis scales."""
    img = crop_to_multiple(img, scale, policy)
    x = plain(img)
    return img, x, per_axis(scale, x.ndim - 1, "scale")


def plain(x: torch.Tensor) -> torch.Tensor:
    """A plain floating-point ``torch.Tensor`` view of a MetaTensor, tensor or array."""
    x = x.as_tensor() if hasattr(x, "as_tensor") else x
    if not torch.is_tensor(x):
        x = torch.as_tensor(np.asarray(x))
    return x if torch.is_floating_point(x) else x.float()


def like(out: torch.Tensor, ref: torch.Tensor, in_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Wrap ``out`` as a MetaTensor carrying ``ref``'s meta; rescale affine/spacing when the grid changed."""
    meta = getattr(ref, "meta", None)
    if meta is None:
        return out

    new_meta = dict(meta)
    res = MetaTensor(out, meta=new_meta)
    in_shape = tuple(in_shape) if in_shape is not None else tuple(ref.shape[1:])
    out_shape = tuple(out.shape[1:])
    if in_shape != out_shape:
        if "affine" in meta:
            res.affine = rescale_affine(meta["affine"], in_shape, out_shape)
        sp = meta.get("srgan_spacing")
        if isinstance(sp, (list, tuple)) and len(sp) == len(in_shape):
            res.meta["srgan_spacing"] = rescale_spacing(sp, in_shape, out_shape)
        res.meta["srgan_lr_scale"] = [i / o for i, o in zip(in_shape, out_shape)]
    return res


def draw(rng: np.random.RandomState, value: float | Sequence[float]) -> float:
    """``value`` itself, or a uniform draw from ``rng`` when it is a ``(low, high)`` range."""
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        lo, hi = float(value[0]), float(value[1])
        return lo if hi <= lo else float(rng.uniform(lo, hi))
    return float(value)


def quantize(x: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Round ``[0, 1]`` values to ``2**bits - 1`` levels (and clip); ``bits=None`` returns ``x`` unchanged."""
    if bits is None:
        return x
    q = float(2 ** int(bits) - 1)
    return torch.clamp(torch.round(x * q), 0.0, q) / q
