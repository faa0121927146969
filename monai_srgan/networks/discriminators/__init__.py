"""Discriminators of the five papers behind one signature: ``Disc(spatial_dims, in_channels, **arch)`` -> logits.

``DISCRIMINATORS`` maps names (class names and short aliases) to classes; ``monai_srgan.networks.get_discriminator``
looks names up there.
"""

from __future__ import annotations

from torch import nn

from . import feature_fusion_se, patch, srgan, unet_sn, vgg19
from .feature_fusion_se import *  # noqa: F401,F403
from .feature_fusion_se import FeatureFusionSEDiscriminator
from .patch import *  # noqa: F401,F403
from .patch import PatchGANDiscriminator
from .srgan import *  # noqa: F401,F403
from .srgan import SRGANDiscriminator
from .unet_sn import *  # noqa: F401,F403
from .unet_sn import UNetDiscriminatorSN
from .vgg19 import *  # noqa: F401,F403
from .vgg19 import VGG19Discriminator

#: Name -> class. Every class is called as ``cls(spatial_dims, in_channels, **arch)`` and returns logits.
DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "SRGANDiscriminator": SRGANDiscriminator,
    "srgan": SRGANDiscriminator,
    "VGG19Discriminator": VGG19Discriminator,
    "vgg19": VGG19Discriminator,
    "FeatureFusionSEDiscriminator": FeatureFusionSEDiscriminator,
    "feature_fusion_se": FeatureFusionSEDiscriminator,
    "UNetDiscriminatorSN": UNetDiscriminatorSN,
    "unet_sn": UNetDiscriminatorSN,
    "PatchGANDiscriminator": PatchGANDiscriminator,
    "PatchDiscriminator": PatchGANDiscriminator,
    "patch": PatchGANDiscriminator,
}

__all__ = [
    "DISCRIMINATORS",
    *srgan.__all__,
    *vgg19.__all__,
    *feature_fusion_se.__all__,
    *unet_sn.__all__,
    *patch.__all__,
]
