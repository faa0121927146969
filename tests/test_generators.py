"""Generators: shapes (2D/3D, every scale, per-axis), Real-ESRGAN keys/parameter counts, receptive fields, SE, gray
conversion, cascaded stages, registry and gradients. Tiny widths everywhere except the parameter counts."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from monai.bundle import ConfigParser
from monai.networks.utils import pixelshuffle

from monai_srgan.errors import ConfigError
from monai_srgan.networks import (
    EDSR,
    GENERATORS,
    RRDB,
    CascadedSR,
    MSRResNet,
    PixelShuffle,
    RRDBNet,
    SEBlock,
    SRResNet,
    SRVGGNetCompact,
    cubic_phase_weights,
    cubic_upsample_phases,
    effective_receptive_field,
    get_discriminator,
    get_generator,
    pixel_shuffle,
    pixel_unshuffle,
    probe_receptive_field,
    rrdbnet_rgb_to_gray,
)

TINY = {
    "srresnet": dict(num_feat=8, num_blocks=1),
    "msrresnet": dict(num_feat=8, num_blocks=1),
    "edsr": dict(num_feat=16, num_blocks=1, se_reduction=4),
    "rrdbnet": dict(num_feat=8, num_blocks=1, num_grow_ch=4),
    "srvggnetcompact": dict(num_feat=8, num_conv=2),
    "cascadedsr": dict(stage_kwargs=dict(num_feat=8, num_blocks=1)),
}
ARCHS = sorted(TINY)


def tiny(name: str, spatial_dims: int = 2, cin: int = 1, cout: int = 1, scale=4, **kw) -> torch.nn.Module:
    args = {**TINY[name], **kw}
    return GENERATORS[name](spatial_dims, cin, cout, scale, **args)


def _shapes(path) -> dict:
    return json.loads(path.read_text())


def _entry(table: dict, prefix: str) -> dict:
    (key,) = [k for k in table if k.startswith(prefix)]
    return table[key]


# ---------------------------------------------------------------- shapes ---------------------------------------------


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_output_shape_every_scale(name, scale, spatial_dims):
    size = (5, 6) if spatial_dims == 2 else (3, 4, 2)
    cin, cout = (1, 1) if spatial_dims == 3 else (3, 3)
    m = tiny(name, spatial_dims, cin, cout, scale).eval()
    x = torch.rand((2, cin) + size)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (2, cout) + tuple(s * scale for s in size)
    assert m.scale == scale
    assert isinstance(m.receptive_field, int) and m.receptive_field > 0


@pytest.mark.parametrize("name", ["edsr", "cascadedsr", "srresnet", "rrdbnet"])
def test_scale_16_2d(name):
    m = tiny(name, 2, 1, 1, 16).eval()
    with torch.no_grad():
        assert m(torch.rand(1, 1, 3, 2)).shape == (1, 1, 48, 32)


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("scale", [(1, 1, 4), (2, 2, 1)])
def test_per_axis_scale_3d(name, scale):
    m = tiny(name, 3, 1, 1, scale).eval()
    with torch.no_grad():
        y = m(torch.rand(1, 1, 4, 6, 3))
    assert y.shape == (1, 1, 4 * scale[0], 6 * scale[1], 3 * scale[2])
    assert m.scale == scale


@pytest.mark.parametrize("name", ARCHS)
def test_gray_to_rgb_and_rgb_to_gray_channels(name):
    for cin, cout in ((1, 3), (3, 1)):
        if name == "msrresnet" and cin == 3:
            continue  # the bilinear base needs in == out or in == 1
        m = tiny(name, 2, cin, cout, 2).eval()
        with torch.no_grad():
            assert m(torch.rand(1, cin, 4, 4)).shape == (1, cout, 8, 8)


def test_rrdbnet_odd_sizes_padded_like_reference():
    m = tiny("rrdbnet", 2, 3, 3, 2).eval()
    x = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        y = m(x)
        ref = m(F.pad(x, (0, 1, 0, 1), mode="replicate"))[..., :14, :18]
    assert y.shape == (1, 3, 14, 18)
    torch.testing.assert_close(y, ref)


def test_bad_scales_raise_config_error():
    with pytest.raises(ConfigError):
        SRResNet(2, 1, 1, 3)
    with pytest.raises(ConfigError):
        RRDBNet(2, 1, 1, 6)
    with pytest.raises(ConfigError):
        CascadedSR(2, 1, 1, 1)
    with pytest.raises(ValueError):
        SRResNet(3, 1, 1, (2, 2))


# --------------------------------------------------------- Real-ESRGAN keys and parameter counts ---------------------


@pytest.mark.parametrize(
    "prefix, build",
    [
        ("RRDBNet(3,3,scale=4,num_feat=64", lambda: RRDBNet(2, 3, 3, 4)),
        ("RRDBNet(3,3,scale=2", lambda: RRDBNet(2, 3, 3, 2)),
        ("RRDBNet(3,3,scale=1", lambda: RRDBNet(2, 3, 3, 1)),
        ("RRDBNet(3,3,scale=4,num_block=6", lambda: RRDBNet(2, 3, 3, 4, num_blocks=6)),
        ("SRVGGNetCompact(3,3,64,num_conv=32", lambda: SRVGGNetCompact(2, 3, 3, 4, 64, 32, "prelu")),
        ("SRVGGNetCompact(3,3,64,num_conv=16", lambda: SRVGGNetCompact(2, 3, 3, 4, 64, 16, "prelu")),
        ("MSRResNet(3,3,64,16,upscale=4", lambda: MSRResNet(2, 3, 3, 4)),
        ("MSRResNet(3,3,64,16,upscale=3", lambda: MSRResNet(2, 3, 3, 3)),
        ("MSRResNet(3,3,64,16,upscale=2", lambda: MSRResNet(2, 3, 3, 2)),
        (
            "EDSR(3,3,64,16,upscale=4",
            lambda: EDSR(2, 3, 3, 4, se="none", se_first=False, img_range=255.0, rgb_mean=(0.4488, 0.4371, 0.4040)),
        ),
    ],
)
def test_released_keys_shapes_and_parameter_counts(reference_root, prefix, build):
    ref = _entry(_shapes(reference_root / "realesrgan_state_dict_shapes.json"), prefix)
    m = build()
    ours = {k: list(v.shape) for k, v in m.state_dict().items()}
    assert list(ours) == list(ref["keys"])  # same names in the same order
    assert ours == ref["keys"]
    assert sum(p.numel() for p in m.parameters()) == ref["num_params"]


def test_rrdbnet_released_size_is_paper_002_count():
    m = get_generator("RRDBNet", num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32)
    assert sum(p.numel() for p in m.parameters()) == 16_697_987


def test_srresnet_16_parameter_count_matches_ledig_layout():
    # SRGAN generator, 64 features, 16 blocks, 9x9 head/tail, BN without conv bias, per-channel PReLU, x4 RGB
    m = SRResNet(2, 3, 3, 4)
    f = 64
    head = 3 * f * 81 + f + f
    block = 2 * (f * f * 9 + 2 * f) + f
    trunk = f * f * 9 + 2 * f
    up = 2 * (f * 4 * f * 9 + 4 * f + f)
    tail = f * 3 * 81 + 3
    assert sum(p.numel() for p in m.parameters()) == head + 16 * block + trunk + up + tail


# --------------------------------------------------------------- architecture details --------------------------------


def test_srresnet_paper004_instance_norm_after_trunk_and_norm_options():
    m = SRResNet(2, 1, 1, 4, num_feat=8, num_blocks=8, head_kernel_size=3, trunk_norm="instance")
    assert len(m.body) == 8
    assert isinstance(m.trunk.adn.N, torch.nn.InstanceNorm2d)
    assert isinstance(m.body[0].conv1.adn.N, torch.nn.BatchNorm2d)
    assert m.head.conv.kernel_size == (3, 3)
    m = SRResNet(3, 1, 1, 2, num_feat=8, num_blocks=1, norm="none", act="relu")
    assert not any(isinstance(x, (torch.nn.BatchNorm3d, torch.nn.InstanceNorm3d)) for x in m.modules())
    assert any(isinstance(x, torch.nn.ReLU) for x in m.modules())
    m = SRResNet(2, 1, 1, 2, num_feat=8, num_blocks=1, norm="instance")
    assert isinstance(m.body[0].conv2.adn.N, torch.nn.InstanceNorm2d)


def test_edsr_paper001_layout_and_se_variants():
    m = EDSR(2, 3, 3, 8, num_feat=16, num_blocks=16)
    assert len(m.body) == 16
    assert isinstance(m.se_first, SEBlock) and m.se_first.variant == "improved"
    assert all(b.se is not None and b.se.variant == "improved" for b in m.body)
    ses = [x for x in m.upsample if isinstance(x, SEBlock)]
    shuffles = [x for x in m.upsample if isinstance(x, PixelShuffle)]
    assert len(ses) == len(shuffles) == 3  # log2(8) x [PixelShuffle + improved SE]
    assert not any(isinstance(x, torch.nn.modules.batchnorm._BatchNorm) for x in m.modules())
    m = EDSR(2, 3, 3, 4, num_feat=16, num_blocks=2, se="original")
    assert all(x.variant == "original" for x in m.modules() if isinstance(x, SEBlock))
    m = EDSR(2, 3, 3, 4, num_feat=16, num_blocks=2, se="none")
    assert not any(isinstance(x, SEBlock) for x in m.modules())


def _se_reference(se: SEBlock, x: torch.Tensor) -> torch.Tensor:
    y = x.mean(dim=tuple(range(2, x.ndim)), keepdim=True)
    learned = torch.sigmoid(se.fc2(torch.relu(se.fc1(y))))
    return x * (2 * (0.8 * learned + 0.2 * torch.sigmoid(y)))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_improved_se_is_paper001_equation(spatial_dims):
    torch.manual_seed(0)
    se = SEBlock(spatial_dims, 16, reduction=4)
    x = torch.randn((2, 16) + (5,) * spatial_dims)
    torch.testing.assert_close(se(x), _se_reference(se, x), rtol=0, atol=1e-6)
    s = se.gate(x)
    assert s.shape == (2, 16) + (1,) * spatial_dims
    assert (s > 0).all() and (s < 2).all()


def test_improved_se_can_amplify_and_original_only_attenuates():
    x = torch.full((1, 4, 3, 3), 3.0)
    imp, org = SEBlock(2, 4, 2, "improved"), SEBlock(2, 4, 2, "original")
    for se in (imp, org):
        torch.nn.init.zeros_(se.fc2.weight)
        torch.nn.init.constant_(se.fc2.bias, 3.0)
    expected = 2 * (0.8 * torch.sigmoid(torch.tensor(3.0)) + 0.2 * torch.sigmoid(torch.tensor(3.0)))
    torch.testing.assert_close(imp.gate(x), torch.full((1, 4, 1, 1), float(expected)))
    assert (imp.gate(x) > 1.5).all()  # improved SE amplifies (s up to 2)
    assert (org.gate(x) < 1.0).all()  # the original SE can only attenuate
    torch.testing.assert_close(SEBlock(2, 4, 2, "none")(x), x)
    with pytest.raises(ConfigError, match="variant"):
        SEBlock(2, 4, variant="bogus")


def test_pixel_shuffle_orders():
    x = torch.randn(2, 12, 3, 5)
    torch.testing.assert_close(pixel_shuffle(x, [2, 2]), F.pixel_shuffle(x, 2))
    x3 = torch.randn(1, 16, 2, 3, 4)
    torch.testing.assert_close(pixel_shuffle(x3, [2, 2, 2]), pixelshuffle(x3, 3, 2))
    torch.testing.assert_close(pixel_unshuffle(pixel_shuffle(x3, [2, 2, 2]), [2, 2, 2]), x3)
    # through-plane (1, 1, 4): out[c, i, j, 4k + r] = in[c*4 + r, i, j, k]
    xs = torch.randn(1, 8, 2, 3, 5)
    y = pixel_shuffle(xs, [1, 1, 4])
    assert y.shape == (1, 2, 2, 3, 20)
    for c in range(2):
        for r in range(4):
            torch.testing.assert_close(y[0, c, :, :, r::4], xs[0, c * 4 + r])
    torch.testing.assert_close(pixel_unshuffle(y, [1, 1, 4]), xs)
    # anisotropic 2D equals the generic rule too: out[c, 2i + a, j] = in[c*2 + a, i, j]
    y2 = pixel_shuffle(torch.arange(12.0).view(1, 4, 3, 1), [2, 1])
    assert y2[0, 0, :, 0].tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


# --------------------------------------------------------------- receptive field -------------------------------------


@pytest.mark.parametrize(
    "name, scale, kw",
    [
        ("srresnet", 4, dict(norm="none")),
        ("srresnet", 2, dict(norm="batch")),  # eval-mode BN is per-pixel
        ("msrresnet", 4, {}),
        ("edsr", 2, dict(se="none")),
        ("rrdbnet", 4, {}),
        ("rrdbnet", 2, {}),
        ("rrdbnet", 1, {}),
        ("srvggnetcompact", 4, {}),
        ("cascadedsr", 4, dict(stage_kwargs=dict(num_feat=8, num_blocks=1, norm="none"))),
    ],
)
def test_receptive_field_matches_gradient_probe(name, scale, kw):
    torch.manual_seed(0)
    m = tiny(name, 2, 1, 1, scale, **kw)
    r = m.receptive_field
    measured = probe_receptive_field(m, 2, 1, size=2 * r + 9)
    assert measured == r


def test_receptive_field_3d_per_axis():
    torch.manual_seed(0)
    m = tiny("srresnet", 3, 1, 1, (1, 1, 2), norm="none")
    r = m.receptive_field
    assert probe_receptive_field(m, 3, 1, size=2 * r + 3) == r


def test_receptive_field_released_sizes():
    # documented in docs/networks.md (tile overlap)
    assert RRDBNet(2, 3, 3, 4).receptive_field == 349
    assert SRVGGNetCompact(2, 3, 3, 4, 64, 32).receptive_field == 34
    assert SRResNet(2, 3, 3, 4).receptive_field == 40


# --------------------------------------------------------------- gray conversion -------------------------------------


@pytest.mark.parametrize("scale", [4, 2, 1])
@pytest.mark.parametrize("weights", ["bt601", "mean"])
def test_rrdbnet_rgb_to_gray_is_exact(scale, weights):
    torch.manual_seed(0)
    rgb = RRDBNet(2, 3, 3, scale, num_feat=8, num_blocks=1, num_grow_ch=4).eval().double()
    with torch.no_grad():  # make the network strongly non-trivial (released init is x0.1)
        for p in rgb.parameters():
            p.normal_(0, 0.3)
    gray = RRDBNet(2, 1, 1, scale, num_feat=8, num_blocks=1, num_grow_ch=4).eval().double()
    report = gray.load_state_dict(rrdbnet_rgb_to_gray(rgb.state_dict(), weights))
    assert not report.missing_keys and not report.unexpected_keys
    a = {"bt601": (0.299, 0.587, 0.114), "mean": (1 / 3, 1 / 3, 1 / 3)}[weights]
    g = torch.rand(2, 1, 8, 12, dtype=torch.float64)
    with torch.no_grad():
        out_rgb = rgb(g.expand(-1, 3, -1, -1))
        expected = sum(a[c] * out_rgb[:, c : c + 1] for c in range(3))
        got = gray(g)
    assert expected.std() > 0.1
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)  # exact up to float64 rounding


def test_rrdbnet_rgb_to_gray_reference_checkpoint(reference_root):
    case = torch.load(reference_root / "realesrgan_compat_vectors.pt", weights_only=True)["cases"]["rrdbnet_x2"]
    sd = case["checkpoint"]["params_ema"]
    gray_in_rgb_out = RRDBNet(2, 1, 1, 2, num_feat=16, num_blocks=2, num_grow_ch=8).eval()
    gray_in_rgb_out.load_state_dict(rrdbnet_rgb_to_gray(sd))
    rgb = RRDBNet(2, 3, 3, 2, num_feat=16, num_blocks=2, num_grow_ch=8).eval()
    rgb.load_state_dict(sd)
    g = case["input"].mean(1, keepdim=True)
    with torch.no_grad():
        ref = (rgb(g.repeat(1, 3, 1, 1)) * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        torch.testing.assert_close(gray_in_rgb_out(g), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError):
        rrdbnet_rgb_to_gray({"conv_first.weight": torch.zeros(4, 3, 3, 3)})


# --------------------------------------------------------------- cascaded --------------------------------------------


def test_cascaded_stages_are_separately_trainable():
    torch.manual_seed(0)
    m = tiny("cascadedsr", 2, 1, 1, 8)
    assert m.num_stages == 3 and all(s.scale == 2 for s in m.stages)
    assert all(isinstance(s, SRResNet) for s in m.stages)
    x = torch.rand(1, 1, 4, 4)
    assert m(x, stages=1).shape == (1, 1, 8, 8)
    assert m(x, stages=2).shape == (1, 1, 16, 16)
    assert m(x).shape == (1, 1, 32, 32)
    # stage 1 alone, trained on x2 images as in paper 003
    m.freeze_except(1)
    y = m(torch.rand(2, 1, 8, 8), start=1, stages=2)
    assert y.shape == (2, 1, 16, 16)
    y.square().mean().backward()
    assert all(p.grad is not None for p in m.stages[1].parameters())
    assert all(p.grad is None and not p.requires_grad for k in (0, 2) for p in m.stages[k].parameters())
    with torch.no_grad():
        m.eval()
        torch.testing.assert_close(m(x), m.stages[2](m.stages[1](m.stages[0](x))))


def test_cascaded_other_stage_architecture():
    m = CascadedSR(2, 3, 3, 4, stage="rrdbnet", stage_kwargs=TINY["rrdbnet"])
    assert all(isinstance(s, RRDBNet) for s in m.stages)
    with pytest.raises(ConfigError):
        CascadedSR(2, 3, 3, 4, stage="nope")


# --------------------------------------------------------------- gradients -------------------------------------------


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_gradients_reach_every_parameter(name, spatial_dims):
    torch.manual_seed(0)
    m = tiny(name, spatial_dims, 1, 1, 2).train()
    x = torch.rand((2, 1) + (4,) * spatial_dims)
    y = m(x)
    (y * torch.randn_like(y)).sum().backward()
    for n, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n


# --------------------------------------------------------------- registry and bundle configs -------------------------


def test_registry_names_and_basicsr_options():
    assert isinstance(get_generator("srresnet", in_channels=1, out_channels=1, num_blocks=1, num_feat=8), SRResNet)
    m = get_generator(type="SRVGGNetCompact", num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=1, upscale=2)
    assert isinstance(m, SRVGGNetCompact) and m.scale == 2 and m.spatial_dims == 2
    assert isinstance(get_generator("Real-ESRGAN", spatial_dims=3, num_feat=8, num_block=1, num_grow_ch=4), RRDBNet)
    assert isinstance(get_generator("edsr", num_feat=8, num_blocks=1), EDSR)
    assert isinstance(get_generator("cascaded", stage_kwargs=TINY["srresnet"]), CascadedSR)
    assert isinstance(get_generator("MSRResNet", num_feat=8, num_blocks=1), MSRResNet)
    with pytest.raises(ConfigError, match="unknown generator"):
        get_generator("unet")
    with pytest.raises(ConfigError, match="RRDBNet"):
        get_generator("rrdbnet", bogus=1)
    with pytest.raises(ConfigError, match="unknown discriminator"):
        get_discriminator("nope")


def test_get_discriminator_uses_discriminator_table():
    from monai_srgan.networks.discriminators import DISCRIMINATORS

    name = next(iter(DISCRIMINATORS))
    d = get_discriminator(name.upper(), in_channels=1)
    assert isinstance(d, DISCRIMINATORS[name])


def test_bundle_target_instantiation():
    parser = ConfigParser(
        {
            "network_def": {
                "_target_": "monai_srgan.networks.RRDBNet",
                "spatial_dims": 2,
                "in_channels": 1,
                "out_channels": 1,
                "scale": 2,
                "num_feat": 8,
                "num_blocks": 1,
                "num_grow_ch": 4,
            },
            "by_name": {"_target_": "monai_srgan.networks.get_generator", "name": "srvgg", "num_feat": 8},
        }
    )
    net = parser.get_parsed_content("network_def")
    assert isinstance(net, RRDBNet) and net.scale == 2
    assert isinstance(parser.get_parsed_content("by_name"), SRVGGNetCompact)


def test_rrdb_block_residual_scaling():
    b = RRDB(2, 8, 4)
    for rdb in (b.rdb1, b.rdb2, b.rdb3):
        for p in rdb.parameters():
            torch.nn.init.zeros_(p)
    x = torch.randn(1, 8, 3, 3)
    torch.testing.assert_close(b(x), x * 0.2 + x)  # zero RDBs are identities; outer residual scales by 0.2


def test_effective_receptive_field_bounded_by_theoretical():
    torch.manual_seed(0)
    m = tiny("srvggnetcompact", 2, 1, 1, 4)
    r = m.receptive_field
    size = 2 * r + 5
    full = effective_receptive_field(m, 2, 1, size=size, fraction=1.0)
    half = effective_receptive_field(m, 2, 1, size=size, fraction=0.5)
    most = effective_receptive_field(m, 2, 1, size=size, fraction=0.99)
    assert full == r  # all the gradient mass lies within the theoretical radius, and reaches it
    assert 0 <= half <= most <= r
    assert m.training  # mode restored


def test_srvgg_cubic_base_starts_at_bicubic_and_scripts():
    """The compact bundles' variant: zero-initialised last conv → the untrained network is exactly bicubic."""
    m = SRVGGNetCompact(2, 3, 3, 4, num_feat=8, num_conv=2, base_mode="cubic", zero_init_last=True).eval()
    x = torch.rand(1, 3, 10, 12)
    expected = torch.nn.functional.interpolate(x, scale_factor=4.0, mode="bicubic", align_corners=False)
    torch.testing.assert_close(m(x), expected, atol=1e-6, rtol=0)  # the base is a convolution: float32 rounding
    torch.testing.assert_close(torch.jit.script(m)(x), expected, atol=1e-6, rtol=0)
    assert m.receptive_field >= 2
    with pytest.raises(ConfigError, match="base_mode"):
        SRVGGNetCompact(3, 1, 1, 2, base_mode="cubic")


def test_through_plane_sr_is_a_2d_net_across_the_slice_axis():
    """ThroughPlaneSR: (N, C, H, W, D) -> (N, C, H, W, sD); untrained = cubic along D; mean of coronal/sagittal."""
    from monai_srgan.networks import ThroughPlaneSR

    torch.manual_seed(0)
    x = torch.rand(2, 1, 12, 10, 5)
    net = ThroughPlaneSR(scale=(1, 1, 4))
    y = net(x)
    assert y.shape == (2, 1, 12, 10, 20) and net.scale == (1, 1, 4)
    cubic = F.interpolate(x.permute(0, 2, 1, 4, 3).reshape(24, 1, 5, 10), scale_factor=(4, 1), mode="bicubic")
    torch.testing.assert_close(y, cubic.reshape(2, 12, 1, 20, 10).permute(0, 2, 1, 4, 3), atol=1e-5, rtol=0)
    torch.nn.init.normal_(net.net.body[-1].weight, std=0.1)  # trained-like: the two passes now differ
    cor = net.net(x.permute(0, 2, 1, 4, 3).reshape(24, 1, 5, 10)).reshape(2, 12, 1, 20, 10).permute(0, 2, 1, 4, 3)
    sag = net.net(x.permute(0, 3, 1, 4, 2).reshape(20, 1, 5, 12)).reshape(2, 10, 1, 20, 12).permute(0, 2, 4, 1, 3)
    torch.testing.assert_close(net(x), 0.5 * (cor + sag))
    scripted = torch.jit.script(net)
    torch.testing.assert_close(scripted(x), net(x))
    assert get_generator("throughplanesr", spatial_dims=3, scale=2)(x).shape[-1] == 10


def test_cli_network_choices_are_the_registry():
    from monai_srgan.apps.cli import NETWORK_CHOICES

    assert set(NETWORK_CHOICES) == set(GENERATORS)


@pytest.mark.parametrize("factors", [(4, 4), (2, 2), (3, 3), (8, 8), (1, 4), (2, 3)])
def test_cubic_phases_shuffle_to_pytorchs_bicubic(factors):
    """The SRVGG base in sub-pixel layout equals F.interpolate(bicubic), borders included, for every factor."""
    x = torch.rand(2, 3, 11, 7, generator=torch.Generator().manual_seed(0))
    ref = torch.nn.functional.interpolate(x, scale_factor=[float(f) for f in factors], mode="bicubic")
    weight = cubic_phase_weights(factors)
    got = pixel_shuffle(cubic_upsample_phases(x, weight), list(factors))
    torch.testing.assert_close(got, ref, atol=2e-6, rtol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the base stays float32 under autocast
        phases = cubic_upsample_phases(x, weight)
    torch.testing.assert_close(pixel_shuffle(phases, list(factors)), ref, atol=2e-6, rtol=0)
