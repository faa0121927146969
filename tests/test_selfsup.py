"""Self-supervised through-plane SR (SMORE-style): training pairs, determinism, save/load, CLI and bad input.

Quality against cubic B-spline is measured by ``benchmarks/bench_selfsup.py`` (minutes per volume), not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_srgan.apps.cli import main
from monai_srgan.errors import InputFileError
from monai_srgan.selfsup import SelfSupervisedSliceSR, default_scale, inplane_training_pairs
from monai_srgan.transforms import LoadMedicalImage, SliceThicknessDegradation

BUNDLE_3D = Path(__file__).resolve().parents[1] / "bundles" / "ct_mr_sr_3d"


@pytest.fixture(scope="module")
def mr_crop(data_root) -> torch.Tensor:
    """A real 1 mm MR block (64×64×24), normalised to [0, 1]."""
    img = LoadMedicalImage()(str(data_root / "extra" / "volumes" / "niivue_MR_Gd.nii.gz"))
    x = img.as_tensor().float()[:, 56:120, 62:126, 60:84]
    return (x - x.min()) / (x.max() - x.min())


def _thick_nifti(path: Path, vol: torch.Tensor, spacing=(1.0, 1.0, 4.0)) -> Path:
    nib.save(nib.Nifti1Image((vol[0].numpy() * 1000).astype(np.int16), np.diag([*spacing, 1.0])), str(path))
    return path


def test_training_pairs_degrade_each_inplane_axis_with_the_slice_profile(mr_crop):
    pairs = inplane_training_pairs(mr_crop, scale=4, thickness=4)
    assert len(pairs) == 2 * mr_crop.shape[-1]  # every slice has signal; both in-plane axes
    lr, hr = pairs[0]
    assert hr.shape == (1, 64, 64) and lr.shape == (1, 16, 64)
    expected = SliceThicknessDegradation(4, axis=0)(mr_crop[..., 0][..., None])[..., 0]
    torch.testing.assert_close(lr, expected)
    lr_t, hr_t = pairs[1]
    torch.testing.assert_close(hr_t, mr_crop[..., 0].transpose(1, 2))
    # a box profile of 4 slices: each LR row is the mean of 4 HR rows
    torch.testing.assert_close(lr[:, 3], hr[:, 12:16].mean(1), atol=1e-5, rtol=0)


def test_untrained_model_is_cubic_interpolation_and_training_is_deterministic(tmp_path, mr_crop):
    lr = SliceThicknessDegradation(4, axis=-1)(mr_crop)
    model = SelfSupervisedSliceSR(scale=4, iterations=1, lr=0.0, batch_size=4, patch=32, keep_best=False)
    out0 = model.fit(lr).predict(lr)
    assert out0.shape == (1, 64, 64, 24)
    cubic = torch.nn.functional.interpolate(lr.permute(1, 0, 3, 2), scale_factor=(4, 1), mode="bicubic")
    torch.testing.assert_close(out0, cubic.permute(1, 0, 3, 2), atol=2e-5, rtol=0)

    a = SelfSupervisedSliceSR(scale=4, iterations=6, batch_size=4, patch=32, seed=3, keep_best=False).fit(lr)
    b = SelfSupervisedSliceSR(scale=4, iterations=6, batch_size=4, patch=32, seed=3, keep_best=False).fit(lr)
    pa = a.predict(lr)
    assert not torch.equal(pa, out0)
    torch.testing.assert_close(pa, b.predict(lr), atol=0, rtol=0)
    a.save(tmp_path / "ss.pt")
    again = SelfSupervisedSliceSR.load(tmp_path / "ss.pt")
    assert again.trained_iterations == 6
    torch.testing.assert_close(again.predict(lr), pa, atol=0, rtol=0)


def test_default_scale_from_spacing_and_isotropic_refused():
    assert default_scale((0.86, 0.86, 2.4)) == 3
    assert default_scale((1.0, 1.0, 2.0)) == 2
    with pytest.raises(ValueError, match="isotropic"):
        default_scale((1.0, 1.0, 1.2))


def test_cli_self_supervised_writes_the_volume_and_reuses_saved_weights(tmp_path, mr_crop):
    thick = SliceThicknessDegradation(4, axis=-1)(mr_crop)
    src = _thick_nifti(tmp_path / "thick.nii.gz", thick)
    out = tmp_path / "out"
    args = ["infer", str(src), str(out), "--bundle", str(BUNDLE_3D), "--self-supervised", "--no-progress"]
    assert main([*args, "--iterations", "4", "--save-model", str(tmp_path / "m.pt"), "--compare"]) == 0
    row = json.loads((out / "srgan_report.json").read_text())["inputs"][0]
    assert (out / "thick_smore_compare.png").is_file() and row["lr_psnr"] > 30
    assert "self-supervised" in json.loads((out / "srgan_report.json").read_text())["summary"]["model"]
    assert row["status"] == "ok" and row["scale"] == [1, 1, 4]
    img = nib.load(row["output"])
    assert img.shape == (64, 64, 24)
    np.testing.assert_allclose(img.header.get_zooms(), (1.0, 1.0, 1.0), rtol=1e-5)
    first = np.asarray(img.dataobj)
    out2 = tmp_path / "out2"
    assert main(["infer", str(src), str(out2), "--bundle", str(BUNDLE_3D), "--self-supervised", "--no-progress",
                 "--load-model", str(tmp_path / "m.pt")]) == 0  # fmt: skip
    row2 = json.loads((out2 / "srgan_report.json").read_text())["inputs"][0]
    np.testing.assert_array_equal(np.asarray(nib.load(row2["output"]).dataobj), first)


def test_cli_self_supervised_bad_inputs_are_reported(tmp_path, data_root, mr_crop):
    inp = tmp_path / "in"
    inp.mkdir()
    _thick_nifti(inp / "isotropic.nii.gz", mr_crop, spacing=(1.0, 1.0, 1.0))
    _thick_nifti(inp / "tiny.nii.gz", mr_crop[:, :16, :16, :4], spacing=(1.0, 1.0, 4.0))
    nib.save(nib.Nifti1Image(np.ones((40, 40), np.float32), np.eye(4)), str(inp / "flat_2d.nii.gz"))
    out = tmp_path / "out"
    rc = main(["infer", str(inp), str(out), "--bundle", str(BUNDLE_3D), "--self-supervised", "--iterations", "2",
               "--no-progress"])  # fmt: skip
    assert rc == 1
    rows = {Path(r["input"]).name: r for r in json.loads((out / "srgan_report.json").read_text())["inputs"]}
    assert "isotropic" in rows["isotropic.nii.gz"]["error"]
    assert "too small" in rows["tiny.nii.gz"]["error"]
    assert "volume" in rows["flat_2d.nii.gz"]["error"] and "2D" in rows["flat_2d.nii.gz"]["error"]
    assert all(r["status"] == "failed" for r in rows.values())


def test_self_supervised_needs_a_bundle(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    assert main(["infer", str(tmp_path / "in"), str(tmp_path / "o"), "--model", "x.pt", "--self-supervised"]) == 2
    assert "--bundle" in capsys.readouterr().err


def test_bundle_inference_json_self_supervised(tmp_path, mr_crop):
    from monai.bundle import ConfigParser

    src = _thick_nifti(tmp_path / "thick.nii.gz", SliceThicknessDegradation(4, axis=-1)(mr_crop))
    cfg = ConfigParser()
    cfg.read_config(str(BUNDLE_3D / "configs" / "inference.json"))
    for k, v in {"bundle_root": str(BUNDLE_3D), "dataset_dir": str(src), "output_dir": str(tmp_path / "out"),
                 "self_supervised": True, "selfsup_iterations": 3}.items():  # fmt: skip
        cfg[k] = v
    (out,) = cfg.get_parsed_content("evaluator").run()
    row = json.loads((out / "srgan_report.json").read_text())["inputs"][0]
    assert row["status"] == "ok" and row["output_shape"] == [1, 64, 64, 24]
    assert "SMORE" in json.loads((out / "srgan_report.json").read_text())["summary"]["model"]


def test_volume_without_spacing_needs_scale(tmp_path, mr_crop):
    inp = tmp_path / "in"
    inp.mkdir()
    vol = (SliceThicknessDegradation(4, axis=-1)(mr_crop)[0].numpy() * 1000).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, None), str(inp / "nospacing.nii.gz"))  # no sform/qform: spacing unknown
    args = [
        "infer",
        str(inp),
        "",
        "--bundle",
        str(BUNDLE_3D),
        "--self-supervised",
        "--iterations",
        "2",
        "--no-progress",
    ]
    args[2] = str(tmp_path / "out")
    assert main(args) == 1
    row = json.loads((tmp_path / "out" / "srgan_report.json").read_text())["inputs"][0]
    assert "no slice spacing" in row["error"] and "--scale" in row["error"]
    args[2] = str(tmp_path / "out2")
    assert main([*args, "--scale", "4"]) == 0


def test_dicom_series_in_derived_series_out(tmp_path, data_root):
    import pydicom

    out = tmp_path / "out"
    src = data_root / "dicom" / "dcmqi_701-ADCb500"
    assert main(["infer", str(src), str(out), "--bundle", str(BUNDLE_3D), "--self-supervised", "--iterations", "2",
                 "--no-progress"]) == 0  # fmt: skip
    row = json.loads((out / "srgan_report.json").read_text())["inputs"][0]
    files = sorted(Path(row["output"]).glob("*.dcm"))
    n_src = len(list(src.glob("*.dcm")))
    assert row["scale"] == [1, 1, 4] and len(files) == 4 * n_src  # factor from the series' spacing
    ds = pydicom.dcmread(files[0])
    assert "self-supervised" in ds.DerivationDescription and "DERIVED" in ds.ImageType


def test_self_supervised_starts_from_the_bundles_network_of_the_same_factor():
    from monai_srgan.inference import SRInferencePipeline
    from monai_srgan.selfsup import SelfSupervisedVolumePipeline

    base = SRInferencePipeline.from_bundle(str(BUNDLE_3D))
    pipe = SelfSupervisedVolumePipeline(base)
    state = pipe._pretrained_state(4)
    assert state is not None and set(state) == set(base.network.net.state_dict())
    assert pipe._pretrained_state(3) is None  # another factor: starts from cubic interpolation


def test_save_and_load_keep_the_channel_count(tmp_path):
    """A 2-channel volume's model reloads (the settings record the model's channels) from any file name."""
    torch.manual_seed(0)
    x = torch.rand(2, 32, 32, 8)
    model = SelfSupervisedSliceSR(scale=2, iterations=1, batch_size=2, patch=16).fit(x)
    model.save(tmp_path / "selfsup_weights")
    again = SelfSupervisedSliceSR.load(tmp_path / "selfsup_weights")
    torch.testing.assert_close(again.predict(x), model.predict(x), atol=0, rtol=0)


def test_load_names_a_file_that_is_not_a_self_supervised_model(tmp_path):
    """--load-model given a bundle's state dict, or a missing file: an InputFileError naming it (was a KeyError)."""
    wrong = tmp_path / "model.pt"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(InputFileError, match=r"model\.pt.*not a self-supervised model.*--save-model"):
        SelfSupervisedSliceSR.load(wrong)
    with pytest.raises(InputFileError, match="missing.pt.*not found"):
        SelfSupervisedSliceSR.load(tmp_path / "missing.pt")


def test_held_back_slices_and_the_best_of_start_finetuned_and_bspline_is_kept(mr_crop):
    """Fine-tuning that ruins a good start (learning rate 0.5) is caught on the held-back in-plane slices."""
    from monai_srgan.inference import SRInferencePipeline
    from monai_srgan.selfsup.smore import BSplineThroughPlane, held_back_pairs, inplane_training_pairs

    lr = SliceThicknessDegradation(4, axis=-1)(mr_crop)
    pairs = inplane_training_pairs(lr, 4, 4.0)
    train, held = held_back_pairs(pairs)
    assert len(train) + len(held) == len(pairs) and len(held) >= 2 and len(held) % 2 == 0
    assert not {id(p) for p in train} & {id(p) for p in held}
    start = SRInferencePipeline.from_bundle(str(BUNDLE_3D)).network.net.state_dict()
    model = SelfSupervisedSliceSR(scale=4, iterations=8, lr=0.5, batch_size=4, patch=32, init_state=start).fit(lr)
    v = model.validation
    assert {"start_db", "finetuned_db", "bspline_db", "slices_held_back"} <= set(v)
    assert v["finetuned_db"] < max(v["start_db"], v["bspline_db"])  # the ruined network is not kept
    assert model.kept in ("start", "cubic B-spline")
    best = max(v["start_db"], v["bspline_db"])
    assert v["start_db" if model.kept == "start" else "bspline_db"] == best
    out = model.predict(lr)
    assert out.shape == (1, 64, 64, 24) and torch.isfinite(out).all()
    if model.kept == "cubic B-spline":
        assert isinstance(model.model, BSplineThroughPlane)


def test_self_supervised_help_says_where_training_starts():
    """The help said "no pretrained weights used" while training starts from the bundle's through-plane network."""
    import argparse

    from monai_srgan.selfsup.cli import add_self_supervised_args

    parser = argparse.ArgumentParser()
    add_self_supervised_args(parser)
    text = " ".join(parser.format_help().split())
    assert "no pretrained" not in text and "starts from the bundle's pretrained through-plane network" in text
