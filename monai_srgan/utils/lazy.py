"""PEP 562 lazy package exports: names load on first use, so ``monai-srgan --help`` never imports torch or MONAI."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports", "lazy_submodules"]


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


def lazy_submodules(package: str, modules: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` of a package that re-exports the ``__all__`` of its ``modules`` on first use.

    Unlike :func:`lazy_exports` no name list is repeated here: a name is looked up in each module's ``__all__`` (the
    modules imported in order until one has it), and the package's ``__all__`` is their union, computed when asked.

    Args:
        package: the package's ``__name__``.
        modules: sub-module names, relative to ``package``.
    """

    def _names() -> list[str]:
        return [n for m in modules for n in importlib.import_module(f"{package}.{m}").__all__]

    def __getattr__(name: str) -> Any:
        if name == "__all__":
            value: Any = _names()
        else:
            for m in modules:
                mod = importlib.import_module(f"{package}.{m}")
                if name in getattr(mod, "__all__", ()):
                    value = getattr(mod, name)
                    break
            else:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(_names()))

    return __getattr__, __dir__
