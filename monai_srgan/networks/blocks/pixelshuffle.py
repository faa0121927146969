"""Pixel shuffle / unshuffle for 2D and 3D with one factor per spatial axis, and sub-pixel upsampling stages.

Sub-pixel convolution (Shi et al., CVPR 2016, "ESPCN", Sec. 2.2): a convolution produces ``C·r_1·…·r_d`` channels
that are rearranged into a ``(r_1·H_1, …, r_d·H_d)`` grid. MONAI's ``pixelshuffle``/``pixelunshuffle`` take one
factor for all axes; the versions here accept one per axis, so 3D through-plane super-resolution (e.g. ``(1, 1, 4)``:
thick slices to thin, in-plane untouched) uses the same layers. The channel ordering is MONAI's and PyTorch's
(``channel, offset_1, …, offset_d``), so 2D results equal ``torch.nn.functional.pixel_shuffle`` exactly and released
BasicSR/Real-ESRGAN weights keep their meaning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Act, Conv
from torch import nn

from ...errors import ConfigError
from ...utils.axes import per_axis

__all__ = [
    "pixel_shuffle",
    "pixel_unshuffle",
    "PixelShuffle",
    "PixelUnshuffle",
    "SubpixelUpsampleStage",
    "normalize_scale",
    "upsample_stages",
]


def normalize_scale(scale: int | Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    """One positive integer factor per spatial axis (:func:`~monai_srgan.utils.axes.per_axis`: an int, or one int
    per axis).

    Args:
        scale: an int (same factor on every axis) or a sequence with one int per spatial axis.
        spatial_dims: number of spatial axes.

    Raises:
        ConfigError: wrong length, non-integer or non-positive factors (a ``ValueError``).
    """
    factors = per_axis(scale, spatial_dims, "scale", None)
    out = []
    for f in factors:
        try:
            v = None if isinstance(f, (bool, str)) else float(f)  # ints, floats, NumPy and 0-d tensor scalars
        except (TypeError, ValueError):
            v = None
        if v is None or not v.is_integer() or v < 1:
            raise ConfigError(f"scale={scale!r}: the factors must be positive integers (e.g. 4, or [1, 1, 4])")
        out.append(int(v))
    return tuple(out)


def upsample_stages(scale: Sequence[int]) -> list[tuple[int, ...]]:
    """Split per-axis factors into ×2 (or ×3) sub-pixel stages, as SRGAN/EDSR chain them.

    Each axis whose factor is a power of two gets ``log2(f)`` stages of 2; an axis with factor 3 gets one stage of 3
    (EDSR's ×3). Axes that are already done get factor 1 in the remaining stages. ``(4, 4)`` → ``[(2, 2), (2, 2)]``;
    ``(1, 1, 4)`` → ``[(1, 1, 2), (1, 1, 2)]``; ``(3, 3)`` → ``[(3, 3)]``.

    Raises:
        ConfigError: a factor that is neither a power of two nor 3.
    """
    per_axis = []
    for f in scale:
        if f == 3:
            per_axis.append([3])
        elif f >= 1 and (f & (f - 1)) == 0:
            per_axis.append([2] * int(math.log2(f)))
        else:
            raise ConfigError(f"sub-pixel upsampling supports factors that are powers of 2 or 3, got {tuple(scale)}.")
    n = max((len(a) for a in per_axis), default=0)
    return [tuple(a[i] if i < len(a) else 1 for a in per_axis) for i in range(n)]


def pixel_shuffle(x: torch.Tensor, factors: list[int]) -> torch.Tensor:
    """Rearrange ``(N, C·Πr, *S)`` into ``(N, C, *(S·r))``; one factor per spatial axis (Shi et al. 2016, Sec. 2.2).

    Args:
        x: input ``(N, C·r_1·…·r_d, S_1, …, S_d)``.
        factors: ``[r_1, …, r_d]``.
    """
    dims = len(factors)
    size = x.shape
    n, c = size[0], size[1]
    r = 1
    for f in factors:
        r *= f
    if c % r != 0:
        raise ValueError(f"pixel_shuffle: {c} channels are not divisible by the product of factors {factors}.")
    oc = c // r
    if dims == 2 and factors[0] == factors[1]:
        return F.pixel_shuffle(x, factors[0])
    shape = [n, oc] + factors + [size[2 + d] for d in range(dims)]
    perm = [0, 1]
    out_size = [n, oc]
    for d in range(dims):
        perm.append(2 + dims + d)
        perm.append(2 + d)
        out_size.append(size[2 + d] * factors[d])
    return x.reshape(shape).permute(perm).reshape(out_size)


def pixel_unshuffle(x: torch.Tensor, factors: list[int]) -> torch.Tensor:
    """Inverse of :func:`pixel_shuffle`: ``(N, C, *(S·r))`` → ``(N, C·Πr, *S)`` (same channel order as PyTorch).

    Raises:
        ValueError: a spatial size not divisible by its factor.
    """
    dims = len(factors)
    size = x.shape
    n, c = size[0], size[1]
    for d in range(dims):
        if size[2 + d] % factors[d] != 0:
            raise ValueError(f"pixel_unshuffle: spatial size {list(size[2:])} is not divisible by {factors}.")
    if dims == 2 and factors[0] == factors[1]:
        return F.pixel_unshuffle(x, factors[0])
    shape = [n, c]
    out_size = [n, c]
    r = 1
    for d in range(dims):
        shape.append(size[2 + d] // factors[d])
        shape.append(factors[d])
        r *= factors[d]
    out_size[1] = c * r
    for d in range(dims):
        out_size.append(size[2 + d] // factors[d])
    perm = [0, 1]
    for d in range(dims):
        perm.append(3 + 2 * d)
    for d in range(dims):
        perm.append(2 + 2 * d)
    return x.reshape(shape).permute(perm).reshape(out_size)


class _PerAxisShuffle(nn.Module):
    """Shared constructor of :class:`PixelShuffle` and :class:`PixelUnshuffle`: one factor per spatial axis.

    Args:
        spatial_dims: 1, 2 or 3.
        scale: int or one int per axis.
    """

    def __init__(self, spatial_dims: int, scale: int | Sequence[int]) -> None:
        super().__init__()
        self.factors = list(normalize_scale(scale, spatial_dims))

    def extra_repr(self) -> str:
        return f"factors={tuple(self.factors)}"


class PixelShuffle(_PerAxisShuffle):
    """Module form of :func:`pixel_shuffle` with per-axis factors: ``PixelShuffle(spatial_dims, scale)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle(x, self.factors)


class PixelUnshuffle(_PerAxisShuffle):
    """Module form of :func:`pixel_unshuffle` (the ×2/×1 front end of Real-ESRGAN's RRDBNet), per-axis factors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_unshuffle(x, self.factors)


class SubpixelUpsampleStage(nn.Sequential):
    """One sub-pixel upsampling stage: ``conv(C → C·Πr) → PixelShuffle(r) [→ act]`` (SRGAN, Ledig et al. 2017, Fig. 4).

    Submodules: ``conv`` (a plain ``Conv[Conv.CONV, spatial_dims]``), ``shuffle``, and ``act`` when given.

    Args:
        spatial_dims: 2 or 3.
        channels: feature channels in and out.
        factors: upsampling factor per axis for this stage (e.g. ``(2, 2)`` or ``(1, 1, 2)``).
        kernel_size: kernel of the convolution (3 in SRGAN/EDSR).
        act: optional activation applied after the shuffle, as a MONAI ``Act`` spec (e.g. ``("prelu",
            {"num_parameters": 64})``, ``("leakyrelu", {"negative_slope": 0.2})``); ``None`` for none.
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        factors: int | Sequence[int],
        kernel_size: int = 3,
        act: str | tuple | None = None,
    ) -> None:
        super().__init__()
        f = normalize_scale(factors, spatial_dims)
        self.add_module(
            "conv",
            Conv[Conv.CONV, spatial_dims](channels, channels * math.prod(f), kernel_size, padding=kernel_size // 2),
        )
        self.add_module("shuffle", PixelShuffle(spatial_dims, f))
        if act is not None:
            name, kw = (act, {}) if isinstance(act, str) else (act[0], dict(act[1]) if len(act) > 1 else {})
            self.add_module("act", Act[name](**kw))
