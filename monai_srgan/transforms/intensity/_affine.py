"""The affine normalisation every intensity transform is: ``y = x * scale + offset``, recorded and inverted.

A transform computes ``(scale, offset)`` for an image; :class:`AffineNormalize` applies the map, records it in
``meta["srgan_norm"] = {"kind", "scale", "offset"}`` (composed with any earlier one, :func:`compose_norm`) and
inverts it; :class:`AffineNormalized` is the one dictionary base of the ``…d`` versions.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform, Transform
from monai.utils import TraceKeys

from monai_srgan.errors import ConfigError

__all__ = ["compose_norm"]


#: a normalisation parameter: one value, or one per channel
Params = float | list[float]


def as_meta_tensor(img: Any) -> MetaTensor:
    if isinstance(img, MetaTensor):
        return img
    if isinstance(img, np.ndarray):
        img = torch.from_numpy(np.ascontiguousarray(img))
    return MetaTensor(torch.as_tensor(img))


def plain_params(v: Any) -> Params:
    """float for one value, list of floats for several (collate-friendly)."""
    arr = np.asarray(v, dtype=np.float64).reshape(-1)
    return float(arr[0]) if arr.size == 1 else [float(a) for a in arr]


def _bcast(p: Params | torch.Tensor, ndim: int, channel_dim: int = 0) -> torch.Tensor:
    t = torch.as_tensor(p, dtype=torch.float64)
    if t.ndim == 0 or t.numel() == 1:
        return t.reshape(())
    return t.reshape([-1] + [1] * (ndim - channel_dim - 1))


def compose_norm(prev: Mapping[str, Any] | None, kind: str, scale: Params, offset: Params) -> dict[str, Any]:
    """``srgan_norm`` of ``y = (x * s1 + o1) * scale + offset`` given ``prev = {s1, o1}`` (``None``: identity)."""
    if not prev:
        return {"kind": kind, "scale": plain_params(scale), "offset": plain_params(offset)}
    s1, o1 = np.asarray(prev["scale"], np.float64), np.asarray(prev["offset"], np.float64)
    s2, o2 = np.asarray(scale, np.float64), np.asarray(offset, np.float64)
    return {"kind": f"{prev['kind']}+{kind}", "scale": plain_params(s1 * s2), "offset": plain_params(o1 * s2 + o2)}


def apply_affine(x: torch.Tensor, scale: Params, offset: Params, channel_dim: int = 0) -> torch.Tensor:
    s, o = _bcast(scale, x.ndim, channel_dim), _bcast(offset, x.ndim, channel_dim)
    y = x.as_subclass(torch.Tensor) if isinstance(x, MetaTensor) else x
    y = y.to(torch.float32)
    if s.ndim == 0:
        return y * float(s) + float(o)
    return y * s.to(torch.float32) + o.to(torch.float32)


class AffineNormalize(InvertibleTransform, Transform):
    """Base: subclasses compute ``(scale, offset)`` for an image; this applies, records and inverts the map."""

    kind = "affine"

    def __init__(self, clip: bool = False) -> None:
        self.clip = clip

    def params(self, img: MetaTensor) -> tuple[Params, Params, tuple[float, float] | None]:
        """Return ``(scale, offset, clip_range)`` for ``img`` (in its current domain)."""
        raise NotImplementedError

    def __call__(self, img: Any) -> MetaTensor:
        """Normalise ``img`` (channel-first); returns a float32 ``MetaTensor`` with ``meta["srgan_norm"]`` updated."""
        img = as_meta_tensor(img)
        scale, offset, clip_range = self.params(img)
        s = np.asarray(scale, dtype=np.float64)
        if not np.all(np.isfinite(s)) or np.any(s == 0) or not np.all(np.isfinite(offset)):
            raise ConfigError(f"{type(self).__name__}: degenerate normalisation (scale={scale}, offset={offset})")
        y = apply_affine(img, scale, offset)
        if self.clip and clip_range is not None:
            y = y.clamp(*clip_range)
        out = MetaTensor(y, meta=dict(img.meta), applied_operations=list(img.applied_operations))
        out.affine = img.affine
        prev = img.meta.get("srgan_norm")
        out.meta["srgan_norm"] = compose_norm(prev, self.kind, scale, offset)
        self.push_transform(
            out, extra_info={"scale": plain_params(scale), "offset": plain_params(offset), "prev": prev or {}}
        )
        return out

    def inverse(self, data: torch.Tensor) -> MetaTensor:
        """Undo this transform (exact up to float rounding; clipped values stay clipped)."""
        data = as_meta_tensor(data)
        info = self.pop_transform(data)[TraceKeys.EXTRA_INFO]
        x = inverse_affine(data, info["scale"], info["offset"], channel_dim=0)
        out = MetaTensor(x, meta=dict(data.meta), applied_operations=list(data.applied_operations))
        out.affine = data.affine
        if info.get("prev"):
            out.meta["srgan_norm"] = info["prev"]
        else:
            out.meta.pop("srgan_norm", None)
        return out


def inverse_affine(y: torch.Tensor, scale: Any, offset: Any, channel_dim: int) -> torch.Tensor:
    """``(y - offset) / scale`` computed in float64; float32 result (float64 for float64 input)."""
    y = y.as_subclass(torch.Tensor) if isinstance(y, MetaTensor) else torch.as_tensor(y)
    s, o = _bcast(scale, y.ndim, channel_dim).to(y.device), _bcast(offset, y.ndim, channel_dim).to(y.device)
    out_dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
    return ((y.to(torch.float64) - o) / s).to(out_dtype)


def current_range(img: MetaTensor, value_range: Sequence[float] | None, who: str) -> tuple[np.ndarray, np.ndarray]:
    """The representable range in the image's *current* domain (loader range mapped through ``srgan_norm``)."""
    if value_range is not None:
        return np.float64(value_range[0]), np.float64(value_range[1])
    meta = img.meta
    if "srgan_value_min" not in meta or "srgan_value_max" not in meta:
        raise ConfigError(
            f"{who}: value_range is not set and the image has no srgan_value_min/srgan_value_max meta "
            "(load it with LoadMedicalImage or pass value_range=(min, max))"
        )
    lo, hi = np.float64(meta["srgan_value_min"]), np.float64(meta["srgan_value_max"])
    prev = meta.get("srgan_norm")
    if prev:
        s, o = np.asarray(prev["scale"], np.float64), np.asarray(prev["offset"], np.float64)
        lo, hi = np.minimum(lo * s + o, hi * s + o), np.maximum(lo * s + o, hi * s + o)
    return lo, hi


class AffineNormalized(MapTransform, InvertibleTransform):
    def __init__(self, keys: KeysCollection, transform: AffineNormalize, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.normalizer = transform

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Normalise every key (each with its own parameters)."""
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Undo the normalisation of every key."""
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer.inverse(d[key])
        return d
