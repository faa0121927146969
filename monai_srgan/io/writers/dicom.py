"""Derived DICOM series writer: super-resolved pixels written back from the source datasets with pydicom.

MONAI's writers drop the DICOM header; this writer starts from each source dataset (the header the reader parsed,
:func:`monai_srgan.io.readers.dicom.source_header`, else re-read from ``srgan_source_files`` without its pixel
data), so patient, study, equipment and acquisition modules are kept, and changes only what super-resolution changes:

* new SeriesInstanceUID, SOPInstanceUIDs (and file meta), distinct SeriesNumber, SeriesDescription ``"... SR x4"``;
* ImageType ``DERIVED\\SECONDARY``, DerivationDescription naming the model and scale, SourceImageSequence
  referencing the source instance(s) of each output image;
* Rows/Columns × scale, PixelSpacing/ImagerPixelSpacing/NominalScannedPixelSpacing ÷ scale, ImagePositionPatient
  moved to the centre of the new first pixel, and for through-plane SR new slices with interpolated
  ImagePositionPatient/SliceLocation and SliceThickness/SpacingBetweenSlices ÷ scale;
* pixel values mapped from the loader's value domain back to stored values by
  :func:`monai_srgan.io.dicom_values.values_to_stored` (inverse Modality LUT, MONOCHROME1 re-inverted, rounded and
  clipped to BitsStored), BitsAllocated/BitsStored/HighBit/PixelRepresentation/
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
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import torch
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from monai_srgan import __version__
from monai_srgan.errors import InputFileError
from monai_srgan.io.dicom_values import inversion_bounds, output_pixel_format, values_to_stored
from monai_srgan.io.readers.dicom import source_header
from monai_srgan.io.writers.common import atomic_write_dir, to_numpy
from monai_srgan.io.writers.dicom_header import (
    DERIVATION_CODE,
    SPACING_KEYWORDS,
    as_value_map,
    derived_header,
    ds_value,
    first_number,
    scale_functional_groups,
    shift_position_in_plane,
    slice_positions,
    source_item,
    valid_spacing,
)
from monai_srgan.utils.axes import per_axis

__all__ = ["write_dicom_series", "DEFAULT_NOTE", "DERIVATION_CODE"]

logger = logging.getLogger(__name__)

DEFAULT_NOTE = "SUPER-RESOLUTION (AI) OUTPUT - NOT FOR DIAGNOSTIC USE"

_PYDICOM_MAJOR = int(pydicom.__version__.split(".")[0])


def _save(ds: Dataset, path: Path) -> None:
    if _PYDICOM_MAJOR >= 3:
        ds.save_as(path, enforce_file_format=True)
    else:  # pydicom 2.4 (MONAI Label pins it)
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.save_as(path, write_like_original=False)


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
    value_map: Mapping[str, Any] | None = None,
    uid_seed: str | None = None,
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
        value_map: write a grey map of derived values instead of an image (``image`` 1 channel, any source
            photometry): ``{"kind": "UNCERTAINTY", "comment": ..., "step": value of one stored step}``
            (:func:`~monai_srgan.io.writers.dicom_header.as_value_map`).
        uid_seed: make the UIDs deterministic: the SeriesInstanceUID from this text (the model and settings), the
            source SOPInstanceUIDs and ``value_map``'s kind; each SOPInstanceUID from the series UID and the slice
            index. The same input, model and settings then give the same UIDs, so a store (PACS) sees a re-run as
            the same objects (``monai-srgan infer --store-to``).

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
    sources = [source_header(p) for p in sources_paths]
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
    n_frames = int(first_number(ref.get("NumberOfFrames"), 1.0))
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
    if samples != n_chan and not (palette and n_chan == 3) and value_map is None:
        raise InputFileError(sources_paths[0], f"source has {samples} samples per pixel, SR image {n_chan} channels")
    where = os.path.dirname(sources_paths[0]) if len(sources) > 1 else sources_paths[0]
    study_uid = None
    if not str(ref.get("StudyInstanceUID", "") or "").strip():
        study_uid = generate_uid()
        logger.warning("%s: source has no StudyInstanceUID: the derived series gets a new one (%s)", where, study_uid)
    for kw in SPACING_KEYWORDS:
        valid_spacing(ref, kw, where)  # logs invalid spacings once per series
    pixel_format = output_pixel_format(ref, n_chan, meta)
    inverted, vmin, vmax = inversion_bounds(meta)
    if value_map is not None:  # unsigned 16-bit, value = stored * step, never inverted
        pixel_format = {"bits_stored": 16, "bits_allocated": 16, "pixel_representation": 0}
        inverted, vmin, vmax = False, None, None
    if series_uid is None and uid_seed is not None:
        kind = str(value_map["kind"]) if value_map else "SR"
        series_uid = generate_uid(entropy_srcs=[uid_seed, kind, *(str(s.get("SOPInstanceUID", "")) for s in sources)])
    new_series_uid = series_uid or generate_uid()
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")

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
    positions, locations, refs = slice_positions(sources, 1 if multiframe else n_out, sd_)

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

    def _sop_uid(j: int) -> str | None:
        return generate_uid(entropy_srcs=[new_series_uid, str(j)]) if uid_seed is not None else None

    def _stored(values: np.ndarray, base: Dataset) -> np.ndarray:
        """(C, rows, cols[, F]) value domain -> stored container values, frame/sample layout of PixelData."""
        if "value_scale" in pixel_format:
            values = to_numpy(values).astype(np.float64) * pixel_format["value_scale"]
        stored = values_to_stored(
            values,
            bits_stored=pixel_format["bits_stored"],
            bits_allocated=pixel_format["bits_allocated"],
            pixel_representation=pixel_format["pixel_representation"],
            slope=float(value_map["step"]) if value_map else first_number(base.get("RescaleSlope"), 1.0) or 1.0,
            intercept=0.0 if value_map else first_number(base.get("RescaleIntercept"), 0.0),
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
        if value_map is not None:
            as_value_map(ds, float(value_map["step"]), str(value_map["kind"]), str(value_map["comment"]),
                         float(np.max(arr)) if arr.size else 0.0)  # fmt: skip
        elif n_chan > 1:
            ds.PlanarConfiguration = 0
        ds.add_new(0x7FE00010, "OB" if stored.dtype.itemsize == 1 else "OW", stored.tobytes())
        _save(ds, path)

    def _write(tmp: Path) -> None:
        if multiframe:
            ds = derived_header(ref, **header_kw, sop_uid=_sop_uid(0))
            ds.NumberOfFrames = n_out
            if "FrameIncrementPointer" in ref:
                ds.FrameIncrementPointer = ref.FrameIncrementPointer
            ds.SourceImageSequence = DicomSequence([source_item(ref)])
            shift_position_in_plane(ds, ref, sr_, sc_)
            scale_functional_groups(ds, sr_, sc_)
            _finish(ds, _stored(arr, ref), tmp / "IM00001.dcm")
            return
        for j in range(n_out):
            base = sources[refs[j][0]]
            ds = derived_header(base, **header_kw, sop_uid=_sop_uid(j))
            ds.SourceImageSequence = DicomSequence([source_item(sources[k]) for k in refs[j]])
            if sd_ != 1.0:
                ds.InstanceNumber = j + 1
                if positions[j] is not None:
                    ds.ImagePositionPatient = [ds_value(v) for v in positions[j]]
                if locations[j] is not None:
                    ds.SliceLocation = ds_value(locations[j])
                for kw in ("SliceThickness", "SpacingBetweenSlices"):
                    if ds.get(kw) not in (None, ""):
                        setattr(ds, kw, ds_value(float(ds.get(kw)) / sd_))
            shift_position_in_plane(ds, base, sr_, sc_)
            _finish(ds, _stored(arr[..., j], base), tmp / f"IM{j + 1:05d}.dcm")

    return atomic_write_dir(out_dir, _write)
