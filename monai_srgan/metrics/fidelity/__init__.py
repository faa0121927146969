"""Fidelity metrics: did the super-resolved image invent or erase anatomy?

- :func:`lr_consistency` (no ground truth needed): degrade SR with the operator that made the LR input and compare
  with that input. An SR image that is consistent with its input scores high; hallucinated or shifted content
  that the input cannot explain shows up in the residual map. Cheap enough to run on every image at inference.
- :func:`vesselness`, :func:`vessel_map`, :func:`vessel_agreement` (fundus, with ground truth): Frangi vesselness
  on the green channel, thresholded into vessel maps; precision / recall / F1 of SR vessels against HR vessels
  (paper 000 reports precision/recall/F1) with maps of false vessels (in SR, not in HR) and missed vessels.
- :func:`hallucination_map`, :func:`hallucination_score` (with ground truth): local high-frequency energy present
  in SR and absent from HR (Laplacian-of-Gaussian band), the texture a GAN adds; :func:`erasure_map` is the
  converse (detail in HR that SR lost).

All functions take batch-first ``(N, C, *spatial)`` tensors (2D; 3D where noted) and are vectorised torch except
the optional ITK vesselness path, which loops over the batch.

References:
    Frangi, Niessen, Vincken, Viergever, "Multiscale vessel enhancement filtering", MICCAI 1998 (eqs. 11-15).
    Antiga, "Generalizing vesselness with respect to dimensionality and shape", Insight Journal 2007
    (ITK ``HessianToObjectnessMeasureImageFilter``).
    Lindeberg, "Feature detection with automatic scale selection", IJCV 1998 (scale-normalised derivatives).

Modules: :mod:`.consistency` (LR-consistency), :mod:`.vessels`, :mod:`.hallucination`.
"""

from __future__ import annotations

from . import consistency, hallucination, vessels
from .consistency import *  # noqa: F401,F403
from .hallucination import *  # noqa: F401,F403
from .vessels import *  # noqa: F401,F403

__all__ = [*consistency.__all__, *vessels.__all__, *hallucination.__all__]
