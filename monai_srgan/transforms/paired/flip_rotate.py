"""Flips, rot90 and small-angle rotations drawn once per call and applied identically to every image of an (LR, HR)
pair (paper 000's augmentation set {random crop, horizontal flip, vertical flip, rotation}); 2D and 3D.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform, Rotate

from monai_srgan.errors import ConfigError

from .._seeding import ForwardsRandomState

__all__ = ["RandPairedFlipRotate", "RandPairedFlipRotated", "RandPairedFlipRotateD", "RandPairedFlipRotateDict"]


class RandPairedFlipRotate(RandomizableTransform):
    """Flips, rot90 and a small-angle rotation drawn once and applied identically to every image of a pair.

    ``__call__(*imgs)`` returns the transformed images in order (e.g. ``lr, hr = t(lr, hr)``). Images may have
    different sizes (LR and HR): flips and rot90 are exact on both; the small rotation is about the image centre,
    which is the same physical point for an aligned pair, with bilinear interpolation on each grid (for synthetic
    pairs, rotating the HR *before* degrading keeps LR and HR exactly consistent).

    Args:
        flip_prob: probability of flipping along each axis of ``spatial_axes`` (independently).
        rot90_prob: probability of a rot90 (k ∈ {1, 2, 3}) in the ``spatial_axes`` plane. Needs a square patch
            unless k = 2 (non-square patches only get k = 2).
        rotate_prob: probability of a small rotation.
        rotate_range: maximum rotation angle in degrees (uniform in ``[-r, r]``).
        spatial_axes: the plane (two spatial axes) of flips and rotations; ``(0, 1)`` (in-plane for 3D).
        mode: interpolation of the small rotation, one per image or one for all (``"nearest"`` for masks).
        padding_mode: how the small rotation fills the corners (``"reflection"``, ``"zeros"``, ``"border"``).
    """

    def __init__(
        self,
        flip_prob: float = 0.5,
        rot90_prob: float = 0.5,
        rotate_prob: float = 0.0,
        rotate_range: float = 10.0,
        spatial_axes: tuple[int, int] = (0, 1),
        mode: str | Sequence[str] = "bilinear",
        padding_mode: str = "reflection",
    ) -> None:
        RandomizableTransform.__init__(self, 1.0)
        if len(spatial_axes) != 2 or spatial_axes[0] == spatial_axes[1]:
            raise ConfigError(f"spatial_axes={spatial_axes} must name two different spatial axes.")
        for name, p in (("flip_prob", flip_prob), ("rot90_prob", rot90_prob), ("rotate_prob", rotate_prob)):
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"{name}={p} must be a probability in [0, 1].")
        self.flip_prob, self.rot90_prob, self.rotate_prob = flip_prob, rot90_prob, rotate_prob
        self.rotate_range = float(rotate_range)
        self.spatial_axes = (int(spatial_axes[0]), int(spatial_axes[1]))
        self.mode, self.padding_mode = mode, padding_mode
        self.params: dict[str, Any] = {}

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        square = True if data is None else bool(data)
        flips = [int(a) for a in self.spatial_axes if self.R.uniform() < self.flip_prob]
        k = 0
        if self.R.uniform() < self.rot90_prob:
            k = int(self.R.randint(1, 4)) if square else 2
        angle = 0.0
        if self.R.uniform() < self.rotate_prob:
            angle = float(self.R.uniform(-self.rotate_range, self.rotate_range))
        self.params = {"flips": flips, "k": k, "angle": angle}

    def _modes(self, n: int) -> list[str]:
        if isinstance(self.mode, str):
            return [self.mode] * n
        if len(self.mode) != n:
            raise ConfigError(f"mode={self.mode} needs one entry per image ({n}).")
        return list(self.mode)

    def apply(self, img: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """Apply the current draw to one image."""
        p = self.params
        nd = img.ndim - 1
        a0, a1 = (a % nd for a in self.spatial_axes)
        # flips and quarter turns are exact index permutations: plain torch ops on the data (MONAI's Flip/Rotate90
        # cost ~30x more per patch in meta bookkeeping, a third of a training step's data time); the MetaTensor meta
        # is carried over unchanged (training patches are not mapped back to scanner space)
        meta = img.meta if isinstance(img, MetaTensor) else None
        data = img.as_tensor() if meta is not None else img
        if p["flips"]:
            data = torch.flip(data, dims=[1 + a % nd for a in p["flips"]])
        if p["k"]:
            data = torch.rot90(data, k=p["k"], dims=(1 + a0, 1 + a1))
        if p["flips"] or p["k"]:
            img = MetaTensor(data, meta=meta) if meta is not None else data
        if p["angle"]:
            rad = math.radians(p["angle"])
            if nd == 2:
                angle: Any = rad
            else:
                angle = [0.0, 0.0, 0.0]
                angle[({0, 1, 2} - {a0, a1}).pop()] = rad
            img = Rotate(angle, keep_size=True, mode=mode, padding_mode=self.padding_mode)(img)
        return img

    def __call__(self, *imgs: torch.Tensor, randomize: bool = True) -> tuple[torch.Tensor, ...]:
        if randomize:
            self.randomize(all(_square(x, self.spatial_axes) for x in imgs))
        return tuple(self.apply(x, m) for x, m in zip(imgs, self._modes(len(imgs))))


def _square(img: Any, axes: tuple[int, int]) -> bool:
    nd = img.ndim - 1
    return img.shape[1 + axes[0] % nd] == img.shape[1 + axes[1] % nd]


class RandPairedFlipRotated(ForwardsRandomState, RandomizableTransform, MapTransform):
    """Dictionary :class:`RandPairedFlipRotate`: one draw per call applied to all ``keys`` (LR, HR, masks).

    Example: ``RandPairedFlipRotated(keys=("lr", "hr"), rotate_prob=0.3, rotate_range=10)``; the ``fov`` key is
    transformed too when present, with nearest interpolation.

    Args:
        keys: keys to transform identically (e.g. ``("lr", "hr", "hr_usm")``).
        fov_key: mask key transformed with ``"nearest"`` when present.
        mode: interpolation of the small rotation for ``keys`` (one or one per key).
        allow_missing_keys: skip absent keys.
        other args: see :class:`RandPairedFlipRotate`.
    """

    wrapped_attr = "aug"

    def __init__(
        self,
        keys: KeysCollection = ("lr", "hr"),
        flip_prob: float = 0.5,
        rot90_prob: float = 0.5,
        rotate_prob: float = 0.0,
        rotate_range: float = 10.0,
        spatial_axes: tuple[int, int] = (0, 1),
        mode: str | Sequence[str] = "bilinear",
        padding_mode: str = "reflection",
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, 1.0)
        self.fov_key = fov_key
        self.modes = [mode] * len(self.keys) if isinstance(mode, str) else list(mode)
        if len(self.modes) != len(self.keys):
            raise ConfigError(f"mode={mode} needs one entry per key {self.keys}.")
        self.aug = RandPairedFlipRotate(flip_prob, rot90_prob, rotate_prob, rotate_range, spatial_axes, "bilinear",
                                        padding_mode)  # fmt: skip

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        keys = [(k, m) for k, m in zip(self.keys, self.modes) if k in d or not self.allow_missing_keys]
        if self.fov_key and self.fov_key in d and self.fov_key not in self.keys:
            keys.append((self.fov_key, "nearest"))
        for k, _ in keys:
            if k not in d:
                raise ConfigError(f"RandPairedFlipRotated: key '{k}' missing from the data (keys: {list(d)}).")
        self.aug.randomize(all(_square(d[k], self.aug.spatial_axes) for k, _ in keys))
        for k, m in keys:
            d[k] = self.aug.apply(d[k], m)
        return d


RandPairedFlipRotateD = RandPairedFlipRotateDict = RandPairedFlipRotated
