"""Datasets: deterministic train/val/test splits and SR training datasets that decode each image once.

* :func:`split_files` - a seeded, order-independent split written as a MONAI datalist JSON
  (``{"training": [{"image": ...}], "validation": [...], "test": [...]}``).
* :func:`build_sr_dataset` - from a folder (:func:`~monai_srgan.io.find_inputs`), a MONAI datalist JSON or
  a list: validates every input at header level (bad files are reported and skipped, or raise with ``strict=True``),
  loads and pre-processes each image once (``LoadMedicalImaged`` + optional deterministic ``pre_transform`` such as
  normalisation, :class:`~monai_srgan.transforms.fundus.FundusFOVd` or a pre-resize), keeps the result in memory
  (MONAI ``CacheDataset``) and serves ``num_samples`` items per image per epoch, each through the random per-patch
  ``transform`` (crop HR -> degrade -> paired augmentation). A 3504x2336 fundus image is decoded once per run, not once
  per patch.
* :class:`SRPatchDataset` - the map-style dataset behind it (works with shuffling, ``DistributedSampler`` and workers).

Modules: :mod:`.datalist` (splits and datalist JSON), :mod:`.patch_dataset` (the datasets).
"""

from __future__ import annotations

from . import datalist, patch_dataset
from .datalist import *  # noqa: F401,F403
from .patch_dataset import *  # noqa: F401,F403

__all__ = [*datalist.__all__, *patch_dataset.__all__]
