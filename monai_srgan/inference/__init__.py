"""monai_srgan.inference: the shared SR inference pipeline, tiled inferer, writers and the ``monai-srgan`` CLI.

Names are imported on first use (PEP 562), so ``monai-srgan --help`` starts without loading torch or MONAI.
"""

from __future__ import annotations

from monai_srgan.utils.lazy import lazy_exports

_LAZY = {
    "SRInferencePipeline": "pipeline",
    "load_generator": "pipeline",
    "output_format_for": "pipeline",
    "sr_affine": "pipeline",
    "FORMAT_EXTENSIONS": "pipeline",
    "SRInferer": "tiling",
    "ExportedGenerator": "exported",
    "export_model": "exported",
    "is_exported": "exported",
    "load_exported": "exported",
    "write_image": "writers",
    "write_dicom_series": "writers",
    "write_png": "writers",
    "write_jpeg": "writers",
    "write_tiff": "writers",
    "write_nifti": "writers",
}

__all__ = list(_LAZY)


__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
