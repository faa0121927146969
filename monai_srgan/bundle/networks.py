"""The bundles' compact generator and a name-based builder.

:class:`BicubicResidualSR` is a VDSR/ESPCN-style compact network for CPU training: every convolution runs at the
input (LR) resolution, the last one predicts ``C·s²`` channels that a pixel shuffle turns into an HR **residual**,
added to the bicubic upsampling of the input. The last convolution is zero-initialised, so the untrained network
*is* bicubic interpolation and training starts from the baseline the model has to beat (Kim et al., VDSR, CVPR 2016:
residual learning on an interpolated input; Shi et al., ESPCN, CVPR 2016: sub-pixel convolution; the body is
Real-ESRGAN's SRVGGNetCompact, whose own base is a nearest-neighbour upsampling).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from monai_srgan.errors import ConfigError

__all__ = ["BicubicResidualSR", "build_generator"]


class BicubicResidualSR(nn.Module):
    """Compact 2D SR generator: ``sr = bicubic(lr) + shuffle(body(lr))``.

    Args:
        spatial_dims: must be 2.
        in_channels: input channels (1 or 3).
        out_channels: output channels (default ``in_channels``; must equal it, the residual is added per channel).
        scale: integer SR factor.
        num_feat: body width.
        num_conv: 3×3 convolutions in the body (after the first one).
        act: ``"prelu"`` (default), ``"relu"`` or ``"leakyrelu"``.
        linear_kernel: size of an optional linear sub-pixel filter on the input, added to the residual (0: none,
            the default).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        out_channels: int | None = None,
        scale: int = 4,
        num_feat: int = 32,
        num_conv: int = 8,
        act: str = "prelu",
        linear_kernel: int = 0,
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if spatial_dims != 2:
            raise ConfigError(f"BicubicResidualSR is 2D only, got spatial_dims={spatial_dims}")
        if out_channels != in_channels:
            raise ConfigError(
                "BicubicResidualSR adds a residual to the bicubic input: out_channels must equal in_channels"
            )
        if isinstance(scale, Sequence):
            if len(set(scale)) != 1:
                raise ConfigError(f"BicubicResidualSR needs one scale for both axes, got {scale}")
            scale = scale[0]
        if int(scale) != scale or scale < 1:
            raise ConfigError(f"BicubicResidualSR scale must be a positive integer, got {scale}")
        acts = {"prelu": lambda: nn.PReLU(num_feat), "relu": lambda: nn.ReLU(inplace=True),
                "leakyrelu": lambda: nn.LeakyReLU(0.1, inplace=True)}  # fmt: skip
        if act not in acts:
            raise ConfigError(f"BicubicResidualSR act must be one of {sorted(acts)}, got {act!r}")
        self.spatial_dims = 2
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale = int(scale)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, 1, 1), acts[act]()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), acts[act]()]
        self.body = nn.Sequential(*layers)
        self.tail = nn.Conv2d(num_feat, out_channels * self.scale**2, 3, 1, 1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        # a learned linear sub-pixel filter on the input, added to the residual: convex in its weights, so the
        # optimal linear upsampler for the training degradation is found in a few hundred steps
        self.linear = (
            nn.Conv2d(in_channels, out_channels * self.scale**2, linear_kernel, 1, linear_kernel // 2)
            if linear_kernel
            else None
        )
        if self.linear is not None:
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)
        self.upsample = nn.PixelShuffle(self.scale)
        # radius in LR pixels: one per 3x3 convolution, + 2 for the bicubic kernel
        self.receptive_field = max(num_conv + 2, linear_kernel // 2) + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=float(self.scale), mode="bicubic", align_corners=False)
        res = self.tail(self.body(x))
        if self.linear is not None:
            res = res + self.linear(x)
        return base + self.upsample(res)


def build_generator(name: str, **kwargs: Any) -> nn.Module:
    """``"bicubic_residual"`` → :class:`BicubicResidualSR`; any other name → ``monai_srgan.networks.get_generator``."""
    if str(name).lower().replace("_", "").replace("-", "") in ("bicubicresidual", "bicubicresidualsr"):
        try:
            return BicubicResidualSR(**kwargs)
        except TypeError as e:
            raise ConfigError(f"BicubicResidualSR: {e} (check --network_kwargs)") from None
    from monai_srgan.networks import get_generator

    return get_generator(name, **kwargs)
