"""Validation evaluator for SR training: PSNR/SSIM of the model *and* of bicubic on the same images.

Every paper this project implements (docs/references.md) reports the model next to bicubic interpolation (e.g.
paper 001, Tables 2-4); reporting both from the same validation pass makes the gain over bicubic the number to watch
during training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from ignite.engine import Events
from monai.engines import Evaluator
from monai.engines.utils import default_metric_cmp_fn

from monai_srgan.errors import ConfigError
from monai_srgan.metrics import lr_consistency, psnr, ssim
from monai_srgan.transforms.resize import imresize

from .interrupt import QuietProjectErrors
from .utils import to_plain_tensor

__all__ = ["SRValidator", "bicubic_upsample", "quality_metrics"]


def bicubic_upsample(lr: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bicubic (2D) / trilinear (3D) upsampling of ``lr`` to ``size`` with the project's single resize ``imresize``."""
    return imresize(lr, size=tuple(int(s) for s in size))


def quality_metrics(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, value_min: float | None = 0.0
) -> dict[str, torch.Tensor]:
    """Per-image PSNR and SSIM of ``x`` against ``y`` (``(N,)`` each) from :mod:`monai_srgan.metrics`.

    Images live in ``[value_min, value_min + data_range]`` (``value_min=None``: z-score data, only ``data_range``
    is used).
    """
    kw: dict[str, Any] = {"data_range": float(data_range)}
    if value_min not in (None, 0, 0.0):
        kw = {"input_range": (float(value_min), float(value_min) + float(data_range))}
    return {"psnr": psnr(x, y, **kw).reshape(-1).float(), "ssim": ssim(x, y, **kw).reshape(-1).float()}


class SRValidator(QuietProjectErrors, Evaluator):
    """Runs a generator over paired validation batches and reports model vs bicubic quality.

    ``state.metrics`` after :meth:`run` holds ``psnr``, ``ssim``, ``psnr_bicubic``, ``ssim_bicubic``,
    ``psnr_gain`` (model − bicubic) and, when available, ``lr_consistency`` (PSNR between the downscaled SR and the
    LR input, a fidelity check that the model did not invent content). The first ``num_images`` validation images
    (fixed: the validation loader is not shuffled) are kept in ``state.sample_images`` as
    ``(bicubic, sr, hr)`` triplets for the TensorBoard image grid.

    The trainer sets :attr:`network` before each run (the EMA generator when EMA is on).

    Args:
        device: device to run on.
        val_data_loader: loader of ``{"lr", "hr"}`` batches (whole images or fixed crops).
        network: generator; may be set later by the trainer.
        data_range: value range of the images (1.0 for [0, 1]; 2.0 for [-1, 1]).
        value_min: lowest valid value (0 for [0, 1], -1 for [-1, 1]); SR and bicubic are clamped to
            ``[value_min, value_min + data_range]`` before scoring. ``None`` disables clamping (z-score).
        num_images: how many fixed images to keep for the image grid.
        lr_key, hr_key: batch keys.
        amp: run the generator under autocast.
        val_handlers: extra MONAI/Ignite handlers (e.g. ``StatsHandler``), attached after the metrics are computed,
            so an epoch-end handler sees this validation's metrics.
        metric_fn: ``(x, y, data_range, value_min) -> {"psnr": (N,), "ssim": (N,)}``; defaults to
            :func:`quality_metrics`.
        key_metric: name of the metric used to pick the best checkpoint (``psnr`` by default, higher is better).
    """

    def __init__(
        self,
        device: torch.device | str,
        val_data_loader: Iterable,
        network: torch.nn.Module | None = None,
        data_range: float = 1.0,
        value_min: float | None = 0.0,
        num_images: int = 4,
        lr_key: str = "lr",
        hr_key: str = "hr",
        amp: bool = False,
        amp_dtype: torch.dtype | str | None = None,
        val_handlers: Sequence | None = None,
        metric_fn: Callable[..., dict[str, torch.Tensor]] | None = None,
        key_metric: str = "psnr",
        metric_cmp_fn: Callable = default_metric_cmp_fn,
        epoch_length: int | None = None,
    ) -> None:
        super().__init__(
            device=device,
            val_data_loader=val_data_loader,
            epoch_length=epoch_length,
            val_handlers=None,  # attached below, after the metrics are computed
            decollate=False,
            amp=amp,
            metric_cmp_fn=metric_cmp_fn,
        )
        self.network = network
        self.data_range = float(data_range)
        self.value_min = value_min
        self.num_images = int(num_images)
        self.lr_key, self.hr_key = lr_key, hr_key
        self.metric_fn = metric_fn or quality_metrics
        self.key_metric = key_metric
        self.amp_dtype = amp_dtype

        self._quiet_logger()
        self.add_event_handler(Events.EPOCH_STARTED, self._reset)
        self.add_event_handler(Events.EPOCH_COMPLETED, self._finalize)
        if val_handlers is not None:  # after _finalize: a StatsHandler prints this validation, not the previous one
            self._register_handlers(val_handlers)

    def _reset(self, _engine: Any = None) -> None:
        self._acc: dict[str, list[torch.Tensor]] = {}
        self.state.sample_images = []

    def _clamp(self, x: torch.Tensor) -> torch.Tensor:
        if self.value_min is None:
            return x
        return x.clamp(self.value_min, self.value_min + self.data_range)

    def _iteration(self, engine: Any, batchdata: dict[str, Any]) -> dict[str, Any]:
        if self.network is None:
            raise RuntimeError("SRValidator.network is not set: pass a generator or attach the validator to a trainer.")
        lr = to_plain_tensor(batchdata[self.lr_key]).to(self.state.device, non_blocking=self.non_blocking).float()
        hr = to_plain_tensor(batchdata[self.hr_key]).to(self.state.device, non_blocking=self.non_blocking).float()
        was_training = self.network.training
        self.network.eval()
        with torch.no_grad():
            if self.amp:
                dtype = _resolve_amp_dtype(self.amp_dtype, self.state.device)
                with torch.autocast(device_type=torch.device(self.state.device).type, dtype=dtype):
                    sr = self.network(lr)
            else:
                sr = self.network(lr)
            sr = self._clamp(sr.float())
            bic = self._clamp(bicubic_upsample(lr, hr.shape[2:]))
            if sr.shape != hr.shape:
                raise RuntimeError(
                    f"Validation: generator output {tuple(sr.shape)} does not match HR {tuple(hr.shape)}; "
                    "check the generator scale against the degradation scale."
                )
            m_sr = self.metric_fn(sr, hr, self.data_range, self.value_min)
            m_bic = self.metric_fn(bic, hr, self.data_range, self.value_min)
            results = {k: v for k, v in m_sr.items()}
            results.update({f"{k}_bicubic": v for k, v in m_bic.items()})
            results["lr_consistency"] = _lr_consistency(sr, lr, self.data_range, self.value_min)
        if was_training:
            self.network.train()
        for k, v in results.items():
            self._acc.setdefault(k, []).append(v.detach().reshape(-1).cpu())
        n_have = len(self.state.sample_images)
        for i in range(min(self.num_images - n_have, sr.shape[0])):
            self.state.sample_images.append((bic[i].cpu(), sr[i].cpu(), hr[i].cpu()))
        return {"pred": sr, "hr": hr}

    def _finalize(self, _engine: Any = None) -> None:
        metrics = {k: float(torch.cat(v).mean()) for k, v in self._acc.items() if v}
        if "psnr" in metrics and "psnr_bicubic" in metrics:
            metrics["psnr_gain"] = metrics["psnr"] - metrics["psnr_bicubic"]
        if "ssim" in metrics and "ssim_bicubic" in metrics:
            metrics["ssim_gain"] = metrics["ssim"] - metrics["ssim_bicubic"]
        self.state.metrics.update(metrics)


def _lr_consistency(sr: torch.Tensor, lr: torch.Tensor, data_range: float, value_min: float | None) -> torch.Tensor:
    """PSNR between the bicubic-downscaled SR and the LR input (``monai_srgan.metrics.lr_consistency``)."""
    kw: dict[str, Any] = {"data_range": float(data_range)}
    if value_min not in (None, 0, 0.0):
        kw = {"input_range": (float(value_min), float(value_min) + float(data_range))}
    out = lr_consistency(sr, lr, **kw)
    out = out["psnr"] if isinstance(out, dict) else out
    return out.reshape(-1).float()


def _resolve_amp_dtype(amp_dtype: torch.dtype | str | None, device: torch.device | str) -> torch.dtype:
    if isinstance(amp_dtype, torch.dtype):
        return amp_dtype
    if amp_dtype is None:
        return torch.float16 if torch.device(device).type == "cuda" else torch.bfloat16
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}
    if str(amp_dtype).lower() not in names:
        raise ConfigError(f"amp_dtype must be one of {sorted(names)}, got {amp_dtype!r}.")
    return names[str(amp_dtype).lower()]
