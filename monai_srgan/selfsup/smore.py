"""Self-supervised through-plane super-resolution of one volume (SMORE-style), trained on the volume itself.

Zhao et al., "SMORE: a self-supervised anti-aliasing and super-resolution algorithm for MRI using deep learning",
IEEE TMI 40(3), 2021 (docs/references.md): the in-plane axes of a thick-slice volume are high resolution. Degrading
in-plane slices along one in-plane axis with the *through-plane* slice profile and spacing gives training pairs
(LR → HR) whose degradation matches the through-plane one, so a 2D network trained on them and applied across the
slice axis restores it. SMORE applies the network in the two orthogonal through-plane directions (coronal and
sagittal for axial slices) and combines them; here the combination is the mean.

Everything is the project's: the slice profile is :class:`~monai_srgan.transforms.SliceThicknessDegradation` (box or
Gaussian, thickness in in-plane pixels; the anti-aliasing SMORE adds is this profile), the network is
:class:`~monai_srgan.networks.ThroughPlaneSR`: its inner 2D ``SRVGGNetCompact`` with scale ``(s, 1)`` is trained on
the in-plane pairs (the degraded axis is always axis 0 of a training slice) by
:class:`~monai_srgan.engines.SRPretrainer` with an L1 loss, and the whole module (coronal + sagittal passes) is
applied with the project's exact tiler. With a seed and a fixed number of iterations the result
is deterministic; ``budget_s`` converts a time budget into iterations once, from timed warm-up steps.

**Never worse than where it started.** Fine-tuning on in-plane pairs can move a good pretrained network away from
what the through-plane direction needs (measured: −0.70 dB against cubic B-spline on a held-out CT angiogram where
the pretrained start gave +1.76 dB). Every 7th in-plane slice with signal is therefore held back from training;
on its pairs the start network, the fine-tuned one and cubic B-spline interpolation are scored (PSNR) and the best is
kept — the B-spline itself (:class:`BSplineThroughPlane`) when neither network beats it. The held-back pairs are the
same degradation of the same volume as the training pairs, the only ground truth a single volume offers (SMORE's
own premise); ``kept`` and ``validation`` say what was chosen and why, and the report rows carry them.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import torch
from ignite.engine import Events
from torch.utils.data import DataLoader, Dataset

from monai_srgan.engines import SRPretrainer
from monai_srgan.engines.utils import resolve_amp
from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.inference.tiling import SRInferer
from monai_srgan.networks.checkpoint import atomic_torch_save, read_weight_file
from monai_srgan.networks.generators.through_plane import ThroughPlaneSR
from monai_srgan.transforms import SliceThicknessDegradation
from monai_srgan.transforms.resize import bspline_upsample_axis

__all__ = ["SelfSupervisedSliceSR", "inplane_training_pairs", "held_back_pairs", "BSplineThroughPlane", "default_scale"]

ProgressFn = Callable[[str, int, int], None]


def inplane_training_pairs(
    volume: torch.Tensor, scale: int, thickness: float, profile: str = "box", min_signal: float = 0.05
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(LR, HR) pairs from the in-plane slices of ``volume`` ``(C, H, W, D)`` (slices along the last axis).

    Each slice with signal is degraded along each in-plane axis by the through-plane slice profile; the degraded axis
    is moved to axis 0, so one network learns both orientations.

    Args:
        volume: normalised volume, values in about [0, 1].
        scale: through-plane factor (in-plane pixels per LR slice).
        thickness: slice profile width (box width, or Gaussian FWHM) in in-plane pixels.
        profile: ``"box"`` or ``"gaussian"``.
        min_signal: slices whose mean is below this fraction of the volume's 99th percentile are skipped (air).
    """
    degrade = SliceThicknessDegradation(scale, thickness, axis=0, profile=profile)
    level = float(torch.quantile(volume.float().flatten()[:: max(1, volume.numel() // 1_000_000)], 0.99)) or 1.0
    pairs = []
    for k in range(volume.shape[-1]):
        hr = volume[..., k].float()
        if float(hr.mean()) < min_signal * level:
            continue
        for h in (hr, hr.transpose(1, 2)):  # degrade each in-plane axis in turn, always as spatial axis 0
            h = h[:, : (h.shape[1] // scale) * scale].contiguous()
            pairs.append((degrade(h[..., None])[..., 0].contiguous(), h))  # the transform takes volumes
    return pairs


class _PatchPairs(Dataset):
    """Random aligned crops of the in-plane pairs (LR patch ``p/s × p``, HR ``p × p``), with flips along axis 1."""

    def __init__(self, pairs: list, scale: int, patch: int, length: int, seed: int) -> None:
        self.pairs, self.scale, self.length, self.seed = pairs, scale, length, seed
        self.lr_rows = max(1, patch // scale)
        self.cols = patch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        lr, hr = self.pairs[int(torch.randint(len(self.pairs), (1,), generator=g))]
        rows, cols = min(self.lr_rows, lr.shape[1]), min(self.cols, lr.shape[2])
        r = int(torch.randint(lr.shape[1] - rows + 1, (1,), generator=g))
        c = int(torch.randint(lr.shape[2] - cols + 1, (1,), generator=g))
        lr_p = lr[:, r : r + rows, c : c + cols]
        hr_p = hr[:, r * self.scale : (r + rows) * self.scale, c : c + cols]
        if bool(torch.randint(2, (1,), generator=g)):
            lr_p, hr_p = lr_p.flip(2), hr_p.flip(2)
        if bool(torch.randint(2, (1,), generator=g)):  # the slice profile is symmetric: reversing axis 0 is valid
            lr_p, hr_p = lr_p.flip(1), hr_p.flip(1)
        return {"lr": lr_p.contiguous(), "hr": hr_p.contiguous()}


class SelfSupervisedSliceSR:
    """Train a 2D generator on one volume's in-plane slices, then super-resolve its slice axis.

    Args:
        scale: through-plane factor (output slice spacing = input spacing / scale).
        thickness: slice profile width in in-plane pixels (default ``scale``: contiguous slices).
        profile: ``"box"`` (default; CT, 2D MR) or ``"gaussian"`` (FWHM = ``thickness``).
        network_kwargs: arguments of :class:`~monai_srgan.networks.ThroughPlaneSR` (default: 32 features,
            8 convolutions, bicubic base, zero-initialised last layer: starts at cubic interpolation and learns the
            residual).
        iterations: training iterations (``None``: from ``budget_s``).
        budget_s: training time budget in seconds when ``iterations`` is ``None``.
        batch_size, patch, lr: training batch, HR patch side (in-plane pixels) and Adam learning rate.
        seed: seed of the initialisation and the patch sampling.
        device: ``"cpu"``, ``"cuda"``…; ``amp``: as the trainers' (``"auto"``: bf16 where the CPU runs it fast).
        progress: ``callback(stage, done, total)``.
        init_state: state dict of the 2D network to start from (e.g. the inner network of the bundle's pretrained
            :class:`~monai_srgan.networks.ThroughPlaneSR`) instead of cubic interpolation.
        keep_best: hold back every 7th in-plane slice and keep the best of {start, fine-tuned, cubic B-spline} on it
            (module docstring); ``False`` trains on every slice and keeps the fine-tuned network.
    """

    def __init__(
        self,
        scale: int = 4,
        thickness: float | None = None,
        profile: str = "box",
        network_kwargs: dict[str, Any] | None = None,
        iterations: int | None = None,
        budget_s: float = 300.0,
        batch_size: int = 16,
        patch: int = 64,
        lr: float = 5e-4,
        seed: int = 0,
        device: str | torch.device = "cpu",
        amp: bool | str = "auto",
        progress: ProgressFn | None = None,
        init_state: dict[str, torch.Tensor] | None = None,
        keep_best: bool = True,
    ) -> None:
        if int(scale) != scale or scale < 2:
            raise ConfigError(f"self-supervised scale={scale}: use an integer through-plane factor of at least 2")
        self.scale = int(scale)
        self.thickness = float(self.scale if thickness is None else thickness)
        self.profile = profile
        self.network_kwargs = dict(network_kwargs or {})
        self.iterations, self.budget_s = iterations, float(budget_s)
        self.batch_size, self.patch, self.lr, self.seed = int(batch_size), int(patch), float(lr), int(seed)
        self.device, self.amp = torch.device(device), amp
        self.progress = progress or (lambda stage, done, total: None)
        self.model: ThroughPlaneSR | BSplineThroughPlane | None = None
        self.trained_iterations = 0
        self.init_state = init_state
        self.keep_best = bool(keep_best)
        #: which network :meth:`fit` kept (``"fine-tuned"``, ``"start"``, ``"cubic B-spline"``; ``"loaded"``) and the
        #: PSNR (dB) of each on the held-back in-plane pairs
        self.kept = "loaded"
        self.validation: dict[str, Any] = {}

    # ------------------------------------------------------------------ model
    def build(self, channels: int) -> ThroughPlaneSR:
        """A fresh :class:`ThroughPlaneSR` (seeded); ``.net`` is the 2D network that training sees."""
        torch.manual_seed(self.seed)
        return ThroughPlaneSR(3, channels, channels, scale=self.scale, **self.network_kwargs)

    @property
    def generator(self) -> torch.nn.Module | None:
        """The trained 2D network (``model.net``), ``None`` before :meth:`fit`/:meth:`load`."""
        return getattr(self.model, "net", None)

    def save(self, path: str | os.PathLike) -> None:
        """Write the trained weights (a plain state dict) and the settings needed to rebuild the network."""
        if self.generator is None:
            raise ConfigError("save: no network to save (not trained yet, or the cubic B-spline was kept)")
        state = {
            "state_dict": self.generator.state_dict(),
            "settings": {
                "scale": self.scale,
                "thickness": self.thickness,
                "profile": self.profile,
                "network_kwargs": self.network_kwargs,
                "channels": int(self.model.in_channels),
                "iterations": self.trained_iterations,
            },
        }
        atomic_torch_save(state, path)

    @classmethod
    def load(cls, path: str | os.PathLike, **kwargs: Any) -> SelfSupervisedSliceSR:
        """Rebuild from :meth:`save` (``torch.load(weights_only=True)``); ``kwargs`` override device etc.

        Raises:
            InputFileError: the file is missing or unreadable, or was not written by :meth:`save`.
        """
        state = read_weight_file(path)
        if not isinstance(state, dict) or not {"settings", "state_dict"} <= state.keys():
            raise InputFileError(
                path,
                "is not a self-supervised model (no 'settings'/'state_dict'; a bundle's or a trainer's weights?)",
                "pass a file written by --save-model / SelfSupervisedSliceSR.save, or drop --load-model to train one",
            )
        s = dict(state["settings"])
        obj = cls(scale=s["scale"], thickness=s["thickness"], profile=s["profile"],
                  network_kwargs=s["network_kwargs"], **kwargs)  # fmt: skip
        obj.model = obj.build(int(s["channels"]))
        obj.model.net.load_state_dict(state["state_dict"])
        obj.model.to(obj.device).eval()
        obj.trained_iterations = int(s.get("iterations", 0))
        return obj

    # ------------------------------------------------------------------ training
    def fit(self, volume: torch.Tensor) -> SelfSupervisedSliceSR:
        """Train on ``volume`` ``(C, H, W, D)`` (normalised; slices along the last axis)."""
        if volume.ndim != 4:
            raise ConfigError(f"self-supervised SR needs a volume (C, H, W, D), got shape {tuple(volume.shape)}")
        self.progress("building in-plane training pairs", 0, 1)
        pairs = inplane_training_pairs(volume.detach().cpu(), self.scale, self.thickness, self.profile)
        if not pairs:
            raise ConfigError(
                "the volume's in-plane slices hold no signal to train on (a blank or nearly constant volume?): "
                "check the file, or use interpolation for it"
            )
        if min(p[1].shape[1] for p in pairs) < 2 * self.scale or min(p[1].shape[2] for p in pairs) < 16:
            raise ConfigError(f"the in-plane slices ({tuple(volume.shape[1:3])}) are too small to train on")
        model = self.build(int(volume.shape[0]))
        gen = model.net
        if self.init_state is not None:
            gen.load_state_dict(self.init_state)
        pairs, held = held_back_pairs(pairs) if self.keep_best else (pairs, [])
        start_state = {k: v.detach().clone() for k, v in gen.state_dict().items()}
        scores = {"slices_held_back": len(held) // 2}
        if held:
            scores["bspline_db"] = _pairs_psnr(held, lambda lr: bspline_upsample_axis(lr, self.scale, axis=0))
            scores["start_db"] = _pairs_psnr(held, lambda lr: _run_2d(gen, lr, self.device))
        iters = self.iterations or self._iterations_for_budget(gen, pairs)
        data = _PatchPairs(pairs, self.scale, self.patch, iters * self.batch_size, self.seed)
        loader = DataLoader(data, batch_size=self.batch_size, shuffle=False, num_workers=0)
        opt = torch.optim.Adam(gen.parameters(), lr=self.lr, betas=(0.9, 0.99))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=iters, eta_min=self.lr * 0.01)
        trainer = SRPretrainer(device=self.device, max_epochs=1, epoch_length=iters, train_data_loader=loader,
                               generator=gen, optimizer_g=opt, lr_scheduler_g=sched, loss_function=torch.nn.L1Loss(),
                               amp=self.amp, seed=self.seed, log_interval=max(1, iters // 20))  # fmt: skip
        every = max(1, iters // 50)
        trainer.add_event_handler(
            Events.ITERATION_COMPLETED(every=every), lambda e: self.progress("training", e.state.iteration, iters)
        )
        trainer.run()
        gen.to(memory_format=torch.contiguous_format)
        gen.eval()
        self.trained_iterations = iters
        self.kept = "fine-tuned"
        if held:  # keep the best of {start, fine-tuned}; neither above cubic B-spline: B-spline (module docstring)
            scores["finetuned_db"] = _pairs_psnr(held, lambda lr: _run_2d(gen, lr, self.device))
            best = max(("fine-tuned", scores["finetuned_db"]), ("start", scores["start_db"]),
                       ("cubic B-spline", scores["bspline_db"]), key=lambda kv: kv[1])  # fmt: skip
            self.kept = best[0]
            if self.kept == "start":
                gen.load_state_dict(start_state)
            elif self.kept == "cubic B-spline":
                model = BSplineThroughPlane(int(volume.shape[0]), self.scale)
        self.validation = {k: round(float(v), 3) if isinstance(v, float) else v for k, v in scores.items()}
        self.model = model.eval()
        return self

    def _iterations_for_budget(self, gen: torch.nn.Module, pairs: list) -> int:
        """Iterations that fit ``budget_s``, from 3 timed steps after one warm-up (the only timing-dependent part)."""
        probe = _PatchPairs(pairs, self.scale, self.patch, 4 * self.batch_size, self.seed + 1)
        g = self.build(int(pairs[0][0].shape[0])).net.to(self.device)
        opt = torch.optim.Adam(g.parameters(), lr=self.lr)

        amp = resolve_amp(self.amp, self.device)
        times = []
        for b in range(4):
            batch = [probe[b * self.batch_size + i] for i in range(self.batch_size)]
            lr = torch.stack([x["lr"] for x in batch]).to(self.device)
            hr = torch.stack([x["hr"] for x in batch]).to(self.device)
            t0 = time.perf_counter()
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp and self.device.type == "cpu"):
                loss = torch.nn.functional.l1_loss(g(lr).float(), hr)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        step = min(times[1:]) * 1.1  # + data and bookkeeping
        return max(50, int(self.budget_s / step))

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def predict(self, volume: torch.Tensor, tile: int = 128) -> torch.Tensor:
        """``(C, H, W, D)`` → ``(C, H, W, scale·D)`` with :class:`ThroughPlaneSR` (coronal + sagittal mean), tiled
        in-plane with exact context margins (memory bounded; tiled = whole)."""
        if self.model is None:
            raise ConfigError("predict: train (fit) or load a model first")
        inferer = SRInferer(self.model.scale, roi_size=(tile, tile, int(volume.shape[-1])), device=self.device,
                            dtype="float32")  # fmt: skip
        return inferer(volume[None].float(), self.model.to(self.device))[0].cpu()


def held_back_pairs(pairs: list, every: int = 7) -> tuple[list, list]:
    """Split the in-plane pairs into training and held-back validation pairs: every ``every``-th slice (both of its
    orientations) is held back, spread over the volume; none when fewer than 4 slices hold signal (too few to spare).
    """
    n = len(pairs) // 2
    if n < 4:
        return pairs, []
    held_slices = set(range(every // 2, n, every)) or {n // 2}
    train = [p for i, p in enumerate(pairs) if i // 2 not in held_slices]
    held = [p for i, p in enumerate(pairs) if i // 2 in held_slices]
    return train, held


def _run_2d(gen: torch.nn.Module, lr: torch.Tensor, device: torch.device) -> torch.Tensor:
    with torch.inference_mode():
        was = gen.training
        gen.eval()
        out = gen(lr[None].to(device).float())[0].float().cpu()
        gen.train(was)
        return out


def _pairs_psnr(pairs: list, upsample: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """PSNR (dB, data range 1 of the normalised volume) of ``upsample(lr)`` against ``hr`` over all pairs."""
    se, n = 0.0, 0
    for lr, hr in pairs:
        sr = upsample(lr)[:, : hr.shape[1]].clamp(0, 1)
        se += float(((sr - hr.float()) ** 2).sum())
        n += hr.numel()
    return float(10 * math.log10(1.0 / max(se / max(n, 1), 1e-12)))


class BSplineThroughPlane(torch.nn.Module):
    """Cubic B-spline along the slice axis (the SMORE paper's baseline) with :class:`ThroughPlaneSR`'s interface:
    what the self-supervised mode returns when no network beats it on the held-back pairs."""

    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        self.spatial_dims, self.in_channels, self.out_channels = 3, channels, channels
        self.scale = (1, 1, int(scale))
        self.receptive_field = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([bspline_upsample_axis(v, self.scale[2], axis=-1) for v in x]).to(x)


def default_scale(spacing: tuple[float, float, float]) -> int:
    """SMORE's factor: through-plane spacing over in-plane spacing, rounded (≥ 2, else nothing to learn)."""
    inplane, through = min(spacing[0], spacing[1]), spacing[2]
    ratio = through / inplane if inplane > 0 else 0.0
    if not math.isfinite(ratio) or ratio < 1.5:
        raise ConfigError(
            f"the volume is (nearly) isotropic: slice spacing {through:g} mm vs in-plane {inplane:g} mm, so there is "
            "no through-plane resolution to recover; self-supervised SR needs slices at least 1.5x thicker than the "
            "in-plane pixels (or give --scale to force a factor)"
        )
    return int(round(ratio))
