"""Pixel-error metrics: PSNR (dB) and RMSE per image, as SR papers report them (BasicSR ``calculate_psnr``).

Options (``data_range``/``input_range``, ``crop_border``, ``y_channel``, ``mask``) are described in :mod:`.common`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .common import masked_mean, prepare_pair

__all__ = ["psnr", "rmse"]


def _mse(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    d = (x - y).double()
    return masked_mean(d * d, None if mask is None else mask.double())


def psnr(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float | None = None,
    crop_border: int | Sequence[int] = 0,
    y_channel: bool = False,
    mask: torch.Tensor | None = None,
    input_range: Sequence[float] | None = None,
) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range**2 / MSE)`` in dB.

    The MSE runs over all channels and pixels of an image (skimage's ``peak_signal_noise_ratio`` on an RGB image,
    BasicSR's ``calculate_psnr``); with ``mask`` over the masked pixels only. Identical images give ``inf``.

    Args:
        x: prediction ``(N, C, *spatial)``.
        y: reference, same shape.
        data_range: value range of the inputs (inputs in ``[0, data_range]``); 1.0 when neither this nor
            ``input_range`` is given.
        crop_border: pixels cropped from each side of each spatial axis (SR convention: the scale factor).
        y_channel: measure on the BT.601 luma of RGB inputs (:func:`rgb_to_y`).
        mask: field-of-view mask ``(N or 1, 1 or C, *spatial)``, nonzero inside.
        input_range: ``(low, high)`` of the inputs when not ``[0, data_range]``.

    Returns:
        ``(N,)`` float64 PSNR in dB.

    Example:
        >>> sr, hr = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
        >>> psnr(sr, hr, data_range=1.0, crop_border=4, y_channel=True).shape
        torch.Size([2])
    """
    x, y, mask, dr = prepare_pair(x, y, data_range, input_range, crop_border, y_channel, mask)
    return 10.0 * torch.log10(dr**2 / _mse(x, y, mask))


def rmse(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float | None = None,
    crop_border: int | Sequence[int] = 0,
    y_channel: bool = False,
    mask: torch.Tensor | None = None,
    input_range: Sequence[float] | None = None,
) -> torch.Tensor:
    """Root mean squared error per image, in the units of the input (same options as :func:`psnr`).

    ``data_range`` only matters for ``y_channel`` (the BT.601 offset) and is otherwise ignored; divide by it for a
    relative error. Returns ``(N,)`` float64.

    Example:
        >>> rmse(torch.zeros(1, 1, 8, 8), torch.full((1, 1, 8, 8), 0.5))
        tensor([0.5000], dtype=torch.float64)
    """
    x, y, mask, _ = prepare_pair(x, y, data_range, input_range, crop_border, y_channel, mask)
    return _mse(x, y, mask).sqrt()
