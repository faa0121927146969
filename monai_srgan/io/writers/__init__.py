"""Writers for SR outputs: derived DICOM series, PNG/JPEG/TIFF, NIfTI; all atomic, none overwrites.

``common.py`` holds the atomic file/folder writers every output of the package goes through; ``formats.py`` is the
one place that resolves an output format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monai_srgan.errors import ConfigError
from monai_srgan.io.writers.common import atomic_write_dir, atomic_write_file, sanitize_name
from monai_srgan.io.writers.formats import FORMAT_CHOICES, FORMAT_EXTENSIONS, output_format_for
from monai_srgan.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from monai.data import MetaTensor

# the format writers import pydicom / nibabel / PIL on first use (PEP 562), keeping the CLI's start-up light
_LAZY = {
    **dict.fromkeys(("write_dicom_series", "DEFAULT_NOTE"), "dicom"),
    **dict.fromkeys(("write_png", "write_jpeg", "write_tiff"), "image"),
    "write_nifti": "nifti",
}
#: the writer function of each 2D/volume output format (DICOM has its own branch: it needs the source headers)
_WRITERS = {"png": "write_png", "jpeg": "write_jpeg", "tiff": "write_tiff", "nifti": "write_nifti"}

__all__ = [
    "write_image",
    "write_dicom_series",
    "write_png",
    "write_jpeg",
    "write_tiff",
    "write_nifti",
    "DEFAULT_NOTE",
    "FORMAT_EXTENSIONS",
    "FORMAT_CHOICES",
    "output_format_for",
    "atomic_write_file",
    "atomic_write_dir",
    "sanitize_name",
]


__getattr__ = lazy_exports(__name__, _LAZY)


def write_image(
    sr: MetaTensor, out_path: str | os.PathLike, fmt: str = "same", model_name: str = "model", **kw: Any
) -> Path:
    """Write an SR ``MetaTensor`` (from :meth:`SRInferencePipeline.predict`) in format ``fmt``.

    Args:
        sr: SR image with the pipeline's meta (``srgan_sr_scale``, ``srgan_source_files``, corrected ``affine``).
        out_path: the file (folder for ``dicom``) to create; never overwritten.
        fmt: ``same``, ``dicom``, ``png``, ``jpeg``, ``tiff`` or ``nifti`` (aliases: see
            :func:`~monai_srgan.io.writers.formats.output_format_for`).
        model_name: named in DICOM DerivationDescription.
        kw: writer options (DICOM: ``series_number``, ``series_description``, ``note``, ``uid_seed``; JPEG: ``quality``;
            PNG/TIFF: ``compress_level``).

    Raises:
        ConfigError: an unknown format, DICOM output of a non-DICOM input, a volume as a 2D format.
    """
    meta = dict(sr.meta)
    fmt = output_format_for(meta, fmt)
    if fmt == "dicom":
        if str(meta.get("srgan_format", "")) not in ("dicom", "dicom_series"):
            raise ConfigError(
                f"{out_path}: DICOM output needs a DICOM input (the header is taken from the source): "
                "choose another format (same, png, tiff or nifti)"
            )
        from monai_srgan.io.writers.dicom import write_dicom_series

        return write_dicom_series(sr, meta, out_path, scale=meta.get("srgan_sr_scale", 1), model_name=model_name, **kw)
    if fmt != "nifti" and sr.ndim != 3:
        raise ConfigError(f"{out_path}: a {sr.ndim - 1}D image cannot be written as {fmt}; use --format nifti")
    for dicom_only in ("series_number", "series_description", "note", "uid_seed"):
        kw.pop(dicom_only, None)
    return __getattr__(_WRITERS[fmt])(sr, meta, out_path, **kw)
