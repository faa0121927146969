"""Building blocks shared by generators and discriminators: SE attention, residual blocks, pixel (un)shuffle."""

from __future__ import annotations

from . import se
from .se import *  # noqa: F401,F403

__all__ = [*se.__all__]
