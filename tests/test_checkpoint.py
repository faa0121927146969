"""Checkpoint loading: Real-ESRGAN reference vectors (strict, 1e-5), wrappers, prefixes, readable mismatch errors,
weights_only, atomic saving."""

from __future__ import annotations

import os

import pytest
import torch

from monai_srgan.errors import InputFileError
from monai_srgan.networks import (
    CheckpointMismatchError,
    MSRResNet,
    RRDBNet,
    SRVGGNetCompact,
    get_generator,
    load_network_weights,
    save_generator_weights,
)

GENERATOR_CASES = ["rrdbnet_x4", "rrdbnet_x2", "rrdbnet_x4_gray", "msrresnet_x4", "srvggnetcompact_x4"]


@pytest.fixture(scope="module")
def vectors(reference_root):
    return torch.load(reference_root / "realesrgan_compat_vectors.pt", weights_only=True)["cases"]


def _build(arch: dict) -> torch.nn.Module:
    kw = {k: v for k, v in arch.items() if k != "arch"}
    return get_generator(arch["arch"], **kw)  # BasicSR option names, as in a BasicSR YAML


def test_all_generator_cases_covered(vectors):
    # every generator case of the reference file is tested here (the discriminator case belongs to test_discriminators)
    assert {k for k, c in vectors.items() if "Discriminator" not in c["arch"]["arch"]} == set(GENERATOR_CASES)


@pytest.mark.parametrize("case", GENERATOR_CASES)
def test_reference_vectors_strict_from_file(vectors, case, tmp_path):
    c = vectors[case]
    path = tmp_path / f"{case}.pth"
    torch.save(c["checkpoint"], path)  # wrapped as released files are: {"params_ema": ...} or {"params": ...}
    model = _build(c["arch"]).eval()
    report = load_network_weights(model, path, strict=True)
    assert report.ok and report.wrapper_key == next(iter(c["checkpoint"]))
    assert len(report.loaded) == len(model.state_dict())
    with torch.no_grad():
        out = model(c["input"])
    assert out.shape == c["output"].shape
    torch.testing.assert_close(out, c["output"], rtol=0, atol=1e-5)


def test_params_ema_preferred_over_params(vectors):
    c = vectors["rrdbnet_x4"]
    ema = c["checkpoint"]["params_ema"]
    raw = {k: torch.zeros_like(v) for k, v in ema.items()}
    m = _build(c["arch"])
    r = load_network_weights(m, {"params": raw, "params_ema": ema})
    assert r.wrapper_key == "params_ema"
    torch.testing.assert_close(m.conv_first.weight, ema["conv_first.weight"])
    r = load_network_weights(m, {"params": raw, "params_ema": ema}, key="params")
    assert r.wrapper_key == "params" and m.conv_first.weight.abs().sum() == 0


def test_project_engine_checkpoint_layout(vectors, tmp_path):
    c = vectors["srvggnetcompact_x4"]
    sd = c["checkpoint"]["params"]
    d_sd = vectors["unet_discriminator_sn"]["checkpoint"]["params"]
    ckpt = {
        "generator": "SRVGGNetCompact",
        "scale": 4,
        "epoch": 3,
        "params": {k: v + 1 for k, v in sd.items()},
        "params_ema": sd,
        "net_d": d_sd,
        "optimizer_g": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
    }
    path = tmp_path / "checkpoint_epoch3.pt"
    torch.save(ckpt, path)
    m = _build(c["arch"]).eval()
    r = load_network_weights(m, path)
    assert r.wrapper_key == "params_ema"
    with torch.no_grad():
        torch.testing.assert_close(m(c["input"]), c["output"], rtol=0, atol=1e-5)
    with pytest.raises(InputFileError, match="no key 'ema_weights'"):
        load_network_weights(m, path, key="ema_weights")


def test_plain_state_dict_and_prefixes(vectors, tmp_path):
    c = vectors["msrresnet_x4"]
    sd = c["checkpoint"]["params"]
    for variant in (
        sd,  # MONAI bundle model.pt
        {"module." + k: v for k, v in sd.items()},  # DDP
        {"_orig_mod." + k: v for k, v in sd.items()},  # torch.compile
        {"state_dict": {"module." + k: v for k, v in sd.items()}},
        {**{"module." + k: v for k, v in sd.items()}, "n_averaged": torch.tensor(5)},  # AveragedModel
    ):
        path = tmp_path / "model.pt"
        torch.save(variant, path)
        m = MSRResNet(2, 3, 3, 4, num_feat=16, num_blocks=2).eval()
        r = load_network_weights(m, path)
        assert r.ok
        with torch.no_grad():
            torch.testing.assert_close(m(c["input"]), c["output"], rtol=0, atol=1e-5)


def test_loads_into_ddp_like_wrapper(vectors):
    c = vectors["rrdbnet_x2"]

    class Wrapper(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

    inner = _build(c["arch"]).eval()
    load_network_weights(Wrapper(inner), c["checkpoint"])
    with torch.no_grad():
        torch.testing.assert_close(inner(c["input"]), c["output"], rtol=0, atol=1e-5)


def test_wrong_scale_raises_readable_error(vectors, tmp_path):
    path = tmp_path / "RealESRGAN_x4plus_small.pth"
    torch.save(vectors["rrdbnet_x4"]["checkpoint"], path)
    m = RRDBNet(2, 3, 3, 2, num_feat=16, num_blocks=2, num_grow_ch=8)
    with pytest.raises(CheckpointMismatchError) as ei:
        load_network_weights(m, path)
    msg = str(ei.value)
    assert str(path) in msg and "RRDBNet" in msg and "scale" in msg
    assert "conv_first.weight" in msg and "[16, 3, 3, 3]" in msg and "[16, 12, 3, 3]" in msg
    assert ei.value.report.mismatched == [("conv_first.weight", (16, 3, 3, 3), (16, 12, 3, 3))]
    # non-strict: everything else loads and the report says what did not
    before = m.conv_first.weight.clone()
    r = load_network_weights(m, path, strict=False)
    assert not r.ok and len(r.loaded) == len(m.state_dict()) - 1
    torch.testing.assert_close(m.conv_first.weight, before)
    torch.testing.assert_close(
        m.conv_last.weight, vectors["rrdbnet_x4"]["checkpoint"]["params_ema"]["conv_last.weight"]
    )


def test_gray_block_count_and_architecture_hints(vectors):
    ck = vectors["rrdbnet_x4"]["checkpoint"]
    with pytest.raises(CheckpointMismatchError, match="rrdbnet_rgb_to_gray"):
        load_network_weights(RRDBNet(2, 1, 1, 4, num_feat=16, num_blocks=2, num_grow_ch=8), ck)
    with pytest.raises(CheckpointMismatchError, match="num_blocks=2"):
        load_network_weights(RRDBNet(2, 3, 3, 4, num_feat=16, num_blocks=3, num_grow_ch=8), ck)
    with pytest.raises(CheckpointMismatchError, match="another scale"):
        load_network_weights(
            SRVGGNetCompact(2, 3, 3, 2, num_feat=16, num_conv=4), vectors["srvggnetcompact_x4"]["checkpoint"]
        )
    with pytest.raises(CheckpointMismatchError, match="another architecture"):
        load_network_weights(SRVGGNetCompact(2, 3, 3, 4, num_feat=16, num_conv=4), ck)


def test_bad_files(tmp_path):
    m = SRVGGNetCompact(2, 1, 1, 2, num_feat=4, num_conv=1)
    with pytest.raises(InputFileError, match="not found"):
        load_network_weights(m, tmp_path / "missing.pth")
    pickled = tmp_path / "whole_model.pt"
    torch.save(m, pickled)  # a pickled module, not tensors: refused by weights_only=True
    with pytest.raises(InputFileError, match="weights_only=True"):
        load_network_weights(m, pickled)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputFileError):
        load_network_weights(m, junk)
    torch.save({"epoch": 3, "note": "no weights"}, tmp_path / "empty.pt")
    with pytest.raises(InputFileError, match="no state dict"):
        load_network_weights(m, tmp_path / "empty.pt")


def test_save_generator_weights_atomic_round_trip(tmp_path, monkeypatch):
    torch.manual_seed(0)
    m = SRVGGNetCompact(2, 1, 1, 2, num_feat=4, num_conv=1)
    path = save_generator_weights(m, tmp_path / "models" / "model.pt")
    sd = torch.load(path, weights_only=True)
    assert set(sd) == set(m.state_dict())
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode
    wrapped = torch.load(save_generator_weights(m, tmp_path / "bsr.pth", key="params_ema"), weights_only=True)
    assert set(wrapped) == {"params_ema"}
    m2 = SRVGGNetCompact(2, 1, 1, 2, num_feat=4, num_conv=1)
    load_network_weights(m2, path)
    for k, v in m.state_dict().items():
        torch.testing.assert_close(m2.state_dict()[k], v)

    # a failure while writing leaves the previous file intact and no temporary file behind
    original = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_generator_weights(SRVGGNetCompact(2, 1, 1, 2, num_feat=4, num_conv=1), path)
    assert path.read_bytes() == original
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]
