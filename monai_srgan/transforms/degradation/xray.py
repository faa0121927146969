"""Chest X-ray acquisition model as an HR → LR degradation: detector blur, pixel binning, Poisson-Gaussian noise.

Works on channel-first ``(C, *spatial)`` radiographs in ``value_range``; noise is drawn from a ``torch.Generator``
seeded from the transform's ``RandomState``, so ``set_random_state`` makes it reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import RandomizableTransform

from monai_srgan.errors import ConfigError
from monai_srgan.transforms.resize import imresize

from ._common import check_scale, check_size_policy, draw, like, prepare_hr
from ._dict_base import KwargsDegradeDict
from .blur import gaussian_blur
from .kernels import _poisson

__all__ = ["RandXRayDegradation", "RandXRayDegradationd", "RandXRayDegradationD", "RandXRayDegradationDict"]


class RandXRayDegradation(RandomizableTransform):
    """Chest X-ray acquisition model: detector blur (Gaussian PSF), pixel binning, Poisson-Gaussian noise.

    ``LR = noise(bin_s(PSF_σ * HR))`` for a 2D (or 3D) image in ``value_range``:

    1. detector/scintillator blur: Gaussian PSF of ``psf_sigma`` HR pixels (fixed or a range drawn per call);
    2. downsampling by ``scale`` (``"area"`` = detector pixel binning by default; ``"bicubic"`` possible);
    3. quantum (Poisson) noise at ``dose`` photons per LR pixel at full scale, plus Gaussian electronic noise of
       ``electronic_noise`` photons (std). ``signal="log"`` (default, for processed radiographs where bright =
       attenuating, as loaded by this project): value ``v`` ∈ [0, 1] is the line integral, the detector counts
       ``N ~ Poisson(dose · exp(-μ v))`` with ``μ = attenuation``, and the noisy value is ``-ln(N / dose) / μ``.
       ``signal="linear"``: counts ``N ~ Poisson(dose · v)`` and the value is ``N / dose`` (raw "for processing"
       detector data). Poisson sampling is exact for small counts and the normal approximation above 32 photons.

    Args:
        scale: reduction factor (1 keeps the grid: blur + noise only).
        psf_sigma: PSF sigma in HR pixels, a value or a ``(low, high)`` range.
        dose: photons per LR pixel at full scale (unattenuated for ``"log"``), a value or ``(low, high)`` range
            drawn log-uniformly; e.g. ~1e4 for a standard chest film at detector resolution, 1e2–1e3 for low dose.
        electronic_noise: std of the additive Gaussian read-out noise in photons (value or range).
        signal: ``"log"`` or ``"linear"`` (see above).
        attenuation: ``μ`` of the log model: transmission at ``v = 1`` is ``exp(-μ)`` (3 → 5 %).
        down_mode: ``"area"`` (binning) or another ``imresize`` mode.
        value_range: range of the input values, mapped to [0, 1] for the model.
        clip: clip the output to ``value_range``.
        prob: probability of the noise/blur (otherwise plain ``down_mode`` reduction).
        size_policy: ``"crop"`` or ``"raise"``.
    """

    backend = ["torch"]

    def __init__(
        self,
        scale: float | Sequence[float] = 2,
        psf_sigma: float | Sequence[float] = (0.5, 1.5),
        dose: float | Sequence[float] = (1e3, 1e4),
        electronic_noise: float | Sequence[float] = (0.0, 5.0),
        signal: str = "log",
        attenuation: float = 3.0,
        down_mode: str = "area",
        value_range: tuple[float, float] = (0.0, 1.0),
        clip: bool = True,
        prob: float = 1.0,
        size_policy: str = "crop",
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.scale = check_scale(scale)
        if signal not in ("log", "linear"):
            raise ConfigError(f"RandXRayDegradation signal={signal!r}; use 'log' or 'linear'.")
        for name, v in (("dose", dose), ("attenuation", attenuation)):
            vals = v if isinstance(v, Sequence) else [v]
            if any(float(i) <= 0 for i in vals):
                raise ConfigError(f"RandXRayDegradation {name}={v} must be positive.")
        self.psf_sigma, self.dose, self.electronic_noise = psf_sigma, dose, electronic_noise
        self.signal, self.attenuation = signal, float(attenuation)
        self.down_mode = down_mode
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.clip = clip
        self.size_policy = check_size_policy(size_policy)
        self.params: dict[str, float] = {}

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        if isinstance(self.dose, Sequence):
            dose = float(np.exp(self.R.uniform(np.log(float(self.dose[0])), np.log(float(self.dose[1])))))
        else:
            dose = float(self.dose)
        self.params = {
            "psf_sigma": draw(self.R, self.psf_sigma),
            "dose": dose,
            "electronic_noise": draw(self.R, self.electronic_noise),
            "seed": int(self.R.randint(0, 2**31 - 1)),
        }

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        """Degrade ``(C, *spatial)``; ``randomize=False`` reuses the last draw."""
        if randomize:
            self.randomize()
        img, x, scales = prepare_hr(img, self.scale, self.size_policy)
        nd = x.ndim - 1
        factors = tuple(1.0 / s for s in scales)
        lo, hi = self.value_range
        u = (x - lo) / (hi - lo)
        if not self._do_transform:
            lr = imresize(u, factors, mode=self.down_mode, spatial_dims=nd)
            return like(lr * (hi - lo) + lo, img, x.shape[1:])
        p = self.params
        if p["psf_sigma"] > 0:
            u = gaussian_blur(u, p["psf_sigma"], nd)
        u = imresize(u, factors, mode=self.down_mode, spatial_dims=nd).clamp(0.0, 1.0)
        gen = torch.Generator(device=u.device).manual_seed(p["seed"])
        dose = p["dose"]
        lam = dose * (torch.exp(-self.attenuation * u) if self.signal == "log" else u)
        counts = _poisson(lam, gen)
        if p["electronic_noise"] > 0:
            counts = counts + p["electronic_noise"] * torch.randn(counts.shape, generator=gen, dtype=counts.dtype)
        if self.signal == "log":
            v = -torch.log(counts.clamp_min(0.5) / dose) / self.attenuation
        else:
            v = counts / dose
        if self.clip:
            v = v.clamp(0.0, 1.0)
        return like(v * (hi - lo) + lo, img, x.shape[1:])


class RandXRayDegradationd(KwargsDegradeDict):
    """Dictionary :class:`RandXRayDegradation`.

    Example: ``RandXRayDegradationd(keys="hr", lr_key="lr", scale=2, dose=(500, 5000))``.
    """

    backend = RandXRayDegradation.backend
    array_class = RandXRayDegradation


RandXRayDegradationD = RandXRayDegradationDict = RandXRayDegradationd
