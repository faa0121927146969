"""Paired (LR, HR) augmentation: scale-aware aligned crops, flips, rot90 and small rotations applied identically.

Two ways to make training patches (DESIGN.md, "easy to get wrong": ``RandSpatialCropd`` on LR and HR crops the same
*pixel* box, which misaligns a pair):

* synthetic pairs: crop the HR with :class:`RandHRPatchd` (MONAI's ``RandSpatialCropd`` plus a size check and the
  optional ``fov`` key), then degrade it (``monai_srgan.transforms.degradation``) — aligned by construction;
* pre-paired LR/HR files (or after degrading a whole image): :class:`RandPairedCropd` draws the LR box and crops the
  HR at exactly ``scale ×`` that box, so HR pixels ``[s*i, s*(i+p))`` are the support of LR pixels ``[i, i+p)``.

:class:`RandPairedFlipRotated` then draws flips, a rot90 and optionally a small-angle rotation once per call and
applies them to every key (paper 000's augmentation set {random crop, horizontal flip, vertical flip, rotation}).
All work in 2D ``(C, H, W)`` and 3D ``(C, H, W, D)``; crops keep ``MetaTensor`` affines right (MONAI croppers).

Modules: :mod:`.crop` (HR patch and paired crops), :mod:`.flip_rotate`.
"""

from __future__ import annotations

from . import crop, flip_rotate
from .crop import *  # noqa: F401,F403
from .flip_rotate import *  # noqa: F401,F403

__all__ = [*crop.__all__, *flip_rotate.__all__]
