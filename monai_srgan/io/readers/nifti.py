"""NIfTI reader (nibabel): ``(C, X, Y, Z)`` in the stored voxel order with the file's affine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nibabel as nib
import numpy as np

from monai_srgan.errors import InputFileError
from monai_srgan.io.files import NIFTI_EXTENSIONS, RECOPY_HINT, check_file
from monai_srgan.io.readers.base import SingleFileReader

__all__ = ["NiftiReader", "load_nifti", "MM_PER_UNIT"]

#: millimetres per NIfTI spatial unit (``xyzt_units``); "unknown" is read as mm, as nibabel and ITK do
MM_PER_UNIT = {"meter": 1000.0, "mm": 1.0, "micron": 0.001, "unknown": 1.0}


def _nifti_channels_4d(img, shape: Sequence[int]) -> bool:
    """A 4D NIfTI holds channels (not time points) when it is a 2D colour image ``(X, Y, 1, 3)`` as the NIfTI writer
    stores it, or declares a vector intent (NIFTI_INTENT_VECTOR, 1007)."""
    try:
        intent = int(img.header.get("intent_code", 0) or 0)
    except (TypeError, ValueError):
        intent = 0
    return intent == 1007 or (shape[2] == 1 and shape[3] == 3)


def _channels_first(img, data: np.ndarray, path: str) -> np.ndarray:
    if data.ndim == 5 and data.shape[3] == 1:  # NIfTI vector layout (X, Y, Z, 1, C): components as channels
        data = data[:, :, :, 0]
    elif data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    elif data.ndim == 4 and not _nifti_channels_4d(img, data.shape):
        raise InputFileError(
            path,
            f"is a 4D NIfTI of shape {tuple(data.shape)}: {data.shape[3]} volumes along the 4th axis (a time series "
            "or a multi-volume acquisition), which a super-resolution model does not take",
            "supported are 2D (X, Y) and 3D (X, Y, Z) NIfTI, and 2D colour as (X, Y, 1, 3); split it into 3D "
            "volumes first (e.g. 'fslsplit IN OUT -t' or nibabel.funcs.four_to_three) and process those",
        )
    if data.ndim == 4:  # (X, Y, Z, C): channels first
        return np.moveaxis(data, -1, 0)
    if data.ndim in (2, 3):
        return data[None]
    raise InputFileError(path, f"unsupported NIfTI shape {data.shape}", "expected 2D, 3D or 4D data")


def _header_meta(img, unit_mm: float) -> dict[str, Any]:
    """``srgan_nifti``: what the NIfTI writer keeps of the source header (plain lists, in the file's units)."""
    hdr = img.header
    space, time_unit = hdr.get_xyzt_units()
    return {
        "affine": np.asarray(img.affine, dtype=np.float64).ravel().tolist(),
        "qform": np.asarray(hdr.get_qform(coded=False), dtype=np.float64).ravel().tolist(),
        "qform_code": int(hdr.get("qform_code", 0) or 0),
        "sform": np.asarray(hdr.get_sform(coded=False), dtype=np.float64).ravel().tolist(),
        "sform_code": int(hdr.get("sform_code", 0) or 0),
        "zooms": [float(z) for z in hdr.get_zooms()[:3]],
        "space_unit": space,
        "time_unit": time_unit,
        "mm_per_unit": unit_mm,
    }


def load_nifti(path: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a NIfTI file: ``(values (C, X, Y[, Z]), affine, srgan_* meta)``.

    The value range is the stored integer dtype's range through the scaling (``scl_slope``/``scl_inter``) for
    integer data of up to 16 bits, else the data range; the scaling is reported as ``srgan_rescale_slope`` /
    ``srgan_rescale_intercept`` (so that a scaled integer file is written back as float, its real values kept).
    ``srgan_spacing_known`` is False for axes of a header without sform/qform whose zoom is 1. The affine and
    ``srgan_spacing`` are in mm whatever the file's spatial unit (``xyzt_units`` micron or meter are converted);
    ``srgan_nifti`` keeps the source's qform, sform, their codes and units for the writer.

    Args:
        path: the ``.nii``/``.nii.gz`` file.

    Raises:
        InputFileError: a missing/empty/corrupt file, NaN/Inf voxels, a 4D time series, an unsupported shape.
    """
    check_file(path)
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj)
    except Exception as e:  # noqa: BLE001 - nibabel/gzip/zlib errors on broken files
        raise InputFileError(
            path, f"NIfTI file cannot be read ({type(e).__name__}: {e})", f"the file is corrupt: {RECOPY_HINT}"
        ) from e
    stored = np.dtype(img.get_data_dtype())
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        n_bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise InputFileError(path, f"volume contains {n_bad} NaN/Inf voxels", "fix or mask the volume before use")
    vals = _channels_first(img, data, path)
    slope, inter = img.dataobj.slope, img.dataobj.inter
    scaled = not (slope in (None, 1) or np.isnan(slope)) or not (inter in (None, 0) or np.isnan(inter))
    if stored == np.uint8 and not scaled:  # an 8-bit picture: its representable range, as for PNG
        lo, hi = 0.0, 255.0
    else:  # CT/MR in int16 or wider, floats, scaled data: the data range (dicom_values explains why)
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
    hdr = img.header
    unit_mm = MM_PER_UNIT.get(hdr.get_xyzt_units()[0], 1.0)
    raw_zooms = [float(z) for z in hdr.get_zooms()[: min(3, data.ndim)]]
    zooms = [z * unit_mm for z in raw_zooms]
    affine = np.asarray(img.affine, dtype=np.float64).copy()
    affine[:3] *= unit_mm
    no_xform = int(hdr.get("sform_code", 0) or 0) == 0 and int(hdr.get("qform_code", 0) or 0) == 0
    meta = {
        "srgan_format": "nifti",
        "srgan_dtype": str(stored),
        "srgan_bits": int(stored.itemsize * 8),
        "srgan_value_min": lo,
        "srgan_value_max": hi,
        "srgan_photometric": "MONOCHROME2",
        "srgan_inverted": False,
        "srgan_rescale_slope": float(slope) if scaled and slope is not None and not np.isnan(slope) else 1.0,
        "srgan_rescale_intercept": float(inter) if scaled and inter is not None and not np.isnan(inter) else 0.0,
        "srgan_source_files": [path],
        "srgan_spacing": zooms,
        "srgan_spacing_known": [not (no_xform and abs(z - 1.0) < 1e-6) for z in raw_zooms],
        "srgan_nifti": _header_meta(img, unit_mm),
    }
    return vals, affine, meta


class NiftiReader(SingleFileReader):
    """MONAI ``ImageReader`` for ``.nii``/``.nii.gz`` through nibabel, values and voxel order as stored.

    Args:
        check_finite: see :class:`~monai_srgan.io.readers.base.SingleFileReader`.
    """

    suffixes = NIFTI_EXTENSIONS
    load = staticmethod(load_nifti)
