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

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from monai_srgan.errors import ConfigError

__all__ = ["GeneratorLoss"]


class GeneratorLoss(nn.Module):
    """Weighted sum of generator loss terms: ``total = sum_k weight_k * loss_k(sr, hr[, logits])``.

    Args:
        terms: ``{"name": {"loss": module, "weight": float}, ...}`` (``weight`` defaults to 1.0). A module whose
            ``needs_logits`` attribute is True is called ``loss(sr, hr, fake_logits=..., real_logits=...)``, one whose
            ``needs_ema_sr`` is True ``loss(sr, hr, sr_ema=...)``, any other ``loss(sr, hr)``. Terms with weight 0
            are not evaluated (useful for schedules) and report 0.

    ``forward(sr, hr, fake_logits=None, real_logits=None)`` returns ``(total, {"name": weighted_value})``: ``total``
    carries the gradient; the per-term values are detached scalars for logging. ``needs_logits`` tells a trainer
    whether it must run the discriminator on ``sr`` in the generator step, ``needs_real_logits`` whether on ``hr`` too,
    ``needs_ema_sr`` whether the EMA generator must run on the same LR batch.
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

    @property
    def needs_ema_sr(self) -> bool:
        """True when some term with non-zero weight needs ``sr_ema``, the EMA generator's SR of the same batch."""
        return any(getattr(m, "needs_ema_sr", False) and self.weights[n] != 0 for n, m in self.losses.items())

    def forward(
        self,
        sr: torch.Tensor,
        hr: torch.Tensor,
        fake_logits: torch.Tensor | None = None,
        real_logits: torch.Tensor | None = None,
        sr_ema: torch.Tensor | None = None,
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
            elif getattr(module, "needs_ema_sr", False):
                if sr_ema is None:
                    raise ValueError(
                        f"GeneratorLoss term {name!r} ({type(module).__name__}) needs the EMA generator's SR: "
                        "call loss(sr, hr, sr_ema=G_ema(lr))"
                    )
                value = module(sr, hr, sr_ema=sr_ema)
            else:
                value = module(sr, hr)
            weighted = w * value
            total = total + weighted
            values[name] = weighted.detach()
        return total, values

    def extra_repr(self) -> str:
        return "weights=" + ", ".join(f"{k}={v:g}" for k, v in self.weights.items())
