"""A 2-process CPU (gloo) DDP run under torchrun completes, stays in sync, and writes one checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def test_torchrun_two_processes_gloo(data_root, tmp_path):
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(HERE / "_engines_ddp_worker.py"), str(data_root), str(ckpt), str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["distributed"] and r0["ddp"] and r1["ddp"]
    assert r0["epoch_length"] == 2  # 8 pairs / 2 processes / batch 2: the sampler shards the data
    assert r0["iteration"] == r1["iteration"] == 4
    assert r0["g_sum"] == r1["g_sum"] and r0["d_sum"] == r1["d_sum"]  # gradients all-reduced
    assert r0["psnr"] == r1["psnr"]
    # rank 0 alone writes: one last checkpoint, one export, one best model, no temporary files
    assert sorted(os.listdir(ckpt)) == ["best_model.pt", "checkpoint_last.pt", "model.pt"]
    state = torch.load(ckpt / "checkpoint_last.pt", weights_only=True)
    assert state["engine"]["iteration"] == 4 and len(state["rng"]) == 2  # RNG states of both ranks
    assert len(list((out / "tb").iterdir())) == 1  # one event file
