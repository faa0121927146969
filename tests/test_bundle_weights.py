"""Shipped weights per scale and kind, multi-folder datalists, STARE's Netpbm files and the evaluation extras."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from monai_srgan.bundle import bundle_weights, datalist_section, make_datalist, published_table, shipped_weights
from monai_srgan.errors import ConfigError

BUNDLES = Path(__file__).resolve().parents[1] / "bundles"


def _images(folder: Path, names: list[str], size: int = 24) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for n in names:
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(folder / n)


# ------------------------------------------------------------------------------------------- weight selection
def test_bundle_weights_names_and_errors(tmp_path):
    (tmp_path / "models").mkdir()
    for n in ("model.pt", "model_gan.pt", "model_x8.pt", "notes.pt"):
        (tmp_path / "models" / n).write_bytes(b"x")
    assert bundle_weights(tmp_path, 4).endswith("models/model.pt")
    assert bundle_weights(tmp_path, 4, "gan").endswith("models/model_gan.pt")
    assert bundle_weights(tmp_path, 8).endswith("models/model_x8.pt")
    assert bundle_weights(tmp_path, 8, str(tmp_path / "models" / "notes.pt")) == str(tmp_path / "models" / "notes.pt")
    with pytest.raises(ConfigError, match=r"weights='GAN' is neither 'psnr', 'gan' nor an existing weight file"):
        bundle_weights(tmp_path, 4, "GAN")
    assert set(shipped_weights(tmp_path)) == {(4, "psnr"), (4, "gan"), (8, "psnr")}
    with pytest.raises(ConfigError) as e:
        bundle_weights(tmp_path, 16)
    msg = str(e.value)
    assert "scale=16" in msg and "x4 psnr (model.pt)" in msg and "x8 psnr (model_x8.pt)" in msg and "--scale" in msg
    with pytest.raises(ConfigError, match="x8 psnr"):
        bundle_weights(tmp_path, 8, "gan")


def test_cli_scale_and_weights_pick_the_shipped_file(tmp_path):
    """``--scale 8`` / ``--weights gan`` on a 2D bundle load models/model_x8.pt / model_gan.pt; a missing one is an
    error listing what the bundle ships."""
    from monai_srgan.inference import SRInferencePipeline
    from monai_srgan.networks import get_generator

    bundle = tmp_path / "cxr_sr"
    shutil.copytree(BUNDLES / "cxr_sr" / "configs", bundle / "configs")
    (bundle / "models").mkdir()
    kw = json.loads((bundle / "configs" / "inference.json").read_text())["network_kwargs"]
    nets = {}
    for name, scale in (("model.pt", 4), ("model_gan.pt", 4), ("model_x8.pt", 8)):
        torch.manual_seed(len(nets))
        nets[name] = get_generator("srvgg", spatial_dims=2, in_channels=1, out_channels=1, scale=scale, **kw)
        torch.nn.init.normal_(nets[name].body[-1].weight, std=0.01)
        torch.save(nets[name].state_dict(), bundle / "models" / name)
    x = torch.rand(1, 1, 12, 12)
    for kwargs, name in (({}, "model.pt"), ({"weights": "gan"}, "model_gan.pt"), ({"scale": 8}, "model_x8.pt")):
        pipe = SRInferencePipeline.from_bundle(bundle, **kwargs)
        with torch.no_grad():
            assert torch.allclose(pipe.network(x).float(), nets[name](x), atol=1e-4), kwargs
    with pytest.raises(ConfigError) as e:
        SRInferencePipeline.from_bundle(bundle, scale=16)
    assert "model_x16.pt" in str(e.value) and "x8 psnr" in str(e.value)


# ------------------------------------------------------------------------------------------------- datalists
def test_make_datalist_folders_split_alone_and_train_only(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _images(a, [f"a{i:02d}.png" for i in range(10)])
    before = make_datalist(a)
    _images(b, [f"b{i:02d}.png" for i in range(10)] + [f"extra_{i}.png" for i in range(3)])
    both = make_datalist([a, b], train_only=["extra_*"], out_json=tmp_path / "dl.json")
    names = {k: [Path(e["image"]).name for e in v] for k, v in both.items()}
    for section in ("validation", "test"):  # adding folder b moved nothing of folder a
        assert [n for n in names[section] if n.startswith("a")] == [Path(e["image"]).name for e in before[section]]
        assert not any(n.startswith("extra_") for n in names[section])
        assert any(n.startswith("b") for n in names[section])
    assert {f"extra_{i}.png" for i in range(3)} <= set(names["training"])
    assert json.loads((tmp_path / "dl.json").read_text()) == both
    with pytest.raises(ConfigError, match="not a folder"):
        make_datalist([a, tmp_path / "missing"])


def test_datalist_section_drop_and_keep():
    dl = {"training": [{"image": "/x/idrid_01.jpg"}, {"image": "/x/hrf_01.jpg"}], "test": [{"image": "/x/a.ppm.gz"}]}
    assert datalist_section(dl, "training", as_key="hr", drop=["idrid_*"]) == [{"hr": "/x/hrf_01.jpg"}]
    assert datalist_section(dl, "training", keep=["idrid_*"]) == [{"image": "/x/idrid_01.jpg"}]


# ------------------------------------------------------------------------------------------- STARE and FOV
def test_stare_netpbm_gz_loads_and_keeps_native_pixels(data_root):
    from monai_srgan.transforms import FundusFOVd, LoadMedicalImaged, find_inputs

    folder = data_root / "extra" / "retina"
    names = {i.name for i in find_inputs(folder)}
    assert "stare_im0001" in names and "stare_im0001.vk" in names
    d = LoadMedicalImaged(keys="hr")({"hr": str(folder / "stare_im0001.ppm.gz")})
    assert tuple(d["hr"].shape) == (3, 605, 700)
    native = FundusFOVd(keys="hr", width=700, upscale=False)(dict(d))["hr"]
    resized = FundusFOVd(keys="hr", width=700)(dict(d))["hr"]
    assert native.shape[-1] < 700 and resized.shape[-1] == 700  # the FOV crop is narrower than 700: not upsampled
    box = native.meta["srgan_fov_box"]
    assert torch.equal(native.as_tensor(), d["hr"].as_tensor()[:, box[0] : box[1], box[2] : box[3]].float())


def test_corrupt_gz_image_is_named(tmp_path):
    from monai_srgan.errors import InputFileError
    from monai_srgan.transforms import load_medical_image

    bad = tmp_path / "bad.ppm.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputFileError, match="bad.ppm.gz"):
        load_medical_image(str(bad))


# ------------------------------------------------------------------------------------------------ evaluation
def test_gradient_ratio_and_published_table():
    from monai_srgan.metrics import evaluate_pair
    from monai_srgan.transforms import imresize

    torch.manual_seed(0)
    hr = imresize(torch.rand(1, 1, 32, 32), size=(64, 64)).clamp(0, 1)
    lr = imresize(hr, 0.25)
    res = evaluate_pair(hr.clone(), hr, lr)
    assert abs(float(res["gradient_ratio_model"][0]) - 1.0) < 1e-6
    assert float(res["gradient_ratio_bicubic"][0]) < 0.9  # bicubic is blurrier than the truth
    summary = {"psnr_bicubic": {"mean": 30.0}, "psnr_model": {"mean": 31.5}, "ssim_bicubic": {"mean": 0.8},
               "ssim_model": {"mean": 0.85}}  # fmt: skip
    pub = {"source": "paper 001", "4": {"bicubic": {"psnr": 40.03, "ssim": 0.9512}, "model": {"psnr": 42.65}}}
    table = published_table(pub, 4, summary, 3)
    assert "| paper 001 | 40.03 / 0.9512 | 42.65 / — | +2.62 |" in table
    assert "| ours (3 held-out images) | 30.00 / 0.8000 | 31.50 / 0.8500 | +1.50 |" in table


def test_weights_command_writes_a_plain_state_dict(tmp_path):
    from monai_srgan.bundle.__main__ import main

    net = torch.nn.Conv2d(1, 2, 3)
    ema = {k: v + 1 for k, v in net.state_dict().items()}
    torch.save({"params": net.state_dict(), "params_ema": ema, "signature": {}}, tmp_path / "export.pt")
    assert main(["weights", str(tmp_path / "export.pt"), str(tmp_path / "models" / "model_x8.pt")]) == 0
    out = torch.load(tmp_path / "models" / "model_x8.pt", weights_only=True)
    assert set(out) == {"weight", "bias"} and torch.equal(out["bias"], ema["bias"])  # EMA weights preferred
    assert main(["weights", str(tmp_path / "export.pt"), str(tmp_path / "half.pt"), "--half"]) == 0
    half = torch.load(tmp_path / "half.pt", weights_only=True)
    assert half["weight"].dtype == torch.float16
    net.load_state_dict(half)  # loading casts back to the network's dtype
    assert torch.allclose(net.weight, ema["weight"], atol=1e-3)
    assert main(["weights", str(tmp_path / "missing.pt"), str(tmp_path / "x.pt")]) == 2
    assert not (tmp_path / "x.pt").exists()
    # --key chooses the entry (the hint of a checkpoint holding no obvious generator): the raw, non-EMA weights
    assert main(["weights", str(tmp_path / "export.pt"), str(tmp_path / "raw.pt"), "--key", "params"]) == 0
    raw = torch.load(tmp_path / "export.pt", weights_only=True)["params"]["bias"]
    assert not torch.equal(raw, ema["bias"])
    assert torch.equal(torch.load(tmp_path / "raw.pt", weights_only=True)["bias"], raw)
    assert main(["weights", str(tmp_path / "export.pt"), str(tmp_path / "x.pt"), "--key", "net_g"]) == 2


def test_datalist_section_empty_after_drop_says_which_setting():
    with pytest.raises(ConfigError, match="train_drop"):
        datalist_section({"training": [{"image": "/x/idrid_01.jpg"}]}, "training", drop=["idrid_*"])


def test_detail_crop_prefers_structure_to_burned_in_letters():
    from monai_srgan.utils.figures import detail_crop

    img = torch.zeros(1, 200, 200)
    img[0, 10:30, 10:30] = 1.0  # a saturated marker letter: the strongest edges of the image
    stripes = (torch.arange(80) % 8 < 4).float()[:, None] * torch.linspace(0, 0.5, 80)[None, :]
    img[0, 100:180, 100:180] += stripes  # rib-like structure
    r, c = detail_crop(img, 60)
    assert 100 - 60 < r < 180 and 100 - 60 < c < 180


def test_weights_command_bad_source_or_destination_is_named(tmp_path, capsys):
    """A truncated export or an unwritable destination ends with exit status 2 and a message naming the file, not a
    traceback."""
    from monai_srgan.bundle.__main__ import main

    bad = tmp_path / "truncated.pt"
    bad.write_bytes(b"PK\x03\x04 not a whole torch file")
    assert main(["weights", str(bad), str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "truncated.pt" in err and "cannot be read" in err and "re-save" in err
    assert not (tmp_path / "x.pt").exists()
    torch.save({"params": torch.nn.Conv2d(1, 1, 1).state_dict()}, tmp_path / "export.pt")
    (tmp_path / "a_folder").mkdir()
    assert main(["weights", str(tmp_path / "export.pt"), str(tmp_path / "a_folder")]) == 2
    err = capsys.readouterr().err
    assert "a_folder" in err and "writable file path" in err
    assert [p.name for p in (tmp_path / "a_folder").iterdir()] == []
    # a destination without an extension (torch.save names its archive after the temporary file's stem)
    assert main(["weights", str(tmp_path / "export.pt"), str(tmp_path / "generator")]) == 0
    assert set(torch.load(tmp_path / "generator", weights_only=True)) == {"weight", "bias"}


def test_evaluate_sr_compare_weights_published_and_unreadable_weights(tmp_path):
    """``compare_weights`` adds a column to comparison.png, ``published`` a table to metrics.md; an unreadable weight
    file is named as such (not reported as weights of another scale)."""
    from monai_srgan.bundle import evaluate_sr
    from monai_srgan.errors import InputFileError
    from monai_srgan.networks import get_generator
    from monai_srgan.transforms import imresize

    torch.manual_seed(0)
    net = get_generator("srvgg", spatial_dims=2, in_channels=1, out_channels=1, scale=2, num_feat=4, num_conv=1)
    torch.save(net.state_dict(), tmp_path / "psnr.pt")
    torch.save({k: v + 0.01 for k, v in net.state_dict().items()}, tmp_path / "gan.pt")
    images = {f"img{i}.png": torch.rand(1, 32, 32) for i in range(2)}
    files = [{"hr": name} for name in images]

    def preprocess(d):
        return {**d, "hr": images[d["hr"]]}

    def degrade(d):
        return {**d, "lr": imresize(d["hr"][None], 0.5)[0].clamp(0, 1)}

    pub = {"source": "paper 001", "2": {"bicubic": {"psnr": 30.0, "ssim": 0.9}, "model": {"psnr": 31.0}}}
    common = {"files": files, "preprocess": preprocess, "degrade": degrade, "scale": 2, "tile_size": None,
              "figure_crop": 16}  # fmt: skip
    evaluate_sr(net, out_dir=tmp_path / "one", weights=tmp_path / "gan.pt", **common)
    evaluate_sr(net, out_dir=tmp_path / "two", weights=tmp_path / "gan.pt", model_name="GAN model",
                compare_weights={"PSNR model": tmp_path / "psnr.pt"}, published=pub, **common)  # fmt: skip
    assert "| paper 001 | 30.00 / 0.9000 | 31.00 / — | +1.00 |" in (tmp_path / "two" / "metrics.md").read_text()
    assert "paper 001" not in (tmp_path / "one" / "metrics.md").read_text()
    meta = json.loads((tmp_path / "two" / "metrics.json").read_text())["meta"]
    assert meta["published"] == {"source": "paper 001", **pub["2"]}
    widths = [Image.open(tmp_path / d / "comparison.png").width for d in ("one", "two")]
    assert widths[1] > widths[0]  # one more column: LR | bicubic | PSNR model | GAN model | HR | two differences
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(InputFileError, match="bad.pt.*cannot be read"):
        evaluate_sr(net, out_dir=tmp_path / "three", weights=tmp_path / "bad.pt", **common)


def test_detail_crop_clip_level_comes_from_the_whole_image():
    """The 95th-percentile clip is taken over a strided sample of the whole image (as the project's other quantiles),
    not the first million pixels: those are the top rows only, and a faint top would set a clip so low that every
    textured window ties with the strongest."""
    from monai_srgan.utils.figures import detail_crop

    torch.manual_seed(0)
    img = 0.3 + 0.01 * torch.rand(1, 1200, 1000)  # faint texture: the first million pixels
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(1000), indexing="ij")
    img[0, 100:140] = 0.3 + 0.1 * ((yy + xx) % 2)  # moderate, uniform detail near the top
    img[0, 1000:] = 0.3 + 0.4 * torch.rand(200, 1000)  # the strongest detail, in the last rows
    img[0, 0, 999] = 1.0  # one saturated pixel: the brightness cut-off stays far above the texture
    r, _ = detail_crop(img, 40)
    assert r >= 1000 - 40, r


def test_evaluation_says_which_images_and_records_no_machine_paths(tmp_path, capsys):
    """``metrics.json`` names weights by file name and dataset folders relative to their common parent (the committed
    reports held absolute machine paths); the selection sentence is printed and recorded."""
    from monai_srgan.bundle import describe_section, evaluate_sr
    from monai_srgan.networks import get_generator
    from monai_srgan.transforms import imresize

    net = get_generator("srvgg", spatial_dims=2, in_channels=1, out_channels=1, scale=2, num_feat=4, num_conv=1)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    images = {f"img{i}.png": torch.rand(1, 32, 32) for i in range(3)}
    test = [{"image": f"img{i}.png"} for i in (1, 2)]
    datalist = {"training": [{"image": "img0.png"}], "validation": [], "test": test}
    test_note = describe_section(datalist, "test", (0.4, 0.0, 0.6), 0)
    assert test_note.startswith("2 of the 3 images of dataset_dir: the 'test' split (60 %, never trained on")
    assert "--eval_section all" in test_note
    assert describe_section(datalist, "all").startswith("all 3 images of dataset_dir (--eval_section all")
    evaluate_sr(net, [{"hr": n} for n in images], lambda d: {**d, "hr": images[d["hr"]]},
                lambda d: {**d, "lr": imresize(d["hr"][None], 0.5)[0].clamp(0, 1)}, scale=2, tile_size=None,
                out_dir=tmp_path / "ev", weights=tmp_path / "w.pt", figure_crop=16, max_images=2, selection=test_note,
                meta={"dataset_dir": [str(tmp_path / "d" / "cxr"), str(tmp_path / "d" / "extra" / "cxr")]})  # fmt: skip
    assert f"scoring {test_note}; the first 2 of them (max_images=2)" in capsys.readouterr().out
    meta = json.loads((tmp_path / "ev" / "metrics.json").read_text())["meta"]
    assert meta["weights"] == "w.pt" and meta["dataset_dir"] == ["cxr", "extra/cxr"] and meta["selection"] == test_note


def test_datalist_all_section_and_unknown_section():
    datalist = {"training": [{"image": "a.png"}], "validation": [{"image": "b.png"}], "test": [{"image": "c.png"}]}
    assert [e["hr"] for e in datalist_section(datalist, "all", as_key="hr")] == ["a.png", "b.png", "c.png"]
    with pytest.raises(ConfigError, match="eval_section='tset'.*all"):
        datalist_section(datalist, "tset")


def test_gan_weights_warn_that_they_trade_fidelity_for_sharpness(caplog):
    import logging

    from monai_srgan.inference import SRInferencePipeline
    from monai_srgan.inference.bundle_config import GAN_WARNING

    root = Path(__file__).resolve().parents[1] / "bundles"
    with caplog.at_level(logging.WARNING):
        SRInferencePipeline.from_bundle(root / "retina_sr", weights="gan")
    assert GAN_WARNING in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        SRInferencePipeline.from_bundle(root / "retina_sr")
    assert GAN_WARNING not in caplog.text
