"""monai_srgan.metrics: image quality (PSNR/SSIM variants, RMSE, MS-SSIM, sharpness), fidelity, bicubic reports."""

from __future__ import annotations

from . import quality
from .quality import *  # noqa: F401,F403

__all__ = [*quality.__all__]
