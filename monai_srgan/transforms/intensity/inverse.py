"""The one inverse of every normalisation here: :func:`invert_normalization` maps network outputs (one image or a
collated batch) back to the loader's value domain, optionally rounded to the stored integer dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from monai_srgan.errors import ConfigError

from ._affine import inverse_affine

__all__ = ["invert_normalization"]


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
        out = inverse_affine(y, scale, offset, channel_dim)
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
