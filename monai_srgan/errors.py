"""Errors raised on bad user input: each names the offending file or setting and says what to do."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = ["SRGANError", "InputFileError", "ConfigError", "TrainingInterrupted", "source_path", "project_error"]


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


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C (SIGINT) or SIGTERM, after a checkpoint of the last completed iteration.

    A ``KeyboardInterrupt`` so that code stopping on Ctrl-C keeps doing so; under ``python -m monai.bundle run`` the
    project's exception hook (:mod:`monai_srgan.utils.excepthook`) prints its lines and the command that resumes,
    without a traceback.

    Args:
        signal_name: ``"SIGINT"`` or ``"SIGTERM"``.
        stage: the stage label (``"stage 1/2: pretraining"``).
        iteration: the last completed iteration; ``total``: the stage's iterations.
        checkpoint: the checkpoint file that holds ``checkpoint_iteration`` (``None``: the stage writes none).
        at_once: a second signal stopped the iteration in progress: the iterations after the checkpoint are lost.
        finished: the stage had just finished (a re-run goes on with the next stage).
        no_checkpoint: why there is no checkpoint, when ``checkpoint`` is ``None``.
    """

    def __init__(
        self,
        signal_name: str,
        stage: str,
        iteration: int,
        total: int,
        checkpoint: str | None,
        checkpoint_iteration: int | None,
        at_once: bool = False,
        finished: bool = False,
        no_checkpoint: str = "",
    ) -> None:
        self.signal_name, self.stage, self.iteration, self.total = signal_name, stage, int(iteration), int(total)
        self.checkpoint, self.checkpoint_iteration = checkpoint, checkpoint_iteration
        self.at_once, self.finished, self.no_checkpoint = bool(at_once), bool(finished), no_checkpoint
        super().__init__(
            signal_name, stage, iteration, total, checkpoint, checkpoint_iteration, at_once, finished, no_checkpoint
        )

    def lines(self) -> list[str]:
        """What happened and where the checkpoint is, one fact per line."""
        if self.at_once:
            head = f"training stopped at once by a second {self.signal_name}: {self.stage}, during iteration"
        else:
            head = f"training stopped by {self.signal_name}: {self.stage}, " + (
                "finished at iteration" if self.finished else "after iteration"
            )
        out = [f"{head} {self.iteration}/{self.total}"]
        if self.checkpoint is None:
            out.append(f"no checkpoint: {self.no_checkpoint or 'nothing was saved'}")
        else:
            note = " (the iterations after it are lost)" if self.at_once else ""
            out.append(f"checkpoint of iteration {self.checkpoint_iteration}: {self.checkpoint}{note}")
        return out

    def __str__(self) -> str:
        resume = "" if self.checkpoint is None else "; running the same training again resumes exactly from it"
        return "; ".join(self.lines()) + resume

    def __reduce__(self):
        return (self.__class__, self.args)


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
