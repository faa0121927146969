"""Helpers shared by the writers: atomic file/folder writes, safe names, array conversion."""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "atomic_write_file",
    "atomic_write_dir",
    "replace_atomically",
    "sanitize_name",
    "to_numpy",
    "TMP_MARKER",
    "affine_to_ras",
]

TMP_MARKER = ".srgan-tmp-"


def sanitize_name(name: str, max_len: int = 120) -> str:
    """Turn an arbitrary string (file stem, UID) into a safe single path component.

    Keeps letters and digits of any script (``résumé_胸部`` stays readable), ``.``, ``-`` and ``_``, in Unicode NFC
    form; everything else (separators, spaces, control and format characters) becomes ``_``. Leading dots are
    removed so the result is never hidden, never ``.``/``..`` and never contains a path separator.

    Args:
        name: the raw name.
        max_len: longest result kept, in characters (and never over 200 UTF-8 bytes).

    Returns:
        a non-empty name that stays inside any folder it is joined to.
    """
    text = unicodedata.normalize("NFC", str(name))
    cleaned = re.sub(r"[^\w.-]+", "_", text).lstrip("._")
    cleaned = cleaned[:max_len]
    while len(cleaned.encode()) > 200:  # leaves room for suffixes within the usual 255-byte name limit
        cleaned = cleaned[:-1]
    return cleaned.rstrip("_") or "image"


def _tmp_sibling(path: Path) -> Path:
    return path.parent / f"{TMP_MARKER}{uuid.uuid4().hex[:12]}-{path.name}"


def atomic_write_file(
    path: str | os.PathLike, write: Callable[[Path], object], overwrite: bool = False, fsync: bool = False
) -> Path:
    """Write a file through a temporary sibling and ``os.replace`` so that no partial file is ever visible.

    The one atomic file writer of the package: outputs, reports, bundle metadata and generator weights use it.

    Args:
        path: the final file path (its folder must exist).
        write: called with the temporary path; must create that file (with the usual permissions of a new file).
        overwrite: replace an existing file at ``path``; by default an existing file raises ``FileExistsError``.
        fsync: flush the file to disk before the rename (for files that must survive a power cut, e.g. checkpoints).

    Returns:
        the final path.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: output exists; not overwritten")
    tmp = _tmp_sibling(path)
    try:
        write(tmp)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_dir(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Fill a temporary sibling folder, then rename it to ``path`` (which must not exist).

    Used for DICOM series: an interrupted run leaves no half-written series under its final name.

    Args:
        path: the final folder path (its parent must exist).
        write: called with the temporary folder (already created); writes the files into it.

    Returns:
        the final path.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: output exists; not overwritten")
    tmp = _tmp_sibling(path)
    tmp.mkdir()
    try:
        write(tmp)
        os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Replace an existing output (file or DICOM folder): ``write`` creates the new one beside it, then they swap.

    On any failure (also between the two renames) the old output is back under its name and no temporary is left.

    Args:
        path: the existing output.
        write: called with a temporary sibling path (same name and extension after a ``TMP_MARKER`` prefix).
    """
    path = Path(path)
    fresh, old = _tmp_sibling(path), _tmp_sibling(path)
    try:
        write(fresh)
        os.replace(path, old)
        try:
            os.replace(fresh, path)
        except BaseException:
            os.replace(old, path)
            raise
    finally:
        for leftover in (fresh, old):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.exists():
                leftover.unlink()
    return path


def to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A NumPy view/copy of a tensor or array (MetaTensor included), on the CPU, without gradients."""
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().cpu().as_subclass(torch.Tensor).numpy()
    return np.asarray(x)


def affine_to_ras(affine: np.ndarray | torch.Tensor | None, space: str | None) -> np.ndarray:
    """Return a 4×4 RAS affine from a MONAI affine whose ``space`` meta is ``"RAS"`` (default) or ``"LPS"``."""
    if affine is None:
        return np.eye(4)
    a = np.array(to_numpy(affine), dtype=np.float64)
    if a.shape != (4, 4):  # 2D affines (3×3) are lifted to 3D
        full = np.eye(4)
        n = a.shape[0] - 1
        full[:n, :n] = a[:n, :n]
        full[:n, 3] = a[:n, n]
        a = full
    if str(space or "RAS").upper() == "LPS":
        a = np.diag([-1.0, -1.0, 1.0, 1.0]) @ a
    return a
