"""Tests of monai_srgan.transforms.intensity: exact inverses on real 16-bit data, composition, batches, statistics."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch
from monai.data import DataLoader, Dataset, MetaTensor, decollate_batch
from PIL import Image

from monai_srgan.errors import ConfigError
from monai_srgan.transforms.intensity import (
    PercentileScale,
    ScaleToUnitRange,
    ScaleToUnitRangeD,
    ScaleToUnitRanged,
    WindowScale,
    ZScoreNormalize,
    ZScoreNormalized,
    compute_dataset_stats,
    invert_normalization,
)
from monai_srgan.transforms.io import LoadMedicalImage

try:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
except ImportError:  # pydicom 2.x
    from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut


@pytest.fixture(scope="module")
def png16(data_root, tmp_path_factory):
    """A real 16-bit PNG: a 10-bit CR hip (every 8th pixel) spread over the 16-bit range (top and bottom bits used)."""
    ds = pydicom.dcmread(data_root / "dicom" / "wg04_RG2_RLE.dcm")
    crop = ds.pixel_array[::8, ::8].astype(np.uint16)
    arr = (crop << 6) | (crop & 0x3F)
    assert arr.max() > 40000 and arr.min() < 100
    path = tmp_path_factory.mktemp("png16") / "cr16.png"
    Image.fromarray(arr).save(path)
    return path, arr


@pytest.mark.parametrize(
    "make",
    [
        lambda: ScaleToUnitRange(),
        lambda: ScaleToUnitRange(out_range=(-1.0, 1.0)),
        lambda: ZScoreNormalize(mean=31000.0, std=9000.0),
        lambda: ZScoreNormalize(),
        lambda: PercentileScale(1, 99),
    ],
)
def test_16bit_png_round_trip_is_bit_exact(png16, make):
    path, arr = png16
    img = LoadMedicalImage()(path)
    assert img.meta["srgan_dtype"] == "uint16"
    t = make()
    y = t(img)
    assert y.dtype == torch.float32 and "srgan_norm" in y.meta
    back = invert_normalization(y, y.meta, dtype=True)
    np.testing.assert_array_equal(back[0].numpy().astype(np.uint16), arr)
    inv = t.inverse(y)  # MONAI InvertibleTransform path
    np.testing.assert_array_equal(inv[0].round().numpy().astype(np.uint16), arr)
    assert "srgan_norm" not in inv.meta


def test_unit_range_values(png16):
    img = LoadMedicalImage()(png16[0])
    y = ScaleToUnitRange()(img)
    assert y.meta["srgan_norm"] == {"kind": "unit", "scale": pytest.approx(1 / 65535), "offset": 0.0}
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0
    y2 = ScaleToUnitRange(out_range=(-1, 1))(img)
    torch.testing.assert_close(y2, y * 2 - 1, atol=1e-6, rtol=0)


def test_16bit_dicom_round_trips_are_bit_exact(data_root):
    """Signed 16-bit MR (ADC) and CT with intercept -1024: normalise -> invert -> round gives the stored values back."""
    ct = LoadMedicalImage()(data_root / "dicom" / "dcmqi_ct-3slice")
    mr = LoadMedicalImage()(data_root / "dicom" / "dcmqi_701-ADCb500")
    for vol in (ct, mr):
        assert vol.meta["srgan_dtype"] == "int16" and vol.meta["srgan_bits"] == 16
        for t in (ScaleToUnitRange(), ScaleToUnitRange(out_range=(-1, 1)), ZScoreNormalize(), PercentileScale()):
            y = t(vol)
            back = invert_normalization(y, y.meta, dtype=True)
            assert torch.equal(back, vol.as_tensor()), type(t).__name__
    first = pydicom.dcmread(ct.meta["srgan_source_files"][0])
    y = ScaleToUnitRange()(ct)
    stored = (invert_normalization(y, y.meta, dtype=True)[0, :, :, 0] - ct.meta["srgan_rescale_intercept"]).numpy()
    np.testing.assert_array_equal(stored.astype(np.int16), first.pixel_array)


def test_window_scale_matches_pydicom_voi_display(data_root):
    path = data_root / "dicom" / "pydicom_CR1_6154.dcm"  # MONOCHROME1, slope 0.684, window 1600/2800
    img = LoadMedicalImage()(path)
    y = WindowScale()(img)
    ds = pydicom.dcmread(path)
    voi = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds).astype(np.float64), ds)
    lo, hi = 0 * 0.684 + 200, 4095 * 0.684 + 200
    expected = 1.0 - (voi - lo) / (hi - lo)  # pydicom's window output, then MONOCHROME1 inverted
    np.testing.assert_allclose(y[0].numpy(), expected, atol=1e-5)
    # explicit window, inside which the inverse is exact
    y = WindowScale(center=1500.0, width=3000.0)(img)
    inside = (img > 10) & (img < 2990)
    back = invert_normalization(y, y.meta)
    torch.testing.assert_close(back[inside], img.as_tensor()[inside], atol=1e-3, rtol=0)
    with pytest.raises(ConfigError, match="center"):
        WindowScale()(LoadMedicalImage()(data_root / "cxr" / "mhh_2168a917.png"))


def test_composition_and_dict_inverse(data_root):
    img = LoadMedicalImage()(data_root / "retina" / "skimage_microaneurysms.png")
    d = ScaleToUnitRanged(keys="image")({"image": img})
    zd = ZScoreNormalized(keys="image", mean=0.5, std=0.25)
    d2 = zd(d)
    norm = d2["image"].meta["srgan_norm"]
    assert norm["kind"] == "unit+zscore"
    assert norm["scale"] == pytest.approx(1 / 255 / 0.25) and norm["offset"] == pytest.approx(-2.0)
    torch.testing.assert_close(invert_normalization(d2["image"], d2["image"].meta), img.as_tensor(), atol=1e-4, rtol=0)
    d3 = zd.inverse(d2)
    assert d3["image"].meta["srgan_norm"]["kind"] == "unit"
    torch.testing.assert_close(d3["image"].as_tensor(), d["image"].as_tensor(), atol=1e-6, rtol=0)
    # ScaleToUnitRange after another normalisation still maps the bit-depth range to [0, 1]
    again = ScaleToUnitRange()(ZScoreNormalize(mean=10.0, std=3.0)(img))
    torch.testing.assert_close(again.as_tensor(), img.as_tensor() / 255, atol=1e-6, rtol=0)
    assert ScaleToUnitRangeD is ScaleToUnitRanged


def test_per_channel_and_batched_inverse(data_root):
    rgb = LoadMedicalImage()(data_root / "retina" / "skimage_retina.jpg")[:, 600:664, 600:680]
    grey = LoadMedicalImage()(data_root / "cxr" / "mhh_2168a917.png")[:, :64, :80]
    z = ZScoreNormalize(mean=[120.0, 60.0, 30.0], std=[50.0, 30.0, 20.0])(rgb)
    assert len(z.meta["srgan_norm"]["scale"]) == 3
    torch.testing.assert_close(invert_normalization(z, z.meta), rgb.as_tensor(), atol=1e-4, rtol=0)
    batch = z.as_tensor()[None].repeat(2, 1, 1, 1)
    torch.testing.assert_close(invert_normalization(batch, z.meta)[1], rgb.as_tensor(), atol=1e-4, rtol=0)

    # parameters collated by a DataLoader: per image (scalar) ...
    items = [{"image": ScaleToUnitRange(out_range=r)(grey)} for r in ((0, 1), (-1, 1))]
    b = next(iter(DataLoader(Dataset(items), batch_size=2)))["image"]
    back = invert_normalization(b, b.meta)
    for i in range(2):
        torch.testing.assert_close(back[i], grey.as_tensor(), atol=1e-3, rtol=0)
    for item in decollate_batch({"image": b}):
        torch.testing.assert_close(
            invert_normalization(item["image"], item["image"].meta), grey.as_tensor(), atol=1e-3, rtol=0
        )
    # ... and per image and channel
    items = [{"image": ZScoreNormalize()(rgb)}, {"image": ZScoreNormalize(mean=[1.0, 2, 3], std=[4.0, 5, 6])(rgb)}]
    b = next(iter(DataLoader(Dataset(items), batch_size=2)))["image"]
    back = invert_normalization(b, b.meta)
    for i in range(2):
        torch.testing.assert_close(back[i], rgb.as_tensor(), atol=1e-3, rtol=0)


def test_compute_dataset_stats_matches_numpy(data_root):
    files = [data_root / "cxr" / n for n in ("mhh_2168a917.png", "mhh_53c9be49.png", "nih_00000075_000.png")]
    stats = compute_dataset_stats(files)
    allpix = np.concatenate([np.asarray(Image.open(f), dtype=np.float64).ravel() for f in files])
    assert stats["mean"] == pytest.approx([allpix.mean()], rel=1e-9)
    assert stats["std"] == pytest.approx([allpix.std()], rel=1e-9)
    assert stats["count"] == allpix.size and stats["num_images"] == 3
    unit = compute_dataset_stats([{"image": str(f)} for f in files], transform=ScaleToUnitRange())
    assert unit["mean"][0] == pytest.approx(allpix.mean() / 255, rel=1e-6)
    z = ZScoreNormalize(mean=unit["mean"], std=unit["std"])(ScaleToUnitRange()(LoadMedicalImage()(files[0])))
    assert z.meta["srgan_norm"]["kind"] == "unit+zscore"
    rgb = compute_dataset_stats([data_root / "retina" / "skimage_retina.jpg"])
    assert len(rgb["mean"]) == 3 and rgb["mean"][0] > rgb["mean"][2]  # fundus: red dominates blue


def test_bad_settings():
    with pytest.raises(ConfigError, match="value_range"):
        ScaleToUnitRange()(torch.rand(1, 8, 8))
    out = ScaleToUnitRange(value_range=(0, 255))(torch.full((1, 4, 4), 255.0))
    assert isinstance(out, MetaTensor) and torch.allclose(out, torch.ones(1, 4, 4))
    with pytest.raises(ConfigError, match="channels"):
        ZScoreNormalize(mean=[1.0, 2.0], std=[1.0, 1.0])(torch.rand(3, 4, 4))
    with pytest.raises(ConfigError, match="lower"):
        PercentileScale(90, 10)
    with pytest.raises(ConfigError, match="srgan_norm"):
        invert_normalization(torch.rand(1, 4, 4), {"filename_or_obj": "x"})
