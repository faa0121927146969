"""PyTorch's bicubic upsampling by integer factors as one small convolution, in sub-pixel (pixel-shuffle) layout.

``F.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)`` gives output pixel ``o = s·i + p`` from the
four input pixels around ``i + (p + 0.5)/s − 0.5`` with Keys' cubic kernel (``a = −0.75``, PyTorch's choice) and
replicated borders. For each phase ``p`` the weights are fixed, so the whole upsampling is a 5×5 convolution with
``s_y·s_x`` output channels followed by a pixel shuffle. SRVGGNetCompact (Real-ESRGAN) adds the upsampled input to
its sub-pixel output; adding the phases *before* the shuffle costs a few multiply-adds per input pixel instead of
PyTorch's upsampling kernel, which took ~12 % of the network's time on a 2-core CPU (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["keys_cubic", "cubic_phase_weights", "cubic_upsample_phases"]

#: PyTorch's bicubic kernel parameter (PIL and Matlab use −0.5)
TORCH_CUBIC_A = -0.75
_RADIUS = 2  # taps reach i - 2 .. i + 2 for every phase of every factor


def keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys (1981) cubic convolution kernel, support 2 (``a = -0.5``: PIL and Matlab; ``-0.75``: PyTorch)."""
    x = np.abs(x)
    x2, x3 = x * x, x * x * x
    return np.where(
        x < 1.0,
        (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0,
        np.where(x < 2.0, a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a, 0.0),
    )


def _phase_taps(scale: int) -> np.ndarray:
    """``(scale, 5)`` weights of input offsets −2..2 for each output phase along one axis."""
    taps = np.zeros((scale, 2 * _RADIUS + 1))
    for p in range(scale):
        d = (p + 0.5) / scale - 0.5  # source coordinate of phase p relative to its input pixel
        f = math.floor(d)
        offsets = np.arange(f - 1, f + 3)
        taps[p, offsets + _RADIUS] = keys_cubic(offsets - d, TORCH_CUBIC_A)
    return taps


@lru_cache(maxsize=16)
def cubic_phase_weights(factors: tuple[int, int]) -> torch.Tensor:
    """``(s_y·s_x, 1, 5, 5)`` float32 kernels; channel ``p_y·s_x + p_x`` is the phase that pixel shuffle puts there."""
    wy, wx = _phase_taps(factors[0]), _phase_taps(factors[1])
    k = np.einsum("ai,bj->abij", wy, wx).reshape(-1, 1, 2 * _RADIUS + 1, 2 * _RADIUS + 1)
    return torch.from_numpy(k.astype(np.float32))


def cubic_upsample_phases(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Bicubic upsampling of ``(N, C, H, W)`` as ``(N, C·s_y·s_x, H, W)`` sub-pixel phases, in float32.

    ``pixel_shuffle`` of the result equals ``F.interpolate(x, scale_factor=factors, mode="bicubic",
    align_corners=False)`` to float32 rounding; it runs outside autocast, so the input keeps its precision.
    TorchScript-able (the generators that use it are exported).

    Args:
        x: the low-resolution input.
        weight: ``cubic_phase_weights(factors)`` on ``x``'s device.
    """
    if torch.jit.is_scripting():  # scripted/exported models run without autocast
        return _phase_conv(x, weight)
    return _phase_conv_fp32(x, weight)


def _phase_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    c, r = x.shape[1], weight.shape[-1] // 2
    padded = F.pad(x.float().contiguous(), [r, r, r, r], mode="replicate")
    return F.conv2d(padded, weight.float().repeat(c, 1, 1, 1), groups=c)


@torch.jit.unused
def _phase_conv_fp32(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _phase_conv(x, weight)
