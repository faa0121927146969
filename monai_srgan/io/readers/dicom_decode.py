"""Which DICOM objects are decodable, and decoding them: header checks, decoder status, pixel data, geometry.

The rules (PS3.3 C.7.6.3 Image Pixel module, PS3.5 transfer syntaxes):

* header checks before decoding (:func:`check_pixel_header`): pixel data present, the required Image Pixel attributes
  present, ``Rows``/``Columns`` > 0 and at least :data:`MIN_IMAGE_SIZE`, a transfer syntax pydicom knows and has a
  decoder for; each failure names the actual problem and what to do;
* decoding (:func:`decode_pixels`): pydicom's ``pixel_array`` (YBR converted to RGB), converted to native byte order
  (Explicit VR Big Endian files decode to big-endian arrays, which torch refuses);
* enhanced multi-frame functional groups promoted to the top level, in-plane spacing.

What the decoded stored values *mean* is decided in :mod:`monai_srgan.io.dicom_values`.
"""

from __future__ import annotations

import logging

import numpy as np
import pydicom
import pydicom.config
from pydicom.uid import UID

from monai_srgan.errors import InputFileError
from monai_srgan.io.files import RECOPY_HINT

__all__ = [
    "DICOM_EXTRA_HINT",
    "DECOMPRESS_HINT",
    "MIN_IMAGE_SIZE",
    "dicom_decoder_status",
    "check_pixel_header",
    "decode_pixels",
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
    import pydicom.pixels  # noqa: F401

    _PYDICOM3 = True
except ImportError:  # pragma: no cover - pydicom 2.x
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
        size_words = ("length", "truncat", "end of", "buffer", "than expected", "bytes of pixel data")
        if any(w in low for w in size_words) or not ts.is_encapsulated:  # native data: nothing to decompress
            hint = (
                "the pixel data are shorter or longer than the header (Rows, Columns, BitsAllocated, frames) says: "
                f"the file is truncated or corrupt; {RECOPY_HINT}"
            )
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
