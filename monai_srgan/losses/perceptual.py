"""Perceptual (VGG feature) loss with per-layer weights and an optional Gram-matrix style term.

``L = perceptual_weight * sum_k w_k c(phi_k(sr), phi_k(hr)) + style_weight * sum_k w_k c(G(phi_k(sr)), G(phi_k(hr)))``

with ``phi_k`` the VGG feature maps of :class:`monai_srgan.networks.VGGFeatureExtractor`, ``c`` the criterion
(L1, L2 = mean squared error, or the Frobenius norm) and ``G(f) = f f^T / (C H W)`` the Gram matrix (Gatys et al.
2016). This is the perceptual loss of SRGAN (Ledig et al. 2017; paper 000 eq. 3, paper 003 eq. 8) and of
ESRGAN/Real-ESRGAN (paper 002), configured by layer weights; ``PERCEPTUAL_PRESETS`` holds each paper's choice.

Weights are never downloaded: pass the torchvision ImageNet weight file as ``weights_path``; ``pretrained=False``
gives a randomly initialised VGG (tests only -- a random VGG is no perceptual metric).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from monai_srgan.errors import ConfigError
from monai_srgan.networks.features import VGG_WEIGHT_FILES, VGGFeatureExtractor

__all__ = ["PerceptualLoss", "PERCEPTUAL_PRESETS", "gram_matrix"]

#: Each paper's perceptual loss as ``PerceptualLoss`` keyword arguments (see docs/losses.md).
PERCEPTUAL_PRESETS: dict[str, dict[str, Any]] = {
    # Real-ESRGAN (paper 002, reference/README.md): VGG-19 before ReLU, L1, ImageNet input normalisation.
    "realesrgan": {
        "layer_weights": {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0},
        "vgg_type": "vgg19",
        "criterion": "l1",
    },
    # ESRGAN (Wang et al. 2018): conv5_4 of VGG-19 before ReLU, L1. Used by FusionLoss (paper 001).
    "esrgan": {"layer_weights": {"conv5_4": 1.0}, "vgg_type": "vgg19", "criterion": "l1"},
    # SRGAN (Ledig et al. 2017) and paper 000 eq. 3: phi_{5,4} of VGG-19 (after ReLU), squared error.
    "srgan": {"layer_weights": {"relu5_4": 1.0}, "vgg_type": "vgg19", "criterion": "l2"},
    # Mahapatra et al. (paper 003, eq. 8): all 512 maps of relu4_1 of VGG-16, squared error.
    "mahapatra2017": {"layer_weights": {"relu4_1": 1.0}, "vgg_type": "vgg16", "criterion": "l2"},
}

_CRITERIA = ("l1", "l2", "fro")


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix ``f f^T / (C * prod(spatial))`` of features ``(N, C, *spatial)``, shape ``(N, C, C)``."""
    n, c = f.shape[:2]
    flat = f.reshape(n, c, -1)
    return flat.bmm(flat.transpose(1, 2)) / (c * flat.shape[-1])


class PerceptualLoss(nn.Module):
    """VGG perceptual loss with per-layer weights (SRGAN / ESRGAN / Real-ESRGAN, papers 000, 001, 002, 003).

    Args:
        layer_weights: ``{layer name: weight}``; names as in :class:`~monai_srgan.networks.VGGFeatureExtractor`
            (``conv{b}_{i}`` before ReLU, ``relu{b}_{i}`` after). Default: Real-ESRGAN's
            ``conv1_2 0.1, conv2_2 0.1, conv3_4 1, conv4_4 1, conv5_4 1``.
        vgg_type: ``"vgg19"`` or ``"vgg16"``.
        weights_path: torchvision-format ImageNet weight file (``vgg19-dcbb9e9d.pth`` / ``vgg16-397923af.pth``).
        criterion: ``"l1"`` (mean absolute error), ``"l2"`` (mean squared error, paper 003 eq. 8) or ``"fro"``
            (Frobenius norm of the difference over the whole batch, as BasicSR).
        perceptual_weight: weight of the feature term (0 disables it).
        style_weight: weight of the Gram-matrix style term (0, the default, disables it).
        use_input_norm: ImageNet mean/std normalisation of the input (what the ImageNet weights expect).
        input_range: value range of ``sr``/``hr``, e.g. ``(0, 1)`` or ``(-1, 1)`` (paper 004).
        pretrained: ``True`` requires ``weights_path`` (a ``ConfigError`` says how to pass it); ``False`` allows a
            random VGG for tests.

    ``forward(sr, hr)`` takes ``(N, 1|3, H, W)`` or ``(N, 1|3, H, W, D)`` (3D is processed slice-wise along the last
    axis by the feature extractor) and returns a scalar. HR features are computed without gradient.
    """

    needs_logits = False

    def __init__(
        self,
        layer_weights: Mapping[str, float] | None = None,
        vgg_type: str = "vgg19",
        weights_path: str | os.PathLike | None = None,
        criterion: str = "l1",
        perceptual_weight: float = 1.0,
        style_weight: float = 0.0,
        use_input_norm: bool = True,
        input_range: Sequence[float] = (0.0, 1.0),
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        if layer_weights is None:
            layer_weights = PERCEPTUAL_PRESETS["realesrgan"]["layer_weights"]
        if not isinstance(layer_weights, Mapping) or not layer_weights:
            raise ConfigError("PerceptualLoss layer_weights: expected a non-empty mapping {layer name: weight}")
        if criterion not in _CRITERIA:
            raise ConfigError(f"PerceptualLoss criterion={criterion!r}: expected one of {_CRITERIA}")
        if pretrained and weights_path is None:
            url = VGG_WEIGHT_FILES.get(vgg_type, "")
            raise ConfigError(
                f"PerceptualLoss(pretrained=True) needs ImageNet {vgg_type} weights: pass "
                f"weights_path='/path/to/{os.path.basename(url) or vgg_type + '.pth'}' (the torchvision file with "
                f"'features.N.weight' keys, downloaded beforehand from {url} on a machine with internet access; "
                "nothing is downloaded at run time), or pretrained=False for a random VGG (tests only)."
            )
        self.layer_weights = {str(k): float(v) for k, v in layer_weights.items()}
        self.criterion = criterion
        self.perceptual_weight = float(perceptual_weight)
        self.style_weight = float(style_weight)
        self.vgg = VGGFeatureExtractor(
            layer_names=list(self.layer_weights),
            vgg_type=vgg_type,
            weights_path=weights_path,
            use_input_norm=use_input_norm,
            input_range=input_range,
            requires_grad=False,
            pretrained=pretrained,
        )

    @classmethod
    def from_preset(cls, name: str, **kwargs: Any) -> PerceptualLoss:
        """Build a paper's perceptual loss from ``PERCEPTUAL_PRESETS`` (``realesrgan``, ``esrgan``, ``srgan``,
        ``mahapatra2017``); keyword arguments (``weights_path``, ``pretrained``, ...) override the preset."""
        if name not in PERCEPTUAL_PRESETS:
            raise ConfigError(f"PerceptualLoss preset {name!r}: expected one of {sorted(PERCEPTUAL_PRESETS)}")
        return cls(**{**PERCEPTUAL_PRESETS[name], **kwargs})

    def _distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.criterion == "l1":
            return F.l1_loss(a, b)
        if self.criterion == "l2":
            return F.mse_loss(a, b)
        return torch.linalg.vector_norm(a - b)

    def components(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted-by-term values ``{"perceptual": ..., "style": ...}`` (layer weights applied)."""
        if sr.shape != hr.shape:
            raise ValueError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} must have the same shape")
        sr_f = self.vgg(sr)
        with torch.no_grad():
            hr_f = self.vgg(hr.detach())
        percep = sr.new_zeros(())
        style = sr.new_zeros(())
        for name, w in self.layer_weights.items():
            if w == 0:
                continue
            if self.perceptual_weight != 0:
                percep = percep + w * self._distance(sr_f[name], hr_f[name])
            if self.style_weight != 0:
                style = style + w * self._distance(gram_matrix(sr_f[name]), gram_matrix(hr_f[name]))
        return {"perceptual": percep, "style": style}

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        c = self.components(sr, hr)
        return self.perceptual_weight * c["perceptual"] + self.style_weight * c["style"]

    def extra_repr(self) -> str:
        return (
            f"layer_weights={self.layer_weights}, criterion={self.criterion!r}, "
            f"perceptual_weight={self.perceptual_weight:g}, style_weight={self.style_weight:g}"
        )
