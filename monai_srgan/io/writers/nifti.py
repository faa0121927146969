"""NIfTI writer (nibabel) with the SR-corrected affine; header geometry in :mod:`.nifti_geometry`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from monai_srgan.io.readers.dicom_series import require_regular_slices
from monai_srgan.io.writers.common import affine_to_ras, atomic_write_file, to_numpy
from monai_srgan.io.writers.nifti_geometry import carried_forms, unshear_slices

__all__ = ["write_nifti"]


def write_nifti(
    image: np.ndarray | torch.Tensor,
    meta: Mapping[str, Any],
    path: str | os.PathLike,
    affine: np.ndarray | torch.Tensor | None = None,
    **_: Any,
) -> Path:
    """Write ``(C, *spatial)`` as NIfTI: spatial axes first (as the loader's axes), channels last when ``C > 1``.

    A NIfTI source keeps its qform and sform (each mapped to the output grid), their codes and its units; other
    sources get qform = sform = the affine (codes 1, mm). A sheared grid (gantry-tilted DICOM series) is resampled
    onto an orthogonal one (:func:`~monai_srgan.io.writers.nifti_geometry.unshear_slices`).

    Args:
        image: SR image in the value domain (dtype kept: int16 MR stays int16, float stays float32).
        meta: its meta; ``affine`` (MONAI's, RAS unless ``meta["space"] == "LPS"``) is used when ``affine`` is None.
        path: ``.nii`` or ``.nii.gz`` file.
        affine: override of the affine.

    Raises:
        InputFileError: a DICOM series whose slices are not evenly spaced (a missing slice): NIfTI holds a regular
            grid only.
    """
    require_regular_slices(
        meta,
        "a NIfTI file",
        "write this series with --format dicom (each slice keeps its own position), or fill the gap / split the "
        "series into evenly spaced parts first",
    )
    arr = to_numpy(image)
    aff = affine_to_ras(affine if affine is not None else meta.get("affine"), meta.get("space"))
    src = meta.get("srgan_nifti")
    if isinstance(src, Mapping) and "affine" in src:
        forms = carried_forms(src, aff)
        for name in ("qform", "sform"):  # a form the source does not set (code 0, all zeros): the voxel grid's affine
            if abs(np.linalg.det(np.asarray(forms[name])[:3, :3])) < 1e-12:
                forms[name] = aff
    else:
        arr, aff = unshear_slices(arr, aff)
        forms = {"qform": aff, "qform_code": 1, "sform": aff, "sform_code": 1, "space_unit": "mm"}
        forms["time_unit"], forms["zooms"] = "unknown", None
    data = np.moveaxis(arr, 0, -1)
    if data.shape[-1] == 1:
        data = data[..., 0]
    elif data.ndim == 3:  # 2D colour: (H, W, 1, C) so the channels are not read as slices
        data = data[:, :, None, :]
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    img = nib.Nifti1Image(np.ascontiguousarray(data), forms["sform"])
    img.header.set_xyzt_units(forms["space_unit"], forms["time_unit"])
    img.set_sform(forms["sform"], code=forms["sform_code"])
    img.set_qform(forms["qform"], code=forms["qform_code"])
    if forms["zooms"] is not None and forms["qform_code"] == 0:  # no qform: pixdim is the spacing readers fall back on
        zooms = list(img.header.get_zooms())
        k = min(3, len(zooms))
        img.header.set_zooms([*forms["zooms"][:k], *zooms[k:]])
    suffix = ".nii.gz" if str(path).endswith(".gz") else ".nii"

    def _w(tmp: Path) -> None:
        tmp_named = Path(str(tmp) + suffix)  # nibabel picks compression from the name
        nib.save(img, str(tmp_named))
        os.replace(tmp_named, tmp)

    return atomic_write_file(path, _w)
