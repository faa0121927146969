"""SR training datasets that decode each image once: :func:`build_sr_dataset` and the map-style
:class:`SRPatchDataset` behind it (works with shuffling, ``DistributedSampler`` and workers).

:func:`build_sr_dataset` takes a folder (:func:`~monai_srgan.io.find_inputs`), a MONAI datalist JSON
(:mod:`.datalist`) or a list: it validates every input at header level (bad files are reported and skipped, or raise
with ``strict=True``), loads and pre-processes each image once (``LoadMedicalImaged`` + optional deterministic
``pre_transform`` such as normalisation, :class:`~monai_srgan.transforms.fundus.FundusFOVd` or a pre-resize), keeps the
result in memory (MONAI ``CacheDataset``) and serves ``num_samples`` items per image per epoch, each through the random
per-patch ``transform`` (crop HR -> degrade -> paired augmentation). A 3504x2336 fundus image is decoded once per run,
not once per patch.
"""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, MetaTensor, get_track_meta, set_track_meta
from monai.data import Dataset as MonaiDataset
from monai.transforms import Compose, Randomizable, Transform

from monai_srgan.errors import ConfigError, InputFileError, project_error
from monai_srgan.io.discovery import find_inputs, is_dicom_file, validate_input
from monai_srgan.io.files import NIFTI_EXTENSIONS, has_ext
from monai_srgan.transforms.io import LoadMedicalImaged

from .datalist import as_item, load_datalist

__all__ = ["build_sr_dataset", "SRPatchDataset"]


logger = logging.getLogger(__name__)


class _SafePipeline(Transform):
    """Deterministic load + pre-process; a bad file gives ``None`` (and is recorded) unless ``strict``."""

    def __init__(self, pipeline: Callable, keys: Sequence[str], strict: bool, bad: list[tuple[str, str]]) -> None:
        self.pipeline, self.keys, self.strict, self.bad = pipeline, tuple(keys), strict, bad

    def __call__(self, data: Mapping[Hashable, Any]) -> Any:
        try:
            return self.pipeline(dict(data))
        except Exception as exc:  # noqa: BLE001 - MONAI's Compose wraps errors in RuntimeError
            e = project_error(exc, (InputFileError,))
            if e is None:
                raise
            if self.strict:
                raise e from exc
            self.bad.append((str(e.path), e.problem))
            logger.warning("skipping %s", e)
            return None


def _view(data: Any, deep: bool) -> Any:
    """A copy of a cached sample that random transforms may modify without touching the cache.

    Tensors are new ``MetaTensor`` objects sharing storage with the cache (no pixel copy) and with their own meta dict;
    transforms that write pixels *in place* need ``copy_cache=True``. ``srgan_source_files`` of a DICOM series becomes
    ``[series folder]`` so that batches mixing series of different lengths collate.
    """
    if deep:
        return copy.deepcopy(data)
    if isinstance(data, MetaTensor):
        meta = dict(data.meta)
        files = meta.get("srgan_source_files")
        if isinstance(files, (list, tuple)) and len(files) > 1:
            # a patch of a series: its source is the series (folder); per-slice lists of different lengths would
            # make MONAI's collate fail for batches mixing series
            meta["srgan_source_files"] = [str(meta.get("filename_or_obj", files[0]))]
        return MetaTensor(data.as_tensor(), meta=meta, applied_operations=list(data.applied_operations))
    if isinstance(data, Mapping):
        return {k: _view(v, False) for k, v in data.items()}
    if isinstance(data, list):
        return [_view(v, False) for v in data]
    return data


class SRPatchDataset(torch.utils.data.Dataset, Randomizable):
    """``num_samples`` random samples per (cached) image per epoch.

    Item ``i`` is drawn from image ``i // num_samples`` by ``transform`` (e.g. crop HR -> degrade -> paired augment),
    applied to a storage-sharing view of the cached image, so an image is decoded once however many patches are drawn.
    With ``group_samples`` (used when the images are not cached) item ``i`` is image ``i`` and returns a list of
    ``num_samples`` samples drawn after one decode; MONAI's ``list_data_collate`` flattens them into the batch.

    Args:
        images: a sequence of pre-processed samples (``CacheDataset``/``Dataset``); ``None`` entries are bad files.
        transform: the random per-sample transform (``None``: the image itself).
        num_samples: samples per image per epoch.
        group_samples: see above.
        copy_cache: deep-copy the cached sample before ``transform`` (only for transforms that work in place).
        bad_files: ``(path, problem)`` of the inputs that were skipped (also kept as ``.bad_files``).
        track_meta: run ``transform`` on MetaTensors (MONAI's default). ``False`` runs it on plain tensors with
            MONAI's meta tracking off: the same values at half the data time of a training step (the affine/meta
            bookkeeping of every crop and flip is what costs), for training pairs whose geometry nobody reads. A
            failing sample is re-run with meta so that the error still names the file.
    """

    def __init__(
        self,
        images: Sequence[Any],
        transform: Callable | None = None,
        num_samples: int = 1,
        group_samples: bool = False,
        copy_cache: bool = False,
        bad_files: list[tuple[str, str]] | None = None,
        known_good: bool = True,
        track_meta: bool = True,
    ) -> None:
        if num_samples < 1:
            raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
        if transform is not None and not callable(transform) and isinstance(transform, Sequence):
            transform = Compose(list(transform))
        self.images, self.transform, self.track_meta = images, transform, bool(track_meta)
        self.num_samples, self.group_samples, self.copy_cache = int(num_samples), group_samples, copy_cache
        self.bad_files = bad_files if bad_files is not None else []
        self.index = (
            [i for i in range(len(images)) if images[i] is not None] if known_good else list(range(len(images)))
        )
        if not self.index:
            raise ConfigError("the dataset has no usable image (all inputs were bad): see the warnings above")

    def __len__(self) -> int:
        return len(self.index) * (1 if self.group_samples else self.num_samples)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        """Seed this dataset and every random transform in ``transform``."""
        super().set_random_state(seed, state)
        if isinstance(self.transform, Randomizable):
            self.transform.set_random_state(seed, state)
        return self

    def randomize(self, data: Any = None) -> None:  # the randomness lives in ``transform``
        pass

    def _image(self, i: int) -> Any:
        for attempt in range(len(self.index)):
            data = self.images[self.index[(i + attempt) % len(self.index)]]
            if data is not None:
                return data
        raise ConfigError("the dataset has no usable image (all inputs were bad)")

    def _sample(self, data: Any) -> Any:
        view = _view(data, self.copy_cache)
        if self.transform is None:
            return view
        if self.track_meta or not isinstance(view, Mapping):
            return self.transform(view)

        plain = {k: v.as_tensor() if isinstance(v, MetaTensor) else v for k, v in view.items()}
        previous = get_track_meta()
        set_track_meta(False)
        try:
            return self.transform(plain)
        except Exception:
            set_track_meta(previous)
            return self.transform(view)  # the same failure with the file's name in the message
        finally:
            set_track_meta(previous)

    def __getitem__(self, i: int) -> Any:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if self.group_samples:
            data = self._image(i)
            return [self._sample(data) for _ in range(self.num_samples)]
        return self._sample(self._image(i // self.num_samples))


def _refuse_volume(src: Any) -> None:
    """Raise :class:`InputFileError` when ``src`` is a volume (header level), for datasets of 2D models."""
    paths = [os.fspath(p) for p in (src if isinstance(src, (list, tuple)) else [src])]
    if len(paths) == 1 and os.path.isdir(paths[0]):
        paths = [str(p) for p in Path(paths[0]).iterdir() if p.is_file()]
    depth = len(paths)
    if depth == 1 and has_ext(paths[0], NIFTI_EXTENSIONS):
        import nibabel as nib

        shape = nib.load(paths[0]).shape
        depth = shape[2] if len(shape) > 2 else 1
    elif depth == 1 and is_dicom_file(paths[0]):
        from monai_srgan.io.readers.dicom import read_dicom_header

        depth = int(read_dicom_header(paths[0]).get("NumberOfFrames", 1) or 1)
    if depth > 1:
        raise InputFileError(
            os.path.commonpath(paths) if len(paths) > 1 else paths[0],
            f"is a volume ({depth} slices or frames) but this dataset trains a 2D model",
            "remove it from the 2D training data, or train the 3D bundle (bundles/ct_mr_sr_3d) on volumes",
        )


def _bad_skips(skipped: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Files find_inputs skipped that look like broken images (not plain non-image files)."""
    return [(p, r) for p, r in skipped if r not in ("not an image file", "DICOMDIR index file") and is_dicom_file(p)]


def build_sr_dataset(
    data: str | os.PathLike | Sequence[Any],
    transform: Callable | None = None,
    *,
    keys: Sequence[str] = ("image",),
    section: str = "training",
    pre_transform: Callable | Sequence[Callable] | None = None,
    cache: str | bool | None = "memory",
    num_samples: int = 1,
    cache_rate: float = 1.0,
    num_workers: int = 0,
    strict: bool = False,
    validate: bool = True,
    recursive: bool = True,
    base_dir: str | os.PathLike | None = None,
    loader: Callable | None = None,
    copy_cache: bool = False,
    progress: bool = False,
    spatial_dims: int | None = None,
    track_meta: bool = True,
) -> SRPatchDataset:
    """Build an SR dataset from a folder, a MONAI datalist JSON or a list of inputs.

    Args:
        data: a folder (all images found by :func:`~monai_srgan.io.find_inputs`, DICOM series as one
            item), a datalist JSON (``section`` is read), or a list of paths/InputItem/datalist dicts.
        transform: random per-sample transform chain (e.g. ``RandHRPatchd`` -> degradation ->
            ``RandPairedFlipRotated``); any callable on the sample dict, or a list of them.
        keys: the keys holding input paths (``("image",)``; ``("lr", "hr")`` for pre-paired files).
        section: datalist section (``"training"``, ``"validation"``, ``"test"``).
        pre_transform: deterministic transforms applied once after loading and cached with the image (normalisation,
            ``FundusFOVd``, a pre-resize...).
        cache: ``"memory"`` (default; MONAI ``CacheDataset``, each image decoded once per run) or ``"none"`` (decode on
            access; with ``num_samples > 1`` each access decodes once and returns ``num_samples`` samples as a list).
        num_samples: samples drawn per image per epoch.
        cache_rate: fraction of the images cached (``CacheDataset``'s); the rest are decoded on access.
        num_workers: threads used to fill the cache.
        strict: raise :class:`~monai_srgan.errors.InputFileError` on the first bad file instead of skipping it.
        validate: check every input at header level first (cheap; catches empty/corrupt files, DICOM without pixel
            data, missing decoders).
        recursive: scan sub-folders of a folder ``data``.
        base_dir: base of relative paths in a datalist (default: the JSON's folder).
        loader: replaces ``LoadMedicalImaged(keys)`` (any callable on the sample dict).
        copy_cache: deep-copy cached samples before ``transform`` (needed only by in-place transforms).
        progress: show the caching progress bar.
        spatial_dims: 2 for a 2D model: volumes (multi-slice DICOM series, multi-frame DICOM, 3D NIfTI) are skipped
            as bad inputs, named, from their headers, before anything is decoded (or raise with ``strict``).
        track_meta: see :class:`SRPatchDataset` (``False`` for training pairs: half the data time).

    Returns:
        :class:`SRPatchDataset`; ``.bad_files`` lists ``(path, problem)`` of the skipped inputs and ``.images`` the
        underlying (cached) dataset of whole pre-processed images.
    """
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    bad: list[tuple[str, str]] = []
    if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
        skipped: list[tuple[str, str]] = []
        items = [as_item(it, keys[0]) for it in find_inputs(data, recursive=recursive, skipped=skipped)]
        bad.extend(_bad_skips(skipped))
        if strict and bad:
            raise InputFileError(bad[0][0], bad[0][1], "fix or remove the file, or pass strict=False to skip it")
    elif isinstance(data, (str, os.PathLike)) and str(data).lower().endswith(".json"):
        items = load_datalist(data, section, keys, base_dir)
    elif isinstance(data, (str, os.PathLike)):
        raise InputFileError(data, "is neither a folder nor a datalist .json file", "check the dataset path")
    else:
        items = [as_item(it, keys[0]) for it in data]
    if validate:
        good = []
        for item in items:
            try:
                for k in keys:
                    if k in item:
                        validate_input(item[k])
                        if spatial_dims == 2:
                            _refuse_volume(item[k])
                good.append(item)
            except InputFileError as e:
                if strict:
                    raise
                bad.append((str(e.path), e.problem))
        items = good
    if not items:
        raise ConfigError(f"no usable input in {data!r}" + (f" ({len(bad)} bad files)" if bad else ""))

    steps: list[Callable] = [loader if loader is not None else LoadMedicalImaged(keys)]
    if pre_transform is not None:
        steps.extend(pre_transform if isinstance(pre_transform, Sequence) else [pre_transform])
    load_bad: list[tuple[str, str]] = []
    safe = _SafePipeline(Compose(steps), keys, strict, load_bad)
    mode = "none" if cache in (None, False, "none") else "memory" if cache in (True, "memory") else cache
    if mode == "memory":
        t0 = time.perf_counter()
        logger.info("loading %d image(s) into memory (decoded and pre-processed once, before training)", len(items))
        try:
            images: Any = CacheDataset(
                items, transform=Compose([safe]), cache_rate=cache_rate, num_workers=num_workers, progress=progress,
                copy_cache=False,
            )  # fmt: skip
        except Exception as exc:  # strict: surface the InputFileError itself, not MONAI's RuntimeError wrapper
            e = project_error(exc, (InputFileError,))
            if e is None:
                raise
            raise e from exc
        n_cached = images.cache_num
        bad.extend(load_bad)
        logger.info("%d image(s) loaded in %.1f s", n_cached - len(load_bad), time.perf_counter() - t0)
        ds = SRPatchDataset(
            images, transform, num_samples, group_samples=n_cached < len(items) and num_samples > 1,
            copy_cache=copy_cache, bad_files=bad, known_good=n_cached == len(items), track_meta=track_meta,
        )  # fmt: skip
    elif mode == "none":
        images = MonaiDataset(items, transform=safe)
        ds = SRPatchDataset(
            images, transform, num_samples, group_samples=num_samples > 1, copy_cache=copy_cache, bad_files=bad,
            known_good=False, track_meta=track_meta,
        )  # fmt: skip
        safe.bad = ds.bad_files  # load-time failures are appended as they happen
    else:
        raise ConfigError(f"build_sr_dataset: cache must be 'memory' or 'none', got {cache!r}")
    if bad:
        listing = "; ".join(f"{p}: {r}" for p, r in bad[:10]) + (" ..." if len(bad) > 10 else "")
        warnings.warn(f"build_sr_dataset: skipped {len(bad)} bad input(s): {listing}", stacklevel=2)
    return ds
