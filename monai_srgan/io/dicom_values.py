"""DICOM value-domain rules in both directions: stored values ⇄ the loader's value domain.

The one module that decides what a DICOM pixel value *means* (PS3.3 C.7.6.3 Image Pixel module, C.11 LUTs, PS3.5
8.1.1 pixel encoding); the reader (:mod:`monai_srgan.io.readers.dicom`) and the derived-series writer
(:mod:`monai_srgan.io.writers.dicom`) both use it, so a value read and written back is the stored value it came from.

Reading (:func:`stored_to_values`): stored values masked to ``BitsStored`` (sign-extended when signed), the Modality
LUT (``RescaleSlope``/``RescaleIntercept`` or a Modality LUT Sequence) applied, optionally the VOI LUT/window,
``MONOCHROME1`` inverted (``x' = value_min + value_max - x``) so that brighter always means higher, palette colour
expanded to RGB. The value range used for normalisation is the representable range of ``BitsStored`` through the
Modality LUT for *unsigned* data of up to 16 bits (what the detector can record). For signed data
(``PixelRepresentation`` 1: CT, ADC/T1 maps stored as int16) and deeper data (``BitsStored`` > 16, e.g. 32-bit RT
Dose) the representable range says nothing about the data — an ADC map stored 0..4095 in int16 would fill 1/16 of the
model's input range and the model's error would come back ×16 — so the data range is used (for a series, the range of
the whole series, so every slice is normalised alike). Such ``MONOCHROME1`` data are inverted by negation
(``srgan_invert_sum`` = 0), which does not depend on the range and is the same for every slice.

Writing (:func:`values_to_stored`, :func:`inversion_bounds`, :func:`output_pixel_format`): the exact inverse —
un-mirror, inverse Modality LUT, round, clip to the ``BitsStored`` range, cast to the ``BitsAllocated`` container.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from monai_srgan.errors import InputFileError
from monai_srgan.io.writers.common import to_numpy

__all__ = [
    "stored_range",
    "dataset_stored_range",
    "mask_bits",
    "voi_output_range",
    "linear_window",
    "stored_to_values",
    "values_to_stored",
    "container_dtype",
    "inversion_bounds",
    "output_pixel_format",
]

try:  # pydicom >= 3
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, convert_color_space

    _PYDICOM3 = True
except ImportError:  # pragma: no cover - pydicom 2.x
    from pydicom.pixel_data_handlers.util import (  # type: ignore[no-redef]
        apply_color_lut,
        apply_modality_lut,
        apply_voi_lut,
        convert_color_space,
    )

    _PYDICOM3 = False


def stored_range(bits_stored: int, pixel_representation: int) -> tuple[int, int]:
    """The range of stored values allowed by BitsStored and PixelRepresentation (0 unsigned, 1 signed).

    Args:
        bits_stored: BitsStored.
        pixel_representation: 0 unsigned, 1 signed (two's complement).
    """
    bits = int(bits_stored)
    if int(pixel_representation) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def dataset_stored_range(ds) -> tuple[int, int]:
    """:func:`stored_range` of a dataset (BitsStored, else BitsAllocated, else 16; PixelRepresentation, else 0).

    Args:
        ds: a pydicom dataset.
    """
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    return stored_range(bits, int(ds.get("PixelRepresentation", 0) or 0))


def mask_bits(arr: np.ndarray, ds) -> np.ndarray:
    """Keep only the ``BitsStored`` low bits; sign-extend signed data (PS3.5 8.1.1).

    Args:
        arr: decoded stored values.
        ds: the dataset they come from.
    """
    if arr.dtype.kind not in "iu":
        return arr
    bits = int(ds.get("BitsStored", arr.dtype.itemsize * 8) or arr.dtype.itemsize * 8)
    if bits >= arr.dtype.itemsize * 8:
        return arr
    lo, hi = dataset_stored_range(ds)
    if arr.size == 0 or (int(arr.min()) >= lo and int(arr.max()) <= hi):
        return arr  # nothing outside BitsStored (the usual case): masking would change nothing
    mask = (1 << bits) - 1
    vals = arr.astype(np.int64) & mask
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        vals = np.where(vals >= (1 << (bits - 1)), vals - (1 << bits), vals)
    return vals.astype(arr.dtype)


def voi_output_range(ds) -> tuple[float, float]:
    """Output range of pydicom's ``apply_voi_lut`` (mirrors ``apply_windowing``; PS3.3 C.11.2.1.2).

    Args:
        ds: the dataset.
    """
    if "VOILUTSequence" in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if "ModalityLUTSequence" in ds:
        bits = int(ds.ModalityLUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    lo, hi = dataset_stored_range(ds)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        s, i = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = lo * s + i, hi * s + i
    return float(min(lo, hi)), float(max(lo, hi))


def linear_window(x: np.ndarray, center: float, width: float, y_min: float, y_max: float) -> np.ndarray:
    """DICOM LINEAR VOI function (PS3.3 C.11.2.1.2.1).

    Args:
        x: Modality-LUT values.
        center: window centre.
        width: window width (>= 1).
        y_min: output minimum.
        y_max: output maximum.
    """
    if width < 1:
        raise ValueError("window width must be >= 1")
    c, w = center - 0.5, width - 1.0
    out = ((x - c) / max(w, 1e-12) + 0.5) * (y_max - y_min) + y_min
    out = np.where(x <= c - w / 2, y_min, out)
    return np.where(x > c + w / 2, y_max, out)


def _first_value(value) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, str)):
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None


def _data_range(vals: np.ndarray) -> tuple[float, float]:
    return (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)


def _deep_range(vals: np.ndarray) -> tuple[float, float]:
    """Data range of >16-bit integer data, rounded inwards to float32 values.

    The pipeline works in float32, which rounds 4294967295 up to 4294967296: clamping to such a bound and casting back
    to uint32 would wrap to 0. Bounds that float32 represents exactly keep every clamped value inside the dtype (the
    extreme pixels lose at most one float32 step, ~6e-8 relative, as every value above 2**24 does anyway).
    """
    lo, hi = _data_range(vals)
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if float(lo32) < lo:
        lo32 = np.nextafter(lo32, np.float32(np.inf))
    if float(hi32) > hi:
        hi32 = np.nextafter(hi32, np.float32(-np.inf))
    return float(lo32), float(hi32)


def _grey_values(raw: np.ndarray, ds, path: str, voi_window, voi_index: int, use_data_range: bool, meta: dict) -> tuple:
    """Modality LUT, optional VOI, MONOCHROME1 inversion of single-sample integer data; returns (values, lo, hi)."""
    stored = mask_bits(raw, ds)
    slo, shi = dataset_stored_range(ds)
    vals = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    if "ModalityLUTSequence" in ds:
        lut = np.asarray(apply_modality_lut(np.arange(slo, shi + 1), ds), dtype=np.float64)
        lo, hi = float(lut.min()), float(lut.max())
    else:
        if "RescaleSlope" in ds and "RescaleIntercept" in ds:
            meta["srgan_rescale_slope"] = float(ds.RescaleSlope)
            meta["srgan_rescale_intercept"] = float(ds.RescaleIntercept)
        if use_data_range:
            lo, hi = _deep_range(vals)
        else:
            ends = np.asarray(apply_modality_lut(np.array([slo, shi]), ds), dtype=np.float64)
            lo, hi = float(ends.min()), float(ends.max())
    if voi_window:
        if isinstance(voi_window, (tuple, list)):
            lo, hi = voi_output_range(ds)
            vals = linear_window(vals, float(voi_window[0]), float(voi_window[1]), lo, hi)
            meta["srgan_window_center"], meta["srgan_window_width"] = map(float, voi_window)
        elif "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds):
            lo, hi = voi_output_range(ds)
            vals = np.asarray(apply_voi_lut(vals, ds, index=voi_index, prefer_lut=True), dtype=np.float64)
        else:
            warnings.warn(f"{path}: voi_window requested but the file has no VOI window/LUT", stacklevel=4)
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        if use_data_range and not voi_window:  # x' = -x: exact in float32 and the same for every slice of a series
            vals = -vals
            lo, hi = -hi, -lo
            meta["srgan_invert_sum"] = 0.0
        else:
            vals = (lo + hi) - vals
        meta["srgan_inverted"] = True
    return vals, lo, hi


def stored_to_values(
    raw: np.ndarray, ds, path: str, voi_window: bool | tuple[float, float] | None = False, voi_index: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Map decoded stored values of one DICOM object to a channel-first float array in the value domain.

    Args:
        raw: the decoded pixel data (``pixel_array``, native byte order).
        ds: the dataset (functional groups already promoted for enhanced multi-frame objects).
        path: the file, for messages.
        voi_window: ``False`` keeps Modality-LUT values; ``True`` applies the file's VOI LUT/window ``voi_index``;
            ``(center, width)`` applies that LINEAR window.
        voi_index: which VOI window to use with ``voi_window=True``.

    Returns:
        ``(values, meta)``: ``(C, rows, cols)`` for one frame, ``(C, rows, cols, frames)`` for a multi-frame object
        (``C`` 3 for colour, else 1) and the ``srgan_*`` value-domain keys of docs/architecture.md.

    Raises:
        InputFileError: float pixel data holding NaN or Inf.
    """
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    pi = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    bits = int(ds.get("BitsStored", raw.dtype.itemsize * 8) or raw.dtype.itemsize * 8)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1 and "ModalityLUTSequence" not in ds
    # representable range meaningless for deep or signed data: use the data range (module docstring)
    use_data_range = raw.dtype.kind in "iu" and (bits > 16 or signed)
    meta: dict[str, Any] = {
        "srgan_photometric": pi,
        "srgan_dtype": str(raw.dtype),
        "srgan_bits": bits,
        "srgan_inverted": False,
        "srgan_rescale_slope": 1.0,
        "srgan_rescale_intercept": 0.0,
    }
    wc, ww = _first_value(ds.get("WindowCenter", None)), _first_value(ds.get("WindowWidth", None))
    if wc is not None and ww is not None:
        meta["srgan_window_center"], meta["srgan_window_width"] = wc, ww

    if pi == "PALETTE COLOR":
        vals = np.asarray(apply_color_lut(raw, ds), dtype=np.float64)
        samples = 3
        lut_bits = int(ds.get("RedPaletteColorLookupTableDescriptor", [0, 0, 16])[2])
        lo, hi = 0.0, float(2**lut_bits - 1)
        meta["srgan_bits"] = lut_bits
        meta["srgan_dtype"] = "uint8" if lut_bits <= 8 else "uint16"
    elif samples > 1:
        vals = raw
        if not _PYDICOM3 and pi in ("YBR_FULL", "YBR_FULL_422"):  # pragma: no cover - pydicom 3 converts itself
            vals = convert_color_space(vals, pi, "RGB")
        vals = vals.astype(np.float64)
        if raw.dtype.kind in "iu" and not use_data_range:
            lo, hi = 0.0, float(2**bits - 1)
        else:
            lo, hi = _deep_range(vals) if use_data_range else _data_range(vals)
    elif raw.dtype.kind == "f":
        vals = raw.astype(np.float64)
        if not np.all(np.isfinite(vals)):
            raise InputFileError(path, "pixel data contain NaN or Inf", "fix or remove the file")
        lo, hi = _data_range(vals)
    else:
        vals, lo, hi = _grey_values(raw, ds, path, voi_window, voi_index, use_data_range, meta)

    # channel-first, frames last
    if samples == 1:
        vals = vals[None] if nframes == 1 else np.moveaxis(vals, 0, -1)[None]
    else:
        vals = np.moveaxis(vals, -1, 0) if nframes == 1 else np.moveaxis(vals, (0, -1), (-1, 0))
    meta["srgan_value_min"], meta["srgan_value_max"] = float(lo), float(hi)
    return vals, meta


def container_dtype(bits_allocated: int, pixel_representation: int) -> np.dtype:
    """The little-endian NumPy dtype of a BitsAllocated/PixelRepresentation container (8, 16 or 32 bits).

    Args:
        bits_allocated: BitsAllocated.
        pixel_representation: 0 unsigned, 1 signed.

    Raises:
        ValueError: another BitsAllocated.
    """
    if bits_allocated not in (8, 16, 32):
        raise ValueError(f"BitsAllocated {bits_allocated} is not supported by the DICOM writer (8, 16 or 32)")
    kind = "i" if int(pixel_representation) == 1 else "u"
    return np.dtype(f"<{kind}{bits_allocated // 8}")


def values_to_stored(
    values: Any,
    *,
    bits_stored: int,
    bits_allocated: int,
    pixel_representation: int,
    slope: float = 1.0,
    intercept: float = 0.0,
    inverted: bool = False,
    value_min: float | None = None,
    value_max: float | None = None,
) -> np.ndarray:
    """Map loader-domain values back to DICOM stored values.

    The loader's value domain is ``v = stored * slope + intercept``, and for MONOCHROME1 sources additionally
    ``v' = value_min + value_max - v`` (the representable range mirrored onto itself). This is the exact inverse:
    un-mirror, inverse Modality LUT, round, clip to the BitsStored range, cast to the BitsAllocated container.

    Args:
        values: value-domain pixels (any shape, float or int; NumPy array or tensor).
        bits_stored: BitsStored of the source.
        bits_allocated: BitsAllocated of the source.
        pixel_representation: 0 unsigned, 1 signed.
        slope: RescaleSlope (1 when absent).
        intercept: RescaleIntercept (0 when absent).
        inverted: True when the loader inverted MONOCHROME1 data.
        value_min: lower end of the representable value range (defaults to the stored range through the LUT).
        value_max: upper end of the representable value range.

    Returns:
        array of the container dtype, same shape.
    """
    lo, hi = stored_range(bits_stored, pixel_representation)
    v = to_numpy(values).astype(np.float64, copy=True)
    if inverted:
        if value_min is None or value_max is None:
            ends = sorted((lo * slope + intercept, hi * slope + intercept))
            value_min, value_max = ends
        v = (float(value_min) + float(value_max)) - v
    if slope != 1.0 or intercept != 0.0:
        v -= intercept
        v /= slope
    np.nan_to_num(v, copy=False, nan=float(lo), posinf=float(hi), neginf=float(lo))
    np.rint(v, out=v)
    np.clip(v, lo, hi, out=v)
    return v.astype(container_dtype(bits_allocated, pixel_representation))


def inversion_bounds(meta: Mapping[str, Any]) -> tuple[bool, float | None, float | None]:
    """How the loader inverted a source: ``(inverted, value_min, value_max)`` to pass to :func:`values_to_stored`.

    Deep (> 16-bit) MONOCHROME1 data were inverted as ``x' = -x`` (``srgan_invert_sum`` = 0), i.e. a mirror with
    ``value_min + value_max`` = 0; others as ``value_min + value_max - x`` over the loaded value range.

    Args:
        meta: the loaded image's meta.
    """
    inverted = bool(meta.get("srgan_inverted", False))
    vmin, vmax = meta.get("srgan_value_min"), meta.get("srgan_value_max")
    if meta.get("srgan_invert_sum") is not None:
        vmin, vmax = float(meta["srgan_invert_sum"]), 0.0
    return inverted, vmin, vmax


def output_pixel_format(src, n_chan: int, meta: Mapping[str, Any]) -> dict[str, Any]:
    """BitsAllocated/BitsStored/PixelRepresentation of derived pixels written from source ``src``.

    Palette colour becomes 8-bit RGB (the colour IODs, e.g. US and Secondary Capture, allow only 8-bit RGB): values
    of 16-bit LUTs are rescaled by ``value_scale`` = 255 / (2**lut_bits - 1).

    Args:
        src: the source dataset (header).
        n_chan: channels of the image to write.
        meta: the loaded image's meta (``srgan_bits`` of a palette LUT).
    """
    pi = str(src.get("PhotometricInterpretation", "")).strip().upper()
    if pi == "PALETTE COLOR" and n_chan == 3:
        bits = int(meta.get("srgan_bits", 16) or 16)
        return {
            "bits_stored": 8,
            "bits_allocated": 8,
            "pixel_representation": 0,
            "value_scale": 255.0 / float(2**bits - 1),
        }
    return {
        "bits_stored": int(src.BitsStored),
        "bits_allocated": int(src.BitsAllocated),
        "pixel_representation": int(src.PixelRepresentation),
    }
