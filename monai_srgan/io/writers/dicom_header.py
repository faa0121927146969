"""The header of a derived DICOM image: what super-resolution changes in a copy of the source header.

Used by :func:`monai_srgan.io.writers.dicom.write_dicom_series`: UIDs, series number/description, ImageType
``DERIVED\\SECONDARY``, DerivationDescription and DerivationCodeSequence (113085, DCM, "Spatial resampling"),
SourceImageSequence, Rows/Columns and spacings ÷ scale, ImagePositionPatient moved to the centre of the new first
pixel, interpolated slice positions for through-plane SR, enhanced multi-frame functional groups; private tags,
overlays, icons and source-pixel attributes dropped.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DSfloat

__all__ = [
    "DERIVATION_CODE",
    "SPACING_KEYWORDS",
    "ds_value",
    "float_list",
    "first_number",
    "valid_spacing",
    "source_item",
    "slice_positions",
    "derived_header",
    "shift_position_in_plane",
    "scale_functional_groups",
]

logger = logging.getLogger("monai_srgan.io.writers.dicom")

#: CID 7203 "Image Derivation" code written in DerivationCodeSequence: (CodeValue, CodingSchemeDesignator, CodeMeaning)
DERIVATION_CODE = ("113085", "DCM", "Spatial resampling")
SPACING_KEYWORDS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")
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


def ds_value(value: float) -> DSfloat:
    """A DS value of ``value`` (auto-formatted to fit 16 characters)."""
    return DSfloat(float(value), auto_format=True)


def source_item(ds: Dataset) -> Dataset:
    """A SourceImageSequence item referencing ``ds`` as "Source image for image processing operation".

    Args:
        ds: the source dataset.
    """
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    purpose = Dataset()
    purpose.CodeValue = "121322"
    purpose.CodingSchemeDesignator = "DCM"
    purpose.CodeMeaning = "Source image for image processing operation"
    item.PurposeOfReferenceCodeSequence = DicomSequence([purpose])
    return item


def float_list(value: Any) -> list[float] | None:
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


def valid_spacing(ds: Dataset, keyword: str, where: str | None = None) -> list[float] | None:
    """A spacing pair of two positive numbers, or None (absent or invalid; invalid ones logged when ``where``)."""
    if keyword not in ds:
        return None
    val = float_list(ds.get(keyword))
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


def slice_positions(
    sources: Sequence[Dataset], n_out: int, scale_d: float
) -> tuple[list[list[float] | None], list[float | None], list[list[int]]]:
    """Interpolated slice positions/locations of ``n_out`` output slices and the source slices each one uses."""
    n_src = len(sources)
    ipps = [float_list(ds.get("ImagePositionPatient")) for ds in sources]
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


def first_number(value: Any, default: float) -> float:
    """The first number of a (multi-)value, or ``default``.

    Args:
        value: a DICOM value.
        default: returned when ``value`` is absent or not numeric.
    """
    vals = float_list(value)
    return vals[0] if vals else default


def scale_functional_groups(ds: Dataset, s_row: float, s_col: float) -> None:
    """Enhanced multi-frame objects: PixelSpacing of the functional groups ÷ scale, positions moved in-plane.

    Every frame position is moved with its frame's *source* pixel spacing (read before any spacing is divided), so
    that each frame's new ImagePositionPatient is the centre of its new first pixel, as ``sr_affine`` puts it.
    """
    groups = [
        g
        for name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
        for g in (ds.get(name, None) or [])
    ]
    geometry = [_frame_geometry(ds, group) for group in groups]  # before any spacing changes
    for group, geo in zip(groups, geometry):
        for pos in group.get("PlanePositionSequence", None) or []:
            if "ImagePositionPatient" in pos:
                shift_position_in_plane(pos, geo, s_row, s_col)
    for group in groups:
        for measures in group.get("PixelMeasuresSequence", None) or []:
            ps = float_list(measures.get("PixelSpacing"))
            if ps is not None and len(ps) == 2 and all(v > 0 for v in ps):
                measures.PixelSpacing = [ds_value(ps[0] / s_row), ds_value(ps[1] / s_col)]


def _frame_geometry(ds: Dataset, group: Dataset) -> Dataset:
    """The orientation and (source) pixel spacing that apply to one functional group, as plain numbers.

    The group's own items win over the shared group's; the orientation falls back on the top-level attribute.
    """
    geo = Dataset()
    if "ImageOrientationPatient" in ds:
        geo.ImageOrientationPatient = float_list(ds.ImageOrientationPatient)
    shared = (ds.get("SharedFunctionalGroupsSequence", None) or [Dataset()])[0]
    for g in (shared, group):
        for item in g.get("PlaneOrientationSequence", None) or []:
            if "ImageOrientationPatient" in item:
                geo.ImageOrientationPatient = float_list(item.ImageOrientationPatient)
        for item in g.get("PixelMeasuresSequence", None) or []:
            if "PixelSpacing" in item:
                geo.PixelSpacing = float_list(item.PixelSpacing)
    return geo


def shift_position_in_plane(ds: Dataset, base: Dataset, s_row: float, s_col: float) -> None:
    """ImagePositionPatient is the centre of the first pixel: move it to the centre of the new first pixel."""
    ipp = float_list(ds.get("ImagePositionPatient"))
    iop = float_list(base.get("ImageOrientationPatient"))
    ps = float_list(base.get("PixelSpacing"))
    if ipp is None or iop is None or ps is None or len(iop) != 6 or len(ps) != 2:
        return
    row_dir, col_dir = np.array(iop[:3]), np.array(iop[3:])  # along a row (column index), along a column (row index)
    d_col = (1.0 / s_col - 1.0) / 2.0  # first new pixel centre, in source pixel units
    d_row = (1.0 / s_row - 1.0) / 2.0
    new = np.array(ipp) + d_col * ps[1] * row_dir + d_row * ps[0] * col_dir
    ds.ImagePositionPatient = [ds_value(v) for v in new]


def derived_header(
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
    sop_uid: str | None = None,
) -> Dataset:
    """A copy of the source header changed as super-resolution changes it (no pixel data yet).

    Args:
        src: the source dataset (header).
        rows: Rows of the derived image.
        cols: Columns of the derived image.
        scales: SR factor along rows, columns and slices.
        series_uid: SeriesInstanceUID of the derived series.
        series_number: its SeriesNumber.
        description: its SeriesDescription.
        derivation: DerivationDescription.
        note: ImageComments, or None.
        date: SeriesDate/ContentDate/InstanceCreationDate.
        time: the matching times.
        study_uid: a StudyInstanceUID to set (the source has none), else None.
        pixel_format: :func:`~monai_srgan.io.dicom_values.output_pixel_format` of the derived pixels.
        sop_uid: SOPInstanceUID of the derived instance (default: a new one from ``generate_uid``).
    """
    ds = Dataset()
    for elem in src:  # shallow copy of the header without private tags, overlays and source-pixel items
        if elem.tag.is_private or 0x6000 <= elem.tag.group <= 0x60FF or elem.keyword in _DROP_KEYWORDS:
            continue
        ds.add(elem)
    ds = _deepcopy(ds)
    s_row, s_col, _ = scales
    sop_uid = sop_uid or generate_uid()
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
    for kw in SPACING_KEYWORDS:
        if kw in ds:
            del ds[kw]
        val = valid_spacing(src, kw)
        if val is not None:
            setattr(ds, kw, [ds_value(val[0] / s_row), ds_value(val[1] / s_col)])
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
    return copy.deepcopy(ds)


#: what a parametric map of derived values (e.g. an uncertainty map) must not inherit from the image it describes
_MAP_DROP = ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTSequence", "VOILUTFunction",
             "ModalityLUTSequence", "PlanarConfiguration", "RedPaletteColorLookupTableDescriptor",
             "GreenPaletteColorLookupTableDescriptor", "BluePaletteColorLookupTableDescriptor",
             "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
             "BluePaletteColorLookupTableData", "PixelPaddingValue", "SmallestImagePixelValue",
             "LargestImagePixelValue")  # fmt: skip


def as_value_map(ds: Dataset, step: float, kind: str, comment: str, maximum: float) -> None:
    """Turn a derived header into one of a grey map of derived values (16-bit unsigned, ``value = stored × step``).

    The map keeps the image's geometry and references but never looks like it: ImageType value 3 is ``kind``
    (e.g. ``UNCERTAINTY``), the description and ImageComments say what the values are, the window spans the map.

    Args:
        ds: the header from :func:`derived_header` (changed in place).
        step: RescaleSlope: the value of one stored step.
        kind: ImageType value 3, upper case (``UNCERTAINTY``).
        comment: ImageComments, saying what the values mean.
        maximum: the largest value of the map (for the window).
    """
    for kw in _MAP_DROP:
        if kw in ds:
            del ds[kw]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = ds_value(step), ds_value(0.0)
    ds.ImageType = ["DERIVED", "SECONDARY", kind]
    ds.ImageComments = comment[:10240]
    width = max(float(maximum), float(step))
    ds.WindowCenter, ds.WindowWidth = ds_value(width / 2.0), ds_value(width)
