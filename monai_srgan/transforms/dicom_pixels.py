"""DICOM pixel rules of the loader: which objects are decodable, and how stored values become the value domain.

Split out of :mod:`monai_srgan.transforms.io` (which keeps discovery, series assembly and the other formats). The
rules (PS3.3 C.7.6.3 Image Pixel module, C.11 LUTs, PS3.5 8.1.1 pixel encoding):

* header checks before decoding (:func:`check_pixel_header`): pixel data present, the required Image Pixel attributes
  present, ``Rows``/``Columns`` > 0 and at least :data:`MIN_IMAGE_SIZE`, a transfer syntax pydicom knows and has a
  decoder for; each failure names the actual problem and what to do;
* decoding (:func:`decode_pixels`): pydicom's ``pixel_array`` (YBR converted to RGB), converted to native byte order
  (Explicit VR Big Endian files decode to big-endian arrays, which torch refuses);
* stored values masked to ``BitsStored`` (sign-extended when signed), the Modality LUT applied, optionally the VOI
  LUT/window, ``MONOCHROME1`` inverted so that brighter means higher, palette colour expanded to RGB;
* the value range used for normalisation: the representable range of ``BitsStored`` through the Modality LUT for data
  of up to 16 bits; for deeper data (``BitsStored`` > 16, e.g. 32-bit RT Dose) the representable range
  (0..4294967295) would squeeze the image into a few millionths of the unit range, so the data range is used, as for
  32-bit PNG. ``MONOCHROME1`` data deeper than 16 bits are inverted by negation (``srgan_invert_sum`` = 0).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from monai_srgan.errors import InputFileError

__all__ = [
    "DICOM_EXTRA_HINT",
    "DECOMPRESS_HINT",
    "MIN_IMAGE_SIZE",
    "dicom_decoder_status",
    "check_pixel_header",
    "decode_pixels",
    "dicom_values",
    "dicom_spacing",
    "promote_functional_groups",
    "sop_name",
    "PIXEL_TAGS",
]

logger = logging.getLogger(__name__)

DICOM_EXTRA_HINT = (
    "install the DICOM decoders with: pip install 'monai_srgan[dicom]' "
    "(pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg)"
)
DECOMPRESS_HINT = (
    "decompress the file to a native transfer syntax first, e.g. 'gdcmconv --raw IN OUT' (GDCM) or "
    "'dcmdjpeg IN OUT' / 'dcmdjpls IN OUT' / 'dcmdrle IN OUT' (DCMTK)"
)
#: the smallest number of rows and columns an image must have; smaller images hold no structure to super-resolve
MIN_IMAGE_SIZE = 2
PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

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

# Image Pixel module attributes pydicom needs to decode (PS3.3 C.7.6.3); float pixel data need no BitsStored/sign.
_REQUIRED_INT = (
    ("Rows", "(0028,0010)"),
    ("Columns", "(0028,0011)"),
    ("SamplesPerPixel", "(0028,0002)"),
    ("PhotometricInterpretation", "(0028,0004)"),
    ("BitsAllocated", "(0028,0100)"),
    ("BitsStored", "(0028,0101)"),
    ("PixelRepresentation", "(0028,0103)"),
)
_REQUIRED_FLOAT = _REQUIRED_INT[:5]


def dicom_decoder_status(transfer_syntax: str) -> tuple[bool, str]:
    """Whether pixel data of a transfer syntax can be decoded with the installed plugins.

    Works with pydicom 2.4 (pixel data handlers) and 3.x (``pydicom.pixels`` decoders).

    Args:
        transfer_syntax: the transfer syntax UID.

    Returns:
        ``(available, detail)``; ``detail`` names the missing dependencies when not available.
    """
    from pydicom.uid import UID

    uid = UID(str(transfer_syntax))
    if not uid.is_transfer_syntax:
        return False, "pydicom does not know this transfer syntax"
    if not uid.is_encapsulated:
        return True, ""  # native (incl. deflated/big endian)
    if _PYDICOM3:
        from pydicom.pixels import get_decoder

        try:
            decoder = get_decoder(uid)
        except NotImplementedError:
            return False, f"pydicom has no decoder for '{uid.name}'"
        if decoder.is_available:
            return True, ""
        missing = "; ".join(decoder.missing_dependencies)
        return False, f"plugins missing dependencies: {missing}" if missing else "no decoder plugin installed"
    import pydicom.config  # pragma: no cover - pydicom 2.x

    for handler in pydicom.config.pixel_data_handlers:  # pragma: no cover
        if handler.supports_transfer_syntax(uid) and handler.is_available():
            return True, ""
    return False, "no pixel data handler installed"  # pragma: no cover


def sop_name(ds) -> str:
    """A readable name of the object's SOP class (for messages)."""
    sop = ds.get("SOPClassUID", None)
    try:
        return f"SOP class '{sop.name}'" if sop is not None else f"modality {ds.get('Modality', '?')}"
    except Exception:  # noqa: BLE001
        return f"SOP class {sop}"


def check_pixel_header(ds, path: str) -> None:
    """Header-level checks that the pixel data of ``ds`` can be decoded into an image worth super-resolving.

    Args:
        ds: the dataset (pixel data may be deferred).
        path: the file, for messages.

    Raises:
        InputFileError: no pixel data, a required Image Pixel attribute missing, an empty (``Rows``/``Columns`` 0) or
            too small image, a transfer syntax pydicom does not know or has no installed decoder for.
    """
    if not any(t in ds for t in PIXEL_TAGS):
        raise InputFileError(
            path,
            f"DICOM object has no pixel data ({sop_name(ds)})",
            "it is not an image (e.g. a structured report or presentation state): remove it from the input",
        )
    required = _REQUIRED_INT if "PixelData" in ds else _REQUIRED_FLOAT
    missing = [f"{kw} {tag}" for kw, tag in required if ds.get(kw, None) in (None, "")]
    if missing:
        raise InputFileError(
            path,
            f"required Image Pixel attribute(s) missing: {', '.join(missing)}",
            "the header is incomplete: re-export the image from the system that made it, or add the attribute "
            '(e.g. dcmodify -i "(0028,0004)=MONOCHROME2" FILE)',
        )
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows == 0 or cols == 0:
        raise InputFileError(
            path,
            f"empty image: Rows={rows}, Columns={cols} (the object holds no pixels)",
            "re-export the image, or remove the file from the input",
        )
    if rows < MIN_IMAGE_SIZE or cols < MIN_IMAGE_SIZE:
        raise InputFileError(
            path,
            f"image is too small to super-resolve: {rows}x{cols} pixels (rows x columns); "
            f"at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} is needed",
            "a 1-pixel image is a placeholder or a broken export: remove it from the input",
        )
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None:
        return
    ok, detail = dicom_decoder_status(ts)
    if ok:
        return
    if not ts.is_transfer_syntax:
        raise InputFileError(
            path,
            f"unknown transfer syntax {ts}: pydicom {_pydicom_version()} cannot decode its pixel data",
            f"{DECOMPRESS_HINT}; a newer pydicom may know the syntax",
        )
    if detail.startswith("pydicom has no decoder"):
        raise InputFileError(
            path, f"transfer syntax '{ts.name}' ({ts}) is not supported: {detail}", f"{DECOMPRESS_HINT} if possible"
        )
    raise InputFileError(
        path,
        f"no decoder installed for transfer syntax '{ts.name}' ({ts}): {detail}",
        f"{DICOM_EXTRA_HINT}; or {DECOMPRESS_HINT}",
    )


def _pydicom_version() -> str:
    import pydicom

    return str(pydicom.__version__)


def decode_pixels(ds, path: str) -> np.ndarray:
    """Decode the pixel data (YBR converted to RGB by pydicom 3) as a native-byte-order array.

    Raises:
        InputFileError: the header checks of :func:`check_pixel_header` fail, or the decoder fails (the message says
            what the decoder reported: a length mismatch is a truncated file).
    """
    check_pixel_header(ds, path)
    ts = ds.file_meta.TransferSyntaxUID
    try:
        arr = ds.pixel_array
    except Exception as e:  # noqa: BLE001 - translate every decoder failure into a clear message
        msg = str(e)
        low = msg.lower()
        if any(s in low for s in ("missing dependencies", "no available", "handler", "plugin", "not installed")):
            raise InputFileError(path, f"cannot decode '{ts.name}' pixel data: {msg}", DICOM_EXTRA_HINT) from e
        if "length" in low or "truncat" in low or "end of" in low or "buffer" in low:
            hint = "the pixel data are shorter or longer than the header says: the file is truncated or corrupt"
        else:
            hint = f"the '{ts.name}' pixel data could not be decoded; {DECOMPRESS_HINT} and retry"
        raise InputFileError(path, f"pixel data cannot be decoded ({type(e).__name__}: {msg})", hint) from e
    arr = np.asarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):  # Explicit VR Big Endian: torch only takes native byte order
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


_GROUP_ATTRS = {
    "PixelMeasuresSequence": ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"),
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept", "RescaleType"),
    "FrameVOILUTSequence": ("WindowCenter", "WindowWidth", "VOILUTFunction"),
    "PlaneOrientationSequence": ("ImageOrientationPatient",),
    "PlanePositionSequence": ("ImagePositionPatient",),
}


def promote_functional_groups(ds) -> None:
    """Copy shared (else first per-frame) functional-group attributes of enhanced multi-frame objects to the top."""
    groups = []
    for seq in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if seq in ds and len(ds[seq].value) > 0:
            groups.append(ds[seq].value[0])
    for group in groups:
        for seq_name, attrs in _GROUP_ATTRS.items():
            if seq_name in group and len(group[seq_name].value) > 0:
                item = group[seq_name].value[0]
                for attr in attrs:
                    if attr in item and attr not in ds:
                        setattr(ds, attr, item[attr].value)


def _raw_text(ds, attr: str) -> str:
    elem = ds[attr]
    value = elem.value
    if isinstance(value, (bytes, bytearray)):
        return value.decode("ascii", "replace")
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, str)):
        return "\\".join(str(v) for v in value)
    return str(value)


def dicom_spacing(ds, path: str | None = None, notes: list[str] | None = None) -> tuple[list[float], bool]:
    """In-plane spacing ``(row spacing, column spacing)`` from PixelSpacing, else ImagerPixelSpacing.

    An attribute that is present but not two positive numbers (``0\\0``, ``abc``) is ignored with a warning that
    names it and its value (logged, and appended to ``notes`` when given).

    Returns:
        ``(spacing, known)``: ``[1.0, 1.0]`` and ``False`` when no valid attribute exists.
    """
    for attr in ("PixelSpacing", "ImagerPixelSpacing"):
        if attr not in ds:
            continue
        try:
            vals = [float(v) for v in ds[attr].value]
        except Exception:  # noqa: BLE001 - non-numeric text, wrong VR, single value
            vals = []
        if len(vals) >= 2 and all(v > 0 and np.isfinite(v) for v in vals[:2]):
            return vals[:2], True
        try:
            text = _raw_text(ds, attr)
        except Exception:  # noqa: BLE001
            text = "?"
        note = f"{attr} '{text}' is not two positive numbers: ignored, spacing taken as 1 mm"
        logger.warning("%s: %s", path, note)
        if notes is not None:
            notes.append(note)
    return [1.0, 1.0], False


def _first_value(value) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, str)):
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return None


def _stored_range(ds) -> tuple[int, int]:
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _mask_bits(arr: np.ndarray, ds) -> np.ndarray:
    """Keep only the ``BitsStored`` low bits; sign-extend signed data (PS3.5 8.1.1)."""
    if arr.dtype.kind not in "iu":
        return arr
    bits = int(ds.get("BitsStored", arr.dtype.itemsize * 8) or arr.dtype.itemsize * 8)
    if bits >= arr.dtype.itemsize * 8:
        return arr
    lo, hi = _stored_range(ds)
    if arr.size == 0 or (int(arr.min()) >= lo and int(arr.max()) <= hi):
        return arr  # nothing outside BitsStored (the usual case): masking would change nothing
    mask = (1 << bits) - 1
    vals = arr.astype(np.int64) & mask
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        vals = np.where(vals >= (1 << (bits - 1)), vals - (1 << bits), vals)
    return vals.astype(arr.dtype)


def _voi_output_range(ds) -> tuple[float, float]:
    """Output range of pydicom's ``apply_voi_lut`` (mirrors ``apply_windowing``; PS3.3 C.11.2.1.2)."""
    if "VOILUTSequence" in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if "ModalityLUTSequence" in ds:
        bits = int(ds.ModalityLUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    lo, hi = _stored_range(ds)
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        s, i = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = lo * s + i, hi * s + i
    return float(min(lo, hi)), float(max(lo, hi))


def _linear_window(x: np.ndarray, center: float, width: float, y_min: float, y_max: float) -> np.ndarray:
    """DICOM LINEAR VOI function (PS3.3 C.11.2.1.2.1)."""
    if width < 1:
        raise ValueError("window width must be >= 1")
    c, w = center - 0.5, width - 1.0
    out = ((x - c) / max(w, 1e-12) + 0.5) * (y_max - y_min) + y_min
    out = np.where(x <= c - w / 2, y_min, out)
    return np.where(x > c + w / 2, y_max, out)


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


def dicom_values(
    ds, path: str, voi_window: bool | tuple[float, float] | None, voi_index: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode one DICOM object into a channel-first float array in the value domain plus its ``srgan_*`` meta.

    Returns:
        ``(values, meta)``: ``(C, rows, cols)`` for one frame, ``(C, rows, cols, frames)`` for a multi-frame object;
        ``C`` is 3 for colour (RGB, YBR converted to RGB, palette colour expanded), else 1.
    """
    promote_functional_groups(ds)
    raw = decode_pixels(ds, path)
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    pi = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    bits = int(ds.get("BitsStored", raw.dtype.itemsize * 8) or raw.dtype.itemsize * 8)
    deep = raw.dtype.kind in "iu" and bits > 16  # representable range meaningless: use the data range
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
        if raw.dtype.kind in "iu" and not deep:
            lo, hi = 0.0, float(2**bits - 1)
        else:
            lo, hi = _deep_range(vals) if deep else _data_range(vals)
    elif raw.dtype.kind == "f":
        vals = raw.astype(np.float64)
        if not np.all(np.isfinite(vals)):
            raise InputFileError(path, "pixel data contain NaN or Inf", "fix or remove the file")
        lo, hi = _data_range(vals)
    else:
        stored = _mask_bits(raw, ds)
        slo, shi = _stored_range(ds)
        vals = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
        if "ModalityLUTSequence" in ds:
            lut = np.asarray(apply_modality_lut(np.arange(slo, shi + 1), ds), dtype=np.float64)
            lo, hi = float(lut.min()), float(lut.max())
        else:
            if "RescaleSlope" in ds and "RescaleIntercept" in ds:
                meta["srgan_rescale_slope"] = float(ds.RescaleSlope)
                meta["srgan_rescale_intercept"] = float(ds.RescaleIntercept)
            if deep:
                lo, hi = _deep_range(vals)
            else:
                ends = np.asarray(apply_modality_lut(np.array([slo, shi]), ds), dtype=np.float64)
                lo, hi = float(ends.min()), float(ends.max())
        if voi_window:
            if isinstance(voi_window, (tuple, list)):
                lo, hi = _voi_output_range(ds)
                vals = _linear_window(vals, float(voi_window[0]), float(voi_window[1]), lo, hi)
                meta["srgan_window_center"], meta["srgan_window_width"] = map(float, voi_window)
            elif "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds):
                lo, hi = _voi_output_range(ds)
                vals = np.asarray(apply_voi_lut(vals, ds, index=voi_index, prefer_lut=True), dtype=np.float64)
            else:
                warnings.warn(f"{path}: voi_window requested but the file has no VOI window/LUT", stacklevel=3)
        if pi == "MONOCHROME1":
            if deep and not voi_window:  # x' = -x: exact in float32 and the same for every slice of a series
                vals = -vals
                lo, hi = -hi, -lo
                meta["srgan_invert_sum"] = 0.0
            else:
                vals = (lo + hi) - vals
            meta["srgan_inverted"] = True

    # channel-first, frames last
    if samples == 1:
        vals = vals[None] if nframes == 1 else np.moveaxis(vals, 0, -1)[None]
    else:
        vals = np.moveaxis(vals, -1, 0) if nframes == 1 else np.moveaxis(vals, (0, -1), (-1, 0))
    meta["srgan_value_min"], meta["srgan_value_max"] = float(lo), float(hi)
    return vals, meta
