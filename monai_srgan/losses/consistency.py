"""LR-consistency loss: the SR, degraded again, must give back its input (data consistency).

An adversarial term can move a super-resolved image away from what its input says at *low* frequencies (contrast,
brightness, blob shapes) as well as adding texture: the PSNR of the bundles' GAN stage fell by 1–2 dB with little
gain in sharpness (docs/results.md). Degrading SR with the operator that made the training LR and comparing with
that LR pins down everything the input determines and leaves the detail above its Nyquist limit free: the
constraint of consistency-enforcing SR (Bahat & Michaeli, "Explorable super resolution", CVPR 2020) and of the
project's :func:`~monai_srgan.metrics.lr_consistency` metric.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from monai_srgan.errors import ConfigError
from monai_srgan.transforms.resize import imresize

__all__ = ["LRConsistencyLoss"]


class LRConsistencyLoss(nn.Module):
    """``L1(D(SR), D(HR))`` with ``D`` the antialiased bicubic ×1/scale of the project's degradation.

    With the bundles' bicubic degradation ``D(HR)`` *is* the training LR, so the term needs only ``(sr, hr)``;
    with a noisy or blurred degradation it compares with the clean LR, which is what the SR should explain. 2D
    and 3D; ``scale`` may differ per axis (e.g. ``(1, 1, 4)`` for through-plane SR).

    Args:
        scale: SR factor, one number or one per spatial axis (each ≥ 1).

    Called as ``loss(sr, hr)`` (a content term of :class:`~monai_srgan.losses.GeneratorLoss`).
    """

    def __init__(self, scale: float | Sequence[float]) -> None:
        super().__init__()
        try:
            per_axis = isinstance(scale, Sequence) and not isinstance(scale, str)
            factors = [float(s) for s in scale] if per_axis else [float(scale)]
        except (TypeError, ValueError):
            factors = []
        if not factors or any(f < 1 for f in factors):
            raise ConfigError(f"LRConsistencyLoss: scale must be >= 1 (one number or one per axis), got {scale}.")
        self.scale = factors

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(f"LRConsistencyLoss: sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ.")
        sd = sr.ndim - 2
        factors = self.scale * sd if len(self.scale) == 1 else self.scale
        if len(factors) != sd:
            raise ValueError(f"LRConsistencyLoss: {len(factors)} scale factors for {sd} spatial axes.")
        inv = [1.0 / f for f in factors]
        down_sr = imresize(sr.float(), inv, spatial_dims=sd)
        return F.l1_loss(down_sr, imresize(hr.detach().float(), inv, spatial_dims=sd))

    def extra_repr(self) -> str:
        return "scale=" + ", ".join(f"{f:g}" for f in self.scale)
