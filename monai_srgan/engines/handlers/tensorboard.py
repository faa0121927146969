"""TensorBoard for the SR trainers: training losses and learning rates every ``log_interval`` iterations, validation
metrics and a ``bicubic | SR | HR | |SR − HR|`` image grid after each validation."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from ignite.engine import Events

from ..distributed import get_rank
from ..events import SREvents

__all__ = ["TensorBoardHandler", "TensorBoardLogger", "make_image_grid"]


def _to_display(x: torch.Tensor, value_min: float, data_range: float) -> torch.Tensor:
    x = x.detach().float().cpu()
    if x.ndim == 4:  # 3D (C, H, W, D): middle slice along the last axis
        x = x[..., x.shape[-1] // 2]
    x = (x - value_min) / max(data_range, 1e-12)
    if x.shape[0] == 1:
        x = x.repeat(3, 1, 1)
    elif x.shape[0] != 3:
        x = x[:1].repeat(3, 1, 1)
    return x.clamp(0, 1)


def make_image_grid(
    samples: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    data_range: float = 1.0,
    value_min: float | None = 0.0,
    error_gain: float = 4.0,
    pad: int = 2,
) -> torch.Tensor:
    """One row per image: ``bicubic | SR | HR | |SR − HR|`` as a ``(3, H, W)`` float image in [0, 1].

    ``|SR − HR|`` is multiplied by ``error_gain`` so small errors stay visible. 1-channel images are shown grey;
    3D images by their middle slice. ``value_min=None`` (z-score data) rescales each row to its own min/max.
    """
    rows = []
    for bic, sr, hr in samples:
        vmin, rng = value_min, data_range
        if vmin is None:
            vmin, rng = float(hr.min()), float(hr.max() - hr.min()) or 1.0
        err = (sr.float() - hr.float()).abs() * error_gain + vmin
        tiles = [_to_display(t, vmin, rng) for t in (bic, sr, hr, err)]
        h, w = tiles[0].shape[1:]
        row = torch.ones(3, h, 4 * w + 3 * pad)
        for i, t in enumerate(tiles):
            row[:, :, i * (w + pad) : i * (w + pad) + w] = t
        rows.append(row)
    if not rows:
        raise ValueError("make_image_grid: no samples")
    width = max(r.shape[2] for r in rows)
    height = sum(r.shape[1] for r in rows) + pad * (len(rows) - 1)
    grid = torch.ones(3, height, width)
    y = 0
    for r in rows:
        grid[:, y : y + r.shape[1], : r.shape[2]] = r
        y += r.shape[1] + pad
    return grid


class TensorBoardLogger:
    """Thin wrapper over ``torch.utils.tensorboard.SummaryWriter``; created lazily, on rank 0 only.

    Args:
        log_dir: event-file folder.
        enabled: ``False`` on ranks other than 0.
    """

    def __init__(self, log_dir: str | os.PathLike, enabled: bool = True) -> None:
        self.log_dir = os.fspath(log_dir)
        self.enabled = enabled
        self._writer = None

    @property
    def writer(self):
        if self._writer is None and self.enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=self.log_dir)
        return self._writer

    def scalars(self, values: Mapping[str, Any], step: int, prefix: str = "") -> None:
        if not self.enabled:
            return
        for k, v in values.items():
            if isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    continue
                v = float(v)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(f"{prefix}{k}", float(v), step)

    def image(self, tag: str, img: torch.Tensor, step: int) -> None:
        if self.enabled:
            self.writer.add_image(tag, img, step, dataformats="CHW")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class TensorBoardHandler:
    """Writes a trainer's TensorBoard events (rank 0 only).

    ``train/<loss>`` and ``lr/<optimizer>`` every ``log_interval`` iterations, ``val/<metric>`` and the image grid
    ``val/bicubic|SR|HR|abs_err`` after each validation (:class:`~monai_srgan.engines.SREvents`
    ``VALIDATION_COMPLETED``); the writer is closed when the stage completes.

    Args:
        log_dir: event-file folder (one per stage, e.g. ``runs/train/logs/stage1``).
        log_interval: iterations between scalar writes; ``None``: the trainer's ``log_interval``.
    """

    order = 30

    def __init__(self, log_dir: str | os.PathLike, log_interval: int | None = None) -> None:
        self.log_dir = os.fspath(log_dir)
        self.log_interval = None if log_interval is None else int(log_interval)
        self.logger = TensorBoardLogger(self.log_dir, enabled=get_rank() == 0)

    def attach(self, engine: Any) -> None:
        # the rank is known for sure only now: a bundle may build this handler before the trainer starts torchrun's
        # process group, when every process still reads as rank 0
        self.logger.enabled = int(getattr(engine, "rank", get_rank())) == 0
        every = self.log_interval or int(getattr(engine, "log_interval", 10))
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=every), self.log_training)
        engine.add_event_handler(SREvents.VALIDATION_COMPLETED, self.log_validation)
        engine.add_event_handler(Events.COMPLETED, lambda _e: self.logger.close())

    def log_training(self, engine: Any) -> None:
        out = engine.state.output if isinstance(engine.state.output, Mapping) else {}
        self.logger.scalars(out, engine.state.iteration, prefix="train/")
        self.logger.scalars(engine.learning_rates(), engine.state.iteration, prefix="lr/")

    def log_validation(self, engine: Any) -> None:
        metrics = {k: v for k, v in engine.state.val_history[-1].items() if k != "epoch"}
        self.logger.scalars(metrics, engine.state.iteration, prefix="val/")
        validator = engine.validator
        samples = getattr(validator.state, "sample_images", []) if validator is not None else []
        if samples:
            grid = make_image_grid(samples, validator.data_range, validator.value_min)
            self.logger.image("val/bicubic|SR|HR|abs_err", grid, engine.state.iteration)
        self.logger.flush()
