"""The minimal two-stage config of docs/training.md runs through monai.bundle.ConfigParser (both stages, each alone)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from monai.bundle import ConfigParser

DOC = Path(__file__).resolve().parents[1] / "docs" / "training.md"


def _doc_config() -> dict:
    text = DOC.read_text()
    block = re.search(r"<!-- minimal-config -->\s*```json\n(.*?)```", text, re.S)
    assert block, "docs/training.md lost its minimal config block"
    return json.loads(block.group(1))


def _parser(data_root, bundle_root) -> ConfigParser:
    parser = ConfigParser(_doc_config())
    parser["data_root"] = str(data_root)
    parser["bundle_root"] = str(bundle_root)
    parser["device"] = "$torch.device('cpu')"
    return parser


def test_minimal_config_runs_both_stages(data_root, tmp_path):
    parser = _parser(data_root, tmp_path)
    parser.get_parsed_content("run")
    pre, gan = parser.get_parsed_content("pretrainer"), parser.get_parsed_content("trainer")
    assert pre.state.iteration == 2 and gan.state.iteration == 2
    assert gan.state.val_history and "psnr_bicubic" in gan.state.val_history[-1]
    for stage in ("stage1", "stage2"):
        assert (tmp_path / "models" / stage / "model.pt").is_file()
        assert any((tmp_path / "logs" / stage).iterdir())
    exported = torch.load(tmp_path / "models" / "stage2" / "model.pt", weights_only=True)
    assert set(exported["params_ema"]) == set(parser.get_parsed_content("generator").state_dict())


def test_each_stage_alone_and_stage2_warm_start_file(data_root, tmp_path):
    p1 = _parser(data_root, tmp_path)
    p1["run"] = ["$@pretrainer.run()"]
    p1.get_parsed_content("run")
    stage1 = tmp_path / "models" / "stage1" / "model.pt"
    assert stage1.is_file() and not (tmp_path / "models" / "stage2").exists()

    p2 = _parser(data_root, tmp_path)
    p2["trainer"]["warm_start"] = str(stage1)
    p2["run"] = ["$@trainer.run()"]
    trainer = p2.get_parsed_content("trainer")
    p2.get_parsed_content("run")
    assert trainer.state.iteration == 2
    ckpt = torch.load(stage1, weights_only=True)
    first_key = next(iter(ckpt["params"]))
    # the warm start happened (stage 2 did not start from the random init of its own config)
    fresh = ConfigParser(_doc_config()).get_parsed_content("generator").state_dict()[first_key]
    assert not torch.equal(trainer.generator_raw.state_dict()[first_key], fresh)
