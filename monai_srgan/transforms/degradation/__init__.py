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

from . import _common, bicubic, blur, realesrgan, slice_thickness, unsharp, xray
from ._common import *  # noqa: F401,F403
from .bicubic import *  # noqa: F401,F403
from .blur import *  # noqa: F401,F403
from .realesrgan import *  # noqa: F401,F403
from .slice_thickness import *  # noqa: F401,F403
from .unsharp import *  # noqa: F401,F403
from .xray import *  # noqa: F401,F403

__all__ = [
    *_common.__all__,
    *bicubic.__all__,
    *blur.__all__,
    *realesrgan.__all__,
    *unsharp.__all__,
    *xray.__all__,
    *slice_thickness.__all__,
]
