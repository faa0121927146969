"""SRVGGNetCompact (Real-ESRGAN's compact model, realesr-general-x4v3 / realesr-animevideov3), 2D/3D.

A plain VGG-style stack ``conv → act → (conv → act) × num_conv → conv(C → out·Πs)`` followed by a pixel shuffle, plus
the nearest-neighbour upsampled input as a base (Real-ESRGAN ``srvgg_arch.py``; linear or cubic bases are options).
All convolutions run at LR resolution, so it is the fast model for large images. Keys (``body.0.weight``,
``body.1.weight`` (PReLU), …, ``body.{2·num_conv+2}.weight``) are exactly Real-ESRGAN's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from torch import nn

from ...errors import ConfigError
from ..blocks.cubic_upsample import cubic_phase_weights, cubic_upsample_phases
from ..blocks.pixelshuffle import PixelShuffle
from .base import receptive_field, set_scale

__all__ = ["SRVGGNetCompact"]


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact VGG-style SR network (``realesr-general-x4v3``: 64 features, 32 convs, PReLU, ×4).

    ``sr = PixelShuffle_s(body(lr)) + nearest_s(lr)``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (``num_in_ch``).
        out_channels: output channels (``num_out_ch``). The nearest base is the input itself when
            ``in_channels == out_channels`` (Real-ESRGAN), broadcast when ``in_channels == 1``, and the channel mean of
            the input when ``out_channels == 1 < in_channels``.
        scale: any positive integer or one per axis (Real-ESRGAN: 4).
        num_feat: feature channels (64).
        num_conv: hidden convolutions (32 in realesr-general-x4v3, 16 in animevideov3 and BasicSR's default).
        act_type: ``"prelu"`` (one parameter per channel), ``"relu"`` or ``"leakyrelu"`` (slope 0.1).
        base_mode: how the input is upsampled into the base the body's residual is added to: ``"nearest"``
            (Real-ESRGAN), ``"linear"`` (bi-/trilinear) or ``"cubic"`` (bicubic, 2D only; a VDSR-style global
            residual that starts training at bicubic quality — the compact bundles' default).
        zero_init_last: start the last convolution at zero, so the untrained network outputs the base exactly.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int | Sequence[int] = 4,
        num_feat: int = 64,
        num_conv: int = 16,
        act_type: str = "prelu",
        base_mode: str = "nearest",
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        if act_type not in ("prelu", "relu", "leakyrelu"):
            raise ConfigError(f"SRVGGNetCompact act_type must be 'prelu', 'relu' or 'leakyrelu', got {act_type!r}.")
        if in_channels not in (1, out_channels) and out_channels != 1:
            raise ConfigError(
                f"SRVGGNetCompact adds the upsampled input: in_channels ({in_channels}) must equal out_channels, "
                "or one of them must be 1."
            )
        modes = {"nearest": "nearest", "linear": ("bilinear" if spatial_dims == 2 else "trilinear"), "cubic": "bicubic"}
        if base_mode not in modes or (base_mode == "cubic" and spatial_dims != 2):
            raise ConfigError(
                f"SRVGGNetCompact base_mode must be 'nearest', 'linear' or 'cubic' (2D only), got {base_mode!r} "
                f"with spatial_dims={spatial_dims}."
            )
        self.base_mode = modes[base_mode]
        factors = set_scale(self, spatial_dims, scale)
        conv = Conv[Conv.CONV, spatial_dims]
        self.scale_factors = [float(f) for f in factors]
        # not in the state dict: the weight files stay as they were; rebuilt from the factors
        phases = cubic_phase_weights(tuple(factors)).clone() if self.base_mode == "bicubic" else torch.zeros(0)
        self.register_buffer("cubic_phases", phases, persistent=False)
        self.mean_base = in_channels != out_channels and out_channels == 1

        def act() -> nn.Module:
            if act_type == "prelu":
                return nn.PReLU(num_parameters=num_feat)
            if act_type == "relu":
                return nn.ReLU(inplace=True)
            return nn.LeakyReLU(negative_slope=0.1, inplace=True)

        body: list[nn.Module] = [conv(in_channels, num_feat, 3, 1, 1), act()]
        for _ in range(num_conv):
            body += [conv(num_feat, num_feat, 3, 1, 1), act()]
        body.append(conv(num_feat, out_channels * math.prod(factors), 3, 1, 1))
        self.body = nn.ModuleList(body)
        if zero_init_last:
            nn.init.zeros_(body[-1].weight)
            nn.init.zeros_(body[-1].bias)
        self.upsampler = PixelShuffle(spatial_dims, factors)
        base_radius = {"nearest": 0, "linear": 1, "cubic": 2}[base_mode]
        rf = receptive_field(lambda d: [("conv", 1)] * (num_conv + 2) + [("up", factors[d])], factors)
        self.receptive_field = max(rf, base_radius)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        base = x.mean(dim=1, keepdim=True) if self.mean_base else x
        if self.base_mode == "bicubic":  # added in sub-pixel layout, before the one shuffle: same sum, ~12 % faster
            phases = cubic_upsample_phases(base, self.cubic_phases)
            if phases.shape[1] != out.shape[1]:  # one base channel for several output channels
                phases = phases.repeat(1, out.shape[1] // phases.shape[1], 1, 1)
            return self.upsampler(out + phases)
        out = self.upsampler(out)
        base = base.contiguous()  # PyTorch's bilinear upsampling is ~2x slower on channels-last input
        if self.base_mode == "nearest":
            return out + F.interpolate(base, scale_factor=self.scale_factors, mode="nearest")
        return out + F.interpolate(base, scale_factor=self.scale_factors, mode=self.base_mode, align_corners=False)
