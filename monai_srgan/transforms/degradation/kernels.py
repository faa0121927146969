"""Blur kernels, per-sample filtering, noise and JPEG helpers of Real-ESRGAN's degradation model (paper 002).

Ports of BasicSR's ``basicsr/data/degradations.py`` kernel generators (isotropic/anisotropic, generalized and
plateau Gaussians, circular low-pass "sinc") and of its noise functions, made bit-depth aware: noise levels are
fractions of the ``[0, 1]`` range and the 8-bit steps (quantisation inside Poisson noise, JPEG) are optional.
All random draws go through a caller-owned ``numpy.random.RandomState`` (the MONAI transform's ``R``) or a
``torch.Generator`` seeded from it, so results are reproducible under ``set_random_state``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from monai_srgan.errors import ConfigError

__all__ = [
    "KERNEL_TYPES",
    "bivariate_gaussian",
    "bivariate_generalized_gaussian",
    "bivariate_plateau",
    "circular_lowpass_kernel",
    "random_mixed_kernel",
    "filter2d",
    "stack_kernels",
    "usm_sharp",
    "add_gaussian_noise",
    "add_poisson_noise",
    "jpeg_roundtrip",
    "next_fast_len",
]

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


# --------------------------------------------------------------------------------------------- kernel shapes
def _mesh(kernel_size: int) -> np.ndarray:
    ax = np.arange(-kernel_size // 2 + 1.0, kernel_size // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def _sigma_matrix(sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    d = np.diag([sig_x**2, sig_y**2])
    u = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return u @ d @ u.T


def _quad(kernel_size: int, sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    grid = _mesh(kernel_size)
    inv = np.linalg.inv(_sigma_matrix(sig_x, sig_y, theta))
    return np.sum((grid @ inv) * grid, axis=-1)


def bivariate_gaussian(kernel_size: int, sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    """Anisotropic Gaussian ``exp(-x^T Σ^-1 x / 2)``, normalised (Real-ESRGAN, paper 002, Sec. 3.1)."""
    k = np.exp(-0.5 * _quad(kernel_size, sig_x, sig_y, theta))
    return k / k.sum()


def bivariate_generalized_gaussian(kernel_size: int, sig_x: float, sig_y: float, theta: float, beta: float):
    """Generalized Gaussian ``exp(-(x^T Σ^-1 x / 2)^β)`` as in BasicSR (β applied to the quadratic form)."""
    k = np.exp(-0.5 * np.power(_quad(kernel_size, sig_x, sig_y, theta), beta))
    return k / k.sum()


def bivariate_plateau(kernel_size: int, sig_x: float, sig_y: float, theta: float, beta: float) -> np.ndarray:
    """Plateau-shaped kernel ``1 / (1 + (x^T Σ^-1 x)^β)`` (Real-ESRGAN)."""
    k = np.reciprocal(np.power(_quad(kernel_size, sig_x, sig_y, theta), beta) + 1.0)
    return k / k.sum()


@lru_cache(maxsize=64)
def _radius_grid(kernel_size: int) -> np.ndarray:
    c = (kernel_size - 1) / 2
    yy, xx = np.mgrid[0:kernel_size, 0:kernel_size]
    return np.sqrt((xx - c) ** 2 + (yy - c) ** 2)


def circular_lowpass_kernel(cutoff: float, kernel_size: int, pad_to: int = 0) -> np.ndarray:
    """2D sinc (ideal circular low-pass) ``ω J1(ω r) / (2π r)``, normalised; models ringing/overshoot (paper 002)."""
    if kernel_size % 2 != 1:
        raise ConfigError("kernel_size must be odd")
    r = torch.from_numpy(_radius_grid(kernel_size))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (cutoff * torch.special.bessel_j1(cutoff * r) / (2 * np.pi * r)).numpy()
    k[(kernel_size - 1) // 2, (kernel_size - 1) // 2] = cutoff**2 / (4 * np.pi)
    k = k / k.sum()
    if pad_to > kernel_size:
        p = (pad_to - kernel_size) // 2
        k = np.pad(k, ((p, p), (p, p)))
    return k


def _beta(rng: np.random.RandomState, beta_range: Sequence[float]) -> float:
    # BasicSR: half of the draws below 1 (sharper centre), half above
    if rng.uniform() < 0.5:
        return rng.uniform(beta_range[0], 1.0)
    return rng.uniform(1.0, beta_range[1])


def random_mixed_kernel(
    rng: np.random.RandomState,
    kernel_size: int,
    kernel_list: Sequence[str] = KERNEL_TYPES,
    kernel_prob: Sequence[float] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03),
    sigma_range: Sequence[float] = (0.2, 3.0),
    rotation_range: Sequence[float] = (-math.pi, math.pi),
    betag_range: Sequence[float] = (0.5, 4.0),
    betap_range: Sequence[float] = (1.0, 2.0),
) -> np.ndarray:
    """Draw one kernel of the given type mixture, as BasicSR's ``random_mixed_kernels`` (no multiplicative noise)."""
    p = np.asarray(kernel_prob, dtype=np.float64)
    kind = kernel_list[int(rng.choice(len(kernel_list), p=p / p.sum()))]
    iso = kind.endswith("iso") and not kind.endswith("aniso")
    sig_x = rng.uniform(*sigma_range)
    if iso:
        sig_y, theta = sig_x, 0.0
    else:
        sig_y = rng.uniform(*sigma_range)
        theta = rng.uniform(*rotation_range)
    if kind.startswith("generalized"):
        return bivariate_generalized_gaussian(kernel_size, sig_x, sig_y, theta, _beta(rng, betag_range))
    if kind.startswith("plateau"):
        return bivariate_plateau(kernel_size, sig_x, sig_y, theta, _beta(rng, betap_range))
    if kind not in ("iso", "aniso"):
        raise ConfigError(f"unknown kernel type {kind!r}; use {KERNEL_TYPES}")
    return bivariate_gaussian(kernel_size, sig_x, sig_y, theta)


# ------------------------------------------------------------------------------------------------- filtering
def next_fast_len(n: int) -> int:
    """Smallest integer >= n whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def stack_kernels(kernels: Sequence[np.ndarray | None]) -> torch.Tensor:
    """Stack per-sample ``(k_i, k_i)`` kernels into one ``(N, k, k)`` float tensor, centred and zero-padded to the
    largest size; ``None`` (no filtering for that sample) becomes the identity kernel."""
    size = max((k.shape[0] for k in kernels if k is not None), default=1)
    out = np.zeros((len(kernels), size, size))
    for i, k in enumerate(kernels):
        if k is None:
            out[i, size // 2, size // 2] = 1.0
        else:
            p = (size - k.shape[0]) // 2
            out[i, p : p + k.shape[0], p : p + k.shape[0]] = k
    return torch.from_numpy(out).float()


@lru_cache(maxsize=32)
def _kernel_fft(kernel: torch.Tensor, fs: tuple[int, int], dtype: torch.dtype, device: str) -> torch.Tensor:
    # cached for fixed kernels (USM); keyed on the tensor object
    return torch.fft.rfft2(kernel.to(dtype=dtype, device=device).flip(-1, -2), s=fs)


def filter2d(x: torch.Tensor, kernels: torch.Tensor, direct_max: int = 11, cache: bool = False) -> torch.Tensor:
    """Filter each sample of ``(N, C, H, W)`` with its own ``(k, k)`` kernel (``(N, k, k)`` or one ``(k, k)``).

    Same result as BasicSR's ``filter2D`` (reflect padding, cross-correlation); small kernels use one grouped
    convolution, larger ones an FFT product on a fast size (cost independent of ``k``). ``cache=True`` keeps the
    FFT of a fixed ``(k, k)`` kernel object between calls.
    """
    n, c, h, w = x.shape
    fixed = kernels if (cache and kernels.ndim == 2) else None
    if kernels.ndim == 2:
        kernels = kernels.expand(n, *kernels.shape)
    kernels = kernels.to(dtype=x.dtype, device=x.device)
    k = kernels.shape[-1]
    p = k // 2
    if p == 0:
        return x * kernels.reshape(n, 1, 1, 1)
    mode = "reflect" if (h > p and w > p) else "replicate"
    xp = F.pad(x, (p, p, p, p), mode=mode)
    if k <= direct_max:
        weight = kernels.repeat_interleave(c, dim=0).unsqueeze(1)
        return F.conv2d(xp.reshape(1, n * c, h + 2 * p, w + 2 * p), weight, groups=n * c).reshape(n, c, h, w)
    fs = (next_fast_len(h + 2 * p), next_fast_len(w + 2 * p))
    if fixed is not None:
        kf = _kernel_fft(fixed, fs, x.dtype, str(x.device))
    else:
        kf = torch.fft.rfft2(kernels.flip(-1, -2), s=fs).unsqueeze(1)
    y = torch.fft.irfft2(torch.fft.rfft2(xp, s=fs) * kf, s=fs)
    return y[..., 2 * p : 2 * p + h, 2 * p : 2 * p + w].contiguous()


@lru_cache(maxsize=8)
def _usm_kernel(radius: int) -> torch.Tensor:
    # cv2.getGaussianKernel(ksize, 0): sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    ksize = radius + 1 if radius % 2 == 0 else radius
    sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    t = torch.arange(ksize, dtype=torch.float64) - (ksize - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g).float()


def usm_sharp(
    x: torch.Tensor, weight: float = 0.5, radius: int = 50, threshold: float = 10.0 / 255.0, clip: bool = True
) -> torch.Tensor:
    """Unsharp masking of the ground truth as in Real-ESRGAN (BasicSR ``USMSharp``), on ``(N, C, H, W)`` in [0, 1].

    ``sharp = x + weight * (x - blur(x))``, blended in only where ``|x - blur(x)| > threshold`` (soft mask =
    blurred binary mask). ``threshold`` is a fraction of the range (BasicSR's 10 grey levels = 10/255).
    """
    kern = _usm_kernel(int(radius))
    blur = filter2d(x, kern, cache=True)
    residual = x - blur
    mask = (residual.abs() > threshold).to(x.dtype)
    soft = filter2d(mask, kern, cache=True)
    sharp = x + weight * residual
    if clip:
        sharp = sharp.clamp(0.0, 1.0)
    return soft * sharp + (1.0 - soft) * x


# ---------------------------------------------------------------------------------------------------- noise
def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    return x.mean(1, keepdim=True)


def add_gaussian_noise(
    x: torch.Tensor, sigma: torch.Tensor, gray: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Add N(0, sigma²) per sample (``sigma`` as a fraction of the range, shape ``(N,)``); ``gray`` (bool ``(N,)``)
    samples get one noise field shared by all channels (BasicSR ``generate_gaussian_noise_pt``)."""
    n, c = x.shape[:2]
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if c > 1 and bool(gray.any()):
        g = gray.view(n, 1, 1, 1).to(x.device)
        noise = torch.where(g, noise[:, :1].expand_as(noise), noise)
    return x + noise * sigma.view(n, 1, 1, 1).to(x)


def _poisson(lam: torch.Tensor, generator: torch.Generator | None, exact_below: float = 32.0) -> torch.Tensor:
    """Poisson samples of rate ``lam``: exact where ``lam < exact_below``, else the normal approximation
    ``round(lam + sqrt(lam) z)`` (indistinguishable there, and ~10× faster than ``torch.poisson`` on CPU)."""
    z = torch.randn(lam.shape, generator=generator, dtype=lam.dtype, device=lam.device)
    out = torch.round(lam + lam.clamp_min(0).sqrt() * z).clamp_min(0)
    small = lam < exact_below
    if bool(small.any()):
        out[small] = torch.poisson(lam[small].clamp_min(0), generator=generator)
    return out


def add_poisson_noise(
    x: torch.Tensor,
    scale: torch.Tensor,
    gray: torch.Tensor,
    levels: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Real-ESRGAN's Poisson (shot) noise, per sample, scaled by ``scale`` (``(N,)``).

    Args:
        x: ``(N, C, H, W)`` in [0, 1].
        scale: noise multiplier per sample (published range 0.05–3).
        gray: per-sample bool: one luminance-derived noise field for all channels.
        levels: photon levels at full scale. ``None`` is BasicSR's 8-bit rule (quantise to 8 bits, count the distinct
            values ``v`` and use ``2**ceil(log2 v)``). An int (e.g. 256) skips the 8-bit quantisation, for 16-bit data:
            the noise is then a fixed fraction of the range.
        generator: torch RNG.
    """
    n, c = x.shape[:2]
    gray = gray.view(n).to(torch.bool)
    base = torch.where(gray.view(n, 1, 1, 1), _gray(x).expand_as(x), x) if c > 1 else x
    if levels is None:
        q = torch.clamp(torch.round(base * 255.0), 0, 255)
        counts = [int((torch.bincount(q[i].flatten().long(), minlength=256) > 0).sum()) for i in range(n)]
        vals = torch.tensor([2.0 ** math.ceil(math.log2(max(v, 1))) for v in counts], dtype=x.dtype)
        base = q / 255.0
    else:
        vals = torch.full((n,), float(levels), dtype=x.dtype)
    vals = vals.view(n, 1, 1, 1).to(x.device)
    # gray samples: noise computed once (channel 0 of the expanded luminance) and shared
    noise = _poisson(base * vals, generator) / vals - base
    if c > 1 and bool(gray.any()):
        noise = torch.where(gray.view(n, 1, 1, 1), noise[:, :1].expand_as(noise), noise)
    return x + noise * scale.view(n, 1, 1, 1).to(x)


# ----------------------------------------------------------------------------------------------------- JPEG
def _jpeg_u8(a: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf))


def jpeg_roundtrip(x: torch.Tensor, quality: Sequence[float], keep_precision: bool = False) -> torch.Tensor:
    """JPEG-compress and decode each sample of ``(N, C, H, W)`` in [0, 1] with PIL (1 channel: ``L``, 3: ``RGB``).

    Args:
        x: input batch, clipped to [0, 1] first.
        quality: one JPEG quality per sample (rounded to an int, 1–95).
        keep_precision: add only the JPEG error ``jpeg(q8(x)) - q8(x)`` to ``x`` instead of returning the 8-bit
            decoded image: JPEG artefacts without reducing 16-bit data to 8 bits.
    """
    x = x.clamp(0.0, 1.0)
    n, c = x.shape[:2]
    if c not in (1, 3):
        raise ValueError(f"JPEG needs 1 or 3 channels, got {c}")
    q8 = torch.round(x * 255.0).to(torch.uint8).cpu()
    outs = []
    for i in range(n):
        a = q8[i].permute(1, 2, 0).numpy()
        a = a[..., 0] if c == 1 else a
        d = _jpeg_u8(np.ascontiguousarray(a), int(round(min(max(float(quality[i]), 1.0), 95.0))))
        d = torch.from_numpy(np.array(d, copy=True)).reshape(a.shape[0], a.shape[1], c).permute(2, 0, 1)
        outs.append(d)
    dec = torch.stack(outs).to(device=x.device, dtype=x.dtype) / 255.0
    if keep_precision:
        return (x + dec - q8.to(device=x.device, dtype=x.dtype) / 255.0).clamp(0.0, 1.0)
    return dec
