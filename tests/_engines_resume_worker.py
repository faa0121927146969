"""Subprocess for the resume tests: trains, then signals itself right after iteration ``kill_at``.

``SIGKILL`` (default): the process dies at once (the last checkpoint is the last one written). ``SIGINT``/``SIGTERM``:
the trainer finishes, checkpoints that iteration and raises ``TrainingInterrupted`` (printed, exit status 5).
"""

from __future__ import annotations

import os
import signal
import sys

import torch
from ignite.engine import Events

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _engines_common import build_gan_trainer  # noqa: E402

from monai_srgan.errors import TrainingInterrupted  # noqa: E402

if __name__ == "__main__":
    data_root, ckpt_dir, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sig = getattr(signal, sys.argv[4] if len(sys.argv) > 4 else "SIGKILL")
    torch.set_num_threads(1)
    trainer = build_gan_trainer(data_root, ckpt_dir)

    @trainer.on(Events.ITERATION_COMPLETED(once=kill_at))
    def _die(engine):
        os.kill(os.getpid(), sig)

    try:
        trainer.run()
    except TrainingInterrupted as e:
        print(f"INTERRUPTED {e}")
        sys.exit(5)
    sys.exit(3)  # must not get here
