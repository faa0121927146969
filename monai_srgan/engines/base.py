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
import math
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from monai.engines import Trainer
from monai.engines.utils import default_metric_cmp_fn
from monai.engines.workflow import Workflow

from monai_srgan.errors import ConfigError, project_error
from monai_srgan.networks.export import unwrap_model

from .distributed import distributed_device, get_rank, get_world_size, init_distributed, is_distributed, wrap_ddp
from .ema import ModelEMA
from .handlers import (
    CKPT_FORMAT,
    CheckpointFiles,
    ProgressLog,
    TensorBoardLogger,
    generator_state_from_checkpoint,
    load_checkpoint,
    make_image_grid,
)
from .utils import (
    get_rng_state,
    preserved_rng,
    resolve_amp,
    seed_dataloader_for_epoch,
    set_rng_state,
    to_memory_format,
    to_plain_tensor,
    use_channels_last,
)
from .validation import SRValidator, _resolve_amp_dtype

__all__ = ["SRTrainerBase", "NonFiniteLossError"]

logger = logging.getLogger("monai_srgan.engines")


class NonFiniteLossError(RuntimeError):
    """Training stopped because a loss or gradient became NaN/Inf; the last good checkpoint is untouched."""


def _shape_table(state: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}


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


def _surface_input_errors(it: Iterator) -> Iterator:
    """Iterate ``it``; a bad-input error raised inside a transform surfaces as itself, not as MONAI's wrapper."""
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except Exception as e:
            root = project_error(e)
            if root is not None and root is not e:
                raise root from None
            raise
        yield batch


class SRTrainerBase(Trainer):
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
        ema_decay: EMA decay of the generator weights (0.999 in Real-ESRGAN); ``None`` disables EMA. With EMA, the
            EMA generator is validated and exported.
        amp: mixed precision; ``amp_dtype`` ``"bfloat16"`` (default on CPU) or ``"float16"`` (default on CUDA, with a
            ``GradScaler``). ``"auto"``: on CUDA, and on a CPU whose bf16 units make it faster
            (:func:`monai_srgan.utils.precision.fast_bf16`: about 2× per step where avx512_bf16/AMX exist); fp32 on
            other CPUs, where bf16 is emulated and many times slower.
        channels_last: NHWC memory layout for 2D generators, discriminators and batches (1.4× faster convolutions on
            CPU, tensor cores on GPU); ``"auto"`` (default) uses it for 2D networks, never for 3D.
        clip_grad_norm: max gradient norm (``None``: no clipping).
        nan_guard: stop with :class:`NonFiniteLossError` on a NaN/Inf loss or gradient, before the optimizer step.
        validator: an :class:`SRValidator`; runs every ``val_interval`` epochs.
        ckpt_dir: folder for checkpoints (``None``: no checkpoints, no resume).
        save_interval: also save ``checkpoint_last.pt`` every this many iterations (always at epoch end).
        keep_last: numbered checkpoint copies to keep (0: only ``checkpoint_last.pt``).
        resume: ``True``: continue from ``ckpt_dir/checkpoint_last.pt`` when it exists; ``False``: start fresh; a
            path: continue from that checkpoint file.
        warm_start: path of a checkpoint/weight file whose generator weights (``params_ema`` preferred) initialise
            the generator when not resuming (stage 2 from stage 1; fine-tuning released Real-ESRGAN weights).
        warm_start_partial: load only the ``warm_start`` tensors whose names and shapes fit and keep the rest at
            their initialisation (another scale's model: its trunk starts a ×8 or ×16 network whose upsampler
            differs); the keys left out are logged. Default: every tensor must fit.
        export_path: where to write the final ``{"params", "params_ema"}`` file (default ``ckpt_dir/model.pt``).
        tensorboard_dir: TensorBoard event folder (``None``: no TensorBoard).
        log_interval: iterations between TensorBoard scalar writes.
        progress_bar: show an Ignite ``ProgressBar`` (rank 0).
        early_stop_patience: stop after this many validations without improvement of the key metric.
        seed: seed of the per-epoch data randomness (sampler, workers, MONAI random transforms).
        ddp: wrap the networks in ``DistributedDataParallel``; default: when a process group is up (torchrun).
        lr_key, hr_key: batch keys of the pair. ``target_key``: batch key of the content-loss target when it differs
            from ``hr_key`` (Real-ESRGAN trains L1/perceptual against the unsharp-masked truth).
        train_handlers: extra MONAI/Ignite handlers (``StatsHandler``, ``MLFlowHandler``, ...).
        profile: accumulate wall time per phase in ``state.timings`` (data, g_forward, d_forward, losses,
            g_backward, d_backward); used by benchmarks/bench_training.py.
        metric_cmp_fn: ``(current, best) -> bool`` for the validator's key metric (higher is better by default).
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
        for name, value in (("val_interval", val_interval), ("log_interval", log_interval)):
            if int(value) < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}.")
        self.ddp = is_distributed() if ddp is None else bool(ddp)
        self.channels_last = use_channels_last(channels_last, generator)
        self.generator_raw = to_memory_format(generator.to(self.state.device), self.channels_last)
        self.generator = wrap_ddp(self.generator_raw, self.state.device) if self.ddp else self.generator_raw
        self.optimizer_g = optimizer_g
        self.lr_scheduler_g = lr_scheduler_g
        self.ema = ModelEMA(self.generator_raw, ema_decay) if ema_decay is not None else None
        self.amp_dtype = _resolve_amp_dtype(amp_dtype, self.state.device) if amp else None
        self.scaler_g = self._make_scaler()
        self.clip_grad_norm = None if clip_grad_norm is None else float(clip_grad_norm)
        self.nan_guard = bool(nan_guard)
        self.validator = validator
        self.val_interval = int(val_interval)
        self.files = CheckpointFiles(ckpt_dir, keep_last) if ckpt_dir is not None else None
        self.save_interval = None if not save_interval else int(save_interval)
        self.resume = resume
        self.warm_start = None if warm_start is None else os.fspath(warm_start)
        self.warm_start_partial = bool(warm_start_partial)
        self.export_path = None if export_path is None else os.fspath(export_path)
        self.tb = TensorBoardLogger(tensorboard_dir, enabled=get_rank() == 0) if tensorboard_dir else None
        self.log_interval = int(log_interval)
        self.early_stop_patience = early_stop_patience
        self.seed = int(seed)
        self.lr_key, self.hr_key = lr_key, hr_key
        self.target_key = target_key
        self.profile = bool(profile)
        self.state.timings = defaultdict(float)
        self.state.val_history = []
        self._rank = get_rank()
        self._loader_restarts = 0
        self._pending_rng: dict[str, Any] | None = None
        self._checked_batch = False
        self._finished = False
        self._stale_evals = 0
        self._last_good_ckpt: tuple[str, int] | None = None

        self.add_event_handler(Events.ITERATION_COMPLETED, self._on_iteration_completed)
        self.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
        self.add_event_handler(Events.COMPLETED, self._on_completed)
        if self.profile:
            self.add_event_handler(Events.GET_BATCH_STARTED, self._tic_data)
            self.add_event_handler(Events.GET_BATCH_COMPLETED, self._toc_data)
        if progress_bar and self._rank == 0:
            from ignite.handlers import ProgressBar

            ProgressBar(persist=True).attach(
                self, output_transform=lambda out: {k: v for k, v in out.items() if k.startswith("loss")}
            )
        if self._rank == 0:  # one line per log_interval (stage, losses, it/s); StatsHandler's per-iteration lines off
            ProgressLog(self.log_interval, logger).attach(self)
        for h in train_handlers or ():
            if type(h).__name__ == "StatsHandler" and getattr(h, "iteration_log", None) is True:
                h.iteration_log = False
        if train_handlers:
            self._register_handlers(train_handlers)

    # ------------------------------------------------------------------ helpers for subclasses
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
            self._check_pair(lr, hr)
            self._checked_batch = True
        return lr, hr, target

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    def _check_pair(self, lr: torch.Tensor, hr: torch.Tensor) -> None:
        if lr.ndim not in (4, 5) or hr.ndim != lr.ndim:
            raise ConfigError(
                f"training pairs must be (N, C, H, W) or (N, C, H, W, D) batches, got lr {tuple(lr.shape)} and "
                f"hr {tuple(hr.shape)}; check the dataset transforms."
            )
        g = self.generator_raw
        g_dims = getattr(g, "spatial_dims", None)
        if g_dims is not None and int(g_dims) != lr.ndim - 2:
            data = "3D volumes (N, C, H, W, D)" if lr.ndim == 5 else "2D images (N, C, H, W)"
            raise ConfigError(
                f"the training data are {data} but the generator is {g_dims}D (spatial_dims={g_dims}): "
                + (
                    "use a 3D bundle (bundles/ct_mr_sr_3d) or set the networks' spatial_dims to 3 for volumes."
                    if lr.ndim == 5
                    else "a 3D model trains on volumes (NIfTI, DICOM series); use a 2D bundle for 2D images."
                )
            )
        in_ch = getattr(g, "in_channels", None)
        if in_ch is not None and lr.shape[1] != in_ch:
            raise ConfigError(
                f"the generator expects {in_ch} input channel(s) but training images have {lr.shape[1]}; set the "
                "generator's in_channels/out_channels to the data (3 for RGB fundus, 1 for X-ray)."
            )
        scale = getattr(g, "scale", None)
        if scale is not None:
            scales = list(scale) if isinstance(scale, (tuple, list)) else [scale] * (lr.ndim - 2)
            want = [int(round(s * n)) for s, n in zip(scales, lr.shape[2:])]
            if list(hr.shape[2:]) != want:
                raise ConfigError(
                    f"scale: HR patches {tuple(hr.shape[2:])} are not scale {scale} × LR patches "
                    f"{tuple(lr.shape[2:])}; the generator and the degradation must use the same scale."
                )

    def _guard(self, values: Mapping[str, torch.Tensor | float], what: str = "loss") -> None:
        if not self.nan_guard or not values:
            return
        vals = [torch.as_tensor(v, dtype=torch.float32).reshape(()) for v in values.values()]
        if bool(torch.isfinite(torch.stack([v.to(vals[0].device) for v in vals])).all()):  # one sync
            return
        bad = {k: float(v) for k, v in values.items() if not math.isfinite(float(v))}
        if bad:
            last = self._last_good_ckpt
            where = (
                f"The last good checkpoint, {last[0]} (iteration {last[1]}), is intact; resume from it after the fix."
                if last
                else "No checkpoint was written before the failure."
            )
            raise NonFiniteLossError(
                f"Non-finite {what} at iteration {self.state.iteration} (epoch {self.state.epoch}): {bad}. Training "
                f"stopped before the optimizer step. {where} Try a lower learning rate, clip_grad_norm, amp=False "
                "(or amp_dtype='bfloat16'), or check the data normalisation."
            )

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
        if self.ema is not None:
            self.ema.update(self.generator_raw)
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
                self.state.dataloader, self.seed, self.state.epoch, self._loader_restarts, self._rank
            )
            self._loader_restarts += 1
        super()._setup_dataloader_iter()
        self._dataloader_iter = _surface_input_errors(self._dataloader_iter)

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

    # ------------------------------------------------------------------ checkpoint content
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
                "stale_evals": int(self._stale_evals),
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
        if ckpt.get("format") != CKPT_FORMAT:
            raise ConfigError(
                f"resume: {path} is not a monai_srgan training checkpoint (a weight file?); pass weight files as "
                "warm_start, or point ckpt_dir at an empty folder."
            )
        sig, mine = ckpt.get("signature", {}), self.signature()
        if sig.get("stage") != mine["stage"]:
            raise ConfigError(
                f"resume: {path} is a '{sig.get('stage')}' checkpoint but this trainer is '{mine['stage']}'; give each "
                "stage its own ckpt_dir, and pass a stage-1 checkpoint to stage 2 as warm_start."
            )
        for key in ("generator", "scale"):
            if sig.get(key) != mine[key]:
                raise ConfigError(_rerun_message(path, f"{key}={sig.get(key)!r}", f"{key}={mine[key]!r}"))
        try:
            self._check_shapes(ckpt["params"], self.generator_raw.state_dict(), path, "generator", "resume")
        except ConfigError as e:
            raise ConfigError(_rerun_message(path, "another generator shape", str(e).splitlines()[0][:200])) from e
        eng = ckpt["engine"]
        if int(eng["epoch_length"]) != int(self.state.epoch_length):
            raise ConfigError(
                _rerun_message(
                    path, f"epoch_length={eng['epoch_length']}", f"epoch_length={self.state.epoch_length} (batch "
                    "size, dataset or --epoch_length changed)"
                )
            )  # fmt: skip
        n_rng = len(ckpt.get("rng", []))
        if n_rng != get_world_size():
            raise ConfigError(
                f"resume: {path} was written by {n_rng} process(es) but {get_world_size()} are running; resume with "
                "the same torchrun --nproc_per_node."
            )

    @staticmethod
    def _check_shapes(saved: Mapping[str, Any], current: Mapping[str, Any], path: str, what: str, setting: str) -> None:
        a, b = _shape_table(saved), _shape_table(current)
        missing, unexpected = sorted(set(b) - set(a)), sorted(set(a) - set(b))
        wrong = [(k, a[k], b[k]) for k in sorted(set(a) & set(b)) if a[k] != b[k]]
        if missing or unexpected or wrong:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
            if wrong:
                k, s1, s2 = wrong[0]
                parts.append(f"{len(wrong)} shape mismatch(es), e.g. {k}: checkpoint {s1} vs model {s2}")
            raise ConfigError(
                f"{setting}: the {what} weights in {path} do not fit this {what} ({'; '.join(parts)}): the checkpoint "
                "comes from another architecture, width, channel count or scale."
            )

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
        self._stale_evals = int(eng.get("stale_evals", 0))
        self._finished = bool(eng.get("finished", False))
        if int(eng.get("seed", self.seed)) != self.seed:
            logger.warning(
                "resume: checkpoint data seed %s differs from seed=%s; using the checkpoint's.",
                eng.get("seed"),
                self.seed,
            )
            self.seed = int(eng["seed"])
        rngs = ckpt["rng"]
        self._pending_rng = rngs[self._rank] if self._rank < len(rngs) else rngs[0]

    def load_generator_weights(
        self, source: str | os.PathLike | Mapping[str, Any], setting: str = "warm_start"
    ) -> None:
        """Initialise the generator (and the EMA shadow) from a file or state dict, ``params_ema`` preferred."""
        path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "<state dict>"
        ckpt = load_checkpoint(path) if isinstance(source, (str, os.PathLike)) else source
        try:
            state = generator_state_from_checkpoint(ckpt)
        except KeyError as e:
            raise ConfigError(f"{setting}: {path}: {e}") from None
        own = self.generator_raw.state_dict()
        if self.warm_start_partial and setting == "warm_start":
            fits = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
            if not fits:
                raise ConfigError(f"{setting}: no tensor of {path} fits this generator (warm_start_partial)")
            left = sorted(set(own) - set(fits))
            logger.info("%s: %d of %d generator tensors from %s; initialised: %s", self.stage, len(fits), len(own),
                        path, left or "none")  # fmt: skip
            state = {**own, **fits}
        self._check_shapes(state, own, path, "generator", setting)
        self.generator_raw.load_state_dict(state)
        if self.ema is not None:
            self.ema.copy_from(self.generator_raw)

    def warm_start_from(self, other: SRTrainerBase) -> None:
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
        if self._rank == 0:
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

    # ------------------------------------------------------------------ events
    def _on_iteration_completed(self, _engine: Any = None) -> None:
        it = self.state.iteration
        if self.tb is not None and it % self.log_interval == 0:
            out = self.state.output if isinstance(self.state.output, Mapping) else {}
            self.tb.scalars(out, it, prefix="train/")
            self.tb.scalars(self.learning_rates(), it, prefix="lr/")
        end_of_epoch = it % int(self.state.epoch_length) == 0
        if self.save_interval and it % self.save_interval == 0 and not end_of_epoch:
            self.save_checkpoint()

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

    def _on_epoch_completed(self, _engine: Any = None) -> None:
        improved, stop = False, False
        if self.validator is not None and self.state.epoch % self.val_interval == 0:
            metrics = self.validate()
            key = self.validator.key_metric
            if key not in metrics:
                raise ConfigError(f"key_metric: validator produced no '{key}' (has {sorted(metrics)}).")
            current = metrics[key]
            if self.state.best_metric_epoch < 0 or self.metric_cmp_fn(current, self.state.best_metric):
                self.state.best_metric, self.state.best_metric_epoch = float(current), int(self.state.epoch)
                improved, self._stale_evals = True, 0
            else:
                self._stale_evals += 1
            self.state.val_history.append({"epoch": int(self.state.epoch), **metrics})
            logger.info("epoch %d validation: %s", self.state.epoch, {k: round(v, 4) for k, v in metrics.items()})
            if self.tb is not None:
                self.tb.scalars(metrics, self.state.iteration, prefix="val/")
                samples = getattr(self.validator.state, "sample_images", [])
                if samples:
                    grid = make_image_grid(samples, self.validator.data_range, self.validator.value_min)
                    self.tb.image("val/bicubic|SR|HR|abs_err", grid, self.state.iteration)
                self.tb.flush()
            if self.early_stop_patience is not None and self._stale_evals >= int(self.early_stop_patience):
                stop = True
                self._finished = True
                logger.info("early stopping: no improvement of %s in %d validations", key, self._stale_evals)
        if self.files is not None:
            self.save_checkpoint()
            if improved and self._rank == 0:
                best = self.export_state()
                best.update({"metrics": dict(self.state.val_history[-1]), "iteration": int(self.state.iteration)})
                self.files.save_best(best)
        self._dataloader_iter = None  # every epoch starts from a freshly seeded iterator
        if stop:
            self.terminate()

    def _on_completed(self, _engine: Any = None) -> None:
        # finished = all iterations done or early-stopped; an external terminate() leaves the stage resumable
        self._finished = self._finished or self.state.iteration >= self.total_iterations
        if self.files is not None:
            self.save_checkpoint()
            if self._rank == 0:
                self.files.save_export(self.export_state(), self.export_path)
        elif self.export_path is not None and self._rank == 0:
            from .utils import atomic_torch_save

            atomic_torch_save(self.export_state(), self.export_path)
        if self.tb is not None:
            self.tb.flush()

    # ------------------------------------------------------------------ run
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
        Workflow.run(self)
        if self.tb is not None:
            self.tb.close()


def _rerun_message(path: str, was: str, now: str) -> str:
    """One line for a re-run into a folder that holds a run with other settings, naming the folder and the choices."""
    run_dir = Path(path).parent
    return (
        f"'{run_dir}' holds an earlier training run ({was}) that this run ({now}) cannot resume: pass a new "
        f"--output_dir for this run, or re-run the earlier command unchanged to resume it, or delete '{run_dir}' "
        "(or set the trainer's resume=False) to start over."
    )
