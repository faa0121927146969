"""DICOM series geometry: slice order, duplicate instances, the RAS affine of a volume (PS3.3 C.7.6.2.1.1).

Slices are sorted by ``ImagePositionPatient`` projected on the slice normal ``row x column`` of
``ImageOrientationPatient``, ties broken by ``InstanceNumber``; never by file name.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np

from monai_srgan.errors import InputFileError
from monai_srgan.io.readers.dicom_decode import PIXEL_TAGS

__all__ = ["orientation", "positive_float", "volume_affine", "drop_duplicate_instances", "geometric_order"]

logger = logging.getLogger(__name__)


def orientation(ds) -> tuple[np.ndarray, np.ndarray] | None:
    """``(row direction, column direction)`` cosines of ImageOrientationPatient, or None when absent/invalid.

    Args:
        ds: a dataset.
    """
    iop = ds.get("ImageOrientationPatient", None)
    if iop is None or len(iop) != 6:
        return None
    v = np.asarray([float(x) for x in iop], dtype=np.float64)
    return v[:3], v[3:]


def positive_float(value) -> float | None:
    """``value`` as a positive finite float, or None.

    Args:
        value: a DICOM value (DS/IS/str/None).
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 and np.isfinite(v) else None


def volume_affine(ds, spacing: Sequence[float], slice_vec: np.ndarray | None) -> np.ndarray:
    """RAS affine of a ``(H=rows, W=cols, D=slices)`` volume from DICOM (LPS) geometry (PS3.3 C.7.6.2.1.1)."""
    affine = np.diag([*spacing, 1.0]).astype(np.float64)
    ori = orientation(ds)
    ipp = ds.get("ImagePositionPatient", None)
    if ori is None or ipp is None:
        return affine
    row_cos, col_cos = ori
    normal = np.cross(row_cos, col_cos)
    affine[:3, 0] = col_cos * spacing[0]  # moving down the rows
    affine[:3, 1] = row_cos * spacing[1]  # moving along a row
    affine[:3, 2] = slice_vec if slice_vec is not None else normal * spacing[2]
    affine[:3, 3] = [float(v) for v in ipp]
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine  # LPS -> RAS (MONAI's convention)


def drop_duplicate_instances(paths: list[str], datasets: list, where: str, notes: list[str]) -> tuple[list, list]:
    """Keep one file per SOPInstanceUID: identical copies are dropped with a warning, differing ones refused."""
    seen: dict[str, int] = {}
    keep: list[int] = []
    for i, ds in enumerate(datasets):
        uid = str(ds.get("SOPInstanceUID", "") or "")
        if not uid:
            keep.append(i)
            continue
        if uid not in seen:
            seen[uid] = i
            keep.append(i)
            continue
        j = seen[uid]
        same = _pixel_bytes(datasets[j]) == _pixel_bytes(ds) and _float_tuple(
            datasets[j].get("ImagePositionPatient")
        ) == _float_tuple(ds.get("ImagePositionPatient"))
        if not same:
            raise InputFileError(
                where,
                f"two files of the series share SOPInstanceUID {uid} but hold different images: {paths[j]} and "
                f"{paths[i]}",
                "one of them is a modified copy: remove the wrong file (a derived series must reference each source "
                "instance unambiguously)",
            )
        note = f"{paths[i]} is a duplicate of {paths[j]} (same SOPInstanceUID {uid}, same pixels): ignored"
        logger.warning("%s: %s", where, note)
        notes.append(note)
    return [paths[i] for i in keep], [datasets[i] for i in keep]


def _pixel_bytes(ds) -> bytes | None:
    for tag in PIXEL_TAGS:
        if tag in ds:
            return bytes(ds[tag].value)
    return None


def _float_tuple(value) -> tuple[float, ...] | None:
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None


def geometric_order(paths, datasets, where) -> tuple[list[int], np.ndarray | None, float]:
    """Slice order by position along the normal (then InstanceNumber); returns (order, slice step vector, spacing)."""
    n = len(datasets)
    inst = [int(ds.get("InstanceNumber", 0) or 0) for ds in datasets]
    oris = [orientation(ds) for ds in datasets]
    ipps = [ds.get("ImagePositionPatient", None) for ds in datasets]
    if all(o is not None for o in oris) and all(p is not None and len(p) == 3 for p in ipps):
        row0, col0 = oris[0]
        for p, (r, c) in zip(paths, oris):
            if not (np.allclose(r, row0, atol=1e-3) and np.allclose(c, col0, atol=1e-3)):
                raise InputFileError(p, "slices of the series have different orientations", "split the series")
        normal = np.cross(row0, col0)
        pos = np.asarray([[float(v) for v in p] for p in ipps])
        proj = pos @ normal
        order = sorted(range(n), key=lambda i: (proj[i], inst[i]))
        if n > 1:
            steps = np.diff(proj[order])
            if np.any(np.abs(steps) < 1e-4):
                i = int(np.argmin(np.abs(steps)))
                raise InputFileError(
                    paths[order[i + 1]],
                    f"two slices share one position ({paths[order[i]]} and this file)",
                    "the folder mixes acquisitions (echoes, time points): split the series",
                )
            dz = float(np.median(steps))
            if np.max(np.abs(steps - dz)) > 0.01 * abs(dz) + 1e-3:
                warnings.warn(
                    f"{where}: slice spacing is not uniform ({steps.min():.4g}..{steps.max():.4g} mm)", stacklevel=4
                )
            slice_vec = (pos[order[-1]] - pos[order[0]]) / (n - 1)
            return order, slice_vec, float(abs(dz))
        thick = datasets[0].get("SliceThickness", None)
        return order, None, float(thick) if thick is not None and float(thick) > 0 else 1.0
    if all(ds.get("InstanceNumber", None) is not None for ds in datasets):
        order = sorted(range(n), key=lambda i: inst[i])
        if len(set(inst)) < n:
            raise InputFileError(
                where, "slices have no geometry and repeat InstanceNumber values", "load the files one by one"
            )
        thick = datasets[0].get("SpacingBetweenSlices", None) or datasets[0].get("SliceThickness", None)
        return order, None, float(thick) if thick is not None and float(thick) > 0 else 1.0
    raise InputFileError(
        where,
        "cannot order the slices: ImagePositionPatient/ImageOrientationPatient and InstanceNumber are missing",
        "slices are never ordered by file name; add the geometry or load the files one by one",
    )
