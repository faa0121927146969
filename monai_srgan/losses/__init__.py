"""Generator and discriminator losses of the five papers: content, perceptual, adversarial, fusion, saliency.

See docs/losses.md for every paper's generator loss as a ``GeneratorLoss`` config.
"""

from __future__ import annotations

from . import adversarial, composite, content, feature_matching, fusion, perceptual, saliency
from .adversarial import *  # noqa: F401,F403
from .composite import *  # noqa: F401,F403
from .content import *  # noqa: F401,F403
from .feature_matching import *  # noqa: F401,F403
from .fusion import *  # noqa: F401,F403
from .perceptual import *  # noqa: F401,F403
from .saliency import *  # noqa: F401,F403

__all__ = [
    *content.__all__,
    *perceptual.__all__,
    *adversarial.__all__,
    *feature_matching.__all__,
    *fusion.__all__,
    *saliency.__all__,
    *composite.__all__,
]
