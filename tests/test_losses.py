"""Losses on real fundus / chest X-ray crops: zero (or minimal) at identity, positive otherwise, finite gradients;
hand-computed adversarial values; per-image and per-pixel logits; GeneratorLoss configs (Python and docs JSON)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _paper_losses import PAPER_LOSSES, paper_generator_loss
from PIL import Image

from monai_srgan.errors import ConfigError
from monai_srgan.losses import (
    GAN_TYPES,
    PERCEPTUAL_PRESETS,
    AdversarialLoss,
    ArtifactMapLoss,
    CharbonnierLoss,
    FusionLoss,
    GeneratorLoss,
    HighFrequencyEnvelopeLoss,
    L1Loss,
    LRConsistencyLoss,
    MSELoss,
    PerceptualLoss,
    SaliencyLoss,
    SaliencyWeightedMSELoss,
    artifact_map,
    gram_matrix,
)
from monai_srgan.networks.features import VGGFeatureExtractor, build_vgg_features

REPO = Path(__file__).resolve().parents[1]


def _crop(path: Path, top: int, left: int, size: int, gray: bool = False) -> torch.Tensor:
    img = Image.open(path)
    img = img.convert("L") if gray else img.convert("RGB")
    a = np.asarray(img, dtype=np.float32)[top : top + size, left : left + size] / 255.0
    a = a[None] if gray else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.fixture(scope="module")
def fundus(data_root) -> torch.Tensor:
    """Two 48x48 RGB crops (vessels) of HRF image 01, (2, 3, 48, 48) in [0, 1]."""
    p = data_root / "retina" / "hrf_01_h.jpg"
    return torch.stack([_crop(p, 900, 1500, 48), _crop(p, 1168, 1152, 48)])


@pytest.fixture(scope="module")
def cxr(data_root) -> torch.Tensor:
    """Two 48x48 one-channel chest X-ray crops, (2, 1, 48, 48) in [0, 1]."""
    p = data_root / "cxr" / "nih_00000075_000.png"
    return torch.stack([_crop(p, 400, 300, 48, gray=True), _crop(p, 500, 600, 48, gray=True)])


def _degrade(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Bicubic down/up: what an SR network's blurry early output looks like."""
    size = x.shape[2:]
    lr = F.interpolate(x, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False)
    return F.interpolate(lr, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def _check_loss(loss_fn, hr: torch.Tensor, at_identity: float = 0.0, **kw) -> float:
    """Loss at identity equals ``at_identity``; on a degraded image it is larger, with finite non-zero gradients."""
    ident = float(loss_fn(hr.clone(), hr, **kw))
    assert ident == pytest.approx(at_identity, abs=1e-6)
    sr = _degrade(hr).requires_grad_(True)
    value = loss_fn(sr, hr, **kw)
    assert value.ndim == 0 and torch.isfinite(value)
    assert float(value.detach()) > ident + 1e-6
    value.backward()
    assert torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0
    return float(value.detach())


# ----------------------------------------------------------------------------------------------- content
@pytest.mark.parametrize("name", ["fundus", "cxr"])
def test_pixel_losses_real_images(name, request):
    hr = request.getfixturevalue(name)
    l1 = _check_loss(L1Loss(), hr)
    mse = _check_loss(MSELoss(), hr)
    assert mse < l1  # errors are < 1 in [0, 1] images
    eps = 1e-3
    charb = _check_loss(CharbonnierLoss(eps=eps), hr, at_identity=eps)
    assert l1 <= charb <= l1 + eps  # Charbonnier is a smoothed L1 bounded by |d| + eps


@pytest.mark.parametrize("name", ["fundus", "cxr"])
def test_hf_envelope_loss_separates_erased_from_invented_detail(name, request):
    from monai_srgan.metrics import erasure_map, hallucination_map

    hr = request.getfixturevalue(name)
    both = _check_loss(HighFrequencyEnvelopeLoss(), hr)
    blurred = _degrade(hr)
    # a blurred SR only erases: the hallucination half is 0 and the whole loss is the mean erasure map
    assert float(HighFrequencyEnvelopeLoss(erasure_weight=0.0)(blurred, hr)) == pytest.approx(0.0, abs=1e-5)
    assert both == pytest.approx(float(erasure_map(blurred, hr, data_range=1.0).mean()), rel=1e-4)
    # noise on HR invents detail: now the hallucination half carries the loss, scaled by its weight
    noisy = (hr + 0.05 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    invented = float(HighFrequencyEnvelopeLoss(erasure_weight=0.0)(noisy, hr))
    assert invented == pytest.approx(float(hallucination_map(noisy, hr, data_range=1.0).mean()), rel=1e-4)
    assert float(HighFrequencyEnvelopeLoss(hallucination_weight=3.0, erasure_weight=0.0)(noisy, hr)) == (
        pytest.approx(3 * invented, rel=1e-5)
    )
    # its gradient sharpens: one descent step from the blurred image lowers the loss and moves towards HR
    sr = blurred.clone().requires_grad_(True)
    HighFrequencyEnvelopeLoss()(sr, hr).backward()
    step = (blurred - 0.5 * sr.grad / sr.grad.abs().max() * 0.01).detach()
    assert float(HighFrequencyEnvelopeLoss()(step, hr)) < both


def test_hf_envelope_loss_3d_and_checks():
    vol = torch.rand(1, 1, 12, 16, 16, generator=torch.Generator().manual_seed(1))
    loss = HighFrequencyEnvelopeLoss()
    assert float(loss(vol, vol)) == 0.0 and float(loss(vol * 0, vol)) > 0
    with pytest.raises(ConfigError, match="sigma"):
        HighFrequencyEnvelopeLoss(sigma=0)
    with pytest.raises(ConfigError, match="hallucination_weight"):
        HighFrequencyEnvelopeLoss(erasure_weight=-1)
    with pytest.raises(ValueError, match="differ"):
        loss(vol, vol[..., :8])


def test_lr_consistency_loss_is_the_metric_residual_and_ignores_detail_above_nyquist(fundus):
    from monai_srgan.metrics import lr_consistency
    from monai_srgan.transforms.resize import imresize

    hr = torch.cat([fundus, fundus.flip(-1)])[..., :48, :48]
    lr = imresize(hr, 0.25)
    loss = LRConsistencyLoss(4)
    assert float(loss(hr, hr)) == 0.0
    # on a training pair (bicubic degradation) the loss is the mean |residual| of the lr_consistency metric
    shifted = hr.roll(2, -1)
    expected = float(lr_consistency(shifted, lr)["residual"].abs().mean())
    assert float(loss(shifted, hr)) == pytest.approx(expected, rel=1e-5)
    # a brightness drift is penalised fully, a checkerboard (detail above the LR's Nyquist limit) hardly at all
    checker = ((torch.arange(48)[:, None] + torch.arange(48)[None]) % 2).float() * 0.1 - 0.05
    drift, texture = float(loss(hr + 0.05, hr)), float(loss(hr + checker, hr))
    assert drift == pytest.approx(0.05, rel=1e-3) and texture < 0.05 * drift
    sr = (hr + 0.05).requires_grad_(True)
    loss(sr, hr).backward()
    assert torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0


def test_lr_consistency_loss_3d_anisotropic_and_checks():
    vol = torch.rand(1, 1, 16, 16, 16, generator=torch.Generator().manual_seed(2))
    through_plane = LRConsistencyLoss((1, 1, 4))
    assert float(through_plane(vol, vol)) == 0.0 and float(through_plane(vol + 0.1, vol)) == pytest.approx(0.1)
    for bad in (0.5, "x", ()):
        with pytest.raises(ConfigError, match="scale"):
            LRConsistencyLoss(bad)
    with pytest.raises(ValueError, match="spatial axes"):
        through_plane(vol[..., 0], vol[..., 0])
    with pytest.raises(ValueError, match="differ"):
        LRConsistencyLoss(2)(vol, vol[..., :8])


def test_artifact_map_loss_targets_unstable_detail_the_ema_does_not_make(fundus):
    """LDL (Liang et al. 2022): speckle the EMA model does not make is weighted; the same error where the EMA errs
    as much is gated out; a smooth (blurred) error weighs less per unit of error than speckle."""
    hr = fundus
    torch.manual_seed(0)
    speckle = (hr + 0.08 * torch.randn_like(hr)).clamp(0, 1)
    blurred = _degrade(hr)
    loss = ArtifactMapLoss()
    assert float(loss(hr.clone(), hr, sr_ema=hr.clone())) == 0.0
    assert float(loss(speckle, hr, sr_ema=speckle)) > 0  # the gate keeps ties: without EMA every pixel counts
    assert float(loss(speckle, hr, sr_ema=blurred)) > 0
    worse = hr + 2 * (speckle - hr)  # the EMA errs twice as much at every pixel: nothing is an artifact
    assert float(loss(speckle, hr, sr_ema=worse)) == 0.0
    half = hr + 0.5 * (speckle - hr)
    gated = artifact_map(speckle, hr, torch.where(torch.arange(48) < 24, worse, half))
    assert (gated[..., :24] == 0).all() and (gated[..., 24:] > 0).float().mean() > 0.9
    per_error = lambda sr: float(loss(sr, hr, sr_ema=hr)) / float(F.l1_loss(sr, hr))  # noqa: E731
    assert per_error(speckle) > 3 * per_error(blurred)
    m = artifact_map(speckle, hr, hr)
    assert m.shape == (2, 1, 48, 48) and not m.requires_grad and (m >= 0).all()
    sr = speckle.clone().requires_grad_(True)
    loss(sr, hr, sr_ema=hr).backward()
    step = (sr - 50.0 * sr.grad).detach()
    assert float(F.l1_loss(step, hr)) < float(F.l1_loss(speckle, hr))


def test_artifact_map_loss_3d_checks_and_generator_loss_passes_the_ema_sr(cxr):
    vol = torch.rand(1, 1, 12, 12, 12)
    assert float(ArtifactMapLoss()(vol, vol.flip(2), sr_ema=vol)) > 0
    with pytest.raises(ValueError, match="sr_ema"):
        ArtifactMapLoss()(vol, vol)
    for bad in ({"kernel_size": 4}, {"kernel_size": 1}, {"exponent": 0}):
        with pytest.raises(ConfigError):
            ArtifactMapLoss(**bad)
    gl = GeneratorLoss({"l1": {"loss": L1Loss()}, "artifact": {"loss": ArtifactMapLoss(), "weight": 2.0}})
    assert gl.needs_ema_sr and not gl.needs_logits
    sr = (cxr + 0.05 * torch.randn_like(cxr)).clamp(0, 1)
    _, parts = gl(sr, cxr, sr_ema=cxr)
    assert float(parts["artifact"]) == pytest.approx(2 * float(ArtifactMapLoss()(sr, cxr, sr_ema=cxr)), rel=1e-6)
    assert not GeneratorLoss({"artifact": {"loss": ArtifactMapLoss(), "weight": 0.0}}).needs_ema_sr


def test_charbonnier_formula_and_3d(data_root):
    import nibabel as nib

    vol = np.asarray(nib.load(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz").dataobj, dtype=np.float32)
    c = [s // 2 for s in vol.shape]
    v = vol[c[0] - 8 : c[0] + 8, c[1] - 8 : c[1] + 8, c[2] - 4 : c[2] + 4]
    hr = torch.from_numpy((v - v.min()) / (v.max() - v.min() + 1e-6))[None, None]
    sr = hr + 0.05 * torch.randn_like(hr)
    expected = torch.sqrt((sr - hr) ** 2 + 1e-6).mean()
    assert float(CharbonnierLoss(1e-3)(sr, hr)) == pytest.approx(float(expected), rel=1e-6)
    assert CharbonnierLoss(reduction="none")(sr, hr).shape == hr.shape
    with pytest.raises(ConfigError, match="eps"):
        CharbonnierLoss(eps=0)


@pytest.mark.parametrize("sr_weight", ["sr", "hr"])
def test_saliency_weighted_mse(fundus, sr_weight):
    loss = SaliencyWeightedMSELoss(sr_weight=sr_weight)
    value = _check_loss(loss, fundus)
    # eq. 7 by hand with the same saliency module
    sr = _degrade(fundus)
    w_hr = loss.saliency(fundus)
    w_sr = loss.saliency(sr) if sr_weight == "sr" else w_hr
    assert value == pytest.approx(float(((w_hr * fundus - w_sr * sr) ** 2).mean()), rel=1e-5)
    # saliency weights are <= 1, so the weighted MSE of the paper's form is below... a precomputed map is used as is
    ones = torch.ones_like(w_hr)
    if sr_weight == "hr":
        assert float(loss(sr, fundus, hr_saliency=ones)) == pytest.approx(float(F.mse_loss(sr, fundus)), rel=1e-6)


def test_saliency_loss_identity_and_gradient(cxr):
    _check_loss(SaliencyLoss(), cxr)


# ------------------------------------------------------------------------------------------- perceptual
def test_perceptual_matches_manual_feature_distance(fundus):
    torch.manual_seed(0)
    weights = {"conv1_2": 0.1, "conv2_2": 0.5, "relu3_1": 1.0}
    loss = PerceptualLoss(layer_weights=weights, criterion="l1", style_weight=2.0, pretrained=False)
    _check_loss(loss, fundus)
    sr = _degrade(fundus)
    fs, fh = loss.vgg(sr), loss.vgg(fundus)
    percep = sum(w * (fs[k] - fh[k]).abs().mean() for k, w in weights.items())
    style = sum(w * (gram_matrix(fs[k]) - gram_matrix(fh[k])).abs().mean() for k, w in weights.items())
    assert float(loss(sr, fundus)) == pytest.approx(float(percep + 2.0 * style), rel=1e-5)
    assert float(style) > 0


def test_gram_matrix_by_hand():
    f = torch.arange(12, dtype=torch.float32).view(1, 2, 2, 3)
    flat = f.view(2, 6)
    assert torch.allclose(gram_matrix(f)[0], flat @ flat.T / 12)


@pytest.mark.parametrize("criterion", ["l2", "fro"])
def test_perceptual_criteria_one_channel(cxr, criterion):
    torch.manual_seed(0)
    loss = PerceptualLoss(layer_weights={"relu2_2": 1.0}, criterion=criterion, pretrained=False)
    value = _check_loss(loss, cxr)
    sr = _degrade(cxr)
    d = loss.vgg(sr)["relu2_2"] - loss.vgg(cxr)["relu2_2"]
    expected = (d**2).mean() if criterion == "l2" else d.pow(2).sum().sqrt()
    assert value == pytest.approx(float(expected), rel=1e-5)


def test_perceptual_3d_slicewise(data_root):
    import nibabel as nib

    vol = np.asarray(nib.load(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz").dataobj, dtype=np.float32)
    c = [s // 2 for s in vol.shape]
    v = vol[c[0] - 16 : c[0] + 16, c[1] - 16 : c[1] + 16, c[2] - 2 : c[2] + 2]
    hr = torch.from_numpy((v - v.min()) / (v.max() - v.min() + 1e-6))[None, None]
    torch.manual_seed(0)
    loss = PerceptualLoss(layer_weights={"conv2_1": 1.0}, pretrained=False)
    sr = hr + 0.05 * torch.randn_like(hr)
    slices = [float(loss(sr[..., k], hr[..., k])) for k in range(hr.shape[-1])]
    assert float(loss(sr, hr)) == pytest.approx(sum(slices) / len(slices), rel=1e-5)


def test_perceptual_needs_weight_file_and_loads_one(tmp_path, cxr):
    with pytest.raises(ConfigError, match="weights_path"):
        PerceptualLoss()
    with pytest.raises(ConfigError, match="weights_path"):
        PerceptualLoss.from_preset("mahapatra2017")
    # a torchvision-format file (features.N.*) is loaded with pretrained=True
    torch.manual_seed(1)
    feats = build_vgg_features(vgg_type="vgg16", last_index=18)  # up to relu4_1
    path = tmp_path / "vgg16-test.pth"
    torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, path)
    loss = PerceptualLoss.from_preset("mahapatra2017", weights_path=path)
    assert loss.vgg.vgg_type == "vgg16" and list(loss.layer_weights) == ["relu4_1"] and loss.criterion == "l2"
    sr = _degrade(cxr)
    ref = VGGFeatureExtractor(["relu4_1"], vgg_type="vgg16", weights_path=path)
    expected = F.mse_loss(ref(sr)["relu4_1"], ref(cxr)["relu4_1"])
    assert float(loss(sr, cxr)) == pytest.approx(float(expected), rel=1e-5)


def test_perceptual_presets_match_papers():
    rs = PERCEPTUAL_PRESETS["realesrgan"]
    assert rs["layer_weights"] == {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
    assert rs["vgg_type"] == "vgg19" and rs["criterion"] == "l1"
    assert PERCEPTUAL_PRESETS["srgan"]["layer_weights"] == {"relu5_4": 1.0}
    assert PERCEPTUAL_PRESETS["mahapatra2017"]["vgg_type"] == "vgg16"
    assert PerceptualLoss(pretrained=False).layer_weights == rs["layer_weights"]
    with pytest.raises(ConfigError, match="criterion"):
        PerceptualLoss(criterion="l3", pretrained=False)


# ------------------------------------------------------------------------------------------ adversarial
def _bce(x: float, t: float) -> float:
    s = 1.0 / (1.0 + math.exp(-x))
    return -(t * math.log(s) + (1 - t) * math.log(1 - s))


def test_relativistic_average_matches_hand_computation():
    fake = [0.5, -1.0, 2.0]
    real = [1.5, 0.25, -0.5]
    mf, mr = sum(fake) / 3, sum(real) / 3
    g = 0.5 * (sum(_bce(r - mf, 0.0) for r in real) / 3 + sum(_bce(f - mr, 1.0) for f in fake) / 3)
    d = 0.5 * (sum(_bce(r - mf, 1.0) for r in real) / 3 + sum(_bce(f - mr, 0.0) for f in fake) / 3)
    loss = AdversarialLoss("ragan")
    ft, rt = torch.tensor(fake).view(3, 1), torch.tensor(real).view(3, 1)
    assert float(loss.generator_loss(ft, rt)) == pytest.approx(g, rel=1e-6)
    assert float(loss.discriminator_loss(rt, ft)) == pytest.approx(d, rel=1e-6)
    assert float(loss(None, None, fake_logits=ft, real_logits=rt)) == pytest.approx(g, rel=1e-6)
    with pytest.raises(ValueError, match="real_logits"):
        loss.generator_loss(ft)
    assert loss.needs_real_logits and not AdversarialLoss("vanilla").needs_real_logits


def test_other_gan_types_by_hand():
    fake = torch.tensor([[0.5], [-1.0]])
    real = torch.tensor([[1.5], [0.25]])
    f, r = fake.flatten().tolist(), real.flatten().tolist()
    v = AdversarialLoss("vanilla")
    assert float(v.generator_loss(fake)) == pytest.approx(sum(-math.log(1 / (1 + math.exp(-x))) for x in f) / 2)
    d = sum(_bce(x, 1) for x in r) / 2 + sum(_bce(x, 0) for x in f) / 2
    assert float(v.discriminator_loss(real, fake)) == pytest.approx(d, rel=1e-6)
    ls = AdversarialLoss("lsgan")
    assert float(ls.generator_loss(fake)) == pytest.approx(sum((x - 1) ** 2 for x in f) / 2)
    assert float(ls.discriminator_loss(real, fake)) == pytest.approx(
        sum((x - 1) ** 2 for x in r) / 2 + sum(x**2 for x in f) / 2
    )
    h = AdversarialLoss("hinge")
    assert float(h.generator_loss(fake)) == pytest.approx(-sum(f) / 2)
    assert float(h.discriminator_loss(real, fake)) == pytest.approx(
        sum(max(0, 1 - x) for x in r) / 2 + sum(max(0, 1 + x) for x in f) / 2
    )
    with pytest.raises(ConfigError, match="gan_type"):
        AdversarialLoss("wgan")


def test_vanilla_generator_is_non_saturating():
    # -log D(G(x)): gradient ~ -1 when D confidently rejects the fake; the saturating log(1 - D) would give ~0
    logits = torch.full((4, 1), -8.0, requires_grad=True)
    AdversarialLoss("vanilla").generator_loss(logits).backward()
    assert torch.allclose(logits.grad, torch.full_like(logits, -0.25), atol=1e-3)  # -sigmoid(8)/N


@pytest.mark.parametrize("gan_type", GAN_TYPES)
@pytest.mark.parametrize("shape", [(4, 1), (4, 1, 8, 8), (2, 1, 4, 4, 4)])
def test_adversarial_shapes_and_gradients(gan_type, shape):
    torch.manual_seed(0)
    loss = AdversarialLoss(gan_type)
    fake = torch.randn(shape, requires_grad=True)
    real = (torch.randn(shape) + 1.0).requires_grad_(True)
    g = loss.generator_loss(fake, real)
    assert g.ndim == 0 and torch.isfinite(g)
    g.backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    assert real.grad is None  # the generator step leaves no gradient in the discriminator's real branch
    fake2 = fake.detach().requires_grad_(True)
    dl = loss.discriminator_loss(real, fake2)
    dl.backward()
    assert torch.isfinite(real.grad).all() and torch.isfinite(fake2.grad).all()
    # a discriminator that separates real from fake has a lower loss than a confused one; a generator whose
    # fakes get "real" logits has a lower loss than one whose fakes are rejected
    hi, lo = (1.0, 0.0) if gan_type == "lsgan" else (3.0, -3.0)
    sep_r, sep_f, zero = torch.full(shape, hi), torch.full(shape, lo), torch.zeros(shape)
    assert float(loss.discriminator_loss(sep_r, sep_f)) < float(loss.discriminator_loss(zero, zero))
    assert float(loss.generator_loss(sep_r, sep_r)) < float(loss.generator_loss(sep_f, sep_r))


# ---------------------------------------------------------------------------------------------- fusion
def test_fusion_loss_weights_and_reuse(fundus):
    torch.manual_seed(0)
    fl = FusionLoss(pretrained=False)
    percep = fl.terms.losses["vgg"]
    assert isinstance(percep, PerceptualLoss) and isinstance(fl.terms.losses["rg"], AdversarialLoss)
    assert fl.terms.losses["rg"].gan_type == "ragan" and FusionLoss.needs_logits and fl.needs_real_logits
    assert fl.terms.weights == {"vgg": 1.0, "l1": 1.0, "rg": 0.005, "mse": 0.5}
    sr = _degrade(fundus).requires_grad_(True)
    fake, real = torch.tensor([[0.3], [-0.2]]), torch.tensor([[1.0], [0.7]])
    total = fl(sr, fundus, fake_logits=fake, real_logits=real)
    expected = (
        percep(sr, fundus)
        + F.l1_loss(sr, fundus)
        + 0.005 * AdversarialLoss("ragan").generator_loss(fake, real)
        + 0.5 * F.mse_loss(sr, fundus)
    )
    assert float(total.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    total.backward()
    assert torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0
    # at identity only the adversarial term remains
    same = fl(fundus, fundus, fake_logits=fake, real_logits=real)
    assert float(same) == pytest.approx(0.005 * float(AdversarialLoss("ragan").generator_loss(fake, real)), rel=1e-5)
    with pytest.raises(ValueError, match="logits"):
        fl(sr, fundus)


# ------------------------------------------------------------------------------------------- composite
class _Probe(torch.nn.Module):
    needs_logits = True

    def forward(self, sr, hr, fake_logits=None, real_logits=None):
        self.seen = (fake_logits, real_logits)
        return fake_logits.mean() * 0 + 2.0


def test_generator_loss_sum_dict_and_logits(cxr):
    probe = _Probe()
    gl = GeneratorLoss(
        {
            "l1": {"loss": L1Loss(), "weight": 1.0},
            "charb": {"loss": CharbonnierLoss(), "weight": 0.5},
            "probe": {"loss": probe, "weight": 0.25},
            "off": {"loss": MSELoss(), "weight": 0.0},
        }
    )
    assert gl.needs_logits and not gl.needs_real_logits
    sr = _degrade(cxr).requires_grad_(True)
    fake, real = torch.randn(2, 1), torch.randn(2, 1)
    total, parts = gl(sr, cxr, fake_logits=fake, real_logits=real)
    assert set(parts) == {"l1", "charb", "probe", "off"}
    assert probe.seen[0] is fake and probe.seen[1] is real
    assert float(parts["probe"]) == pytest.approx(0.5) and float(parts["off"]) == 0.0
    assert float(parts["l1"]) == pytest.approx(float(F.l1_loss(sr.detach(), cxr)), rel=1e-6)
    assert float(total.detach()) == pytest.approx(sum(float(v) for v in parts.values()), rel=1e-6)
    assert all(not v.requires_grad for v in parts.values())
    total.backward()
    assert torch.isfinite(sr.grad).all()
    with pytest.raises(ValueError, match="probe"):
        gl(sr, cxr)
    assert not GeneratorLoss({"l1": {"loss": L1Loss()}}).needs_logits


@pytest.mark.parametrize(
    "terms",
    [{}, {"a": L1Loss()}, {"a": {"weight": 1.0}}, {"a": {"loss": "l1"}}, {"a": {"loss": L1Loss(), "w": 1}}],
)
def test_generator_loss_rejects_bad_config(terms):
    with pytest.raises(ConfigError):
        GeneratorLoss(terms)


@pytest.mark.parametrize("paper", sorted(PAPER_LOSSES))
def test_paper_generator_losses(paper, fundus):
    torch.manual_seed(0)
    gl = paper_generator_loss(paper, pretrained=False)
    assert gl.needs_logits and gl.needs_real_logits == (paper == "001")
    hr = fundus[:1, :, :32, :32] * (2 if paper == "004" else 1) - (1 if paper == "004" else 0)
    sr = (hr + 0.05 * torch.randn_like(hr)).requires_grad_(True)
    fake, real = torch.tensor([[-0.5]]), torch.tensor([[0.5]])
    total, parts = gl(sr, hr, fake_logits=fake, real_logits=real)
    assert torch.isfinite(total) and all(float(v) >= 0 for v in parts.values())
    total.backward()
    assert torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="weights_path"):
        paper_generator_loss(paper)
    if paper == "004":
        assert gl.losses["vgg"].vgg.input_range == (-1.0, 1.0)


def _docs_configs() -> dict[str, dict]:
    text = (REPO / "docs" / "losses.md").read_text()
    found = re.findall(r"<!-- config: (\w+) -->\s*```json\n(.*?)```", text, flags=re.S)
    return {name: json.loads(body) for name, body in found}


def test_docs_json_configs_build_the_python_configs(tmp_path, fundus):
    """Every paper config in docs/losses.md parses with MONAI's ConfigParser and equals paper_generator_loss."""
    from monai.bundle import ConfigParser

    configs = _docs_configs()
    assert set(configs) == {f"paper{p}" for p in PAPER_LOSSES}
    files = {}
    for vgg_type in ("vgg16", "vgg19"):
        torch.manual_seed(3)
        feats = build_vgg_features(vgg_type=vgg_type)
        files[vgg_type] = tmp_path / f"{vgg_type}.pth"
        torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, files[vgg_type])
    hr = fundus[:1, :, :32, :32]
    sr = hr + 0.05 * torch.randn_like(hr)
    fake, real = torch.tensor([[-0.5]]), torch.tensor([[0.5]])
    for name, cfg in configs.items():
        paper = name[len("paper") :]
        vgg_type = "vgg16" if paper == "003" else "vgg19"
        parser = ConfigParser(cfg)
        parser["vgg_weights"] = str(files[vgg_type])
        from_docs = parser.get_parsed_content("generator_loss")
        from_py = paper_generator_loss(paper, vgg_weights_path=files[vgg_type])
        x_sr, x_hr = (sr * 2 - 1, hr * 2 - 1) if paper == "004" else (sr, hr)
        t_docs, p_docs = from_docs(x_sr, x_hr, fake_logits=fake, real_logits=real)
        t_py, p_py = from_py(x_sr, x_hr, fake_logits=fake, real_logits=real)
        assert set(p_docs) == set(p_py), name
        assert float(t_docs) == pytest.approx(float(t_py), rel=1e-5), name


def test_recipe_files_write_each_papers_loss_as_terms(tmp_path, fundus):
    """The bundles' paper recipes spell their generator loss out as ``GeneratorLoss`` terms (no paper switch): each
    builds the same loss as ``paper_generator_loss``."""
    from monai.bundle import ConfigParser

    recipes = {p: f for f in (REPO / "bundles").glob("*/configs/recipes/00*.json") for p in [f.name[:3]]}
    assert sorted(recipes) == sorted(PAPER_LOSSES)
    hr = fundus[:1, :, :32, :32]
    sr = hr + 0.05 * torch.randn_like(hr)
    fake, real = torch.tensor([[-0.5]]), torch.tensor([[0.5]])
    for paper, f in sorted(recipes.items()):
        cfg = json.loads(f.read_text())
        assert "paper_generator_loss" not in json.dumps(cfg["generator_loss"]), f
        vgg_type = "vgg16" if paper == "003" else "vgg19"
        torch.manual_seed(3)
        weights = tmp_path / f"{vgg_type}.pth"
        feats = build_vgg_features(vgg_type=vgg_type)
        torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, weights)
        parser = ConfigParser({k: cfg[k] for k in ("vgg_weights_file", "generator_loss")})
        parser["vgg_weights"], parser["vgg_pretrained"] = str(weights), True
        from_recipe = parser.get_parsed_content("generator_loss")
        from_py = paper_generator_loss(paper, vgg_weights_path=weights)
        x_sr, x_hr = (sr * 2 - 1, hr * 2 - 1) if paper == "004" else (sr, hr)
        t_rec, p_rec = from_recipe(x_sr, x_hr, fake_logits=fake, real_logits=real)
        t_py, p_py = from_py(x_sr, x_hr, fake_logits=fake, real_logits=real)
        assert set(p_rec) == set(p_py), f
        assert float(t_rec) == pytest.approx(float(t_py), rel=1e-5), f


def test_discriminator_feature_loss_matches_features_only_through_sr():
    from monai_srgan.errors import ConfigError
    from monai_srgan.losses import DiscriminatorFeatureLoss
    from monai_srgan.networks import PatchGANDiscriminator

    torch.manual_seed(0)
    d = PatchGANDiscriminator(2, 1, channels=8, num_layers_d=2)
    loss = DiscriminatorFeatureLoss(d)
    hr = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert float(loss(hr, hr)) == 0.0
    sr = torch.rand(2, 1, 32, 32, requires_grad=True)
    value = loss(sr, hr)
    value.backward()
    assert float(value) > 0 and sr.grad is not None and sr.grad.abs().sum() > 0
    assert list(loss.state_dict()) == []  # D's weights belong to the trainer, not to the loss
    with pytest.raises(ConfigError, match="intermediate_features"):
        DiscriminatorFeatureLoss(torch.nn.Conv2d(1, 1, 3))


def test_package_exports_every_loss_module_name():
    """``monai_srgan.losses`` lists its names explicitly: the list must stay the union of its modules' ``__all__``."""
    import importlib
    import pkgutil

    import monai_srgan.losses as package

    names = set()
    for info in pkgutil.iter_modules(package.__path__):
        names |= set(getattr(importlib.import_module(f"monai_srgan.losses.{info.name}"), "__all__", []))
    assert sorted(package.__all__) == sorted(names)
    assert all(getattr(package, n) is not None for n in package.__all__)
