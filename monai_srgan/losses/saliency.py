"""Local saliency maps and the saliency loss of Mahapatra et al. (paper 003, MICCAI 2017, section 2 and eq. 9).

The saliency of a pixel combines two feature maps, each turned into a *uniqueness* map:

- ``I_Curv``: isophote curvature of the grey image (eq. 1), which highlights vessels and small structures;
- ``1 - I_Ent``: one minus the local entropy over a 7x7 neighbourhood with an 8-bin histogram, smoothed by a
  3x3 Gaussian with sigma 0.5, which highlights compact regions;
- uniqueness ``D_F(s) = sum_i exp(-||s - s_i||) |F(s) - F(s_i)|`` over the 7x7 neighbourhood (eq. 2), each map
  normalised to [0, 1];
- ``I_Sal = 0.4 D_Curv + 0.6 D_(1-Ent)`` (eq. 3).

Everything is vectorised (convolutions, pooling and shifted views; no Python loop over pixels) and works on
2D batches ``(N, C, H, W)`` and 3D batches ``(N, C, H, W, D)``. For 3D, eq. 1 generalises to the sum of the
principal curvatures of the iso-surface (twice the mean curvature), which reduces exactly to eq. 1 in 2D.

Differentiability: the paper's hard 8-bin histogram has zero gradient almost everywhere. ``histogram="soft"``
replaces the one-hot bin membership with a triangular (linear-interpolation) kernel on the bin centres, which
sums to one per pixel, equals the hard histogram on bin centres and has a non-zero gradient in between. The
losses in this package use the soft histogram for both images, compute the HR saliency without gradient (it is
a target) and back-propagate through the SR saliency (curvature, soft entropy, uniqueness and normalisation are
all differentiable). See docs/losses.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from monai_srgan.errors import ConfigError

__all__ = ["LocalSaliency", "SaliencyLoss", "to_grayscale"]

_LUMA_BT601 = (0.299, 0.587, 0.114)


def to_grayscale(x: torch.Tensor, gray: str | int = "luma") -> torch.Tensor:
    """Reduce a channel-first batch ``(N, C, *spatial)`` to one channel ``(N, 1, *spatial)``.

    Args:
        x: input batch.
        gray: ``"luma"`` (ITU-R BT.601 weights for 3 channels, the mean otherwise), ``"mean"``, or an int
            channel index (e.g. ``1`` for the green channel of a fundus photograph).
    """
    if x.shape[1] == 1:
        return x
    if isinstance(gray, int) and not isinstance(gray, bool):
        return x[:, gray : gray + 1]
    if gray == "luma" and x.shape[1] == 3:
        w = torch.tensor(_LUMA_BT601, dtype=x.dtype, device=x.device).view(1, 3, *([1] * (x.ndim - 2)))
        return (x * w).sum(dim=1, keepdim=True)
    if gray in ("luma", "mean"):
        return x.mean(dim=1, keepdim=True)
    raise ConfigError(f"gray={gray!r}: expected 'luma', 'mean' or a channel index")


def _gaussian_kernel1d(sigma: float, radius: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _conv_axis(x: torch.Tensor, kernel: torch.Tensor, axis: int) -> torch.Tensor:
    """Correlate every channel of ``x`` (N, C, *spatial) with a short 1D kernel along spatial ``axis``.

    Replicate padding; computed as a weighted sum of shifted views, which on CPU is several times faster than a
    grouped ``conv2d`` with a ``(1, k)`` kernel for the 3- to 7-tap kernels used here.
    """
    sd = x.ndim - 2
    taps = [float(v) for v in kernel.flatten().tolist()]
    r = len(taps) // 2
    pad = [0] * (2 * sd)
    # F.pad lists pads from the last axis backwards
    pad[2 * (sd - 1 - axis)] = r
    pad[2 * (sd - 1 - axis) + 1] = r
    xp = F.pad(x, pad, mode="replicate") if r > 0 else x
    dim = 2 + axis
    n = x.shape[dim]
    out = None
    for k, w in enumerate(taps):
        if w == 0.0:
            continue
        term = xp.narrow(dim, k, n)
        term = term if w == 1.0 else term * w
        out = term if out is None else out + term
    return out if out is not None else torch.zeros_like(x)


def _box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over a ``size``-wide box around every pixel, the box cropped at the border (separable shifted sums)."""
    r = size // 2
    for ax in range(x.ndim - 2):
        dim = 2 + ax
        n = x.shape[dim]
        pad = [0] * (2 * (x.ndim - 2))
        pad[2 * (x.ndim - 3 - ax)] = r
        pad[2 * (x.ndim - 3 - ax) + 1] = r
        xp = F.pad(x, pad)
        acc = xp.narrow(dim, 0, n)
        for k in range(1, 2 * r + 1):
            acc = acc + xp.narrow(dim, k, n)
        i = torch.arange(n, device=x.device)
        count = (torch.clamp(i + r, max=n - 1) - torch.clamp(i - r, min=0) + 1).to(x.dtype)
        shape = [1] * x.ndim
        shape[dim] = n
        x = acc / count.view(shape)
    return x


def _gaussian_blur(x: torch.Tensor, sigma: float, radius: int) -> torch.Tensor:
    if sigma <= 0 or radius <= 0:
        return x
    k = _gaussian_kernel1d(sigma, radius, x.dtype, x.device)
    for ax in range(x.ndim - 2):
        x = _conv_axis(x, k, ax)
    return x


def _minmax(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-image min-max normalisation of ``(N, 1, *spatial)`` to [0, 1] (a constant image gives 0)."""
    flat = x.flatten(1)
    lo = flat.min(dim=1).values.view(-1, *([1] * (x.ndim - 1)))
    hi = flat.max(dim=1).values.view(-1, *([1] * (x.ndim - 1)))
    return (x - lo) / (hi - lo + eps)


class LocalSaliency(nn.Module):
    """Local saliency map of Mahapatra et al. (paper 003, section 2, eqs. 1-3).

    Args:
        curvature_weight: ``w_1`` of eq. 3 (paper: 0.4); the entropy uniqueness gets ``1 - w_1``.
        neighbourhood: side of the entropy window ``N_s`` and of the uniqueness neighbourhood (paper: 7).
        bins: histogram bins for the local entropy (paper: 8).
        smooth_size: size of the Gaussian smoothing ``1 - I_Ent`` (paper: 3).
        smooth_sigma: its standard deviation (paper: 0.5).
        derivative_sigma: Gaussian pre-smoothing (pixels) before the finite-difference derivatives of eq. 1;
            the paper does not say how it computes derivatives; 1.0 suppresses JPEG/sensor noise, 0 uses raw
            central differences.
        curvature_eps: regulariser of the eq. 1 denominator, ``(f_x^2 + f_y^2 + eps^2)^(3/2)``, in units of the
            normalised intensity per pixel; it keeps the isophote curvature finite where the gradient vanishes and
            damps it on flat, noisy background (0.05 was chosen on HRF fundus crops, see docs/losses.md).
        histogram: ``"hard"`` (the paper: one-hot bins, no gradient) or ``"soft"`` (triangular kernel, differentiable).
        value_range: intensity range mapped onto the histogram bins; ``None`` uses each image's own min/max
            (so [0, 1], [-1, 1] and z-scored inputs behave alike).
        gray: how multi-channel images become the grey image the paper uses: ``"luma"`` (BT.601), ``"mean"``
            or a channel index (``1`` = green channel of a fundus photograph).

    Input ``(N, C, H, W)`` or ``(N, C, H, W, D)``; output ``(N, 1, *spatial)`` in [0, 1].
    """

    def __init__(
        self,
        curvature_weight: float = 0.4,
        neighbourhood: int = 7,
        bins: int = 8,
        smooth_size: int = 3,
        smooth_sigma: float = 0.5,
        derivative_sigma: float = 1.0,
        curvature_eps: float = 0.05,
        histogram: str = "hard",
        value_range: Sequence[float] | None = None,
        gray: str | int = "luma",
    ) -> None:
        super().__init__()
        if histogram not in ("hard", "soft"):
            raise ConfigError(f"histogram={histogram!r}: expected 'hard' or 'soft'")
        if neighbourhood < 1 or neighbourhood % 2 == 0:
            raise ConfigError(f"neighbourhood={neighbourhood}: expected an odd window size >= 1")
        if bins < 2:
            raise ConfigError(f"bins={bins}: expected at least 2 histogram bins")
        if not 0.0 <= curvature_weight <= 1.0:
            raise ConfigError(f"curvature_weight={curvature_weight}: expected a value in [0, 1]")
        if value_range is not None and (len(value_range) != 2 or value_range[1] <= value_range[0]):
            raise ConfigError(f"value_range={value_range!r}: expected (low, high) with high > low")
        self.curvature_weight = float(curvature_weight)
        self.neighbourhood = int(neighbourhood)
        self.bins = int(bins)
        self.smooth_size = int(smooth_size)
        self.smooth_sigma = float(smooth_sigma)
        self.derivative_sigma = float(derivative_sigma)
        self.curvature_eps = float(curvature_eps)
        self.histogram = histogram
        self.value_range = None if value_range is None else (float(value_range[0]), float(value_range[1]))
        self.gray = gray
        self._offsets_cache: dict[int, list[tuple[tuple[int, ...], float]]] = {}

    # ------------------------------------------------------------------ steps
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim not in (4, 5):
            raise ValueError(f"LocalSaliency expects (N, C, H, W) or (N, C, H, W, D), got shape {tuple(x.shape)}")
        if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # log(p + 1e-8) and the curvature's cube need float32 (also under autocast)
        g = to_grayscale(x, self.gray)
        if self.value_range is None:
            flat = g.detach().flatten(1)
            lo = flat.min(dim=1).values.view(-1, *([1] * (g.ndim - 1)))
            hi = flat.max(dim=1).values.view(-1, *([1] * (g.ndim - 1)))
        else:
            lo, hi = self.value_range
        return ((g - lo) / (hi - lo + 1e-12)).clamp(0.0, 1.0)

    def curvature(self, g: torch.Tensor) -> torch.Tensor:
        """Isophote curvature (eq. 1) of a grey batch ``(N, 1, *spatial)`` in [0, 1].

        2D: ``(f_xx f_y^2 + f_yy f_x^2 - 2 f_xy f_x f_y) / (f_x^2 + f_y^2 + eps^2)^(3/2)``; 3D: the sum of the
        iso-surface's principal curvatures, ``(sum_i f_i^2 sum_{j!=i} f_jj - 2 sum_{i<j} f_i f_j f_ij) / |grad f|^3``.
        """
        sd = g.ndim - 2
        if self.derivative_sigma > 0:
            g = _gaussian_blur(g, self.derivative_sigma, max(1, int(math.ceil(3 * self.derivative_sigma))))
        d1 = torch.tensor([-0.5, 0.0, 0.5], dtype=g.dtype, device=g.device)
        d2 = torch.tensor([1.0, -2.0, 1.0], dtype=g.dtype, device=g.device)
        first = [_conv_axis(g, d1, a) for a in range(sd)]
        second = [_conv_axis(g, d2, a) for a in range(sd)]
        grad2 = sum(f * f for f in first)
        num = torch.zeros_like(g)
        for i in range(sd):
            num = num + first[i] ** 2 * sum(second[j] for j in range(sd) if j != i)
        for i in range(sd):
            for j in range(i + 1, sd):
                fij = _conv_axis(first[i], d1, j)
                num = num - 2.0 * first[i] * first[j] * fij
        return num / (grad2 + self.curvature_eps**2) ** 1.5

    def entropy(self, g: torch.Tensor, soft: bool | None = None) -> torch.Tensor:
        """Local entropy ``-sum_i p_i log p_i`` over the neighbourhood, normalised by ``log(bins)`` to [0, 1].

        The histogram of each window is a box filter over per-pixel bin memberships: one-hot (hard, the paper's)
        or triangular on the bin centres (soft, differentiable). Windows are cropped at the border.
        """
        soft = (self.histogram == "soft") if soft is None else soft
        b = self.bins
        if soft:
            centres = (torch.arange(b, dtype=g.dtype, device=g.device) + 0.5) / b
            v = g.clamp(0.5 / b, 1.0 - 0.5 / b)
            shape = (1, b) + (1,) * (g.ndim - 2)
            member = F.relu(1.0 - (v - centres.view(shape)).abs() * b)
        else:
            idx = (g.detach() * b).floor().clamp(0, b - 1).long()
            member = torch.zeros((g.shape[0], b, *g.shape[2:]), dtype=g.dtype, device=g.device)
            member.scatter_(1, idx, 1.0)
        p = _box_mean(member, self.neighbourhood)
        ent = -(p * torch.log(p + 1e-8)).sum(dim=1, keepdim=True)
        return ent / math.log(b)

    def _offsets(self, sd: int) -> list[tuple[tuple[int, ...], float]]:
        if sd not in self._offsets_cache:
            r = self.neighbourhood // 2
            grids = torch.meshgrid(*[torch.arange(-r, r + 1)] * sd, indexing="ij")
            offs = torch.stack([t.flatten() for t in grids], dim=1).tolist()
            out = []
            for o in offs:
                if any(o):
                    out.append((tuple(int(v) for v in o), math.exp(-math.sqrt(sum(v * v for v in o)))))
            self._offsets_cache[sd] = out
        return self._offsets_cache[sd]

    def uniqueness(self, f: torch.Tensor) -> torch.Tensor:
        """Uniqueness map (eq. 2) ``D_F(s) = sum_i exp(-||s - s_i||) |F(s) - F(s_i)|``, normalised to [0, 1].

        The sum runs over the ``neighbourhood``-sized window around ``s`` (replicate padding at the border).
        """
        sd = f.ndim - 2
        r = self.neighbourhood // 2
        fp = F.pad(f, [r] * (2 * sd), mode="replicate")
        size = f.shape[2:]
        acc = torch.zeros_like(f)
        for off, w in self._offsets(sd):
            sl = tuple(slice(r + o, r + o + n) for o, n in zip(off, size))
            acc = acc + w * (f - fp[(slice(None), slice(None), *sl)]).abs()
        return _minmax(acc)

    def components(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """All intermediate maps: ``gray``, ``curvature``, ``entropy``, ``compactness`` (smoothed ``1 - I_Ent``),
        ``d_curv``, ``d_compactness`` and ``saliency``; each ``(N, 1, *spatial)``."""
        g = self._prepare(x)
        curv = self.curvature(g)
        ent = self.entropy(g)
        compact = _gaussian_blur(1.0 - ent, self.smooth_sigma, self.smooth_size // 2)
        d_curv = self.uniqueness(curv)
        d_comp = self.uniqueness(compact)
        sal = self.curvature_weight * d_curv + (1.0 - self.curvature_weight) * d_comp
        return {
            "gray": g,
            "curvature": curv,
            "entropy": ent,
            "compactness": compact,
            "d_curv": d_curv,
            "d_compactness": d_comp,
            "saliency": sal,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Saliency ``I_Sal = w_1 D_Curv + (1 - w_1) D_(1-Ent)`` (eq. 3) of ``x``, shape ``(N, 1, *spatial)``."""
        return self.components(x)["saliency"]


class SaliencyLoss(nn.Module):
    """Saliency loss of paper 003 (eq. 9): mean squared difference of the HR and SR local saliency maps.

    ``l_Sal = 1/(WH) sum_{x,y} (I_Sal^HR - I_Sal^SR)^2``. The HR map is a target (computed without gradient);
    the SR map is computed with the differentiable soft histogram, so gradients reach the generator through
    curvature, soft entropy, uniqueness and normalisation. Both maps use the same ``LocalSaliency`` settings,
    so the loss is exactly zero when ``sr == hr``.

    Args:
        saliency: a ``LocalSaliency``; default: the paper's settings with ``histogram="soft"``.
        **saliency_kwargs: passed to ``LocalSaliency`` when ``saliency`` is None.
    """

    needs_logits = False

    def __init__(self, saliency: LocalSaliency | None = None, **saliency_kwargs) -> None:
        super().__init__()
        if saliency is None:
            saliency_kwargs.setdefault("histogram", "soft")
            saliency = LocalSaliency(**saliency_kwargs)
        elif saliency_kwargs:
            raise ConfigError("SaliencyLoss: pass either `saliency` or LocalSaliency keyword arguments, not both")
        self.saliency = saliency

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, hr_saliency: torch.Tensor | None = None) -> torch.Tensor:
        """Loss between ``sr`` and ``hr`` ``(N, C, *spatial)``; ``hr_saliency`` ``(N, 1, *spatial)`` if precomputed."""
        if hr_saliency is None:
            with torch.no_grad():
                hr_saliency = self.saliency(hr)
        sr_saliency = self.saliency(sr)
        return F.mse_loss(sr_saliency, hr_saliency.detach().to(sr_saliency.dtype))
