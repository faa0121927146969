"""``torchrun --no-python monai-srgan infer``: 2 gloo CPU processes share a folder; outputs equal one process's, one
merged report whose rows carry their rank, and ``--resume`` after the job was killed finishes it (issue 26)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _inference_helpers import save_nearest_torchscript
from PIL import Image

from monai_srgan.apps.cli import main

SHARED = Path(sys.executable).parent


def _folder(root: Path, data_root: Path, n: int = 6) -> Path:
    """``n`` small crops of real radiographs and fundus photographs, and one DICOM series (counts as one input)."""
    inp = root / "in"
    (inp / "sub").mkdir(parents=True)
    srcs = [data_root / "cxr" / "nih_00009683_000.png", data_root / "retina" / "hrf_01_h.jpg"]
    for i in range(n):
        img = Image.open(srcs[i % 2]).convert("L")
        img.crop((40 * i, 60 * i, 40 * i + 48, 60 * i + 40)).save(inp / ("sub" if i % 3 == 0 else "") / f"im{i}.png")
    return inp


def _torchrun(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(SHARED / "torchrun"), "--standalone", "--nproc_per_node=2", "--no-python", str(SHARED / "monai-srgan")]
    return subprocess.Popen([*cmd, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _outputs(out: Path) -> dict[str, np.ndarray]:
    return {p.relative_to(out).as_posix(): np.asarray(Image.open(p)) for p in sorted(out.rglob("*_x2.png"))}


def test_two_processes_equal_one_and_merge_the_report(tmp_path, data_root):
    inp = _folder(tmp_path, data_root)
    model = save_nearest_torchscript(tmp_path / "nearest_x2.ts", 2)
    common = ["--model", str(model), "--no-progress"]
    assert main(["infer", str(inp), str(tmp_path / "one"), *common]) == 0
    proc = _torchrun(["infer", str(inp), str(tmp_path / "two"), *common])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    one, two = _outputs(tmp_path / "one"), _outputs(tmp_path / "two")
    assert sorted(one) == sorted(two) and len(one) == 6
    for k in one:
        np.testing.assert_array_equal(one[k], two[k])
    report = json.loads((tmp_path / "two" / "srgan_report.json").read_text())
    rows = report["inputs"]
    assert report["summary"]["ok"] == 6 and report["summary"]["ranks"] == 2
    assert sorted(r["rank"] for r in rows) == [0, 0, 0, 1, 1, 1]  # each input done by exactly one rank
    assert len({r["input"] for r in rows}) == 6
    assert not list((tmp_path / "two").glob("srgan_report.rank*.json"))


def test_resume_after_the_job_is_killed(tmp_path, data_root):
    inp = _folder(tmp_path, data_root, n=10)
    model = save_nearest_torchscript(tmp_path / "nearest_x2.ts", 2)
    out = tmp_path / "out"
    common = ["--model", str(model), "--no-progress"]
    proc = _torchrun(["infer", str(inp), str(out), *common], start_new_session=True)
    record = out / "srgan_resume.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if record.is_file() and record.read_text().count("\n") >= 2:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # every rank and torchrun itself, at once
    proc.communicate(timeout=60)
    again = _torchrun(["infer", str(inp), str(out), *common, "--resume"])
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert main(["infer", str(inp), str(tmp_path / "ref"), *common]) == 0
    got, ref = _outputs(out), _outputs(tmp_path / "ref")
    assert sorted(got) == sorted(ref) and len(ref) == 10
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k])
    rows = json.loads((out / "srgan_report.json").read_text())["inputs"]
    assert {r["status"] for r in rows} <= {"ok", "skipped"} and len(rows) == 10
    assert not [p for p in out.rglob("*") if ".srgan-tmp-" in p.name]


def test_bundle_multi_gpu_inference_config_under_torchrun(tmp_path, data_root):
    """MONAI's convention: inference.json + multi_gpu_inference.json under torchrun (2 CPU processes here)."""
    inp = _folder(tmp_path, data_root, n=4)
    bundle = Path(__file__).resolve().parents[1] / "bundles" / "cxr_sr"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cfg = "['configs/inference.json','configs/multi_gpu_inference.json']"
    cmd = [str(SHARED / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "monai.bundle", "run",
           "--config_file", cfg, "--dataset_dir", str(inp), "--output_dir", str(tmp_path / "out")]  # fmt: skip
    proc = subprocess.run(cmd, cwd=bundle, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "out" / "srgan_report.json").read_text())["inputs"]
    assert sorted(r["rank"] for r in rows) == [0, 0, 1, 1] and {r["status"] for r in rows} == {"ok"}


def test_fewer_inputs_than_processes(tmp_path, data_root):
    """One image, two processes: rank 1 gets nothing to do and the job still ends with one merged report."""
    inp = _folder(tmp_path, data_root, n=1)
    model = save_nearest_torchscript(tmp_path / "nearest_x2.ts", 2)
    proc = _torchrun(["infer", str(inp), str(tmp_path / "out"), "--model", str(model), "--no-progress"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    rows = json.loads((tmp_path / "out" / "srgan_report.json").read_text())["inputs"]
    assert [(r["status"], r["rank"]) for r in rows] == [("ok", 0)]
