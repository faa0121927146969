"""``scripts/train_gpu.py --tiny`` on the CPU: every job trains, is evaluated on the validation split against the
shipped weights, ships only when it wins, and a second run resumes (trains nothing more) (issue 28)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("train_gpu", REPO / "scripts" / "train_gpu.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _folder(dst: Path, src: Path, names: list[str], size: tuple[int, int]) -> Path:
    """Small copies of real images: 10 per bundle give a 7/1/2 split (one validation image)."""
    dst.mkdir(parents=True)
    for i, n in enumerate(names * (10 // len(names) + 1)):
        if i == 10:
            break
        im = Image.open(src / n)
        im.draft("RGB", (im.width // 8, im.height // 8))
        im = im.convert("RGB" if "hrf" in n else "L")
        w = size[0] + 8 * (i % 3)
        im = im.resize((w, round(w * im.height / im.width)) if "hrf" in n else size, Image.BICUBIC)
        im.save(dst / f"{Path(n).stem}_{i}.png")
    return dst


@pytest.fixture(scope="module")
def setup(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("gpu_script")
    retina = _folder(root / "retina", data_root / "retina", ["hrf_01_h.jpg", "hrf_05_h.jpg", "hrf_10_h.jpg"], (216, 0))
    cxr = _folder(root / "cxr", data_root / "cxr", ["nih_00000100_000.png", "nih_00009683_000.png"], (160, 160))
    bundles = root / "bundles"
    for b in ("retina_sr", "cxr_sr"):
        shutil.copytree(REPO / "bundles" / b, bundles / b, ignore=shutil.ignore_patterns("runs", "docs", "*.ts"))
    (bundles / "retina_sr" / "models" / "model_x16.pt").unlink()  # nothing to beat at x16: the new weights ship
    return root, retina, cxr, bundles


def test_tiny_run_trains_evaluates_ships_and_resumes(setup):
    root, retina, cxr, bundles = setup
    mod = _script()
    before = {p.name: p.read_bytes() for p in (bundles / "retina_sr" / "models").glob("*.pt")}
    argv = ["--tiny", "--arch", "bundle", "--out", str(root / "run"), "--bundles", str(bundles),
            "--retina_dir", str(retina), "--cxr_dir", str(cxr)]  # fmt: skip
    assert mod.main(argv) == 0
    summary = json.loads((root / "run" / "summary.json").read_text())
    assert set(summary) == {"retina_x4", "retina_x8", "retina_x16", "cxr_x4"}
    for job in summary.values():
        assert job["val_psnr"] > 0 and "run_stage1" in job["train_command"] and "--dataset_dir" in job["train_command"]
    # x4/x8: a few CPU iterations lose to the shipped weights, which stay; x16 had none and is shipped
    assert summary["retina_x4"]["decision"].startswith("kept") and summary["retina_x8"]["decision"].startswith("kept")
    assert summary["retina_x16"]["decision"].startswith("shipped") and summary["retina_x16"]["val_psnr_shipped"] is None
    for name, data in before.items():
        assert (bundles / "retina_sr" / "models" / name).read_bytes() == data
    shipped = bundles / "retina_sr" / "models" / "model_x16.pt"
    assert shipped.is_file() and shipped.stat().st_size <= 1024 * 1024
    # the validation split, never the test split
    ev = json.loads((root / "run" / "retina_x4" / "eval_candidate" / "eval_validation" / "metrics.json").read_text())
    assert ev["meta"]["section"] == "validation" and ev["meta"]["num_images"] == 1
    ckpt = root / "run" / "cxr_x4" / "stage1" / "checkpoint_last.pt"
    stamp = ckpt.stat().st_mtime_ns
    # a second run resumes: finished jobs train nothing, so their checkpoints are untouched
    assert mod.main([*argv, "--jobs", "cxr_x4"]) == 0
    assert ckpt.stat().st_mtime_ns == stamp


def test_large_weights_are_staged_not_shipped(setup):
    root, retina, cxr, bundles = setup
    mod = _script()
    before = (bundles / "cxr_sr" / "models" / "model.pt").read_bytes()
    argv = ["--tiny", "--out", str(root / "large"), "--bundles", str(bundles), "--cxr_dir", str(cxr),
            "--jobs", "cxr_x4", "--min_gain", "-100"]  # fmt: skip
    assert mod.main(argv) == 0
    decision = json.loads((root / "large" / "summary.json").read_text())["cxr_x4"]["decision"]
    assert decision.startswith("staged") and "--network_kwargs#num_feat 8" in decision
    assert (root / "large" / "ship" / "cxr_sr" / "model.pt").is_file()
    assert (bundles / "cxr_sr" / "models" / "model.pt").read_bytes() == before


def test_refuses_full_settings_without_a_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert _script().main(["--out", "unused"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
