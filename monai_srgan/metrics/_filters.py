"""Small filters shared by the metrics (private; also the losses' and the uncertainty map's box mean): Gaussian,
Gaussian derivatives, LoG, box mean, cropping.

All functions work on batch-first tensors ``(N, C, *spatial)`` with 1, 2 or 3 spatial axes and filter every
channel independently (the channels are folded into the batch axis), so they are vectorised over the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from monai_srgan.errors import ConfigError

__all__: list[str] = []


def plain_tensor(x: torch.Tensor) -> torch.Tensor:
    """Drop MONAI's MetaTensor wrapper (metadata tracking costs time and is never needed by a metric)."""
    if hasattr(x, "as_tensor"):
        x = x.as_tensor()
    return torch.as_tensor(x)


def as_float(x: torch.Tensor) -> torch.Tensor:
    """Plain tensor in float32 or float64: integers and half precision (AMP outputs) become float32."""
    x = plain_tensor(x)
    if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return x


def gaussian_kernel1d(
    sigma: float, radius: int | None = None, order: int = 0, truncate: float = 4.0, dtype=torch.float32, device=None
) -> torch.Tensor:
    """Sampled 1D Gaussian (``order=0``) or its first/second derivative, as ``scipy.ndimage`` builds them.

    The order-0 kernel is normalised to sum 1; the derivative kernels are the analytic derivatives of that
    normalised kernel (``scipy.ndimage.gaussian_filter1d(order=...)``), the second derivative shifted to sum
    exactly 0 so that filters do not respond to the image's brightness. ``radius`` defaults to
    ``int(truncate * sigma + 0.5)``.
    """
    if radius is None:
        radius = int(truncate * float(sigma) + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    phi = torch.exp(-0.5 * (x / sigma) ** 2)
    phi = phi / phi.sum()
    if order == 0:
        k = phi
    elif order == 1:
        k = -x / sigma**2 * phi
    elif order == 2:
        k = (x**2 / sigma**4 - 1.0 / sigma**2) * phi
        k = k - k.mean()  # exactly zero response to a constant (the sampled kernel is off by ~1e-2 at sigma 1)
    else:
        raise ValueError(f"order must be 0, 1 or 2, got {order}.")
    return k.to(dtype=dtype, device=device)


def conv_axis(x: torch.Tensor, kernel: torch.Tensor, axis: int, padding_mode: str | None = None) -> torch.Tensor:
    """Correlate every channel of ``x`` (N, C, *spatial) with a 1D ``kernel`` along spatial ``axis``.

    ``padding_mode=None`` gives the "valid" part only (the output shrinks by ``len(kernel) - 1`` along
    ``axis``); otherwise the input is padded with ``torch.nn.functional.pad`` in that mode ("reflect",
    "replicate", "constant") so the output keeps its size.
    """
    n, c, *spatial = x.shape
    sd = len(spatial)
    k = kernel.to(dtype=x.dtype, device=x.device)
    shape = [1, 1] + [1] * sd
    shape[2 + axis] = k.numel()
    w = k.reshape(shape)
    y = x.reshape(n * c, 1, *spatial)
    if padding_mode is not None:
        r = (k.numel() - 1) // 2
        pad = [0, 0] * sd
        # F.pad lists the last axis first
        pad[2 * (sd - 1 - axis)] = r
        pad[2 * (sd - 1 - axis) + 1] = k.numel() - 1 - r
        if padding_mode == "reflect" and spatial[axis] <= max(pad):
            padding_mode = "replicate"  # reflect needs the pad to be smaller than the axis
        y = F.pad(y, pad, mode=padding_mode)
    conv = getattr(F, f"conv{sd}d")
    y = conv(y, w)
    return y.reshape(n, c, *y.shape[2:])


def separable(x: torch.Tensor, kernels: Sequence[torch.Tensor | None], padding_mode: str | None = None) -> torch.Tensor:
    """Apply one 1D kernel per spatial axis (``None`` skips an axis)."""
    for axis, k in enumerate(kernels):
        if k is not None:
            x = conv_axis(x, k, axis, padding_mode)
    return x


def gaussian_filter(
    x: torch.Tensor, sigma: float, truncate: float = 4.0, padding_mode: str | None = "reflect"
) -> torch.Tensor:
    """Isotropic Gaussian smoothing of every channel (``scipy.ndimage.gaussian_filter`` kernel)."""
    k = gaussian_kernel1d(sigma, truncate=truncate, dtype=x.dtype, device=x.device)
    return separable(x, [k] * (x.ndim - 2), padding_mode)


def gaussian_derivative(
    x: torch.Tensor, sigma: float, orders: Sequence[int], truncate: float = 4.0, padding_mode: str = "reflect"
) -> torch.Tensor:
    """Gaussian derivative of every channel with one derivative order per spatial axis (e.g. ``(2, 0)``)."""
    kernels = [gaussian_kernel1d(sigma, order=o, truncate=truncate, dtype=x.dtype, device=x.device) for o in orders]
    return separable(x, kernels, padding_mode)


def laplacian_of_gaussian(x: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Scale-normalised Laplacian of Gaussian ``sigma**2 * sum_i d2(G * x)/dx_i**2`` (reflect padding)."""
    sd = x.ndim - 2
    out = torch.zeros_like(x)
    for axis in range(sd):
        orders = [0] * sd
        orders[axis] = 2
        out = out + gaussian_derivative(x, sigma, orders, truncate)
    return out * sigma**2


def box_mean(x: torch.Tensor, size: int, padding_mode: str = "replicate") -> torch.Tensor:
    """Mean over a ``size``-wide window (odd) along every spatial axis of ``(N, C, *spatial)`` (2D or 3D), same size
    out: the input padded in ``padding_mode`` ("replicate", "reflect", ...) by ``size // 2``."""
    nsp = x.ndim - 2
    xp = F.pad(x, [size // 2] * (2 * nsp), mode=padding_mode)
    pool = F.avg_pool2d if nsp == 2 else F.avg_pool3d
    return pool(xp, size, stride=1)


def crop_spatial(x: torch.Tensor, border: int | Sequence[int]) -> torch.Tensor:
    """Remove ``border`` pixels from both ends of every spatial axis (an int or one value per axis)."""
    sd = x.ndim - 2
    b = [int(border)] * sd if isinstance(border, (int, float)) else [int(v) for v in border]
    if len(b) != sd:
        raise ConfigError(f"crop_border has {len(b)} values for {sd} spatial axes.")
    if not any(b):
        return x
    sl = [slice(None), slice(None)]
    for v, size in zip(b, x.shape[2:]):
        if 2 * v >= size:
            raise ConfigError(f"crop_border {v} leaves nothing of a spatial axis of size {size}.")
        sl.append(slice(v, size - v) if v > 0 else slice(None))
    return x[tuple(sl)]


def _max_filter(m: torch.Tensor, radius: int) -> torch.Tensor:
    """Maximum over a cube of side ``2 radius + 1`` (outside the image ignored) of ``(N, C, *spatial)``."""
    pool = getattr(F, f"max_pool{m.ndim - 2}d")
    return pool(m, kernel_size=2 * radius + 1, stride=1, padding=radius)


def binary_erode(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Erode a (N, 1, *spatial) binary mask with a cubic structuring element of the given radius."""
    if radius <= 0:
        return mask
    return (-_max_filter(-mask.float(), radius) > 0.5).to(mask.dtype)


def binary_dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Dilate a (N, 1, *spatial) binary mask with a cubic structuring element of the given radius."""
    if radius <= 0:
        return mask
    return (_max_filter(mask.float(), radius) > 0.5).to(mask.dtype)


def ceil_int(v: float) -> int:
    return int(math.ceil(v))
