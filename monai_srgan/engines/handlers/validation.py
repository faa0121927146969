"""Validation against bicubic during training, and early stopping on its key metric."""

from __future__ import annotations

import logging
from typing import Any

from monai.handlers import ValidationHandler

from monai_srgan.errors import ConfigError

from ..events import SREvents
from .progress import ProgressLog

__all__ = ["SRValidationHandler", "SREarlyStopping", "validation_summary"]

logger = logging.getLogger("monai_srgan.engines")


def validation_summary(metrics: dict[str, float]) -> str:
    """One readable line of validation metrics: ``psnr 31.59 dB (bicubic 31.22, gain +0.36), ssim 0.8736 (bicubic
    0.8674, gain +0.0062), lr_consistency 48.81 dB``; metrics without a bicubic twin are listed after."""
    parts, used = [], set()
    for key, unit, nd in (("psnr", " dB", 2), ("ssim", "", 4)):
        if key not in metrics:
            continue
        text = f"{key} {metrics[key]:.{nd}f}{unit}"
        extra = [f"bicubic {metrics[k]:.{nd}f}" for k in (f"{key}_bicubic",) if k in metrics]
        extra += [f"gain {metrics[k]:+.{nd}f}" for k in (f"{key}_gain",) if k in metrics]
        parts.append(text + (f" ({', '.join(extra)})" if extra else ""))
        used |= {key, f"{key}_bicubic", f"{key}_gain"}
    for k, v in metrics.items():
        if k not in used:
            parts.append(f"{k} {v:.2f} dB" if k == "lr_consistency" else f"{k} {v:.4g}")
    return ", ".join(parts)


class SRValidationHandler(ValidationHandler):
    """MONAI's ``ValidationHandler`` for the SR trainers: every ``interval`` epochs, runs an
    :class:`~monai_srgan.engines.SRValidator` on the trainer's evaluation generator (the EMA shadow when EMA is on)
    without touching the training random streams, appends the metrics to ``engine.state.val_history``, keeps the
    best key metric in ``engine.state.best_metric`` and sets ``engine.state.val_improved`` (read by
    :class:`~monai_srgan.engines.handlers.CheckpointHandler` to save ``best_model.pt``), then fires
    ``SREvents.VALIDATION_COMPLETED``.

    Args:
        validator: the :class:`~monai_srgan.engines.SRValidator`.
        interval: validate every this many epochs.
    """

    order = 10

    def __init__(self, validator: Any, interval: int = 1) -> None:
        if int(interval) < 1:
            raise ConfigError(f"val_interval (SRValidationHandler interval) must be >= 1, got {interval}.")
        super().__init__(interval=int(interval), validator=validator, epoch_level=True)

    def attach(self, engine: Any) -> None:
        engine.validator = self.validator
        super().attach(engine)

    def __call__(self, engine: Any) -> None:
        metrics = engine.validate()
        key = self.validator.key_metric
        if key not in metrics:
            raise ConfigError(
                f"key_metric: the validator produced no '{key}' (it has {sorted(metrics)}); set the validator's "
                "key_metric to one of those."
            )
        s = engine.state
        current = metrics[key]
        s.val_improved = s.best_metric_epoch < 0 or bool(engine.metric_cmp_fn(current, s.best_metric))
        if s.val_improved:
            s.best_metric, s.best_metric_epoch = float(current), int(s.epoch)
        s.val_history.append({"epoch": int(s.epoch), **metrics})
        logger.info("%s: epoch %d validation: %s%s", ProgressLog.label(engine), s.epoch, validation_summary(metrics),
                    " (best so far)" if s.val_improved else "")  # fmt: skip
        engine.fire_event(SREvents.VALIDATION_COMPLETED)


class SREarlyStopping:
    """Stops a stage after ``patience`` validations without improvement of the key metric; the stage then counts as
    finished (a re-run does not continue it). The count is part of the checkpoint, so it survives a resume.

    Args:
        patience: validations without improvement before stopping.
    """

    order = 20

    def __init__(self, patience: int) -> None:
        if int(patience) < 1:
            raise ConfigError(f"early_stop_patience (SREarlyStopping patience) must be >= 1, got {patience}.")
        self.patience = int(patience)

    def attach(self, engine: Any) -> None:
        engine.add_event_handler(SREvents.VALIDATION_COMPLETED, self)

    def __call__(self, engine: Any) -> None:
        s = engine.state
        s.stale_evals = 0 if s.val_improved else int(s.stale_evals) + 1
        if s.stale_evals >= self.patience:
            logger.info("early stopping: no improvement of %s in %d validations", engine.validator.key_metric,
                        s.stale_evals)  # fmt: skip
            engine.finish_early()
