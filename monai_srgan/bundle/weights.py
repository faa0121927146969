"""Which of a bundle's shipped weight files a scale and a kind of weights select.

A 2D bundle ships one generator per (scale, kind) under ``models/``: the bundle's own scale and PSNR-oriented
weights keep the Model Zoo name ``model.pt``; other scales add ``_x<scale>`` and GAN weights ``_gan``
(``model_gan.pt``, ``model_x8.pt``, ``model_gan_x8.pt``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from monai_srgan.errors import ConfigError

__all__ = ["WEIGHT_KINDS", "bundle_weights", "weight_file_name", "shipped_weights"]

WEIGHT_KINDS = ("psnr", "gan")
_NAME = re.compile(r"^model(_gan)?(?:_x(\d+))?\.pt$")


def weight_file_name(scale: int, kind: str = "psnr", default_scale: int = 4) -> str:
    """File name under ``models/`` of the ``kind`` weights at ``scale`` (``model.pt`` at the default scale)."""
    if kind not in WEIGHT_KINDS:
        raise ConfigError(f"weights='{kind}' is not one of {', '.join(WEIGHT_KINDS)} (or a path to a weight file)")
    gan = "_gan" if kind == "gan" else ""
    x = "" if int(scale) == int(default_scale) else f"_x{int(scale)}"
    return f"model{gan}{x}.pt"


def shipped_weights(bundle_root: str | os.PathLike, default_scale: int = 4) -> dict[tuple[int, str], Path]:
    """``{(scale, kind): path}`` of the weight files in ``bundle_root/models``."""
    out = {}
    for p in sorted(Path(bundle_root, "models").glob("model*.pt")):
        m = _NAME.match(p.name)
        if m:
            out[(int(m.group(2) or default_scale), "gan" if m.group(1) else "psnr")] = p
    return out


def bundle_weights(bundle_root: str | os.PathLike, scale: int, weights: str = "psnr", default_scale: int = 4) -> str:
    """Path of the weights that ``scale`` and ``weights`` select in a bundle.

    Args:
        bundle_root: the bundle folder.
        scale: SR factor asked for.
        weights: ``"psnr"`` (fidelity-oriented, the default), ``"gan"`` (adversarially fine-tuned: sharper), or a
            path to a weight file (returned as given).
        default_scale: the bundle's own scale, whose PSNR weights are ``models/model.pt``.

    Raises:
        ConfigError: no shipped file for that scale and kind, or ``weights`` is no kind and no file; lists what the
            bundle has.
    """
    have = shipped_weights(bundle_root, default_scale)
    listed = ", ".join(f"x{s} {k} ({p.name})" for (s, k), p in sorted(have.items())) or "none"
    if weights not in WEIGHT_KINDS:
        if not Path(weights).is_file():
            raise ConfigError(
                f"weights='{weights}' is neither 'psnr', 'gan' nor an existing weight file: pass --weights psnr, "
                f"--weights gan or the path of a .pt file (bundle '{bundle_root}' ships: {listed})"
            )
        return os.fspath(weights)
    path = Path(bundle_root, "models", weight_file_name(scale, weights, default_scale))
    if path.is_file():
        return os.fspath(path)
    raise ConfigError(
        f"bundle '{bundle_root}' has no {weights} weights for scale={scale} ({path.name}); it ships: {listed}. "
        "Choose one of those scales/weights, or train this scale with configs/train.json --scale "
        f"{scale} and pass the result with --weights PATH"
    )
