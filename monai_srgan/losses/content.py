"""Pixel (content) losses: MSE, L1, Charbonnier and the saliency-weighted MSE of paper 003 (eq. 7).

``MSELoss`` and ``L1Loss`` are torch's own classes, re-exported so that configs can name every content loss
from one place (``monai_srgan.losses.L1Loss``); they already follow the ``loss(sr, hr)`` term contract.
All losses work on 2D ``(N, C, H, W)`` and 3D ``(N, C, H, W, D)`` batches.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import L1Loss, MSELoss

from monai_srgan.errors import ConfigError

from .saliency import LocalSaliency

__all__ = ["MSELoss", "L1Loss", "CharbonnierLoss", "SaliencyWeightedMSELoss"]

_REDUCTIONS = ("mean", "sum", "none")


class CharbonnierLoss(nn.Module):
    """Charbonnier (smooth L1) loss ``sqrt((sr - hr)^2 + eps^2)``, averaged.

    A differentiable L1 (Lai et al., LapSRN, 2017; the ``CharbonnierLoss`` of BasicSR). Its minimum, at
    ``sr == hr``, is ``eps`` per element.

    Args:
        eps: smoothing constant in intensity units (1e-3 is the common choice for data in [0, 1]).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """

    needs_logits = False

    def __init__(self, eps: float = 1e-3, reduction: str = "mean") -> None:
        super().__init__()
        if eps <= 0:
            raise ConfigError(f"CharbonnierLoss eps={eps}: expected a positive value")
        if reduction not in _REDUCTIONS:
            raise ConfigError(f"CharbonnierLoss reduction={reduction!r}: expected one of {_REDUCTIONS}")
        self.eps = float(eps)
        self.reduction = reduction

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        loss = torch.sqrt((sr - hr) ** 2 + self.eps**2)
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss


class SaliencyWeightedMSELoss(nn.Module):
    """Saliency-weighted MSE of Mahapatra et al. (paper 003, eq. 7).

    ``l_w-MSE = 1/(WH) sum_{x,y} (w^HR I^HR_{x,y} - w^SR I^SR_{x,y})^2`` where ``w^HR`` and ``w^SR`` are the local
    saliency maps (paper 003, eq. 3; :class:`~monai_srgan.losses.LocalSaliency`) of the HR and SR images. The
    one-channel saliency map weights every channel; the mean runs over batch, channels and pixels.

    The HR saliency is a target, computed without gradient (or passed in as ``hr_saliency``, e.g. precomputed in
    the data pipeline). With ``sr_weight="sr"`` (the paper) the SR saliency is computed from the SR image with the
    soft, differentiable histogram, so gradients flow both through the pixel values and through the weight; with
    ``sr_weight="hr"`` the HR saliency weights both images, giving the simpler ``mean(w^HR^2 (I^HR - I^SR)^2)``.
    Both variants are exactly zero at ``sr == hr``.

    Args:
        saliency: the ``LocalSaliency`` used for both images; default: the paper's settings with the soft histogram.
        sr_weight: ``"sr"`` (eq. 7 as written) or ``"hr"`` (HR saliency for both images, cheaper).
    """

    needs_logits = False

    def __init__(self, saliency: LocalSaliency | None = None, sr_weight: str = "sr") -> None:
        super().__init__()
        if sr_weight not in ("sr", "hr"):
            raise ConfigError(f"SaliencyWeightedMSELoss sr_weight={sr_weight!r}: expected 'sr' or 'hr'")
        self.saliency = saliency if saliency is not None else LocalSaliency(histogram="soft")
        self.sr_weight = sr_weight

    def forward(
        self,
        sr: torch.Tensor,
        hr: torch.Tensor,
        hr_saliency: torch.Tensor | None = None,
        sr_saliency: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Args:
        sr: generator output ``(N, C, *spatial)``.
        hr: ground truth, same shape.
        hr_saliency: optional precomputed HR saliency ``(N, 1, *spatial)`` (treated as a constant).
        sr_saliency: optional precomputed SR saliency (only with ``sr_weight="sr"``).
        """
        if sr.shape != hr.shape:
            raise ValueError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} must have the same shape")
        if hr_saliency is None:
            with torch.no_grad():
                hr_saliency = self.saliency(hr)
        w_hr = hr_saliency.detach()
        if self.sr_weight == "hr":
            w_sr = w_hr
        else:
            w_sr = self.saliency(sr) if sr_saliency is None else sr_saliency
        return ((w_hr * hr - w_sr * sr) ** 2).mean()
