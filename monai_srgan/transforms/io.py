"""Loading medical images as channel-first ``MetaTensor`` in the source's value domain.

:class:`LoadMedicalImage` / :class:`LoadMedicalImaged` are thin MONAI transforms over the readers of
:mod:`monai_srgan.io.readers` (each a ``monai.data.ImageReader``): :class:`~monai_srgan.io.readers.DicomReader`
(files, multi-frame, series), :class:`~monai_srgan.io.readers.PillowImageReader` (PNG/JPEG/TIFF/BMP, 16-bit colour
TIFF through ITK) and :class:`~monai_srgan.io.readers.NiftiReader`. Which reader loads an input is decided by
:func:`monai_srgan.io.discovery.input_kind`. The metadata keys written are those of docs/architecture.md
(``srgan_*``). Discovery (:func:`find_inputs`, :func:`validate_input`, :class:`InputItem`) lives in
:mod:`monai_srgan.io.discovery` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from monai_srgan.io.discovery import InputItem, find_inputs, input_kind, input_paths, is_dicom_file, validate_input
from monai_srgan.io.files import PathLike
from monai_srgan.io.readers import reader_for
from monai_srgan.io.readers.dicom_decode import DICOM_EXTRA_HINT, dicom_decoder_status

__all__ = [
    "DICOM_EXTRA_HINT",
    "InputItem",
    "LoadMedicalImage",
    "LoadMedicalImaged",
    "LoadMedicalImageD",
    "LoadMedicalImageDict",
    "load_medical_image",
    "find_inputs",
    "validate_input",
    "is_dicom_file",
    "dicom_decoder_status",
]


def load_medical_image(
    src: PathLike | Sequence[PathLike] | InputItem,
    voi_window: bool | tuple[float, float] | None = False,
    voi_index: int = 0,
    check_finite: bool = True,
) -> MetaTensor:
    """Load one image/volume; see :class:`LoadMedicalImage` for the arguments and the result."""
    notes: list[str] = []
    if isinstance(src, InputItem):
        paths, kind = input_kind(src.files, src.kind)
        notes = list(src.notes)
    else:
        paths, kind = input_kind(input_paths(src))
    reader = reader_for(kind, voi_window=voi_window, voi_index=voi_index, check_finite=check_finite)
    out, meta = reader.get_data(reader.read(paths))
    meta["srgan_warnings"] = notes + list(meta.get("srgan_warnings") or [])
    meta["original_channel_dim"] = "no_channel" if out.shape[0] == 1 else 0
    affine = torch.as_tensor(meta.pop("affine"), dtype=torch.float64)
    return MetaTensor(torch.from_numpy(out), affine=affine, meta=meta)


class LoadMedicalImage(Transform):
    """Load PNG/JPEG/TIFF, DICOM (file, multi-frame, series) or NIfTI as a float32 channel-first ``MetaTensor``.

    The result is in the source's *value* domain (docs/architecture.md): stored integers for PNG/TIFF/JPEG; for
    DICOM the stored values masked to ``BitsStored``, through the Modality LUT (PS3.3 C.11.1), optionally the VOI
    LUT/window (PS3.3 C.11.2), with MONOCHROME1 inverted (``value_min + value_max - x``) so brighter means higher
    (rules in :mod:`monai_srgan.io.dicom_values`). Shapes: 2D ``(C, H, W)`` with ``H`` = image rows; DICOM
    series/multi-frame ``(C, H, W, D)``; NIfTI ``(C, X, Y, Z)`` in stored voxel order. Colour DICOM gives 3 channels
    (YBR converted to RGB); multi-frame DICOM gives a volume with the frames on the last axis. JPEG EXIF orientation
    is not applied (pixels as stored).

    Args:
        voi_window: ``False`` (default) keeps the Modality-LUT values; ``True`` applies the file's VOI LUT or its
            window number ``voi_index`` (pydicom's ``apply_voi_lut`` semantics, output range as pydicom's);
            ``(center, width)`` applies that LINEAR window. Single-channel DICOM only; other formats ignore it.
        voi_index: which of several windows to use with ``voi_window=True``.
        check_finite: raise :class:`~monai_srgan.errors.InputFileError` when the result contains NaN/Inf.

    Returns:
        ``MetaTensor`` whose ``meta`` holds ``filename_or_obj``, ``spatial_shape``, ``original_channel_dim`` and the
        ``srgan_*`` keys of docs/architecture.md; ``affine`` carries the spacing (and the RAS orientation for volumes).

    Raises:
        InputFileError: missing/empty/corrupt file, DICOM without pixel data, missing decoder (the message names the
            ``monai_srgan[dicom]`` extra), NaN/Inf values, a series with mixed sizes/orientations/duplicate positions.
    """

    def __init__(
        self,
        voi_window: bool | tuple[float, float] | None = False,
        voi_index: int = 0,
        check_finite: bool = True,
    ) -> None:
        self.voi_window = voi_window
        self.voi_index = voi_index
        self.check_finite = check_finite

    def __call__(self, src: PathLike | Sequence[PathLike] | InputItem) -> MetaTensor:
        """Load ``src``: a file, a DICOM series folder, a list of DICOM files of one series, or an InputItem."""
        if isinstance(src, MetaTensor):
            return src
        return load_medical_image(src, self.voi_window, self.voi_index, self.check_finite)


class LoadMedicalImaged(MapTransform):
    """Dictionary version of :class:`LoadMedicalImage`: replaces each path under ``keys`` by the loaded image.

    Args:
        keys: keys holding paths (or lists of DICOM files, or InputItem).
        voi_window: see :class:`LoadMedicalImage`.
        voi_index: see :class:`LoadMedicalImage`.
        check_finite: see :class:`LoadMedicalImage`.
        allow_missing_keys: do not raise when a key is absent.
    """

    def __init__(
        self,
        keys: KeysCollection,
        voi_window: bool | tuple[float, float] | None = False,
        voi_index: int = 0,
        check_finite: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadMedicalImage(voi_window, voi_index, check_finite)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Load every key of ``data`` listed in ``keys``."""
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key])
        return d


LoadMedicalImageD = LoadMedicalImageDict = LoadMedicalImaged
