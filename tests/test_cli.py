"""``monai-srgan`` command line: bad inputs in a folder, interrupted run + ``--resume``, safety checks, export."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from _inference_helpers import save_nearest_torchscript
from PIL import Image
from pydicom.uid import generate_uid

from monai_srgan.apps import cli
from monai_srgan.apps.cli import main
from monai_srgan.io.writers import common as _common


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_nearest_torchscript(tmp_path_factory.mktemp("model") / "nearest_x2.ts", 2)


def _report(out: Path) -> dict[str, dict]:
    rep = json.loads((out / "srgan_report.json").read_text())
    return {Path(r["input"]).name: r for r in rep["inputs"]}


def _bad_folder(root: Path, data_root: Path) -> Path:
    inp = root / "in"
    (inp / "mixed").mkdir(parents=True)
    shutil.copy(data_root / "dicom" / "pydicom_CR1_6154.dcm", inp / "good_cr1.dcm")
    shutil.copy(data_root / "dicom" / "pydicom_CR2_6247.dcm", inp / "good_cr2.dcm")
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", inp / "good_chest.png")
    # corrupt DICOM: preamble + magic, then garbage
    (inp / "corrupt.dcm").write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 4)
    # truncated DICOM (half of a real CR file)
    raw = (data_root / "dicom" / "wg04_RG3_J2KR.dcm").read_bytes()
    (inp / "truncated.dcm").write_bytes(raw[: len(raw) // 2])
    # DICOM without pixel data (a text report in a PACS export): skipped, with the reason in the report
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom_CR3_6278.dcm")
    for kw in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation"):
        delattr(ds, kw)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds.Modality = "SR"
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(inp / "nopixels.dcm")
    # RGB (RGBA on disk) chest X-ray into a 1-channel model
    shutil.copy(data_root / "cxr" / "nih_00000100_000.png", inp / "rgb_chest.png")  # grey stored as RGBA
    Image.open(data_root / "retina" / "hrf_01_h.jpg").crop((900, 600, 964, 664)).save(inp / "colour_fundus.png")
    # RGB DICOM
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom_CR1_6154.dcm")
    rgb = np.stack([ds.pixel_array.astype(np.uint8)] * 3, -1)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = rgb.tobytes()
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.save_as(inp / "rgb.dcm")
    # multi-frame DICOM
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom_CR1_6154.dcm")
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.save_as(inp / "multiframe.dcm")
    # a transfer syntax without an installed decoder (MPEG-2 video)
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom_CR1_6154.dcm")
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\0\0\1\xb3" + b"\0" * 64])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.save_as(inp / "mpeg2.dcm", enforce_file_format=True)
    # a CT series with one slice of another size
    ct = sorted((data_root / "dicom" / "dcmqi_ct-3slice").glob("*.dcm"))
    for f in ct[:2]:
        shutil.copy(f, inp / "mixed" / f.name)
    ds = pydicom.dcmread(ct[2])
    ds.PixelData = np.ascontiguousarray(ds.pixel_array[:256, :256]).tobytes()
    ds.Rows = ds.Columns = 256
    ds.save_as(inp / "mixed" / ct[2].name)
    # a volume with NaN
    vol = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    vol[2, 3, 1] = np.nan
    nib.save(nib.Nifti1Image(vol, np.eye(4)), str(inp / "nan_volume.nii.gz"))
    return inp


def test_bad_inputs_are_reported_and_the_rest_completes(tmp_path, data_root, model, capsys):
    inp = _bad_folder(tmp_path, data_root)
    before = {p: p.stat().st_mtime_ns for p in inp.rglob("*")}
    out = tmp_path / "out"
    rc = main(["infer", str(inp), str(out), "--model", str(model), "--no-progress"])
    assert rc == 1
    rep = _report(out)
    for name in ("good_cr1.dcm", "good_cr2.dcm", "good_chest.png", "multiframe.dcm", "rgb_chest.png"):
        assert rep[name]["status"] == "ok", rep[name]
        assert Path(rep[name]["output"]).exists()
    assert (out / "good_chest_x2.png").is_file()
    expected = {
        "corrupt.dcm": "corrupt",
        "truncated.dcm": "corrupt",
        "colour_fundus.png": "channel",
        "rgb.dcm": "channel",
        "mpeg2.dcm": "decoder",
        "mixed": "mixed image sizes",
        "nan_volume.nii.gz": "NaN",
    }
    for name, words in expected.items():
        row = rep[name]
        assert row["status"] == "failed", (name, row)
        assert words.lower() in row["error"].lower(), (name, row["error"])
        assert name in row["error"] or name in row["input"], row
        assert not Path(row.get("output") or "/nonexistent").exists()
    assert "grey image stored as" in rep["rgb_chest.png"]["warnings"]
    assert rep["nopixels.dcm"]["status"] == "skipped"
    assert "without pixel data" in rep["nopixels.dcm"]["error"]
    err = capsys.readouterr().err
    assert "FAILED" in err and "corrupt.dcm" in err
    # CSV holds the same rows
    csv_text = (out / "srgan_report.csv").read_text()
    assert "corrupt.dcm" in csv_text and "good_chest.png" in csv_text
    # the input is untouched and nothing partial is left
    assert {p: p.stat().st_mtime_ns for p in inp.rglob("*")} == before
    assert not [p for p in out.rglob("*") if _common.TMP_MARKER in p.name]


def _small_folder(root: Path, data_root: Path) -> Path:
    inp = root / "in"
    (inp / "chest").mkdir(parents=True)
    shutil.copy(data_root / "dicom" / "pydicom_CR1_6154.dcm", inp / "a_cr1.dcm")
    shutil.copy(data_root / "dicom" / "pydicom_CR2_6247.dcm", inp / "b_cr2.dcm")
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", inp / "chest" / "c_mhh.png")
    shutil.copy(data_root / "cxr" / "mhh_5f619d7e.png", inp / "chest" / "d_mhh.png")
    return inp


def test_interrupted_run_then_resume_equals_uninterrupted(tmp_path, data_root, model, monkeypatch):
    inp = _small_folder(tmp_path, data_root)
    ref_out, out = tmp_path / "ref", tmp_path / "out"
    assert main(["infer", str(inp), str(ref_out), "--model", str(model), "--no-progress"]) == 0

    # interrupt while the first PNG's temporary file is written but not yet renamed (as Ctrl-C would)
    real_replace, calls = os.replace, {"n": 0}

    def flaky_replace(src, dst):
        if str(dst).endswith(".png"):
            calls["n"] += 1
            if calls["n"] == 1:
                raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(_common.os, "replace", flaky_replace)
    assert main(["infer", str(inp), str(out), "--model", str(model), "--no-progress"]) == 130
    monkeypatch.setattr(_common.os, "replace", real_replace)
    rep = _report(out)
    assert rep["a_cr1.dcm"]["status"] == "ok" and rep["b_cr2.dcm"]["status"] == "ok"
    assert rep["c_mhh.png"]["status"] == "interrupted" and rep["d_mhh.png"]["status"] == "not run"
    assert not list(out.rglob("*.png")), "no partial PNG may be visible"
    assert not [p for p in out.rglob("*") if _common.TMP_MARKER in p.name]
    # a hard kill can leave a temporary folder behind: --resume removes it
    (out / f"{_common.TMP_MARKER}deadbeef-x").mkdir()
    assert main(["infer", str(inp), str(out), "--model", str(model), "--no-progress", "--resume"]) == 0
    rep = _report(out)
    assert [rep[n]["status"] for n in ("a_cr1.dcm", "b_cr2.dcm", "c_mhh.png", "d_mhh.png")] == [
        "skipped",
        "skipped",
        "ok",
        "ok",
    ]
    assert not [p for p in out.rglob("*") if _common.TMP_MARKER in p.name]
    # outputs only: the reports and the resume record (srgan_re…) differ between the runs
    ref_files = sorted(p.relative_to(ref_out) for p in ref_out.rglob("*") if p.is_file() and "srgan_re" not in p.name)
    got_files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file() and "srgan_re" not in p.name)
    assert ref_files == got_files
    for rel in ref_files:
        a, b = ref_out / rel, out / rel
        if rel.suffix == ".png":
            assert a.read_bytes() == b.read_bytes()
        else:
            da, db = pydicom.dcmread(a), pydicom.dcmread(b)
            np.testing.assert_array_equal(da.pixel_array, db.pixel_array)
            skip = {"SOPInstanceUID", "SeriesInstanceUID", "ContentTime", "SeriesTime", "InstanceCreationTime"}
            skip |= {"ContentDate", "SeriesDate", "InstanceCreationDate", "PixelData"}
            for e in da:
                if e.keyword not in skip:
                    assert db[e.tag].value == e.value, e.keyword


def test_existing_outputs_are_never_overwritten(tmp_path, data_root, model):
    inp = _small_folder(tmp_path, data_root)
    out = tmp_path / "out"
    assert main(["infer", str(inp / "chest"), str(out), "--model", str(model), "--no-progress"]) == 0
    target = out / "c_mhh_x2.png"
    target.write_bytes(b"sentinel")
    for report in out.glob("srgan_report.*"):  # outputs of unknown origin, no earlier run recorded
        report.unlink()
    assert main(["infer", str(inp / "chest"), str(out), "--model", str(model), "--no-progress"]) == 1
    assert target.read_bytes() == b"sentinel"
    assert "not overwritten" in _report(out)["c_mhh.png"]["error"]


def test_refuses_unsafe_or_empty_locations(tmp_path, data_root, model, capsys):
    inp = _small_folder(tmp_path, data_root)
    before = sorted(inp.rglob("*"))
    # output inside the input
    assert main(["infer", str(inp), str(inp / "sr"), "--model", str(model), "--no-progress"]) == 2
    assert sorted(inp.rglob("*")) == before
    assert "inside the input" in capsys.readouterr().err
    # output holding the input
    assert main(["infer", str(inp), str(tmp_path), "--model", str(model), "--no-progress"]) == 2
    # unwritable output (a path below a regular file cannot be created, whoever runs the test)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["infer", str(inp), str(blocker / "out"), "--model", str(model), "--no-progress"]) == 2
    assert "not writable" in capsys.readouterr().err
    # missing input: named, with what to do
    assert main(["infer", str(tmp_path / "nowhere"), str(tmp_path / "o1"), "--model", str(model)]) == 2
    assert f"{tmp_path / 'nowhere'}: does not exist (check the input path)" in capsys.readouterr().err
    # empty folder
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["infer", str(empty), str(tmp_path / "o2"), "--model", str(model), "--no-progress"]) == 2
    assert "no images" in capsys.readouterr().err
    # wrong scale for the model, and the expected-scale check
    assert main(["infer", str(inp), str(tmp_path / "o3"), "--model", str(model), "--scale", "4"]) == 2
    assert "scale=4 but the network ExportedGenerator upsamples x2" in capsys.readouterr().err
    assert main(["infer", str(inp), str(tmp_path / "o4"), "--model", str(model), "--expect-scale", "4"]) == 2
    assert "--expect-scale 4" in capsys.readouterr().err


def test_output_names_are_sanitized_and_stay_inside(tmp_path):
    assert _common.sanitize_name("../../etc/passwd") == "etc_passwd"
    for raw in ("../../etc/passwd", "Doe^John (1)", ".hidden", "", "a/b\\c"):
        name = _common.sanitize_name(raw)
        assert name and "/" not in name and "\\" not in name and not name.startswith(".")

    class Item:
        kind, series_uid, name = "image", None, "../../escape"
        files = [str(tmp_path / "in" / "x.png")]

    (path, fmt), = cli.plan_outputs([Item()], tmp_path / "in", tmp_path / "out", "same", "x2")  # fmt: skip
    assert path.resolve().is_relative_to((tmp_path / "out").resolve()) and fmt == "png"


def test_export_torchscript_and_onnx_give_the_same_output(tmp_path, data_root):
    from monai_srgan.inference import SRInferencePipeline
    from monai_srgan.networks import get_generator
    from monai_srgan.networks.checkpoint import save_generator_weights

    torch.manual_seed(0)
    net = get_generator("srresnet", spatial_dims=2, in_channels=1, out_channels=1, scale=2, num_feat=8, num_blocks=1)
    net.eval()
    weights = save_generator_weights(net, tmp_path / "g.pt")
    args = ["--model", str(weights), "--network", "srresnet", "--scale", "2"]
    args += ["--net-arg", "num_feat=8", "--net-arg", "num_blocks=1"]
    for ext in ("ts", "onnx"):
        assert main(["export", str(tmp_path / f"g.{ext}"), *args]) == 0
        side = json.loads(Path(str(tmp_path / f"g.{ext}") + ".json").read_text())
        assert side["scale"] == 2 and side["receptive_field"] == net.receptive_field
    image = str(data_root / "cxr" / "mhh_2168a917.png")
    kw = dict(tile_size=96, output_dtype="float32", dtype="float32")  # exported models run in fp32 under "auto"
    ref = SRInferencePipeline.from_model_file(
        weights, "srresnet", 2, network_kwargs=dict(num_feat=8, num_blocks=1), **kw
    ).predict(image)
    for ext in ("ts", "onnx"):
        got = SRInferencePipeline.from_model_file(tmp_path / f"g.{ext}", **kw).predict(image)
        assert got.shape == ref.shape
        torch.testing.assert_close(got.as_tensor(), ref.as_tensor(), atol=2e-3, rtol=0)  # 8-bit values, < 0.01 grey
    # and through the CLI, from the exported file
    out = tmp_path / "out"
    assert main(["infer", image, str(out), "--model", str(tmp_path / "g.onnx"), "--no-progress"]) == 0
    assert (out / "mhh_2168a917_x2.png").is_file()


def test_replace_atomically_keeps_the_old_output_when_the_swap_fails(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    real, calls = os.replace, {"n": 0}

    def second_rename_fails(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # the new output would move into place
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(_common.os, "replace", second_rename_fails)
    with pytest.raises(OSError):
        _common.replace_atomically(target, lambda tmp: tmp.write_bytes(b"new"))
    monkeypatch.setattr(_common.os, "replace", real)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    _common.replace_atomically(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
