"""Generators, discriminators and VGG features behind MONAI's network API, Real-ESRGAN checkpoint compatible.

One architecture per file; each docstring cites its paper ("paper 00x") or original work, in full in
docs/references.md."""

from __future__ import annotations

from . import blocks, checkpoint, discriminators, export, features, generators, registry
from .blocks import *  # noqa: F401,F403
from .checkpoint import *  # noqa: F401,F403
from .discriminators import *  # noqa: F401,F403
from .export import *  # noqa: F401,F403
from .features import *  # noqa: F401,F403
from .generators import *  # noqa: F401,F403
from .registry import *  # noqa: F401,F403

__all__ = [
    *blocks.__all__,
    *generators.__all__,
    *discriminators.__all__,
    *features.__all__,
    *registry.__all__,
    *checkpoint.__all__,
    *export.__all__,
]
