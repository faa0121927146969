"""The feature-fusion discriminator with (improved) SE blocks of paper 001 (after Bing et al., IEEE Access 2019)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Pool
from torch import nn

from monai_srgan.errors import ConfigError

from ..blocks.se import SEBlock
from ._common import LEAKY_RELU, check_spatial_dims

__all__ = ["ConvSEBlock", "FeatureFusionSEDiscriminator"]


class ConvSEBlock(nn.Module):
    """3x3 convolution (stride 1 or 2) -> norm -> LeakyReLU(0.2) -> SE channel attention (paper 001, eq. 2)."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        norm: str | tuple | None = "batch",
        se_variant: str = "improved",
        se_reduction: int = 16,
    ) -> None:
        super().__init__()
        self.conv = Convolution(
            spatial_dims, in_channels, out_channels, strides=stride, kernel_size=3, act=LEAKY_RELU, norm=norm
        )
        self.se = SEBlock(spatial_dims, out_channels, reduction=se_reduction, variant=se_variant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.conv(x))


class FeatureFusionSEDiscriminator(nn.Module):
    """Discriminator with conv-SE blocks and fusion of its last feature maps (paper 001, "Model Architecture").

    Paper 001 describes it as "Conv + LeakyReLU -> 8 Conv-SE blocks with downsampling; last 3 feature maps fused
    via spatial alignment; global pooling -> 1x1 Convs -> Sigmoid". Built here as:

    1. ``stem``: 3x3 convolution to ``num_features`` channels + LeakyReLU(0.2).
    2. ``blocks``: 8 :class:`ConvSEBlock` (conv -> batch norm -> LeakyReLU(0.2) -> SE). Channels and strides
       default to those of the SRGAN discriminator, ``num_features * (1, 1, 2, 2, 4, 4, 8, 8)`` with strides
       ``(1, 2, 1, 2, 1, 2, 1, 2)`` (/16 overall). The SE is the improved SE of paper 001 (eq. 2,
       ``s = 2 (0.8 sigma(W2 delta(W1 y)) + 0.2 sigma(y))``); ``se_variant="original"`` gives Hu et al.'s SE for
       the ablation.
    3. fusion: the outputs of the last ``num_fused`` blocks (default 3: 256 ch at /8, 512 ch at /8, 512 ch at /16)
       are spatially aligned by adaptive average pooling to the size of the smallest, concatenated along channels
       and mixed by a 1x1 convolution to ``fused_channels`` + LeakyReLU(0.2).
    4. ``head``: global average pooling, 1x1 convolution to ``dense_features`` + LeakyReLU(0.2), optional
       dropout, 1x1 convolution to 1 channel. The paper's sigmoid is left to the loss (the relativistic GAN term
       of the fusion loss takes logits).

    The paper gives no layer widths; the choices above follow the SRGAN discriminator that paper 001 extends.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        num_features: channels of the stem and the first block.
        channels: channels of each conv-SE block (default ``num_features * (1, 1, 2, 2, 4, 4, 8, 8)``).
        strides: stride of each conv-SE block (default ``(1, 2, 1, 2, 1, 2, 1, 2)``).
        num_fused: how many of the last block outputs are fused (1 disables the fusion).
        fused_channels: channels after the fusion 1x1 convolution.
        dense_features: channels of the hidden 1x1 convolution of the head.
        se_variant: ``"improved"`` (paper 001), ``"original"`` or ``"none"``.
        se_reduction: SE bottleneck reduction ratio.
        norm: normalisation in the conv-SE blocks (MONAI factory form).
        dropout: dropout probability before the last 1x1 convolution.

    Shapes:
        input ``(N, in_channels, *spatial)``, output logits ``(N, 1)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_features: int = 64,
        channels: Sequence[int] | None = None,
        strides: Sequence[int] | None = None,
        num_fused: int = 3,
        fused_channels: int = 512,
        dense_features: int = 1024,
        se_variant: str = "improved",
        se_reduction: int = 16,
        norm: str | tuple | None = "batch",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_spatial_dims(spatial_dims)
        channels = (
            tuple(channels) if channels is not None else tuple(num_features * m for m in (1, 1, 2, 2, 4, 4, 8, 8))
        )
        strides = tuple(strides) if strides is not None else (1, 2) * (len(channels) // 2) + (1,) * (len(channels) % 2)
        if len(strides) != len(channels):
            raise ConfigError(f"channels and strides must have the same length, got {channels} and {strides}.")
        if not 1 <= num_fused <= len(channels):
            raise ConfigError(f"num_fused must be in [1, {len(channels)}], got {num_fused}.")
        self.spatial_dims = spatial_dims
        self.num_fused = num_fused
        self.stem = Convolution(spatial_dims, in_channels, num_features, kernel_size=3, act=LEAKY_RELU, norm=None)
        blocks = []
        c_in = num_features
        for c_out, s in zip(channels, strides):
            blocks.append(ConvSEBlock(spatial_dims, c_in, c_out, s, norm, se_variant, se_reduction))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.fuse = Convolution(
            spatial_dims, sum(channels[-num_fused:]), fused_channels, kernel_size=1, act=LEAKY_RELU, norm=None
        )
        self.head = nn.Sequential(
            Pool[Pool.ADAPTIVEAVG, spatial_dims](1),
            Convolution(spatial_dims, fused_channels, dense_features, kernel_size=1, act=LEAKY_RELU, norm=None),
            nn.Dropout(dropout),
            Convolution(spatial_dims, dense_features, 1, kernel_size=1, conv_only=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1)``: large means "real"."""
        h = self.stem(x)
        maps = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i >= len(self.blocks) - self.num_fused:
                maps.append(h)
        target = [min(m.shape[2 + a] for m in maps) for a in range(self.spatial_dims)]
        pool = F.adaptive_avg_pool2d if self.spatial_dims == 2 else F.adaptive_avg_pool3d
        aligned = [m if list(m.shape[2:]) == target else pool(m, target) for m in maps]
        return torch.flatten(self.head(self.fuse(torch.cat(aligned, dim=1))), 1)
