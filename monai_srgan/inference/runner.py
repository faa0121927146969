"""The batch runner: the one entry that turns a file, folder or DICOM series into SR outputs and a report.

``monai-srgan infer``, the bundles' ``inference.json`` (:class:`monai_srgan.bundle.SRBundleInference`), the
self-supervised mode and every torchrun shard call :func:`run_batch`, which hands each input to
:func:`monai_srgan.inference.one_input.process_input`; MONAI Label calls the same pipeline and uncertainty code for
its one image. What a run guarantees (docs/inference.md "Command line"): outputs written atomically, a bad input
reported while the others run, ``--resume`` keyed on the input, one run per output folder, Ctrl-C/SIGTERM leave a
report and no partial file.

**Scale-out.** Under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is started from torchrun's environment
(gloo on CPUs, NCCL on GPUs; :func:`monai_srgan.engines.distributed.init_distributed`) and the inputs — a DICOM
series counts as one — are split with MONAI's :func:`monai.data.partition_dataset` (rank ``r`` takes inputs
``r, r + N, ...`` of the sorted list), so each is processed by exactly one rank with the same output name a single
process would give. Rank 0 holds the run lock, prepares the folder and writes the one merged report (rows carry the
``rank`` that did them); ``--resume`` skips what any rank finished. An interrupted rank leaves
``srgan_report.rank<r>.json`` with its rows.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError, SRGANError
from monai_srgan.inference import batch, outdir
from monai_srgan.inference.batch import REPORT_NAME, plan_outputs
from monai_srgan.inference.one_input import WarningsOfInput, process_input
from monai_srgan.io.writers.common import TMP_MARKER

__all__ = ["BatchOptions", "preflight", "run_batch", "EXIT_SIGNAL"]

logger = logging.getLogger("monai_srgan.cli")

EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class BatchOptions:
    """How a batch runs (the ``monai-srgan infer`` options that are not about the model).

    Attributes:
        format: output format (``same``, ``dicom``, ``png``, ``jpeg``, ``tiff``, ``nifti``).
        resume: continue an earlier run in the output folder.
        overwrite: redo an earlier run (each output replaced atomically).
        compare: also write the comparison figures.
        uncertainty: also write the calibrated one-SD map of each output (docs/inference.md "Uncertainty").
        follow_links: follow symbolic links that lead out of the input.
        memory_check: refuse an input whose output and working memory do not fit in free memory.
        progress: progress bars (on a terminal; one line per input otherwise).
        writer_kwargs: keyword arguments of the writers (``series_number``, ``note``).
        command: the command line recorded in the report.
        after_output: called as ``after_output(row, out_path)`` on the rank that did it, for each input whose output
            is there (``ok``, or ``skipped`` as done by an earlier run with ``resume``); it may add report fields or
            turn the row ``failed`` (e.g. the PACS store of ``--store-to``, :mod:`monai_srgan.inference.pacs`).
    """

    format: str = "same"
    resume: bool = False
    overwrite: bool = False
    compare: bool = False
    uncertainty: bool = False
    follow_links: bool = False
    memory_check: bool = True
    progress: bool = True
    writer_kwargs: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    after_output: Callable[[dict[str, Any], Path], None] | None = None


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


def preflight(input_path: str | Path, output: str | Path, options: BatchOptions) -> None:
    """The refusals that need no model: a missing input, an output folder that is unusable, in use by another run,
    or holds an earlier run without ``resume``/``overwrite``. Callers run it before loading a model (a refusal then
    takes a fraction of a second); :func:`run_batch` runs it again.

    Raises:
        InputFileError, ConfigError: one line naming the path and what to do.
    """
    from monai_srgan.errors import InputFileError

    input_path, output = Path(input_path), Path(output)
    if not input_path.exists():
        raise InputFileError(input_path, "does not exist", "check the input path")
    batch.check_output_location(input_path, output)
    batch.refuse_earlier_run(output, options.resume, options.overwrite)
    if (output / outdir.RUN_LOCK_NAME).exists():
        with outdir.OutputLock(output):  # refused at once when another run holds it; released right away
            pass


def _prepare_output(options: BatchOptions, output: Path) -> None:
    """Refuse to mix with an earlier run unless ``resume``/``overwrite`` say how; keep its report."""
    earlier = batch.refuse_earlier_run(output, options.resume, options.overwrite)
    if options.resume:
        n = batch.clean_partial(output)
        if n:
            logger.info("removed %d partial output(s) of an interrupted run", n)
    if earlier:
        kept = batch.archive_report(output)
        logger.info("the earlier run's report is kept as %s", kept)


class _Ranks:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun): a
    :class:`~monai_srgan.engines.distributed.ProcessShard` plus what the batch needs on top of it."""

    def __init__(self, device: Any) -> None:
        from monai_srgan.engines.distributed import ProcessShard

        self.shard = ProcessShard(str(device or "cpu"))
        self.active, self.rank, self.world = self.shard.active, self.shard.rank, self.shard.world
        self.barrier, self.broadcast, self.close = self.shard.barrier, self.shard.broadcast, self.shard.close

    def on_rank0(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on rank 0 only; every rank raises the project error it raised there (no rank waits forever)."""
        message = None
        if self.rank == 0:
            try:
                fn()
            except SRGANError as e:
                message = str(e)
        message = self.broadcast(message)
        if message is not None:
            raise ConfigError(message)

    def gather_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Every rank's rows on rank 0 (``None`` elsewhere)."""
        got = self.shard.gather(rows)
        return None if got is None else [r for part in got for r in part]


def run_batch(pipe: Any, input_path: str | Path, output: str | Path, options: BatchOptions | None = None) -> int:
    """Super-resolve every input under ``input_path`` into ``output``; returns the exit status.

    Args:
        pipe: an :class:`~monai_srgan.inference.pipeline.SRInferencePipeline` (or an object with its ``load``,
            ``predict``, ``write``, ``scale``, ``model_name``, e.g. the self-supervised pipeline).
        input_path: a file, a DICOM series folder or a folder searched recursively.
        output: the output folder (created; must not be inside the input nor hold it).
        options: see :class:`BatchOptions`.

    Returns:
        0 every input done (or skipped), 1 some input failed, 2 no input found, 130/143 interrupted/terminated.

    Raises:
        ConfigError, InputFileError: the run cannot start (input missing, output unusable or in use, an earlier run
            there without ``resume``/``overwrite``).
    """
    from monai_srgan.errors import InputFileError

    options = options or BatchOptions()
    input_path, output = Path(input_path), Path(output)
    if not input_path.exists():
        raise InputFileError(input_path, "does not exist", "check the input path")
    error_model = None
    if options.uncertainty:  # before anything is written: weights without a calibration stop the run (exit 2)
        from monai_srgan.inference.uncertainty import pipeline_error_model

        error_model = pipeline_error_model(pipe)
    ranks = _Ranks(getattr(pipe, "device", "cpu"))
    lock = outdir.OutputLock(output)
    ranks.on_rank0(lambda: batch.check_output_location(input_path, output))
    ranks.on_rank0(lock.__enter__)  # one run per output folder: a second one is refused (exit 2)
    try:
        ranks.on_rank0(lambda: _prepare_output(options, output))
        if ranks.rank == 0:
            outdir.ResumeRecord(output, fresh=not options.resume)  # a fresh run starts an empty record
        ranks.barrier()
        tmp_before = set(output.rglob(f"{TMP_MARKER}*"))
        caught, previous = _handle_signals()
        try:
            code = _run(pipe, input_path, output, options, ranks, caught, error_model)
            if code not in EXIT_SIGNAL.values():  # an interrupted rank's peers may be gone: no last barrier
                ranks.close()
            return code
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            batch.clean_partial(output, keep=tmp_before)
    finally:
        if ranks.rank == 0:
            lock.__exit__(None, None, None)


def _run(
    pipe: Any,
    input_path: Path,
    output: Path,
    options: BatchOptions,
    ranks: _Ranks,
    caught: dict[str, int],
    error_model: Any = None,
) -> int:
    from monai_srgan.io.discovery import find_inputs

    skipped: list[tuple[str, str]] = []
    with WarningsOfInput() as found_warnings:  # e.g. a slice split off its series: the summary names them
        items = find_inputs(input_path, recursive=True, skipped=skipped, follow_links=options.follow_links)
    rows: list[dict[str, Any]] = []
    if ranks.rank == 0:
        for path, reason in skipped:
            status, reason = batch.classify_skipped(path, reason)
            text = reason if path in reason else f"{path}: {reason}"
            rows.append({"input": path, "kind": "", "status": status, "error": text, "rank": 0})
    scales = pipe.scale if isinstance(pipe.scale, int) else "x".join(str(s) for s in pipe.scale)
    scale_tag = getattr(pipe, "scale_tag", f"x{scales}")
    plans = plan_outputs(items, input_path, output, options.format, scale_tag)
    # the resume record keys on the input, never on the output name (docs/inference.md "Re-runs")
    keys = [outdir.input_key(item.files, f"{fmt} {scale_tag}") for item, (_, fmt) in zip(items, plans)]
    record = outdir.ResumeRecord(output)
    if options.resume:
        kept, taken = record.kept(keys), list(record.outputs.values())
        plans = plan_outputs(items, input_path, output, options.format, scale_tag, keep=kept, taken=taken)
    summary: dict[str, Any] = {
        "input": str(input_path),
        "output": str(output),
        "model": pipe.model_name,
        "scale": pipe.scale,
        "format": options.format,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": options.command,
    }
    if ranks.world > 1:
        summary["ranks"] = ranks.world
    if found_warnings.messages:
        summary["warnings"] = found_warnings.messages
    if not items:
        if ranks.rank == 0:
            summary.update(ok=0, failed=sum(r["status"] == "failed" for r in rows), skipped=len(rows))
            summary["error"] = f"no images or DICOM series found in '{input_path}'"
            batch.write_report(output, rows, summary)
            print(f"monai-srgan: error: {summary['error']}", file=sys.stderr)
        return 2
    mine = ranks.shard.indices(len(items))

    from tqdm import tqdm

    interrupted = False
    desc = "monai-srgan" if ranks.world == 1 else f"monai-srgan rank {ranks.rank}"
    # on a terminal: bars; in a log (not a terminal): one line per input instead of a line per bar update
    live = options.progress and sys.stderr.isatty()
    bar = tqdm(mine, desc=desc, unit="input", disable=not live, file=sys.stderr)
    try:
        for k, i in enumerate(bar, 1):
            item, (out_path, out_fmt), key = items[i], plans[i], keys[i]
            row: dict[str, Any] = {"input": batch.input_label(item), "kind": item.kind, "output": str(out_path)}
            row["rank"] = ranks.rank
            row["_index"] = i
            rows.append(row)
            if options.resume and record.done(key, out_path):
                row.update(status="skipped", error="done by an earlier run: output exists (--resume)")
                _after_output(options, row, out_path)
                continue
            exists = out_path.exists()
            if exists and not options.overwrite:
                row.update(status="failed", error="output exists; not overwritten (use --resume or --overwrite)")
                continue
            t0 = time.perf_counter()
            row.update(process_input(pipe, item, out_path, out_fmt, options, record, key, exists, error_model))
            if row.get("status") == "failed" and not out_path.exists():
                row["output"] = None  # never name a file that was not written
            if row.get("warnings"):
                bar.write(batch.printable(f"  warning: {row['input']}: {row['warnings']}"), file=sys.stderr)
            row["seconds"] = round(time.perf_counter() - t0, 3)
            _after_output(options, row, out_path)
            if options.progress and not live:
                line = f"{desc}: [{k}/{len(mine)}] {row['input']}: {row.get('status')} ({row['seconds']:.1f} s)"
                print(batch.printable(line), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        how = "terminated (SIGTERM)" if caught.get("signal") == signal.SIGTERM else "interrupted"
        if rows and "status" not in rows[-1]:
            rows[-1].update(status="interrupted", error=f"run {how} while this input was processed; use --resume")
    finally:
        bar.close()
    done = {r.get("_index") for r in rows}
    for i in mine:
        if i not in done:
            item, (out_path, _) = items[i], plans[i]
            rows.append(
                {
                    "input": batch.input_label(item),
                    "kind": item.kind,
                    "status": "not run",
                    "output": str(out_path),
                    "rank": ranks.rank,
                    "_index": i,
                }
            )
    if interrupted and ranks.world > 1:  # the other ranks may be gone: no collective, this rank's rows on disk
        part = output / f"{REPORT_NAME}.rank{ranks.rank}.json"
        text = json.dumps(batch.printable({"summary": summary, "inputs": _clean(rows)}), indent=2, default=str)
        part.write_text(text, encoding="utf-8")
        return EXIT_SIGNAL.get(caught.get("signal", signal.SIGINT), 130)
    merged = ranks.gather_rows(rows)
    code = 0
    if merged is not None:
        merged.sort(key=lambda r: (r.get("_index", -1), str(r.get("input"))))
        code = _finish(output, _clean(merged), summary, interrupted, caught)
    return int(ranks.broadcast(code))


def _after_output(options: BatchOptions, row: dict[str, Any], out_path: Path) -> None:
    """``options.after_output`` for a row whose output is there; what it raises fails the row, not the batch."""
    if options.after_output is None or row.get("status") not in ("ok", "skipped"):
        return
    try:
        options.after_output(row, out_path)
    except Exception as e:  # noqa: BLE001 - nothing raised for one input may stop the others
        row.update(status="failed", error=str(e) if isinstance(e, SRGANError) else f"{type(e).__name__}: {e}")


def _clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def _finish(
    output: Path, rows: list[dict[str, Any]], summary: dict[str, Any], interrupted: bool, caught: dict[str, int]
) -> int:
    counts = {s: sum(r.get("status") == s for r in rows) for s in ("ok", "failed", "skipped", "interrupted", "not run")}
    summary.update(counts, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    try:
        batch.write_report(output, rows, summary)
    except OSError as e:
        print(f"monai-srgan: error: could not write the report in '{output}': {e.strerror or e}", file=sys.stderr)
        print(json.dumps(batch.printable(summary), default=str), file=sys.stderr)
        return 1
    for stale in output.glob(f"{REPORT_NAME}.rank*.json"):  # rows of an interrupted torchrun job, now merged
        stale.unlink(missing_ok=True)
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
