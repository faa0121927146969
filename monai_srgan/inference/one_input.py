"""One input of a batch: load, check, super-resolve, write, and the report fields of that input.

:func:`process_input` is what :func:`monai_srgan.inference.runner.run_batch` does for each input (on each torchrun
rank); it never raises for the input: a failure becomes the row's ``status``/``error``, and what was warned while
the input was processed (this package's and pydicom's log warnings, Python warnings) becomes its ``warnings``.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monai_srgan.inference import batch, outdir
from monai_srgan.io.writers.common import replace_atomically

if TYPE_CHECKING:  # the runner imports this module
    from monai_srgan.inference.runner import BatchOptions

__all__ = ["process_input", "uncertainty_path", "WarningsOfInput"]

logger = logging.getLogger("monai_srgan.cli")


class WarningsOfInput(logging.Handler):
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

    def __enter__(self) -> WarningsOfInput:
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


def uncertainty_path(out_path: Path, out_fmt: str) -> tuple[Path, str]:
    """Where the one-SD map of an output goes and its format: ``<stem>_uncertainty.tif`` beside a 2D image,
    ``<stem>_uncertainty.nii.gz`` beside a volume, a ``<folder>_uncertainty`` derived series beside a DICOM one."""
    name = out_path.name
    if out_fmt == "dicom":
        return out_path.with_name(f"{name}_uncertainty"), "dicom"
    for ext in (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".tif", ".tiff"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    if out_fmt == "nifti":
        return out_path.with_name(f"{name}_uncertainty.nii.gz"), "nifti"
    return out_path.with_name(f"{name}_uncertainty.tif"), "tiff"


def process_input(
    pipe: Any,
    item: Any,
    out_path: Path,
    out_fmt: str,
    options: BatchOptions,
    record: outdir.ResumeRecord | None = None,
    key: str | None = None,
    exists: bool = False,
    error_model: Any = None,
) -> dict[str, Any]:
    """Load, check, super-resolve and write one input; returns its report fields (never raises for the input).

    Args:
        pipe: see :func:`run_batch`.
        item: an :class:`~monai_srgan.io.discovery.InputItem` (or a path the pipeline can load).
        out_path: where the output goes.
        out_fmt: its format.
        options: see :class:`BatchOptions`.
        record: the resume record to note the input in before its output is written.
        key: the input's resume key.
        exists: ``out_path`` exists and is to be replaced atomically (``overwrite``).
        error_model: the calibrated :class:`~monai_srgan.inference.uncertainty.ErrorModel` (``options.uncertainty``;
            loaded from the pipeline's weights when not given).

    Returns:
        ``status`` (``ok``/``failed``), shapes, scale, value-rule fractions, optional ``lr_psnr`` and uncertainty
        figures, ``error`` and ``warnings``.
    """
    row: dict[str, Any] = {}
    warned = WarningsOfInput().__enter__()
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        from monai_srgan.inference.tiling import TileProgress

        tiles = TileProgress(desc="  tiles", disable=not (options.progress and sys.stderr.isatty()))
        # loaded here once: the memory check needs its shape, --compare and --uncertainty the LR image again
        source = pipe.load(item) if hasattr(pipe, "scales_for") or options.compare or options.uncertainty else item
        if hasattr(pipe, "scales_for") and options.memory_check:
            from monai_srgan.inference.formats import output_dtype_for
            from monai_srgan.inference.memory import check_memory

            out_dt = output_dtype_for(source.meta, getattr(pipe, "output_dtype", "auto"))
            check_memory(source.shape, pipe.scales_for(source), out_dt, batch.input_label(item))
        if options.uncertainty and error_model is None:
            from monai_srgan.inference.uncertainty import pipeline_error_model

            error_model = pipeline_error_model(pipe)
        if record is not None and key is not None:
            record.add(key, item.files, out_path)  # before the output appears: a kill cannot orphan it
        try:
            sr = pipe.predict(source, progress=tiles)
        finally:
            tiles.close()
        if exists:  # overwrite: the old output stays until the new one is complete
            replace_atomically(out_path, functools.partial(pipe.write, sr, fmt=out_fmt, **options.writer_kwargs))
        else:
            pipe.write(sr, out_path, out_fmt, **options.writer_kwargs)
        row.update(
            status="ok",
            output_shape=list(sr.shape),
            scale=sr.meta.get("srgan_sr_scale"),
            input_shape=[int(sr.shape[0]), *[int(v) for v in _input_spatial(sr)]],
            clamped_fraction=round(float(sr.meta.get("srgan_clamped_fraction", 0.0)), 6),
            flat_fraction=round(float(sr.meta.get("srgan_flat_fraction", 0.0)), 6),
        )
        if "srgan_selfsup" in sr.meta:  # which network the self-supervised mode kept, and its validation
            row["selfsup"] = dict(sr.meta["srgan_selfsup"])
        sigma = None
        if error_model is not None:
            from monai_srgan.inference.uncertainty import estimate_uncertainty, write_uncertainty

            sigma = estimate_uncertainty(pipe, source, sr, error_model)
            u_path, u_fmt = uncertainty_path(out_path, out_fmt)
            write_uncertainty(sigma, u_path, u_fmt, sr, options.writer_kwargs)
            row.update(
                uncertainty=str(u_path),
                uncertainty_mean=round(float(sigma.meta["srgan_uncertainty_mean"]), 6),
                uncertainty_high_fraction=round(float(sigma.meta["srgan_uncertainty_high_fraction"]), 6),
            )
        if options.compare:
            from monai_srgan.inference.compare import write_comparison

            row["lr_psnr"] = write_comparison(pipe, source, sr, out_path, sigma=sigma)
        del sr, source
    except Exception as e:  # noqa: BLE001 - nothing raised for one input may stop the others
        row["status"] = "failed"
        row["error"] = batch.describe_failure(e, item, out_path)
        logger.debug("failed %s", batch.input_label(item), exc_info=True)
    finally:
        warned.__exit__(None, None, None)
    label = batch.input_label(item)
    notes = [*getattr(item, "notes", ()), *(m for m in warned.messages if m not in getattr(item, "notes", ()))]
    prefix = f"{label}: "  # the row names the input once; log records start with it too
    notes = list(dict.fromkeys(m[len(prefix) :] if m.startswith(prefix) else m for m in notes))
    if notes:
        row["warnings"] = "; ".join(notes)
    return row


def _input_spatial(sr: Any) -> list[int]:
    s = sr.meta.get("srgan_sr_scale") or [1] * (sr.ndim - 1)
    return [int(n // f) for n, f in zip(sr.shape[1:], s)]
