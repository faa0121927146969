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

Modules: :mod:`.common` (ranges, BT.601 luma, shared options), :mod:`.pixel` (PSNR, RMSE), :mod:`.structural` (SSIM,
MS-SSIM), :mod:`.no_reference` (sharpness), :mod:`.cumulative` (the MONAI metric classes).
"""

from __future__ import annotations

from .common import data_range_for_bits, rgb_to_y
from .cumulative import MSSSIMMetric, PSNRMetric, RMSEMetric, SharpnessMetric, SSIMMetric, masked_output_transform
from .no_reference import sharpness
from .pixel import psnr, rmse
from .structural import ms_ssim, ssim, ssim_map

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
