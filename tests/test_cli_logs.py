"""What a user sees from ``monai-srgan infer`` in a log and on a refusal (issue 27): one line per input when stderr
is not a terminal, refusals before any model is loaded, and failed rows that name no output never written."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _inference_helpers import save_nearest_torchscript
from PIL import Image

from monai_srgan.apps.cli import main


def _cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "import sys; from monai_srgan.apps.cli import main; sys.exit(main())", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_log_gets_one_line_per_input_and_no_bar_updates(tmp_path, data_root):
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(3):
        Image.open(data_root / "cxr" / "nih_00009683_000.png").crop((0, 40 * i, 64, 40 * i + 48)).save(inp / f"{i}.png")
    model = save_nearest_torchscript(tmp_path / "m.ts", 2)
    proc = _cli("infer", str(inp), str(tmp_path / "out"), "--model", str(model), "--tile-size", "16")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert [ln.split("]")[0] for ln in lines[:3]] == ["monai-srgan: [1/3", "monai-srgan: [2/3", "monai-srgan: [3/3"]
    assert "\r" not in proc.stderr and "tiles" not in proc.stderr and "it/s" not in proc.stderr
    assert lines[-1].startswith("monai-srgan: 3 ok; report:")


def test_refusals_come_before_the_model_is_loaded(tmp_path, data_root):
    out = tmp_path / "out"
    out.mkdir()
    (out / "srgan_report.json").write_text(json.dumps({"summary": {"started": "2026-01-01T00:00:00", "ok": 1}}))
    src = data_root / "cxr" / "nih_00009683_000.png"
    t0 = time.perf_counter()
    proc = _cli("infer", str(src), str(out), "--model", str(tmp_path / "no_such_model.pt"))
    assert proc.returncode == 2
    assert "already holds a run" in proc.stderr and "no_such_model" not in proc.stderr  # the model was never read
    assert time.perf_counter() - t0 < 30  # generous; the point is no model/torch work (docs: a fraction of a second)
    proc = _cli("infer", str(tmp_path / "missing.png"), str(tmp_path / "o2"), "--model", str(tmp_path / "x.pt"))
    assert proc.returncode == 2 and "missing.png: does not exist" in proc.stderr


def test_failed_rows_name_no_output_that_was_never_written(tmp_path, data_root):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    Image.open(data_root / "cxr" / "nih_00009683_000.png").crop((0, 0, 32, 32)).save(inp / "good.png")
    model = save_nearest_torchscript(tmp_path / "m.ts", 2)
    assert main(["infer", str(inp), str(tmp_path / "out"), "--model", str(model), "--no-progress"]) == 1
    report = json.loads((tmp_path / "out" / "srgan_report.json").read_text())
    rows = {Path(r["input"]).name: r for r in report["inputs"]}
    assert rows["broken.png"]["status"] == "failed" and rows["broken.png"]["output"] is None
    assert rows["good.png"]["status"] == "ok" and Path(rows["good.png"]["output"]).is_file()
