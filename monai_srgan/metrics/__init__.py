"""monai_srgan.metrics: image quality (PSNR/SSIM variants, RMSE, MS-SSIM, sharpness), fidelity, bicubic reports."""

from __future__ import annotations

from . import fidelity, quality, report
from .fidelity import *  # noqa: F401,F403
from .quality import *  # noqa: F401,F403
from .report import *  # noqa: F401,F403

__all__ = [*quality.__all__, *fidelity.__all__, *report.__all__]
