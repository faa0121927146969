"""``monai-srgan infer … --self-supervised``: per-volume SMORE-style training, then the project's inference pipeline.

:class:`SelfSupervisedVolumePipeline` has the interface of :class:`~monai_srgan.inference.SRInferencePipeline` that
the CLI and bundles use (``predict``, ``write``, ``scale``, ``model_name``): for each volume it reads the spacing,
chooses the factor (slice spacing / in-plane spacing, or the one given), normalises with the base pipeline's
normalisation, trains :class:`~monai_srgan.selfsup.smore.SelfSupervisedSliceSR` on the volume's own in-plane slices,
and runs the trained :class:`~monai_srgan.networks.ThroughPlaneSR` through an ``SRInferencePipeline`` (the base
pipeline's tiles, exact context margins) so that inverse normalisation,
value domain, affine and spacing, and the writers are exactly those of every other output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.inference import SRInferencePipeline
from monai_srgan.networks import ThroughPlaneSR
from monai_srgan.selfsup.smore import SelfSupervisedSliceSR, default_scale

__all__ = ["SelfSupervisedVolumePipeline"]

logger = logging.getLogger(__name__)


class SelfSupervisedVolumePipeline:
    """Self-supervised through-plane SR of each volume, with a base pipeline's normalisation, device and writers.

    Args:
        base: the pipeline whose normalisation, device and writers are used (e.g. ``from_bundle("ct_mr_sr_3d")``).
        scale: through-plane factor; ``None``: slice spacing / in-plane spacing, rounded (SMORE's choice).
        thickness_mm: slice profile width (box width or Gaussian FWHM) in mm; default the slice spacing
            (contiguous slices). Give the real slice thickness where slices overlap or have gaps.
        profile: ``"box"`` or ``"gaussian"``.
        iterations, budget_s, seed: training length (iterations, or a time budget in seconds) and seed.
        save_model: write the trained weights there (one file per volume: ``<stem>_<n>.pt`` when several).
        load_model: skip training and use these weights (from ``save_model``).
        progress: ``callback(stage, done, total)``.
    """

    def __init__(
        self,
        base: Any,
        scale: int | None = None,
        thickness_mm: float | None = None,
        profile: str = "box",
        iterations: int | None = None,
        budget_s: float = 300.0,
        seed: int = 0,
        save_model: str | os.PathLike | None = None,
        load_model: str | os.PathLike | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        if profile not in ("box", "gaussian"):
            raise ConfigError(f"--slice-profile {profile!r}: use box or gaussian")
        self.base = base
        self.device = base.device
        self.fixed_scale = scale
        self.scale: int | tuple[int, ...] = (1, 1, scale) if scale else (1, 1, 0)
        self.thickness_mm, self.profile = thickness_mm, profile
        self.iterations, self.budget_s, self.seed = iterations, float(budget_s), int(seed)
        self.save_model = None if save_model is None else Path(save_model)
        self.load_model = None if load_model is None else Path(load_model)
        self.progress = progress
        self.model_name = "self-supervised (SMORE-style)"
        self.scale_tag = f"smore_x{scale}" if scale else "smore"
        self._count = 0

    def load(self, source: Any) -> Any:
        """Load as the base pipeline does (``--compare`` and the CLI use this)."""
        return self.base.load(source)

    def _normalize(self, image: Any) -> Any:
        return self.base._normalize(image)

    def _geometry(self, image: Any) -> tuple[int, float]:
        where = (image.meta or {}).get("filename_or_obj")
        if image.ndim != 4:
            raise InputFileError(
                where,
                f"is a {image.ndim - 1}D image; self-supervised through-plane SR needs a volume",
                "use a 2D bundle (retina_sr, cxr_sr) for 2D images",
            )
        known = image.meta.get("srgan_spacing_known", True)
        known = all(known) if isinstance(known, (list, tuple)) else bool(known)
        if not known or image.meta.get("srgan_spacing") is None:
            if not self.fixed_scale:
                raise InputFileError(
                    where,
                    "the header gives no slice spacing, so the through-plane factor and slice profile are unknown",
                    "give --scale (and --slice-thickness in in-plane pixels if slices overlap or have gaps), or fix "
                    "the header (NIfTI pixdim, DICOM positions)",
                )
            logger.warning("%s: no voxel spacing in the header: x%d with a profile of --slice-thickness (in-plane "
                           "pixels; default the scale)", where, self.fixed_scale)  # fmt: skip
            self._check_size(image, where)
            return int(self.fixed_scale), float(self.thickness_mm or self.fixed_scale)
        sp = [float(v) for v in image.meta["srgan_spacing"][:3]]
        scale = self.fixed_scale or default_scale((sp[0], sp[1], sp[2]))
        if self.fixed_scale and abs(sp[2] / min(sp[0], sp[1]) - scale) > 0.5:
            logger.warning(
                "%s: --scale %d differs from slice/in-plane spacing %.2f/%.2f mm; the training pairs assume the output"
                " slice spacing equals the in-plane pixel size",
                where,
                scale,
                sp[2],
                min(sp[0], sp[1]),
            )
        thick_mm = self.thickness_mm or sp[2]
        self._check_size(image, where)
        return int(scale), thick_mm / min(sp[0], sp[1])

    @staticmethod
    def _check_size(image: Any, where: Any) -> None:
        if min(image.shape[1:3]) < 32 or image.shape[3] < 2:
            raise InputFileError(
                where, f"volume {tuple(image.shape[1:])} is too small to train on", "use at least 32×32 in-plane"
            )

    def _pretrained_state(self, scale: int) -> dict[str, torch.Tensor] | None:
        """The bundle's pretrained through-plane network of this factor, as the starting point (else cubic)."""
        net = getattr(self.base, "network", None)
        if isinstance(net, ThroughPlaneSR) and net.scale[2] == scale:
            logger.info("self-supervised training starts from the bundle's pretrained x%d network", scale)
            return {k: v.detach().clone() for k, v in net.net.state_dict().items()}
        return None

    def _model_path(self, image: Any) -> Path | None:
        if self.save_model is None:
            return None
        self._count += 1
        return (
            self.save_model
            if self._count == 1
            else self.save_model.with_name(f"{self.save_model.stem}_{self._count}{self.save_model.suffix}")
        )

    def predict(self, source: Any, progress: Callable[[int, int], None] | None = None) -> Any:
        """Train on ``source`` (a path, ``InputItem`` or ``MetaTensor``) and return its SR ``MetaTensor``."""
        image = self.base.load(source)
        scale, thickness_px = self._geometry(image)
        norm, _ = self._normalize(image)
        device = self.device
        if self.load_model is not None:
            model = SelfSupervisedSliceSR.load(self.load_model, device=device, progress=self.progress)
        else:
            model = SelfSupervisedSliceSR(scale=scale, thickness=thickness_px, profile=self.profile,
                                          iterations=self.iterations, budget_s=self.budget_s, seed=self.seed,
                                          device=device, progress=self.progress,
                                          init_state=self._pretrained_state(scale))  # fmt: skip
            model.fit(norm)
            path = self._model_path(image)
            if path is not None and model.generator is not None:
                model.save(path)
            elif path is not None:
                where = (image.meta or {}).get("filename_or_obj")
                logger.warning("%s: no model saved to %s: cubic B-spline beat both networks", where, path)
        net = model.model
        pipe = SRInferencePipeline(network=net, scale=net.scale, normalize=self.base.normalize, spatial_dims=3,
                                   in_channels=int(image.shape[0]), tile_size=self.base.tile_size, sw_batch_size=1,
                                   device=device, dtype="float32", check_geometry=False, clamp=self.base.clamp,
                                   keep_flat=self.base.keep_flat, self_ensemble=self.base.self_ensemble,
                                   model_name=f"{self.model_name} x{model.scale}")  # fmt: skip
        sr = pipe.predict(image, progress=progress)
        sr.meta["srgan_selfsup_iterations"] = model.trained_iterations
        sr.meta["srgan_selfsup"] = {"kept": model.kept, "iterations": model.trained_iterations, **model.validation}
        self.scale = net.scale
        return sr

    __call__ = predict

    def write(self, sr: Any, out_path: str | os.PathLike, fmt: str = "same", **writer_kwargs: Any) -> Path:
        """Write with the base pipeline's writers (derived DICOM series, NIfTI, …), naming the model that made it."""
        writer_kwargs.setdefault("model_name", str(sr.meta.get("srgan_model") or self.model_name))
        return self.base.write(sr, out_path, fmt, **writer_kwargs)
