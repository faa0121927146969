"""Derived DICOM series through the CLI on real files: MONOCHROME1 JPEG 2000 CR chest, DX chest, MR series.

The model is an exact nearest-neighbour ×2 upsampler, so the stored pixels of the SR series, sampled every 2nd
pixel, must equal the source's stored pixels exactly (the full value-domain round trip: Modality LUT, MONOCHROME1
inversion, normalisation and their inverses).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _inference_helpers import save_nearest_torchscript
from pydicom.uid import ExplicitVRLittleEndian

from monai_srgan.apps.cli import main
from monai_srgan.io.dicom_values import values_to_stored
from monai_srgan.io.writers.dicom import DEFAULT_NOTE

SCALE = 2
SAME_TAGS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDate",
    "AccessionNumber",
    "Modality",
    "SOPClassUID",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "SamplesPerPixel",
    "RescaleSlope",
    "RescaleIntercept",
    "WindowCenter",
    "WindowWidth",
    "ImageOrientationPatient",
    "FrameOfReferenceUID",
    "SliceThickness",
    "SpacingBetweenSlices",
    "SliceLocation",
    "InstanceNumber",
)


@pytest.fixture(scope="module")
def dicom_run(tmp_path_factory, data_root):
    """One CLI run over a folder holding the CR chest (MONOCHROME1, J2K), the DX chest and the MR series."""
    root = tmp_path_factory.mktemp("dicomrun")
    inp = root / "in"
    inp.mkdir()
    d = data_root / "dicom"
    for name in ("wg04_RG1_J2KR.dcm", "pydicom-issue966_966_fixed.dcm"):
        os.symlink(d / name, inp / name)
    shutil.copytree(d / "dcmqi_701-ADCb500", inp / "mr")  # rglob does not follow folder links
    model = save_nearest_torchscript(root / "nearest_x2.ts", SCALE)
    out = root / "out"
    args = ["--tile-size", "768", "--no-progress", "--follow-links"]  # the links lead out of the input on purpose
    rc = main(["infer", str(inp), str(out), "--model", str(model), *args])
    return rc, inp, out


def _outputs_by_source(out: Path) -> dict[str, Path]:
    """source SOPInstanceUID -> output file."""
    res = {}
    for f in sorted(out.rglob("*.dcm")):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        for item in ds.SourceImageSequence:
            res[str(item.ReferencedSOPInstanceUID)] = f
    return res


def _check_common(src: pydicom.Dataset, o: pydicom.Dataset, out_file: Path) -> None:
    for kw in SAME_TAGS:
        if kw in src:
            assert kw in o, kw
            assert o[kw].value == src[kw].value, kw
    assert o.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert o.file_meta.MediaStorageSOPInstanceUID == o.SOPInstanceUID
    assert o.file_meta.MediaStorageSOPClassUID == src.SOPClassUID
    assert o.SOPInstanceUID != src.SOPInstanceUID
    assert o.SeriesInstanceUID != src.SeriesInstanceUID
    assert int(o.SeriesNumber) != int(src.get("SeriesNumber", -1) or -1)
    assert list(o.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert "nearest-x2" in o.DerivationDescription and "x2" in o.DerivationDescription
    assert o.SeriesDescription.endswith("SR x2")
    assert o.ImageComments == DEFAULT_NOTE
    # BurnedInAnnotation only as the source states it; the derivation is described by CID 7203 "Spatial resampling"
    assert o.get("BurnedInAnnotation") == src.get("BurnedInAnnotation")
    assert [(c.CodeValue, c.CodingSchemeDesignator) for c in o.DerivationCodeSequence] == [("113085", "DCM")]
    assert len(o.SourceImageSequence) == 1
    ref = o.SourceImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert ref.ReferencedSOPClassUID == src.SOPClassUID
    assert (o.Rows, o.Columns) == (src.Rows * SCALE, src.Columns * SCALE)
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        if kw in src and all(float(v) > 0 for v in src[kw].value):
            np.testing.assert_allclose([float(v) for v in o[kw].value], [float(v) / SCALE for v in src[kw].value])
        elif kw in src:  # invalid source value (the CR's PixelSpacing is 0\0): omitted, never passed on
            assert kw not in o
    assert not any(e.tag.is_private for e in o)
    assert "NumberOfFrames" not in o and "LargestImagePixelValue" not in o
    assert out_file.name.startswith("IM") and src.PatientID not in str(out_file) if "PatientID" in src else True


def test_cli_run_succeeds_and_reports(dicom_run):
    rc, inp, out = dicom_run
    assert rc == 0
    import json

    report = json.loads((out / "srgan_report.json").read_text())
    assert report["summary"]["ok"] == 3
    assert {r["status"] for r in report["inputs"]} == {"ok"}
    # never written inside the input, no temporary leftovers
    assert sorted(p.name for p in inp.iterdir()) == ["mr", "pydicom-issue966_966_fixed.dcm", "wg04_RG1_J2KR.dcm"]
    assert not [p for p in out.rglob("*") if ".srgan-tmp-" in p.name]


@pytest.mark.parametrize("name", ["wg04_RG1_J2KR.dcm", "pydicom-issue966_966_fixed.dcm"])
def test_radiograph_tags_and_pixels(dicom_run, data_root, name):
    """CR chest (MONOCHROME1, 15-bit, JPEG 2000) and DX chest (MONOCHROME1, 12-bit, J2K): tags and stored pixels."""
    _, _, out = dicom_run
    src = pydicom.dcmread(data_root / "dicom" / name)
    assert src.PhotometricInterpretation == "MONOCHROME1"
    files = _outputs_by_source(out)
    out_file = files[str(src.SOPInstanceUID)]
    assert len(list(out_file.parent.iterdir())) == 1
    o = pydicom.dcmread(out_file)
    _check_common(src, o, out_file)
    assert o.PhotometricInterpretation == "MONOCHROME1"  # kept, and the pixels re-inverted to match it
    sr = o.pixel_array
    lr = src.pixel_array
    assert sr.dtype == lr.dtype and sr.shape == (lr.shape[0] * SCALE, lr.shape[1] * SCALE)
    np.testing.assert_array_equal(sr[::SCALE, ::SCALE], lr)  # stored-value domain round trip is exact
    assert int(sr.max()) <= 2 ** int(src.BitsStored) - 1
    # a 2x2 box average of the SR output is the source again (SR "downsampled back" approximates the source)
    box = sr.reshape(lr.shape[0], SCALE, lr.shape[1], SCALE).astype(np.float64).mean(axis=(1, 3))
    np.testing.assert_allclose(box, lr, atol=0.5)


def test_mr_series_geometry_and_pixels(dicom_run, data_root):
    _, _, out = dicom_run
    src_dir = data_root / "dicom" / "dcmqi_701-ADCb500"
    srcs = {str(ds.SOPInstanceUID): ds for ds in (pydicom.dcmread(f) for f in sorted(src_dir.glob("*.dcm")))}
    files = _outputs_by_source(out)
    mr_files = {uid: files[uid] for uid in srcs}
    folders = {f.parent for f in mr_files.values()}
    assert len(folders) == 1 and len(list(next(iter(folders)).iterdir())) == 20
    series_uids, sop_uids = set(), set()
    for uid, src in srcs.items():
        o = pydicom.dcmread(mr_files[uid])
        _check_common(src, o, mr_files[uid])
        series_uids.add(o.SeriesInstanceUID)
        sop_uids.add(o.SOPInstanceUID)
        # first pixel centre moves by (1/s - 1)/2 source pixels along the row and the column direction
        iop = np.array([float(v) for v in src.ImageOrientationPatient])
        ps = [float(v) for v in src.PixelSpacing]
        shift = (1.0 / SCALE - 1.0) / 2.0
        expect = np.array([float(v) for v in src.ImagePositionPatient]) + shift * (ps[1] * iop[:3] + ps[0] * iop[3:])
        np.testing.assert_allclose([float(v) for v in o.ImagePositionPatient], expect, atol=1e-4)
        np.testing.assert_array_equal(o.pixel_array[::SCALE, ::SCALE], src.pixel_array)
        assert o.pixel_array.dtype == np.int16  # signed 16-bit kept
    assert len(series_uids) == 1 and len(sop_uids) == 20


def test_mr_series_opens_in_itk_with_corrected_geometry(dicom_run, data_root):
    import itk

    _, _, out = dicom_run
    files = _outputs_by_source(out)
    src_dir = data_root / "dicom" / "dcmqi_701-ADCb500"
    first_src = pydicom.dcmread(sorted(src_dir.glob("*.dcm"))[0], stop_before_pixels=True)
    folder = files[str(first_src.SOPInstanceUID)].parent

    def read(d):
        names = itk.GDCMSeriesFileNames.New(Directory=str(d))
        return itk.imread(names.GetInputFileNames())

    sr_img, lr_img = read(folder), read(src_dir)
    assert tuple(itk.size(sr_img)) == (512, 512, 20)
    np.testing.assert_allclose(np.array(itk.spacing(sr_img))[:2], np.array(itk.spacing(lr_img))[:2] / SCALE, rtol=1e-5)
    np.testing.assert_allclose(itk.spacing(sr_img)[2], itk.spacing(lr_img)[2], rtol=1e-4)
    np.testing.assert_allclose(np.array(sr_img.GetDirection()), np.array(lr_img.GetDirection()), atol=1e-6)
    sr_arr, lr_arr = itk.array_view_from_image(sr_img), itk.array_view_from_image(lr_img)
    np.testing.assert_array_equal(sr_arr[:, ::SCALE, ::SCALE], lr_arr)
    # the SR voxel grid covers the same field of view: its first voxel centre is a quarter LR pixel inside
    lr_origin = np.array(lr_img.GetOrigin())
    lr_index_of_sr_origin = np.array(lr_img.TransformPhysicalPointToContinuousIndex(sr_img.GetOrigin()))
    np.testing.assert_allclose(lr_index_of_sr_origin, [-0.25, -0.25, 0.0], atol=1e-3)
    assert lr_origin.shape == (3,)


def test_radiograph_opens_in_itk(dicom_run, data_root):
    import itk

    _, _, out = dicom_run
    src = pydicom.dcmread(data_root / "dicom" / "pydicom-issue966_966_fixed.dcm", stop_before_pixels=True)
    f = _outputs_by_source(out)[str(src.SOPInstanceUID)]
    img = itk.imread(str(f))
    assert tuple(itk.size(img))[:2] == (src.Columns * SCALE, src.Rows * SCALE)
    np.testing.assert_allclose(np.array(itk.spacing(img))[:2], [float(src.PixelSpacing[0]) / SCALE] * 2, rtol=1e-5)


def test_values_to_stored_inverts_loader_semantics():
    """MONOCHROME1 + Modality LUT + clipping to BitsStored, signed container."""
    stored = np.array([0, 100, 4095])
    slope, icpt, lo, hi = 0.5, -10.0, -10.0, 4095 * 0.5 - 10.0
    values = stored * slope + icpt
    values = lo + hi - values  # the loader's MONOCHROME1 inversion
    back = values_to_stored(
        values, bits_stored=12, bits_allocated=16, pixel_representation=0, slope=slope, intercept=icpt,
        inverted=True, value_min=lo, value_max=hi,
    )  # fmt: skip
    np.testing.assert_array_equal(back, stored)
    assert back.dtype == np.uint16
    clipped = values_to_stored(np.array([-5000.0, 5000.0, np.nan]), bits_stored=12, bits_allocated=16,
                               pixel_representation=1)  # fmt: skip
    np.testing.assert_array_equal(clipped, [-2048, 2047, -2048])
    assert clipped.dtype == np.int16
