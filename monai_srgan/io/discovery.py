"""Finding and checking inputs: which files of a folder are images, and how DICOM files group into series.

:func:`find_inputs` discovers the loadable inputs of a folder (DICOM files grouped into series by
``SeriesInstanceUID``), :func:`validate_input` checks one input at header level without decoding pixels,
:func:`input_kind` says which reader family loads an input.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monai_srgan.errors import InputFileError
from monai_srgan.io.files import (
    IMAGE_EXTENSIONS,
    NIFTI_EXTENSIONS,
    RECOPY_HINT,
    PathLike,
    check_file,
    has_dicom_magic,
    has_ext,
    is_dicom_file,
    is_run_output_folder,
    strip_ext,
)
from monai_srgan.io.readers.base import as_path_list
from monai_srgan.io.readers.dicom import read_dicom_header, series_files_in
from monai_srgan.io.readers.dicom_decode import PIXEL_TAGS, check_pixel_header, sop_name
from monai_srgan.io.readers.pil import open_pil

__all__ = ["InputItem", "find_inputs", "validate_input", "is_dicom_file", "input_kind", "input_paths"]

logger = logging.getLogger(__name__)


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
        sop_uid: the ``SOPInstanceUID`` of a single DICOM file (read with the header, so that naming outputs needs
            no second read).
    """

    path: str | tuple[str, ...]
    kind: str
    series_uid: str | None = None
    notes: tuple[str, ...] = ()
    sop_uid: str | None = None

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
        return strip_ext(first.name)


def find_inputs(
    folder: PathLike,
    recursive: bool = True,
    skipped: list[tuple[str, str]] | None = None,
    follow_links: bool = True,
) -> list[InputItem]:
    """Discover the loadable inputs under a folder.

    Image files are recognised by extension (PNG/JPEG/TIFF/BMP, NIfTI) and DICOM files by extension or by the
    ``DICM`` magic. DICOM files with slice geometry (``ImagePositionPatient``/``ImageOrientationPatient``, i.e.
    CT/MR-like) are grouped into series by ``SeriesInstanceUID``: a group of one file (or any multi-frame file) is a
    ``"dicom"`` item, a larger group a ``"dicom_series"`` item. Projection images (CR/DX, no geometry) are always
    single ``"dicom"`` items, even when several share a series. A file without geometry in a series whose other
    files have it becomes its own ``"dicom"`` item, with a warning (logged and in the items' ``notes``). DICOM
    objects without pixel data (structured reports, presentation states, ...) and other files are skipped.

    Symbolic links to files and folders inside ``folder`` are followed; links that lead out of it are followed only
    with ``follow_links`` (``monai-srgan infer`` does not follow them unless ``--follow-links`` is given: a link to
    ``/etc`` in a folder from elsewhere must not send system files into the outputs). Broken links, link loops and
    folders reached a second time through a link are skipped with a reason, and so are the outputs of an earlier
    ``monai-srgan infer`` run: folders holding its report, resume record or lock, and DICOM files whose
    DerivationDescription says monai_srgan made them (no super-resolution of a super-resolution).

    Args:
        folder: the folder to scan (a single file is accepted and returns one item).
        recursive: also scan sub-folders.
        skipped: when given, ``(path, reason)`` is appended for every file that was skipped.
        follow_links: follow symbolic links that lead out of ``folder``.

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
    files = [root] if root.is_file() else _walk(root, recursive, skipped, follow_links)
    items: list[InputItem] = []
    series: dict[str, list[str]] = {}
    multiframe: set[str] = set()
    real_uid: dict[str, str | None] = {}
    sop_uid: dict[str, str | None] = {}
    with_geometry: dict[str, list[str]] = {}
    without_geometry: dict[str, list[str]] = {}
    for p in files:
        sp = str(p)
        if has_ext(sp, NIFTI_EXTENSIONS):
            items.append(InputItem(sp, "nifti"))
        elif has_ext(sp, IMAGE_EXTENSIONS) and not has_dicom_magic(sp):  # a DICOM named .png is still DICOM
            items.append(InputItem(sp, "image"))
        elif is_dicom_file(sp):
            if p.name.upper() == "DICOMDIR":
                _skip(skipped, sp, "DICOMDIR index file")
                continue
            try:
                ds = read_dicom_header(sp)
            except InputFileError as e:
                _skip(skipped, sp, e.problem)
                continue
            if not any(t in ds for t in PIXEL_TAGS):
                _skip(skipped, sp, f"DICOM without pixel data ({sop_name(ds)})")
                continue
            derivation = str(ds.get("DerivationDescription", "") or "")
            if "by monai_srgan" in derivation:
                _skip(skipped, sp, f"{_EARLIER_OUTPUT} (DerivationDescription '{derivation[:60]}…'): {_NOT_AGAIN}")
                continue
            uid = str(ds.get("SeriesInstanceUID", "") or "")
            real_uid[sp] = uid or None
            sop_uid[sp] = str(ds.get("SOPInstanceUID", "") or "") or None
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
            items.extend(InputItem(p, "dicom", uid_out, notes.get(p, ()), sop_uid[p]) for p in paths)
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


_EARLIER_OUTPUT = "output of an earlier monai-srgan run"
_NOT_AGAIN = "not super-resolved again (move it out of the input folder to process it on purpose)"


def _walk(root: Path, recursive: bool, skipped: list | None, follow_links: bool = True) -> list[Path]:
    """Files under ``root`` (sorted), following symbolic links (out of ``root`` only with ``follow_links``); broken
    links, link loops and output folders of earlier runs are skipped."""
    out: list[Path] = []
    root_real = os.path.realpath(root)
    visited = {root_real: str(root)}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            _skip(skipped, str(folder), f"folder cannot be read ({e.strerror or e})")
            continue
        marker = is_run_output_folder([e.name for e in entries])
        if marker:
            _skip(skipped, str(folder), f"{_EARLIER_OUTPUT} (the folder holds '{marker}'): {_NOT_AGAIN}")
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
                target = os.path.realpath(p)
                if not follow_links and os.path.commonpath([root_real, target]) != root_real:
                    _skip(
                        skipped,
                        str(p),
                        f"symbolic link out of the input folder (to '{target}'): not followed "
                        "(monai-srgan infer --follow-links follows it)",
                    )
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


def validate_input(src: PathLike | Sequence[PathLike] | InputItem) -> None:
    """Cheap header-level check that an input can be loaded; pixels are not decoded.

    Checks existence, non-empty files, that Pillow/nibabel/pydicom can parse the header, that a DICOM object holds
    pixel data and that a decoder for its transfer syntax is installed.

    Raises:
        InputFileError: naming the file and the problem.
    """
    paths = input_paths(src)
    if len(paths) == 1 and os.path.isdir(paths[0]):
        paths = series_files_in(paths[0])
    for path in paths:
        check_file(path)
        if has_ext(path, NIFTI_EXTENSIONS):
            import nibabel as nib

            try:
                nib.load(path)
            except Exception as e:  # noqa: BLE001
                raise InputFileError(
                    path,
                    f"NIfTI header cannot be read ({type(e).__name__}: {e})",
                    f"the file is corrupt: {RECOPY_HINT}",
                ) from e
        elif is_dicom_file(path):
            ds = read_dicom_header(path)
            check_pixel_header(ds, path)
        else:
            from PIL import UnidentifiedImageError

            try:
                with open_pil(path) as im:
                    im.size  # noqa: B018 - header parsed by open
            except (UnidentifiedImageError, OSError, EOFError) as e:
                raise InputFileError(
                    path,
                    f"not a readable image ({e})",
                    f"the file is corrupt or not an image: {RECOPY_HINT}",
                ) from e


def input_paths(src: Any) -> list[str]:
    """The file paths of an input: a path, a sequence of paths or an :class:`InputItem`.

    Args:
        src: the input.

    Raises:
        InputFileError: anything else.
    """
    if isinstance(src, InputItem):
        return src.files
    return as_path_list(src, "a path, a list of paths or InputItem")


def input_kind(paths: Sequence[str], kind: str | None = None) -> tuple[list[str], str]:
    """Which reader family loads ``paths``: ``"dicom_series"``, ``"dicom"``, ``"nifti"`` or ``"image"``.

    A folder is a DICOM series (its DICOM files are returned), several files a series, a single file is recognised
    by extension or by the ``DICM`` magic; a "series" of one file is a single DICOM file.

    Args:
        paths: the input's files (or one folder).
        kind: the kind already known (from :class:`InputItem`), else None.

    Returns:
        ``(paths, kind)`` with a folder replaced by its DICOM files.
    """
    paths = list(paths)
    if len(paths) == 1 and os.path.isdir(paths[0]):
        paths, kind = series_files_in(paths[0]), "dicom_series"
    if kind is None:
        if len(paths) > 1:
            kind = "dicom_series"
        elif has_ext(paths[0], NIFTI_EXTENSIONS):
            kind = "nifti"
        elif os.path.exists(paths[0]) and is_dicom_file(paths[0]):
            kind = "dicom"
        else:
            kind = "image"
    if kind == "dicom_series" and len(paths) == 1:
        kind = "dicom"
    return paths, kind
