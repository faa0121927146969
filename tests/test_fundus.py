"""Tests of monai_srgan.transforms.fundus on real HRF / IDRiD / scikit-image fundus photographs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scipy import ndimage

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.transforms.fundus import FundusFOV, FundusFOVD, FundusFOVd, estimate_fov_mask
from monai_srgan.transforms.io import LoadMedicalImage

_IMAGES: dict[str, MetaTensor] = {}


def _load(data_root, name) -> MetaTensor:
    if name not in _IMAGES:
        _IMAGES[name] = LoadMedicalImage()(data_root / "retina" / name)
    return _IMAGES[name]


def _circle_fit(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Least-squares (Kasa) circle through the mask's boundary pixels that are not on the image border."""
    edge = mask & ~ndimage.binary_erosion(mask)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = False
    r, c = np.nonzero(edge)
    a = np.stack([2 * r, 2 * c, np.ones_like(r)], axis=1).astype(np.float64)
    sol, *_ = np.linalg.lstsq(a, (r**2 + c**2).astype(np.float64), rcond=None)
    r0, c0 = sol[0], sol[1]
    radius = np.sqrt(sol[2] + r0**2 + c0**2)
    resid = np.hypot(r - r0, c - c0) - radius
    return r0, c0, radius, float(np.std(resid))


@pytest.mark.parametrize("name", ["hrf_05_h.jpg", "idrid_IDRiD_05.jpg", "skimage_retina.jpg"])
def test_fov_mask_is_a_disc_and_the_border_is_dark(data_root, name):
    img = _load(data_root, name)
    mask = estimate_fov_mask(img)
    assert mask.shape == (1, *img.shape[1:]) and set(torch.unique(mask).tolist()) == {0.0, 1.0}
    m = mask[0].numpy() > 0
    h, w = m.shape
    frac = m.mean()
    assert 0.45 < frac < 0.95, frac
    # a disc: the boundary lies on a circle (to ~1% of the radius); the circle is about as wide as the FOV
    r0, c0, radius, resid = _circle_fit(m)
    assert resid < 0.01 * radius, (resid, radius)
    cols = np.nonzero(m.any(axis=0))[0]
    assert abs(2 * radius - (cols[-1] - cols[0] + 1)) < 0.05 * radius or cols[0] == 0
    # nearly convex: each row of the mask is one run (a camera notch may split a few rows)
    rows = m[:: max(1, h // 100)]
    runs = [np.count_nonzero(np.diff(row.astype(np.int8)) == 1) + int(row[0]) for row in rows]
    assert np.mean(np.array(runs) <= 1) > 0.95
    red = img[0].numpy()
    assert np.percentile(red[~m], 99) < 30  # outside the FOV: dark
    assert red[m].mean() > 80  # inside: the retina
    assert np.percentile(red[m], 1) > np.percentile(red[~m], 99)


def test_crop_resize_and_mask_hrf(data_root):
    img = _load(data_root, "hrf_05_h.jpg")
    out, mask = FundusFOV()(img)
    r0, r1, c0, c1 = out.meta["srgan_fov_box"]
    assert out.shape == (3, r1 - r0, c1 - c0) and mask.shape == (1, r1 - r0, c1 - c0)
    assert c0 > 50 and c1 < img.shape[-1] - 50  # the dark side borders are gone
    m = mask[0] > 0
    assert m[:, 0].any() and m[:, -1].any() and m[0].any() and m[-1].any()  # the mask touches every side
    torch.testing.assert_close(out.as_tensor(), img.as_tensor()[:, r0:r1, c0:c1])
    # the affine follows the crop: output pixel (0, 0) is input pixel (r0, c0)
    assert out.affine[0, 3] == pytest.approx(float(img.affine[0, 3] + r0 * img.affine[0, 0]))
    assert out.affine[1, 3] == pytest.approx(float(img.affine[1, 3] + c0 * img.affine[1, 1]))

    # paper 003: dark borders removed, 1024x1024 (here 256 to stay fast), padded to square so the eye keeps its shape
    sq, sq_mask = FundusFOV(spatial_size=256, pad_to_square=True)(img)
    assert sq.shape == (3, 256, 256) and sq_mask.shape == (1, 256, 256)
    sm = sq_mask[0].numpy() > 0
    assert abs(int(sm[128].sum()) - 256) <= 4  # the disc spans the width through its centre ...
    assert abs(int(sm[:, 128].sum()) - 256 * (r1 - r0) / (c1 - c0)) <= 4  # ... and the un-padded height
    top, bottom, left, right = sq.meta["srgan_fov_pad"]
    assert top + bottom == (c1 - c0) - (r1 - r0) and left == right == 0
    assert sq.meta["srgan_spacing"][0] == pytest.approx((c1 - c0) / 256, rel=1e-6)
    assert sq.meta["srgan_spacing"][0] == pytest.approx(sq.meta["srgan_spacing"][1], rel=1e-6)

    # fixed width, aspect kept
    wide, wmask = FundusFOV(width=300)(img)
    assert wide.shape[-1] == 300 and wide.shape[-2] == round((r1 - r0) * 300 / (c1 - c0))
    assert wmask.shape[1:] == wide.shape[1:]


def test_dict_version_and_mask_outside(data_root):
    img = _load(data_root, "skimage_retina.jpg")
    d = FundusFOVd(keys="image", spatial_size=(128, 128), mask_outside=True)({"image": img, "other": 1})
    assert d["image"].shape == (3, 128, 128) and d["fov"].shape == (1, 128, 128)
    assert d["other"] == 1
    # beyond the resize kernel's reach (2 output px at this reduction) the background is exactly 0 ...
    outside = torch.from_numpy(ndimage.binary_erosion(d["fov"][0].numpy() == 0, iterations=3))
    assert outside.sum() > 500 and float(d["image"][:, outside].abs().max()) < 0.05
    # ... where the JPEG has dark noise without mask_outside
    keep = FundusFOVd(keys="image", spatial_size=(128, 128))({"image": img})
    assert float(keep["image"][:, outside].max()) > 1.0
    assert d["image"][:, 2:-2, 2:-2].shape[1:] == (124, 124)
    assert d["fov"].meta["filename_or_obj"] == img.meta["filename_or_obj"]
    assert FundusFOVD is FundusFOVd
    two = FundusFOVd(keys=["image", "copy"], mask_key="mask")({"image": img, "copy": img.clone()})
    torch.testing.assert_close(two["image"].as_tensor(), two["copy"].as_tensor())
    assert two["mask"].shape[1:] == two["image"].shape[1:]


def test_no_dark_border_and_bad_input(data_root):
    crop = LoadMedicalImage()(data_root / "retina" / "skimage_microaneurysms.png")  # green channel inside the FOV
    out, mask = FundusFOV()(crop)
    assert out.shape == crop.shape and bool(mask.all())
    with pytest.raises(InputFileError, match="no field of view"):
        FundusFOV()(torch.zeros(3, 64, 64))
    with pytest.raises(ConfigError):
        FundusFOV(spatial_size=64, width=64)
    plain = FundusFOV(return_mask=False)(torch.as_tensor(_load(data_root, "skimage_retina.jpg").numpy()))
    assert isinstance(plain, torch.Tensor) and plain.shape[0] == 3
