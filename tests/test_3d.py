"""3D through-plane SR end to end with the bundle commands (bundles/ct_mr_sr_3d) on the shared volumes.

Kept small for one CPU core: a tiny generator (4 features, 1 block) for train/evaluate; the shipped model for the
DICOM-series round trip and the tiled-vs-whole check.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from monai_srgan.apps.cli import main as cli_main
from monai_srgan.errors import InputFileError
from monai_srgan.inference import SRInferencePipeline

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "ct_mr_sr_3d"
CFG = BUNDLE / "configs"
TINY = {"num_feat": 4, "num_conv": 1}


def _bundle_run(config: str, **overrides):
    """``python -m monai.bundle run --config_file <config> --k v ...`` in-process (same entry point as the CLI)."""
    from monai.bundle import run

    return run(config_file=str(CFG / config), bundle_root=str(BUNDLE), **overrides)


def _root_cause(e: BaseException) -> BaseException:
    while e.__cause__ is not None:
        e = e.__cause__
    return e


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, data_root) -> Path:
    """Train the bundle's train.json for a few iterations on a real volume (the MR NIfTI), both stages."""
    out = tmp_path_factory.mktemp("train3d")
    _bundle_run(
        "train.json",
        dataset_dir=str(data_root),
        output_dir=str(out),
        train_files="$[{'hr': @mr_file, 'slab': [0, None]}]",
        hr_patch=[24, 24, 16],
        batch_size=1,
        patches_per_volume=2,
        stage1_iterations=2,
        stage2_iterations=1,
        **TINY,
    )
    model = out / "model.pt"
    assert model.is_file() and (out / "stage1" / "checkpoint_last.pt").is_file()
    state = torch.load(model, weights_only=True)
    assert {"params", "params_ema"} <= set(state)
    assert state["params"]["net.body.0.weight"].shape == (4, 1, 3, 3)  # ThroughPlaneSR: a 2D net across the slices
    return model


def test_train_then_evaluate_against_trilinear_and_tricubic(tiny_model, tmp_path, data_root):
    out = tmp_path / "eval"
    _bundle_run("evaluate.json", dataset_dir=str(data_root), model_path=str(tiny_model), output_dir=str(out),
                test_files="$[{'hr': @ct_file, 'slab': [-@held_out_slices, None]}]", **TINY)  # fmt: skip
    doc = json.loads((out / "metrics.json").read_text())
    summary = doc["summary"]
    for col in ("psnr_model", "psnr_trilinear", "psnr_tricubic", "ssim_model", "ssim_trilinear", "ssim_tricubic"):
        assert np.isfinite(summary[col]["mean"]), col
    row = doc["images"][0]
    assert row["image"].endswith("[-32:None]")  # the held-out CT slab only
    assert row["hr_shape"] == [122, 101, 32] and row["lr_shape"] == [122, 101, 8]
    assert summary["psnr_trilinear"]["mean"] > 25  # the baselines are sane on CT
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("image,")
    assert (out / "comparison.png").is_file() and "tricubic" in (out / "metrics.md").read_text()


def test_bundle_inference_nifti_spacing_and_affine(tmp_path, data_root):
    src = data_root / "volumes" / "totalseg_example_mr_sm.nii.gz"
    out = tmp_path / "sr"
    _bundle_run("inference.json", dataset_dir=str(src), output_dir=str(out))
    files = sorted(out.rglob("*.nii.gz"))
    assert len(files) == 1
    lr, sr = nib.load(str(src)), nib.load(str(files[0]))
    assert sr.shape == (117, 91, 80)
    np.testing.assert_allclose(sr.header.get_zooms(), (3.0, 3.0, 0.75), atol=1e-5)
    a, b = lr.affine, sr.affine
    np.testing.assert_allclose(b[:3, :2], a[:3, :2], atol=1e-5)  # in-plane untouched
    np.testing.assert_allclose(b[:3, 2], a[:3, 2] / 4, atol=1e-5)  # slice step / 4
    # first SR slice centre: a quarter-step grid centred on the thick slice: origin - 3/8 of the LR step
    np.testing.assert_allclose(b[:3, 3], a[:3, 3] - 0.375 * a[:3, 2], atol=1e-4)
    # same physical extent: the LR slab [-1/2, n-1/2] steps equals the SR one
    np.testing.assert_allclose(b[:3, 3] + (80 - 0.5) * b[:3, 2], a[:3, 3] + (20 - 0.5) * a[:3, 2], atol=1e-4)


def test_dicom_series_in_dicom_series_out_through_the_cli(tmp_path, data_root):
    series = data_root / "dicom" / "dcmqi_701-ADCb500"
    out = tmp_path / "out"
    assert cli_main(["infer", str(series), str(out), "--bundle", str(BUNDLE), "--no-progress"]) == 0
    written = sorted(p for p in out.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm")
    assert len(written) == 20 * 4
    srcs = sorted((pydicom.dcmread(f, stop_before_pixels=True) for f in series.glob("*.dcm")),
                  key=lambda d: int(d.InstanceNumber))  # fmt: skip
    outs = sorted((pydicom.dcmread(f, stop_before_pixels=True) for f in written), key=lambda d: int(d.InstanceNumber))
    p = np.array([[float(v) for v in d.ImagePositionPatient] for d in srcs])
    q = np.array([[float(v) for v in d.ImagePositionPatient] for d in outs])
    step = np.median(np.diff(p, axis=0), axis=0)
    np.testing.assert_allclose(np.diff(q, axis=0), np.tile(step / 4, (79, 1)), atol=1e-2)  # evenly spaced, 1/4 step
    np.testing.assert_allclose(q[0], p[0] - 0.375 * step, atol=1e-2)
    np.testing.assert_allclose(q[1::4][:20] + 0.125 * step, p, atol=1e-2)  # source slices sit between SR slices
    assert float(outs[0].SliceThickness) == pytest.approx(float(srcs[0].SliceThickness) / 4, rel=1e-3)
    assert [int(d.InstanceNumber) for d in outs] == list(range(1, 81))
    assert len({d.SeriesInstanceUID for d in outs}) == 1 and outs[0].SeriesInstanceUID != srcs[0].SeriesInstanceUID
    assert outs[0].Rows == srcs[0].Rows and outs[0].Columns == srcs[0].Columns
    assert outs[0].FrameOfReferenceUID == srcs[0].FrameOfReferenceUID


def test_tiled_equals_whole_volume_with_the_shipped_model(data_root):
    vol = data_root / "volumes" / "totalseg_example_mr_sm.nii.gz"
    tiled = SRInferencePipeline.from_bundle(BUNDLE, tile_size=[24, 40, 12], output_dtype="float32")
    whole = SRInferencePipeline.from_bundle(BUNDLE, tile_size=[48, 40, 20], output_dtype="float32")
    crop = tiled.load(str(vol))[:, 30:78, 25:65, :]  # a real 48x40x20 block keeps CI fast; tiles split it 2x1x2
    a, b = tiled.predict(crop), whole.predict(crop)
    assert tuple(a.shape) == (1, 48, 40, 80)
    rng = float(b.max() - b.min())
    assert (a.as_tensor() - b.as_tensor()).abs().max().item() <= 1e-4 * rng
    np.testing.assert_allclose(np.asarray(a.affine), np.asarray(b.affine))


# --------------------------------------------------------------------------------------------------- bad input
def _tiny_pipe():
    from monai_srgan.networks import MSRResNet

    net = MSRResNet(3, 1, 1, scale=(1, 1, 4), num_feat=4, num_blocks=1)
    return SRInferencePipeline(net, (1, 1, 4), tile_size=[32, 32, 8], output_dtype="float32")


def test_missing_spacing_and_wrong_slice_axis_are_clear_errors(tmp_path):
    data = np.random.default_rng(0).integers(0, 1000, (24, 20, 6)).astype(np.int16)
    nohdr = tmp_path / "no_spacing.nii.gz"
    nib.save(nib.Nifti1Image(data, None), str(nohdr))  # no sform/qform, pixdim 1
    with pytest.raises(InputFileError, match="no voxel spacing"):
        _tiny_pipe().predict(str(nohdr))
    coronal = tmp_path / "slices_first.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([5.0, 0.8, 0.8, 1.0])), str(coronal))  # thick axis is axis 0
    with pytest.raises(InputFileError, match="thick-slice axis"):
        _tiny_pipe().predict(str(coronal))
    ok = tmp_path / "axial.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([0.8, 0.8, 5.0, 1.0])), str(ok))
    assert tuple(_tiny_pipe().predict(str(ok)).shape) == (1, 24, 20, 24)


def test_2d_image_to_3d_model_and_volume_to_2d_training_are_clear_errors(data_root):
    png = sorted((data_root / "retina").glob("*.png"))[:1] or sorted((data_root / "retina").glob("*.jp*g"))[:1]
    with pytest.raises(InputFileError, match="2D but the model is 3D"):
        _tiny_pipe().predict(str(png[0]))
    from monai_srgan.transforms import LoadMedicalImage, SliceThicknessDegradation

    with pytest.raises(InputFileError, match="needs a volume"):
        SliceThicknessDegradation(scale=4)(LoadMedicalImage()(str(png[0])))
    # the reverse in training: volumes fed to a 2D generator
    from monai_srgan.engines.checks import check_training_pair
    from monai_srgan.errors import ConfigError
    from monai_srgan.networks import SRResNet

    g2d = SRResNet(2, 1, 1, scale=2, num_feat=4, num_blocks=1)
    with pytest.raises(ConfigError, match="3D volumes .* generator is 2D"):
        check_training_pair(g2d, torch.zeros(1, 1, 8, 8, 4), torch.zeros(1, 1, 16, 16, 8))


def test_volume_smaller_than_the_patch_is_a_clear_error(tmp_path, data_root):
    with pytest.raises(Exception) as info:
        _bundle_run(
            "train.json",
            dataset_dir=str(data_root),
            output_dir=str(tmp_path / "small"),
            train_files="$[{'hr': @mr_file, 'slab': [0, None]}]",  # 20 slices
            hr_patch=[24, 24, 32],  # 32 HR slices needed
            stage1_iterations=1,
            stage2_iterations=1,
            **TINY,
        )
    err = _root_cause(info.value)
    assert isinstance(err, InputFileError), repr(err)
    assert "totalseg_example_mr_sm" in str(err) and "smaller" in str(err)


def test_metadata_is_valid_offline(reference_root):
    from monai.bundle import verify_metadata

    verify_metadata(meta_file=str(CFG / "metadata.json"), filepath=str(reference_root / "meta_schema_20240725.json"))


def test_shipped_x2_weights_are_picked_by_slice_scale_and_a_scale_without_weights_is_named(data_root):
    from monai_srgan.errors import ConfigError

    crop = SRInferencePipeline.from_bundle(BUNDLE).load(str(data_root / "volumes" / "totalseg_example_mr_sm.nii.gz"))
    crop = crop[:, 30:62, 25:57, :8]
    cfg = str(CFG / "inference.json")
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(cfg)
    parser.update({"bundle_root": str(BUNDLE), "slice_scale": 2})
    assert parser.get_parsed_content("model_path").endswith("models/model_x2.pt")
    sr = parser.get_parsed_content("pipeline").predict(crop)
    assert tuple(sr.shape) == (1, 32, 32, 16)
    parser["slice_scale"] = 3
    with pytest.raises(Exception) as e:  # noqa: PT011 - MONAI wraps the ConfigError
        parser.get_parsed_content("pipeline", lazy=False)
    message = str(_root_cause(e.value))
    assert "model_x3.pt" in message and "model_x2.pt" in message and "model.pt" in message
    assert isinstance(_root_cause(e.value), ConfigError)
