"""Building blocks shared by generators and discriminators: SE attention, residual blocks, pixel (un)shuffle,
bicubic upsampling in sub-pixel layout."""

from __future__ import annotations

from . import cubic_upsample, pixelshuffle, residual, se
from .cubic_upsample import *  # noqa: F401,F403
from .pixelshuffle import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403
from .se import *  # noqa: F401,F403

__all__ = [*cubic_upsample.__all__, *se.__all__, *residual.__all__, *pixelshuffle.__all__]
