"""Bookkeeping of a ``monai-srgan infer`` batch: where outputs go, the report, and what a failure tells the user.

Output names are unique and stay inside the output folder; an earlier run's report is never destroyed (it is kept
as ``srgan_report.<started>.json``); every exception raised while one input is handled becomes a report row that
names the file, says what went wrong and what to do (:func:`describe_failure`).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.io.files import RUN_REPORT_NAME
from monai_srgan.io.writers.common import TMP_MARKER, atomic_write_file, sanitize_name
from monai_srgan.io.writers.formats import FORMAT_EXTENSIONS, output_format_for

__all__ = [
    "REPORT_NAME",
    "REPORT_FIELDS",
    "PACS_CACHE",
    "check_output_location",
    "plan_outputs",
    "clean_partial",
    "previous_run",
    "refuse_earlier_run",
    "archive_report",
    "write_report",
    "classify_skipped",
    "input_label",
    "describe_failure",
    "printable",
]

REPORT_NAME = RUN_REPORT_NAME
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
    "clamped_fraction",
    "flat_fraction",
    "uncertainty",
    "uncertainty_mean",
    "uncertainty_high_fraction",
    "selfsup",
    "rank",
    "source",
    "stored",
    "stored_series",
    "error",
    "warnings",
]
#: folder in OUTPUT that holds what was retrieved from a PACS (``monai-srgan infer http://...``): an input allowed there
PACS_CACHE = ".srgan-pacs"
_SKIP_REASONS = (
    "not an image file",
    "DICOMDIR",
    "DICOM without pixel data",
    "symbolic link loop",
    "broken symbolic link",
    "symbolic link out of the input",
    "output of an earlier monai-srgan run",
)


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
    if _is_within(inp, out) and not _is_within(inp, out / PACS_CACHE):
        raise ConfigError(f"output folder '{output}' contains the input '{input_path}': choose another folder")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output '{output}' exists and is not a folder: choose a folder path")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f"{TMP_MARKER}probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"output folder '{output}' is not writable ({e.strerror or e}): choose a folder you can write to"
        ) from e


def _dicom_uid_name(item: Any) -> str:
    """A name from UIDs only: the series UID (+ a short hash of the SOP instance for single files).

    The UIDs come from the header :func:`~monai_srgan.io.discovery.find_inputs` read (``InputItem.sop_uid``).
    """
    uid = item.series_uid
    sop = None
    if item.kind == "dicom":
        sop = getattr(item, "sop_uid", None)
        if sop is None:  # an item not made by find_inputs: read the header (unreadable files fail later, named)
            from monai_srgan.io.readers.dicom import peek_dicom

            ds = peek_dicom(item.files[0])
            sop = str(ds.get("SOPInstanceUID", "") or "") if ds is not None else None
    if not uid:
        uid = "dicom_" + hashlib.sha1(item.files[0].encode()).hexdigest()[:12]
    name = sanitize_name(uid)
    if item.kind == "dicom" and sop:
        name += "_" + hashlib.sha1(sop.encode()).hexdigest()[:8]
    return name


def plan_outputs(
    items: Sequence[Any],
    input_root: Path,
    output: Path,
    fmt: str,
    scale_tag: str,
    keep: dict[int, Path] | None = None,
    taken: Sequence[str] = (),
) -> list[Path]:
    """Output path per input, inside ``output`` and unique.

    DICOM inputs are named from UIDs (``<SeriesInstanceUID>_x4``) directly under ``output`` (folder names in PACS
    exports often hold patient names); other files keep their relative folder, every part sanitized.

    Args:
        items: the inputs.
        input_root: the input file or folder.
        output: the output folder.
        fmt: ``--format``.
        scale_tag: ``x4``-style tag in every name.
        keep: ``--resume``: the output the resume record gives an input (by index); every other input gets a name that
            no recorded output (``taken``, paths relative to ``output``) and no existing file holds.
        taken: outputs of the resume record.
    """
    used: set[str] = {t.lower() for t in taken}
    plans = []
    root = input_root if input_root.is_dir() else input_root.parent
    for i, item in enumerate(items):
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
        out_fmt = output_format_for(None, fmt, source=item)
        if keep is not None and i in keep:
            plans.append((keep[i], out_fmt))
            continue
        ext = FORMAT_EXTENSIONS[out_fmt]
        base = f"{stem}_{scale_tag}"
        candidate = "/".join([*rel_dir, base + ext])
        k = 2
        while candidate.lower() in used or (keep is not None and os.path.lexists(output / candidate)):
            candidate = "/".join([*rel_dir, f"{base}_{k}{ext}"])
            k += 1
        used.add(candidate.lower())
        path = output.joinpath(*candidate.split("/"))
        if not _is_within(path.resolve(), output.resolve()):  # cannot happen with sanitized parts; belt and braces
            raise ConfigError(f"output name {candidate!r} would escape the output folder")
        plans.append((path, out_fmt))
    return plans


def clean_partial(output: Path, keep: set[Path] | None = None) -> int:
    """Remove temporaries of interrupted writes under ``output`` (except those in ``keep``); returns how many."""
    n = 0
    for p in sorted(output.rglob(f"{TMP_MARKER}*"), reverse=True):
        if keep and p in keep:
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


def classify_skipped(path: str, reason: str) -> tuple[str, str]:
    """``("skipped", reason)`` for files that are not images; ``("failed", why + what to do)`` for broken ones.

    A DICOM object "without pixel data" is a normal member of a PACS export (structured report, presentation
    state) only when it also has no image attributes; with Rows/Columns, or without a SOP class, it is a truncated or
    corrupt image and counts as a failure.
    """
    if not reason.startswith(_SKIP_REASONS):
        has_hint = any(w in reason.lower() for w in ("remove", "use ", "install", "convert", "re-export", "decompress"))
        return "failed", reason if has_hint else f"{reason} ({_REEXPORT})"
    if reason.startswith("DICOM without pixel data"):
        from monai_srgan.io.readers.dicom import peek_dicom

        ds = peek_dicom(path)
        has_image_attrs = ds is not None and ("Rows" in ds or "Columns" in ds)
        has_class = ds is not None and "SOPClassUID" in ds
        if has_image_attrs:
            return (
                "failed",
                f"image header (Rows/Columns) but no readable pixel data: truncated or corrupt file ({_REEXPORT})",
            )
        if not has_class:
            return "failed", f"not a valid DICOM object (no SOP class, no pixel data): corrupt file ({_REEXPORT})"
    return "skipped", reason


_REEXPORT = "re-export or copy it again from its source, or remove it from the input"


def previous_run(output: Path) -> str | None:
    """When ``output`` holds the report of an earlier run, a short description of it (else ``None``)."""
    rep = output / f"{REPORT_NAME}.json"
    if not rep.is_file():
        return None
    try:
        summary = json.loads(rep.read_text()).get("summary", {})
        counts = ", ".join(f"{summary[k]} {k}" for k in ("ok", "failed", "skipped") if summary.get(k))
        return f"run of {summary.get('started', '?')} ({counts or 'no outputs'})"
    except (OSError, ValueError, AttributeError):
        return f"run with an unreadable report {rep.name}"


def refuse_earlier_run(output: Path, resume: bool, overwrite: bool) -> str | None:
    """The :func:`previous_run` of ``output``; refuses to mix with it unless ``resume`` or ``overwrite`` say how.

    Raises:
        ConfigError: an earlier run is there and neither is set (names the folder and the three ways on).
    """
    earlier = previous_run(output)
    if earlier and not (resume or overwrite):
        raise ConfigError(
            f"output folder '{output}' already holds a {earlier}: use --resume to continue it, --overwrite to redo it, "
            "or choose another output folder"
        )
    return earlier


def archive_report(output: Path) -> Path | None:
    """Rename an earlier run's ``srgan_report.json``/``.csv`` to ``srgan_report.<started>.json``/``.csv``."""
    rep = output / f"{REPORT_NAME}.json"
    if not rep.is_file():
        return None
    try:
        stamp = str(json.loads(rep.read_text())["summary"]["started"])
    except (OSError, ValueError, KeyError, TypeError):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(rep.stat().st_mtime))
    stamp = sanitize_name(stamp.replace(":", ""))
    k, suffix = 1, ""
    while (output / f"{REPORT_NAME}.{stamp}{suffix}.json").exists():
        k += 1
        suffix = f"_{k}"
    target = output / f"{REPORT_NAME}.{stamp}{suffix}.json"
    os.replace(rep, target)
    csv_file = output / f"{REPORT_NAME}.csv"
    if csv_file.is_file():
        os.replace(csv_file, target.with_suffix(".csv"))
    return target


def printable(value: Any) -> Any:
    """``value`` with every string made encodable as UTF-8 (recursively in lists, tuples and dicts).

    File names that are not valid UTF-8 reach Python as lone surrogates (``b'bad\\xff.png'`` → ``'bad\\udcff.png'``);
    they are shown with the undecodable bytes escaped (``bad\\xff.png``), so reports and console lines can be written.

    Args:
        value: a report row, summary or message.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable(v) for v in value]
    if isinstance(value, os.PathLike):
        return printable(os.fspath(value))
    return value


def write_report(output: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Write ``srgan_report.json`` (summary + one row per input) and ``srgan_report.csv``, each atomically.

    Names that are not valid UTF-8 are written with their undecodable bytes escaped (:func:`printable`).
    """
    rows, summary = printable(rows), printable(summary)

    def _json(tmp: Path) -> None:
        text = json.dumps({"summary": summary, "inputs": rows}, indent=2, default=str, ensure_ascii=False)
        tmp.write_text(printable(text), encoding="utf-8")

    def _csv(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=REPORT_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else printable(str(r.get(k)))) for k in REPORT_FIELDS})

    atomic_write_file(output / f"{REPORT_NAME}.json", _json, overwrite=True)
    atomic_write_file(output / f"{REPORT_NAME}.csv", _csv, overwrite=True)


def input_label(item: Any) -> str:
    """The file (or the common folder of a series) that names an input in the report."""
    files = item.files
    return files[0] if len(files) == 1 else os.path.commonpath(files)


_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def describe_failure(e: BaseException, item: Any, out_path: Path | None = None) -> str:
    """One line for the report: the input, what went wrong, what to do. Never a traceback.

    The project's own errors already carry the file and a hint; everything else (disk full, out of memory, an image
    too large to decode, a bug) is phrased here so that no exception type can stop the batch or go unexplained.
    """
    label = input_label(item)
    e = _with_errno(e)
    name = type(e).__name__
    if isinstance(e, InputFileError) and e.path:
        text = str(e)
    elif isinstance(e, (InputFileError, ConfigError)):
        text = str(e)
    elif isinstance(e, OSError) and e.errno in _NO_SPACE:
        where = e.filename or (out_path.parent if out_path else "the output folder")
        text = (
            f"no space left on the device while writing '{where}' (free space or choose another output folder, "
            "then rerun with --resume)"
        )
    elif isinstance(e, PermissionError):
        text = f"permission denied on '{e.filename or label}' (check the file's and the output folder's permissions)"
    elif isinstance(e, OSError):
        text = f"{e.strerror or e} on '{e.filename or label}' (check that the file is readable and the disk is healthy)"
    elif isinstance(e, MemoryError):
        text = "out of memory (use a smaller --tile-size, or run this input on a machine with more memory)"
    elif name == "DecompressionBombError":  # Pillow's guard against huge images
        text = (
            f"image too large to decode safely ({e}); crop or downsample it, or split it into parts before "
            "super-resolution"
        )
    else:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        text = f"unexpected {name}: {first} (rerun with --verbose for the traceback and report it as a bug)"
    return text if label in text else f"{label}: {text}"


def _with_errno(e: BaseException) -> BaseException:
    """The OSError with an errno behind a wrapper that dropped it (pydicom re-raises a write error as
    ``OSError("With tag (7FE0,0010) got exception: [Errno 28] …")`` without errno); else ``e`` itself."""
    if isinstance(e, OSError) and e.errno is not None or isinstance(e, (InputFileError, ConfigError)):
        return e
    seen, cur = set(), e.__cause__ or e.__context__
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno is not None:
            return cur
        cur = cur.__cause__ or cur.__context__
    return e
