"""Real-ESRGAN's unsharp masking of the ground truth (paper 002; BasicSR ``USMSharp``) as a transform.

Real-ESRGAN degrades, and computes its L1/perceptual losses against, the sharpened HR. Sharpening once per cached
image (``UnsharpMaskd(keys="hr", output_key="hr_usm")``) before patch cropping lets
:class:`~monai_srgan.transforms.degradation.realesrgan.RandRealESRGANDegradationd` reuse it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from ._common import like, plain
from ._dict_base import output_keys
from .kernels import usm_sharp

__all__ = ["UnsharpMask", "UnsharpMaskd", "UnsharpMaskD", "UnsharpMaskDict"]


class UnsharpMask(Transform):
    """Real-ESRGAN's ground-truth unsharp masking (BasicSR ``USMSharp``) on ``(C, H, W)`` or ``(N, C, H, W)``.

    Args:
        weight: sharpening weight (0.5).
        radius: Gaussian window size in pixels (50 → 51 taps, sigma 8, as ``cv2.GaussianBlur(img, (51, 51), 0)``).
        threshold: residual magnitude (fraction of the range) above which sharpening applies (10/255).
        value_range: the input's value range, mapped to [0, 1] for the operation and back.
    """

    backend = ["torch"]

    def __init__(
        self,
        weight: float = 0.5,
        radius: int = 50,
        threshold: float = 10.0 / 255.0,
        value_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.weight, self.radius, self.threshold = float(weight), int(radius), float(threshold)
        self.value_range = (float(value_range[0]), float(value_range[1]))

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """Sharpen ``(C, H, W)`` or ``(N, C, H, W)`` in ``value_range``; same shape, range and type."""
        x = plain(img)
        single = x.ndim == 3
        lo, hi = self.value_range
        y = ((x[None] if single else x) - lo) / (hi - lo)
        y = usm_sharp(y, self.weight, self.radius, self.threshold) * (hi - lo) + lo
        return like(y[0] if single else y, img)


class UnsharpMaskd(MapTransform):
    """Dictionary :class:`UnsharpMask`: writes ``output_key`` (default: in place) for each of ``keys``."""

    backend = UnsharpMask.backend

    def __init__(
        self,
        keys: KeysCollection = "hr",
        output_key: str | Sequence[str] | None = None,
        weight: float = 0.5,
        radius: int = 50,
        threshold: float = 10.0 / 255.0,
        value_range: tuple[float, float] = (0.0, 1.0),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_keys = output_keys(self.keys, output_key, "output_key")
        self.usm = UnsharpMask(weight, radius, threshold, value_range)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key, out in self.key_iterator(d, self.output_keys):
            d[out] = self.usm(d[key])
        return d


UnsharpMaskD = UnsharpMaskDict = UnsharpMaskd
