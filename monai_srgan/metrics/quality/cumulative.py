"""MONAI ``CumulativeIterationMetric`` classes of the quality metrics, for engines and ``IgniteMetricHandler``.

:class:`PSNRMetric`, :class:`SSIMMetric`, :class:`RMSEMetric`, :class:`MSSSIMMetric`, :class:`SharpnessMetric` accept
``mask=`` directly, or (for Ignite, which only passes ``(y_pred, y)``) the mask as the last channel of ``y`` when
built with ``mask_in_label=True``; :func:`masked_output_transform` builds that ``y`` from an engine output holding
``pred``, ``hr`` and ``fov``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

from monai_srgan.errors import ConfigError

from .._filters import plain_tensor
from .no_reference import sharpness
from .pixel import psnr, rmse
from .structural import ms_ssim, ssim

__all__ = ["PSNRMetric", "SSIMMetric", "RMSEMetric", "MSSSIMMetric", "SharpnessMetric", "masked_output_transform"]


def masked_output_transform(
    pred_key: str = "pred", label_key: str = "hr", mask_key: str = "fov"
) -> Callable[[Any], tuple[Any, Any]]:
    """Ignite ``output_transform`` giving ``(y_pred, y_with_mask)`` for metrics built with ``mask_in_label=True``.

    ``IgniteMetricHandler`` passes only ``(y_pred, y)`` to a metric, so the field-of-view mask travels as one extra
    channel appended to ``y``. Works on a batch dict (``{"pred": (N,C,...), ...}``) and on MONAI's decollated list
    of per-image dicts.

    Example:
        >>> from monai.handlers import IgniteMetricHandler
        >>> handler = IgniteMetricHandler(PSNRMetric(mask_in_label=True), output_transform=masked_output_transform())
    """

    def _transform(output: Any) -> tuple[Any, Any]:
        if isinstance(output, dict):
            pred, label, mask = output[pred_key], output[label_key], output[mask_key]
            return pred, torch.cat([plain_tensor(label), plain_tensor(mask).to(label.dtype)], dim=1)
        preds = [o[pred_key] for o in output]
        labels = [
            torch.cat([plain_tensor(o[label_key]), plain_tensor(o[mask_key]).to(o[label_key].dtype)], 0) for o in output
        ]
        return preds, labels

    return _transform


class _ImageMetric(CumulativeIterationMetric):
    """Base of the MONAI metric classes: per-image values buffered as ``(N, 1)`` and reduced by ``aggregate``.

    Args:
        mask_in_label: the last channel of ``y`` is a field-of-view mask (see :func:`masked_output_transform`).
        reduction: MONAI ``MetricReduction`` applied by :meth:`aggregate` ("mean" by default; NaN values, e.g. of
            an image whose mask is empty, are left out).
        get_not_nans: ``aggregate`` also returns the count of non-NaN values.
        kwargs: keyword arguments of the functional metric (``data_range``, ``crop_border``, ``y_channel`` ...).
    """

    _fn: Callable[..., torch.Tensor]

    def __init__(
        self,
        mask_in_label: bool = False,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.mask_in_label = mask_in_label
        self.reduction = reduction
        self.get_not_nans = get_not_nans
        self.kwargs = kwargs

    def _split(self, y: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Return ``y`` without a mask channel and the functional metric's keyword arguments (with the mask)."""
        if self.mask_in_label:
            if mask is not None:
                raise ConfigError("give the mask either as the last channel of y (mask_in_label=True) or as mask=.")
            y, mask = y[:, :-1], y[:, -1:]
        kw = dict(self.kwargs)
        if mask is not None:
            kw["mask"] = mask
        return y, kw

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if y is None:
            raise ValueError(f"{type(self).__name__} needs a reference y.")
        y, kw = self._split(y, mask)
        return type(self)._fn(y_pred, y, **kw).reshape(-1, 1).float()

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reduce the buffered per-image values (``reduction`` defaults to the one given at construction)."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError("the data to aggregate must be a PyTorch Tensor.")
        f, not_nans = do_metric_reduction(data, reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f


class PSNRMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`psnr` (keyword arguments as :func:`psnr`, plus those of the base class).

    Example:
        >>> metric = PSNRMetric(data_range=1.0, crop_border=4, y_channel=True)
        >>> _ = metric(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
        >>> metric.aggregate().shape
        torch.Size([1])
    """

    _fn = staticmethod(psnr)


class SSIMMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`ssim` (masked SSIM with ``mask=`` or ``mask_in_label=True``)."""

    _fn = staticmethod(ssim)


class RMSEMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`rmse`."""

    _fn = staticmethod(rmse)


class MSSSIMMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`ms_ssim` (no mask)."""

    _fn = staticmethod(ms_ssim)

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if mask is not None or self.mask_in_label:
            raise ConfigError("MS-SSIM does not support a field-of-view mask.")
        return super()._compute_tensor(y_pred, y)


class SharpnessMetric(_ImageMetric):
    """MONAI/Ignite metric of :func:`sharpness` of ``y_pred``; with ``relative=True`` (default) the ratio to the
    sharpness of ``y`` (1 = as sharp as the truth, > 1 sharper, < 1 smoother).

    Args:
        relative: report ``sharpness(y_pred) / sharpness(y)`` instead of ``sharpness(y_pred)``.
        kwargs: ``method``, ``data_range``, ``input_range`` of :func:`sharpness`, and the base-class options.
    """

    def __init__(self, relative: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.relative = relative

    def _compute_tensor(  # type: ignore[override]
        self, y_pred: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if y is not None:
            y, kw = self._split(y, mask)
        else:
            kw = dict(self.kwargs, **({} if mask is None else {"mask": mask}))
        value = sharpness(y_pred, **kw)
        if self.relative:
            if y is None:
                raise ConfigError("SharpnessMetric(relative=True) needs a reference y.")
            value = value / sharpness(y, **kw)
        return value.reshape(-1, 1).float()
