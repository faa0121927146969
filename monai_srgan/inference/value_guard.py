"""What an SR output may claim about values: inside the source's real-value range, and flat where the source is flat.

A generator is a regression of HR texture from LR context; where it has seen nothing to regress from it still
produces *something*: ringing beyond the sharpest edge, negative values in a map that cannot be negative (ADC, dose,
counts), texture in zero background or air. Two rules keep that out of the output, both on by default
(:class:`~monai_srgan.inference.pipeline.SRInferencePipeline` ``clamp`` and ``keep_flat``; docs/inference.md "Value
domain of the output"):

* **clamp** to the source's *data* range (its smallest and largest value; for a DICOM series, the whole series'):
  no value outside what was measured. Bicubic interpolation obeys the same bound only approximately (its kernel
  has negative lobes), and the HR image's own extremes can lie a little outside the LR's; the clamp costs nothing
  measurable there (docs/inference.md) and removes the physically impossible values. ``clamp="range"`` keeps only
  the representable range (the bit depth), as before.
* **keep flat**: where the source is exactly constant over a 3×3 (3×3×3) neighbourhood, the output takes that
  constant. Under any local degradation model an LR neighbourhood that is exactly constant comes from an HR region
  whose local means are all equal; the model has no evidence of structure there, and a constant is the only output
  that invents none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["OutputValueGuard", "CLAMP_MODES"]

#: ``"data"``: the source's data range (default); ``"range"``: only the representable range of the source
CLAMP_MODES = ("data", "range")


class OutputValueGuard:
    """Clamp and flat-region rules applied to each SR tile in the value domain, with counts for the report.

    Args:
        values: the source in the value domain, ``(N, C, *spatial)`` as the tiles are indexed (``N`` slices or 1).
        scales: SR factor per spatial axis.
        representable: ``(lo, hi)`` the output can hold (``srgan_value_min``/``max``), or ``None``.
        clamp: one of :data:`CLAMP_MODES`.
        keep_flat: apply the flat-region rule.
    """

    def __init__(
        self,
        values: torch.Tensor,
        scales: Sequence[int],
        representable: tuple[float, float] | None,
        clamp: str = "data",
        keep_flat: bool = True,
    ) -> None:
        if clamp not in CLAMP_MODES:
            raise ValueError(f"clamp={clamp!r}: choose one of {CLAMP_MODES}")
        self.scales = tuple(int(s) for s in scales)
        self.values = values
        self.bounds = representable
        if clamp == "data" and values.numel():
            lo, hi = float(values.min()), float(values.max())
            if representable is not None:  # never wider than the output can hold (integer casts would wrap)
                lo, hi = max(lo, representable[0]), min(hi, representable[1])
            self.bounds = (lo, hi)
        self.flat = _flat_mask(values) if keep_flat else None
        self.n_clamped = 0
        self.n_flat = 0
        self.n_total = 0

    def __call__(self, n: int, out_sl: tuple[slice, ...], v: torch.Tensor) -> torch.Tensor:
        """Apply both rules to tile ``v`` (``(C, *tile)``, value domain) of slice ``n`` at ``out_sl``; in place."""
        self.n_total += v[0].numel()
        if self.flat is not None:  # first: the constants are inside the bounds, and are not counted as clamped
            lr_sl = tuple(slice(s.start // k, s.stop // k) for s, k in zip(out_sl, self.scales))
            lr_mask = self.flat[(n, *lr_sl)]
            if bool(lr_mask.any()):  # most tiles of most images have no flat pixel: nothing to upsample
                mask = _upsample(lr_mask, self.scales)
                src = _upsample(self.values[(n, slice(None), *lr_sl)], self.scales)
                torch.where(mask, src.to(v.dtype), v, out=v)
                self.n_flat += int(lr_mask.sum()) * math.prod(self.scales)
        if self.bounds is not None:
            lo, hi = self.bounds
            outside = v.lt(lo).logical_or_(v.gt(hi))
            self.n_clamped += int(torch.count_nonzero(outside.any(dim=0) if v.shape[0] > 1 else outside))
            v.clamp_(lo, hi)
        return v

    @property
    def clamped_fraction(self) -> float:
        """Fraction of output pixels that were outside the clamp bounds."""
        return self.n_clamped / self.n_total if self.n_total else 0.0

    @property
    def flat_fraction(self) -> float:
        """Fraction of output pixels set by the flat-region rule."""
        return self.n_flat / self.n_total if self.n_total else 0.0


def _flat_mask(values: torch.Tensor) -> torch.Tensor:
    """``(N, *spatial)`` True where every channel is constant over the 3×3 (3×3×3) neighbourhood inside the image.

    Built axis by axis: a box is constant when the three boxes one axis narrower around ``p − e``, ``p``, ``p + e``
    are constant and their centres are equal. Neighbours outside the image are ignored, as a max pool's padding
    would; comparisons and logical ands instead of two max pools (docs/benchmarks.md "A folder": 1.18 s → 0.03 s).
    """
    flat = torch.ones(values.shape, dtype=torch.bool, device=values.device)
    for axis in range(2, values.ndim):
        n = values.shape[axis]
        if n < 2:
            continue
        lo, hi = values.narrow(axis, 0, n - 1), values.narrow(axis, 1, n - 1)
        same, step = lo == hi, flat.clone()
        step.narrow(axis, 1, n - 1).logical_and_(flat.narrow(axis, 0, n - 1)).logical_and_(same)
        step.narrow(axis, 0, n - 1).logical_and_(flat.narrow(axis, 1, n - 1)).logical_and_(same)
        flat = step
    return flat.all(dim=1)


def _upsample(x: torch.Tensor, scales: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour upsampling of the trailing ``len(scales)`` axes by integer factors."""
    off = x.ndim - len(scales)
    for i, s in enumerate(scales):
        if s != 1:
            x = x.repeat_interleave(s, dim=off + i)
    return x
