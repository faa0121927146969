"""TensorBoard scalars and image grid; NaN/Inf guard leaving the last good checkpoint loadable."""

from __future__ import annotations

import math

import pytest
import torch
from _engines_common import TinyGenerator, build_gan_trainer, make_loaders, make_validator
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from monai_srgan.engines import NonFiniteLossError, SRPretrainer, make_image_grid


def test_tensorboard_scalars_and_image_grid(data_root, tmp_path):
    t = build_gan_trainer(data_root, tmp_path / "ckpt", max_epochs=1, save_interval=None,
                          tensorboard_dir=tmp_path / "tb", log_interval=1)  # fmt: skip
    t.run()
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0, "scalars": 0}).Reload()
    tags = set(acc.Tags()["scalars"])
    want = {"train/loss_g", "train/l1", "train/gan", "train/loss_d", "train/d_real", "train/d_fake", "lr/g", "lr/d"}
    want |= {"val/psnr", "val/ssim", "val/psnr_bicubic", "val/ssim_bicubic", "val/psnr_gain", "val/lr_consistency"}
    assert want <= tags, want - tags
    assert [e.step for e in acc.Scalars("train/loss_g")] == [1, 2, 3, 4]
    assert math.isclose(acc.Scalars("val/psnr")[-1].value, t.state.val_history[-1]["psnr"], rel_tol=1e-6)
    (img,) = acc.Images("val/bicubic|SR|HR|abs_err")
    # 2 fixed validation images of 48x48 -> two rows of 4 tiles (bicubic | SR | HR | |SR-HR|), 2-px gaps
    assert (img.width, img.height) == (4 * 48 + 3 * 2, 2 * 48 + 2)


def test_tensorboard_handler_writes_on_the_engines_rank_0_only(tmp_path):
    """The rank is read when the handler is attached: a bundle builds handlers before torchrun's process group is up,
    when every process reads as rank 0."""
    from ignite.engine import Engine

    from monai_srgan.engines import SREvents, TensorBoardHandler

    for rank, enabled in ((1, False), (0, True)):
        handler, engine = TensorBoardHandler(tmp_path / str(rank)), Engine(lambda e, b: None)
        engine.register_events(*SREvents)
        engine.rank = rank
        handler.attach(engine)
        assert handler.logger.enabled is enabled


def test_image_grid_layout_gray_and_error_panel():
    hr = torch.zeros(1, 8, 8)
    sr = hr.clone()
    sr[0, 0, 0] = 0.1
    grid = make_image_grid([(hr, sr, hr)], data_range=1.0, value_min=0.0, error_gain=4.0, pad=2)
    assert grid.shape == (3, 8, 4 * 8 + 3 * 2)
    err_tile = grid[:, :, 3 * 10 : 3 * 10 + 8]
    assert err_tile[0, 0, 0] == pytest.approx(0.4) and err_tile[:, 1:, 1:].abs().max() == 0


class _NaNAt(torch.nn.Module):
    """L1 loss that turns NaN at its ``at``-th call (an injected divergence)."""

    def __init__(self, at: int):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, sr, hr):
        self.calls += 1
        loss = torch.nn.functional.l1_loss(sr, hr)
        return loss * float("nan") if self.calls == self.at else loss


def test_nan_guard_stops_and_keeps_last_good_checkpoint(data_root, tmp_path):
    torch.manual_seed(0)
    train, val, c = make_loaders(data_root, "fundus", patch=32, scale=2, n=8, batch=2)
    g = TinyGenerator(in_channels=c, out_channels=c)
    t = SRPretrainer(device="cpu", max_epochs=3, train_data_loader=train, generator=g, loss_function=_NaNAt(6),
                     optimizer_g=torch.optim.Adam(g.parameters(), 1e-3), validator=make_validator(val),
                     ckpt_dir=tmp_path)  # fmt: skip
    with pytest.raises(NonFiniteLossError, match="iteration 6") as err:
        t.run()
    msg = str(err.value)
    assert str(tmp_path / "checkpoint_last.pt") in msg and "(iteration 4)" in msg
    assert all(torch.isfinite(p).all() for p in g.parameters())  # the bad step was never applied
    ckpt = torch.load(tmp_path / "checkpoint_last.pt", weights_only=True)
    assert ckpt["engine"]["iteration"] == 4
    # the checkpoint resumes: a fresh trainer continues from iteration 4 to the end
    g2 = TinyGenerator(in_channels=c, out_channels=c)
    t2 = SRPretrainer(device="cpu", max_epochs=3, train_data_loader=train, generator=g2,
                      loss_function=torch.nn.L1Loss(), optimizer_g=torch.optim.Adam(g2.parameters(), 1e-3),
                      ckpt_dir=tmp_path)  # fmt: skip
    t2.run()
    assert t2.state.iteration == 12 and math.isfinite(t2.state.output["loss_g"])


def test_early_stopping_progress_bar_and_stats_handler(data_root, tmp_path):
    import logging

    from monai.handlers import StatsHandler

    torch.manual_seed(0)
    train, val, c = make_loaders(data_root, "xray", patch=32, scale=2, n=4, batch=2)
    g = TinyGenerator(in_channels=c, out_channels=c)
    records: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    for name in ("engines_test", "monai_srgan.engines"):
        log = logging.getLogger(name)
        log.setLevel(logging.INFO)
        log.addHandler(_Collect())
    stats = StatsHandler(name="engines_test", output_transform=lambda out: out["loss_g"])

    def build():
        return SRPretrainer(device="cpu", max_epochs=6, train_data_loader=train, generator=g,
                            optimizer_g=torch.optim.SGD(g.parameters(), lr=0.0),  # never improves
                            loss_function=torch.nn.L1Loss(), validator=make_validator(val), early_stop_patience=2,
                            ckpt_dir=tmp_path, progress_bar=True, train_handlers=[stats], log_interval=2)  # fmt: skip

    t = build()
    t.run()
    assert t.state.epoch == 3 and t.state.iteration == 6  # best at epoch 1, then 2 validations without improvement
    assert t.state.best_metric_epoch == 1
    # one line per log_interval (iteration, losses, it/s), none per iteration from the StatsHandler
    lines = [r for r in records if "pretraining: iteration " in r]
    assert len(lines) == 3 and all("loss_g" in r and "it/s" in r for r in lines), records
    assert not any("Loss" in r for r in records), records
    again = build()  # an early-stopped stage counts as finished
    again.run()
    assert again.state.iteration == 6


def test_validation_line_reports_this_validation(data_root, tmp_path):
    """A validator's StatsHandler logs the metrics of the validation that just ran (it was one behind: the first
    run printed nothing, the second the first's numbers), and a training run logs one validation line per epoch."""
    import logging

    from monai.handlers import StatsHandler

    from monai_srgan.engines import SRValidator

    records: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    for name in ("val_line_test", "monai_srgan.engines"):
        log = logging.getLogger(name)
        log.setLevel(logging.INFO)
        log.addHandler(_Collect())
    _, val, c = make_loaders(data_root, "xray", patch=32, scale=2, n=4, batch=2)
    validator = SRValidator(
        device="cpu", val_data_loader=val, val_handlers=[StatsHandler(name="val_line_test", iteration_log=False)]
    )
    for ch in (4, 8):  # two different networks: two different results
        torch.manual_seed(ch)
        validator.network = TinyGenerator(in_channels=c, out_channels=c, ch=ch)
        validator.run()
        psnr = validator.state.metrics["psnr"]
        lines = [r for r in records if "Metrics" in r]
        assert lines and f"psnr: {psnr:.4f}" in lines[-1], (psnr, lines)
        records.clear()

    train, val, c = make_loaders(data_root, "xray", patch=32, scale=2, n=4, batch=2)
    g = TinyGenerator(in_channels=c, out_channels=c)
    t = SRPretrainer(device="cpu", max_epochs=2, train_data_loader=train, generator=g, loss_function=torch.nn.L1Loss(),
                     optimizer_g=torch.optim.Adam(g.parameters(), 1e-3), validator=make_validator(val))  # fmt: skip
    t.run()
    lines = [r for r in records if "validation" in r and "psnr" in r]
    assert len(lines) == 2 and "epoch 1 validation" in lines[0] and "epoch 2 validation" in lines[1], records
    assert f"psnr {t.state.val_history[-1]['psnr']:.2f} dB" in lines[1], lines


def test_progress_lines_give_the_whole_runs_eta_and_a_first_iteration_line(data_root, tmp_path):
    import logging

    from monai_srgan.engines import run_two_stage

    records: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    log = logging.getLogger("monai_srgan.engines")
    log.setLevel(logging.INFO)
    log.addHandler(_Collect())
    stage2 = build_gan_trainer(data_root, tmp_path / "s2", max_epochs=1, save_interval=None, log_interval=2)
    train, _, c = make_loaders(data_root, "fundus", patch=32, scale=2, n=8, batch=2)
    g = stage2.generator_raw
    stage1 = SRPretrainer(device="cpu", max_epochs=1, train_data_loader=train, generator=g,
                          loss_function=torch.nn.L1Loss(), optimizer_g=torch.optim.Adam(g.parameters(), 1e-3),
                          log_interval=2)  # fmt: skip
    run_two_stage(stage1, stage2)
    s1 = [r for r in records if r.startswith("stage 1/2: pretraining: iteration ")]
    s2 = [r for r in records if r.startswith("stage 2/2: adversarial: iteration ")]
    assert s1 and all("left in this stage, ~" in r and "for the whole run" in r for r in s1), s1
    assert s2 and all(r.endswith(" left") for r in s2), s2
    # stage 2's line also carries what MONAI's StatsHandler line used to add: D's mean logits, after the losses
    assert all(" loss_d " in r and " d_real " in r and " d_fake " in r for r in s2), s2
    assert all(r.index(" loss_d ") < r.index(" d_real ") for r in s2), s2
    assert any("then stage 2/2: adversarial: 4 iterations" in r for r in records), records
    assert any(r.startswith("stage 1/2: pretraining: first iteration done in ") for r in records), records
