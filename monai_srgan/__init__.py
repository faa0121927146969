"""monai_srgan: GAN super-resolution of medical images as a MONAI plugin.

Subpackages: ``transforms`` (loading, intensity, degradation, paired augmentation, datasets),
``networks`` (generators, discriminators, VGG features, checkpoints), ``losses``, ``metrics``,
``engines`` (two-stage Ignite training), ``inference`` (pipeline, writers, CLI) and ``apps`` (MONAI Label).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
