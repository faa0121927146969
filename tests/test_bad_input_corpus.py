"""The bad-input corpus through ``monai-srgan infer`` (tests/_bad_input_corpus.py), plus signals and re-runs.

One CLI run over the whole corpus: every input gets a report row with the expected status, a message naming the file
and saying what to do, the good inputs still complete, the input folder is unchanged, no partial file remains, and
values of the DICOM pixel cases that once came out corrupted follow the input.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _bad_input_corpus import CASES, GOOD, HINT_WORDS
from _inference_helpers import save_nearest_torchscript
from PIL import Image

from monai_srgan.apps.cli import main
from monai_srgan.io.writers import common as _common


def _rows(out: Path) -> dict[str, dict]:
    rep = json.loads((out / "srgan_report.json").read_text())
    return {Path(r["input"]).name: r for r in rep["inputs"]}


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_nearest_torchscript(tmp_path_factory.mktemp("model") / "nearest_x2.ts", 2)


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory, data_root, model):
    root = tmp_path_factory.mktemp("corpus")
    inp, out = root / "in", root / "out"
    inp.mkdir()
    for case in CASES:
        case.build(inp, data_root)
    before = _snapshot(inp)
    rc = main(["infer", str(inp), str(out), "--model", str(model), "--no-progress"])
    return {"rc": rc, "inp": inp, "out": out, "before": before, "rows": _rows(out)}


def test_corpus_is_large_and_distinct():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len([c for c in CASES if c.name not in GOOD]) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case_is_reported(corpus_run, case):
    row = corpus_run["rows"].get(case.name)
    assert row is not None, f"{case.name}: no report row (rows: {sorted(corpus_run['rows'])})"
    assert row["status"] == case.status, (case.name, row)
    message = str(row.get("error") or row.get("warnings") or "")
    for word in case.words:
        assert word in message.lower(), (case.name, word, message)
    if case.status == "failed":
        assert case.name in message, f"the message must name the file: {message}"
        assert any(w in message.lower() for w in HINT_WORDS), f"the message must say what to do: {message}"
        assert "Traceback" not in message
        assert not Path(row.get("output") or "/nonexistent").exists()
    if case.status == "ok":
        assert Path(row["output"]).exists(), row


def test_corpus_run_completes_the_rest_and_leaves_no_trace(corpus_run):
    assert corpus_run["rc"] == 1  # some inputs failed, the run still finished
    rows = corpus_run["rows"]
    for name in GOOD:
        assert rows[name]["status"] == "ok"
    assert _snapshot(corpus_run["inp"]) == corpus_run["before"], "the input folder changed"
    assert not [p for p in corpus_run["out"].rglob("*") if _common.TMP_MARKER in p.name]
    summary = json.loads((corpus_run["out"] / "srgan_report.json").read_text())["summary"]
    assert summary["ok"] + summary["failed"] + summary["skipped"] == len(rows)


def _sr_pixels(path: Path) -> np.ndarray:
    if path.is_dir():
        files = sorted(path.glob("*.dcm"))
        return pydicom.dcmread(files[0]).pixel_array.astype(np.float64)
    return np.asarray(Image.open(path), dtype=np.float64)


@pytest.mark.parametrize(
    "name",
    ["ct_int32.dcm", "rtdose_1frame.dcm", "rtdose_rle_1frame.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm"],
)
def test_corpus_dicom_values_follow_the_input(corpus_run, name):
    """The 32-bit and big-endian cases once came out with unrelated pixels while the report said ok."""
    row = corpus_run["rows"][name]
    src = pydicom.dcmread(corpus_run["inp"] / name)
    lr = src.pixel_array.astype(np.float64)
    lr = lr if lr.ndim == 2 else lr[0]
    sr = _sr_pixels(Path(row["output"]))
    assert sr.shape == (2 * lr.shape[0], 2 * lr.shape[1])
    back = sr[::2, ::2]  # the stand-in model is exact nearest-neighbour ×2
    assert np.corrcoef(back.ravel(), lr.ravel())[0, 1] > 0.99
    np.testing.assert_allclose(back, lr, atol=max(1.0, 1e-3 * np.ptp(lr)))


def test_unicode_names_stay_readable(corpus_run):
    assert (corpus_run["out"] / "résumé_胸部_x2.png").is_file()


# ------------------------------------------------------------------------------------------------ signals and re-runs
def _folder(root: Path, data_root: Path, n: int = 4) -> Path:
    inp = root / "in"
    inp.mkdir()
    img = Image.open(data_root / "cxr" / "mhh_2168a917.png")
    for i in range(n):
        img.crop((600 + 40 * i, 600, 664 + 40 * i, 664)).save(inp / f"chest_{i}.png")
    return inp


def test_sigterm_reports_cleans_and_exits_143(tmp_path, data_root, model, monkeypatch):
    inp = _folder(tmp_path, data_root)
    out = tmp_path / "out"
    real_replace, calls = os.replace, {"n": 0}

    def terminate_mid_write(src, dst):  # SIGTERM while the second output's temporary file exists
        if str(dst).endswith(".png") and "srgan_report" not in str(dst):
            calls["n"] += 1
            if calls["n"] == 2:
                os.kill(os.getpid(), signal.SIGTERM)
        return real_replace(src, dst)

    handler_before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(_common.os, "replace", terminate_mid_write)
    assert main(["infer", str(inp), str(out), "--model", str(model), "--no-progress"]) == 143
    monkeypatch.setattr(_common.os, "replace", real_replace)
    rows = _rows(out)
    assert [rows[f"chest_{i}.png"]["status"] for i in range(4)] == ["ok", "interrupted", "not run", "not run"]
    assert "SIGTERM" in rows["chest_1.png"]["error"] and "--resume" in rows["chest_1.png"]["error"]
    assert not [p for p in out.rglob("*") if _common.TMP_MARKER in p.name], "temporaries left behind"
    assert signal.getsignal(signal.SIGTERM) == handler_before, "the CLI must restore the signal handlers"
    assert main(["infer", str(inp), str(out), "--model", str(model), "--no-progress", "--resume"]) == 0
    assert sorted(p.name for p in out.glob("chest_*_x2.png")) == [f"chest_{i}_x2.png" for i in range(4)]


def test_rerun_never_destroys_the_earlier_report(tmp_path, data_root, model, capsys):
    inp = _folder(tmp_path, data_root, 2)
    out = tmp_path / "out"
    args = ["infer", str(inp), str(out), "--model", str(model), "--no-progress"]
    assert main(args) == 0
    first = (out / "srgan_report.json").read_bytes()
    outputs = {p.name: p.stat().st_mtime_ns for p in out.glob("*_x2.png")}
    capsys.readouterr()

    assert main(args) == 2  # refused before touching anything
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "srgan_report.json").read_bytes() == first
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_x2.png")} == outputs

    assert main([*args, "--resume"]) == 0
    archived = sorted(out.glob("srgan_report.*.json"))
    assert len(archived) == 1 and archived[0].read_bytes() == first
    assert {r["status"] for r in _rows(out).values()} == {"skipped"}

    assert main([*args, "--overwrite"]) == 0
    assert len(sorted(out.glob("srgan_report.*.json"))) == 2
    assert {r["status"] for r in _rows(out).values()} == {"ok"}
    assert all(p.stat().st_mtime_ns != outputs[p.name] for p in out.glob("*_x2.png"))
    assert not [p for p in out.rglob("*") if _common.TMP_MARKER in p.name]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--tile-size", "0"], "--tile-size"),
        (["--batch", "-1"], "--batch"),
        (["--format", "bmp"], "--format"),
        (["--dtype", "int8"], "--dtype"),
        (["--network", "nosuchnet"], "--network"),
    ],
)
def test_bad_options_are_usage_errors_before_any_input_is_read(tmp_path, data_root, model, capsys, extra, words):
    inp = _folder(tmp_path, data_root, 1)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        main(["infer", str(inp), str(out), "--model", str(model), "--no-progress", *extra])
    assert e.value.code == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_bad_device_is_refused_up_front(tmp_path, data_root, model, capsys):
    inp = _folder(tmp_path, data_root, 1)
    out = tmp_path / "out"
    assert main(["infer", str(inp), str(out), "--model", str(model), "--device", "tpu:x"]) == 2
    assert "--device" in capsys.readouterr().err
    assert not (out / "srgan_report.json").exists()


@pytest.mark.parametrize(
    "error, words",
    [
        (OSError(28, "No space left on device", "/full/disk/x.png"), ("no space left", "--resume")),
        (MemoryError(), ("out of memory", "--tile-size")),
        (KeyError("an unforeseen bug"), ("unexpected keyerror", "--verbose")),
    ],
)
def test_any_exception_of_one_input_becomes_a_row_and_the_batch_goes_on(
    tmp_path, data_root, model, monkeypatch, error, words
):
    from monai_srgan.inference.pipeline import SRInferencePipeline

    inp = _folder(tmp_path, data_root, 3)
    real_write, calls = SRInferencePipeline.write, {"n": 0}

    def failing_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(SRInferencePipeline, "write", failing_once)
    out = tmp_path / "out"
    assert main(["infer", str(inp), str(out), "--model", str(model), "--no-progress"]) == 1
    rows = _rows(out)
    assert [rows[f"chest_{i}.png"]["status"] for i in range(3)] == ["failed", "ok", "ok"]
    message = rows["chest_0.png"]["error"]
    assert "chest_0.png" in message and "Traceback" not in message
    for w in words:
        assert w in message.lower(), message


def test_library_warnings_go_into_the_report_with_the_file_not_through_the_bar(corpus_run):
    """pydicom's 'End of file reached before delimiter' (the truncated JPEG 2000 file, met while the inputs are
    found) lands in the report's summary with the file's name, instead of being printed through the progress bar."""
    summary = json.loads((corpus_run["out"] / "srgan_report.json").read_text())["summary"]
    found = [w for w in summary.get("warnings", []) if "delimiter" in w]
    assert found and "truncated_j2k.dcm" in found[0]


def test_a_row_names_its_file_once(corpus_run):
    """A warning logged as ``"<file>: <problem>"`` is stored without the file the row already names (the console
    line read ``warning: f.dcm: f.dcm: PixelSpacing …``), each distinct warning once."""
    row = corpus_run["rows"]["spacing_zero.dcm"]
    notes = row["warnings"].split("; ")
    assert notes and all(row["input"] not in n for n in notes), row["warnings"]
    assert any(n.startswith("PixelSpacing") for n in notes) and len(notes) == len(set(notes))
