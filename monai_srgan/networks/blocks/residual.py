"""Residual blocks of the generators: SRGAN's (with normalisation), EDSR's (no BN, optional SE) and ESRGAN's RRDB.

- :class:`SRResidualBlock` — SRGAN (Ledig et al., CVPR 2017, Fig. 4; papers 000, 003, 004):
  ``x + Norm(Conv(Act(Norm(Conv(x)))))``, built from MONAI ``Convolution`` so norm/act are factory names.
- :class:`ResidualBlockNoBN` — EDSR (Lim et al., CVPRW 2017, Fig. 2) / BasicSR's block: ``x + res_scale ·
  Conv(ReLU(Conv(x)))``; with ``se`` set it is paper 001's ``Conv-ReLU-Conv-SE`` block. Keys ``conv1``/``conv2`` as in
  BasicSR so MSRResNet/EDSR checkpoints load.
- :class:`ResidualDenseBlock` and :class:`RRDB` — ESRGAN (Wang et al., ECCVW 2018, Fig. 4 and Sec. 3.1) as released
  in BasicSR/Real-ESRGAN: dense connections, LeakyReLU 0.2, residual scaling β = 0.2; keys ``conv1``…``conv5`` and
  ``rdb1``…``rdb3`` exactly as in the released checkpoints.
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Conv
from torch import nn

from .se import SEBlock

__all__ = ["SRResidualBlock", "ResidualBlockNoBN", "ResidualDenseBlock", "RRDB", "default_init_weights"]


@torch.no_grad()
def default_init_weights(module: nn.Module, scale: float = 1.0, bias_fill: float = 0.0) -> None:
    """BasicSR's initialisation: Kaiming-normal (fan-in) convolution weights multiplied by ``scale``, biases filled.

    ESRGAN (Sec. 3.3, "smaller initialisation") uses ``scale = 0.1`` inside residual blocks so deep residual stacks
    start close to the identity.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            m.weight.mul_(scale)
            if m.bias is not None:
                m.bias.fill_(bias_fill)


def _act_spec(act: str | tuple | None, channels: int) -> str | tuple | None:
    """PReLU gets one parameter per channel (SRGAN); other MONAI ``Act`` specs pass through."""
    if isinstance(act, str) and act.lower() == "prelu":
        return ("prelu", {"num_parameters": channels})
    return act


def _norm_spec(norm: str | tuple | None) -> str | tuple | None:
    """``"instance"`` gets learnable affine parameters (``InstanceNorm(affine=True)``); ``"none"`` → None."""
    if norm is None or (isinstance(norm, str) and norm.lower() == "none"):
        return None
    if isinstance(norm, str) and norm.lower() == "instance":
        return ("instance", {"affine": True})
    return norm


class SRResidualBlock(nn.Module):
    """SRGAN residual block ``x + Norm(Conv(Act(Norm(Conv(x)))))`` (Ledig et al. 2017, Fig. 4, "B residual blocks").

    Args:
        spatial_dims: 2 or 3.
        channels: feature channels (64 in SRGAN).
        kernel_size: 3 in SRGAN.
        norm: ``"batch"`` (SRGAN), ``"instance"``, ``"none"`` or any MONAI ``Norm`` spec.
        act: ``"prelu"`` (SRGAN; one parameter per channel), ``"relu"`` (paper 003), ``("leakyrelu", {...})``
            (paper 000) or any MONAI ``Act`` spec.
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        kernel_size: int = 3,
        norm: str | tuple | None = "batch",
        act: str | tuple | None = "prelu",
    ) -> None:
        super().__init__()
        norm = _norm_spec(norm)
        self.conv1 = Convolution(
            spatial_dims, channels, channels, kernel_size=kernel_size, norm=norm, act=_act_spec(act, channels),
            adn_ordering="NA", bias=norm is None,
        )  # fmt: skip
        self.conv2 = Convolution(
            spatial_dims, channels, channels, kernel_size=kernel_size, norm=norm, act=None, adn_ordering="N",
            bias=norm is None, conv_only=norm is None,
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class ResidualBlockNoBN(nn.Module):
    """EDSR residual block without batch norm, ``x + res_scale · SE(Conv(ReLU(Conv(x))))`` (Lim et al. 2017, Fig. 2).

    With ``se="improved"`` this is paper 001's generator block ``Conv-ReLU-Conv-SE`` (improved SE, eq. 2).
    Submodule names ``conv1``, ``conv2`` (and ``se``) follow BasicSR's ``ResidualBlockNoBN``.

    Args:
        spatial_dims: 2 or 3.
        num_feat: feature channels.
        res_scale: residual scaling (1 in EDSR-baseline/MSRResNet, 0.1 in EDSR-large).
        se: ``None``/``"none"`` for no attention, ``"improved"`` (paper 001) or ``"original"`` SE.
        se_reduction: SE channel reduction ratio.
        kernel_size: 3.
    """

    def __init__(
        self,
        spatial_dims: int,
        num_feat: int = 64,
        res_scale: float = 1.0,
        se: str | None = None,
        se_reduction: int = 16,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.res_scale = float(res_scale)
        self.conv1 = conv(num_feat, num_feat, kernel_size, padding=kernel_size // 2)
        self.conv2 = conv(num_feat, num_feat, kernel_size, padding=kernel_size // 2)
        self.relu = nn.ReLU(inplace=True)
        self.se = SEBlock(spatial_dims, num_feat, se_reduction, variant=se) if se not in (None, "none") else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        if self.se is not None:
            out = self.se(out)
        return x + out * self.res_scale


class ResidualDenseBlock(nn.Module):
    """ESRGAN residual dense block (Wang et al. 2018, Fig. 4): 5 densely connected convs, ``x + 0.2 · conv5(...)``.

    Args:
        spatial_dims: 2 or 3.
        num_feat: feature channels (64 released).
        num_grow_ch: growth channels (32 released).
        res_scale: residual scaling β (0.2 in ESRGAN/Real-ESRGAN).
    """

    def __init__(self, spatial_dims: int, num_feat: int = 64, num_grow_ch: int = 32, res_scale: float = 0.2) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.res_scale = float(res_scale)
        self.conv1 = conv(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = conv(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = conv(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = conv(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = conv(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        default_init_weights(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * self.res_scale + x


class RRDB(nn.Module):
    """Residual-in-residual dense block (ESRGAN, Wang et al. 2018, Fig. 4): ``x + β · RDB3(RDB2(RDB1(x)))``, β = 0.2.

    Args:
        spatial_dims: 2 or 3.
        num_feat: feature channels.
        num_grow_ch: growth channels of each dense block.
        res_scale: residual scaling β of the outer and inner residuals.
    """

    def __init__(self, spatial_dims: int, num_feat: int = 64, num_grow_ch: int = 32, res_scale: float = 0.2) -> None:
        super().__init__()
        self.res_scale = float(res_scale)
        self.rdb1 = ResidualDenseBlock(spatial_dims, num_feat, num_grow_ch, res_scale)
        self.rdb2 = ResidualDenseBlock(spatial_dims, num_feat, num_grow_ch, res_scale)
        self.rdb3 = ResidualDenseBlock(spatial_dims, num_feat, num_grow_ch, res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * self.res_scale + x
