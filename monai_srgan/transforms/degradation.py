"""HR → LR degradations as MONAI transforms: bicubic, Gaussian blur + downsampling, X-ray detector model, 3D slices.

All degradations work on channel-first tensors ``(C, *spatial)`` (1 or 3 channels, 2D or 3D where it makes sense)
holding normalised values (usually ``[0, 1]``); noise levels are fractions of that range, so 8- and 16-bit data use
the same settings. Real-ESRGAN's high-order model lives in :mod:`monai_srgan.transforms.degradation_realesrgan`.

Size policy (HR size not divisible by the scale): by default (``size_policy="crop"``) the HR image is cropped at
its bottom/right edge to the largest multiple of the scale before degrading, so pixel ``(0, 0)`` and the affine
origin are unchanged and LR pixel ``i`` covers HR pixels ``[i*s, (i+1)*s)`` exactly. The dictionary transforms
write the cropped HR back under its key (and crop the ``fov`` key the same way) and record the crop in the HR
meta as ``srgan_crop_to_multiple = {"from": [...], "to": [...]}``. ``size_policy="raise"`` raises
:class:`~monai_srgan.errors.InputFileError` naming the file instead.

Dictionary transforms read ``keys`` (HR, default ``"hr"``) and write ``lr_key`` (default ``"lr"``); the LR output
is a ``MetaTensor`` when the HR one is, with its affine and ``srgan_spacing`` rescaled to the LR grid.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.transforms.resize import imresize, rescale_affine

__all__ = [
    "BicubicDownsample",
    "BicubicDownsampled",
    "BicubicDownsampleD",
    "BicubicDownsampleDict",
    "crop_to_multiple",
    "gaussian_blur",
    "gaussian_kernel1d",
    "quantize",
]

SIZE_POLICIES = ("crop", "raise")


# ----------------------------------------------------------------------------------------------------- helpers
def _source_path(img: Any) -> str | None:
    meta = getattr(img, "meta", None)
    if isinstance(meta, Mapping):
        p = meta.get("filename_or_obj")
        if isinstance(p, (list, tuple)):
            p = p[0] if p else None
        return None if p in (None, "") else str(p)
    return None


def _per_axis(value: Any, n: int, name: str) -> tuple[float, ...]:
    if isinstance(value, (Sequence, np.ndarray, torch.Tensor)) and not isinstance(value, str):
        out = tuple(float(v) for v in value)
        if len(out) != n:
            raise ConfigError(f"{name}={tuple(value)} needs one entry per spatial axis ({n}).")
    else:
        out = (float(value),) * n
    return out


def _check_scale(scale: Any) -> Any:
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
    if policy not in SIZE_POLICIES:
        raise ConfigError(f"size_policy={policy!r}; use one of {SIZE_POLICIES}.")
    nd = img.ndim - 1
    scales = _per_axis(scale, nd, "scale")
    ints = _int_scales(scales)
    shape = tuple(img.shape[1:])
    if any(s < sc for s, sc in zip(shape, scales)):
        raise InputFileError(
            _source_path(img), f"image of spatial size {shape} is smaller than the scale {scales}", "use a larger image"
        )
    if ints is None:
        return img
    target = tuple(s - s % k for s, k in zip(shape, ints))
    if target == shape:
        return img
    if policy == "raise":
        raise InputFileError(
            _source_path(img),
            f"spatial size {shape} is not divisible by the scale {ints}",
            "crop or pad the image to a multiple of the scale, or use size_policy='crop'",
        )
    out = img[(slice(None),) + tuple(slice(0, t) for t in target)]
    meta = getattr(out, "meta", None)
    if isinstance(meta, dict):
        meta["srgan_crop_to_multiple"] = {"from": list(shape), "to": list(target)}
    return out


def _plain(x: torch.Tensor) -> torch.Tensor:
    x = x.as_tensor() if hasattr(x, "as_tensor") else x
    if not torch.is_tensor(x):
        x = torch.as_tensor(np.asarray(x))
    return x if torch.is_floating_point(x) else x.float()


def _like(out: torch.Tensor, ref: torch.Tensor, in_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Wrap ``out`` as a MetaTensor carrying ``ref``'s meta; rescale affine/spacing when the grid changed."""
    meta = getattr(ref, "meta", None)
    if meta is None:
        return out
    from monai.data import MetaTensor

    new_meta = dict(meta)
    res = MetaTensor(out, meta=new_meta)
    in_shape = tuple(in_shape) if in_shape is not None else tuple(ref.shape[1:])
    out_shape = tuple(out.shape[1:])
    if in_shape != out_shape:
        if "affine" in meta:
            res.affine = rescale_affine(meta["affine"], in_shape, out_shape)
        sp = meta.get("srgan_spacing")
        if isinstance(sp, (list, tuple)) and len(sp) == len(in_shape):
            res.meta["srgan_spacing"] = [float(v) * i / o for v, i, o in zip(sp, in_shape, out_shape)]
        res.meta["srgan_lr_scale"] = [i / o for i, o in zip(in_shape, out_shape)]
    return res


def quantize(x: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Round ``[0, 1]`` values to ``2**bits - 1`` levels (and clip); ``bits=None`` returns ``x`` unchanged."""
    if bits is None:
        return x
    q = float(2 ** int(bits) - 1)
    return torch.clamp(torch.round(x * q), 0.0, q) / q


def gaussian_kernel1d(sigma: float, radius: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised sampled Gaussian of standard deviation ``sigma`` (pixels), radius ``ceil(3 sigma)`` by default."""
    if radius is None:
        radius = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / max(sigma, 1e-6)) ** 2)
    return (k / k.sum()).to(dtype)


def _conv_axis(x: torch.Tensor, kernel: torch.Tensor, axis: int, padding_mode: str = "reflect") -> torch.Tensor:
    """1D convolution of every line of ``x`` along ``axis`` (the same kernel for all), reflect padding."""
    r = kernel.numel() // 2
    if r == 0:
        return x * kernel.reshape(())
    xt = x.movedim(axis, -1)
    shp = xt.shape
    lines = xt.reshape(-1, 1, shp[-1])
    if padding_mode == "reflect" and shp[-1] <= r:
        padding_mode = "replicate"
    lines = F.pad(lines, (r, r), mode=padding_mode)
    y = F.conv1d(lines, kernel.to(lines.dtype).flip(0).reshape(1, 1, -1))
    return y.reshape(shp).movedim(-1, axis)


def gaussian_blur(
    x: torch.Tensor, sigma: float | Sequence[float], spatial_dims: int | None = None, truncate: float = 3.0
) -> torch.Tensor:
    """Separable Gaussian blur of ``(C, *spatial)`` or ``(N, C, *spatial)`` with reflect padding.

    Args:
        x: float tensor.
        sigma: standard deviation in pixels, one value or one per spatial axis (0 skips an axis).
        spatial_dims: number of trailing spatial axes (default ``x.ndim - 1``).
        truncate: kernel radius in sigmas.
    """
    nd = spatial_dims or x.ndim - 1
    sig = _per_axis(sigma, nd, "sigma")
    for k, s in enumerate(sig):
        if s > 0:
            radius = max(1, int(math.ceil(truncate * s)))
            x = _conv_axis(x, gaussian_kernel1d(s, radius, x.dtype), x.ndim - nd + k)
    return x


# -------------------------------------------------------------------------------------------- dict base class
class _DegradeDictBase(MapTransform):
    """Reads HR ``keys``, writes ``lr_key`` (one per key); applies the size policy to the HR (and ``fov``) first."""

    def __init__(
        self,
        keys: KeysCollection,
        lr_key: str | Sequence[str] = "lr",
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        lr_keys = (lr_key,) if isinstance(lr_key, str) else tuple(lr_key)
        if len(lr_keys) != len(self.keys):
            raise ConfigError(f"lr_key={lr_key!r} needs one output key per input key {self.keys}.")
        self.lr_keys = lr_keys
        self.fov_key = fov_key

    def _apply_policy(self, d: dict, key: Hashable, scale: Any, policy: str) -> torch.Tensor:
        hr = d[key]
        before = tuple(hr.shape[1:])
        hr = crop_to_multiple(hr, scale, policy)
        after = tuple(hr.shape[1:])
        if after != before:
            d[key] = hr
            if self.fov_key and self.fov_key in d and tuple(d[self.fov_key].shape[1:]) == before:
                d[self.fov_key] = d[self.fov_key][(slice(None),) + tuple(slice(0, t) for t in after)]
        return hr


# ---------------------------------------------------------------------------------------------------- bicubic
class BicubicDownsample(Transform):
    """The papers' degradation: antialiased bicubic reduction by an integer factor (PIL/Matlab ``imresize``).

    Used by papers 000, 001 and 004 (×2/×3/×4/×8/×16). Works on ``(C, H, W)`` and ``(C, H, W, D)``; ``scale`` may be
    one factor per spatial axis (``(1, 1, 4)`` reduces only the slice axis).

    Args:
        scale: reduction factor (>= 1), or one per spatial axis.
        mode: :func:`~monai_srgan.transforms.resize.imresize` kernel (``"bicubic"`` by default).
        antialias: widen the kernel when reducing (PIL/Matlab); keep ``True`` for the papers' operator.
        size_policy: ``"crop"`` (default: crop the HR bottom/right to a multiple of the scale) or ``"raise"``.
        clip: optional ``(low, high)`` clip of the LR values (bicubic overshoots near edges).
        quantize_bits: round the LR to this many bits (``8`` imitates LR images saved as 8-bit PNG); None = off.
    """

    backend = ["torch"]

    def __init__(
        self,
        scale: float | Sequence[float] = 4,
        mode: str = "bicubic",
        antialias: bool = True,
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
        quantize_bits: int | None = None,
    ) -> None:
        self.scale = _check_scale(scale)
        self.mode = mode
        self.antialias = antialias
        if size_policy not in SIZE_POLICIES:
            raise ConfigError(f"size_policy={size_policy!r}; use one of {SIZE_POLICIES}.")
        self.size_policy = size_policy
        self.clip = clip
        self.quantize_bits = quantize_bits

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """Degrade one HR image ``(C, *spatial)``; returns the LR image."""
        img = crop_to_multiple(img, self.scale, self.size_policy)
        nd = img.ndim - 1
        factors = tuple(1.0 / s for s in _per_axis(self.scale, nd, "scale"))
        x = _plain(img)
        lr = imresize(x, scale_factor=factors, mode=self.mode, antialias=self.antialias, spatial_dims=nd)
        if self.clip is not None:
            lr = lr.clamp(*self.clip)
        lr = quantize(lr, self.quantize_bits)
        return _like(lr, img, x.shape[1:])


class BicubicDownsampled(_DegradeDictBase):
    """Dictionary version of :class:`BicubicDownsample`: ``d[lr_key] = degrade(d[key])``.

    Example: ``BicubicDownsampled(keys="hr", lr_key="lr", scale=4)``.

    Args:
        keys: HR key(s).
        lr_key: output key(s), one per HR key.
        fov_key: a field-of-view mask cropped with the HR by the size policy (ignored when absent).
        allow_missing_keys: skip absent HR keys.
        other args: see :class:`BicubicDownsample`.
    """

    backend = BicubicDownsample.backend

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        scale: float | Sequence[float] = 4,
        mode: str = "bicubic",
        antialias: bool = True,
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
        quantize_bits: int | None = None,
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, lr_key, fov_key, allow_missing_keys)
        self.degrade = BicubicDownsample(scale, mode, antialias, size_policy, clip, quantize_bits)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key, lr_key in self.key_iterator(d, self.lr_keys):
            hr = self._apply_policy(d, key, self.degrade.scale, self.degrade.size_policy)
            d[lr_key] = self.degrade(hr)
        return d


BicubicDownsampleD = BicubicDownsampleDict = BicubicDownsampled
