"""Headers at the edges of real clinical data (issue 23, "headers"): every class checked on files built here.

NIfTI qform ≠ sform, scaled integer NIfTI, NIfTI in µm/m, gantry-tilted DICOM series to NIfTI, enhanced multi-frame
frame positions, a series with a missing slice, SpacingBetweenSlices contradicting the positions. Inputs are built
from the shared CT volume and ADC MR series (cropped small), so each case is a family, not one file.
"""

from __future__ import annotations

import copy
from pathlib import Path

import itk
import nibabel as nib
import numpy as np
import pydicom
import pytest
from _inference_helpers import NearestUp, save_nearest_torchscript
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from monai_srgan.errors import InputFileError
from monai_srgan.inference import SRInferencePipeline
from monai_srgan.inference.formats import sr_affine
from monai_srgan.io.writers import write_dicom_series

ADC = "dicom/dcmqi_701-ADCb500"


def _pipe(scale: int = 2) -> SRInferencePipeline:
    return SRInferencePipeline(NearestUp(scale), scale, spatial_dims=2, tile_size=512)


def _itk_affine(path: Path) -> np.ndarray:
    """The RAS affine ITK reads (direction · spacing, origin; LPS turned to RAS)."""
    im = itk.imread(str(path))
    a = np.eye(4)
    a[:3, :3] = np.asarray(itk.array_from_matrix(im.GetDirection())) @ np.diag(np.asarray(im.GetSpacing()))
    a[:3, 3] = np.asarray(im.GetOrigin())
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ a


def _ct_block(data_root: Path, shape=(24, 20, 6)) -> tuple[np.ndarray, np.ndarray]:
    """A block of the shared CT volume (int16) and its affine."""
    src = nib.load(str(data_root / "volumes" / "totalseg_example_ct.nii.gz"))
    start = np.array([40, 30, 50])
    d = np.asarray(src.dataobj)[tuple(slice(s, s + n) for s, n in zip(start, shape))].astype(np.int16)
    aff = src.affine.copy()
    aff[:3, 3] += aff[:3, :3] @ start
    return d, aff


def _write_sr(tmp_path: Path, src: Path, name: str = "out.nii.gz", scale: int = 2):
    pipe = _pipe(scale)
    sr = pipe.predict(str(src))
    return pipe.write(sr, tmp_path / name, "nifti"), sr


# ------------------------------------------------------------------------------------------------ NIfTI headers
@pytest.mark.parametrize("codes", [(1, 2), (2, 1), (1, 0), (0, 4)])
def test_nifti_qform_and_sform_each_kept_with_its_code(tmp_path, data_root, codes):
    d, aff = _ct_block(data_root)
    rot = np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]])
    q = aff.copy()
    q[:3, :3] = rot @ aff[:3, :3]  # a different rotation and origin in the qform
    q[:3, 3] += [7.0, -5.0, 9.0]
    img = nib.Nifti1Image(d, aff)
    img.set_qform(q, code=codes[0])
    img.set_sform(aff, code=codes[1])
    src = tmp_path / "qs.nii.gz"
    nib.save(img, str(src))
    out, _ = _write_sr(tmp_path, src)
    o, s = nib.load(str(out)).header, nib.load(str(src)).header
    assert (int(o["qform_code"]), int(o["sform_code"])) == codes
    scale = (2, 2, 1)
    np.testing.assert_allclose(o.get_qform(coded=False), sr_affine(s.get_qform(coded=False), d.shape, scale), atol=1e-4)
    np.testing.assert_allclose(o.get_sform(coded=False), sr_affine(s.get_sform(coded=False), d.shape, scale), atol=1e-4)
    np.testing.assert_allclose(o.get_zooms(), np.asarray(s.get_zooms()) / scale, rtol=1e-6)
    # both readers place the output where they place the source
    np.testing.assert_allclose(_itk_affine(out), sr_affine(_itk_affine(src), d.shape, scale), atol=1e-3)
    np.testing.assert_allclose(
        nib.load(str(out)).affine, sr_affine(nib.load(str(src)).affine, d.shape, scale), atol=1e-4
    )


@pytest.mark.parametrize("slope,inter", [(0.001, 0.0), (0.5, 0.0), (1.0, 0.25), (0.01, -3.0)])
def test_scaled_integer_nifti_keeps_its_real_values(tmp_path, data_root, slope, inter):
    d, aff = _ct_block(data_root)
    stored = (d - d.min()).astype(np.int16)
    img = nib.Nifti1Image(stored, aff)
    img.header.set_data_dtype(np.int16)
    img.header.set_slope_inter(slope, inter)
    src = tmp_path / "scaled.nii"
    nib.save(img, str(src))
    real = np.asarray(nib.load(str(src)).dataobj)
    assert len(np.unique(real)) > 50 and not np.allclose(real, np.round(real))  # the case: non-integer real values
    out, _ = _write_sr(tmp_path, src)
    got = np.asarray(nib.load(str(out)).dataobj)[::2, ::2, :]
    assert got.dtype.kind == "f"
    np.testing.assert_allclose(got, real, atol=0.01 * slope)  # within 1 % of a quantisation step
    np.testing.assert_array_equal(np.rint((got - inter) / slope), stored)  # every stored level comes back


@pytest.mark.parametrize("unit,per_mm", [("micron", 1000.0), ("meter", 0.001), ("mm", 1.0)])
def test_nifti_spatial_units_kept(tmp_path, data_root, unit, per_mm):
    d, aff_mm = _ct_block(data_root)
    aff = aff_mm.copy()
    aff[:3] *= per_mm  # the same geometry written in another unit
    img = nib.Nifti1Image(d, aff)
    img.header.set_xyzt_units(unit, "sec")
    src = tmp_path / f"{unit}.nii.gz"
    nib.save(img, str(src))
    sr = _pipe().predict(str(src))
    np.testing.assert_allclose(sr.meta["srgan_spacing"][:2], np.abs(np.diag(aff_mm))[:2] / 2, rtol=1e-5)  # in mm
    out = _pipe().write(sr, tmp_path / "out.nii.gz", "nifti")
    o = nib.load(str(out))
    assert o.header.get_xyzt_units() == (unit, "sec")
    np.testing.assert_allclose(o.affine, sr_affine(aff, d.shape, (2, 2, 1)), rtol=1e-6, atol=1e-6 * per_mm)
    np.testing.assert_allclose(_itk_affine(out), sr_affine(aff_mm, d.shape, (2, 2, 1)), atol=1e-3)  # ITK: mm


# ------------------------------------------------------------------------------------------------ DICOM series
def _series(
    data_root: Path,
    out: Path,
    n: int = 8,
    tilt_deg: float = 0.0,
    table_step: float = 3.0,
    drop: int | None = None,
    sbs: float | None = None,
    size: int = 32,
) -> Path:
    """A small axial series from the shared ADC slices: ``size``² pixels, gantry ``tilt_deg`` (image plane tilted
    about the x axis, table moving along z, so the slice step is not perpendicular to the plane), slice ``drop``
    left out, SpacingBetweenSlices ``sbs`` written."""
    files = sorted((data_root / ADC).glob("*.dcm"))[:n]
    out.mkdir()
    uid = generate_uid()
    t = np.deg2rad(tilt_deg)
    row, col = np.array([1.0, 0.0, 0.0]), np.array([0.0, np.cos(t), -np.sin(t)])
    for k, f in enumerate(files):
        if k == drop:
            continue
        ds = pydicom.dcmread(f)
        px = ds.pixel_array[112 : 112 + size, 112 : 112 + size].copy()
        ds.Rows = ds.Columns = size
        ds.PixelData = px.astype(px.dtype.newbyteorder("<")).tobytes()
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = generate_uid()
        ds.ImageOrientationPatient = [*row, *col]
        ds.ImagePositionPatient = [float(v) for v in np.array([-10.0, -20.0, 5.0]) + [0.0, 0.0, k * table_step]]
        ds.GantryDetectorTilt = tilt_deg
        if sbs is not None:
            ds.SpacingBetweenSlices = sbs
        elif "SpacingBetweenSlices" in ds:
            del ds.SpacingBetweenSlices
        ds.save_as(out / f.name)
    return out


def _dicom_world(ds: pydicom.Dataset, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """RAS world points of pixel (row i, column j) of a DICOM slice."""
    ipp, iop = np.asarray(ds.ImagePositionPatient, float), np.asarray(ds.ImageOrientationPatient, float)
    ps = np.asarray(ds.PixelSpacing, float)
    lps = ipp[:, None] + iop[3:, None] * ps[0] * i[None] + iop[:3, None] * ps[1] * j[None]
    return np.diag([-1.0, -1.0, 1.0]) @ lps


@pytest.mark.parametrize("tilt", [20.0, -12.0])
def test_tilted_series_as_nifti_placed_where_the_dicom_output_places_it(tmp_path, data_root, tilt):
    # the table step is chosen so that the in-plane shear is exactly 2 output pixels per slice: the resampled NIfTI
    # slice must then equal the DICOM output slice moved by 2k pixels, voxel for voxel
    ps_out = 0.7031 / 2
    step = 2 * ps_out / np.sin(np.deg2rad(abs(tilt)))
    src = _series(data_root, tmp_path / "tilted", tilt_deg=tilt, table_step=step)
    pipe = _pipe()
    sr = pipe.predict(str(src))
    dcm_dir = write_dicom_series(sr, dict(sr.meta), tmp_path / "dcm", scale=sr.meta["srgan_sr_scale"], model_name="t")
    dcm = sorted((pydicom.dcmread(p) for p in dcm_dir.iterdir()), key=lambda d: float(d.ImagePositionPatient[2]))
    out = pipe.write(sr, tmp_path / "tilted.nii.gz", "nifti")
    img = nib.load(str(out))
    vol = np.asarray(img.dataobj)
    nib_aff, itk_aff = img.affine, _itk_affine(out)
    np.testing.assert_allclose(itk_aff, nib_aff, atol=1e-3)  # one geometry for both readers: no shear, no rotation
    assert int(img.header["qform_code"]) == int(img.header["sform_code"]) == 1
    np.testing.assert_allclose(img.header.get_qform(), img.header.get_sform(), atol=1e-4)
    n_rows, n_cols, n_sl = vol.shape
    ii, jj = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    for k, ds in enumerate(dcm):
        # every NIfTI voxel centre of slice k lies in the plane of DICOM output slice k ...
        world = (nib_aff @ np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k), np.ones(ii.size)]))[:3]
        normal = np.diag([-1.0, -1.0, 1.0]) @ np.cross(
            np.asarray(ds.ImageOrientationPatient[:3], float), np.asarray(ds.ImageOrientationPatient[3:], float)
        )
        origin = _dicom_world(ds, np.array([0.0]), np.array([0.0]))[:, 0]
        assert np.abs(normal @ (world - origin[:, None])).max() < 1e-3
        # ... and holds the value the DICOM output has at that world point (an exact 2k-pixel move here)
        lps = np.diag([-1.0, -1.0, 1.0]) @ (world - origin[:, None])
        iop = np.asarray(ds.ImageOrientationPatient, float)
        r = (iop[3:] @ lps) / float(ds.PixelSpacing[0])
        c = (iop[:3] @ lps) / float(ds.PixelSpacing[1])
        assert np.allclose(r, np.round(r), atol=1e-3) and np.allclose(c, np.round(c), atol=1e-3)
        r, c = np.round(r).astype(int), np.round(c).astype(int)
        inside = (r >= 0) & (r < n_rows) & (c >= 0) & (c < n_cols)
        assert inside.mean() > 0.5
        got = vol[..., k].ravel()[inside]
        np.testing.assert_allclose(got, ds.pixel_array[r[inside], c[inside]], atol=0.5)


def test_tilted_series_any_angle_keeps_the_volume(tmp_path, data_root):
    src = _series(data_root, tmp_path / "tilted", tilt_deg=20.0, table_step=3.0)
    out, sr = _write_sr(tmp_path, src)
    img = nib.load(str(out))
    np.testing.assert_allclose(_itk_affine(out), img.affine, atol=1e-3)
    cols = img.affine[:3, :3]
    np.testing.assert_allclose(cols.T @ cols, np.diag(np.diag(cols.T @ cols)), atol=1e-6)  # orthogonal
    np.testing.assert_allclose(np.linalg.norm(cols[:, 2]), 3.0 * np.cos(np.deg2rad(20.0)), rtol=1e-4)  # plane step
    vol, ref = np.asarray(img.dataobj), sr.as_tensor().numpy()[0]
    np.testing.assert_array_equal(vol[..., 0], ref[..., 0])  # the first slice is not moved
    assert vol.min() >= ref.min() and vol.max() <= ref.max()


def test_untilted_series_as_nifti_is_not_resampled(tmp_path, data_root):
    src = _series(data_root, tmp_path / "axial")
    out, sr = _write_sr(tmp_path, src)
    np.testing.assert_array_equal(np.asarray(nib.load(str(out)).dataobj), sr.as_tensor().numpy()[0])
    np.testing.assert_allclose(nib.load(str(out)).affine, np.asarray(sr.affine), atol=1e-5)


@pytest.mark.parametrize("drop", [1, 4])
def test_series_with_a_missing_slice_refused_as_nifti_and_by_a_3d_model(tmp_path, data_root, drop):
    src = _series(data_root, tmp_path / "gap", drop=drop)
    pipe = _pipe()
    sr = pipe.predict(str(src))
    assert any("not evenly spaced" in w for w in sr.meta["srgan_warnings"])
    with pytest.raises(InputFileError, match="not evenly spaced.*--format dicom") as err:
        pipe.write(sr, tmp_path / "gap.nii.gz", "nifti")
    assert err.value.path == str(src)
    assert not (tmp_path / "gap.nii.gz").exists()
    write_dicom_series(sr, dict(sr.meta), tmp_path / "dcm", scale=sr.meta["srgan_sr_scale"], model_name="t")  # fine
    from monai_srgan.networks import MSRResNet

    net = MSRResNet(3, 1, 1, scale=(1, 1, 2), num_feat=4, num_blocks=1)
    with pytest.raises(InputFileError, match="not evenly spaced.*3D model"):
        SRInferencePipeline(net, (1, 1, 2), tile_size=[32, 32, 8]).predict(str(src))


def test_spacing_between_slices_contradicting_positions_warns_and_positions_win(tmp_path, data_root):
    src = _series(data_root, tmp_path / "sbs", table_step=3.0, sbs=5.0)
    sr = _pipe().predict(str(src))
    assert sr.meta["srgan_spacing"][2] == pytest.approx(3.0, rel=1e-6)
    assert abs(float(sr.affine[2, 2])) == pytest.approx(3.0, rel=1e-6)
    assert any("SpacingBetweenSlices 5 mm contradicts" in w for w in sr.meta["srgan_warnings"])
    agree = _pipe().predict(str(_series(data_root, tmp_path / "ok", table_step=3.0, sbs=3.0)))
    assert not any("SpacingBetweenSlices" in w for w in agree.meta["srgan_warnings"])


def test_cli_report_rows_name_the_refusal_and_the_warning(tmp_path, data_root):
    import json

    from monai_srgan.apps.cli import main

    inp = tmp_path / "in"
    inp.mkdir()
    _series(data_root, inp / "gap", drop=3)
    _series(data_root, inp / "sbs", sbs=5.0)
    model = save_nearest_torchscript(tmp_path / "nearest.pt")
    out = tmp_path / "out"
    main(["infer", str(inp), str(out), "--model", str(model), "--no-progress", "--format", "nifti"])
    rows = {Path(r["input"]).name: r for r in json.loads((out / "srgan_report.json").read_text())["inputs"]}
    assert rows["gap"]["status"] == "failed"
    assert "not evenly spaced" in rows["gap"]["error"] and "--format dicom" in rows["gap"]["error"]
    assert rows["sbs"]["status"] == "ok"
    assert "SpacingBetweenSlices 5 mm contradicts the slice positions" in rows["sbs"]["warnings"]


# ------------------------------------------------------------------------------------------ enhanced multi-frame
def _enhanced(data_root: Path, path: Path, spacing=(0.7031, 0.6), shared_measures: bool = True) -> Path:
    """An enhanced MR multi-frame object from the ADC slices: oblique orientation, one position per frame."""
    srcs = [pydicom.dcmread(f) for f in sorted((data_root / ADC).glob("*.dcm"))]
    normal = np.cross(*np.reshape([float(v) for v in srcs[0].ImageOrientationPatient], (2, 3)))
    srcs.sort(key=lambda s: float(np.asarray(s.ImagePositionPatient, float) @ normal))  # frames in geometric order
    srcs = srcs[:5]
    ds = copy.deepcopy(srcs[0])
    frames = np.stack([s.pixel_array[100:140, 96:132] for s in srcs])
    for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceLocation", "SliceThickness"):
        if kw in ds:
            delattr(ds, kw)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"  # Enhanced MR Image Storage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.NumberOfFrames, ds.Rows, ds.Columns = len(srcs), frames.shape[1], frames.shape[2]
    ds.PixelData = frames.astype(frames.dtype.newbyteorder("<")).tobytes()
    iop = [float(v) for v in srcs[0].ImageOrientationPatient]
    measures = Dataset()
    measures.PixelSpacing = list(spacing)
    measures.SliceThickness = 3.0
    orient = Dataset()
    orient.ImageOrientationPatient = iop
    shared = Dataset()
    shared.PlaneOrientationSequence = DicomSequence([orient])
    if shared_measures:
        shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per = []
    for s in srcs:
        g, pos = Dataset(), Dataset()
        pos.ImagePositionPatient = [float(v) for v in s.ImagePositionPatient]
        g.PlanePositionSequence = DicomSequence([pos])
        if not shared_measures:
            g.PixelMeasuresSequence = DicomSequence([copy.deepcopy(measures)])
        per.append(g)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    ds.save_as(path)
    return path


def _frame_affine(ipp, iop, ps) -> np.ndarray:
    """LPS affine of one frame (rows, columns) as :func:`sr_affine` takes it."""
    a = np.eye(4)
    a[:3, 0] = np.asarray(iop[3:]) * ps[0]
    a[:3, 1] = np.asarray(iop[:3]) * ps[1]
    a[:3, 2] = np.cross(iop[:3], iop[3:])
    a[:3, 3] = ipp
    return a


@pytest.mark.parametrize("shared_measures", [True, False])
@pytest.mark.parametrize("scale", [2, 4])
def test_enhanced_multiframe_frame_positions_follow_sr_affine(tmp_path, data_root, shared_measures, scale):
    spacing = (0.7031, 0.6)  # anisotropic, so rows and columns cannot be swapped unnoticed
    src = _enhanced(data_root, tmp_path / "enh.dcm", spacing, shared_measures)
    pipe = _pipe(scale)
    sr = pipe.predict(str(src))
    out = write_dicom_series(sr, dict(sr.meta), tmp_path / "out", scale=sr.meta["srgan_sr_scale"], model_name="t")
    o = pydicom.dcmread(next(out.iterdir()))
    s = pydicom.dcmread(src)
    iop = [float(v) for v in s.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient]
    for g_in, g_out in zip(s.PerFrameFunctionalGroupsSequence, o.PerFrameFunctionalGroupsSequence):
        ipp = [float(v) for v in g_in.PlanePositionSequence[0].ImagePositionPatient]
        want = sr_affine(_frame_affine(ipp, iop, spacing), (s.Rows, s.Columns, 1), (scale, scale, 1))
        got = [float(v) for v in g_out.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(got, np.asarray(want)[:3, 3], atol=1e-4)
    groups = [o.SharedFunctionalGroupsSequence[0]] if shared_measures else list(o.PerFrameFunctionalGroupsSequence)
    for g in groups:
        np.testing.assert_allclose(
            [float(v) for v in g.PixelMeasuresSequence[0].PixelSpacing], np.asarray(spacing) / scale, rtol=1e-5
        )
    # the reader places the frames by their positions: the affine's slice step is the frames' step
    pos = [
        [float(v) for v in g.PlanePositionSequence[0].ImagePositionPatient] for g in s.PerFrameFunctionalGroupsSequence
    ]
    step_lps = np.diag([-1.0, -1.0, 1.0]) @ np.asarray(sr.affine)[:3, 2]
    np.testing.assert_allclose(step_lps, np.diff(pos, axis=0).mean(axis=0), atol=1e-3)
    assert float(sr.meta["srgan_slice_grid_error_mm"]) < 0.05
