"""Locally discriminative artifact loss (LDL): penalise GAN detail where it is unstable and worse than the EMA model's.

Liang, Zeng and Zhang, "Details or Artifacts: A Locally Discriminative Learning Approach to Realistic Image
Super-Resolution", CVPR 2022 (docs/references.md), Sec. 3.2–3.3. GAN artifacts are high-frequency errors whose
residual ``|HR − SR|`` varies strongly within a small window, and which the slowly moving EMA generator does not make;
realistic detail is either right (small residual) or as stable as the EMA's. The map is

    M = var(R)^{1/5} · var_{7×7}(R) · [R ≥ R_EMA],   R = Σ_c |HR − SR|,  R_EMA = Σ_c |HR − SR_EMA|

(eq. 4–6: patch-level weight, pixel-level local variance, and the EMA gate), and the loss is
``L1(M ⊙ SR, M ⊙ HR)`` (eq. 7) with ``M`` held constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from monai_srgan.errors import ConfigError
from monai_srgan.metrics._filters import box_mean

__all__ = ["ArtifactMapLoss", "artifact_map"]


def _local_variance(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Unbiased variance over a ``kernel_size`` window around each pixel of ``(N, 1, *spatial)``, edges reflected."""
    mean = box_mean(x, kernel_size, "reflect")
    mean_sq = box_mean(x * x, kernel_size, "reflect")
    n = kernel_size ** (x.ndim - 2)
    return (mean_sq - mean * mean).clamp_min(0) * (n / (n - 1))


def artifact_map(
    sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor, kernel_size: int = 7, exponent: float = 0.2
) -> torch.Tensor:
    """LDL's refined artifact map ``M`` (eq. 6) of ``(N, C, *spatial)`` images, shape ``(N, 1, *spatial)``, no grad."""
    with torch.no_grad():
        residual = (hr - sr).abs().sum(1, keepdim=True).float()
        residual_ema = (hr - sr_ema).abs().sum(1, keepdim=True).float()
        patch = residual.flatten(1).var(dim=1).clamp_min(0).pow(exponent).view(-1, *[1] * (residual.ndim - 1))
        weight = patch * _local_variance(residual, kernel_size)
        return weight * (residual >= residual_ema)


class ArtifactMapLoss(nn.Module):
    """``L1(M ⊙ SR, M ⊙ HR)`` with ``M`` the LDL artifact map (Liang et al. 2022, eq. 7). 2D and 3D.

    The GAN trainer passes ``sr_ema``, the EMA generator's output on the same LR batch (``needs_ema_sr``); without EMA
    the current generator stands in and the gate keeps every pixel.

    Args:
        kernel_size: window of the local residual variance (odd; 7 in the paper).
        exponent: of the patch-level variance weight (1/5 in the paper).

    Called as ``loss(sr, hr, sr_ema=...)`` (a content term of :class:`~monai_srgan.losses.GeneratorLoss`).
    """

    needs_ema_sr = True

    def __init__(self, kernel_size: int = 7, exponent: float = 0.2) -> None:
        super().__init__()
        if int(kernel_size) != kernel_size or kernel_size < 3 or kernel_size % 2 == 0:
            raise ConfigError(f"ArtifactMapLoss: kernel_size must be an odd integer >= 3, got {kernel_size!r}.")
        if float(exponent) <= 0:
            raise ConfigError(f"ArtifactMapLoss: exponent must be > 0, got {exponent!r}.")
        self.kernel_size, self.exponent = int(kernel_size), float(exponent)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor | None = None) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(f"ArtifactMapLoss: sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ.")
        if sr_ema is None:
            raise ValueError("ArtifactMapLoss needs sr_ema (the EMA generator's output): call loss(sr, hr, sr_ema=...)")
        m = artifact_map(sr, hr, sr_ema.to(sr.dtype), self.kernel_size, self.exponent).to(sr.dtype)
        return F.l1_loss(m * sr, m * hr)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, exponent={self.exponent:g}"
