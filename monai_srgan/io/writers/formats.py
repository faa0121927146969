"""The one place that resolves an output format: ``--format``/``fmt`` names, ``"same"``, extensions, writers.

Every caller (the CLI's output plan, :meth:`SRInferencePipeline.write`, :func:`monai_srgan.io.writers.write_image`,
bundles) resolves through :func:`output_format_for`; nothing else maps names or extensions to formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError

__all__ = ["FORMAT_EXTENSIONS", "FORMAT_CHOICES", "format_name", "output_format_for"]

#: output formats and the extension each writer uses (``dicom`` writes a folder)
FORMAT_EXTENSIONS = {"dicom": "", "png": ".png", "jpeg": ".jpg", "tiff": ".tif", "nifti": ".nii.gz"}
#: what ``--format`` accepts: ``same``, the formats and their aliases
FORMAT_CHOICES = ("same", "dicom", "png", "jpeg", "jpg", "tiff", "tif", "nifti")
_ALIASES = {"jpg": "jpeg", "tif": "tiff", "nii": "nifti", "nii.gz": "nifti"}
# the input's format (meta srgan_format, or the input kind of find_inputs) -> the output format of "same"
_SAME = {
    "dicom": "dicom",
    "dicom_series": "dicom",
    "png": "png",
    "jpeg": "jpeg",
    "tiff": "tiff",
    "bmp": "png",
    "nifti": "nifti",
}
# a 2D input known only by its file name: the extension decides ("same" before loading, e.g. to plan outputs)
_BY_EXTENSION = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}


def format_name(fmt: str) -> str:
    """A format name with its alias resolved (``jpg`` → ``jpeg``, ``tif`` → ``tiff``, ``nii``/``nii.gz`` → ``nifti``).

    Lower-cased, not validated: ``"same"`` and unknown names come back as they are.

    Args:
        fmt: a format name or alias.
    """
    fmt = str(fmt).lower()
    return _ALIASES.get(fmt, fmt)


def output_format_for(meta: Mapping[str, Any] | None = None, fmt: str = "same", *, source: Any = None) -> str:
    """Resolve ``fmt`` (``"same"`` keeps the input's format) to one of :data:`FORMAT_EXTENSIONS`.

    ``"same"`` is resolved from a loaded image's ``meta`` (``srgan_format``; unknown 2D formats become PNG, volumes
    NIfTI) or, before loading, from ``source`` (an :class:`~monai_srgan.io.discovery.InputItem`: DICOM kinds stay
    DICOM, NIfTI stays NIfTI, other files by extension, PNG for the rest).

    Args:
        meta: the loaded (or super-resolved) image's meta, or None.
        fmt: a format name or alias (``jpg``, ``tif``, ``nii``, ``nii.gz``), or ``"same"``.
        source: the input item, used when ``meta`` is None.

    Raises:
        ConfigError: an unknown format name.
    """
    fmt = format_name(fmt)
    if fmt == "same":
        if meta is not None:
            src = str(meta.get("srgan_format", "png"))
            fmt = _SAME.get(src, "nifti" if len(meta.get("spatial_shape", ())) == 3 else "png")
        elif source is not None and source.kind in _SAME:
            fmt = _SAME[source.kind]
        elif source is not None:
            fmt = _BY_EXTENSION.get(Path(source.files[0]).suffix.lower(), "png")
        else:
            fmt = "png"
    if fmt not in FORMAT_EXTENSIONS:
        raise ConfigError(f"format={fmt!r}: choose one of same, {', '.join(FORMAT_EXTENSIONS)}")
    return fmt
