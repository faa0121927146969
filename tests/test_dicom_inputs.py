"""DICOM/NIfTI input kinds (docs/inference.md "Input kinds: supported and refused") on pydicom's bundled files.

32-bit data, big endian, multi-frame, colour (RGB, YBR, palette), broken headers, duplicate instances, slices without
geometry, link loops, and the derived-DICOM header rules. Variants are generated in tmp_path from the real files.
Models: the shipped cxr_sr / retina_sr bundles where the real model matters (32-bit corruption), else an exact
nearest-neighbour ×2 upsampler so that stored pixels can be compared exactly.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from _inference_helpers import NearestUp
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from monai_srgan.errors import InputFileError
from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.io.discovery import find_inputs
from monai_srgan.io.writers.dicom import write_dicom_series
from monai_srgan.transforms.io import LoadMedicalImage

try:
    from pydicom.pixels import apply_color_lut
except ImportError:  # pydicom 2.x
    from pydicom.pixel_data_handlers.util import apply_color_lut

REPO = Path(__file__).resolve().parents[1]
_PIPES: dict[str, SRInferencePipeline] = {}


def _bundle(name: str) -> SRInferencePipeline:
    if name not in _PIPES:
        _PIPES[name] = SRInferencePipeline.from_bundle(REPO / "bundles" / name, device="cpu")
    return _PIPES[name]


def _nearest(channels: int = 1) -> SRInferencePipeline:
    return SRInferencePipeline(NearestUp(2), 2, in_channels=channels, tile_size=512)


def _run(pipe: SRInferencePipeline, src, out: Path) -> tuple[Path, object]:
    sr = pipe.predict(src)
    written = write_dicom_series(sr, dict(sr.meta), out, scale=sr.meta["srgan_sr_scale"], model_name="test")
    return written, sr


def _only(folder: Path) -> pydicom.Dataset:
    files = sorted(folder.iterdir())
    assert len(files) == 1
    return pydicom.dcmread(files[0])


def _block_mean(b: np.ndarray, shape: tuple[int, ...], s: int) -> np.ndarray:
    """Average ``s``×``s`` blocks of the rows/columns axes (the two axes after any leading frame axis)."""
    lead = b.shape[: b.ndim - len(shape)]
    if len(shape) == 2:
        return b.reshape(*lead, shape[0], s, shape[1], s).mean(axis=(-3, -1))
    return b.reshape(*lead, shape[0], s, shape[1], s, shape[2]).mean(axis=(-4, -2))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


def _ct32(tmp_path: Path, kind: str) -> Path:
    """CT_small rewritten as 32-bit stored values (BitsAllocated = BitsStored = 32)."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    arr = ds.pixel_array
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
    ds.PixelRepresentation = 1 if kind == "int32" else 0
    ds.PixelData = arr.astype("<i4" if kind == "int32" else "<u4").tobytes()
    ds["PixelData"].VR = "OW"
    path = tmp_path / f"CT32_{kind}.dcm"
    ds.save_as(path)
    return path


# ------------------------------------------------------------------------------------------- 1. 32-bit stored values
@pytest.mark.parametrize("name", ["rtdose_1frame.dcm", "rtdose_rle_1frame.dcm", "CT32_int32", "CT32_uint32"])
def test_32bit_dicom_sr_correlates_with_input(tmp_path, name):
    """The SR output (real cxr_sr model) downsampled correlates with the input and stays in the source's domain."""
    src = _ct32(tmp_path, name.split("_")[1]) if name.startswith("CT32") else Path(get_testdata_file(name))
    img = LoadMedicalImage()(src)
    ref = pydicom.dcmread(src).pixel_array.astype(np.float64)
    assert img.meta["srgan_value_max"] - img.meta["srgan_value_min"] < 1e7  # data range, not 0..4294967295
    out, sr = _run(_bundle("cxr_sr"), src, tmp_path / "out")
    o = _only(out)
    assert (o.BitsAllocated, o.BitsStored) == (32, 32)
    assert o.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    stored = o.pixel_array.astype(np.float64)
    assert ref.min() - 1 <= stored.min() and stored.max() <= ref.max() + 1  # source's stored-value domain
    assert _corr(ref, _block_mean(stored, ref.shape, 4)) > 0.9
    assert _corr(ref, _block_mean(sr[0].numpy(), ref.shape, 4)) > 0.9


def test_32bit_rgb_full_range_does_not_wrap(tmp_path):
    """4294967295 is 2**32 in float32: the value range must keep clamped values inside uint32 (no wrap to 0)."""
    src = get_testdata_file("SC_rgb_rle_32bit.dcm")
    out, _ = _run(_bundle("retina_sr"), src, tmp_path / "out")
    ref = pydicom.dcmread(src).pixel_array.astype(np.float64)
    stored = _only(out).pixel_array.astype(np.float64)
    assert _corr(ref, _block_mean(stored, ref.shape, 4)) > 0.99


# -------------------------------------------------------------------------------------------------- 2. big endian
@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "MR_small_expb.dcm"])
def test_big_endian_loads_and_writes_little_endian(tmp_path, name):
    src = get_testdata_file(name)
    img = LoadMedicalImage()(src)
    ref = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array
    assert img.meta["srgan_dtype"] == "int16"  # native byte order, not '>i2'
    np.testing.assert_array_equal(img[0].numpy(), ref)
    out, _ = _run(_nearest(), src, tmp_path / "out")
    o = _only(out)
    assert o.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(o.pixel_array[::2, ::2], ref)


# ------------------------------------------------------------------------------------------- 3. messages / constant
def _ct(tmp_path: Path, name: str, **changes) -> Path:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for k, v in changes.items():
        if v is None:
            del ds[k]
        else:
            setattr(ds, k, v)
    path = tmp_path / name
    ds.save_as(path)
    return path


def test_broken_headers_name_the_problem(tmp_path):
    one = _ct(tmp_path, "one.dcm", Rows=1, Columns=1)
    with pytest.raises(InputFileError, match=r"too small.*1x1") as e:
        LoadMedicalImage()(one)
    assert e.value.path == str(one)
    with pytest.raises(InputFileError, match=r"empty image: Rows=0"):
        LoadMedicalImage()(_ct(tmp_path, "rows0.dcm", Rows=0))
    with pytest.raises(InputFileError, match=r"PhotometricInterpretation \(0028,0004\)") as e:
        LoadMedicalImage()(_ct(tmp_path, "nopi.dcm", PhotometricInterpretation=None))
    assert "missing" in e.value.problem and "dcmodify" in e.value.hint
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.110"
    pydicom.dcmwrite(tmp_path / "ts.dcm", ds, implicit_vr=False, little_endian=True, force_encoding=True)
    with pytest.raises(InputFileError, match=r"transfer syntax 1\.2\.840\.10008\.1\.2\.4\.110") as e:
        LoadMedicalImage()(tmp_path / "ts.dcm")
    assert "gdcmconv" in e.value.hint and "truncated" not in str(e.value)
    with pytest.raises(InputFileError, match=r"too small"):
        Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "one.png") or LoadMedicalImage()(
            tmp_path / "one.png"
        )


def test_unsupported_known_transfer_syntax_names_it(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: pydicom knows it, has no decoder
    ds.PixelData = encapsulate([ds.PixelData])
    pydicom.dcmwrite(tmp_path / "mpeg.dcm", ds, implicit_vr=False, little_endian=True, force_encoding=True)
    with pytest.raises(InputFileError, match="MPEG2 Main Profile") as e:
        LoadMedicalImage()(tmp_path / "mpeg.dcm")
    assert "dcmdjpeg" in e.value.hint


def test_non_numeric_pixel_spacing_named_and_dropped(tmp_path, caplog):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds["PixelSpacing"].VR = "LO"
    ds.PixelSpacing = "abc\\0.5"
    ds.save_as(tmp_path / "ps.dcm")
    with caplog.at_level(logging.WARNING):
        img = LoadMedicalImage()(tmp_path / "ps.dcm")
        out, _ = _run(_nearest(), tmp_path / "ps.dcm", tmp_path / "out")
    assert any("PixelSpacing 'abc\\0.5'" in w for w in img.meta["srgan_warnings"])
    assert img.meta["srgan_spacing"] == [1.0, 1.0]
    assert "PixelSpacing" not in _only(out)
    assert sum("PixelSpacing" in r.getMessage() and "abc" in r.getMessage() for r in caplog.records) >= 2


def test_4d_nifti_refused_as_time_series(tmp_path):
    nib.save(nib.Nifti1Image(np.random.rand(8, 8, 4, 3).astype(np.float32), np.eye(4)), tmp_path / "t.nii.gz")
    with pytest.raises(InputFileError, match=r"4D NIfTI of shape \(8, 8, 4, 3\).*time series") as e:
        LoadMedicalImage()(tmp_path / "t.nii.gz")
    assert "3D" in e.value.hint and "channel" not in e.value.problem
    nib.save(nib.Nifti1Image(np.random.rand(8, 8, 4, 1).astype(np.float32), np.eye(4)), tmp_path / "one.nii.gz")
    assert LoadMedicalImage()(tmp_path / "one.nii.gz").shape == (1, 8, 8, 4)  # a singleton 4th axis is 3D
    rgb = (np.random.rand(8, 8, 1, 3) * 255).astype(np.uint8)  # the NIfTI writer's 2D colour layout
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), tmp_path / "rgb.nii.gz")
    assert LoadMedicalImage()(tmp_path / "rgb.nii.gz").shape == (3, 8, 8, 1)


def test_constant_images_work_like_png(tmp_path):
    """A constant float NIfTI (data range lo == hi) gives a constant output, as constant PNG and DICOM do."""
    nib.save(nib.Nifti1Image(np.full((16, 16), 5.0, np.float32), np.eye(4)), tmp_path / "c.nii.gz")
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(tmp_path / "c.png")
    for name, value in (("c.nii.gz", 5.0), ("c.png", 7.0)):
        sr = _nearest().predict(tmp_path / name)
        assert sr.shape[1:3] == (32, 32)
        np.testing.assert_allclose(sr.float().numpy(), value, atol=1e-4)


# --------------------------------------------------------------------------------- 4. series assembly and discovery
def _mr_series(folder: Path, n: int = 3, **per_slice) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    uid, paths = generate_uid(), []
    for i in range(n):
        ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.ImagePositionPatient, ds.InstanceNumber = [0.0, 0.0, 5.0 * i], i + 1
        for k, f in per_slice.items():
            f(ds, i, k)
        ds.save_as(folder / f"s{i}.dcm")
        paths.append(folder / f"s{i}.dcm")
    return paths


def test_duplicate_sop_instance_uid(tmp_path):
    paths = _mr_series(tmp_path / "ser")
    a = pydicom.dcmread(paths[0])
    a.save_as(tmp_path / "ser" / "s0_copy.dcm")  # an identical copy: de-duplicated with a warning
    (item,) = find_inputs(tmp_path / "ser")
    img = LoadMedicalImage()(item)
    assert img.shape[-1] == 3 and len(img.meta["srgan_source_files"]) == 3
    assert any("s0_copy.dcm" in w and "duplicate" in w for w in img.meta["srgan_warnings"])
    b = pydicom.dcmread(paths[1])
    b.SOPInstanceUID = a.SOPInstanceUID  # same UID, different slice: refused, naming both files
    b.save_as(paths[1])
    (tmp_path / "ser" / "s0_copy.dcm").unlink()
    with pytest.raises(InputFileError, match=r"share SOPInstanceUID") as e:
        LoadMedicalImage()(find_inputs(tmp_path / "ser")[0])
    assert "s0.dcm" in str(e.value) and "s1.dcm" in str(e.value)


def test_slice_without_position_is_split_with_a_warning(tmp_path, caplog):
    def drop_last(ds, i, _):
        if i == 2:
            del ds.ImagePositionPatient

    _mr_series(tmp_path / "ser", drop=drop_last)
    with caplog.at_level(logging.WARNING):
        items = find_inputs(tmp_path / "ser")
    assert [it.kind for it in items] == ["dicom_series", "dicom"]
    lone = items[1]
    assert lone.files[0].endswith("s2.dcm") and "ImagePositionPatient" in lone.notes[0]
    assert items[0].notes  # the series item says a slice was split off too
    assert any("s2.dcm" in w for w in LoadMedicalImage()(lone).meta["srgan_warnings"])
    assert any("ImagePositionPatient" in r.getMessage() for r in caplog.records)


def test_symlink_loop_and_dangling_link_are_listed(tmp_path):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "sub" / "a.png")
    os.symlink("..", root / "sub" / "up")  # loop back to the root
    os.symlink("nowhere.dcm", root / "dangling.dcm")
    os.symlink("self", root / "self")  # a link to itself (ELOOP)
    skipped: list[tuple[str, str]] = []
    items = find_inputs(root, skipped=skipped)
    assert [Path(it.files[0]).name for it in items] == ["a.png"]
    reasons = {Path(p).name: r for p, r in skipped}
    assert "symbolic link loop" in reasons["up"]
    assert "broken symbolic link" in reasons["dangling.dcm"]
    assert "loop" in reasons["self"] or "broken" in reasons["self"]


# ------------------------------------------------------------------------------------------- 5. derived header
def test_derived_header_rules(tmp_path, caplog):
    paths = _mr_series(tmp_path / "ser")
    for i, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        del ds.StudyInstanceUID
        ds.PixelSpacing = [0, 0]
        code = pydicom.Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113040", "DCM", "Lossy Compression"
        ds.DerivationCodeSequence = [code]
        if i == 0:
            ds.BurnedInAnnotation = "YES"
        ds.save_as(p)
    with caplog.at_level(logging.WARNING):
        out, _ = _run(_nearest(), find_inputs(tmp_path / "ser")[0], tmp_path / "out")
    outs = [pydicom.dcmread(f) for f in sorted(out.iterdir())]
    assert len({o.StudyInstanceUID for o in outs}) == 1 and outs[0].StudyInstanceUID  # one generated study UID
    assert all("PixelSpacing" not in o for o in outs)  # 0\0 omitted
    assert [o.get("BurnedInAnnotation") for o in outs] == ["YES", None, None]  # copied, never invented
    for o in outs:
        (code,) = o.DerivationCodeSequence
        assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
            "113085",
            "DCM",
            "Spatial resampling",
        )
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "StudyInstanceUID" in text and "PixelSpacing '0.0\\0.0'" in text


# ------------------------------------------------------------------------------------------- 6. multi-frame, colour
def test_multiframe_greyscale_frame_by_frame(tmp_path):
    """A multi-frame file goes through a 2D model frame by frame and is written as one multi-frame derived file."""
    frames = []
    for name in ("MR_small.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm"):
        frames.append(pydicom.dcmread(get_testdata_file(name)).pixel_array.astype(np.int16))
    ref = np.stack([frames[0], frames[0][::-1], frames[0][:, ::-1]])
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.NumberOfFrames, ds.PixelData = 3, ref.astype("<i2").tobytes()
    ds.save_as(tmp_path / "mf.dcm")
    for src, expected in ((tmp_path / "mf.dcm", ref), (Path(get_testdata_file("rtdose.dcm")), None)):
        pipe = _nearest()
        out, sr = _run(pipe, src, tmp_path / f"out_{src.stem}")
        o = _only(out)
        source = pydicom.dcmread(src)
        expected = source.pixel_array if expected is None else expected
        assert int(o.NumberOfFrames) == expected.shape[0] and o.get("FrameIncrementPointer") == source.get(
            "FrameIncrementPointer"
        )
        np.testing.assert_array_equal(o.pixel_array[:, ::2, ::2], expected)
        nii = pipe.write(sr, tmp_path / f"{src.stem}.nii.gz", "nifti")
        assert nib.load(nii).shape == (2 * expected.shape[1], 2 * expected.shape[2], expected.shape[0])


@pytest.mark.parametrize(
    "name",
    ["SC_rgb_small_odd.dcm", "SC_ybr_full_422_uncompressed.dcm", "examples_palette.dcm", "SC_rgb_rle_2frame.dcm"],
)
def test_colour_dicom_written_as_rgb(tmp_path, name):
    src = pydicom.dcmread(get_testdata_file(name))
    if src.PhotometricInterpretation == "PALETTE COLOR":  # 8-bit RGB, as the colour IODs require
        bits = int(src.RedPaletteColorLookupTableDescriptor[2])
        rgb = np.rint(apply_color_lut(src.pixel_array, src) * (255.0 / (2**bits - 1))).astype(np.uint8)
    else:
        rgb = src.pixel_array  # pydicom converts YBR to RGB
    out, _ = _run(_nearest(3), get_testdata_file(name), tmp_path / "out")
    o = _only(out)
    assert (o.PhotometricInterpretation, o.SamplesPerPixel, o.PlanarConfiguration) == ("RGB", 3, 0)
    assert "RedPaletteColorLookupTableData" not in o
    got = o.pixel_array
    np.testing.assert_array_equal(got[..., ::2, ::2, :], rgb)


def test_grey_model_refuses_colour_input():
    """1-channel models do not convert colour to grey behind the user's back: refused, naming both sides."""
    with pytest.raises(InputFileError, match=r"3 channel\(s\) but the model takes 1") as e:
        _nearest(1).predict(get_testdata_file("SC_rgb_small_odd.dcm"))
    assert "retina_sr" in e.value.hint
    assert torch.is_tensor(LoadMedicalImage()(get_testdata_file("SC_rgb_small_odd.dcm")))
