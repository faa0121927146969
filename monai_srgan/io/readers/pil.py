"""Pillow reader: PNG / JPEG / TIFF / BMP / Netpbm (also gzip-compressed ``.ppm.gz``), values as stored.

8- and 16-bit, ``L``/``LA``/``RGB``/``RGBA``/palette (alpha is dropped and ``srgan_alpha_dropped`` set; palette
images become ``RGB``, or ``L`` when the palette is grey); 16-bit RGB TIFF goes to the ITK reader. JPEG EXIF
orientation is not applied (pixels as stored).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from monai_srgan.errors import InputFileError
from monai_srgan.io.files import IMAGE_EXTENSIONS, RECOPY_HINT, check_file
from monai_srgan.io.readers.base import SingleFileReader
from monai_srgan.io.readers.dicom_decode import MIN_IMAGE_SIZE

__all__ = ["PillowImageReader", "open_pil", "load_pil", "int_range_meta"]

_FORMAT_NAMES = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff"}


def open_pil(path: str):
    """``PIL.Image.open``, also for gzip-compressed Netpbm (``.ppm.gz``: STARE's lossless distribution format).

    Args:
        path: the file.
    """
    if os.fspath(path).lower().endswith(".gz"):
        import gzip
        import io as _io

        with gzip.open(path, "rb") as f:
            return Image.open(_io.BytesIO(f.read()))
    return Image.open(path)


def _tiff_bits(im) -> int:
    try:
        bps = im.tag_v2.get(258, 8)
        return int(max(bps) if isinstance(bps, (tuple, list)) else bps)
    except Exception:  # noqa: BLE001
        return 8


def _normalize_mode(im, mode: str):
    """Palette, 1-bit and non-RGB colour modes to ``L``/``RGB``/``RGBA``; returns ``(image, alpha_dropped)``."""
    alpha_dropped = False
    if mode == "P":
        has_alpha = "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        rgb = np.asarray(im)[..., :3]
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            im = Image.fromarray(np.ascontiguousarray(rgb[..., 0]))
            alpha_dropped = has_alpha
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    return im, alpha_dropped


def load_pil(path: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read one 2D image file: ``(values (C, H, W), affine, srgan_* meta)``.

    Args:
        path: the file.

    Raises:
        InputFileError: missing/empty/corrupt/truncated file, an image smaller than 2x2, NaN/Inf in float images.
    """
    check_file(path)
    try:
        im = open_pil(path)
    except (UnidentifiedImageError, OSError, EOFError) as e:
        raise InputFileError(
            path, f"not a readable image ({e})", f"the file is corrupt or not an image: {RECOPY_HINT}"
        ) from e
    with im:
        fmt = _FORMAT_NAMES.get(str(im.format), str(im.format).lower())
        mode = im.mode
        if getattr(im, "n_frames", 1) > 1:
            warnings.warn(f"{path}: {im.n_frames} frames/pages, only the first is loaded", stacklevel=3)
        if fmt == "tiff" and mode in ("RGB", "RGBA", "RGBX") and _tiff_bits(im) > 8:
            from monai_srgan.io.readers.itk import load_itk_color_tiff

            im.close()
            return load_itk_color_tiff(path, fmt)
        try:
            im.load()
        except Exception as e:  # noqa: BLE001 - truncated/corrupt data
            raise InputFileError(
                path, f"image data cannot be decoded ({e})", f"the file is truncated or corrupt: {RECOPY_HINT}"
            ) from e
        im, alpha_dropped = _normalize_mode(im, mode)
        arr = np.asarray(im)
    if arr.ndim == 3 and arr.shape[-1] in (2, 4):  # LA / RGBA: drop alpha
        arr = arr[..., :-1]
        alpha_dropped = True
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype == np.int32 and fmt == "png" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)  # 16-bit PNG opened as "I" by older Pillow
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8) * 255
    meta = int_range_meta(arr, path)
    meta.update(srgan_photometric=mode, srgan_alpha_dropped=alpha_dropped, srgan_format=fmt)
    vals = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    return vals, np.eye(4), meta


def int_range_meta(arr: np.ndarray, path: str) -> dict[str, Any]:
    """The ``srgan_*`` meta of a 2D array read as stored: dtype, bits, representable range, unit spacing.

    Integer images of up to 16 bits get their dtype's range; 32-bit integer and float images their data range.

    Args:
        arr: ``(H, W)`` or ``(H, W, C)`` values.
        path: the file, for messages and ``srgan_source_files``.

    Raises:
        InputFileError: smaller than 2x2, or NaN/Inf in a float image.
    """
    if min(arr.shape[:2]) < MIN_IMAGE_SIZE:
        raise InputFileError(
            path,
            f"image is too small to super-resolve: {arr.shape[0]}x{arr.shape[1]} pixels; "
            f"at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} is needed",
            "remove it from the input",
        )
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        if arr.dtype.itemsize <= 2:
            lo, hi = float(info.min), float(info.max)
        else:  # 32-bit integer images: the representable range is meaningless, use the data range
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    else:
        if not np.all(np.isfinite(arr)):
            raise InputFileError(path, "image contains NaN or Inf values", "fix or remove the file")
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    return {
        "srgan_dtype": str(arr.dtype),
        "srgan_bits": int(arr.dtype.itemsize * 8),
        "srgan_value_min": lo,
        "srgan_value_max": hi,
        "srgan_inverted": False,
        "srgan_rescale_slope": 1.0,
        "srgan_rescale_intercept": 0.0,
        "srgan_source_files": [path],
        "srgan_spacing": [1.0] * 2,
    }


class PillowImageReader(SingleFileReader):
    """MONAI ``ImageReader`` for PNG/JPEG/TIFF/BMP/Netpbm through Pillow (16-bit colour TIFF through ITK).

    Args:
        check_finite: see :class:`~monai_srgan.io.readers.base.SingleFileReader`.
    """

    suffixes = IMAGE_EXTENSIONS
    load = staticmethod(load_pil)
