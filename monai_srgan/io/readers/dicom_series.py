"""DICOM series geometry: slice order, duplicate instances, the RAS affine of a volume (PS3.3 C.7.6.2.1.1).

Slices are sorted by ``ImagePositionPatient`` projected on the slice normal ``row x column`` of
``ImageOrientationPatient``, ties broken by ``InstanceNumber``; never by file name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from monai_srgan.errors import InputFileError
from monai_srgan.io.readers.dicom_decode import PIXEL_TAGS

__all__ = [
    "orientation",
    "positive_float",
    "volume_affine",
    "drop_duplicate_instances",
    "geometric_order",
    "frame_position_items",
    "slice_grid_error",
    "spacing_contradiction",
    "slice_geometry_notes",
    "require_regular_slices",
    "SLICE_GRID_TOLERANCE",
]

#: largest distance of a slice from the volume's regular grid, as a fraction of the slice spacing, that a regular-grid
#: output (NIfTI, a 3D model) accepts; a missing slice puts slices at least half a spacing off
SLICE_GRID_TOLERANCE = 0.1

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
            dz = float(np.median(steps))  # uneven steps are measured and reported by slice_geometry_notes
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


def frame_position_items(ds) -> list | None:
    """The PlanePositionSequence item of every frame of an enhanced multi-frame object, or None when any is missing.

    Args:
        ds: the dataset (per-frame functional groups present).
    """
    items = []
    for group in ds.get("PerFrameFunctionalGroupsSequence", None) or []:
        pos = group.get("PlanePositionSequence", None) or []
        if len(pos) == 0 or "ImagePositionPatient" not in pos[0] or len(pos[0].ImagePositionPatient) != 3:
            return None
        items.append(pos[0])
    return items or None


def slice_grid_error(datasets: Sequence, affine: np.ndarray) -> float:
    """Largest distance (mm) between a slice's ImagePositionPatient and where the regular-grid ``affine`` puts it.

    0 for a regular series; about half a slice spacing or more when a slice is missing or the spacing changes.

    Args:
        datasets: the slices in volume order.
        affine: the RAS affine of :func:`volume_affine` (slice ``k`` is voxel ``(0, 0, k)``).
    """
    err = 0.0
    for k, ds in enumerate(datasets):
        ipp = ds.get("ImagePositionPatient", None)
        if ipp is None or len(ipp) != 3:
            return 0.0
        lps = np.diag([-1.0, -1.0, 1.0]) @ (affine[:3, 3] + affine[:3, 2] * k)
        err = max(err, float(np.linalg.norm(np.asarray([float(v) for v in ipp]) - lps)))
    return err


def spacing_contradiction(ds, dz: float) -> str | None:
    """A note when the header's SpacingBetweenSlices disagrees with ``dz``, the spacing of the slice positions.

    The positions win (they place every slice; SpacingBetweenSlices is a summary some exporters get wrong).

    Args:
        ds: the first slice.
        dz: the slice spacing measured from ImagePositionPatient (mm).
    """
    sbs = positive_float(ds.get("SpacingBetweenSlices", None))
    if sbs is None or abs(sbs - dz) <= 0.01 * dz + 1e-3:
        return None
    return (
        f"SpacingBetweenSlices {sbs:g} mm contradicts the slice positions ({dz:.6g} mm between slices): "
        "the positions (ImagePositionPatient) are used"
    )


def slice_geometry_notes(slices: Sequence, affine: np.ndarray, first, dz: float, where: str, notes: list[str]) -> float:
    """Check a volume's slice positions against its affine and header: uneven spacing, a contradicting
    SpacingBetweenSlices; each finding is logged and appended to ``notes`` (the report row's warnings).

    Args:
        slices: datasets (or PlanePositionSequence items) holding ImagePositionPatient, in volume order.
        affine: the volume's RAS affine (its slice step from the positions).
        first: the dataset whose SpacingBetweenSlices is compared.
        dz: the slice spacing from the positions (mm).
        where: the series, for the log.
        notes: the list the findings are appended to.

    Returns:
        :func:`slice_grid_error`, stored as ``srgan_slice_grid_error_mm`` for :func:`require_regular_slices`.
    """
    err = slice_grid_error(slices, affine)
    found = []
    if err > 0.01 * dz + 1e-3:
        found.append(
            f"slices are not evenly spaced (one is {err:.3g} mm off a regular {dz:.4g} mm grid: a missing slice?)"
        )
    found.extend(n for n in [spacing_contradiction(first, dz)] if n)
    for note in found:
        logger.warning("%s: %s", where, note)
        notes.append(note)
    return err


def require_regular_slices(meta, what: str, hint: str) -> None:
    """Refuse a DICOM series whose slices do not lie on a regular grid (a missing slice) where ``what`` needs one.

    Args:
        meta: the image meta (``srgan_slice_grid_error_mm``, ``srgan_spacing``, ``filename_or_obj``).
        what: what needs the regular grid, e.g. "a NIfTI file".
        hint: what to do instead.

    Raises:
        InputFileError: the largest slice offset exceeds :data:`SLICE_GRID_TOLERANCE` of the slice spacing.
    """
    err = float(meta.get("srgan_slice_grid_error_mm", 0.0) or 0.0)
    sp = list(meta.get("srgan_spacing") or [])
    dz = float(sp[2]) if len(sp) > 2 else 0.0
    if err <= SLICE_GRID_TOLERANCE * dz or err <= 1e-3:
        return
    raise InputFileError(
        meta.get("filename_or_obj"),
        f"the slices of this series are not evenly spaced (a slice up to {err:.3g} mm away from a regular "
        f"{dz:.4g} mm grid: a missing slice or a change of spacing), and {what} holds only a regular grid",
        hint,
    )
