"""PEP 562 lazy package exports: names load on first use, so ``monai-srgan --help`` never imports torch or MONAI."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<names[attr]>`` and returns its ``attr`` on first access.

    Args:
        package: the package's ``__name__``.
        names: exported name → sub-module (relative to ``package``, or absolute when it starts with
            ``monai_srgan.``) that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = names[name] if names[name].startswith("monai_srgan.") else f"{package}.{names[name]}"
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # cache: later accesses skip __getattr__
        return value

    return __getattr__
