"""One console line per ``log_interval`` iterations for the SR trainers (attached by the trainer on rank 0)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from ignite.engine import Events

__all__ = ["ProgressLog"]


class ProgressLog:
    """One log line every ``interval`` iterations: stage, iteration/total, losses, it/s and time left (of the stage and,
    when :func:`~monai_srgan.engines.run_two_stage` runs both stages, of the whole run), plus a line after the first
    iteration so that a slow start says what it is doing.

    Replaces a ``StatsHandler``'s per-iteration lines (the trainers turn those off, the bundles list theirs with
    ``iteration_log: false``) so that a long run says what it is doing at ``log_interval`` in one line per interval:
    every ``loss*`` output, then stage 2's mean discriminator logits ``d_real``/``d_fake``; the stage label comes from
    the trainer's ``stage_label`` (``"stage 1/2: pretraining"`` when :func:`~monai_srgan.engines.run_two_stage` runs
    both stages).

    Args:
        interval: iterations between lines.
        logger: where the lines go (INFO).
    """

    def __init__(self, interval: int, logger: Any) -> None:
        self.interval, self.logger = max(1, int(interval)), logger
        self._t0, self._it0 = 0.0, 0

    def attach(self, engine: Any) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=1), self.first)
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
        later = "".join(f", then {label}: {n} iterations" for label, n, _ in getattr(engine, "later_stages", ()))
        self.logger.info(
            "%s: iterations %d..%d (%d epochs of %d)%s; a line every %d iterations, the first iteration also checks "
            "the batch", self.label(engine), s.iteration + 1, total, s.max_epochs, s.epoch_length, later,
            self.interval,
        )  # fmt: skip

    def first(self, engine: Any) -> None:
        if self.interval > 1 and int(engine.state.iteration) == self._it0 + 1:
            self.logger.info("%s: first iteration done in %.1f s (checks included); next line at iteration %d",
                             self.label(engine), time.perf_counter() - self._t0,
                             (engine.state.iteration // self.interval + 1) * self.interval)  # fmt: skip

    @staticmethod
    def time_left(engine: Any, rate: float) -> str:
        """``"2m10s left"`` for the last (or only) stage; with stages still to come (``engine.later_stages``:
        ``(label, iterations, cost per iteration relative to this stage)``), this stage's time and the whole run's."""
        s = engine.state
        left = (int(s.max_epochs) * int(s.epoch_length) - int(s.iteration)) / rate if rate > 0 else float("nan")
        later = list(getattr(engine, "later_stages", ()))
        if not later:
            return f"{_duration(left)} left"
        run = left + sum(n * cost / rate for _, n, cost in later) if rate > 0 else float("nan")
        costs = ", ".join(f"{label.split(':')[0]} at ~{cost:g}x this stage's s/it" for label, _, cost in later)
        return f"{_duration(left)} left in this stage, ~{_duration(run)} for the whole run ({costs})"

    def log(self, engine: Any) -> None:
        s = engine.state
        it, total = int(s.iteration), int(s.max_epochs) * int(s.epoch_length)
        rate = (it - self._it0) / max(time.perf_counter() - self._t0, 1e-9)
        out = s.output if isinstance(s.output, Mapping) else {}
        losses = []  # the losses, then the discriminator's mean logits (stage 2)
        for k, v in sorted(out.items(), key=lambda kv: not kv[0].startswith("loss")):
            scalar = isinstance(v, (int, float)) or (torch.is_tensor(v) and v.numel() == 1)
            if k.startswith(("loss", "d_")) and scalar:
                losses.append(f"{k} {float(v):.4g}")
        self.logger.info(
            "%s: iteration %d/%d (epoch %d) %s | %.2f it/s, %s", self.label(engine), it, total, s.epoch,
            " ".join(losses), rate, self.time_left(engine, rate),
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
