"""What a NIfTI output's header says about space: qform and sform with their codes, units, and no shear.

* A NIfTI source keeps its own header: both transforms (``qform`` and ``sform``, which may differ), both codes and
  the spatial/time units. Each transform is mapped by the same voxel map as the output affine
  (``inv(source affine) @ SR affine``: spacing ÷ scale, origin on the new first voxel centre, as
  :func:`~monai_srgan.inference.formats.sr_affine` does to the affine), so every reader that prefers one transform
  over the other (ITK reads the qform, nibabel the sform) places the output exactly where it places the source.
* Any other source gets qform = sform = the SR affine, codes 1 (scanner), units mm.
* NIfTI's qform is a rotation and cannot hold a shear, and ITK refuses or rotates a sheared sform, so a sheared grid
  (a gantry-tilted DICOM series: the slice step not perpendicular to the image plane) is resampled slice by slice
  onto the orthogonal grid through the same first voxel (each slice moved in its own plane, cubic B-spline, values
  clipped to the data range, voxels moved in from outside the field of view set to the data minimum), as dcm2niix
  corrects gantry tilt. The DICOM output of the same series keeps the exact sheared positions instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["SHEAR_TOLERANCE_PX", "unshear_slices", "carried_forms"]

#: a shear that moves the last slice by less than this many voxels is left in the affine (rounding of the header)
SHEAR_TOLERANCE_PX = 0.01


def unshear_slices(arr: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Resample a ``(C, X, Y, Z)`` volume on a sheared grid onto the orthogonal grid through the same first voxel.

    One axis (normally the slice axis) may be oblique to the other two, which must be perpendicular to each other
    (as in a DICOM series); each slice is moved in its own plane by its shear offset. Other arrays are returned
    unchanged.

    Args:
        arr: channel-first volume (any real dtype; integers are rounded back).
        affine: its 4x4 affine.

    Returns:
        ``(array, affine)``: the resampled volume and its orthogonal affine, or the inputs when there is no shear.
    """
    if arr.ndim != 4:
        return arr, affine
    cols = np.asarray(affine, dtype=np.float64)[:3, :3]
    norms = np.linalg.norm(cols, axis=0)
    if np.any(norms == 0):
        return arr, affine
    cos = np.abs((cols / norms).T @ (cols / norms) - np.eye(3))
    for k in (2, 0, 1):
        a, b = (i for i in range(3) if i != k)
        if cos[a, b] < 1e-4:
            break
    else:  # no two axes perpendicular: a general shear, not the tilted-slice case
        return arr, affine
    pa = float(cols[:, k] @ cols[:, a] / norms[a] ** 2)  # voxels of axis a per step along axis k
    pb = float(cols[:, k] @ cols[:, b] / norms[b] ** 2)
    n = arr.shape[1 + k]
    if max(abs(pa), abs(pb)) * max(n - 1, 1) < SHEAR_TOLERANCE_PX:
        return arr, affine
    new_aff = np.array(affine, dtype=np.float64)
    new_aff[:3, k] = cols[:, k] - pa * cols[:, a] - pb * cols[:, b]
    lo, hi = float(arr.min()), float(arr.max())
    out = np.empty_like(arr)
    for c in range(arr.shape[0]):
        vol = np.moveaxis(arr[c], k, 0)  # (n, A, B): a view
        dst = np.moveaxis(out[c], k, 0)
        for t in range(n):
            # new voxel (i, j) of slice t is source voxel (i - t*pa, j - t*pb): shift by +t*(pa, pb)
            moved = ndimage.shift(vol[t].astype(np.float64), (t * pa, t * pb), order=3, mode="grid-constant", cval=lo)
            np.clip(moved, lo, hi, out=moved)
            dst[t] = np.rint(moved) if arr.dtype.kind in "iu" else moved
    return out, new_aff


def carried_forms(src: Mapping[str, Any], out_affine: np.ndarray) -> dict[str, Any]:
    """The source NIfTI's qform/sform, codes and units carried over to the output grid.

    Args:
        src: ``meta["srgan_nifti"]`` of the NIfTI reader (source transforms in the file's units).
        out_affine: the output's RAS affine in mm (the source affine in mm mapped by the SR voxel map).

    Returns:
        ``{"qform", "qform_code", "sform", "sform_code", "zooms", "space_unit", "time_unit"}`` for the output, the
        transforms and zooms in the source's units.
    """
    unit = float(src.get("mm_per_unit", 1.0) or 1.0)
    src_aff = np.asarray(src["affine"], dtype=np.float64).reshape(4, 4)
    src_mm = src_aff.copy()
    src_mm[:3] *= unit
    voxel_map = np.linalg.solve(src_mm, np.asarray(out_affine, dtype=np.float64))  # output voxel -> source voxel
    q = np.asarray(src["qform"], dtype=np.float64).reshape(4, 4) @ voxel_map
    s = np.asarray(src["sform"], dtype=np.float64).reshape(4, 4) @ voxel_map
    z = [float(v) for v in src.get("zooms", [])][:3]
    zooms = np.diag(z + [1.0] * (3 - len(z))) @ voxel_map[:3, :3]
    return {
        "qform": q,
        "qform_code": int(src.get("qform_code", 0)),
        "sform": s,
        "sform_code": int(src.get("sform_code", 0)),
        "zooms": [float(v) for v in np.linalg.norm(zooms, axis=0)],
        "space_unit": str(src.get("space_unit", "mm")),
        "time_unit": str(src.get("time_unit", "unknown")),
    }
