"""ITK reader for what Pillow reads wrongly: 16-bit colour TIFF and PNG (Pillow gives 8-bit RGB)."""

from __future__ import annotations

from typing import Any

import numpy as np

from monai_srgan.errors import InputFileError
from monai_srgan.io.readers.base import SingleFileReader
from monai_srgan.io.readers.pil import int_range_meta

__all__ = ["ITKColorTiffReader", "load_itk_color_tiff"]


def load_itk_color_tiff(path: str, fmt: str = "tiff") -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a 16-bit (colour) TIFF or PNG as a vector image: ``(values (C, H, W), affine, srgan_* meta)``.

    Args:
        path: the file.
        fmt: the ``srgan_format`` to record.

    Raises:
        InputFileError: ITK cannot read the file.
    """
    import warnings

    try:  # Pillow reads 16-bit RGB TIFF/PNG as 8-bit RGB: read it as a 16-bit vector image instead
        with warnings.catch_warnings():  # ITK's lazily loaded SWIG bindings warn; nothing about the file
            warnings.simplefilter("ignore", DeprecationWarning)
            import itk

            reader = itk.ImageFileReader[itk.VectorImage[itk.US, 2]].New(FileName=path)
            reader.Update()
            arr = np.asarray(itk.array_from_image(reader.GetOutput()))
    except Exception as e:  # noqa: BLE001
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputFileError(
            path,
            f"16-bit colour {fmt.upper()} cannot be read ({first})",
            "convert it with another tool (to a 16-bit colour TIFF or PNG, or to 8 bits if the depth is not needed)",
        ) from e
    alpha_dropped = arr.ndim == 3 and arr.shape[-1] in (2, 4)
    if alpha_dropped:
        arr = arr[..., :-1]
    if arr.ndim == 3 and arr.shape[-1] == 1:  # grey + alpha
        arr = arr[..., 0]
    meta = int_range_meta(arr, path)
    meta.update(srgan_photometric="RGB" if arr.ndim == 3 else "L", srgan_alpha_dropped=alpha_dropped, srgan_format=fmt)
    vals = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    return vals, np.eye(4), meta


class ITKColorTiffReader(SingleFileReader):
    """MONAI ``ImageReader`` for 16-bit colour TIFF (alpha dropped), values as stored.

    Args:
        check_finite: see :class:`~monai_srgan.io.readers.base.SingleFileReader`.
    """

    suffixes = (".tif", ".tiff")
    load = staticmethod(load_itk_color_tiff)
