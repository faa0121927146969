"""The multi-threaded PNG encoder (``io/writers/png.py``): exact pixels through Pillow, one stream from many blocks."""

from __future__ import annotations

import io
import os
import zlib

import numpy as np
import pytest
from PIL import Image

from monai_srgan.io.writers import png
from monai_srgan.io.writers.png import adler32_combine, encode_png


def _decode(path) -> tuple[np.ndarray, str]:
    with Image.open(path) as im:
        im.load()
        arr = np.asarray(im)
        return (arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)), im.mode


@pytest.mark.parametrize(
    "shape, dtype, mode",
    [
        ((1, 37, 23), np.uint8, "L"),
        ((1, 37, 23), np.uint16, "I;16"),
        ((3, 37, 23), np.uint8, "RGB"),
        ((4, 37, 23), np.uint8, "RGBA"),
        ((1, 1, 1), np.uint8, "L"),
    ],
)
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("isal", [True, False], ids=["isal", "zlib"])
def test_round_trip_is_exact_across_many_blocks(tmp_path, monkeypatch, shape, dtype, mode, threads, isal):
    monkeypatch.setattr(png, "_BLOCK_BYTES", 100)  # a block every row or two: every join is exercised
    if not isal:
        monkeypatch.setattr(png, "isal_zlib", None)
    else:
        assert png.isal_zlib is not None, "isal is a dependency (pyproject.toml): the fast deflater must be there"
    x = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    for level in (0, 1, 9):
        encode_png(x, tmp_path / "t.png", level, threads=threads)
        y, got_mode = _decode(tmp_path / "t.png")  # Pillow checks the zlib stream and its Adler-32
        assert got_mode == mode
        np.testing.assert_array_equal(y.astype(np.int64), x.astype(np.int64))


def test_a_real_radiograph_is_exact_and_no_larger_than_pillows(tmp_path, data_root):
    with Image.open(data_root / "cxr" / "covidcxr_2168a917.jpg") as im:
        grey = np.asarray(im.convert("L").resize((1600, 1600), Image.BICUBIC))
    encode_png(grey, tmp_path / "ours.png", 1, threads=2)
    ref = io.BytesIO()
    Image.fromarray(grey).save(ref, format="PNG", compress_level=1)
    np.testing.assert_array_equal(_decode(tmp_path / "ours.png")[0][0], grey)
    assert os.path.getsize(tmp_path / "ours.png") <= 1.05 * len(ref.getvalue())


def test_icc_profile_is_embedded(tmp_path):
    icc = b"\0" * 16 + b"GRAY" + b"\1" * 200
    encode_png(np.zeros((1, 4, 4), np.uint8), tmp_path / "icc.png", icc=icc)
    with Image.open(tmp_path / "icc.png") as im:
        assert im.info["icc_profile"] == icc


def test_adler32_combine_matches_zlib():
    rng = np.random.default_rng(1)
    for n1, n2 in [(0, 5), (10000, 777), (1, 200000), (70000, 0)]:
        a, b = rng.bytes(n1), rng.bytes(n2)
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), n2) == zlib.adler32(a + b)


def test_other_dtypes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="uint8/uint16"):
        encode_png(np.zeros((1, 4, 4), np.float32), tmp_path / "f.png")
