"""Derived DICOM series writer: super-resolved pixels written back from the source datasets with pydicom.

MONAI's writers drop the DICOM header; this writer starts from each source dataset (re-read from
``srgan_source_files`` without its pixel data), so patient, study, equipment and acquisition modules are kept,
and changes only what super-resolution changes:

* new SeriesInstanceUID, SOPInstanceUIDs (and file meta), distinct SeriesNumber, SeriesDescription ``"... SR x4"``;
* ImageType ``DERIVED\\SECONDARY``, DerivationDescription naming the model and scale, SourceImageSequence
  referencing the source instance(s) of each output image;
* Rows/Columns × scale, PixelSpacing/ImagerPixelSpacing/NominalScannedPixelSpacing ÷ scale, ImagePositionPatient
  moved to the centre of the new first pixel, and for through-plane SR new slices with interpolated
  ImagePositionPatient/SliceLocation and SliceThickness/SpacingBetweenSlices ÷ scale;
* pixel values mapped from the loader's value domain back to stored values (inverse Modality LUT, MONOCHROME1
  re-inverted, rounded and clipped to BitsStored), BitsAllocated/BitsStored/HighBit/PixelRepresentation/
  PhotometricInterpretation/RescaleSlope/RescaleIntercept/window kept;
* uncompressed explicit VR little endian; private tags, overlays, icons and pixel statistics of the source removed;
* a configurable note (ImageComments, default "not for diagnostic use"); BurnedInAnnotation only as the source
  states it (never invented);
* DerivationCodeSequence describing this derivation, (113085, DCM, "Spatial resampling") of CID 7203 "Image
  Derivation" (the source's own derivation codes describe how the *source* was derived and are replaced);
* invalid source values are not passed on: a PixelSpacing/ImagerPixelSpacing/NominalScannedPixelSpacing that is not
  two positive numbers is omitted, a missing StudyInstanceUID is generated (one for the whole output), a missing
  SOPClassUID becomes Secondary Capture; each with a logged warning naming the attribute and value;
* multi-frame sources (one file, ``NumberOfFrames`` > 1) give one multi-frame file with the same number of frames
  (in-plane SR only), PixelSpacing of the functional groups ÷ scale;
* colour sources are written as ``RGB`` (YBR decoded by pydicom, palette colour expanded through its LUT).
"""

from __future__ import annotations

import datetime
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import torch
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DSfloat

from monai_srgan.errors import InputFileError
from monai_srgan.inference.writers._common import atomic_write_dir, to_numpy
from monai_srgan.utils.axes import per_axis

__all__ = ["write_dicom_series", "values_to_stored", "DEFAULT_NOTE", "stored_range", "DERIVATION_CODE"]

logger = logging.getLogger(__name__)

#: CID 7203 "Image Derivation" code written in DerivationCodeSequence: (CodeValue, CodingSchemeDesignator, CodeMeaning)
DERIVATION_CODE = ("113085", "DCM", "Spatial resampling")
_SPACING_KEYWORDS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")
_PALETTE_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "AlphaPaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "AlphaPaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "SegmentedAlphaPaletteColorLookupTableData",
    "PaletteColorLookupTableUID",
)

DEFAULT_NOTE = "SUPER-RESOLUTION (AI) OUTPUT - NOT FOR DIAGNOSTIC USE"

_PYDICOM_MAJOR = int(pydicom.__version__.split(".")[0])

# Elements whose content describes the source pixel data and would be wrong for the derived image.
_DROP_KEYWORDS = (
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths",
    "IconImageSequence",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "PixelDataProviderURL",
    "DataSetTrailingPadding",
    "PlanarConfiguration",
    "DerivationCodeSequence",
    *_PALETTE_KEYWORDS,
)


def _ds(value: float) -> DSfloat:
    return DSfloat(float(value), auto_format=True)


def stored_range(bits_stored: int, pixel_representation: int) -> tuple[int, int]:
    """The range of stored values allowed by BitsStored and PixelRepresentation (0 unsigned, 1 signed)."""
    if int(pixel_representation) == 1:
        return -(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1
    return 0, 2**bits_stored - 1


def _container_dtype(bits_allocated: int, pixel_representation: int) -> np.dtype:
    if bits_allocated not in (8, 16, 32):
        raise ValueError(f"BitsAllocated {bits_allocated} is not supported by the DICOM writer (8, 16 or 32)")
    kind = "i" if int(pixel_representation) == 1 else "u"
    return np.dtype(f"<{kind}{bits_allocated // 8}")


def values_to_stored(
    values: np.ndarray | torch.Tensor,
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
        values: value-domain pixels (any shape, float or int).
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
    return v.astype(_container_dtype(bits_allocated, pixel_representation))


def _read_source(path: str) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as e:  # noqa: BLE001 - any parse error is reported as bad input
        raise InputFileError(path, f"cannot re-read the source DICOM header ({e})") from e


def _source_item(ds: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    purpose = Dataset()
    purpose.CodeValue = "121322"
    purpose.CodingSchemeDesignator = "DCM"
    purpose.CodeMeaning = "Source image for image processing operation"
    item.PurposeOfReferenceCodeSequence = DicomSequence([purpose])
    return item


def _float_list(value: Any) -> list[float] | None:
    """The numbers of a (multi-)value, or None when absent or not numeric."""
    if value is None:
        return None
    try:
        return [float(v) for v in value]
    except TypeError:
        try:
            return [float(value)]
        except (TypeError, ValueError):
            return None
    except ValueError:
        return None


def _valid_spacing(ds: Dataset, keyword: str, where: str | None = None) -> list[float] | None:
    """A spacing pair of two positive numbers, or None (absent or invalid; invalid ones logged when ``where``)."""
    if keyword not in ds:
        return None
    val = _float_list(ds.get(keyword))
    if val is not None and len(val) == 2 and all(v > 0 and math.isfinite(v) for v in val):
        return val
    if where is not None:
        raw = ds[keyword].value
        multi = hasattr(raw, "__iter__") and not isinstance(raw, (str, bytes))
        text = "\\".join(str(v) for v in raw) if multi else str(raw)
        msg = "source %s '%s' is not two positive numbers: omitted from the derived image"
        logger.warning("%s: " + msg, where, keyword, text)
    return None


def _derivation_code() -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = DERIVATION_CODE
    return code


def _out_pixel_format(src: Dataset, n_chan: int, meta: Mapping[str, Any]) -> dict[str, int]:
    """BitsAllocated/BitsStored/PixelRepresentation of the derived pixels.

    Palette colour becomes 8-bit RGB (the colour IODs, e.g. US and Secondary Capture, allow only 8-bit RGB): values
    of 16-bit LUTs are rescaled by ``value_scale`` = 255 / (2**lut_bits - 1).
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


def _save(ds: Dataset, path: Path) -> None:
    if _PYDICOM_MAJOR >= 3:
        ds.save_as(path, enforce_file_format=True)
    else:  # pydicom 2.4 (MONAI Label pins it)
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.save_as(path, write_like_original=False)


def _slice_positions(
    sources: Sequence[Dataset], n_out: int, scale_d: float
) -> tuple[list[list[float] | None], list[float | None], list[list[int]]]:
    """Interpolated slice positions/locations of ``n_out`` output slices and the source slices each one uses."""
    n_src = len(sources)
    ipps = [_float_list(ds.get("ImagePositionPatient")) for ds in sources]
    locs = [ds.get("SliceLocation") for ds in sources]
    positions: list[list[float] | None] = []
    locations: list[float | None] = []
    refs: list[list[int]] = []
    for j in range(n_out):
        t = (j + 0.5) / scale_d - 0.5  # centre of output slice j in source-slice index units
        k0 = min(max(int(math.floor(t)), 0), max(n_src - 2, 0))
        k1 = min(k0 + 1, n_src - 1)
        w = t - k0
        if scale_d == 1.0:
            k0 = k1 = j
            w = 0.0
        if all(p is not None for p in ipps):
            p0, p1 = np.array(ipps[k0]), np.array(ipps[k1])
            if k1 == k0:
                positions.append(list(p0))
            else:
                positions.append(list(p0 + w * (p1 - p0)))
        else:
            positions.append(None)
        if all(loc is not None for loc in locs):
            l0, l1 = float(locs[k0]), float(locs[k1])
            locations.append(l0 if k1 == k0 else l0 + w * (l1 - l0))
        else:
            locations.append(None)
        nearest = sorted({min(max(int(math.floor(t)), 0), n_src - 1), min(max(int(math.ceil(t)), 0), n_src - 1)})
        refs.append(nearest)
    return positions, locations, refs


def write_dicom_series(
    image: np.ndarray | torch.Tensor,
    meta: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    scale: int | float | Sequence[int | float],
    model_name: str = "model",
    series_number: int | None = None,
    series_description: str | None = None,
    note: str | None = DEFAULT_NOTE,
    series_uid: str | None = None,
) -> Path:
    """Write super-resolved pixels as a derived DICOM series, one file per slice, into a new folder.

    Args:
        image: SR output in the loader's value domain, ``(C, rows, cols)`` for a single image or
            ``(C, rows, cols, slices)`` for a series, ``C`` 1 (or 3 for RGB sources).
        meta: the loaded image's metadata; needs ``srgan_source_files`` (one per source slice, geometric order)
            and uses ``srgan_inverted``, ``srgan_value_min``/``srgan_value_max``.
        out_dir: folder to create (must not exist); written through a temporary sibling and renamed.
        scale: SR factor, one number or one per spatial axis (``(s, s)`` or ``(s, s, s_slices)``).
        model_name: named in DerivationDescription.
        series_number: SeriesNumber of the new series (default: source SeriesNumber + 1000).
        series_description: SeriesDescription (default: source description + ``" SR x<scale>"``).
        note: ImageComments text ("not for diagnostic use" by default); None leaves ImageComments unset.
        series_uid: SeriesInstanceUID to use (default: a new one from ``pydicom.uid.generate_uid``).

    Returns:
        the created folder, holding ``IM00001.dcm`` ... in slice order.

    Raises:
        InputFileError: a source file cannot be re-read or does not fit the image.
    """
    arr = to_numpy(image)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(f"DICOM writer expects (C, rows, cols[, slices]), got shape {tuple(arr.shape)}")
    n_chan, rows, cols, n_out = arr.shape
    sources_paths = [os.fspath(p) for p in (meta.get("srgan_source_files") or [])]
    if not sources_paths:
        raise ValueError("DICOM writer needs meta['srgan_source_files'] (the source datasets) to build the series")
    sources = [_read_source(p) for p in sources_paths]
    ref = sources[0]
    scales = per_axis(scale, 3 if len(sources) > 1 or n_out > 1 else 2, "scale")
    if len(scales) == 2:
        scales = (scales[0], scales[1], 1.0)
    sr_, sc_, sd_ = scales
    src_rows, src_cols = int(ref.Rows), int(ref.Columns)
    if (rows, cols) != (round(src_rows * sr_), round(src_cols * sc_)):
        raise InputFileError(
            sources_paths[0],
            f"SR image is {rows}x{cols} but the source is {src_rows}x{src_cols} at scale {sr_:g}x{sc_:g}",
        )
    n_frames = int(_first(ref.get("NumberOfFrames"), 1.0))
    multiframe = len(sources) == 1 and n_frames > 1
    if multiframe:
        if sd_ != 1.0 or n_out != n_frames:
            raise InputFileError(
                sources_paths[0],
                f"{n_out} output frames do not fit the {n_frames} frames of the multi-frame source "
                f"(scale {sd_:g} across frames); only in-plane SR of multi-frame files is written as DICOM",
                "use --format nifti",
            )
    elif round(len(sources) * sd_) != n_out:
        raise InputFileError(
            sources_paths[0], f"{n_out} output slices do not fit {len(sources)} source slices at scale {sd_:g}"
        )
    samples = int(ref.get("SamplesPerPixel", 1))
    palette = str(ref.get("PhotometricInterpretation", "")).strip().upper() == "PALETTE COLOR"
    if samples != n_chan and not (palette and n_chan == 3):
        raise InputFileError(sources_paths[0], f"source has {samples} samples per pixel, SR image {n_chan} channels")
    where = os.path.dirname(sources_paths[0]) if len(sources) > 1 else sources_paths[0]
    study_uid = None
    if not str(ref.get("StudyInstanceUID", "") or "").strip():
        study_uid = generate_uid()
        logger.warning("%s: source has no StudyInstanceUID: the derived series gets a new one (%s)", where, study_uid)
    for kw in _SPACING_KEYWORDS:
        _valid_spacing(ref, kw, where)  # logs invalid spacings once per series
    pixel_format = _out_pixel_format(ref, n_chan, meta)

    inverted = bool(meta.get("srgan_inverted", False))
    vmin, vmax = meta.get("srgan_value_min"), meta.get("srgan_value_max")
    if meta.get("srgan_invert_sum") is not None:  # deep MONOCHROME1 data were inverted as x' = sum - x
        vmin, vmax = float(meta["srgan_invert_sum"]), 0.0
    new_series_uid = series_uid or generate_uid()
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")
    from monai_srgan import __version__

    scale_txt = "x".join(f"{s:g}" for s in dict.fromkeys((sr_, sc_, sd_) if sd_ != 1.0 else (sr_, sc_)))
    derivation = (
        f"Super-resolution x{scale_txt} by monai_srgan {__version__}, model {model_name}; "
        "pixel values generated by a neural network"
    )[:1024]
    src_desc = str(ref.get("SeriesDescription", "") or "")
    suffix = f" SR x{scale_txt}"
    description = series_description or (src_desc[: 64 - len(suffix)] + suffix).strip()
    if series_number is None:
        try:
            series_number = int(ref.get("SeriesNumber", 0) or 0) + 1000
        except (TypeError, ValueError):
            series_number = 1000
    positions, locations, refs = _slice_positions(sources, 1 if multiframe else n_out, sd_)

    header_kw = {
        "rows": rows,
        "cols": cols,
        "scales": (sr_, sc_, sd_),
        "series_uid": new_series_uid,
        "series_number": series_number,
        "description": description,
        "derivation": derivation,
        "note": note,
        "date": date,
        "time": time,
        "study_uid": study_uid,
        "pixel_format": pixel_format,
    }

    def _stored(values: np.ndarray, base: Dataset) -> np.ndarray:
        """(C, rows, cols[, F]) value domain -> stored container values, frame/sample layout of PixelData."""
        if "value_scale" in pixel_format:
            values = to_numpy(values).astype(np.float64) * pixel_format["value_scale"]
        stored = values_to_stored(
            values,
            bits_stored=pixel_format["bits_stored"],
            bits_allocated=pixel_format["bits_allocated"],
            pixel_representation=pixel_format["pixel_representation"],
            slope=_first(base.get("RescaleSlope"), 1.0) or 1.0,
            intercept=_first(base.get("RescaleIntercept"), 0.0),
            inverted=inverted,
            value_min=vmin,
            value_max=vmax,
        )
        if stored.ndim == 4:  # (C, rows, cols, F) -> (F, rows, cols, C)
            stored = np.moveaxis(stored, (0, -1), (-1, 0))
        else:
            stored = np.moveaxis(stored, 0, -1)  # (rows, cols, C)
        if n_chan == 1:
            stored = stored[..., 0]
        return np.ascontiguousarray(stored)  # interleaved colour samples (PlanarConfiguration 0)

    def _finish(ds: Dataset, stored: np.ndarray, path: Path) -> None:
        if n_chan > 1:
            ds.PlanarConfiguration = 0
        ds.add_new(0x7FE00010, "OB" if stored.dtype.itemsize == 1 else "OW", stored.tobytes())
        _save(ds, path)

    def _write(tmp: Path) -> None:
        if multiframe:
            ds = _derived_header(ref, **header_kw)
            ds.NumberOfFrames = n_out
            if "FrameIncrementPointer" in ref:
                ds.FrameIncrementPointer = ref.FrameIncrementPointer
            ds.SourceImageSequence = DicomSequence([_source_item(ref)])
            _shift_position_in_plane(ds, ref, sr_, sc_)
            _scale_functional_groups(ds, sr_, sc_)
            _finish(ds, _stored(arr, ref), tmp / "IM00001.dcm")
            return
        for j in range(n_out):
            base = sources[refs[j][0]]
            ds = _derived_header(base, **header_kw)
            ds.SourceImageSequence = DicomSequence([_source_item(sources[k]) for k in refs[j]])
            if sd_ != 1.0:
                ds.InstanceNumber = j + 1
                if positions[j] is not None:
                    ds.ImagePositionPatient = [_ds(v) for v in positions[j]]
                if locations[j] is not None:
                    ds.SliceLocation = _ds(locations[j])
                for kw in ("SliceThickness", "SpacingBetweenSlices"):
                    if ds.get(kw) not in (None, ""):
                        setattr(ds, kw, _ds(float(ds.get(kw)) / sd_))
            _shift_position_in_plane(ds, base, sr_, sc_)
            _finish(ds, _stored(arr[..., j], base), tmp / f"IM{j + 1:05d}.dcm")

    return atomic_write_dir(out_dir, _write)


def _first(value: Any, default: float) -> float:
    vals = _float_list(value)
    return vals[0] if vals else default


def _scale_functional_groups(ds: Dataset, s_row: float, s_col: float) -> None:
    """Enhanced multi-frame objects: PixelSpacing of the functional groups ÷ scale, positions moved in-plane."""
    for seq_name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for group in ds.get(seq_name, None) or []:
            for measures in group.get("PixelMeasuresSequence", None) or []:
                ps = _float_list(measures.get("PixelSpacing"))
                if ps is not None and len(ps) == 2 and all(v > 0 for v in ps):
                    measures.PixelSpacing = [_ds(ps[0] / s_row), _ds(ps[1] / s_col)]
            for pos in group.get("PlanePositionSequence", None) or []:
                if "ImagePositionPatient" in pos:
                    _shift_position_in_plane(pos, _frame_geometry(ds, group), s_row, s_col)


def _frame_geometry(ds: Dataset, group: Dataset) -> Dataset:
    """A dataset holding the orientation and (source) pixel spacing that apply to one functional group."""
    geo = Dataset()
    shared = (ds.get("SharedFunctionalGroupsSequence", None) or [Dataset()])[0]
    for g in (shared, group):
        for item in g.get("PlaneOrientationSequence", None) or []:
            if "ImageOrientationPatient" in item:
                geo.ImageOrientationPatient = item.ImageOrientationPatient
        for item in g.get("PixelMeasuresSequence", None) or []:
            if "PixelSpacing" in item:
                geo.PixelSpacing = item.PixelSpacing
    return geo


def _shift_position_in_plane(ds: Dataset, base: Dataset, s_row: float, s_col: float) -> None:
    """ImagePositionPatient is the centre of the first pixel: move it to the centre of the new first pixel."""
    ipp = _float_list(ds.get("ImagePositionPatient"))
    iop = _float_list(base.get("ImageOrientationPatient"))
    ps = _float_list(base.get("PixelSpacing"))
    if ipp is None or iop is None or ps is None or len(iop) != 6 or len(ps) != 2:
        return
    row_dir, col_dir = np.array(iop[:3]), np.array(iop[3:])  # along a row (column index), along a column (row index)
    d_col = (1.0 / s_col - 1.0) / 2.0  # first new pixel centre, in source pixel units
    d_row = (1.0 / s_row - 1.0) / 2.0
    new = np.array(ipp) + d_col * ps[1] * row_dir + d_row * ps[0] * col_dir
    ds.ImagePositionPatient = [_ds(v) for v in new]


def _derived_header(
    src: Dataset,
    *,
    rows: int,
    cols: int,
    scales: tuple[float, float, float],
    series_uid: str,
    series_number: int,
    description: str,
    derivation: str,
    note: str | None,
    date: str,
    time: str,
    study_uid: str | None = None,
    pixel_format: Mapping[str, int] | None = None,
) -> Dataset:
    ds = Dataset()
    for elem in src:  # shallow copy of the header without private tags, overlays and source-pixel items
        if elem.tag.is_private or 0x6000 <= elem.tag.group <= 0x60FF or elem.keyword in _DROP_KEYWORDS:
            continue
        ds.add(elem)
    ds = _deepcopy(ds)
    s_row, s_col, _ = scales
    sop_uid = generate_uid()
    ds.SOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = int(series_number)
    ds.SeriesDescription = description
    ds.SeriesDate, ds.SeriesTime = date, time
    ds.ContentDate, ds.ContentTime = date, time
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    old_type = list(src.get("ImageType", []) or [])
    ds.ImageType = ["DERIVED", "SECONDARY", *[str(v) for v in old_type[2:]]]
    ds.DerivationDescription = derivation
    ds.DerivationCodeSequence = DicomSequence([_derivation_code()])
    if study_uid is not None:
        ds.StudyInstanceUID = study_uid
    if "SOPClassUID" not in ds or not str(ds.SOPClassUID).strip():
        logger.warning("source has no SOPClassUID: the derived image is written as Secondary Capture")
        ds.SOPClassUID = pydicom.uid.SecondaryCaptureImageStorage
    if note:
        ds.ImageComments = note[:10240]
    ds.Rows, ds.Columns = int(rows), int(cols)
    for kw in _SPACING_KEYWORDS:
        if kw in ds:
            del ds[kw]
        val = _valid_spacing(src, kw)
        if val is not None:
            setattr(ds, kw, [_ds(val[0] / s_row), _ds(val[1] / s_col)])
    if pixel_format is not None and str(src.get("PhotometricInterpretation", "")).strip().upper() == "PALETTE COLOR":
        ds.SamplesPerPixel = 3
        ds.BitsAllocated = pixel_format["bits_allocated"]
        ds.BitsStored = pixel_format["bits_stored"]
        ds.HighBit = pixel_format["bits_stored"] - 1
        ds.PixelRepresentation = 0
    if int(ds.get("SamplesPerPixel", 1)) > 1:
        ds.PhotometricInterpretation = "RGB"  # decoded colour data is RGB whatever the source encoding
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"PYDICOM {pydicom.__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    return ds


def _deepcopy(ds: Dataset) -> Dataset:
    import copy

    return copy.deepcopy(ds)
