"""What every full-reference metric shares: value ranges, BT.601 luma, input checks, masked means.

- ``data_range`` / ``input_range``: the inputs are assumed to lie in ``[0, data_range]`` (default 1.0, this
  project's normalised range). For other ranges pass ``input_range=(lo, hi)`` (e.g. ``(-1, 1)`` for paper 004's
  normalisation): the inputs are shifted by ``lo`` and ``data_range = hi - lo``. For raw stored integers use
  :func:`data_range_for_bits` (8 → 255, 12 → 4095, 16 → 65535).
- ``crop_border``: pixels removed from every side of every spatial axis before measuring; SR papers crop
  ``scale`` pixels (BasicSR's ``crop_border``).
- ``y_channel``: for RGB inputs, measure on the ITU-R BT.601 luma (see :func:`rgb_to_y`), the convention of
  SRCNN/EDSR/ESRGAN tables; RGB otherwise (averaged over channels), 1-channel data as is.
- ``mask``: an optional field-of-view mask ``(N or 1, 1 or C, *spatial)``, e.g. from ``FundusFOV``: only pixels
  inside it count.

References:
    ITU-R Recommendation BT.601 (Y'CbCr, studio swing: Y in [16, 235] for 8-bit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from monai_srgan.errors import ConfigError

from .._filters import as_float, crop_spatial, plain_tensor

__all__ = ["data_range_for_bits", "rgb_to_y"]


# ITU-R BT.601 luma for R, G, B in [0, 1] giving Y on the 8-bit [16, 235] scale (as MATLAB rgb2ycbcr, BasicSR).
BT601_Y_WEIGHTS = (65.481, 128.553, 24.966)


BT601_Y_OFFSET = 16.0


def data_range_for_bits(bits: int) -> float:
    """Largest value of unsigned integers with ``bits`` bits: the PSNR/SSIM ``data_range`` of raw stored data.

    Args:
        bits: bits stored (DICOM BitsStored, the ``srgan_bits`` metadata): 8 → 255, 12 → 4095, 16 → 65535.

    Example:
        >>> data_range_for_bits(12)
        4095.0
    """
    bits = int(bits)
    if not 1 <= bits <= 32:
        raise ConfigError(f"bits must be between 1 and 32, got {bits}.")
    return float(2**bits - 1)


def resolve_range(data_range: float | None, input_range: Sequence[float] | None) -> tuple[float, float]:
    """Return ``(offset, data_range)``: inputs are mapped to ``[0, data_range]`` by subtracting ``offset``."""
    if input_range is None:
        dr = 1.0 if data_range is None else float(data_range)
        if dr <= 0:
            raise ConfigError(f"data_range must be positive, got {data_range}.")
        return 0.0, dr
    lo, hi = (float(v) for v in input_range)
    if hi <= lo:
        raise ConfigError(f"input_range must be (low, high) with high > low, got {tuple(input_range)}.")
    if data_range is not None and not math.isclose(float(data_range), hi - lo, rel_tol=1e-6):
        raise ConfigError(f"data_range={data_range} contradicts input_range={tuple(input_range)}; give one of them.")
    return lo, hi - lo


def rgb_to_y(x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """ITU-R BT.601 luma of an RGB batch, in the input's own data range.

    With ``r, g, b = x / data_range`` in [0, 1], ``Y = (16 + 65.481 r + 128.553 g + 24.966 b) / 255 * data_range``,
    i.e. the studio-swing Y in [16, 235] of an 8-bit image, rescaled to the input range. This is MATLAB's
    ``rgb2ycbcr`` and BasicSR's ``rgb2ycbcr(y_only=True)``, used by the SR literature (SRCNN, EDSR, ESRGAN) for
    "PSNR on Y"; PSNR/SSIM on this Y use the same ``data_range`` as the RGB input.

    Args:
        x: ``(N, 3, *spatial)`` RGB in ``[0, data_range]``.
        data_range: the value of full-scale white.

    Returns:
        ``(N, 1, *spatial)`` luma.
    """
    if x.shape[1] != 3:
        raise ValueError(f"rgb_to_y needs 3 channels (RGB), got {x.shape[1]}.")
    w = torch.tensor(BT601_Y_WEIGHTS, dtype=x.dtype, device=x.device).reshape(1, 3, *([1] * (x.ndim - 2)))
    return (x * w).sum(1, keepdim=True) / 255.0 + BT601_Y_OFFSET / 255.0 * data_range


def prepare_pair(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float | None,
    input_range: Sequence[float] | None,
    crop_border: int | Sequence[int],
    y_channel: bool,
    mask: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, float]:
    """Check shapes, shift to ``[0, data_range]``, crop borders, convert to Y; return ``(x, y, mask, data_range)``."""
    x, y = as_float(x), as_float(y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}.")
    if x.ndim < 3:
        raise ValueError(f"expected batch-first (N, C, *spatial) tensors, got shape {tuple(x.shape)}.")
    if y.dtype != x.dtype:
        x, y = x.double(), y.double()
    offset, dr = resolve_range(data_range, input_range)
    if offset != 0.0:
        x, y = x - offset, y - offset
    x, y = crop_spatial(x, crop_border), crop_spatial(y, crop_border)
    if mask is not None:
        mask = plain_tensor(mask)
        if mask.ndim != x.ndim or mask.shape[0] not in (1, x.shape[0]) or mask.shape[1] not in (1, x.shape[1]):
            raise ValueError(
                f"mask must be (N or 1, 1 or C, *spatial) matching images {tuple(x.shape)}, got {tuple(mask.shape)}."
            )
        mask = crop_spatial(mask, crop_border).to(x.dtype)
        if mask.shape[2:] != x.shape[2:]:
            raise ValueError(f"mask spatial shape {tuple(mask.shape[2:])} differs from images {tuple(x.shape[2:])}.")
    if y_channel:
        if x.shape[1] == 3:
            x, y = rgb_to_y(x, dr), rgb_to_y(y, dr)
            if mask is not None and mask.shape[1] != 1:
                mask = mask.amin(1, keepdim=True)
        elif x.shape[1] != 1:
            raise ValueError(f"y_channel=True needs RGB (3 channels) or 1-channel input, got {x.shape[1]} channels.")
    return x, y, mask, dr


def masked_mean(v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over all but the batch axis, restricted to ``mask`` (broadcast over channels) when given."""
    if mask is None:
        return v.flatten(1).mean(1)
    m = mask.expand_as(v).to(v.dtype)
    return (v * m).flatten(1).sum(1) / m.flatten(1).sum(1)
