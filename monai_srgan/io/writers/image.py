"""PNG, JPEG and TIFF writers: 8- or 16-bit as the input, 1 or 3 channels, written atomically.

PNG and TIFF are lossless at every ``compress_level`` (zlib 0–9); the default 1 encodes an 8000² grey PNG about 4×
faster than zlib's default 6 for files about a third larger. PNG goes through the multi-threaded
:func:`~monai_srgan.io.writers.png.encode_png` (8/16-bit, grey or RGB), JPEG through Pillow, TIFF through ``tifffile``
when it is installed (Pillow's TIFF encoder has no compression level), else Pillow.

The source's ICC profile (``srgan_icc_profile``, kept by the Pillow reader) is embedded in PNG/JPEG/TIFF outputs when
its colour space fits the output (an RGB profile on a grey output would be wrong: dropped with a warning). No EXIF
orientation is written: the reader applied it to the pixels.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import torch
from PIL import Image

from monai_srgan.errors import ConfigError
from monai_srgan.io.writers.common import atomic_write_file, to_numpy
from monai_srgan.io.writers.png import encode_png

__all__ = [
    "write_png",
    "write_jpeg",
    "write_tiff",
    "to_display_integers",
    "icc_profile_for",
    "DEFAULT_COMPRESS_LEVEL",
]

logger = logging.getLogger(__name__)

#: zlib level of PNG/TIFF outputs (lossless at every level; 1 is fast)
DEFAULT_COMPRESS_LEVEL = 1
_ICC_SPACES = {1: b"GRAY", 3: b"RGB "}


def icc_profile_for(meta: Mapping[str, Any], channels: int, path: Any = None) -> bytes | None:
    """The source's ICC profile (``meta["srgan_icc_profile"]``, base64) when its colour space fits the output.

    Args:
        meta: the image's meta.
        channels: channels of the output (1 grey, 3 RGB).
        path: the output, for the warning when the profile does not fit (e.g. an RGB profile on a grey output).
    """
    text = meta.get("srgan_icc_profile")
    if not text:
        return None
    try:
        icc = base64.b64decode(str(text), validate=True)
    except ValueError:
        return None
    space = icc[16:20] if len(icc) >= 128 else b""
    if space == _ICC_SPACES.get(int(channels)):
        return icc
    logger.warning(
        "%s: the source's ICC profile (colour space %r) does not fit a %d-channel output: not embedded",
        path,
        space.decode("latin-1").strip(),
        channels,
    )
    return None


def to_display_integers(image: np.ndarray, meta: Mapping[str, Any], max_bits: int = 16) -> np.ndarray:
    """Integers for an integer image format, keeping the source's bit depth.

    Values that already fit the source's integer dtype (``srgan_dtype`` uint8/uint16, the usual case for PNG/TIFF/JPEG
    and unsigned DICOM without rescale) are written as they are. Anything else (float, signed, HU) is mapped linearly
    from ``[srgan_value_min, srgan_value_max]`` onto the full unsigned range of ``max_bits``.
    """
    arr = np.asarray(image)
    src = str(meta.get("srgan_dtype", ""))
    lo, hi = meta.get("srgan_value_min"), meta.get("srgan_value_max")
    for dt in (np.uint8, np.uint16):
        if src == np.dtype(dt).name and dt().itemsize * 8 <= max_bits:
            info = np.iinfo(dt)
            if lo is None or hi is None or (info.min <= float(lo) and float(hi) <= info.max):
                if arr.dtype == dt:
                    return arr
                return np.clip(np.rint(arr), info.min, info.max).astype(dt)
    if lo is None or hi is None or float(hi) <= float(lo):
        lo, hi = float(np.min(arr)), float(np.max(arr))
    top = 255 if max_bits == 8 else 65535
    out = (arr.astype(np.float32) - float(lo)) * (top / max(float(hi) - float(lo), 1e-12))
    return np.clip(np.rint(out), 0, top).astype(np.uint8 if top == 255 else np.uint16)


def _to_pil(arr: np.ndarray, path: Any, allow_16bit_rgb: bool = False):
    if arr.ndim != 3 or arr.shape[0] not in (1, 3):
        raise ConfigError(
            f"{path}: image writers take (C, H, W) with 1 or 3 channels, got {tuple(arr.shape)}; "
            "use --format nifti for volumes"
        )
    if arr.shape[0] == 1:
        a = np.ascontiguousarray(arr[0])
        if a.dtype == np.uint16:
            return Image.fromarray(a, mode="I;16") if _needs_mode() else Image.fromarray(a)
        if a.dtype == np.float32:
            return Image.fromarray(a, mode="F") if _needs_mode() else Image.fromarray(a)
        return Image.fromarray(a)
    if arr.dtype != np.uint8:
        raise ConfigError(f"{path}: Pillow cannot write {arr.dtype} RGB; use --format tiff or nifti")
    return Image.fromarray(np.ascontiguousarray(np.moveaxis(arr, 0, -1)))


def _needs_mode() -> bool:
    return int(PIL.__version__.split(".")[0]) < 10


def _level(compress_level: int) -> int:
    level = int(compress_level)
    if not 0 <= level <= 9:
        raise ConfigError(f"compress_level={compress_level}: choose 0 (none) to 9 (smallest, slowest)")
    return level


def write_png(
    image: np.ndarray | torch.Tensor,
    meta: Mapping[str, Any],
    path: str | os.PathLike,
    compress_level: int = DEFAULT_COMPRESS_LEVEL,
    **_: Any,
) -> Path:
    """Write a PNG: 8-bit for 8-bit sources, 16-bit for deeper ones; grey or RGB; the source's ICC profile kept.

    Args:
        image: ``(C, H, W)`` values in the source's value domain.
        meta: the image's meta (``srgan_dtype``, ``srgan_value_min``/``srgan_value_max``).
        path: the file to create (atomically; never overwritten).
        compress_level: zlib level 0–9 (lossless at every level); default 1, fast.
    """
    level = _level(compress_level)
    arr = to_display_integers(to_numpy(image), meta, 16)
    icc = icc_profile_for(meta, arr.shape[0] if arr.ndim == 3 else 0, path)
    if arr.ndim != 3 or arr.shape[0] not in (1, 3) or arr.dtype not in (np.uint8, np.uint16):
        _to_pil(arr, path)  # raises the writers' shape error
    return atomic_write_file(path, lambda tmp: encode_png(arr, tmp, level, icc, threads=torch.get_num_threads()))


def write_jpeg(
    image: np.ndarray | torch.Tensor, meta: Mapping[str, Any], path: str | os.PathLike, quality: int = 95, **_: Any
) -> Path:
    """Write an 8-bit JPEG (quality 95 by default); deeper sources are mapped to 8 bits over their value range."""
    arr = to_display_integers(to_numpy(image), meta, 8)
    im = _to_pil(arr, path)
    icc = icc_profile_for(meta, arr.shape[0], path)
    extra = {"icc_profile": icc} if icc else {}
    return atomic_write_file(path, lambda tmp: im.save(tmp, format="JPEG", quality=int(quality), **extra))


def write_tiff(
    image: np.ndarray | torch.Tensor,
    meta: Mapping[str, Any],
    path: str | os.PathLike,
    compress_level: int = DEFAULT_COMPRESS_LEVEL,
    **_: Any,
) -> Path:
    """Write a deflate-compressed TIFF: 8/16-bit integers as the source, 32-bit float for float value domains (1 ch).

    Args:
        image: ``(C, H, W)`` values in the source's value domain.
        meta: the image's meta (``srgan_dtype``, ``srgan_value_min``/``srgan_value_max``).
        path: the file to create (atomically; never overwritten).
        compress_level: zlib level 0–9 (lossless at every level; used with ``tifffile``); default 1, fast.
    """
    level = _level(compress_level)
    arr = to_numpy(image)
    if arr.dtype.kind == "f" and arr.shape[0] == 1:
        arr = arr.astype(np.float32, copy=False)
    else:
        arr = to_display_integers(arr, meta, 16)
    try:
        import tifffile
    except ImportError:
        tifffile = None
    if tifffile is not None:
        if arr.ndim != 3 or arr.shape[0] not in (1, 3):
            _to_pil(arr, path)  # raises the writers' shape error
        data = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
        kw: dict[str, Any] = {"compression": "zlib", "compressionargs": {"level": level}} if level else {}
        icc = icc_profile_for(meta, arr.shape[0], path)
        if icc:
            kw["iccprofile"] = icc
        photometric = "minisblack" if arr.shape[0] == 1 else "rgb"
        return atomic_write_file(path, lambda tmp: tifffile.imwrite(tmp, data, photometric=photometric, **kw))
    if arr.shape[0] == 3 and arr.dtype != np.uint8:
        import itk

        def _itk(tmp: Path) -> None:
            img = itk.image_from_array(np.ascontiguousarray(np.moveaxis(arr, 0, -1)), is_vector=True)
            itk.imwrite(img, str(tmp) + ".tif")
            os.replace(str(tmp) + ".tif", tmp)

        return atomic_write_file(path, _itk)
    im = _to_pil(arr, path)
    icc = icc_profile_for(meta, arr.shape[0], path)
    extra = {"icc_profile": icc} if icc else {}
    return atomic_write_file(path, lambda tmp: im.save(tmp, format="TIFF", compression="tiff_deflate", **extra))
