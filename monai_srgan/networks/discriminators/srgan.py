"""The SRGAN discriminator of Ledig et al. (CVPR 2017), 2D and 3D, with the optional dropout of paper 004."""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from torch import nn

from monai_srgan.errors import ConfigError

from ._common import LEAKY_RELU, DenseHead, check_spatial_dims

__all__ = ["SRGANDiscriminator"]


class SRGANDiscriminator(nn.Module):
    """VGG-style SRGAN discriminator (Ledig et al. 2017, Fig. 4; papers 003 and 004), returning logits.

    Eight 3x3 convolutions with ``num_features * (1, 1, 2, 2, 4, 4, 8, 8)`` channels (64 -> 512) and strides
    ``(1, 2, 1, 2, 1, 2, 1, 2)``: every second layer halves the resolution, as in Ledig et al. (``k3n64s1``,
    ``k3n64s2``, ``k3n128s1``, ...). Each is followed by batch norm (except the first) and LeakyReLU(0.2). The
    512 feature maps go through ``Dense(1024)``, LeakyReLU(0.2), optional dropout (paper 004 adds dropout to the
    discriminator against over-fitting) and ``Dense(1)``. The paper's final sigmoid is *not* applied: the
    adversarial loss takes logits (``BCEWithLogits``, eq. 5 of paper 003 / eq. 2 of paper 000).

    Any input size works: the features are average-pooled to ``pooled_size`` pixels per axis before the dense
    layers. With a 96x96 input (papers 003, 004) the last feature map is 6x6, so ``pooled_size=6`` makes the
    pooling the identity and reproduces Ledig's network exactly (23,565,505 trainable parameters for RGB).

    Args:
        spatial_dims: 2 or 3 (3D uses 3x3x3 convolutions and 3D batch norm).
        in_channels: image channels (1 for X-ray/CT/MR, 3 for fundus).
        num_features: channels of the first layer (Ledig: 64).
        num_layers: number of convolution layers (Ledig: 8); channels double every two layers.
        dense_features: width of the hidden dense layer (Ledig: 1024).
        pooled_size: pixels per axis after adaptive average pooling (see above).
        norm: normalisation after every convolution but the first, in MONAI's factory form (``"batch"``,
            ``"instance"``, ``None``).
        dropout: dropout probability before the last dense layer (paper 004; 0 disables it).
        conv_dropout: dropout probability after each convolution (0 disables it).

    Shapes:
        input ``(N, in_channels, *spatial)``, output logits ``(N, 1)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_features: int = 64,
        num_layers: int = 8,
        dense_features: int = 1024,
        pooled_size: int = 4,
        norm: str | tuple | None = "batch",
        dropout: float = 0.0,
        conv_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_spatial_dims(spatial_dims)
        if num_layers < 1:
            raise ConfigError(f"num_layers must be >= 1, got {num_layers}.")
        self.spatial_dims = spatial_dims
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(num_layers):
            c_out = num_features * 2 ** (i // 2)
            layers.append(
                Convolution(
                    spatial_dims,
                    c_in,
                    c_out,
                    strides=1 if i % 2 == 0 else 2,
                    kernel_size=3,
                    act=LEAKY_RELU,
                    norm=None if i == 0 else norm,
                    dropout=conv_dropout or None,
                )
            )
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = DenseHead(spatial_dims, c_in, pooled_size, dense_features, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1)``: large means "real" (apply a sigmoid for the probability)."""
        return self.head(self.features(x))
