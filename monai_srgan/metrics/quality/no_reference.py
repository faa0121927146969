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

__all__ = ["sharpness"]


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
