"""Stage 1 and stage 2 on real fundus (RGB) and chest X-ray (gray) crops with the project's networks and losses."""

from __future__ import annotations

import math

import pytest
import torch
from _engines_common import TinyGenerator, make_loaders, make_validator, real_region, weights_of
from ignite.engine import Events

from monai_srgan.engines import PairPool, SRGANTrainer, SRPretrainer, run_two_stage
from monai_srgan.errors import ConfigError
from monai_srgan.losses import AdversarialLoss, GeneratorLoss
from monai_srgan.networks import SRGANDiscriminator, SRResNet, load_network_weights


def _stage_pair(data_root, tmp_path, kind):
    torch.manual_seed(0)
    train, val, c = make_loaders(data_root, kind, patch=32, scale=2, n=8, batch=2)
    g = SRResNet(2, c, c, scale=2, num_feat=16, num_blocks=2, norm="none")
    d = SRGANDiscriminator(2, c, num_features=8, num_layers=4, dense_features=32)
    s1 = SRPretrainer(
        device="cpu",
        max_epochs=2,
        train_data_loader=train,
        generator=g,
        optimizer_g=torch.optim.Adam(g.parameters(), 2e-3),
        loss_function=torch.nn.L1Loss(),
        validator=make_validator(val),
        ckpt_dir=tmp_path / "stage1",
    )
    gl = GeneratorLoss(
        {"l1": {"loss": torch.nn.L1Loss(), "weight": 1.0}, "gan": {"loss": AdversarialLoss(), "weight": 0.1}}
    )
    s2 = SRGANTrainer(
        device="cpu",
        max_epochs=1,
        train_data_loader=train,
        generator=g,
        optimizer_g=torch.optim.Adam(g.parameters(), 1e-4),
        discriminator=d,
        optimizer_d=torch.optim.Adam(d.parameters(), 1e-4),
        generator_loss=gl,
        adversarial_loss=AdversarialLoss("vanilla"),
        validator=make_validator(val),
        ckpt_dir=tmp_path / "stage2",
    )
    return s1, s2, c


@pytest.mark.parametrize("kind", ["fundus", "xray"])
def test_two_stage_on_real_crops(data_root, tmp_path, kind):
    s1, s2, c = _stage_pair(data_root, tmp_path, kind)
    seen = {}

    @s1.on(Events.COMPLETED)
    def _final1(engine):
        seen["final1"] = weights_of(engine.generator_raw)

    @s2.on(Events.STARTED)
    def _capture(engine):
        seen["g"] = weights_of(engine.generator_raw)
        seen["ema"] = weights_of(engine.ema.module)

    run_two_stage(s1, s2)
    # stage 1: content loss only, validation each epoch with model and bicubic on the same images
    assert s1.state.iteration == 8 and [h["epoch"] for h in s1.state.val_history] == [1, 2]
    h1, h2 = s1.state.val_history
    assert h2["psnr"] > h1["psnr"]  # the generator learns
    assert h1["psnr_bicubic"] == pytest.approx(h2["psnr_bicubic"])  # same images, same baseline
    assert math.isfinite(h2["lr_consistency"])
    # warm start: stage 2 starts from stage 1's final generator, EMA included
    final1 = seen["final1"]  # (stage 1 and stage 2 share the generator object here)
    for k, v in seen["g"].items():
        assert torch.equal(v, final1[k]) and torch.equal(seen["ema"][k], final1[k])
    # stage 2: every term logged, D statistics present
    out = s2.state.output
    assert {"loss_g", "l1", "gan", "loss_d", "d_real", "d_fake"} <= set(out)
    assert all(math.isfinite(v) for v in out.values())
    assert out["loss_g"] == pytest.approx(out["l1"] + out["gan"], rel=1e-5)
    # export: params + params_ema, loadable by the networks loader into a fresh model
    exported = torch.load(tmp_path / "stage2" / "model.pt", weights_only=True)
    assert {"params", "params_ema"} <= set(exported)
    fresh = SRResNet(2, c, c, scale=2, num_feat=16, num_blocks=2, norm="none")
    load_network_weights(fresh, str(tmp_path / "stage2" / "model.pt"))
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, s2.ema.module.state_dict()[k])
    assert (tmp_path / "stage1" / "best_model.pt").is_file() and (tmp_path / "stage2" / "best_model.pt").is_file()


def test_step_order_d_steps_and_d_init_iters(data_root):
    torch.manual_seed(0)
    train, _, c = make_loaders(data_root, "xray", patch=32, scale=2, n=8, batch=2)
    g, d = TinyGenerator(in_channels=c, out_channels=c), SRGANDiscriminator(2, c, 8, 4, 32)
    opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
    gl = GeneratorLoss({"mse": {"loss": torch.nn.MSELoss()}, "gan": {"loss": AdversarialLoss("lsgan"), "weight": 1e-3}})
    t = SRGANTrainer(
        device="cpu", max_epochs=1, train_data_loader=train, generator=g, optimizer_g=opt_g, discriminator=d,
        optimizer_d=opt_d, generator_loss=gl, adversarial_loss=AdversarialLoss("lsgan"), step_order="d_first",
        d_steps=2, d_init_iters=1, ema_decay=None,
    )  # fmt: skip
    t.run()
    step = lambda opt: int(next(iter(opt.state.values()))["step"])  # noqa: E731
    assert step(opt_d) == 2 * 4  # 2 D updates in each of the 4 iterations
    assert step(opt_g) == 4 - 1  # no G update during the first (D-only) iteration


def test_pair_pool_returns_earlier_pairs_and_keeps_pairs_aligned():
    torch.manual_seed(0)
    pool = PairPool(4)
    batches = [(torch.full((2, 1, 2, 2), float(i)), torch.full((2, 1, 4, 4), float(i))) for i in range(4)]
    out = [pool(lr, hr) for lr, hr in batches]
    assert torch.equal(out[0][0], batches[0][0]) and torch.equal(out[1][1], batches[1][1])  # filling: pass-through
    lr, hr = out[2]
    assert set(lr.flatten().tolist()) <= {0.0, 1.0}  # from the pool, not the current batch
    assert torch.equal(lr[:, :, :1, :1], hr[:, :, :1, :1])  # LR and HR rows stay paired
    with pytest.raises(ConfigError, match="multiple"):
        PairPool(3)(*batches[0])


def test_scale_mismatch_fails_before_any_step(data_root):
    train, _, c = make_loaders(data_root, "fundus", patch=32, scale=2, n=4, batch=2)
    g = SRResNet(2, c, c, scale=4, num_feat=8, num_blocks=1)
    before = weights_of(g)
    t = SRPretrainer(device="cpu", max_epochs=1, train_data_loader=train, generator=g,
                     optimizer_g=torch.optim.Adam(g.parameters()), loss_function=torch.nn.L1Loss())  # fmt: skip
    with pytest.raises(ConfigError, match="scale"):
        t.run()
    assert all(torch.equal(v, g.state_dict()[k]) for k, v in before.items())


def test_amp_bf16_with_clipping(data_root):
    torch.manual_seed(0)
    train, _, c = make_loaders(data_root, "fundus", patch=32, scale=2, n=4, batch=2)
    g = SRResNet(2, c, c, scale=2, num_feat=8, num_blocks=1)
    t = SRPretrainer(device="cpu", max_epochs=1, train_data_loader=train, generator=g, amp=True, clip_grad_norm=0.05,
                     optimizer_g=torch.optim.SGD(g.parameters(), lr=1.0), loss_function=torch.nn.L1Loss())  # fmt: skip
    before = {k: v.detach().clone() for k, v in g.named_parameters()}
    t.run()
    assert t.amp_dtype == torch.bfloat16 and t.scaler_g is None
    assert math.isfinite(t.state.output["loss_g"])
    # lr 1.0 with the gradient norm clipped to 0.05: every step moves the weights by at most 0.05
    moved = torch.sqrt(
        sum(((g.state_dict()[k] - v).float() ** 2).sum() for k, v in before.items() if v.is_floating_point())
    )
    assert 0 < moved <= 0.05 * 2 + 1e-4


def test_images_smaller_than_patch_and_empty_loader_fail_before_training(data_root):
    from monai.data import Dataset
    from monai.transforms import Compose

    from monai_srgan.engines import make_dataloader
    from monai_srgan.errors import InputFileError
    from monai_srgan.transforms import BicubicDownsampled, RandHRPatchd

    small = real_region(str(data_root), "cxr/nih_00000075_000.png", 40, True)  # 40x40 image, 64x64 patches asked
    xform = Compose([RandHRPatchd(keys="hr", patch_size=64), BicubicDownsampled(keys="hr", lr_key="lr", scale=2)])
    loader = make_dataloader(Dataset([{"hr": small}] * 4, transform=xform), batch_size=2)
    g = TinyGenerator(in_channels=1, out_channels=1)
    before = weights_of(g)
    t = SRPretrainer(device="cpu", max_epochs=1, train_data_loader=loader, generator=g,
                     optimizer_g=torch.optim.Adam(g.parameters()), loss_function=torch.nn.L1Loss())  # fmt: skip
    with pytest.raises(InputFileError, match="smaller than"):
        t.run()
    assert t.state.iteration == 0 and all(torch.equal(v, g.state_dict()[k]) for k, v in before.items())
    # one image, batch 2, drop_last: no batch at all -> a clear error instead of a silent 0-iteration run
    loader = make_dataloader(Dataset([{"hr": small}], transform=xform), batch_size=2)
    t = SRPretrainer(device="cpu", max_epochs=1, train_data_loader=loader, generator=g, epoch_length=1,
                     optimizer_g=torch.optim.Adam(g.parameters()), loss_function=torch.nn.L1Loss())  # fmt: skip
    with pytest.raises(ConfigError, match="batch_size"):
        t.run()


def test_compiled_training_matches_eager_and_exports_plain_keys(data_root, tmp_path):
    """``compile=True`` trains through ``torch.compile``; the weights follow the eager run (fused kernels round
    differently) and the export holds the plain network's keys, not ``_orig_mod.*``."""
    runs = {}
    for compile_ in (False, True):
        torch.manual_seed(0)
        train, _, c = make_loaders(data_root, "xray", patch=32, scale=2, n=4, batch=2)
        g = TinyGenerator(in_channels=c, out_channels=c)
        t = SRPretrainer(device="cpu", max_epochs=1, epoch_length=3, train_data_loader=train, generator=g,
                         optimizer_g=torch.optim.SGD(g.parameters(), 1e-2), loss_function=torch.nn.L1Loss(),
                         compile=compile_, ckpt_dir=tmp_path / str(compile_))  # fmt: skip
        t.run()
        runs[compile_] = weights_of(g)
    for k, v in runs[False].items():
        torch.testing.assert_close(runs[True][k], v, rtol=1e-4, atol=1e-5)
    exported = torch.load(tmp_path / "True" / "model.pt", weights_only=True)["params"]
    assert set(exported) == set(runs[False])


def test_shortcut_and_listed_handler_conflict_names_the_argument(data_root):
    """A shortcut argument and the same handler in ``train_handlers`` are a ``ConfigError`` naming the argument;
    ``SRGANTrainer``'s default EMA steps aside for a listed ``EMAHandler``."""
    from monai_srgan.engines import EMAHandler

    train, _, c = make_loaders(data_root, "xray", patch=32, scale=2, n=4, batch=2)
    g = TinyGenerator(in_channels=c, out_channels=c)
    kw = {"device": "cpu", "max_epochs": 1, "train_data_loader": train, "generator": g,
          "optimizer_g": torch.optim.SGD(g.parameters(), 1e-2)}  # fmt: skip
    with pytest.raises(ConfigError, match="ema_decay argument; keep one of the two"):
        SRPretrainer(**kw, loss_function=torch.nn.L1Loss(), ema_decay=0.9, train_handlers=[EMAHandler(0.9)])
    d = SRGANDiscriminator(2, c, num_features=8, num_layers=2, dense_features=16)
    gl = GeneratorLoss({"l1": {"loss": torch.nn.L1Loss(), "weight": 1.0}})
    gan_kw = {"discriminator": d, "optimizer_d": torch.optim.SGD(d.parameters(), 1e-2), "generator_loss": gl,
              "adversarial_loss": AdversarialLoss()}  # fmt: skip
    t = SRGANTrainer(**kw, **gan_kw, train_handlers=[EMAHandler(0.5)])
    assert t.ema is not None and t.ema.decay == 0.5
    assert SRGANTrainer(**kw, **gan_kw).ema.decay == 0.999


class _EmaProbe(torch.nn.Module):
    """A loss term that asks for the EMA generator's SR (``needs_ema_sr``) and records what the trainer passes."""

    needs_ema_sr = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, sr, hr, sr_ema=None):
        self.seen.append((sr.detach().clone(), sr_ema))
        return (sr - hr).abs().mean() * 0


def test_gan_trainer_passes_the_ema_generators_sr_to_terms_that_need_it(data_root):
    """LDL's artifact term (ArtifactMapLoss) compares with the EMA generator's SR of the same batch."""
    from monai_srgan.losses import ArtifactMapLoss

    torch.manual_seed(0)
    train, _, c = make_loaders(data_root, "xray", patch=32, scale=2, n=4, batch=2)
    g, d = TinyGenerator(in_channels=c, out_channels=c), SRGANDiscriminator(2, c, 8, 2, 16)
    probe = _EmaProbe()
    gl = GeneratorLoss({"l1": {"loss": torch.nn.L1Loss()}, "probe": {"loss": probe},
                        "artifact": {"loss": ArtifactMapLoss(), "weight": 1.0}})  # fmt: skip
    t = SRGANTrainer(
        device="cpu", max_epochs=1, train_data_loader=train, generator=g, optimizer_g=torch.optim.Adam(g.parameters()),
        discriminator=d, optimizer_d=torch.optim.Adam(d.parameters()), generator_loss=gl,
        adversarial_loss=AdversarialLoss(), d_init_iters=0, ema_decay=0.9,
    )  # fmt: skip
    t.run()
    assert len(probe.seen) == 2 and "artifact" in t.state.output
    for sr, sr_ema in probe.seen:
        assert sr_ema is not None and sr_ema.shape == sr.shape and not sr_ema.requires_grad
    sr, sr_ema = probe.seen[-1]
    assert 0 < float((sr - sr_ema).abs().max()) < 0.5  # the EMA lags the generator after a step
