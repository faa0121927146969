"""Intensity normalisation with an exact inverse.

Every transform here is an affine map ``y = x * scale + offset`` (per image, or per channel) from the loader's value
domain (docs/architecture.md) to the network's range, and records it in ``meta["srgan_norm"] = {"kind", "scale",
"offset"}``. Applying several in a row composes them, so ``srgan_norm`` always maps the *loaded* values to the current
ones and :func:`invert_normalization` maps any network output back to the source's value domain. Each transform is also
a MONAI :class:`~monai.transforms.InvertibleTransform` (``inverse`` pops its own record).

* :class:`ScaleToUnitRange` - ``[srgan_value_min, srgan_value_max]`` (the bit-depth range) to ``[0, 1]`` or
  ``[-1, 1]`` (paper 004 normalises to ``[-1, 1]``).
* :class:`ZScoreNormalize` - ``(x - mu) / sigma`` with the training set's mean/std (paper 000, eq. 7), computed with
  :func:`compute_dataset_stats`.
* :class:`PercentileScale` - robust ``[p_low, p_high]`` to ``out_range`` per image.
* :class:`WindowScale` - DICOM LINEAR VOI window (PS3.3 C.11.2.1.2.1) to ``out_range``.

Exactness: float32 holds every 16-bit integer and the round trip error of the affine map is ~1e-2 grey levels for
16-bit data, so normalise -> invert -> round to the stored dtype is bit-exact (tests on real files). Clipping
(``clip=True``, the default of :class:`WindowScale` only) is not invertible outside the clipped range.

Modules: :mod:`._affine` (the recorded affine map and the dictionary base), :mod:`.normalize` (unit range, z-score,
percentile), :mod:`.window` (DICOM window), :mod:`.inverse`, :mod:`.stats`.
"""

from __future__ import annotations

from . import _affine, inverse, normalize, stats, window
from ._affine import *  # noqa: F401,F403
from .inverse import *  # noqa: F401,F403
from .normalize import *  # noqa: F401,F403
from .stats import *  # noqa: F401,F403
from .window import *  # noqa: F401,F403

__all__ = [*_affine.__all__, *normalize.__all__, *window.__all__, *inverse.__all__, *stats.__all__]
