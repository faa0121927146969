"""Cascaded ×2 generator of paper 003 (Mahapatra et al., MICCAI 2017, Sec. 3 "Training").

"The model in Fig. 2(a) generates images upscaled by 2×. For higher scale factors we feed the output of this network
to another identical network to get 4× images. Consecutive networks can be combined to get 8×, 16×, etc. In each
subsequent upsampling step the corresponding networks are trained on images of size 4×, 8×, etc."

:class:`CascadedSR` chains ``log2(scale)`` ×2 generators (any generator class of this package; SRResNet by default).
Each stage is an ordinary generator in ``.stages`` and can be trained on its own scale: run a prefix with
``forward(x, stages=k)``, a single stage with ``forward(x, start=k, stages=k + 1)`` (input at ×2^k), and train only
stage ``k`` with :meth:`CascadedSR.freeze_except`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError
from ..blocks.pixelshuffle import normalize_scale
from .base import set_scale

__all__ = ["CascadedSR"]


class CascadedSR(nn.Module):
    """``log2(scale)`` chained ×2 generators (paper 003): ×4, ×8, ×16 (or per-axis, e.g. ``(1, 1, 8)``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels of the first stage.
        out_channels: output channels of every stage (later stages take ``out_channels`` in).
        scale: overall scale, a power of two (2, 4, 8, 16) or one per axis.
        stage: generator used for each stage: a name from ``GENERATORS`` (default ``"srresnet"``) or a class taking
            ``(spatial_dims, in_channels, out_channels, scale, **stage_kwargs)``.
        stage_kwargs: keyword arguments for every stage (e.g. ``{"num_blocks": 16, "act": "relu"}`` for paper 003).

    Attributes:
        stages: ``nn.ModuleList`` of the ×2 generators, in order.
        scale: overall scale.
        receptive_field: radius in LR pixels of the whole cascade (``Σ_k ceil(r_k / 2^k)``, an upper bound).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int | Sequence[int] = 4,
        stage: str | type = "srresnet",
        stage_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        factors = set_scale(self, spatial_dims, scale)
        if any(f & (f - 1) for f in factors) or max(factors) < 2:
            raise ConfigError(f"CascadedSR scale must be a power of two ≥ 2 (per axis), got {scale!r}.")
        if isinstance(stage, str):
            from . import GENERATORS

            key = stage.lower()
            if key not in GENERATORS or key == "cascadedsr":
                raise ConfigError(f"CascadedSR stage {stage!r} unknown; choose one of {sorted(GENERATORS)}.")
            stage_cls = GENERATORS[key]
        else:
            stage_cls = stage
        n = int(math.log2(max(factors)))
        kw = dict(stage_kwargs or {})
        stages = []
        for k in range(n):
            f = tuple(2 if (1 << k) < fa else 1 for fa in factors)  # axis still short of its factor: ×2
            stages.append(stage_cls(spatial_dims, in_channels if k == 0 else out_channels, out_channels, f, **kw))
        self.stages = nn.ModuleList(stages)
        self.stage_scales = [normalize_scale(s.scale, spatial_dims) for s in stages]
        rf = 0.0
        cum = 1
        for s in stages:
            rf += s.receptive_field / cum
            cum *= 2
        self.receptive_field = int(math.ceil(rf))

    @property
    def num_stages(self) -> int:
        """Number of ×2 stages."""
        return len(self.stages)

    def freeze_except(self, index: int) -> None:
        """Make only stage ``index`` trainable (``requires_grad``), the others frozen, as paper 003 trains them."""
        if not 0 <= index < len(self.stages):
            raise ConfigError(f"stage index {index} out of range 0..{len(self.stages) - 1}.")
        for k, s in enumerate(self.stages):
            for p in s.parameters():
                p.requires_grad_(k == index)

    def forward(self, x: torch.Tensor, stages: int | None = None, start: int = 0) -> torch.Tensor:
        """Run stages ``start .. stages-1`` (all by default); the output is at ×2^(stages-start) of ``x``."""
        stop = len(self.stages) if stages is None else stages
        for k, s in enumerate(self.stages):
            if start <= k < stop:
                x = s(x)
        return x
