"""Discriminators: shapes 2D/3D, logits (no sigmoid), gradients, parameter counts, Real-ESRGAN netD compatibility."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from monai_srgan.errors import ConfigError
from monai_srgan.networks.checkpoint import load_network_weights
from monai_srgan.networks.discriminators import (
    DISCRIMINATORS,
    FeatureFusionSEDiscriminator,
    PatchGANDiscriminator,
    SRGANDiscriminator,
    UNetDiscriminatorSN,
    VGG19Discriminator,
)
from monai_srgan.networks.features import build_vgg_features
from monai_srgan.networks.registry import get_discriminator

# Small configurations of every discriminator (tiny widths: shapes, logits and gradients, not capacity)
SMALL = {
    "srgan": dict(num_features=4, dense_features=16),
    "vgg19": dict(base_channels=4, extra_channels=8, dense_features=16, pooled_size=1),
    "feature_fusion_se": dict(num_features=4, fused_channels=8, dense_features=16, se_reduction=1),
    "unet_sn": dict(num_feat=4),
    "patch": dict(channels=4),
}
CASES = [(name, sd) for name in SMALL for sd in (2, 3)]


def _build(name: str, spatial_dims: int, in_channels: int = 1) -> nn.Module:
    return DISCRIMINATORS[name](spatial_dims, in_channels, **SMALL[name])


def _n_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _expected_shape(name: str, spatial_dims: int, size: int) -> tuple[int, ...]:
    if name == "unet_sn":
        return (2, 1) + (size,) * spatial_dims
    if name == "patch":  # k4 s2 p1 three times (size / 8), then k4 s1 p1 twice (-1 each)
        return (2, 1) + (size // 8 - 2,) * spatial_dims
    return (2, 1)


@pytest.mark.parametrize("name,spatial_dims", CASES)
def test_shapes_and_logits(name, spatial_dims):
    torch.manual_seed(0)
    model = _build(name, spatial_dims).eval()
    size = 32
    x = torch.rand(2, 1, *(size,) * spatial_dims)
    out = model(x)
    assert out.shape == _expected_shape(name, spatial_dims, size)
    assert not torch.equal(out, model(torch.rand_like(x)))  # depends on the input
    # no sigmoid/clamp after the last layer: with zero output weights the logit equals the output bias
    params = list(model.parameters())
    weight, bias = params[-2], params[-1]
    assert bias.shape == (1,)
    with torch.no_grad():
        weight.zero_()
        bias.fill_(-3.0)
    assert torch.allclose(model(x), torch.full_like(out, -3.0))


@pytest.mark.parametrize("name,spatial_dims", CASES)
def test_gradients_reach_every_parameter(name, spatial_dims):
    torch.manual_seed(0)
    model = _build(name, spatial_dims, in_channels=3).train()
    x = torch.rand(2, 3, *(32,) * spatial_dims)
    model(x).square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", list(SMALL))
def test_odd_input_sizes(name):
    model = _build(name, 2).eval()
    out = model(torch.rand(2, 1, 40, 56) if name == "vgg19" else torch.rand(2, 1, 37, 50))
    if name == "unet_sn":
        assert out.shape == (2, 1, 37, 50)
    elif name != "patch":
        assert out.shape == (2, 1)


def test_registry_names_and_signature():
    assert DISCRIMINATORS["SRGANDiscriminator"] is SRGANDiscriminator
    assert DISCRIMINATORS["VGG19Discriminator"] is VGG19Discriminator
    assert DISCRIMINATORS["FeatureFusionSEDiscriminator"] is FeatureFusionSEDiscriminator
    assert DISCRIMINATORS["UNetDiscriminatorSN"] is UNetDiscriminatorSN
    assert DISCRIMINATORS["PatchDiscriminator"] is PatchGANDiscriminator
    assert set(DISCRIMINATORS.values()) == {DISCRIMINATORS[k] for k in SMALL}  # every class has a short name
    for name, kw in SMALL.items():
        # positional (spatial_dims, in_channels) for every class, and the registry's keyword form
        assert DISCRIMINATORS[name](2, 1, **kw)(torch.rand(2, 1, 32, 32)).shape[:2] == (2, 1)
        assert isinstance(get_discriminator(name, in_channels=1, **kw), DISCRIMINATORS[name])


def test_srgan_parameter_count_equals_ledig():
    # Ledig et al. with 96x96 RGB input: 4,685,376 conv + 3,712 BN affine + 18,876,417 dense = 23,565,505 trainable
    # (the figure Keras prints for the reference SRGAN discriminator, plus 3,712 BN running statistics).
    model = SRGANDiscriminator(2, 3, pooled_size=6)
    assert _n_params(model) == 23_565_505
    assert model.features(torch.rand(2, 3, 96, 96)).shape == (2, 512, 6, 6)  # pooling is the identity at 96
    strides = [m.conv.stride[0] for m in model.features]
    channels = [m.conv.out_channels for m in model.features]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 2] and channels == [64, 64, 128, 128, 256, 256, 512, 512]


def test_srgan_dropout_active_in_train_only():
    torch.manual_seed(0)
    model = SRGANDiscriminator(2, 1, num_features=4, dense_features=64, dropout=0.5)
    x = torch.rand(4, 1, 16, 16)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    model.features.eval()  # isolate the dropout from batch-norm statistics
    assert not torch.allclose(model(x), model(x))


def test_vgg19_discriminator_features_are_torchvision_vgg19():
    model = VGG19Discriminator(2, 3)
    assert len(model.features) == 37
    assert _n_params(model.features) == 20_024_384  # torchvision vgg19().features
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 1)


def test_vgg19_discriminator_imagenet_init_one_channel(tmp_path):
    g = torch.Generator().manual_seed(0)
    state = {
        f"features.{k}": torch.randn(v.shape, generator=g) * 0.05 for k, v in build_vgg_features().state_dict().items()
    }
    state["classifier.0.weight"] = torch.zeros(4, 4)
    torch.save(state, tmp_path / "vgg19.pth")
    rgb = VGG19Discriminator(2, 3, weights_path=tmp_path / "vgg19.pth", vgg_layer="relu2_2")
    gray = VGG19Discriminator(2, 1, weights_path=tmp_path / "vgg19.pth", vgg_layer="relu2_2")
    for k, v in rgb.features.state_dict().items():
        assert torch.equal(v, state[f"features.{k}"]), k
    assert torch.allclose(gray.features[0].weight, state["features.0.weight"].sum(1, keepdim=True))
    x = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(gray.features(x), rgb.features(x.repeat(1, 3, 1, 1)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="spatial_dims"):
        VGG19Discriminator(3, 1, weights_path=tmp_path / "vgg19.pth")


def test_feature_fusion_se_structure_and_parameter_count():
    model = FeatureFusionSEDiscriminator(2, 3)
    assert len(model.blocks) == 8
    assert all(b.se.variant == "improved" for b in model.blocks)
    assert [b.conv.conv.stride[0] for b in model.blocks] == [1, 2, 1, 2, 1, 2, 1, 2]

    # the architecture written out: stem, 8 x (conv + BN + SE(r=16)), fusion of 256+512+512 channels, 1x1 head
    def se(c):
        return 2 * c * (c // 16) + c // 16 + c

    chans = [64, 64, 128, 128, 256, 256, 512, 512]
    expected = 3 * 64 * 9 + 64
    for c_in, c_out in zip([64] + chans[:-1], chans):
        expected += c_in * c_out * 9 + c_out + 2 * c_out + se(c_out)
    expected += 1280 * 512 + 512 + 512 * 1024 + 1024 + 1024 + 1
    assert _n_params(model) == expected
    # the fused maps have different sizes at 64 px (/8, /8, /16) and still fuse; original SE selectable
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 1)
    orig = FeatureFusionSEDiscriminator(2, 1, num_features=4, fused_channels=8, se_variant="original")
    assert orig.blocks[0].se.variant == "original"


def test_feature_fusion_uses_last_three_maps():
    torch.manual_seed(0)
    model = FeatureFusionSEDiscriminator(2, 1, num_features=4, fused_channels=8, dense_features=8).eval()
    assert model.fuse.conv.in_channels == 16 + 32 + 32
    x = torch.rand(2, 1, 32, 32)
    ref = model(x)
    # zeroing the fusion weights that read the 6th block's map changes the output: that map is used
    with torch.no_grad():
        model.fuse.conv.weight[:, :16] = 0
    assert not torch.allclose(model(x), ref)


def test_unet_discriminator_keys_and_count_equal_realesrgan(reference_root):
    table = json.loads((reference_root / "realesrgan_state_dict_shapes.json").read_text())
    ref = next(v for k, v in table.items() if k.startswith("UNetDiscriminatorSN"))
    model = UNetDiscriminatorSN(2, 3, num_feat=64, skip_connection=True)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == ref["keys"]
    assert _n_params(model) == ref["num_params"] == 4_376_897


def test_unet_discriminator_reproduces_reference_vectors(reference_root, tmp_path):
    vectors = torch.load(reference_root / "realesrgan_compat_vectors.pt", weights_only=True)
    case = vectors["cases"]["unet_discriminator_sn"]
    arch = case["arch"]
    # the user's path: a netD file as Real-ESRGAN releases it ("params" wrapper, old spectral-norm keys), a network
    # built from the BasicSR network_d options, the project's loader (strict)
    torch.save(case["checkpoint"], tmp_path / "net_d.pth")
    model = get_discriminator(arch["arch"], **{k: v for k, v in arch.items() if k != "arch"})
    assert isinstance(model, UNetDiscriminatorSN)
    report = load_network_weights(model, tmp_path / "net_d.pth", strict=True)
    assert not report.missing and not report.unexpected and not report.mismatched
    model.eval()
    with torch.no_grad():
        out = model(case["input"])
    # The reference u/v vectors are random (not power-iterated), so sigma is tiny and the logits reach ~1e9:
    # compare relative to the output's magnitude (float32 cannot hold 1e-5 absolute at that scale).
    scale = case["output"].abs().max()
    assert scale > 0
    torch.testing.assert_close(out / scale, case["output"] / scale, rtol=0, atol=1e-5)
    # the same state dict also loads with plain load_state_dict(strict=True)
    UNetDiscriminatorSN(2, 3, num_feat=arch["num_feat"]).load_state_dict(case["checkpoint"]["params"], strict=True)


def test_unet_discriminator_spectral_norm_bounds_weights():
    torch.manual_seed(0)
    model = UNetDiscriminatorSN(2, 1, num_feat=4).train()
    x = torch.rand(1, 1, 16, 16)
    for _ in range(30):  # power iterations converge
        model(x)
    w = model.conv4.weight.detach()  # the normalised weight W / sigma(W)
    assert torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ConfigError, match=">= 8.*hr_patch"):
        model(torch.rand(1, 1, 4, 16))


def test_patch_discriminator_is_monai_and_exposes_features():
    from monai.networks.nets import PatchDiscriminator

    model = PatchGANDiscriminator(3, 1, channels=4, num_layers_d=2)
    assert isinstance(model, PatchDiscriminator)
    x = torch.rand(2, 1, 16, 16, 16)
    feats = model.intermediate_features(x)
    assert torch.equal(feats[-1], model(x)) and len(feats) == 4
