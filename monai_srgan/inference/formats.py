"""Output geometry and dtype of the SR pipeline: SR affine, output dtype, slice axis.

Output *formats* (names, ``same``, extensions) are resolved in :mod:`monai_srgan.io.writers.formats`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from monai_srgan.errors import InputFileError
from monai_srgan.io.readers.dicom_series import require_regular_slices
from monai_srgan.transforms.resize import rescale_affine

__all__ = ["sr_affine", "output_dtype_for", "check_slice_axis", "scale_tuple"]


def sr_affine(affine: torch.Tensor | np.ndarray, in_shape: Sequence[int], scale: Sequence[int]) -> torch.Tensor:
    """Affine of the SR output: spacing ÷ scale and the origin moved to the centre of the new first pixel."""
    out_shape = [int(n * s) for n, s in zip(in_shape, scale)]
    return rescale_affine(torch.as_tensor(np.asarray(affine)), list(in_shape), out_shape)


def output_dtype_for(meta: Mapping[str, Any], output_dtype: str = "auto") -> np.dtype:
    """The SR output's dtype: ``output_dtype``, or for ``"auto"`` the source's integer dtype, else float32.

    The source's integer dtype is kept when the value domain is integral: no rescale slope, an integer intercept and
    a value range inside the dtype.
    """
    if output_dtype != "auto":
        return np.dtype(output_dtype)
    src = str(meta.get("srgan_dtype", "float32"))
    try:
        dt = np.dtype(src)
    except TypeError:
        return np.dtype(np.float32)
    slope = float(meta.get("srgan_rescale_slope", 1.0))
    icpt = float(meta.get("srgan_rescale_intercept", 0.0))
    lo, hi = meta.get("srgan_value_min"), meta.get("srgan_value_max")
    if dt.kind in "ui" and slope == 1.0 and icpt == round(icpt) and lo is not None and hi is not None:
        info = np.iinfo(dt)
        if info.min <= float(lo) and float(hi) <= info.max:
            return dt
    return np.dtype(np.float32)


def check_slice_axis(image: Any, scale: Sequence[int], where: str | None) -> None:
    """Refuse a volume whose thick-slice axis is not the axis a through-plane model (per-axis ``scale``) upsamples,
    and a DICOM series with unevenly spaced slices (a missing slice), which a 3D model would read as a regular grid.
    """
    require_regular_slices(
        image.meta,
        "a 3D model reads the volume as a regular grid",
        "fill the gap or split the series into evenly spaced parts, run a 2D model slice by slice, or pass "
        "check_geometry=False if you are sure",
    )
    s = tuple(int(v) for v in scale)
    if len(s) != 3 or len(set(s)) == 1:
        return  # isotropic SR: every axis alike
    axes = [k for k in range(3) if s[k] == max(s)]
    known = image.meta.get("srgan_spacing_known")
    sp = image.meta.get("srgan_spacing")
    if known is not None and not all(bool(k) for k in list(known)[:3]):
        raise InputFileError(
            where,
            f"the header gives no voxel spacing (axes known: {list(known)[:3]}), so the slice axis of this "
            f"volume cannot be checked; the model upsamples axis {axes} (scale {list(s)}) only",
            "write the spacing into the header (NIfTI pixdim + sform/qform; DICOM PixelSpacing and "
            "ImagePositionPatient/SliceThickness) with the thick slices on that axis, or pass "
            "check_geometry=False if you are sure",
        )
    if sp is None or len(sp) < 3:
        return
    sp = [float(v) for v in sp[:3]]
    other = max(sp[k] for k in range(3) if k not in axes)
    finest_sr = min(sp[k] for k in axes)
    if finest_sr < 0.8 * other:
        thick = int(np.argmax(sp))
        raise InputFileError(
            where,
            f"voxel spacing {sp} mm: the model upsamples axis {axes} ({finest_sr:g} mm) but axis {thick} is the "
            f"thick-slice axis ({sp[thick]:g} mm)",
            f"reorient the volume so that the slices lie along axis {axes[0]} (e.g. monai.transforms.Orientation "
            "or nibabel as_closest_canonical for axial data), or pass check_geometry=False",
        )


def scale_tuple(v: Any) -> tuple[int, ...]:
    """An SR factor as a tuple of ints: ``4`` → ``(4,)``, ``[1, 1, 4]`` → ``(1, 1, 4)``."""
    if isinstance(v, (int, float, np.integer)):
        return (int(v),)
    return tuple(int(x) for x in v)
