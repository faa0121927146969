"""Pieces shared by the image-level discriminators (private: not part of the public API)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Act, Pool
from torch import nn

from monai_srgan.errors import ConfigError

__all__: list[str] = []

#: LeakyReLU with slope 0.2 (SRGAN, Ledig et al. 2017), in MONAI's activation-factory form.
LEAKY_RELU: tuple = (Act.LEAKYRELU, {"negative_slope": 0.2})


def check_spatial_dims(spatial_dims: int, allowed: Sequence[int] = (2, 3)) -> None:
    """Raise :class:`~monai_srgan.errors.ConfigError` unless ``spatial_dims`` is one of ``allowed``."""
    if spatial_dims not in allowed:
        raise ConfigError(f"spatial_dims must be one of {tuple(allowed)}, got {spatial_dims}.")


class DenseHead(nn.Module):
    """Adaptive average pooling to ``pooled_size`` per axis, then dense -> LeakyReLU(0.2) -> dropout -> dense(1).

    The dense layers of the SRGAN discriminator (Ledig et al. 2017, Fig. 4: ``Dense(1024)``, LeakyReLU,
    ``Dense(1)``); the final sigmoid is left to the loss (BCE with logits). The adaptive pooling makes the head
    independent of the input size: when the feature map already has ``pooled_size`` pixels per axis (a 96x96
    input to the SRGAN discriminator with ``pooled_size=6``), it is the identity and the head is Ledig's.
    """

    def __init__(
        self, spatial_dims: int, in_channels: int, pooled_size: int, dense_features: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if pooled_size < 1 or dense_features < 1:
            raise ConfigError(f"pooled_size and dense_features must be >= 1, got {pooled_size}, {dense_features}.")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}.")
        self.pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](pooled_size)
        self.fc1 = nn.Linear(in_channels * pooled_size**spatial_dims, dense_features)
        self.act = Act[LEAKY_RELU[0]](**LEAKY_RELU[1])
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(dense_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return self.fc2(self.dropout(self.act(self.fc1(x))))
