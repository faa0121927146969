"""MONAI's PatchDiscriminator behind this project's discriminator signature (patch logits, 2D and 3D)."""

from __future__ import annotations

import torch
from monai.networks.nets import PatchDiscriminator

from ._common import LEAKY_RELU, check_spatial_dims

__all__ = ["PatchGANDiscriminator"]


class PatchGANDiscriminator(PatchDiscriminator):
    """``monai.networks.nets.PatchDiscriminator`` (Pix2PixHD / PatchGAN) returning only its patch logits.

    MONAI's class takes ``(spatial_dims, channels, in_channels, ...)`` and returns the list of all intermediate
    feature maps; this subclass takes ``(spatial_dims, in_channels, ...)`` like every discriminator of this
    project, fixes ``out_channels=1`` and returns the last element only: one logit per patch, no sigmoid. It is
    also the patch-based discriminator for 3D volumes, where an image-level dense head would be large.
    :meth:`intermediate_features` gives MONAI's list (e.g. for a feature-matching loss).

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        channels: filters of the first layer, doubled for each further layer (MONAI's ``channels``).
        num_layers_d: number of strided convolution layers after the first (MONAI's ``num_layers_d``).
        kernel_size: convolution kernel size.
        norm: normalisation (MONAI factory form).
        dropout: dropout probability in each layer.
        **kwargs: further arguments of ``monai.networks.nets.PatchDiscriminator`` (``bias``, ``padding``,
            ``last_conv_kernel_size``, ``activation``).

    Shapes:
        input ``(N, in_channels, *spatial)``, output patch logits ``(N, 1, *patch_grid)`` (about ``/2**num_layers_d``
        of the input size).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        channels: int = 64,
        num_layers_d: int = 3,
        kernel_size: int = 4,
        norm: str | tuple = "BATCH",
        dropout: float = 0.0,
        **kwargs,
    ) -> None:
        check_spatial_dims(spatial_dims)
        kwargs.setdefault("activation", LEAKY_RELU)
        super().__init__(
            spatial_dims=spatial_dims,
            channels=channels,
            in_channels=in_channels,
            out_channels=1,
            num_layers_d=num_layers_d,
            kernel_size=kernel_size,
            norm=norm,
            dropout=dropout,
            **kwargs,
        )
        self.spatial_dims = spatial_dims

    def intermediate_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """MONAI's output: the list of every layer's output, the patch logits last."""
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Patch logits ``(N, 1, *patch_grid)``."""
        return super().forward(x)[-1]
