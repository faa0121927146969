"""Uncertainty calibrated on the volume itself: thick-slice SR errors measured along its own in-plane axes.

A through-plane model (``ct_mr_sr_3d``) has no images to spare for a fixed calibration: fitted on the volumes its
weights trained on, the error model was off by a modality-dependent factor (coverage of ±1.645 σ 75 % on the
held-out CT slab, 96 % on the held-out MR; docs/inference.md). The volume being super-resolved has thin sampling
in-plane, though. As in SMORE's self-supervision (Zhao et al., IEEE TMI 2021), each in-plane axis in turn is made
the slice axis, thickened by the same slice profile (box, ``scale`` samples) and super-resolved by the same pipeline;
the truth is the volume itself, so the features and errors of these pairs fit the heteroscedastic model
(:func:`~monai_srgan.inference.uncertainty.fit_error_model`, Tanno et al. 2021 eq. 3, 90 % coverage factor) for
this volume alone. It costs about one more inference of the volume.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from monai_srgan.errors import ConfigError

__all__ = ["self_calibrated_model", "SAMPLES_PER_AXIS"]

#: error samples drawn from the pairs of each in-plane axis (fixed seed: the same volume gives the same map)
SAMPLES_PER_AXIS = 200_000


def _thin_axis_pair(volume: Any, axis: int, slice_axis: int, scale: int) -> tuple[Any, torch.Tensor]:
    """``(LR MetaTensor, truth)``: ``volume`` with in-plane ``axis`` swapped into the slice position and thickened."""
    from monai.data import MetaTensor

    from monai_srgan.transforms import SliceThicknessDegradation

    truth = volume.as_subclass(torch.Tensor).float().transpose(axis, slice_axis)
    n = (truth.shape[slice_axis] // scale) * scale
    truth = truth.narrow(slice_axis, 0, n).contiguous()
    lr = SliceThicknessDegradation(scale, axis=slice_axis - 1)(truth)  # axis counted without the channel
    spacing = [float(v) for v in volume.meta.get("srgan_spacing", [1.0, 1.0, 1.0])][:3]
    spacing[axis - 1], spacing[slice_axis - 1] = spacing[slice_axis - 1], spacing[axis - 1] * scale
    meta = {k: volume.meta[k] for k in ("srgan_value_min", "srgan_value_max", "srgan_dtype") if k in volume.meta}
    meta.update(srgan_spacing=spacing, srgan_spacing_known=[True] * 3)
    affine = torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64))
    return MetaTensor(lr, affine=affine, meta=meta), truth


def self_calibrated_model(pipe: Any, volume: Any, template: Any) -> Any:
    """The error model of ``template`` (its features, no TTA) fitted on ``volume``'s own in-plane pairs.

    Args:
        pipe: the 3D :class:`~monai_srgan.inference.pipeline.SRInferencePipeline` (one upsampled axis).
        volume: the loaded source ``(C, H, W, D)`` in the value domain.
        template: the stored :class:`~monai_srgan.inference.uncertainty.ErrorModel` (``self_calibrate`` true).

    Raises:
        ConfigError: the pipeline upsamples more or fewer than one axis of a volume.
    """
    from monai_srgan.inference.uncertainty import FEATURES, ErrorModel, fit_error_model, uncertainty_features

    scales = tuple(int(s) for s in pipe.scales_for(volume))
    up = [d for d, s in enumerate(scales) if s > 1]
    if volume.ndim != 4 or len(up) != 1:
        raise ConfigError(
            f"--uncertainty: this model's calibration is self-calibrated, which needs a volume super-resolved along "
            f"one axis, but the scales are {scales}; run without --uncertainty, or calibrate the weights on held-out "
            "images (python benchmarks/calibrate_uncertainty.py --help)"
        )
    slice_axis, scale = up[0] + 1, scales[up[0]]
    lo, hi = float(volume.meta.get("srgan_value_min", 0.0)), float(volume.meta.get("srgan_value_max", 1.0))
    value_range = max(hi - lo, 1e-12)
    rng = np.random.default_rng(0)
    feats: dict[str, list[np.ndarray]] = {n: [] for n in FEATURES}
    errors: list[np.ndarray] = []
    for axis in (d + 1 for d in range(3) if d + 1 != slice_axis and volume.shape[d + 1] >= 2 * scale):
        lr, truth = _thin_axis_pair(volume, axis, slice_axis, scale)
        sr = pipe.predict(lr).as_subclass(torch.Tensor)
        f = uncertainty_features(sr[None], lr.as_subclass(torch.Tensor)[None], scales, None)
        err = (sr - truth).pow(2).mean(dim=0).sqrt() * torch.sign((sr - truth).mean(dim=0))
        pick = rng.choice(err.numel(), size=min(SAMPLES_PER_AXIS, err.numel()), replace=False)
        for name in FEATURES:
            feats[name].append(f[name][0, 0].reshape(-1)[pick].numpy() / value_range)
        errors.append(err.reshape(-1)[pick].numpy() / value_range)
    if not errors:
        raise ConfigError(
            f"--uncertainty: the volume {tuple(volume.shape[1:])} is too small in-plane to calibrate on (each in-plane "
            f"axis needs at least {2 * scale} samples); run without --uncertainty for it"
        )
    fitted = fit_error_model({n: np.concatenate(v) for n, v in feats.items()}, np.concatenate(errors), 1.0, False)
    return ErrorModel(floor=fitted.floor, coef=fitted.coef, factor=fitted.factor, uses_tta=False,
                      fit={**template.fit, "self_calibrated": fitted.fit})  # fmt: skip
