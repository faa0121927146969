"""Building blocks shared by generators and discriminators: SE attention, residual blocks, pixel (un)shuffle."""

from __future__ import annotations

from . import pixelshuffle, residual, se
from .pixelshuffle import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403
from .se import *  # noqa: F401,F403

__all__ = [*se.__all__, *residual.__all__, *pixelshuffle.__all__]
