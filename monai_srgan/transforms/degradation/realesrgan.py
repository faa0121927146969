"""Real-ESRGAN's high-order degradation (paper 002; Wang et al. 2021, Sec. 3) as MONAI transforms, bit-depth aware.

The HR image (optionally unsharp-masked first) goes through two rounds of

    blur (random iso/aniso/generalized/plateau Gaussian or sinc kernel) → random resize (up/down/keep, area/bilinear/
    bicubic) → Gaussian or Poisson noise (colour or gray) → JPEG,

and then, in random order, (resize to the LR size + final sinc filter) and JPEG; the LR is finally quantised to
8 bits. Defaults are the published settings (Real-ESRGAN's published options, docs/references.md; BasicSR
``options/train_realesrnet_x4plus.yml``), with noise levels written as fractions of the range
(``noise_range=(1/255, 30/255)``).

Medical data: with ``bit_depth > 8`` (e.g. 12- or 16-bit X-ray/CT normalised to [0, 1]) the 8-bit steps are off by
default: no final quantisation (``quantize_bits=None``), no JPEG (``jpeg_prob=0``), and Poisson noise uses a fixed
``poisson_levels=256`` instead of quantising to 8 bits first, so every noise level stays the same fraction of the
dynamic range as in the published 8-bit recipe. Each of them can be switched back on; JPEG on >8-bit data then adds
only the JPEG error (``jpeg_keep_precision``) so the image is not reduced to 8 bits.

Randomness: the transform draws everything (kernels, resize choices, noise levels, JPEG qualities and a seed for
the torch noise generator) from its ``RandomState`` in ``randomize``, once per call: ``set_random_state(seed)``
makes the output reproducible. A batch ``(N, C, H, W)`` can be degraded in one call (the way Real-ESRGAN does it
on the GPU): kernels, noise and JPEG are per sample, the resize choices and the order of the final steps are shared
by the batch (as in BasicSR) so that the batch keeps one shape.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import RandomizableTransform

from monai_srgan.errors import ConfigError
from monai_srgan.transforms.resize import imresize

from ._common import check_scale, check_size_policy, crop_to_multiple, like, plain, quantize
from ._dict_base import RandDegradeDictBase
from .kernels import (
    KERNEL_TYPES,
    add_gaussian_noise,
    add_poisson_noise,
    circular_lowpass_kernel,
    filter2d,
    jpeg_roundtrip,
    random_mixed_kernel,
    stack_kernels,
    usm_sharp,
)
from .unsharp import UnsharpMask

__all__ = [
    "RandRealESRGANDegradation",
    "RandRealESRGANDegradationd",
    "RandRealESRGANDegradationD",
    "RandRealESRGANDegradationDict",
    "REALESRGAN_DEFAULTS",
]


def _order_settings(
    blur_sigma: tuple, resize_prob: tuple, resize_range: tuple, noise_range: tuple, poisson_scale_range: tuple
) -> dict[str, Any]:
    """The settings of one degradation order (paper 002, Sec. 3.2): the two orders share every setting but the blur
    sigma, the resize and the noise ranges."""
    return {
        "kernel_prob": (0.45, 0.25, 0.12, 0.03, 0.12, 0.03),
        "sinc_prob": 0.1,
        "blur_sigma": blur_sigma,
        "betag_range": (0.5, 4.0),
        "betap_range": (1.0, 2.0),
        "resize_prob": resize_prob,
        "resize_range": resize_range,
        "gaussian_noise_prob": 0.5,
        "noise_range": noise_range,
        "poisson_scale_range": poisson_scale_range,
        "gray_noise_prob": 0.4,
        "jpeg_range": (30.0, 95.0),
    }


#: Published first/second-order settings (Real-ESRGAN ×4, BasicSR train_realesrnet_x4plus.yml); noise in [0, 1] units.
#: Second-order keys end in ``2`` (``blur_sigma2``, ``noise_range2``, ...).
REALESRGAN_DEFAULTS: dict[str, Any] = {
    "kernel_range": (7, 21),
    "kernel_list": KERNEL_TYPES,
    **_order_settings((0.2, 3.0), (0.2, 0.7, 0.1), (0.15, 1.5), (1.0 / 255.0, 30.0 / 255.0), (0.05, 3.0)),
    "second_blur_prob": 0.8,
    **{
        f"{k}2": v
        for k, v in _order_settings(
            (0.2, 1.5), (0.3, 0.4, 0.3), (0.3, 1.2), (1.0 / 255.0, 25.0 / 255.0), (0.05, 2.5)
        ).items()
    },
    "final_sinc_prob": 0.8,
}

_RESIZE_MODES = ("area", "bilinear", "bicubic")


class RandRealESRGANDegradation(RandomizableTransform):
    """Real-ESRGAN high-order degradation HR → LR (paper 002; Wang et al. 2021, Sec. 3.1–3.2, Fig. 2).

    Input ``(C, H, W)`` (one sample) or ``(N, C, H, W)`` (a batch), 1 or 3 channels, values in ``value_range``;
    output LR of size ``H // scale × W // scale`` in the same range (and the same type: a ``MetaTensor`` input gives a
    ``MetaTensor`` with the affine rescaled).

    Args:
        scale: integer downsampling factor (4 in Real-ESRGAN).
        bit_depth: bit depth of the source data; selects the defaults of the 8-bit steps below (8 → published
            recipe, anything larger → medical defaults: no JPEG, no quantisation, fixed-level Poisson).
        prob: probability of degrading at all (otherwise a plain antialiased bicubic reduction is returned).
        usm: unsharp-mask the HR before degrading (Real-ESRGAN degrades the sharpened ground truth).
        usm_weight, usm_radius, usm_threshold: unsharp-mask settings (0.5, 50, 10/255).
        jpeg_prob: probability of each of the two JPEG steps (default 1.0 for 8-bit, 0.0 otherwise).
        jpeg_keep_precision: on >8-bit data add only the JPEG error instead of reducing to 8 bits (default: True when
            ``bit_depth > 8``).
        quantize_bits: final LR quantisation (default 8 for 8-bit data, None otherwise).
        poisson_levels: photon levels at full scale for Poisson noise; None = BasicSR's 8-bit rule (default for
            8-bit), 256 by default otherwise.
        value_range: value range of the input (normalised data: ``(0, 1)``); noise levels are fractions of it.
        resize_antialias: antialias the random bilinear/bicubic reductions (Real-ESRGAN uses
            ``F.interpolate`` without antialiasing, so aliasing is part of the degradation space; ``area`` always
            averages).
        size_policy: HR size not divisible by ``scale``: ``"crop"`` (bottom/right) or ``"raise"``.
        **overrides: any key of :data:`REALESRGAN_DEFAULTS` (e.g. ``noise_range=(0.0, 0.02)``, ``sinc_prob=0``).
    """

    backend = ["torch"]

    def __init__(
        self,
        scale: int = 4,
        bit_depth: int = 8,
        prob: float = 1.0,
        usm: bool = True,
        usm_weight: float = 0.5,
        usm_radius: int = 50,
        usm_threshold: float = 10.0 / 255.0,
        jpeg_prob: float | None = None,
        jpeg_keep_precision: bool | None = None,
        quantize_bits: int | None | str = "auto",
        poisson_levels: int | None | str = "auto",
        value_range: tuple[float, float] = (0.0, 1.0),
        resize_antialias: bool = False,
        size_policy: str = "crop",
        **overrides: Any,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        check_scale(scale)
        if int(scale) != scale:
            raise ConfigError(f"RandRealESRGANDegradation scale={scale} must be an integer.")
        self.scale = int(scale)
        self.bit_depth = int(bit_depth)
        eight = self.bit_depth <= 8
        self.usm = bool(usm)
        self.usm_weight, self.usm_radius, self.usm_threshold = float(usm_weight), int(usm_radius), float(usm_threshold)
        self.jpeg_prob = (1.0 if eight else 0.0) if jpeg_prob is None else float(jpeg_prob)
        self.jpeg_keep_precision = (not eight) if jpeg_keep_precision is None else bool(jpeg_keep_precision)
        self.quantize_bits = (8 if eight else None) if quantize_bits == "auto" else quantize_bits
        self.poisson_levels = (None if eight else 256) if poisson_levels == "auto" else poisson_levels
        self.value_range = (float(value_range[0]), float(value_range[1]))
        if not self.value_range[1] > self.value_range[0]:
            raise ConfigError(f"value_range={value_range} must be (low, high) with high > low.")
        self.resize_antialias = bool(resize_antialias)
        self.size_policy = check_size_policy(size_policy)
        unknown = set(overrides) - set(REALESRGAN_DEFAULTS)
        if unknown:
            raise ConfigError(f"unknown Real-ESRGAN setting(s) {sorted(unknown)}; known: {sorted(REALESRGAN_DEFAULTS)}")
        self.opt = {**REALESRGAN_DEFAULTS, **overrides}
        lo, hi = self.opt["kernel_range"]
        if lo % 2 == 0 or hi % 2 == 0 or lo > hi:
            raise ConfigError(f"kernel_range={self.opt['kernel_range']} must be two odd sizes, low <= high.")
        self.kernel_sizes = list(range(int(lo), int(hi) + 1, 2))
        self.params: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------------------ randomize
    def _kernel(self, order: int) -> np.ndarray:
        o = self.opt
        sfx = "" if order == 1 else "2"
        size = int(self.R.choice(self.kernel_sizes))
        if self.R.uniform() < o["sinc_prob" + sfx]:
            omega = self.R.uniform(np.pi / 3, np.pi) if size < 13 else self.R.uniform(np.pi / 5, np.pi)
            return circular_lowpass_kernel(omega, size)
        return random_mixed_kernel(
            self.R,
            size,
            o["kernel_list"],
            o["kernel_prob" + sfx],
            o["blur_sigma" + sfx],
            (-math.pi, math.pi),
            o["betag_range" + sfx],
            o["betap_range" + sfx],
        )

    def _resize_choice(self, order: int) -> tuple[float, str]:
        o = self.opt
        probs = np.asarray(o["resize_prob" if order == 1 else "resize_prob2"], dtype=np.float64)
        rng = o["resize_range" if order == 1 else "resize_range2"]
        kind = int(self.R.choice(3, p=probs / probs.sum()))
        factor = self.R.uniform(1.0, rng[1]) if kind == 0 else self.R.uniform(rng[0], 1.0) if kind == 1 else 1.0
        return float(factor), _RESIZE_MODES[int(self.R.randint(3))]

    def _noise_choice(self, n: int, order: int) -> dict[str, Any]:
        o = self.opt
        sfx = "" if order == 1 else "2"
        gaussian = self.R.uniform() < o["gaussian_noise_prob" + sfx]
        rng = o["noise_range" + sfx] if gaussian else o["poisson_scale_range" + sfx]
        return {
            "gaussian": bool(gaussian),
            "level": [float(self.R.uniform(*rng)) for _ in range(n)],
            "gray": [bool(self.R.uniform() < o["gray_noise_prob" + sfx]) for _ in range(n)],
        }

    def randomize(self, data: Any = None, n: int = 1) -> None:
        """Draw every random choice for ``n`` samples (kernels/noise/JPEG per sample, resizes per call)."""
        super().randomize(None)
        if not self._do_transform:
            return
        o = self.opt
        p: dict[str, Any] = {}
        p["kernel1"] = [self._kernel(1) for _ in range(n)]
        p["resize1"] = self._resize_choice(1)
        p["noise1"] = self._noise_choice(n, 1)
        p["jpeg1"] = [float(self.R.uniform(*o["jpeg_range"])) for _ in range(n)]
        p["do_jpeg1"] = bool(self.R.uniform() < self.jpeg_prob)
        p["do_blur2"] = bool(self.R.uniform() < o["second_blur_prob"])
        p["kernel2"] = [self._kernel(2) for _ in range(n)]
        p["resize2"] = self._resize_choice(2)
        p["noise2"] = self._noise_choice(n, 2)
        p["resize_final_first"] = bool(self.R.uniform() < 0.5)
        p["final_mode"] = _RESIZE_MODES[int(self.R.randint(3))]
        sinc = []
        for _ in range(n):
            if self.R.uniform() < o["final_sinc_prob"]:
                size = int(self.R.choice(self.kernel_sizes))
                sinc.append(circular_lowpass_kernel(self.R.uniform(np.pi / 3, np.pi), size))
            else:
                sinc.append(None)
        p["sinc"] = sinc
        p["jpeg2"] = [float(self.R.uniform(*o["jpeg_range2"])) for _ in range(n)]
        p["do_jpeg2"] = bool(self.R.uniform() < self.jpeg_prob)
        p["seed"] = int(self.R.randint(0, 2**31 - 1))
        self.params = p

    # ----------------------------------------------------------------------------------------------- pipeline
    def _resize(self, x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
        size = (max(1, int(size[0])), max(1, int(size[1])))
        if tuple(x.shape[-2:]) == size:
            return x
        return imresize(x, size=size, mode=mode, antialias=self.resize_antialias or mode == "area", spatial_dims=2)

    def _noise(self, x: torch.Tensor, choice: dict[str, Any], gen: torch.Generator) -> torch.Tensor:
        level = torch.tensor(choice["level"], dtype=x.dtype)
        gray = torch.tensor(choice["gray"])
        if choice["gaussian"]:
            x = add_gaussian_noise(x, level, gray, gen)
        else:
            x = add_poisson_noise(x, level, gray, self.poisson_levels, gen)
        return x.clamp(0.0, 1.0)

    def _jpeg(self, x: torch.Tensor, qualities: Sequence[float]) -> torch.Tensor:
        keep = self.jpeg_keep_precision and self.bit_depth > 8
        return jpeg_roundtrip(x, qualities, keep_precision=keep)

    def degrade_batch(self, hr: torch.Tensor) -> torch.Tensor:
        """Apply the drawn degradation to a ``(N, C, H, W)`` batch in [0, 1] (H, W multiples of ``scale``)."""
        p = self.params
        gen = torch.Generator(device=hr.device).manual_seed(p["seed"])
        n, c, h, w = hr.shape
        s = self.scale
        # first order
        out = filter2d(hr, stack_kernels(p["kernel1"]))
        f, mode = p["resize1"]
        out = self._resize(out, (int(h * f), int(w * f)), mode)
        out = self._noise(out, p["noise1"], gen)
        if p["do_jpeg1"]:
            out = self._jpeg(out, p["jpeg1"])
        # second order
        if p["do_blur2"]:
            out = filter2d(out, stack_kernels(p["kernel2"]))
        f, mode = p["resize2"]
        out = self._resize(out, (int(h / s * f), int(w / s * f)), mode)
        out = self._noise(out, p["noise2"], gen)
        sinc = stack_kernels(p["sinc"])
        if p["resize_final_first"]:
            out = self._resize(out, (h // s, w // s), p["final_mode"])
            out = filter2d(out, sinc)
            if p["do_jpeg2"]:
                out = self._jpeg(out, p["jpeg2"])
        else:
            if p["do_jpeg2"]:
                out = self._jpeg(out, p["jpeg2"])
            out = self._resize(out, (h // s, w // s), p["final_mode"])
            out = filter2d(out, sinc)
        return quantize(out.clamp(0.0, 1.0), self.quantize_bits)

    def _to_unit(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.value_range
        return x if (lo, hi) == (0.0, 1.0) else (x - lo) / (hi - lo)

    def sharpen(self, hr: torch.Tensor) -> torch.Tensor:
        """The unsharp-masked HR (Real-ESRGAN's L1/perceptual target), same shape and range as ``hr``."""
        return UnsharpMask(self.usm_weight, self.usm_radius, self.usm_threshold, self.value_range)(hr)

    def __call__(
        self, img: torch.Tensor, randomize: bool = True, hr_sharpened: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Degrade one HR image ``(C, H, W)`` or a batch ``(N, C, H, W)``.

        Args:
            img: the HR image(s).
            randomize: draw new random parameters (``False`` reuses the last draw, e.g. to degrade a second key
                identically).
            hr_sharpened: the already unsharp-masked HR to degrade (skips recomputing it when ``usm=True``).
        """
        if img.ndim not in (3, 4):
            raise ConfigError(f"RandRealESRGANDegradation is 2D: expected (C, H, W) or (N, C, H, W), got {img.shape}.")
        single = img.ndim == 3
        img = crop_to_multiple(img, self.scale, self.size_policy) if single else img
        x = plain(img)
        xb = x[None] if single else x
        if xb.shape[-2] % self.scale or xb.shape[-1] % self.scale:
            xb = xb[..., : xb.shape[-2] - xb.shape[-2] % self.scale, : xb.shape[-1] - xb.shape[-1] % self.scale]
        if randomize:
            self.randomize(None, n=xb.shape[0])
        if not self._do_transform:
            lr = imresize(xb, 1.0 / self.scale, spatial_dims=2)
        else:
            if not self.params or len(self.params["kernel1"]) != xb.shape[0]:
                raise ConfigError("randomize=False needs a previous draw for the same batch size.")
            unit = self._to_unit(xb)
            if hr_sharpened is not None:
                hs = plain(hr_sharpened)
                unit = self._to_unit(hs[None] if hs.ndim == 3 else hs)[..., : xb.shape[-2], : xb.shape[-1]]
            elif self.usm:
                unit = usm_sharp(unit, self.usm_weight, self.usm_radius, self.usm_threshold)
            lo, hi = self.value_range
            lr = self.degrade_batch(unit)
            lr = lr if (lo, hi) == (0.0, 1.0) else lr * (hi - lo) + lo
        return like(lr[0], img, x.shape[1:]) if single else lr


class RandRealESRGANDegradationd(RandDegradeDictBase):
    """Dictionary :class:`RandRealESRGANDegradation`: ``d[lr_key]`` from ``d[key]``; optionally ``d[usm_key]``.

    The HR under ``keys`` stays unsharpened (the discriminator's real images); with ``usm=True`` the sharpened HR,
    which is what gets degraded and the target of the L1/perceptual losses in Real-ESRGAN, is written to
    ``usm_key`` (default ``"hr_usm"``; ``None`` to not store it). When ``usm_key`` is already in the data with the
    HR's shape (e.g. ``UnsharpMaskd(keys="hr", output_key="hr_usm")`` applied once to the whole, cached image and
    cropped together with the HR) it is used as is: that saves the two large blurs per patch (about a third of
    the CPU time) and sharpens with real context instead of reflected borders.

    Example: ``RandRealESRGANDegradationd(keys="hr", lr_key="lr", scale=4, bit_depth=16)``.
    """

    backend = RandRealESRGANDegradation.backend

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        usm_key: str | None = "hr_usm",
        scale: int = 4,
        bit_depth: int = 8,
        prob: float = 1.0,
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        degrade = RandRealESRGANDegradation(scale=scale, bit_depth=bit_depth, prob=1.0, **kwargs)
        super().__init__(keys, degrade, lr_key, fov_key, allow_missing_keys, prob=prob)
        self.usm_key = usm_key

    def degrade_key(self, d: dict, key: Hashable, hr: torch.Tensor) -> torch.Tensor:
        usm_key = (self.usm_key if len(self.keys) == 1 else f"{key}_usm") if self.usm_key else None
        sharp = None
        if self.degrade.usm:
            pre = d.get(usm_key) if usm_key else None
            if pre is not None and tuple(pre.shape) == tuple(hr.shape):
                sharp = pre  # sharpened once on the whole image (UnsharpMaskd) and cropped with the HR
            else:
                sharp = self.degrade.sharpen(hr)
        if usm_key and sharp is not None:
            d[usm_key] = sharp
        if self._do_transform:
            return self.degrade(hr, randomize=True, hr_sharpened=sharp)
        return like(imresize(plain(hr), 1.0 / self.degrade.scale, spatial_dims=2), hr)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        self.randomize(None)  # one draw per call: degrade (with prob) or plain bicubic, for every key
        return super().__call__(data)


RandRealESRGANDegradationD = RandRealESRGANDegradationDict = RandRealESRGANDegradationd
