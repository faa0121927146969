"""The value domain of inputs and outputs (issue 23): normalisation from what the data hold, outputs inside the
source's real-value range, flat regions kept flat, and the report saying how much was clamped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from monai.data import MetaTensor
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from torch import nn

from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.transforms.io import LoadMedicalImage

ROOT = Path(__file__).resolve().parents[1]


class RingingUp(nn.Module):
    """Nearest ×scale plus a ±0.2 checkerboard: a generator that overshoots everywhere and invents texture."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale, self.receptive_field = scale, 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.interpolate(x, scale_factor=float(self.scale), mode="nearest")
        h, w = y.shape[-2:]
        checker = (torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 * 0.4 - 0.2
        return y + checker.to(y)


def _signed_series(folder: Path, values: list[np.ndarray], mono1: bool = False) -> Path:
    """A multi-file MR series stored as signed 16-bit (PixelRepresentation 1), one array per slice."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = generate_uid()
    for i, arr in enumerate(values):
        ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.ImagePositionPatient, ds.InstanceNumber = [0.0, 0.0, 5.0 * i], i + 1
        ds.Rows, ds.Columns = arr.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
        ds.PixelData = arr.astype("<i2").tobytes()
        ds.save_as(folder / f"s{i}.dcm")
    return folder


def _adc_like(rng: np.random.Generator, n: int = 3, size: int = 24) -> list[np.ndarray]:
    """0..4095 maps with a zero background around a disc, different maximum per slice."""
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    return [np.where(disc, rng.integers(500, 1000 + 1500 * k, (size, size)), 0) for k in range(n)]


def test_signed_series_normalised_over_its_data_range_identically_for_every_slice(tmp_path):
    rng = np.random.default_rng(0)
    slices = _adc_like(rng)
    img = LoadMedicalImage()(_signed_series(tmp_path / "adc", slices))
    lo, hi = img.meta["srgan_value_min"], img.meta["srgan_value_max"]
    assert (lo, hi) == (0.0, float(max(s.max() for s in slices)))  # the series' range, not -32768..32767
    # one map for the whole series: each slice's normalised values are the same affine function of its values
    pipe = SRInferencePipeline(RingingUp(), 2)
    x, params = pipe._normalize(img)
    np.testing.assert_allclose(x[0].numpy(), (img[0].numpy() - lo) / (hi - lo), rtol=1e-6, atol=1e-7)


def test_monochrome1_signed_series_inverts_alike_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    slices = _adc_like(rng)
    src = _signed_series(tmp_path / "m1", slices, mono1=True)
    img = LoadMedicalImage()(src)
    for k, s in enumerate(slices):  # negation: the same mirror for every slice, whatever its own range
        np.testing.assert_array_equal(img[0, ..., k].numpy(), -s.astype(np.float32))
    pipe = SRInferencePipeline(RingingUp(), 2, keep_flat=False)
    out = tmp_path / "out"
    out.mkdir()
    pipe.write(pipe.predict(src), out / "sr", "dicom")
    written = sorted(out.rglob("*.dcm"))
    stored = np.stack([pydicom.dcmread(f).pixel_array for f in written])
    assert stored.min() >= 0 and stored.max() <= max(s.max() for s in slices)


def test_real_adc_series_output_inside_source_range_and_background_flat(data_root):
    """The shared ADC series (0..4095 stored as int16) through the shipped cxr_sr: was -1186..5380 on main."""
    src = data_root / "dicom" / "dcmqi_701-ADCb500"
    img = LoadMedicalImage()(src)
    assert img.meta["srgan_value_min"] == 0.0 and img.meta["srgan_value_max"] == float(img.max())
    pipe = SRInferencePipeline.from_bundle(ROOT / "bundles" / "cxr_sr", tile_size=128)
    sub = MetaTensor(img[..., 8:10].clone(), meta=dict(img.meta))  # two slices keep the test short
    sr = pipe.predict(sub).float()
    assert float(sr.min()) >= 0.0 and float(sr.max()) <= float(img.max())
    # interior of the zero background (LR neighbourhood exactly 0) is exactly 0 in the output
    zero = torch.nn.functional.max_pool2d(sub[0].permute(2, 0, 1).abs()[None], 3, 1, 1)[0] == 0
    up = zero.repeat_interleave(4, 1).repeat_interleave(4, 2).permute(1, 2, 0)
    assert int(up.sum()) > 0 and float(sr[0][up].abs().max()) == 0.0
    assert sr.meta["srgan_flat_fraction"] >= float(up.float().mean()) - 1e-6


def test_clamp_and_flat_rules_with_a_ringing_model_and_turning_them_off():
    x = torch.zeros(1, 16, 16)
    x[:, 4:12, 4:12] = torch.linspace(10.0, 200.0, 64).reshape(8, 8)
    img = MetaTensor(x, meta={"srgan_value_min": 0.0, "srgan_value_max": 255.0, "srgan_dtype": "float32"})
    on = SRInferencePipeline(RingingUp(), 2, output_dtype="float32").predict(img)
    assert float(on.min()) >= 0.0 and float(on.max()) <= 200.0  # the source's data range
    assert 0.0 < on.meta["srgan_clamped_fraction"] < 1.0
    flat = torch.zeros(16, 16, dtype=torch.bool)
    flat[:3, :] = True  # rows 0..2 have an all-zero 3x3 neighbourhood
    assert float(on[0][flat.repeat_interleave(2, 0).repeat_interleave(2, 1)].abs().max()) == 0.0
    off = SRInferencePipeline(RingingUp(), 2, output_dtype="float32", clamp="range", keep_flat=False).predict(img)
    assert float(off.max()) > 200.0 and float(off[0, :6].abs().max()) > 0.0  # the model's overshoot and texture
    assert off.meta["srgan_flat_fraction"] == 0.0


def test_int16_nifti_normalised_over_its_data_range(tmp_path):
    arr = np.zeros((20, 20, 3), np.int16)
    arr[5:15, 5:15] = 3000
    nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / "v.nii.gz")
    img = LoadMedicalImage()(tmp_path / "v.nii.gz")
    assert (img.meta["srgan_value_min"], img.meta["srgan_value_max"]) == (0.0, 3000.0)


def test_cli_report_rows_carry_the_clamped_fraction_and_no_clamp_option(tmp_path):
    rng = np.random.default_rng(2)
    src = _signed_series(tmp_path / "in" / "adc", _adc_like(rng, n=2, size=16))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "monai_srgan.apps.cli", "infer", str(src), str(out), "--bundle"]
    cmd += [str(ROOT / "bundles" / "cxr_sr"), "--no-progress"]
    subprocess.run(cmd, check=True, capture_output=True)
    row = json.loads((out / "srgan_report.json").read_text())["inputs"][0]
    assert row["status"] == "ok" and 0.0 <= row["clamped_fraction"] < 1.0 and row["flat_fraction"] > 0.0
    csv_head = (out / "srgan_report.csv").read_text().splitlines()[0]
    assert "clamped_fraction" in csv_head
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([*cmd, "--clamp", "nonsense"], check=True, capture_output=True)


def test_16bit_png_normalised_over_the_bits_its_data_use(tmp_path):
    """12-bit detector data in a 16-bit PNG: 0..4095 (as BitsStored would say), not 0..65535; written back as is."""
    from _inference_helpers import NearestUp
    from PIL import Image

    rng = np.random.default_rng(3)
    arr = rng.integers(0, 4096, (24, 32)).astype(np.uint16)
    arr[0, 0] = 4095
    Image.fromarray(arr).save(tmp_path / "r12.png")
    img = LoadMedicalImage()(tmp_path / "r12.png")
    assert (img.meta["srgan_value_min"], img.meta["srgan_value_max"], img.meta["srgan_bits"]) == (0.0, 4095.0, 12)
    Image.fromarray((arr // 16).astype(np.uint16)).save(tmp_path / "r8.png")  # 8-bit data in a 16-bit file
    assert LoadMedicalImage()(tmp_path / "r8.png").meta["srgan_value_max"] == 255.0
    pipe = SRInferencePipeline(NearestUp(2), 2)
    out = pipe.write(pipe.predict(tmp_path / "r12.png"), tmp_path / "sr.png", "png")
    back = np.asarray(Image.open(out))
    assert back.dtype == np.uint16 and np.array_equal(back[::2, ::2], arr)
