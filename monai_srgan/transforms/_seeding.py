"""Seed forwarding for dictionary transforms that wrap a random array transform (MONAI's ``…d`` convention).

MONAI's ``Compose.set_random_state`` seeds each transform it holds; a dictionary transform that delegates its
randomness to an array transform must pass the seed on, or one seed would not reproduce the pipeline.
"""

from __future__ import annotations

import numpy as np
from monai.transforms import Randomizable

__all__ = ["ForwardsRandomState"]


class ForwardsRandomState(Randomizable):
    """Mixin: :meth:`set_random_state` seeds this transform and the array transform held in ``self.<wrapped_attr>``.

    Put it first in the bases, e.g. ``class Food(ForwardsRandomState, RandomizableTransform, MapTransform)`` with
    ``wrapped_attr = "foo"``.
    """

    wrapped_attr: str

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        getattr(self, self.wrapped_attr).set_random_state(seed, state)
        return self
