"""LR-consistency (no ground truth needed): degrade SR with the operator that made the LR input, compare with it.

An SR image that is consistent with its input scores high; hallucinated or shifted content that the input cannot
explain shows up in the residual map. Cheap enough to run on every image at inference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .._filters import as_float
from ..quality import psnr

__all__ = ["lr_consistency"]


def lr_consistency(
    sr: torch.Tensor,
    lr: torch.Tensor,
    scale: float | Sequence[float] | None = None,
    degrade: Callable[[torch.Tensor], torch.Tensor] | None = None,
    data_range: float | None = None,
    input_range: Sequence[float] | None = None,
    crop_border: int | Sequence[int] = 0,
    mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """LR-consistency of a super-resolved batch: ``PSNR(degrade(sr), lr)`` and the residual ``degrade(sr) - lr``.

    Needs no ground truth. With the default operator (antialiased bicubic
    ``monai_srgan.transforms.resize.imresize`` to the LR size, the project's bicubic degradation) a bicubic upsample
    of ``lr`` scores high (it re-degrades to almost exactly ``lr``) and content that the input cannot explain
    (shifts, invented texture) scores low. When the training LR came from another degradation (blur + downsample,
    Real-ESRGAN) pass that operator's deterministic part as ``degrade``.

    Args:
        sr: ``(N, C, *spatial)`` super-resolved images (2D or 3D).
        lr: ``(N, C, *lr_spatial)`` the inputs they came from.
        scale: SR factor (float or per axis); checked against the shapes when given, inferred otherwise.
        degrade: callable mapping ``sr`` to the LR grid; default ``imresize(sr, size=lr_spatial)``.
        data_range, input_range: value range, as in :func:`monai_srgan.metrics.psnr`.
        crop_border: LR pixels cropped from each side before the PSNR (resampling is least certain at borders).
        mask: optional LR-grid mask ``(N or 1, 1, *lr_spatial)`` for the PSNR.

    Returns:
        ``{"psnr": (N,), "residual": (N, C, *lr_spatial), "degraded": (N, C, *lr_spatial)}``.

    Example:
        >>> from monai_srgan.transforms.resize import imresize
        >>> lr = imresize(torch.rand(1, 1, 8, 8), 4.0)  # a smooth 32x32 input
        >>> float(lr_consistency(imresize(lr, 4.0), lr, scale=4)["psnr"]) > 40
        True
    """
    sr, lr = as_float(sr), as_float(lr).to(as_float(sr).dtype)
    if sr.ndim != lr.ndim or sr.shape[:2] != lr.shape[:2]:
        raise ValueError(f"sr {tuple(sr.shape)} and lr {tuple(lr.shape)} must share batch and channel axes.")
    sd = sr.ndim - 2
    if scale is not None:
        factors = [float(scale)] * sd if isinstance(scale, (int, float)) else [float(s) for s in scale]
        expected = [round(s * f) for s, f in zip(lr.shape[2:], factors)]
        if list(sr.shape[2:]) != expected:
            raise ValueError(f"sr spatial shape {tuple(sr.shape[2:])} is not scale {scale} x lr {tuple(lr.shape[2:])}.")
    if degrade is None:
        from monai_srgan.transforms.resize import imresize  # the project's single resize (lazy import)

        degraded = imresize(sr, size=tuple(lr.shape[2:]), mode="bicubic", antialias=True, spatial_dims=sd)
    else:
        degraded = as_float(degrade(sr))
    if degraded.shape != lr.shape:
        raise ValueError(f"degrade(sr) has shape {tuple(degraded.shape)}, lr has {tuple(lr.shape)}.")
    value = psnr(degraded, lr, data_range=data_range, input_range=input_range, crop_border=crop_border, mask=mask)
    return {"psnr": value, "residual": degraded - lr, "degraded": degraded}
