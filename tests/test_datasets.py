"""Tests of monai_srgan.transforms.datasets: splits, datalists, bad-file reporting, decode-once patch sampling."""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest
import torch
import torch.nn.functional as F
from monai.data import DataLoader
from monai.transforms import Compose, RandSpatialCropd

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.transforms.datasets import SRPatchDataset, build_sr_dataset, load_datalist, split_files
from monai_srgan.transforms.intensity import ScaleToUnitRanged
from monai_srgan.transforms.io import LoadMedicalImaged, find_inputs


class CountingLoader:
    """LoadMedicalImaged that counts how often it decodes a file."""

    def __init__(self, keys=("image",)):
        self.load = LoadMedicalImaged(keys)
        self.calls = 0

    def __call__(self, data):
        self.calls += 1
        return self.load(data)


def _to_pair(d):
    """Stand-in for the degradation chain: LR = 4x4 average of the HR patch."""
    hr = d["image"]
    return {"hr": hr, "lr": F.avg_pool2d(hr.as_tensor()[None], 4)[0]}


def test_split_files_is_deterministic_and_complete(data_root, tmp_path):
    files = sorted((data_root / "cxr").glob("*.png")) + sorted((data_root / "cxr").glob("*.jpg"))
    assert len(files) == 28
    out = split_files(files, (0.6, 0.2, 0.2), seed=3, out_json=tmp_path / "split" / "datalist.json")
    sizes = [len(out[s]) for s in ("training", "validation", "test")]
    assert sizes == [16, 6, 6]
    flat = [d["image"] for s in out.values() for d in s]
    assert sorted(flat) == sorted(map(str, files)) and len(set(flat)) == 28
    assert json.loads((tmp_path / "split" / "datalist.json").read_text()) == out
    assert split_files(list(reversed(files)), (0.6, 0.2, 0.2), seed=3) == out  # input order does not matter
    assert split_files(files, (0.6, 0.2, 0.2), seed=4) != out
    # groups (here: the MHH id shared by the mhh_ PNG and the covidcxr_ JPEG of one radiograph) stay together
    grouped = split_files(files, seed=1, group_fn=lambda d: d["image"].rsplit("_", 1)[-1].split(".")[0])
    where = {d["image"]: s for s, items in grouped.items() for d in items}
    for f in (data_root / "cxr").glob("mhh_*.png"):
        assert where[str(f)] == where[str(f).replace("mhh_", "covidcxr_").replace(".png", ".jpg")]
    tiny = split_files(files[:3], (0.8, 0.1, 0.1))
    assert [len(tiny[s]) for s in ("training", "validation", "test")] == [1, 1, 1]
    with pytest.raises(ConfigError, match="fractions"):
        split_files(files, (0.5, 0.2, 0.2))


def test_folder_with_bad_files_is_reported_and_skipped(data_root, tmp_path):
    names = ("mhh_2168a917.png", "mhh_53c9be49.png", "mhh_5f619d7e.png")
    for n in names:
        shutil.copy(data_root / "cxr" / n, tmp_path / n)
    (tmp_path / "empty.png").write_bytes(b"")
    good = (data_root / "cxr" / names[0]).read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 3])  # header fine: fails only when decoded
    ds = pydicom.dcmread(data_root / "dicom" / "pydicom_CR1_6154.dcm")
    del ds.PixelData
    ds.save_as(tmp_path / "report.dcm")
    (tmp_path / "README.txt").write_text("not an image")

    with pytest.warns(UserWarning, match="skipped 3 bad input"):
        dset = build_sr_dataset(tmp_path, num_samples=2)
    assert len(dset) == 3 * 2
    bad = sorted(p.rsplit("/", 1)[-1] for p, _ in dset.bad_files)
    assert bad == ["empty.png", "report.dcm", "truncated.png"]
    assert dset[5]["image"].shape[0] == 1
    with pytest.raises(InputFileError) as e:
        build_sr_dataset(tmp_path, strict=True)
    assert any(n in str(e.value) for n in ("empty.png", "report.dcm", "truncated.png"))
    # strict also stops on a file that only fails when decoded
    (tmp_path / "empty.png").unlink()
    (tmp_path / "report.dcm").unlink()
    with pytest.raises(InputFileError, match="truncated.png"):
        build_sr_dataset(tmp_path, strict=True)


def test_datalist_json_source(data_root, tmp_path):
    files = [data_root / "cxr" / n for n in ("mhh_2168a917.png", "mhh_53c9be49.png", "nih_00000075_000.png")]
    dl = tmp_path / "dl.json"
    split_files(files, (0.34, 0.33, 0.33), out_json=dl)
    val = load_datalist(dl, "validation")
    dset = build_sr_dataset(dl, section="validation", pre_transform=ScaleToUnitRanged("image"))
    assert len(dset) == 1 and dset[0]["image"].meta["filename_or_obj"] == val[0]["image"]
    assert 0.0 <= float(dset[0]["image"].min()) and float(dset[0]["image"].max()) <= 1.0
    # relative paths resolve against the JSON's folder
    shutil.copy(files[0], tmp_path / "a.png")
    (tmp_path / "rel.json").write_text(json.dumps({"training": [{"image": "a.png"}], "test": ["a.png"]}))
    assert build_sr_dataset(tmp_path / "rel.json")[0]["image"].shape == (1, 549, 640)
    assert load_datalist(tmp_path / "rel.json", "test") == [{"image": str(tmp_path / "a.png")}]
    with pytest.raises(ConfigError, match="no section"):
        build_sr_dataset(tmp_path / "rel.json", section="validation")


def test_big_fundus_decoded_once_for_many_patches(data_root):
    loader = CountingLoader()
    patch = Compose([RandSpatialCropd("image", roi_size=(128, 128), random_size=False), _to_pair])
    files = [data_root / "retina" / "hrf_10_h.jpg"]  # 3504 x 2336
    dset = build_sr_dataset(files, patch, num_samples=8, loader=loader, pre_transform=ScaleToUnitRanged("image"))
    assert loader.calls == 1 and len(dset) == 8
    loader_dl = DataLoader(dset, batch_size=4, shuffle=True, num_workers=0)
    seen = []
    for _epoch in range(2):
        for batch in loader_dl:
            assert batch["hr"].shape == (4, 3, 128, 128) and batch["lr"].shape == (4, 3, 32, 32)
            seen.append(batch["hr"])
    assert loader.calls == 1  # 16 patches, one decode
    hr = torch.cat(seen)
    assert len({tuple(p.flatten()[:64].tolist()) for p in hr}) > 12  # different random boxes
    cached = dset.images[0]["image"]
    assert cached.shape == (3, 2336, 3504) and float(cached.max()) <= 1.0  # the cache is untouched by the patches


def test_seeded_sampling_is_reproducible(data_root):
    patch = Compose([RandSpatialCropd("image", roi_size=(64, 64), random_size=False)])
    dset = build_sr_dataset([data_root / "cxr" / "mhh_2168a917.png"], patch, num_samples=4)

    def draw(seed):
        dset.set_random_state(seed)
        return torch.stack([dset[i]["image"].as_tensor() for i in range(4)])

    a, b, c = draw(0), draw(0), draw(1)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_uncached_mode_groups_samples_per_decode(data_root):
    loader = CountingLoader()
    patch = RandSpatialCropd("image", roi_size=(32, 32), random_size=False)
    files = [data_root / "cxr" / n for n in ("mhh_2168a917.png", "mhh_53c9be49.png")]
    dset = build_sr_dataset(files, patch, num_samples=3, cache="none", loader=loader)
    assert loader.calls == 0 and len(dset) == 2
    item = dset[1]
    assert isinstance(item, list) and len(item) == 3 and loader.calls == 1
    batch = next(iter(DataLoader(dset, batch_size=2)))
    assert batch["image"].shape == (6, 1, 32, 32) and loader.calls == 3
    with pytest.raises(ConfigError, match="cache"):
        build_sr_dataset(files, cache="disk")


def test_dicom_series_item_and_errors(data_root, tmp_path):
    dcm = data_root / "dicom"
    items = find_inputs(dcm / "dcmqi_701-ADCb500") + find_inputs(dcm / "dcmqi_ct-3slice")
    dset = build_sr_dataset(items)
    assert len(dset) == 2 and dset[0]["image"].shape == (1, 256, 256, 20)
    assert len(dset.images[0]["image"].meta["srgan_source_files"]) == 20  # the cache keeps the slice list
    # 3D patches of a 20-slice MR and a 3-slice CT collate into one batch
    crop = RandSpatialCropd("image", roi_size=(32, 32, 3), random_size=False)
    vols = build_sr_dataset(items, crop, pre_transform=ScaleToUnitRanged("image"), num_samples=2)
    batch = next(iter(DataLoader(vols, batch_size=4)))
    assert batch["image"].shape == (4, 1, 32, 32, 3)
    with pytest.raises(InputFileError, match="neither a folder"):
        build_sr_dataset(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ConfigError, match="no usable input"):
        build_sr_dataset(tmp_path)
    with pytest.raises(ConfigError, match="num_samples"):
        SRPatchDataset([{"image": 1}], num_samples=0)


def test_2d_dataset_skips_volumes_by_name_before_decoding(tmp_path, data_root):
    """Training a 2D bundle on a folder that also holds a CT series: the series is skipped, named, not loaded."""
    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", tmp_path / "chest.png")
    shutil.copytree(data_root / "dicom" / "dcmqi_ct-3slice", tmp_path / "ct_series")
    with pytest.warns(UserWarning, match="ct_series"):
        ds = build_sr_dataset(tmp_path, keys=["hr"], spatial_dims=2, cache="none")
    assert len(ds.images) == 1
    assert any("ct_series" in p and "volume (3 slices" in r for p, r in ds.bad_files)
    with pytest.raises(InputFileError, match="2D model"):
        build_sr_dataset(tmp_path, keys=["hr"], spatial_dims=2, cache="none", strict=True)


def test_training_pairs_without_meta_are_identical_and_errors_still_name_the_file(tmp_path, data_root):
    from monai_srgan.transforms import BicubicDownsampled, RandHRPatchd, RandPairedFlipRotated, ScaleToUnitRanged

    shutil.copy(data_root / "cxr" / "mhh_2168a917.png", tmp_path / "chest.png")

    def build(track_meta: bool, patch: int = 96):
        chain = [RandHRPatchd("hr", patch), BicubicDownsampled("hr", lr_key="lr", scale=4), RandPairedFlipRotated()]
        ds = build_sr_dataset(tmp_path, chain, keys=["hr"], pre_transform=[ScaleToUnitRanged("hr")], num_samples=4,
                              track_meta=track_meta)  # fmt: skip
        return ds.set_random_state(0)

    with_meta, plain = build(True), build(False)
    for i in range(4):
        a, b = with_meta[i], plain[i]
        assert type(b["hr"]) is torch.Tensor and type(a["hr"]).__name__ == "MetaTensor"
        for k in ("lr", "hr"):
            torch.testing.assert_close(b[k], a[k].as_tensor(), atol=0, rtol=0)
    with pytest.raises(Exception) as err:  # noqa: PT011 - MONAI wraps the transform's own error
        build(False, patch=5000)[0]
    assert "chest.png" in str(err.value) + str(err.value.__cause__)
