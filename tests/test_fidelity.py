"""Fidelity metrics and bicubic-baseline reports on real fundus and chest X-ray crops."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from monai_srgan.metrics import (
    erasure_map,
    evaluate_pair,
    format_table,
    hallucination_map,
    hallucination_score,
    lr_consistency,
    psnr,
    rows_from_results,
    summarize,
    vessel_agreement,
    vessel_map,
    vesselness,
    write_report,
)
from monai_srgan.transforms.resize import imresize


def _t(img: Image.Image | np.ndarray) -> torch.Tensor:
    a = np.asarray(img).astype(np.float32) / 255.0
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))[None]


@pytest.fixture(scope="module")
def fundus_crop(data_root) -> Image.Image:
    """256x256 HRF crop with a vessel bifurcation."""
    return Image.open(data_root / "retina" / "hrf_01_h.jpg").convert("RGB").crop((1200, 900, 1456, 1156))


@pytest.fixture(scope="module")
def xray_crop(data_root) -> Image.Image:
    return Image.open(data_root / "cxr" / "nih_00000075_000.png").convert("L").crop((300, 300, 556, 556))


# --------------------------------------------------------------------------- LR consistency


@pytest.mark.parametrize("which", ["fundus", "xray"])
def test_lr_consistency_bicubic_high_shift_low(which, fundus_crop, xray_crop):
    hr = _t(fundus_crop if which == "fundus" else xray_crop)
    lr = imresize(hr, 0.25)
    bic = imresize(lr, 4.0)
    good = lr_consistency(bic, lr, scale=4)
    shifted = lr_consistency(torch.roll(bic, shifts=(6, 6), dims=(2, 3)), lr, scale=4, crop_border=2)
    good_c = lr_consistency(bic, lr, scale=4, crop_border=2)
    assert good["residual"].shape == lr.shape and good["degraded"].shape == lr.shape
    assert float(good_c["psnr"]) > 40.0  # bicubic upsampling re-degrades to (almost) its input
    assert float(good_c["psnr"]) - float(shifted["psnr"]) > 10.0
    assert float(shifted["residual"].abs().mean()) > 3 * float(good["residual"].abs().mean())
    # the HR image is consistent with its own LR exactly: the same operator made the LR
    assert float(lr_consistency(hr, lr)["psnr"]) > 80.0


def test_lr_consistency_custom_operator_and_checks(fundus_crop):
    hr = _t(fundus_crop)
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    box = lr_consistency(hr, lr, degrade=lambda x: torch.nn.functional.avg_pool2d(x, 4))
    assert torch.isinf(box["psnr"]).all()
    default = lr_consistency(hr, lr)  # bicubic re-degradation of a box-made LR: consistent but not exact
    assert 35.0 < float(default["psnr"]) < 80.0
    with pytest.raises(ValueError):
        lr_consistency(hr, lr, scale=2)


# --------------------------------------------------------------------------- vessels


def test_vesselness_finds_vessels(fundus_crop):
    v = vesselness(_t(fundus_crop))
    assert v.shape == (1, 1, 256, 256) and float(v.min()) >= 0 and float(v.max()) <= 1
    vm = vessel_map(_t(fundus_crop))
    frac = float(vm.float().mean())
    assert 0.02 < frac < 0.25  # this crop has vessels; the map is not the whole image
    # vessels are dark on the green channel: vessel pixels are darker than the rest
    g = _t(fundus_crop)[:, 1:2]
    assert float(g[vm].mean()) < float(g[~vm].mean()) - 0.02
    # bright ridges are found with black_ridges=False on the negative image
    v_neg = vesselness(1 - _t(fundus_crop), black_ridges=False)
    torch.testing.assert_close(v_neg, v, atol=2e-3, rtol=0)  # float32 rounding flips a few near-zero eigenvalues
    # a crop of uniform colour has no vessels
    flat = torch.full((1, 3, 64, 64), 0.5)
    assert not vessel_map(flat).any()


def test_vessel_agreement_self_and_blur(fundus_crop):
    hr = _t(fundus_crop)
    same = vessel_agreement(hr, hr)
    assert float(same["f1"]) == 1.0 and float(same["precision"]) == 1.0 and float(same["recall"]) == 1.0
    assert not same["false_vessels"].any() and not same["missed_vessels"].any()
    assert same["hr_vessels"].sum() > 1000
    blurred = _t(fundus_crop.filter(ImageFilter.GaussianBlur(2.5)))
    res = vessel_agreement(blurred, hr)
    assert float(res["f1"]) < 0.93
    assert int(res["missed_vessels"].sum()) > int(res["false_vessels"].sum())  # blur erases, does not invent
    # tolerance forgives small misplacements: bicubic x4 agrees better with a 1-pixel tolerance
    bic = imresize(imresize(hr, 0.25), 4.0)
    f0 = float(vessel_agreement(bic, hr)["f1"])
    f1 = float(vessel_agreement(bic, hr, tolerance=1)["f1"])
    assert f1 > f0
    # batch of two = two singles
    both = vessel_agreement(torch.cat([hr, blurred]), torch.cat([hr, hr]))
    assert torch.allclose(both["f1"], torch.stack([same["f1"][0], res["f1"][0]]))


def test_vessel_agreement_detects_invented_vessel(fundus_crop):
    hr = fundus_crop.copy()
    fake = hr.copy()
    draw = ImageDraw.Draw(fake)
    draw.line([(20, 230), (120, 180)], fill=(120, 20, 10), width=4)  # a dark red "vessel" absent from HR
    res = vessel_agreement(_t(fake), _t(hr))
    fv = res["false_vessels"][0, 0]
    assert float(res["precision"]) < 1.0 and float(res["recall"]) > 0.95
    # the false vessels lie on the drawn line
    ys, xs = torch.nonzero(fv, as_tuple=True)
    assert len(ys) > 100
    assert float(((xs >= 15) & (xs <= 125) & (ys >= 170) & (ys <= 240)).float().mean()) > 0.9


def test_vesselness_fov_mask_excludes_rim(data_root):
    img = Image.open(data_root / "retina" / "hrf_05_h.jpg").convert("RGB").resize((704, 464), Image.BICUBIC)
    hr = _t(img)
    fov = hr[:, :1] > 20 / 255
    bic = imresize(imresize(hr, 0.25), 4.0)
    unmasked = vessel_agreement(bic, hr, sigmas=(1.0, 1.5, 2.0))
    masked = vessel_agreement(bic, hr, sigmas=(1.0, 1.5, 2.0), mask=fov)
    assert int(masked["hr_vessels"].sum()) < int(unmasked["hr_vessels"].sum())
    assert not (masked["hr_vessels"] & ~fov).any()


def test_vesselness_3d_tube():
    # a dark tube along the last axis of a bright volume
    z = torch.ones(1, 1, 24, 24, 24)
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    tube = torch.exp(-((yy - 12) ** 2 + (xx - 12) ** 2) / (2 * 1.5**2))
    vol = z - 0.3 * tube[None, None, :, :, None]
    v = vesselness(vol, sigmas=(1.0, 2.0))
    assert v.shape == vol.shape
    assert float(v[0, 0, 12, 12, 12]) > 0.5 and float(v[0, 0, 3, 3, 12]) < 0.05


@pytest.mark.slow
def test_itk_objectness_agrees_with_torch_frangi(fundus_crop):
    pytest.importorskip("itk")
    hr = _t(fundus_crop.crop((0, 0, 128, 128)))
    v_torch = vesselness(hr, sigmas=(1.0, 2.0, 3.0))
    v_itk = vesselness(hr, sigmas=(1.0, 2.0, 3.0), method="itk")
    assert v_itk.shape == v_torch.shape
    corr = np.corrcoef(v_itk.flatten().numpy(), v_torch.flatten().numpy())[0, 1]
    assert corr > 0.95


# --------------------------------------------------------------------------- hallucination


def test_hallucination_map_noise_and_edges(xray_crop, fundus_crop):
    hr = _t(xray_crop)
    assert float(hallucination_map(hr, hr).abs().max()) == 0.0
    bic = imresize(imresize(hr, 0.25), 4.0)
    noisy = (hr + 0.03 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    s_bic, s_noisy = float(hallucination_score(bic, hr)), float(hallucination_score(noisy, hr))
    assert s_noisy > 10 * s_bic and s_noisy > 1e-3
    # bicubic erases detail instead
    assert float(erasure_map(bic, hr).mean()) > 10 * float(hallucination_map(bic, hr).mean())
    # invented edges light up where they were drawn
    edged = xray_crop.copy()
    ImageDraw.Draw(edged).rectangle([60, 60, 120, 120], outline=255, width=2)
    hmap = hallucination_map(_t(edged), hr)[0, 0]
    ring = torch.zeros_like(hmap, dtype=torch.bool)
    ring[56:126, 56:126] = True
    ring[66:116, 66:116] = False
    assert float(hmap[ring].mean()) > 20 * float(hmap[~ring].mean())
    assert float(hallucination_score(_t(edged), hr)) > s_bic
    # RGB and masks
    f = _t(fundus_crop)
    m = torch.zeros(1, 1, 256, 256)
    m[..., :128] = 1
    f_noisy = f.clone()
    f_noisy[..., 128:] += 0.05 * torch.randn(1, 3, 256, 128, generator=torch.Generator().manual_seed(1))
    assert float(hallucination_score(f_noisy, f, mask=m)) < 0.1 * float(hallucination_score(f_noisy, f, mask=1 - m))


# --------------------------------------------------------------------------- report


def test_evaluate_pair_side_by_side(fundus_crop, tmp_path):
    hr = torch.cat([_t(fundus_crop), _t(fundus_crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT))])
    lr = imresize(hr, 0.25)
    bic = imresize(lr, 4.0)
    # a "model" equal to bicubic has zero gain
    res = evaluate_pair(bic, hr, lr, scale=4)
    assert torch.allclose(res["psnr_gain"], torch.zeros(2, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(res["psnr_bicubic"], psnr(bic.clamp(0, 1), hr, crop_border=4))
    # a model with added texture: worse PSNR, worse LR-consistency, more hallucination than bicubic
    sr = bic + 0.03 * torch.randn(bic.shape, generator=torch.Generator().manual_seed(0))
    res = evaluate_pair(sr, hr, lr, vessels=True)
    keys = list(res)
    assert keys[:3] == ["psnr_model", "psnr_bicubic", "psnr_gain"]
    assert (res["psnr_gain"] < 0).all()
    assert (res["lr_psnr_model"] < res["lr_psnr_bicubic"]).all()
    assert (res["hallucination_model"] > res["hallucination_bicubic"]).all()
    assert {"vessel_f1_model", "vessel_f1_bicubic"} <= set(keys)
    assert all(v.shape == (2,) for v in res.values())

    rows = rows_from_results(res, names=["a.png", "b.png"], scale=[4, 4])
    assert rows[0]["image"] == "a.png" and rows[0]["scale"] == 4
    summary = summarize(rows)
    assert summary["psnr_model"]["n"] == 2
    assert abs(summary["psnr_model"]["mean"] - float(res["psnr_model"].mean())) < 1e-9
    table = format_table(summary)
    assert "| psnr |" in table and "| vessel_f1 |" in table

    p_csv = write_report(rows, tmp_path / "out" / "metrics.csv")
    with p_csv.open() as fh:
        read = list(csv.DictReader(fh))
    assert [r["image"] for r in read] == ["a.png", "b.png", "mean"]
    assert abs(float(read[0]["psnr_bicubic"]) - rows[0]["psnr_bicubic"]) < 1e-9
    # identical images give inf PSNR; JSON stays strict
    rows_inf = rows_from_results(evaluate_pair(hr, hr, lr, fidelity=False))
    p_json = write_report(rows_inf, tmp_path / "metrics.json", meta={"scale": 4})
    doc = json.loads(p_json.read_text())
    assert doc["meta"]["scale"] == 4 and doc["images"][0]["psnr_model"] == "inf"
    assert doc["summary"]["psnr_model"]["n_nonfinite"] == 2


def test_evaluate_pair_fov_mask(data_root):
    img = Image.open(data_root / "retina" / "hrf_05_h.jpg").convert("RGB").resize((352, 232), Image.BICUBIC)
    hr = _t(img)
    fov = hr[:, :1] > 20 / 255
    lr = imresize(hr, 0.25)
    # a "model" that renders the black background perfectly and errs inside the field of view only
    sr = hr + 0.02 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(0)) * fov
    full = evaluate_pair(sr, hr, lr)
    masked = evaluate_pair(sr, hr, lr, mask=fov)
    inside = float(fov[..., 4:-4, 4:-4].float().mean())
    gap = float(full["psnr_model"] - masked["psnr_model"])
    assert abs(gap - (-10 * np.log10(inside))) < 0.05  # the background inflates full-image PSNR by this much
    assert gap > 0.5
    assert torch.isfinite(masked["lr_psnr_model"]).all()


def test_evaluate_pair_3d_through_plane(data_root):
    """Through-plane x4 SR of a real MR volume: per-axis scale, crop only along the SR axis, thin-axis SSIM."""
    nib = pytest.importorskip("nibabel")
    vol = np.asarray(nib.load(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz").dataobj, dtype=np.float32)
    hr = torch.from_numpy(vol[20:84, 20:84, 2:18])[None, None]
    hr = hr / hr.max()
    lr = imresize(hr, (1, 1, 0.25))
    assert lr.shape[2:] == (64, 64, 4)
    bic = imresize(lr, size=(64, 64, 16))
    sr = bic + 0.02 * torch.randn(bic.shape, generator=torch.Generator().manual_seed(0))
    res = evaluate_pair(sr, hr, lr, input_range=(0.0, 1.0))
    # default crop: 4 slices at each end of the SR axis, none in-plane
    assert torch.allclose(res["psnr_bicubic"], psnr(bic.clamp(0, 1), hr, crop_border=(0, 0, 4)))
    assert all(torch.isfinite(v).all() for v in res.values())
    assert (res["psnr_gain"] < 0).all() and (res["ssim_gain"] < 0).all()
    assert 0.3 < float(res["ssim_bicubic"]) < 1.0
    assert float(res["lr_psnr_bicubic"]) > float(res["lr_psnr_model"])
