"""NIfTI writer (nibabel) with the SR-corrected affine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from monai_srgan.io.writers.common import affine_to_ras, atomic_write_file, to_numpy

__all__ = ["write_nifti"]


def write_nifti(
    image: np.ndarray | torch.Tensor,
    meta: Mapping[str, Any],
    path: str | os.PathLike,
    affine: np.ndarray | torch.Tensor | None = None,
    **_: Any,
) -> Path:
    """Write ``(C, *spatial)`` as NIfTI: spatial axes first (as the loader's axes), channels last when ``C > 1``.

    Args:
        image: SR image in the value domain (dtype kept: int16 MR stays int16, float stays float32).
        meta: its meta; ``affine`` (MONAI's, RAS unless ``meta["space"] == "LPS"``) is used when ``affine`` is None.
        path: ``.nii`` or ``.nii.gz`` file.
        affine: override of the affine.
    """
    arr = to_numpy(image)
    aff = affine_to_ras(affine if affine is not None else meta.get("affine"), meta.get("space"))
    data = np.moveaxis(arr, 0, -1)
    if data.shape[-1] == 1:
        data = data[..., 0]
    elif data.ndim == 3:  # 2D colour: (H, W, 1, C) so the channels are not read as slices
        data = data[:, :, None, :]
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    img = nib.Nifti1Image(np.ascontiguousarray(data), aff)
    img.header.set_xyzt_units("mm")
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    suffix = ".nii.gz" if str(path).endswith(".gz") else ".nii"

    def _w(tmp: Path) -> None:
        tmp_named = Path(str(tmp) + suffix)  # nibabel picks compression from the name
        nib.save(img, str(tmp_named))
        os.replace(tmp_named, tmp)

    return atomic_write_file(path, _w)
