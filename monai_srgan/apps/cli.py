"""The ``monai-srgan`` command line: ``infer`` (folder or file in, SR outputs + report out) and ``export``.

``monai-srgan infer INPUT OUTPUT --bundle bundles/cxr_sr`` finds every image and DICOM series under ``INPUT``
(recursively; DICOM grouped by SeriesInstanceUID), super-resolves each with the shared
:class:`~monai_srgan.inference.pipeline.SRInferencePipeline` through the batch runner
(:func:`monai_srgan.inference.runner.run_batch`), writes the outputs atomically under ``OUTPUT`` and a JSON + CSV
report of every input (status, timing, error). Under ``torchrun --no-python monai-srgan infer ...`` the inputs are
shared between the processes (docs/inference.md "Several processes and nodes"). Exit status: 0 all done, 1 some
input failed (the others are still processed), 2 bad arguments / no input / unwritable output / an earlier run in
OUTPUT, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM, as sent by ``timeout``, systemd, ``docker stop`` and
Slurm).

Options are checked before any input is read; torch and MONAI are imported only after the arguments are parsed, so
``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from monai_srgan.apps.cli_args import _NETWORK_ALIASES, NETWORK_CHOICES, build_parser
from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.inference import batch
from monai_srgan.inference.batch import REPORT_NAME, plan_outputs
from monai_srgan.io.writers.formats import FORMAT_CHOICES
from monai_srgan.selfsup.cli import self_supervised_pipeline

__all__ = ["main", "run_infer", "batch_options", "build_parser", "plan_outputs", "REPORT_NAME", "NETWORK_CHOICES",
           "FORMAT_CHOICES"]  # fmt: skip

logger = logging.getLogger("monai_srgan.cli")


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a device name: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) here")


def _net_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for item in args.net_arg:
        if "=" not in item:
            raise ConfigError(f"--net-arg {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        try:
            kw[k] = json.loads(v)
        except json.JSONDecodeError:
            kw[k] = v
    if args.in_channels is not None:
        kw["in_channels"] = args.in_channels
    return kw


def _build_pipeline(args: argparse.Namespace):
    from monai_srgan.inference.pipeline import SRInferencePipeline

    common = dict(
        tile_size=args.tile_size,
        overlap=args.overlap,
        context=args.context,
        sw_batch_size=args.batch,
        device=args.device,
        dtype=args.dtype,
        compress_level=getattr(args, "compress_level", 1),
        clamp=getattr(args, "clamp", None),
        keep_flat=False if getattr(args, "no_keep_flat", False) else None,
        self_ensemble=True if getattr(args, "self_ensemble", False) else None,  # None: the bundle's setting
    )
    self_supervised = getattr(args, "self_supervised", False)
    if self_supervised and not args.bundle:
        raise ConfigError("--self-supervised needs --bundle (e.g. bundles/ct_mr_sr_3d: normalisation and writers)")
    if self_supervised:  # --scale is the through-plane factor of the training pairs, not the bundle's
        return self_supervised_pipeline(args, SRInferencePipeline.from_bundle(args.bundle, **common))
    if args.bundle:  # the bundle's tile_size/sw_batch_size (e.g. a 3D tile) unless given on the command line
        pipe = SRInferencePipeline.from_bundle(args.bundle, weights=args.weights, scale=args.scale, **common)
    else:
        pipe = SRInferencePipeline.from_model_file(
            args.model, network=args.network, scale=args.scale, network_kwargs=_net_kwargs(args), **common
        )
    if args.expect_scale is not None:
        s = pipe.scale if isinstance(pipe.scale, int) else max(pipe.scale)
        if int(s) != int(args.expect_scale):
            raise ConfigError(
                f"--expect-scale {args.expect_scale} but the model is x{pipe.scale}: "
                "give a model of that scale, or change --expect-scale"
            )
    return pipe


def run_infer(args: argparse.Namespace, pipeline: Any | None = None) -> int:
    """``monai-srgan infer``: the batch runner (:func:`monai_srgan.inference.runner.run_batch`) with the pipeline the
    arguments describe; returns the exit status.

    Args:
        args: the parsed ``infer`` arguments.
        pipeline: an already built pipeline; default: built from ``args``.
    """
    from monai_srgan.inference import pacs
    from monai_srgan.inference.runner import run_batch
    from monai_srgan.io.dicomweb import is_dicomweb_url

    store_to = getattr(args, "store_to", None)
    remote = is_dicomweb_url(args.input)
    if remote or store_to:
        pacs.check_pacs_args(args.input, store_to, args.format)
    if not remote:  # before any model is loaded: refusals answer at once
        from monai_srgan.inference.runner import preflight

        preflight(args.input, args.output, batch_options(args))
    _check_device(args.device)
    if args.device == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:  # torchrun: one GPU per process
        args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    pipe = _build_pipeline(args) if pipeline is None else pipeline
    if remote or store_to:  # docs/inference.md "PACS (DICOMweb)"
        return pacs.run_batch_pacs(pipe, args.input, args.output, batch_options(args), store_to)
    return run_batch(pipe, args.input, args.output, batch_options(args))


def batch_options(args: argparse.Namespace) -> Any:
    """The :class:`~monai_srgan.inference.runner.BatchOptions` of parsed ``infer`` arguments."""
    from monai_srgan.inference.runner import BatchOptions

    writer_kw: dict[str, Any] = {}
    if args.series_number is not None:
        writer_kw["series_number"] = args.series_number
    if args.no_note:
        writer_kw["note"] = None
    elif args.note is not None:
        writer_kw["note"] = args.note
    return BatchOptions(
        format=args.format,
        resume=args.resume,
        overwrite=args.overwrite,
        compare=args.compare,
        uncertainty=getattr(args, "uncertainty", False),
        follow_links=args.follow_links,
        memory_check=not args.no_memory_check,
        progress=not args.no_progress,
        writer_kwargs=writer_kw,
        command="monai-srgan " + " ".join(sys.argv[1:]) if sys.argv else "",
    )


def run_export(args: argparse.Namespace) -> int:
    """``monai-srgan export``: writes the exported model and ``<output>.json`` (scale, channels, receptive field)."""
    from monai_srgan.inference.exported import export_model

    pipe = _build_pipeline_for_export(args)
    out = export_model(pipe, args.output, to=args.to, tile_size=args.tile_size)
    print(f"monai-srgan: exported {out} (+ {out}.json)", file=sys.stderr)
    return 0


def _build_pipeline_for_export(args: argparse.Namespace):
    args.overlap = args.context = None
    args.batch, args.device, args.dtype, args.expect_scale = 1, "cpu", None, None
    return _build_pipeline(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``monai-srgan`` console script; returns (and exits with) the status code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.model and args.network not in NETWORK_CHOICES + _NETWORK_ALIASES:
        parser.error(f"--network {args.network!r}: choose one of {', '.join(NETWORK_CHOICES)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.command == "infer":
            return run_infer(args)
        return run_export(args)
    except (ConfigError, InputFileError) as e:
        print(batch.printable(f"monai-srgan: error: {e}"), file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
