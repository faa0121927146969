"""Grain synthesis (GrainGenerator): position-keyed noise that tiles exactly, the weights that carry it, the pipeline,
self-ensemble and export rules."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from monai_srgan.bundle.evaluate import load_bundle_generator
from monai_srgan.errors import ConfigError
from monai_srgan.inference.exported import export_model
from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.inference.tiling import SRInferer
from monai_srgan.networks import (
    CheckpointMismatchError,
    GrainGenerator,
    SelfEnsemble,
    get_generator,
    grain_applied_to,
    grain_for_weights,
    load_network_weights,
    position_noise,
    save_generator_weights,
    with_grain,
)


def _srvgg(channels: int = 1, scale: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = get_generator("srvgg", spatial_dims=2, in_channels=channels, out_channels=channels, scale=scale,
                        num_feat=8, num_conv=2, base_mode="cubic", zero_init_last=False)  # fmt: skip
    return net.eval()


def test_position_noise_depends_on_position_only():
    whole = position_noise(2, (slice(0, 150), slice(0, 97)), seed=3)
    part = position_noise(2, (slice(60, 131), slice(10, 80)), seed=3)
    torch.testing.assert_close(part, whole[:, 60:131, 10:80], atol=0, rtol=0)
    assert abs(float(whole.mean())) < 0.02 and abs(float(whole.std()) - 1) < 0.02
    other_seed = position_noise(2, (slice(0, 150), slice(0, 97)), seed=4)
    other_slice = position_noise(2, (slice(0, 150), slice(0, 97)), seed=3, index=1)
    for other in (other_seed, other_slice):
        assert abs(float((other * whole).mean())) < 0.02  # independent draws, not shifted copies
    # neighbouring blocks are independent too (no repeated block pattern)
    a, b = whole[:, :64, :64], position_noise(2, (slice(64, 128), slice(0, 64)), seed=3)
    assert abs(float((a * b).mean())) < 0.03
    vol = position_noise(1, (slice(0, 70), slice(0, 9), slice(5, 8)))
    torch.testing.assert_close(vol[:, 65:70, 2:9, 1:], position_noise(1, (slice(65, 70), slice(2, 9), slice(6, 8))))
    with pytest.raises(ConfigError, match="empty region"):
        position_noise(1, (slice(5, 5), slice(0, 3)))


def test_tiles_equal_the_whole_image_and_the_output_is_reproducible():
    gen = _srvgg(channels=3, scale=4)
    net = GrainGenerator(gen, [0.01, 0.02, 0.0]).eval()
    x = torch.rand(1, 3, 45, 70)
    with torch.no_grad():
        whole, again = net(x), net(x)
        tiled = SRInferer(scale=4, roi_size=16)(x, net)
        plain = gen(x)
    torch.testing.assert_close(whole, again, atol=0, rtol=0)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)
    grain = whole - plain
    stds = [float(grain[0, c].std()) for c in range(3)]
    assert abs(stds[0] - 0.01) < 5e-4 and abs(stds[1] - 0.02) < 1e-3 and stds[2] == 0
    net.train()
    with torch.no_grad():
        a, b = net(x), net(x)  # training: fresh noise each call, at the same amplitude
    assert not torch.equal(a, b) and abs(float((a - plain)[0, 1].std()) - 0.02) < 1e-3


def test_contract_sigma_rules_and_no_grain():
    gen = _srvgg(channels=3, scale=4)
    net = GrainGenerator(gen, 0.01)
    assert (net.scale, net.spatial_dims, net.receptive_field) == (4, 2, gen.receptive_field)
    assert with_grain(gen, 0) is gen and with_grain(gen, None) is gen
    assert isinstance(with_grain(gen, 0.005), GrainGenerator)
    with pytest.raises(ConfigError, match=">= 0"):
        GrainGenerator(gen, -0.1)
    with pytest.raises(ConfigError, match="already has grain"):
        GrainGenerator(net, 0.01)
    for mode in ("eval", "train"):
        with pytest.raises(ConfigError, match="output has 3 channels, sigma has 2"), torch.no_grad():
            getattr(GrainGenerator(gen, [0.01, 0.02]), mode)()(torch.rand(1, 3, 8, 8))


def test_the_weights_carry_the_grain(tmp_path):
    net = GrainGenerator(_srvgg(seed=1), 0.007)
    path = save_generator_weights(net, tmp_path / "gan.pt")
    plain = _srvgg(seed=2)
    built = grain_for_weights(plain, path)
    assert isinstance(built, GrainGenerator) and built.generator is plain
    assert load_network_weights(built, path).ok and float(built.sigma[0]) == pytest.approx(0.007)
    torch.testing.assert_close(plain.state_dict(), net.generator.state_dict())
    # the bundle loader builds it the same way; PSNR weights stay a plain generator
    assert isinstance(load_bundle_generator(_srvgg(seed=3), path), GrainGenerator)
    psnr_path = save_generator_weights(_srvgg(seed=4), tmp_path / "psnr.pt")
    assert not isinstance(load_bundle_generator(_srvgg(seed=3), psnr_path), GrainGenerator)
    # a plain generator given grain weights says how to build the network
    with pytest.raises(CheckpointMismatchError, match="grain_for_weights"):
        load_network_weights(_srvgg(), path)
    # plain (PSNR) weights into a generator with grain: the generator loads, the grain keeps its amplitude
    target = GrainGenerator(_srvgg(seed=5), 0.004)
    report = load_network_weights(target, psnr_path)
    assert report.ok and str(report.source) == str(psnr_path) and float(target.sigma[0]) == pytest.approx(0.004)


def test_pipeline_self_ensemble_keep_flat_and_export(tmp_path):
    net = GrainGenerator(_srvgg(), 0.01)
    meta = {"srgan_value_min": 0.0, "srgan_value_max": 1.0, "srgan_dtype": "float32"}
    img = torch.rand(1, 40, 36) * 0.5 + 0.25
    img[:, :, :12] = 0.5  # a flat region: keep_flat leaves it flat, grain or not
    image = MetaTensor(img, meta=meta)
    whole = SRInferencePipeline(net, 2, tile_size=64, dtype="float32").predict(image)
    tiled = SRInferencePipeline(net, 2, tile_size=16, dtype="float32").predict(image)
    torch.testing.assert_close(whole.as_subclass(torch.Tensor), tiled.as_subclass(torch.Tensor), atol=1e-5, rtol=0)
    assert whole.meta["srgan_model"] == "model + synthesised grain sigma 0.01"
    assert float(whole[:, 4:76, 2:20].std()) == 0 and float(whole[:, :, 30:].std()) > 0
    ens = SRInferencePipeline(net, 2, tile_size=16, dtype="float32", self_ensemble=True, keep_flat=False)
    assert ens.model_name == "model + synthesised grain sigma 0.01 self-ensemble 8"
    assert isinstance(ens.network, GrainGenerator) and isinstance(ens.network.generator, SelfEnsemble)
    with torch.no_grad():  # the grain is added once, after the mean of the 8 passes
        x = img[None]
        grain = ens.network(x) - SelfEnsemble(net.generator)(x)
    assert abs(float(grain.std()) - 0.01) < 1e-3
    with pytest.raises(ConfigError, match="average its grain away"):
        SelfEnsemble(net)
    assert isinstance(grain_applied_to(net.generator, SelfEnsemble), SelfEnsemble)
    with pytest.raises(ConfigError, match="synthesised grain"):
        export_model(SRInferencePipeline(net, 2), tmp_path / "m.ts")


def test_a_bundle_builds_grain_from_its_weights(tmp_path):
    """The bundle route (inference.json -> load_bundle_generator, what the CLI and MONAI Label use) builds the grain
    from a weight file that carries it; the retina generator with the shipped PSNR weights plus grain 0.004."""
    from pathlib import Path

    bundle = Path(__file__).resolve().parents[1] / "bundles" / "retina_sr"
    psnr = SRInferencePipeline.from_bundle(bundle, dtype="float32")
    assert not isinstance(psnr.network, GrainGenerator)
    weights = save_generator_weights(GrainGenerator(psnr.network, 0.004), tmp_path / "gan_with_grain.pt")
    pipe = SRInferencePipeline.from_bundle(bundle, weights=weights, dtype="float32")
    assert isinstance(pipe.network, GrainGenerator) and pipe.model_name.endswith("+ synthesised grain sigma 0.004")
    image = MetaTensor(torch.rand(3, 24, 20) * 0.5 + 0.2, meta={"srgan_value_min": 0.0, "srgan_value_max": 1.0})
    a, b = psnr.predict(image), pipe.predict(image)
    assert abs(float((b - a).std()) - 0.004) < 5e-4
