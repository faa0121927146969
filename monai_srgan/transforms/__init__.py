"""MONAI transforms of monai_srgan: loading, colour, resizing, intensity, degradation, paired augmentation, fundus FOV,
datasets."""

from __future__ import annotations

from . import color, datasets, degradation, fundus, intensity, io, paired, resize, spatial
from .color import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .degradation import *  # noqa: F401,F403
from .fundus import *  # noqa: F401,F403
from .intensity import *  # noqa: F401,F403
from .io import *  # noqa: F401,F403
from .paired import *  # noqa: F401,F403
from .resize import *  # noqa: F401,F403
from .spatial import *  # noqa: F401,F403

__all__ = [
    *io.__all__,
    *color.__all__,
    *spatial.__all__,
    *intensity.__all__,
    *fundus.__all__,
    *resize.__all__,
    *degradation.__all__,
    *paired.__all__,
    *datasets.__all__,
]
