"""File-level facts shared by discovery, the readers and the loader: extensions, DICOM magic, file checks.

Nothing here decodes an image; the functions only look at names, sizes and the first bytes of a file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Union

from monai_srgan.errors import InputFileError

__all__ = [
    "PathLike",
    "IMAGE_EXTENSIONS",
    "NIFTI_EXTENSIONS",
    "DICOM_EXTENSIONS",
    "RECOPY_HINT",
    "RUN_REPORT_NAME",
    "RUN_RECORD_NAME",
    "RUN_LOCK_NAME",
    "is_run_output_folder",
    "has_ext",
    "strip_ext",
    "is_dicom_file",
    "has_dicom_magic",
    "check_file",
]

PathLike = Union[str, os.PathLike]
#: Pillow-read 2D formats (``.ppm.gz``: STARE's lossless distribution format)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".ppm.gz", ".pgm.gz")
NIFTI_EXTENSIONS = (".nii", ".nii.gz")
DICOM_EXTENSIONS = (".dcm", ".dicom", ".ima")
#: the hint of every "file is corrupt" error
RECOPY_HINT = "copy it again from its source or re-export it, or remove it from the input"
#: the files that mark the output folder of a ``monai-srgan infer`` run: report (``srgan_report.json``, earlier ones
#: kept as ``srgan_report.<started>.json``), resume record, run lock
RUN_REPORT_NAME = "srgan_report"
RUN_RECORD_NAME = "srgan_resume.jsonl"
RUN_LOCK_NAME = ".srgan.lock"


def is_run_output_folder(names: Sequence[str]) -> str | None:
    """The marker file, when a folder holding files ``names`` is the output folder of a ``monai-srgan infer`` run.

    Args:
        names: the file names in the folder.
    """
    for name in names:
        is_report = name.startswith(RUN_REPORT_NAME + ".") and name.endswith(".json")
        if is_report or name in (RUN_RECORD_NAME, RUN_LOCK_NAME):
            return name
    return None


def has_ext(path: PathLike, exts: Sequence[str]) -> bool:
    """True when ``path`` ends with one of ``exts`` (case-insensitive).

    Args:
        path: a file path.
        exts: extensions with their leading dot.
    """
    return os.fspath(path).lower().endswith(tuple(exts))


def strip_ext(name: str) -> str:
    """A file name without its (possibly double, e.g. ``.nii.gz``) image extension.

    Args:
        name: the file name.
    """
    low = name.lower()
    for ext in (".nii.gz", ".ppm.gz", ".pgm.gz", *NIFTI_EXTENSIONS, *IMAGE_EXTENSIONS, *DICOM_EXTENSIONS):
        if low.endswith(ext):
            return name[: -len(ext)]
    return name


def has_dicom_magic(path: PathLike) -> bool:
    """True when the file holds the ``DICM`` magic at byte 128 (unreadable files: False).

    Args:
        path: a file path.
    """
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def is_dicom_file(path: PathLike) -> bool:
    """True when the file has a DICOM extension or the ``DICM`` magic at byte 128.

    Args:
        path: a file path.
    """
    return has_ext(path, DICOM_EXTENSIONS) or has_dicom_magic(path)


def check_file(path: PathLike) -> None:
    """Refuse a missing path, a folder and an empty file.

    Args:
        path: the file to check.

    Raises:
        InputFileError: naming the file and the problem.
    """
    if not os.path.exists(path):
        raise InputFileError(path, "does not exist", "check the input path")
    if os.path.isdir(path):
        raise InputFileError(
            path, "is a folder where a file was expected", "give its files, or the folder alone as one DICOM series"
        )
    if os.path.getsize(path) == 0:
        raise InputFileError(path, "file is empty (0 bytes)", "re-export the file or remove it from the input")
