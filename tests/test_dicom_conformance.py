"""DICOM conformance of derived outputs: dciodvfy (dicom3tools) finds no error that the source does not already have.

``.ci/run`` installs dicom3tools (``apt-get install dicom3tools``); where it cannot be installed these tests skip with
a message saying so, never silently.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _inference_helpers import save_nearest_torchscript
from pydicom.data import get_testdata_file

from monai_srgan.apps.cli import main

DCIODVFY = shutil.which("dciodvfy")
pytestmark = pytest.mark.skipif(
    DCIODVFY is None,
    reason="LOUD SKIP: dciodvfy (Debian package dicom3tools) is not installed, so DICOM conformance is NOT checked; "
    "install it with 'apt-get install dicom3tools'",
)

SHARED = [
    "pydicom_CR1_6154.dcm",
    "pydicom-issue966_966_fixed.dcm",
    "wg04_RG1_J2KR.dcm",
    "wg04_RG2_JLSL.dcm",
    "wg04_RG2_JPLL.dcm",
    "wg04_RG2_RLE.dcm",
    "dcmqi_ct-3slice",
    "dcmqi_701-ADCb500",
]
PYDICOM = [
    "CT_small.dcm",
    "MR_small_bigendian.dcm",
    "rtdose_1frame.dcm",
    "SC_rgb_small_odd.dcm",
    "examples_palette.dcm",
]


def _errors(path: Path) -> set[str]:
    """dciodvfy's ``Error`` lines for one file, without values that differ between source and output."""
    proc = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=120)
    lines = (proc.stdout + proc.stderr).splitlines()
    return {re.sub(r"\s+", " ", ln).strip() for ln in lines if ln.startswith("Error")}


COLOUR = {"SC_rgb_small_odd.dcm", "examples_palette.dcm"}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("model")
    return {c: save_nearest_torchscript(folder / f"nearest_x2_{c}ch.ts", 2, in_channels=c) for c in (1, 3)}


@pytest.mark.parametrize("name", SHARED + PYDICOM)
def test_derived_dicom_adds_no_dciodvfy_error(tmp_path, data_root, models, name):
    src = data_root / "dicom" / name if name in SHARED else Path(get_testdata_file(name, download=False))
    out = tmp_path / "out"
    assert main(["infer", str(src), str(out), "--model", str(models[3 if name in COLOUR else 1]), "--no-progress"]) == 0
    outputs = sorted(out.rglob("*.dcm"))
    sources = sorted(src.glob("*.dcm")) if src.is_dir() else [src]
    assert outputs, "no derived DICOM written"
    known = set().union(*(_errors(s) for s in sources))
    for o in outputs:
        new = _errors(o) - known
        assert not new, f"{o.name} (from {name}): dciodvfy errors the source does not have: {sorted(new)}"
