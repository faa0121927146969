"""HR → LR degradations as MONAI transforms, one degradation family per module.

- :mod:`.bicubic`: the papers' antialiased bicubic reduction (papers 000, 001, 004);
- :mod:`.blur`: Gaussian blur + downsampling (paper 003) and the separable Gaussian filter;
- :mod:`.realesrgan`: Real-ESRGAN's high-order degradation (paper 002), with its kernels, noise and JPEG in
  :mod:`.kernels` and the ground-truth unsharp masking in :mod:`.unsharp`;
- :mod:`.xray`: chest X-ray detector model (PSF, binning, Poisson-Gaussian noise);
- :mod:`.slice_thickness`: thick-slice acquisition of CT/MR volumes.

All degradations work on channel-first tensors ``(C, *spatial)`` (1 or 3 channels, 2D or 3D where it makes sense)
holding normalised values (usually ``[0, 1]``); noise levels are fractions of that range, so 8- and 16-bit data use
the same settings. HR sizes not divisible by the scale follow one size policy (:func:`crop_to_multiple`).
Dictionary transforms read ``keys`` (HR, default ``"hr"``) and write ``lr_key`` (default ``"lr"``); the LR output
is a ``MetaTensor`` when the HR one is, with its affine and ``srgan_spacing`` rescaled to the LR grid.
Paper references: docs/references.md.
"""

from __future__ import annotations

from ._common import crop_to_multiple, quantize
from .bicubic import BicubicDownsample, BicubicDownsampleD, BicubicDownsampled, BicubicDownsampleDict
from .blur import (
    RandBlurDownsample,
    RandBlurDownsampleD,
    RandBlurDownsampled,
    RandBlurDownsampleDict,
    gaussian_blur,
    gaussian_kernel1d,
)
from .realesrgan import (
    REALESRGAN_DEFAULTS,
    RandRealESRGANDegradation,
    RandRealESRGANDegradationD,
    RandRealESRGANDegradationd,
    RandRealESRGANDegradationDict,
)
from .slice_thickness import (
    SliceThicknessDegradation,
    SliceThicknessDegradationD,
    SliceThicknessDegradationd,
    SliceThicknessDegradationDict,
    slice_profile_weights,
)
from .unsharp import UnsharpMask, UnsharpMaskD, UnsharpMaskd, UnsharpMaskDict
from .xray import RandXRayDegradation, RandXRayDegradationD, RandXRayDegradationd, RandXRayDegradationDict

__all__ = [
    "BicubicDownsample",
    "BicubicDownsampled",
    "BicubicDownsampleD",
    "BicubicDownsampleDict",
    "RandBlurDownsample",
    "RandBlurDownsampled",
    "RandBlurDownsampleD",
    "RandBlurDownsampleDict",
    "RandRealESRGANDegradation",
    "RandRealESRGANDegradationd",
    "RandRealESRGANDegradationD",
    "RandRealESRGANDegradationDict",
    "RandXRayDegradation",
    "RandXRayDegradationd",
    "RandXRayDegradationD",
    "RandXRayDegradationDict",
    "SliceThicknessDegradation",
    "SliceThicknessDegradationd",
    "SliceThicknessDegradationD",
    "SliceThicknessDegradationDict",
    "UnsharpMask",
    "UnsharpMaskd",
    "UnsharpMaskD",
    "UnsharpMaskDict",
    "REALESRGAN_DEFAULTS",
    "crop_to_multiple",
    "gaussian_blur",
    "gaussian_kernel1d",
    "quantize",
    "slice_profile_weights",
]
