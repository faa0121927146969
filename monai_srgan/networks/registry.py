"""Networks by name: ``get_generator("rrdbnet", ...)``, ``get_discriminator("unet_sn", ...)``.

Names are matched case-insensitively, ignoring ``_`` and ``-`` (``"RRDBNet"``, ``"rrdbnet"``, ``"SRVGGNetCompact"``,
``"srvgg_net_compact"`` all work). BasicSR/Real-ESRGAN option names are accepted too, so a ``network_g`` block of a
BasicSR YAML file builds the same network: ``num_in_ch`` → ``in_channels``, ``num_out_ch`` → ``out_channels``,
``upscale`` → ``scale``, ``num_block`` → ``num_blocks``, ``type`` → the name. ``spatial_dims`` defaults to 2.

Bundle configs can equally use ``"_target_": "monai_srgan.networks.RRDBNet"`` directly.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError
from .generators import GENERATORS

__all__ = ["get_generator", "get_discriminator", "BASICSR_ALIASES"]

#: BasicSR/Real-ESRGAN argument names → this package's names
BASICSR_ALIASES = {
    "num_in_ch": "in_channels",
    "num_out_ch": "out_channels",
    "upscale": "scale",
    "num_block": "num_blocks",
}

# extra short names for generators
_GEN_ALIASES = {"srgan": "srresnet", "esrgan": "rrdbnet", "realesrgan": "rrdbnet", "srvgg": "srvggnetcompact",
                "compact": "srvggnetcompact", "cascaded": "cascadedsr", "edsrse": "edsr"}  # fmt: skip


def _norm(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _lookup(table: dict[str, type], name: str, what: str, aliases: dict[str, str] | None = None) -> type:
    if not isinstance(name, str):
        raise ConfigError(f"{what} name must be a string, got {type(name).__name__}.")
    index = {_norm(k): v for k, v in table.items()}
    key = _norm(name)
    if aliases and key in aliases:
        key = _norm(aliases[key])
    if key not in index:
        raise ConfigError(f"unknown {what} {name!r}; available: {', '.join(sorted(table))}.")
    return index[key]


def _translate(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in kwargs.items():
        if k == "type":
            continue
        k2 = BASICSR_ALIASES.get(k, k)
        if k2 in out and k2 != k:
            raise ConfigError(f"both {k!r} and {k2!r} given.")
        out[k2] = v
    out.setdefault("spatial_dims", 2)
    return out


def get_generator(name: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a generator by name (see ``monai_srgan.networks.GENERATORS``).

    Args:
        name: ``"srresnet"``, ``"msrresnet"``, ``"edsr"``, ``"rrdbnet"``, ``"srvggnetcompact"``, ``"cascadedsr"`` (or
            the class name, or ``type=`` as in BasicSR options).
        kwargs: constructor arguments; BasicSR names are translated; ``spatial_dims`` defaults to 2.

    Example:
        ``get_generator("RRDBNet", num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23, num_grow_ch=32)``
        builds RealESRGAN_x4plus's network.

    Raises:
        ConfigError: unknown name or conflicting arguments.
    """
    name = name if name is not None else kwargs.get("type")
    if name is None:
        raise ConfigError("get_generator needs a name (or type=...).")
    cls = _lookup(GENERATORS, name, "generator", _GEN_ALIASES)
    kw = _translate(kwargs)
    try:
        return cls(**kw)
    except TypeError as e:
        raise ConfigError(f"{cls.__name__}: {e}") from None


def get_discriminator(name: str | None = None, **kwargs: Any) -> nn.Module:
    """Build a discriminator by name from ``monai_srgan.networks.discriminators.DISCRIMINATORS``.

    Args:
        name: a key of ``DISCRIMINATORS`` (case-insensitive, ``_``/``-`` ignored) or ``type=``.
        kwargs: constructor arguments; ``num_in_ch`` → ``in_channels``; ``spatial_dims`` defaults to 2.

    Raises:
        ConfigError: unknown name or bad arguments.
    """
    from .discriminators import DISCRIMINATORS  # lazy: the discriminator package may import blocks from here

    name = name if name is not None else kwargs.get("type")
    if name is None:
        raise ConfigError("get_discriminator needs a name (or type=...).")
    cls = _lookup(DISCRIMINATORS, name, "discriminator")
    kw = _translate(kwargs)
    try:
        return cls(**kw)
    except TypeError as e:
        raise ConfigError(f"{cls.__name__}: {e}") from None
