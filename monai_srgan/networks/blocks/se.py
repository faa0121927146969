"""Squeeze-and-excitation channel attention: the original SE and the improved SE of paper 001.

The improved SE block (paper 001, "Mathematical Formulation", eq. 2; after Bing et al., IEEE Access 2019) adds
a residual-like term and lets the channel scale reach 2, so stacked SE blocks stop shrinking the features:

    y_c = 1/(H W) Σ_ij x_c(i, j)                                  (squeeze, global average pooling)
    s_org = σ(W2 δ(W1 y))                          ∈ (0, 1)        (original SE, Hu et al. 2018)
    s_imp = 2 · (k1 · σ(W2 δ(W1 y)) + k2 · σ(y)),  k1 = 0.8, k2 = 0.2,  s_imp ∈ (0, 2)
    x̄_c = s_c · x_c

``δ`` is ReLU and ``σ`` the logistic sigmoid; ``W1`` reduces the channels by ``reduction`` and ``W2`` restores
them (both with bias, as 1×1 convolutions, so one class serves 2D and 3D).
"""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Act, Conv, Pool
from torch import nn

from monai_srgan.errors import ConfigError

__all__ = ["SEBlock", "ImprovedSEBlock", "SE_VARIANTS"]

SE_VARIANTS = ("improved", "original", "none")


class SEBlock(nn.Module):
    """Channel squeeze-and-excitation, original (Hu et al.) or improved (paper 001, eq. 2).

    Args:
        spatial_dims: 2 or 3.
        channels: number of feature channels ``C``.
        reduction: channel reduction ratio of the bottleneck ``W1`` (``C -> max(C // reduction, 1)``).
        variant: ``"improved"`` for ``s = 2·(k1·σ(W2 δ(W1 y)) + k2·σ(y))`` (paper 001), ``"original"`` for
            ``s = σ(W2 δ(W1 y))``, ``"none"`` for the identity (ablation without attention).
        k1: weight of the learned gate in the improved variant (paper 001: 0.8).
        k2: weight of the direct ``σ(y)`` term in the improved variant (paper 001: 0.2).
        scale: overall multiplier of the improved variant (paper 001: 2).

    Shapes:
        input ``(N, C, *spatial)``, output the same.
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        reduction: int = 16,
        variant: str = "improved",
        k1: float = 0.8,
        k2: float = 0.2,
        scale: float = 2.0,
    ) -> None:
        super().__init__()
        if variant not in SE_VARIANTS:
            raise ConfigError(f"SEBlock variant must be one of {SE_VARIANTS}, got {variant!r}.")
        if spatial_dims not in (1, 2, 3):
            raise ConfigError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        self.spatial_dims = spatial_dims
        self.channels = channels
        self.variant = variant
        self.k1, self.k2, self.scale = float(k1), float(k2), float(scale)
        if variant == "none":
            return
        hidden = max(channels // reduction, 1)
        conv = Conv[Conv.CONV, spatial_dims]
        self.pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](1)
        self.fc1 = conv(channels, hidden, kernel_size=1, bias=True)
        self.act = Act[Act.RELU](inplace=True)
        self.fc2 = conv(hidden, channels, kernel_size=1, bias=True)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Channel scale ``s`` of shape ``(N, C, 1, ...)`` for input ``x``."""
        if self.variant == "none":
            return torch.ones((x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2), dtype=x.dtype, device=x.device)
        y = self.pool(x)
        learned = torch.sigmoid(self.fc2(self.act(self.fc1(y))))
        if self.variant == "original":
            return learned
        return self.scale * (self.k1 * learned + self.k2 * torch.sigmoid(y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.variant == "none":
            return x
        return x * self.gate(x)

    def extra_repr(self) -> str:
        if self.variant == "improved":
            return f"variant=improved, k1={self.k1}, k2={self.k2}, scale={self.scale}"
        return f"variant={self.variant}"


class ImprovedSEBlock(SEBlock):
    """The improved SE block of paper 001 (eq. 2): ``SEBlock(..., variant="improved")``."""

    def __init__(self, spatial_dims: int, channels: int, reduction: int = 16) -> None:
        super().__init__(spatial_dims, channels, reduction=reduction, variant="improved")
