"""The minimal config of docs/training.md under torchrun with 2 CPU processes (gloo): completes, stays in sync,
shards the data, and rank 0 alone writes one set of checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def test_torchrun_two_processes_gloo(data_root, tmp_path):
    bundle, out = tmp_path / "bundle", tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(HERE / "_engines_ddp_worker.py"), str(data_root), str(bundle), str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["distributed"] and r0["ddp"] and r1["ddp"]
    assert r0["sampler"] == "DistributedSampler" and r0["batches_per_rank"] == 1  # 4 patches / 2 ranks / batch 2
    assert r0["iteration"] == r1["iteration"] == 2
    assert r0["g_sum"] == r1["g_sum"] and r0["d_sum"] == r1["d_sum"]  # gradients all-reduced
    assert r0["psnr"] == r1["psnr"]
    # rank 0 alone writes: per stage one last checkpoint, one export, one best model, no temporary files
    for stage in ("stage1", "stage2"):
        assert sorted(os.listdir(bundle / "models" / stage)) == ["best_model.pt", "checkpoint_last.pt", "model.pt"]
        assert len(list((bundle / "logs" / stage).iterdir())) == 1  # one TensorBoard event file
    state = torch.load(bundle / "models" / "stage2" / "checkpoint_last.pt", weights_only=True)
    assert state["engine"]["iteration"] == 2 and len(state["rng"]) == 2  # RNG states of both ranks
