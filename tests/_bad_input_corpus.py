"""The bad-input corpus: inputs a hostile or unlucky user feeds ``monai-srgan infer``, generated at test time.

Each :class:`Case` writes one input (a file, a folder or a link) into the corpus folder from the shared data or
pydicom's bundled test files (no binaries are committed) and states what the run must report for it: the status and
words of the message. ``tests/test_bad_input_corpus.py`` runs the whole corpus through one CLI run and checks every
row, that the good inputs still completed, that the input folder is unchanged and that no partial file remains.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

#: words one of which a failure message must contain: what the user can do about it
HINT_WORDS = (
    "use ",
    "install",
    "convert",
    "choose",
    "check",
    "fix",
    "crop",
    "split",
    "remove",
    "decompress",
    "re-export",
    "export",
    "rerun",
    "provide",
    "re-save",
    "resave",
    "repair",
    "mask",
)


@dataclass(frozen=True)
class Case:
    """One corpus entry.

    Args:
        name: the file or folder name written into the corpus (the report's ``input`` ends with it).
        build: writes the input; called with ``(corpus folder, shared data folder)``.
        status: ``ok``, ``failed`` or ``skipped``.
        words: all of these must appear (lower case) in the report's message: its error, or for ``ok`` its warnings.
    """

    name: str
    build: Callable[[Path, Path], None]
    status: str
    words: tuple[str, ...] = ()


def _testfile(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    if path is None:
        raise FileNotFoundError(f"pydicom's bundled test file {name} is missing")
    return Path(path)


def _cr(data: Path) -> pydicom.Dataset:
    """A small real CR image (16×16, MONOCHROME1, uncompressed) with fresh UIDs."""
    ds = pydicom.dcmread(data / "dicom" / "pydicom_CR1_6154.dcm")
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _ct(n: int = 48) -> pydicom.Dataset:
    """pydicom's CT_small cropped to n×n, fresh UIDs."""
    ds = pydicom.dcmread(_testfile("CT_small.dcm"))
    ds.PixelData = np.ascontiguousarray(ds.pixel_array[:n, :n]).tobytes()
    ds.Rows = ds.Columns = n
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _save(ds: pydicom.Dataset, path: Path) -> None:
    ds.save_as(path, enforce_file_format=True)


def _copy_test(name: str, target: str) -> Callable[[Path, Path], None]:
    """pydicom's test file as it is encoded (big endian, RLE, ...) but with its own UIDs: several of pydicom's files
    share a SeriesInstanceUID and a SOPInstanceUID, which would make them one (duplicated) series here."""

    def build(root: Path, data: Path) -> None:
        ds = pydicom.dcmread(_testfile(name))
        if "PixelData" not in ds:
            shutil.copy(_testfile(name), root / target)
            return
        syntax = ds.file_meta.TransferSyntaxUID
        ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(root / target)
        assert pydicom.dcmread(root / target).file_meta.TransferSyntaxUID == syntax

    return build


def _edit_ct(edit: Callable[[pydicom.Dataset], None], target: str) -> Callable[[Path, Path], None]:
    def build(root: Path, data: Path) -> None:
        ds = _ct()
        edit(ds)
        _save(ds, root / target)

    return build


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _bomb_png(root: Path, data: Path) -> None:
    """A 30000×30000 PNG header (Pillow's decompression-bomb guard) with a few compressed rows: 1 KB on disk."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * 30001 * 4)
    blob = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")
    (root / "bomb_30000px.png").write_bytes(blob)


def _int32_ct(ds: pydicom.Dataset) -> None:
    arr = ds.pixel_array.astype(np.int32)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 32, 32, 31, 1
    ds.PixelData = arr.tobytes()


def _mpeg2(ds: pydicom.Dataset) -> None:
    ds.PixelData = encapsulate([b"\0\0\1\xb3" + b"\0" * 64])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"


def _unknown_syntax(ds: pydicom.Dataset) -> None:
    ds.PixelData = encapsulate([b"\0" * 64])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7.8.9"


def _rows_zero(ds: pydicom.Dataset) -> None:
    ds.Rows = 0
    ds.PixelData = b""


def _no_photometric(ds: pydicom.Dataset) -> None:
    del ds.PhotometricInterpretation


def _spacing_text(root: Path, data: Path) -> None:
    """PixelSpacing ``abc\\def``: written as a valid value, then patched in the bytes (pydicom refuses to write it)."""
    ds = _ct()
    ds.PixelSpacing = ["9.9", "9.9"]
    _save(ds, root / "spacing_text.dcm")
    raw = (root / "spacing_text.dcm").read_bytes()
    (root / "spacing_text.dcm").write_bytes(raw.replace(b"9.9\\9.9", b"abc\\def", 1))


def _spacing_zero(ds: pydicom.Dataset) -> None:
    ds.PixelSpacing = [0, 0]


def _no_study(ds: pydicom.Dataset) -> None:
    del ds.StudyInstanceUID


def _one_pixel(ds: pydicom.Dataset) -> None:
    ds.PixelData = np.ascontiguousarray(ds.pixel_array[:1, :1]).tobytes()
    ds.Rows = ds.Columns = 1


def _short_pixels(ds: pydicom.Dataset) -> None:
    ds.Rows = ds.Columns = 4000


def _bits_stored_too_large(ds: pydicom.Dataset) -> None:
    ds.BitsStored, ds.HighBit = 20, 19


def _series(edit: Callable[[list[pydicom.Dataset]], None], target: str) -> Callable[[Path, Path], None]:
    """A 3-slice real CT series (dcmqi) with an edit applied to its datasets."""

    def build(root: Path, data: Path) -> None:
        folder = root / target
        folder.mkdir()
        dss = [pydicom.dcmread(f) for f in sorted((data / "dicom" / "dcmqi_ct-3slice").glob("*.dcm"))]
        uid = generate_uid()
        for ds in dss:
            ds.SeriesInstanceUID = uid
            ds.PixelData = np.ascontiguousarray(ds.pixel_array[:32, :32]).tobytes()
            ds.Rows = ds.Columns = 32
        edit(dss)
        for i, ds in enumerate(dss):
            _save(ds, folder / f"slice{i}.dcm")

    return build


def _mixed_sizes(dss: list[pydicom.Dataset]) -> None:
    ds = dss[2]
    ds.PixelData = np.ascontiguousarray(ds.pixel_array[:16, :16]).tobytes()
    ds.Rows = ds.Columns = 16


def _duplicate_sop(dss: list[pydicom.Dataset]) -> None:
    dss[1].SOPInstanceUID = dss[0].SOPInstanceUID


def _split_slice(dss: list[pydicom.Dataset]) -> None:
    del dss[2].ImagePositionPatient


def _identical_copy(root: Path, data: Path) -> None:
    folder = root / "identical_copy"
    _series(lambda dss: None, "identical_copy")(root, data)
    shutil.copy(folder / "slice0.dcm", folder / "slice0_copy.dcm")


def _nifti(arr: np.ndarray, target: str) -> Callable[[Path, Path], None]:
    return lambda root, data: nib.save(nib.Nifti1Image(arr, np.eye(4)), str(root / target))


def _nan_volume() -> np.ndarray:
    vol = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    vol[2, 3, 1] = np.nan
    return vol


def _inf_image() -> np.ndarray:
    img = np.random.default_rng(1).random((16, 16), dtype=np.float32)
    img[4, 4] = np.inf
    return img


def _chest_png(root: Path, data: Path, target: str, size: int = 40) -> None:
    img = Image.open(data / "cxr" / "mhh_2168a917.png")
    img.crop((800, 800, 800 + size, 800 + size)).save(root / target)


def _bytes(target: str, make: Callable[[Path], bytes]) -> Callable[[Path, Path], None]:
    return lambda root, data: (root / target).write_bytes(make(data))


def _truncated(path_of: Callable[[Path], Path], frac: float = 0.5) -> Callable[[Path], bytes]:
    def make(data: Path) -> bytes:
        raw = path_of(data).read_bytes()
        return raw[: int(len(raw) * frac)]

    return make


def _dicomdir(root: Path, data: Path) -> None:
    src = Path(get_testdata_file("DICOMDIR", download=False))
    shutil.copy(src, root / "DICOMDIR")


def _no_pixels_sr(root: Path, data: Path) -> None:
    ds = _cr(data)
    for kw in ("PixelData", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation"):
        delattr(ds, kw)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.Modality = "SR"
    _save(ds, root / "report_sr.dcm")


def _header_only(root: Path, data: Path) -> None:
    ds = _cr(data)
    del ds.PixelData
    _save(ds, root / "header_only.dcm")


def _links(root: Path, data: Path) -> None:
    loop = root / "link_loop"
    loop.mkdir()
    os.symlink("..", loop / "up")  # a folder link back up the tree
    os.symlink(root / "no_such_file.png", root / "dangling_link.png")


def _unicode_name(root: Path, data: Path) -> None:
    _chest_png(root, data, "résumé_胸部.png")


def _spaces_name(root: Path, data: Path) -> None:
    _chest_png(root, data, "chest $(rm -rf) ; 'x'.png")


def _rgba_chest(root: Path, data: Path) -> None:
    img = Image.open(data / "cxr" / "nih_00000100_000.png").crop((300, 300, 340, 340))
    img.save(root / "rgba_chest.png")


def _colour_fundus(root: Path, data: Path) -> None:
    Image.open(data / "retina" / "hrf_01_h.jpg").crop((900, 600, 940, 640)).save(root / "colour_fundus.png")


def _png16(root: Path, data: Path) -> None:
    arr = (np.random.default_rng(2).random((24, 24)) * 65535).astype(np.uint16)
    Image.fromarray(arr).save(root / "grey16.png")


def _palette_png(root: Path, data: Path) -> None:
    img = Image.open(data / "cxr" / "mhh_2168a917.png").convert("L").crop((800, 800, 832, 832))
    img.convert("P").save(root / "palette.png")


def _dicom_named_png(root: Path, data: Path) -> None:
    _save(_ct(24), root / "actually_dicom.png")


def _dicom_no_extension(root: Path, data: Path) -> None:
    _save(_ct(24), root / "IM000001")


def _jpeg_grey(root: Path, data: Path) -> None:
    shutil.copy(data / "cxr" / "covidcxr_00870a9c.jpg", root / "covid.jpg")
    Image.open(root / "covid.jpg").convert("L").crop((100, 100, 148, 148)).save(root / "covid_crop.jpg")
    (root / "covid.jpg").unlink()


def _nifti_gz_garbage(data: Path) -> bytes:
    return gzip.compress(b"not a nifti header" * 20)


GOOD = ("good_ct.dcm", "good_chest.png", "good_cr.dcm")

CASES: list[Case] = [
    # ------------------------------------------------------------------ controls: the batch must still complete these
    Case("good_ct.dcm", lambda r, d: _save(_ct(), r / "good_ct.dcm"), "ok"),
    Case("good_chest.png", lambda r, d: _chest_png(r, d, "good_chest.png"), "ok"),
    Case("good_cr.dcm", lambda r, d: _save(_cr(d), r / "good_cr.dcm"), "ok"),
    # ------------------------------------------------------------------ DICOM pixel semantics once corrupted or refused
    Case("ct_int32.dcm", _edit_ct(_int32_ct, "ct_int32.dcm"), "ok"),
    Case("rtdose_1frame.dcm", _copy_test("rtdose_1frame.dcm", "rtdose_1frame.dcm"), "ok"),
    Case("rtdose_rle_1frame.dcm", _copy_test("rtdose_rle_1frame.dcm", "rtdose_rle_1frame.dcm"), "ok"),
    Case("MR_small_bigendian.dcm", _copy_test("MR_small_bigendian.dcm", "MR_small_bigendian.dcm"), "ok"),
    Case("MR_small_expb.dcm", _copy_test("MR_small_expb.dcm", "MR_small_expb.dcm"), "ok"),
    Case("MR_small_implicit.dcm", _copy_test("MR_small_implicit.dcm", "MR_small_implicit.dcm"), "ok"),
    Case("MR_small_RLE.dcm", _copy_test("MR_small_RLE.dcm", "MR_small_RLE.dcm"), "ok"),
    Case("MR_small_padded.dcm", _copy_test("MR_small_padded.dcm", "MR_small_padded.dcm"), "ok"),
    Case("spacing_zero.dcm", _edit_ct(_spacing_zero, "spacing_zero.dcm"), "ok", ("pixelspacing",)),
    Case("no_study_uid.dcm", _edit_ct(_no_study, "no_study_uid.dcm"), "ok", ("studyinstanceuid",)),
    Case("actually_dicom.png", _dicom_named_png, "ok"),
    Case("IM000001", _dicom_no_extension, "ok"),
    # ------------------------------------------------------------------ broken or unusable DICOM
    Case("corrupt.dcm", _bytes("corrupt.dcm", lambda d: b"\0" * 128 + b"DICM" + bytes(range(256)) * 4), "failed"),
    Case(
        "truncated_j2k.dcm",
        _bytes("truncated_j2k.dcm", _truncated(lambda d: d / "dicom" / "wg04_RG3_J2KR.dcm")),
        "failed",
        ("corrupt",),
    ),
    Case("MR_truncated.dcm", _copy_test("MR_truncated.dcm", "MR_truncated.dcm"), "failed"),
    Case("empty.dcm", _bytes("empty.dcm", lambda d: b""), "failed", ("empty",)),
    Case("mpeg2.dcm", _edit_ct(_mpeg2, "mpeg2.dcm"), "failed", ("1.2.840.10008.1.2.4.100",)),
    Case("unknown_syntax.dcm", _edit_ct(_unknown_syntax, "unknown_syntax.dcm"), "failed", ("1.2.3.4.5.6.7.8.9",)),
    Case("rows_zero.dcm", _edit_ct(_rows_zero, "rows_zero.dcm"), "failed", ("rows",)),
    Case(
        "no_photometric.dcm", _edit_ct(_no_photometric, "no_photometric.dcm"), "failed", ("photometricinterpretation",)
    ),
    Case("spacing_text.dcm", _spacing_text, "ok", ("pixelspacing", "abc")),
    Case("one_pixel.dcm", _edit_ct(_one_pixel, "one_pixel.dcm"), "failed", ("small",)),
    Case("short_pixels.dcm", _edit_ct(_short_pixels, "short_pixels.dcm"), "failed"),
    Case("bits_stored_20.dcm", _edit_ct(_bits_stored_too_large, "bits_stored_20.dcm"), "failed", ("bits stored",)),
    Case("header_only.dcm", _header_only, "failed", ("pixel data",)),
    Case("report_sr.dcm", _no_pixels_sr, "skipped", ("without pixel data",)),
    Case("DICOMDIR", _dicomdir, "skipped", ("dicomdir",)),
    Case("rtplan.dcm", _copy_test("rtplan.dcm", "rtplan.dcm"), "skipped", ("without pixel data",)),
    Case("mixed_sizes", _series(_mixed_sizes, "mixed_sizes"), "failed", ("mixed image sizes",)),
    Case("duplicate_sop", _series(_duplicate_sop, "duplicate_sop"), "failed", ("sopinstanceuid",)),
    Case("split_slice", _series(_split_slice, "split_slice"), "ok", ("imagepositionpatient",)),
    Case("identical_copy", _identical_copy, "ok", ("duplicate",)),
    # ------------------------------------------------------------------ multi-frame and colour DICOM (1-channel model)
    Case("rtdose_multiframe.dcm", _copy_test("rtdose.dcm", "rtdose_multiframe.dcm"), "ok"),
    Case("rgb_odd.dcm", _copy_test("SC_rgb_small_odd.dcm", "rgb_odd.dcm"), "failed", ("channel", "retina_sr")),
    Case("ybr.dcm", _copy_test("examples_ybr_color.dcm", "ybr.dcm"), "failed", ("channel",)),
    Case("palette.dcm", _copy_test("examples_palette.dcm", "palette.dcm"), "failed", ("channel",)),
    # ------------------------------------------------------------------ broken or unusable image files
    Case("bomb_30000px.png", _bomb_png, "failed", ("too large",)),
    Case("empty.png", _bytes("empty.png", lambda d: b""), "failed"),
    Case("truncated.png", _bytes("truncated.png", _truncated(lambda d: d / "cxr" / "mhh_2168a917.png", 0.3)), "failed"),
    Case("garbage.png", _bytes("garbage.png", lambda d: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8), "failed"),
    Case(
        "truncated.jpg",
        _bytes("truncated.jpg", _truncated(lambda d: d / "cxr" / "covidcxr_00870a9c.jpg", 0.05)),
        "failed",
    ),
    Case("garbage.tif", _bytes("garbage.tif", lambda d: b"II*\0" + bytes(range(256)) * 4), "failed"),
    Case("notes.txt", _bytes("notes.txt", lambda d: b"radiology notes\n"), "skipped", ("not an image",)),
    Case("rgba_chest.png", _rgba_chest, "ok", ("grey image stored as",)),
    Case("colour_fundus.png", _colour_fundus, "failed", ("channel",)),
    Case("grey16.png", _png16, "ok"),
    Case("palette.png", _palette_png, "ok"),
    Case("covid_crop.jpg", _jpeg_grey, "ok"),
    Case("résumé_胸部.png", _unicode_name, "ok"),
    Case("chest $(rm -rf) ; 'x'.png", _spaces_name, "ok"),
    # ------------------------------------------------------------------ NIfTI
    Case("nan_volume.nii.gz", _nifti(_nan_volume(), "nan_volume.nii.gz"), "failed", ("nan",)),
    Case("inf_image.nii.gz", _nifti(_inf_image(), "inf_image.nii.gz"), "failed", ("inf",)),
    Case("constant.nii.gz", _nifti(np.full((16, 16), 7.0, np.float32), "constant.nii.gz"), "ok"),
    Case("time_series.nii.gz", _nifti(np.zeros((8, 8, 4, 3), np.float32), "time_series.nii.gz"), "failed", ("4d",)),
    Case("garbage.nii.gz", _bytes("garbage.nii.gz", _nifti_gz_garbage), "failed"),
    # ------------------------------------------------------------------ links
    Case("dangling_link.png", _links, "skipped", ("link",)),
    Case("up", lambda r, d: None, "skipped", ("link",)),  # link_loop/up -> .. (written by _links)
]
