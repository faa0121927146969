"""Thick-slice acquisition of CT/MR volumes as an HR → LR degradation: slice-profile averaging along one axis,
slice downsampling, optional in-plane blur and Gaussian/Rician noise.

Works on channel-first volumes ``(C, H, W, D)``; the LR is a ``MetaTensor`` when the HR one is, with its affine and
``srgan_spacing`` rescaled so that only the slice spacing grows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from monai.transforms import RandomizableTransform

from monai_srgan.errors import ConfigError, InputFileError

from ._common import check_scale, check_size_policy, crop_to_multiple, draw, like, plain
from ._dict_base import KwargsDegradeDict
from .blur import gaussian_blur

__all__ = [
    "SliceThicknessDegradation",
    "SliceThicknessDegradationd",
    "SliceThicknessDegradationD",
    "SliceThicknessDegradationDict",
    "slice_profile_weights",
]


def slice_profile_weights(
    in_size: int, out_size: int, thickness: float, profile: str = "box", spacing_ratio: float | None = None
) -> torch.Tensor:
    """``(out_size, in_size)`` matrix averaging HR slices over a slice profile (rows sum to 1).

    LR slice ``i`` is centred at HR position ``(i + 0.5) * r - 0.5`` (``r = in/out``, pixel-centre alignment, as
    :func:`imresize`). HR slice ``j`` (covering ``[j - 0.5, j + 0.5]``) gets the integral of the profile over its
    extent: a box of width ``thickness`` HR slices, or a Gaussian of FWHM ``thickness``. Weights outside the volume
    are dropped and the rest renormalised.
    """
    r = in_size / out_size if spacing_ratio is None else spacing_ratio
    c = (torch.arange(out_size, dtype=torch.float64) + 0.5) * r - 0.5
    j = torch.arange(in_size, dtype=torch.float64)
    lo = j[None, :] - 0.5 - c[:, None]
    hi = j[None, :] + 0.5 - c[:, None]
    t = float(thickness)
    if profile == "box":
        w = (torch.minimum(hi, torch.tensor(t / 2)) - torch.maximum(lo, torch.tensor(-t / 2))).clamp_min(0.0)
    elif profile == "gaussian":
        s = t / (2.0 * math.sqrt(2.0 * math.log(2.0))) * math.sqrt(2.0)
        w = 0.5 * (torch.erf(hi / s) - torch.erf(lo / s))
        w = torch.where(w > 1e-8, w, torch.zeros_like(w))
    else:
        raise ConfigError(f"slice profile={profile!r}; use 'box' or 'gaussian'.")
    total = w.sum(1, keepdim=True)
    total[total == 0] = 1.0
    return w / total


class SliceThicknessDegradation(RandomizableTransform):
    """Thick-slice acquisition for CT/MR volumes: slice-profile averaging along one axis, then slice downsampling.

    Each LR slice is the HR volume averaged over a box (or Gaussian, FWHM = thickness) slice profile of
    ``thickness`` HR slices, centred on the LR slice position; only ``axis`` changes size
    (``floor(n / scale)``). Optionally an in-plane Gaussian blur and additive Gaussian (or Rician, for MR
    magnitude images) noise as a fraction of the range — the only random parts (the transform is deterministic
    when ``noise_std == 0``).

    Args:
        scale: slice downsampling factor along ``axis`` (e.g. 4: 1 mm → 4 mm spacing).
        thickness: slice profile width in HR slices (default = ``scale``: contiguous slices, no gap/overlap).
        axis: spatial axis (0-based, negative from the end) of the slices; default the last (``D``).
        profile: ``"box"`` or ``"gaussian"``.
        inplane_sigma: in-plane Gaussian blur sigma in HR pixels (0 = off).
        noise_std: std of the noise (value or ``(low, high)`` range drawn per call), fraction of ``value_range``.
        noise: ``"gaussian"`` or ``"rician"``.
        value_range: range the noise is relative to.
        size_policy: ``"crop"`` (crop the slice axis to a multiple of an integer scale) or ``"raise"``.
    """

    backend = ["torch"]

    def __init__(
        self,
        scale: float = 4,
        thickness: float | None = None,
        axis: int = -1,
        profile: str = "box",
        inplane_sigma: float = 0.0,
        noise_std: float | Sequence[float] = 0.0,
        noise: str = "gaussian",
        value_range: tuple[float, float] = (0.0, 1.0),
        size_policy: str = "crop",
    ) -> None:
        RandomizableTransform.__init__(self, 1.0)
        check_scale(scale)
        self.scale = float(scale)
        self.thickness = float(scale if thickness is None else thickness)
        if self.thickness <= 0:
            raise ConfigError(f"SliceThicknessDegradation thickness={thickness} must be positive.")
        self.axis = int(axis)
        if profile not in ("box", "gaussian"):
            raise ConfigError(f"SliceThicknessDegradation profile={profile!r}; use 'box' or 'gaussian'.")
        if noise not in ("gaussian", "rician"):
            raise ConfigError(f"SliceThicknessDegradation noise={noise!r}; use 'gaussian' or 'rician'.")
        self.profile, self.inplane_sigma, self.noise_std, self.noise = profile, float(inplane_sigma), noise_std, noise
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.size_policy = check_size_policy(size_policy)
        self.params: dict[str, Any] = {}

    def scale_per_axis(self, spatial_dims: int) -> tuple[float, ...]:
        """The per-axis scale tuple (1 everywhere except ``axis``)."""
        ax = self.axis % spatial_dims
        return tuple(self.scale if k == ax else 1.0 for k in range(spatial_dims))

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self.params = {"noise_std": draw(self.R, self.noise_std), "seed": int(self.R.randint(0, 2**31 - 1))}

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        """Degrade ``(C, *spatial)`` (usually ``(C, H, W, D)``); ``randomize=False`` reuses the last draw."""
        if randomize:
            self.randomize()
        nd = img.ndim - 1
        if nd != 3:
            meta = getattr(img, "meta", None) or {}
            raise InputFileError(
                meta.get("filename_or_obj"),
                f"is a {nd}D image {tuple(img.shape)}; slice-thickness degradation needs a volume (C, H, W, D)",
                "give 3D volumes (NIfTI, DICOM series) to a 3D bundle; 2D images go to a 2D bundle",
            )
        if not -nd <= self.axis < nd:
            raise ConfigError(f"SliceThicknessDegradation axis={self.axis} but the image has {nd} spatial axes.")
        img = crop_to_multiple(img, self.scale_per_axis(nd), self.size_policy)
        x = plain(img)
        ax = self.axis % nd
        n_in = x.shape[1 + ax]
        n_out = max(1, int(math.floor(n_in / self.scale + 1e-6)))
        w = slice_profile_weights(n_in, n_out, self.thickness, self.profile).to(x.dtype)
        y = torch.matmul(x.movedim(1 + ax, -1), w.t()).movedim(-1, 1 + ax)
        if self.inplane_sigma > 0:
            sig = tuple(0.0 if k == ax else self.inplane_sigma for k in range(nd))
            y = gaussian_blur(y, sig, nd)
        std = self.params.get("noise_std", 0.0) if self.params else 0.0
        if std > 0:
            lo, hi = self.value_range
            gen = torch.Generator().manual_seed(self.params["seed"])
            s = std * (hi - lo)
            n1 = torch.randn(y.shape, generator=gen, dtype=y.dtype) * s
            if self.noise == "rician":
                n2 = torch.randn(y.shape, generator=gen, dtype=y.dtype) * s
                y = torch.sqrt((y - lo + n1) ** 2 + n2**2) + lo
            else:
                y = y + n1
        return like(y.contiguous(), img, x.shape[1:])


class SliceThicknessDegradationd(KwargsDegradeDict):
    """Dictionary :class:`SliceThicknessDegradation`.

    Example: ``SliceThicknessDegradationd(keys="hr", lr_key="lr", scale=4, axis=-1, profile="gaussian")``.
    """

    backend = SliceThicknessDegradation.backend
    array_class = SliceThicknessDegradation

    def policy_scale(self, hr: torch.Tensor) -> tuple[float, ...]:
        return self.degrade.scale_per_axis(hr.ndim - 1)


SliceThicknessDegradationD = SliceThicknessDegradationDict = SliceThicknessDegradationd
