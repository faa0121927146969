"""Bundle inference driven by the parsed config, and finding the bundles (repository folder or installed wheel).

``configs/inference.json`` builds the objects (``network_def`` → ``network`` with the weights → ``pipeline``, an
:class:`~monai_srgan.inference.SRInferencePipeline`) and its ``run`` calls ``@evaluator.run()``: an
:class:`SRBundleInference` that hands *those parsed objects* to the ``monai-srgan infer`` batch (reports, resume,
derived DICOM), so every ``python -m monai.bundle run`` override takes effect and nothing is built twice. The CLI
(``--bundle``) and MONAI Label build the same ``pipeline`` id through :func:`pipeline_from_bundle`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

from monai_srgan.errors import ConfigError, InputFileError, project_error
from monai_srgan.inference import batch, cli
from monai_srgan.inference.loading import load_generator
from monai_srgan.inference.pipeline import _as_tuple

__all__ = [
    "BUNDLE_NAMES",
    "bundles_root",
    "bundle_path",
    "pipeline_from_bundle",
    "run_inference",
    "SRBundleInference",
]

#: the bundles this package ships (``monai-srgan infer ... --bundle cxr_sr``)
BUNDLE_NAMES = ("retina_sr", "cxr_sr", "ct_mr_sr_3d")

#: :class:`SRInferencePipeline` keyword arguments that ``from_bundle`` callers (the CLI, MONAI Label) may override
_PIPELINE_ARGS = ("device", "tile_size", "overlap", "context", "sw_batch_size", "dtype", "compress_level", "progress")


def bundles_root() -> Path:
    """The folder holding the shipped bundles: ``monai_srgan/bundles`` in an installed wheel, else the repository's
    ``bundles/`` (source checkout, editable install)."""
    here = Path(__file__).resolve().parents[1]
    installed = here / "bundles"
    if installed.is_dir():
        return installed
    return here.parent / "bundles"


def bundle_path(name_or_path: str | os.PathLike) -> Path:
    """A bundle folder from a path (returned as is when it holds ``configs/``) or a shipped bundle's name.

    Raises:
        ConfigError: neither an existing bundle folder nor the name of a shipped bundle.
    """
    p = Path(name_or_path).expanduser()
    if (p / "configs").is_dir():
        return p
    name = os.fspath(name_or_path)
    if name in BUNDLE_NAMES and (bundles_root() / name / "configs").is_dir():
        return bundles_root() / name
    raise ConfigError(
        f"bundle '{name}' is neither a bundle folder (one holding configs/inference.json) nor a shipped bundle "
        f"name ({', '.join(BUNDLE_NAMES)})"
    )


def pipeline_from_bundle(
    cls: type,
    bundle_dir: str | os.PathLike,
    config_file: str | Sequence[str] | None = None,
    weights: str | os.PathLike | None = None,
    **overrides: Any,
) -> Any:
    """Implementation of :meth:`SRInferencePipeline.from_bundle` (see there); ``bundle_dir`` may be a bundle name.

    With a ``pipeline`` id in the config (the shipped bundles), that component is built with ``bundle_root``,
    ``model_path`` (``weights``) and ``pipeline#<arg>`` (``overrides``) set first; otherwise the pipeline is
    assembled from the ids ``network_def``, ``model_path``, ``normalize``, ``model_name``, ``tile_size``,
    ``tile_overlap``, ``sw_batch_size``, ``in_channels``, ``spatial_dims``.
    """
    bundle_dir = bundle_path(bundle_dir)
    files = config_file or ["configs/inference.json"]
    files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    paths = [Path(f) if Path(f).is_absolute() else bundle_dir / f for f in files]
    for p in paths:
        if not p.is_file():
            raise InputFileError(p, "bundle config not found", f"is '{bundle_dir}' a bundle folder?")
    parser = ConfigParser()
    parser.read_config([str(p) for p in paths])
    parser["bundle_root"] = str(bundle_dir)
    for key in ("network_def", "scale"):
        if key not in parser:
            raise ConfigError(f"bundle config {paths[0]} defines no '{key}' (see docs/inference.md)")
    expected = overrides.pop("scale", None)
    if expected is not None and "weights" in parser and isinstance(parser["scale"], int):
        parser["scale"] = int(expected)  # a 2D bundle picks the weights of the scale asked for (bundle.weights)
    if weights is not None:
        parser["weights" if "weights" in parser else "model_path"] = os.fspath(weights)
    scale = parser.get_parsed_content("scale")
    if expected is not None and _as_tuple(expected) != _as_tuple(scale):
        raise ConfigError(f"scale={expected} was asked for but bundle '{bundle_dir}' is x{scale}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "pipeline" in parser:
        for k, v in given.items():
            parser[f"pipeline#{k}"] = v
        try:
            return parser.get_parsed_content("pipeline")
        except RuntimeError as e:  # MONAI wraps what a config expression raises: show the project's own message
            root = project_error(e)
            if root is None:
                raise
            raise root from None
    if weights is None:
        weights = parser.get_parsed_content("model_path") if "model_path" in parser else None
        weights = weights or bundle_dir / "models" / "model.pt"
    network = load_generator(weights, parser.get_parsed_content("network_def"))
    kw: dict[str, Any] = {"model_name": f"{bundle_dir.name}:{Path(weights).name}"}
    for cfg_id, arg in (
        ("normalize", "normalize"),
        ("model_name", "model_name"),
        ("tile_size", "tile_size"),
        ("tile_overlap", "overlap"),
        ("sw_batch_size", "sw_batch_size"),
        ("in_channels", "in_channels"),
        ("spatial_dims", "spatial_dims"),
    ):
        if cfg_id in parser:
            kw[arg] = parser.get_parsed_content(cfg_id)
    kw.update(given)
    return cls(network, scale, **kw)


def run_inference(
    pipeline: Any,
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    output_format: str = "same",
    compare: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
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

    Returns:
        0 when every input was written.

    Raises:
        ConfigError: ``dataset_dir`` does not exist, bad options, or some inputs failed (see the report).
    """
    if not Path(dataset_dir).exists():
        raise ConfigError(f"dataset_dir='{dataset_dir}' does not exist: set --dataset_dir to an image file or folder")
    argv = ["infer", os.fspath(dataset_dir), os.fspath(output_dir), "--bundle", "(parsed config)"]
    argv += ["--format", str(output_format), "--device", str(pipeline.device)]
    argv += ["--compare"] * bool(compare) + ["--resume"] * bool(resume) + ["--overwrite"] * bool(overwrite)
    argv += [] if progress else ["--no-progress"]
    try:
        args = cli.build_parser().parse_args(argv)
    except SystemExit as e:
        raise ConfigError(f"bad inference settings (output_format='{output_format}'?): see the message above") from e
    code = cli.run_infer(args, pipeline)
    output = Path(args.output)
    if code:
        raise ConfigError(
            f"inference failed for some inputs (exit status {code}): see {output / (batch.REPORT_NAME + '.csv')}"
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
    ) -> None:
        self.pipeline, self.dataset, self.output_dir = pipeline, dataset, Path(output_dir)
        self.output_format, self.compare, self.resume, self.overwrite = output_format, compare, resume, overwrite
        self.image_key = image_key

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
            run_inference(self.pipeline, src, out, self.output_format, self.compare, self.resume, self.overwrite)
        return outs
