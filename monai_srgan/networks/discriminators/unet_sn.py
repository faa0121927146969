"""Real-ESRGAN's U-Net discriminator with spectral normalisation (paper 002), key-compatible with its netD files."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from torch import nn
from torch.nn.utils import spectral_norm

from monai_srgan.errors import ConfigError

from ._common import check_spatial_dims

__all__ = ["UNetDiscriminatorSN"]


class UNetDiscriminatorSN(nn.Module):
    """U-Net discriminator with spectral normalisation (Real-ESRGAN, Wang et al. 2021; paper 002 Sec. 3.2.2).

    A per-pixel discriminator (Schonfeld et al. 2020) whose convolutions are spectrally normalised (Miyato et al.
    2018, ``W / sigma(W)``): ``conv0`` (3x3) -> three 4x4 stride-2 convolutions (``conv1..3``, widths 2, 4, 8 x
    ``num_feat``) -> three bilinear x2 upsamplings each followed by a 3x3 convolution (``conv4..6``) with skip
    additions from the encoder -> two 3x3 convolutions (``conv7``, ``conv8``) -> ``conv9`` to one channel. All
    activations are LeakyReLU(0.2); there is no sigmoid (Real-ESRGAN's GAN loss takes logits).

    The layers are plain ``nn.ConvNd`` wrapped in ``torch.nn.utils.spectral_norm`` (the old hook-based API) so
    that the state-dict keys are exactly Real-ESRGAN's (``conv1.weight_orig``, ``conv1.weight_u``,
    ``conv1.weight_v``, ...): the released ``RealESRGAN_x4plus_netD.pth`` / ``x2plus_netD`` files (``params``
    wrapper) load with ``strict=True``. At the released size (``in_channels=3, num_feat=64``) the network has
    4,376,897 parameters, the number paper 002 reports.

    Differences from Real-ESRGAN that do not change its results: each upsampling goes to the exact size of the
    matching encoder map (Real-ESRGAN's ``scale_factor=2``; identical whenever the input size is divisible by 8,
    and it also accepts other sizes), activations are not in-place, and ``spatial_dims=3`` builds the same network
    with 3D convolutions and trilinear upsampling (spectral norm works unchanged on 3D kernels).

    Args:
        spatial_dims: 2 (Real-ESRGAN) or 3.
        in_channels: image channels (``num_in_ch`` in Real-ESRGAN).
        num_feat: base width (Real-ESRGAN: 64).
        skip_connection: add the encoder features in the decoder (Real-ESRGAN: True).

    Shapes:
        input ``(N, in_channels, *spatial)`` with every spatial size >= 8, output per-pixel logits
        ``(N, 1, *spatial)``.
    """

    def __init__(self, spatial_dims: int, in_channels: int, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        check_spatial_dims(spatial_dims)
        self.spatial_dims = spatial_dims
        self.skip_connection = skip_connection
        self._mode = "bilinear" if spatial_dims == 2 else "trilinear"
        conv = Conv[Conv.CONV, spatial_dims]
        norm = spectral_norm
        self.conv0 = conv(in_channels, num_feat, kernel_size=3, stride=1, padding=1)
        # downsample
        self.conv1 = norm(conv(num_feat, num_feat * 2, 4, 2, 1, bias=False))
        self.conv2 = norm(conv(num_feat * 2, num_feat * 4, 4, 2, 1, bias=False))
        self.conv3 = norm(conv(num_feat * 4, num_feat * 8, 4, 2, 1, bias=False))
        # upsample
        self.conv4 = norm(conv(num_feat * 8, num_feat * 4, 3, 1, 1, bias=False))
        self.conv5 = norm(conv(num_feat * 4, num_feat * 2, 3, 1, 1, bias=False))
        self.conv6 = norm(conv(num_feat * 2, num_feat, 3, 1, 1, bias=False))
        # extra convolutions
        self.conv7 = norm(conv(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv8 = norm(conv(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv9 = conv(num_feat, 1, 3, 1, 1)

    def _up(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[2:], mode=self._mode, align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel logits ``(N, 1, *spatial)``: large means "real"."""
        if min(x.shape[2:]) < 8:
            raise ConfigError(
                f"UNetDiscriminatorSN needs every spatial size >= 8, got {tuple(x.shape[2:])}: use larger HR patches "
                "(hr_patch; in the 2D bundles lr_patch × scale)."
            )
        act = F.leaky_relu
        x0 = act(self.conv0(x), 0.2)
        x1 = act(self.conv1(x0), 0.2)
        x2 = act(self.conv2(x1), 0.2)
        x3 = act(self.conv3(x2), 0.2)

        x4 = act(self.conv4(self._up(x3, x2)), 0.2)
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(self._up(x4, x1)), 0.2)
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(self._up(x5, x0)), 0.2)
        if self.skip_connection:
            x6 = x6 + x0

        out = act(self.conv7(x6), 0.2)
        out = act(self.conv8(out), 0.2)
        return self.conv9(out)
