"""Fusion loss of paper 001 (EDSR-GAN with improved SE blocks; after Bing et al., IEEE Access 2019).

``L_Fusion = L_VGG + w_1 L_1 + w_RG L_RG + w_MSE L_MSE`` with the paper's ``w_1 = 1``, ``w_RG = 0.005``,
``w_MSE = 0.5``. ``L_VGG`` is a :class:`~monai_srgan.losses.PerceptualLoss`, ``L_RG`` the generator side of the
relativistic average GAN (:class:`~monai_srgan.losses.AdversarialLoss` with ``gan_type="ragan"``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import L1Loss, MSELoss

from .adversarial import AdversarialLoss
from .composite import GeneratorLoss
from .perceptual import PERCEPTUAL_PRESETS, PerceptualLoss

__all__ = ["FusionLoss"]


class FusionLoss(nn.Module):
    """``L_VGG + w1 L1 + w_RG L_RG + w_MSE MSE`` (paper 001, "Fusion Loss").

    Args:
        perceptual: the ``L_VGG`` module. Default: ESRGAN's perceptual loss (VGG-19 ``conv5_4`` before ReLU, L1;
            paper 001 does not name the layer, and its relativistic GAN term comes from ESRGAN), built with
            ``vgg_weights_path``/``pretrained``/``input_range``.
        w1: weight of the L1 term (paper: 1).
        w_rg: weight of the relativistic GAN term (paper: 0.005).
        w_mse: weight of the MSE term (paper: 0.5).
        vgg_weights_path: torchvision VGG-19 weight file for the default ``perceptual``.
        pretrained: passed to the default ``perceptual`` (``False``: random VGG, tests only).
        input_range: value range of the images, for the default ``perceptual``.

    Called ``loss(sr, hr, fake_logits=D(sr), real_logits=D(hr))`` (``needs_logits = True``); returns a scalar.
    :meth:`components` returns the four weighted terms for logging.
    """

    needs_logits = True
    needs_real_logits = True

    def __init__(
        self,
        perceptual: nn.Module | None = None,
        w1: float = 1.0,
        w_rg: float = 0.005,
        w_mse: float = 0.5,
        vgg_weights_path: str | os.PathLike | None = None,
        pretrained: bool = True,
        input_range: Sequence[float] = (0.0, 1.0),
    ) -> None:
        super().__init__()
        if perceptual is None:
            perceptual = PerceptualLoss(
                **PERCEPTUAL_PRESETS["esrgan"],
                weights_path=vgg_weights_path,
                pretrained=pretrained,
                input_range=input_range,
            )
        self.terms = GeneratorLoss(
            {
                "vgg": {"loss": perceptual, "weight": 1.0},
                "l1": {"loss": L1Loss(), "weight": w1},
                "rg": {"loss": AdversarialLoss("ragan"), "weight": w_rg},
                "mse": {"loss": MSELoss(), "weight": w_mse},
            }
        )

    def components(
        self,
        sr: torch.Tensor,
        hr: torch.Tensor,
        fake_logits: torch.Tensor | None = None,
        real_logits: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total, {"vgg", "l1", "rg", "mse": weighted, detached value})``."""
        return self.terms(sr, hr, fake_logits=fake_logits, real_logits=real_logits)

    def forward(
        self,
        sr: torch.Tensor,
        hr: torch.Tensor,
        fake_logits: torch.Tensor | None = None,
        real_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.terms(sr, hr, fake_logits=fake_logits, real_logits=real_logits)[0]
