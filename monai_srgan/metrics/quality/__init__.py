"""Full-reference image-quality metrics done the way SR papers report them: PSNR, SSIM, RMSE, MS-SSIM, sharpness.

Every functional metric takes batch-first tensors ``(N, C, *spatial)`` (2D or 3D) and returns one value per image,
shape ``(N,)``. The options common to all of them (``data_range``/``input_range``, ``crop_border``, ``y_channel``,
``mask``) are described in :mod:`.common`. A field-of-view ``mask`` matters for fundus photographs: their black
border around the circular field of view, in which any method is trivially right, inflates PSNR by several dB and
hides differences between methods.

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

from . import common, cumulative, no_reference, pixel, structural
from .common import *  # noqa: F401,F403
from .cumulative import *  # noqa: F401,F403
from .no_reference import *  # noqa: F401,F403
from .pixel import *  # noqa: F401,F403
from .structural import *  # noqa: F401,F403

__all__ = [*common.__all__, *pixel.__all__, *structural.__all__, *no_reference.__all__, *cumulative.__all__]
