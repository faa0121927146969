"""The bundles' dataset split: a MONAI datalist JSON from one or more data folders, and its sections."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError
from monai_srgan.io.discovery import find_inputs
from monai_srgan.transforms.datasets import split_files, write_datalist

#: ``datalist_section`` name of every image of the folder, whatever its split
ALL_SECTIONS = "all"

__all__ = [
    "ALL_SECTIONS",
    "describe_section",
    "make_datalist",
    "datalist_section",
    "require_file",
]


def _item_path(item: Any) -> str:
    path = getattr(item, "path", item)
    if isinstance(path, (list, tuple)):
        path = path[0] if path else ""
    return os.fspath(path)


def make_datalist(
    dataset_dir: str | os.PathLike | Sequence[str | os.PathLike],
    out_json: str | os.PathLike | None = None,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    key: str = "image",
    min_images: int = 1,
    train_only: Sequence[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """List the images of ``dataset_dir`` and split them deterministically (``split_files``) into a MONAI datalist.

    The split depends only on the set of file names kept and ``seed``: the same folder gives the same split on
    every machine, and the ``test`` section is never read by a bundle's ``train.json``. Several folders are split
    one by one with the same fractions and seed, so adding a folder never moves an image of another folder between
    sections (the held-out images of earlier runs stay held out).

    Args:
        dataset_dir: folder, or list of folders, with PNG/JPEG/TIFF/Netpbm/DICOM (files or series)/NIfTI images,
            searched recursively.
        out_json: where to write the datalist (``{"training", "validation", "test"}``, absolute paths).
        fractions: ``(train, validation, test)``.
        seed: split seed.
        include: file-name patterns to keep (``fnmatch`` on the base name, e.g. ``["hrf_*", "idrid_*"]``); all by
            default.
        exclude: file-name patterns to drop (e.g. ``["mhh_*.png"]``: other-size duplicates of images kept).
        key: datalist key of each entry.
        min_images: fewer images than this (all folders together) raises.
        train_only: file-name patterns of images that only ever train: images that may share a patient with a
            held-out image but carry no patient id to split by (e.g. ``["mhh_*.jpg"]``).

    Raises:
        ConfigError: a folder does not exist or the folders hold no (matching) images — names ``dataset_dir``.
    """
    folders = [dataset_dir] if isinstance(dataset_dir, (str, os.PathLike)) else list(dataset_dir)
    if not folders:
        raise ConfigError("dataset_dir is an empty list: set --dataset_dir to the folder with your images")
    parts: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
    found = 0
    for d in folders:
        folder = Path(d).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"dataset_dir='{d}' is not a folder: set --dataset_dir to the folder with your images")
        items = find_inputs(folder)
        found += len(items)
        split, fixed = [], []
        for it in items:
            name = Path(_item_path(it)).name
            if include and not any(fnmatch.fnmatch(name, p) for p in include):
                continue
            if exclude and any(fnmatch.fnmatch(name, p) for p in exclude):
                continue
            p = getattr(it, "path", it)
            p = [str(Path(x).resolve()) for x in p] if isinstance(p, (list, tuple)) else str(Path(p).resolve())
            only = train_only and any(fnmatch.fnmatch(name, q) for q in train_only)
            (fixed if only else split).append({key: p})
        parts.append((split, fixed))
    kept = sum(len(a) + len(b) for a, b in parts)
    if kept < max(int(min_images), 1):
        what = f" matching include={list(include or [])} exclude={list(exclude or [])}" if include or exclude else ""
        raise ConfigError(
            f"dataset_dir='{dataset_dir}' holds {kept} loadable images{what} (found {found} in total; "
            f"need at least {max(int(min_images), 1)}): set --dataset_dir to a folder of PNG/JPEG/TIFF/DICOM/NIfTI "
            "images, or change --include/--exclude"
        )
    datalist: dict[str, list[dict[str, Any]]] = {"training": [], "validation": [], "test": []}
    for split, fixed in parts:
        sections = split_files(split, fractions=tuple(fractions), seed=seed, key=key) if split else {}
        for name in datalist:
            datalist[name] += sections.get(name, [])
        datalist["training"] += fixed
    if out_json is not None:
        write_datalist(datalist, out_json)
    return datalist


def datalist_section(
    datalist: Mapping[str, Sequence[Mapping[str, Any]]],
    section: str,
    key: str = "image",
    as_key: str | None = None,
    drop: Sequence[str] | None = None,
    keep: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One section of a datalist with the entries' ``key`` renamed to ``as_key`` (e.g. ``"image"`` → ``"hr"``).

    ``section`` is ``"training"``, ``"validation"``, ``"test"`` or ``"all"`` (every image of the folder: for images
    that no model trained on, e.g. your own, scored with ``evaluate.json --eval_section all``).

    ``drop`` lists file-name patterns left out of this section only (``fnmatch`` on the base name), e.g. IDRiD
    photographs, whose burned-in optic-disc circle a model should not learn, in ``training`` while they stay in
    ``test``. ``keep`` keeps only names matching one of its patterns (e.g. the STARE images of ``test``, to score
    them against paper 001's STARE table) without changing the split.

    Raises:
        ConfigError: the section is empty (too few images for the split) — names ``dataset_dir``/``split``.
    """
    entries = _section_entries(datalist, section)
    if not entries:
        raise ConfigError(
            f"the '{section}' split is empty: dataset_dir has too few images for split_fractions "
            f"(sections: { {k: len(v) for k, v in datalist.items()} })"
        )
    out = []
    for e in entries:
        e = dict(e)
        name = Path(_item_path(e[key])).name
        if drop and any(fnmatch.fnmatch(name, p) for p in drop):
            continue
        if keep and not any(fnmatch.fnmatch(name, p) for p in keep):
            continue
        if as_key and as_key != key:
            e[as_key] = e.pop(key)
        out.append(e)
    if not out:
        raise ConfigError(
            f"the '{section}' split has no image left after drop={list(drop or [])} keep={list(keep or [])} "
            f"(of {len(entries)}): add images to dataset_dir or change train_drop/eval_keep"
        )
    return out


def _section_entries(datalist: Mapping[str, Sequence[Mapping[str, Any]]], section: str) -> list[dict[str, Any]]:
    if section == ALL_SECTIONS:
        return [dict(e) for name in ("training", "validation", "test") for e in datalist.get(name, [])]
    if section not in datalist:
        raise ConfigError(
            f"eval_section='{section}' is not a split: use one of {', '.join([*datalist, ALL_SECTIONS])} "
            f"('{ALL_SECTIONS}': every image of dataset_dir)"
        )
    return [dict(e) for e in datalist[section]]


def describe_section(
    datalist: Mapping[str, Sequence[Mapping[str, Any]]],
    section: str,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
) -> str:
    """Which images a section holds and why, in one sentence (``evaluate.json`` prints it and records it in
    ``metrics.json``): e.g. the ``test`` split is 20 % of the folder held out of training, not every image."""
    total = sum(len(v) for v in datalist.values())
    if section == ALL_SECTIONS:
        return (
            f"all {total} images of dataset_dir (--eval_section all; includes the images a bundle's train.json "
            "trains on: use it for images no model trained on)"
        )
    n = len(datalist.get(section, []))
    names = ("training", "validation", "test")
    share = {k: f"{100 * float(f):.0f} %" for k, f in zip(names, fractions)}.get(section, "?")
    why = {"test": "never trained on", "validation": "watched during training", "training": "trained on"}.get(
        section, "a split of dataset_dir"
    )
    return (
        f"{n} of the {total} images of dataset_dir: the '{section}' split ({share}, {why}; split_fractions "
        f"{list(fractions)}, split_seed {seed}); --eval_section all scores every image, e.g. your own images"
    )


def require_file(path: str | os.PathLike | None, setting: str, hint: str = "", required: bool = False) -> str | None:
    """Return ``path`` if it is an existing file; otherwise raise :class:`ConfigError` naming ``setting``.

    ``None``/``""`` passes through unless ``required`` (e.g. the VGG weight file of a perceptual-loss recipe).
    """
    if path is None or path == "":
        if required:
            raise ConfigError(f"{setting} is not set{': ' + hint if hint else ''}")
        return None
    if not Path(path).is_file():
        raise ConfigError(f"{setting}='{path}' is not a file{': ' + hint if hint else ''}")
    return os.fspath(path)
