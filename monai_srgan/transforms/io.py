"""Loading medical images as channel-first ``MetaTensor`` in the source's value domain.

One loader (:class:`LoadMedicalImage` / :class:`LoadMedicalImaged`) reads

* PNG / JPEG / TIFF / BMP through Pillow: 8- and 16-bit, ``L``/``LA``/``RGB``/``RGBA``/palette (alpha is dropped and
  ``srgan_alpha_dropped`` set; palette images become ``RGB`` or ``L`` when the palette is grey), 16-bit RGB TIFF
  through ITK;
* single DICOM files (any modality; compressed transfer syntaxes through the ``dicom`` extra), including multi-frame
  files (returned as a volume ``(C, H, W, F)``) and colour files (``RGB``/``YBR``/``PALETTE COLOR``, returned as 3
  channels);
* DICOM series (a folder, or a list of files of one series), sorted by geometry: ``ImagePositionPatient`` projected on
  the slice normal ``row x column`` of ``ImageOrientationPatient``, ties broken by ``InstanceNumber``; never by file
  name. Returned as ``(C, H, W, D)`` with a full RAS affine;
* NIfTI (``.nii`` / ``.nii.gz``) through nibabel, returned as ``(C, X, Y, Z)`` in the stored voxel order.

DICOM pixel semantics (PS3.3 C.11): stored values are masked to ``BitsStored`` (sign-extended when signed), the
Modality LUT (``RescaleSlope``/``RescaleIntercept`` or a Modality LUT Sequence) is applied, optionally the first VOI
window/LUT, and ``MONOCHROME1`` data are inverted (``x' = value_min + value_max - x``) so that brighter always means
higher. The metadata keys written are those of docs/architecture.md (``srgan_*``).

:func:`find_inputs` discovers the loadable inputs of a folder (DICOM files grouped into series by
``SeriesInstanceUID``), :func:`validate_input` checks one input at header level without decoding pixels.
"""

from __future__ import annotations

import errno
import logging
import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from monai_srgan.errors import InputFileError
from monai_srgan.transforms.dicom_pixels import (
    DICOM_EXTRA_HINT,
    MIN_IMAGE_SIZE,
    PIXEL_TAGS,
    dicom_decoder_status,
    dicom_spacing,
    dicom_values,
)
from monai_srgan.transforms.dicom_pixels import check_pixel_header as _dicom_check_pixels
from monai_srgan.transforms.dicom_pixels import promote_functional_groups as _promote_functional_groups
from monai_srgan.transforms.dicom_pixels import sop_name as _sop_name

__all__ = [
    "DICOM_EXTRA_HINT",
    "InputItem",
    "LoadMedicalImage",
    "LoadMedicalImaged",
    "LoadMedicalImageD",
    "LoadMedicalImageDict",
    "load_medical_image",
    "find_inputs",
    "validate_input",
    "is_dicom_file",
    "dicom_decoder_status",
]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".ppm.gz", ".pgm.gz")
NIFTI_EXTENSIONS = (".nii", ".nii.gz")
DICOM_EXTENSIONS = (".dcm", ".dicom", ".ima")

PathLike = Union[str, os.PathLike]


# ---------------------------------------------------------------------------------------------------------------------
# Input discovery
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputItem:
    """One loadable input found by :func:`find_inputs`.

    Attributes:
        path: a file path, or a tuple of file paths for a DICOM series (one per slice; any order, the loader sorts).
        kind: ``"image"`` (PNG/JPEG/TIFF/BMP), ``"dicom"`` (single file, possibly multi-frame), ``"dicom_series"``
            or ``"nifti"``.
        series_uid: the DICOM ``SeriesInstanceUID`` (DICOM kinds only).
        notes: warnings about how the input was assembled (e.g. a slice split off its series because it has no
            ``ImagePositionPatient``); the loader copies them into ``meta["srgan_warnings"]`` for reports.
    """

    path: str | tuple[str, ...]
    kind: str
    series_uid: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def files(self) -> list[str]:
        """The input's files as a list."""
        return list(self.path) if isinstance(self.path, tuple) else [self.path]

    @property
    def name(self) -> str:
        """A short name for output files: the file stem, or the series folder name."""
        first = Path(self.files[0])
        if self.kind == "dicom_series":
            return first.parent.name or "series"
        return _strip_ext(first.name)


def _strip_ext(name: str) -> str:
    low = name.lower()
    for ext in (".nii.gz", ".ppm.gz", ".pgm.gz", *NIFTI_EXTENSIONS, *IMAGE_EXTENSIONS, *DICOM_EXTENSIONS):
        if low.endswith(ext):
            return name[: -len(ext)]
    return name


_RECOPY = "copy it again from its source or re-export it, or remove it from the input"


def _has_ext(path: PathLike, exts: Sequence[str]) -> bool:
    return os.fspath(path).lower().endswith(tuple(exts))


def is_dicom_file(path: PathLike) -> bool:
    """True when the file has a DICOM extension or the ``DICM`` magic at byte 128."""
    return _has_ext(path, DICOM_EXTENSIONS) or _has_dicom_magic(path)


def _has_dicom_magic(path: PathLike) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _dicom_header(path: str):
    """Read a DICOM header cheaply (large values deferred); raise InputFileError when it is no DICOM."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    _check_file(path)
    try:
        return pydicom.dcmread(path, defer_size="4 KB")
    except InvalidDicomError:
        pass
    except Exception as e:  # noqa: BLE001 - anything pydicom raises on a broken header
        raise InputFileError(
            path,
            f"DICOM header cannot be read ({type(e).__name__}: {e})",
            f"the file is corrupt: {_RECOPY}",
        ) from e
    try:  # files without the 128-byte preamble (old ACR-NEMA style)
        ds = pydicom.dcmread(path, defer_size="4 KB", force=True)
    except Exception as e:  # noqa: BLE001
        raise InputFileError(
            path,
            f"not a readable DICOM file ({type(e).__name__}: {e})",
            f"the file is corrupt: {_RECOPY}",
        ) from e
    if "Rows" not in ds or not any(t in ds for t in PIXEL_TAGS):
        raise InputFileError(
            path,
            "not a valid DICOM file (no DICM preamble and no image elements)",
            f"the file is corrupt: {_RECOPY}",
        )
    return ds


def find_inputs(
    folder: PathLike, recursive: bool = True, skipped: list[tuple[str, str]] | None = None
) -> list[InputItem]:
    """Discover the loadable inputs under a folder.

    Image files are recognised by extension (PNG/JPEG/TIFF/BMP, NIfTI) and DICOM files by extension or by the
    ``DICM`` magic. DICOM files with slice geometry (``ImagePositionPatient``/``ImageOrientationPatient``, i.e.
    CT/MR-like) are grouped into series by ``SeriesInstanceUID``: a group of one file (or any multi-frame file) is a
    ``"dicom"`` item, a larger group a ``"dicom_series"`` item. Projection images (CR/DX, no geometry) are always
    single ``"dicom"`` items, even when several share a series. A file without geometry in a series whose other
    files have it becomes its own ``"dicom"`` item, with a warning (logged and in the items' ``notes``). DICOM
    objects without pixel data (structured reports, presentation states, ...) and other files are skipped.

    Symbolic links to files and folders are followed; broken links, link loops and folders reached a second time
    through a link are skipped with a reason.

    Args:
        folder: the folder to scan (a single file is accepted and returns one item).
        recursive: also scan sub-folders.
        skipped: when given, ``(path, reason)`` is appended for every file that was skipped.

    Returns:
        The items, ordered by their first path.

    Raises:
        InputFileError: when ``folder`` does not exist.
    """
    root = Path(folder)
    if not root.exists():
        if root.is_symlink():
            raise InputFileError(root, "is a broken symbolic link", "check the input path")
        raise InputFileError(root, "does not exist", "check the input path")
    files = [root] if root.is_file() else _walk(root, recursive, skipped)
    items: list[InputItem] = []
    series: dict[str, list[str]] = {}
    multiframe: set[str] = set()
    real_uid: dict[str, str | None] = {}
    with_geometry: dict[str, list[str]] = {}
    without_geometry: dict[str, list[str]] = {}
    for p in files:
        sp = str(p)
        if _has_ext(sp, NIFTI_EXTENSIONS):
            items.append(InputItem(sp, "nifti"))
        elif _has_ext(sp, IMAGE_EXTENSIONS) and not _has_dicom_magic(sp):  # a DICOM named .png is still DICOM
            items.append(InputItem(sp, "image"))
        elif is_dicom_file(sp):
            if p.name.upper() == "DICOMDIR":
                _skip(skipped, sp, "DICOMDIR index file")
                continue
            try:
                ds = _dicom_header(sp)
            except InputFileError as e:
                _skip(skipped, sp, e.problem)
                continue
            if not any(t in ds for t in PIXEL_TAGS):
                _skip(skipped, sp, f"DICOM without pixel data ({_sop_name(ds)})")
                continue
            uid = str(ds.get("SeriesInstanceUID", "") or "")
            real_uid[sp] = uid or None
            if not uid or "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
                # projection images (CR/DX/XA, photos) are independent images even within one series
                if uid:
                    without_geometry.setdefault(uid, []).append(sp)
                uid = f"no-geometry:{sp}"
            else:
                with_geometry.setdefault(uid, []).append(sp)
            series.setdefault(uid, []).append(sp)
            if int(ds.get("NumberOfFrames", 1) or 1) > 1:
                multiframe.add(sp)
        else:
            _skip(skipped, sp, "not an image file")
    notes = _split_series_notes(with_geometry, without_geometry)
    for paths in series.values():
        uid_out = real_uid[paths[0]]
        if len(paths) == 1 or any(p in multiframe for p in paths):
            items.extend(InputItem(p, "dicom", uid_out, notes.get(p, ())) for p in paths)
        else:
            item_notes = tuple(n for p in paths for n in notes.get(p, ()))
            items.append(InputItem(tuple(sorted(paths)), "dicom_series", uid_out, item_notes))
    items.sort(key=lambda it: it.files[0])
    return items


def _split_series_notes(with_geo: dict[str, list[str]], without_geo: dict[str, list[str]]) -> dict[str, tuple]:
    """Warnings for files split off a series because they lack ImagePositionPatient/ImageOrientationPatient."""
    notes: dict[str, tuple[str, ...]] = {}
    for uid, lone in without_geo.items():
        members = with_geo.get(uid)
        if not members:
            continue  # a series of projection images: nothing is split
        for f in lone:
            note = (
                f"{f} has no ImagePositionPatient/ImageOrientationPatient while {len(members)} other file(s) of "
                f"series {uid} have them: processed as a separate image, not as a slice of the volume"
            )
            logger.warning(note)
            notes[f] = (*notes.get(f, ()), note)
            for m in members:
                notes[m] = (*notes.get(m, ()), note)
    return notes


def _walk(root: Path, recursive: bool, skipped: list | None) -> list[Path]:
    """Files under ``root`` (sorted), following symbolic links; broken links and link loops are skipped."""
    out: list[Path] = []
    visited = {os.path.realpath(root): str(root)}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            _skip(skipped, str(folder), f"folder cannot be read ({e.strerror or e})")
            continue
        for entry in entries:
            p = Path(entry.path)
            if entry.is_symlink():
                try:
                    os.stat(p)
                except OSError as e:
                    if e.errno == errno.ELOOP:
                        _skip(skipped, str(p), f"symbolic link loop ('{os.readlink(p)}' leads back to itself)")
                    else:
                        _skip(skipped, str(p), f"broken symbolic link (target '{os.readlink(p)}' does not exist)")
                    continue
            try:
                is_dir = entry.is_dir()
            except OSError as e:
                _skip(skipped, str(p), f"cannot be read ({e.strerror or e})")
                continue
            if is_dir:
                if not recursive:
                    continue
                real = os.path.realpath(p)
                if real in visited:
                    here = os.path.realpath(folder)
                    loop = here == real or here.startswith(real.rstrip(os.sep) + os.sep)
                    kind = "symbolic link loop" if loop else "link to a folder scanned already"
                    _skip(skipped, str(p), f"{kind}: leads to '{real}', scanned as '{visited[real]}'")
                    continue
                visited[real] = str(p)
                stack.append(p)
            elif entry.name.startswith("."):
                continue
            elif entry.is_file():
                out.append(p)
            else:
                _skip(skipped, str(p), "not a regular file (device, socket or pipe)")
    return sorted(out)


def _skip(skipped: list | None, path: str, reason: str) -> None:
    logger.debug("skipping %s: %s", path, reason)
    if skipped is not None:
        skipped.append((path, reason))


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise InputFileError(path, "does not exist", "check the input path")
    if os.path.isdir(path):
        raise InputFileError(path, "is a folder where a file was expected")
    if os.path.getsize(path) == 0:
        raise InputFileError(path, "file is empty (0 bytes)", "re-export the file or remove it from the input")


def validate_input(src: PathLike | Sequence[PathLike] | InputItem) -> None:
    """Cheap header-level check that an input can be loaded; pixels are not decoded.

    Checks existence, non-empty files, that Pillow/nibabel/pydicom can parse the header, that a DICOM object holds
    pixel data and that a decoder for its transfer syntax is installed.

    Raises:
        InputFileError: naming the file and the problem.
    """
    paths = _as_paths(src)
    if len(paths) == 1 and os.path.isdir(paths[0]):
        paths = _series_files_in(paths[0])
    for path in paths:
        _check_file(path)
        if _has_ext(path, NIFTI_EXTENSIONS):
            import nibabel as nib

            try:
                nib.load(path)
            except Exception as e:  # noqa: BLE001
                raise InputFileError(path, f"NIfTI header cannot be read ({type(e).__name__}: {e})") from e
        elif is_dicom_file(path):
            ds = _dicom_header(path)
            _dicom_check_pixels(ds, path)
        else:
            from PIL import UnidentifiedImageError

            try:
                with _open_pil(path) as im:
                    im.size  # noqa: B018 - header parsed by open
            except (UnidentifiedImageError, OSError, EOFError) as e:
                raise InputFileError(
                    path,
                    f"not a readable image ({e})",
                    f"the file is corrupt or not an image: {_RECOPY}",
                ) from e


def _as_paths(src: Any) -> list[str]:
    if isinstance(src, InputItem):
        return src.files
    if isinstance(src, (str, os.PathLike)):
        return [os.fspath(src)]
    if isinstance(src, Sequence) and len(src) > 0 and all(isinstance(s, (str, os.PathLike)) for s in src):
        return [os.fspath(s) for s in src]
    raise InputFileError(None, f"cannot load {type(src).__name__} {src!r}", "give a path, a list of paths or InputItem")


def _series_files_in(folder: str) -> list[str]:
    files = sorted(str(p) for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    dicoms = [f for f in files if is_dicom_file(f) and Path(f).name.upper() != "DICOMDIR"]
    if not dicoms:
        raise InputFileError(
            folder, "folder holds no DICOM files", "give a file, or use find_inputs() to list the images of a folder"
        )
    return dicoms


# ---------------------------------------------------------------------------------------------------------------------
# DICOM
# ---------------------------------------------------------------------------------------------------------------------
def _read_dicom(path: str):
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    _check_file(path)
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        ds = _dicom_header(path)  # raises for non-DICOM; accepts preamble-less files
        ds = pydicom.dcmread(path, force=True)
    except Exception as e:  # noqa: BLE001
        raise InputFileError(
            path,
            f"DICOM file cannot be read ({type(e).__name__}: {e})",
            f"the file is corrupt: {_RECOPY}",
        ) from e
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        if not hasattr(ds, "file_meta"):
            ds.file_meta = pydicom.dataset.FileMetaDataset()
        implicit = getattr(ds, "is_implicit_VR", True)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return ds


def _orientation(ds) -> tuple[np.ndarray, np.ndarray] | None:
    iop = ds.get("ImageOrientationPatient", None)
    if iop is None or len(iop) != 6:
        return None
    v = np.asarray([float(x) for x in iop], dtype=np.float64)
    return v[:3], v[3:]


def _load_dicom_file(path: str, voi_window, voi_index: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    ds = _read_dicom(path)
    vals, meta = dicom_values(ds, path, voi_window, voi_index)
    notes: list[str] = []
    spacing, known = dicom_spacing(ds, path, notes)
    affine = np.eye(4)
    if vals.ndim == 4:  # multi-frame volume
        dz = _positive_float(ds.get("SpacingBetweenSlices", None)) or _positive_float(ds.get("SliceThickness", None))
        spacing = [*spacing, dz or 1.0]
        affine = _volume_affine(ds, spacing, None)
        meta["srgan_spacing_known"] = [known, known, dz is not None]
    else:
        affine[0, 0], affine[1, 1] = spacing
    meta.update(
        srgan_format="dicom",
        srgan_source_files=[path],
        srgan_spacing=[float(s) for s in spacing],
        srgan_modality=str(ds.get("Modality", "")),
        srgan_warnings=notes,
    )
    return vals, affine, meta


def _positive_float(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 and np.isfinite(v) else None


def _volume_affine(ds, spacing: Sequence[float], slice_vec: np.ndarray | None) -> np.ndarray:
    """RAS affine of a ``(H=rows, W=cols, D=slices)`` volume from DICOM (LPS) geometry (PS3.3 C.7.6.2.1.1)."""
    affine = np.diag([*spacing, 1.0]).astype(np.float64)
    ori = _orientation(ds)
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


def _load_dicom_series(paths: Sequence[str], voi_window, voi_index: int) -> tuple[np.ndarray, np.ndarray, dict]:
    where = os.path.commonpath([os.path.abspath(p) for p in paths]) if len(paths) > 1 else paths[0]
    datasets = [_read_dicom(p) for p in paths]
    for ds in datasets:
        _promote_functional_groups(ds)
    uids = {str(ds.get("SeriesInstanceUID", "")) for ds in datasets}
    if len(uids) > 1:
        raise InputFileError(
            where,
            f"the files belong to {len(uids)} different DICOM series",
            "load each series on its own (find_inputs() groups files by SeriesInstanceUID)",
        )
    for p, ds in zip(paths, datasets):
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise InputFileError(p, "multi-frame file inside a multi-file series", "load multi-frame files one by one")
        _dicom_check_pixels(ds, p)
    ref_shape = (int(datasets[0].Rows), int(datasets[0].Columns), int(datasets[0].get("SamplesPerPixel", 1) or 1))
    for p, ds in zip(paths, datasets):
        shape = (int(ds.Rows), int(ds.Columns), int(ds.get("SamplesPerPixel", 1) or 1))
        if shape != ref_shape:
            raise InputFileError(
                p,
                f"series has mixed image sizes: {paths[0]} is {ref_shape[0]}x{ref_shape[1]}x{ref_shape[2]}, "
                f"this file is {shape[0]}x{shape[1]}x{shape[2]} (rows x columns x samples)",
                "remove the odd file (e.g. a localizer) from the series folder",
            )
    notes: list[str] = []
    paths, datasets = _drop_duplicate_instances(list(paths), datasets, where, notes)
    order, slice_vec, dz = _geometric_order(paths, datasets, where)
    first_ds = datasets[order[0]]
    inplane, inplane_known = dicom_spacing(first_ds, paths[order[0]], notes)
    dz_known = (slice_vec is not None) or any(
        first_ds.get(a, None) not in (None, "") for a in ("SpacingBetweenSlices", "SliceThickness")
    )
    vols, metas = [], []
    for i in order:
        v, m = dicom_values(datasets[i], paths[i], voi_window, voi_index)
        vols.append(v)
        metas.append(m)
    vals = np.stack(vols, axis=-1)
    first = datasets[order[0]]
    spacing = [*inplane, dz]
    meta = dict(metas[0])
    meta.update(
        srgan_format="dicom_series",
        srgan_source_files=[paths[i] for i in order],
        srgan_spacing=[float(s) for s in spacing],
        srgan_spacing_known=[inplane_known, inplane_known, bool(dz_known)],
        srgan_value_min=float(min(m["srgan_value_min"] for m in metas)),
        srgan_value_max=float(max(m["srgan_value_max"] for m in metas)),
        srgan_modality=str(first.get("Modality", "")),
        srgan_warnings=notes,
    )
    return vals, _volume_affine(first, spacing, slice_vec), meta


def _drop_duplicate_instances(paths: list[str], datasets: list, where: str, notes: list[str]) -> tuple[list, list]:
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


def _geometric_order(paths, datasets, where) -> tuple[list[int], np.ndarray | None, float]:
    """Slice order by position along the normal (then InstanceNumber); returns (order, slice step vector, spacing)."""
    n = len(datasets)
    inst = [int(ds.get("InstanceNumber", 0) or 0) for ds in datasets]
    oris = [_orientation(ds) for ds in datasets]
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


# ---------------------------------------------------------------------------------------------------------------------
# PNG / JPEG / TIFF (Pillow), NIfTI (nibabel)
# ---------------------------------------------------------------------------------------------------------------------
_FORMAT_NAMES = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff"}


def _open_pil(path: str):
    """``PIL.Image.open``, also for gzip-compressed Netpbm (``.ppm.gz``: STARE's lossless distribution format)."""
    from PIL import Image

    if os.fspath(path).lower().endswith(".gz"):
        import gzip
        import io as _io

        with gzip.open(path, "rb") as f:
            return Image.open(_io.BytesIO(f.read()))
    return Image.open(path)


def _load_pil(path: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from PIL import Image, UnidentifiedImageError

    _check_file(path)
    try:
        im = _open_pil(path)
    except (UnidentifiedImageError, OSError, EOFError) as e:
        raise InputFileError(
            path,
            f"not a readable image ({e})",
            f"the file is corrupt or not an image: {_RECOPY}",
        ) from e
    with im:
        fmt = _FORMAT_NAMES.get(str(im.format), str(im.format).lower())
        mode = im.mode
        if getattr(im, "n_frames", 1) > 1:
            warnings.warn(f"{path}: {im.n_frames} frames/pages, only the first is loaded", stacklevel=3)
        if fmt == "tiff" and mode in ("RGB", "RGBA", "RGBX") and _tiff_bits(im) > 8:
            im.close()
            return _load_itk(path, fmt)
        try:
            im.load()
        except Exception as e:  # noqa: BLE001 - truncated/corrupt data
            raise InputFileError(
                path,
                f"image data cannot be decoded ({e})",
                f"the file is truncated or corrupt: {_RECOPY}",
            ) from e
        alpha_dropped = False
        if mode == "P":
            has_alpha = "transparency" in im.info
            im = im.convert("RGBA" if has_alpha else "RGB")
            rgb = np.asarray(im)[..., :3]
            if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
                im = Image.fromarray(np.ascontiguousarray(rgb[..., 0]))
                alpha_dropped = has_alpha
        elif mode == "PA":
            im = im.convert("RGBA")
        elif mode == "1":
            im = im.convert("L")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
        arr = np.asarray(im)
    if arr.ndim == 3 and arr.shape[-1] in (2, 4):  # LA / RGBA: drop alpha
        arr = arr[..., :-1]
        alpha_dropped = True
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype == np.int32 and fmt == "png" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)  # 16-bit PNG opened as "I" by older Pillow
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8) * 255
    meta = _int_range_meta(arr, path)
    meta.update(srgan_photometric=mode, srgan_alpha_dropped=alpha_dropped, srgan_format=fmt)
    vals = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    return vals, np.eye(4), meta


def _tiff_bits(im) -> int:
    try:
        bps = im.tag_v2.get(258, 8)
        return int(max(bps) if isinstance(bps, (tuple, list)) else bps)
    except Exception:  # noqa: BLE001
        return 8


def _load_itk(path: str, fmt: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    import itk

    try:  # Pillow reads 16-bit RGB TIFF as 8-bit RGB: read it as a 16-bit vector image instead
        reader = itk.ImageFileReader[itk.VectorImage[itk.US, 2]].New(FileName=path)
        reader.Update()
        arr = np.asarray(itk.array_from_image(reader.GetOutput()))
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(path, f"16-bit colour TIFF cannot be read ({first})", "convert it to PNG") from e
    alpha_dropped = arr.ndim == 3 and arr.shape[-1] in (2, 4)
    if alpha_dropped:
        arr = arr[..., :-1]
    meta = _int_range_meta(arr, path)
    meta.update(srgan_photometric="RGB" if arr.ndim == 3 else "L", srgan_alpha_dropped=alpha_dropped, srgan_format=fmt)
    vals = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    return vals, np.eye(4), meta


def _int_range_meta(arr: np.ndarray, path: str) -> dict[str, Any]:
    if min(arr.shape[:2]) < MIN_IMAGE_SIZE:
        raise InputFileError(
            path,
            f"image is too small to super-resolve: {arr.shape[0]}x{arr.shape[1]} pixels; "
            f"at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} is needed",
            "remove it from the input",
        )
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        if arr.dtype.itemsize <= 2:
            lo, hi = float(info.min), float(info.max)
        else:  # 32-bit integer images: the representable range is meaningless, use the data range
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        bits = arr.dtype.itemsize * 8
    else:
        if not np.all(np.isfinite(arr)):
            raise InputFileError(path, "image contains NaN or Inf values", "fix or remove the file")
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        bits = arr.dtype.itemsize * 8
    return {
        "srgan_dtype": str(arr.dtype),
        "srgan_bits": int(bits),
        "srgan_value_min": lo,
        "srgan_value_max": hi,
        "srgan_inverted": False,
        "srgan_rescale_slope": 1.0,
        "srgan_rescale_intercept": 0.0,
        "srgan_source_files": [path],
        "srgan_spacing": [1.0] * 2,
    }


def _load_nifti(path: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    import nibabel as nib

    _check_file(path)
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj)
    except Exception as e:  # noqa: BLE001 - nibabel/gzip/zlib errors on broken files
        raise InputFileError(
            path,
            f"NIfTI file cannot be read ({type(e).__name__}: {e})",
            f"the file is corrupt: {_RECOPY}",
        ) from e
    stored = np.dtype(img.get_data_dtype())
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        n_bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise InputFileError(path, f"volume contains {n_bad} NaN/Inf voxels", "fix or mask the volume before use")
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
        vals = np.moveaxis(data, -1, 0)
    elif data.ndim in (2, 3):
        vals = data[None]
    else:
        raise InputFileError(path, f"unsupported NIfTI shape {data.shape}", "expected 2D, 3D or 4D data")
    slope, inter = img.dataobj.slope, img.dataobj.inter
    scaled = not (slope in (None, 1) or np.isnan(slope)) or not (inter in (None, 0) or np.isnan(inter))
    if stored.kind in "iu" and stored.itemsize <= 2:
        info = np.iinfo(stored)
        s = 1.0 if slope is None or np.isnan(slope) else float(slope)
        i = 0.0 if inter is None or np.isnan(inter) else float(inter)
        ends = np.array([info.min, info.max], dtype=np.float64) * (s if scaled else 1.0) + (i if scaled else 0.0)
        lo, hi = float(ends.min()), float(ends.max())
    else:
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
    zooms = [float(z) for z in img.header.get_zooms()[: min(3, data.ndim)]]
    hdr = img.header
    no_xform = int(hdr.get("sform_code", 0) or 0) == 0 and int(hdr.get("qform_code", 0) or 0) == 0
    spacing_known = [not (no_xform and abs(z - 1.0) < 1e-6) for z in zooms]
    meta = {
        "srgan_format": "nifti",
        "srgan_dtype": str(stored),
        "srgan_bits": int(stored.itemsize * 8),
        "srgan_value_min": lo,
        "srgan_value_max": hi,
        "srgan_photometric": "MONOCHROME2",
        "srgan_inverted": False,
        "srgan_rescale_slope": 1.0,
        "srgan_rescale_intercept": 0.0,
        "srgan_source_files": [path],
        "srgan_spacing": zooms,
        "srgan_spacing_known": spacing_known,
    }
    return vals, np.asarray(img.affine, dtype=np.float64), meta


def _nifti_channels_4d(img, shape: Sequence[int]) -> bool:
    """A 4D NIfTI holds channels (not time points) when it is a 2D colour image ``(X, Y, 1, 3)`` as the NIfTI writer
    stores it, or declares a vector intent (NIFTI_INTENT_VECTOR, 1007)."""
    try:
        intent = int(img.header.get("intent_code", 0) or 0)
    except (TypeError, ValueError):
        intent = 0
    return intent == 1007 or (shape[2] == 1 and shape[3] == 3)


# ---------------------------------------------------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------------------------------------------------
def load_medical_image(
    src: PathLike | Sequence[PathLike] | InputItem,
    voi_window: bool | tuple[float, float] | None = False,
    voi_index: int = 0,
    check_finite: bool = True,
) -> MetaTensor:
    """Load one image/volume; see :class:`LoadMedicalImage` for the arguments and the result."""
    notes: list[str] = []
    if isinstance(src, InputItem):
        paths, kind = src.files, src.kind
        notes = list(src.notes)
    else:
        paths, kind = _as_paths(src), None
    if len(paths) == 1 and os.path.isdir(paths[0]):
        paths, kind = _series_files_in(paths[0]), "dicom_series"
    if kind is None:
        if len(paths) > 1:
            kind = "dicom_series"
        elif _has_ext(paths[0], NIFTI_EXTENSIONS):
            kind = "nifti"
        elif os.path.exists(paths[0]) and is_dicom_file(paths[0]):
            kind = "dicom"
        else:
            kind = "image"
    if kind == "dicom_series" and len(paths) == 1:
        kind = "dicom"
    if kind == "dicom_series":
        vals, affine, meta = _load_dicom_series(paths, voi_window, voi_index)
    elif kind == "dicom":
        vals, affine, meta = _load_dicom_file(paths[0], voi_window, voi_index)
    elif kind == "nifti":
        vals, affine, meta = _load_nifti(paths[0])
    else:
        vals, affine, meta = _load_pil(paths[0])
    out = np.ascontiguousarray(vals, dtype=np.float32)
    if check_finite and not np.all(np.isfinite(out)):
        raise InputFileError(paths[0], "image contains NaN or Inf values", "fix or remove the file")
    filename = os.path.commonpath([os.path.abspath(p) for p in paths]) if len(paths) > 1 else paths[0]
    meta.update(
        filename_or_obj=str(filename),
        spatial_shape=np.asarray(out.shape[1:], dtype=np.int64),
        original_channel_dim="no_channel" if out.shape[0] == 1 else 0,
        space="RAS",
    )
    meta.setdefault("srgan_alpha_dropped", False)
    meta["srgan_warnings"] = notes + list(meta.get("srgan_warnings") or [])
    if len(meta["srgan_spacing"]) < out.ndim - 1:
        meta["srgan_spacing"] = list(meta["srgan_spacing"]) + [1.0] * (out.ndim - 1 - len(meta["srgan_spacing"]))
    return MetaTensor(torch.from_numpy(out), affine=torch.as_tensor(affine, dtype=torch.float64), meta=meta)


class LoadMedicalImage(Transform):
    """Load PNG/JPEG/TIFF, DICOM (file, multi-frame, series) or NIfTI as a float32 channel-first ``MetaTensor``.

    The result is in the source's *value* domain (docs/architecture.md): stored integers for PNG/TIFF/JPEG; for
    DICOM the stored values masked to ``BitsStored``, through the Modality LUT (PS3.3 C.11.1), optionally the VOI
    LUT/window (PS3.3 C.11.2), with MONOCHROME1 inverted (``value_min + value_max - x``) so brighter means higher.
    Shapes: 2D ``(C, H, W)`` with ``H`` = image rows; DICOM series/multi-frame ``(C, H, W, D)``; NIfTI
    ``(C, X, Y, Z)`` in stored voxel order. Colour DICOM gives 3 channels (YBR converted to RGB); multi-frame DICOM
    gives a volume with the frames on the last axis. JPEG EXIF orientation is not applied (pixels as stored).

    Args:
        voi_window: ``False`` (default) keeps the Modality-LUT values; ``True`` applies the file's VOI LUT or its
            window number ``voi_index`` (pydicom's ``apply_voi_lut`` semantics, output range as pydicom's);
            ``(center, width)`` applies that LINEAR window. Single-channel DICOM only; other formats ignore it.
        voi_index: which of several windows to use with ``voi_window=True``.
        check_finite: raise :class:`~monai_srgan.errors.InputFileError` when the result contains NaN/Inf.

    Returns:
        ``MetaTensor`` whose ``meta`` holds ``filename_or_obj``, ``spatial_shape``, ``original_channel_dim`` and the
        ``srgan_*`` keys of docs/architecture.md; ``affine`` carries the spacing (and the RAS orientation for volumes).

    Raises:
        InputFileError: missing/empty/corrupt file, DICOM without pixel data, missing decoder (the message names the
            ``monai_srgan[dicom]`` extra), NaN/Inf values, a series with mixed sizes/orientations/duplicate positions.
    """

    def __init__(
        self,
        voi_window: bool | tuple[float, float] | None = False,
        voi_index: int = 0,
        check_finite: bool = True,
    ) -> None:
        self.voi_window = voi_window
        self.voi_index = voi_index
        self.check_finite = check_finite

    def __call__(self, src: PathLike | Sequence[PathLike] | InputItem) -> MetaTensor:
        """Load ``src``: a file, a DICOM series folder, a list of DICOM files of one series, or an InputItem."""
        if isinstance(src, MetaTensor):
            return src
        return load_medical_image(src, self.voi_window, self.voi_index, self.check_finite)


class LoadMedicalImaged(MapTransform):
    """Dictionary version of :class:`LoadMedicalImage`: replaces each path under ``keys`` by the loaded image.

    Args:
        keys: keys holding paths (or lists of DICOM files, or InputItem).
        voi_window: see :class:`LoadMedicalImage`.
        voi_index: see :class:`LoadMedicalImage`.
        check_finite: see :class:`LoadMedicalImage`.
        allow_missing_keys: do not raise when a key is absent.
    """

    def __init__(
        self,
        keys: KeysCollection,
        voi_window: bool | tuple[float, float] | None = False,
        voi_index: int = 0,
        check_finite: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadMedicalImage(voi_window, voi_index, check_finite)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Load every key of ``data`` listed in ``keys``."""
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


LoadMedicalImageD = LoadMedicalImageDict = LoadMedicalImaged
