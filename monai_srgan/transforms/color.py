"""Colour pre-processing: RGB(A) photographs or radiographs stored as RGB → one channel."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

__all__ = ["ToGrayscale", "ToGrayscaled", "ToGrayscaleD", "ToGrayscaleDict"]


class ToGrayscale(Transform):
    """RGB(A) → 1 channel (ITU-R BT.601 luma, as PIL's ``convert("L")``); 1-channel images pass unchanged."""

    WEIGHTS = (0.299, 0.587, 0.114)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.shape[0] == 1:
            return img
        if img.shape[0] < 3:
            return img[:1]
        w = torch.tensor(self.WEIGHTS, dtype=img.dtype, device=img.device).reshape(3, *([1] * (img.ndim - 1)))
        out = (img[:3] * w).sum(0, keepdim=True)
        if isinstance(img, MetaTensor):
            out = MetaTensor(out.as_tensor() if isinstance(out, MetaTensor) else out, meta=dict(img.meta))
            out.meta["srgan_photometric"] = "L"
            out.meta["original_channel_dim"] = "no_channel"  # as a 1-channel file loads: batches collate
        return out


class ToGrayscaled(MapTransform):
    """Dictionary version of :class:`ToGrayscale`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.t = ToGrayscale()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.t(d[key])
        return d


ToGrayscaleD = ToGrayscaleDict = ToGrayscaled
