"""Checkpoint content, exact resume and warm start of the SR trainers (see :class:`ResumableTrainerMixin`)."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

import torch

from monai_srgan.errors import ConfigError
from monai_srgan.networks.checkpoint import CheckpointMismatchError, load_network_weights
from monai_srgan.networks.export import unwrap_model

from .checks import check_resume_checkpoint
from .distributed import get_world_size, is_distributed
from .handlers import CKPT_FORMAT, load_checkpoint
from .utils import get_rng_state, set_rng_state

__all__ = ["ResumableTrainerMixin"]

logger = logging.getLogger("monai_srgan.engines")


def _scale_of(model: torch.nn.Module) -> Any:
    scale = getattr(unwrap_model(model), "scale", None)
    if isinstance(scale, (tuple, list)):
        return [float(s) for s in scale]
    return None if scale is None else float(scale)


def _sched_load(sched: Any, state: Mapping[str, Any]) -> None:
    current = sched.state_dict()
    fixed = {
        k: (Counter(v) if isinstance(current.get(k), Counter) and not isinstance(v, Counter) else v)
        for k, v in state.items()
    }
    sched.load_state_dict(fixed)


class ResumableTrainerMixin:
    """Checkpoint content, exact resume and warm start of :class:`~monai_srgan.engines.base.SRTrainerBase`.

    A checkpoint holds the generator, its optimizer, scheduler and AMP scaler, the EMA shadow, the engine counters,
    the best validation score, the early-stopping count and the RNG states of every rank; the adversarial trainer
    adds its discriminator, pool and optimizers. ``prepare_run`` resumes (from the trainer's ``resume`` path or the
    ``CheckpointHandler``'s folder) or warm-starts before any step, so every check that can fail runs first.
    """

    def _setup_engine(self) -> None:
        self._loader_restarts = 0
        super()._setup_engine()
        # resume inside an epoch: replay the epoch's data stream up to where the checkpoint was taken
        for _ in range(int(self._init_iter or 0)):
            try:
                next(self._dataloader_iter)
            except StopIteration:
                self._setup_dataloader_iter()
                next(self._dataloader_iter)
        if self._pending_rng is not None:
            set_rng_state(self._pending_rng)
            self._pending_rng = None

    def signature(self) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed by this trainer."""
        return {
            "stage": self.stage,
            "generator": type(self.generator_raw).__name__,
            "scale": _scale_of(self.generator_raw),
            "world_size": get_world_size(),
        }

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything to continue exactly (collective under DDP: every rank must call it)."""
        rng = get_rng_state()
        if is_distributed():
            import torch.distributed as dist

            gathered: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, rng)
            rng_all = gathered
        else:
            rng_all = [rng]
        s = self.state
        state: dict[str, Any] = {
            "format": CKPT_FORMAT,
            "version": 1,
            "signature": self.signature(),
            "params": self.generator_raw.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "engine": {
                "iteration": int(s.iteration),
                "epoch": int(s.epoch),
                "epoch_length": int(s.epoch_length),
                "max_epochs": int(s.max_epochs),
                "best_metric": float(s.best_metric),
                "best_metric_epoch": int(s.best_metric_epoch),
                "stale_evals": int(self.state.stale_evals),
                "finished": bool(self._finished),
                "seed": self.seed,
            },
            "rng": rng_all,
        }
        if self.ema is not None:
            state["params_ema"] = self.ema.module.state_dict()
        if self.lr_scheduler_g is not None:
            state["scheduler_g"] = self.lr_scheduler_g.state_dict()
        if self.scaler_g is not None:
            state["scaler_g"] = self.scaler_g.state_dict()
        return state

    def check_checkpoint(self, ckpt: Mapping[str, Any], path: str) -> None:
        """Raise :class:`ConfigError` when ``ckpt`` was written by another configuration."""
        params = self.generator_raw.state_dict()
        check_resume_checkpoint(ckpt, path, self.signature(), params, int(self.state.epoch_length))

    def load_checkpoint_state(self, ckpt: Mapping[str, Any]) -> None:
        """Restore a :meth:`checkpoint_state` (after :meth:`check_checkpoint`)."""
        self.generator_raw.load_state_dict(ckpt["params"])
        self.optimizer_g.load_state_dict(ckpt["optimizer_g"])
        if self.ema is not None:
            if "params_ema" in ckpt:
                self.ema.module.load_state_dict(ckpt["params_ema"])
            else:
                self.ema.copy_from(self.generator_raw)
        if self.lr_scheduler_g is not None and "scheduler_g" in ckpt:
            _sched_load(self.lr_scheduler_g, ckpt["scheduler_g"])
        if self.scaler_g is not None and "scaler_g" in ckpt:
            self.scaler_g.load_state_dict(ckpt["scaler_g"])
        eng = ckpt["engine"]
        self.state.iteration = int(eng["iteration"])
        self.state.epoch = self.state.iteration // int(self.state.epoch_length)
        self.state.best_metric = float(eng["best_metric"])
        self.state.best_metric_epoch = int(eng["best_metric_epoch"])
        self.state.stale_evals = int(eng.get("stale_evals", 0))
        self._finished = bool(eng.get("finished", False))
        if int(eng.get("seed", self.seed)) != self.seed:
            logger.warning(
                "resume: checkpoint data seed %s differs from seed=%s; using the checkpoint's.",
                eng.get("seed"),
                self.seed,
            )
            self.seed = int(eng["seed"])
        rngs = ckpt["rng"]
        self._pending_rng = rngs[self.rank] if self.rank < len(rngs) else rngs[0]

    def load_generator_weights(
        self, source: str | os.PathLike | Mapping[str, Any], setting: str = "warm_start"
    ) -> None:
        """Initialise the generator (and the EMA shadow) from a file or state dict with
        :func:`~monai_srgan.networks.load_network_weights` (``params_ema`` preferred); with ``warm_start_partial``
        only the tensors whose names and shapes fit."""
        partial = self.warm_start_partial and setting == "warm_start"
        try:
            report = load_network_weights(self.generator_raw, source, strict=not partial)
        except CheckpointMismatchError as e:
            raise ConfigError(f"{setting}: {e}") from None
        if partial:
            if not report.loaded:
                raise ConfigError(f"{setting}: no tensor of {report.source} fits this generator (warm_start_partial)")
            left = sorted(report.missing + [k for k, _, _ in report.mismatched])
            logger.info("%s: %d generator tensors from %s; initialised: %s", self.stage, len(report.loaded),
                        report.source, left or "none")  # fmt: skip
        if self.ema is not None:
            self.ema.copy_from(self.generator_raw)

    def warm_start_from(self, other: Any) -> None:
        """Copy the generator of another (finished) trainer into this one (stage 1 → stage 2 in one process)."""
        state = {k: v.detach().clone() for k, v in other.eval_generator.state_dict().items()}
        self.load_generator_weights(state, setting="warm_start")

    def resume_path(self) -> str | None:
        """The checkpoint this run will continue from, or ``None``."""
        if isinstance(self.resume, (str, os.PathLike)) and not isinstance(self.resume, bool):
            return os.fspath(self.resume)
        if self.resume and self.files is not None:
            return self.files.latest()
        return None

    def save_checkpoint(self) -> str | None:
        """Write ``checkpoint_last.pt`` (rank 0; collective under DDP)."""
        if self.files is None:
            return None
        state = self.checkpoint_state()
        path = None
        if self.rank == 0:
            path = self.files.save_last(state, self.state.iteration)
            self._last_good_ckpt = (path, int(self.state.iteration))
        else:
            self._last_good_ckpt = (self.files.last_path, int(self.state.iteration))
        return path

    def export_state(self) -> dict[str, Any]:
        """BasicSR-style generator export ``{"params", "params_ema"?}`` plus what produced it."""
        out: dict[str, Any] = {"params": self.generator_raw.state_dict(), "signature": self.signature()}
        if self.ema is not None:
            out["params_ema"] = self.ema.module.state_dict()
        return out

    def prepare_run(self) -> None:
        """Resume or warm start; every check that can fail runs here, before any training step."""
        loader = self.data_loader
        if isinstance(loader, torch.utils.data.DataLoader) and loader.batch_size is not None:
            try:
                n_batches, n_items = len(loader), len(loader.dataset)
            except TypeError:
                n_batches = n_items = None
            if n_batches == 0:
                raise ConfigError(
                    f"batch_size: the training loader yields no batch ({n_items} sample(s) per process, batch_size "
                    f"{loader.batch_size}, drop_last={loader.drop_last}); add images, repeat them (several patches "
                    "per image) or lower batch_size."
                )
        path = self.resume_path()
        if path is not None:
            ckpt = load_checkpoint(path)
            self.check_checkpoint(ckpt, path)
            self.load_checkpoint_state(ckpt)
            self._last_good_ckpt = (path, int(self.state.iteration))
            logger.info("resumed %s from %s at iteration %d", self.stage, path, self.state.iteration)
        elif self.warm_start is not None:
            self.load_generator_weights(self.warm_start, setting="warm_start")
            logger.info("%s: generator warm-started from %s", self.stage, self.warm_start)
        elif self.files is not None and self.files.latest() is not None and not self.resume:
            logger.warning("resume=False: %s will be overwritten", self.files.latest())
