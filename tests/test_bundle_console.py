"""What ``python -m monai.bundle run`` prints when it ends badly: the project's error alone (no traceback unless
asked for), Ctrl-C during training ending in the checkpoint it saved and the command that resumes."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CXR = REPO / "bundles" / "cxr_sr"


def _bundle_run(*args: str, debug: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.json", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("MONAI_SRGAN_DEBUG", None)
    if debug:
        env["MONAI_SRGAN_DEBUG"] = "1"
    return subprocess.run(cmd, cwd=CXR, env=env, capture_output=True, text=True, timeout=300)


def _after_summary(text: str) -> list[str]:
    """The lines after MONAI's input summary and its config-trust warning (what the run itself printed)."""
    lines = text.splitlines()
    end = max((i for i, line in enumerate(lines) if line.rstrip().endswith(" - ---")), default=-1)
    return [line for line in lines[end + 1 :] if line.strip() and not line.startswith("parsing config_file")]


def test_config_error_is_one_message_without_traceback(tmp_path):
    res = _bundle_run("--dataset_dir", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "run"))
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "RuntimeError" not in out, out[-3000:]
    tail = _after_summary(res.stdout + res.stderr)
    assert 1 <= len(tail) <= 5, tail
    assert tail[0].startswith("error: dataset_dir=") and "missing" in tail[0] and "MONAI_SRGAN_DEBUG" in tail[-1]

    debug = _bundle_run("--dataset_dir", str(tmp_path / "missing"), "--output_dir", str(tmp_path / "run"), debug=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_hook_only_under_monai_bundle_and_debug_switches(monkeypatch):
    from monai_srgan.errors import ConfigError
    from monai_srgan.utils import excepthook

    assert excepthook.install_bundle_excepthook() is False  # pytest is not monai.bundle: Python's own hook stays
    monkeypatch.setattr(sys, "argv", ["x", "run", "--debug"])
    monkeypatch.delenv(excepthook.DEBUG_ENV, raising=False)
    assert excepthook.debug_requested()
    monkeypatch.setattr(sys, "argv", ["x", "run"])
    assert not excepthook.debug_requested()
    monkeypatch.setenv(excepthook.DEBUG_ENV, "1")
    assert excepthook.debug_requested()
    try:
        try:
            raise ConfigError("scale=3: no weights")
        except ConfigError as e:
            raise RuntimeError("Failed to instantiate component") from e
    except RuntimeError as wrapped:
        assert excepthook._message(wrapped).splitlines()[0] == "error: scale=3: no weights"


@pytest.fixture(scope="module")
def tiny_cxr(data_root, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cxr_console")
    for n in ("nih_00000075_000.png", "nih_00000100_000.png", "nih_00002158_000.png", "nih_00004840_000.png"):
        Image.open(data_root / "cxr" / n).resize((128, 128), Image.BICUBIC).save(d / n)
    return d


def test_ctrl_c_during_training_checkpoints_and_says_how_to_resume(tiny_cxr, tmp_path):
    out = tmp_path / "run"
    args = ["--dataset_dir", str(tiny_cxr), "--output_dir", str(out), "--lr_patch", "8", "--batch_size", "2",
            "--patches_per_image", "2", "--epoch_length", "100000", "--stage1_epochs", "1", "--val_images", "1",
            "--hr_size", "128", "--network_kwargs", "{'num_feat': 4, 'num_conv': 1}"]  # fmt: skip
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.json", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("MONAI_SRGAN_DEBUG", None)
    proc = subprocess.Popen(cmd, cwd=CXR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.time() + 240
    for line in proc.stdout:  # wait for the first progress line of stage 1, then press Ctrl-C
        lines.append(line)
        if "pretraining: iteration " in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    text = "".join(lines) + rest
    assert proc.returncode != 0
    assert "Traceback" not in text and "ERROR" not in text, text[-4000:]
    ckpt = out / "stage1" / "checkpoint_last.pt"
    it = torch.load(ckpt, weights_only=True)["engine"]["iteration"]
    assert it >= 50  # the first progress line came at 50, the stop after it
    tail = [line for line in text.splitlines() if line.strip()][-4:]
    assert tail[0] == f"training stopped by SIGINT: stage 1/2: pretraining, after iteration {it}/100000", tail
    assert tail[1] == f"checkpoint of iteration {it}: {ckpt}", tail
    assert tail[2].startswith("to resume exactly, run the same command again (from ") and str(CXR) in tail[2]
    resume = shlex.split(tail[3])  # the printed command re-parses to this very command line
    assert resume[1:4] == ["-m", "monai.bundle", "run"] and resume[4:] == cmd[4:], tail[3]
    assert "'\"'\"'" not in tail[3]  # readable quoting of the dict argument
    assert not (out / "stage1" / "model.pt").exists()


def test_bundle_helper_help_is_fast_and_has_version():
    """``python -m monai_srgan.bundle --help``/``--version`` import neither torch nor MONAI (4.5 s before)."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['monai_srgan.bundle', sys.argv[1]]\n"
        "try:\n    runpy.run_module('monai_srgan.bundle', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('EXIT', code, 'torch' in sys.modules, 'monai' in sys.modules)\n"
    )
    from monai_srgan import __version__

    for flag in ("--help", "--version"):
        res = subprocess.run([sys.executable, "-c", probe, flag], capture_output=True, text=True, timeout=60)
        assert res.stdout.strip().endswith("EXIT 0 False False"), res.stdout + res.stderr
    assert f"monai_srgan {__version__}" in res.stdout
