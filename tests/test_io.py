"""Tests of monai_srgan.transforms.io on the real files of ../shared/data (plus broken copies made in tmp_path)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_srgan.errors import InputFileError
from monai_srgan.io.discovery import InputItem, find_inputs, validate_input
from monai_srgan.transforms.io import LoadMedicalImage, LoadMedicalImaged

try:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
except ImportError:  # pydicom 2.x
    from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut

META_KEYS = (
    "srgan_format",
    "srgan_dtype",
    "srgan_bits",
    "srgan_value_min",
    "srgan_value_max",
    "srgan_photometric",
    "srgan_inverted",
    "srgan_rescale_slope",
    "srgan_rescale_intercept",
    "srgan_alpha_dropped",
    "srgan_source_files",
    "srgan_spacing",
    "filename_or_obj",
    "spatial_shape",
    "original_channel_dim",
)

_CACHE: dict[str, MetaTensor] = {}


def _load(path, **kw) -> MetaTensor:
    """Each real file is decoded once per test session (the big CR/DX files take ~1 s each)."""
    key = f"{path}|{sorted(kw.items())}"
    if key not in _CACHE:
        _CACHE[key] = LoadMedicalImage(**kw)(str(path))
    return _CACHE[key]


def _dicom_inputs(data_root: Path) -> list[Path]:
    d = data_root / "dicom"
    return sorted(d.glob("*.dcm")) + sorted(p for p in d.iterdir() if p.is_dir())


def _reference_m1(path: Path, voi: bool) -> tuple[np.ndarray, float, float]:
    """pydicom's own LUT functions, then MONOCHROME1 inversion over the output range."""
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array
    bits = int(ds.BitsStored)
    ends = np.array([0, 2**bits - 1])
    vals = apply_modality_lut(stored, ds).astype(np.float64)
    lo, hi = sorted(np.asarray(apply_modality_lut(ends, ds), dtype=np.float64))
    if voi:
        vals = apply_voi_lut(vals, ds).astype(np.float64)
        lo, hi = sorted(np.asarray(apply_voi_lut(np.asarray(apply_modality_lut(ends, ds), float), ds), float))
    return lo + hi - vals, lo, hi


def test_every_dicom_file_loads(data_root):
    inputs = _dicom_inputs(data_root)
    assert len(inputs) == 13
    for path in inputs:
        img = _load(path)
        assert isinstance(img, MetaTensor) and img.dtype == torch.float32
        for key in META_KEYS:
            assert key in img.meta, (path, key)
        assert torch.isfinite(img).all()
        assert img.meta["srgan_value_min"] <= float(img.min()) <= float(img.max()) <= img.meta["srgan_value_max"]
        assert list(img.meta["spatial_shape"]) == list(img.shape[1:])
        assert len(img.meta["srgan_spacing"]) == img.ndim - 1
        ds = pydicom.dcmread(img.meta["srgan_source_files"][0], stop_before_pixels=True)
        assert img.shape[1:3] == (ds.Rows, ds.Columns)
        assert img.meta["srgan_photometric"] == ds.PhotometricInterpretation
        assert img.meta["srgan_bits"] == ds.BitsStored
        assert img.meta["srgan_inverted"] == (ds.PhotometricInterpretation == "MONOCHROME1")
        if path.is_dir():
            assert img.meta["srgan_format"] == "dicom_series" and img.ndim == 4
            assert len(img.meta["srgan_source_files"]) == img.shape[-1]
        else:
            assert img.meta["srgan_format"] == "dicom" and img.ndim == 3
    # spacing: PixelSpacing; RG1 has PixelSpacing 0\0 and no ImagerPixelSpacing -> 1.0
    assert _load(data_root / "dicom/wg04_RG2_RLE.dcm").meta["srgan_spacing"] == pytest.approx([0.2, 0.2])
    assert _load(data_root / "dicom/wg04_RG1_J2KR.dcm").meta["srgan_spacing"] == [1.0, 1.0]
    cr = _load(data_root / "dicom/pydicom_CR1_6154.dcm")
    assert cr.meta["srgan_spacing"] == pytest.approx([0.1, 0.1])  # ImagerPixelSpacing
    assert cr.affine[0, 0] == pytest.approx(0.1) and cr.affine[1, 1] == pytest.approx(0.1)
    # lossless codecs decode to the same values
    rle = _load(data_root / "dicom/wg04_RG2_RLE.dcm")
    assert torch.equal(rle, _load(data_root / "dicom/wg04_RG2_JPLL.dcm"))
    assert torch.equal(rle, _load(data_root / "dicom/wg04_RG2_JLSL.dcm"))


@pytest.mark.parametrize(
    "name", ["pydicom_CR1_6154.dcm", "pydicom_CR2_6247.dcm", "pydicom_CR3_6278.dcm", "wg04_RG1_J2KR.dcm"]
)
def test_monochrome1_matches_pydicom_luts(data_root, name):
    path = data_root / "dicom" / name
    ref, lo, hi = _reference_m1(path, voi=False)
    img = _load(path)
    assert img.meta["srgan_photometric"] == "MONOCHROME1" and img.meta["srgan_inverted"] is True
    assert (img.meta["srgan_value_min"], img.meta["srgan_value_max"]) == pytest.approx((lo, hi))
    np.testing.assert_allclose(img[0].numpy(), ref, rtol=0, atol=1e-3 * max(1.0, abs(hi)))
    if name.startswith("pydicom_CR"):  # the rescale slope/intercept of these files is non-trivial
        assert img.meta["srgan_rescale_slope"] == pytest.approx(0.684)
        assert img.meta["srgan_rescale_intercept"] == pytest.approx(200.0)
        win = LoadMedicalImage(voi_window=True)(str(path))
        wref, wlo, whi = _reference_m1(path, voi=True)
        np.testing.assert_allclose(win[0].numpy(), wref, atol=1e-2)
        assert (win.meta["srgan_value_min"], win.meta["srgan_value_max"]) == pytest.approx((wlo, whi))


@pytest.mark.parametrize(
    "name, lung_box, mediastinum_box",
    [
        # (row0, row1, col0, col1) as fractions of the image
        ("wg04_RG1_J2KR.dcm", (0.3, 0.5, 0.2, 0.3), (0.3, 0.6, 0.47, 0.53)),
        ("wg04_RG1_J2KI.dcm", (0.3, 0.5, 0.2, 0.3), (0.3, 0.6, 0.47, 0.53)),
        ("pydicom-issue966_966_fixed.dcm", (0.3, 0.55, 0.15, 0.3), (0.3, 0.6, 0.43, 0.5)),
    ],
)
def test_chest_monochrome1_bright_bone_dark_lung(data_root, name, lung_box, mediastinum_box):
    img = _load(data_root / "dicom" / name)[0]
    h, w = img.shape

    def mean(box):
        r0, r1, c0, c1 = box
        return float(img[int(r0 * h) : int(r1 * h), int(c0 * w) : int(c1 * w)].mean())

    lung, mediastinum = mean(lung_box), mean(mediastinum_box)
    span = img.meta["srgan_value_max"] - img.meta["srgan_value_min"]
    assert mediastinum - lung > 0.05 * span, (lung, mediastinum)


def test_series_sorted_by_geometry_not_file_name(data_root):
    folder = data_root / "dicom" / "dcmqi_701-ADCb500"
    vol = _load(folder)
    files = vol.meta["srgan_source_files"]
    names = [Path(f).name for f in files]
    assert names != sorted(names)  # file names are out of order in this series
    assert names.index("000006.dcm") < names.index("000004.dcm")
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    row, col = np.array(headers[0].ImageOrientationPatient[:3], float), np.array(headers[0].ImageOrientationPatient[3:])
    proj = [float(np.dot(np.array(h.ImagePositionPatient, float), np.cross(row, col))) for h in headers]
    assert np.all(np.diff(proj) > 0)
    assert [int(h.InstanceNumber) for h in headers] == list(range(1, 21))
    assert vol.shape == (1, 256, 256, 20)
    assert vol.meta["srgan_spacing"] == pytest.approx([0.7031, 0.7031, 3.0], abs=1e-3)
    for k in (0, 4, 5, 19):
        np.testing.assert_array_equal(vol[0, :, :, k].numpy(), pydicom.dcmread(files[k]).pixel_array)
    # the affine maps voxel (0, 0, k) to the slice's ImagePositionPatient (LPS -> RAS)
    for k in (0, 19):
        ipp = np.array(headers[k].ImagePositionPatient, float) * [-1, -1, 1]
        np.testing.assert_allclose((vol.affine.numpy() @ [0, 0, k, 1])[:3], ipp, atol=1e-3)
    # a shuffled list of the same files gives the same volume
    shuffled = sorted(map(str, folder.glob("*.dcm")), reverse=True)
    assert torch.equal(LoadMedicalImage()(shuffled), vol)


def test_ct_series_modality_lut(data_root):
    vol = _load(data_root / "dicom" / "dcmqi_ct-3slice")
    first = pydicom.dcmread(vol.meta["srgan_source_files"][0])
    np.testing.assert_array_equal(vol[0, :, :, 0].numpy(), first.pixel_array.astype(np.float64) - 1024)
    assert vol.meta["srgan_rescale_intercept"] == -1024.0
    assert vol.meta["srgan_window_center"] == 40.0 and vol.meta["srgan_window_width"] == 400.0
    # signed data: the series' data range (issue 23), not the int16 range (-32768 - 1024 ...)
    assert (vol.meta["srgan_value_min"], vol.meta["srgan_value_max"]) == (float(vol.min()), float(vol.max()))
    # VOI: the file's window (40/400) as pydicom applies it, and the same window given explicitly
    ref = apply_voi_lut(apply_modality_lut(first.pixel_array, first), first)
    win = LoadMedicalImage(voi_window=True)(data_root / "dicom" / "dcmqi_ct-3slice")
    np.testing.assert_allclose(win[0, :, :, 0].numpy(), ref, atol=1e-2)
    assert (win.meta["srgan_value_min"], win.meta["srgan_value_max"]) == (-32768 - 1024, 32767 - 1024)
    explicit = LoadMedicalImage(voi_window=(40.0, 400.0))(data_root / "dicom" / "dcmqi_ct-3slice")
    torch.testing.assert_close(explicit, win, atol=1e-2, rtol=0)
    assert float(win.min()) == -32768 - 1024 and float(win.max()) == 32767 - 1024  # air and bone saturate


def test_rgba_nih_pngs_and_grey_pngs(data_root):
    rgba = [p for p in sorted((data_root / "cxr").glob("nih_*.png")) if Image.open(p).mode == "RGBA"]
    assert len(rgba) == 2
    for p in rgba:
        img = _load(p)
        assert img.shape == (3, 1024, 1024) and img.meta["srgan_alpha_dropped"] is True
        assert img.meta["srgan_photometric"] == "RGBA" and img.meta["srgan_format"] == "png"
        np.testing.assert_array_equal(img.numpy(), np.moveaxis(np.asarray(Image.open(p))[..., :3], -1, 0))
    grey = LoadMedicalImaged(keys="image")({"image": str(data_root / "cxr" / "nih_00000075_000.png")})["image"]
    assert grey.shape == (1, 1024, 1024) and grey.meta["srgan_alpha_dropped"] is False
    assert grey.meta["srgan_dtype"] == "uint8" and grey.meta["srgan_bits"] == 8
    assert (grey.meta["srgan_value_min"], grey.meta["srgan_value_max"]) == (0.0, 255.0)
    assert grey.meta["original_channel_dim"] == "no_channel"


def test_jpeg_rgb_fundus(data_root):
    img = LoadMedicalImage()(data_root / "retina" / "skimage_retina.jpg")
    assert img.shape == (3, 1411, 1411) and img.meta["srgan_format"] == "jpeg"
    assert img.meta["original_channel_dim"] == 0


def test_16bit_png_keeps_values(data_root, tmp_path):
    """A 16-bit PNG made from a real 15-bit CR: all 16 bits survive the loader."""
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom_CR1_6154.dcm")
    arr = (ds.pixel_array.astype(np.uint16) << 4) | 0xF  # uses the top and the bottom bits
    Image.fromarray(arr).save(tmp_path / "cr16.png")
    img = LoadMedicalImage()(tmp_path / "cr16.png")
    assert img.meta["srgan_dtype"] == "uint16" and img.meta["srgan_bits"] == 16
    assert img.meta["srgan_value_max"] == 65535.0
    np.testing.assert_array_equal(img[0].numpy(), arr)


def test_nifti_volumes(data_root):
    img = _load(data_root / "volumes" / "totalseg_example_ct.nii.gz")
    ref = nib.load(data_root / "volumes" / "totalseg_example_ct.nii.gz")
    assert img.shape == (1, 122, 101, 112) and img.meta["srgan_format"] == "nifti"
    assert img.meta["srgan_dtype"] == "int32" and img.meta["srgan_spacing"] == [3.0, 3.0, 3.0]
    np.testing.assert_allclose(img.affine.numpy(), ref.affine)
    assert (img.meta["srgan_value_min"], img.meta["srgan_value_max"]) == (-1207.0, 3382.0)
    mr = _load(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz")
    assert mr.meta["srgan_dtype"] == "int16" and mr.meta["srgan_value_min"] == float(mr.min())  # data, not int16


def test_multiframe_dicom_is_a_volume(data_root, tmp_path):
    files = sorted((data_root / "dicom" / "dcmqi_701-ADCb500").glob("*.dcm"))[:3]
    frames = [pydicom.dcmread(f) for f in files]
    expected = [f.pixel_array for f in frames]
    ds = pydicom.dcmread(files[0])
    ds.NumberOfFrames = 3
    ds.PixelData = b"".join(f.PixelData for f in frames)
    ds.save_as(tmp_path / "mf.dcm")
    img = LoadMedicalImage()(tmp_path / "mf.dcm")
    assert img.shape == (1, 256, 256, 3) and img.meta["srgan_format"] == "dicom"
    for k, ref in enumerate(expected):
        np.testing.assert_array_equal(img[0, :, :, k].numpy(), ref)


# ------------------------------------------------------------------------------------------------ bad input
def test_empty_and_corrupt_files(data_root, tmp_path):
    for name in ("empty.png", "empty.dcm", "empty.nii.gz"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(InputFileError, match="0 bytes") as e:
            LoadMedicalImage()(tmp_path / name)
        assert name in str(e.value)
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really" * 10)
    (tmp_path / "junk.dcm").write_bytes(bytes(range(256)) * 4)
    good = (data_root / "cxr" / "mhh_2168a917.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    raw = (data_root / "dicom" / "dcmqi_ct-3slice" / "01.dcm").read_bytes()
    (tmp_path / "truncated.dcm").write_bytes(raw[: len(raw) // 2])
    gz = gzip.compress((data_root / "volumes" / "totalseg_example_mr_sm.nii.gz").read_bytes()[:1000])
    (tmp_path / "bad.nii.gz").write_bytes(gz)
    for name in ("junk.png", "junk.dcm", "truncated.png", "truncated.dcm", "bad.nii.gz"):
        with pytest.raises(InputFileError) as e:
            LoadMedicalImage()(tmp_path / name)
        assert str(tmp_path / name) in str(e.value)
    with pytest.raises(InputFileError, match="does not exist"):
        LoadMedicalImage()(tmp_path / "missing.png")


def test_dicom_without_pixel_data(data_root, tmp_path):
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom_CR1_6154.dcm")
    del ds.PixelData
    ds.save_as(tmp_path / "sr_like.dcm")
    with pytest.raises(InputFileError, match="no pixel data") as e:
        LoadMedicalImage()(tmp_path / "sr_like.dcm")
    assert "sr_like.dcm" in str(e.value)
    with pytest.raises(InputFileError, match="no pixel data"):
        validate_input(tmp_path / "sr_like.dcm")


def test_missing_decoder_names_the_extra(data_root, monkeypatch):
    path = data_root / "dicom" / "wg04_RG2_JLSL.dcm"  # JPEG-LS: only pylibjpeg-libjpeg (or GDCM) decodes it
    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    try:
        from pydicom.pixels import get_decoder

        monkeypatch.setattr(get_decoder(ts), "_available", {})
    except ImportError:  # pydicom 2.x: no handler available
        monkeypatch.setattr(pydicom.config, "pixel_data_handlers", [])
    with pytest.raises(InputFileError, match=r"monai_srgan\[dicom\]") as e:
        LoadMedicalImage()(path)
    assert "wg04_RG2_JLSL.dcm" in str(e.value)
    with pytest.raises(InputFileError, match=r"monai_srgan\[dicom\]"):
        validate_input(path)
    # the decode-time path too (header check bypassed): pydicom's own error becomes an InputFileError
    import monai_srgan.io.readers.dicom_decode as io_mod

    monkeypatch.setattr(io_mod, "dicom_decoder_status", lambda ts: (True, ""))
    with pytest.raises(InputFileError, match=r"monai_srgan\[dicom\]") as e:
        LoadMedicalImage()(path)
    assert "cannot decode" in e.value.problem, e.value  # the decoder's message, not the header check's


def test_nan_in_nifti(data_root, tmp_path):
    vol = np.random.default_rng(0).normal(size=(8, 9, 10)).astype(np.float32)
    vol[3, 4, 5] = np.nan
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "nan.nii.gz")
    with pytest.raises(InputFileError, match="NaN") as e:
        LoadMedicalImage()(tmp_path / "nan.nii.gz")
    assert "nan.nii.gz" in str(e.value)
    vol[3, 4, 5] = np.inf
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "inf.nii")
    with pytest.raises(InputFileError, match="Inf"):
        LoadMedicalImage()(tmp_path / "inf.nii")


def test_series_with_mixed_sizes_or_series(data_root, tmp_path):
    src = data_root / "dicom" / "dcmqi_701-ADCb500"
    folder = tmp_path / "series"
    folder.mkdir()
    for f in sorted(src.glob("*.dcm"))[:4]:
        shutil.copy(f, folder / f.name)
    ds = pydicom.dcmread(folder / "000002.dcm")
    small = np.ascontiguousarray(ds.pixel_array[:128, :128])
    ds.Rows, ds.Columns, ds.PixelData = 128, 128, small.tobytes()
    ds.save_as(folder / "000002.dcm")
    with pytest.raises(InputFileError, match="mixed image sizes") as e:
        LoadMedicalImage()(folder)
    assert "000002.dcm" in str(e.value)
    two = [str(next(src.glob("*.dcm"))), str(data_root / "dicom" / "dcmqi_ct-3slice" / "01.dcm")]
    with pytest.raises(InputFileError, match="2 different DICOM series"):
        LoadMedicalImage()(two)
    with pytest.raises(InputFileError, match="no DICOM files"):
        LoadMedicalImage()(data_root / "cxr")


def test_find_inputs(data_root, tmp_path):
    items = find_inputs(data_root / "dicom")
    by_name = {it.name: it for it in items}
    adc = by_name["dcmqi_701-ADCb500"]
    assert adc.kind == "dicom_series" and len(adc.files) == 20 and adc.series_uid
    assert by_name["dcmqi_ct-3slice"].kind == "dicom_series" and len(by_name["dcmqi_ct-3slice"].files) == 3
    # the RG1/RG2 copies share a SeriesInstanceUID but are projection images: one item each
    singles = [it for it in items if it.kind == "dicom"]
    assert len(singles) == 11 and all(len(it.files) == 1 for it in singles)
    assert len(find_inputs(data_root / "dicom", recursive=False)) == 11

    # a mixed folder: images, a NIfTI, a DICOM without pixels, a text file
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", tmp_path / "a.png")
    shutil.copy(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz", tmp_path / "v.nii.gz")
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom_CR1_6154.dcm")
    del ds.PixelData
    ds.save_as(tmp_path / "report.dcm")
    (tmp_path / "notes.txt").write_text("not an image")
    skipped: list = []
    found = find_inputs(tmp_path, skipped=skipped)
    assert [(Path(it.files[0]).name, it.kind) for it in found] == [("a.png", "image"), ("v.nii.gz", "nifti")]
    assert sorted(Path(p).name for p, _ in skipped) == ["notes.txt", "report.dcm"]
    # InputItem goes straight into the loader
    img = LoadMedicalImage()(found[1])
    assert isinstance(found[1], InputItem) and img.shape == (1, 117, 91, 20)


def test_16bit_rgb_tiff_palette_and_la(data_root, tmp_path):
    """Pillow would silently cut 16-bit RGB TIFF to 8 bits: the loader reads it through ITK instead."""
    import itk

    rgb8 = np.asarray(Image.open(data_root / "retina" / "skimage_retina.jpg"))[600:664, 600:680]
    rgb16 = (rgb8.astype(np.uint16) << 8) | rgb8
    itk.imwrite(itk.image_view_from_array(np.ascontiguousarray(rgb16), is_vector=True), str(tmp_path / "rgb16.tif"))
    img = LoadMedicalImage()(tmp_path / "rgb16.tif")
    assert img.meta["srgan_format"] == "tiff" and img.meta["srgan_dtype"] == "uint16"
    np.testing.assert_array_equal(img.numpy(), np.moveaxis(rgb16, -1, 0))
    grey = rgb8[..., 1]
    Image.fromarray(grey).convert("P").save(tmp_path / "pal.png")  # grey palette -> 1 channel
    Image.fromarray(rgb8).convert("P").save(tmp_path / "pal_rgb.png")  # colour palette -> RGB
    Image.fromarray(grey).convert("LA").save(tmp_path / "la.png")
    pal = LoadMedicalImage()(tmp_path / "pal.png")
    assert pal.shape == (1, 64, 80) and pal.meta["srgan_photometric"] == "P"
    np.testing.assert_array_equal(pal[0].numpy(), grey)
    assert LoadMedicalImage()(tmp_path / "pal_rgb.png").shape == (3, 64, 80)
    la = LoadMedicalImage()(tmp_path / "la.png")
    assert la.shape == (1, 64, 80) and la.meta["srgan_alpha_dropped"] is True
