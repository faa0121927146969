"""The dictionary-transform base shared by every ``…d`` degradation (MONAI's array/dictionary transform pair).

A dictionary degradation reads the HR under ``keys`` (default ``"hr"``) and writes the LR under ``lr_key`` (default
``"lr"``, one output key per input key). Before degrading it applies the size policy (see :mod:`._common`) to the
HR, writes the cropped HR back under its key and crops the ``fov`` key the same way. Random ones forward
``set_random_state`` to the array transform they wrap, so one seed makes the whole pipeline reproducible.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform

from monai_srgan.errors import ConfigError

from .._seeding import ForwardsRandomState
from ._common import crop_to_multiple

__all__ = ["DegradeDictBase", "RandDegradeDictBase", "KwargsDegradeDict", "output_keys"]


def output_keys(keys: tuple[Hashable, ...], out: str | Sequence[str] | None, name: str) -> tuple[Hashable, ...]:
    """One output key per input key: ``out`` itself (a key or a sequence), or ``keys`` (in place) when ``None``.

    Raises:
        ConfigError: the number of output keys differs from the number of ``keys`` (names the setting ``name``).
    """
    outs = keys if out is None else ((out,) if isinstance(out, str) else tuple(out))
    if len(outs) != len(keys):
        raise ConfigError(f"{name}={out!r} needs one output key per input key {keys}.")
    return tuple(outs)


class DegradeDictBase(MapTransform):
    """Reads HR ``keys``, writes ``lr_key`` (one per key) with ``self.degrade``; applies the size policy first.

    Subclasses set ``self.degrade`` (the array transform, which has ``scale`` and ``size_policy``) and override
    :meth:`policy_scale` / :meth:`degrade_key` where their array transform needs more than ``degrade(hr)``.

    Args:
        keys: HR key(s).
        degrade: the array degradation.
        lr_key: output key(s), one per HR key.
        fov_key: a field-of-view mask cropped with the HR by the size policy (ignored when absent).
        allow_missing_keys: skip absent HR keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        degrade: Any,
        lr_key: str | Sequence[str] = "lr",
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.lr_keys = output_keys(self.keys, lr_key, "lr_key")
        self.fov_key = fov_key
        self.degrade = degrade

    def policy_scale(self, hr: torch.Tensor) -> Any:
        """The per-axis scale the size policy crops ``hr`` to a multiple of."""
        return self.degrade.scale

    def apply_policy(self, d: dict, key: Hashable) -> torch.Tensor:
        """Crop ``d[key]`` (and ``d[fov_key]``) by the size policy, write them back and return the HR."""
        hr = d[key]
        before = tuple(hr.shape[1:])
        hr = crop_to_multiple(hr, self.policy_scale(hr), self.degrade.size_policy)
        after = tuple(hr.shape[1:])
        if after != before:
            d[key] = hr
            if self.fov_key and self.fov_key in d and tuple(d[self.fov_key].shape[1:]) == before:
                d[self.fov_key] = d[self.fov_key][(slice(None),) + tuple(slice(0, t) for t in after)]
        return hr

    def degrade_key(self, d: dict, key: Hashable, hr: torch.Tensor) -> torch.Tensor:
        """The LR of ``hr`` (read from ``d[key]``); ``d`` may be updated with side outputs."""
        return self.degrade(hr)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key, lr_key in self.key_iterator(d, self.lr_keys):
            hr = self.apply_policy(d, key)
            d[lr_key] = self.degrade_key(d, key, hr)
        return d


class RandDegradeDictBase(ForwardsRandomState, RandomizableTransform, DegradeDictBase):
    """A random :class:`DegradeDictBase`: seeds are forwarded to ``self.degrade``.

    With ``draw_per_key=True`` (default) every key gets its own draw (``degrade(hr, randomize=True)``); with
    ``False`` one draw per call is shared by all ``keys``.
    """

    draw_per_key: bool = True
    wrapped_attr = "degrade"

    def __init__(self, *args: Any, prob: float = 1.0, **kwargs: Any) -> None:
        """Arguments of :class:`DegradeDictBase`, and ``prob`` of the dictionary transform."""
        DegradeDictBase.__init__(self, *args, **kwargs)
        RandomizableTransform.__init__(self, prob)

    def degrade_key(self, d: dict, key: Hashable, hr: torch.Tensor) -> torch.Tensor:
        return self.degrade(hr, randomize=self.draw_per_key)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        if not self.draw_per_key:
            self.degrade.randomize()
        return DegradeDictBase.__call__(self, data)


class KwargsDegradeDict(RandDegradeDictBase):
    """A :class:`RandDegradeDictBase` whose array transform (``array_class``) takes every other keyword argument.

    Args:
        keys: HR key(s).
        lr_key: output key(s), one per HR key.
        fov_key: a field-of-view mask cropped with the HR by the size policy (ignored when absent).
        allow_missing_keys: skip absent HR keys.
        kwargs: the arguments of ``array_class``.
    """

    array_class: type

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(keys, self.array_class(**kwargs), lr_key, fov_key, allow_missing_keys)
