"""PACS: ``monai-srgan infer`` with a DICOMweb study as INPUT and ``--store-to``, against a real Orthanc.

Orthanc and its DICOMweb plugin come from the Debian packages (``.ci/run`` installs them); the test starts Orthanc on
127.0.0.1 with a temporary configuration (tests/_orthanc.py), uploads shared DICOM, runs the CLI in this process with
an exact ×2 nearest TorchScript stand-in, checks the derived series in Orthanc against a local-file run, resume, a
partial STOW-RS failure, and the 401 / 404 / server-down messages, and stops Orthanc. Without Orthanc: a loud skip.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _inference_helpers import save_nearest_torchscript
from _orthanc import INSTALL, dicomweb_plugin, free_port, orthanc_binary, start_orthanc

from monai_srgan.apps.cli import main
from monai_srgan.errors import ConfigError
from monai_srgan.io.dicomweb import ENV_PASSWORD, ENV_TOKEN, ENV_USER, parse_url

ADC = "dicom/dcmqi_701-ADCb500"  # 20-slice int16 MR series
CR = "dicom/pydicom_CR1_6154.dcm"  # one CR image

pytestmark = pytest.mark.skipif(
    orthanc_binary() is None or dicomweb_plugin() is None,
    reason=f"LOUD SKIP: Orthanc with its DICOMweb plugin is not installed, so the PACS route is NOT tested: {INSTALL}",
)


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, data_root):
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"), "srgan", f"pw-{uuid.uuid4().hex[:12]}")
    try:
        server.upload(sorted((data_root / ADC).glob("*.dcm")) + [data_root / CR])
        yield server
    finally:
        server.stop()


@pytest.fixture
def creds(monkeypatch, orthanc):
    monkeypatch.setenv(ENV_USER, orthanc.user)
    monkeypatch.setenv(ENV_PASSWORD, orthanc.password)
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    return orthanc


def _uids(path: Path) -> tuple[str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)


def _run(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["infer", *argv, "--no-progress"])
    return code, capsys.readouterr().err


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "srgan_report.json").read_text())["inputs"]


def _stored_series(orthanc, series_uid: str) -> list[pydicom.Dataset]:
    """The instances Orthanc holds for ``series_uid``, in InstanceNumber order."""
    ids = orthanc.json("/tools/find", {"Level": "Instance", "Query": {"SeriesInstanceUID": series_uid}})
    out = [pydicom.dcmread(io.BytesIO(orthanc.request(f"/instances/{i}/file"))) for i in ids]
    return sorted(out, key=lambda d: int(d.InstanceNumber))


def _local(folder: Path) -> list[pydicom.Dataset]:
    return sorted((pydicom.dcmread(p) for p in folder.glob("*.dcm")), key=lambda d: int(d.InstanceNumber))


def test_dicomweb_in_store_resume(tmp_path, data_root, creds, capsys):
    orthanc = creds
    model = save_nearest_torchscript(tmp_path / "nearest.ts")
    study, series = _uids(next((data_root / ADC).glob("*.dcm")))
    source_sops = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in (data_root / ADC).glob("*")}

    code, err = _run(capsys, str(data_root / ADC), str(tmp_path / "local"), "--model", str(model))
    assert code == 0, err
    local = _local(next(p for p in (tmp_path / "local").iterdir() if p.is_dir()))

    # the study from Orthanc, stored back; Orthanc refuses one instance (a real partial STOW-RS failure)
    url, out = f"{orthanc.dicomweb}/studies/{study}", tmp_path / "pacs"
    args = [url, str(out), "--model", str(model), "--store-to", orthanc.dicomweb]
    orthanc.reject_flag.write_text("")
    code, err = _run(capsys, *args)
    assert code == 1, err
    (row,) = [r for r in _rows(out) if r["kind"] == "dicom_series"]
    assert row["status"] == "failed" and row["stored"] == "19/20", row
    assert "holds 19 of the 20 instances" in row["error"] and "--resume" in row["error"]
    assert row["stored_series"] in row["error"] and study in row["error"]
    assert row["source"] == f"{url}/series/{series}"
    assert "FAILED" in err and row["stored_series"] in err
    derived = row["stored_series"]

    # --resume: nothing recomputed, the one missing instance sent
    orthanc.reject_flag.unlink()
    code, err = _run(capsys, *args, "--resume")
    assert code == 0, err
    (row,) = _rows(out)  # the derived series in the study is not retrieved, nor super-resolved again
    assert row["status"] == "skipped" and row["stored"] == "20/20" and row["stored_sent"] == 1, row
    # --resume again: nothing stored twice
    code, err = _run(capsys, *args, "--resume")
    assert code == 0, err
    (row,) = _rows(out)
    assert row["stored"] == "20/20" and row["stored_sent"] == 0 and row["stored_series"] == derived, row
    in_study = orthanc.json("/tools/find", {"Level": "Series", "Query": {"StudyInstanceUID": study}})
    assert len(in_study) == 2

    # what Orthanc holds: the derived series of this study, referencing the source, spacing / 2, pixels as local
    stored = _stored_series(orthanc, derived)
    assert len(stored) == 20
    written = _local(Path(row["output"]))
    assert [str(d.SOPInstanceUID) for d in stored] == [str(d.SOPInstanceUID) for d in written]
    for ds, ref in zip(stored, local):
        assert ds.StudyInstanceUID == study and ds.SeriesInstanceUID == derived != series
        assert list(ds.ImageType[:2]) == ["DERIVED", "SECONDARY"] and "monai_srgan" in ds.DerivationDescription
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID in source_sops
        assert (ds.Rows, ds.Columns) == (ref.Rows, ref.Columns) == (512, 512)
        np.testing.assert_allclose([float(v) for v in ds.PixelSpacing], [float(v) for v in ref.PixelSpacing])
        assert ds.ImagePositionPatient == ref.ImagePositionPatient
        np.testing.assert_array_equal(ds.pixel_array, ref.pixel_array)
    src0 = pydicom.dcmread(sorted((data_root / ADC).glob("*.dcm"))[0], stop_before_pixels=True)
    np.testing.assert_allclose([float(v) for v in stored[0].PixelSpacing], [float(v) / 2 for v in src0.PixelSpacing])

    # the derived UIDs depend on source + model only: another output folder stores nothing new
    code, err = _run(capsys, *args[:1], str(tmp_path / "again"), *args[2:])
    assert code == 0, err
    (row,) = _rows(tmp_path / "again")
    assert row["stored_series"] == derived and row["stored_sent"] == 0 and row["stored"] == "20/20", row

    # one series named in the address: the single CR image
    cr_study, cr_series = _uids(data_root / CR)
    code, err = _run(
        capsys, f"{orthanc.dicomweb}/studies/{cr_study}/series/{cr_series}", str(tmp_path / "cr"), "--model",
        str(model), "--store-to", orthanc.dicomweb,
    )  # fmt: skip
    assert code == 0, err
    (row,) = _rows(tmp_path / "cr")
    assert row["status"] == "ok" and row["stored"] == "1/1", row
    (cr_sr,) = _stored_series(orthanc, row["stored_series"])
    src = pydicom.dcmread(data_root / CR)
    np.testing.assert_array_equal(cr_sr.pixel_array[::2, ::2], src.pixel_array)

    # the password is written nowhere
    for f in [*out.rglob("srgan_report*"), *(tmp_path / "cr").rglob("srgan_report*")]:
        assert orthanc.password not in f.read_text()


def test_dicomweb_errors(tmp_path, data_root, creds, capsys, monkeypatch):
    orthanc = creds
    model = str(save_nearest_torchscript(tmp_path / "nearest.ts"))
    study, _ = _uids(data_root / CR)

    monkeypatch.setenv(ENV_PASSWORD, "wrong-password-123")
    code, err = _run(capsys, f"{orthanc.dicomweb}/studies/{study}", str(tmp_path / "o401"), "--model", model)
    assert code == 2 and "HTTP 401" in err and ENV_USER in err and "wrong-password-123" not in err, err
    assert err.count("\n") == 1
    monkeypatch.setenv(ENV_PASSWORD, orthanc.password)

    code, err = _run(capsys, f"{orthanc.dicomweb}/studies/1.2.3.4.5", str(tmp_path / "o404"), "--model", model)
    assert code == 2 and "1.2.3.4.5: no such study" in err, err
    code, err = _run(capsys, f"{orthanc.url}/nowhere/studies/{study}", str(tmp_path / "o404b"), "--model", model)
    assert code == 2 and "HTTP 404" in err and "base path" in err, err

    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    code, err = _run(capsys, f"{down}/studies/{study}", str(tmp_path / "down"), "--model", model)
    assert code == 2 and "cannot connect" in err and "is running" in err, err
    code, err = _run(capsys, str(data_root / CR), str(tmp_path / "down2"), "--model", model, "--store-to", down)
    assert code == 2 and "cannot connect" in err, err
    assert not (tmp_path / "down2" / "srgan_report.json").exists()  # refused before any work

    code, err = _run(capsys, f"http://u:secret99@127.0.0.1:1/dicom-web/studies/{study}", str(tmp_path / "c"),
                     "--model", model)  # fmt: skip
    assert code == 2 and "secret99" not in err and ENV_USER in err, err
    code, err = _run(capsys, str(data_root / CR), str(tmp_path / "fmt"), "--model", model, "--format", "png",
                     "--store-to", orthanc.dicomweb)  # fmt: skip
    assert code == 2 and "--format dicom" in err, err


def test_torchrun_shares_a_study_fetched_once(tmp_path, data_root, creds):
    """Two gloo processes on a DICOMweb study of two series: rank 0 retrieves each series once, each rank
    super-resolves one, and the merged report carries both ranks and the series addresses (issue 26)."""
    import os
    import subprocess
    import sys

    from pydicom.uid import generate_uid

    orthanc = creds
    study, files = generate_uid(), []
    for k in range(2):  # a study of two one-image series (copies of the shared CR with new UIDs)
        ds = pydicom.dcmread(data_root / CR)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 900 + k
        ds.save_as(tmp_path / f"s{k}.dcm")
        files.append(tmp_path / f"s{k}.dcm")
    orthanc.upload(files)
    model = save_nearest_torchscript(tmp_path / "nearest.ts")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    url, out = f"{orthanc.dicomweb}/studies/{study}", tmp_path / "out"
    cmd = [str(bin_dir / "torchrun"), "--standalone", "--nproc_per_node=2", "--no-python", str(bin_dir / "monai-srgan"),
           "-v", "infer", url, str(out), "--model", str(model), "--no-progress"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("retrieving series 1/2") == 1 and proc.stderr.count("retrieving series 2/2") == 1
    rows = _rows(out)
    assert sorted(r["rank"] for r in rows) == [0, 1] and all(r["status"] == "ok" for r in rows), rows
    assert sorted(r["source"].rsplit("/", 1)[-1] for r in rows) == sorted(
        str(pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID) for f in files
    )


def test_parse_url():
    u = parse_url("https://pacs.example.org:8443/dicom-web/studies/1.2.3/series/4.5")
    assert (u.base, u.study, u.series) == ("https://pacs.example.org:8443/dicom-web", "1.2.3", "4.5")
    assert str(u) == "https://pacs.example.org:8443/dicom-web/studies/1.2.3/series/4.5"
    assert parse_url("http://h/dicom-web/", need_study=False).base == "http://h/dicom-web"
    for bad in ("ftp://h/studies/1.2", "http://h/dicom-web", "http://h/studies/1.2/x/3", "http://h/studies/abc"):
        with pytest.raises(ConfigError):
            parse_url(bad)


@pytest.mark.monailabel
@pytest.mark.slow
def test_monailabel_on_dicomweb_datastore(tmp_path, data_root, orthanc):
    """The MONAI Label app with ``--studies http://…/dicom-web`` (the same Orthanc): SR of a series, stored back."""
    import nibabel as nib
    from _monailabel_server import monailabel_server
    from test_monailabel import _detail, _monailabel_env, _multipart, _request, _write_bundle

    env = _monailabel_env()
    bundle = _write_bundle(tmp_path / "bundles", "cxr_sr", channels=1, seed=0)
    _, adc_series = _uids(next((data_root / ADC).glob("*.dcm")))
    cr_study, cr_series = _uids(data_root / CR)
    creds = {"MONAI_LABEL_DICOMWEB_CACHE_PATH": str(tmp_path), "MONAI_LABEL_DICOMWEB_USERNAME": orthanc.user,
             "MONAI_LABEL_DICOMWEB_PASSWORD": orthanc.password}  # fmt: skip
    with monailabel_server(env, orthanc.dicomweb, bundle.parent, ["cxr_sr"], tmp_path / "server.log", creds) as server:
        base, log_tail = server.base, server.log_tail

        # the MR series (DICOM from Orthanc, read by monai_srgan's reader) → NIfTI equal to the CLI on the files
        status, ctype, body = _request(
            f"{base}/infer/cxr_sr?image={adc_series}&output=all", "POST", fields={"params": json.dumps({})}
        )
        assert status == 200, (status, _detail(body), log_tail())
        parts = _multipart(ctype, body)
        assert json.loads(parts["params"])["format"] == "nifti"
        (tmp_path / "served.nii.gz").write_bytes(parts["image"])
        served = nib.load(str(tmp_path / "served.nii.gz"))
        assert main(["infer", str(data_root / ADC), str(tmp_path / "cli"), "--bundle", str(bundle), "--format",
                     "nifti", "--no-progress"]) == 0  # fmt: skip
        ref = nib.load(str(next((tmp_path / "cli").glob("*.nii.gz"))))
        np.testing.assert_allclose(served.affine, ref.affine, atol=1e-4)
        np.testing.assert_array_equal(np.asanyarray(served.dataobj), np.asanyarray(ref.dataobj))

        # the CR image, stored back into its study as a derived series
        status, _, body = _request(
            f"{base}/infer/cxr_sr?image={cr_series}&output=json", "POST", fields={"params": json.dumps({"store": True})}
        )
        assert status == 200, (status, _detail(body), log_tail())
        stored = json.loads(body)["stored"]
        assert stored["study"] == cr_study and stored["stored"] == stored["instances"] == 1, stored
        (sr_ds,) = _stored_series(orthanc, stored["series"])
        assert sr_ds.StudyInstanceUID == cr_study and sr_ds.SourceImageSequence[0].ReferencedSOPInstanceUID == str(
            pydicom.dcmread(data_root / CR, stop_before_pixels=True).SOPInstanceUID
        )
        assert main(["infer", str(data_root / CR), str(tmp_path / "cli_cr"), "--bundle", str(bundle),
                     "--no-progress"]) == 0  # fmt: skip
        (ref_cr,) = _local(next(p for p in (tmp_path / "cli_cr").iterdir() if p.is_dir()))
        np.testing.assert_array_equal(sr_ds.pixel_array, ref_cr.pixel_array)

        status, _, body = _request(f"{base}/infer/cxr_sr?image=1.2.3.4.5&output=json", "POST")
        assert status == 404 and "1.2.3.4.5" in _detail(body), (status, body)
