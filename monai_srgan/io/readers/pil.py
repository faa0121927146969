"""Pillow reader: PNG / JPEG / TIFF / BMP / Netpbm (also gzip-compressed ``.ppm.gz``), values as stored.

8- and 16-bit, ``L``/``LA``/``RGB``/``RGBA``/palette (alpha is dropped and ``srgan_alpha_dropped`` set; palette
images become ``RGB``, or ``L`` when the palette is grey); 16-bit colour TIFF and PNG go to the ITK reader (Pillow
would silently read them as 8-bit).

Display geometry is kept as a viewer shows it: an EXIF ``Orientation`` (JPEG, TIFF, PNG ``eXIf``) is applied to the
pixels on load (:func:`apply_exif_orientation`; the original value is kept in ``srgan_exif_orientation``) and the
writers write none, so the output looks like the input in every viewer and in every output format (NIfTI and
viewers that ignore EXIF included); the 2D affine stays the identity of the displayed grid. An embedded ICC profile
is kept in ``srgan_icc_profile`` (base64) for the writers. A multi-page TIFF or animated PNG is refused: its first
page alone would be a partial result.
"""

from __future__ import annotations

import base64
import os
import warnings
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from monai_srgan.errors import InputFileError
from monai_srgan.io.files import IMAGE_EXTENSIONS, RECOPY_HINT, check_file
from monai_srgan.io.readers.base import SingleFileReader
from monai_srgan.io.readers.dicom_decode import MIN_IMAGE_SIZE

__all__ = [
    "PillowImageReader",
    "open_pil",
    "load_pil",
    "int_range_meta",
    "apply_exif_orientation",
    "image_file_extras",
    "SPLIT_PAGES_HINT",
]

_FORMAT_NAMES = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff"}
_EXIF_ORIENTATION = 0x0112
#: what to do with a multi-page TIFF / animated PNG
SPLIT_PAGES_HINT = (
    "split it into one file per page first, e.g. 'tiffsplit FILE page_' (libtiff) or "
    "'magick FILE page_%03d.png' (ImageMagick); a stack of slices can be saved as one NIfTI volume instead"
)


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


def _full_pages(im) -> int:
    """Pages/frames of a full-resolution image (TIFF reduced-resolution pages, e.g. thumbnails, do not count)."""
    n = int(getattr(im, "n_frames", 1) or 1)
    if n <= 1 or str(im.format) != "TIFF":
        return n
    full = 0
    try:
        for i in range(n):
            im.seek(i)
            full += not (int(im.tag_v2.get(254, 0) or 0) & 1)  # NewSubfileType bit 0: reduced resolution
    finally:
        im.seek(0)
    return full


def _is_16bit_colour_png(path: str) -> bool:
    """A PNG with 16 bits per sample and colour or alpha (colour types 2, 4, 6): Pillow reads these as 8-bit."""
    with open(path, "rb") as f:
        head = f.read(26)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 4, 6)


def apply_exif_orientation(arr: np.ndarray, orientation: int | None) -> np.ndarray:
    """Pixels as a viewer shows them: apply an EXIF ``Orientation`` (1–8) to ``(H, W[, C])`` stored pixels.

    The same transposition as ``PIL.ImageOps.exif_transpose`` (2: mirror, 3: 180°, 4: flip, 5: transpose,
    6: 90° clockwise, 7: transverse, 8: 90° counter-clockwise); 1, None and unknown values leave the pixels as stored.

    Args:
        arr: the stored pixels, rows first.
        orientation: the EXIF Orientation value.
    """
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(int(orientation or 1))
    return np.ascontiguousarray(op(arr)) if op else arr


def image_file_extras(im, path: str) -> dict[str, Any]:
    """What a viewer uses besides the pixels: EXIF orientation and ICC profile, as ``srgan_*`` meta.

    Args:
        im: the opened ``PIL.Image``.
        path: the file, for the warning about an invalid orientation value.
    """
    extras: dict[str, Any] = {}
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # noqa: BLE001 - a broken EXIF block: the pixels as stored
        orientation = None
    if orientation is not None:
        try:
            value = int(orientation)
        except (TypeError, ValueError):
            value = 0
        if 1 <= value <= 8:
            extras["srgan_exif_orientation"] = value
        else:
            warnings.warn(f"{path}: EXIF Orientation {orientation!r} is not 1-8: ignored", stacklevel=3)
    icc = im.info.get("icc_profile")
    if icc:
        extras["srgan_icc_profile"] = base64.b64encode(bytes(icc)).decode("ascii")
    return extras


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
        pages = _full_pages(im)
        if pages > 1 and str(im.format) != "MPO":  # MPO: a JPEG's extra frames are previews of the first
            kind = "multi-page TIFF" if fmt == "tiff" else f"animated {fmt.upper()}"
            raise InputFileError(
                path,
                f"{kind} with {pages} pages/frames: only single images are super-resolved (the first page alone "
                "would be a partial result)",
                SPLIT_PAGES_HINT,
            )
        extras = image_file_extras(im, path)
        deep_colour = fmt == "tiff" and mode in ("RGB", "RGBA", "RGBX") and _tiff_bits(im) > 8
        if deep_colour or (fmt == "png" and _is_16bit_colour_png(path)):
            from monai_srgan.io.readers.itk import load_itk_color_tiff

            im.close()
            vals, affine, meta = load_itk_color_tiff(path, fmt)
            return _orient(vals, meta, extras)
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
    return _orient(vals, meta, extras)


def _orient(vals: np.ndarray, meta: dict[str, Any], extras: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Channel-first ``vals`` turned as a viewer shows them; ``extras`` (orientation, ICC) added to ``meta``."""
    orientation = extras.get("srgan_exif_orientation")
    if orientation not in (None, 1):
        vals = np.moveaxis(apply_exif_orientation(np.moveaxis(vals, 0, -1), orientation), -1, 0)
        vals = np.ascontiguousarray(vals)
    meta.update(extras)
    return vals, np.eye(4), meta


def int_range_meta(arr: np.ndarray, path: str) -> dict[str, Any]:
    """The ``srgan_*`` meta of a 2D array read as stored: dtype, bits, representable range, unit spacing.

    8-bit images get 0..255; 16-bit unsigned images the range of the bits their data use (8, 10, 12, 14 or 16: a
    12-bit radiograph in a 16-bit PNG is 0..4095, as DICOM's BitsStored would say); signed, 32-bit integer and float
    images their data range (docs/inference.md "DICOM bit depths" explains why).

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
    bits = int(arr.dtype.itemsize * 8)
    if arr.dtype == np.uint16 and arr.size:
        # the bits the data use (8, 10, 12, 14 or 16), as DICOM's BitsStored says: 12-bit detector data saved in a
        # 16-bit PNG/TIFF would otherwise fill 1/16 of the model's input range and come back with 16x its error
        top = int(arr.max())
        bits = next(b for b in (8, 10, 12, 14, 16) if top < 2**b)
        lo, hi = 0.0, float(2**bits - 1)
    elif arr.dtype.kind == "u" and arr.dtype.itemsize == 1:
        lo, hi = 0.0, 255.0
    elif arr.dtype.kind in "iu":  # signed or 32-bit integers: the representable range says nothing, use the data's
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    else:
        if not np.all(np.isfinite(arr)):
            raise InputFileError(path, "image contains NaN or Inf values", "fix or remove the file")
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
    return {
        "srgan_dtype": str(arr.dtype),
        "srgan_bits": bits,
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
