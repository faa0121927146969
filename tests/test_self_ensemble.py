"""Geometric self-ensemble (EDSR+): the wrapper's group arithmetic, exact tiles, the pipeline/CLI/bundle option and its
gain on a real radiograph with the shipped weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _inference_helpers import save_nearest_torchscript
from monai.data import MetaTensor
from PIL import Image

from monai_srgan.apps.cli import main
from monai_srgan.errors import ConfigError
from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.metrics import psnr
from monai_srgan.networks import SelfEnsemble, get_generator
from monai_srgan.transforms.resize import imresize

ROOT = Path(__file__).resolve().parents[1]


def _random_srvgg(spatial_dims: int = 2, scale=2, channels: int = 1) -> torch.nn.Module:
    torch.manual_seed(0)
    net = get_generator("srvgg", spatial_dims=spatial_dims, in_channels=channels, out_channels=channels, scale=scale,
                        num_feat=8, num_conv=2, base_mode="cubic", zero_init_last=False)  # fmt: skip
    return net.eval()


def test_mean_of_the_eight_mapped_back_passes():
    net = _random_srvgg()
    x = torch.rand(1, 1, 12, 17)
    with torch.no_grad():
        expected = (
            sum(
                torch.rot90(net(torch.rot90(x.flip(3) if f else x, k, (2, 3))), -k, (2, 3)).flip(3)
                if f
                else torch.rot90(net(torch.rot90(x, k, (2, 3))), -k, (2, 3))
                for k in range(4)
                for f in (False, True)
            )
            / 8
        )
        out = SelfEnsemble(net)(x)
        assert out.shape == (1, 1, 24, 34)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
        # a network that is not equivariant differs from its ensemble, and the ensemble is equivariant
        assert (out - net(x)).abs().max() > 1e-3
        torch.testing.assert_close(SelfEnsemble(net)(x.flip(2)), out.flip(2), atol=1e-6, rtol=0)
        torch.testing.assert_close(SelfEnsemble(net)(x.transpose(2, 3)), out.transpose(2, 3), atol=1e-6, rtol=0)


def test_an_equivariant_network_is_its_own_ensemble():
    net = _random_srvgg()
    torch.nn.init.zeros_(net.body[-1].weight), torch.nn.init.zeros_(net.body[-1].bias)  # bicubic base only
    x = torch.rand(1, 1, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(SelfEnsemble(net)(x), net(x), atol=1e-5, rtol=0)


def test_contract_attributes_weights_and_anisotropic_planes():
    net = _random_srvgg(scale=4)
    se = SelfEnsemble(net)
    assert (se.scale, se.spatial_dims, se.receptive_field) == (4, 2, net.receptive_field)
    assert len(se.transforms) == 8 and all(k.startswith("network.") for k in se.state_dict())
    vol = get_generator("throughplanesr", spatial_dims=3, in_channels=1, out_channels=1, scale=(1, 1, 2)).eval()
    assert len(SelfEnsemble(vol).transforms) == 8  # in-plane axes share the scale 1: quarter turns allowed
    across = SelfEnsemble(vol, spatial_axes=(0, 2))  # the slice axis has another scale: flips only
    assert len(across.transforms) == 2
    with torch.no_grad():
        assert across(torch.rand(1, 1, 6, 5, 4)).shape == (1, 1, 6, 5, 8)
    for bad in ((0,), (1, 1), (0, 2)):
        with pytest.raises(ConfigError, match="spatial_axes"):
            SelfEnsemble(net, spatial_axes=bad)
    with pytest.raises(ConfigError, match="torch.nn.Module"):
        SelfEnsemble(lambda x: x)


def test_pipeline_tiles_are_exact_and_the_output_says_so():
    net = _random_srvgg()
    meta = {"srgan_value_min": 0.0, "srgan_value_max": 1.0, "srgan_dtype": "float32"}
    image = MetaTensor(torch.rand(1, 40, 33), meta=meta)
    whole = SRInferencePipeline(net, 2, tile_size=64, dtype="float32", self_ensemble=True, keep_flat=False)
    tiled = SRInferencePipeline(net, 2, tile_size=16, dtype="float32", self_ensemble=True, keep_flat=False)
    a, b = whole.predict(image), tiled.predict(image)
    torch.testing.assert_close(a.as_subclass(torch.Tensor), b.as_subclass(torch.Tensor), atol=1e-5, rtol=0)
    assert a.meta["srgan_model"] == "model self-ensemble 8"
    with torch.no_grad():
        raw = SelfEnsemble(net)(image.as_subclass(torch.Tensor)[None])[0]
        direct = raw.clamp(float(image.min()), float(image.max()))  # clamp "data": the source's range
    torch.testing.assert_close(a.as_subclass(torch.Tensor), direct, atol=1e-5, rtol=0)


def test_exported_models_are_refused(tmp_path):
    path = save_nearest_torchscript(tmp_path / "m.ts")
    with pytest.raises(ConfigError, match="self_ensemble needs the model as a PyTorch module"):
        SRInferencePipeline.from_model_file(path, network="srvgg", self_ensemble=True)


def test_gain_on_a_real_radiograph_with_the_shipped_weights(data_root):
    """The shipped PSNR weights, a held-out NIH radiograph crop (test split): the ensemble is closer to HR."""
    hr = np.asarray(Image.open(data_root / "cxr" / "nih_00009683_000.png").convert("L"), dtype=np.float32) / 255.0
    hr = torch.from_numpy(hr[256:512, 384:640].copy())[None, None]
    lr = imresize(hr, 0.25).clamp(0, 1)
    pipe = SRInferencePipeline.from_bundle(ROOT / "bundles" / "cxr_sr", dtype="float32", keep_flat=False)
    ens = SRInferencePipeline.from_bundle(ROOT / "bundles" / "cxr_sr", dtype="float32", keep_flat=False,
                                          self_ensemble=True)  # fmt: skip
    with torch.no_grad():
        single = pipe.network(lr).clamp(0, 1)
        mean8 = ens.network(lr).clamp(0, 1)
    gain = float(psnr(mean8, hr, data_range=1.0)) - float(psnr(single, hr, data_range=1.0))
    assert 0.0 < gain < 0.5, gain


def test_cli_option_reaches_the_outputs_and_refuses_uncertainty(tmp_path, data_root):
    inp = tmp_path / "in"
    inp.mkdir()
    Image.open(data_root / "cxr" / "nih_00009683_000.png").crop((300, 300, 364, 364)).save(inp / "c.png")
    bundle = str(ROOT / "bundles" / "cxr_sr")
    out = tmp_path / "out"
    assert main(["infer", str(inp), str(out), "--bundle", bundle, "--self-ensemble", "--no-progress"]) == 0
    report = json.loads((out / "srgan_report.json").read_text())
    assert "self-ensemble 8" in json.dumps(report)
    single = tmp_path / "single"
    assert main(["infer", str(inp), str(single), "--bundle", bundle, "--no-progress"]) == 0
    a = np.asarray(Image.open(out / "c_x4.png"), dtype=np.int32)
    b = np.asarray(Image.open(single / "c_x4.png"), dtype=np.int32)
    assert a.shape == b.shape == (256, 256) and 0 < np.abs(a - b).max() < 40
    refused = tmp_path / "refused"
    args = ["infer", str(inp), str(refused), "--bundle", bundle, "--self-ensemble", "--uncertainty", "--no-progress"]
    assert main(args) == 2
    assert not (refused / "srgan_report.json").exists()


def test_text_flags_from_the_bundle_command_line_mean_what_they_say(tmp_path, data_root):
    """``python -m monai.bundle run ... --uncertainty false`` passes the text 'false' (Fire keeps lower-case words as
    text): it must mean off, not on, for the bundle ids self_ensemble, uncertainty, compare, resume, overwrite."""
    import shutil

    from monai_srgan.bundle import run_inference
    from monai_srgan.utils import as_flag

    assert [as_flag(v, "x") for v in (True, "true", "Yes", 1, False, "false", "OFF", 0, None)] == [True] * 4 + [
        False
    ] * 5
    with pytest.raises(ConfigError, match="compare='maybe': expected true or false"):
        as_flag("maybe", "compare")
    net = _random_srvgg()
    assert not isinstance(SRInferencePipeline(net, 2, self_ensemble="false").network, SelfEnsemble)
    assert isinstance(SRInferencePipeline(net, 2, self_ensemble="true").network, SelfEnsemble)
    inp = tmp_path / "in"
    inp.mkdir()
    Image.open(data_root / "cxr" / "nih_00009683_000.png").crop((300, 300, 332, 332)).save(inp / "c.png")
    weights = shutil.copy(ROOT / "bundles" / "cxr_sr" / "models" / "model.pt", tmp_path / "w.pt")  # no calibration
    pipe = SRInferencePipeline.from_bundle(ROOT / "bundles" / "cxr_sr", weights=weights)
    with pytest.raises(ConfigError, match="no calibrated uncertainty"):
        run_inference(pipe, inp, tmp_path / "on", uncertainty="true")
    assert run_inference(pipe, inp, tmp_path / "off", uncertainty="false", compare="false") == 0
    assert sorted(p.name for p in (tmp_path / "off").iterdir() if p.suffix == ".png") == ["c_x4.png"]


def test_text_flags_of_the_other_bundle_ids(data_root):
    """The same 'false' text for the 3D bundle's ``self_supervised`` (chooses the pipeline in the config),
    ``evaluate.json``'s ``vessels`` and ``train.json``'s ``compile``."""
    from monai.bundle import ConfigParser

    from monai_srgan.engines import SRPretrainer
    from monai_srgan.inference.pipeline import SRInferencePipeline as Plain

    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / "ct_mr_sr_3d" / "configs" / "inference.json"))
    parser["bundle_root"] = str(ROOT / "bundles" / "ct_mr_sr_3d")
    parser["dataset_dir"] = str(data_root / "volumes")
    parser["self_supervised"] = "false"
    assert type(parser.get_parsed_content("evaluator").pipeline) is Plain
    net = _random_srvgg()
    kw = {"device": "cpu", "max_epochs": 1, "train_data_loader": [], "generator": net,
          "optimizer_g": torch.optim.SGD(net.parameters(), 0.1), "loss_function": torch.nn.L1Loss()}  # fmt: skip
    assert SRPretrainer(**kw, compile="false").compile is False
    with pytest.raises(ConfigError, match="compile='maybe'"):
        SRPretrainer(**kw, compile="maybe")
