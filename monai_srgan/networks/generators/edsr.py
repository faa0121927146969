"""EDSR generator with the improved SE block (paper 001; EDSR after Lim et al., CVPRW 2017).

Paper 001 ("Model Architecture"): ``Conv → Improved SE → 16 ResBlocks (Conv-ReLU-Conv-SE)``, a global residual from
the shallow features to the deep features, ``log2(s) × [PixelShuffle upsampling + Improved SE]`` and a final
convolution; no batch normalisation anywhere. The improved SE is ``s = 2·(0.8·σ(W2 δ(W1 y)) + 0.2·σ(y))``
(paper 001, eq. 2); ``se="original"`` gives Hu et al.'s SE and ``se="none"`` plain EDSR for ablations.

State-dict keys follow BasicSR's EDSR (``conv_first``, ``body.N.conv1/conv2``, ``conv_after_body``, ``upsample.K``,
``conv_last``) plus ``se_first``, ``body.N.se`` and the SE modules inside ``upsample``; with ``se="none"``,
``se_first=False``, ``img_range=255`` and ``rgb_mean=(0.4488, 0.4371, 0.4040)`` the model *is* BasicSR's EDSR and
its released checkpoints (e.g. EDSR-M) load unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv
from torch import nn

from ...errors import ConfigError
from ..blocks.pixelshuffle import PixelShuffle
from ..blocks.residual import ResidualBlockNoBN
from ..blocks.se import SE_VARIANTS, SEBlock
from .base import receptive_field, set_scale, subpixel_ops, subpixel_stages

__all__ = ["EDSR"]


class EDSR(nn.Module):
    """EDSR + improved SE generator of paper 001, 2D/3D, scale 2/3/4/8/16 or per-axis powers of two.

    ``h = SE(conv_first(lr)); sr = conv_last(Up(conv_after_body(Body(h)) + h))`` with
    ``Body`` = ``num_blocks`` × ``x + res_scale · SE(Conv(ReLU(Conv(x))))`` and ``Up`` = per ×2 stage
    ``Conv(C → 2^d C) → PixelShuffle(2) → SE``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels.
        scale: 2, 3, 4, 8, 16 (paper 001 uses 4, 8, 16) or one power of two per axis.
        num_feat: feature channels (64).
        num_blocks: residual blocks (16 in paper 001).
        se: SE variant everywhere: ``"improved"`` (paper 001, eq. 2), ``"original"`` or ``"none"``.
        se_reduction: SE bottleneck reduction ratio (16).
        se_first: SE after the first convolution (paper 001: yes).
        se_upsample: SE after each pixel-shuffle stage (paper 001: yes).
        res_scale: residual scaling in the blocks (1; EDSR-large uses 0.1).
        img_range: input multiplier (BasicSR EDSR uses 255 with ``rgb_mean``); 1 by default.
        rgb_mean: per-channel mean subtracted before and added after (BasicSR EDSR); ``None`` = no shift.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int | Sequence[int] = 4,
        num_feat: int = 64,
        num_blocks: int = 16,
        se: str = "improved",
        se_reduction: int = 16,
        se_first: bool = True,
        se_upsample: bool = True,
        res_scale: float = 1.0,
        img_range: float = 1.0,
        rgb_mean: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if se not in SE_VARIANTS:
            raise ConfigError(f"EDSR se must be one of {SE_VARIANTS}, got {se!r}.")
        factors = set_scale(self, spatial_dims, scale)
        stages = subpixel_stages("EDSR", factors)
        conv = Conv[Conv.CONV, spatial_dims]
        use_se = se != "none"
        self.img_range = float(img_range)
        mean = torch.zeros(in_channels) if rgb_mean is None else torch.as_tensor(rgb_mean, dtype=torch.float32)
        if mean.numel() != in_channels or (rgb_mean is not None and in_channels != out_channels):
            raise ConfigError("EDSR rgb_mean needs one value per channel and in_channels == out_channels.")
        # not a persistent buffer: BasicSR keeps it out of the state dict too
        self.register_buffer("mean", mean.view((1, in_channels) + (1,) * spatial_dims), persistent=False)
        self.use_mean = rgb_mean is not None
        self.conv_first = conv(in_channels, num_feat, 3, 1, 1)
        self.se_first = SEBlock(spatial_dims, num_feat, se_reduction, se) if (use_se and se_first) else nn.Identity()
        self.body = nn.Sequential(
            *[
                ResidualBlockNoBN(spatial_dims, num_feat, res_scale, se if use_se else None, se_reduction)
                for _ in range(num_blocks)
            ]
        )
        self.conv_after_body = conv(num_feat, num_feat, 3, 1, 1)
        up: list[nn.Module] = []
        for f in stages:
            up += [conv(num_feat, num_feat * math.prod(f), 3, 1, 1), PixelShuffle(spatial_dims, f)]
            if use_se and se_upsample:
                up.append(SEBlock(spatial_dims, num_feat, se_reduction, se))
        self.upsample = nn.Sequential(*up)
        self.conv_last = conv(num_feat, out_channels, 3, 1, 1)
        self.receptive_field = receptive_field(
            lambda d: [("conv", 1)] * (2 + 2 * num_blocks) + subpixel_ops(stages, d) + [("conv", 1)], factors
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.mean.to(x.dtype)
        if self.use_mean:
            x = x - mean
        h = self.se_first(self.conv_first(x * self.img_range))
        res = self.conv_after_body(self.body(h)) + h
        out = self.conv_last(self.upsample(res)) / self.img_range
        if self.use_mean:
            out = out + mean
        return out
