"""MONAI Label infer task that serves an SR bundle through the shared inference pipeline.

Needs ``monailabel`` (the MONAI Label server environment, see docs/monailabel.md).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from monai_srgan.apps.monailabel.bundles import conf_bool
from monai_srgan.apps.monailabel.errors import UnknownImageError
from monai_srgan.apps.monailabel.results import choose_output_format, lr_consistency_psnr, result_params
from monai_srgan.errors import InputFileError
from monai_srgan.inference import SRInferencePipeline

__all__ = ["SRInferTask"]

logger = logging.getLogger(__name__)


class SRInferTask(BasicInferTask):
    """Super-resolution of one image with :class:`monai_srgan.inference.SRInferencePipeline` built from a bundle.

    The steps of ``BasicInferTask.__call__`` are mapped onto the pipeline: pre-transforms = the pipeline's loader
    (PNG/JPEG/TIFF, DICOM file or series folder, NIfTI), inferer = :meth:`SRInferencePipeline.predict` (tiling,
    intensity inversion, corrected affine/spacing), writer = the pipeline's PNG/NIfTI writer. The result file is the
    SR image; the JSON result holds scale, model, spacing, timing and the LR-consistency PSNR
    (:func:`monai_srgan.apps.monailabel.results.result_params`).

    Request parameters (``params`` form field, or the task's config): ``format`` (``auto``: PNG for 2D, NIfTI for
    volumes; ``png``; ``nifti``), ``lr_consistency`` (compute the LR-consistency PSNR, default true), ``tile_size``
    (input pixels), ``device`` (``cpu``, ``cuda``, ...), ``store`` (true: also send the result as a derived DICOM
    series into the source's study on the DICOMweb server the datastore reads, :attr:`store_to`; the JSON result
    then holds ``stored``), ``uncertainty`` (true: the JSON result holds ``uncertainty_mean`` and
    ``uncertainty_high_fraction`` of the calibrated uncertainty map, docs/inference.md "Uncertainty"), ``result``
    (``"uncertainty"``: the result file is that one-SD map itself — float32 TIFF for 2D, NIfTI for volumes — the
    second output beside the image).

    Args:
        bundle_dir: bundle folder (``configs/inference.json`` + ``models/model.pt``).
        name: model name the server uses (default: the folder name).
        weights: weight file instead of the bundle's.
        description: shown in ``/info/`` (default: from the bundle).
        pipeline_kwargs: further :meth:`SRInferencePipeline.from_bundle` overrides (``tile_size``, ``sw_batch_size``).
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike,
        name: str | None = None,
        weights: str | os.PathLike | None = None,
        description: str | None = None,
        **pipeline_kwargs: Any,
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.name = name or self.bundle_dir.name
        self.weights = weights
        self._pipeline_kwargs = dict(pipeline_kwargs)
        self._pipelines: dict[str, SRInferencePipeline] = {}
        self._lock = threading.Lock()
        pipe = self.pipeline("cpu")  # fails at start-up, not at the first request, when the bundle is broken
        scale = pipe.scale if isinstance(pipe.scale, int) else list(pipe.scale)
        weight_path = Path(weights) if weights else self.bundle_dir / "models" / "model.pt"
        super().__init__(
            path=str(weight_path),
            network=None,
            type=InferType.OTHERS,
            labels=[],
            dimension=pipe.spatial_dims,
            description=description or f"GAN super-resolution x{scale} ({self.name}, monai_srgan)",
            config={"format": "auto", "lr_consistency": True, "tile_size": pipe.tile_size},
        )
        self.scale = scale
        #: DICOMweb root the derived series of ``store`` requests go to (set by the app for a DICOMweb datastore)
        self.store_to: str | None = None

    def info(self) -> dict[str, Any]:
        """``/info/`` entry: MONAI Label's fields plus ``scale``, ``in_channels`` and ``bundle``."""
        out = super().info()
        pipe = self.pipeline("cpu")
        out.update(scale=self.scale, in_channels=pipe.in_channels, bundle=str(self.bundle_dir), output="image")
        return out

    def is_valid(self) -> bool:
        """Valid when the pipeline was built (the weights may also come from the config's ``model_path``)."""
        return bool(self._pipelines)

    def pipeline(self, device: str = "cpu", tile_size: int | None = None):
        """The :class:`SRInferencePipeline` for ``device`` (built once per device and tile size, then reused)."""
        key = f"{device}|{tile_size}"
        with self._lock:
            if key not in self._pipelines:
                kw = {**self._pipeline_kwargs, "device": device}
                if tile_size:
                    kw["tile_size"] = int(tile_size)
                self._pipelines[key] = SRInferencePipeline.from_bundle(self.bundle_dir, weights=self.weights, **kw)
            return self._pipelines[key]

    # ----------------------------------------------------------------- BasicInferTask steps
    def pre_transforms(self, data: Any = None) -> list:
        """No MONAI pre-transforms: loading is the pipeline's (see :meth:`run_pre_transforms`)."""
        return []

    def inverse_transforms(self, data: Any = None) -> None:
        """No inverse transforms: the pipeline maps the output back to the source value domain itself."""
        return None

    def post_transforms(self, data: Any = None) -> list:
        """No post-transforms: the SR image is the result."""
        return []

    def _pipe_for(self, data: dict[str, Any]):
        tile = data.get("tile_size")
        return self.pipeline(str(data.get("device") or "cpu"), int(tile) if tile else None)

    def run_pre_transforms(self, data: dict[str, Any], transforms: Any) -> dict[str, Any]:
        """Load ``data["image"]`` (a path from the datastore or an uploaded file) with the pipeline's loader."""
        t0 = time.perf_counter()
        image = data.get("image")
        if not image or (isinstance(image, str) and not os.path.exists(image)):
            raise UnknownImageError(
                f"image '{data.get('image_path') or image}' is not in the datastore and no file was uploaded"
            )
        try:
            data["image"] = self._pipe_for(data).load(image)
        except InputFileError:
            raise
        except Exception as e:  # noqa: BLE001 - a file the loader cannot parse is the client's input problem
            raise InputFileError(
                image,
                f"cannot be read as an image ({type(e).__name__}: {e})",
                "send a PNG/JPEG/TIFF/BMP, DICOM or NIfTI file",
            ) from e
        data.setdefault("srgan_timing", {})["load_s"] = time.perf_counter() - t0
        return data

    def run_inferer(self, data: dict[str, Any], convert_to_batch: bool = True, device: str = "cpu") -> dict[str, Any]:
        """Super-resolve ``data["image"]`` into ``data["pred"]``; LR-consistency PSNR into ``data["srgan_lr_psnr"]``."""
        pipe = self._pipe_for({**data, "device": str(device)})
        lr = data["image"]
        sr = pipe.predict(lr)
        timing = data.setdefault("srgan_timing", {})
        timing["inference_s"] = float(sr.meta.get("srgan_inference_s", 0.0))
        psnr = None
        if conf_bool(data.get("lr_consistency"), default=True):
            t0 = time.perf_counter()
            psnr = lr_consistency_psnr(lr.as_tensor(), sr.as_tensor(), sr.meta["srgan_sr_scale"], lr.meta)
            timing["lr_consistency_s"] = time.perf_counter() - t0
        data[self.output_label_key] = sr
        data["srgan_lr_psnr"] = psnr
        data["srgan_lr_shape"] = list(lr.shape)
        if conf_bool(data.get("uncertainty"), default=False) or data.get("result") == "uncertainty":
            from monai_srgan.inference.uncertainty import estimate_uncertainty, pipeline_error_model

            t0 = time.perf_counter()
            model = pipeline_error_model(pipe)
            data["srgan_uncertainty"] = estimate_uncertainty(pipe, lr, sr, model)
            timing["uncertainty_s"] = time.perf_counter() - t0
        return data

    def writer(self, data: dict[str, Any], extension: Any = None, dtype: Any = None) -> tuple[str, dict[str, Any]]:
        """Write the SR image with the pipeline's writer to a temporary file; returns it and the JSON result."""
        t0 = time.perf_counter()
        sr = data[self.output_label_key]
        fmt, suffix = choose_output_format(data.get("format") or data.get("result_extension"), sr.ndim - 1)
        pipe = self._pipe_for(data)
        sigma = data.get("srgan_uncertainty")
        if data.get("result") == "uncertainty":  # the second output: the calibrated one-SD map instead of the image
            fmt, suffix = ("nifti", ".nii.gz") if sr.ndim == 4 else ("tiff", ".tif")
        fd, tmp = tempfile.mkstemp(prefix=f"srgan_{self.name}_", suffix=suffix)
        os.close(fd)
        os.unlink(tmp)  # the writers never overwrite: give them a free name
        if data.get("result") == "uncertainty":
            from monai_srgan.inference.uncertainty import write_uncertainty

            out = write_uncertainty(sigma, tmp, fmt, sr)
        else:
            out = pipe.write(sr, tmp, fmt)
        timing = data.setdefault("srgan_timing", {})
        timing["write_s"] = time.perf_counter() - t0
        params = result_params(
            self.name, str(self.bundle_dir), data["srgan_lr_shape"], sr, fmt, timing, data.get("srgan_lr_psnr")
        )
        if sigma is not None:
            params["uncertainty_mean"] = round(float(sigma.meta["srgan_uncertainty_mean"]), 6)
            params["uncertainty_high_fraction"] = round(float(sigma.meta["srgan_uncertainty_high_fraction"]), 6)
            params["result"] = "uncertainty" if data.get("result") == "uncertainty" else "image"
        if conf_bool(data.get("store"), default=False):
            params["stored"] = self.store(sr, pipe)
        logger.info("SR %s: %s -> %s (%s)", self.name, params["input_shape"], params["output_shape"], out)
        return str(out), params

    def store(self, sr: Any, pipe: Any) -> dict[str, Any]:
        """Write ``sr`` as a derived DICOM series (deterministic UIDs) and send it to :attr:`store_to` with STOW-RS.

        Credentials: MONAI Label's ``MONAI_LABEL_DICOMWEB_USERNAME``/``PASSWORD``, else monai_srgan's
        (:mod:`monai_srgan.io.dicomweb`). Returns :func:`~monai_srgan.io.dicomweb.store_series`'s counts.

        Raises:
            ConfigError: the datastore is not DICOMweb, or the image is not DICOM.
            DicomWebError: the server refuses or cannot be reached.
        """
        import shutil

        from monailabel.config import settings

        from monai_srgan.errors import ConfigError
        from monai_srgan.inference.pacs import uid_seed
        from monai_srgan.io import dicomweb

        if not self.store_to:
            raise ConfigError("store=true needs a DICOMweb datastore (start the server with --studies http://…)")
        if str(sr.meta.get("srgan_format", "")) not in ("dicom", "dicom_series"):
            raise ConfigError("store=true needs a DICOM image (the derived series copies the source's header)")
        tmp = Path(tempfile.mkdtemp(prefix=f"srgan_{self.name}_store_"))
        try:
            folder = pipe.write(sr, tmp / "series", "dicom", uid_seed=uid_seed(pipe, {}))
            session = dicomweb.open_session(
                user=settings.MONAI_LABEL_DICOMWEB_USERNAME or None,
                password=settings.MONAI_LABEL_DICOMWEB_PASSWORD or None,
            )
            result = dicomweb.store_series(dicomweb.open_client(self.store_to, session), folder, self.store_to)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info("stored derived series %s (%s instances)", result["series"], result["stored"])
        return result
