"""Exponential moving average of generator weights (Real-ESRGAN, paper 002; BasicSR ``model_ema``).

``θ_ema ← decay · θ_ema + (1 − decay) · θ`` after every generator step, decay 0.999 as in Real-ESRGAN
(Real-ESRGAN, docs/references.md). The EMA copy is the network used for validation and export (``params_ema``).
"""

from __future__ import annotations

import copy

import torch

from monai_srgan.errors import ConfigError
from monai_srgan.networks.export import unwrap_model

__all__ = ["ModelEMA"]


class ModelEMA(torch.nn.Module):
    """An EMA shadow of a model (Real-ESRGAN, Wang et al. 2021, sec. 4.1: "exponential moving average").

    Parameters are averaged; buffers (BatchNorm statistics, spectral-norm vectors) are copied from the live model,
    so the shadow is always a consistent network. The shadow is kept in ``eval`` mode without gradients.

    Args:
        model: the live network (``DistributedDataParallel`` is unwrapped).
        decay: weight of the old average, 0.999 in Real-ESRGAN. Must be in [0, 1).
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.999) -> None:
        super().__init__()
        if not 0.0 <= float(decay) < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {decay}.")
        self.decay = float(decay)
        self.module = copy.deepcopy(unwrap_model(model))
        self.module.eval()
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """One EMA step towards ``model``'s current weights."""
        src = unwrap_model(model)
        ema_params = dict(self.module.named_parameters())
        for name, p in src.named_parameters():
            e = ema_params[name]
            e.lerp_(p.detach().to(dtype=e.dtype, device=e.device), 1.0 - self.decay)
        ema_buffers = dict(self.module.named_buffers())
        for name, b in src.named_buffers():
            if name in ema_buffers:
                ema_buffers[name].copy_(b.detach())

    @torch.no_grad()
    def copy_from(self, model: torch.nn.Module) -> None:
        """Reset the shadow to ``model``'s weights (start of a stage, warm start)."""
        self.module.load_state_dict(unwrap_model(model).state_dict())

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def train(self, mode: bool = True) -> ModelEMA:  # the shadow never trains
        super().train(False)
        return self
