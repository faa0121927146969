"""Intensity normalisation with an exact inverse.

Every transform here is an affine map ``y = x * scale + offset`` (per image, or per channel) from the loader's value
domain (docs/architecture.md) to the network's range, and records it in ``meta["srgan_norm"] = {"kind", "scale",
"offset"}``. Applying several in a row composes them, so ``srgan_norm`` always maps the *loaded* values to the current
ones and :func:`invert_normalization` maps any network output back to the source's value domain. Each transform is also
a MONAI :class:`~monai.transforms.InvertibleTransform` (``inverse`` pops its own record).

* :class:`ScaleToUnitRange` - ``[srgan_value_min, srgan_value_max]`` (the bit-depth range) to ``[0, 1]`` or
  ``[-1, 1]`` (paper 004 normalises to ``[-1, 1]``).
* :class:`ZScoreNormalize` - ``(x - mu) / sigma`` with the training set's mean/std (paper 000, eq. 7), computed with
  :func:`compute_dataset_stats`.
* :class:`PercentileScale` - robust ``[p_low, p_high]`` to ``out_range`` per image.
* :class:`WindowScale` - DICOM LINEAR VOI window (PS3.3 C.11.2.1.2.1) to ``out_range``.

Exactness: float32 holds every 16-bit integer and the round trip error of the affine map is ~1e-2 grey levels for
16-bit data, so normalise -> invert -> round to the stored dtype is bit-exact (tests on real files). Clipping
(``clip=True``, the default of :class:`WindowScale` only) is not invertible outside the clipped range.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform, Transform
from monai.utils import TraceKeys

from monai_srgan.errors import ConfigError

__all__ = [
    "ScaleToUnitRange",
    "ScaleToUnitRanged",
    "ScaleToUnitRangeD",
    "ScaleToUnitRangeDict",
    "UnitRangeNormalize",
    "ZScoreNormalize",
    "ZScoreNormalized",
    "ZScoreNormalizeD",
    "ZScoreNormalizeDict",
    "PercentileScale",
    "PercentileScaled",
    "PercentileScaleD",
    "PercentileScaleDict",
    "WindowScale",
    "WindowScaled",
    "WindowScaleD",
    "WindowScaleDict",
    "invert_normalization",
    "compose_norm",
    "compute_dataset_stats",
]

Number = float | int
Params = float | list[float]


def _as_meta_tensor(img: Any) -> MetaTensor:
    if isinstance(img, MetaTensor):
        return img
    if isinstance(img, np.ndarray):
        img = torch.from_numpy(np.ascontiguousarray(img))
    return MetaTensor(torch.as_tensor(img))


def _plain(v: Any) -> Params:
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
        return {"kind": kind, "scale": _plain(scale), "offset": _plain(offset)}
    s1, o1 = np.asarray(prev["scale"], np.float64), np.asarray(prev["offset"], np.float64)
    s2, o2 = np.asarray(scale, np.float64), np.asarray(offset, np.float64)
    return {"kind": f"{prev['kind']}+{kind}", "scale": _plain(s1 * s2), "offset": _plain(o1 * s2 + o2)}


def _affine(x: torch.Tensor, scale: Params, offset: Params, channel_dim: int = 0) -> torch.Tensor:
    s, o = _bcast(scale, x.ndim, channel_dim), _bcast(offset, x.ndim, channel_dim)
    y = x.as_subclass(torch.Tensor) if isinstance(x, MetaTensor) else x
    y = y.to(torch.float32)
    if s.ndim == 0:
        return y * float(s) + float(o)
    return y * s.to(torch.float32) + o.to(torch.float32)


class _AffineNormalize(InvertibleTransform, Transform):
    """Base: subclasses compute ``(scale, offset)`` for an image; this applies, records and inverts the map."""

    kind = "affine"

    def __init__(self, clip: bool = False) -> None:
        self.clip = clip

    def params(self, img: MetaTensor) -> tuple[Params, Params, tuple[float, float] | None]:
        """Return ``(scale, offset, clip_range)`` for ``img`` (in its current domain)."""
        raise NotImplementedError

    def __call__(self, img: Any) -> MetaTensor:
        """Normalise ``img`` (channel-first); returns a float32 ``MetaTensor`` with ``meta["srgan_norm"]`` updated."""
        img = _as_meta_tensor(img)
        scale, offset, clip_range = self.params(img)
        s = np.asarray(scale, dtype=np.float64)
        if not np.all(np.isfinite(s)) or np.any(s == 0) or not np.all(np.isfinite(offset)):
            raise ConfigError(f"{type(self).__name__}: degenerate normalisation (scale={scale}, offset={offset})")
        y = _affine(img, scale, offset)
        if self.clip and clip_range is not None:
            y = y.clamp(*clip_range)
        out = MetaTensor(y, meta=dict(img.meta), applied_operations=list(img.applied_operations))
        out.affine = img.affine
        prev = img.meta.get("srgan_norm")
        out.meta["srgan_norm"] = compose_norm(prev, self.kind, scale, offset)
        self.push_transform(out, extra_info={"scale": _plain(scale), "offset": _plain(offset), "prev": prev or {}})
        return out

    def inverse(self, data: torch.Tensor) -> MetaTensor:
        """Undo this transform (exact up to float rounding; clipped values stay clipped)."""
        data = _as_meta_tensor(data)
        info = self.pop_transform(data)[TraceKeys.EXTRA_INFO]
        x = _inverse_affine(data, info["scale"], info["offset"], channel_dim=0)
        out = MetaTensor(x, meta=dict(data.meta), applied_operations=list(data.applied_operations))
        out.affine = data.affine
        if info.get("prev"):
            out.meta["srgan_norm"] = info["prev"]
        else:
            out.meta.pop("srgan_norm", None)
        return out


def _inverse_affine(y: torch.Tensor, scale: Any, offset: Any, channel_dim: int) -> torch.Tensor:
    """``(y - offset) / scale`` computed in float64; float32 result (float64 for float64 input)."""
    y = y.as_subclass(torch.Tensor) if isinstance(y, MetaTensor) else torch.as_tensor(y)
    s, o = _bcast(scale, y.ndim, channel_dim).to(y.device), _bcast(offset, y.ndim, channel_dim).to(y.device)
    out_dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
    return ((y.to(torch.float64) - o) / s).to(out_dtype)


def _current_range(img: MetaTensor, value_range: Sequence[float] | None, who: str) -> tuple[np.ndarray, np.ndarray]:
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


class ScaleToUnitRange(_AffineNormalize):
    """Map the representable value range to ``out_range`` (``[0, 1]`` default, ``[-1, 1]`` as in paper 004).

    ``y = (x - lo) / (hi - lo) * (b - a) + a`` with ``lo, hi = srgan_value_min, srgan_value_max`` (the bit-depth range
    written by the loader, e.g. 0..4095 for 12-bit DICOM, 0..65535 for 16-bit PNG) unless ``value_range`` is given.

    Args:
        out_range: target ``(a, b)``.
        value_range: explicit ``(lo, hi)`` instead of the metadata.
        clip: clamp the result to ``out_range`` (not invertible outside it; values of the source never fall outside).
    """

    kind = "unit"

    def __init__(
        self,
        out_range: Sequence[float] = (0.0, 1.0),
        value_range: Sequence[float] | None = None,
        clip: bool = False,
    ) -> None:
        super().__init__(clip)
        self.out_range = (float(out_range[0]), float(out_range[1]))
        self.value_range = value_range

    def params(self, img):
        lo, hi = _current_range(img, self.value_range, type(self).__name__)
        hi = np.where(hi != lo, hi, lo + 1.0)  # constant image (float NIfTI/DICOM data range): keep the map invertible
        a, b = self.out_range
        scale = (b - a) / (hi - lo)
        return _plain(scale), _plain(a - lo * scale), self.out_range


UnitRangeNormalize = ScaleToUnitRange


class ZScoreNormalize(_AffineNormalize):
    """Z-score ``I_norm = (I - mu) / sigma`` with the training set's mean and std (paper 000, eq. 7).

    Args:
        mean: ``mu``, one value or one per channel (from :func:`compute_dataset_stats`); ``None`` uses the image's own.
        std: ``sigma``, likewise.
        channel_wise: with ``mean``/``std`` ``None``, compute them per channel (else over the whole image).
        eps: lower bound of ``sigma``.
    """

    kind = "zscore"

    def __init__(
        self,
        mean: Params | None = None,
        std: Params | None = None,
        channel_wise: bool = True,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(clip=False)
        self.mean, self.std, self.channel_wise, self.eps = mean, std, channel_wise, eps

    def params(self, img):
        x = img.as_subclass(torch.Tensor).to(torch.float64)
        dims = tuple(range(1, x.ndim)) if self.channel_wise else tuple(range(x.ndim))
        mean = np.asarray(self.mean if self.mean is not None else x.mean(dim=dims).numpy(), np.float64)
        std = np.asarray(self.std if self.std is not None else x.std(dim=dims, unbiased=False).numpy(), np.float64)
        std = np.maximum(std, self.eps)
        n_c = img.shape[0]
        for name, v in (("mean", mean), ("std", std)):
            if v.size not in (1, n_c):
                raise ConfigError(f"ZScoreNormalize: {name} has {v.size} values but the image has {n_c} channels")
        return _plain(1.0 / std), _plain(-mean / std), None


class PercentileScale(_AffineNormalize):
    """Map the ``[lower, upper]`` percentiles of the image to ``out_range`` (robust scaling for CT/MR/X-ray).

    Args:
        lower: lower percentile in [0, 100].
        upper: upper percentile in [0, 100].
        out_range: target ``(a, b)``.
        channel_wise: percentiles per channel (else over all channels).
        clip: clamp to ``out_range`` (values beyond the percentiles are then not invertible).
        max_samples: percentiles are estimated on at most this many evenly strided values (deterministic).
    """

    kind = "percentile"

    def __init__(
        self,
        lower: float = 0.5,
        upper: float = 99.5,
        out_range: Sequence[float] = (0.0, 1.0),
        channel_wise: bool = False,
        clip: bool = False,
        max_samples: int = 1 << 22,
    ) -> None:
        super().__init__(clip)
        if not 0 <= lower < upper <= 100:
            raise ConfigError(f"PercentileScale: need 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
        self.lower, self.upper = float(lower), float(upper)
        self.out_range = (float(out_range[0]), float(out_range[1]))
        self.channel_wise, self.max_samples = channel_wise, int(max_samples)

    def _pct(self, v: np.ndarray) -> tuple[float, float]:
        v = v.reshape(-1)
        if v.size > self.max_samples:
            v = v[:: int(math.ceil(v.size / self.max_samples))]
        lo, hi = np.percentile(v, [self.lower, self.upper])
        if hi <= lo:  # flat image: keep the map invertible
            hi = lo + 1.0
        return float(lo), float(hi)

    def params(self, img):
        x = img.as_subclass(torch.Tensor).detach().cpu().numpy()
        pairs = [self._pct(c) for c in x] if self.channel_wise else [self._pct(x)]
        lo, hi = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        a, b = self.out_range
        scale = (b - a) / (hi - lo)
        return _plain(scale), _plain(a - lo * scale), self.out_range


class WindowScale(_AffineNormalize):
    """DICOM window (LINEAR VOI function, PS3.3 C.11.2.1.2.1) to ``out_range``.

    ``y = ((x - (c - 0.5)) / (w - 1) + 0.5) * (b - a) + a``, clamped to ``[a, b]`` when ``clip``. With ``center``/
    ``width`` ``None`` the file's first window is used (``srgan_window_center``/``srgan_window_width``); for data
    the loader inverted (MONOCHROME1) the window is mirrored (``c' = lo + hi - c + 1``) so that the result equals the
    file's windowed, inverted display.

    Args:
        center: window center in the value domain of the loaded image (``None``: from the metadata).
        width: window width (>= 1).
        out_range: target ``(a, b)``.
        clip: clamp to ``out_range`` (the usual windowing; the inverse is exact only inside the window).
    """

    kind = "window"

    def __init__(
        self,
        center: float | None = None,
        width: float | None = None,
        out_range: Sequence[float] = (0.0, 1.0),
        clip: bool = True,
    ) -> None:
        super().__init__(clip)
        self.center, self.width = center, width
        self.out_range = (float(out_range[0]), float(out_range[1]))

    def params(self, img):
        meta = img.meta
        c, w = self.center, self.width
        if c is None or w is None:
            if "srgan_window_center" not in meta or "srgan_window_width" not in meta:
                raise ConfigError(
                    "WindowScale: center/width are not set and the image has no DICOM window "
                    "(srgan_window_center/srgan_window_width): pass center= and width="
                )
            c, w = float(meta["srgan_window_center"]), float(meta["srgan_window_width"])
            if meta.get("srgan_inverted"):
                c = float(meta["srgan_value_min"]) + float(meta["srgan_value_max"]) - c + 1.0
        c, w = float(c), float(w)
        if w < 1:
            raise ConfigError(f"WindowScale: width must be >= 1, got {w}")
        a, b = self.out_range
        scale = (b - a) / max(w - 1.0, 1e-12)
        offset = (0.5 - (c - 0.5) / max(w - 1.0, 1e-12)) * (b - a) + a
        prev = meta.get("srgan_norm")
        if prev:  # center/width are in the loaded value domain: map the window through the previous normalisation
            s1, o1 = np.asarray(prev["scale"], np.float64), np.asarray(prev["offset"], np.float64)
            scale, offset = scale / s1, offset - scale * o1 / s1
        return _plain(scale), _plain(offset), self.out_range


# ---------------------------------------------------------------------------------------------------------------------
# dictionary versions
# ---------------------------------------------------------------------------------------------------------------------
class _AffineNormalized(MapTransform, InvertibleTransform):
    def __init__(self, keys: KeysCollection, transform: _AffineNormalize, allow_missing_keys: bool = False) -> None:
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


class ScaleToUnitRanged(_AffineNormalized):
    """Dictionary version of :class:`ScaleToUnitRange`."""

    def __init__(
        self,
        keys: KeysCollection,
        out_range: Sequence[float] = (0.0, 1.0),
        value_range: Sequence[float] | None = None,
        clip: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, ScaleToUnitRange(out_range, value_range, clip), allow_missing_keys)


class ZScoreNormalized(_AffineNormalized):
    """Dictionary version of :class:`ZScoreNormalize`."""

    def __init__(
        self,
        keys: KeysCollection,
        mean: Params | None = None,
        std: Params | None = None,
        channel_wise: bool = True,
        eps: float = 1e-8,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, ZScoreNormalize(mean, std, channel_wise, eps), allow_missing_keys)


class PercentileScaled(_AffineNormalized):
    """Dictionary version of :class:`PercentileScale`."""

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 0.5,
        upper: float = 99.5,
        out_range: Sequence[float] = (0.0, 1.0),
        channel_wise: bool = False,
        clip: bool = False,
        max_samples: int = 1 << 22,
        allow_missing_keys: bool = False,
    ) -> None:
        t = PercentileScale(lower, upper, out_range, channel_wise, clip, max_samples)
        super().__init__(keys, t, allow_missing_keys)


class WindowScaled(_AffineNormalized):
    """Dictionary version of :class:`WindowScale`."""

    def __init__(
        self,
        keys: KeysCollection,
        center: float | None = None,
        width: float | None = None,
        out_range: Sequence[float] = (0.0, 1.0),
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, WindowScale(center, width, out_range, clip), allow_missing_keys)


ScaleToUnitRangeD = ScaleToUnitRangeDict = ScaleToUnitRanged
ZScoreNormalizeD = ZScoreNormalizeDict = ZScoreNormalized
PercentileScaleD = PercentileScaleDict = PercentileScaled
WindowScaleD = WindowScaleDict = WindowScaled


# ---------------------------------------------------------------------------------------------------------------------
# the one inverse
# ---------------------------------------------------------------------------------------------------------------------
def _params_of(meta_or_params: Any) -> Mapping[str, Any]:
    if isinstance(meta_or_params, MetaTensor):
        meta_or_params = meta_or_params.meta
    if not isinstance(meta_or_params, Mapping):
        raise ConfigError(
            f"invert_normalization: expected a meta dict or srgan_norm params, got {type(meta_or_params)}"
        )
    if "srgan_norm" in meta_or_params:
        return meta_or_params["srgan_norm"]
    if "scale" in meta_or_params and "offset" in meta_or_params:
        return meta_or_params
    raise ConfigError("invert_normalization: no 'srgan_norm' in the metadata (the image was not normalised here)")


def invert_normalization(
    x: torch.Tensor | np.ndarray,
    meta_or_params: Mapping[str, Any] | MetaTensor,
    channel_dim: int | None = None,
    dtype: str | np.dtype | torch.dtype | bool | None = None,
) -> torch.Tensor:
    """Undo the normalisation described by ``srgan_norm``: ``x = (y - offset) / scale``.

    Works on one image ``(C, *spatial)`` or a batch ``(N, C, *spatial)``, with one parameter set or with parameters
    collated by a MONAI ``DataLoader`` (``kind`` a list, ``scale``/``offset`` one value per batch item, or per item and
    channel).

    Args:
        x: normalised data (e.g. network output).
        meta_or_params: an image ``meta`` dict holding ``srgan_norm``, the ``srgan_norm`` dict itself, or a MetaTensor.
        channel_dim: axis of the channels for per-channel parameters; ``None`` guesses: 1 for collated parameters and
            for 4D+ input whose dim 1 matches the number of channels, else 0.
        dtype: also round and clamp to a stored integer dtype (``"uint16"``, ``np.int16``...); ``True`` takes
            ``srgan_dtype`` (and clamps to ``srgan_value_min``/``srgan_value_max``) from ``meta_or_params``. The
            result stays a float32 tensor holding integer values. Rounding happens in the value domain, which holds
            the stored integers for PNG/TIFF and for DICOM with an integer Modality LUT (slope 1).

    Returns:
        A tensor (float32, or float64 for float64 input) in the loader's value domain.
    """
    params = _params_of(meta_or_params)
    y = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    scale, offset = params["scale"], params["offset"]
    batched = isinstance(params.get("kind"), (list, tuple))
    if batched:  # collated: scale is (N,) tensor/list, or a list of C tensors of shape (N,)
        s, o = _collated(scale), _collated(offset)
        if s.ndim == 2:
            s, o = s.T, o.T  # (C, N) -> (N, C)
        shape = [y.shape[0]] + ([s.shape[1]] if s.ndim == 2 else [1]) + [1] * (y.ndim - 2)
        s, o = s.reshape(shape), o.reshape(shape)
        yy = y.as_subclass(torch.Tensor) if isinstance(y, MetaTensor) else y
        out = ((yy.to(torch.float64) - o.to(yy.device)) / s.to(yy.device)).to(torch.float32)
    else:
        n = np.asarray(scale).size
        if channel_dim is None:
            channel_dim = 1 if (n > 1 and y.ndim >= 4 and y.shape[1] == n and y.shape[0] != n) else 0
        out = _inverse_affine(y, scale, offset, channel_dim)
    if dtype is not None and dtype is not False:
        out = _round_to_dtype(out, dtype, meta_or_params)
    return out


def _collated(v: Any) -> torch.Tensor:
    if isinstance(v, (list, tuple)) and v and isinstance(v[0], (torch.Tensor, list, tuple, np.ndarray)):
        return torch.stack([torch.as_tensor(np.asarray(e), dtype=torch.float64) for e in v])
    return torch.as_tensor(np.asarray(v), dtype=torch.float64)


def _round_to_dtype(x: torch.Tensor, dtype: Any, meta: Any) -> torch.Tensor:
    meta = meta.meta if isinstance(meta, MetaTensor) else meta
    lo = hi = None
    if dtype is True:
        if not isinstance(meta, Mapping) or "srgan_dtype" not in meta:
            raise ConfigError("invert_normalization(dtype=True) needs the image meta (srgan_dtype), not bare params")
        dtype = meta["srgan_dtype"]
        lo, hi = meta.get("srgan_value_min"), meta.get("srgan_value_max")
    np_dtype = np.dtype(str(dtype).replace("torch.", ""))
    if np_dtype.kind not in "iu":
        return x
    info = np.iinfo(np_dtype)
    lo = float(info.min) if lo is None or not np.isscalar(lo) else max(float(lo), float(info.min))
    hi = float(info.max) if hi is None or not np.isscalar(hi) else min(float(hi), float(info.max))
    return x.round().clamp(lo, hi)


# ---------------------------------------------------------------------------------------------------------------------
# dataset statistics
# ---------------------------------------------------------------------------------------------------------------------
def compute_dataset_stats(
    files: Iterable[Any],
    loader: Callable[[Any], torch.Tensor] | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    key: str = "image",
) -> dict[str, Any]:
    """Per-channel mean and standard deviation over a list of images, streaming one image at a time.

    The result is what :class:`ZScoreNormalize` takes (paper 000, eq. 7: ``mu``/``sigma`` of the training set) and
    is JSON-serialisable, e.g. for a bundle config. Per-image moments are merged with Chan et al.'s parallel update,
    so the numbers do not suffer from the cancellation of ``E[x^2] - E[x]^2``.

    Args:
        files: paths, :class:`~monai_srgan.transforms.io.InputItem`, or datalist dicts (``{key: path}``).
        loader: callable loading one entry (default :class:`~monai_srgan.transforms.io.LoadMedicalImage`).
        transform: optional callable applied after loading (e.g. ``ScaleToUnitRange()`` to get the statistics in
            the [0, 1] domain the z-score will be applied in).
        key: the path key of dict entries.

    Returns:
        ``{"mean": [...], "std": [...], "count": pixels per channel, "num_images": n}``.
    """
    if loader is None:
        from monai_srgan.transforms.io import LoadMedicalImage

        loader = LoadMedicalImage()
    n_tot, mean, m2 = 0, None, None
    n_img = 0
    for entry in files:
        src = entry[key] if isinstance(entry, Mapping) else entry
        img = loader(os.fspath(src) if isinstance(src, os.PathLike) else src)
        if transform is not None:
            img = transform(img)
        x = torch.as_tensor(img).detach().to(torch.float64).reshape(img.shape[0], -1)
        n = x.shape[1]
        m = x.mean(dim=1)
        v = ((x - m[:, None]) ** 2).sum(dim=1)
        if mean is None:
            n_tot, mean, m2 = n, m, v
        else:
            if m.shape != mean.shape:
                raise ConfigError(
                    f"compute_dataset_stats: {src} has {m.numel()} channels, earlier files {mean.numel()}"
                )
            delta = m - mean
            total = n_tot + n
            mean = mean + delta * (n / total)
            m2 = m2 + v + delta**2 * (n_tot * n / total)
            n_tot = total
        n_img += 1
    if mean is None:
        raise ConfigError("compute_dataset_stats: the file list is empty")
    std = torch.sqrt(m2 / n_tot)
    return {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "count": int(n_tot),
        "num_images": n_img,
    }
