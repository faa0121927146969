"""No-reference sharpness (variance of the Laplacian, Tenengrad, mean gradient magnitude), range-independent.

References:
    Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy", ICPR 2000 (variance of the Laplacian).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from monai_srgan.errors import ConfigError

from .._filters import as_float, conv_axis, crop_spatial, plain_tensor
from .common import masked_mean, resolve_range

__all__ = ["sharpness", "noise_sd"]


def _laplacian(x: torch.Tensor) -> torch.Tensor:
    """Discrete 2D 4-neighbour / 3D 6-neighbour Laplacian over the valid region (no padding)."""
    sd = x.ndim - 2
    k = torch.tensor([1.0, -2.0, 1.0], dtype=x.dtype, device=x.device)
    out = None
    for axis in range(sd):
        d2 = conv_axis(x, k, axis)
        # crop the other axes so every term covers the same valid region
        sl = [slice(None), slice(None)] + [slice(1, -1) if a != axis else slice(None) for a in range(sd)]
        d2 = d2[tuple(sl)]
        out = d2 if out is None else out + d2
    return out


def _gradient_energy(x: torch.Tensor) -> torch.Tensor:
    """Squared Sobel gradient magnitude over the valid region (Tenengrad)."""
    sd = x.ndim - 2
    deriv = torch.tensor([-1.0, 0.0, 1.0], dtype=x.dtype, device=x.device)
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    energy = None
    for axis in range(sd):
        g = x
        for a in range(sd):
            g = conv_axis(g, deriv if a == axis else smooth, a)
        energy = g * g if energy is None else energy + g * g
    return energy


def sharpness(
    x: torch.Tensor,
    method: str = "laplacian",
    data_range: float | None = None,
    mask: torch.Tensor | None = None,
    input_range: Sequence[float] | None = None,
) -> torch.Tensor:
    """No-reference sharpness per image, measured on ``x / data_range`` so that it does not depend on the range.

    ``"laplacian"``: variance of the discrete Laplacian (Pech-Pacheco et al. 2000), the usual focus measure;
    ``"gradient"``: mean squared Sobel gradient magnitude (Tenengrad); ``"gradient_magnitude"``: mean Sobel gradient
    magnitude (its square root per pixel: the "mean gradient magnitude" whose SR/HR ratio measures how sharp an
    output is, less dominated by the strongest edges than Tenengrad). Computed per channel and averaged over
    channels; 2D and 3D; with ``mask`` (eroded by the 1-pixel stencil) over the field of view only. A GAN output
    that is sharper than its ground truth (ratio > 1) may contain invented texture; a much smaller value means
    over-smoothing.

    Returns:
        ``(N,)`` float64.

    Example:
        >>> img = torch.rand(2, 1, 32, 32)
        >>> bool((sharpness(img) > sharpness(torch.nn.functional.avg_pool2d(img, 3, 1, 1))).all())
        True
    """
    x = as_float(x)
    offset, dr = resolve_range(data_range, input_range)
    x = (x - offset) / dr
    if method == "laplacian":
        v = _laplacian(x).double()
    elif method == "gradient":
        v = _gradient_energy(x).double()
    elif method == "gradient_magnitude":
        v = _gradient_energy(x).double().sqrt()
    else:
        raise ConfigError(f"sharpness method must be 'laplacian', 'gradient' or 'gradient_magnitude', got {method!r}.")
    m = None
    if mask is not None:
        m = crop_spatial(plain_tensor(mask).double(), 1)
        m = m.expand(v.shape[0], 1, *v.shape[2:])
    if method != "laplacian":
        return masked_mean(v, m)
    mean = masked_mean(v, m)
    centred = v - mean.reshape(-1, *([1] * (v.ndim - 1)))
    return masked_mean(centred * centred, m)


def noise_sd(x: torch.Tensor, per_channel: bool = False, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Immerkær's noise standard deviation estimate (CVIU 1996, "Fast noise variance estimation", eq. 2).

    ``σ = sqrt(π/2) / (6 (W−2)(H−2)) Σ |x * L|`` with ``L`` the difference of two Laplacians, which cancels image
    structure up to second order; over the first two spatial axes (each slice of a volume).

    Args:
        x: ``(N, C, H, W[, D])`` image.
        per_channel: ``(N, C)`` one estimate per channel; otherwise ``(N, 1, 1, ...)``, the RMS over channels.
        mask: 2D only: ``(N, 1, H, W)``, the sum runs over the pixels whose 3 × 3 neighbourhood lies inside it (e.g. a
            fundus field of view, so that the black surround does not dilute the estimate).
    """
    n, c = x.shape[:2]
    if x.ndim == 5:  # (N, C, H, W, D): slices as planes
        planes = x.float().permute(0, 1, 4, 2, 3).reshape(-1, 1, *x.shape[2:4])
    else:
        planes = x.float().reshape(-1, 1, *x.shape[2:4])
    if planes.shape[-1] < 3 or planes.shape[-2] < 3:
        return torch.zeros((n, c)) if per_channel else torch.zeros((n, 1) + (1,) * (x.ndim - 2))
    k = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], device=planes.device)[None, None]
    resp = torch.nn.functional.conv2d(planes, k).abs()
    if mask is None:
        r = resp.mean(dim=(1, 2, 3))
    else:
        if x.ndim != 4:
            raise ConfigError(
                f"noise_sd: mask is for 2D (N, C, H, W) images, got {x.ndim - 2} spatial axes: drop the mask"
            )
        inside = -torch.nn.functional.max_pool2d(-(mask.float() > 0).float(), 3, stride=1).to(resp.device)
        inside = inside.expand(n, c, *inside.shape[2:]).reshape(-1, 1, *inside.shape[2:])
        r = (resp * inside).sum(dim=(1, 2, 3)) / inside.sum(dim=(1, 2, 3)).clamp_min(1)
    r = r * (torch.pi / 2) ** 0.5 / 6.0
    r = r.reshape(n, c, -1).pow(2).mean(dim=2).sqrt()  # RMS over the slices of a volume
    if per_channel:
        return r
    return r.pow(2).mean(dim=1).sqrt().reshape((n, 1) + (1,) * (x.ndim - 2))
