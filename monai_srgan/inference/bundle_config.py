"""Finding a bundle (repository folder or installed wheel) and building its inference pipeline from its config.

``configs/inference.json`` builds the objects (``network_def`` → ``network`` with the weights → ``pipeline``, an
:class:`~monai_srgan.inference.SRInferencePipeline`); :func:`pipeline_from_bundle` builds that ``pipeline`` id with
the caller's overrides (the ``monai-srgan`` command's ``--bundle``, MONAI Label). It lives in the inference layer so
that :meth:`SRInferencePipeline.from_bundle` needs nothing above it; ``monai_srgan.bundle`` re-exports it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

from monai_srgan.errors import ConfigError, InputFileError, project_error
from monai_srgan.inference.formats import scale_tuple
from monai_srgan.inference.loading import load_generator

__all__ = ["BUNDLE_NAMES", "bundles_root", "bundle_path", "pipeline_from_bundle", "GAN_WARNING"]

logger = logging.getLogger(__name__)

#: what a user of ``--weights gan`` is told (docs/results.md "Do the GAN weights invent vessels?")
GAN_WARNING = (
    "--weights gan: sharper than the default PSNR weights, but they add texture the input does not hold: fine "
    "detail, and synthesised grain where the weights carry it (retina: hallucination score about 3x the PSNR "
    "weights' on held-out photographs, docs/results.md); "
    "use the default weights where fidelity matters more than sharpness"
)

#: the bundles this package ships (``monai-srgan infer ... --bundle cxr_sr``)
BUNDLE_NAMES = ("retina_sr", "cxr_sr", "ct_mr_sr_3d")


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
    ``tile_overlap``, ``sw_batch_size``, ``in_channels``, ``spatial_dims``, ``self_ensemble``.
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
    if "weights" in parser and parser["weights"] == "gan":
        logger.warning(GAN_WARNING)
    scale = parser.get_parsed_content("scale")
    if expected is not None and scale_tuple(expected) != scale_tuple(scale):
        raise ConfigError(f"scale={expected} was asked for but bundle '{bundle_dir}' is x{scale}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if "pipeline" in parser:
        for k, v in given.items():
            parser[f"pipeline#{k}"] = v
        try:
            pipe = parser.get_parsed_content("pipeline")
            if "model_path" in parser and getattr(pipe, "weights_path", None) is None:
                pipe.weights_path = os.fspath(parser.get_parsed_content("model_path"))
            return pipe
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
        ("self_ensemble", "self_ensemble"),
    ):
        if cfg_id in parser:
            kw[arg] = parser.get_parsed_content(cfg_id)
    kw.update(given)
    pipe = cls(network, scale, **kw)
    pipe.weights_path = os.fspath(weights)
    return pipe
