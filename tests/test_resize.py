"""imresize against PIL on real 8-bit fundus and chest X-ray crops; 3D, per-axis and MetaTensor behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_srgan.errors import ConfigError
from monai_srgan.transforms.resize import imresize, resample_axis, resize_weights

SCALES = (2, 3, 4, 8, 16)


def _crop(path, h=384, w=528, mode=None):
    im = Image.open(path)
    if mode:
        im = im.convert(mode)
    a = np.asarray(im)
    y0, x0 = (a.shape[0] - h) // 2, (a.shape[1] - w) // 2
    return np.ascontiguousarray(a[y0 : y0 + h, x0 : x0 + w])


@pytest.fixture(scope="module")
def fundus_rgb(data_root):
    return _crop(data_root / "retina" / "hrf_01_h.jpg", mode="RGB")


@pytest.fixture(scope="module")
def cxr_gray(data_root):
    return _crop(data_root / "cxr" / "nih_00000075_000.png", mode="L")


def _to_t(a):
    t = torch.from_numpy(a.astype(np.float32))
    return t.permute(2, 0, 1) if t.ndim == 3 else t[None]


def _pil(a, size, mode="uint8"):
    im = Image.fromarray(a.astype(np.float32), mode="F") if mode == "F" else Image.fromarray(a)
    r = np.asarray(im.resize(size, Image.BICUBIC)).astype(np.float32)
    return _to_t(r).numpy()


@pytest.mark.parametrize("scale", SCALES)
def test_bicubic_matches_pil_8bit(fundus_rgb, cxr_gray, scale):
    """Within 0.5 grey level of PIL on average, never more than 1 (PIL rounds to 8 bits between its two passes)."""
    for a in (fundus_rgb, cxr_gray):
        h, w = a.shape[:2]
        ref = _pil(a, (w // scale, h // scale))
        out = imresize(_to_t(a), 1.0 / scale).numpy()
        assert out.shape == ref.shape
        diff = np.abs(np.clip(out, 0, 255) - ref)
        assert diff.mean() < 0.35, diff.mean()
        assert diff.max() <= 1.05, diff.max()
        same = (np.clip(np.round(out), 0, 255) == ref).mean()
        assert same > 0.8, same


@pytest.mark.parametrize("scale", SCALES)
def test_bicubic_equals_pil_float_and_emulated_8bit(cxr_gray, scale):
    """Same operator as PIL: equal to PIL's float ('F') resize, and bit-exact to its 8-bit path when its rounding
    between passes is emulated."""
    h, w = cxr_gray.shape
    size = (w // scale, h // scale)
    ref_f = _pil(cxr_gray, size, "F")
    out = imresize(_to_t(cxr_gray), 1.0 / scale).numpy()
    assert np.abs(out - ref_f).max() < 1e-3
    x = torch.from_numpy(cxr_gray.astype(np.float64))[None]
    y = torch.floor(resample_axis(x, 2, size[0]) + 0.5).clamp(0, 255)
    y = torch.floor(resample_axis(y, 1, size[1]) + 0.5).clamp(0, 255).numpy()
    ref8 = _pil(cxr_gray, size)
    assert (y != ref8).mean() < 1e-3  # PIL's fixed-point weights flip a handful of ties


@pytest.mark.parametrize("mode,pil", [("bilinear", Image.BILINEAR), ("area", Image.BOX), ("lanczos", Image.LANCZOS)])
def test_other_modes_match_pil(cxr_gray, mode, pil):
    a = cxr_gray[:200, :300].astype(np.float32)
    for size in ((75, 50), (600, 400), (111, 77)):
        ref = np.asarray(Image.fromarray(a, mode="F").resize(size, pil))
        out = imresize(torch.from_numpy(a)[None], size=size[::-1], mode=mode).numpy()[0]
        assert np.abs(out - ref).max() < 1e-2, (mode, size)


def test_upsampling_matches_pil(fundus_rgb):
    a = fundus_rgb[:96, :128]
    ref = _pil(a, (128 * 4, 96 * 4))
    out = imresize(_to_t(a), 4).numpy()
    # PIL rounds between passes; the cubic lobes (sum |w| ≈ 1.1) can carry that 0.5 into slightly more than 1
    assert np.abs(np.clip(out, 0, 255) - ref).max() <= 1.2


def test_large_axis_blocked_path_equals_dense():
    """Axes too large for one dense matrix use banded blocks; the result is the same matrix product."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 1500)
    out = imresize(x, size=(3, 375), spatial_dims=2)  # only the last axis changes (1500 → 375)
    dense = x.double() @ resize_weights(1500, 375).t()
    assert torch.allclose(out.double(), dense, atol=1e-5)


def test_batch_3d_and_per_axis():
    torch.manual_seed(0)
    vol = torch.rand(2, 1, 16, 20, 24)
    out = imresize(vol, (1, 1, 0.25))
    assert out.shape == (2, 1, 16, 20, 6)
    assert torch.equal(out[..., :16, :20, :], out)  # in-plane untouched
    # slice axis only: equal to resampling that axis alone
    assert torch.allclose(out, resample_axis(vol, 4, 6), atol=1e-6)
    single = imresize(vol[0], 0.5, spatial_dims=3)
    assert single.shape == (1, 8, 10, 12)
    assert torch.allclose(single, imresize(vol, 0.5)[0], atol=1e-6)
    # a 4-dim tensor with a scalar factor is a 2D batch
    assert imresize(torch.rand(2, 3, 16, 16), 0.5).shape == (2, 3, 8, 8)


def test_constant_preserved_and_area_is_block_mean():
    x = torch.full((1, 12, 12), 0.37)
    for mode in ("bicubic", "bilinear", "area", "lanczos", "nearest"):
        assert torch.allclose(imresize(x, 1 / 3, mode=mode), torch.full((1, 4, 4), 0.37), atol=1e-6)
    y = torch.arange(16.0).reshape(1, 4, 4)
    assert torch.allclose(imresize(y, 0.5, mode="area"), y.reshape(1, 2, 2, 2, 2).mean((2, 4)))


def test_metatensor_affine_rescaled():
    img = MetaTensor(torch.rand(1, 8, 8), affine=torch.diag(torch.tensor([0.5, 0.5, 1.0, 1.0], dtype=torch.float64)))
    out = imresize(img, 0.25)
    assert isinstance(out, MetaTensor)
    assert torch.allclose(out.affine[0, 0], torch.tensor(2.0, dtype=torch.float64))
    # LR pixel 0 centre = HR position 1.5 → 0.75 mm
    assert torch.allclose(out.affine[0, 3], torch.tensor(0.75, dtype=torch.float64))


def test_bad_arguments():
    x = torch.rand(1, 8, 8)
    with pytest.raises(ConfigError):
        imresize(x)
    with pytest.raises(ConfigError):
        imresize(x, 0.5, size=4)
    with pytest.raises(ConfigError):
        imresize(x, 0.5, mode="cubic-spline")
    with pytest.raises(ConfigError):
        imresize(x, (0.5, 0.5, 0.5))
