"""Ctrl-C and SIGTERM during training: finish the iteration, save it, stop cleanly (see :class:`StopOnSignal`).

Without this, a ``KeyboardInterrupt`` lands in the middle of an optimizer step (the iteration cannot be saved: G may
have stepped and D not), MONAI's ``StatsHandler`` logs its traceback, Python prints it again, and up to
``save_interval - 1`` iterations are lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import torch
from ignite.engine import Events

from monai_srgan.errors import SRGANError, TrainingInterrupted, project_error

from .distributed import is_distributed
from .handlers import ProgressLog

__all__ = ["StopOnSignal", "QuietProjectErrors"]

logger = logging.getLogger("monai_srgan.engines")

_TERMINATING = "Engine run is terminating due to exception"


def _quiet(exc: BaseException | None) -> bool:
    """Errors whose own message says it all: the project's errors and interruptions (no handler traceback)."""
    return exc is not None and (isinstance(exc, KeyboardInterrupt) or project_error(exc, (SRGANError,)) is not None)


class QuietProjectErrors:
    """Mixin for the SR engines: a project error or an interruption ends the run without MONAI's ``StatsHandler``
    logging its traceback (``EXCEPTION_RAISED`` handlers are skipped for them) and without Ignite's "Engine run is
    terminating due to exception" line; the exception itself propagates unchanged, traceback included."""

    def _handle_exception(self, e: BaseException) -> None:
        if _quiet(e):
            raise e
        super()._handle_exception(e)  # type: ignore[misc]

    def _quiet_logger(self) -> None:
        log = getattr(self, "logger", None)
        if isinstance(log, logging.Logger) and not any(isinstance(f, _DropTerminating) for f in log.filters):
            log.addFilter(_DropTerminating())


class _DropTerminating(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_TERMINATING):
            return True
        import sys

        return not _quiet(sys.exc_info()[1])  # logged inside Ignite's ``except`` block


class StopOnSignal:
    """Turns SIGINT/SIGTERM into "finish this iteration, checkpoint it, stop" for one trainer's run.

    The first signal only sets a flag (and says so); before the next batch is fetched — the iteration, its handlers
    and an epoch end's validation and checkpoint all done — the trainer writes ``checkpoint_last.pt`` for that
    iteration (unless it was just written), ends the run without ``COMPLETED`` (no export of an unfinished stage) and
    raises :class:`~monai_srgan.errors.TrainingInterrupted`. Re-running the same command resumes exactly from it. A
    second signal raises ``KeyboardInterrupt`` at once (the last checkpoint stays as it was). Under torchrun the
    decision is collective (every rank stops at the same iteration: a checkpoint gathers all ranks' RNG states).

    Args:
        trainer: the :class:`~monai_srgan.engines.SRTrainerBase`.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.received: str | None = None

    def attach(self, engine: Any) -> None:
        engine.add_event_handler(Events.GET_BATCH_STARTED, self.maybe_stop)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle the signals while the ``with`` block runs (main thread only; restored afterwards)."""
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        pid, previous = os.getpid(), {}

        def handler(signum: int, frame: Any) -> None:
            name = signal.Signals(signum).name
            if os.getpid() != pid:  # a forked DataLoader worker: what it would have done
                prev = previous.get(signum)
                if callable(prev):
                    prev(signum, frame)
                    return
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
                return
            if self.received is not None:
                raise KeyboardInterrupt(f"second {name}")
            self.received = name
            if getattr(self.trainer, "rank", 0) == 0:
                logger.warning(
                    "%s received: finishing iteration %d, then saving a checkpoint and stopping (%s again stops at "
                    "once, without saving)", name, self.trainer.state.iteration,
                    "Ctrl-C" if name == "SIGINT" else name,
                )  # fmt: skip

        for name in self.SIGNALS:
            signum = getattr(signal, name)
            previous[signum] = signal.signal(signum, handler)
        try:
            yield
        finally:
            for signum, prev in previous.items():
                signal.signal(signum, prev if prev is not None else signal.SIG_DFL)

    def requested(self) -> bool:
        """Whether to stop now (collective under torchrun: any rank's signal stops all)."""
        flag = self.received is not None
        if is_distributed():
            import torch.distributed as dist

            t = torch.tensor([1.0 if flag else 0.0], device=self.trainer.state.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            if t.item() > 0 and not flag:
                self.received = "SIGINT (on another rank)"
            flag = t.item() > 0
        return flag

    def maybe_stop(self, engine: Any) -> None:
        if not self.requested():
            return
        done = int(engine.state.iteration)
        saved = engine._last_good_ckpt
        if engine.files is not None and done > 0 and (saved is None or int(saved[1]) != done):
            engine.save_checkpoint()
        engine.terminate(skip_completed=True)

    def error(self, at_once: bool = False, finished: bool = False) -> TrainingInterrupted:
        """The exception that ends the run (after :meth:`maybe_stop` or a second signal)."""
        t = self.trainer
        saved = None if t.files is None else t._last_good_ckpt
        if t.files is None:
            why = "this stage has no checkpoint folder (ckpt_dir)"
        else:
            why = "no iteration had finished" if int(t.state.iteration) == 0 else "none was written yet"
        return TrainingInterrupted(
            self.received or "SIGINT", ProgressLog.label(t), int(t.state.iteration), t.total_iterations,
            None if saved is None else saved[0], None if saved is None else int(saved[1]), at_once=at_once,
            finished=finished, no_checkpoint=why,
        )  # fmt: skip
