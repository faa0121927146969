"""Degradations on real data: bicubic (vs PIL), blur+down, Real-ESRGAN high-order (8-bit RGB, 12/16-bit gray),
X-ray detector model, 3D slice thickness. Every random transform is reproducible under set_random_state."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from PIL import Image

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.transforms import (
    BicubicDownsample,
    BicubicDownsampled,
    RandBlurDownsample,
    RandBlurDownsampled,
    RandRealESRGANDegradation,
    RandRealESRGANDegradationd,
    RandXRayDegradation,
    RandXRayDegradationd,
    SliceThicknessDegradation,
    SliceThicknessDegradationd,
    UnsharpMaskd,
)
from monai_srgan.transforms.degradation.kernels import (
    _poisson,
    add_gaussian_noise,
    add_poisson_noise,
    bivariate_gaussian,
    circular_lowpass_kernel,
    filter2d,
    jpeg_roundtrip,
    random_mixed_kernel,
    usm_sharp,
)


# ------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def fundus_u8(data_root):
    a = np.asarray(Image.open(data_root / "retina" / "hrf_01_h.jpg").convert("RGB"))
    return np.ascontiguousarray(a[768:1024, 2432:2688])  # 256² crop at the optic disc (vessels, strong edges)


@pytest.fixture(scope="module")
def fundus(fundus_u8):
    return torch.from_numpy(fundus_u8.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


@pytest.fixture(scope="module")
def cxr12(data_root):
    """12-bit chest radiograph crop (JPEG 2000 DICOM, BitsStored 12) normalised to [0, 1]; MONOCHROME1 inverted."""
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom-issue966_966_fixed.dcm")
    a = ds.pixel_array.astype(np.float32)
    a = 4095.0 - a if ds.PhotometricInterpretation == "MONOCHROME1" else a
    return torch.from_numpy(a[900:1156, 700:956] / 4095.0)[None].contiguous()


@pytest.fixture(scope="module")
def ct_volume(data_root):
    import nibabel as nib

    v = np.asarray(nib.load(str(data_root / "volumes" / "totalseg_example_ct.nii.gz")).dataobj, dtype=np.float32)
    v = np.clip((v + 1000.0) / 2000.0, 0.0, 1.0)[20:84, 20:84, 16:96]
    return torch.from_numpy(np.ascontiguousarray(v))[None]


def _on_8bit_grid(x: torch.Tensor) -> float:
    """Fraction of values that are multiples of 1/255."""
    return float(((x * 255.0 - torch.round(x * 255.0)).abs() < 1e-4).float().mean())


# -------------------------------------------------------------------------------------------------- bicubic
def test_bicubic_matches_pil_on_fundus(fundus_u8, fundus):
    for scale in (2, 4, 8, 16):
        lr = BicubicDownsample(scale)(fundus)
        ref = np.asarray(Image.fromarray(fundus_u8).resize((256 // scale,) * 2, Image.BICUBIC)).astype(np.float32)
        diff = np.abs(np.clip(lr.permute(1, 2, 0).numpy() * 255.0, 0, 255) - ref)
        assert diff.mean() < 0.35 and diff.max() <= 1.05, (scale, diff.mean(), diff.max())


def test_bicubic_dict_size_policy_crop_and_raise(fundus):
    hr = MetaTensor(
        fundus[:, :130, :99], meta={"filename_or_obj": "/data/fundus_17.png", "srgan_spacing": [0.01, 0.01]}
    )
    fov = torch.ones(1, 130, 99)
    out = BicubicDownsampled(keys="hr", lr_key="lr", scale=4)({"hr": hr, "fov": fov})
    assert out["hr"].shape == (3, 128, 96) and out["fov"].shape == (1, 128, 96) and out["lr"].shape == (3, 32, 24)
    assert out["hr"].meta["srgan_crop_to_multiple"] == {"from": [130, 99], "to": [128, 96]}
    assert "srgan_crop_to_multiple" not in hr.meta  # input untouched
    # the crop keeps the top-left corner: the LR is the degradation of HR[:128, :96]
    assert torch.allclose(out["lr"], BicubicDownsample(4)(fundus[:, :128, :96]), atol=1e-6)
    assert out["lr"].meta["srgan_spacing"] == pytest.approx([0.04, 0.04])
    assert float(out["lr"].affine[0, 0]) == pytest.approx(4.0)
    with pytest.raises(InputFileError, match="fundus_17.png.*not divisible"):
        BicubicDownsampled(keys="hr", scale=4, size_policy="raise")({"hr": hr})
    with pytest.raises(ConfigError):
        BicubicDownsample(4, size_policy="pad")


def test_bicubic_3d_slice_axis_only(ct_volume):
    lr = BicubicDownsample((1, 1, 4))(ct_volume)
    assert lr.shape == (1, 64, 64, 20)


# ----------------------------------------------------------------------------------------- blur + downsample
def test_blur_downsample_reproducible_and_smoother(fundus):
    t = RandBlurDownsampled(keys="hr", lr_key="lr", scale=4)
    a = t.set_random_state(7)({"hr": fundus})["lr"]
    b = t.set_random_state(7)({"hr": fundus})["lr"]
    c = t.set_random_state(8)({"hr": fundus})["lr"]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 64, 64)
    bic = BicubicDownsample(4)(fundus)
    hf = lambda x: (x[..., 1:, :] - x[..., :-1, :]).abs().mean()  # noqa: E731
    assert hf(a) < 0.9 * hf(bic)  # a Gaussian of sigma >= 1.6 HR px removes more detail than bicubic ×4
    # fixed sigma, area down-sampling is block averaging of the blurred image
    t2 = RandBlurDownsample(2, sigma=1.0, down_mode="area")
    out = t2(fundus)
    assert out.shape == (3, 128, 128) and t2._sigma == 1.0


# -------------------------------------------------------------------------------------------- Real-ESRGAN
def test_realesrgan_rgb8_reproducible_quantised(fundus):
    t = RandRealESRGANDegradationd(keys="hr", lr_key="lr", scale=4)
    outs = [t.set_random_state(s)({"hr": fundus}) for s in (3, 3, 4)]
    assert torch.equal(outs[0]["lr"], outs[1]["lr"]) and not torch.equal(outs[0]["lr"], outs[2]["lr"])
    lr = outs[0]["lr"]
    assert lr.shape == (3, 64, 64) and float(lr.min()) >= 0 and float(lr.max()) <= 1
    assert _on_8bit_grid(lr) == 1.0  # final 8-bit quantisation (published recipe)
    assert torch.equal(outs[0]["hr"], fundus)  # discriminator target stays unsharpened
    assert torch.allclose(outs[0]["hr_usm"], usm_sharp(fundus[None])[0])
    assert t.degrade.params["do_jpeg1"] and t.degrade.params["do_jpeg2"]


def test_realesrgan_uses_precomputed_usm(fundus):
    """A sharpened HR already in the data (UnsharpMaskd on the whole image, cropped with the HR) is degraded."""
    full = UnsharpMaskd(keys="hr", output_key="hr_usm")({"hr": fundus})
    t = RandRealESRGANDegradationd(keys="hr", lr_key="lr", scale=4)
    pre = t.set_random_state(9)(full)
    assert pre["hr_usm"] is full["hr_usm"]
    assert torch.equal(pre["lr"], t.set_random_state(9)({"hr": fundus})["lr"])
    odd = t.set_random_state(9)({"hr": fundus, "hr_usm": fundus * 0.5})
    assert not torch.equal(odd["lr"], pre["lr"])


def test_realesrgan_gray16_has_no_8bit_steps(cxr12):
    t = RandRealESRGANDegradation(scale=4, bit_depth=16)
    assert t.quantize_bits is None and t.jpeg_prob == 0.0 and t.poisson_levels == 256
    fracs = []
    for seed in range(4):
        lr = t.set_random_state(seed)(cxr12)
        assert lr.shape == (1, 64, 64)
        assert not t.params["do_jpeg1"] and not t.params["do_jpeg2"]
        fracs.append(_on_8bit_grid(lr))
    assert max(fracs) < 0.05  # values are not on the 8-bit grid
    # opt-in: the published 8-bit steps on 16-bit data
    t8 = RandRealESRGANDegradation(scale=4, bit_depth=16, quantize_bits=8, jpeg_prob=1.0)
    assert _on_8bit_grid(t8.set_random_state(0)(cxr12)) == 1.0


def test_realesrgan_batch_per_sample_kernels(fundus):
    t = RandRealESRGANDegradation(scale=4).set_random_state(0)
    batch = torch.stack([fundus, fundus.flip(-1)])
    lr = t(batch)
    assert lr.shape == (2, 3, 64, 64)
    k = t.params["kernel1"]
    assert len(k) == 2 and not (k[0].shape == k[1].shape and np.allclose(k[0], k[1]))
    assert torch.equal(lr, RandRealESRGANDegradation(scale=4).set_random_state(0)(batch))


def test_realesrgan_value_range_and_errors(cxr12):
    hu = cxr12 * 2000.0 - 1000.0
    t = RandRealESRGANDegradation(scale=2, bit_depth=16, value_range=(-1000.0, 1000.0), usm=False)
    lr = t.set_random_state(1)(hu)
    ref = RandRealESRGANDegradation(scale=2, bit_depth=16, usm=False).set_random_state(1)(cxr12)
    assert torch.allclose(lr, ref * 2000.0 - 1000.0, atol=1e-2)
    with pytest.raises(ConfigError):
        RandRealESRGANDegradation(noise_rang=(0, 1))
    with pytest.raises(ConfigError):
        RandRealESRGANDegradation(scale=2.5)


def test_unsharp_mask_matches_reference(fundus):
    """Against an independent scipy implementation of BasicSR's cv2-based usm_sharp (reflect-101 borders)."""
    from scipy.ndimage import convolve1d

    x = fundus.numpy().astype(np.float64)
    g = np.exp(-((np.arange(51) - 25.0) ** 2) / (2 * 8.0**2))
    g /= g.sum()
    blur_ = lambda a: convolve1d(convolve1d(a, g, axis=-1, mode="mirror"), g, axis=-2, mode="mirror")  # noqa: E731
    res = x - blur_(x)
    soft = blur_((np.abs(res) * 255 > 10).astype(np.float64))
    ref = soft * np.clip(x + 0.5 * res, 0, 1) + (1 - soft) * x
    out = UnsharpMaskd(keys="hr", output_key="hr_usm")({"hr": fundus})["hr_usm"]
    assert np.abs(out.numpy() - ref).max() < 1e-4
    assert float((out - fundus).abs().max()) > 0.01


def test_filter2d_fft_equals_direct_conv(fundus):
    rng = np.random.RandomState(0)
    kernels = torch.from_numpy(np.stack([random_mixed_kernel(rng, 21) for _ in range(2)])).float()
    x = torch.stack([fundus[:, :100, :90], fundus[:, 50:150, 30:120]])
    fft = filter2d(x, kernels, direct_max=0)
    xp = F.pad(x, (10,) * 4, mode="reflect")
    direct = torch.cat([F.conv2d(xp[i : i + 1], kernels[i].expand(3, 1, 21, 21), groups=3) for i in range(2)])
    assert torch.allclose(fft, direct, atol=1e-5)
    assert torch.allclose(filter2d(x, kernels), fft, atol=1e-5)


def test_kernels():
    k = bivariate_gaussian(21, 2.0, 2.0, 0.0)
    ax = np.arange(-10, 11)
    g = np.exp(-(ax**2) / 8.0)
    assert np.allclose(k, np.outer(g, g) / np.outer(g, g).sum())
    s = circular_lowpass_kernel(np.pi / 3, 13, pad_to=21)
    assert s.shape == (21, 21) and s.min() < 0 and abs(s.sum() - 1) < 1e-9  # ringing lobes
    rng = np.random.RandomState(1)
    for _ in range(20):
        kk = random_mixed_kernel(rng, 15)
        assert kk.shape == (15, 15) and abs(kk.sum() - 1) < 1e-9
        assert np.allclose(kk, kk[::-1, ::-1])  # point-symmetric: convolution == correlation


def test_noise_levels_are_fractions_of_range():
    gen = torch.Generator().manual_seed(0)
    x = torch.full((2, 3, 128, 128), 0.5)
    y = add_gaussian_noise(x, torch.tensor([0.02, 0.05]), torch.tensor([False, True]), gen)
    assert abs(float((y[0] - 0.5).std()) - 0.02) < 1e-3 and abs(float((y[1] - 0.5).std()) - 0.05) < 2e-3
    assert torch.equal(y[1, 0], y[1, 2]) and not torch.equal(y[0, 0], y[0, 2])  # gray noise shared by channels
    # Poisson with fixed levels: std = scale * sqrt(v / levels), v not quantised to 8 bits
    x = torch.full((1, 1, 256, 256), 0.3)
    y = add_poisson_noise(x, torch.tensor([1.0]), torch.tensor([False]), levels=256, generator=gen)
    assert abs(float((y - 0.3).std()) - (0.3 / 256) ** 0.5) < 2e-3
    for lam in (3.0, 100.0):  # exact below 32, normal approximation above: mean and variance right
        s = _poisson(torch.full((200000,), lam), gen)
        assert abs(float(s.mean()) - lam) < 0.05 * lam**0.5 and abs(float(s.var()) / lam - 1) < 0.03
        assert torch.equal(s, s.round())


def test_jpeg_keep_precision(cxr12):
    x = cxr12[None]
    plain = jpeg_roundtrip(x, [40])
    keep = jpeg_roundtrip(x, [40], keep_precision=True)
    assert _on_8bit_grid(plain) == 1.0 and _on_8bit_grid(keep) < 0.05
    q8 = torch.round(x * 255) / 255
    assert torch.allclose(keep - x, plain - q8, atol=1e-6)  # same JPEG error, added to the full-precision image


# ------------------------------------------------------------------------------------------------- X-ray
def test_xray_reproducible_and_dose_dependent(cxr12):
    t = RandXRayDegradationd(keys="hr", lr_key="lr", scale=2)
    a = t.set_random_state(0)({"hr": cxr12})["lr"]
    b = t.set_random_state(0)({"hr": cxr12})["lr"]
    assert torch.equal(a, b) and a.shape == (1, 128, 128)
    clean = RandXRayDegradation(scale=2, psf_sigma=1.0, dose=1e9, electronic_noise=0.0)(cxr12)
    stds = []
    for dose in (1e2, 1e4):
        for signal in ("log", "linear"):
            lr = RandXRayDegradation(scale=2, psf_sigma=1.0, dose=dose, electronic_noise=0.0, signal=signal)
            stds.append(float((lr.set_random_state(1)(cxr12) - clean).std()))
    assert stds[2] < stds[0] / 5 and stds[3] < stds[1] / 5  # 100× dose → ~10× less noise
    # log model: noise larger where attenuation is high (bright bone) than in the lung
    noisy = RandXRayDegradation(scale=2, psf_sigma=1.0, dose=1e3, electronic_noise=0.0).set_random_state(2)(cxr12)
    res, bright = noisy - clean, clean > clean.median()
    assert float(res[bright].std()) > float(res[~bright].std())
    with pytest.raises(ConfigError):
        RandXRayDegradation(dose=0)


# ------------------------------------------------------------------------------------------ slice thickness
def test_slice_thickness_changes_only_slice_axis(ct_volume):
    mt = MetaTensor(ct_volume, meta={"srgan_spacing": [3.0, 3.0, 3.0]})
    d = SliceThicknessDegradationd(keys="hr", lr_key="lr", scale=4, axis=-1)({"hr": mt})
    lr = d["lr"]
    assert lr.shape == (1, 64, 64, 20) and lr.meta["srgan_spacing"] == pytest.approx([3.0, 3.0, 12.0])
    # box profile of thickness = scale is the mean of each block of 4 slices
    assert torch.allclose(lr.as_tensor(), ct_volume.reshape(1, 64, 64, 20, 4).mean(-1), atol=1e-6)
    # thicker Gaussian profile blurs across blocks; in-plane axes untouched by the profile
    g = SliceThicknessDegradation(scale=4, thickness=8, profile="gaussian")(ct_volume)
    assert g.shape == (1, 64, 64, 20) and not torch.allclose(g, lr.as_tensor(), atol=1e-3)
    ax0 = SliceThicknessDegradation(scale=2, axis=0, inplane_sigma=1.0)(ct_volume)
    assert ax0.shape == (1, 32, 64, 80)
    with pytest.raises(ConfigError):
        SliceThicknessDegradation(scale=2, axis=3)(ct_volume)


def test_slice_noise_reproducible(ct_volume):
    t = SliceThicknessDegradation(scale=2, noise_std=(0.01, 0.03), noise="rician")
    a, b = t.set_random_state(5)(ct_volume), t.set_random_state(5)(ct_volume)
    assert torch.equal(a, b)
    clean = SliceThicknessDegradation(scale=2)(ct_volume)
    assert 0.005 < float((a - clean).std()) < 0.05
    assert torch.equal(clean, SliceThicknessDegradation(scale=2)(ct_volume))  # no noise: deterministic
