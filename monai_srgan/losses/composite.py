"""``GeneratorLoss``: a weighted sum of loss terms assembled from a config.

Each paper's generator objective is one ``GeneratorLoss`` configuration (docs/losses.md), e.g. paper 003 (eq. 6):

```python
GeneratorLoss(terms={
    "wmse": {"loss": SaliencyWeightedMSELoss(), "weight": 1.0},
    "vgg": {"loss": PerceptualLoss.from_preset("mahapatra2017", weights_path=...), "weight": 1.0},
    "saliency": {"loss": SaliencyLoss(), "weight": 1.0},
    "gan": {"loss": AdversarialLoss("vanilla"), "weight": 0.01},
})
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from monai_srgan.errors import ConfigError

__all__ = ["GeneratorLoss", "PAPER_LOSSES", "paper_generator_loss"]


class GeneratorLoss(nn.Module):
    """Weighted sum of generator loss terms: ``total = sum_k weight_k * loss_k(sr, hr[, logits])``.

    Args:
        terms: ``{"name": {"loss": module, "weight": float}, ...}`` (``weight`` defaults to 1.0). A module whose
            ``needs_logits`` attribute is True is called ``loss(sr, hr, fake_logits=..., real_logits=...)``, any
            other ``loss(sr, hr)``. Terms with weight 0 are not evaluated (useful for schedules) and report 0.

    ``forward(sr, hr, fake_logits=None, real_logits=None)`` returns ``(total, {"name": weighted_value})``: ``total``
    carries the gradient; the per-term values are detached scalars for logging. ``needs_logits`` tells a trainer
    whether it must run the discriminator on ``sr`` in the generator step, ``needs_real_logits`` whether on ``hr`` too.
    """

    def __init__(self, terms: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__()
        if not isinstance(terms, Mapping) or not terms:
            raise ConfigError("GeneratorLoss terms: expected a non-empty mapping name -> {'loss': ..., 'weight': ...}")
        losses: dict[str, nn.Module] = {}
        weights: dict[str, float] = {}
        for name, spec in terms.items():
            if not isinstance(spec, Mapping) or "loss" not in spec:
                raise ConfigError(f"GeneratorLoss terms[{name!r}]: expected {{'loss': module, 'weight': float}}")
            unknown = set(spec) - {"loss", "weight"}
            if unknown:
                raise ConfigError(f"GeneratorLoss terms[{name!r}]: unknown keys {sorted(unknown)}")
            module = spec["loss"]
            if not isinstance(module, nn.Module):
                raise ConfigError(f"GeneratorLoss terms[{name!r}]['loss']: expected an nn.Module, got {type(module)}")
            try:
                weights[name] = float(spec.get("weight", 1.0))
            except (TypeError, ValueError) as e:
                raise ConfigError(f"GeneratorLoss terms[{name!r}]['weight']: expected a number") from e
            losses[name] = module
        self.losses = nn.ModuleDict(losses)
        self.weights = weights

    @property
    def needs_logits(self) -> bool:
        """True when some term with non-zero weight needs discriminator logits."""
        return any(getattr(m, "needs_logits", False) and self.weights[n] != 0 for n, m in self.losses.items())

    @property
    def needs_real_logits(self) -> bool:
        """True when some term with non-zero weight also needs ``real_logits = D(hr)`` (relativistic GAN)."""
        return any(getattr(m, "needs_real_logits", False) and self.weights[n] != 0 for n, m in self.losses.items())

    def forward(
        self,
        sr: torch.Tensor,
        hr: torch.Tensor,
        fake_logits: torch.Tensor | None = None,
        real_logits: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total = sr.new_zeros(())
        values: dict[str, torch.Tensor] = {}
        for name, module in self.losses.items():
            w = self.weights[name]
            if w == 0:
                values[name] = sr.new_zeros(())
                continue
            if getattr(module, "needs_logits", False):
                if fake_logits is None:
                    raise ValueError(
                        f"GeneratorLoss term {name!r} ({type(module).__name__}) needs discriminator logits: "
                        "call loss(sr, hr, fake_logits=D(sr), real_logits=D(hr))"
                    )
                value = module(sr, hr, fake_logits=fake_logits, real_logits=real_logits)
            else:
                value = module(sr, hr)
            weighted = w * value
            total = total + weighted
            values[name] = weighted.detach()
        return total, values

    def extra_repr(self) -> str:
        return "weights=" + ", ".join(f"{k}={v:g}" for k, v in self.weights.items())


#: Paper id -> one-line description of its generator loss (the configs themselves: ``paper_generator_loss``).
PAPER_LOSSES: dict[str, str] = {
    "000": "SRGAN for DR fundus: VGG-19 phi_5,4 content (eq. 3) + lambda * non-saturating GAN (eqs. 4-5)",
    "001": "EDSR-GAN with improved SE: fusion loss L_VGG + 1 L1 + 0.005 L_RG + 0.5 MSE",
    "002": "Real-ESRGAN fine-tuning: L1 + perceptual (VGG-19 conv1_2..conv5_4) + 0.1 vanilla GAN",
    "003": "SRGAN with local saliency: saliency-weighted MSE + VGG-16 relu4_1 + saliency loss + 0.01 GAN (eq. 6)",
    "004": "SRGAN for COVID-19 CXR in [-1, 1]: MSE + 0.006 VGG-19 phi_5,4 + 0.001 GAN (SRGAN recipe)",
}


def paper_generator_loss(
    paper: str,
    vgg_weights_path: str | os.PathLike | None = None,
    pretrained: bool = True,
    input_range: Sequence[float] | None = None,
) -> GeneratorLoss:
    """The stage-2 (adversarial) generator loss of one of the five papers as a :class:`GeneratorLoss`.

    The same configurations are written out as JSON in docs/losses.md. Weights a paper does not state are taken
    from the method it builds on and marked as such there (000, 004: Ledig et al.'s SRGAN values).

    Args:
        paper: ``"000"``, ``"001"``, ``"002"``, ``"003"`` or ``"004"`` (see ``PAPER_LOSSES``).
        vgg_weights_path: torchvision ImageNet VGG weight file (VGG-16 for paper 003, VGG-19 otherwise).
        pretrained: ``False`` builds a random VGG (tests only).
        input_range: value range of the images; default ``(-1, 1)`` for paper 004, ``(0, 1)`` otherwise.
    """
    from torch.nn import L1Loss, MSELoss

    from .adversarial import AdversarialLoss
    from .content import SaliencyWeightedMSELoss
    from .fusion import FusionLoss
    from .perceptual import PerceptualLoss
    from .saliency import SaliencyLoss

    paper = str(paper).zfill(3)
    if paper not in PAPER_LOSSES:
        raise ConfigError(f"paper={paper!r}: expected one of {sorted(PAPER_LOSSES)}")
    rng = tuple(input_range) if input_range is not None else ((-1.0, 1.0) if paper == "004" else (0.0, 1.0))

    def vgg(preset: str) -> PerceptualLoss:
        return PerceptualLoss.from_preset(preset, weights_path=vgg_weights_path, pretrained=pretrained, input_range=rng)

    if paper == "000":
        terms = {
            "vgg": {"loss": vgg("srgan"), "weight": 0.006},
            "gan": {"loss": AdversarialLoss("vanilla"), "weight": 1e-3},
        }
    elif paper == "001":
        fusion = FusionLoss(vgg_weights_path=vgg_weights_path, pretrained=pretrained, input_range=rng)
        terms = {"fusion": {"loss": fusion, "weight": 1.0}}
    elif paper == "002":
        terms = {
            "l1": {"loss": L1Loss(), "weight": 1.0},
            "percep": {"loss": vgg("realesrgan"), "weight": 1.0},
            "gan": {"loss": AdversarialLoss("vanilla"), "weight": 0.1},
        }
    elif paper == "003":
        terms = {
            "wmse": {"loss": SaliencyWeightedMSELoss(), "weight": 1.0},
            "vgg": {"loss": vgg("mahapatra2017"), "weight": 1.0},
            "saliency": {"loss": SaliencyLoss(), "weight": 1.0},
            "gan": {"loss": AdversarialLoss("vanilla"), "weight": 0.01},
        }
    else:
        terms = {
            "mse": {"loss": MSELoss(), "weight": 1.0},
            "vgg": {"loss": vgg("srgan"), "weight": 0.006},
            "gan": {"loss": AdversarialLoss("vanilla"), "weight": 1e-3},
        }
    return GeneratorLoss(terms)
