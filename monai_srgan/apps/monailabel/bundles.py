"""Finding the SR bundles a MONAI Label app serves, from the app's ``--conf`` settings."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from monai_srgan.errors import ConfigError

__all__ = ["discover_bundles", "resolve_bundles_dir", "conf_list", "conf_bool", "is_bundle"]


def conf_list(value: str | Sequence[str] | None) -> list[str] | None:
    """Parse a ``--conf`` list value (``"a,b"``, ``"all"``, empty) into names; ``None`` means all."""
    if value is None:
        return None
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)]
    items = [v for v in items if v]
    if not items or items == ["all"]:
        return None
    return items


def conf_bool(value: str | bool | None, default: bool = False) -> bool:
    """Parse a ``--conf``/request flag: ``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in ("true", "1", "yes", "y", "on"):
        return True
    if v in ("false", "0", "no", "n", "off"):
        return False
    raise ConfigError(f"{value!r} is not a true/false value")


def is_bundle(path: str | os.PathLike) -> bool:
    """True when ``path`` holds ``configs/inference.json`` (what :meth:`SRInferencePipeline.from_bundle` reads)."""
    return (Path(path) / "configs" / "inference.json").is_file()


def resolve_bundles_dir(conf: Mapping[str, str], app_dir: str | os.PathLike) -> Path:
    """The bundles folder: ``--conf bundles_dir PATH`` (relative to the app folder), else ``<repo>/bundles``.

    The default is the ``bundles/`` folder two levels above the app (``apps/monailabel_sr`` in this repository).
    """
    value = conf.get("bundles_dir") if conf else None
    if value:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (Path(app_dir) / p).resolve()
    return (Path(app_dir).resolve().parents[1] / "bundles").resolve()


def discover_bundles(bundles_dir: str | os.PathLike, names: Sequence[str] | None = None) -> dict[str, Path]:
    """Map model name → bundle folder for the bundles under ``bundles_dir`` (sorted by name).

    Args:
        bundles_dir: folder holding one sub-folder per bundle.
        names: serve only these (``--conf models cxr_sr,retina_sr``); each must be a bundle there.

    Raises:
        ConfigError: ``bundles_dir`` is not a folder, a requested name is not a bundle in it, or nothing is found.
    """
    root = Path(bundles_dir)
    if not root.is_dir():
        raise ConfigError(f"bundles_dir '{root}' is not a folder (set it with --conf bundles_dir PATH)")
    found = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and is_bundle(p)}
    if names is not None:
        missing = [n for n in names if n not in found]
        if missing:
            raise ConfigError(
                f"--conf models: {', '.join(missing)} not found under '{root}' "
                f"(bundles there: {', '.join(found) or 'none'})"
            )
        found = {n: found[n] for n in names}
    if not found:
        raise ConfigError(f"no bundle (a folder with configs/inference.json) under '{root}'")
    return found
