"""Both training stages in one run (bundle ``train.json``), each stage still runnable alone.

In a bundle config::

    "run": ["$monai_srgan.engines.run_two_stage(@pretrainer, @trainer)"]

or, for one stage, ``"run": ["$@pretrainer.run()"]`` / ``"run": ["$@trainer.run()"]`` (stage 2 alone then warm-starts
from the file named by its ``warm_start`` setting).
"""

from __future__ import annotations

import logging

from .base import SRTrainerBase

__all__ = ["run_two_stage", "TwoStageRun", "STAGE2_COST"]

#: a stage-2 iteration's time in stage-1 iterations, for the whole run's ETA during stage 1 (docs/benchmarks.md:
#: 3–4× with a VGG perceptual term, ~5× with a discriminator as large as the generator)
STAGE2_COST = 3.5

logger = logging.getLogger("monai_srgan.engines")


def run_two_stage(stage1: SRTrainerBase | None, stage2: SRTrainerBase | None, warm_start: bool = True) -> None:
    """Run stage 1 (content pretraining), then stage 2 (adversarial) warm-started from stage 1's generator.

    Resume-aware: when stage 2 has a checkpoint to continue from, stage 1 is skipped (its result is already inside
    that checkpoint); a finished stage 1 returns at once from its own checkpoint. The warm start copies stage 1's
    evaluation generator (EMA when on) into stage 2 unless stage 2 resumes, in which case its checkpoint wins.

    Args:
        stage1: the :class:`~monai_srgan.engines.SRPretrainer` (or ``None`` to skip).
        stage2: the :class:`~monai_srgan.engines.SRGANTrainer` (or ``None`` to skip).
        warm_start: copy stage 1's generator into stage 2 before it starts.
    """
    stage2_resumes = stage2 is not None and stage2.resume_path() is not None
    if stage1 is not None and stage2 is not None:  # progress lines say which stage runs and the whole run's ETA
        stage1.stage_label, stage2.stage_label = "stage 1/2: pretraining", "stage 2/2: adversarial"
        stage1.later_stages = [(stage2.stage_label, stage2.total_iterations, STAGE2_COST)]
    if stage1 is not None and not stage2_resumes:
        stage1.run()
        if stage2 is not None and warm_start:
            stage2.warm_start_from(stage1)
            stage2.warm_start = None  # the in-process weights replace any warm_start file
    elif stage1 is not None:
        logger.info("stage 2 resumes from %s: stage 1 skipped", stage2.resume_path())
    if stage2 is not None:
        stage2.run()


class TwoStageRun:
    """Callable/``run()`` object form of :func:`run_two_stage` for configs that prefer a component.

    Args:
        stage1: stage-1 trainer (or ``None``).
        stage2: stage-2 trainer (or ``None``).
        warm_start: copy stage 1's generator into stage 2.
    """

    def __init__(self, stage1: SRTrainerBase | None, stage2: SRTrainerBase | None, warm_start: bool = True) -> None:
        self.stage1, self.stage2, self.warm_start = stage1, stage2, warm_start

    def run(self) -> None:
        run_two_stage(self.stage1, self.stage2, self.warm_start)

    __call__ = run
