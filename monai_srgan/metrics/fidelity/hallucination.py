"""Hallucination and erasure maps (with ground truth): local high-frequency energy present in SR and absent from HR
(Laplacian-of-Gaussian band), the texture a GAN adds; :func:`erasure_map` is the converse (detail in HR that SR lost).

References:
    Lindeberg, "Feature detection with automatic scale selection", IJCV 1998 (scale-normalised derivatives).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._filters import as_float, crop_spatial, gaussian_filter, laplacian_of_gaussian, plain_tensor
from ..quality.common import masked_mean, resolve_range

__all__ = ["hf_envelope", "hallucination_map", "erasure_map", "hallucination_score"]


def hf_envelope(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Local amplitude of the LoG band: ``G_{2 sigma} * |sigma^2 LoG_sigma(x)|``, per channel (differentiable; the
    quantity both :func:`hallucination_map` and :class:`~monai_srgan.losses.HighFrequencyEnvelopeLoss` compare)."""
    return gaussian_filter(laplacian_of_gaussian(x, sigma).abs(), 2.0 * sigma)


def _hf_difference(
    a: torch.Tensor, b: torch.Tensor, sigma: float, data_range: float | None, input_range: Sequence[float] | None
) -> torch.Tensor:
    a, b = as_float(a), as_float(b)
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    _, dr = resolve_range(data_range, input_range)
    env = hf_envelope(torch.cat([a, b.to(a.dtype)]) / dr, sigma)
    e_a, e_b = env.split(a.shape[0])
    return (e_a - e_b).clamp_min(0).mean(1, keepdim=True)


def hallucination_map(
    sr: torch.Tensor,
    hr: torch.Tensor,
    sigma: float = 1.0,
    data_range: float | None = None,
    input_range: Sequence[float] | None = None,
) -> torch.Tensor:
    """High-frequency energy present in SR and absent from HR: ``max(0, E(SR) - E(HR))``, averaged over channels.

    ``E`` is the local amplitude of the scale-normalised Laplacian-of-Gaussian band at ``sigma`` (the finest
    detail a x2-x4 SR model adds), ``E(x) = G_{2 sigma} * |sigma^2 LoG_sigma(x)|``, on images scaled by their data
    range; smoothing the magnitude makes the map insensitive to sub-pixel edge placement. Texture, noise or edges
    that a GAN invents light up; what it blurs does not (see :func:`erasure_map`). 2D and 3D.

    Returns:
        ``(N, 1, *spatial)`` map, in fractions of the data range.

    Example:
        >>> hr = torch.rand(1, 1, 32, 32)
        >>> float(hallucination_map(hr, hr).max())
        0.0
    """
    return _hf_difference(sr, hr, sigma, data_range, input_range)


def erasure_map(
    sr: torch.Tensor,
    hr: torch.Tensor,
    sigma: float = 1.0,
    data_range: float | None = None,
    input_range: Sequence[float] | None = None,
) -> torch.Tensor:
    """High-frequency energy of HR missing from SR (detail erased or smoothed away): ``max(0, E(HR) - E(SR))``."""
    return _hf_difference(hr, sr, sigma, data_range, input_range)


def hallucination_score(
    sr: torch.Tensor,
    hr: torch.Tensor,
    sigma: float = 1.0,
    data_range: float | None = None,
    input_range: Sequence[float] | None = None,
    mask: torch.Tensor | None = None,
    crop_border: int | Sequence[int] = 0,
) -> torch.Tensor:
    """Scalar summary of :func:`hallucination_map` per image: its mean (inside ``mask``), ``(N,)`` float64.

    0 when SR adds no high-frequency energy anywhere; bicubic upsampling scores near 0, GAN texture and noise
    score higher. In fractions of the data range.
    """
    hmap = crop_spatial(hallucination_map(sr, hr, sigma, data_range, input_range), crop_border).double()
    return masked_mean(hmap, None if mask is None else crop_spatial(plain_tensor(mask).double(), crop_border))
