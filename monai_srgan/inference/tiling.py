"""Seamless, memory-bounded tiled SR inference on MONAI's ``sliding_window_inference``.

Three things make tiles invisible and memory flat:

1. **Context margins.** Each tile is run with ``context`` extra input pixels on every side, taken from the whole
   image (clamped at the image border, where the untiled network sees the same border), and the margin's output is
   cropped off. With ``context >= generator.receptive_field`` every tile output equals the untiled output on that
   tile, so the blend of overlapping tiles equals the untiled result up to float rounding.
2. **Gaussian blending** (MONAI's importance map) over an overlap of at least the receptive field.
3. **Stripes.** Large inputs are processed in stripes along the first spatial axis; only one stripe's float output
   buffer and count map exist at a time, and the caller converts each stripe to its compact output type before the
   next one is computed.

MONAI's buffered mode (``buffer_steps``) does not support outputs larger than the input, so it is not used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
from monai.inferers import Inferer, sliding_window_inference

from monai_srgan.errors import ConfigError

__all__ = ["SRInferer", "DEFAULT_RECEPTIVE_FIELD"]

DEFAULT_RECEPTIVE_FIELD = 16


def _tuple(v: int | float | Sequence[int | float], n: int, name: str) -> tuple:
    if isinstance(v, (int, float)):
        return (v,) * n
    v = tuple(v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise ConfigError(f"{name}={v} needs 1 or {n} values for {n} spatial axes")
    return v


class SRInferer(Inferer):
    """Tiled SR inferer (a MONAI ``Inferer``) for any generator with ``sr.shape[2:] == scale * lr.shape[2:]``.

    Args:
        scale: SR factor, one int or one per spatial axis.
        roi_size: tile size in input pixels (int or per axis); clipped to the image size.
        overlap: tile overlap in input pixels for Gaussian blending (default: the receptive field).
        context: extra input pixels run on every side of a tile and cropped from its output (default: the receptive
            field); 0 gives plain MONAI tiling.
        receptive_field: radius of the generator's receptive field in input pixels (default: ``network.receptive_field``
            or 16).
        sw_batch_size: tiles per generator call.
        mode: ``"gaussian"`` (default) or ``"constant"`` blending.
        sigma_scale: Gaussian sigma as a fraction of the tile size (MONAI's default 0.125).
        device: device the generator runs on (tiles are moved there); the output stays on the input's device.
        dtype: dtype the generator runs in (e.g. ``torch.float16`` on a GPU); output is float32.
        max_buffer_mb: the float output buffer of one stripe is kept below this size; larger images are split into
            stripes along the first spatial axis.
        progress: show MONAI's per-tile progress bar.
    """

    def __init__(
        self,
        scale: int | Sequence[int],
        roi_size: int | Sequence[int] = 192,
        overlap: int | Sequence[int] | None = None,
        context: int | None = None,
        receptive_field: int | None = None,
        sw_batch_size: int = 4,
        mode: str = "gaussian",
        sigma_scale: float = 0.125,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        max_buffer_mb: float = 512.0,
        progress: bool = False,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.roi_size = roi_size
        self.overlap = overlap
        self.context = context
        self.receptive_field = receptive_field
        if int(sw_batch_size) < 1:
            raise ConfigError(f"sw_batch_size={sw_batch_size} must be at least 1")
        self.sw_batch_size = int(sw_batch_size)
        self.mode = mode
        self.sigma_scale = sigma_scale
        self.device = torch.device(device) if device is not None else None
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype.replace("torch.", ""))
        self.dtype = dtype
        self.max_buffer_mb = float(max_buffer_mb)
        self.progress = progress

    # ------------------------------------------------------------------ helpers
    def _rf(self, network: Callable) -> int:
        if self.receptive_field is not None:
            return int(self.receptive_field)
        rf = getattr(network, "receptive_field", None)
        return int(rf) if rf is not None else DEFAULT_RECEPTIVE_FIELD

    def _run(self, network: Callable, x: torch.Tensor, out_device: torch.device) -> torch.Tensor:
        dev = self.device or x.device
        y = network(x.to(device=dev, dtype=self.dtype or x.dtype))
        return y.to(device=out_device, dtype=torch.float32)

    def _check_scale(self, x: torch.Tensor, y: torch.Tensor, scales: tuple[int, ...]) -> None:
        expected = tuple(int(s * n) for s, n in zip(scales, x.shape[2:]))
        if tuple(y.shape[2:]) != expected:
            got = "x".join(f"{a / b:g}" for a, b in zip(y.shape[2:], x.shape[2:]))
            raise ConfigError(
                f"the model's output {tuple(y.shape[2:])} for input {tuple(x.shape[2:])} is x{got}, "
                f"but scale={self.scale} was expected: set the scale that the model was trained for"
            )

    # ------------------------------------------------------------------ API
    def iter_stripes(
        self, inputs: torch.Tensor, network: Callable[[torch.Tensor], torch.Tensor]
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        """Yield ``(output_slice_along_first_spatial_axis, sr_stripe)`` covering the whole SR output in order.

        Args:
            inputs: ``(N, C, *spatial)`` normalised float input.
            network: the generator (already in eval mode and on ``device``).
        """
        if inputs.ndim < 4:
            raise ConfigError(f"SRInferer needs (N, C, *spatial) input, got shape {tuple(inputs.shape)}")
        x = inputs.as_subclass(torch.Tensor) if isinstance(inputs, torch.Tensor) else torch.as_tensor(inputs)
        x = x.float()
        nsp = x.ndim - 2
        spatial = tuple(x.shape[2:])
        scales = tuple(int(s) for s in _tuple(self.scale, nsp, "scale"))
        rf = self._rf(network)
        ctx = rf if self.context is None else int(self.context)
        roi = tuple(min(int(r), s) for r, s in zip(_tuple(self.roi_size, nsp, "roi_size"), spatial))
        ov = _tuple(rf if self.overlap is None else self.overlap, nsp, "overlap")
        out_dev = x.device

        # whole image in one tile: no tiling needed
        if roi == spatial:
            outs = []
            for n0 in range(0, x.shape[0], self.sw_batch_size):
                xb = x[n0 : n0 + self.sw_batch_size]
                yb = self._run(network, xb, out_dev)
                self._check_scale(xb, yb, scales)
                outs.append(yb)
            y = outs[0] if len(outs) == 1 else torch.cat(outs)
            yield slice(0, y.shape[2]), y
            return

        frac = tuple(min(max(float(o) / r, 0.0), 0.9) if r > 1 else 0.0 for o, r in zip(ov, roi))
        # stripes along the first spatial axis, each a multiple of the tile size
        bytes_per_row = 4 * x.shape[0] * math.prod(s * n for s, n in zip(scales[1:], spatial[1:])) * scales[0]
        checked = [False]

        def predictor(win: torch.Tensor, coords: list, offset: int) -> torch.Tensor:
            crops, cuts = [], []
            for c in coords:
                n = c[0].start
                box, cut = [], []
                for d, sl in enumerate(c[2:]):
                    start = sl.start + (offset if d == 0 else 0)
                    length = sl.stop - sl.start
                    full = min(length + 2 * ctx, spatial[d])
                    cs = min(max(start - ctx, 0), spatial[d] - full)
                    box.append(slice(cs, cs + full))
                    cut.append(slice((start - cs) * scales[d], (start - cs + length) * scales[d]))
                crops.append(x[(slice(n, n + 1), slice(None), *box)])
                cuts.append(cut)
            xb = torch.cat(crops)
            yb = self._run(network, xb, self.device or out_dev)
            if not checked[0]:
                self._check_scale(xb, yb, scales)
                checked[0] = True
            return torch.cat([yb[(slice(i, i + 1), slice(None), *cut)] for i, cut in enumerate(cuts)])

        rows = spatial[0]
        # output channels are unknown before the first call: budget for 3 plus MONAI's 1-channel count map
        per_row = bytes_per_row * 4
        stripe = max(roi[0], int(self.max_buffer_mb * 2**20 // max(per_row, 1)))
        stripe = max(roi[0], (stripe // roi[0]) * roi[0])
        for a in range(0, rows, stripe):
            b = min(a + stripe, rows)
            if 0 < b - a < roi[0]:  # short last stripe: extend it backwards, keep only the new rows
                a2 = max(b - roi[0], 0)
            else:
                a2 = a
            sub = x[:, :, a2:b]
            roi_s = (min(roi[0], b - a2), *roi[1:])
            y = sliding_window_inference(
                sub,
                roi_size=roi_s,
                sw_batch_size=self.sw_batch_size,
                predictor=lambda w, c, _o=a2: predictor(w, c, _o),
                overlap=frac,
                mode=self.mode,
                sigma_scale=self.sigma_scale,
                sw_device=self.device or out_dev,
                device=out_dev,
                progress=self.progress,
                with_coord=True,
            )
            y = y.as_subclass(torch.Tensor) if isinstance(y, torch.Tensor) else y
            if a2 != a:
                y = y[:, :, (a - a2) * scales[0] :]
            yield slice(a * scales[0], b * scales[0]), y
            del y

    def __call__(  # type: ignore[override]
        self, inputs: torch.Tensor, network: Callable[[torch.Tensor], torch.Tensor], *args, **kwargs
    ) -> torch.Tensor:
        """Super-resolve ``inputs`` ``(N, C, *spatial)``; returns float32 ``(N, C_out, *(scale * spatial))``."""
        parts = [y for _, y in self.iter_stripes(inputs, network)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
