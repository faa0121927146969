"""Feature matching on the discriminator's own features: a perceptual loss that needs no ImageNet weights.

The perceptual losses of the papers (000-004) compare VGG features, whose ImageNet weights cannot be downloaded
everywhere. Feature matching (Wang et al., pix2pixHD, CVPR 2018, eq. 4; docs/references.md) compares the
features of the discriminator trained alongside the generator instead: L1 between ``D_i(sr)`` and ``D_i(hr)`` over
the discriminator's intermediate layers, each averaged over its elements, then over the layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from monai_srgan.errors import ConfigError

__all__ = ["DiscriminatorFeatureLoss"]


class DiscriminatorFeatureLoss(nn.Module):
    """L1 between the discriminator's intermediate features of SR and HR (pix2pixHD eq. 4).

    Args:
        discriminator: a discriminator with ``intermediate_features(x) -> list[Tensor]`` (e.g.
            :class:`~monai_srgan.networks.PatchGANDiscriminator`); the same module the trainer trains, so the
            features follow it. The trainer freezes it during the generator step; this loss adds no gradient to it.
        layers: indices into the feature list to compare; default every layer but the last (the logits, which the
            adversarial term already uses).

    Called as ``loss(sr, hr)`` (a plain content term of :class:`~monai_srgan.losses.GeneratorLoss`).
    """

    def __init__(self, discriminator: nn.Module, layers: Sequence[int] | None = None) -> None:
        super().__init__()
        if not callable(getattr(discriminator, "intermediate_features", None)):
            raise ConfigError(
                f"DiscriminatorFeatureLoss: {type(discriminator).__name__} has no intermediate_features(x); use a "
                "discriminator that returns its features, e.g. monai_srgan.networks.PatchGANDiscriminator"
            )
        self._d = [discriminator]  # a list: not a submodule, so its weights stay out of this loss's state dict
        self.layers = None if layers is None else [int(i) for i in layers]

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        d = self._d[0]
        fake, real = d.intermediate_features(sr), d.intermediate_features(hr)
        idx = self.layers if self.layers is not None else list(range(len(fake) - 1))
        if not idx:
            raise ConfigError("DiscriminatorFeatureLoss: the discriminator returns no intermediate layer to compare")
        return sum(F.l1_loss(fake[i].float(), real[i].detach().float()) for i in idx) / len(idx)
