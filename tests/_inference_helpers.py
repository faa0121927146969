"""Stand-in generators for the inference tests: exact nearest-neighbour upsampling, so SR outputs are checkable."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn


class NearestUp(nn.Module):
    """``sr = nearest(lr, scale)``: downsampling the output by taking every ``scale``-th pixel gives the input back."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.receptive_field = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, scale_factor=float(self.scale), mode="nearest")


def save_nearest_torchscript(path: Path, scale: int = 2, in_channels: int = 1) -> Path:
    """Write a TorchScript nearest-upsampling model plus the sidecar JSON that ``monai-srgan export`` writes."""
    torch.jit.script(NearestUp(scale)).save(str(path))
    side = {
        "scale": scale,
        "receptive_field": 1,
        "in_channels": in_channels,
        "out_channels": in_channels,
        "spatial_dims": 2,
        "model_name": f"nearest-x{scale}",
    }
    Path(str(path) + ".json").write_text(json.dumps(side))
    return path
