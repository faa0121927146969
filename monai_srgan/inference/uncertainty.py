"""A calibrated per-pixel uncertainty (one standard deviation) for every SR output.

The map is a heteroscedastic error model (Tanno et al., "Uncertainty modelling in deep learning for safer neuroimage
enhancement", NeuroImage 2021, eq. 3: a per-pixel Gaussian whose variance is predicted, fitted by its negative
log-likelihood) whose inputs are measured on the output itself, so that any shipped generator gets one without
retraining (its PSNR is untouched):

* ``t`` — test-time-augmentation disagreement: ``|SR(x) − flip(SR(flip(x)))|`` (the generator run once more on the
  mirrored input; Wang et al., "Aleatoric uncertainty estimation with test-time augmentation", Neurocomputing 2019).
  Where the network is unstable, it is unsure;
* ``g`` — the local gradient magnitude of the SR: errors concentrate on edges (vessels, ribs, cortex) where a
  sub-pixel shift of a sharp transition costs most;
* ``r`` — ``|SR − bicubic|``: how much detail the network added beyond interpolation, i.e. how far it extrapolated;
* a floor ``a0`` (noise, quantisation).

Each feature is averaged over a ``(2·scale+1)²`` window (errors are spatially correlated at the scale of one LR
pixel), and ``σ² = (a0·R)² + (a1·g)² + (a2·r)² + (a3·t)²`` with ``R`` the normalisation range of the image. The
coefficients are fitted per weight file on the bundle's **validation** split by the Gaussian NLL, then one factor
is set so that ±1.645 σ covers 90 % of validation pixels (``benchmarks/calibrate_uncertainty.py``, which also checks
the test split; docs/inference.md "Uncertainty"). They are stored beside the weights as
``<weights>.uncertainty.json``. A through-plane 3D model has no images to spare for that: its file says
``self_calibrate`` and each volume is fitted on its own in-plane axes (:mod:`monai_srgan.inference.self_calibration`).
The gradient counts only the super-resolved axes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_srgan.errors import ConfigError
from monai_srgan.metrics._filters import box_mean
from monai_srgan.metrics.quality.no_reference import noise_sd
from monai_srgan.transforms.resize import imresize

__all__ = [
    "ErrorModel",
    "FEATURES",
    "uncertainty_features",
    "fit_error_model",
    "estimate_uncertainty",
    "write_uncertainty",
    "calibration_path",
    "load_error_model",
    "pipeline_error_model",
    "HIGH_SIGMA_FRACTION",
]

#: the inputs of the error model, in the order of :attr:`ErrorModel.coef` after the floor
FEATURES = ("gradient", "residual", "tta", "noise")

#: a pixel counts as "uncertain" in the report when sigma exceeds this fraction of the normalisation range (2 %:
#: ~5 grey levels of an 8-bit image, 80 of a 12-bit one — twice what JPEG quality 90 changes)
HIGH_SIGMA_FRACTION = 0.02


@dataclass
class ErrorModel:
    """``σ = factor · sqrt((a0·R)² + Σ (a_i·f_i)²)`` over :data:`FEATURES` (module docstring).

    Attributes:
        floor: ``a0`` (fraction of the normalisation range ``R``).
        coef: ``a_i`` per feature name.
        factor: calibration factor (±1.645 σ covers 90 % of validation pixels).
        uses_tta: whether the ``tta`` feature is used (one more generator pass).
        fit: how it was fitted (data, split, figures), for the record.
        self_calibrate: refit the coefficients on each volume's own in-plane pairs before use
            (:mod:`~monai_srgan.inference.self_calibration`; the 3D bundle); the stored ones are then a record only.
    """

    floor: float
    coef: dict[str, float]
    factor: float = 1.0
    uses_tta: bool = True
    fit: dict[str, Any] = field(default_factory=dict)
    self_calibrate: bool = False

    def sigma(self, feats: Mapping[str, torch.Tensor], value_range: float) -> torch.Tensor:
        """The one-SD map from :func:`uncertainty_features` (value units of the features)."""
        var = torch.full_like(next(iter(feats.values())), (self.floor * value_range) ** 2)
        for name, a in self.coef.items():
            if (name == "tta" and not self.uses_tta) or not float(a):
                continue
            var.addcmul_(feats[name], feats[name], value=float(a) ** 2)
        return var.sqrt_().mul_(self.factor)

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (atomically)."""
        from monai_srgan.io.writers.common import atomic_write_file

        text = json.dumps(asdict(self), indent=4) + "\n"
        atomic_write_file(Path(path), lambda tmp: tmp.write_text(text), overwrite=True)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ErrorModel:
        """Read a JSON written by :meth:`save`."""
        d = json.loads(Path(path).read_text())
        return cls(**{k: d[k] for k in ("floor", "coef", "factor", "uses_tta", "fit", "self_calibrate") if k in d})


def calibration_path(weights: str | os.PathLike) -> Path:
    """Where the error model of a weight file lives: ``<weights>.uncertainty.json`` beside it."""
    return Path(os.fspath(weights) + ".uncertainty.json")


def load_error_model(weights: str | os.PathLike | None) -> ErrorModel:
    """The calibrated error model of ``weights``.

    Raises:
        ConfigError: the weights have no calibration (names the file and the command that makes one).
    """
    if weights is None:
        raise ConfigError("--uncertainty needs the model's weight file to find its calibration")
    path = calibration_path(weights)
    if not path.is_file():
        raise ConfigError(
            f"--uncertainty: '{path}' does not exist, so the weights '{weights}' have no calibrated uncertainty; "
            "calibrate them on held-out images first (python benchmarks/calibrate_uncertainty.py --help)"
        )
    return ErrorModel.load(path)


def pipeline_error_model(pipe: Any) -> ErrorModel:
    """The calibrated error model of the weights ``pipe`` runs (:func:`load_error_model`).

    Raises:
        ConfigError: as :func:`load_error_model`; or the pipeline runs the self-ensemble, whose output the
            calibration was not fitted on and whose mirrored pass (the ``tta`` feature) equals its output.
    """
    if getattr(pipe, "self_ensemble", False):
        raise ConfigError(
            "--uncertainty is calibrated for single-pass SR and cannot be used with --self-ensemble "
            "(the ensemble is mirror-invariant, so its test-time-augmentation feature is zero): drop one of the two"
        )
    return load_error_model(getattr(pipe, "weights_path", None))


def _gradient_sq(x: torch.Tensor, scales: Sequence[int]) -> torch.Tensor:
    """Squared gradient magnitude of ``(N, C, *spatial)`` along the super-resolved axes (``scales[d] > 1``; central
    differences, one-sided at the edges). An axis that was not upsampled (the in-plane axes of a through-plane 3D
    model) carries no SR error, however sharp its edges: on the held-out CT slab of ct_mr_sr_3d the fitted model's
    block Spearman against the error was 0.32 with the whole gradient, 0.83 with the through-plane one
    (``benchmarks/calibrate_uncertainty.py --bundle ct_mr_sr_3d --no-tta``; docs/inference.md)."""
    sq = torch.zeros_like(x)
    for ax, s in zip(range(2, x.ndim), scales):
        if x.shape[ax] > 1 and int(s) > 1:
            d = torch.gradient(x, dim=ax)[0]
            sq.addcmul_(d, d)
    return sq


def uncertainty_features(
    sr: torch.Tensor,
    lr: torch.Tensor,
    scales: Sequence[int],
    sr_tta: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The error model's inputs, one map ``(N, 1, *spatial)`` each on the SR grid (RMS over channels).

    Args:
        sr: the SR output ``(N, C, *spatial)`` in the value domain.
        lr: the source ``(N, C, *lr_spatial)`` in the value domain.
        scales: SR factor per spatial axis.
        sr_tta: the SR of the mirrored input, mirrored back (``None``: the ``tta`` feature is zero).
    """
    sr = sr.float()
    bic = imresize(lr.float(), size=tuple(sr.shape[2:]))
    k = 3

    def reduce(sq: torch.Tensor) -> torch.Tensor:  # squared values -> RMS over channels and the k-window
        return box_mean(sq.mean(dim=1, keepdim=True), k).clamp_min_(0).sqrt_()

    diff = sr - bic
    feats = {"gradient": reduce(_gradient_sq(sr, scales)), "residual": reduce(diff.mul_(diff))}
    feats["noise"] = noise_sd(lr).expand_as(feats["gradient"])
    if sr_tta is not None:
        d = sr - sr_tta.float()
        feats["tta"] = reduce(d.mul_(d))
    else:
        feats["tta"] = torch.zeros_like(feats["gradient"])
    return feats


def fit_error_model(
    feats: Mapping[str, np.ndarray],
    errors: np.ndarray,
    value_range: float,
    uses_tta: bool = True,
    steps: int = 400,
) -> ErrorModel:
    """Fit the coefficients by the Gaussian NLL (Tanno et al. 2021, eq. 3), then the 90 % coverage factor.

    Args:
        feats: per-pixel feature samples (value units), one 1-D array per :data:`FEATURES` name.
        errors: per-pixel ``SR − HR`` samples (value units), same length.
        value_range: the normalisation range ``R`` of the samples.
        uses_tta: fit with the ``tta`` feature.
        steps: optimiser steps.
    """
    names = [n for n in FEATURES if uses_tta or n != "tta"]
    f = torch.stack([torch.as_tensor(feats[n], dtype=torch.float64) for n in names], dim=1) / value_range
    e = torch.as_tensor(errors, dtype=torch.float64) / value_range
    log_a = torch.zeros(len(names) + 1, dtype=torch.float64)
    log_a[0] = float(np.log(max(float(e.abs().median()), 1e-6)))
    log_a.requires_grad_(True)
    opt = torch.optim.Adam([log_a], lr=0.05)
    for _ in range(steps):
        a = log_a.exp()
        var = a[0] ** 2 + ((a[1:] * f) ** 2).sum(dim=1)
        loss = 0.5 * (var.log() + e**2 / var).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    a = log_a.detach().exp()
    sigma = (a[0] ** 2 + ((a[1:] * f) ** 2).sum(dim=1)).sqrt()
    # one factor so that |e| <= 1.645 * factor * sigma for 90 % of the pixels
    factor = float(torch.quantile((e.abs() / sigma)[: 1 << 24], 0.9) / 1.645)
    coef = {n: float(v) for n, v in zip(names, a[1:])}
    if not uses_tta:
        coef["tta"] = 0.0
    return ErrorModel(floor=float(a[0]), coef=coef, factor=factor, uses_tta=uses_tta, fit={"nll": float(loss.detach())})


def estimate_uncertainty(pipe: Any, image: Any, sr: Any, model: ErrorModel) -> Any:
    """The one-SD map of ``sr`` (``pipe.predict(image)``): float32 ``MetaTensor`` ``(1, *sr spatial)``, value units.

    Runs the generator once more on the input mirrored along its first spatial axis when the model uses the
    ``tta`` feature. A 2D model on a volume is handled slice by slice (the slices are the batch). A model with
    ``self_calibrate`` is first refitted on the volume's own in-plane pairs (one more inference of about the volume's
    size, :func:`~monai_srgan.inference.self_calibration.self_calibrated_model`).

    Args:
        pipe: the :class:`~monai_srgan.inference.pipeline.SRInferencePipeline` that made ``sr``.
        image: the loaded source (``MetaTensor``; a path is loaded by ``pipe``).
        sr: the SR output of ``pipe.predict(image)``.
        model: the calibrated :class:`ErrorModel`.
    """
    from monai.data import MetaTensor

    image = pipe.load(image)
    image, _, how = pipe.check_input(image)
    if model.self_calibrate:
        from monai_srgan.inference.self_calibration import self_calibrated_model

        model = self_calibrated_model(pipe, image, model)
    sr_tta = None
    if model.uses_tta:
        mirrored = MetaTensor(image.as_subclass(torch.Tensor).flip(1), meta=dict(image.meta))
        sr_tta = pipe.predict(mirrored).as_subclass(torch.Tensor).flip(1)
    scales = pipe.scales_for(image)
    lo, hi = float(image.meta.get("srgan_value_min", 0.0)), float(image.meta.get("srgan_value_max", 1.0))
    value_range = max(hi - lo, 1e-12)
    x, y = image.as_subclass(torch.Tensor), sr.as_subclass(torch.Tensor)
    if how == "slices":  # (C, H, W, D) -> (D, C, H, W), 2D features per slice
        batches = [(x[..., k][None], y[..., k][None], None if sr_tta is None else sr_tta[..., k][None])
                   for k in range(x.shape[-1])]  # fmt: skip
        sp_scales = scales[:2]
    else:
        batches = [(x[None], y[None], None if sr_tta is None else sr_tta[None])]
        sp_scales = scales
    maps = []
    for lr_b, sr_b, tta_b in batches:
        feats = uncertainty_features(sr_b, lr_b, sp_scales, tta_b)
        maps.append(model.sigma(feats, value_range)[0, 0])
    sigma = torch.stack(maps, dim=-1) if how == "slices" else maps[0]
    meta = dict(sr.meta)
    meta.update(srgan_dtype="float32", srgan_photometric="MONOCHROME2", srgan_uncertainty=True)
    out = MetaTensor(sigma[None].float().contiguous(), affine=sr.affine, meta=meta)
    out.meta["srgan_uncertainty_mean"] = float(sigma.mean())
    out.meta["srgan_uncertainty_high_fraction"] = float((sigma > HIGH_SIGMA_FRACTION * value_range).float().mean())
    return out


UNCERTAINTY_NOTE = (
    "UNCERTAINTY MAP, not an image of the patient: each pixel is one standard deviation of the super-resolved value "
    "at that place, in the image's value units (monai_srgan, calibrated on held-out images)"
)


def write_uncertainty(sigma: Any, path: str | os.PathLike, fmt: str, sr: Any, writer_kwargs: Mapping | None = None):
    """Write the one-SD map beside its output, atomically: float32 TIFF (2D), float32 NIfTI (volumes), or a derived
    DICOM series labelled as an uncertainty map (ImageType ``DERIVED\\SECONDARY\\UNCERTAINTY``, its own series,
    16-bit with RescaleSlope = the value of one stored step).

    Args:
        sigma: from :func:`estimate_uncertainty`.
        path: from :func:`monai_srgan.inference.one_input.uncertainty_path`.
        fmt: ``"tiff"``, ``"nifti"`` or ``"dicom"``.
        sr: the SR output it belongs to (its meta names the DICOM sources).
        writer_kwargs: the image writer's keyword arguments (``series_number``).
    """
    from PIL import Image

    from monai_srgan.io.writers import write_image
    from monai_srgan.io.writers.common import atomic_write_file

    path = Path(path)
    values = sigma.as_subclass(torch.Tensor)[0].float().numpy()
    if fmt == "dicom":
        from monai_srgan.io.writers.dicom import write_dicom_series

        meta = dict(sr.meta)
        top = float(values.max()) if values.size else 0.0
        step = max(top / 60000.0, 1e-6)  # 16 bits with headroom: the largest sigma to 1/60000 of itself
        kw = {k: v for k, v in (writer_kwargs or {}).items() if k == "series_number"}
        if "series_number" in kw:
            kw["series_number"] = int(kw["series_number"]) + 1
        desc = f"UNCERTAINTY (1 SD) of SR x{'x'.join(str(s) for s in meta.get('srgan_sr_scale', []))}"
        return write_dicom_series(
            sigma, meta, path, scale=meta.get("srgan_sr_scale", 1), model_name=str(meta.get("srgan_model", "")),
            series_description=desc[:64], note=None,
            value_map={"kind": "UNCERTAINTY", "comment": UNCERTAINTY_NOTE, "step": step}, **kw,
        )  # fmt: skip
    if fmt == "nifti" or values.ndim == 3:
        if not path.name.endswith((".nii", ".nii.gz")):
            path = path.with_name(path.name.rsplit(".", 1)[0] + ".nii.gz")
        return write_image(sigma, path, "nifti")

    def _tif(tmp: Path) -> None:
        Image.fromarray(values.astype("float32"), mode="F").save(tmp, format="TIFF", compression="tiff_deflate")

    atomic_write_file(path, _tif)
    return path
