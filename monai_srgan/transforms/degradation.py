"""HR → LR degradations as MONAI transforms: bicubic, Gaussian blur + downsampling, X-ray detector model, 3D slices.

All degradations work on channel-first tensors ``(C, *spatial)`` (1 or 3 channels, 2D or 3D where it makes sense)
holding normalised values (usually ``[0, 1]``); noise levels are fractions of that range, so 8- and 16-bit data use
the same settings. Real-ESRGAN's high-order model lives in :mod:`monai_srgan.transforms.degradation_realesrgan`.

Size policy (HR size not divisible by the scale): by default (``size_policy="crop"``) the HR image is cropped at
its bottom/right edge to the largest multiple of the scale before degrading, so pixel ``(0, 0)`` and the affine
origin are unchanged and LR pixel ``i`` covers HR pixels ``[i*s, (i+1)*s)`` exactly. The dictionary transforms
write the cropped HR back under its key (and crop the ``fov`` key the same way) and record the crop in the HR
meta as ``srgan_crop_to_multiple = {"from": [...], "to": [...]}``. ``size_policy="raise"`` raises
:class:`~monai_srgan.errors.InputFileError` naming the file instead.

Dictionary transforms read ``keys`` (HR, default ``"hr"``) and write ``lr_key`` (default ``"lr"``); the LR output
is a ``MetaTensor`` when the HR one is, with its affine and ``srgan_spacing`` rescaled to the LR grid.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform, Transform

from monai_srgan.errors import ConfigError, InputFileError, source_path
from monai_srgan.transforms.resize import imresize, rescale_affine
from monai_srgan.utils.axes import per_axis

__all__ = [
    "BicubicDownsample",
    "BicubicDownsampled",
    "BicubicDownsampleD",
    "BicubicDownsampleDict",
    "RandBlurDownsample",
    "RandBlurDownsampled",
    "RandBlurDownsampleD",
    "RandBlurDownsampleDict",
    "RandXRayDegradation",
    "RandXRayDegradationd",
    "RandXRayDegradationD",
    "RandXRayDegradationDict",
    "SliceThicknessDegradation",
    "SliceThicknessDegradationd",
    "SliceThicknessDegradationD",
    "SliceThicknessDegradationDict",
    "crop_to_multiple",
    "gaussian_blur",
    "gaussian_kernel1d",
    "quantize",
    "slice_profile_weights",
]

SIZE_POLICIES = ("crop", "raise")


# ----------------------------------------------------------------------------------------------------- helpers
def _check_scale(scale: Any) -> Any:
    vals = scale if isinstance(scale, (Sequence, np.ndarray)) and not isinstance(scale, str) else [scale]
    for v in vals:
        if not float(v) >= 1.0:
            raise ConfigError(f"scale={scale}: every downsampling factor must be >= 1 (e.g. 4 for ×4).")
    return scale


def _int_scales(scales: tuple[float, ...]) -> tuple[int, ...] | None:
    if all(abs(s - round(s)) < 1e-9 for s in scales):
        return tuple(int(round(s)) for s in scales)
    return None


def crop_to_multiple(img: torch.Tensor, scale: float | Sequence[float], policy: str = "crop") -> torch.Tensor:
    """Apply the size policy: crop ``(C, *spatial)`` at the bottom/right to a multiple of ``scale`` or raise.

    Non-integer scales are left alone (the LR size is ``floor(size / scale)``).

    Raises:
        InputFileError: ``policy="raise"`` and a spatial size is not divisible (names ``filename_or_obj``), or the
            image is smaller than one LR pixel.
    """
    if policy not in SIZE_POLICIES:
        raise ConfigError(f"size_policy={policy!r}; use one of {SIZE_POLICIES}.")
    nd = img.ndim - 1
    scales = per_axis(scale, nd, "scale")
    ints = _int_scales(scales)
    shape = tuple(img.shape[1:])
    if any(s < sc for s, sc in zip(shape, scales)):
        raise InputFileError(
            source_path(img), f"image of spatial size {shape} is smaller than the scale {scales}", "use a larger image"
        )
    if ints is None:
        return img
    target = tuple(s - s % k for s, k in zip(shape, ints))
    if target == shape:
        return img
    if policy == "raise":
        raise InputFileError(
            source_path(img),
            f"spatial size {shape} is not divisible by the scale {ints}",
            "crop or pad the image to a multiple of the scale, or use size_policy='crop'",
        )
    out = img[(slice(None),) + tuple(slice(0, t) for t in target)]
    meta = getattr(out, "meta", None)
    if isinstance(meta, dict):
        meta["srgan_crop_to_multiple"] = {"from": list(shape), "to": list(target)}
    return out


def _plain(x: torch.Tensor) -> torch.Tensor:
    x = x.as_tensor() if hasattr(x, "as_tensor") else x
    if not torch.is_tensor(x):
        x = torch.as_tensor(np.asarray(x))
    return x if torch.is_floating_point(x) else x.float()


def _like(out: torch.Tensor, ref: torch.Tensor, in_shape: Sequence[int] | None = None) -> torch.Tensor:
    """Wrap ``out`` as a MetaTensor carrying ``ref``'s meta; rescale affine/spacing when the grid changed."""
    meta = getattr(ref, "meta", None)
    if meta is None:
        return out
    from monai.data import MetaTensor

    new_meta = dict(meta)
    res = MetaTensor(out, meta=new_meta)
    in_shape = tuple(in_shape) if in_shape is not None else tuple(ref.shape[1:])
    out_shape = tuple(out.shape[1:])
    if in_shape != out_shape:
        if "affine" in meta:
            res.affine = rescale_affine(meta["affine"], in_shape, out_shape)
        sp = meta.get("srgan_spacing")
        if isinstance(sp, (list, tuple)) and len(sp) == len(in_shape):
            res.meta["srgan_spacing"] = [float(v) * i / o for v, i, o in zip(sp, in_shape, out_shape)]
        res.meta["srgan_lr_scale"] = [i / o for i, o in zip(in_shape, out_shape)]
    return res


def quantize(x: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Round ``[0, 1]`` values to ``2**bits - 1`` levels (and clip); ``bits=None`` returns ``x`` unchanged."""
    if bits is None:
        return x
    q = float(2 ** int(bits) - 1)
    return torch.clamp(torch.round(x * q), 0.0, q) / q


def gaussian_kernel1d(sigma: float, radius: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised sampled Gaussian of standard deviation ``sigma`` (pixels), radius ``ceil(3 sigma)`` by default."""
    if radius is None:
        radius = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / max(sigma, 1e-6)) ** 2)
    return (k / k.sum()).to(dtype)


def _conv_axis(x: torch.Tensor, kernel: torch.Tensor, axis: int, padding_mode: str = "reflect") -> torch.Tensor:
    """1D convolution of every line of ``x`` along ``axis`` (the same kernel for all), reflect padding."""
    r = kernel.numel() // 2
    if r == 0:
        return x * kernel.reshape(())
    xt = x.movedim(axis, -1)
    shp = xt.shape
    lines = xt.reshape(-1, 1, shp[-1])
    if padding_mode == "reflect" and shp[-1] <= r:
        padding_mode = "replicate"
    lines = F.pad(lines, (r, r), mode=padding_mode)
    y = F.conv1d(lines, kernel.to(lines.dtype).flip(0).reshape(1, 1, -1))
    return y.reshape(shp).movedim(-1, axis)


def gaussian_blur(
    x: torch.Tensor, sigma: float | Sequence[float], spatial_dims: int | None = None, truncate: float = 3.0
) -> torch.Tensor:
    """Separable Gaussian blur of ``(C, *spatial)`` or ``(N, C, *spatial)`` with reflect padding.

    Args:
        x: float tensor.
        sigma: standard deviation in pixels, one value or one per spatial axis (0 skips an axis).
        spatial_dims: number of trailing spatial axes (default ``x.ndim - 1``).
        truncate: kernel radius in sigmas.
    """
    nd = spatial_dims or x.ndim - 1
    sig = per_axis(sigma, nd, "sigma")
    for k, s in enumerate(sig):
        if s > 0:
            radius = max(1, int(math.ceil(truncate * s)))
            x = _conv_axis(x, gaussian_kernel1d(s, radius, x.dtype), x.ndim - nd + k)
    return x


# -------------------------------------------------------------------------------------------- dict base class
class _DegradeDictBase(MapTransform):
    """Reads HR ``keys``, writes ``lr_key`` (one per key); applies the size policy to the HR (and ``fov``) first."""

    def __init__(
        self,
        keys: KeysCollection,
        lr_key: str | Sequence[str] = "lr",
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        lr_keys = (lr_key,) if isinstance(lr_key, str) else tuple(lr_key)
        if len(lr_keys) != len(self.keys):
            raise ConfigError(f"lr_key={lr_key!r} needs one output key per input key {self.keys}.")
        self.lr_keys = lr_keys
        self.fov_key = fov_key

    def _apply_policy(self, d: dict, key: Hashable, scale: Any, policy: str) -> torch.Tensor:
        hr = d[key]
        before = tuple(hr.shape[1:])
        hr = crop_to_multiple(hr, scale, policy)
        after = tuple(hr.shape[1:])
        if after != before:
            d[key] = hr
            if self.fov_key and self.fov_key in d and tuple(d[self.fov_key].shape[1:]) == before:
                d[self.fov_key] = d[self.fov_key][(slice(None),) + tuple(slice(0, t) for t in after)]
        return hr


# ---------------------------------------------------------------------------------------------------- bicubic
class BicubicDownsample(Transform):
    """The papers' degradation: antialiased bicubic reduction by an integer factor (PIL/Matlab ``imresize``).

    Used by papers 000, 001 and 004 (×2/×3/×4/×8/×16). Works on ``(C, H, W)`` and ``(C, H, W, D)``; ``scale`` may be
    one factor per spatial axis (``(1, 1, 4)`` reduces only the slice axis).

    Args:
        scale: reduction factor (>= 1), or one per spatial axis.
        mode: :func:`~monai_srgan.transforms.resize.imresize` kernel (``"bicubic"`` by default).
        antialias: widen the kernel when reducing (PIL/Matlab); keep ``True`` for the papers' operator.
        size_policy: ``"crop"`` (default: crop the HR bottom/right to a multiple of the scale) or ``"raise"``.
        clip: optional ``(low, high)`` clip of the LR values (bicubic overshoots near edges).
        quantize_bits: round the LR to this many bits (``8`` imitates LR images saved as 8-bit PNG); None = off.
    """

    backend = ["torch"]

    def __init__(
        self,
        scale: float | Sequence[float] = 4,
        mode: str = "bicubic",
        antialias: bool = True,
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
        quantize_bits: int | None = None,
    ) -> None:
        self.scale = _check_scale(scale)
        self.mode = mode
        self.antialias = antialias
        if size_policy not in SIZE_POLICIES:
            raise ConfigError(f"size_policy={size_policy!r}; use one of {SIZE_POLICIES}.")
        self.size_policy = size_policy
        self.clip = clip
        self.quantize_bits = quantize_bits

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """Degrade one HR image ``(C, *spatial)``; returns the LR image."""
        img = crop_to_multiple(img, self.scale, self.size_policy)
        nd = img.ndim - 1
        factors = tuple(1.0 / s for s in per_axis(self.scale, nd, "scale"))
        x = _plain(img)
        lr = imresize(x, scale_factor=factors, mode=self.mode, antialias=self.antialias, spatial_dims=nd)
        if self.clip is not None:
            lr = lr.clamp(*self.clip)
        lr = quantize(lr, self.quantize_bits)
        return _like(lr, img, x.shape[1:])


class _RandDegradeDictBase(RandomizableTransform, _DegradeDictBase):
    """A random dictionary degradation wrapping one array transform in ``self.degrade``; seeds are forwarded to it."""

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.degrade.set_random_state(seed, state)
        return self


class BicubicDownsampled(_DegradeDictBase):
    """Dictionary version of :class:`BicubicDownsample`: ``d[lr_key] = degrade(d[key])``.

    Example: ``BicubicDownsampled(keys="hr", lr_key="lr", scale=4)``.

    Args:
        keys: HR key(s).
        lr_key: output key(s), one per HR key.
        fov_key: a field-of-view mask cropped with the HR by the size policy (ignored when absent).
        allow_missing_keys: skip absent HR keys.
        other args: see :class:`BicubicDownsample`.
    """

    backend = BicubicDownsample.backend

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        scale: float | Sequence[float] = 4,
        mode: str = "bicubic",
        antialias: bool = True,
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
        quantize_bits: int | None = None,
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, lr_key, fov_key, allow_missing_keys)
        self.degrade = BicubicDownsample(scale, mode, antialias, size_policy, clip, quantize_bits)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key, lr_key in self.key_iterator(d, self.lr_keys):
            hr = self._apply_policy(d, key, self.degrade.scale, self.degrade.size_policy)
            d[lr_key] = self.degrade(hr)
        return d


BicubicDownsampleD = BicubicDownsampleDict = BicubicDownsampled


# ------------------------------------------------------------------------------------- Gaussian blur + down
def _draw(rng: np.random.RandomState, value: float | Sequence[float]) -> float:
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        lo, hi = float(value[0]), float(value[1])
        return lo if hi <= lo else float(rng.uniform(lo, hi))
    return float(value)


class RandBlurDownsample(RandomizableTransform):
    """Gaussian blur then downsampling (paper 003, Sec. 2.3: "applying a Gaussian filter to I^HR followed by
    downsampling with factor r"); 2D or 3D.

    The paper gives no sigma; the default draws sigma uniformly in ``[0.4 r, 0.6 r]`` HR pixels per call (the
    usual "BD" setting is sigma 1.6 at ×3). The blurred image is then sampled at the LR pixel centres with
    ``down_mode`` (bicubic interpolation without further antialiasing by default; ``"nearest"`` is plain
    decimation, ``"area"`` block averaging).

    Args:
        scale: reduction factor, one or one per spatial axis.
        sigma: blur sigma in HR pixels: a fixed value or a ``(low, high)`` range drawn per call; ``None`` →
            ``(0.4 * scale, 0.6 * scale)`` (per axis, the largest factor).
        prob: probability of blurring (otherwise only the downsampling is applied).
        down_mode: resampling of the blurred image (``imresize`` mode).
        size_policy: ``"crop"`` or ``"raise"`` (see module docstring).
        clip: optional ``(low, high)`` clip of the LR.
    """

    backend = ["torch"]

    def __init__(
        self,
        scale: float | Sequence[float] = 4,
        sigma: float | Sequence[float] | None = None,
        prob: float = 1.0,
        down_mode: str = "bicubic",
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.scale = _check_scale(scale)
        smax = max(float(s) for s in scale) if isinstance(scale, Sequence) else float(scale)
        self.sigma = (0.4 * smax, 0.6 * smax) if sigma is None else sigma
        self.down_mode = down_mode
        if size_policy not in SIZE_POLICIES:
            raise ConfigError(f"size_policy={size_policy!r}; use one of {SIZE_POLICIES}.")
        self.size_policy = size_policy
        self.clip = clip
        self._sigma = 0.0

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self._sigma = _draw(self.R, self.sigma) if self._do_transform else 0.0

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        """Degrade ``(C, *spatial)``; ``randomize=False`` reuses the last sigma."""
        if randomize:
            self.randomize()
        img = crop_to_multiple(img, self.scale, self.size_policy)
        x = _plain(img)
        nd = x.ndim - 1
        scales = per_axis(self.scale, nd, "scale")
        # blur only along axes that are reduced
        y = gaussian_blur(x, tuple(self._sigma if s > 1 else 0.0 for s in scales), nd) if self._sigma > 0 else x
        # sampled at the LR pixel centres: no further antialiasing, except that "area" means block averaging
        aa = self.down_mode == "area"
        lr = imresize(y, tuple(1.0 / s for s in scales), mode=self.down_mode, antialias=aa, spatial_dims=nd)
        if self.clip is not None:
            lr = lr.clamp(*self.clip)
        return _like(lr, img, x.shape[1:])


class RandBlurDownsampled(_RandDegradeDictBase):
    """Dictionary :class:`RandBlurDownsample` (one sigma per call shared by all ``keys``).

    Example: ``RandBlurDownsampled(keys="hr", lr_key="lr", scale=4, sigma=(1.0, 2.0))``.
    """

    backend = RandBlurDownsample.backend

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        scale: float | Sequence[float] = 4,
        sigma: float | Sequence[float] | None = None,
        prob: float = 1.0,
        down_mode: str = "bicubic",
        size_policy: str = "crop",
        clip: tuple[float, float] | None = None,
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
    ) -> None:
        _DegradeDictBase.__init__(self, keys, lr_key, fov_key, allow_missing_keys)
        RandomizableTransform.__init__(self, 1.0)
        self.degrade = RandBlurDownsample(scale, sigma, prob, down_mode, size_policy, clip)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.degrade.randomize()
        for key, lr_key in self.key_iterator(d, self.lr_keys):
            hr = self._apply_policy(d, key, self.degrade.scale, self.degrade.size_policy)
            d[lr_key] = self.degrade(hr, randomize=False)
        return d


# ----------------------------------------------------------------------------------------- X-ray detector
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
        self.scale = _check_scale(scale)
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
        if size_policy not in SIZE_POLICIES:
            raise ConfigError(f"size_policy={size_policy!r}; use one of {SIZE_POLICIES}.")
        self.size_policy = size_policy
        self.params: dict[str, float] = {}

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        if isinstance(self.dose, Sequence):
            dose = float(np.exp(self.R.uniform(np.log(float(self.dose[0])), np.log(float(self.dose[1])))))
        else:
            dose = float(self.dose)
        self.params = {
            "psf_sigma": _draw(self.R, self.psf_sigma),
            "dose": dose,
            "electronic_noise": _draw(self.R, self.electronic_noise),
            "seed": int(self.R.randint(0, 2**31 - 1)),
        }

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        """Degrade ``(C, *spatial)``; ``randomize=False`` reuses the last draw."""
        if randomize:
            self.randomize()
        img = crop_to_multiple(img, self.scale, self.size_policy)
        x = _plain(img)
        nd = x.ndim - 1
        factors = tuple(1.0 / s for s in per_axis(self.scale, nd, "scale"))
        lo, hi = self.value_range
        u = (x - lo) / (hi - lo)
        if not self._do_transform:
            lr = imresize(u, factors, mode=self.down_mode, spatial_dims=nd)
            return _like(lr * (hi - lo) + lo, img, x.shape[1:])
        p = self.params
        if p["psf_sigma"] > 0:
            u = gaussian_blur(u, p["psf_sigma"], nd)
        u = imresize(u, factors, mode=self.down_mode, spatial_dims=nd).clamp(0.0, 1.0)
        gen = torch.Generator(device=u.device).manual_seed(p["seed"])
        from monai_srgan.transforms.degradation_kernels import _poisson

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
        return _like(v * (hi - lo) + lo, img, x.shape[1:])


class RandXRayDegradationd(_RandDegradeDictBase):
    """Dictionary :class:`RandXRayDegradation`.

    Example: ``RandXRayDegradationd(keys="hr", lr_key="lr", scale=2, dose=(500, 5000))``.
    """

    backend = RandXRayDegradation.backend

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        _DegradeDictBase.__init__(self, keys, lr_key, fov_key, allow_missing_keys)
        RandomizableTransform.__init__(self, 1.0)
        self.degrade = RandXRayDegradation(**kwargs)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key, lr_key in self.key_iterator(d, self.lr_keys):
            hr = self._apply_policy(d, key, self.degrade.scale, self.degrade.size_policy)
            d[lr_key] = self.degrade(hr, randomize=True)
        return d


# ------------------------------------------------------------------------------------------ 3D slice thickness
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
        _check_scale(scale)
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
        if size_policy not in SIZE_POLICIES:
            raise ConfigError(f"size_policy={size_policy!r}; use one of {SIZE_POLICIES}.")
        self.size_policy = size_policy
        self.params: dict[str, Any] = {}

    def scaleper_axis(self, spatial_dims: int) -> tuple[float, ...]:
        """The per-axis scale tuple (1 everywhere except ``axis``)."""
        ax = self.axis % spatial_dims
        return tuple(self.scale if k == ax else 1.0 for k in range(spatial_dims))

    def randomize(self, data: Any = None) -> None:
        super().randomize(None)
        self.params = {"noise_std": _draw(self.R, self.noise_std), "seed": int(self.R.randint(0, 2**31 - 1))}

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
        img = crop_to_multiple(img, self.scaleper_axis(nd), self.size_policy)
        x = _plain(img)
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
        return _like(y.contiguous(), img, x.shape[1:])


class SliceThicknessDegradationd(_RandDegradeDictBase):
    """Dictionary :class:`SliceThicknessDegradation`.

    Example: ``SliceThicknessDegradationd(keys="hr", lr_key="lr", scale=4, axis=-1, profile="gaussian")``.
    """

    backend = SliceThicknessDegradation.backend

    def __init__(
        self,
        keys: KeysCollection = "hr",
        lr_key: str | Sequence[str] = "lr",
        fov_key: str | None = "fov",
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        _DegradeDictBase.__init__(self, keys, lr_key, fov_key, allow_missing_keys)
        RandomizableTransform.__init__(self, 1.0)
        self.degrade = SliceThicknessDegradation(**kwargs)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key, lr_key in self.key_iterator(d, self.lr_keys):
            nd = d[key].ndim - 1
            hr = self._apply_policy(d, key, self.degrade.scaleper_axis(nd), self.degrade.size_policy)
            d[lr_key] = self.degrade(hr, randomize=True)
        return d


RandBlurDownsampleD = RandBlurDownsampleDict = RandBlurDownsampled
RandXRayDegradationD = RandXRayDegradationDict = RandXRayDegradationd
SliceThicknessDegradationD = SliceThicknessDegradationDict = SliceThicknessDegradationd
