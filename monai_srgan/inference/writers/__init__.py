"""Writers for SR outputs: derived DICOM series, PNG/JPEG/TIFF, NIfTI; all atomic, none overwrites."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monai_srgan.inference.writers._common import atomic_write_dir, atomic_write_file, sanitize_name
from monai_srgan.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from monai.data import MetaTensor

# the format writers import pydicom / nibabel / PIL on first use (PEP 562), keeping the CLI's start-up light
_LAZY = {
    "write_dicom_series": "dicom",
    "values_to_stored": "dicom",
    "DEFAULT_NOTE": "dicom",
    "write_png": "image",
    "write_jpeg": "image",
    "write_tiff": "image",
    "write_nifti": "nifti",
}

__all__ = [
    "write_image",
    "write_dicom_series",
    "write_png",
    "write_jpeg",
    "write_tiff",
    "write_nifti",
    "values_to_stored",
    "DEFAULT_NOTE",
    "atomic_write_file",
    "atomic_write_dir",
    "sanitize_name",
]


__getattr__ = lazy_exports(__name__, _LAZY)


def write_image(sr: MetaTensor, out_path: str | os.PathLike, fmt: str, model_name: str = "model", **kw: Any) -> Path:
    """Write an SR ``MetaTensor`` (from :meth:`SRInferencePipeline.predict`) in format ``fmt``.

    Args:
        sr: SR image with the pipeline's meta (``srgan_sr_scale``, ``srgan_source_files``, corrected ``affine``).
        out_path: the file (folder for ``dicom``) to create; never overwritten.
        fmt: ``dicom``, ``png``, ``jpeg``, ``tiff`` or ``nifti``.
        model_name: named in DICOM DerivationDescription.
        kw: writer options (DICOM: ``series_number``, ``series_description``, ``note``; JPEG: ``quality``).
    """
    meta = dict(sr.meta)
    if fmt == "dicom":
        if str(meta.get("srgan_format", "")) not in ("dicom", "dicom_series"):
            from monai_srgan.errors import ConfigError

            raise ConfigError(f"{out_path}: DICOM output needs a DICOM input (the header is taken from the source)")
        from monai_srgan.inference.writers.dicom import write_dicom_series

        return write_dicom_series(sr, meta, out_path, scale=meta.get("srgan_sr_scale", 1), model_name=model_name, **kw)
    from monai_srgan.inference.writers.image import write_jpeg, write_png, write_tiff
    from monai_srgan.inference.writers.nifti import write_nifti

    writers = {"png": write_png, "jpeg": write_jpeg, "tiff": write_tiff, "nifti": write_nifti}
    if fmt not in writers:
        from monai_srgan.errors import ConfigError

        raise ConfigError(f"unknown output format {fmt!r}")
    if fmt != "nifti" and sr.ndim != 3:
        from monai_srgan.errors import ConfigError

        raise ConfigError(f"{out_path}: a {sr.ndim - 1}D image cannot be written as {fmt}; use --format nifti")
    kw.pop("series_number", None), kw.pop("series_description", None), kw.pop("note", None)
    return writers[fmt](sr, meta, out_path, **kw)
