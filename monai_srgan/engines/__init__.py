"""monai_srgan.engines: two-stage SR GAN training on MONAI/Ignite (pretraining, adversarial training, EMA,
atomic checkpoints with exact resume, validation against bicubic, TensorBoard, torchrun DDP)."""

from __future__ import annotations

from .base import *  # noqa: F401,F403
from .base import __all__ as _base_all
from .distributed import *  # noqa: F401,F403
from .distributed import __all__ as _dist_all
from .ema import *  # noqa: F401,F403
from .ema import __all__ as _ema_all
from .handlers import *  # noqa: F401,F403
from .handlers import __all__ as _handlers_all
from .pretrain import *  # noqa: F401,F403
from .pretrain import __all__ as _pretrain_all
from .run import *  # noqa: F401,F403
from .run import __all__ as _run_all
from .srgan_trainer import *  # noqa: F401,F403
from .srgan_trainer import __all__ as _gan_all
from .utils import *  # noqa: F401,F403
from .utils import __all__ as _utils_all
from .validation import *  # noqa: F401,F403
from .validation import __all__ as _val_all

__all__ = [
    *_base_all,
    *_dist_all,
    *_ema_all,
    *_handlers_all,
    *_pretrain_all,
    *_run_all,
    *_gan_all,
    *_utils_all,
    *_val_all,
]
