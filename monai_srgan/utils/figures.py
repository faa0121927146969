"""Labelled comparison figures: one grid of image crops, a colour map for difference images and a colour bar.

Shared by the bundles' ``evaluate.json`` (:func:`monai_srgan.bundle.evaluate.evaluate_sr`) and ``monai-srgan infer
--compare`` (:mod:`monai_srgan.inference.compare`): one figure layout in one place. Panels are ``(C, H, W)`` tensors in
[0, 1] (1 or 3 channels); difference maps are coloured with :func:`colorize` and explained by a colour bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

__all__ = ["colorbar", "comparison_figure", "colorize", "detail_crop", "to_u8"]

# anchor colours of a perceptually ordered dark-to-bright map (close to matplotlib's "inferno")
_CMAP = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
     [252, 255, 164]],
    dtype=np.float32,
) / 255.0  # fmt: skip


def to_u8(x: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] → ``(H, W, 3)`` uint8 (grey repeated to RGB; only the first 3 channels kept)."""
    a = (x.float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
    return np.repeat(a[0][..., None], 3, -1) if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)


def colorize(x: torch.Tensor, vmax: float) -> torch.Tensor:
    """Map a ``(1, H, W)`` or ``(H, W)`` non-negative map to an RGB ``(3, H, W)`` tensor: 0 black, ``vmax`` and above
    pale yellow (an "inferno"-like colour map)."""
    v = (x.float().reshape(x.shape[-2:]) / max(float(vmax), 1e-12)).clamp(0, 1) * (len(_CMAP) - 1)
    lo = v.floor().long().clamp(max=len(_CMAP) - 2)
    t = (v - lo)[..., None]
    cmap = torch.from_numpy(_CMAP)
    rgb = cmap[lo] * (1 - t) + cmap[lo + 1] * t
    return rgb.permute(2, 0, 1).contiguous()


def detail_crop(img: torch.Tensor, size: int, mask: torch.Tensor | None = None) -> tuple[int, int]:
    """Top-left corner of the ``size`` crop of ``img`` ``(C, H, W)`` with the most anatomical detail (inside the
    mask when given).

    Detail is the gradient magnitude clipped at its 95th percentile, so that a few very strong edges (burned-in
    letters of a radiograph, the border of a fundus field of view) do not outweigh widespread structure such as
    vessels and rib edges; near-saturated pixels (burned-in annotations) and their neighbourhood count as no detail.
    """
    h, w = img.shape[-2:]
    size = min(size, h, w)
    g = img.float().mean(0)
    e = (g[1:, :-1] - g[:-1, :-1]).abs() + (g[:-1, 1:] - g[:-1, :-1]).abs()
    e = torch.nn.functional.pad(e, (0, 1, 0, 1))
    bright = torch.nn.functional.max_pool2d((g >= g.max() - 0.02 * (g.max() - g.min()))[None, None].float(), 9, 1, 4)
    e = e * (bright[0, 0] == 0)
    if mask is not None:
        inside = (mask.reshape(h, w) > 0).float()[None, None]
        e = e * (-torch.nn.functional.max_pool2d(-inside, 9, 1, 4)[0, 0] > 0)  # eroded: not the FOV border
    if (e > 0).any():
        v = e[e > 0]  # a strided sample of at most ~1M values (torch.quantile's input is limited), all rows
        e = e.clamp(max=float(torch.quantile(v[:: max(1, v.numel() // 1_000_000)], 0.95)))
    s = max(size // 4, 1)
    pooled = torch.nn.functional.avg_pool2d(e[None, None], size, stride=s)[0, 0]
    r, c = divmod(int(torch.argmax(pooled)), pooled.shape[1])
    return min(r * s, h - size), min(c * s, w - size)


def colorbar(width: int, label: str, vmax: float) -> np.ndarray:
    """``(30, width, 3)`` uint8 strip: ``label``, then the colour ramp from 0 to ``vmax`` with its end values."""
    bar_w = max(min(width - 120, 400), 60)
    ramp = to_u8(colorize(torch.linspace(0, 1, bar_w)[None].expand(10, bar_w), 1.0))
    img = Image.new("RGB", (width, 30), (0, 0, 0))
    d = ImageDraw.Draw(img)
    d.text((4, 0), label, fill=(255, 255, 255))
    img.paste(Image.fromarray(ramp), (24, 14))
    d.text((4, 15), "0", fill=(255, 255, 255))
    d.text((28 + bar_w, 15), f"{vmax:.3g}", fill=(255, 255, 255))
    return np.asarray(img)


def comparison_figure(
    panels: Sequence[tuple[str, Sequence[torch.Tensor]]],
    crop: int = 160,
    zoom: int | Sequence[int] = 2,
    names: Sequence[str] = (),
    color_bar: tuple[str, float] | None = None,
) -> np.ndarray:
    """Stack one row per image: labelled crops (``(C, H, W)`` in [0, 1]) side by side, nearest-zoomed ×``zoom``.

    Every cell is as large as the largest panel of its column and row (no fixed square cells), so whole-image
    overviews and square crops share one compact grid.

    Args:
        panels: ``[(label, [image_0, image_1, ...]), ...]``: one column per label, one row per image.
        crop: unused (kept for the call signature; crops are made by the caller).
        zoom: nearest-neighbour enlargement of every crop, one int or one per row.
        names: row titles (written before the first column's label).
        color_bar: ``(label, vmax)``: a colour bar of :func:`colorize` under the grid.

    Returns:
        ``(H, W, 3)`` uint8 figure.
    """
    labels = [p[0] for p in panels]
    n_rows = len(panels[0][1])
    zooms = [int(zoom)] * n_rows if isinstance(zoom, (int, np.integer)) else [int(z) for z in zoom]
    gap, head = 4, 14
    tiles = [
        [np.repeat(np.repeat(to_u8(imgs[r]), zooms[r], 0), zooms[r], 1) for _, imgs in panels] for r in range(n_rows)
    ]
    row_h = [max(t.shape[0] for t in row) for row in tiles]
    col_w = [max(tiles[r][c].shape[1] for r in range(n_rows)) for c in range(len(labels))]
    width = sum(col_w) + gap * (len(labels) + 1)
    height = sum(row_h) + n_rows * (head + gap) + gap
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    y = gap
    for r, row in enumerate(tiles):
        x = gap
        for c, a in enumerate(row):
            title = labels[c] if c else f"{names[r] if r < len(names) else ''}  {labels[c]}".strip()
            draw.text((x, y), title[: max(col_w[c] // 6, 8)], fill=(255, 255, 0))
            canvas.paste(Image.fromarray(a), (x, y + head))
            x += col_w[c] + gap
        y += row_h[r] + head + gap
    fig = np.asarray(canvas)
    if color_bar is not None:
        fig = np.concatenate([fig, colorbar(width, *color_bar)], 0)
    return fig
