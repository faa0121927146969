"""monai_srgan.engines: two-stage SR GAN training on MONAI/Ignite.

The trainers (:class:`SRPretrainer` for stage 1, :class:`SRGANTrainer` for stage 2, both on
:class:`SRTrainerBase`) run the iteration and keep its state; EMA, validation, early stopping, TensorBoard and
checkpoints are handlers (:mod:`monai_srgan.engines.handlers`) a config lists. Helpers the engines use internally
(RNG capture, data seeding, first-batch and resume checks) stay in their modules.
"""

from __future__ import annotations

from .base import SRTrainerBase
from .checks import NonFiniteLossError
from .distributed import (
    cleanup_distributed,
    get_rank,
    init_distributed,
    is_distributed,
    is_main_process,
    make_dataloader,
)
from .ema import ModelEMA
from .events import SREvents
from .handlers import (
    CheckpointHandler,
    EMAHandler,
    SREarlyStopping,
    SRValidationHandler,
    TensorBoardHandler,
    load_checkpoint,
    make_image_grid,
)
from .pretrain import SRPretrainer
from .run import TwoStageRun, run_two_stage
from .srgan_trainer import PairPool, SRGANTrainer
from .validation import SRValidator

__all__ = [
    "SRTrainerBase",
    "SRPretrainer",
    "SRGANTrainer",
    "NonFiniteLossError",
    "PairPool",
    "ModelEMA",
    "SRValidator",
    "run_two_stage",
    "TwoStageRun",
    "SREvents",
    "EMAHandler",
    "SRValidationHandler",
    "SREarlyStopping",
    "TensorBoardHandler",
    "CheckpointHandler",
    "load_checkpoint",
    "make_image_grid",
    "make_dataloader",
    "init_distributed",
    "is_distributed",
    "get_rank",
    "is_main_process",
    "cleanup_distributed",
]
