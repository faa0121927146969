"""Checks a training stage runs before its first step: the batches fit the generator, and a checkpoint to resume was
written by the same configuration. Each failure is one :class:`~monai_srgan.errors.ConfigError` saying what to do."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from monai_srgan.errors import ConfigError

from .distributed import get_world_size
from .handlers import CKPT_FORMAT

__all__ = ["NonFiniteLossError", "check_finite", "check_training_pair", "check_resume_checkpoint", "rerun_message"]


class NonFiniteLossError(RuntimeError):
    """Training stopped because a loss or gradient became NaN/Inf; the last good checkpoint is untouched."""


def check_finite(
    values: Mapping[str, Any], what: str, iteration: int, epoch: int, last_ckpt: tuple[str, int] | None
) -> None:
    """Raise :class:`NonFiniteLossError` when a loss/gradient value is NaN/Inf (one device sync when all are finite),
    naming the iteration, the offending terms and the last good checkpoint."""
    vals = [torch.as_tensor(v, dtype=torch.float32).reshape(()) for v in values.values()]
    if bool(torch.isfinite(torch.stack([v.to(vals[0].device) for v in vals])).all()):
        return
    bad = {k: float(v) for k, v in values.items() if not math.isfinite(float(v))}
    if bad:
        where = (
            f"The last good checkpoint, {last_ckpt[0]} (iteration {last_ckpt[1]}), is intact; resume from it after "
            "the fix."
            if last_ckpt
            else "No checkpoint was written before the failure."
        )
        raise NonFiniteLossError(
            f"Non-finite {what} at iteration {iteration} (epoch {epoch}): {bad}. Training stopped before the optimizer "
            f"step. {where} Try a lower learning rate, clip_grad_norm, amp=False (or amp_dtype='bfloat16'), or check "
            "the data normalisation."
        )


def check_training_pair(generator: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor) -> None:
    """The first batch of a run: dimensions, channels and scale agree with the generator."""
    if lr.ndim not in (4, 5) or hr.ndim != lr.ndim:
        raise ConfigError(
            f"training pairs must be (N, C, H, W) or (N, C, H, W, D) batches, got lr {tuple(lr.shape)} and "
            f"hr {tuple(hr.shape)}; check the dataset transforms."
        )
    g_dims = getattr(generator, "spatial_dims", None)
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
    in_ch = getattr(generator, "in_channels", None)
    if in_ch is not None and lr.shape[1] != in_ch:
        raise ConfigError(
            f"the generator expects {in_ch} input channel(s) but training images have {lr.shape[1]}; set the "
            "generator's in_channels/out_channels to the data (3 for RGB fundus, 1 for X-ray)."
        )
    scale = getattr(generator, "scale", None)
    if scale is not None:
        scales = list(scale) if isinstance(scale, (tuple, list)) else [scale] * (lr.ndim - 2)
        want = [int(round(s * n)) for s, n in zip(scales, lr.shape[2:])]
        if list(hr.shape[2:]) != want:
            raise ConfigError(
                f"scale: HR patches {tuple(hr.shape[2:])} are not scale {scale} × LR patches "
                f"{tuple(lr.shape[2:])}; the generator and the degradation must use the same scale."
            )


def shape_mismatch(saved: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """``None`` when two state dicts hold the same names and shapes, else a short description of the difference."""
    a = {k: tuple(v.shape) for k, v in saved.items() if isinstance(v, torch.Tensor)}
    b = {k: tuple(v.shape) for k, v in current.items() if isinstance(v, torch.Tensor)}
    missing, unexpected = sorted(set(b) - set(a)), sorted(set(a) - set(b))
    wrong = [(k, a[k], b[k]) for k in sorted(set(a) & set(b)) if a[k] != b[k]]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
    if wrong:
        k, s1, s2 = wrong[0]
        parts.append(f"{len(wrong)} shape mismatch(es), e.g. {k}: checkpoint {s1} vs model {s2}")
    return "; ".join(parts) or None


def check_resume_checkpoint(
    ckpt: Mapping[str, Any], path: str, signature: Mapping[str, Any], params: Mapping[str, Any], epoch_length: int
) -> None:
    """Raise :class:`ConfigError` when ``ckpt`` was written by another configuration than the running one.

    Args:
        ckpt: the loaded training checkpoint.
        path: its file (named in the message).
        signature: the running trainer's ``signature()`` (stage, generator class, scale, world size).
        params: the running generator's state dict.
        epoch_length: the running stage's iterations per epoch.
    """
    if ckpt.get("format") != CKPT_FORMAT:
        raise ConfigError(
            f"resume: {path} is not a monai_srgan training checkpoint (a weight file?); pass weight files as "
            "warm_start, or point ckpt_dir at an empty folder."
        )
    sig = ckpt.get("signature", {})
    if sig.get("stage") != signature["stage"]:
        raise ConfigError(
            f"resume: {path} is a '{sig.get('stage')}' checkpoint but this trainer is '{signature['stage']}'; give "
            "each stage its own ckpt_dir, and pass a stage-1 checkpoint to stage 2 as warm_start."
        )
    for key in ("generator", "scale"):
        if sig.get(key) != signature[key]:
            raise ConfigError(rerun_message(path, f"{key}={sig.get(key)!r}", f"{key}={signature[key]!r}"))
    diff = shape_mismatch(ckpt["params"], params)
    if diff:
        raise ConfigError(rerun_message(path, "another generator shape", f"the generator weights differ: {diff}"[:200]))
    eng = ckpt["engine"]
    if int(eng["epoch_length"]) != int(epoch_length):
        raise ConfigError(
            rerun_message(
                path, f"epoch_length={eng['epoch_length']}", f"epoch_length={epoch_length} (batch size, dataset or "
                "--epoch_length changed)"
            )
        )  # fmt: skip
    n_rng = len(ckpt.get("rng", []))
    if n_rng != get_world_size():
        raise ConfigError(
            f"resume: {path} was written by {n_rng} process(es) but {get_world_size()} are running; resume with "
            "the same torchrun --nproc_per_node."
        )


def rerun_message(path: str, was: str, now: str) -> str:
    """One line for a re-run into a folder that holds a run with other settings, naming the folder and the choices."""
    run_dir = Path(path).parent
    return (
        f"'{run_dir}' holds an earlier training run ({was}) that this run ({now}) cannot resume: pass a new "
        f"--output_dir for this run, or re-run the earlier command unchanged to resume it, or delete '{run_dir}' "
        "(or set the trainer's resume=False) to start over."
    )
