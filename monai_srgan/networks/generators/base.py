"""Shared helpers of the generators: scale handling and the receptive field (tile overlap for tiled inference).

Receptive field convention (the ``.receptive_field`` attribute of every generator): the smallest integer radius
``r`` in **LR (input) pixels** such that every output pixel ``P`` depends only on input pixels ``q`` with
``|q - floor(P / scale)| <= r`` along every axis. It is computed exactly (not estimated) by propagating the
dependency interval of one output pixel backwards through the network's chain of operations along each axis:
a convolution of radius ``k`` widens the interval by ``k`` on the grid it runs on, a ×f upsampling (nearest or
pixel shuffle) maps ``[lo, hi]`` to ``[floor(lo/f), floor(hi/f)]``, a ×f pixel-unshuffle maps it to
``[f·lo, f·hi + f - 1]``. Skip branches (global residuals, interpolated bases) depend on subsets of the main
path and do not widen it. :func:`probe_receptive_field` measures the same quantity from input gradients; the
tests check that both agree.

Global operations are not part of this radius: squeeze-and-excitation (EDSR-SE, paper 001) and instance
normalisation (paper 004's trunk) pool over the whole image, so tiled inference with those layers is only
approximately equal to whole-image inference however large the overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ..blocks.pixelshuffle import normalize_scale, upsample_stages

__all__ = ["receptive_radius", "probe_receptive_field", "effective_receptive_field", "scale_attr"]


def scale_attr(factors: Sequence[int]) -> int | tuple[int, ...]:
    """The public ``.scale``: an int when isotropic, else the per-axis tuple."""
    factors = tuple(int(f) for f in factors)
    return factors[0] if len(set(factors)) == 1 else factors


def set_scale(net: nn.Module, spatial_dims: int, scale: int | Sequence[int]) -> tuple[int, ...]:
    """Set the generator contract's ``net.spatial_dims`` and ``net.scale``; return the per-axis factors."""
    factors = normalize_scale(scale, spatial_dims)
    net.spatial_dims = spatial_dims
    net.scale = scale_attr(factors)
    return factors


def subpixel_stages(name: str, factors: Sequence[int]) -> list[tuple[int, ...]]:
    """The ×2 (or ×3) sub-pixel stages of :func:`~monai_srgan.networks.blocks.pixelshuffle.upsample_stages`.

    Raises:
        ConfigError: a factor that is neither a power of two nor 3 (names the generator ``name``).
    """
    try:
        return upsample_stages(factors)
    except ConfigError as e:
        raise ConfigError(f"{name} scale: {e}") from None


def subpixel_ops(stages: Sequence[Sequence[int]], axis: int) -> list[tuple[str, int]]:
    """The :func:`receptive_radius` operations of sub-pixel stages ``conv 3 → shuffle`` along ``axis``."""
    return [op for s in stages for op in (("conv", 1), ("up", s[axis]))]


def receptive_field(ops: Callable[[int], Sequence[tuple[str, int]]], factors: Sequence[int]) -> int:
    """``.receptive_field`` of a generator: the largest :func:`receptive_radius` over the axes, ``ops(axis)``
    giving the chain of operations along one axis."""
    return max(receptive_radius(ops(d), factors[d]) for d in range(len(factors)))


def receptive_radius(ops: Sequence[tuple[str, int]], scale: int) -> int:
    """Exact receptive-field radius in input pixels of a chain of 1-D operations.

    Args:
        ops: operations in forward order: ``("conv", radius)``, ``("up", factor)`` (nearest or pixel shuffle),
            ``("down", factor)`` (pixel unshuffle).
        scale: overall scale of the chain (output pixels per input pixel).

    Returns:
        ``max_P max(floor(P/scale) - lo(P), hi(P) - floor(P/scale))`` over one period of output positions.
    """
    period = scale
    for op, v in ops:
        if op in ("up", "down"):
            period *= v
    best = 0
    for p_out in range(period):
        lo = hi = p_out
        for op, v in reversed(ops):
            if op == "conv":
                lo, hi = lo - v, hi + v
            elif op == "up":
                lo, hi = lo // v, hi // v
            elif op == "down":
                lo, hi = lo * v, hi * v + v - 1
            else:
                raise ValueError(f"unknown op {op!r}")
        center = p_out // scale
        best = max(best, center - lo, hi - center)
    return best


def probe_receptive_field(
    model: nn.Module, spatial_dims: int, in_channels: int, size: int, scale: int | Sequence[int] | None = None
) -> int:
    """Measure the receptive-field radius from gradients: the largest distance (in input pixels, any axis) from
    the LR pixel under the central output pixels to an input pixel with a non-zero gradient.

    The model is probed in eval mode in float64 with a random input of ``size`` pixels per axis (use a size larger
    than ``2·r + 1`` plus the model's divisibility needs); every output pixel of the central LR position is summed.
    """
    factors = normalize_scale(scale if scale is not None else model.scale, spatial_dims)
    was_training = model.training
    dtype = next(model.parameters()).dtype
    model = model.eval().double()
    try:
        x = torch.randn((1, in_channels) + (size,) * spatial_dims, dtype=torch.float64, requires_grad=True)
        y = model(x)
        c = size // 2
        idx = (slice(None), slice(None)) + tuple(slice(c * f, (c + 1) * f) for f in factors)
        y[idx].sum().backward()
        nz = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero()
        return int((nz - c).abs().max())
    finally:
        model.to(dtype).train(was_training)


def effective_receptive_field(
    model: nn.Module,
    spatial_dims: int,
    in_channels: int,
    size: int = 65,
    fraction: float = 0.99,
    input: torch.Tensor | None = None,
) -> int:
    """Radius (LR pixels, Chebyshev) holding ``fraction`` of the input-gradient magnitude of the central output pixels.

    Weight-dependent: use it with trained weights to choose a tile overlap smaller than ``.receptive_field``. Only a
    ``size``-pixel window is probed (the mass outside it is ignored), so pick ``size`` well above the expected radius.

    Args:
        model: a generator (probed in eval mode, float32).
        spatial_dims: 2 or 3.
        in_channels: input channels.
        size: probe window in LR pixels per axis.
        fraction: share of the total |gradient| to enclose (0.99).
        input: optional input of shape ``(1, in_channels, size, ...)`` (e.g. a real image); random otherwise.
    """
    factors = normalize_scale(model.scale, spatial_dims)
    was_training = model.training
    model.eval()
    try:
        x = torch.rand((1, in_channels) + (size,) * spatial_dims) if input is None else input.detach().clone()
        x.requires_grad_(True)
        y = model(x)
        c = size // 2
        idx = (slice(None), slice(None)) + tuple(slice(c * f, (c + 1) * f) for f in factors)
        y[idx].sum().backward()
        g = x.grad.abs().sum(dim=(0, 1)).double()
        grids = torch.meshgrid(*[torch.arange(size) - c for _ in range(spatial_dims)], indexing="ij")
        dist = torch.stack([gr.abs() for gr in grids]).amax(0)
        mass = torch.zeros(int(dist.max()) + 1, dtype=torch.float64).index_add_(0, dist.flatten(), g.flatten())
        cum = mass.cumsum(0)
        if float(cum[-1]) == 0.0:
            return 0
        return int((cum >= fraction * cum[-1]).nonzero()[0])
    finally:
        model.train(was_training)
