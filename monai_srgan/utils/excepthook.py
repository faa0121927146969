"""How the project's own errors end ``python -m monai.bundle run``: their message, not a 60-line traceback.

MONAI wraps whatever a config expression or ``_target_`` raises in its own ``RuntimeError``, so a wrong
``--dataset_dir`` ended in two chained tracebacks with the one useful line in the middle. Under ``monai.bundle``
(and only there: scripts, notebooks and tests keep Python's behaviour) ``monai_srgan`` installs
:func:`bundle_excepthook` when it is first imported, which prints, for

- a :class:`~monai_srgan.errors.SRGANError` anywhere in the exception chain: ``error: <its message>``;
- :class:`~monai_srgan.errors.TrainingInterrupted` (Ctrl-C / SIGTERM during training): where the checkpoint is and the
  command that resumes;
- any other ``KeyboardInterrupt``: one line;

followed by how to get the traceback (``MONAI_SRGAN_DEBUG=1`` or ``--debug``). Every other exception keeps its
traceback, and the exit status stays non-zero.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from types import TracebackType

__all__ = ["DEBUG_ENV", "bundle_excepthook", "debug_requested", "install_bundle_excepthook", "resume_command"]

#: set to 1 to get the full traceback of the project's errors under ``monai.bundle run``
DEBUG_ENV = "MONAI_SRGAN_DEBUG"

_HINT = f"(full traceback: set {DEBUG_ENV}=1 or add --debug)"


def debug_requested() -> bool:
    """``MONAI_SRGAN_DEBUG`` is set to a true value, or ``--debug`` is on the command line."""
    value = os.environ.get(DEBUG_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off") or "--debug" in sys.argv[1:]


def _running_monai_bundle() -> bool:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", "") in ("monai.bundle.__main__", "monai.bundle")


def resume_command() -> str:
    """The command line of this process as a user types it (``python -m monai.bundle run ...``, quoted)."""
    exe = sys.executable
    found = shutil.which("python")
    python = "python" if found and os.path.realpath(found) == os.path.realpath(exe) else exe
    args = " ".join(_quote(a) for a in sys.argv[1:])
    if "LOCAL_WORLD_SIZE" in os.environ and "TORCHELASTIC_RUN_ID" in os.environ:  # a torchrun worker
        return f"torchrun --nproc_per_node={os.environ['LOCAL_WORLD_SIZE']} -m monai.bundle {args}"
    return f"{python} -m monai.bundle {args}"


def _quote(arg: str) -> str:
    """Shell quoting that keeps a config value readable: ``"{'num_feat': 8}"`` rather than ``'{'"'"'num_feat…'``."""
    quoted = shlex.quote(arg)
    if quoted != arg and "'" in arg and not any(c in arg for c in '"$`\\!'):
        return f'"{arg}"'
    return quoted


def _message(exc: BaseException) -> str | None:
    from monai_srgan.errors import TrainingInterrupted, project_error

    stopped = project_error(exc, (TrainingInterrupted,))
    if stopped is not None:
        lines = stopped.lines()
        if stopped.checkpoint is not None:
            lines.append(f"to resume exactly, run the same command again (from {os.getcwd()}):")
            lines.append(f"  {resume_command()}")
        return "\n".join(lines)
    err = project_error(exc)
    if err is not None:
        return f"error: {err}\n{_HINT}"
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted (KeyboardInterrupt) {_HINT}"
    return None


def bundle_excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None, fallback=sys.__excepthook__
) -> None:
    """``sys.excepthook`` for ``monai.bundle run``: the project's errors as their message (module docstring)."""
    message = None if debug_requested() else _message(exc)
    if message is None:
        fallback(exc_type, exc, tb)
        return
    if int(os.environ.get("RANK", "0") or 0) == 0:  # torchrun: one copy of the message
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def install_bundle_excepthook() -> bool:
    """Install :func:`bundle_excepthook` when this process is ``python -m monai.bundle`` (once); returns whether it
    is installed."""
    if not _running_monai_bundle():
        return False
    current = sys.excepthook
    if getattr(current, "__name__", "") == "_srgan_hook":
        return True

    def _srgan_hook(exc_type, exc, tb):
        bundle_excepthook(exc_type, exc, tb, fallback=current)

    sys.excepthook = _srgan_hook
    return True
