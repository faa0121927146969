"""Checkpoint files and TensorBoard logging for the SR trainers.

Checkpoint layout in ``ckpt_dir`` (all written atomically: temporary file, fsync, ``os.replace``):

- ``checkpoint_last.pt``: everything needed to continue exactly (G, D, EMA, both optimizers, schedulers, AMP
  scalers, engine counters, RNG states of every rank, training-pair pool) — what ``resume`` reads;
- ``checkpoint_iter########.pt``: numbered copies when ``keep_last > 0``;
- ``best_model.pt``: ``{"params", "params_ema", "metrics", ...}`` at the best validation score;
- ``model.pt``: the final generator export ``{"params", "params_ema"}`` (BasicSR layout; loaders prefer
  ``params_ema``).

Everything is tensors and plain containers: load with ``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .utils import atomic_torch_save

__all__ = [
    "ProgressLog",
    "CKPT_FORMAT",
    "CheckpointFiles",
    "load_checkpoint",
    "generator_state_from_checkpoint",
    "make_image_grid",
    "TensorBoardLogger",
]

CKPT_FORMAT = "monai_srgan.training_checkpoint"


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with a clear error for a missing file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        from monai_srgan.errors import InputFileError

        raise InputFileError(path, "checkpoint file not found", "check the resume/warm_start path")
    return torch.load(path, map_location="cpu", weights_only=True)


def generator_state_from_checkpoint(ckpt: Mapping[str, Any], prefer_ema: bool = True) -> Mapping[str, Any]:
    """The generator state dict in a checkpoint: ``params_ema`` (preferred), ``params``, or a bare state dict."""
    keys = ("params_ema", "params") if prefer_ema else ("params", "params_ema")
    for k in keys:
        if isinstance(ckpt.get(k), Mapping):
            return ckpt[k]
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt
    raise KeyError(f"no generator weights ('params_ema'/'params') among checkpoint keys {sorted(ckpt)[:8]}")


class CheckpointFiles:
    """Writes and finds the checkpoint files of one training stage (rank 0 writes; every rank may read).

    Args:
        ckpt_dir: folder of this stage's checkpoints.
        keep_last: how many numbered ``checkpoint_iter*.pt`` copies to keep besides ``checkpoint_last.pt``
            (0: none).
    """

    LAST = "checkpoint_last.pt"
    BEST = "best_model.pt"
    EXPORT = "model.pt"

    def __init__(self, ckpt_dir: str | os.PathLike, keep_last: int = 0) -> None:
        self.ckpt_dir = os.fspath(ckpt_dir)
        self.keep_last = int(keep_last)

    @property
    def last_path(self) -> str:
        return os.path.join(self.ckpt_dir, self.LAST)

    @property
    def best_path(self) -> str:
        return os.path.join(self.ckpt_dir, self.BEST)

    def latest(self) -> str | None:
        """Path of ``checkpoint_last.pt`` if present (the file is complete by construction), else ``None``."""
        return self.last_path if os.path.isfile(self.last_path) else None

    def save_last(self, state: Mapping[str, Any], iteration: int) -> str:
        atomic_torch_save(dict(state), self.last_path)
        if self.keep_last > 0:
            numbered = os.path.join(self.ckpt_dir, f"checkpoint_iter{int(iteration):08d}.pt")
            atomic_torch_save(dict(state), numbered)
            old = sorted(glob.glob(os.path.join(self.ckpt_dir, "checkpoint_iter*.pt")))
            for f in old[: -self.keep_last]:
                os.remove(f)
        return self.last_path

    def save_best(self, state: Mapping[str, Any]) -> str:
        atomic_torch_save(dict(state), self.best_path)
        return self.best_path

    def save_export(self, state: Mapping[str, Any], path: str | None = None) -> str:
        path = path or os.path.join(self.ckpt_dir, self.EXPORT)
        atomic_torch_save(dict(state), path)
        return path


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


class ProgressLog:
    """One log line every ``interval`` iterations: stage, iteration/total, losses, it/s and time left.

    Replaces a ``StatsHandler``'s per-iteration lines (the trainers turn those off) so that a long run says what it is
    doing at ``log_interval`` without flooding the console; the stage label comes from the trainer's ``stage_label``
    (``"stage 1/2: pretraining"`` when :func:`~monai_srgan.engines.run_two_stage` runs both stages).

    Args:
        interval: iterations between lines.
        logger: where the lines go (INFO).
    """

    def __init__(self, interval: int, logger: Any) -> None:
        self.interval, self.logger = max(1, int(interval)), logger
        self._t0, self._it0 = 0.0, 0

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self.log)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    @staticmethod
    def _label(engine: Any) -> str:
        default = {"pretrain": "pretraining", "gan": "adversarial"}.get(getattr(engine, "stage", ""), "training")
        return getattr(engine, "stage_label", None) or default

    def started(self, engine: Any) -> None:
        import time

        s = engine.state
        self._t0, self._it0 = time.perf_counter(), int(s.iteration)
        total = int(s.max_epochs) * int(s.epoch_length)
        self.logger.info(
            "%s: iterations %d..%d (%d epochs of %d), a line every %d iterations (the first may take a while: "
            "data loading and caching)", self._label(engine), s.iteration + 1, total, s.max_epochs, s.epoch_length,
            self.interval,
        )  # fmt: skip

    def log(self, engine: Any) -> None:
        import time

        s = engine.state
        it, total = int(s.iteration), int(s.max_epochs) * int(s.epoch_length)
        rate = (it - self._it0) / max(time.perf_counter() - self._t0, 1e-9)
        out = s.output if isinstance(s.output, Mapping) else {}
        losses = []
        for k, v in out.items():
            if k.startswith("loss") and (isinstance(v, (int, float)) or (torch.is_tensor(v) and v.numel() == 1)):
                losses.append(f"{k} {float(v):.4g}")
        left = (total - it) / rate if rate > 0 else float("nan")
        self.logger.info(
            "%s: iteration %d/%d (epoch %d) %s | %.2f it/s, %s left", self._label(engine), it, total, s.epoch,
            " ".join(losses), rate, _duration(left),
        )  # fmt: skip

    def completed(self, engine: Any) -> None:
        import time

        self.logger.info("%s: done at iteration %d (%s)", self._label(engine), engine.state.iteration,
                         _duration(time.perf_counter() - self._t0))  # fmt: skip


def _duration(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
