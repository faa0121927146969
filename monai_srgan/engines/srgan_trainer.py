"""Stage 2: adversarial SR training on ``monai.engines.Trainer`` with paired batches (real = HR, fake = G(LR)).

MONAI's ``GanTrainer`` draws latent codes and ``AdversarialTrainer`` feeds the input as "real"; paired SR needs
this trainer (docs/architecture.md). One iteration follows SRGAN (Ledig et al. 2017, eq. 2-3, alternating D and G
updates) with the options the seed papers need:

- generator loss: any ``monai_srgan.losses.GeneratorLoss`` (content, perceptual, fusion, saliency, adversarial terms;
  paper 000 content + adversarial, 001 fusion loss with relativistic GAN, 002 L1 + perceptual + 0.1 GAN,
  003 saliency-weighted MSE + VGG-16 + saliency + 0.01 adversarial, 004 MSE + VGG + adversarial);
- discriminator loss: ``AdversarialLoss.discriminator_loss(real_logits, fake_logits)`` (vanilla, LSGAN, WGAN-GP-free
  hinge, relativistic average);
- ``step_order`` ``"g_first"`` (BasicSR/Real-ESRGAN) or ``"d_first"`` (SRGAN/pix2pix), ``d_steps`` D updates per G
  update, ``d_init_iters`` D-only iterations at the start;
- EMA generator (Real-ESRGAN, decay 0.999), AMP, gradient clipping, NaN guard, Real-ESRGAN training-pair pool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from monai_srgan.errors import ConfigError

from .base import SRTrainerBase
from .checks import rerun_message, shape_mismatch
from .distributed import wrap_ddp
from .handlers import EMAHandler
from .resume import _sched_load
from .utils import set_requires_grad, to_memory_format, to_plain_tensor

__all__ = ["SRGANTrainer", "PairPool"]


class PairPool(torch.nn.Module):
    """Real-ESRGAN's training-pair pool (``RealESRGANModel._dequeue_and_enqueue``, paper 002 code base).

    Batches from one image tend to look alike after on-the-fly degradation; the pool keeps ``pool_size`` pairs and,
    once full, returns a random batch from it while storing the current one, which decorrelates batches.
    The pool is part of the checkpoint (a resumed run continues with the same pool).

    Args:
        pool_size: number of pairs kept; must be a multiple of the batch size (Real-ESRGAN: 180 for batch 12).
    """

    def __init__(self, pool_size: int) -> None:
        super().__init__()
        if int(pool_size) < 1:
            raise ConfigError(f"pool_size must be >= 1, got {pool_size}.")
        self.pool_size = int(pool_size)
        self.queues: list[torch.Tensor] = []
        self.ptr = 0

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b = tensors[0].shape[0]
        if self.pool_size % b != 0:
            raise ConfigError(f"pool_size ({self.pool_size}) must be a multiple of the batch size ({b}).")
        if not self.queues:
            self.queues = [torch.zeros((self.pool_size, *t.shape[1:]), dtype=t.dtype, device=t.device) for t in tensors]
            self.ptr = 0
        if self.ptr == self.pool_size:
            idx = torch.randperm(self.pool_size)
            self.queues = [q[idx.to(q.device)] for q in self.queues]
            out = tuple(q[:b].clone() for q in self.queues)
            for q, t in zip(self.queues, tensors):
                q[:b] = t.detach()
            return out
        for q, t in zip(self.queues, tensors):
            q[self.ptr : self.ptr + b] = t.detach()
        self.ptr += b
        return tuple(tensors)

    def pool_state(self) -> dict[str, Any]:
        return {"ptr": int(self.ptr), "queues": [q.detach().cpu() for q in self.queues]}

    def load_pool_state(self, state: Mapping[str, Any], device: torch.device) -> None:
        self.ptr = int(state["ptr"])
        self.queues = [q.to(device) for q in state["queues"]]


def _d_loss(adversarial_loss: Any, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    fn = getattr(adversarial_loss, "discriminator_loss", None)
    out = fn(real_logits, fake_logits) if fn is not None else adversarial_loss(real_logits, fake_logits)
    if isinstance(out, tuple):
        out = out[0]
    return out


class SRGANTrainer(SRTrainerBase):
    """Stage-2 trainer: paired adversarial SR training (real = HR, fake = G(LR)).

    Args:
        discriminator: ``D(img) -> logits`` (``(N, 1)`` or per-pixel ``(N, 1, *s)``), no sigmoid.
        optimizer_d: optimizer over ``discriminator.parameters()``.
        generator_loss: ``GeneratorLoss``-like ``(sr, hr, fake_logits=, real_logits=) -> (total, terms)``; when its
            ``needs_ema_sr`` is True it also gets ``sr_ema=``, the EMA generator's SR of the batch (the LDL artifact
            loss, :class:`~monai_srgan.losses.ArtifactMapLoss`).
        adversarial_loss: ``AdversarialLoss`` whose ``discriminator_loss(real_logits, fake_logits)`` trains D
            (the adversarial weight applies to G only, Real-ESRGAN convention).
        lr_scheduler_d: D scheduler, stepped every iteration.
        d_steps: D updates per G update (SRGAN: 1).
        step_order: ``"g_first"`` (BasicSR/Real-ESRGAN: G step, then D step on the same fake batch) or
            ``"d_first"`` (SRGAN: D step on a fresh fake batch, then G step against the updated D).
        d_init_iters: iterations at the start that update only D (BasicSR ``net_d_init_iters``).
        g_needs_real_logits: pass ``D(hr)`` to the generator loss (relativistic GANs, paper 001); default: when
            ``adversarial_loss.gan_type`` contains "relativ"/"ragan", or any loss term declares
            ``needs_real_logits = True``.
        real_key: batch key of the image shown to D as real (default ``hr_key``; Real-ESRGAN shows D the
            unsharpened truth while L1/perceptual use ``target_key``).
        pool_size: Real-ESRGAN training-pair pool size (``None``/0: off).
        ema_decay: ``"auto"``: 0.999 (Real-ESRGAN) unless ``train_handlers`` holds an ``EMAHandler``; ``None``: no
            EMA.
        **kwargs: everything of :class:`~monai_srgan.engines.base.SRTrainerBase`; ``warm_start`` loads stage-1
            weights.

    ``state.output`` per iteration: ``loss_g``, each weighted generator term, ``loss_d``, ``d_real``/``d_fake``
    (mean D logits on real/fake).
    """

    stage = "gan"

    def __init__(
        self,
        *args: Any,
        discriminator: torch.nn.Module,
        optimizer_d: torch.optim.Optimizer,
        generator_loss: Callable,
        adversarial_loss: Any,
        lr_scheduler_d: Any | None = None,
        d_steps: int = 1,
        step_order: str = "g_first",
        d_init_iters: int = 0,
        g_needs_real_logits: bool | None = None,
        real_key: str | None = None,
        pool_size: int | None = None,
        ema_decay: float | None | str = "auto",
        **kwargs: Any,
    ) -> None:
        if ema_decay == "auto":  # Real-ESRGAN's 0.999 unless the handlers list their own EMAHandler
            ema_decay = None if any(isinstance(h, EMAHandler) for h in kwargs.get("train_handlers") or ()) else 0.999
        super().__init__(*args, ema_decay=ema_decay, **kwargs)
        if step_order not in ("g_first", "d_first"):
            raise ConfigError(f"step_order must be 'g_first' or 'd_first', got {step_order!r}.")
        if int(d_steps) < 1:
            raise ConfigError(f"d_steps must be >= 1, got {d_steps}.")
        self.discriminator_raw = to_memory_format(discriminator.to(self.state.device), self.channels_last)
        self.discriminator = wrap_ddp(self.discriminator_raw, self.state.device) if self.ddp else self.discriminator_raw
        self.discriminator = self._compiled(self.discriminator)
        self.optimizer_d = optimizer_d
        self.lr_scheduler_d = lr_scheduler_d
        self.generator_loss = generator_loss.to(self.state.device) if hasattr(generator_loss, "to") else generator_loss
        self.adversarial_loss = adversarial_loss
        self.d_steps = int(d_steps)
        self.step_order = step_order
        self.d_init_iters = int(d_init_iters)
        self.real_key = real_key
        self.pool = PairPool(pool_size) if pool_size else None
        self.scaler_d = self._make_scaler()
        if g_needs_real_logits is None:
            mods = [adversarial_loss] + (
                list(generator_loss.modules()) if isinstance(generator_loss, torch.nn.Module) else []
            )
            g_needs_real_logits = any(
                getattr(m, "needs_real_logits", False)
                or any(t in str(getattr(m, "gan_type", "")).lower() for t in ("ragan", "relativ"))
                for m in mods
            )
        self.g_needs_logits = bool(getattr(generator_loss, "needs_logits", True))
        self.g_needs_ema_sr = bool(getattr(generator_loss, "needs_ema_sr", False))
        self.g_needs_real_logits = bool(g_needs_real_logits)

    # ------------------------------------------------------------------ one iteration
    def _g_step(
        self, lr: torch.Tensor, target: torch.Tensor, real: torch.Tensor, sr: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        d = self.discriminator_raw  # D is frozen here: no DDP hooks, no D gradients
        set_requires_grad(d, False)
        try:
            self.optimizer_g.zero_grad(set_to_none=True)
            with self._autocast():
                if sr is None:
                    with self._timed("g_forward"):
                        sr = self.generator(lr)
                fake_logits = real_logits = None
                if self.g_needs_logits:
                    with self._timed("d_forward"):
                        fake_logits = d(sr).float()
                        real_logits = d(real).detach().float() if self.g_needs_real_logits else None
                extra = {}
                if self.g_needs_ema_sr:  # LDL's artifact map compares with the EMA generator's SR of this batch
                    with torch.no_grad(), self._timed("g_forward"):
                        extra["sr_ema"] = self.eval_generator(lr).float()
                with self._timed("losses"):
                    total, terms = self.generator_loss(
                        sr.float(), target, fake_logits=fake_logits, real_logits=real_logits, **extra
                    )
            self._guard({"loss_g": total.detach(), **{k: v.detach() for k, v in terms.items()}})
            with self._timed("g_backward"):
                self._backward_step(total, self.optimizer_g, self.scaler_g, self.generator, "g")
        finally:
            set_requires_grad(d, True)
        self._after_g_step()
        out = {"loss_g": float(total.detach())}
        out.update({k: float(v.detach()) for k, v in terms.items()})
        return sr, out

    def _d_step(self, fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
        out: dict[str, float] = {}
        for _ in range(self.d_steps):
            self.optimizer_d.zero_grad(set_to_none=True)
            with self._autocast():
                with self._timed("d_forward"):
                    real_logits = self.discriminator(real)
                    fake_logits = self.discriminator(fake)
                with self._timed("losses"):
                    loss_d = _d_loss(self.adversarial_loss, real_logits.float(), fake_logits.float())
            self._guard({"loss_d": loss_d.detach()})
            with self._timed("d_backward"):
                self._backward_step(loss_d, self.optimizer_d, self.scaler_d, self.discriminator, "d")
            out = {
                "loss_d": float(loss_d.detach()),
                "d_real": float(real_logits.detach().float().mean()),
                "d_fake": float(fake_logits.detach().float().mean()),
            }
        if self.lr_scheduler_d is not None:
            self.lr_scheduler_d.step()
        return out

    def _iteration(self, engine: Any, batchdata: Mapping[str, Any]) -> dict[str, float]:
        lr, hr, target = self._prepare_pair(batchdata)
        real = hr
        if self.real_key is not None:
            if self.real_key not in batchdata:
                raise ConfigError(f"real_key: batch has no key '{self.real_key}' (keys: {sorted(batchdata)}).")
            real = to_plain_tensor(batchdata[self.real_key]).to(self.state.device).float()
        if self.pool is not None:
            same_t, same_r = target is hr, real is hr
            items = [lr, hr] + ([] if same_t else [target]) + ([] if same_r else [real])
            pooled = list(self.pool(*items))
            lr, hr, rest = pooled[0], pooled[1], pooled[2:]
            target = hr if same_t else rest.pop(0)
            real = hr if same_r else rest.pop(0)
        self.generator.train()
        self.discriminator.train()
        out: dict[str, float] = {}
        d_only = self.state.iteration <= self.d_init_iters
        if d_only:
            with torch.no_grad(), self._autocast(), self._timed("g_forward"):
                sr = self.generator(lr)
            out.update(self._d_step(sr.detach(), real))
            return out
        if self.step_order == "g_first":
            sr, g_out = self._g_step(lr, target, real, None)
            out.update(g_out)
            out.update(self._d_step(sr.detach(), real))
        else:
            with self._autocast(), self._timed("g_forward"):
                sr = self.generator(lr)
            out.update(self._d_step(sr.detach(), real))
            _, g_out = self._g_step(lr, target, real, sr)
            out.update(g_out)
        return out

    # ------------------------------------------------------------------ checkpoint content
    def signature(self) -> dict[str, Any]:
        sig = super().signature()
        sig["discriminator"] = type(self.discriminator_raw).__name__
        return sig

    def checkpoint_state(self) -> dict[str, Any]:
        state = super().checkpoint_state()
        state["net_d"] = self.discriminator_raw.state_dict()
        state["optimizer_d"] = self.optimizer_d.state_dict()
        if self.lr_scheduler_d is not None:
            state["scheduler_d"] = self.lr_scheduler_d.state_dict()
        if self.scaler_d is not None:
            state["scaler_d"] = self.scaler_d.state_dict()
        if self.pool is not None:
            state["pool"] = self.pool.pool_state()
        return state

    def check_checkpoint(self, ckpt: Mapping[str, Any], path: str) -> None:
        super().check_checkpoint(ckpt, path)
        if ckpt.get("signature", {}).get("discriminator") != type(self.discriminator_raw).__name__:
            raise ConfigError(
                f"resume: {path} was written with discriminator {ckpt['signature'].get('discriminator')!r} but this "
                f"configuration has {type(self.discriminator_raw).__name__!r}; use another ckpt_dir or resume=False."
            )
        diff = shape_mismatch(ckpt["net_d"], self.discriminator_raw.state_dict())
        if diff:
            raise ConfigError(rerun_message(path, "another discriminator shape", f"the discriminator differs: {diff}"))

    def load_checkpoint_state(self, ckpt: Mapping[str, Any]) -> None:
        super().load_checkpoint_state(ckpt)
        self.discriminator_raw.load_state_dict(ckpt["net_d"])
        self.optimizer_d.load_state_dict(ckpt["optimizer_d"])
        if self.lr_scheduler_d is not None and "scheduler_d" in ckpt:
            _sched_load(self.lr_scheduler_d, ckpt["scheduler_d"])
        if self.scaler_d is not None and "scaler_d" in ckpt:
            self.scaler_d.load_state_dict(ckpt["scaler_d"])
        if self.pool is not None and "pool" in ckpt:
            self.pool.load_pool_state(ckpt["pool"], self.state.device)

    def learning_rates(self) -> dict[str, float]:
        lrs = super().learning_rates()
        lrs["d"] = float(self.optimizer_d.param_groups[0]["lr"])
        return lrs
