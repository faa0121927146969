"""SRResNet (SRGAN generator, Ledig et al., CVPR 2017) and BasicSR's MSRResNet.

:class:`SRResNet` is the generator of papers 000, 003 and 004: a head convolution with PReLU, ``B`` residual blocks
``Conv-Norm-Act-Conv-Norm`` with identity skips, a trunk ``Conv-Norm``, a global (long) skip from the head, ``log2(s)``
sub-pixel upsampling stages ``Conv → PixelShuffle(2) → PReLU`` (Shi et al. 2016) and a reconstruction convolution
(Ledig et al. 2017, Fig. 4). Paper 004 uses 8 blocks, a 3×3 head and InstanceNorm after the trunk convolution
(``num_blocks=8, head_kernel_size=3, trunk_norm="instance"``); paper 003 uses ReLU (``act="relu"``); paper 000 a
LeakyReLU variant.

:class:`MSRResNet` is BasicSR's "modified SRResNet" (no batch norm, LeakyReLU 0.1, bilinear global base), with
BasicSR's exact state-dict keys (``conv_first``, ``body.N.conv1``, ``upconv1``, ``conv_hr``, ``conv_last``) so its
released checkpoints load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Act, Conv
from torch import nn

from ...errors import ConfigError
from ..blocks.pixelshuffle import PixelShuffle, SubpixelUpsampleStage
from ..blocks.residual import ResidualBlockNoBN, SRResidualBlock, _act_spec, _norm_spec, default_init_weights
from .base import receptive_field, set_scale, subpixel_ops, subpixel_stages

__all__ = ["SRResNet", "MSRResNet"]

_INTERP = {1: "linear", 2: "bilinear", 3: "trilinear"}


class SRResNet(nn.Module):
    """SRGAN generator (Ledig et al. 2017, Fig. 4) for 2D/3D, 1 or 3 channels, scale 2/4/8/16 or per-axis.

    ``sr = Tail(Up(Trunk(Body(h)) + h)), h = Head(lr)`` with ``Body`` = ``num_blocks`` × ``x + N(C(A(N(C(x)))))``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (1 gray / 3 RGB).
        out_channels: output channels.
        scale: upsampling factor, a power of two (2, 4, 8, 16), or one power of two per axis (e.g. ``(1, 1, 4)``).
        num_feat: feature channels (64).
        num_blocks: residual blocks (16 in SRGAN, 8 in paper 004).
        norm: norm of the residual blocks: ``"batch"`` (SRGAN), ``"instance"`` or ``"none"``.
        trunk_norm: norm after the trunk convolution; ``None`` = same as ``norm``; ``"instance"`` in paper 004.
        act: activation of head, blocks and upsampling: ``"prelu"`` (SRGAN), ``"relu"``, ``"leakyrelu"``...
        head_kernel_size: kernel of the head convolution (9 in SRGAN, 3 in paper 004).
        tail_kernel_size: kernel of the reconstruction convolution (9 in SRGAN).
        output_act: optional activation on the output, e.g. ``"tanh"`` for ``[-1, 1]`` data; ``None`` (default)
            keeps the output linear.

    Attributes:
        scale: int (isotropic) or per-axis tuple.
        receptive_field: radius in LR pixels (see :mod:`monai_srgan.networks.generators.base`).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int | Sequence[int] = 4,
        num_feat: int = 64,
        num_blocks: int = 16,
        norm: str | tuple | None = "batch",
        trunk_norm: str | tuple | None = None,
        act: str | tuple | None = "prelu",
        head_kernel_size: int = 9,
        tail_kernel_size: int = 9,
        output_act: str | None = None,
    ) -> None:
        super().__init__()
        factors = set_scale(self, spatial_dims, scale)
        stages = subpixel_stages("SRResNet", factors)
        if any(3 in s for s in stages):
            raise ConfigError(f"SRResNet scale must be a power of two per axis, got {scale!r}.")
        trunk_norm = norm if trunk_norm is None else trunk_norm
        tnorm = _norm_spec(trunk_norm)
        act_f = _act_spec(act, num_feat)
        self.head = Convolution(
            spatial_dims, in_channels, num_feat, kernel_size=head_kernel_size, act=act_f, adn_ordering="A"
        )
        self.body = nn.Sequential(*[SRResidualBlock(spatial_dims, num_feat, 3, norm, act) for _ in range(num_blocks)])
        self.trunk = Convolution(
            spatial_dims, num_feat, num_feat, kernel_size=3, norm=tnorm, act=None, adn_ordering="N",
            bias=tnorm is None, conv_only=tnorm is None,
        )  # fmt: skip
        self.upsample = nn.Sequential(
            *[SubpixelUpsampleStage(spatial_dims, num_feat, f, 3, _act_spec(act, num_feat)) for f in stages]
        )
        self.tail = Conv[Conv.CONV, spatial_dims](
            num_feat, out_channels, tail_kernel_size, padding=tail_kernel_size // 2
        )
        self.output_act = Act[output_act]() if output_act else nn.Identity()
        self.receptive_field = receptive_field(
            lambda d: (
                [("conv", head_kernel_size // 2)]
                + [("conv", 1)] * (2 * num_blocks + 1)
                + subpixel_ops(stages, d)
                + [("conv", tail_kernel_size // 2)]
            ),
            factors,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        h = self.trunk(self.body(h)) + h
        return self.output_act(self.tail(self.upsample(h)))


class MSRResNet(nn.Module):
    """BasicSR's modified SRResNet (no BN, LeakyReLU 0.1, bilinear base added), key-compatible with BasicSR.

    ``sr = conv_last(lrelu(conv_hr(Up(Body(lrelu(conv_first(lr))))))) + interp(lr)``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels (the interpolated base needs ``in_channels == out_channels`` or
            ``in_channels == 1``).
        scale: 2, 3, 4, 8, 16 or one power of two per axis (BasicSR: 2, 3, 4).
        num_feat: feature channels (64).
        num_blocks: residual blocks (16).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int | Sequence[int] = 4,
        num_feat: int = 64,
        num_blocks: int = 16,
    ) -> None:
        super().__init__()
        if in_channels not in (1, out_channels):
            raise ConfigError(f"MSRResNet adds the interpolated input: in_channels must be 1 or {out_channels}.")
        factors = set_scale(self, spatial_dims, scale)
        stages = subpixel_stages("MSRResNet", factors)
        conv = Conv[Conv.CONV, spatial_dims]
        self.scale_factors = [float(f) for f in factors]
        self.interp_mode = _INTERP[spatial_dims]
        self.conv_first = conv(in_channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(spatial_dims, num_feat) for _ in range(num_blocks)])
        for b in self.body:
            default_init_weights(b, 0.1)
        if len(stages) > 4:
            raise ConfigError(f"MSRResNet supports at most 4 upsampling stages (×16), got scale {scale!r}.")
        self.n_up = len(stages)
        for i, s in enumerate(stages):
            self.add_module(f"upconv{i + 1}", conv(num_feat, num_feat * math.prod(s), 3, 1, 1))
        self.shuffles = nn.ModuleList([PixelShuffle(spatial_dims, s) for s in stages])
        self.conv_hr = conv(num_feat, num_feat, 3, 1, 1)
        self.conv_last = conv(num_feat, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)
        default_init_weights(self.conv_first, 0.1)
        default_init_weights(self.conv_hr, 0.1)
        default_init_weights(self.conv_last, 0.1)
        for i in range(self.n_up):
            default_init_weights(getattr(self, f"upconv{i + 1}"), 0.1)
        self.receptive_field = receptive_field(
            lambda d: [("conv", 1)] * (1 + 2 * num_blocks) + subpixel_ops(stages, d) + [("conv", 1)] * 2, factors
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(self.lrelu(self.conv_first(x)))
        # BasicSR's flat key names (upconv1, upconv2, ...); hasattr is resolved statically by TorchScript
        if hasattr(self, "upconv1"):
            out = self.lrelu(self.shuffles[0](self.upconv1(out)))
        if hasattr(self, "upconv2"):
            out = self.lrelu(self.shuffles[1](self.upconv2(out)))
        if hasattr(self, "upconv3"):
            out = self.lrelu(self.shuffles[2](self.upconv3(out)))
        if hasattr(self, "upconv4"):
            out = self.lrelu(self.shuffles[3](self.upconv4(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(x, scale_factor=self.scale_factors, mode=self.interp_mode, align_corners=False)
        return out + base
