"""Aligned (LR, HR) crops: an HR-only patch crop to degrade afterwards (:class:`RandHRPatch`), and a scale-aware
paired crop of pre-paired LR/HR data (:class:`RandPairedCrop`: HR pixels ``[s*i, s*(i+p))`` are the support of LR
pixels ``[i, i+p)``). 2D ``(C, H, W)`` and 3D ``(C, H, W, D)``; crops keep ``MetaTensor`` affines right.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform, RandSpatialCrop, RandSpatialCropd, SpatialCrop

from monai_srgan.errors import ConfigError, InputFileError, source_path
from monai_srgan.utils.axes import per_axis

from .._seeding import ForwardsRandomState

__all__ = [
    "RandHRPatch",
    "RandHRPatchd",
    "RandHRPatchD",
    "RandHRPatchDict",
    "RandPairedCrop",
    "RandPairedCropd",
    "RandPairedCropD",
    "RandPairedCropDict",
]


def _check_fits(img: Any, size: Sequence[int], what: str) -> None:
    """Raise (naming the file) when ``img`` is smaller than ``size`` (one entry per spatial axis, from ``per_axis``)."""
    shape = tuple(img.shape[1:])
    if any(s < p for s, p in zip(shape, size)):
        raise InputFileError(
            source_path(img),
            f"image of spatial size {shape} is smaller than the {what} {tuple(size)}",
            "use a smaller patch size, or exclude/upscale images this small",
        )


class RandHRPatch(RandSpatialCrop):
    """MONAI ``RandSpatialCrop`` of a fixed ``patch_size`` that raises (naming the file) when the image is smaller.

    MONAI's crop silently returns a smaller patch in that case, which would break batching far from the cause.

    Args:
        patch_size: HR patch size (int or one per spatial axis); for a degradation by ``s`` use a multiple of ``s``.
    """

    def __init__(self, patch_size: int | Sequence[int], lazy: bool = False) -> None:
        self.patch_size = patch_size
        super().__init__(roi_size=patch_size, random_center=True, random_size=False, lazy=lazy)

    def __call__(self, img: torch.Tensor, randomize: bool = True, lazy: bool | None = None) -> torch.Tensor:
        _check_fits(img, per_axis(self.patch_size, img.ndim - 1, "patch_size", int), "patch size")
        return super().__call__(img, randomize=randomize, lazy=lazy)


class RandHRPatchd(RandSpatialCropd):
    """Random HR patch for synthetic pairs (crop HR, then degrade): MONAI ``RandSpatialCropd`` + size check.

    The same box is cropped from every key and from ``fov_key`` when present (the FOV mask is aligned with HR).

    Example: ``RandHRPatchd(keys="hr", patch_size=256)`` followed by ``BicubicDownsampled(keys="hr", scale=4)``.

    Args:
        keys: HR-aligned keys (the first one sets the box).
        patch_size: HR patch size (int or per axis).
        fov_key: optional field-of-view mask key cropped with the HR (skipped when absent).
        allow_missing_keys: skip absent ``keys``.
    """

    def __init__(
        self,
        keys: KeysCollection = "hr",
        patch_size: int | Sequence[int] = 256,
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
        lazy: bool = False,
    ) -> None:
        super().__init__(keys, roi_size=patch_size, random_center=True, random_size=False,
                         allow_missing_keys=allow_missing_keys, lazy=lazy)  # fmt: skip
        self.patch_size = patch_size
        self.fov_key = fov_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor], lazy: bool | None = None) -> dict[Hashable, torch.Tensor]:
        first = self.first_key(data)
        if first == []:
            return dict(data)
        img = data[first]
        _check_fits(img, per_axis(self.patch_size, img.ndim - 1, "patch_size", int), "patch size")
        d = super().__call__(data, lazy=lazy)
        if self.fov_key and self.fov_key in d and self.fov_key not in self.keys:
            fov = d[self.fov_key]
            if tuple(fov.shape[1:]) != tuple(img.shape[1:]):
                raise InputFileError(
                    source_path(fov) or source_path(img),
                    f"'{self.fov_key}' of size {tuple(fov.shape[1:])} is not aligned with '{first}' "
                    f"of size {tuple(img.shape[1:])}",
                )
            d[self.fov_key] = self.cropper(fov, randomize=False, lazy=lazy)
        return d


class RandPairedCrop(RandomizableTransform):
    """Scale-aware aligned random crop of an (LR, HR) pair: HR patch = ``scale ×`` LR patch, same physical box.

    ``__call__(lr, hr)`` returns ``(lr_patch, hr_patch)``. The LR start ``i`` is drawn uniformly over the valid
    range; the HR start is ``scale * i`` (pixel-centre alignment: LR pixel ``i`` covers HR ``[s*i, s*(i+1))``, the
    convention of :func:`~monai_srgan.transforms.resize.imresize` and the degradations).

    Args:
        lr_patch_size: LR patch size (int or one per spatial axis).
        scale: integer factor, or one per spatial axis (e.g. ``(1, 1, 4)`` for through-plane SR).

    Raises:
        InputFileError: the LR is smaller than the patch, or the HR is not ``scale ×`` the LR (names the file).
    """

    def __init__(self, lr_patch_size: int | Sequence[int], scale: int | Sequence[int] = 4) -> None:
        RandomizableTransform.__init__(self, 1.0)
        self.lr_patch_size = lr_patch_size
        self.scale = scale
        self._start: tuple[int, ...] | None = None

    def _sizes(self, lr: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        nd = lr.ndim - 1
        patch = per_axis(self.lr_patch_size, nd, "lr_patch_size", int)
        scale = per_axis(self.scale, nd, "scale")
        if any(abs(s - round(s)) > 1e-9 or s < 1 for s in scale):
            raise ConfigError(f"RandPairedCrop scale={self.scale} must be integers >= 1.")
        return patch, tuple(int(round(s)) for s in scale)

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        lr_shape, patch = data
        self._start = tuple(int(self.R.randint(0, s - p + 1)) for s, p in zip(lr_shape, patch))

    def check_pair(self, lr: Any, hr: Any) -> None:
        """Raise unless ``hr`` covers ``scale ×`` ``lr`` (an HR remainder smaller than one LR pixel is allowed)."""
        patch, scale = self._sizes(lr)
        _check_fits(lr, patch, "LR patch size")
        lr_shape, hr_shape = tuple(lr.shape[1:]), tuple(hr.shape[1:])
        if len(hr_shape) != len(lr_shape) or any(not 0 <= h - s * n < s for h, n, s in zip(hr_shape, lr_shape, scale)):
            raise InputFileError(
                source_path(hr) or source_path(lr),
                f"HR of spatial size {hr_shape} is not {scale} × the LR of size {lr_shape} "
                f"(LR file: {source_path(lr)})",
                "check that the LR/HR files are a pair and that scale is right",
            )

    def crop(self, lr: torch.Tensor, hr: torch.Tensor, *hr_aligned: torch.Tensor) -> list[torch.Tensor]:
        """Crop with the current draw: LR first, then HR and any HR-aligned images."""
        patch, scale = self._sizes(lr)
        start = self._start
        lr_c = SpatialCrop(roi_start=start, roi_end=[a + p for a, p in zip(start, patch)])(lr)
        hs = [a * s for a, s in zip(start, scale)]
        he = [(a + p) * s for a, p, s in zip(start, patch, scale)]
        hr_crop = SpatialCrop(roi_start=hs, roi_end=he)
        return [lr_c, hr_crop(hr), *[hr_crop(x) for x in hr_aligned]]

    def __call__(self, lr: torch.Tensor, hr: torch.Tensor, randomize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_pair(lr, hr)
        if randomize:
            self.randomize((tuple(lr.shape[1:]), self._sizes(lr)[0]))
        lr_c, hr_c = self.crop(lr, hr)
        return lr_c, hr_c


class RandPairedCropd(ForwardsRandomState, RandomizableTransform, MapTransform):
    """Dictionary :class:`RandPairedCrop`: aligned crop of ``lr_key`` and ``hr_key`` (+ HR-aligned extras, ``fov``).

    Example: ``RandPairedCropd(lr_key="lr", hr_key="hr", lr_patch_size=48, scale=4)`` → ``lr`` 48², ``hr`` 192².

    Args:
        lr_key: LR key (sets the random box).
        hr_key: HR key, or several HR-aligned keys (e.g. ``("hr", "hr_usm")``); the first is checked against the LR.
        lr_patch_size: LR patch size (int or per axis).
        scale: integer factor or one per axis.
        fov_key: field-of-view mask aligned with the HR, cropped with it when present.
        allow_missing_keys: skip absent extra HR keys (``lr_key`` and the first HR key are always required).
    """

    wrapped_attr = "cropper"

    def __init__(
        self,
        lr_key: str = "lr",
        hr_key: str | Sequence[str] = "hr",
        lr_patch_size: int | Sequence[int] = 48,
        scale: int | Sequence[int] = 4,
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        hr_keys = (hr_key,) if isinstance(hr_key, str) else tuple(hr_key)
        MapTransform.__init__(self, (lr_key, *hr_keys), allow_missing_keys)
        RandomizableTransform.__init__(self, 1.0)
        self.lr_key, self.hr_keys, self.fov_key = lr_key, hr_keys, fov_key
        self.cropper = RandPairedCrop(lr_patch_size, scale)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for k in (self.lr_key, self.hr_keys[0]):
            if k not in d:
                raise ConfigError(f"RandPairedCropd: key '{k}' missing from the data (keys: {list(d)}).")
        lr, hr = d[self.lr_key], d[self.hr_keys[0]]
        self.cropper.check_pair(lr, hr)
        extra = [k for k in self.hr_keys[1:] if k in d or not self.allow_missing_keys]
        if self.fov_key and self.fov_key in d and self.fov_key not in self.hr_keys:
            extra.append(self.fov_key)
        for k in extra:
            if k not in d:
                raise ConfigError(f"RandPairedCropd: key '{k}' missing from the data (keys: {list(d)}).")
            if tuple(d[k].shape[1:]) != tuple(hr.shape[1:]):
                raise InputFileError(
                    source_path(d[k]) or source_path(hr),
                    f"'{k}' of size {tuple(d[k].shape[1:])} is not aligned with '{self.hr_keys[0]}' "
                    f"of size {tuple(hr.shape[1:])}",
                )
        self.cropper.randomize((tuple(lr.shape[1:]), self.cropper._sizes(lr)[0]))
        out = self.cropper.crop(lr, hr, *[d[k] for k in extra])
        d[self.lr_key], d[self.hr_keys[0]] = out[0], out[1]
        for k, v in zip(extra, out[2:]):
            d[k] = v
        return d


RandHRPatchD = RandHRPatchDict = RandHRPatchd


RandPairedCropD = RandPairedCropDict = RandPairedCropd
