"""Generator and discriminator losses of the five papers: content, perceptual, adversarial, fusion, saliency.

Each paper's generator loss is a ``GeneratorLoss`` config of these terms (docs/losses.md; the recipes in
``bundles/*/configs/recipes/`` write them out); full citations in docs/references.md.
"""

from __future__ import annotations

from .adversarial import GAN_TYPES, AdversarialLoss
from .artifact import ArtifactMapLoss, artifact_map
from .composite import GeneratorLoss
from .consistency import LRConsistencyLoss
from .content import CharbonnierLoss, L1Loss, MSELoss, SaliencyWeightedMSELoss
from .envelope import HighFrequencyEnvelopeLoss
from .feature_matching import DiscriminatorFeatureLoss
from .fusion import FusionLoss
from .perceptual import PERCEPTUAL_PRESETS, PerceptualLoss, gram_matrix
from .saliency import LocalSaliency, SaliencyLoss, to_grayscale

__all__ = [
    "MSELoss",
    "L1Loss",
    "CharbonnierLoss",
    "SaliencyWeightedMSELoss",
    "PerceptualLoss",
    "PERCEPTUAL_PRESETS",
    "gram_matrix",
    "AdversarialLoss",
    "GAN_TYPES",
    "DiscriminatorFeatureLoss",
    "HighFrequencyEnvelopeLoss",
    "LRConsistencyLoss",
    "ArtifactMapLoss",
    "artifact_map",
    "FusionLoss",
    "LocalSaliency",
    "SaliencyLoss",
    "to_grayscale",
    "GeneratorLoss",
]
