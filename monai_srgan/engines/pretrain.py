"""Stage 1: generator pretraining with a content loss (SRGAN's "SRResNet" stage, Real-ESRGAN's "RealESRNet").

Paper 000 pretrains the generator for 50 epochs with the content (MSE) loss at lr 1e-4 before adversarial training;
Real-ESRGAN (paper 002) pretrains RRDBNet with L1 (Adam 2e-4, betas (0.9, 0.99)). Either is this trainer with a
different ``loss_function`` and optimizer in the config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .base import SRTrainerBase

__all__ = ["SRPretrainer", "evaluate_content_loss"]


def evaluate_content_loss(
    loss_function: Callable, sr: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Call a content loss that returns either a tensor or ``(total, {"term": value})`` (``GeneratorLoss``)."""
    out = loss_function(sr, target)
    if isinstance(out, tuple):
        total, terms = out
        return total, dict(terms)
    return out, {"content": out}


class SRPretrainer(SRTrainerBase):
    """Stage-1 trainer: minimise a content loss between ``G(lr)`` and ``hr`` (no discriminator).

    Args:
        loss_function: ``loss(sr, hr) -> Tensor`` (e.g. ``torch.nn.L1Loss()``) or a
            ``monai_srgan.losses.GeneratorLoss`` without adversarial terms, returning ``(total, terms)``.
        ema_decay: off by default in stage 1 (Real-ESRNet uses 0.999; set it in the config to follow it).
        **kwargs: everything of :class:`~monai_srgan.engines.base.SRTrainerBase` (device, max_epochs,
            train_data_loader, generator, optimizer_g, validator, ckpt_dir, ...).

    ``state.output`` per iteration: ``{"loss_g": float, "<term>": float, ...}``.
    """

    stage = "pretrain"

    def __init__(self, *args: Any, loss_function: Callable, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_function = loss_function.to(self.state.device) if hasattr(loss_function, "to") else loss_function

    def _iteration(self, engine: Any, batchdata: Mapping[str, Any]) -> dict[str, float]:
        lr, _hr, target = self._prepare_pair(batchdata)
        self.generator.train()
        self.optimizer_g.zero_grad(set_to_none=True)
        with self._autocast():
            with self._timed("g_forward"):
                sr = self.generator(lr)
            with self._timed("losses"):
                total, terms = evaluate_content_loss(self.loss_function, sr.float(), target)
        self._guard({"loss_g": total.detach(), **{k: v.detach() for k, v in terms.items()}})
        with self._timed("g_backward"):
            self._backward_step(total, self.optimizer_g, self.scaler_g, self.generator, "g")
        self._after_g_step()
        out = {"loss_g": float(total.detach())}
        out.update({k: float(v.detach()) for k, v in terms.items()})
        return out
