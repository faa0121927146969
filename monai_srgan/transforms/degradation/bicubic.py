"""The papers' degradation: antialiased bicubic reduction (PIL/Matlab ``imresize``), papers 000, 001 and 004.

Works on channel-first ``(C, H, W)`` and ``(C, H, W, D)`` tensors; the LR output is a ``MetaTensor`` when the HR one
is, with its affine and ``srgan_spacing`` rescaled to the LR grid. HR sizes not divisible by the scale follow the
size policy of :mod:`._common`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import Transform

from monai_srgan.transforms.resize import imresize

from ._common import check_scale, check_size_policy, like, prepare_hr, quantize
from ._dict_base import DegradeDictBase

__all__ = ["BicubicDownsample", "BicubicDownsampled", "BicubicDownsampleD", "BicubicDownsampleDict"]


class BicubicDownsample(Transform):
    """The papers' degradation: antialiased bicubic reduction by an integer factor (PIL/Matlab ``imresize``).

    Used by papers 000, 001 and 004 (×2/×3/×4/×8/×16). Works on ``(C, H, W)`` and ``(C, H, W, D)``; ``scale`` may be
    one factor per spatial axis (``(1, 1, 4)`` reduces only the slice axis).

    Args:
        scale: reduction factor (>= 1), or one per spatial axis.
        mode: :func:`~monai_srgan.transforms.resize.imresize` kernel (``"bicubic"`` by default).
        antialias: widen the kernel when reducing (PIL/Matlab); keep ``True`` for the papers' operator.
        size_policy: ``"crop"`` (default: crop the HR bottom/right to a multiple of the scale) or ``"raise"``.
        clip: optional ``(low, high)`` clip of the LR values (bicubic overshoots near edges).
        quantize_bits: round the LR to this many bits (``8`` imitates LR images saved as 8-bit PNG); None = off.
    """

    backend = ["torch"]

    def __init__(
        self,
        scale: float | Sequence[float] = 4,
        mode: str = "bicubic",
        antialias: bool = True,
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
        quantize_bits: int | None = None,
    ) -> None:
        self.scale = check_scale(scale)
        self.mode = mode
        self.antialias = antialias
        self.size_policy = check_size_policy(size_policy)
        self.clip = clip
        self.quantize_bits = quantize_bits

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """Degrade one HR image ``(C, *spatial)``; returns the LR image."""
        img, x, scales = prepare_hr(img, self.scale, self.size_policy)
        nd = x.ndim - 1
        factors = tuple(1.0 / s for s in scales)
        lr = imresize(x, scale_factor=factors, mode=self.mode, antialias=self.antialias, spatial_dims=nd)
        if self.clip is not None:
            lr = lr.clamp(*self.clip)
        lr = quantize(lr, self.quantize_bits)
        return like(lr, img, x.shape[1:])


class BicubicDownsampled(DegradeDictBase):
    """Dictionary version of :class:`BicubicDownsample`: ``d[lr_key] = degrade(d[key])``.

    Example: ``BicubicDownsampled(keys="hr", lr_key="lr", scale=4)``.

    Args:
        keys: HR key(s).
        lr_key: output key(s), one per HR key.
        fov_key: a field-of-view mask cropped with the HR by the size policy (ignored when absent).
        allow_missing_keys: skip absent HR keys.
        other args: see :class:`BicubicDownsample`.
    """

    backend = BicubicDownsample.backend

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        scale: float | Sequence[float] = 4,
        mode: str = "bicubic",
        antialias: bool = True,
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
        quantize_bits: int | None = None,
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        degrade = BicubicDownsample(scale, mode, antialias, size_policy, clip, quantize_bits)
        super().__init__(keys, degrade, lr_key, fov_key, allow_missing_keys)


BicubicDownsampleD = BicubicDownsampleDict = BicubicDownsampled
