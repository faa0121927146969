"""Range and statistics normalisation with an exact inverse: unit range (papers' ``[0, 1]`` / ``[-1, 1]``), z-score
(paper 000, eq. 7) and robust percentile scaling, each as an array and a dictionary transform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from monai.config import KeysCollection

from monai_srgan.errors import ConfigError

from ._affine import AffineNormalize, AffineNormalized, Params, current_range, plain_params

__all__ = [
    "ScaleToUnitRange",
    "ScaleToUnitRanged",
    "ScaleToUnitRangeD",
    "ScaleToUnitRangeDict",
    "UnitRangeNormalize",
    "ZScoreNormalize",
    "ZScoreNormalized",
    "ZScoreNormalizeD",
    "ZScoreNormalizeDict",
    "PercentileScale",
    "PercentileScaled",
    "PercentileScaleD",
    "PercentileScaleDict",
]


class ScaleToUnitRange(AffineNormalize):
    """Map the representable value range to ``out_range`` (``[0, 1]`` default, ``[-1, 1]`` as in paper 004).

    ``y = (x - lo) / (hi - lo) * (b - a) + a`` with ``lo, hi = srgan_value_min, srgan_value_max`` (the bit-depth range
    written by the loader, e.g. 0..4095 for 12-bit DICOM, 0..65535 for 16-bit PNG) unless ``value_range`` is given.

    Args:
        out_range: target ``(a, b)``.
        value_range: explicit ``(lo, hi)`` instead of the metadata.
        clip: clamp the result to ``out_range`` (not invertible outside it; values of the source never fall outside).
    """

    kind = "unit"

    def __init__(
        self,
        out_range: Sequence[float] = (0.0, 1.0),
        value_range: Sequence[float] | None = None,
        clip: bool = False,
    ) -> None:
        super().__init__(clip)
        self.out_range = (float(out_range[0]), float(out_range[1]))
        self.value_range = value_range

    def params(self, img):
        lo, hi = current_range(img, self.value_range, type(self).__name__)
        hi = np.where(hi != lo, hi, lo + 1.0)  # constant image (float NIfTI/DICOM data range): keep the map invertible
        a, b = self.out_range
        scale = (b - a) / (hi - lo)
        return plain_params(scale), plain_params(a - lo * scale), self.out_range


UnitRangeNormalize = ScaleToUnitRange


class ZScoreNormalize(AffineNormalize):
    """Z-score ``I_norm = (I - mu) / sigma`` with the training set's mean and std (paper 000, eq. 7).

    Args:
        mean: ``mu``, one value or one per channel (from :func:`compute_dataset_stats`); ``None`` uses the image's own.
        std: ``sigma``, likewise.
        channel_wise: with ``mean``/``std`` ``None``, compute them per channel (else over the whole image).
        eps: lower bound of ``sigma``.
    """

    kind = "zscore"

    def __init__(
        self,
        mean: Params | None = None,
        std: Params | None = None,
        channel_wise: bool = True,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(clip=False)
        self.mean, self.std, self.channel_wise, self.eps = mean, std, channel_wise, eps

    def params(self, img):
        x = img.as_subclass(torch.Tensor).to(torch.float64)
        dims = tuple(range(1, x.ndim)) if self.channel_wise else tuple(range(x.ndim))
        mean = np.asarray(self.mean if self.mean is not None else x.mean(dim=dims).numpy(), np.float64)
        std = np.asarray(self.std if self.std is not None else x.std(dim=dims, unbiased=False).numpy(), np.float64)
        std = np.maximum(std, self.eps)
        n_c = img.shape[0]
        for name, v in (("mean", mean), ("std", std)):
            if v.size not in (1, n_c):
                raise ConfigError(f"ZScoreNormalize: {name} has {v.size} values but the image has {n_c} channels")
        return plain_params(1.0 / std), plain_params(-mean / std), None


class PercentileScale(AffineNormalize):
    """Map the ``[lower, upper]`` percentiles of the image to ``out_range`` (robust scaling for CT/MR/X-ray).

    Args:
        lower: lower percentile in [0, 100].
        upper: upper percentile in [0, 100].
        out_range: target ``(a, b)``.
        channel_wise: percentiles per channel (else over all channels).
        clip: clamp to ``out_range`` (values beyond the percentiles are then not invertible).
        max_samples: percentiles are estimated on at most this many evenly strided values (deterministic).
    """

    kind = "percentile"

    def __init__(
        self,
        lower: float = 0.5,
        upper: float = 99.5,
        out_range: Sequence[float] = (0.0, 1.0),
        channel_wise: bool = False,
        clip: bool = False,
        max_samples: int = 1 << 22,
    ) -> None:
        super().__init__(clip)
        if not 0 <= lower < upper <= 100:
            raise ConfigError(f"PercentileScale: need 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
        self.lower, self.upper = float(lower), float(upper)
        self.out_range = (float(out_range[0]), float(out_range[1]))
        self.channel_wise, self.max_samples = channel_wise, int(max_samples)

    def _pct(self, v: np.ndarray) -> tuple[float, float]:
        v = v.reshape(-1)
        if v.size > self.max_samples:
            v = v[:: int(math.ceil(v.size / self.max_samples))]
        lo, hi = np.percentile(v, [self.lower, self.upper])
        if hi <= lo:  # flat image: keep the map invertible
            hi = lo + 1.0
        return float(lo), float(hi)

    def params(self, img):
        x = img.as_subclass(torch.Tensor).detach().cpu().numpy()
        pairs = [self._pct(c) for c in x] if self.channel_wise else [self._pct(x)]
        lo, hi = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        a, b = self.out_range
        scale = (b - a) / (hi - lo)
        return plain_params(scale), plain_params(a - lo * scale), self.out_range


class ScaleToUnitRanged(AffineNormalized):
    """Dictionary version of :class:`ScaleToUnitRange`."""

    def __init__(
        self,
        keys: KeysCollection,
        out_range: Sequence[float] = (0.0, 1.0),
        value_range: Sequence[float] | None = None,
        clip: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, ScaleToUnitRange(out_range, value_range, clip), allow_missing_keys)


class ZScoreNormalized(AffineNormalized):
    """Dictionary version of :class:`ZScoreNormalize`."""

    def __init__(
        self,
        keys: KeysCollection,
        mean: Params | None = None,
        std: Params | None = None,
        channel_wise: bool = True,
        eps: float = 1e-8,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, ZScoreNormalize(mean, std, channel_wise, eps), allow_missing_keys)


class PercentileScaled(AffineNormalized):
    """Dictionary version of :class:`PercentileScale`."""

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 0.5,
        upper: float = 99.5,
        out_range: Sequence[float] = (0.0, 1.0),
        channel_wise: bool = False,
        clip: bool = False,
        max_samples: int = 1 << 22,
        allow_missing_keys: bool = False,
    ) -> None:
        t = PercentileScale(lower, upper, out_range, channel_wise, clip, max_samples)
        super().__init__(keys, t, allow_missing_keys)


ScaleToUnitRangeD = ScaleToUnitRangeDict = ScaleToUnitRanged


ZScoreNormalizeD = ZScoreNormalizeDict = ZScoreNormalized


PercentileScaleD = PercentileScaleDict = PercentileScaled
