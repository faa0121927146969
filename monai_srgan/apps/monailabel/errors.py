"""Readable HTTP errors for MONAI Label requests (MONAI Label itself answers a bare ``500 Internal Server Error``)."""

from __future__ import annotations

from typing import NoReturn

from monai_srgan.errors import ConfigError, InputFileError

__all__ = ["http_status_for", "raise_http_error", "UnknownModelError", "UnknownImageError"]


class UnknownModelError(LookupError):
    """The request names a model the app does not serve."""


class UnknownImageError(LookupError):
    """The request names an image id that is not in the datastore (and no file was uploaded)."""


def http_status_for(exc: BaseException) -> tuple[int, str]:
    """HTTP status and message for an exception raised while serving an infer request.

    404 unknown model or image; 502 the DICOMweb server failed (``store``); 422 an input the model cannot take
    (corrupt file, wrong channels, wrong dimensionality); 400 a bad request parameter; 500 anything else, with the
    exception type and message.
    """
    name = type(exc).__name__
    if name == "DicomWebError":  # the DICOMweb server behind the datastore failed (down, 401/403, STOW refused)
        return 502, f"DICOMweb server: {exc}"
    if isinstance(exc, (UnknownModelError, UnknownImageError)):
        return 404, str(exc)
    if isinstance(exc, InputFileError):
        return 422, f"cannot use the input image: {exc}"
    if isinstance(exc, ConfigError):
        return 400, f"bad request or model setting: {exc}"
    if name == "MONAILabelException":  # raised by MONAILabelApp.infer, e.g. for an unknown model
        msg = getattr(exc, "msg", None) or str(exc)
        return (404 if "model" in str(msg).lower() else 400), str(msg)
    return 500, f"super-resolution failed ({name}: {exc})"


def raise_http_error(exc: BaseException) -> NoReturn:
    """Re-raise ``exc`` as FastAPI's ``HTTPException`` (JSON body ``{"detail": message}``)."""
    from fastapi import HTTPException

    if isinstance(exc, HTTPException):
        raise exc
    status, message = http_status_for(exc)
    raise HTTPException(status_code=status, detail=message) from exc
