"""Bundle inference driven by the parsed config.

``configs/inference.json`` builds the objects (``network_def`` → ``network`` with the weights → ``pipeline``, an
:class:`~monai_srgan.inference.SRInferencePipeline`) and its ``run`` calls ``@evaluator.run()``: an
:class:`SRBundleInference` that hands *those parsed objects* to the batch runner
(:func:`monai_srgan.inference.runner.run_batch`: reports, resume, derived DICOM, torchrun sharding), so every
``python -m monai.bundle run`` override takes effect and nothing is built twice. The CLI (``--bundle``) and MONAI
Label build the same ``pipeline`` id through :func:`pipeline_from_bundle` (in
:mod:`monai_srgan.inference.bundle_config`, re-exported here with :func:`bundle_path`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError
from monai_srgan.inference import batch
from monai_srgan.inference.bundle_config import BUNDLE_NAMES, bundle_path, bundles_root, pipeline_from_bundle
from monai_srgan.inference.runner import BatchOptions, run_batch
from monai_srgan.io.writers.formats import FORMAT_CHOICES
from monai_srgan.utils.flags import as_flag

__all__ = [
    "BUNDLE_NAMES",
    "bundles_root",
    "bundle_path",
    "pipeline_from_bundle",
    "run_inference",
    "SRBundleInference",
]


def run_inference(
    pipeline: Any,
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    output_format: str = "same",
    compare: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    uncertainty: bool = False,
) -> int:
    """Super-resolve a file, folder or DICOM series with an already built pipeline, as ``monai-srgan infer`` does.

    Same batch as the CLI (inputs found recursively, outputs written atomically, ``srgan_report.json``/``.csv``, a bad
    input reported while the others run); only the pipeline comes from the caller (the parsed bundle config).

    Args:
        pipeline: the :class:`~monai_srgan.inference.SRInferencePipeline` (``inference.json`` id ``pipeline``).
        dataset_dir: input file or folder.
        output_dir: output folder (created).
        output_format: ``same``, ``dicom``, ``png``, ``jpeg``, ``tiff``, ``nifti``.
        compare: also write bicubic | SR | difference figures.
        resume: continue an earlier run in ``output_dir``.
        overwrite: redo an earlier run in ``output_dir``.
        progress: show a progress bar.
        uncertainty: also write the calibrated uncertainty map of each output.

    Returns:
        0 when every input was written.

    Raises:
        ConfigError: ``dataset_dir`` does not exist, bad options, or some inputs failed (see the report).
    """
    if not Path(dataset_dir).exists():
        raise ConfigError(f"dataset_dir='{dataset_dir}' does not exist: set --dataset_dir to an image file or folder")
    if output_format not in FORMAT_CHOICES:
        raise ConfigError(f"output_format='{output_format}': choose one of {', '.join(FORMAT_CHOICES)}")
    options = BatchOptions(
        format=output_format,
        resume=as_flag(resume, "resume"),
        overwrite=as_flag(overwrite, "overwrite"),
        compare=as_flag(compare, "compare"),
        uncertainty=as_flag(uncertainty, "uncertainty"),
        progress=progress,
        command="python -m monai.bundle run " + " ".join(sys.argv[1:]),
    )
    code = run_batch(pipeline, dataset_dir, output_dir, options)
    if code:
        raise ConfigError(
            f"inference failed for some inputs (exit status {code}): see "
            f"{Path(output_dir) / (batch.REPORT_NAME + '.csv')}"
        )
    return code


class SRBundleInference:
    """The ``evaluator`` of the bundles' ``inference.json``: :func:`run_inference` over the ``dataset`` entries.

    Args:
        pipeline: the parsed ``pipeline``.
        dataset: the parsed ``dataset`` (a ``monai.data.Dataset`` whose ``data`` entries are ``{"image": path}`` or
            paths; MONAI Deploy and FL replace ``dataset#data``), or a list of such entries.
        output_dir: output folder; with several entries, one sub-folder per entry (``<index>_<name>``).
        output_format: see :func:`run_inference`.
        compare: see :func:`run_inference`.
        uncertainty: see :func:`run_inference`.
        resume: see :func:`run_inference`.
        overwrite: see :func:`run_inference`.
        image_key: the key of the entries' paths.
    """

    def __init__(
        self,
        pipeline: Any,
        dataset: Any,
        output_dir: str | os.PathLike,
        output_format: str = "same",
        compare: bool = False,
        resume: bool = False,
        overwrite: bool = False,
        image_key: str = "image",
        uncertainty: bool = False,
    ) -> None:
        self.pipeline, self.dataset, self.output_dir = pipeline, dataset, Path(output_dir)
        self.output_format, self.image_key = output_format, image_key
        self.compare, self.uncertainty = as_flag(compare, "compare"), as_flag(uncertainty, "uncertainty")
        self.resume, self.overwrite = as_flag(resume, "resume"), as_flag(overwrite, "overwrite")

    def inputs(self) -> list[str]:
        """The input paths named by the dataset entries."""
        entries = getattr(self.dataset, "data", self.dataset)
        paths = [e[self.image_key] if isinstance(e, Mapping) else e for e in entries]
        if not paths:
            raise ConfigError("dataset#data is empty: set --dataset_dir to an image file or folder")
        return [os.fspath(p) for p in paths]

    def run(self) -> list[Path]:
        """Super-resolve every entry; returns the output folder(s)."""
        paths = self.inputs()
        outs = [self.output_dir] if len(paths) == 1 else [self.output_dir / f"{i}_{Path(p).stem}" for i, p in
                                                           enumerate(paths)]  # fmt: skip
        for src, out in zip(paths, outs):
            run_inference(
                self.pipeline, src, out, self.output_format, self.compare, self.resume, self.overwrite,
                uncertainty=self.uncertainty,
            )  # fmt: skip
        return outs
