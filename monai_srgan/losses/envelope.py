"""High-frequency envelope loss: as much fine detail as HR holds, where HR holds it, and none it does not.

A pixel loss (L1) regresses to the blurred mean, and an adversarial loss sharpens wherever the discriminator
rewards it, inventing vessel-like texture on fundus photographs (docs/results.md). This term compares the *local
amplitude* of the finest detail band instead: ``E(x) = G_{2σ} * |σ² LoG_σ(x)|``
(:func:`~monai_srgan.metrics.hf_envelope`, the quantity behind the project's hallucination and erasure maps). It
is insensitive to where exactly each grain of texture falls (the magnitude is smoothed), so it rewards restoring
detail that L1 alone averages away, and it penalises detail in regions whose HR is smooth.
"""

from __future__ import annotations

import torch
from torch import nn

from monai_srgan.errors import ConfigError
from monai_srgan.metrics.fidelity.hallucination import hf_envelope

__all__ = ["HighFrequencyEnvelopeLoss"]


class HighFrequencyEnvelopeLoss(nn.Module):
    """``mean(w_h · max(0, E(SR) − E(HR)) + w_e · max(0, E(HR) − E(SR)))`` with ``E`` the LoG-band envelope.

    The two halves are exactly the project's hallucination and erasure maps (Lindeberg 1998 scale-normalised LoG;
    :mod:`monai_srgan.metrics.fidelity.hallucination`), so ``hallucination_weight > erasure_weight`` trades a little
    sharpness for fewer invented structures. 2D and 3D; images on the training range (``[0, 1]``).

    Args:
        sigma: LoG scale in pixels (1: the finest detail a ×2–×4 model adds, as the metric).
        hallucination_weight: weight of detail present in SR and absent from HR.
        erasure_weight: weight of HR detail missing from SR.

    Called as ``loss(sr, hr)`` (a content term of :class:`~monai_srgan.losses.GeneratorLoss`).
    """

    def __init__(self, sigma: float = 1.0, hallucination_weight: float = 1.0, erasure_weight: float = 1.0) -> None:
        super().__init__()
        if float(sigma) <= 0:
            raise ConfigError(f"HighFrequencyEnvelopeLoss: sigma must be > 0, got {sigma}.")
        if float(hallucination_weight) < 0 or float(erasure_weight) < 0:
            raise ConfigError("HighFrequencyEnvelopeLoss: hallucination_weight and erasure_weight must be >= 0.")
        self.sigma = float(sigma)
        self.hallucination_weight = float(hallucination_weight)
        self.erasure_weight = float(erasure_weight)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(f"HighFrequencyEnvelopeLoss: sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ.")
        diff = hf_envelope(sr.float(), self.sigma) - hf_envelope(hr.detach().float(), self.sigma)
        return (self.hallucination_weight * diff.clamp_min(0) + self.erasure_weight * (-diff).clamp_min(0)).mean()

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, hallucination_weight={self.hallucination_weight:g}, " \
            f"erasure_weight={self.erasure_weight:g}"  # fmt: skip
