"""monai_srgan.inference: the shared SR inference pipeline, tiled inferer, writers and the ``monai-srgan`` CLI."""

from __future__ import annotations

from monai_srgan.inference.exported import ExportedGenerator, export_model, is_exported, load_exported
from monai_srgan.inference.pipeline import (
    FORMAT_EXTENSIONS,
    SRInferencePipeline,
    load_generator,
    output_format_for,
    sr_affine,
)
from monai_srgan.inference.tiling import SRInferer
from monai_srgan.inference.writers import (
    write_dicom_series,
    write_image,
    write_jpeg,
    write_nifti,
    write_png,
    write_tiff,
)

__all__ = [
    "SRInferencePipeline",
    "SRInferer",
    "sr_affine",
    "output_format_for",
    "FORMAT_EXTENSIONS",
    "load_generator",
    "ExportedGenerator",
    "export_model",
    "is_exported",
    "load_exported",
    "write_image",
    "write_dicom_series",
    "write_png",
    "write_jpeg",
    "write_tiff",
    "write_nifti",
]
