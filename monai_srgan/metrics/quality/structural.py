"""Structural similarity: SSIM maps and per-image SSIM (Wang et al. 2004) and multi-scale SSIM (Wang et al. 2003).

Options (``data_range``/``input_range``, ``crop_border``, ``y_channel``, ``mask``) are described in :mod:`.common`.

References:
    Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to structural similarity",
    IEEE TIP 13(4), 2004 (SSIM, eq. 13 with the 11x11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03).
    Wang, Simoncelli, Bovik, "Multiscale structural similarity for image quality assessment", Asilomar 2003.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from monai.metrics.regression import compute_ms_ssim

from monai_srgan.errors import ConfigError

from .._filters import conv_axis, crop_spatial, gaussian_kernel1d
from .common import masked_mean, prepare_pair

__all__ = ["ssim", "ssim_map", "ms_ssim"]


def _window_sizes(win_size: int | Sequence[int], spatial: Sequence[int]) -> list[int]:
    """One odd window size per axis; an axis shorter than the window gets the largest odd size that fits."""
    wins = [int(win_size)] * len(spatial) if isinstance(win_size, (int, float)) else [int(w) for w in win_size]
    if len(wins) != len(spatial):
        raise ConfigError(f"win_size has {len(wins)} values for {len(spatial)} spatial axes.")
    out = []
    for w, size in zip(wins, spatial):
        if w % 2 == 0 or w < 1:
            raise ConfigError(f"SSIM window sizes must be odd and positive, got {w}.")
        if size < w:
            w = size if size % 2 else size - 1
            if w < 1:
                raise ConfigError(
                    f"spatial axis of size {size} is too small for SSIM: measure on larger images or crops."
                )
        out.append(w)
    return out


def ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    win_size: int | Sequence[int] = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gaussian_weights: bool = True,
    use_sample_covariance: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM and contrast-structure maps of Wang et al. 2004 (eq. 13) over the "valid" window positions.

    The local statistics use a separable Gaussian window (``win_size`` taps per axis, an int or one per axis,
    ``sigma``; or a uniform window with ``gaussian_weights=False``) and the population covariance (or the sample
    covariance, ``NP / (NP - 1)`` times larger, with ``use_sample_covariance=True``: skimage's defaults). The maps
    lose ``(win_size - 1) // 2`` pixels on each side of each spatial axis, exactly what skimage's
    ``structural_similarity`` discards before averaging. Inputs in ``[0, data_range]``, ``(N, C, *spatial)``;
    returns ``(ssim_map, cs_map)``, both ``(N, C, *valid_spatial)``.
    """
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    wins = _window_sizes(win_size, x.shape[2:])
    n = x.shape[0]
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=0)
    for axis, w in enumerate(wins):
        if gaussian_weights:
            k = gaussian_kernel1d(sigma, radius=(w - 1) // 2, dtype=x.dtype, device=x.device)
        else:
            k = torch.full((w,), 1.0 / w, dtype=x.dtype, device=x.device)
        stack = conv_axis(stack, k, axis)
    mu_x, mu_y, e_xx, e_yy, e_xy = stack.split(n, dim=0)
    cov_norm = 1.0
    if use_sample_covariance:
        n_pix = math.prod(wins)
        cov_norm = n_pix / (n_pix - 1.0)
    sxx = cov_norm * (e_xx - mu_x * mu_x)
    syy = cov_norm * (e_yy - mu_y * mu_y)
    sxy = cov_norm * (e_xy - mu_x * mu_y)
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return lum * cs, cs


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float | None = None,
    crop_border: int | Sequence[int] = 0,
    y_channel: bool = False,
    mask: torch.Tensor | None = None,
    input_range: Sequence[float] | None = None,
    win_size: int | Sequence[int] = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gaussian_weights: bool = True,
    use_sample_covariance: bool = False,
) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004, eq. 13), averaged over channels and window positions.

    Defaults are the paper's (11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, population covariance), i.e.
    ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=data_range, channel_axis=0)`` and BasicSR's ``calculate_ssim``. scikit-image's *defaults* (a 7x7
    uniform window with the sample covariance: ``win_size=7, gaussian_weights=False, use_sample_covariance=True``)
    give different numbers; the reference bicubic baselines use them. With ``mask``, the SSIM map
    is averaged over the window centres inside the mask only. 2D and 3D. Options as :func:`psnr`.

    ``win_size`` may differ per axis. Where an axis is shorter than the window (a volume with a few slices, where
    scikit-image raises), the window along that axis shrinks to the largest odd size that fits (the Gaussian is
    truncated and renormalised); everywhere else the result is exactly the reference.

    Returns:
        ``(N,)`` SSIM (float32 for float32 input).

    Example:
        >>> hr = torch.rand(1, 1, 48, 48)
        >>> float(ssim(hr, hr))
        1.0
    """
    x, y, mask, dr = prepare_pair(x, y, data_range, input_range, crop_border, y_channel, mask)
    wins = _window_sizes(win_size, x.shape[2:])
    smap, _ = ssim_map(x, y, dr, wins, sigma, k1, k2, gaussian_weights, use_sample_covariance)
    if mask is not None:
        mask = crop_spatial(mask, [(w - 1) // 2 for w in wins])
    return masked_mean(smap, mask)


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float | None = None,
    crop_border: int | Sequence[int] = 0,
    y_channel: bool = False,
    input_range: Sequence[float] | None = None,
    weights: Sequence[float] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
    win_size: int = 11,
    sigma: float = 1.5,
) -> torch.Tensor:
    """Multi-scale SSIM (Wang, Simoncelli, Bovik 2003) per image, computed by MONAI's ``compute_ms_ssim``.

    Five scales by default (the paper's weights), 2x average-pool between scales, the same Gaussian window as
    :func:`ssim`. Each spatial axis must exceed ``(win_size - 1) * 16`` pixels for five scales (161 for 11x11);
    pass fewer ``weights`` for small crops. No mask (masking does not survive the pyramid cleanly).

    Returns:
        ``(N,)`` MS-SSIM.

    Example:
        >>> hr = torch.rand(1, 1, 192, 192)
        >>> round(float(ms_ssim(hr, hr)), 4)
        1.0
    """
    x, y, _, dr = prepare_pair(x, y, data_range, input_range, crop_border, y_channel, None)
    sd = x.ndim - 2
    out = compute_ms_ssim(
        x.contiguous(),
        y.contiguous(),
        spatial_dims=sd,
        data_range=dr,
        kernel_size=win_size,
        kernel_sigma=sigma,
        weights=tuple(weights),
    )
    return out.reshape(-1)
