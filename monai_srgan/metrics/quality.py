"""Full-reference image-quality metrics done the way SR papers report them: PSNR, SSIM, RMSE, MS-SSIM, sharpness.

Every functional metric takes batch-first tensors ``(N, C, *spatial)`` (2D or 3D) and returns one value per image,
shape ``(N,)``. The options common to all of them:

- ``data_range`` / ``input_range``: the inputs are assumed to lie in ``[0, data_range]`` (default 1.0, this
  project's normalised range). For other ranges pass ``input_range=(lo, hi)`` (e.g. ``(-1, 1)`` for paper 004's
  normalisation): the inputs are shifted by ``lo`` and ``data_range = hi - lo``. For raw stored integers use
  :func:`data_range_for_bits` (8 → 255, 12 → 4095, 16 → 65535).
- ``crop_border``: pixels removed from every side of every spatial axis before measuring; SR papers crop
  ``scale`` pixels (BasicSR's ``crop_border``).
- ``y_channel``: for RGB inputs, measure on the ITU-R BT.601 luma (see :func:`rgb_to_y`), the convention of
  SRCNN/EDSR/ESRGAN tables; RGB otherwise (averaged over channels), 1-channel data as is.
- ``mask``: an optional field-of-view mask ``(N or 1, 1 or C, *spatial)``, e.g. from ``FundusFOV``: only pixels
  inside it count. Fundus photographs have a black border around the circular field of view in which any
  method is trivially right; it inflates PSNR by several dB and hides differences between methods.

MONAI ``CumulativeIterationMetric`` classes wrap the functions for engines and ``IgniteMetricHandler``:
:class:`PSNRMetric`, :class:`SSIMMetric`, :class:`RMSEMetric`, :class:`MSSSIMMetric`, :class:`SharpnessMetric`.
They accept ``mask=`` directly, or (for Ignite, which only passes ``(y_pred, y)``) the mask as the last channel of
``y`` when built with ``mask_in_label=True``; :func:`masked_output_transform` builds that ``y`` from an engine
output holding ``pred``, ``hr`` and ``fov``.

References:
    Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to structural similarity",
    IEEE TIP 13(4), 2004 (SSIM, eq. 13 with the 11x11 Gaussian window of sigma 1.5, K1 = 0.01, K2 = 0.03).
    Wang, Simoncelli, Bovik, "Multiscale structural similarity for image quality assessment", Asilomar 2003.
    ITU-R Recommendation BT.601 (Y'CbCr, studio swing: Y in [16, 235] for 8-bit).
    Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy", ICPR 2000 (variance of the Laplacian).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.regression import compute_ms_ssim
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

from monai_srgan.errors import ConfigError

from ._filters import as_float, conv_axis, crop_spatial, gaussian_kernel1d, plain_tensor

__all__ = [
    "data_range_for_bits",
    "rgb_to_y",
    "psnr",
    "ssim",
    "ssim_map",
    "rmse",
    "ms_ssim",
    "sharpness",
    "PSNRMetric",
    "SSIMMetric",
    "RMSEMetric",
    "MSSSIMMetric",
    "SharpnessMetric",
    "masked_output_transform",
]

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


def _resolve_range(data_range: float | None, input_range: Sequence[float] | None) -> tuple[float, float]:
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


def _prepare(
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
    offset, dr = _resolve_range(data_range, input_range)
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


def _masked_mean(v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over all but the batch axis, restricted to ``mask`` (broadcast over channels) when given."""
    if mask is None:
        return v.flatten(1).mean(1)
    m = mask.expand_as(v).to(v.dtype)
    return (v * m).flatten(1).sum(1) / m.flatten(1).sum(1)


def _mse(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    d = (x - y).double()
    return _masked_mean(d * d, None if mask is None else mask.double())


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
    x, y, mask, dr = _prepare(x, y, data_range, input_range, crop_border, y_channel, mask)
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
    x, y, mask, _ = _prepare(x, y, data_range, input_range, crop_border, y_channel, mask)
    return _mse(x, y, mask).sqrt()


def _window_sizes(win_size: int | Sequence[int], spatial: Sequence[int]) -> list[int]:
    """One odd window size per axis; an axis shorter than the window gets the largest odd size that fits."""
    wins = [int(win_size)] * len(spatial) if isinstance(win_size, (int, float)) else [int(w) for w in win_size]
    if len(wins) != len(spatial):
        raise ValueError(f"win_size has {len(wins)} values for {len(spatial)} spatial axes.")
    out = []
    for w, size in zip(wins, spatial):
        if w % 2 == 0 or w < 1:
            raise ValueError(f"SSIM window sizes must be odd and positive, got {w}.")
        if size < w:
            w = size if size % 2 else size - 1
            if w < 1:
                raise ValueError(f"spatial axis of size {size} is too small for SSIM.")
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
    x, y, mask, dr = _prepare(x, y, data_range, input_range, crop_border, y_channel, mask)
    wins = _window_sizes(win_size, x.shape[2:])
    smap, _ = ssim_map(x, y, dr, wins, sigma, k1, k2, gaussian_weights, use_sample_covariance)
    if mask is not None:
        mask = crop_spatial(mask, [(w - 1) // 2 for w in wins])
    return _masked_mean(smap, mask)


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
    x, y, _, dr = _prepare(x, y, data_range, input_range, crop_border, y_channel, None)
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


def _laplacian(x: torch.Tensor) -> torch.Tensor:
    """Discrete 2D 4-neighbour / 3D 6-neighbour Laplacian over the valid region (no padding)."""
    sd = x.ndim - 2
    k = torch.tensor([1.0, -2.0, 1.0], dtype=x.dtype, device=x.device)
    out = None
    for axis in range(sd):
        d2 = conv_axis(x, k, axis)
        # crop the other axes so every term covers the same valid region
        sl = [slice(None), slice(None)] + [slice(1, -1) if a != axis else slice(None) for a in range(sd)]
        d2 = d2[tuple(sl)]
        out = d2 if out is None else out + d2
    return out


def _gradient_energy(x: torch.Tensor) -> torch.Tensor:
    """Squared Sobel gradient magnitude over the valid region (Tenengrad)."""
    sd = x.ndim - 2
    deriv = torch.tensor([-1.0, 0.0, 1.0], dtype=x.dtype, device=x.device)
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    energy = None
    for axis in range(sd):
        g = x
        for a in range(sd):
            g = conv_axis(g, deriv if a == axis else smooth, a)
        energy = g * g if energy is None else energy + g * g
    return energy


def sharpness(
    x: torch.Tensor,
    method: str = "laplacian",
    data_range: float | None = None,
    mask: torch.Tensor | None = None,
    input_range: Sequence[float] | None = None,
) -> torch.Tensor:
    """No-reference sharpness per image, in units of ``data_range**2`` so that it does not depend on the range.

    ``"laplacian"``: variance of the discrete Laplacian (Pech-Pacheco et al. 2000), the usual focus measure;
    ``"gradient"``: mean squared Sobel gradient magnitude (Tenengrad); ``"gradient_magnitude"``: mean Sobel gradient
    magnitude (its square root per pixel: the "mean gradient magnitude" whose SR/HR ratio measures how sharp an
    output is, less dominated by the strongest edges than Tenengrad). Computed per channel and averaged over
    channels; 2D and 3D; with ``mask`` (eroded by the 1-pixel stencil) over the field of view only. A GAN output
    that is sharper than its ground truth (ratio > 1) may contain invented texture; a much smaller value means
    over-smoothing.

    Returns:
        ``(N,)`` float64.

    Example:
        >>> img = torch.rand(2, 1, 32, 32)
        >>> bool((sharpness(img) > sharpness(torch.nn.functional.avg_pool2d(img, 3, 1, 1))).all())
        True
    """
    x = as_float(x)
    offset, dr = _resolve_range(data_range, input_range)
    x = (x - offset) / dr
    if method == "laplacian":
        v = _laplacian(x).double()
    elif method == "gradient":
        v = _gradient_energy(x).double()
    elif method == "gradient_magnitude":
        v = _gradient_energy(x).double().sqrt()
    else:
        raise ConfigError(f"sharpness method must be 'laplacian', 'gradient' or 'gradient_magnitude', got {method!r}.")
    m = None
    if mask is not None:
        m = crop_spatial(plain_tensor(mask).double(), 1)
        m = m.expand(v.shape[0], 1, *v.shape[2:])
    if method != "laplacian":
        return _masked_mean(v, m)
    mean = _masked_mean(v, m)
    centred = v - mean.reshape(-1, *([1] * (v.ndim - 1)))
    return _masked_mean(centred * centred, m)


def masked_output_transform(
    pred_key: str = "pred", label_key: str = "hr", mask_key: str = "fov"
) -> Callable[[Any], tuple[Any, Any]]:
    """Ignite ``output_transform`` giving ``(y_pred, y_with_mask)`` for metrics built with ``mask_in_label=True``.

    ``IgniteMetricHandler`` passes only ``(y_pred, y)`` to a metric, so the field-of-view mask travels as one extra
    channel appended to ``y``. Works on a batch dict (``{"pred": (N,C,...), ...}``) and on MONAI's decollated list
    of per-image dicts.

    Example:
        >>> from monai.handlers import IgniteMetricHandler
        >>> handler = IgniteMetricHandler(PSNRMetric(mask_in_label=True), output_transform=masked_output_transform())
    """

    def _transform(output: Any) -> tuple[Any, Any]:
        if isinstance(output, dict):
            pred, label, mask = output[pred_key], output[label_key], output[mask_key]
            return pred, torch.cat([plain_tensor(label), plain_tensor(mask).to(label.dtype)], dim=1)
        preds = [o[pred_key] for o in output]
        labels = [
            torch.cat([plain_tensor(o[label_key]), plain_tensor(o[mask_key]).to(o[label_key].dtype)], 0) for o in output
        ]
        return preds, labels

    return _transform


class _ImageMetric(CumulativeIterationMetric):
    """Base of the MONAI metric classes: per-image values buffered as ``(N, 1)`` and reduced by ``aggregate``.

    Args:
        mask_in_label: the last channel of ``y`` is a field-of-view mask (see :func:`masked_output_transform`).
        reduction: MONAI ``MetricReduction`` applied by :meth:`aggregate` ("mean" by default; NaN values, e.g. of
            an image whose mask is empty, are left out).
        get_not_nans: ``aggregate`` also returns the count of non-NaN values.
        kwargs: keyword arguments of the functional metric (``data_range``, ``crop_border``, ``y_channel`` ...).
    """

    _fn: Callable[..., torch.Tensor]

    def __init__(
        self,
        mask_in_label: bool = False,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.mask_in_label = mask_in_label
        self.reduction = reduction
        self.get_not_nans = get_not_nans
        self.kwargs = kwargs

    def _split(self, y: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.mask_in_label:
            if mask is not None:
                raise ValueError("give the mask either as the last channel of y (mask_in_label=True) or as mask=.")
            return y[:, :-1], y[:, -1:]
        return y, mask

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if y is None:
            raise ValueError(f"{type(self).__name__} needs a reference y.")
        y, mask = self._split(y, mask)
        kw = dict(self.kwargs)
        if mask is not None:
            kw["mask"] = mask
        return type(self)._fn(y_pred, y, **kw).reshape(-1, 1).float()

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reduce the buffered per-image values (``reduction`` defaults to the one given at construction)."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError("the data to aggregate must be a PyTorch Tensor.")
        f, not_nans = do_metric_reduction(data, reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f


class PSNRMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`psnr` (keyword arguments as :func:`psnr`, plus those of the base class).

    Example:
        >>> metric = PSNRMetric(data_range=1.0, crop_border=4, y_channel=True)
        >>> _ = metric(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
        >>> metric.aggregate().shape
        torch.Size([1])
    """

    _fn = staticmethod(psnr)


class SSIMMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`ssim` (masked SSIM with ``mask=`` or ``mask_in_label=True``)."""

    _fn = staticmethod(ssim)


class RMSEMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`rmse`."""

    _fn = staticmethod(rmse)


class MSSSIMMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`ms_ssim` (no mask)."""

    _fn = staticmethod(ms_ssim)

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if mask is not None or self.mask_in_label:
            raise ValueError("MS-SSIM does not support a field-of-view mask.")
        return super()._compute_tensor(y_pred, y)


class SharpnessMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`sharpness` of ``y_pred``; with ``relative=True`` (default) the ratio to the
    sharpness of ``y`` (1 = as sharp as the truth, > 1 sharper, < 1 smoother).

    Args:
        relative: report ``sharpness(y_pred) / sharpness(y)`` instead of ``sharpness(y_pred)``.
        kwargs: ``method``, ``data_range``, ``input_range`` of :func:`sharpness`, and the base-class options.
    """

    def __init__(self, relative: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.relative = relative

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if y is not None:
            y, mask = self._split(y, mask)
        kw = dict(self.kwargs)
        if mask is not None:
            kw["mask"] = mask
        value = sharpness(y_pred, **kw)
        if self.relative:
            if y is None:
                raise ValueError("SharpnessMetric(relative=True) needs a reference y.")
            value = value / sharpness(y, **kw)
        return value.reshape(-1, 1).float()
