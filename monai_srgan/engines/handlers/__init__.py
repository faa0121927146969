"""The parts of an SR training stage that a config can see, swap or drop: EMA, validation, early stopping,
TensorBoard, checkpoints and the console progress line. Each is an Ignite-style handler (``attach(engine)``) listed in
a bundle's ``train#handlers`` or built by the trainer from its shortcut arguments (``ema_decay``, ``validator``,
``early_stop_patience``, ``tensorboard_dir``, ``ckpt_dir``); the trainer attaches them in their ``order``."""

from __future__ import annotations

from .checkpoint import (
    CKPT_FORMAT,
    CheckpointFiles,
    CheckpointHandler,
    load_checkpoint,
)
from .ema import EMAHandler
from .progress import ProgressLog
from .tensorboard import TensorBoardHandler, TensorBoardLogger, make_image_grid
from .validation import SREarlyStopping, SRValidationHandler

__all__ = [
    "CKPT_FORMAT",
    "CheckpointFiles",
    "CheckpointHandler",
    "EMAHandler",
    "ProgressLog",
    "SREarlyStopping",
    "SRValidationHandler",
    "TensorBoardHandler",
    "TensorBoardLogger",
    "load_checkpoint",
    "make_image_grid",
]
