"""Errors raised on bad user input: each names the offending file or setting and says what to do."""

from __future__ import annotations

import os

__all__ = ["InputFileError", "ConfigError"]


class InputFileError(ValueError):
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


class ConfigError(ValueError):
    """A configuration value cannot work; the message names the setting to change."""
