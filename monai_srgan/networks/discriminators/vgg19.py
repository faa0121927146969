"""The VGG-19-based discriminator of paper 000 (SRGAN for diabetic-retinopathy fundus images)."""

from __future__ import annotations

import os

import torch
from monai.networks.blocks import Convolution
from torch import nn

from monai_srgan.errors import ConfigError

from ..features import build_vgg_features, load_vgg_weights, vgg_layer_index
from ._common import LEAKY_RELU, DenseHead, check_spatial_dims

__all__ = ["VGG19Discriminator"]


class VGG19Discriminator(nn.Module):
    """VGG-19 convolution stack + extra convolutions + dense layers, returning logits (paper 000, Sec. 2.1-2.3).

    Paper 000 replaces SRGAN's discriminator by "pre-trained VGG-19 ... with additional convolutional layers"
    followed by a dense layer and a sigmoid (its eq. 2 and 5 are the usual GAN losses on ``D``). Here:

    1. ``features``: torchvision's VGG-19 ``features`` stack (16 3x3 convolutions with ReLU, 5 max-poolings)
       truncated after ``vgg_layer`` (default ``pool5``, i.e. the whole stack, /32 resolution). Module indices
       equal torchvision's, so ``weights_path`` may be a torchvision ImageNet VGG-19 file (``features.N.weight``
       keys, loaded with ``weights_only=True``). For 1-channel input the first convolution gets the sum of the
       RGB kernels, which answers a gray image exactly as the RGB network answers the same gray value in
       all three channels.
    2. ``extra``: ``num_extra_convs`` 3x3 convolutions with ``extra_channels`` channels, optional norm,
       LeakyReLU(0.2) - the "additional convolutional layers" of the paper.
    3. ``head``: adaptive average pooling to ``pooled_size`` per axis, ``Dense(dense_features)``, LeakyReLU(0.2),
       optional dropout, ``Dense(1)``. The paper's sigmoid is left to the loss (BCE with logits).

    The paper's figure description also mentions "PixelShuffler layers" inside the discriminator; the text gives no
    place or factor for them and pixel shuffling would upsample the image being judged, so they are not built.
    No ImageNet input normalisation is applied: the pretrained weights are only an initialisation and the whole
    network is trained on the project's normalised images (paper 000 uses z-scores).

    Args:
        spatial_dims: 2, or 3 for a VGG-shaped 3D discriminator (random initialisation only).
        in_channels: image channels; ImageNet initialisation needs 1 or 3.
        weights_path: optional torchvision-format VGG-19 weight file used to initialise ``features``.
        vgg_layer: last VGG-19 layer kept (BasicSR naming, e.g. ``"pool5"``, ``"relu5_4"``, ``"pool4"``).
            The input must be at least ``2**p`` pixels per axis where ``p`` is the number of poolings kept.
        num_extra_convs: number of additional convolution layers after the VGG stack.
        extra_channels: channels of the additional convolutions.
        dense_features: width of the hidden dense layer.
        pooled_size: pixels per axis after adaptive average pooling.
        norm: normalisation in the additional convolutions (MONAI factory form; default none).
        dropout: dropout probability before the last dense layer.
        base_channels: width of the first VGG block (64 for VGG-19; other values only without ``weights_path``).

    Shapes:
        input ``(N, in_channels, *spatial)``, output logits ``(N, 1)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        weights_path: str | os.PathLike | None = None,
        vgg_layer: str = "pool5",
        num_extra_convs: int = 2,
        extra_channels: int = 512,
        dense_features: int = 1024,
        pooled_size: int = 4,
        norm: str | tuple | None = None,
        dropout: float = 0.0,
        base_channels: int = 64,
    ) -> None:
        super().__init__()
        check_spatial_dims(spatial_dims)
        if weights_path is not None:
            if spatial_dims != 2:
                raise ConfigError("VGG19Discriminator: weights_path (ImageNet VGG-19) needs spatial_dims=2.")
            if in_channels not in (1, 3):
                raise ConfigError(
                    f"VGG19Discriminator: ImageNet initialisation needs in_channels 1 or 3, got {in_channels}."
                )
            if base_channels != 64:
                raise ConfigError("VGG19Discriminator: weights_path needs base_channels=64 (the VGG-19 width).")
        self.spatial_dims = spatial_dims
        self.features = build_vgg_features(
            spatial_dims, in_channels, "vgg19", vgg_layer_index(vgg_layer, "vgg19"), base_channels=base_channels
        )
        if weights_path is not None:
            load_vgg_weights(self.features, weights_path, "vgg19")
        c_in = [m for m in self.features if isinstance(m, (nn.Conv2d, nn.Conv3d))][-1].out_channels
        extra: list[nn.Module] = []
        for _ in range(num_extra_convs):
            extra.append(Convolution(spatial_dims, c_in, extra_channels, kernel_size=3, act=LEAKY_RELU, norm=norm))
            c_in = extra_channels
        self.extra = nn.Sequential(*extra)
        self.head = DenseHead(spatial_dims, c_in, pooled_size, dense_features, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1)``: large means "real"."""
        return self.head(self.extra(self.features(x)))
