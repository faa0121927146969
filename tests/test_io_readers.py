"""The readers of monai_srgan.io are MONAI ImageReaders; the infer path parses each source DICOM file once."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from _inference_helpers import save_nearest_torchscript
from monai.transforms import LoadImage, LoadImaged

from monai_srgan.apps.cli import main
from monai_srgan.errors import ConfigError
from monai_srgan.io.discovery import find_inputs
from monai_srgan.io.readers import DicomReader, NiftiReader, PillowImageReader, reader_for
from monai_srgan.io.readers.dicom import clear_header_cache
from monai_srgan.io.writers.formats import output_format_for
from monai_srgan.transforms import LoadMedicalImage


def _same(a, b) -> None:
    assert tuple(a.shape) == tuple(b.shape)
    assert torch.equal(a.as_tensor(), b.as_tensor())
    assert torch.allclose(a.affine, b.affine)
    for key in ("srgan_format", "srgan_value_min", "srgan_value_max", "srgan_inverted", "srgan_spacing"):
        assert a.meta[key] == b.meta[key], key


@pytest.mark.parametrize("name", ["pydicom_CR1_6154.dcm", "wg04_RG2_RLE.dcm"])
def test_monai_loadimage_with_dicom_reader_equals_loadmedicalimage(data_root, name):
    path = data_root / "dicom" / name
    via_monai = LoadImage(reader=DicomReader(), image_only=True)(path)
    ours = LoadMedicalImage()(path)
    _same(via_monai, ours)
    assert via_monai.meta["srgan_source_files"] == [str(path)]
    # ensure_channel_first keeps the reader's channel-first layout
    assert LoadImage(reader=DicomReader(), image_only=True, ensure_channel_first=True)(path).shape == ours.shape


def test_monai_loadimage_reads_a_dicom_series_folder_and_other_families(data_root):
    series = data_root / "dicom" / "dcmqi_ct-3slice"
    _same(LoadImage(reader=DicomReader(), image_only=True)(series), LoadMedicalImage()(series))
    png = next(iter(sorted((data_root / "cxr").glob("*.png"))))
    _same(LoadImage(reader=PillowImageReader(), image_only=True)(png), LoadMedicalImage()(png))
    nii = next(iter(sorted((data_root / "volumes").rglob("*.nii*"))))
    _same(LoadImaged("image", reader=NiftiReader(), image_only=True)({"image": nii})["image"], LoadMedicalImage()(nii))


def test_reader_suffixes_and_kinds(data_root):
    assert DicomReader().verify_suffix(str(data_root / "dicom" / "pydicom_CR1_6154.dcm"))
    assert DicomReader().verify_suffix(str(data_root / "dicom" / "dcmqi_ct-3slice"))
    assert not DicomReader().verify_suffix("image.png")
    assert PillowImageReader().verify_suffix(("a.png", "b.ppm.gz"))
    assert NiftiReader().verify_suffix("v.nii.gz") and not NiftiReader().verify_suffix("v.png")
    assert isinstance(reader_for("dicom_series"), DicomReader)
    with pytest.raises(ConfigError, match="unknown input kind"):
        reader_for("video")


def test_output_format_resolved_in_one_place(tmp_path, data_root):
    assert output_format_for({"srgan_format": "dicom_series"}) == "dicom"
    assert output_format_for({"srgan_format": "bmp"}, "same") == "png"
    assert output_format_for({"srgan_format": "ppm", "spatial_shape": (4, 4, 4)}) == "nifti"
    assert output_format_for(None, "JPG") == "jpeg" and output_format_for(None, "nii.gz") == "nifti"
    (tmp_path / "a.tiff").write_bytes(b"")
    (tmp_path / "b.ppm").write_bytes(b"")
    items = {Path(it.files[0]).name: it for it in find_inputs(tmp_path)}
    assert output_format_for(None, "same", source=items["a.tiff"]) == "tiff"
    assert output_format_for(None, "same", source=items["b.ppm"]) == "png"
    with pytest.raises(ConfigError, match="format='gif'"):
        output_format_for(None, "gif")


@pytest.mark.parametrize("src, extra", [("pydicom_CR1_6154.dcm", ["--compare"]), ("dcmqi_ct-3slice", [])])
def test_infer_parses_each_source_dicom_once(tmp_path, data_root, monkeypatch, src, extra):
    """``monai-srgan infer`` on DICOM: one header parse (find_inputs) and one full parse (reader) per file; naming
    the output, writing the derived series and ``--compare`` reuse what was parsed."""
    inp = tmp_path / "in"
    inp.mkdir()
    source = data_root / "dicom" / src
    if source.is_dir():
        for f in sorted(source.iterdir()):
            shutil.copy(f, inp / f.name)
    else:
        shutil.copy(source, inp / src)
    model = save_nearest_torchscript(tmp_path / "nearest_x2.ts", 2)
    clear_header_cache()
    calls: Counter = Counter()
    real = pydicom.dcmread

    def counting(fp, *args, **kwargs):
        full = not kwargs.get("stop_before_pixels") and not kwargs.get("defer_size")
        calls[(Path(fp).name, "full" if full else "header")] += 1
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting)
    out = tmp_path / "out"
    assert main(["infer", str(inp), str(out), "--model", str(model), "--no-progress", "--format", "dicom", *extra]) == 0
    files = sorted(p.name for p in inp.iterdir())
    assert calls == Counter({**{(f, "header"): 1 for f in files}, **{(f, "full"): 1 for f in files}})
    written = sorted(out.rglob("*.dcm"))
    assert len(written) == len(files)
    ds = real(written[0])
    src_ds = real(inp / files[0], stop_before_pixels=True)
    assert (ds.Rows, ds.Columns) == (2 * src_ds.Rows, 2 * src_ds.Columns)
    assert ds.StudyInstanceUID == src_ds.StudyInstanceUID and ds.SeriesInstanceUID != src_ds.SeriesInstanceUID
    assert np.asarray(ds.pixel_array).dtype.kind in "iu"
