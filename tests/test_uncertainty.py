"""The calibrated uncertainty map (issue 24): files beside each output, DICOM series labelled as a map, report
fields, and calibration on held-out images (test split of the shipped bundles, never used to fit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from PIL import Image
from pydicom.data import get_testdata_file

from monai_srgan.apps.cli import main
from monai_srgan.errors import ConfigError
from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.inference.uncertainty import (
    ErrorModel,
    calibration_path,
    estimate_uncertainty,
    load_error_model,
)
from monai_srgan.transforms import LoadMedicalImage
from monai_srgan.transforms.resize import imresize

ROOT = Path(__file__).resolve().parents[1]


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def test_png_output_gets_a_float32_tif_and_report_fields(tmp_path, data_root):
    inp = tmp_path / "in"
    inp.mkdir()
    Image.open(data_root / "cxr" / "nih_00009683_000.png").crop((300, 300, 396, 396)).save(inp / "c.png")
    out = tmp_path / "out"
    args = ["infer", str(inp), str(out), "--bundle", str(ROOT / "bundles" / "cxr_sr"), "--uncertainty", "--compare"]
    assert main([*args, "--no-progress"]) == 0
    row = json.loads((out / "srgan_report.json").read_text())["inputs"][0]
    tif = out / "c_x4_uncertainty.tif"
    assert row["uncertainty"] == str(tif) and (out / "c_x4_uncertainty.png").is_file()
    sigma = np.asarray(Image.open(tif))
    assert sigma.dtype == np.float32 and sigma.shape == (384, 384)
    assert (sigma > 0).all() and np.isclose(sigma.mean(), row["uncertainty_mean"], rtol=1e-4)
    assert 0.0 <= row["uncertainty_high_fraction"] <= 1.0
    assert "uncertainty_mean" in (out / "srgan_report.csv").read_text().splitlines()[0]


def test_dicom_output_gets_a_separate_series_labelled_as_a_map(tmp_path):
    src = Path(get_testdata_file("CT_small.dcm"))
    out = tmp_path / "out"
    args = ["infer", str(src), str(out), "--bundle", str(ROOT / "bundles" / "cxr_sr"), "--uncertainty"]
    assert main([*args, "--no-progress"]) == 0
    row = json.loads((out / "srgan_report.json").read_text())["inputs"][0]
    image = pydicom.dcmread(next(Path(row["output"]).glob("*.dcm")))
    umap = pydicom.dcmread(next(Path(row["uncertainty"]).glob("*.dcm")))
    assert Path(row["uncertainty"]).name == Path(row["output"]).name + "_uncertainty"
    assert list(umap.ImageType) == ["DERIVED", "SECONDARY", "UNCERTAINTY"]
    assert umap.SeriesInstanceUID != image.SeriesInstanceUID and umap.StudyInstanceUID == image.StudyInstanceUID
    assert "UNCERTAINTY" in umap.SeriesDescription and "not an image" in umap.ImageComments
    assert umap.PhotometricInterpretation == "MONOCHROME2" and umap.PixelRepresentation == 0
    assert (umap.Rows, umap.Columns) == (image.Rows, image.Columns)
    assert [float(v) for v in umap.PixelSpacing] == [float(v) for v in image.PixelSpacing]
    values = umap.pixel_array * float(umap.RescaleSlope) + float(umap.RescaleIntercept)
    assert np.isclose(values.mean(), row["uncertainty_mean"], rtol=1e-3)
    assert umap.SourceImageSequence[0].ReferencedSOPInstanceUID == pydicom.dcmread(src).SOPInstanceUID


def test_weights_without_calibration_stop_before_anything_runs(tmp_path, data_root):
    with pytest.raises(ConfigError, match="no calibrated uncertainty"):
        load_error_model(tmp_path / "w.pt")
    src = data_root / "volumes"
    out = tmp_path / "out"
    args = ["infer", str(src), str(out), "--bundle", str(ROOT / "bundles" / "ct_mr_sr_3d"), "--uncertainty"]
    assert main([*args, "--no-progress"]) == 2
    assert not (out / "srgan_report.json").exists()


def test_error_model_round_trips(tmp_path):
    m = ErrorModel(floor=0.01, coef={"gradient": 0.5, "residual": 0.2, "noise": 1.0, "tta": 0.0}, factor=0.9,
                   uses_tta=False)  # fmt: skip
    m.save(calibration_path(tmp_path / "w.pt"))
    assert load_error_model(tmp_path / "w.pt") == m


@pytest.mark.parametrize(
    ("bundle", "image", "box"),
    [
        ("cxr_sr", "cxr/nih_00009683_000.png", (256, 256, 768, 768)),
        ("retina_sr", "extra/retina/stare_im0005.ppm.gz", (100, 100, 500, 500)),
    ],
)
def test_calibrated_on_a_held_out_image(data_root, bundle, image, box):
    """A test-split image of each bundle (never used to fit): block Spearman >= 0.5, +-1.645 sigma covers ~90 %."""
    hr = LoadMedicalImage()(data_root / image)
    x0, y0, x1, y1 = box
    hr = hr[:, y0:y1, x0:x1].float() / 255.0
    lr = MetaTensor(imresize(hr.as_subclass(torch.Tensor), 0.25).clamp(0, 1))
    lr.meta.update(srgan_value_min=0.0, srgan_value_max=1.0, srgan_dtype="float32")
    pipe = SRInferencePipeline.from_bundle(ROOT / "bundles" / bundle, output_dtype="float32")
    sr = pipe.predict(lr)
    sigma = estimate_uncertainty(pipe, lr, sr, load_error_model(pipe.weights_path))[0].as_subclass(torch.Tensor)
    err = (sr.as_subclass(torch.Tensor) - hr.as_subclass(torch.Tensor)).pow(2).mean(0).sqrt()
    rho = _spearman(F.avg_pool2d(sigma[None, None], 8).flatten(), F.avg_pool2d(err[None, None], 8).flatten())
    cover = float((err <= 1.645 * sigma).float().mean())
    assert rho >= 0.5, rho
    assert 0.8 <= cover <= 0.99, cover
