"""The state an output folder keeps between ``monai-srgan infer`` runs: the run lock and the resume record.

* **Lock** (``.srgan.lock``): one run at a time per output folder. Taken with ``fcntl.flock`` (released by the kernel
  when the process ends, so a killed run leaves no stale lock); a second run is refused at once, naming the holder.
* **Resume record** (``srgan_resume.jsonl``): one line per input, appended *before* its output is written, keyed on
  the input (its files' real paths, sizes and modification times), never on the output name. ``--resume`` skips an
  input only when the record holds its key *and* the recorded output exists (outputs appear atomically, so an
  existing output is complete); a new or changed input gets an output name no earlier input holds, even when its name
  cleans up to the same output name (``a.png`` done, ``a.jpg`` added with ``--format png``; ``a b.png`` next to
  ``a_b.png``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError
from monai_srgan.io.files import RUN_LOCK_NAME, RUN_RECORD_NAME

__all__ = ["OutputLock", "input_key", "ResumeRecord"]


class OutputLock:
    """An exclusive lock on an output folder for the duration of a run (a context manager).

    Args:
        output: the output folder (must exist).

    Raises:
        ConfigError: on entering, when another run holds the folder (one line naming its process and start).
    """

    def __init__(self, output: Path) -> None:
        self.path = Path(output) / RUN_LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        import fcntl
        import time

        for _ in range(3):  # the holder may unlink the file between our open and our lock: then retry
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise ConfigError(
                    f"output folder '{self.path.parent}' is in use by another monai-srgan run ({holder}): wait for it "
                    "to finish, or choose another output folder"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%dT%H:%M:%S')}".encode(), 0)
                self._fd = fd
                return self
            os.close(fd)
        raise ConfigError(f"output folder '{self.path.parent}': the run lock {self.path.name} cannot be taken")

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            try:
                self.path.unlink(missing_ok=True)  # unlinked while held: a waiting opener sees a new inode
            finally:
                os.close(self._fd)
                self._fd = None


def input_key(files: Sequence[str], variant: str = "") -> str:
    """The identity of an input for ``--resume``: a hash of its files' real paths, sizes and modification times.

    A changed file (new size or time) is a new input; a renamed or added file is too.

    Args:
        files: the input's files (one, or the slices of a DICOM series).
        variant: what else decides the output (format and scale, e.g. ``"png x4"``): a resume with other settings
            redoes the input under a new name.
    """
    h = hashlib.sha256(variant.encode() + b"\n")
    for f in sorted(files):
        real = os.path.realpath(f)
        try:
            st = os.stat(real)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        h.update(os.fsencode(real) + b"\0" + f"{size}:{mtime}".encode() + b"\n")
    return h.hexdigest()[:32]


class ResumeRecord:
    """The resume record of an output folder: ``{input key: output path relative to the folder}``.

    Args:
        output: the output folder.
        fresh: start an empty record (``--overwrite``, or a run without ``--resume``) instead of reading the old one.
    """

    def __init__(self, output: Path, fresh: bool = False) -> None:
        self.output = Path(output)
        self.path = self.output / RUN_RECORD_NAME
        self.outputs: dict[str, str] = {}
        if fresh:
            self.path.unlink(missing_ok=True)
            return
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        for line in lines:
            try:
                entry = json.loads(line)
                self.outputs[str(entry["key"])] = str(entry["output"])
            except (ValueError, KeyError, TypeError):  # a line cut by a kill: ignore it
                continue

    def kept(self, keys: Sequence[str]) -> dict[int, Path]:
        """The recorded output of each input (by index) that the record knows, for
        :func:`~monai_srgan.inference.batch.plan_outputs` ``keep``."""
        return {i: self.output / self.outputs[k] for i, k in enumerate(keys) if k in self.outputs}

    def done(self, key: str, out_path: Path) -> bool:
        """True when the record names ``out_path`` for this input and that output exists (it is complete)."""
        rel = self.outputs.get(key)
        return rel is not None and self.output / rel == out_path and out_path.exists()

    def add(self, key: str, files: Sequence[str], out_path: Path) -> None:
        """Record that the input ``key`` is written to ``out_path`` (call before writing it)."""
        rel = out_path.relative_to(self.output).as_posix()
        if self.outputs.get(key) == rel:
            return
        self.outputs[key] = rel
        entry = {"key": key, "output": rel, "input": list(files)}  # ensure_ascii: any file name round-trips
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=True) + "\n")
