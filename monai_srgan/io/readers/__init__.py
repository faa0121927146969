"""Readers, one file per family, each a ``monai.data.ImageReader`` whose data are in the source's value domain.

* :class:`DicomReader` (``dicom.py``; decoding checks in ``dicom_decode.py``, series geometry in ``dicom_series.py``),
* :class:`PillowImageReader` (``pil.py``: PNG/JPEG/TIFF/BMP/``.ppm.gz``),
* :class:`ITKColorTiffReader` (``itk.py``: 16-bit colour TIFF),
* :class:`NiftiReader` (``nifti.py``).

Names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import Any

from monai_srgan.utils.lazy import lazy_exports

_LAZY = {
    "ValueDomainReader": "base",
    "DicomReader": "dicom",
    "ITKColorTiffReader": "itk",
    "NiftiReader": "nifti",
    "PillowImageReader": "pil",
}
#: reader class of each input kind of :func:`monai_srgan.io.discovery.input_kind`
_KIND_READERS = {
    "dicom": "DicomReader",
    "dicom_series": "DicomReader",
    "nifti": "NiftiReader",
    "image": "PillowImageReader",
}

__all__ = [*_LAZY, "reader_for"]

__getattr__ = lazy_exports(__name__, _LAZY)


def reader_for(
    kind: str, voi_window: bool | tuple[float, float] | None = False, voi_index: int = 0, check_finite: bool = True
) -> Any:
    """The reader of an input kind (``"dicom"``, ``"dicom_series"``, ``"nifti"``, ``"image"``).

    Args:
        kind: the input kind.
        voi_window: DICOM VOI option (see :class:`DicomReader`); other readers ignore it.
        voi_index: DICOM VOI window index.
        check_finite: refuse NaN/Inf values.

    Raises:
        ConfigError: an unknown kind.
    """
    if kind not in _KIND_READERS:
        from monai_srgan.errors import ConfigError

        raise ConfigError(f"unknown input kind {kind!r}: one of {', '.join(_KIND_READERS)}")
    cls = __getattr__(_KIND_READERS[kind])
    if kind in ("dicom", "dicom_series"):
        return cls(voi_window=voi_window, voi_index=voi_index, check_finite=check_finite)
    return cls(check_finite=check_finite)
