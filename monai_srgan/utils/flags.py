"""On/off settings that may arrive as text: ``python -m monai.bundle run ... --uncertainty false`` passes the string
``'false'`` (Python Fire keeps lower-case ``true``/``false`` as text), which plain ``bool()`` would read as on."""

from __future__ import annotations

from typing import Any

from monai_srgan.errors import ConfigError

__all__ = ["as_flag"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", "none", "null", ""}


def as_flag(value: Any, name: str) -> bool:
    """``value`` as a bool: bools, ``None`` (off), 0/1 and the words true/false, yes/no, on/off (any case).

    Raises:
        ConfigError: anything else, naming the setting ``name``.
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{name}={value!r}: expected true or false")
