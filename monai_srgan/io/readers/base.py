"""What every reader of this package shares: a MONAI ``ImageReader`` whose data are in the source's value domain.

A reader's ``read`` opens its file(s) (for DICOM: parses the datasets), ``get_data`` decodes them into a float32
channel-first array plus the ``srgan_*`` meta of docs/architecture.md, with ``affine`` and ``original_channel_dim``
= 0 so that ``monai.transforms.LoadImage(reader=...)`` builds the same ``MetaTensor`` as
:class:`monai_srgan.transforms.LoadMedicalImage`.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from monai.data import ImageReader

from monai_srgan.errors import InputFileError
from monai_srgan.io.files import has_ext

__all__ = ["ValueDomainReader", "SingleFileReader", "ReadImage", "as_path_list", "finish_meta"]


@dataclass
class ReadImage:
    """What a reader's ``read`` returns: the file(s) and whatever was parsed from them.

    Attributes:
        paths: the source files (a DICOM series: one per slice).
        handle: the parsed object(s) (pydicom datasets), or None when ``get_data`` opens the file itself.
        notes: warnings collected while reading, copied to ``meta["srgan_warnings"]``.
    """

    paths: list[str]
    handle: Any = None
    notes: list[str] = field(default_factory=list)


def as_path_list(data: Any, accepted: str = "a path or a list of paths") -> list[str]:
    """Paths from what ``LoadImage`` passes a reader: a path, or a sequence (tuple) of paths.

    Args:
        data: a path or a sequence of paths.
        accepted: what the caller accepts, for the error's hint.

    Raises:
        InputFileError: anything else.
    """
    if isinstance(data, (str, os.PathLike)):
        return [os.fspath(data)]
    if isinstance(data, Sequence) and len(data) > 0 and all(isinstance(s, (str, os.PathLike)) for s in data):
        return [os.fspath(s) for s in data]
    raise InputFileError(None, f"cannot load {type(data).__name__} {data!r}", f"give {accepted}")


def finish_meta(vals: np.ndarray, affine: np.ndarray, meta: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """Add MONAI's keys (``affine``, ``spatial_shape``, ``original_channel_dim``, ``filename_or_obj``, ``space``).

    Args:
        vals: channel-first values.
        affine: the 4x4 affine.
        meta: the reader's ``srgan_*`` meta (updated in place and returned).
        paths: the source files.
    """
    filename = os.path.commonpath([os.path.abspath(p) for p in paths]) if len(paths) > 1 else paths[0]
    meta.update(
        affine=np.asarray(affine, dtype=np.float64),
        filename_or_obj=str(filename),
        spatial_shape=np.asarray(vals.shape[1:], dtype=np.int64),
        original_channel_dim=0,
        space="RAS",
    )
    meta.setdefault("srgan_alpha_dropped", False)
    meta["srgan_warnings"] = list(meta.get("srgan_warnings") or [])
    spacing = list(meta.get("srgan_spacing") or [])
    if len(spacing) < vals.ndim - 1:
        meta["srgan_spacing"] = spacing + [1.0] * (vals.ndim - 1 - len(spacing))
    return meta


class ValueDomainReader(ImageReader):
    """Base of the readers: suffix check, path handling and the shared ``get_data`` contract.

    Subclasses set :attr:`suffixes` and implement :meth:`_open` (parse) and :meth:`_values` (decode).

    Args:
        check_finite: raise :class:`~monai_srgan.errors.InputFileError` when the values hold NaN/Inf.
    """

    suffixes: tuple[str, ...] = ()

    def __init__(self, check_finite: bool = True) -> None:
        super().__init__()
        self.check_finite = check_finite

    def verify_suffix(self, filename: Sequence[os.PathLike | str] | os.PathLike | str) -> bool:
        """True when every file name ends with one of :attr:`suffixes`.

        Args:
            filename: a file name or a sequence of them.
        """
        names = [filename] if isinstance(filename, (str, os.PathLike)) else list(filename)
        return bool(names) and all(has_ext(n, self.suffixes) for n in names)

    def read(self, data: Sequence[os.PathLike | str] | os.PathLike | str, **kwargs: Any) -> ReadImage:
        """Open the file(s) in ``data``; the pixels are decoded by :meth:`get_data`.

        Args:
            data: a file path, or a sequence of paths (a DICOM series for the DICOM reader).
            kwargs: ignored (MONAI passes reader options here).
        """
        return self._open(as_path_list(data))

    def get_data(self, img: ReadImage) -> tuple[np.ndarray, dict[str, Any]]:
        """Decode ``img`` (from :meth:`read`) into float32 ``(C, *spatial)`` values and their meta.

        Args:
            img: what :meth:`read` returned.

        Returns:
            ``(values, meta)``; ``meta`` holds ``affine``, ``original_channel_dim`` (0), ``spatial_shape`` and the
            ``srgan_*`` keys.

        Raises:
            InputFileError: the file cannot be decoded, or (``check_finite``) holds NaN/Inf.
        """
        vals, affine, meta = self._values(img)
        out = np.ascontiguousarray(vals, dtype=np.float32)
        if self.check_finite and not np.all(np.isfinite(out)):
            raise InputFileError(img.paths[0], "image contains NaN or Inf values", "fix or remove the file")
        meta["srgan_warnings"] = list(img.notes) + list(meta.get("srgan_warnings") or [])
        return out, finish_meta(out, affine, meta, img.paths)

    def _open(self, paths: list[str]) -> ReadImage:
        return ReadImage(paths)

    @abstractmethod
    def _values(self, img: ReadImage) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Decode ``img`` into ``(channel-first values, 4x4 affine, srgan_* meta)``."""


class SingleFileReader(ValueDomainReader):
    """A reader of one file per image whose family provides ``load(path) -> (values, affine, meta)``.

    Subclasses set :attr:`suffixes` and :attr:`load` (a ``staticmethod``).

    Args:
        check_finite: see :class:`ValueDomainReader`.
    """

    load: Callable[[str], tuple[np.ndarray, np.ndarray, dict[str, Any]]]

    def _values(self, img: ReadImage) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        return type(self).load(img.paths[0])
