"""Deterministic spatial pre-processing: resize a whole image to a fixed width, longest side or size.

The bundles use it before patch sampling (the chest X-ray bundle brings every radiograph to one width); the
resampling itself is the project's one resize, :func:`monai_srgan.transforms.imresize`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from monai_srgan.errors import ConfigError
from monai_srgan.transforms.resize import imresize, rescale_spacing

__all__ = ["ResizeImage", "ResizeImaged", "ResizeImageD", "ResizeImageDict"]


class ResizeImage(Transform):
    """Deterministic resize with the project's one resize (:func:`monai_srgan.transforms.imresize`, antialiased).

    Exactly one of ``spatial_size`` (``(H, W)`` or one int for a square), ``width`` (keep the aspect ratio) and
    ``longest`` (longest side, keep the aspect ratio) is given. Images already of that size are returned unchanged;
    ``only_down=True`` never enlarges. A ``MetaTensor`` keeps its meta; the affine and ``srgan_spacing`` follow.
    """

    def __init__(
        self,
        spatial_size: int | Sequence[int] | None = None,
        width: int | None = None,
        longest: int | None = None,
        mode: str = "bicubic",
        only_down: bool = False,
        clip: bool = True,
    ) -> None:
        if sum(v is not None for v in (spatial_size, width, longest)) != 1:
            raise ConfigError("ResizeImage: give exactly one of spatial_size, width, longest")
        self.spatial_size, self.width, self.longest = spatial_size, width, longest
        self.mode, self.only_down, self.clip = mode, only_down, clip

    def target_size(self, hw: Sequence[int]) -> tuple[int, int]:
        h, w = int(hw[0]), int(hw[1])
        if self.spatial_size is not None:
            s = self.spatial_size
            size = (int(s), int(s)) if isinstance(s, int) else (int(s[0]), int(s[1]))
        elif self.width is not None:
            size = (max(int(round(h * self.width / w)), 1), int(self.width))
        else:
            f = self.longest / max(h, w)
            size = (max(int(round(h * f)), 1), max(int(round(w * f)), 1))
        if self.only_down and (size[0] > h or size[1] > w):
            return h, w
        return size

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        size = self.target_size(img.shape[1:3])
        if tuple(img.shape[1:3]) == size:
            return img
        lo = hi = None
        if self.clip and isinstance(img, MetaTensor):
            lo, hi = img.meta.get("srgan_value_min"), img.meta.get("srgan_value_max")
        spacing = img.meta.get("srgan_spacing") if isinstance(img, MetaTensor) else None
        old = tuple(img.shape[1:3])
        out = imresize(img.float(), size=size, mode=self.mode)
        if lo is not None and hi is not None:
            out = out.clamp(float(lo), float(hi))
        if isinstance(out, MetaTensor) and spacing is not None:
            sp = list(spacing) if isinstance(spacing, (list, tuple)) else [float(spacing)] * 2
            out.meta["srgan_spacing"] = rescale_spacing(sp, old, size)
        return out


class ResizeImaged(MapTransform):
    """Dictionary version of :class:`ResizeImage`; an optional ``fov`` key is resized with nearest sampling."""

    def __init__(
        self,
        keys: KeysCollection,
        spatial_size: int | Sequence[int] | None = None,
        width: int | None = None,
        longest: int | None = None,
        mode: str = "bicubic",
        only_down: bool = False,
        clip: bool = True,
        mask_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.resizer = ResizeImage(spatial_size, width, longest, mode, only_down, clip)
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        size = None
        for key in self.key_iterator(d):
            size = self.resizer.target_size(d[key].shape[1:3])
            d[key] = self.resizer(d[key])
        if size is not None and self.mask_key and self.mask_key in d and tuple(d[self.mask_key].shape[1:3]) != size:
            d[self.mask_key] = (imresize(d[self.mask_key].float(), size=size, mode="nearest") > 0.5).float()
        return d


ResizeImageD = ResizeImageDict = ResizeImaged
