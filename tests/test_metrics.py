"""Image-quality metrics against scikit-image on real fundus, chest X-ray, 12-bit DICOM and MR crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from monai_srgan.errors import ConfigError
from monai_srgan.metrics import (
    MSSSIMMetric,
    PSNRMetric,
    RMSEMetric,
    SharpnessMetric,
    SSIMMetric,
    data_range_for_bits,
    masked_output_transform,
    ms_ssim,
    psnr,
    rgb_to_y,
    rmse,
    sharpness,
    ssim,
)

SK_SSIM = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


def _bicubic_pil(img: Image.Image, factor: int) -> Image.Image:
    """Test-only degradation: PIL bicubic down and up (what the published baselines used)."""
    w, h = img.size
    return img.resize((w // factor, h // factor), Image.BICUBIC).resize((w, h), Image.BICUBIC)


def _t(a: np.ndarray, scale: float = 255.0) -> torch.Tensor:
    """HWC or HW array -> (1, C, H, W) float32 tensor divided by ``scale``."""
    a = a.astype(np.float32) / scale
    if a.ndim == 2:
        a = a[None]
    else:
        a = a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))[None]


@pytest.fixture(scope="module")
def fundus_pair(data_root):
    """A 192x192 crop of an HRF fundus photograph across vessels and its bicubic x4 reconstruction (uint8)."""
    hr = Image.open(data_root / "retina" / "hrf_01_h.jpg").convert("RGB").crop((1200, 900, 1392, 1092))
    return np.asarray(hr), np.asarray(_bicubic_pil(hr, 4))


@pytest.fixture(scope="module")
def xray_pair(data_root):
    """A 192x192 crop of an NIH chest X-ray (gray) and its bicubic x4 reconstruction (uint8)."""
    hr = Image.open(data_root / "cxr" / "nih_00000075_000.png").convert("L").crop((400, 300, 592, 492))
    return np.asarray(hr), np.asarray(_bicubic_pil(hr, 4))


@pytest.fixture(scope="module")
def fundus_whole(data_root):
    """A whole HRF fundus image (black border included) at 350 px wide, its bicubic x4 version and a FOV mask."""
    img = Image.open(data_root / "retina" / "hrf_05_h.jpg").convert("RGB")
    img = img.resize((352, 232), Image.BICUBIC)
    hr = np.asarray(img)
    sr = np.asarray(_bicubic_pil(img, 4))
    fov = hr[..., 0] > 20  # red channel threshold: the field of view
    return hr, sr, fov


# --------------------------------------------------------------------------- PSNR / SSIM vs scikit-image


def test_psnr_matches_skimage_fundus_rgb(fundus_pair):
    hr, sr = fundus_pair
    ref = sk_psnr(hr, sr, data_range=255)
    assert abs(float(psnr(_t(sr), _t(hr), data_range=1.0)) - ref) < 1e-3
    # raw 8-bit values with data range from the bit depth
    assert abs(float(psnr(_t(sr, 1), _t(hr, 1), data_range=data_range_for_bits(8))) - ref) < 1e-3
    assert 25 < ref < 60


def test_ssim_matches_skimage_fundus_and_xray(fundus_pair, xray_pair):
    hr, sr = fundus_pair
    ref = sk_ssim(hr / 255.0, sr / 255.0, data_range=1.0, channel_axis=2, **SK_SSIM)
    assert abs(float(ssim(_t(sr), _t(hr), data_range=1.0)) - ref) < 1e-4
    hr, sr = xray_pair
    ref = sk_ssim(hr, sr, data_range=255, **SK_SSIM)
    assert abs(float(ssim(_t(sr, 1), _t(hr, 1), data_range=255)) - ref) < 1e-4
    assert abs(float(psnr(_t(sr), _t(hr))) - sk_psnr(hr, sr, data_range=255)) < 1e-3
    assert ref < 0.999  # the degraded crop is not trivially identical


def test_ssim_skimage_default_convention(xray_pair, fundus_pair):
    """scikit-image's defaults (7x7 uniform window, sample covariance) are available and give other numbers."""
    kw = {"win_size": 7, "gaussian_weights": False, "use_sample_covariance": True}
    for hr, sr in (xray_pair, fundus_pair):
        axis = 2 if hr.ndim == 3 else None
        ref = sk_ssim(hr, sr, data_range=255, channel_axis=axis)
        assert abs(float(ssim(_t(sr), _t(hr), **kw)) - ref) < 1e-4
        assert abs(float(ssim(_t(sr), _t(hr))) - ref) > 1e-3


def test_12bit_dicom_data_range(data_root):
    """12-bit DX (JPEG 2000): PSNR/SSIM with data_range_for_bits(BitsStored) agree with scikit-image."""
    pydicom = pytest.importorskip("pydicom")
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom-issue966_966_fixed.dcm")
    bits = int(ds.BitsStored)
    assert bits == 12
    hr = ds.pixel_array[800:960, 700:860].astype(np.float32)
    img = Image.fromarray(hr, mode="F")
    sr = np.asarray(img.resize((40, 40), Image.BICUBIC).resize((160, 160), Image.BICUBIC))
    sr = np.clip(sr, 0, 4095).astype(np.float64)
    dr = data_range_for_bits(bits)
    assert dr == 4095.0
    x, y = torch.from_numpy(sr)[None, None].float(), torch.from_numpy(hr.astype(np.float64))[None, None].float()
    assert abs(float(psnr(x, y, data_range=dr)) - sk_psnr(hr.astype(np.float64), sr, data_range=dr)) < 1e-3
    ref = sk_ssim(hr.astype(np.float64), sr, data_range=dr, **SK_SSIM)
    assert abs(float(ssim(x, y, data_range=dr)) - ref) < 1e-4


def test_ssim_3d_matches_skimage(data_root):
    nib = pytest.importorskip("nibabel")
    vol = np.asarray(nib.load(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz").dataobj, dtype=np.float64)
    hr = vol[20:84, 20:84, 2:18]
    dr = float(hr.max() - hr.min())
    hr = hr - hr.min()
    rng = np.random.default_rng(0)
    sr = hr + rng.normal(0, 0.02 * dr, hr.shape)
    x, y = torch.from_numpy(sr)[None, None].float(), torch.from_numpy(hr)[None, None].float()
    ref = sk_ssim(hr, sr, data_range=dr, **SK_SSIM)
    assert abs(float(ssim(x, y, data_range=dr)) - ref) < 1e-4
    assert abs(float(psnr(x, y, data_range=dr)) - sk_psnr(hr, sr, data_range=dr)) < 1e-3
    # a thin axis (8 slices) where scikit-image raises: the window shrinks to 7 along it, only there
    thin_x, thin_y = x[..., :8], y[..., :8]
    with pytest.raises(ValueError):
        sk_ssim(hr[..., :8], sr[..., :8], data_range=dr, **SK_SSIM)
    v = ssim(thin_x, thin_y, data_range=dr)
    assert torch.equal(v, ssim(thin_x, thin_y, data_range=dr, win_size=(11, 11, 7)))
    assert 0.0 < float(v) < 1.0


def test_batch_gives_one_value_per_image(fundus_pair, xray_pair):
    f_hr, f_sr = fundus_pair
    x_hr, x_sr = xray_pair
    gray_f = lambda a: np.repeat(a[..., None], 3, axis=2)  # noqa: E731
    sr = torch.cat([_t(f_sr), _t(gray_f(x_sr))])
    hr = torch.cat([_t(f_hr), _t(gray_f(x_hr))])
    for fn in (psnr, ssim, rmse):
        batch = fn(sr, hr)
        assert batch.shape == (2,)
        singles = torch.stack([fn(sr[i : i + 1], hr[i : i + 1])[0] for i in range(2)])
        torch.testing.assert_close(batch, singles)
    assert not torch.isclose(psnr(sr, hr)[0], psnr(sr, hr)[1])


def test_crop_border_and_input_range(fundus_pair):
    hr, sr = fundus_pair
    ref = sk_psnr(hr[4:-4, 4:-4], sr[4:-4, 4:-4], data_range=255)
    assert abs(float(psnr(_t(sr), _t(hr), crop_border=4)) - ref) < 1e-3
    assert abs(float(psnr(_t(sr), _t(hr))) - ref) > 1e-3  # cropping changes the value on this crop
    ref_ssim = sk_ssim(hr[4:-4, 4:-4] / 255.0, sr[4:-4, 4:-4] / 255.0, data_range=1.0, channel_axis=2, **SK_SSIM)
    assert abs(float(ssim(_t(sr), _t(hr), crop_border=4)) - ref_ssim) < 1e-4
    # [-1, 1] normalisation (paper 004) gives the same numbers as [0, 1]
    a, b = _t(sr) * 2 - 1, _t(hr) * 2 - 1
    assert abs(float(psnr(a, b, input_range=(-1, 1))) - sk_psnr(hr, sr, data_range=255)) < 1e-3
    assert abs(float(ssim(a, b, input_range=(-1, 1)) - ssim(_t(sr), _t(hr)))) < 1e-5
    with pytest.raises(ConfigError):
        psnr(a, b, data_range=1.0, input_range=(-1, 1))


# --------------------------------------------------------------------------- Y channel


def test_rgb_to_y_is_bt601(fundus_pair):
    hr, _ = fundus_pair
    rgb = hr.astype(np.float64) / 255.0
    expected = 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]  # on the 0..255 scale
    y = rgb_to_y(_t(hr), data_range=1.0)[0, 0].double().numpy() * 255.0
    np.testing.assert_allclose(y, expected, atol=1e-3)
    np.testing.assert_allclose(y, rgb2ycbcr(rgb)[..., 0], atol=1e-3)  # scikit-image's BT.601 conversion
    # same convention in raw 8-bit units
    y255 = rgb_to_y(_t(hr, 1), data_range=255.0)[0, 0].double().numpy()
    np.testing.assert_allclose(y255, expected, atol=1e-3)
    assert 16.0 <= y255.min() and y255.max() <= 235.0


def test_psnr_ssim_on_y_channel(fundus_pair):
    hr, sr = fundus_pair
    y_hr = rgb2ycbcr(hr / 255.0)[..., 0]
    y_sr = rgb2ycbcr(sr / 255.0)[..., 0]
    ref = sk_psnr(y_hr, y_sr, data_range=255)
    got = float(psnr(_t(sr), _t(hr), y_channel=True, crop_border=0))
    assert abs(got - ref) < 1e-3
    assert abs(got - float(psnr(_t(sr), _t(hr)))) > 0.1  # Y and RGB PSNR differ
    ref = sk_ssim(y_hr, y_sr, data_range=255, **SK_SSIM)
    assert abs(float(ssim(_t(sr), _t(hr), y_channel=True)) - ref) < 1e-4
    # 1-channel input with y_channel=True is used as is
    g = _t(hr)[:, 1:2]
    assert torch.equal(psnr(g * 0.9, g, y_channel=True), psnr(g * 0.9, g))


# --------------------------------------------------------------------------- field-of-view mask


@pytest.mark.parametrize(
    "name, full_db, masked_db",
    [("hrf_05_h.jpg", 39.69, 40.31), ("hrf_01_h.jpg", 36.34, 36.60), ("idrid_IDRiD_01.jpg", 35.27, 36.56)],
)
def test_fov_mask_raises_bicubic_psnr(data_root, name, full_db, masked_db):
    """docs/metrics.md's figures: a whole photograph at 700 px width, PIL bicubic x4 down and up, FOV = red > 20."""
    img = Image.open(data_root / "retina" / name).convert("RGB")
    img = img.resize((700, round(img.height * 700 / img.width)), Image.BICUBIC)
    hr, sr = np.asarray(img), np.asarray(_bicubic_pil(img, 4))
    mask = torch.from_numpy(hr[..., 0] > 20)[None, None]
    full, masked = float(psnr(_t(sr), _t(hr))), float(psnr(_t(sr), _t(hr), mask=mask))
    assert masked > full  # the rim dominates bicubic's error
    assert (full, masked) == (pytest.approx(full_db, abs=0.01), pytest.approx(masked_db, abs=0.01))


def test_fov_masked_psnr_differs_and_is_correct(fundus_whole):
    hr, sr, fov = fundus_whole
    assert 0.3 < fov.mean() < 0.95  # a real black border exists
    mask = torch.from_numpy(fov)[None, None]
    full = float(psnr(_t(sr), _t(hr)))
    masked = float(psnr(_t(sr), _t(hr), mask=mask))
    # bicubic errs most on the sharp rim of the field of view, so here masking changes PSNR in either direction
    assert abs(full - masked) > 0.3
    d = (sr.astype(np.float64) - hr.astype(np.float64))[fov]
    ref = 10 * np.log10(255.0**2 / np.mean(d**2))
    assert abs(masked - ref) < 1e-3
    # a method whose errors lie inside the FOV (background rendered black): the background inflates full-image
    # PSNR by exactly -10 log10(FOV fraction)
    rng = np.random.default_rng(0)
    noisy = hr.astype(np.float64) + rng.normal(0, 6.0, hr.shape) * fov[..., None]
    full_n = float(psnr(_t(noisy), _t(hr)))
    masked_n = float(psnr(_t(noisy), _t(hr), mask=mask))
    assert abs((full_n - masked_n) - (-10 * np.log10(fov.mean()))) < 1e-3
    assert full_n - masked_n > 0.5
    # masked SSIM = mean of scikit-image's SSIM map over window centres inside the mask
    _, smap = sk_ssim(hr / 255.0, sr / 255.0, data_range=1.0, channel_axis=2, full=True, **SK_SSIM)
    smap = smap.mean(2)[5:-5, 5:-5]
    ref = smap[fov[5:-5, 5:-5]].mean()
    assert abs(float(ssim(_t(sr), _t(hr), mask=mask)) - ref) < 1e-4
    assert float(ssim(_t(noisy), _t(hr))) > float(ssim(_t(noisy), _t(hr), mask=mask)) + 0.01
    # mask on the Y channel and with border crop, against a numpy computation
    m_y = float(psnr(_t(noisy), _t(hr), mask=mask, y_channel=True, crop_border=4))
    w = np.array([65.481, 128.553, 24.966]) / 255.0
    d = ((noisy - hr.astype(np.float64)) @ w)[4:-4, 4:-4][fov[4:-4, 4:-4]]
    assert abs(m_y - 10 * np.log10(255.0**2 / np.mean(d**2))) < 1e-3


# --------------------------------------------------------------------------- RMSE, MS-SSIM, sharpness


def test_rmse_ms_ssim_sharpness(data_root, xray_pair):
    hr, sr = xray_pair
    d = sr.astype(np.float64) - hr.astype(np.float64)
    assert abs(float(rmse(_t(sr, 1), _t(hr, 1))) - np.sqrt(np.mean(d**2))) < 1e-6
    big = Image.open(data_root / "cxr" / "nih_00000075_000.png").convert("L").crop((300, 300, 556, 556))
    b_hr = _t(np.asarray(big))
    b_x2 = _t(np.asarray(_bicubic_pil(big, 2)))
    b_x8 = _t(np.asarray(_bicubic_pil(big, 8)))
    assert abs(float(ms_ssim(b_hr, b_hr)) - 1.0) < 1e-5
    v2, v8 = float(ms_ssim(b_x2, b_hr)), float(ms_ssim(b_x8, b_hr))
    assert 1.0 > v2 > v8 > 0.3
    # sharper for the truth than for bicubic reconstructions, monotone in the scale, independent of the range
    for method in ("laplacian", "gradient"):
        s_hr, s2, s8 = (float(sharpness(v, method=method)) for v in (b_hr, b_x2, b_x8))
        assert s_hr > s2 > s8 > 0
        assert abs(float(sharpness(b_hr * 255, method=method, data_range=255)) - s_hr) < 1e-9 + 1e-6 * s_hr
    # 3D works
    vol = torch.rand(1, 1, 16, 16, 16)
    assert sharpness(vol).shape == (1,) and sharpness(vol, "gradient").shape == (1,)


def test_data_range_for_bits():
    assert data_range_for_bits(8) == 255.0
    assert data_range_for_bits(12) == 4095.0
    assert data_range_for_bits(16) == 65535.0
    with pytest.raises(ConfigError):
        data_range_for_bits(0)


# --------------------------------------------------------------------------- MONAI / Ignite classes


def test_metric_classes_accumulate(fundus_pair, fundus_whole):
    hr, sr = fundus_pair
    x, y = _t(sr), _t(hr)
    x2, y2 = x.flip(-1) * 0.95, y.flip(-1)
    for cls, fn in ((PSNRMetric, psnr), (SSIMMetric, ssim), (RMSEMetric, rmse)):
        m = cls(crop_border=4, y_channel=True)
        m(x, y)
        m([x2[0]], [y2[0]])  # decollated lists work too
        expected = torch.stack(
            [fn(x, y, crop_border=4, y_channel=True)[0], fn(x2, y2, crop_border=4, y_channel=True)[0]]
        )
        assert abs(float(m.aggregate()) - float(expected.mean())) < 1e-5
        assert m.get_buffer().shape == (2, 1)
    m = MSSSIMMetric(weights=(0.5, 0.5))
    m(x, y)
    assert abs(float(m.aggregate()) - float(ms_ssim(x, y, weights=(0.5, 0.5)))) < 1e-6
    s = SharpnessMetric()
    s(x, y)
    assert abs(float(s.aggregate()) - float(sharpness(x) / sharpness(y))) < 1e-5
    assert float(s.aggregate()) < 1.0  # bicubic is smoother than the truth
    # mask: as keyword, or as the last channel of y
    hr_w, sr_w, fov = fundus_whole
    mask = torch.from_numpy(fov)[None, None].float()
    m1, m2 = PSNRMetric(), PSNRMetric(mask_in_label=True)
    m1(_t(sr_w), _t(hr_w), mask=mask)
    m2(_t(sr_w), torch.cat([_t(hr_w), mask], 1))
    expected = float(psnr(_t(sr_w), _t(hr_w), mask=mask))
    assert abs(float(m1.aggregate()) - expected) < 1e-4 and abs(float(m2.aggregate()) - expected) < 1e-4


def test_ignite_handler_with_fov_mask(fundus_whole):
    from ignite.engine import Engine
    from monai.handlers import IgniteMetricHandler

    hr, sr, fov = fundus_whole
    batch = {"pred": _t(sr), "hr": _t(hr), "fov": torch.from_numpy(fov)[None, None]}
    engine = Engine(lambda e, b: b)
    IgniteMetricHandler(PSNRMetric(mask_in_label=True), output_transform=masked_output_transform()).attach(
        engine, "psnr_fov"
    )
    IgniteMetricHandler(SSIMMetric(), output_transform=lambda o: (o["pred"], o["hr"])).attach(engine, "ssim")
    engine.run([batch, batch], max_epochs=1)
    assert abs(engine.state.metrics["psnr_fov"] - float(psnr(_t(sr), _t(hr), mask=batch["fov"]))) < 1e-4
    assert abs(engine.state.metrics["ssim"] - float(ssim(_t(sr), _t(hr)))) < 1e-5
    # decollated list output (what MONAI engines give after decollate_batch)
    decollated = [{k: v[0] for k, v in batch.items()}]
    preds, labels = masked_output_transform()(decollated)
    assert labels[0].shape[0] == 4 and preds[0].shape[0] == 3


def test_masked_metrics_with_project_fov_mask(fundus_whole):
    """The mask of monai_srgan.transforms.estimate_fov_mask (1, H, W) plugs into the masked metrics."""
    from monai_srgan.transforms import estimate_fov_mask

    hr, sr, fov = fundus_whole
    mask = estimate_fov_mask(_t(hr)[0])[None]
    assert mask.shape == (1, 1, *hr.shape[:2])
    assert float(((mask[0, 0].numpy() > 0.5) == fov).mean()) > 0.98  # agrees with the red-channel threshold
    rng = np.random.default_rng(1)
    noisy = hr.astype(np.float64) + rng.normal(0, 6.0, hr.shape) * (mask[0, 0].numpy()[..., None] > 0.5)
    full = float(psnr(_t(noisy), _t(hr)))
    masked = float(psnr(_t(noisy), _t(hr), mask=mask))
    assert abs((full - masked) + 10 * np.log10(float(mask.mean()))) < 1e-3
