"""Exact resume after SIGKILL, and checkpoints from another configuration rejected before any step."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from _engines_common import TinyGenerator, build_gan_trainer, make_loaders, weights_of

from monai_srgan.engines import SRPretrainer
from monai_srgan.errors import ConfigError

HERE = Path(__file__).resolve().parent


def _assert_same_weights(straight, resumed) -> None:
    """Generator, discriminator and EMA weights of a resumed run equal a straight run's (to float rounding)."""
    for name in ("generator_raw", "discriminator_raw"):
        a, b = weights_of(getattr(straight, name)), weights_of(getattr(resumed, name))
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7, msg=f"{name}.{k}")
    a, b = weights_of(straight.ema.module), weights_of(resumed.ema.module)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7)


def test_resume_after_sigkill_is_exact(data_root, tmp_path):
    # straight: 8 iterations (2 epochs of 4), checkpoints at iterations 3, 4 (epoch end), 6, 8
    straight = build_gan_trainer(data_root, tmp_path / "straight")
    straight.run()
    assert straight.state.iteration == 8

    # interrupted: killed with SIGKILL right after iteration 7 (last checkpoint: iteration 6, mid-epoch 2)
    ckpt_dir = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, str(HERE / "_engines_resume_worker.py"), str(data_root), str(ckpt_dir), "7"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    ckpt = torch.load(ckpt_dir / "checkpoint_last.pt", weights_only=True)
    assert ckpt["engine"]["iteration"] == 6

    resumed = build_gan_trainer(data_root, ckpt_dir)
    resumed.run()
    assert resumed.state.iteration == 8
    _assert_same_weights(straight, resumed)
    assert straight.optimizer_g.param_groups[0]["lr"] == resumed.optimizer_g.param_groups[0]["lr"] == 2.5e-4
    assert straight.state.val_history[-1]["psnr"] == pytest.approx(resumed.state.val_history[-1]["psnr"], abs=1e-5)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_saves_the_interrupted_iteration_and_resumes_exactly(data_root, tmp_path, sig):
    """Ctrl-C (SIGINT) or SIGTERM after iteration 5: the iteration finishes, checkpoint_last.pt holds iteration 5 (not
    the interval checkpoint of iteration 3), no export of the unfinished stage, and a re-run ends exactly where a
    straight run does."""
    straight = build_gan_trainer(data_root, tmp_path / "straight")
    straight.run()

    ckpt_dir = tmp_path / "stopped"
    proc = subprocess.run(
        [sys.executable, str(HERE / "_engines_resume_worker.py"), str(data_root), str(ckpt_dir), "5", sig],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 5, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"training stopped by {sig}" in proc.stdout and "after iteration 5/8" in proc.stdout, proc.stdout
    assert f"checkpoint of iteration 5: {ckpt_dir / 'checkpoint_last.pt'}" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert torch.load(ckpt_dir / "checkpoint_last.pt", weights_only=True)["engine"]["iteration"] == 5
    assert not (ckpt_dir / "model.pt").exists()

    resumed = build_gan_trainer(data_root, ckpt_dir)
    resumed.run()
    assert resumed.state.iteration == 8
    _assert_same_weights(straight, resumed)


def test_finished_stage_is_not_retrained(data_root, tmp_path):
    t = build_gan_trainer(data_root, tmp_path, max_epochs=1, save_interval=None)
    t.run()
    w = weights_of(t.generator_raw)
    again = build_gan_trainer(data_root, tmp_path, max_epochs=1, save_interval=None)
    again.run()
    assert again.state.iteration == 4
    for k, v in w.items():
        assert torch.equal(v, again.generator_raw.state_dict()[k])


@pytest.mark.parametrize("change", [{"g_ch": 16}, {"scale": 4}])
def test_resume_dir_from_other_configuration_fails_before_training(data_root, tmp_path, change):
    build_gan_trainer(data_root, tmp_path, max_epochs=1, save_interval=None).run()
    other = build_gan_trainer(data_root, tmp_path, max_epochs=2, **change)
    before = weights_of(other.generator_raw)
    with pytest.raises(ConfigError, match="resume") as err:
        other.run()
    msg = str(err.value)  # one line naming the folder and the choices (new --output_dir, resume, start over)
    assert "\n" not in msg and str(tmp_path) in msg and "--output_dir" in msg and "start over" in msg
    assert other.state.iteration == 0
    for k, v in before.items():
        assert torch.equal(v, other.generator_raw.state_dict()[k])


def test_stage_mismatch_and_bad_warm_start(data_root, tmp_path):
    train, _, c = make_loaders(data_root, "xray", patch=32, scale=2, n=4, batch=2)
    g = TinyGenerator(in_channels=c, out_channels=c)
    s1 = SRPretrainer(
        device="cpu",
        max_epochs=1,
        train_data_loader=train,
        generator=g,
        epoch_length=1,
        optimizer_g=torch.optim.Adam(g.parameters()),
        loss_function=torch.nn.L1Loss(),
        ckpt_dir=tmp_path,
    )
    s1.run()
    # a stage-1 folder given to stage 2 as its resume dir
    s2 = build_gan_trainer(data_root, tmp_path)
    with pytest.raises(ConfigError, match="pretrain"):
        s2.run()
    # a 1-channel stage-1 model given to a 3-channel stage 2 as warm start
    s2 = build_gan_trainer(data_root, tmp_path / "s2", warm_start=tmp_path / "model.pt")
    with pytest.raises(ConfigError, match="warm_start"):
        s2.run()
    assert s2.state.iteration == 0


def test_partial_warm_start_takes_the_trunk_of_another_scale(data_root, tmp_path):
    """``warm_start_partial``: a ×2 model's first convolution starts a ×4 generator; the upsampler keeps its init."""
    src = TinyGenerator(in_channels=3, out_channels=3, scale=2)
    torch.save(src.state_dict(), tmp_path / "x2.pt")
    strict = build_gan_trainer(data_root, tmp_path / "a", scale=4)
    with pytest.raises(ConfigError, match="shape mismatch"):
        strict.load_generator_weights(tmp_path / "x2.pt")
    t = build_gan_trainer(data_root, tmp_path / "b", scale=4, warm_start_partial=True)
    init_last = t.generator_raw.body[2].weight.detach().clone()
    t.load_generator_weights(tmp_path / "x2.pt")
    assert torch.equal(t.generator_raw.body[0].weight, src.body[0].weight)
    assert torch.equal(t.generator_raw.body[2].weight, init_last)
    assert torch.equal(t.ema.module.body[0].weight, src.body[0].weight)


def test_prefetch_thread_gives_the_same_training(data_root, tmp_path):
    """``prefetch``: batches prepared by a background thread are the same batches, so the weights are identical."""
    plain = build_gan_trainer(data_root, tmp_path / "plain", max_epochs=1, save_interval=None)
    plain.run()
    ahead = build_gan_trainer(data_root, tmp_path / "ahead", max_epochs=1, save_interval=None, prefetch=2)
    ahead.run()
    for k, v in weights_of(plain.generator_raw).items():
        assert torch.equal(v, ahead.generator_raw.state_dict()[k]), k


def test_prefetch_surfaces_errors_and_stops():
    from monai_srgan.engines.utils import prefetch_batches

    def broken():
        yield 1
        raise ValueError("bad file x.png")

    it = prefetch_batches(broken(), 2)
    assert next(it) == 1
    with pytest.raises(ValueError, match="x.png"):
        next(it)
    endless = prefetch_batches(iter(range(10**9)), 2)
    assert [next(endless) for _ in range(3)] == [0, 1, 2]
    endless.close()  # an epoch that ends early: the thread stops instead of filling the queue forever
    deadline = time.monotonic() + 5.0
    while any(t.name == "monai_srgan-prefetch" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "monai_srgan-prefetch" for t in threading.enumerate())
