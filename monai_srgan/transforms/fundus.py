"""Fundus photograph preprocessing: field-of-view (FOV) mask, dark-border crop and resize.

Paper 003 (Mahapatra et al., Sec. 3): "The dark borders were removed and the images resized to 1024x1024 pixels".
:class:`FundusFOV` estimates the circular FOV of the camera (threshold on the red channel, or luminance for
1-channel images; morphological clean-up; largest connected component; holes filled), crops the image to the FOV's
bounding box, optionally pads it to a square (so that a square resize does not distort the eye) and resizes it to a
fixed size or to a fixed width keeping the aspect ratio. The mask is kept (resized with the image) for masked
metrics: ``"fov"`` in the dictionary version, returned alongside the image by the array version.

The FOV is estimated on a copy reduced to at most ``work_size`` pixels on its long side (fast on 3504x2336 images) and
brought back to full resolution by bilinear upsampling of the cleaned mask, thresholded at 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from scipy import ndimage

from monai_srgan.errors import ConfigError, InputFileError, source_path

from .resize import imresize, rescale_spacing

__all__ = [
    "FundusFOV",
    "FundusFOVd",
    "FundusFOVD",
    "FundusFOVDict",
    "estimate_fov_mask",
    "fov_bounding_box",
]


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (maximum between-class variance) of a 1D sample."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[int(np.argmax(between[:-1])) + 1])


def _fov_channel(x: torch.Tensor) -> torch.Tensor:
    """The red channel of RGB data (brightest inside the FOV, darkest outside), else the channel mean."""
    return x[0] if x.shape[0] == 3 else x.mean(dim=0)


def estimate_fov_mask(
    img: torch.Tensor,
    threshold: float | None = None,
    value_range: Sequence[float] | None = None,
    work_size: int = 512,
    opening_radius: float = 0.01,
) -> torch.Tensor:
    """Estimate the camera field of view of a fundus photograph.

    Args:
        img: ``(C, H, W)`` image (RGB or 1 channel), any value range.
        threshold: FOV threshold as a fraction of ``value_range`` (e.g. ``0.06``); ``None`` chooses it automatically:
            Otsu's threshold splits background and retina, then the threshold is placed at 20% of the way from the
            background mean to the retina mean (dark periphery of the FOV stays inside). When the darker class is
            not dark (mean above 25% of the brighter one) the image has no dark surround and the mask is all ones.
        value_range: ``(min, max)`` of the data for ``threshold`` (default: ``srgan_value_min/max`` of a
            ``MetaTensor``, else the image's min/max).
        work_size: the estimate runs on a copy whose long side is at most this many pixels.
        opening_radius: radius of the morphological opening/closing as a fraction of the long side (removes text
            labels, specks and notches on the FOV border).

    Returns:
        ``(1, H, W)`` float32 mask with values 0/1: the largest connected component with its holes filled.

    Raises:
        InputFileError: when no field of view is found (an all-dark image).
    """
    if img.ndim != 3:
        raise ConfigError(f"FundusFOV works on 2D (C, H, W) images, got shape {tuple(img.shape)}")
    x = img.as_tensor() if isinstance(img, MetaTensor) else torch.as_tensor(img)
    h, w = x.shape[-2:]
    chan = _fov_channel(x.float())
    f = max(1, math.ceil(max(h, w) / work_size))
    small = F.avg_pool2d(chan[None, None], kernel_size=f, stride=f, ceil_mode=True)[0, 0] if f > 1 else chan
    v = small.numpy().astype(np.float64)
    if threshold is None:
        t_otsu = _otsu(v)
        below, above = v[v < t_otsu], v[v >= t_otsu]
        bg = float(below.mean()) if below.size else float(v.min())
        fg = float(above.mean()) if above.size else float(v.max())
        if bg > 0.25 * fg:  # no dark surround (e.g. a crop inside the FOV): the whole image is the field of view
            return torch.ones((1, h, w), dtype=torch.float32)
        t = bg + 0.2 * (fg - bg)
    else:
        if value_range is None:
            meta = getattr(img, "meta", {})
            if "srgan_value_min" in meta and "srgan_value_max" in meta:
                value_range = (float(meta["srgan_value_min"]), float(meta["srgan_value_max"]))
            else:
                value_range = (float(chan.min()), float(chan.max()))
        t = value_range[0] + float(threshold) * (value_range[1] - value_range[0])
    mask = v > t
    r = max(1, int(round(opening_radius * max(v.shape))))
    disk = np.hypot(*np.mgrid[-r : r + 1, -r : r + 1]) <= r
    mask = ndimage.binary_opening(mask, structure=disk)
    mask = ndimage.binary_closing(np.pad(mask, r), structure=disk)[r:-r, r:-r]
    labels, n = ndimage.label(mask)
    if n == 0:
        problem = "no field of view found (the image is dark everywhere)"
        raise InputFileError(source_path(img), problem, "is it a fundus photo?")
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    mask = ndimage.binary_fill_holes(labels == (int(np.argmax(sizes)) + 1))
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    if f > 1:
        m = F.interpolate(m, scale_factor=f, mode="bilinear", align_corners=False)[..., :h, :w]
    return (m[0] > 0.5).float()


def fov_bounding_box(mask: torch.Tensor, margin: int = 0) -> tuple[int, int, int, int]:
    """``(row0, row1, col0, col1)`` (end exclusive) of the nonzero region of a ``(1, H, W)`` mask, plus ``margin``."""
    m = mask[0] > 0
    rows, cols = torch.nonzero(m.any(dim=1)).flatten(), torch.nonzero(m.any(dim=0)).flatten()
    h, w = m.shape
    return (
        max(0, int(rows[0]) - margin),
        min(h, int(rows[-1]) + 1 + margin),
        max(0, int(cols[0]) - margin),
        min(w, int(cols[-1]) + 1 + margin),
    )


def _crop_pad_meta(img: torch.Tensor, r0: int, c0: int, out: torch.Tensor) -> torch.Tensor:
    """Wrap ``out`` (crop of ``img`` starting at ``(r0, c0)``, possibly padded) with ``img``'s meta, affine shifted."""
    if not isinstance(img, MetaTensor):
        return out
    res = MetaTensor(out, meta=dict(img.meta), applied_operations=list(img.applied_operations))
    aff = torch.as_tensor(img.affine, dtype=torch.float64).clone()
    aff[:-1, -1] = aff[:-1, -1] + aff[:-1, 0] * r0 + aff[:-1, 1] * c0
    res.affine = aff
    res.meta["spatial_shape"] = np.asarray(out.shape[1:], dtype=np.int64)
    return res


def _mask_like(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mask as a MetaTensor sharing the image's geometry (affine, spacing, file name) but no intensity meta."""
    if not isinstance(img, MetaTensor):
        return mask
    keep = ("filename_or_obj", "srgan_spacing", "srgan_source_files", "space")
    meta = {k: img.meta[k] for k in keep if k in img.meta}
    meta.update(original_channel_dim="no_channel", spatial_shape=np.asarray(mask.shape[1:], dtype=np.int64))
    return MetaTensor(mask, meta=meta, affine=img.affine)


class FundusFOV(Transform):
    """Crop a fundus photograph to its field of view, optionally resize it; return the FOV mask with it.

    Paper 003: dark borders removed, then resized to 1024x1024 (``spatial_size=1024, pad_to_square=True``).
    Paper 004-style fixed width keeping the aspect ratio: ``width=W``.

    Args:
        spatial_size: output ``(H, W)`` (or one int for a square); ``None`` keeps the cropped size.
        width: output width with the height following the aspect ratio; exclusive with ``spatial_size``.
        pad_to_square: pad the crop symmetrically with background to a square before resizing (HRF/IDRiD FOVs are
            cut at the top and bottom: without padding a square resize would squash the eye).
        margin: pixels kept around the FOV bounding box.
        threshold: see :func:`estimate_fov_mask`.
        work_size: see :func:`estimate_fov_mask`.
        mask_outside: set pixels outside the FOV to the background value (``srgan_value_min``, else 0).
        return_mask: return ``(image, mask)``; ``False`` returns the image only.
        mode: resize kernel for the image (the mask is resized bilinearly and thresholded at 0.5).
        upscale: ``False`` leaves a crop that is already at most ``width`` wide at its native pixels (STARE's
            700-px photographs: upsampling would blur the truth that SR is scored against).

    The result's meta gets ``srgan_fov_box = [row0, row1, col0, col1]`` (crop box in the input, before padding),
    ``srgan_fov_pad = [top, bottom, left, right]``, the affine and ``srgan_spacing`` follow the crop and resize.
    """

    def __init__(
        self,
        spatial_size: int | Sequence[int] | None = None,
        width: int | None = None,
        pad_to_square: bool = False,
        margin: int = 0,
        threshold: float | None = None,
        work_size: int = 512,
        mask_outside: bool = False,
        return_mask: bool = True,
        mode: str = "bicubic",
        upscale: bool = True,
    ) -> None:
        if spatial_size is not None and width is not None:
            raise ConfigError("FundusFOV: give spatial_size or width, not both")
        if isinstance(spatial_size, int):
            spatial_size = (spatial_size, spatial_size)
        self.spatial_size = None if spatial_size is None else (int(spatial_size[0]), int(spatial_size[1]))
        self.width = None if width is None else int(width)
        self.pad_to_square, self.margin = pad_to_square, int(margin)
        self.threshold, self.work_size = threshold, int(work_size)
        self.mask_outside, self.return_mask, self.mode = mask_outside, return_mask, mode
        self.upscale = bool(upscale)

    def compute(self, img: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """The full-resolution mask and its crop box (before padding) of ``img``."""
        mask = estimate_fov_mask(img, self.threshold, work_size=self.work_size)
        return mask, fov_bounding_box(mask, self.margin)

    def apply(
        self, img: torch.Tensor, mask: torch.Tensor, box: tuple[int, int, int, int], is_mask: bool = False
    ) -> torch.Tensor:
        """Crop/pad/resize ``img`` (or the mask itself with ``is_mask``) with a box from :meth:`compute`."""
        r0, r1, c0, c1 = box
        x = img.as_tensor() if isinstance(img, MetaTensor) else torch.as_tensor(img)
        x = x[:, r0:r1, c0:c1].float()
        if self.mask_outside and not is_mask:
            bg = float(getattr(img, "meta", {}).get("srgan_value_min", 0.0))
            x = torch.where(mask[:, r0:r1, c0:c1] > 0, x, torch.full_like(x, bg))
        pad = [0, 0, 0, 0]
        h, w = x.shape[-2:]
        if self.pad_to_square and h != w:
            d = abs(h - w)
            pad = [d // 2, d - d // 2, 0, 0] if h < w else [0, 0, d // 2, d - d // 2]
            bg = 0.0 if is_mask else float(getattr(img, "meta", {}).get("srgan_value_min", 0.0))
            x = F.pad(x, (pad[2], pad[3], pad[0], pad[1]), value=bg)
        out = _crop_pad_meta(img, r0 - pad[0], c0 - pad[2], x)
        if isinstance(out, MetaTensor):
            out.meta["srgan_fov_box"] = [r0, r1, c0, c1]
            out.meta["srgan_fov_pad"] = pad
        size = self._out_size(x.shape[-2:])
        if size is not None and tuple(size) != tuple(x.shape[-2:]):
            in_shape = tuple(x.shape[-2:])
            if is_mask:
                y = imresize(out, size=size, mode="bilinear", spatial_dims=2)
                y = (y > 0.5).float() if not isinstance(y, MetaTensor) else y.gt(0.5).float()
            else:
                y = imresize(out, size=size, mode=self.mode, spatial_dims=2)
            if isinstance(y, MetaTensor):
                y.meta["srgan_spacing"] = rescale_spacing(y.meta.get("srgan_spacing", [1.0, 1.0]), in_shape, size)
                y.meta["spatial_shape"] = np.asarray(size, dtype=np.int64)
            out = y
        return out

    def _out_size(self, hw: Sequence[int]) -> tuple[int, int] | None:
        if self.spatial_size is not None:
            return self.spatial_size
        if self.width is not None:
            if not self.upscale and hw[1] <= self.width:
                return None
            return max(1, int(round(hw[0] * self.width / hw[1]))), self.width
        return None

    def __call__(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        """Process a ``(C, H, W)`` fundus image; returns ``(image, mask)`` (or only the image)."""
        if not isinstance(img, torch.Tensor):
            img = torch.as_tensor(np.asarray(img))
        mask, box = self.compute(img)
        out = self.apply(img, mask, box)
        if not self.return_mask:
            return out
        return out, self.apply(_mask_like(img, mask), mask, box, is_mask=True)


class FundusFOVd(MapTransform):
    """Dictionary version of :class:`FundusFOV`: the FOV of the first key crops/resizes every key; mask at ``mask_key``.

    Args:
        keys: image keys (all cropped and resized alike; the FOV is estimated on the first).
        mask_key: where the ``(1, H, W)`` float 0/1 mask goes (default ``"fov"``, docs/architecture.md).
        allow_missing_keys: do not raise when a key is absent.
        Other arguments: see :class:`FundusFOV`.
    """

    def __init__(
        self,
        keys: KeysCollection,
        spatial_size: int | Sequence[int] | None = None,
        width: int | None = None,
        pad_to_square: bool = False,
        margin: int = 0,
        threshold: float | None = None,
        work_size: int = 512,
        mask_outside: bool = False,
        mode: str = "bicubic",
        mask_key: str = "fov",
        allow_missing_keys: bool = False,
        upscale: bool = True,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.fov = FundusFOV(
            spatial_size, width, pad_to_square, margin, threshold, work_size, mask_outside, True, mode, upscale
        )
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Crop/resize every key with the FOV of the first one and store the mask."""
        d = dict(data)
        mask = box = None
        for key in self.key_iterator(d):
            img = d[key]
            if mask is None:
                mask, box = self.fov.compute(img)
                meta_src = img
            d[key] = self.fov.apply(img, mask, box)
        if mask is not None:
            d[self.mask_key] = self.fov.apply(_mask_like(meta_src, mask), mask, box, is_mask=True)
        return d


FundusFOVD = FundusFOVDict = FundusFOVd
