"""MONAI Label integration: a real ``monailabel start_server`` with apps/monailabel_sr on 127.0.0.1.

The server runs in the separate MONAI Label environment (numpy < 2, pydicom < 3) built by
``scripts/build_monailabel_env.sh``; .ci/run builds it and points ``MONAI_SRGAN_MONAILABEL_ENV`` at it (the test then
fails if it is missing). Without that variable the test builds (or reuses) ``.cache/monailabel-venv`` itself.
The reference outputs come from ``monai-srgan infer`` in this (main) environment.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from _monailabel_server import APP_DIR, monailabel_server
from PIL import Image

from monai_srgan.apps.monailabel import (
    choose_output_format,
    conf_bool,
    conf_list,
    discover_bundles,
    http_status_for,
    resolve_bundles_dir,
)
from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.metrics import lr_consistency

REPO = Path(__file__).resolve().parents[1]
ENV_VAR = "MONAI_SRGAN_MONAILABEL_ENV"
CXR = "cxr/mhh_2168a917.png"  # 640 x 549, 8-bit grey chest X-ray
FUNDUS = "retina/skimage_retina.jpg"  # 1411 x 1411 RGB fundus photograph
VOLUME = "volumes/totalseg_example_mr_sm.nii.gz"  # 117 x 91 x 20 int16 MR, 3 mm voxels
SCALE = 2


# ------------------------------------------------------------------------------------------- helpers (no server)
def test_helpers_without_monailabel(tmp_path: Path) -> None:
    """Bundle discovery, --conf parsing, format choice and HTTP status mapping (main environment, no monailabel)."""
    code = "import sys, monai_srgan.apps, monai_srgan.apps.monailabel; print('monailabel' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr  # importable without MONAI Label
    for name in ("b_sr", "a_sr"):
        (tmp_path / name / "configs").mkdir(parents=True)
        (tmp_path / name / "configs" / "inference.json").write_text("{}")
    (tmp_path / "not_a_bundle").mkdir()
    assert list(discover_bundles(tmp_path)) == ["a_sr", "b_sr"]
    assert list(discover_bundles(tmp_path, conf_list("b_sr"))) == ["b_sr"]
    assert conf_list("all") is None and conf_list(" a_sr , b_sr ") == ["a_sr", "b_sr"]
    with pytest.raises(ConfigError, match="nope.*a_sr, b_sr"):
        discover_bundles(tmp_path, ["nope"])
    with pytest.raises(ConfigError, match="not a folder"):
        discover_bundles(tmp_path / "missing")
    assert resolve_bundles_dir({}, APP_DIR) == REPO / "bundles"
    assert resolve_bundles_dir({"bundles_dir": str(tmp_path)}, APP_DIR) == tmp_path
    assert conf_bool("On") is True and conf_bool(None, default=True) is True and conf_bool("0") is False
    assert choose_output_format("auto", 2) == ("png", ".png")
    assert choose_output_format(None, 3) == ("nifti", ".nii.gz")
    assert choose_output_format(".nii.gz", 2) == ("nifti", ".nii.gz")
    with pytest.raises(ConfigError, match="3D result cannot be a PNG"):
        choose_output_format("png", 3)
    assert choose_output_format(" NII ", 3) == ("nifti", ".nii.gz")  # aliases as --format resolves them
    for refused in ("bmp", "same", "jpg"):  # "same" has no input to follow here
        with pytest.raises(ConfigError, match="choose auto"):
            choose_output_format(refused, 2)
    assert http_status_for(InputFileError("x.png", "has 3 channel(s) but the model takes 1"))[0] == 422
    assert http_status_for(ConfigError("format='bmp'"))[0] == 400
    status, msg = http_status_for(RuntimeError("boom"))
    assert status == 500 and "RuntimeError: boom" in msg


# ------------------------------------------------------------------------------------------- the server test
def _monailabel_env() -> Path:
    """The MONAI Label environment: ``$MONAI_SRGAN_MONAILABEL_ENV`` (must exist), else build/reuse the cached one."""
    given = os.environ.get(ENV_VAR)
    env = Path(given) if given else REPO / ".cache" / "monailabel-venv"
    if not given:
        if not (env / "bin" / "monailabel").is_file():  # pytest -s shows it; otherwise in the test's captured output
            print(f"building the MONAI Label environment in {env} (pip, ~3 GB, 2-6 minutes; reused afterwards)",
                  file=sys.__stderr__, flush=True)  # fmt: skip
        r = subprocess.run(
            ["bash", str(REPO / "scripts" / "build_monailabel_env.sh"), str(env)],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert r.returncode == 0, f"building the MONAI Label env failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    exe = env / "bin" / "monailabel"
    if not exe.is_file():
        pytest.fail(
            f"{ENV_VAR}={env} holds no MONAI Label environment (no {exe}); build it with "
            f"'bash scripts/build_monailabel_env.sh {env}' (.ci/run does this before pytest)"
        )
    r = subprocess.run(
        [str(env / "bin" / "python"), "-c", "import monailabel, monai_srgan.apps.monailabel.infer"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, f"the MONAI Label environment {env} cannot import the app:\n{r.stderr[-3000:]}"
    return env


def _write_bundle(root: Path, name: str, channels: int, seed: int, spatial_dims: int = 2) -> Path:
    """A small SRResNet x2 bundle with seeded random weights (configs/inference.json + models/model.pt)."""
    from monai_srgan.networks import SRResNet

    bundle = root / name
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    arch = {"num_feat": 4, "num_blocks": 1, "norm": None, "head_kernel_size": 3, "tail_kernel_size": 3}
    cfg = {
        "scale": SCALE,
        "model_name": f"{name}-test",
        "network_def": {
            "_target_": "monai_srgan.networks.SRResNet",
            "spatial_dims": spatial_dims,
            "in_channels": channels,
            "out_channels": channels,
            "scale": "@scale",
            **arch,
        },
        "normalize": {"_target_": "monai_srgan.transforms.intensity.ScaleToUnitRange"},
    }
    (bundle / "configs" / "inference.json").write_text(json.dumps(cfg, indent=2))
    torch.manual_seed(seed)
    net = SRResNet(spatial_dims, channels, channels, scale=SCALE, **arch)
    with torch.no_grad():  # outputs around mid-grey with visible structure, not clamped to black
        net.tail.weight.mul_(4.0)
        net.tail.bias.fill_(0.5)
    torch.save(net.state_dict(), bundle / "models" / "model.pt")
    return bundle


def _request(url: str, method: str = "GET", fields: dict | None = None, files: dict | None = None, timeout=300):
    """HTTP request with an optional multipart/form-data body; returns (status, content-type, body bytes)."""
    data, headers = None, {}
    if method == "POST":
        boundary = uuid.uuid4().hex
        parts = []
        for k, v in (fields or {}).items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        for k, (fname, content) in (files or {}).items():
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{fname}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
            parts.append(head.encode() + content + b"\r\n")
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = {}
    for part in msg.iter_parts():
        parts[part.get_param("name", header="content-disposition")] = part.get_payload(decode=True)
    return parts


def _cli_infer(src: Path, bundle: Path, out: Path, fmt: str) -> Path:
    """``monai-srgan infer`` (main environment) on one file; returns the one output file."""
    r = subprocess.run(
        [sys.executable, "-m", "monai_srgan.apps.cli", "infer", str(src), str(out), "--bundle", str(bundle)]
        + ["--format", fmt, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    outs = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(("srgan_report", "srgan_resume"))]
    assert len(outs) == 1, outs
    return outs[0]


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail"))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")


@pytest.mark.monailabel
@pytest.mark.slow
def test_monailabel_server_super_resolves(tmp_path: Path, data_root: Path) -> None:
    env = _monailabel_env()
    bundles = tmp_path / "bundles"
    cxr_bundle = _write_bundle(bundles, "cxr_sr", channels=1, seed=0)
    # a calibrated uncertainty model for the test weights (its figures are the shipped cxr_sr's; docs/inference.md)
    shipped = Path(__file__).resolve().parents[1] / "bundles" / "cxr_sr" / "models" / "model.pt.uncertainty.json"
    shutil.copy(shipped, Path(str(cxr_bundle / "models" / "model.pt") + ".uncertainty.json"))
    retina_bundle = _write_bundle(bundles, "retina_sr", channels=3, seed=1)
    mr_bundle = _write_bundle(bundles, "mr_sr", channels=1, seed=3, spatial_dims=3)
    _write_bundle(bundles, "unused_sr", channels=1, seed=2)  # not in --conf models: must not be served
    studies = tmp_path / "studies"
    studies.mkdir()
    cxr_src = Path(shutil.copy(data_root / CXR, studies))
    fundus_src = Path(shutil.copy(data_root / FUNDUS, studies))
    vol_src = Path(shutil.copy(data_root / VOLUME, studies))
    cxr_id, fundus_id, vol_id = (p.name.split(".")[0] for p in (cxr_src, fundus_src, vol_src))

    served = ["cxr_sr", "retina_sr", "mr_sr"]
    with monailabel_server(env, studies, bundles, served, tmp_path / "server.log") as server:
        base, info, proc, log_tail = server.base, server.info, server.proc, server.log_tail

        # /info/: the two requested bundles, as image-output ("others") 2D models with their scale and channels
        models = info["models"]
        assert sorted(models) == ["cxr_sr", "mr_sr", "retina_sr"], models
        assert models["mr_sr"]["dimension"] == 3
        assert models["cxr_sr"]["type"] == "others" and models["cxr_sr"]["dimension"] == 2
        assert models["cxr_sr"]["scale"] == SCALE and models["cxr_sr"]["in_channels"] == 1
        assert models["retina_sr"]["in_channels"] == 3

        # chest X-ray → PNG, ×2, equal to monai-srgan infer
        status, ctype, body = _request(f"{base}/infer/cxr_sr?image={cxr_id}&output=image", "POST")
        assert status == 200, (status, _detail(body), log_tail())
        assert "png" in ctype, ctype
        sr_cxr = np.asarray(Image.open(io.BytesIO(body)))
        lr_cxr = np.asarray(Image.open(cxr_src))
        assert sr_cxr.shape == (lr_cxr.shape[0] * SCALE, lr_cxr.shape[1] * SCALE) and sr_cxr.dtype == np.uint8
        ref = np.asarray(Image.open(_cli_infer(cxr_src, cxr_bundle, tmp_path / "cli_cxr_png", "png")))
        np.testing.assert_array_equal(sr_cxr, ref)
        assert sr_cxr.std() > 5.0 and (sr_cxr == 0).mean() < 0.5 and (sr_cxr == 255).mean() < 0.5  # not a constant

        # fundus (RGB) → PNG, ×2, equal to monai-srgan infer
        status, ctype, body = _request(f"{base}/infer/retina_sr?image={fundus_id}&output=image", "POST")
        assert status == 200, (status, _detail(body), log_tail())
        sr_fundus = np.asarray(Image.open(io.BytesIO(body)))
        lr_fundus = np.asarray(Image.open(fundus_src))
        assert sr_fundus.shape == (lr_fundus.shape[0] * SCALE, lr_fundus.shape[1] * SCALE, 3)
        ref = np.asarray(Image.open(_cli_infer(fundus_src, retina_bundle, tmp_path / "cli_fundus", "png")))
        np.testing.assert_array_equal(sr_fundus, ref)

        # NIfTI for the 2D image (output=all: JSON params + file): spacing ÷ scale, same voxels as the CLI's NIfTI
        status, ctype, body = _request(
            f"{base}/infer/cxr_sr?image={cxr_id}&output=all", "POST", fields={"params": json.dumps({"format": "nifti"})}
        )
        assert status == 200, (status, _detail(body), log_tail())
        parts = _multipart(ctype, body)
        params = json.loads(parts["params"])
        assert params["model"] == "cxr_sr" and params["model_name"] == "cxr_sr-test" and params["format"] == "nifti"
        assert params["scale"] == [SCALE, SCALE]
        assert params["input_shape"] == [1, *lr_cxr.shape] and params["output_shape"] == [1, *sr_cxr.shape]
        assert params["input_spacing"] == [1.0, 1.0] and params["spacing"] == [1.0 / SCALE, 1.0 / SCALE]
        assert params["timing"]["inference_s"] > 0 and "latencies" in params
        assert isinstance(params["lr_consistency_psnr"], float) and 0 < params["lr_consistency_psnr"] < 100
        expected_psnr = lr_consistency(
            torch.from_numpy(sr_cxr.astype(np.float32))[None, None],
            torch.from_numpy(lr_cxr.astype(np.float32))[None, None],
            scale=SCALE,
            data_range=255.0,
        )["psnr"]
        assert params["lr_consistency_psnr"] == pytest.approx(float(expected_psnr), abs=1e-3)
        nii_path = tmp_path / "served.nii.gz"
        nii_path.write_bytes(parts["image"])
        served = nib.load(str(nii_path))
        assert served.header.get_zooms()[:2] == (1.0 / SCALE, 1.0 / SCALE)
        ref_nii = nib.load(str(_cli_infer(cxr_src, cxr_bundle, tmp_path / "cli_cxr_nii", "nifti")))
        np.testing.assert_allclose(served.affine, ref_nii.affine)
        np.testing.assert_array_equal(np.asanyarray(served.dataobj), np.asanyarray(ref_nii.dataobj))
        assert served.shape[:2] == sr_cxr.shape

        # the second output: the calibrated uncertainty map (float32 TIFF on the SR grid) and its figures in the JSON
        status, ctype, body = _request(
            f"{base}/infer/cxr_sr?image={cxr_id}&output=all", "POST",
            fields={"params": json.dumps({"result": "uncertainty"})},
        )  # fmt: skip
        assert status == 200, (status, _detail(body), log_tail())
        parts = _multipart(ctype, body)
        params = json.loads(parts["params"])
        assert params["result"] == "uncertainty" and params["uncertainty_mean"] > 0
        sigma = np.asarray(Image.open(io.BytesIO(parts["image"])))
        assert sigma.dtype == np.float32 and sigma.shape == sr_cxr.shape
        assert sigma.mean() == pytest.approx(params["uncertainty_mean"], rel=1e-4)
        status, _, body = _request(  # weights without a calibration: a clear refusal, the server keeps serving
            f"{base}/infer/retina_sr?image={fundus_id}&output=image", "POST",
            fields={"params": json.dumps({"uncertainty": True})},
        )  # fmt: skip
        assert status == 400 and "no calibrated uncertainty" in _detail(body), (status, body)

        # MR volume → NIfTI (the default for volumes), x2 on every axis, 1.5 mm voxels, equal to monai-srgan infer
        status, ctype, body = _request(f"{base}/infer/mr_sr?image={vol_id}&output=image", "POST")
        assert status == 200, (status, _detail(body), log_tail())
        nii_path = tmp_path / "served_mr.nii.gz"
        nii_path.write_bytes(body)
        served = nib.load(str(nii_path))
        lr_vol = nib.load(str(vol_src))
        assert served.shape == tuple(n * SCALE for n in lr_vol.shape)
        np.testing.assert_allclose(served.header.get_zooms()[:3], [z / SCALE for z in lr_vol.header.get_zooms()[:3]])
        ref_nii = nib.load(str(_cli_infer(vol_src, mr_bundle, tmp_path / "cli_mr", "nifti")))
        np.testing.assert_allclose(served.affine, ref_nii.affine)
        np.testing.assert_array_equal(np.asanyarray(served.dataobj), np.asanyarray(ref_nii.dataobj))
        assert served.get_data_dtype() == np.int16

        # bad requests: readable errors, and the server keeps serving
        status, _, body = _request(f"{base}/infer/no_such_model?image={cxr_id}&output=image", "POST")
        assert status == 404 and "no_such_model" in _detail(body) and "cxr_sr" in _detail(body), (status, body)
        status, _, body = _request(f"{base}/infer/cxr_sr?image={fundus_id}&output=image", "POST")
        assert status == 422 and "3 channel" in _detail(body) and "takes 1" in _detail(body), (status, body)
        status, _, body = _request(f"{base}/infer/mr_sr?image={cxr_id}&output=image", "POST")
        assert status == 422 and "2D but the model is 3D" in _detail(body), (status, body)
        status, _, body = _request(f"{base}/infer/cxr_sr?image=no_such_image&output=image", "POST")
        assert status == 404 and "no_such_image" in _detail(body), (status, body)
        corrupt = cxr_src.read_bytes()[:2000]  # a truncated PNG upload
        status, _, body = _request(f"{base}/infer/cxr_sr?output=image", "POST", files={"file": ("upload.png", corrupt)})
        assert status == 422 and "cannot use the input image" in _detail(body), (status, body)
        status, _, body = _request(
            f"{base}/infer/cxr_sr?image={cxr_id}&output=image", "POST", fields={"params": '{"format": "bmp"}'}
        )
        assert status == 400 and "bmp" in _detail(body), (status, body)
        assert proc.poll() is None, f"server died after bad requests:\n{log_tail()}"

        # the next good request succeeds, identical to the first (an upload this time)
        status, _, body = _request(
            f"{base}/infer/cxr_sr?output=image", "POST", files={"file": ("upload.png", cxr_src.read_bytes())}
        )
        assert status == 200, (status, _detail(body), log_tail())
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(body))), sr_cxr)
    assert proc.returncode is not None
