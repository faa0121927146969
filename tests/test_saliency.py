"""Local saliency of paper 003 (section 2): each equation against an independent reference, vessels more salient
than background on a real fundus photograph, the soft histogram's gradient, 3D."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from monai_srgan.errors import ConfigError
from monai_srgan.losses import LocalSaliency, SaliencyLoss, to_grayscale


@pytest.fixture(scope="module")
def fundus_green(data_root) -> np.ndarray:
    """Green channel of HRF image 01 (healthy), 3504x2336, float in [0, 1]."""
    return np.asarray(Image.open(data_root / "retina" / "hrf_01_h.jpg"), dtype=np.float32)[..., 1] / 255.0


def _vessel_masks(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vessels: the strongest 8% of a multi-scale Frangi vesselness (dark ridges); background: far from any ridge."""
    from skimage.filters import frangi

    v = frangi(crop, sigmas=[2, 3, 4, 5], black_ridges=True)
    vessels = v > np.percentile(v, 92)
    background = ~ndimage.binary_dilation(v > np.percentile(v, 80), iterations=4)
    return vessels, background


@pytest.mark.parametrize("histogram", ["hard", "soft"])
def test_vessels_more_salient_than_background(fundus_green, histogram):
    crops = [fundus_green[900:1028, 1500:1628], fundus_green[1168:1296, 1152:1280]]
    x = torch.from_numpy(np.stack(crops))[:, None]
    sal = LocalSaliency(histogram=histogram)(x)
    assert sal.shape == x.shape and float(sal.min()) >= 0.0 and float(sal.max()) <= 1.0 + 1e-6
    for i, crop in enumerate(crops):
        vessels, background = _vessel_masks(crop)
        assert vessels.sum() > 200 and background.sum() > 2000
        s = sal[i, 0].numpy()
        assert s[vessels].mean() > 1.2 * s[background].mean(), (i, s[vessels].mean(), s[background].mean())


def test_saliency_is_per_image_and_combines_eq3(fundus_green):
    x = torch.from_numpy(np.stack([fundus_green[900:964, 1500:1564], fundus_green[1168:1232, 1152:1216]]))[:, None]
    ls = LocalSaliency()
    c = ls.components(x)
    assert torch.allclose(c["saliency"], 0.4 * c["d_curv"] + 0.6 * c["d_compactness"])
    assert torch.allclose(ls(x[1:]), c["saliency"][1:], atol=1e-6)  # no cross-talk inside the batch
    for k in ("d_curv", "d_compactness"):  # eq. 2 maps normalised to [0, 1]
        assert float(c[k].min()) == pytest.approx(0.0, abs=1e-6) and float(c[k].max()) == pytest.approx(1.0, 1e-5)
    # the smoothing of 1 - I_Ent is a 3x3 Gaussian with sigma 0.5 (scipy: truncate 2 -> radius 1, edge mode nearest)
    ref = ndimage.gaussian_filter(1.0 - c["entropy"][0, 0].numpy(), sigma=0.5, truncate=2.0, mode="nearest")
    assert np.allclose(c["compactness"][0, 0].numpy(), ref, atol=1e-5)


def test_entropy_matches_loop_reference(fundus_green):
    crop = fundus_green[1168:1188, 1152:1172]
    ls = LocalSaliency(histogram="hard")
    g = ls._prepare(torch.from_numpy(crop)[None, None])
    ent = ls.entropy(g)[0, 0].numpy()
    gn = g[0, 0].numpy()
    idx = np.clip(np.floor(gn * 8), 0, 7).astype(int)
    ref = np.zeros_like(gn)
    for i in range(gn.shape[0]):
        for j in range(gn.shape[1]):
            w = idx[max(0, i - 3) : i + 4, max(0, j - 3) : j + 4]
            p = np.bincount(w.ravel(), minlength=8) / w.size
            p = p[p > 0]
            ref[i, j] = -(p * np.log(p)).sum() / math.log(8)
    assert np.allclose(ent, ref, atol=1e-5)


def test_soft_histogram_equals_hard_on_bin_centres_and_has_gradient():
    torch.manual_seed(0)
    levels = (torch.randint(0, 8, (1, 1, 24, 24)).float() + 0.5) / 8
    levels[0, 0, 0, 0], levels[0, 0, -1, -1] = 0.5 / 8, 7.5 / 8  # fixes the per-image range to the bin centres
    ls = LocalSaliency(value_range=(0, 1))
    assert torch.allclose(ls.entropy(levels, soft=True), ls.entropy(levels, soft=False), atol=1e-6)
    x = (levels + 0.03 * torch.randn_like(levels)).clamp(0, 1).requires_grad_(True)
    ls.entropy(x, soft=True).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert not ls.entropy(x, soft=False).requires_grad  # the paper's hard histogram: no gradient path at all


def test_uniqueness_matches_loop_reference():
    torch.manual_seed(0)
    f = torch.rand(1, 1, 12, 10)
    d = LocalSaliency().uniqueness(f)[0, 0].numpy()
    fp = np.pad(f[0, 0].numpy(), 3, mode="edge")
    ref = np.zeros((12, 10))
    for i in range(12):
        for j in range(10):
            for di in range(-3, 4):
                for dj in range(-3, 4):
                    ref[i, j] += math.exp(-math.hypot(di, dj)) * abs(fp[i + 3, j + 3] - fp[i + 3 + di, j + 3 + dj])
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    assert np.allclose(d, ref, atol=1e-5)


def test_curvature_of_circles_and_spheres():
    """Eq. 1 on f = distance to a point: isophotes are circles of radius r, curvature 1/r (2D); the 3D form gives
    the sum of the principal curvatures of spheres, 2/r."""
    ls = LocalSaliency(derivative_sigma=0.0, curvature_eps=1e-6)
    n = 64
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    r = torch.sqrt((yy - 31.5) ** 2 + (xx - 31.5) ** 2)
    k = ls.curvature(r[None, None])[0, 0]
    ring = (r > 8) & (r < 25)
    assert torch.allclose(k[ring].abs(), 1.0 / r[ring], rtol=0.03)
    assert (torch.sign(k[ring]) == torch.sign(k[ring][0])).all()
    m = 24
    z, y, x = torch.meshgrid(*[torch.arange(m, dtype=torch.float64)] * 3, indexing="ij")
    r3 = torch.sqrt((z - 11.5) ** 2 + (y - 11.5) ** 2 + (x - 11.5) ** 2)
    k3 = ls.curvature(r3[None, None])[0, 0]
    shell = (r3 > 5) & (r3 < 10)
    assert torch.allclose(k3[shell].abs(), 2.0 / r3[shell], rtol=0.05)


def test_saliency_loss_gradient_descends(fundus_green):
    """The soft-histogram SR path carries a useful gradient: descending it reduces eq. 9."""
    hr = torch.from_numpy(fundus_green[900:948, 1500:1548].copy())[None, None]
    sr = torch.nn.functional.avg_pool2d(hr, 3, stride=1, padding=1, count_include_pad=False).requires_grad_(True)
    loss_fn = SaliencyLoss()
    opt = torch.optim.Adam([sr], lr=2e-3)
    first = None
    for _ in range(15):
        opt.zero_grad()
        loss = loss_fn(sr, hr)
        first = float(loss.detach()) if first is None else first
        loss.backward()
        assert torch.isfinite(sr.grad).all()
        opt.step()
    assert float(loss_fn(sr, hr).detach()) < 0.8 * first


def test_saliency_3d_volume(data_root):
    import nibabel as nib

    vol = np.asarray(nib.load(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz").dataobj, dtype=np.float32)
    c = [s // 2 for s in vol.shape]
    v = torch.from_numpy(np.ascontiguousarray(vol[c[0] - 12 : c[0] + 12, c[1] - 12 : c[1] + 12, c[2] - 6 : c[2] + 6]))
    x = v[None, None]
    sal = LocalSaliency(neighbourhood=5)(x)
    assert sal.shape == x.shape and torch.isfinite(sal).all() and float(sal.max()) <= 1.0 + 1e-6
    sr = (x + 0.05 * x.std() * torch.randn_like(x)).requires_grad_(True)
    loss = SaliencyLoss(neighbourhood=5)(sr, x)
    loss.backward()
    assert float(loss.detach()) > 0 and torch.isfinite(sr.grad).all()


def test_grayscale_and_errors():
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(to_grayscale(x), 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:])
    assert torch.equal(to_grayscale(x, 1), x[:, 1:2])
    with pytest.raises(ConfigError, match="histogram"):
        LocalSaliency(histogram="kde")
    with pytest.raises(ConfigError, match="neighbourhood"):
        LocalSaliency(neighbourhood=6)
    with pytest.raises(ValueError, match="shape"):
        LocalSaliency()(torch.rand(8, 8))
