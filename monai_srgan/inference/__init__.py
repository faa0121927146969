"""monai_srgan.inference: the shared SR inference pipeline, tiled inferer, writers and the ``monai-srgan`` CLI.

Names are imported on first use (PEP 562), so ``monai-srgan --help`` starts without loading torch or MONAI.
"""

from __future__ import annotations

from monai_srgan.utils.lazy import lazy_exports

_LAZY = {
    "SRInferencePipeline": "pipeline",
    "load_generator": "pipeline",
    "output_format_for": "monai_srgan.io.writers.formats",
    "sr_affine": "pipeline",
    "FORMAT_EXTENSIONS": "monai_srgan.io.writers.formats",
    "SRInferer": "tiling",
    "ExportedGenerator": "exported",
    "export_model": "exported",
    "is_exported": "exported",
    "load_exported": "exported",
    # the writers live in the data layer, monai_srgan.io.writers
    **dict.fromkeys(
        ("write_image", "write_dicom_series", "write_png", "write_jpeg", "write_tiff", "write_nifti"),
        "monai_srgan.io.writers",
    ),
}

__all__ = list(_LAZY)


__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
