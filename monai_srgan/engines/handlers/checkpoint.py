"""Checkpoint files of the SR trainers and the handler that writes them.

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
from collections.abc import Mapping
from typing import Any

from ignite.engine import Events

from monai_srgan.errors import ConfigError
from monai_srgan.networks.checkpoint import atomic_torch_save, read_weight_file

__all__ = ["CKPT_FORMAT", "CheckpointFiles", "CheckpointHandler", "load_checkpoint"]

CKPT_FORMAT = "monai_srgan.training_checkpoint"


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A training checkpoint or export, read with the package's one guarded reader
    (:func:`~monai_srgan.networks.checkpoint.read_weight_file`: ``weights_only=True``, errors naming the file)."""
    return read_weight_file(path)


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
        atomic_torch_save(dict(state), self.last_path, fsync=True)
        if self.keep_last > 0:
            numbered = os.path.join(self.ckpt_dir, f"checkpoint_iter{int(iteration):08d}.pt")
            atomic_torch_save(dict(state), numbered, fsync=True)
            old = sorted(glob.glob(os.path.join(self.ckpt_dir, "checkpoint_iter*.pt")))
            for f in old[: -self.keep_last]:
                os.remove(f)
        return self.last_path

    def save_best(self, state: Mapping[str, Any]) -> str:
        atomic_torch_save(dict(state), self.best_path, fsync=True)
        return self.best_path

    def save_export(self, state: Mapping[str, Any], path: str | None = None) -> str:
        path = path or os.path.join(self.ckpt_dir, self.EXPORT)
        atomic_torch_save(dict(state), path, fsync=True)
        return path


class CheckpointHandler:
    """Saves a trainer's checkpoints and exports (rank 0 writes; collective under DDP).

    ``checkpoint_last.pt`` every ``save_interval`` iterations and at every epoch end, ``best_model.pt`` when the
    epoch's validation improved the key metric (:class:`~monai_srgan.engines.handlers.SRValidationHandler`), and at
    the end of the stage the final checkpoint plus the generator export ``{"params", "params_ema"}``. The trainer
    resumes from ``ckpt_dir`` (its ``resume`` setting) because this handler is attached.

    Args:
        ckpt_dir: this stage's checkpoint folder; ``None``: no checkpoints, only the export at ``export_path``.
        save_interval: also save ``checkpoint_last.pt`` every this many iterations (``None``: epoch ends only).
        keep_last: numbered ``checkpoint_iter*.pt`` copies to keep (0: only ``checkpoint_last.pt``).
        export_path: the final export (default ``ckpt_dir/model.pt``).
    """

    order = 90  # after validation, early stopping and logging at an epoch end

    def __init__(
        self,
        ckpt_dir: str | os.PathLike | None = None,
        save_interval: int | None = None,
        keep_last: int = 0,
        export_path: str | os.PathLike | None = None,
    ) -> None:
        if ckpt_dir is None and export_path is None:
            raise ConfigError(
                "CheckpointHandler: ckpt_dir and export_path are both None; give a checkpoint folder (train#stageN#"
                "checkpoint#ckpt_dir), an export path, or set the handler itself to None to train without either."
            )
        self.files = CheckpointFiles(ckpt_dir, keep_last) if ckpt_dir is not None else None
        self.save_interval = int(save_interval) if save_interval else None
        self.export_path = None if export_path is None else os.fspath(export_path)

    def attach(self, engine: Any) -> None:
        engine.files = self.files
        if self.save_interval:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.save_interval), self.interval_save)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.epoch_save)
        engine.add_event_handler(Events.COMPLETED, self.final_save)

    def interval_save(self, engine: Any) -> None:
        if self.files is not None and engine.state.iteration % int(engine.state.epoch_length) != 0:
            engine.save_checkpoint()  # epoch ends are saved by epoch_save

    def epoch_save(self, engine: Any) -> None:
        if self.files is None:
            return
        engine.save_checkpoint()
        if getattr(engine.state, "val_improved", False) and engine.rank == 0:
            best = engine.export_state()
            best.update({"metrics": dict(engine.state.val_history[-1]), "iteration": int(engine.state.iteration)})
            self.files.save_best(best)

    def final_save(self, engine: Any) -> None:
        if self.files is not None:
            engine.save_checkpoint()
            if engine.rank == 0:
                self.files.save_export(engine.export_state(), self.export_path)
        elif engine.rank == 0:
            atomic_torch_save(engine.export_state(), self.export_path, fsync=True)
