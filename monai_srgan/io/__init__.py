"""monai_srgan.io: the data layer, every file read and written by the package.

* ``discovery.py``: :func:`find_inputs`, :class:`InputItem`, :func:`validate_input`, :func:`is_dicom_file`;
* ``readers/``: one MONAI ``ImageReader`` per family (DICOM, Pillow, ITK, NIfTI), values in the source's domain;
* ``dicom_values.py``: DICOM value-domain rules in both directions (stored ⇄ values), used by reader and writer;
* ``writers/``: derived DICOM series, PNG/JPEG/TIFF, NIfTI, and the atomic file writer every output goes through.

Names are imported on first use (PEP 562), so the CLI's start-up loads neither torch nor MONAI.
"""

from __future__ import annotations

from monai_srgan.utils.lazy import lazy_exports

_LAZY = {
    **dict.fromkeys(("InputItem", "find_inputs", "validate_input", "is_dicom_file", "input_kind"), "discovery"),
    **dict.fromkeys(("DicomReader", "PillowImageReader", "ITKColorTiffReader", "NiftiReader", "reader_for"), "readers"),
    **dict.fromkeys(("values_to_stored", "stored_to_values"), "dicom_values"),
    **dict.fromkeys(("write_image", "output_format_for", "atomic_write_file"), "writers"),
}

__all__ = list(_LAZY)

__getattr__ = lazy_exports(__name__, _LAZY)
