"""torchrun worker for the DDP test: the minimal config of docs/training.md, unchanged, under torchrun."""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_engines_config import _parser  # noqa: E402

from monai_srgan.engines import get_rank, is_distributed  # noqa: E402

if __name__ == "__main__":
    data_root, bundle_root, out_dir = sys.argv[1:4]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    parser = _parser(data_root, bundle_root)
    parser.get_parsed_content("run")
    gan = parser.get_parsed_content("trainer")
    loader = parser.get_parsed_content("train_loader")
    report = {
        "distributed": is_distributed(),
        "ddp": isinstance(gan.generator, torch.nn.parallel.DistributedDataParallel),
        "sampler": type(loader.sampler).__name__,
        "batches_per_rank": len(loader),
        "iteration": gan.state.iteration,
        "g_sum": float(sum(p.detach().double().sum() for p in gan.generator_raw.parameters())),
        "d_sum": float(sum(p.detach().double().sum() for p in gan.discriminator_raw.parameters())),
        "psnr": gan.state.val_history[-1]["psnr"],
    }
    with open(os.path.join(out_dir, f"rank{get_rank()}.json"), "w") as f:
        json.dump(report, f)
    parser.get_parsed_content("finalize")  # the config's own end: barrier, then destroy the process group
    assert not torch.distributed.is_initialized()
