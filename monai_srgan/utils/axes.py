"""One value per spatial axis: the project's single rule for scalars vs per-axis sequences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from monai_srgan.errors import ConfigError

__all__ = ["per_axis"]


def per_axis(value: Any, n: int, name: str, kind: Callable[[Any], Any] | None = float) -> tuple:
    """``value`` as an ``n``-tuple: a scalar (or a one-entry sequence) is repeated, a sequence must have ``n`` entries.

    Args:
        value: a number or a sequence (list, tuple, array, tensor) of numbers.
        n: number of spatial axes.
        name: the setting, for the error message.
        kind: applied to every entry (``float``, ``int``); ``None`` keeps the entries as they are.

    Raises:
        ConfigError: a sequence whose length is neither 1 nor ``n`` — names the setting.
    """
    if getattr(value, "ndim", None) == 0:  # numpy / torch scalar
        out = (value.item(),)
    elif isinstance(value, str) or not (hasattr(value, "__len__") or isinstance(value, Sequence)):
        out = (value,)
    else:
        out = tuple(value.tolist() if hasattr(value, "tolist") else value)
    if len(out) == 1:
        out = out * n
    if len(out) != n:
        raise ConfigError(f"{name}={tuple(out)} needs one entry per spatial axis ({n}), or one for all.")
    return out if kind is None else tuple(kind(v) for v in out)
