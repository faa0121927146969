"""Common machinery of the two SR training stages, on ``monai.engines.Trainer`` (an Ignite ``Engine``).

Both stages (:class:`~monai_srgan.engines.pretrain.SRPretrainer`, :class:`~monai_srgan.engines.srgan_trainer.
SRGANTrainer`) share: paired ``{"lr", "hr"}`` batches, mixed precision, gradient clipping, a NaN/Inf guard, an EMA
generator, per-epoch validation against bicubic with best-checkpoint saving, atomic checkpoints with exact resume,
TensorBoard, a progress bar, early stopping and DDP under torchrun. The two-stage recipe (content-loss pretraining,
then adversarial training) is that of SRGAN (Ledig et al. 2017) as used by papers 000 and 004 and by Real-ESRGAN
(paper 002: RealESRNet, then RealESRGAN).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from ignite.engine import Events
from monai.engines import Trainer
from monai.engines.utils import default_metric_cmp_fn
from monai.engines.workflow import Workflow

from monai_srgan.errors import ConfigError, TrainingInterrupted
from monai_srgan.utils.flags import as_flag

from .checks import check_finite, check_training_pair
from .distributed import distributed_device, get_rank, init_distributed, is_distributed, wrap_ddp
from .events import SREvents
from .handlers import (
    CheckpointHandler,
    EMAHandler,
    ProgressLog,
    SREarlyStopping,
    SRValidationHandler,
    TensorBoardHandler,
)
from .interrupt import QuietProjectErrors, StopOnSignal
from .resume import ResumableTrainerMixin
from .utils import (
    prefetch_batches,
    preserved_rng,
    resolve_amp,
    seed_dataloader_for_epoch,
    surface_input_errors,
    to_memory_format,
    to_plain_tensor,
    use_channels_last,
)
from .validation import SRValidator, _resolve_amp_dtype

__all__ = ["SRTrainerBase"]

logger = logging.getLogger("monai_srgan.engines")


class SRTrainerBase(QuietProjectErrors, ResumableTrainerMixin, Trainer):
    """Base class of the SR trainers; see the module docstring. Subclasses implement ``_iteration``.

    Args:
        device: ``"cpu"``, ``"cuda"`` (``cuda:LOCAL_RANK`` under torchrun) or a ``torch.device``.
        max_epochs: epochs to train (an epoch is ``epoch_length`` iterations).
        train_data_loader: loader of ``{"lr": (N, C, *s), "hr": (N, C, *scale·s)}`` batches; build it with
            :func:`monai_srgan.engines.make_dataloader` to get a ``DistributedSampler`` under torchrun.
        generator: the SR network ``G(lr) -> sr``.
        optimizer_g: optimizer over ``generator.parameters()``.
        epoch_length: iterations per epoch, default ``len(train_data_loader)``.
        lr_scheduler_g: scheduler stepped every iteration (BasicSR convention: milestones in iterations).
        amp: mixed precision; ``amp_dtype`` ``"bfloat16"`` (default on CPU) or ``"float16"`` (default on CUDA, with a
            ``GradScaler``). ``"auto"``: on CUDA, and on a CPU whose bf16 units make it faster
            (:func:`monai_srgan.utils.precision.fast_bf16`: about 2× per step where avx512_bf16/AMX exist); fp32 on
            other CPUs, where bf16 is emulated and many times slower.
        channels_last: NHWC memory layout for 2D generators, discriminators and batches (1.4× faster convolutions on
            CPU, tensor cores on GPU); ``"auto"`` (default) uses it for 2D networks, never for 3D.
        clip_grad_norm: max gradient norm (``None``: no clipping).
        nan_guard: stop with :class:`NonFiniteLossError` on a NaN/Inf loss or gradient, before the optimizer step.
        resume: ``True``: continue from ``ckpt_dir/checkpoint_last.pt`` when it exists; ``False``: start fresh; a
            path: continue from that checkpoint file.
        warm_start: path of a checkpoint/weight file whose generator weights (``params_ema`` preferred) initialise
            the generator when not resuming (stage 2 from stage 1; fine-tuning released Real-ESRGAN weights).
        warm_start_partial: load only the ``warm_start`` tensors whose names and shapes fit and keep the rest at
            their initialisation (another scale's model: its trunk starts a ×8 or ×16 network whose upsampler
            differs); the keys left out are logged. Default: every tensor must fit.
        log_interval: iterations between progress lines (and TensorBoard writes, unless its handler sets its own).
        progress_bar: show an Ignite ``ProgressBar`` (rank 0).
        seed: seed of the per-epoch data randomness (sampler, workers, MONAI random transforms).
        ddp: wrap the networks in ``DistributedDataParallel``; default: when a process group is up (torchrun).
        lr_key, hr_key: batch keys of the pair. ``target_key``: batch key of the content-loss target when it differs
            from ``hr_key`` (Real-ESRGAN trains L1/perceptual against the unsharp-masked truth).
        train_handlers: the stage's handlers (:mod:`monai_srgan.engines.handlers`: ``EMAHandler``,
            ``SRValidationHandler``, ``SREarlyStopping``, ``TensorBoardHandler``, ``CheckpointHandler``) and any
            MONAI/Ignite handler (``StatsHandler``, ``MLFlowHandler``, ...), attached in their ``order``; ``None``
            entries are skipped, so a config drops a handler by setting its id to ``null``.

        compile: train through ``torch.compile`` (TorchInductor; needs a C++ compiler on CPU): compiling takes
            tens of seconds at the start of a stage, then fused kernels speed up every step (docs/benchmarks.md).
        prefetch: batches a background thread prepares while the networks train (0: none). Data randomness comes
            from the transforms' own seeded generators, so batches and resume are the same with or without it.
        profile: accumulate wall time per phase in ``state.timings`` (data, g_forward, d_forward, losses,
            g_backward, d_backward); used by benchmarks/bench_training.py.
        metric_cmp_fn: ``(current, best) -> bool`` for the validator's key metric (higher is better by default).

    Shortcuts (each builds the handler named, for code that does not list handlers; giving both is an error):
    ``ema_decay`` → ``EMAHandler(ema_decay)`` (the EMA generator is then validated and exported);
    ``validator``, ``val_interval`` → ``SRValidationHandler``; ``early_stop_patience`` → ``SREarlyStopping``;
    ``tensorboard_dir`` → ``TensorBoardHandler``; ``ckpt_dir``, ``save_interval``, ``keep_last``, ``export_path`` →
    ``CheckpointHandler`` (``ckpt_dir`` ``None``: no checkpoints and no resume).
    """

    stage = "base"

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable,
        generator: torch.nn.Module,
        optimizer_g: torch.optim.Optimizer,
        epoch_length: int | None = None,
        lr_scheduler_g: Any | None = None,
        ema_decay: float | None = None,
        amp: bool | str = False,
        amp_dtype: str | torch.dtype | None = None,
        channels_last: bool | str = "auto",
        clip_grad_norm: float | None = None,
        nan_guard: bool = True,
        validator: SRValidator | None = None,
        val_interval: int = 1,
        ckpt_dir: str | os.PathLike | None = None,
        save_interval: int | None = None,
        keep_last: int = 0,
        resume: bool | str = True,
        warm_start: str | os.PathLike | None = None,
        warm_start_partial: bool = False,
        export_path: str | os.PathLike | None = None,
        tensorboard_dir: str | os.PathLike | None = None,
        log_interval: int = 10,
        progress_bar: bool = False,
        early_stop_patience: int | None = None,
        seed: int = 0,
        ddp: bool | None = None,
        lr_key: str = "lr",
        hr_key: str = "hr",
        target_key: str | None = None,
        train_handlers: Sequence | None = None,
        profile: bool = False,
        compile: bool = False,
        prefetch: int = 0,
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        non_blocking: bool = False,
    ) -> None:
        init_distributed()
        device = distributed_device(device)
        amp = resolve_amp(amp, device)
        super().__init__(
            device=device,
            max_epochs=int(max_epochs),
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            amp=bool(amp),
            decollate=False,
            metric_cmp_fn=metric_cmp_fn,
        )
        if self.state.epoch_length is None:
            raise ConfigError("epoch_length: the training loader has no length; set epoch_length explicitly.")
        if int(log_interval) < 1:
            raise ConfigError(f"log_interval must be >= 1, got {log_interval}.")
        self.ddp = is_distributed() if ddp is None else bool(ddp)
        self.channels_last = use_channels_last(channels_last, generator)
        self.generator_raw = to_memory_format(generator.to(self.state.device), self.channels_last)
        self.generator = wrap_ddp(self.generator_raw, self.state.device) if self.ddp else self.generator_raw
        self.compile = as_flag(compile, "compile")
        self.generator = self._compiled(self.generator)
        self.prefetch = int(prefetch)
        self.optimizer_g = optimizer_g
        self.lr_scheduler_g = lr_scheduler_g
        self.amp_dtype = _resolve_amp_dtype(amp_dtype, self.state.device) if amp else None
        self.scaler_g = self._make_scaler()
        self.clip_grad_norm = None if clip_grad_norm is None else float(clip_grad_norm)
        self.nan_guard = bool(nan_guard)
        self.resume = resume
        self.warm_start = None if warm_start is None else os.fspath(warm_start)
        self.warm_start_partial = bool(warm_start_partial)
        self.log_interval = int(log_interval)
        self.seed = int(seed)
        self.lr_key, self.hr_key = lr_key, hr_key
        self.target_key = target_key
        self.profile = bool(profile)
        self.rank = get_rank()
        # set by the handlers that own them (EMAHandler, SRValidationHandler, CheckpointHandler)
        self.ema: Any = None
        self.validator: SRValidator | None = None
        self.files: Any = None
        self.state.timings = defaultdict(float)
        self.state.val_history = []
        self.state.val_improved = False
        self.state.stale_evals = 0
        self._loader_restarts = 0
        self._pending_rng: dict[str, Any] | None = None
        self._checked_batch = False
        self._finished = False
        self._last_good_ckpt: tuple[str, int] | None = None
        self._quiet_logger()

        self.register_events(*SREvents)
        self.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
        self.add_event_handler(Events.COMPLETED, self._on_completed)
        if self.profile:
            self.add_event_handler(Events.GET_BATCH_STARTED, self._tic_data)
            self.add_event_handler(Events.GET_BATCH_COMPLETED, self._toc_data)
        if progress_bar and self.rank == 0:
            from ignite.handlers import ProgressBar

            ProgressBar(persist=True).attach(
                self, output_transform=lambda out: {k: v for k, v in out.items() if k.startswith("loss")}
            )
        if self.rank == 0:  # one line per log_interval (stage, losses, it/s); StatsHandler's per-iteration lines off
            ProgressLog(self.log_interval, logger).attach(self)
        handlers = list(train_handlers or ())
        shortcuts = {  # handler: (its shortcut argument(s), their value, how to build it)
            EMAHandler: ("ema_decay", ema_decay, lambda: EMAHandler(ema_decay)),
            SRValidationHandler: ("validator", validator, lambda: SRValidationHandler(validator, val_interval)),
            SREarlyStopping: ("early_stop_patience", early_stop_patience, lambda: SREarlyStopping(early_stop_patience)),
            TensorBoardHandler: ("tensorboard_dir", tensorboard_dir, lambda: TensorBoardHandler(tensorboard_dir)),
            CheckpointHandler: (
                "ckpt_dir/export_path",
                ckpt_dir or export_path,
                lambda: CheckpointHandler(ckpt_dir, save_interval, keep_last, export_path),
            ),
        }
        for kind, (argument, given, build) in shortcuts.items():
            listed = any(isinstance(h, kind) for h in handlers)
            given = given is not None and given is not False and given != ""
            if given and listed:
                raise ConfigError(
                    f"{kind.__name__} is listed in train_handlers and also requested by the trainer's {argument} "
                    f"argument; keep one of the two (set {argument} to None, or drop the listed handler)."
                )
            if given and not listed:
                handlers.append(build())
        for h in handlers:
            if type(h).__name__ == "StatsHandler" and getattr(h, "iteration_log", None) is True:
                h.iteration_log = False
        handlers = sorted((h for h in handlers if h is not None), key=lambda h: getattr(h, "order", 50))
        if handlers:
            self._register_handlers(handlers)
        self.stop_on_signal = StopOnSignal(self)  # Ctrl-C/SIGTERM: checkpoint of the last iteration, clean stop
        self.stop_on_signal.attach(self)

    # ------------------------------------------------------------------ helpers for subclasses
    def _compiled(self, network: torch.nn.Module) -> torch.nn.Module:
        """``torch.compile`` for the training forward/backward when ``compile`` is on (the raw network is what is
        validated, checkpointed and exported, so state-dict keys never change)."""
        return torch.compile(network, dynamic=False) if self.compile else network

    def _make_scaler(self) -> Any:
        if self.amp and self.state.device.type == "cuda" and self.amp_dtype == torch.float16:
            return torch.amp.GradScaler("cuda")
        return None

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.state.device.type, dtype=self.amp_dtype)

    @contextlib.contextmanager
    def _timed(self, name: str):
        if not self.profile:
            yield
            return
        if self.state.device.type == "cuda":
            torch.cuda.synchronize(self.state.device)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.state.device.type == "cuda":
                torch.cuda.synchronize(self.state.device)
            self.state.timings[name] += time.perf_counter() - t0

    def _tic_data(self, _engine: Any = None) -> None:
        self._t_data = time.perf_counter()

    def _toc_data(self, _engine: Any = None) -> None:
        self.state.timings["data"] += time.perf_counter() - getattr(self, "_t_data", time.perf_counter())

    def _prepare_pair(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(lr, hr, target)`` on the device as plain float tensors; checks the first batch of a run."""
        if not isinstance(batch, Mapping) or self.lr_key not in batch or self.hr_key not in batch:
            keys = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
            raise ConfigError(
                f"lr_key/hr_key: training batches must be dicts with '{self.lr_key}' and '{self.hr_key}', got {keys}."
            )
        dev, nb = self.state.device, self.non_blocking
        lr = self._layout(to_plain_tensor(batch[self.lr_key]).to(dev, non_blocking=nb).float())
        hr = self._layout(to_plain_tensor(batch[self.hr_key]).to(dev, non_blocking=nb).float())
        target = hr
        if self.target_key is not None:
            if self.target_key not in batch:
                raise ConfigError(f"target_key: batch has no key '{self.target_key}' (keys: {sorted(batch)}).")
            target = self._layout(to_plain_tensor(batch[self.target_key]).to(dev, non_blocking=nb).float())
        if not self._checked_batch:
            check_training_pair(self.generator_raw, lr, hr)
            self._checked_batch = True
        return lr, hr, target

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    def _guard(self, values: Mapping[str, torch.Tensor | float], what: str = "loss") -> None:
        if self.nan_guard and values:
            check_finite(values, what, self.state.iteration, self.state.epoch, self._last_good_ckpt)

    def _backward_step(
        self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: Any, model: torch.nn.Module, name: str
    ) -> None:
        """Backward, optional clipping, NaN-guarded gradient check, optimizer step."""
        params = [p for p in model.parameters() if p.grad is not None or p.requires_grad]
        if scaler is not None:
            scaler.scale(loss).backward()
            if self.clip_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
            scaler.step(optimizer)  # skips the step itself on inf/nan gradients (fp16 overflow)
            scaler.update()
            return
        loss.backward()
        if self.clip_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
            self._guard({f"grad_norm_{name}": norm}, what="gradient")
        elif self.nan_guard:
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
                self._guard({f"grad_norm_{name}": norm}, what="gradient")
        optimizer.step()

    def _after_g_step(self) -> None:
        self.fire_event(SREvents.GENERATOR_STEP_COMPLETED)
        if self.lr_scheduler_g is not None:
            self.lr_scheduler_g.step()

    @property
    def eval_generator(self) -> torch.nn.Module:
        """The generator used for validation and export: the EMA shadow when EMA is on."""
        return self.ema.module if self.ema is not None else self.generator_raw

    # ------------------------------------------------------------------ data seeding / exact resume
    def _setup_dataloader_iter(self) -> None:
        if self.state.dataloader is not None:
            seed_dataloader_for_epoch(
                self.state.dataloader, self.seed, self.state.epoch, self._loader_restarts, self.rank
            )
            self._loader_restarts += 1
        super()._setup_dataloader_iter()
        self._dataloader_iter = surface_input_errors(self._dataloader_iter)
        if self.prefetch > 0:
            self._dataloader_iter = prefetch_batches(self._dataloader_iter, self.prefetch)

    # ------------------------------------------------------------------ events
    def learning_rates(self) -> dict[str, float]:
        return {"g": float(self.optimizer_g.param_groups[0]["lr"])}

    def validate(self) -> dict[str, float]:
        """Run the validator on the evaluation generator without touching the training random streams."""
        if self.validator is None:
            return {}
        self.validator.network = self.eval_generator
        with preserved_rng():
            self.validator.run(self.state.epoch)
        return dict(self.validator.state.metrics)

    def finish_early(self) -> None:
        """End the stage after this epoch as finished (early stopping): a re-run does not continue it."""
        self._finished = True
        self.terminate()

    def _on_epoch_completed(self, _engine: Any = None) -> None:
        self.state.val_improved = False  # set by SRValidationHandler, which runs after this
        self._dataloader_iter = None  # every epoch starts from a freshly seeded iterator

    def _on_completed(self, _engine: Any = None) -> None:
        # finished = all iterations done or early-stopped; an external terminate() leaves the stage resumable
        self._finished = self._finished or self.state.iteration >= self.total_iterations

    # ------------------------------------------------------------------ run
    @property
    def total_iterations(self) -> int:
        return int(self.state.max_epochs) * int(self.state.epoch_length)

    def run(self) -> None:  # type: ignore[override]
        """Train (resuming when a checkpoint is found); returns at once if the stage already finished."""
        self.prepare_run()
        self._checked_batch = False
        if self._finished or self.state.iteration >= self.total_iterations:
            logger.info("%s already finished at iteration %d; nothing to do", self.stage, self.state.iteration)
            self._finished = True
            return
        stop = self.stop_on_signal
        with stop.installed():
            try:
                Workflow.run(self)
            except KeyboardInterrupt as e:
                if isinstance(e, TrainingInterrupted):
                    raise
                raise stop.error(at_once=True) from e
        if stop.received is not None:  # stopped before the next batch (or the stage finished meanwhile)
            raise stop.error(finished=self._finished)
