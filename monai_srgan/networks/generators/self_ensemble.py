"""Geometric self-ensemble: the mean SR of the flipped and rotated copies of the input, each mapped back.

Lim et al., "Enhanced deep residual networks for single image super-resolution" (EDSR+), CVPRW 2017, Sec. 4.3, after
Timofte et al., "Seven ways to improve example-based single image super resolution", CVPR 2016 (docs/references.md).
The generator runs on the 8 transforms of the dihedral group of one plane (identity, 3 rotations by 90°, and each of
them flipped); each output is mapped back by the inverse transform and the 8 are averaged. Cost: 8 generator passes;
gain: a few hundredths to tenths of a dB for a PSNR-trained model (docs/results.md measures it per bundle). For GAN
weights the mean blurs the invented texture, so it is meant for PSNR weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from monai_srgan.errors import ConfigError

from ..blocks.pixelshuffle import normalize_scale
from .grain import GrainGenerator

__all__ = ["SelfEnsemble", "dihedral_transforms"]


def dihedral_transforms(rotate: bool = True) -> list[tuple[int, bool]]:
    """The (quarter turns, flip) pairs of the dihedral group of a square: 8, or 2 when ``rotate`` is False."""
    turns = (0, 1, 2, 3) if rotate else (0,)
    return [(k, f) for k in turns for f in (False, True)]


class SelfEnsemble(nn.Module):
    """Wraps a generator: ``forward(x)`` is the mean of ``T⁻¹(G(T(x)))`` over the dihedral transforms ``T``.

    The wrapped generator keeps its weights (``.network``); the wrapper has the generator contract (``.scale``,
    ``.spatial_dims``, ``.receptive_field``, ``.in_channels``, ``.out_channels``), so tiling and the inference
    pipeline take it as they take the generator. Tiles stay exact: each transform maps a tile with its context margin
    onto itself.

    Args:
        network: the generator (a module with ``forward(lr) -> sr`` and ``.scale``).
        spatial_axes: the plane of the flips and rotations, as spatial axes (default ``(0, 1)``: the image plane of 2D
            images, the in-plane axes of volumes).
        rotate: include the quarter turns (8 transforms); ``False``: identity and one flip (2). Quarter turns swap the
            two axes, so a plane whose axes differ in scale (through-plane SR) falls back to the flips.
    """

    def __init__(self, network: nn.Module, spatial_axes: Sequence[int] = (0, 1), rotate: bool = True) -> None:
        super().__init__()
        if not isinstance(network, nn.Module):
            raise ConfigError(f"SelfEnsemble wraps a torch.nn.Module generator, got {type(network).__name__}")
        if isinstance(network, GrainGenerator):
            raise ConfigError(
                "SelfEnsemble of a GrainGenerator would average its grain away: ensemble the generator and keep the "
                "grain (grain_applied_to(network, SelfEnsemble))"
            )
        self.network = network
        self.spatial_dims = int(getattr(network, "spatial_dims", 2))
        axes = tuple(int(a) for a in spatial_axes)
        if len(axes) != 2 or len(set(axes)) != 2 or not all(0 <= a < self.spatial_dims for a in axes):
            raise ConfigError(
                f"SelfEnsemble spatial_axes={tuple(spatial_axes)}: give two different axes of the "
                f"{self.spatial_dims} spatial axes (e.g. (0, 1))"
            )
        self.scale = getattr(network, "scale", None)
        factors = normalize_scale(self.scale if self.scale is not None else 1, self.spatial_dims)
        self.dims = (axes[0] + 2, axes[1] + 2)
        self.rotate = bool(rotate) and factors[axes[0]] == factors[axes[1]]
        self.transforms = dihedral_transforms(self.rotate)

    def __getattr__(self, name: str) -> Any:
        # the generator contract's attributes (receptive_field, in_channels, ...) are the wrapped network's
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["network"], name)

    def _transform(self, x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
        if flip:
            x = x.flip(self.dims[1])
        return torch.rot90(x, turns, self.dims) if turns else x

    def _invert(self, y: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
        if turns:
            y = torch.rot90(y, -turns, self.dims)
        return y.flip(self.dims[1]) if flip else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for turns, flip in self.transforms:
            y = self._invert(self.network(self._transform(x, turns, flip)), turns, flip)
            total = y.float() if total is None else total.add_(y)
        assert total is not None
        return total.div_(len(self.transforms)).to(y.dtype)
