"""Loading a generator for inference: registry name or module + weight file, or an exported model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.inference.exported import is_exported, load_exported
from monai_srgan.networks import grain_for_weights, load_network_weights

__all__ = ["load_generator", "network_in_channels"]


def load_generator(
    weights: str | os.PathLike,
    network: str | torch.nn.Module = "srresnet",
    scale: int | Sequence[int] | None = None,
    **network_kwargs: Any,
) -> torch.nn.Module:
    """Build a generator and load weights into it (``torch.load(weights_only=True)``, ``params_ema`` preferred).

    Also opens models exported by ``monai-srgan export`` (``.ts``/TorchScript or ``.onnx``), see
    :func:`monai_srgan.inference.exported.load_exported`.

    Args:
        weights: checkpoint or state-dict file, or an exported model.
        network: registry name (``get_generator``) or an instantiated module.
        scale: SR factor (passed to the generator constructor when ``network`` is a name).
        network_kwargs: further constructor arguments (``spatial_dims``, ``in_channels``, ``out_channels``, ...).
    """
    if is_exported(weights):
        return load_exported(weights)
    if isinstance(network, str):
        from monai_srgan.networks import get_generator

        kw = {"spatial_dims": 2, "in_channels": 1, "out_channels": None, **network_kwargs}
        if kw["out_channels"] is None:
            kw["out_channels"] = kw["in_channels"]
        model = get_generator(network, scale=scale if scale is not None else 4, **kw)
    else:
        model = network

    if not os.path.isfile(weights):
        raise InputFileError(weights, "model weight file not found", "give the path of a trained checkpoint")
    try:
        model = grain_for_weights(model, os.fspath(weights))
        load_network_weights(model, os.fspath(weights), strict=True)
    except InputFileError:
        raise
    except Exception as e:  # noqa: BLE001 - report which file does not fit which network
        raise ConfigError(
            f"weights '{weights}' do not fit network {type(model).__name__} ({e}); check --network/--scale "
            "and the architecture options the model was trained with"
        ) from e
    return model


def network_in_channels(network: Any) -> int | None:
    """``network.in_channels``, else the input channels of its first convolution, else None (unknown)."""
    c = getattr(network, "in_channels", None)
    if c is not None:
        return int(c)
    if isinstance(network, torch.nn.Module):
        for m in network.modules():
            if isinstance(m, torch.nn.modules.conv._ConvNd):
                return int(m.in_channels)
    return None
