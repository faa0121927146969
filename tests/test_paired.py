"""Paired augmentation on real images: aligned scale-aware crops, identical flips/rotations, errors naming files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from PIL import Image

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.transforms import (
    BicubicDownsample,
    BicubicDownsampled,
    RandHRPatchd,
    RandPairedCrop,
    RandPairedCropd,
    RandPairedFlipRotate,
    RandPairedFlipRotated,
    SliceThicknessDegradation,
)

B = 2  # bicubic ×4 support is 8 HR = 2 LR pixels: patch borders see pixels outside the crop


@pytest.fixture(scope="module")
def fundus(data_root):
    path = data_root / "retina" / "idrid_IDRiD_01.jpg"
    a = np.asarray(Image.open(path).convert("RGB"))[1200:1584, 1400:1912]
    t = torch.from_numpy(a.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()
    return MetaTensor(t, meta={"filename_or_obj": str(path)})


@pytest.fixture(scope="module")
def cxr(data_root):
    path = data_root / "cxr" / "nih_00000075_000.png"
    a = np.asarray(Image.open(path).convert("L"))[256:768, 256:768]
    return MetaTensor(torch.from_numpy(a.astype(np.float32) / 255.0)[None], meta={"filename_or_obj": str(path)})


def _pair(img, scale=4):
    d = BicubicDownsampled(keys="hr", lr_key="lr", scale=scale)({"hr": img})
    return d["hr"], d["lr"]


def test_paired_crop_is_aligned(fundus):
    """Degrading the HR crop reproduces the LR crop (away from the patch border); a one-pixel shift does not."""
    hr, lr = _pair(fundus)
    fov = (hr.mean(0, keepdim=True) > 0.2).float()
    t = RandPairedCropd(lr_key="lr", hr_key="hr", lr_patch_size=24, scale=4)
    for seed in range(5):
        out = t.set_random_state(seed)({"lr": lr, "hr": hr, "fov": fov})
        assert out["lr"].shape == (3, 24, 24) and out["hr"].shape == (3, 96, 96) and out["fov"].shape == (1, 96, 96)
        assert torch.equal(out["fov"], (out["hr"].mean(0, keepdim=True) > 0.2).float())
        redo = BicubicDownsample(4)(out["hr"])
        err = (redo - out["lr"])[:, B:-B, B:-B].abs().max()
        assert err < 1e-5, err
        y, x = (int(v) for v in t.cropper._start[:2])
        if x + 25 <= lr.shape[-1]:
            shifted = lr[:, y : y + 24, x + 1 : x + 25]
            assert (redo - shifted)[:, B:-B, B:-B].abs().max() > 100 * max(float(err), 1e-6)
    # MetaTensor affines stay consistent: LR and HR crops start at the same physical corner (pixel edges)
    hr_c, lr_c = out["hr"], out["lr"]
    corner = lambda m, f: m.affine[:2, 3] - 0.5 * f * torch.ones(2, dtype=m.affine.dtype)  # noqa: E731
    assert torch.allclose(corner(hr_c, 1.0), corner(lr_c, 4.0))


def test_paired_crop_reproducible_and_array_version(cxr):
    hr, lr = _pair(cxr, 2)
    d = {"lr": lr, "hr": hr}
    t = RandPairedCropd(lr_patch_size=(32, 48), scale=2)
    a, b, c = (t.set_random_state(s)(d) for s in (1, 1, 2))
    assert torch.equal(a["lr"], b["lr"]) and torch.equal(a["hr"], b["hr"]) and not torch.equal(a["lr"], c["lr"])
    assert a["lr"].shape == (1, 32, 48) and a["hr"].shape == (1, 64, 96)
    lr_c, hr_c = RandPairedCrop(32, 2).set_random_state(3)(lr, hr)
    assert torch.allclose(BicubicDownsample(2)(hr_c)[:, B:-B, B:-B], lr_c[:, B:-B, B:-B], atol=1e-5)


def test_paired_crop_errors_name_the_file(cxr):
    hr, lr = _pair(cxr, 4)
    with pytest.raises(InputFileError, match="nih_00000075_000.png.*smaller than the LR patch"):
        RandPairedCropd(lr_patch_size=200, scale=4)({"lr": lr, "hr": hr})
    # pre-paired files that are not a ×4 pair
    with pytest.raises(InputFileError, match="nih_00000075_000.png.*not"):
        RandPairedCropd(lr_patch_size=16, scale=2)({"lr": lr, "hr": hr})
    with pytest.raises(InputFileError, match="not aligned"):
        RandPairedCropd(lr_patch_size=16, scale=4)({"lr": lr, "hr": hr, "fov": torch.ones(1, 10, 10)})
    with pytest.raises(ConfigError):
        RandPairedCropd(lr_patch_size=16, scale=4)({"lr": lr})


def test_hr_patch_then_degrade(fundus):
    fov = (fundus.mean(0, keepdim=True) > 0.2).float()
    t = RandHRPatchd(keys="hr", patch_size=128)
    a = t.set_random_state(0)({"hr": fundus, "fov": fov})
    b = t.set_random_state(0)({"hr": fundus, "fov": fov})
    assert torch.equal(a["hr"], b["hr"]) and a["hr"].shape == (3, 128, 128)
    assert torch.equal(a["fov"], (a["hr"].mean(0, keepdim=True) > 0.2).float())
    with pytest.raises(InputFileError, match="idrid_IDRiD_01.jpg.*smaller than the patch size"):
        RandHRPatchd(keys="hr", patch_size=(400, 128))({"hr": fundus})


def test_flips_rot90_keep_pairs_consistent(fundus):
    """Flips and rot90 commute with bicubic degradation: aug(LR) == degrade(aug(HR)) exactly (interior)."""
    hr, lr = _pair(fundus[:, :256, :256])
    t = RandPairedFlipRotated(keys=("lr", "hr"), flip_prob=0.5, rot90_prob=1.0)
    seen = set()
    for seed in range(6):
        out = t.set_random_state(seed)({"lr": lr, "hr": hr})
        p = t.aug.params
        seen.add((tuple(p["flips"]), p["k"]))
        redo = BicubicDownsample(4)(out["hr"])
        assert torch.allclose(redo[:, B:-B, B:-B], out["lr"][:, B:-B, B:-B], atol=1e-5)
    assert len(seen) > 3
    again = t.set_random_state(5)({"lr": lr, "hr": hr})
    assert torch.equal(again["hr"], out["hr"]) and torch.equal(again["lr"], out["lr"])


def test_small_rotation_identical_on_lr_and_hr(cxr):
    hr, lr = _pair(cxr[:, :256, :256], 4)
    fov = (hr > 0.3).float()
    t = RandPairedFlipRotated(keys=("lr", "hr"), flip_prob=0.0, rot90_prob=0.0, rotate_prob=1.0, rotate_range=10)
    out = t.set_random_state(0)({"lr": lr, "hr": hr, "fov": fov})
    angle = t.aug.params["angle"]
    assert 0 < abs(angle) <= 10
    assert out["lr"].shape == lr.shape and out["hr"].shape == hr.shape
    assert set(torch.unique(out["fov"]).tolist()) <= {0.0, 1.0}  # mask: nearest
    # same geometry: the degraded rotated HR is close to the rotated LR, much closer than to the unrotated LR
    redo = BicubicDownsample(4)(out["hr"])[:, 8:-8, 8:-8]
    assert (redo - out["lr"][:, 8:-8, 8:-8]).abs().mean() < 0.5 * (redo - lr[:, 8:-8, 8:-8]).abs().mean()
    # the array version applies one draw to all images
    a, b = RandPairedFlipRotate(rotate_prob=1.0).set_random_state(0)(lr, hr)
    assert torch.allclose(a, out["lr"]) and torch.allclose(b, out["hr"])


def test_3d_slice_pairs(data_root):
    import nibabel as nib

    v = np.asarray(nib.load(str(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz")).dataobj, dtype=np.float32)
    v = torch.from_numpy(v[:64, :64, :20] / max(float(v.max()), 1.0))[None]
    lr = SliceThicknessDegradation(scale=4)(v)
    assert lr.shape == (1, 64, 64, 5)
    d = RandPairedCropd(lr_patch_size=(32, 32, 3), scale=(1, 1, 4)).set_random_state(0)({"lr": lr, "hr": v})
    assert d["lr"].shape == (1, 32, 32, 3) and d["hr"].shape == (1, 32, 32, 12)
    assert torch.allclose(SliceThicknessDegradation(scale=4)(d["hr"]), d["lr"], atol=1e-6)  # box profile: exact
    out = RandPairedFlipRotated(keys=("lr", "hr"), rot90_prob=1.0).set_random_state(1)(d)
    assert out["lr"].shape[-1] == 3 and out["hr"].shape[-1] == 12  # in-plane only
    assert torch.allclose(SliceThicknessDegradation(scale=4)(out["hr"]), out["lr"], atol=1e-6)
