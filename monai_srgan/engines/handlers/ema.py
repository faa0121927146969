"""EMA of the generator weights as a trainer handler (Real-ESRGAN, paper 002; docs/references.md)."""

from __future__ import annotations

from typing import Any

from ..ema import ModelEMA
from ..events import SREvents

__all__ = ["EMAHandler"]


class EMAHandler:
    """Keeps ``engine.ema``, a :class:`~monai_srgan.engines.ModelEMA` shadow of the generator, one EMA step after every
    generator optimizer step. With it attached the EMA generator is the one validated, checkpointed (``params_ema``)
    and exported.

    Args:
        decay: weight of the old average, 0.999 in Real-ESRGAN.
    """

    order = 0  # the shadow must exist before validation or a resume looks for it

    def __init__(self, decay: float = 0.999) -> None:
        self.decay = float(decay)

    def attach(self, engine: Any) -> None:
        engine.ema = ModelEMA(engine.generator_raw, self.decay)
        engine.add_event_handler(SREvents.GENERATOR_STEP_COMPLETED, self.update)

    @staticmethod
    def update(engine: Any) -> None:
        engine.ema.update(engine.generator_raw)
