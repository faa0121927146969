"""One console line per ``log_interval`` iterations for the SR trainers (attached by the trainer on rank 0)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from ignite.engine import Events

__all__ = ["ProgressLog"]


class ProgressLog:
    """One log line every ``interval`` iterations: stage, iteration/total, losses, it/s and time left.

    Replaces a ``StatsHandler``'s per-iteration lines (the trainers turn those off) so that a long run says what it is
    doing at ``log_interval`` without flooding the console; the stage label comes from the trainer's ``stage_label``
    (``"stage 1/2: pretraining"`` when :func:`~monai_srgan.engines.run_two_stage` runs both stages).

    Args:
        interval: iterations between lines.
        logger: where the lines go (INFO).
    """

    def __init__(self, interval: int, logger: Any) -> None:
        self.interval, self.logger = max(1, int(interval)), logger
        self._t0, self._it0 = 0.0, 0

    def attach(self, engine: Any) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self.log)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    @staticmethod
    def label(engine: Any) -> str:
        """The stage's name in progress lines (``stage_label`` when set)."""
        default = {"pretrain": "pretraining", "gan": "adversarial"}.get(getattr(engine, "stage", ""), "training")
        return getattr(engine, "stage_label", None) or default

    def started(self, engine: Any) -> None:
        s = engine.state
        self._t0, self._it0 = time.perf_counter(), int(s.iteration)
        total = int(s.max_epochs) * int(s.epoch_length)
        self.logger.info(
            "%s: iterations %d..%d (%d epochs of %d), a line every %d iterations (the first may take a while: "
            "data loading and caching)", self.label(engine), s.iteration + 1, total, s.max_epochs, s.epoch_length,
            self.interval,
        )  # fmt: skip

    def log(self, engine: Any) -> None:
        s = engine.state
        it, total = int(s.iteration), int(s.max_epochs) * int(s.epoch_length)
        rate = (it - self._it0) / max(time.perf_counter() - self._t0, 1e-9)
        out = s.output if isinstance(s.output, Mapping) else {}
        losses = []
        for k, v in out.items():
            if k.startswith("loss") and (isinstance(v, (int, float)) or (torch.is_tensor(v) and v.numel() == 1)):
                losses.append(f"{k} {float(v):.4g}")
        left = (total - it) / rate if rate > 0 else float("nan")
        self.logger.info(
            "%s: iteration %d/%d (epoch %d) %s | %.2f it/s, %s left", self.label(engine), it, total, s.epoch,
            " ".join(losses), rate, _duration(left),
        )  # fmt: skip

    def completed(self, engine: Any) -> None:
        self.logger.info("%s: done at iteration %d (%s)", self.label(engine), engine.state.iteration,
                         _duration(time.perf_counter() - self._t0))  # fmt: skip


def _duration(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"
