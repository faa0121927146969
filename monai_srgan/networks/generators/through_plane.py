"""Through-plane SR of volumes by a 2D network applied in the coronal and sagittal planes (SMORE-style).

Zhao et al., "SMORE", IEEE TMI 40(3), 2021 (docs/references.md): a 2D network restores the slice axis of each coronal
and each sagittal plane; the two results are combined (here: their mean). As a 3D network
``(N, C, H, W, D) → (N, C, H, W, s·D)`` it trains on 3D patch pairs like any other generator of the project, exports to
TorchScript, and its inner 2D network is the one :mod:`monai_srgan.selfsup` trains on a volume's own in-plane slices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from monai_srgan.errors import ConfigError

from .srvgg import SRVGGNetCompact

__all__ = ["ThroughPlaneSR"]


class ThroughPlaneSR(nn.Module):
    """A 2D ``SRVGGNetCompact`` with scale ``(s, 1)`` applied across the last (slice) axis of a volume.

    Args:
        spatial_dims: must be 3 (volumes ``(N, C, H, W, D)``, slices along ``D``).
        in_channels, out_channels: channels (equal).
        scale: ``s`` or ``(1, 1, s)``: only the slice axis is super-resolved.
        num_feat, num_conv, act_type, base_mode, zero_init_last: of the inner 2D network (default: 32 features,
            8 convolutions, bicubic base, zero-initialised last layer — untrained, it is cubic interpolation along D).
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 1,
        scale: int | Sequence[int] = 4,
        num_feat: int = 32,
        num_conv: int = 8,
        act_type: str = "prelu",
        base_mode: str = "cubic",
        zero_init_last: bool = True,
    ) -> None:
        super().__init__()
        factors = (1, 1, int(scale)) if isinstance(scale, int) else tuple(int(v) for v in scale)
        if spatial_dims != 3 or len(factors) != 3 or factors[0] != 1 or factors[1] != 1 or factors[2] < 1:
            raise ConfigError(f"ThroughPlaneSR needs spatial_dims=3 and scale (1, 1, s); got {spatial_dims}, {scale}")
        if in_channels != out_channels:
            raise ConfigError("ThroughPlaneSR: in_channels and out_channels must be equal")
        self.spatial_dims, self.in_channels, self.out_channels = 3, in_channels, out_channels
        self.scale = factors
        self.net = SRVGGNetCompact(2, in_channels, out_channels, scale=(factors[2], 1), num_feat=num_feat,
                                   num_conv=num_conv, act_type=act_type, base_mode=base_mode,
                                   zero_init_last=zero_init_last)  # fmt: skip
        self.receptive_field = int(self.net.receptive_field)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w, d = x.shape
        s = self.scale[2]
        # coronal planes: one per row h, (C, D, W) with the slice axis first (the 2D network's axis 0)
        cor = self.net(x.permute(0, 2, 1, 4, 3).reshape(n * h, c, d, w))
        cor = cor.reshape(n, h, c, s * d, w).permute(0, 2, 1, 4, 3)
        # sagittal planes: one per column w, (C, D, H)
        sag = self.net(x.permute(0, 3, 1, 4, 2).reshape(n * w, c, d, h))
        sag = sag.reshape(n, w, c, s * d, h).permute(0, 2, 4, 1, 3)
        return 0.5 * (cor + sag)
