"""``evaluate.json`` + ``multi_gpu_evaluate.json`` under torchrun: 2 gloo CPU processes each score a shard of the
images (MONAI's ``partition_dataset``) and rank 0 writes one report equal to a single process's (issue 26)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

SHARED = Path(sys.executable).parent
BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "cxr_sr"


def _images(root: Path, data_root: Path, n: int = 3) -> Path:
    """``n`` 128² crops of real radiographs (different places of two images)."""
    folder = root / "cxr"
    folder.mkdir()
    srcs = [data_root / "cxr" / "nih_00000100_000.png", data_root / "cxr" / "nih_00009683_000.png"]
    for i in range(n):
        img = Image.open(srcs[i % 2]).convert("L")
        img.crop((300 + 90 * i, 280 + 60 * i, 428 + 90 * i, 408 + 60 * i)).save(folder / f"crop{i}.png")
    return folder


def _evaluate(data: Path, out: Path, nproc: int) -> subprocess.CompletedProcess:
    """The bundle's ``evaluate.json`` on every image of ``data``, alone or under ``torchrun`` (1 thread each)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cfg, launch = "configs/evaluate.json", [sys.executable]
    else:
        cfg = "['configs/evaluate.json','configs/multi_gpu_evaluate.json']"
        launch = [str(SHARED / "torchrun"), "--standalone", f"--nproc_per_node={nproc}"]
    cmd = [*launch, "-m", "monai.bundle", "run", "--config_file", cfg, "--dataset_dir", str(data),
           "--output_dir", str(out), "--eval_section", "all", "--hr_size", "128", "--num_figures", "2"]  # fmt: skip
    return subprocess.run(cmd, cwd=BUNDLE, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_write_the_report_of_one(tmp_path, data_root):
    data = _images(tmp_path, data_root)
    one = _evaluate(data, tmp_path / "one", 1)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _evaluate(data, tmp_path / "two", 2)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("scoring all 3 images") == 1  # rank 0 alone speaks
    a, b = tmp_path / "one" / "eval_all", tmp_path / "two" / "eval_all"
    rows_a = list(csv.DictReader((a / "metrics.csv").open()))
    rows_b = list(csv.DictReader((b / "metrics.csv").open()))
    assert len(rows_a) == len(rows_b) == 4  # 3 images + the mean, in the same order
    assert rows_a == rows_b
    doc_a, doc_b = json.loads((a / "metrics.json").read_text()), json.loads((b / "metrics.json").read_text())
    assert doc_a["summary"] == doc_b["summary"] and doc_a["images"] == doc_b["images"]
    assert doc_b["meta"]["processes"] == 2 and "processes" not in doc_a["meta"]
    assert (a / "metrics.md").read_text() == (b / "metrics.md").read_text()
    fig_a, fig_b = Image.open(a / "comparison.png"), Image.open(b / "comparison.png")
    assert fig_a.size == fig_b.size and list(fig_a.getdata()) == list(fig_b.getdata())
