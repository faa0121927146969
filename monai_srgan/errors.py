"""Errors raised on bad user input: each names the offending file or setting and says what to do."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["SRGANError", "InputFileError", "ConfigError", "source_path", "project_error"]


class SRGANError(ValueError):
    """Base of the project's own errors: a message that names the file or setting at fault and what to do.

    A ``ValueError`` so that callers catching bad values keep working; catch ``SRGANError`` for every error of
    this project.
    """


class InputFileError(SRGANError):
    """A file (or folder) cannot be used as given.

    Args:
        path: the file or folder at fault.
        problem: what is wrong with it.
        hint: what the user can do about it (install an extra, convert the file, change a setting).
    """

    def __init__(self, path: str | os.PathLike | None, problem: str, hint: str | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        self.hint = hint
        msg = f"{self.path}: {problem}" if self.path else problem
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)

    def __reduce__(self):  # keep picklable across DataLoader workers
        return (self.__class__, (self.path, self.problem, self.hint))


class ConfigError(SRGANError):
    """A configuration value cannot work; the message names the setting to change."""


def source_path(img: Any) -> str | None:
    """The file an image came from (``meta["filename_or_obj"]``, first entry of a collated list), for error messages."""
    meta = getattr(img, "meta", None)
    if isinstance(meta, Mapping):
        p = meta.get("filename_or_obj")
        if isinstance(p, (list, tuple)):
            p = p[0] if p else None
        return None if p in (None, "") else os.fspath(p) if isinstance(p, os.PathLike) else str(p)
    return None


def project_error(exc: BaseException | None, types: tuple[type, ...] | None = None) -> BaseException | None:
    """The innermost project error (:class:`SRGANError`, or ``types``) in an exception's cause/context
    chain: MONAI wraps what a transform or a config expression raises in its own ``RuntimeError``."""
    types = types or (SRGANError,)
    found, seen = None, set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, types):
            found = exc
        exc = exc.__cause__ or exc.__context__
    return found
