"""The ``monai-srgan`` command line: ``infer`` (folder or file in, SR outputs + report out) and ``export``.

``monai-srgan infer INPUT OUTPUT --bundle bundles/cxr_sr`` finds every image and DICOM series under ``INPUT``
(recursively; DICOM grouped by SeriesInstanceUID), super-resolves each with the shared
:class:`~monai_srgan.inference.pipeline.SRInferencePipeline`, writes the outputs atomically under ``OUTPUT`` and a
JSON + CSV report of every input (status, timing, error). Exit status: 0 all done, 1 some input failed (the others
are still processed), 2 bad arguments / no input / unwritable output, 130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.inference.writers._common import TMP_MARKER, atomic_write_file, sanitize_name

__all__ = ["main", "build_parser", "plan_outputs", "REPORT_NAME"]

logger = logging.getLogger("monai_srgan.cli")

REPORT_NAME = "srgan_report"
_SKIP_REASONS = ("not an image file", "DICOMDIR", "DICOM without pixel data")
REPORT_FIELDS = [
    "input",
    "kind",
    "status",
    "output",
    "seconds",
    "input_shape",
    "output_shape",
    "scale",
    "lr_psnr",
    "error",
]


# --------------------------------------------------------------------------------------------------- arguments
def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (one of --bundle / --model)")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundle", help="MONAI bundle folder (configs/inference.json + models/model.pt)")
    src.add_argument("--model", help="weight file (.pt checkpoint/state dict) or exported model (.ts, .onnx)")
    g.add_argument("--network", default="srresnet", help="generator registry name for --model (default srresnet)")
    g.add_argument("--scale", type=int, help="SR factor of --model; with --bundle, checked against the bundle's")
    g.add_argument("--in-channels", type=int, default=None, help="input channels of --model (default 1)")
    g.add_argument(
        "--net-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra generator constructor argument for --model (JSON value), repeatable",
    )
    g.add_argument("--weights", help="with --bundle: use this weight file instead of models/model.pt")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``monai-srgan`` (sub-commands ``infer`` and ``export``)."""
    parser = argparse.ArgumentParser(prog="monai-srgan", description="GAN super-resolution of medical images.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    inf = sub.add_parser("infer", help="super-resolve a file or a folder (DICOM series, PNG/JPEG/TIFF, NIfTI)")
    inf.add_argument("input", help="file, DICOM series folder or folder searched recursively")
    inf.add_argument("output", help="output folder (created; must not be inside the input, nor hold it)")
    _add_model_args(inf)
    inf.add_argument("--expect-scale", type=int, help="fail unless the model's scale is this")
    inf.add_argument("--format", default="same", help="same (default), dicom, png, jpeg, tiff, nifti")
    inf.add_argument(
        "--tile-size", type=int, default=None, help="tile size, input px (default: the bundle's tile_size, else 192)"
    )
    inf.add_argument("--overlap", type=int, default=None, help="tile overlap, input pixels (default: receptive field)")
    inf.add_argument(
        "--context", type=int, default=None, help="context pixels per tile side (default: receptive field)"
    )
    inf.add_argument(
        "--batch", type=int, default=None, help="tiles per generator call (default: the bundle's sw_batch_size, else 4)"
    )
    inf.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    inf.add_argument("--dtype", default=None, help="generator dtype: float32 (default), float16, bfloat16")
    inf.add_argument("--compare", action="store_true", help="also write bicubic|SR|difference PNG and LR residual map")
    inf.add_argument("--resume", action="store_true", help="skip inputs whose output exists; clean partial leftovers")
    inf.add_argument("--series-number", type=int, default=None, help="SeriesNumber of derived DICOM series")
    inf.add_argument("--note", default=None, help="DICOM ImageComments note (default: not for diagnostic use)")
    inf.add_argument("--no-note", action="store_true", help="write no ImageComments note")
    inf.add_argument("--no-progress", action="store_true", help="no progress bar")

    exp = sub.add_parser("export", help="export a generator to TorchScript or ONNX (+ a .json sidecar)")
    exp.add_argument("output", help="output file (.ts / .pt for TorchScript, .onnx for ONNX)")
    _add_model_args(exp)
    exp.add_argument("--to", choices=("torchscript", "onnx"), default=None, help="default: from the file extension")
    exp.add_argument("--tile-size", type=int, default=64, help="example input size used for tracing (default 64)")
    return parser


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
    )
    if args.bundle:  # the bundle's tile_size/sw_batch_size (e.g. a 3D tile) unless given on the command line
        pipe = SRInferencePipeline.from_bundle(args.bundle, weights=args.weights, scale=args.scale, **common)
    else:
        common["tile_size"] = 192 if common["tile_size"] is None else common["tile_size"]
        common["sw_batch_size"] = 4 if common["sw_batch_size"] is None else common["sw_batch_size"]
        pipe = SRInferencePipeline.from_model_file(
            args.model, network=args.network, scale=args.scale, network_kwargs=_net_kwargs(args), **common
        )
    if args.expect_scale is not None:
        s = pipe.scale if isinstance(pipe.scale, int) else max(pipe.scale)
        if int(s) != int(args.expect_scale):
            raise ConfigError(f"--expect-scale {args.expect_scale} but the model is x{pipe.scale}")
    return pipe


# --------------------------------------------------------------------------------------------------- planning
def _is_within(a: Path, b: Path) -> bool:
    try:
        a.relative_to(b)
        return True
    except ValueError:
        return False


def check_output_location(input_path: Path, output: Path) -> None:
    """Refuse an output folder that is the input, inside the input folder, or holds the input."""
    inp, out = input_path.resolve(), output.resolve()
    if inp == out or (inp.is_dir() and _is_within(out, inp)):
        raise ConfigError(f"output folder '{output}' is inside the input '{input_path}': choose a folder outside it")
    if _is_within(inp, out):
        raise ConfigError(f"output folder '{output}' contains the input '{input_path}': choose another folder")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output '{output}' exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f"{TMP_MARKER}probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"output folder '{output}' is not writable ({e.strerror or e})") from e


def _dicom_uid_name(item: Any) -> str:
    """A name from UIDs only: the series UID (+ a short hash of the SOP instance for single files)."""
    import pydicom

    uid = item.series_uid
    sop = None
    if item.kind == "dicom":
        try:
            ds = pydicom.dcmread(item.files[0], stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
            sop = str(ds.get("SOPInstanceUID", "") or "")
        except Exception:  # noqa: BLE001 - unreadable files fail later with a proper message
            sop = None
    if not uid:
        uid = "dicom_" + hashlib.sha1(item.files[0].encode()).hexdigest()[:12]
    name = sanitize_name(uid)
    if item.kind == "dicom" and sop:
        name += "_" + hashlib.sha1(sop.encode()).hexdigest()[:8]
    return name


def plan_outputs(items: Sequence[Any], input_root: Path, output: Path, fmt: str, scale_tag: str) -> list[Path]:
    """Output path per input, inside ``output`` and unique.

    DICOM inputs are named from UIDs (``<SeriesInstanceUID>_x4``) directly under ``output`` (folder names in PACS
    exports often hold patient names); other files keep their relative folder, every part sanitized.
    """
    from monai_srgan.inference.pipeline import FORMAT_EXTENSIONS

    used: set[str] = set()
    plans = []
    root = input_root if input_root.is_dir() else input_root.parent
    for item in items:
        kind = item.kind
        if kind in ("dicom", "dicom_series"):
            rel_dir: list[str] = []
            stem = _dicom_uid_name(item)
        else:
            f = Path(item.files[0])
            try:
                rel = f.resolve().parent.relative_to(root.resolve())
                rel_dir = [sanitize_name(p) for p in rel.parts]
            except ValueError:
                rel_dir = []
            stem = sanitize_name(item.name)
        out_fmt = fmt
        if fmt == "same":
            out_fmt = {"dicom": "dicom", "dicom_series": "dicom", "nifti": "nifti"}.get(kind)
            if out_fmt is None:
                ext = Path(item.files[0]).suffix.lower()
                out_fmt = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}.get(
                    ext, "png"
                )
        ext = FORMAT_EXTENSIONS[out_fmt]
        base = f"{stem}_{scale_tag}"
        candidate = "/".join([*rel_dir, base + ext])
        k = 2
        while candidate.lower() in used:
            candidate = "/".join([*rel_dir, f"{base}_{k}{ext}"])
            k += 1
        used.add(candidate.lower())
        path = output.joinpath(*candidate.split("/"))
        if not _is_within(path.resolve(), output.resolve()):  # cannot happen with sanitized parts; belt and braces
            raise ConfigError(f"output name {candidate!r} would escape the output folder")
        plans.append((path, out_fmt))
    return plans


def _clean_partial(output: Path) -> int:
    n = 0
    for p in sorted(output.rglob(f"{TMP_MARKER}*"), reverse=True):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


def _write_report(output: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    def _json(tmp: Path) -> None:
        tmp.write_text(json.dumps({"summary": summary, "inputs": rows}, indent=2, default=str))

    def _csv(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=REPORT_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in REPORT_FIELDS})

    atomic_write_file(output / f"{REPORT_NAME}.json", _json, overwrite=True)
    atomic_write_file(output / f"{REPORT_NAME}.csv", _csv, overwrite=True)


# --------------------------------------------------------------------------------------------------- commands
def _classify_skipped(path: str, reason: str) -> tuple[str, str]:
    """``("skipped", reason)`` for files that are not images; ``("failed", why)`` for broken ones.

    A DICOM object "without pixel data" is a normal member of a PACS export (structured report, presentation
    state) only when it also has no image attributes; with Rows/Columns, or without a SOP class, it is a truncated or
    corrupt image and counts as a failure.
    """
    if not reason.startswith(_SKIP_REASONS):
        return "failed", reason
    if reason.startswith("DICOM without pixel data"):
        import pydicom

        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            has_image_attrs = "Rows" in ds or "Columns" in ds
            has_class = "SOPClassUID" in ds
        except Exception:  # noqa: BLE001
            has_image_attrs, has_class = False, False
        if has_image_attrs:
            return "failed", "image header (Rows/Columns) but no readable pixel data: truncated or corrupt file"
        if not has_class:
            return "failed", "not a valid DICOM object (no SOP class, no pixel data): corrupt file"
    return "skipped", reason


def _input_label(item: Any) -> str:
    files = item.files
    return files[0] if len(files) == 1 else os.path.commonpath(files)


def run_infer(args: argparse.Namespace) -> int:
    """``monai-srgan infer``: returns the exit status."""
    from monai_srgan.transforms.io import find_inputs

    input_path, output = Path(args.input), Path(args.output)
    if not input_path.exists():
        raise ConfigError(f"input '{input_path}' does not exist")
    check_output_location(input_path, output)
    if args.resume:
        n = _clean_partial(output)
        if n:
            logger.info("removed %d partial output(s) of an interrupted run", n)
    pipe = _build_pipeline(args)

    skipped: list[tuple[str, str]] = []
    items = find_inputs(input_path, recursive=True, skipped=skipped)
    rows: list[dict[str, Any]] = []
    for path, reason in skipped:
        status, reason = _classify_skipped(path, reason)
        rows.append({"input": path, "kind": "", "status": status, "error": f"{path}: {reason}"})
    scales = pipe.scale if isinstance(pipe.scale, int) else "x".join(str(s) for s in pipe.scale)
    scale_tag = f"x{scales}"
    plans = plan_outputs(items, input_path, output, args.format, scale_tag)
    summary: dict[str, Any] = {
        "input": str(input_path),
        "output": str(output),
        "model": pipe.model_name,
        "scale": pipe.scale,
        "format": args.format,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if not items:
        summary.update(ok=0, failed=sum(r["status"] == "failed" for r in rows), skipped=len(rows))
        summary["error"] = f"no images or DICOM series found in '{input_path}'"
        _write_report(output, rows, summary)
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
    bar = tqdm(list(zip(items, plans)), desc="monai-srgan", unit="input", disable=args.no_progress, file=sys.stderr)
    try:
        for item, (out_path, out_fmt) in bar:
            row: dict[str, Any] = {"input": _input_label(item), "kind": item.kind, "output": str(out_path)}
            rows.append(row)
            if out_path.exists():
                if args.resume:
                    row["status"] = "skipped"
                    row["error"] = "output exists (--resume)"
                else:
                    row["status"] = "failed"
                    row["error"] = "output exists; not overwritten (use --resume or another output folder)"
                continue
            t0 = time.perf_counter()
            try:
                out_path.parent.mkdir(parents=True, exist_ok=True)
                sr = pipe.predict(item)
                pipe.write(sr, out_path, out_fmt, **writer_kw)
                row.update(
                    status="ok",
                    output_shape=list(sr.shape),
                    scale=sr.meta.get("srgan_sr_scale"),
                    input_shape=[int(sr.shape[0]), *[int(v) for v in _input_spatial(sr)]],
                )
                if args.compare:
                    from monai_srgan.inference.compare import write_comparison

                    row["lr_psnr"] = write_comparison(pipe, item, sr, out_path)
                del sr
            except (InputFileError, ConfigError, FileExistsError, OSError, ValueError, RuntimeError) as e:
                row["status"] = "failed"
                row["error"] = _message(e, item)
                logger.debug("failed %s", row["input"], exc_info=True)
            row["seconds"] = round(time.perf_counter() - t0, 3)
    except KeyboardInterrupt:
        interrupted = True
        if rows and "status" not in rows[-1]:
            rows[-1].update(status="interrupted", error="run interrupted; use --resume")
    finally:
        bar.close()
    done = {str(r.get("input")) for r in rows}
    for item, (out_path, _) in zip(items, plans):
        if _input_label(item) not in done:
            rows.append({"input": _input_label(item), "kind": item.kind, "status": "not run", "output": str(out_path)})
    counts = {s: sum(r.get("status") == s for r in rows) for s in ("ok", "failed", "skipped", "interrupted", "not run")}
    summary.update(counts, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    _write_report(output, rows, summary)
    msg = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    print(f"monai-srgan: {msg}; report: {output / (REPORT_NAME + '.json')}", file=sys.stderr)
    for r in rows:
        if r.get("status") == "failed":
            err = str(r.get("error"))
            print(f"  FAILED {err if str(r['input']) in err else str(r['input']) + ': ' + err}", file=sys.stderr)
    if interrupted:
        return 130
    return 1 if counts["failed"] else 0


def _input_spatial(sr: Any) -> list[int]:
    s = sr.meta.get("srgan_sr_scale") or [1] * (sr.ndim - 1)
    return [int(n // f) for n, f in zip(sr.shape[1:], s)]


def _message(e: BaseException, item: Any) -> str:
    text = str(e)
    label = _input_label(item)
    if isinstance(e, InputFileError) and e.path:
        return text
    return f"{label}: {text}" if label not in text else text


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
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.command == "infer":
            return run_infer(args)
        return run_export(args)
    except (ConfigError, InputFileError) as e:
        print(f"monai-srgan: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
