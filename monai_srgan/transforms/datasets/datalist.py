"""MONAI datalists: deterministic, seeded train/val/test splits written as datalist JSON
(``{"training": [{"image": ...}], "validation": [...], "test": [...]}``), and reading them back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.io.discovery import InputItem
from monai_srgan.io.writers.common import atomic_write_file

__all__ = ["split_files", "write_datalist", "load_datalist"]


SECTIONS = ("training", "validation", "test")


def as_item(entry: Any, key: str) -> dict[str, Any]:
    if isinstance(entry, InputItem):
        return {key: list(entry.path) if isinstance(entry.path, tuple) else entry.path}
    if isinstance(entry, Mapping):
        return {k: jsonable(v) for k, v in entry.items()}
    return {key: jsonable(entry)}


def jsonable(v: Any) -> Any:
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, (list, tuple)):
        return [jsonable(e) for e in v]
    return v


def _sort_key(item: Mapping[str, Any]) -> str:
    return json.dumps(item, sort_keys=True, default=str)


def split_files(
    files: Sequence[Any],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    out_json: str | os.PathLike | None = None,
    key: str = "image",
    group_fn: Callable[[dict[str, Any]], Hashable] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Deterministic train/validation/test split, optionally written as a MONAI datalist JSON.

    The result depends only on the *set* of files and ``seed`` (entries are sorted before a seeded permutation), so
    the same folder gives the same split on every machine.

    Args:
        files: paths, :class:`~monai_srgan.io.InputItem` (a DICOM series stays one entry) or datalist dicts.
        fractions: ``(train, validation, test)``; must sum to 1. Counts are rounded, the training set takes the rest;
            a split with a positive fraction gets at least one entry when there are enough.
        seed: seed of the permutation.
        out_json: where to write ``{"training": [...], "validation": [...], "test": [...]}`` (folders are created).
        key: the dict key for plain paths (``"image"``).
        group_fn: maps an entry to a group (e.g. a patient id); all entries of a group land in the same split.

    Returns:
        The datalist dict.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"split_files: fractions must be three non-negative numbers summing to 1, got {fractions}")
    items = sorted((as_item(f, key) for f in files), key=_sort_key)
    groups: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        g = str(group_fn(it)) if group_fn is not None else _sort_key(it)
        groups.setdefault(g, []).append(it)
    names = sorted(groups)
    n = len(names)
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = (int(round(fractions[i] * n)) for i in (1, 2))
    positive = sum(f > 0 for f in fractions)
    if n >= positive:
        n_val = max(n_val, 1) if fractions[1] > 0 else 0
        n_test = max(n_test, 1) if fractions[2] > 0 else 0
    n_val, n_test = min(n_val, n), min(n_test, max(0, n - n_val))
    n_train = n - n_val - n_test
    if fractions[0] > 0 and n_train == 0 and n > 0:
        if n_val > n_test:
            n_val -= 1
        else:
            n_test -= 1
        n_train = 1
    parts = {
        "training": order[:n_train],
        "validation": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    out = {sec: [it for i in sorted(idx) for it in groups[names[i]]] for sec, idx in parts.items()}
    if out_json is not None:
        write_datalist(out, out_json)
    return out


def write_datalist(datalist: dict[str, list[dict[str, Any]]], out_json: str | os.PathLike) -> None:
    """Write a MONAI datalist JSON atomically (:func:`~monai_srgan.io.atomic_write_file`); folders are created."""
    path = Path(out_json)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_file(path, lambda tmp: tmp.write_text(json.dumps(datalist, indent=2)), overwrite=True)


def load_datalist(
    path: str | os.PathLike,
    section: str = "training",
    keys: Sequence[str] = ("image",),
    base_dir: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Read one section of a MONAI datalist JSON; relative paths under ``keys`` are resolved against ``base_dir``
    (default: the JSON file's folder). Entries may be dicts or plain paths (taken as ``keys[0]``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputFileError(path, f"datalist cannot be read ({e})", "expected a MONAI datalist JSON") from e
    if section not in data:
        raise ConfigError(f"datalist {path} has no section '{section}' (sections: {sorted(data)})")
    base = Path(base_dir) if base_dir is not None else path.parent

    def resolve(v: Any) -> Any:
        if isinstance(v, str):
            return v if os.path.isabs(v) else str(base / v)
        if isinstance(v, list):
            return [resolve(e) for e in v]
        return v

    items = []
    for entry in data[section]:
        item = dict(entry) if isinstance(entry, Mapping) else {keys[0]: entry}
        for k in keys:
            if k in item:
                item[k] = resolve(item[k])
        items.append(item)
    return items
