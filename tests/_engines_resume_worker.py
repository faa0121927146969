"""Subprocess for the resume test: trains, then SIGKILLs itself right after iteration ``kill_at``."""

from __future__ import annotations

import os
import signal
import sys

import torch
from ignite.engine import Events

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _engines_common import build_gan_trainer  # noqa: E402

if __name__ == "__main__":
    data_root, ckpt_dir, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    trainer = build_gan_trainer(data_root, ckpt_dir)

    @trainer.on(Events.ITERATION_COMPLETED(once=kill_at))
    def _die(engine):
        os.kill(os.getpid(), signal.SIGKILL)

    trainer.run()
    sys.exit(3)  # must not get here
