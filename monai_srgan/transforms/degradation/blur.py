"""Gaussian blur then downsampling (paper 003, Sec. 2.3, the "BD" degradation), 2D or 3D, and the separable
Gaussian filter the other degradations (X-ray PSF, in-plane blur of thick slices) share.

Works on channel-first ``(C, *spatial)`` tensors holding normalised values; HR sizes not divisible by the scale
follow the size policy of :mod:`._common`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import RandomizableTransform

from monai_srgan.transforms.resize import imresize
from monai_srgan.utils.axes import per_axis

from ._common import check_scale, check_size_policy, draw, like, prepare_hr
from ._dict_base import RandDegradeDictBase

__all__ = [
    "RandBlurDownsample",
    "RandBlurDownsampled",
    "RandBlurDownsampleD",
    "RandBlurDownsampleDict",
    "gaussian_blur",
    "gaussian_kernel1d",
]


def gaussian_kernel1d(sigma: float, radius: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised sampled Gaussian of standard deviation ``sigma`` (pixels), radius ``ceil(3 sigma)`` by default."""
    if radius is None:
        radius = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / max(sigma, 1e-6)) ** 2)
    return (k / k.sum()).to(dtype)


def _conv_axis(x: torch.Tensor, kernel: torch.Tensor, axis: int, padding_mode: str = "reflect") -> torch.Tensor:
    """1D convolution of every line of ``x`` along ``axis`` (the same kernel for all), reflect padding."""
    r = kernel.numel() // 2
    if r == 0:
        return x * kernel.reshape(())
    xt = x.movedim(axis, -1)
    shp = xt.shape
    lines = xt.reshape(-1, 1, shp[-1])
    if padding_mode == "reflect" and shp[-1] <= r:
        padding_mode = "replicate"
    lines = F.pad(lines, (r, r), mode=padding_mode)
    y = F.conv1d(lines, kernel.to(lines.dtype).flip(0).reshape(1, 1, -1))
    return y.reshape(shp).movedim(-1, axis)


def gaussian_blur(
    x: torch.Tensor, sigma: float | Sequence[float], spatial_dims: int | None = None, truncate: float = 3.0
) -> torch.Tensor:
    """Separable Gaussian blur of ``(C, *spatial)`` or ``(N, C, *spatial)`` with reflect padding.

    Args:
        x: float tensor.
        sigma: standard deviation in pixels, one value or one per spatial axis (0 skips an axis).
        spatial_dims: number of trailing spatial axes (default ``x.ndim - 1``).
        truncate: kernel radius in sigmas.
    """
    nd = spatial_dims or x.ndim - 1
    sig = per_axis(sigma, nd, "sigma")
    for k, s in enumerate(sig):
        if s > 0:
            radius = max(1, int(math.ceil(truncate * s)))
            x = _conv_axis(x, gaussian_kernel1d(s, radius, x.dtype), x.ndim - nd + k)
    return x


class RandBlurDownsample(RandomizableTransform):
    """Gaussian blur then downsampling (paper 003, Sec. 2.3: "applying a Gaussian filter to I^HR followed by
    downsampling with factor r"); 2D or 3D.

    The paper gives no sigma; the default draws sigma uniformly in ``[0.4 r, 0.6 r]`` HR pixels per call (the
    usual "BD" setting is sigma 1.6 at ×3). The blurred image is then sampled at the LR pixel centres with
    ``down_mode`` (bicubic interpolation without further antialiasing by default; ``"nearest"`` is plain
    decimation, ``"area"`` block averaging).

    Args:
        scale: reduction factor, one or one per spatial axis.
        sigma: blur sigma in HR pixels: a fixed value or a ``(low, high)`` range drawn per call; ``None`` →
            ``(0.4 * scale, 0.6 * scale)`` (per axis, the largest factor).
        prob: probability of blurring (otherwise only the downsampling is applied).
        down_mode: resampling of the blurred image (``imresize`` mode).
        size_policy: ``"crop"`` or ``"raise"`` (see :mod:`._common`).
        clip: optional ``(low, high)`` clip of the LR.
    """

    backend = ["torch"]

    def __init__(
        self,
        scale: float | Sequence[float] = 4,
        sigma: float | Sequence[float] | None = None,
        prob: float = 1.0,
        down_mode: str = "bicubic",
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.scale = check_scale(scale)
        smax = max(float(s) for s in scale) if isinstance(scale, Sequence) else float(scale)
        self.sigma = (0.4 * smax, 0.6 * smax) if sigma is None else sigma
        self.down_mode = down_mode
        self.size_policy = check_size_policy(size_policy)
        self.clip = clip
        self._sigma = 0.0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._sigma = draw(self.R, self.sigma) if self._do_transform else 0.0

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        """Degrade ``(C, *spatial)``; ``randomize=False`` reuses the last sigma."""
        if randomize:
            self.randomize()
        img, x, scales = prepare_hr(img, self.scale, self.size_policy)
        nd = x.ndim - 1
        # blur only along axes that are reduced
        y = gaussian_blur(x, tuple(self._sigma if s > 1 else 0.0 for s in scales), nd) if self._sigma > 0 else x
        # sampled at the LR pixel centres: no further antialiasing, except that "area" means block averaging
        aa = self.down_mode == "area"
        lr = imresize(y, tuple(1.0 / s for s in scales), mode=self.down_mode, antialias=aa, spatial_dims=nd)
        if self.clip is not None:
            lr = lr.clamp(*self.clip)
        return like(lr, img, x.shape[1:])


class RandBlurDownsampled(RandDegradeDictBase):
    """Dictionary :class:`RandBlurDownsample` (one sigma per call shared by all ``keys``).

    Example: ``RandBlurDownsampled(keys="hr", lr_key="lr", scale=4, sigma=(1.0, 2.0))``.
    """

    backend = RandBlurDownsample.backend
    draw_per_key = False

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        scale: float | Sequence[float] = 4,
        sigma: float | Sequence[float] | None = None,
        prob: float = 1.0,
        down_mode: str = "bicubic",
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        degrade = RandBlurDownsample(scale, sigma, prob, down_mode, size_policy, clip)
        super().__init__(keys, degrade, lr_key, fov_key, allow_missing_keys)


RandBlurDownsampleD = RandBlurDownsampleDict = RandBlurDownsampled
