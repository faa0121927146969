"""DICOM windowing (LINEAR VOI function, PS3.3 C.11.2.1.2.1) as an invertible normalisation to ``out_range``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import KeysCollection

from monai_srgan.errors import ConfigError

from ._affine import AffineNormalize, AffineNormalized, plain_params

__all__ = ["WindowScale", "WindowScaled", "WindowScaleD", "WindowScaleDict"]


class WindowScale(AffineNormalize):
    """DICOM window (LINEAR VOI function, PS3.3 C.11.2.1.2.1) to ``out_range``.

    ``y = ((x - (c - 0.5)) / (w - 1) + 0.5) * (b - a) + a``, clamped to ``[a, b]`` when ``clip``. With ``center``/
    ``width`` ``None`` the file's first window is used (``srgan_window_center``/``srgan_window_width``); for data
    the loader inverted (MONOCHROME1) the window is mirrored (``c' = lo + hi - c + 1``) so that the result equals the
    file's windowed, inverted display.

    Args:
        center: window center in the value domain of the loaded image (``None``: from the metadata).
        width: window width (>= 1).
        out_range: target ``(a, b)``.
        clip: clamp to ``out_range`` (the usual windowing; the inverse is exact only inside the window).
    """

    kind = "window"

    def __init__(
        self,
        center: float | None = None,
        width: float | None = None,
        out_range: Sequence[float] = (0.0, 1.0),
        clip: bool = True,
    ) -> None:
        super().__init__(clip)
        self.center, self.width = center, width
        self.out_range = (float(out_range[0]), float(out_range[1]))

    def params(self, img):
        meta = img.meta
        c, w = self.center, self.width
        if c is None or w is None:
            if "srgan_window_center" not in meta or "srgan_window_width" not in meta:
                raise ConfigError(
                    "WindowScale: center/width are not set and the image has no DICOM window "
                    "(srgan_window_center/srgan_window_width): pass center= and width="
                )
            c, w = float(meta["srgan_window_center"]), float(meta["srgan_window_width"])
            if meta.get("srgan_inverted"):
                c = float(meta["srgan_value_min"]) + float(meta["srgan_value_max"]) - c + 1.0
        c, w = float(c), float(w)
        if w < 1:
            raise ConfigError(f"WindowScale: width must be >= 1, got {w}")
        a, b = self.out_range
        scale = (b - a) / max(w - 1.0, 1e-12)
        offset = (0.5 - (c - 0.5) / max(w - 1.0, 1e-12)) * (b - a) + a
        prev = meta.get("srgan_norm")
        if prev:  # center/width are in the loaded value domain: map the window through the previous normalisation
            s1, o1 = np.asarray(prev["scale"], np.float64), np.asarray(prev["offset"], np.float64)
            scale, offset = scale / s1, offset - scale * o1 / s1
        return plain_params(scale), plain_params(offset), self.out_range


class WindowScaled(AffineNormalized):
    """Dictionary version of :class:`WindowScale`."""

    def __init__(
        self,
        keys: KeysCollection,
        center: float | None = None,
        width: float | None = None,
        out_range: Sequence[float] = (0.0, 1.0),
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, WindowScale(center, width, out_range, clip), allow_missing_keys)


WindowScaleD = WindowScaleDict = WindowScaled
