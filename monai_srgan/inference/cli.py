"""The ``monai-srgan`` command line: ``infer`` (folder or file in, SR outputs + report out) and ``export``.

``monai-srgan infer INPUT OUTPUT --bundle bundles/cxr_sr`` finds every image and DICOM series under ``INPUT``
(recursively; DICOM grouped by SeriesInstanceUID), super-resolves each with the shared
:class:`~monai_srgan.inference.pipeline.SRInferencePipeline`, writes the outputs atomically under ``OUTPUT`` and a
JSON + CSV report of every input (status, timing, error). Exit status: 0 all done, 1 some input failed (the others
are still processed), 2 bad arguments / no input / unwritable output / an earlier run in OUTPUT, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM, as sent by ``timeout``, systemd, ``docker stop`` and Slurm).

Options are checked before any input is read; torch and MONAI are imported only after the arguments are parsed, so
``--help`` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.inference import batch, outdir
from monai_srgan.inference.batch import REPORT_NAME, plan_outputs
from monai_srgan.inference.cli_args import _NETWORK_ALIASES, NETWORK_CHOICES, build_parser
from monai_srgan.io.writers.common import TMP_MARKER, replace_atomically
from monai_srgan.io.writers.formats import FORMAT_CHOICES
from monai_srgan.selfsup.cli import self_supervised_pipeline

__all__ = ["main", "build_parser", "plan_outputs", "REPORT_NAME", "NETWORK_CHOICES", "FORMAT_CHOICES"]

logger = logging.getLogger("monai_srgan.cli")

EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


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


class _WarningsOfInput(logging.Handler):
    """Collects what is warned while one input is processed (this package's and pydicom's log warnings, Python
    warnings) for that input's report row, instead of letting it print through the progress bar."""

    _LOGGERS = ("monai_srgan", "pydicom")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self._add(record.getMessage())

    def _add(self, text: str) -> None:
        text = " ".join(str(text).split())
        if text and text not in self.messages:
            self.messages.append(text)

    def __enter__(self) -> _WarningsOfInput:
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._caught = self._catch.__enter__()
        warnings.simplefilter("always")
        self._propagate = {}
        for name in self._LOGGERS:
            lg = logging.getLogger(name)
            self._propagate[name] = lg.propagate
            lg.addHandler(self)
            lg.propagate = False
        return self

    def __exit__(self, *exc: Any) -> None:
        for name, propagate in self._propagate.items():
            lg = logging.getLogger(name)
            lg.removeHandler(self)
            lg.propagate = propagate
        self._catch.__exit__(*exc)
        for w in self._caught:
            self._add(str(w.message))


class _Stopped(KeyboardInterrupt):
    """Raised by the SIGTERM handler so that a terminated run unwinds like Ctrl-C (reports, removes temporaries)."""


def _handle_signals() -> tuple[dict[str, int], dict[int, Any]]:
    caught: dict[str, int] = {}
    previous: dict[int, Any] = {}

    def handler(signum, frame):  # noqa: ARG001 - the signal API's signature
        caught["signal"] = signum
        raise _Stopped()

    for sig in EXIT_SIGNAL:
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (e.g. called from a server): leave signals alone
            pass
    return caught, previous


def _prepare_output(args: argparse.Namespace, output: Path) -> None:
    """Refuse to mix with an earlier run unless ``--resume``/``--overwrite`` say how; keep its report."""
    earlier = batch.previous_run(output)
    if earlier and not (args.resume or args.overwrite):
        raise ConfigError(
            f"output folder '{output}' already holds a {earlier}: use --resume to continue it, --overwrite to redo it, "
            "or choose another output folder"
        )
    if args.resume:
        n = batch.clean_partial(output)
        if n:
            logger.info("removed %d partial output(s) of an interrupted run", n)
    if earlier:
        kept = batch.archive_report(output)
        logger.info("the earlier run's report is kept as %s", kept)


def run_infer(args: argparse.Namespace, pipeline: Any | None = None) -> int:
    """``monai-srgan infer``: returns the exit status.

    Args:
        args: the parsed ``infer`` arguments.
        pipeline: an already built pipeline (a bundle's parsed ``inference.json``); default: built from ``args``.
    """
    input_path, output = Path(args.input), Path(args.output)
    if not input_path.exists():
        raise InputFileError(input_path, "does not exist", "check the input path")
    _check_device(args.device)
    batch.check_output_location(input_path, output)
    with outdir.OutputLock(output):  # one run per output folder: a second one is refused (exit 2)
        pipe = _build_pipeline(args) if pipeline is None else pipeline
        _prepare_output(args, output)
        tmp_before = set(output.rglob(f"{TMP_MARKER}*"))
        caught, previous = _handle_signals()
        try:
            return _run_batch(args, pipe, input_path, output, caught)
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            batch.clean_partial(output, keep=tmp_before)


def _run_batch(args: argparse.Namespace, pipe: Any, input_path: Path, output: Path, caught: dict[str, int]) -> int:
    from monai_srgan.io.discovery import find_inputs

    skipped: list[tuple[str, str]] = []
    with _WarningsOfInput() as found_warnings:  # e.g. a slice split off its series: the summary names them
        items = find_inputs(input_path, recursive=True, skipped=skipped, follow_links=args.follow_links)
    rows: list[dict[str, Any]] = []
    for path, reason in skipped:
        status, reason = batch.classify_skipped(path, reason)
        rows.append(
            {"input": path, "kind": "", "status": status, "error": reason if path in reason else f"{path}: {reason}"}
        )
    scales = pipe.scale if isinstance(pipe.scale, int) else "x".join(str(s) for s in pipe.scale)
    scale_tag = getattr(pipe, "scale_tag", f"x{scales}")
    plans = plan_outputs(items, input_path, output, args.format, scale_tag)
    # the resume record keys on the input, never on the output name (docs/inference.md "Re-runs")
    keys = [outdir.input_key(item.files, f"{fmt} {scale_tag}") for item, (_, fmt) in zip(items, plans)]
    record = outdir.ResumeRecord(output, fresh=not args.resume)
    if args.resume:
        kept, taken = record.kept(keys), list(record.outputs.values())
        plans = plan_outputs(items, input_path, output, args.format, scale_tag, keep=kept, taken=taken)
    summary: dict[str, Any] = {
        "input": str(input_path),
        "output": str(output),
        "model": pipe.model_name,
        "scale": pipe.scale,
        "format": args.format,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": "monai-srgan " + " ".join(sys.argv[1:]) if sys.argv else "",
    }
    if found_warnings.messages:
        summary["warnings"] = found_warnings.messages
    if not items:
        summary.update(ok=0, failed=sum(r["status"] == "failed" for r in rows), skipped=len(rows))
        summary["error"] = f"no images or DICOM series found in '{input_path}'"
        batch.write_report(output, rows, summary)
        print(f"monai-srgan: error: {summary['error']}", file=sys.stderr)
        return 2

    writer_kw: dict[str, Any] = {}
    if args.series_number is not None:
        writer_kw["series_number"] = args.series_number
    if args.no_note:
        writer_kw["note"] = None
    elif args.note is not None:
        writer_kw["note"] = args.note

    from tqdm import tqdm

    interrupted = False
    bar = tqdm(
        list(zip(items, plans, keys)), desc="monai-srgan", unit="input", disable=args.no_progress, file=sys.stderr
    )
    try:
        for item, (out_path, out_fmt), key in bar:
            row: dict[str, Any] = {"input": batch.input_label(item), "kind": item.kind, "output": str(out_path)}
            rows.append(row)
            if args.resume and record.done(key, out_path):
                row.update(status="skipped", error="done by an earlier run: output exists (--resume)")
                continue
            exists = out_path.exists()
            if exists and not args.overwrite:
                row.update(status="failed", error="output exists; not overwritten (use --resume or --overwrite)")
                continue
            t0 = time.perf_counter()
            warned = _WarningsOfInput().__enter__()
            try:
                out_path.parent.mkdir(parents=True, exist_ok=True)
                # progress hook: a tile bar with ETA within large images (monai_srgan.inference.tiling.TileProgress)
                from monai_srgan.inference.tiling import TileProgress

                tiles = TileProgress(desc="  tiles", disable=args.no_progress)
                # loaded here once: the memory check needs its shape, --compare the LR image again
                source = pipe.load(item) if args.compare or hasattr(pipe, "scales_for") else item
                if hasattr(pipe, "scales_for") and not args.no_memory_check:
                    from monai_srgan.inference.formats import output_dtype_for
                    from monai_srgan.inference.memory import check_memory

                    out_dt = output_dtype_for(source.meta, getattr(pipe, "output_dtype", "auto"))
                    check_memory(source.shape, pipe.scales_for(source), out_dt, batch.input_label(item))
                record.add(key, item.files, out_path)  # before the output appears: a kill cannot orphan it
                try:
                    sr = pipe.predict(source, progress=tiles)
                finally:
                    tiles.close()
                if exists:
                    # --overwrite: the old output stays until the new one is complete
                    replace_atomically(out_path, functools.partial(pipe.write, sr, fmt=out_fmt, **writer_kw))
                else:
                    pipe.write(sr, out_path, out_fmt, **writer_kw)
                row.update(
                    status="ok",
                    output_shape=list(sr.shape),
                    scale=sr.meta.get("srgan_sr_scale"),
                    input_shape=[int(sr.shape[0]), *[int(v) for v in _input_spatial(sr)]],
                    clamped_fraction=round(float(sr.meta.get("srgan_clamped_fraction", 0.0)), 6),
                    flat_fraction=round(float(sr.meta.get("srgan_flat_fraction", 0.0)), 6),
                )
                if args.compare:
                    from monai_srgan.inference.compare import write_comparison

                    row["lr_psnr"] = write_comparison(pipe, source, sr, out_path)
                del sr, source
            except Exception as e:  # noqa: BLE001 - nothing raised for one input may stop the others
                row["status"] = "failed"
                row["error"] = batch.describe_failure(e, item, out_path)
                logger.debug("failed %s", row["input"], exc_info=True)
            finally:
                warned.__exit__(None, None, None)
            notes = [*getattr(item, "notes", ()), *(m for m in warned.messages if m not in getattr(item, "notes", ()))]
            prefix = f"{row['input']}: "  # the row names the input once; log records start with it too
            notes = list(dict.fromkeys(m[len(prefix) :] if m.startswith(prefix) else m for m in notes))
            if notes:
                row["warnings"] = "; ".join(notes)
                bar.write(batch.printable(f"  warning: {row['input']}: {row['warnings']}"), file=sys.stderr)
            row["seconds"] = round(time.perf_counter() - t0, 3)
    except KeyboardInterrupt:
        interrupted = True
        how = "terminated (SIGTERM)" if caught.get("signal") == signal.SIGTERM else "interrupted"
        if rows and "status" not in rows[-1]:
            rows[-1].update(status="interrupted", error=f"run {how} while this input was processed; use --resume")
    finally:
        bar.close()
    done = {str(r.get("input")) for r in rows}
    for item, (out_path, _) in zip(items, plans):
        if batch.input_label(item) not in done:
            rows.append(
                {"input": batch.input_label(item), "kind": item.kind, "status": "not run", "output": str(out_path)}
            )
    counts = {s: sum(r.get("status") == s for r in rows) for s in ("ok", "failed", "skipped", "interrupted", "not run")}
    summary.update(counts, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    try:
        batch.write_report(output, rows, summary)
    except OSError as e:
        print(f"monai-srgan: error: could not write the report in '{output}': {e.strerror or e}", file=sys.stderr)
        print(json.dumps(batch.printable(summary), default=str), file=sys.stderr)
        return 1
    msg = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    print(batch.printable(f"monai-srgan: {msg}; report: {output / (REPORT_NAME + '.json')}"), file=sys.stderr)
    for r in rows:
        if r.get("status") == "failed":
            err = str(r.get("error"))
            line = f"  FAILED {err if str(r['input']) in err else str(r['input']) + ': ' + err}"
            print(batch.printable(line), file=sys.stderr)
    if interrupted:
        return EXIT_SIGNAL.get(caught.get("signal", signal.SIGINT), 130)
    return 1 if counts["failed"] else 0


def _input_spatial(sr: Any) -> list[int]:
    s = sr.meta.get("srgan_sr_scale") or [1] * (sr.ndim - 1)
    return [int(n // f) for n, f in zip(sr.shape[1:], s)]


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
