"""DICOM reader: single files (any modality, multi-frame, colour) and series, as MONAI ``ImageReader``.

* single DICOM files (compressed transfer syntaxes through the ``dicom`` extra), multi-frame files returned as a
  volume ``(C, H, W, F)``, colour files (``RGB``/``YBR``/``PALETTE COLOR``) as 3 channels;
* DICOM series (a folder, or a list of files of one series), sorted by geometry
  (:mod:`monai_srgan.io.readers.dicom_series`), returned as ``(C, H, W, D)`` with a full RAS affine.

Values are in the value domain of :mod:`monai_srgan.io.dicom_values`. Every file is parsed once: the header of each
file read here (without pixel data, private tags and overlays, before enhanced functional groups are promoted) is
kept in a bounded cache keyed by path, modification time and size, and :func:`source_header` hands it to the
derived-series writer instead of parsing the file again.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from monai_srgan.errors import InputFileError
from monai_srgan.io.dicom_values import stored_to_values
from monai_srgan.io.files import DICOM_EXTENSIONS, RECOPY_HINT, check_file, is_dicom_file
from monai_srgan.io.readers.base import ReadImage, ValueDomainReader
from monai_srgan.io.readers.dicom_decode import (
    PIXEL_TAGS,
    check_pixel_header,
    decode_pixels,
    dicom_spacing,
    promote_functional_groups,
)
from monai_srgan.io.readers.dicom_series import (
    drop_duplicate_instances,
    frame_position_items,
    geometric_order,
    orientation,
    positive_float,
    slice_geometry_notes,
    volume_affine,
)

__all__ = ["DicomReader", "read_dicom", "read_dicom_header", "peek_dicom", "source_header", "clear_header_cache"]

#: headers kept for the writer (a few KB each without pixel data); the oldest are dropped first
HEADER_CACHE_SIZE = 4096
_PIXEL_START = 0x7FE00008  # FloatPixelData, DoubleFloatPixelData, PixelData: where stop_before_pixels stops
_headers: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
_headers_lock = threading.Lock()


def _cache_key(path: str) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return os.path.realpath(path), st.st_mtime_ns, st.st_size


def _remember(path: str, ds) -> None:
    """Keep the header of ``ds``: the elements before the pixel data (as ``stop_before_pixels`` reads them) less
    private tags and overlays, which a derived series never copies and which can be large."""
    key = _cache_key(path)
    if key is None:
        return
    header = Dataset()
    for elem in ds:
        if elem.tag >= _PIXEL_START:
            break
        if not (elem.tag.is_private or 0x6000 <= elem.tag.group <= 0x60FF):
            header.add(elem)
    with _headers_lock:
        _headers[key] = header
        _headers.move_to_end(key)
        while len(_headers) > HEADER_CACHE_SIZE:
            _headers.popitem(last=False)


def clear_header_cache() -> None:
    """Forget every cached header (the next :func:`source_header` parses the files)."""
    with _headers_lock:
        _headers.clear()


def source_header(path: str):
    """The header of a source file (no pixel data), from the reader's cache or parsed now.

    A cached header lacks private tags and overlays (the derived-series writer drops them anyway).

    Args:
        path: a DICOM file loaded earlier (its header is cached) or any DICOM file.

    Raises:
        InputFileError: the file cannot be parsed.
    """
    key = _cache_key(path)
    with _headers_lock:
        cached = _headers.get(key) if key is not None else None
    if cached is not None:
        return cached
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as e:  # noqa: BLE001 - any parse error is reported as bad input
        raise InputFileError(
            path,
            f"cannot re-read the source DICOM header ({e})",
            "the DICOM output copies its header from this source: keep it in place and readable until the output "
            "is written, or choose another output format",
        ) from e


def peek_dicom(path: str):
    """The header of any file parsed as DICOM (``force=True``, no pixel data), or None when that fails.

    Args:
        path: the file.
    """
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - the caller decides what an unreadable file means
        return None


def read_dicom_header(path: str):
    """Read a DICOM header cheaply (large values deferred), also of files without the 128-byte preamble.

    Args:
        path: the file.

    Raises:
        InputFileError: missing/empty file, a broken header, or no DICOM at all.
    """
    check_file(path)
    try:
        return pydicom.dcmread(path, defer_size="4 KB")
    except InvalidDicomError:
        pass
    except Exception as e:  # noqa: BLE001 - anything pydicom raises on a broken header
        raise InputFileError(
            path, f"DICOM header cannot be read ({type(e).__name__}: {e})", f"the file is corrupt: {RECOPY_HINT}"
        ) from e
    try:  # files without the 128-byte preamble (old ACR-NEMA style)
        ds = pydicom.dcmread(path, defer_size="4 KB", force=True)
    except Exception as e:  # noqa: BLE001
        raise InputFileError(
            path, f"not a readable DICOM file ({type(e).__name__}: {e})", f"the file is corrupt: {RECOPY_HINT}"
        ) from e
    if "Rows" not in ds or not any(t in ds for t in PIXEL_TAGS):
        raise InputFileError(
            path,
            "not a valid DICOM file (no DICM preamble and no image elements)",
            f"the file is corrupt: {RECOPY_HINT}",
        )
    return ds


def read_dicom(path: str):
    """Parse a whole DICOM file (pixel data included) and cache its header for :func:`source_header`.

    Args:
        path: the file.

    Raises:
        InputFileError: missing/empty/corrupt file, or no DICOM.
    """
    check_file(path)
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        read_dicom_header(path)  # raises for non-DICOM; accepts preamble-less files
        ds = pydicom.dcmread(path, force=True)
    except Exception as e:  # noqa: BLE001
        raise InputFileError(
            path, f"DICOM file cannot be read ({type(e).__name__}: {e})", f"the file is corrupt: {RECOPY_HINT}"
        ) from e
    if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
        if not hasattr(ds, "file_meta"):
            ds.file_meta = pydicom.dataset.FileMetaDataset()
        implicit = getattr(ds, "is_implicit_VR", True)
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    _remember(path, ds)
    return ds


def _values(ds, path: str, voi_window, voi_index: int) -> tuple[np.ndarray, dict[str, Any]]:
    promote_functional_groups(ds)
    return stored_to_values(decode_pixels(ds, path), ds, path, voi_window, voi_index)


def _file_values(ds, path: str, voi_window, voi_index: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    vals, meta = _values(ds, path, voi_window, voi_index)
    notes: list[str] = []
    spacing, known = dicom_spacing(ds, path, notes)
    affine = np.eye(4)
    if vals.ndim == 4:  # multi-frame volume
        dz = positive_float(ds.get("SpacingBetweenSlices", None)) or positive_float(ds.get("SliceThickness", None))
        frames, ori = frame_position_items(ds), orientation(ds)
        slice_vec = None
        if frames is not None and ori is not None and len(frames) == vals.shape[-1] > 1:  # trust the positions
            first, last = (np.asarray([float(v) for v in f.ImagePositionPatient]) for f in (frames[0], frames[-1]))
            step = (last - first) / (len(frames) - 1)
            if abs(float(step @ np.cross(*ori))) > 1e-4:  # frames at one place (a time series) keep the header's
                slice_vec, dz = step, abs(float(step @ np.cross(*ori)))
        spacing = [*spacing, dz or 1.0]
        affine = volume_affine(ds, spacing, slice_vec)
        meta["srgan_spacing_known"] = [known, known, dz is not None]
        if slice_vec is not None:
            meta["srgan_slice_grid_error_mm"] = slice_geometry_notes(frames, affine, ds, spacing[2], path, notes)
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


def _check_series(paths: list[str], datasets: list, where: str) -> None:
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
        check_pixel_header(ds, p)
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


def _series_values(paths: list[str], datasets: list, voi_window, voi_index: int) -> tuple:
    where = os.path.commonpath([os.path.abspath(p) for p in paths]) if len(paths) > 1 else paths[0]
    for ds in datasets:
        promote_functional_groups(ds)
    _check_series(paths, datasets, where)
    notes: list[str] = []
    paths, datasets = drop_duplicate_instances(list(paths), datasets, where, notes)
    order, slice_vec, dz = geometric_order(paths, datasets, where)
    first = datasets[order[0]]
    inplane, inplane_known = dicom_spacing(first, paths[order[0]], notes)
    dz_known = (slice_vec is not None) or any(
        first.get(a, None) not in (None, "") for a in ("SpacingBetweenSlices", "SliceThickness")
    )
    vols, metas = [], []
    for i in order:
        v, m = _values(datasets[i], paths[i], voi_window, voi_index)
        vols.append(v)
        metas.append(m)
    spacing = [*inplane, dz]
    affine = volume_affine(first, spacing, slice_vec)
    grid_err = 0.0
    if slice_vec is not None:  # positions known: trusted over SpacingBetweenSlices, checked for gaps
        grid_err = slice_geometry_notes([datasets[i] for i in order], affine, first, dz, where, notes)
    meta = dict(metas[0])
    meta.update(
        srgan_format="dicom_series",
        srgan_source_files=[paths[i] for i in order],
        srgan_spacing=[float(s) for s in spacing],
        srgan_spacing_known=[inplane_known, inplane_known, bool(dz_known)],
        srgan_value_min=float(min(m["srgan_value_min"] for m in metas)),
        srgan_value_max=float(max(m["srgan_value_max"] for m in metas)),
        srgan_modality=str(first.get("Modality", "")),
        srgan_slice_grid_error_mm=grid_err,
        srgan_warnings=notes,
    )
    return np.stack(vols, axis=-1), affine, meta


def series_files_in(folder: str) -> list[str]:
    """The DICOM files of a series folder (not recursive; hidden files and DICOMDIR left out).

    Args:
        folder: the folder.

    Raises:
        InputFileError: the folder holds no DICOM file.
    """
    names = sorted(e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith("."))
    dicoms = [os.path.join(folder, n) for n in names if n.upper() != "DICOMDIR"]
    dicoms = [f for f in dicoms if is_dicom_file(f)]
    if not dicoms:
        raise InputFileError(
            folder, "folder holds no DICOM files", "give a file, or use find_inputs() to list the images of a folder"
        )
    return dicoms


class DicomReader(ValueDomainReader):
    """MONAI ``ImageReader`` for DICOM files, multi-frame files and series (a folder or a list of files).

    ``read`` parses the dataset(s); ``get_data`` decodes them into the value domain (masked to ``BitsStored``,
    Modality LUT, optional VOI window, ``MONOCHROME1`` inverted) with the ``srgan_*`` meta of docs/architecture.md.
    Usable as ``monai.transforms.LoadImage(reader=DicomReader())``.

    Args:
        voi_window: ``False`` (default) keeps the Modality-LUT values; ``True`` applies the file's VOI LUT or window
            ``voi_index``; ``(center, width)`` applies that LINEAR window. Single-channel DICOM only.
        voi_index: which of several windows to use with ``voi_window=True``.
        check_finite: see :class:`~monai_srgan.io.readers.base.ValueDomainReader`.
    """

    suffixes = DICOM_EXTENSIONS

    def __init__(
        self, voi_window: bool | tuple[float, float] | None = False, voi_index: int = 0, check_finite: bool = True
    ) -> None:
        super().__init__(check_finite)
        self.voi_window = voi_window
        self.voi_index = voi_index

    def verify_suffix(self, filename) -> bool:
        """True for DICOM files (by extension or ``DICM`` magic) and folders (a series).

        Args:
            filename: a path or a sequence of paths.
        """
        names = [filename] if isinstance(filename, (str, os.PathLike)) else list(filename)
        return bool(names) and all(os.path.isdir(n) or is_dicom_file(n) for n in names)

    def _open(self, paths: list[str]) -> ReadImage:
        if len(paths) == 1 and os.path.isdir(paths[0]):
            paths = series_files_in(paths[0])
        return ReadImage(paths, [read_dicom(p) for p in paths])

    def _values(self, img: ReadImage) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        if len(img.paths) == 1:
            return _file_values(img.handle[0], img.paths[0], self.voi_window, self.voi_index)
        return _series_values(img.paths, img.handle, self.voi_window, self.voi_index)
