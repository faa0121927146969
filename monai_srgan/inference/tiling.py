"""Exact, memory-bounded tiled SR inference: abutting tiles with context margins (a MONAI ``Inferer``).

The image is cut into tiles that abut (no overlap, no blending, no row computed twice). Each tile is run with
``context`` extra input pixels on every side, taken from the whole image (clamped at the image border, where the
untiled network sees the same border), and only the tile's own centre is kept from the output. With
``context >= generator.receptive_field`` every kept pixel sees exactly the input the untiled network sees, so the
tiled output equals the untiled output up to float rounding of the convolution kernels (≤ 1e-6 in practice).

This is the algorithm of Real-ESRGAN's ``tile_process`` (tile + ``tile_pad`` context, paste the unpadded centre),
generalised to N-D inputs, per-axis scales and batches of tiles; tile sizes are balanced along each axis so that no
thin last tile is run. Memory: one tile's activations plus, in :meth:`SRInferer.__call__`, one float32 output; the
pipeline pastes every tile straight into its compact (e.g. uint8) output instead (:meth:`SRInferer.iter_tiles`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from monai.inferers import Inferer

from monai_srgan.errors import ConfigError
from monai_srgan.networks.generators.grain import GrainGenerator
from monai_srgan.utils.axes import per_axis
from monai_srgan.utils.precision import low_precision, resolve_dtype

__all__ = ["SRInferer", "DEFAULT_RECEPTIVE_FIELD", "TileProgress", "tile_grid"]

DEFAULT_RECEPTIVE_FIELD = 16


def tile_grid(size: int, tile: int) -> list[tuple[int, int]]:
    """Split ``[0, size)`` into ``ceil(size / tile)`` abutting intervals of balanced length (each ``<= tile``)."""
    k = max(1, math.ceil(size / max(1, tile)))
    cuts = [(i * size) // k for i in range(k + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(k)]


class SRInferer(Inferer):
    """Tiled SR inferer (a MONAI ``Inferer``) for any generator with ``sr.shape[2:] == scale * lr.shape[2:]``.

    Args:
        scale: SR factor, one int or one per spatial axis.
        roi_size: tile size in input pixels (int or per axis); clipped to the image size. Tiles are balanced: an axis
            of ``n`` pixels gets ``ceil(n / roi_size)`` tiles of (nearly) equal size.
        overlap: ignored (kept for compatibility): tiles abut and the context margin makes them exact.
        context: extra input pixels run on every side of a tile and cropped from its output (default: the receptive
            field); smaller than the receptive field leaves seams.
        receptive_field: radius of the generator's receptive field in input pixels (default: ``network.receptive_field``
            or 16).
        sw_batch_size: tiles per generator call (1 is fastest on CPUs; a GPU may want more). With more than one, all
            tiles are run at one padded size (border tiles take their context from further inside).
        device: device the generator runs on (tiles are moved there); the output stays on the input's device.
        dtype: ``None``/``float32`` runs the network as it is; ``bfloat16``/``float16`` run it under
            autocast with the first convolution in float32 (:func:`monai_srgan.utils.precision.low_precision`), or
            cast the input when the network's weights already have that dtype; ``"auto"``
            decides by capability (:func:`monai_srgan.utils.precision.resolve_dtype`). Output is float32.
        channels_last: run tiles in channels-last memory format (``None``: for 2D inputs, where it pays on CPUs).
        max_buffer_mb: ignored (kept for compatibility): no stripe buffers exist any more.
        progress: show a per-tile progress bar.
    """

    def __init__(
        self,
        scale: int | Sequence[int],
        roi_size: int | Sequence[int] = 256,
        overlap: int | Sequence[int] | None = None,
        context: int | None = None,
        receptive_field: int | None = None,
        sw_batch_size: int = 1,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        channels_last: bool | None = None,
        max_buffer_mb: float | None = None,
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
        self.device = torch.device(device) if device is not None else None
        self.dtype = None if dtype is None else resolve_dtype(dtype, self.device or "cpu")
        self.channels_last = channels_last
        self.max_buffer_mb = max_buffer_mb
        self.progress = progress

    # ------------------------------------------------------------------ helpers
    def _rf(self, network: Callable) -> int:
        if self.receptive_field is not None:
            return int(self.receptive_field)
        rf = getattr(network, "receptive_field", None)
        return int(rf) if rf is not None else DEFAULT_RECEPTIVE_FIELD

    def _memory_format(self, ndim: int) -> torch.memory_format:
        use = (ndim == 4) if self.channels_last is None else bool(self.channels_last)
        if not use or ndim not in (4, 5):
            return torch.contiguous_format
        return torch.channels_last if ndim == 4 else torch.channels_last_3d

    def _run(self, network: Callable, x: torch.Tensor) -> torch.Tensor:
        dev = self.device or x.device
        x = x.to(device=dev).contiguous(memory_format=self._memory_format(x.ndim))
        low = self.dtype if self.dtype in (torch.float16, torch.bfloat16) else None
        param = next(network.parameters(), None) if isinstance(network, torch.nn.Module) else None
        if low is not None and param is not None and param.dtype == low:
            return network(x.to(low)).float()  # the weights are already in low precision
        with low_precision(network if isinstance(network, torch.nn.Module) else None, dev.type, low):
            y = network(x)
        return y.float()

    def _check_scale(self, x: torch.Tensor, y: torch.Tensor, scales: tuple[int, ...]) -> None:
        expected = tuple(int(s * n) for s, n in zip(scales, x.shape[2:]))
        if tuple(y.shape[2:]) != expected:
            got = "x".join(f"{a / b:g}" for a, b in zip(y.shape[2:], x.shape[2:]))
            raise ConfigError(
                f"the model's output {tuple(y.shape[2:])} for input {tuple(x.shape[2:])} is x{got}, "
                f"but scale={self.scale} was expected: set the scale that the model was trained for"
            )

    def plan(self, spatial: Sequence[int], network: Callable | None = None) -> list[tuple[tuple, tuple, tuple]]:
        """Tiles of an input of ``spatial`` size: ``[(core, box, keep)]``, each a tuple of per-axis slices.

        ``core`` is the tile in input pixels (the tiles abut and cover the input), ``box`` the input region run
        through the network (``core`` plus the context margin, clamped to the image), ``keep`` the part of the
        network's output for ``box`` that belongs to ``core`` (in output pixels).
        """
        nsp = len(spatial)
        scales = per_axis(self.scale, nsp, "scale", int)
        ctx = self._rf(network) if self.context is None else int(self.context)
        roi = tuple(max(1, min(r, s)) for r, s in zip(per_axis(self.roi_size, nsp, "roi_size", int), spatial))
        same_size = self.sw_batch_size > 1
        axes = []
        for d in range(nsp):
            n, grid = spatial[d], tile_grid(spatial[d], roi[d])
            full = min(max(b - a for a, b in grid) + 2 * ctx, n)
            along = []
            for a, b in grid:
                if same_size:  # one padded size for every tile (batchable); border tiles shift inwards
                    lo = min(max(a - ctx, 0), n - full)
                    hi = lo + full
                else:
                    lo, hi = max(a - ctx, 0), min(b + ctx, n)
                keep = slice((a - lo) * scales[d], (b - lo) * scales[d])
                along.append((slice(a, b), slice(lo, hi), keep))
            axes.append(along)
        return [tuple(zip(*combo)) for combo in itertools.product(*axes)]  # type: ignore[misc]

    # ------------------------------------------------------------------ API
    def iter_tiles(
        self,
        inputs: torch.Tensor,
        network: Callable[[torch.Tensor], torch.Tensor],
        callback: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[int, tuple[slice, ...], torch.Tensor]]:
        """Yield ``(batch_index, output_slices, sr_tile)`` until the whole SR output is covered, one tile at a time.

        ``sr_tile`` is float32 ``(C_out, *tile)`` on the input's device and belongs at
        ``out[batch_index, :, *output_slices]``; the tiles abut, so every output pixel is yielded exactly once.
        A :class:`~monai_srgan.networks.GrainGenerator` runs its generator on the tiles and adds the grain of each
        tile's output position (keyed by ``batch_index`` too: the slice of a volume run slice by slice).

        Args:
            inputs: ``(N, C, *spatial)`` normalised float input.
            network: the generator (already in eval mode and on ``device``).
            callback: called as ``callback(tiles_done, tiles_total)`` after every generator call (progress, e.g.
                :class:`TileProgress`).
        """
        if inputs.ndim < 4:
            raise ConfigError(f"SRInferer needs (N, C, *spatial) input, got shape {tuple(inputs.shape)}")
        x = inputs.as_subclass(torch.Tensor) if isinstance(inputs, torch.Tensor) else torch.as_tensor(inputs)
        x = x.float()
        grain = network if isinstance(network, GrainGenerator) else None
        if grain is not None:
            network = grain.generator
        nsp = x.ndim - 2
        scales = per_axis(self.scale, nsp, "scale", int)
        tiles = self.plan(tuple(x.shape[2:]), network)
        work = [(n, t) for n in range(x.shape[0]) for t in tiles]
        bar = _progress(len(work)) if self.progress else None
        checked = False
        for i in range(0, len(work), self.sw_batch_size):
            chunk = work[i : i + self.sw_batch_size]
            xb = torch.cat([x[(slice(n, n + 1), slice(None), *box)] for n, (_, box, _) in chunk])
            yb = self._run(network, xb)
            if not checked:
                self._check_scale(xb, yb, scales)
                checked = True
            yb = yb.to(x.device)
            for j, (n, (core, _, keep)) in enumerate(chunk):
                out_sl = tuple(slice(c.start * s, c.stop * s) for c, s in zip(core, scales))
                y = yb[(j, slice(None), *keep)]
                if grain is not None:
                    y = y + grain.grain(y.shape, out_sl, index=n).to(y)
                yield n, out_sl, y
            del xb, yb
            if bar is not None:
                bar.update(len(chunk))
            if callback is not None:
                callback(min(i + len(chunk), len(work)), len(work))
        if bar is not None:
            bar.close()

    def __call__(  # type: ignore[override]
        self, inputs: torch.Tensor, network: Callable[[torch.Tensor], torch.Tensor], *args, **kwargs
    ) -> torch.Tensor:
        """Super-resolve ``inputs`` ``(N, C, *spatial)``; returns float32 ``(N, C_out, *(scale * spatial))``."""
        nsp = inputs.ndim - 2
        scales = per_axis(self.scale, nsp, "scale", int)
        out: torch.Tensor | None = None
        for n, sl, y in self.iter_tiles(inputs, network):
            if out is None:
                shape = (inputs.shape[0], y.shape[0], *(s * k for s, k in zip(scales, inputs.shape[2:])))
                out = torch.empty(shape, dtype=torch.float32, device=y.device)
            out[(n, slice(None), *sl)] = y
        assert out is not None
        return out


def _progress(total: int):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with MONAI's optional deps
        return None
    return tqdm(total=total, desc="tiles", leave=False)


class TileProgress:
    """Progress callback for :meth:`SRInferer.iter_tiles`: a tqdm bar of tiles with ETA, shown only for images of
    more than ``min_tiles`` tiles (a 3504×2336 photograph has ~130; one chest X-ray tile needs no bar).

    Args:
        desc: bar label (e.g. the input's name).
        min_tiles: smaller images get no bar.
        disable: never show a bar.
        file: stream of the bar (default ``sys.stderr``).
    """

    def __init__(self, desc: str = "tiles", min_tiles: int = 8, disable: bool = False, file=None) -> None:
        self.desc, self.min_tiles, self.disable, self.file = desc, int(min_tiles), bool(disable), file
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.disable or total <= self.min_tiles:
            return
        if self._bar is None:
            import sys

            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.desc, unit="tile", leave=False, file=self.file or sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Remove the bar (call after every image, also on errors)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
