"""Events the SR trainers fire besides Ignite's own, so handlers can follow a training step and a validation."""

from __future__ import annotations

from ignite.engine import EventEnum

__all__ = ["SREvents"]


class SREvents(EventEnum):
    """``GENERATOR_STEP_COMPLETED``: after each generator optimizer step (none during a discriminator-only
    warm-up); ``VALIDATION_COMPLETED``: after a validation, with ``engine.state.val_history[-1]`` and
    ``engine.state.val_improved`` set."""

    GENERATOR_STEP_COMPLETED = "generator_step_completed"
    VALIDATION_COMPLETED = "validation_completed"
