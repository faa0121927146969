"""Export round trips: TorchScript and ONNX give the eager output at sizes other than the example (dynamic spatial
size and batch); ``python -m monai.bundle ckpt_export`` works on a generator."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from monai_srgan.networks import (
    EDSR,
    CascadedSR,
    MSRResNet,
    RRDBNet,
    SRResNet,
    SRVGGNetCompact,
    export_onnx,
    export_torchscript,
    save_generator_weights,
)

ort = pytest.importorskip("onnxruntime")  # listed in the test extra; present in CI

# name -> (builder, input channels)
MODELS = {
    "srresnet": (lambda: SRResNet(2, 1, 1, 4, num_feat=8, num_blocks=1), 1),
    "msrresnet": (lambda: MSRResNet(2, 3, 3, 4, num_feat=8, num_blocks=1), 3),
    "edsr_se": (lambda: EDSR(2, 3, 3, 4, num_feat=16, num_blocks=1, se_reduction=4), 3),
    "rrdbnet_x2": (lambda: RRDBNet(2, 3, 3, 2, num_feat=8, num_blocks=1, num_grow_ch=4), 3),
    "srvgg": (lambda: SRVGGNetCompact(2, 1, 1, 4, num_feat=8, num_conv=2), 1),
    "cascaded_x4": (lambda: CascadedSR(2, 1, 1, 4, stage_kwargs=dict(num_feat=8, num_blocks=1)), 1),
    "srresnet_3d_through_plane": (lambda: SRResNet(3, 1, 1, (1, 1, 4), num_feat=8, num_blocks=1), 1),
    "rrdbnet_3d_x2": (lambda: RRDBNet(3, 1, 1, 2, num_feat=8, num_blocks=1, num_grow_ch=4), 1),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_torchscript_and_onnx_match_eager(name, tmp_path):
    torch.manual_seed(0)
    build, c = MODELS[name]
    model = build().eval()
    sd = model.spatial_dims
    example = torch.rand((1, c) + (8,) * sd)
    # other batch and sizes than the example (odd sizes exercise RRDBNet x2's padding path)
    others = [torch.rand((2, c) + (6, 10, 4)[:sd]), torch.rand((1, c) + (7, 5, 9)[:sd])]
    ts = torch.jit.load(str(export_torchscript(model, tmp_path / "g.ts")))
    sess = ort.InferenceSession(str(export_onnx(model, tmp_path / "g.onnx", example)))
    assert model.training is False
    for x in others:
        with torch.no_grad():
            ref = model(x)
            torch.testing.assert_close(ts(x), ref, rtol=0, atol=1e-6)
        out = sess.run(None, {"lr": x.numpy()})[0]
        assert out.shape == tuple(ref.shape)
        np.testing.assert_allclose(out, ref.numpy(), rtol=0, atol=1e-5)


def test_export_keeps_training_mode(tmp_path):
    model = SRVGGNetCompact(2, 1, 1, 2, num_feat=4, num_conv=1).train()
    export_torchscript(model, tmp_path / "g.ts")
    export_onnx(model, tmp_path / "g.onnx", torch.rand(1, 1, 4, 4))
    assert model.training


def test_monai_bundle_ckpt_export(tmp_path):
    torch.manual_seed(0)
    arch = {"spatial_dims": 2, "in_channels": 1, "out_channels": 1, "scale": 2, "num_feat": 8, "num_blocks": 1,
            "num_grow_ch": 4}  # fmt: skip
    config = {"network_def": {"_target_": "monai_srgan.networks.RRDBNet", **arch}}
    (tmp_path / "inference.json").write_text(json.dumps(config))
    model = RRDBNet(**arch).eval()
    save_generator_weights(model, tmp_path / "model.pt", key="params_ema")  # BasicSR-style wrapping
    cmd = [sys.executable, "-m", "monai.bundle", "ckpt_export", "network_def", "--filepath", str(tmp_path / "m.ts"),
           "--ckpt_file", str(tmp_path / "model.pt"), "--key_in_ckpt", "params_ema",
           "--config_file", str(tmp_path / "inference.json")]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    ts = torch.jit.load(str(tmp_path / "m.ts"))
    x = torch.rand(1, 1, 9, 6)
    with torch.no_grad():
        torch.testing.assert_close(ts(x), model(x), rtol=0, atol=1e-6)
