"""Files, names and batch edges of ``monai-srgan infer`` (issue 23): EXIF orientation, ICC profiles, 16-bit colour
PNG, resume keyed on the input, names that are not UTF-8, truncated native DICOM, multi-page TIFF, earlier output
folders in the input, disk full while writing DICOM, two runs into one folder, links out of the input, memory check.

Every case is built from the shared data or generated here, and runs through the CLI (``main``) with exact
nearest-neighbour models, so outputs can be checked pixel for pixel against the input.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _inference_helpers import save_nearest_torchscript
from PIL import Image, ImageCms, ImageOps

from monai_srgan.apps.cli import main
from monai_srgan.inference import batch, memory, outdir
from monai_srgan.io.readers.pil import apply_exif_orientation, load_pil
from monai_srgan.io.writers import common as _common


@pytest.fixture(scope="module")
def grey_model(tmp_path_factory) -> Path:
    return save_nearest_torchscript(tmp_path_factory.mktemp("grey") / "nearest_x2.ts", 2, 1)


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory) -> Path:
    return save_nearest_torchscript(tmp_path_factory.mktemp("rgb") / "nearest_x2_rgb.ts", 2, 3)


def _infer(inp: Path, out: Path, model: Path, *extra: str) -> int:
    return main(["infer", os.fspath(inp), os.fspath(out), "--model", os.fspath(model), "--no-progress", *extra])


def _rows(out: Path) -> dict[str, dict]:
    rep = json.loads((out / "srgan_report.json").read_text(encoding="utf-8"))
    return {Path(r["input"]).name: r for r in rep["inputs"]}


def _crop(path: Path, box=(600, 500, 728, 596)) -> Image.Image:
    with Image.open(path) as im:
        return im.crop(box).copy()


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _orient_exif(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


# ------------------------------------------------------------------------------------------ 1. what viewers show
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_on_load_like_pillow(tmp_path, data_root, orientation):
    # lossless carrier (PNG eXIf) of a shared chest X-ray crop: the loaded pixels are what a viewer shows
    f = tmp_path / f"o{orientation}.png"
    _crop(data_root / "cxr" / "mhh_2168a917.png", (100, 50, 160, 90)).save(f, exif=_orient_exif(orientation))
    vals, affine, meta = load_pil(str(f))
    with Image.open(f) as im:
        shown = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(vals[0], shown)
    assert meta["srgan_exif_orientation"] == orientation and np.array_equal(affine, np.eye(4))
    rgb = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    assert apply_exif_orientation(rgb, 6).shape == (3, 2, 3)  # colour: only the two spatial axes turn


def test_rotated_jpeg_output_looks_like_the_input_and_keeps_its_icc(tmp_path, data_root, rgb_model, grey_model):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    icc = _srgb_icc()
    fundus = _crop(data_root / "retina" / "hrf_01_dr.JPG")  # 128×96 RGB from the shared fundus photographs
    fundus.save(inp / "fundus_rot6.jpg", quality=98, exif=_orient_exif(6), icc_profile=icc)
    fundus.save(inp / "fundus_icc.png", icc_profile=icc)
    fundus.save(inp / "fundus_icc.tif", icc_profile=icc)
    assert _infer(inp, out, rgb_model) == 0
    with Image.open(inp / "fundus_rot6.jpg") as src, Image.open(out / "fundus_rot6_x2.jpg") as sr:
        shown = np.asarray(ImageOps.exif_transpose(src)).astype(float)
        assert sr.getexif().get(0x0112) in (None, 1), "no orientation tag: the pixels are already turned"
        assert sr.size == (2 * shown.shape[1], 2 * shown.shape[0]) == (192, 256)
        assert np.abs(np.asarray(sr).astype(float)[::2, ::2] - shown).mean() < 3.0  # JPEG re-encoding only
        assert sr.info.get("icc_profile") == icc
    for name in ("fundus_icc_x2.png", "fundus_icc_x2.tif"):
        with Image.open(out / name) as sr:
            assert sr.info.get("icc_profile") == icc, name
    # an RGB profile does not describe a grey output: not embedded, and the row says why
    grey_in, grey_out = tmp_path / "grey_in", tmp_path / "grey_out"
    grey_in.mkdir()
    Image.open(data_root / "cxr" / "mhh_2168a917.png").crop((0, 0, 64, 48)).save(grey_in / "g.png", icc_profile=icc)
    assert _infer(grey_in, grey_out, grey_model) == 0
    with Image.open(grey_out / "g_x2.png") as sr:
        assert "icc_profile" not in sr.info
    assert "ICC profile" in _rows(grey_out)["g.png"]["warnings"]


@pytest.mark.parametrize("alpha", [False, True])
def test_16bit_colour_png_stays_16bit(tmp_path, rgb_model, alpha):
    import itk

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 65536, (40, 52, 4 if alpha else 3), dtype=np.uint16)
    rgb[..., :3] |= 1  # odd values: lost in any 8-bit round trip
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    itk.imwrite(itk.image_from_array(rgb, is_vector=True), str(inp / "deep.png"))  # an encoder other than ours
    with Image.open(inp / "deep.png") as im:
        assert im.mode in ("RGB", "RGBA"), "Pillow reads it as 8-bit: the reader must not rely on it"
    vals, _, meta = load_pil(str(inp / "deep.png"))
    assert meta["srgan_dtype"] == "uint16" and vals.shape == (3, 40, 52)
    np.testing.assert_array_equal(np.moveaxis(vals, 0, -1), rgb[..., :3])
    assert _infer(inp, out, rgb_model) == 0
    reader = itk.ImageFileReader[itk.VectorImage[itk.US, 2]].New(FileName=str(out / "deep_x2.png"))
    reader.Update()
    sr = np.asarray(itk.array_from_image(reader.GetOutput()))
    assert sr.dtype == np.uint16 and sr.shape == (80, 104, 3)
    np.testing.assert_array_equal(sr[::2, ::2], rgb[..., :3])
    with Image.open(out / "deep_x2.png") as im:
        im.load()  # a valid PNG for another decoder too (Pillow reduces it to 8 bits, as it does the input)


# ------------------------------------------------------------------------------------------ 2. resume keys on inputs
def _grey(path: Path, h: int, w: int, seed: int) -> None:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)).save(path)


def _check_output_of(inp_file: Path, out_file: Path) -> None:
    with Image.open(inp_file) as a, Image.open(out_file) as b:
        np.testing.assert_array_equal(np.asarray(b)[::2, ::2], np.asarray(a))


def test_resume_gives_a_new_input_its_own_output_when_names_collide(tmp_path, data_root, grey_model):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", inp / "a.png")
    _grey(inp / "a_b.png", 30, 40, 1)
    assert _infer(inp, out, grey_model, "--format", "png") == 0
    first = {p.name: p.read_bytes() for p in out.glob("*.png")}
    # new inputs whose output names collide with finished ones: another extension (--format png), a name that
    # cleans up alike ("a b" -> "a_b"), a name that differs in case only
    _grey(inp / "a.jpg", 22, 30, 2)
    _grey(inp / "a b.png", 24, 30, 3)
    _grey(inp / "A.png", 26, 30, 4)
    assert _infer(inp, out, grey_model, "--format", "png", "--resume") == 0
    rows = _rows(out)
    assert rows["a.png"]["status"] == "skipped" and rows["a_b.png"]["status"] == "skipped"
    for name in ("a.jpg", "a b.png", "A.png"):
        assert rows[name]["status"] == "ok", rows[name]
        _check_output_of(inp / name, Path(rows[name]["output"]))
    outputs = [rows[n]["output"] for n in rows]
    assert len({o.lower() for o in outputs}) == len(outputs) == 5
    assert {p.name: p.read_bytes() for p in out.glob("*.png") if p.name in first} == first
    _check_output_of(inp / "a.png", Path(rows["a.png"]["output"]))
    # a finished input changed in place is a new input: redone under a new name, the old output kept
    _grey(inp / "a_b.png", 32, 40, 5)
    assert _infer(inp, out, grey_model, "--format", "png", "--resume") == 0
    rows = _rows(out)
    assert rows["a_b.png"]["status"] == "ok" and Path(rows["a_b.png"]["output"]).name not in first
    _check_output_of(inp / "a_b.png", Path(rows["a_b.png"]["output"]))
    assert [rows[n]["status"] for n in ("a.png", "a.jpg", "a b.png", "A.png")] == ["skipped"] * 4


def test_resume_record_survives_a_kill_between_record_and_output(tmp_path, data_root, grey_model):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i, name in enumerate(("c.png", "d.png")):
        _grey(inp / name, 20 + i, 30, i)
    assert _infer(inp, out, grey_model) == 0
    (out / "d_x2.png").unlink()  # as a kill after the record line, before the output's rename
    with open(out / "srgan_resume.jsonl", "a") as f:
        f.write('{"key": "cut-by-a-ki')  # and a line cut short
    assert _infer(inp, out, grey_model, "--resume") == 0
    rows = _rows(out)
    assert rows["c.png"]["status"] == "skipped" and rows["d.png"]["status"] == "ok"
    assert rows["d.png"]["output"] == str(out / "d_x2.png")  # the same name as one uninterrupted run


# ------------------------------------------------------------------------------------------ 3. names not in UTF-8
def test_names_that_are_not_utf8_are_reported(tmp_path, data_root, grey_model, capsys):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    raw = (data_root / "cxr" / "mhh_5f619d7e.png").read_bytes()
    for name in (b"bad\xff.png", b"latin1_\xe9t\xe9.png"):
        (Path(os.fsdecode(os.fsencode(inp) + b"/" + name))).write_bytes(raw)
    (Path(os.fsdecode(os.fsencode(inp) + b"/broken\xfe.png"))).write_bytes(raw[:200])
    assert _infer(inp, out, grey_model) == 1
    err = capsys.readouterr().err
    assert "broken\\xfe.png" in err and "report:" in err
    rep = json.loads((out / "srgan_report.json").read_bytes().decode("utf-8"))  # strict UTF-8
    by_name = {r["input"].rsplit("/", 1)[-1]: r for r in rep["inputs"]}
    assert by_name["bad\\xff.png"]["status"] == "ok" and by_name["latin1_\\xe9t\\xe9.png"]["status"] == "ok"
    assert by_name["broken\\xfe.png"]["status"] == "failed"
    (out / "srgan_report.csv").read_bytes().decode("utf-8")
    assert _infer(inp, out, grey_model, "--resume") == 1  # resume: the finished ones are skipped, no crash
    rep = json.loads((out / "srgan_report.json").read_bytes().decode("utf-8"))
    assert sorted(r["status"] for r in rep["inputs"]) == ["failed", "skipped", "skipped"]
    assert batch.printable({"a": [b"x".decode(), "y\udcff"]}) == {"a": ["x", "y\\xff"]}


# ------------------------------------------------------------------------------------------ 4. partial items
def test_truncated_native_dicom_is_called_truncated_not_compressed(tmp_path, data_root, grey_model):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for src in (data_root / "dicom" / "dcmqi_ct-3slice" / "01.dcm", data_root / "dicom" / "pydicom_CR1_6154.dcm"):
        ds = pydicom.dcmread(src)
        ds.SeriesInstanceUID = pydicom.uid.generate_uid()
        assert not ds.file_meta.TransferSyntaxUID.is_encapsulated
        buf = io.BytesIO()
        ds.save_as(buf)
        raw = buf.getvalue()
        cut = len(ds.PixelData) // 3  # a third of the pixel data is missing
        (inp / f"cut_{src.stem}.dcm").write_bytes(raw[: len(raw) - cut])
    assert _infer(inp, out, grey_model) == 1
    for row in _rows(out).values():
        assert row["status"] == "failed", row
        assert "truncated" in row["error"] and "decompress" not in row["error"].lower(), row["error"]


def test_multipage_tiff_is_refused_but_a_thumbnail_page_is_not(tmp_path, data_root, grey_model):
    import tifffile

    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    img = np.asarray(_crop(data_root / "cxr" / "mhh_2168a917.png", (0, 0, 64, 48)))
    for page in (img, img[::-1], img[:, ::-1]):  # 3 full-resolution pages
        tifffile.imwrite(inp / "stack.tif", page, append=True)
    tifffile.imwrite(inp / "with_thumb.tif", img)
    tifffile.imwrite(inp / "with_thumb.tif", img[::4, ::4], append=True, subfiletype=1)  # reduced-resolution page
    Image.fromarray(img).save(inp / "anim.png", save_all=True, append_images=[Image.fromarray(img[::-1])])
    assert _infer(inp, out, grey_model) == 1
    rows = _rows(out)
    assert rows["with_thumb.tif"]["status"] == "ok"
    for name, words in (("stack.tif", "multi-page TIFF with 3 pages"), ("anim.png", "animated PNG with 2")):
        assert rows[name]["status"] == "failed" and words in rows[name]["error"], rows[name]
        assert "tiffsplit" in rows[name]["error"] and rows[name]["output"] is None  # nothing written, none named


def test_earlier_outputs_inside_the_input_are_not_super_resolved_again(tmp_path, data_root, grey_model):
    inp, first_out = tmp_path / "in", tmp_path / "first"
    inp.mkdir()
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", inp / "chest.png")
    shutil.copy(data_root / "dicom" / "pydicom_CR1_6154.dcm", inp / "cr.dcm")
    assert _infer(inp, first_out, grey_model) == 0
    shutil.copytree(first_out, inp / "sr_run")  # an output folder moved into the input
    interrupted = inp / "killed_run"  # a killed run leaves no report, but its record
    interrupted.mkdir()
    shutil.copy(first_out / "chest_x2.png", interrupted / "chest_x2.png")
    shutil.copy(first_out / "srgan_resume.jsonl", interrupted / "srgan_resume.jsonl")
    derived = next((first_out).glob("*/IM00001.dcm"))
    shutil.copy(derived, inp / "copied_sr.dcm")  # one derived DICOM copied back next to its source
    out = tmp_path / "second"
    assert _infer(inp, out, grey_model) == 0
    rows = _rows(out)
    assert rows["chest.png"]["status"] == "ok" and rows["cr.dcm"]["status"] == "ok"
    for name in ("sr_run", "killed_run", "copied_sr.dcm"):
        assert rows[name]["status"] == "skipped", rows[name]
        assert "output of an earlier monai-srgan run" in rows[name]["error"]
    assert len(rows) == 5


def test_disk_full_while_writing_dicom_says_no_space(tmp_path, data_root, grey_model, monkeypatch):
    from monai_srgan.io.writers import dicom as dicom_writer

    class FullDisk(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    # pydicom re-raises a write error as OSError("With tag (7FE0,0010) got exception: … <traceback>"), errno lost
    monkeypatch.setattr(dicom_writer, "_save", lambda ds, path: ds.save_as(FullDisk(), enforce_file_format=True))
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    shutil.copy(data_root / "dicom" / "pydicom_CR2_6247.dcm", inp / "cr2.dcm")
    assert _infer(inp, out, grey_model) == 1
    err = _rows(out)["cr2.dcm"]["error"]
    assert "no space left on the device" in err and "--resume" in err, err
    assert "With tag" not in err and "Traceback" not in err and "\n" not in err


def test_a_second_run_into_the_same_folder_is_refused(tmp_path, data_root, grey_model, capsys):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", inp / "chest.png")
    out.mkdir()
    with outdir.OutputLock(out):  # a run in progress
        assert _infer(inp, out, grey_model) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "in use by another monai-srgan run (pid" in err, err
        assert not (out / "srgan_report.json").exists()
    assert _infer(inp, out, grey_model) == 0  # released: the next run works
    assert not (out / ".srgan.lock").exists()


def test_links_out_of_the_input_are_not_followed(tmp_path, data_root, grey_model):
    inp, out, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    (inp / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", inp / "sub" / "chest.png")
    shutil.copy(data_root / "cxr" / "mhh_5f619d7e.png", elsewhere / "outside.png")
    os.symlink("/etc", inp / "etc")
    os.symlink(elsewhere / "outside.png", inp / "outside.png")
    os.symlink(elsewhere, inp / "elsewhere_dir")
    os.symlink("sub/chest.png", inp / "inside_link.png")  # stays inside the input: followed
    assert _infer(inp, out, grey_model) == 0
    rows = _rows(out)
    for name in ("etc", "outside.png", "elsewhere_dir"):
        assert rows[name]["status"] == "skipped" and "out of the input folder" in rows[name]["error"], rows[name]
        assert "--follow-links" in rows[name]["error"]
    assert rows["chest.png"]["status"] == "ok" and rows["inside_link.png"]["status"] == "ok"
    out2 = tmp_path / "out2"
    assert _infer(inp / "sub", out2, grey_model) == 0
    os.unlink(inp / "etc")
    assert _infer(inp, out2 / "followed", grey_model, "--follow-links") == 0
    assert _rows(out2 / "followed")["outside.png"]["status"] == "ok"


def test_memory_check_refuses_before_starting(tmp_path, data_root, grey_model, monkeypatch):
    avail = memory.available_memory()
    assert avail is None or avail > 0
    # the issue's example: a 3504×2336 colour fundus ×16 is 6.3 GB of output and needs several times that
    out_bytes, need = memory.memory_needed((3, 2336, 3504), (16, 16), np.uint8)
    assert out_bytes == 3 * 2336 * 16 * 3504 * 16 and round(out_bytes / 1e9, 1) == 6.3 and need > 3 * out_bytes
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", inp / "chest.png")
    monkeypatch.setattr(memory, "available_memory", lambda: 200 * 10**6)
    assert _infer(inp, out, grey_model) == 1
    row = _rows(out)["chest.png"]
    assert row["status"] == "failed" and row["output"] is None  # nothing written, none named
    for words in ("1098×1280 output", "200.0 MB is available", "--scale", "--no-memory-check"):
        assert words in row["error"], row["error"]
    assert _infer(inp, out, grey_model, "--resume", "--no-memory-check") == 0
    assert _rows(out)["chest.png"]["status"] == "ok"
    assert not [p for p in out.rglob("*") if _common.TMP_MARKER in p.name]


def test_icc_meta_is_plain_text(tmp_path):
    f = tmp_path / "c.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(f, icc_profile=_srgb_icc())
    _, _, meta = load_pil(str(f))
    assert base64.b64decode(meta["srgan_icc_profile"]) == _srgb_icc()
