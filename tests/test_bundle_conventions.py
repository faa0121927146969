"""The MONAI Model Zoo's checks on every shipped bundle, re-implemented (not vendored) with MONAI's own API.

What the zoo's CI checks (``verify_bundle.py`` min and full mode, ``get_bundle_requirements.py``, pre-commit): the
required files, version/changelog, the metadata schema, the network's input/output shapes, ``ckpt_export`` to
TorchScript *without* ``key_in_ckpt`` (``models/model.pt`` is a plain state dict), the infer/train bundle properties,
installable requirements, JSON pretty-printed with indent 4 and a final newline. Beyond it: the exported model equals
the eager one, ``monai.bundle run`` honours overrides, and a bundle runs from its own folder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
NAMES = ("retina_sr", "cxr_sr", "ct_mr_sr_3d")
BUNDLES = {n: REPO / "bundles" / n for n in NAMES}
REQUIRED = ("LICENSE", "configs/metadata.json", "configs/inference.json", "models/model.pt", "docs/README.md",
            "docs/data_license.txt", "configs/train.json", "configs/evaluate.json", "configs/logging.conf")  # fmt: skip
CARD_SECTIONS = ("Authors", "Tags", "Model Description", "Data", "Preprocessing", "Performance", "System Configuration",
                 "Limitations", "Citation Info", "References")  # fmt: skip


def _files(bundle: Path) -> list[Path]:
    return [p for p in sorted(bundle.rglob("*")) if p.is_file() and "runs" not in p.relative_to(bundle).parts]


def _shape(spec: list, n: int) -> tuple[int, ...]:
    """A metadata ``spatial_shape`` for a given ``n`` ("*" taken as ``n``); only ``n``/``p`` expressions, as MONAI."""
    out = []
    for s in spec:
        if isinstance(s, int):
            out.append(s)
        else:
            assert s == "*" or set(re.findall(r"[A-Za-z_]+", s)) <= {"n", "p"}, s
            out.append(n if s == "*" else int(eval(s, {"__builtins__": {}}, {"n": n, "p": 1})))  # noqa: S307
    return tuple(out)


def _small_image(folder: Path, channels: int, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        a = (rng.random((96, 96, 3)) * 255).astype(np.uint8)
        Image.fromarray(a if channels == 3 else a[..., 0]).save(folder / f"img_{i}.png")
    return folder


# ------------------------------------------------------------------------------------------- files and formatting
@pytest.mark.parametrize("name", NAMES)
def test_required_files_version_and_card(name):
    b = BUNDLES[name]
    for f in REQUIRED:
        assert (b / f).is_file(), f
    meta = json.loads((b / "configs/metadata.json").read_text())
    assert meta["version"] in meta["changelog"] and meta["name"]
    card = (b / "docs/README.md").read_text()
    for section in CARD_SECTIONS:
        assert re.search(rf"^#+ \*\*{section}\*\*", card, re.M), section
    assert "CC BY" in (b / "docs/data_license.txt").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_pre_commit_formatting(name):
    """pretty-format-json --no-sort-keys --indent=4, end-of-file-fixer, trailing-whitespace, large files ≤ 1 MB."""
    for p in _files(BUNDLES[name]):
        assert p.stat().st_size <= 1024 * 1024, p
        if p.suffix in (".pt", ".png", ".ts"):
            continue
        text = p.read_text()
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{p}: end of file"
        assert not any(line != line.rstrip() for line in text.splitlines()), f"{p}: trailing whitespace"
        if p.suffix == ".json":
            assert text == json.dumps(json.loads(text), indent=4) + "\n", f"{p}: not pretty-format-json (indent 4)"


@pytest.mark.parametrize("name", NAMES)
def test_bundle_root_and_data_settings(name):
    """Each config runs from the bundle folder and reads ``dataset_dir``/writes ``output_dir``, none in the repo."""
    for f in ("inference.json", "train.json", "evaluate.json"):
        cfg = json.loads((BUNDLES[name] / "configs" / f).read_text())
        assert cfg["bundle_root"] == "." and "dataset_dir" in cfg and "output_dir" in cfg, f
        assert "shared" not in json.dumps(cfg) and "../" not in json.dumps(cfg), f
    meta = json.loads((BUNDLES[name] / "configs/metadata.json").read_text())
    assert not set(re.findall(r'"(input_path|input_dir|data_root)"', json.dumps(meta)))


# -------------------------------------------------------------------------------------- metadata, shapes, export
@pytest.mark.parametrize("name", NAMES)
def test_metadata_schema_and_network_shapes(name, reference_root):
    from monai.bundle import ConfigParser, verify_metadata, verify_net_in_out

    b = BUNDLES[name]
    meta_file, cfg = b / "configs/metadata.json", b / "configs/inference.json"
    verify_metadata(meta_file=str(meta_file), filepath=str(reference_root / "meta_schema_20240725.json"))
    verify_net_in_out(net_id="network_def", meta_file=str(meta_file), config_file=str(cfg), bundle_root=str(b))
    fmt = json.loads(meta_file.read_text())["network_data_format"]
    inp, out = fmt["inputs"]["image"], fmt["outputs"]["pred"]
    parser = ConfigParser()
    parser.read_config(str(cfg))
    net = parser.get_parsed_content("network_def").eval()
    with torch.no_grad():
        y = net(torch.rand(1, inp["num_channels"], *_shape(inp["spatial_shape"], 8)))
    assert tuple(y.shape) == (1, out["num_channels"], *_shape(out["spatial_shape"], 8))


@pytest.mark.parametrize("name", NAMES)
def test_torchscript_export_without_key_equals_eager(name, tmp_path):
    """The zoo's ckpt_export (no key_in_ckpt) on models/model.pt, and the TorchScript model equals the eager one the
    project's loader builds (the weights inference and evaluation use)."""
    from monai.bundle import ckpt_export

    from monai_srgan.inference import SRInferencePipeline

    b = BUNDLES[name]
    ts_file = tmp_path / "model.ts"
    ckpt_export(net_id="network_def", filepath=str(ts_file), ckpt_file=str(b / "models/model.pt"),
                meta_file=str(b / "configs/metadata.json"), config_file=str(b / "configs/inference.json"),
                bundle_root=str(b))  # fmt: skip
    state = torch.load(b / "models/model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values()), "a plain state dict"
    ts = torch.jit.load(str(ts_file))
    eager = SRInferencePipeline.from_bundle(b, device="cpu", dtype="float32").network.float()
    c = 3 if name == "retina_sr" else 1
    x = torch.rand(1, c, 12, 12, 8) if name == "ct_mr_sr_3d" else torch.rand(1, c, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(ts(x), eager(x), atol=1e-5, rtol=1e-5)


def test_requirements_resolvable_once_published():
    text = (REPO / "pyproject.toml").read_text()  # tomllib is Python 3.11+
    project = {k: re.search(rf'^{k} = "([^"]+)"', text, re.M).group(1) for k in ("name", "version")}
    dist = re.sub(r"[-_.]+", "-", project["name"]).lower()
    metas = [json.loads((BUNDLES[n] / "configs/metadata.json").read_text()) for n in NAMES]
    for m in metas:
        req = m["required_packages_version"]
        assert req.get(dist) == project["version"], req  # the published distribution, at this version
        assert all(k == re.sub(r"[-_.]+", "-", k).lower() for k in req), "canonical (PEP 503) names"
        # requires-python >= 3.10: NumPy 2.3 and later need Python 3.11
        assert tuple(int(v) for v in m["numpy_version"].split(".")[:2]) < (2, 3)
    for key in ("monai_version", "pytorch_version", "numpy_version", "required_packages_version"):
        shared = {k: v for k, v in metas[0][key].items()} if isinstance(metas[0][key], dict) else None
        for m in metas[1:]:
            if shared is None:
                assert m[key] == metas[0][key], key
            else:
                assert all(m[key].get(k, v) == v for k, v in shared.items()), key


# ------------------------------------------------------------------------------------------- properties and runs
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("workflow", ["infer", "train"])
def test_bundle_properties(name, workflow, tmp_path, data_root):
    from monai.bundle import ConfigWorkflow

    b = BUNDLES[name]
    if name == "ct_mr_sr_3d":
        data = data_root
    else:
        data = _small_image(tmp_path / "data", 3 if name == "retina_sr" else 1)
    cfg = "inference.json" if workflow == "infer" else "train.json"
    size = {"hr_width": 96} if name == "retina_sr" else {}
    wf = ConfigWorkflow(config_file=str(b / "configs" / cfg), meta_file=str(b / "configs/metadata.json"),
                        logging_file=False, workflow_type=workflow, bundle_root=str(b), dataset_dir=str(data),
                        output_dir=str(tmp_path / "out"), **size)  # fmt: skip
    wf.initialize()
    assert wf.check_properties() == []


def test_multi_process_config_runs_on_cpu():
    """multi_gpu_train.json picks CUDA when there is one and CPU (gloo) otherwise."""
    from monai.bundle import ConfigParser

    for name in NAMES:
        parser = ConfigParser()
        parser.read_config([str(BUNDLES[name] / "configs" / f) for f in ("train.json", "multi_gpu_train.json")])
        want = "cuda" if torch.cuda.is_available() else "cpu"
        assert torch.device(parser.get_parsed_content("device")).type == want


def test_overrides_are_honoured(tmp_path):
    """``monai.bundle run`` executes the config it parsed: a network override fails (the weights do not fit), an
    output-format override changes what is written."""
    from monai.bundle import run

    src = _small_image(tmp_path / "in", 1, n=1) / "img_0.png"
    cfg, root = str(BUNDLES["cxr_sr"] / "configs/inference.json"), str(BUNDLES["cxr_sr"])
    with pytest.raises(Exception) as e:
        run(config_file=cfg, bundle_root=root, dataset_dir=str(src), output_dir=str(tmp_path / "a"),
            **{"network_kwargs#num_feat": 16})  # fmt: skip
    chain, err = [], e.value
    while err is not None:
        chain.append(str(err))
        err = err.__cause__ or err.__context__
    assert "model_path=" in "\n".join(chain) and "network_kwargs" in "\n".join(chain)
    run(config_file=cfg, bundle_root=root, dataset_dir=str(src), output_dir=str(tmp_path / "b"), output_format="tiff")
    assert [p.suffix for p in (tmp_path / "b").glob("img_0_x4.*")] == [".tif"]


def test_runs_from_its_own_folder(tmp_path):
    """The zoo's way: ``cd bundles/cxr_sr && python -m monai.bundle run --config_file configs/inference.json``."""
    src = _small_image(tmp_path / "in", 1, n=1) / "img_0.png"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
           "--dataset_dir", str(src), "--output_dir", str(tmp_path / "out")]  # fmt: skip
    res = subprocess.run(cmd, cwd=BUNDLES["cxr_sr"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert Image.open(tmp_path / "out" / "img_0_x4.png").size == (384, 384)


def test_bundle_found_by_name(capsys):
    from monai_srgan.bundle import BUNDLE_NAMES, bundle_path
    from monai_srgan.bundle.__main__ import main
    from monai_srgan.errors import ConfigError

    assert set(BUNDLE_NAMES) == {p.name for p in (REPO / "bundles").iterdir() if (p / "configs").is_dir()}
    for n in BUNDLE_NAMES:
        assert bundle_path(n).resolve() == BUNDLES[n].resolve()
    assert bundle_path(BUNDLES["cxr_sr"]) == BUNDLES["cxr_sr"]
    with pytest.raises(ConfigError, match="cxr_sr"):
        bundle_path("no_such_bundle")
    assert main(["path", "cxr_sr"]) == 0
    assert Path(capsys.readouterr().out.strip()).resolve() == BUNDLES["cxr_sr"].resolve()


def _flat_ids(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in cfg.items():
        if isinstance(v, dict) and "_target_" not in v:
            out.update(_flat_ids(v, f"{prefix}{k}#"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_2d_bundles_differ_only_in_their_modality_settings():
    """Model Zoo bundles are self-contained (no config shared across bundle folders), so retina_sr and cxr_sr each
    carry the common 2D training config; this keeps the copies from drifting: every id both have is equal except
    the data and pre-processing settings that define the modality."""
    retina, cxr = (
        _flat_ids(json.loads((BUNDLES[b] / "configs" / "train.json").read_text())) for b in ("retina_sr", "cxr_sr")
    )
    modality = {"dataset_dir", "exclude", "train_only", "train_drop", "channels", "preprocess"}
    # the GAN stage's envelope term: on for fundus (invented vessels), off for radiographs, where it sharpened less
    # per dB lost (docs/results.md, "Do the GAN weights invent vessels?")
    modality |= {"hf_weight", "hf_hallucination_weight"}
    # synthesised grain in the GAN stage: the retina weights were trained with it, the radiograph weights predate it
    modality |= {"grain_sigma"}
    differing = {k for k in retina.keys() & cxr.keys() if retina[k] != cxr[k]}
    assert differing <= modality, sorted(differing - modality)
    assert set(retina) ^ set(cxr) == {"hr_width", "fov_crop", "hr_size", "to_gray", "resize"}


@pytest.mark.parametrize("name", NAMES)
def test_zoo_train_ids_and_val_interval(name):
    """CONTRIBUTING's train config ids: ``train#dataset#data``, ``validate#dataset#data`` and a ``val_interval`` that
    every stage's validation handler uses as its interval; ``supported_apps`` maps an app to a version."""
    from monai.bundle import ConfigParser

    cfg = ConfigParser(json.loads((BUNDLES[name] / "configs" / "train.json").read_text()))
    for key in (
        "train#dataset#data",
        "validate#dataset#data",
        "validate#evaluator",
        "validate#handlers",
        "val_interval",
    ):
        assert cfg.get(key) is not None, key
    for stage in ("stage1", "stage2"):
        assert cfg[f"train#{stage}#validation#interval"] == "@val_interval", stage
    meta = json.loads((BUNDLES[name] / "configs" / "metadata.json").read_text())
    for app, version in meta.get("supported_apps", {}).items():
        assert re.fullmatch(r"\d+(\.\d+)*", version), (app, version)


def test_default_output_dir_never_inside_an_installed_package(tmp_path, monkeypatch):
    import sysconfig

    from monai_srgan.bundle import bundle_output_dir

    for name in NAMES:
        for f, kind in (("train.json", "train"), ("evaluate.json", "eval"), ("inference.json", "inference")):
            cfg = json.loads((BUNDLES[name] / "configs" / f).read_text())
            assert cfg["output_dir"] == f"$bundle_output_dir(@bundle_root, '{kind}')", (name, f)
    assert bundle_output_dir(".", "train") == "./runs/train"  # a bundle folder of its own: the zoo's layout
    installed = Path(sysconfig.get_paths()["purelib"]) / "monai_srgan" / "bundles" / "cxr_sr"
    monkeypatch.setenv("MONAI_SRGAN_RUNS", str(tmp_path / "runs"))
    assert bundle_output_dir(str(installed), "eval") == str(tmp_path / "runs" / "cxr_sr" / "eval")


def test_readme_outputs_are_git_ignored_and_build_is_a_dev_extra():
    """The README's examples write their outputs into the checkout (``sr_out``, ``sr_fundus_gan``, ...): git ignores
    them; ``python -m build`` in the README works after ``pip install -e ".[dicom,test,dev]"``."""
    import shutil

    readme = (REPO / "README.md").read_text()
    outs = set(re.findall(r"(?<![\w/.~-])(sr_\w+)", readme))  # output folders named relative to where one runs
    assert {"sr_out", "sr_ct", "sr_fundus", "sr_fundus_gan", "sr_ct3d"} <= outs, outs
    if shutil.which("git") and (REPO / ".git").exists():
        for where in [*sorted(outs), "bundles/cxr_sr/sr_out"]:
            res = subprocess.run(["git", "check-ignore", "-q", "--no-index", f"{where}/x.png"], cwd=REPO)
            assert res.returncode == 0, f"{where} is not git-ignored"
    dev = re.search(r"^dev = \[(.*)\]", (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert '"build' in dev and "python -m build" in readme
