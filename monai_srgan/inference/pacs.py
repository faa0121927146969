"""The batch runner against a PACS: a DICOMweb study as the input, ``--store-to`` as the destination of the results.

``monai-srgan infer http://HOST:8042/dicom-web/studies/<UID> OUT --bundle … --store-to http://HOST:8042/dicom-web``:

1. every series of the study (or the one series the address names) is retrieved with WADO-RS into
   ``OUT/.srgan-pacs/<StudyUID>/<SeriesUID>/`` (:func:`monai_srgan.io.dicomweb.fetch_series`; a complete copy is
   reused, so ``--resume`` sees the same inputs);
2. :func:`monai_srgan.inference.runner.run_batch` runs on that folder as on any local folder (report, resume, lock);
3. each derived series is sent with STOW-RS into its study once it is written (:class:`PacsHook`, the runner's
   ``after_output``): only the instances the store does not hold yet, so nothing is stored twice. Its UIDs are
   deterministic (:func:`uid_seed`): a re-run gives the same series, which the store already holds.

A server that cannot be reached, refused credentials or an unknown study stop the run before any work (exit 2, one
line); a series that is not (completely) stored is a ``failed`` row saying how many instances the store holds and
to rerun with ``--resume`` (exit 1). Report rows carry ``source`` (the series address), ``stored`` (instances held
by the store / in the series) and ``stored_series``. docs/inference.md "PACS (DICOMweb)".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from monai_srgan.errors import ConfigError, SRGANError
from monai_srgan.inference import batch
from monai_srgan.inference.batch import PACS_CACHE
from monai_srgan.io import dicomweb

__all__ = ["check_pacs_args", "uid_seed", "fetch_input", "PacsHook", "run_batch_pacs"]

logger = logging.getLogger("monai_srgan.cli")


def check_pacs_args(input_spec: str, store_to: str | None, fmt: str) -> None:
    """Check the PACS arguments before any work (addresses, credentials in them, the output format).

    Raises:
        ConfigError: a malformed address, credentials in an address, ``--store-to`` with a non-DICOM ``--format``.
    """
    if dicomweb.is_dicomweb_url(input_spec):
        dicomweb.parse_url(input_spec)
    if store_to is not None:
        dicomweb.parse_url(store_to, need_study=False, option="--store-to")
        if fmt not in ("same", "dicom"):
            raise ConfigError(f"--store-to sends derived DICOM series: use --format dicom (or same), not {fmt}")


def _file_digest(path: str | None) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def uid_seed(pipe: Any, writer_kwargs: dict[str, Any]) -> str:
    """The text the derived UIDs are made from: what decides the output besides the source (model name and weight
    file content, scale, value rules, header options, package version). The writer adds the source's SOPInstanceUIDs
    (``write_dicom_series(uid_seed=...)``)."""
    from monai_srgan import __version__

    seed = {
        "monai_srgan": __version__,
        "model": getattr(pipe, "model_name", None),
        "weights_sha256": _file_digest(getattr(pipe, "weights_path", None)),
        "scale": getattr(pipe, "scale", None),
        "clamp": getattr(pipe, "clamp", None),
        "keep_flat": getattr(pipe, "keep_flat", None),
        "self_ensemble": getattr(pipe, "self_ensemble", False),
        "writer": {k: v for k, v in sorted(writer_kwargs.items()) if k != "uid_seed"},
    }
    return json.dumps(seed, sort_keys=True, default=str)


def fetch_input(url: dicomweb.DicomWebURL, output: Path, resume: bool = False, overwrite: bool = False) -> Path:
    """Retrieve the study (or series) ``url`` names into ``output/.srgan-pacs/<StudyUID>/``; returns the folder to run.

    Raises:
        ConfigError: ``output`` holds an earlier run and neither ``resume`` nor ``overwrite`` is set (checked before
            anything is retrieved).
        DicomWebError: the server cannot be reached, refuses, or has no such study/series (one line).
    """
    batch.refuse_earlier_run(output, resume, overwrite)
    client = dicomweb.open_client(url.base)
    series = dicomweb.list_series(client, url)
    root = output / PACS_CACHE / str(url.study)
    for i, uid in enumerate(series, 1):
        logger.info("retrieving series %d/%d %s", i, len(series), uid)
        dicomweb.fetch_series(client, url.with_series(uid), root / uid)
    return root / url.series if url.series else root


class PacsHook:
    """The runner's ``after_output``: names the source series of a retrieved input and stores its derived series.

    Args:
        source: the DICOMweb input (``None`` for a local input).
        cache: the folder the input was retrieved into (``OUTPUT/.srgan-pacs``).
        store_to: DICOMweb root to store into, or ``None``.
    """

    def __init__(self, source: dicomweb.DicomWebURL | None, cache: Path | None, store_to: str | None) -> None:
        self.source, self.cache = source, cache
        self.store = dicomweb.parse_url(store_to, need_study=False, option="--store-to") if store_to else None
        self.client = dicomweb.open_client(self.store.base) if self.store else None

    def check_store(self) -> None:
        """Ask the store once before any work (QIDO-RS), so that a server down or refused credentials stop the run."""
        if self.client is None:
            return
        where = self.store.base
        try:
            self.client.search_for_studies(limit=1, fields=["StudyInstanceUID"])
        except Exception as e:  # noqa: BLE001 - every request failure becomes the one line
            raise dicomweb.DicomWebError(None, dicomweb.describe_http_error(e, where, "read")) from None

    def _source_of(self, row: dict[str, Any]) -> str | None:
        if self.source is None or self.cache is None:
            return None
        try:
            rel = Path(str(row["input"])).resolve().relative_to(self.cache.resolve()).parts
        except ValueError:
            return None
        return str(dicomweb.DicomWebURL(self.source.base, rel[0], rel[1])) if len(rel) >= 2 else None

    def __call__(self, row: dict[str, Any], out_path: Path) -> None:
        """Add ``source``; with a store, send the derived series and add ``stored``/``stored_series`` (or fail)."""
        source = self._source_of(row)
        if source:
            row["source"] = source
        if self.client is None:
            return
        if not (out_path.is_dir() and any(out_path.glob("*.dcm"))):
            row.update(status="failed", stored="0", error=f"{out_path}: not a DICOM series: nothing to store")
            return
        try:
            result = dicomweb.store_series(self.client, out_path, self.store.base)
        except dicomweb.DicomWebError as e:
            result = getattr(e, "result", None)
            held = f"{result['stored']}/{result['instances']}" if result else "unknown"
            row.update(stored=held, status="failed", error=f"written to '{out_path}' but not stored: {e}")
            if result:
                row["stored_series"] = result["series"]
            return
        row.update(stored=f"{result['stored']}/{result['instances']}", stored_series=result["series"])
        row["stored_sent"] = result["sent"]


def run_batch_pacs(pipe: Any, input_spec: str, output: str | os.PathLike, options: Any, store_to: str | None) -> int:
    """:func:`~monai_srgan.inference.runner.run_batch` with a DICOMweb input and/or a DICOMweb store; the exit status.

    Args:
        pipe: the pipeline.
        input_spec: a DICOMweb study/series address or a local path.
        output: the output folder (also holds the retrieved copy, ``.srgan-pacs/``).
        options: the :class:`~monai_srgan.inference.runner.BatchOptions`; its ``writer_kwargs`` get ``uid_seed`` and
            its ``after_output`` the :class:`PacsHook`.
        store_to: DICOMweb root to store the derived series into, or ``None``.
    """
    from monai_srgan.inference.runner import EXIT_SIGNAL, run_batch

    output = Path(output)
    hook = PacsHook(None, None, store_to)
    hook.check_store()
    input_path: str | Path = input_spec
    shard = None
    if dicomweb.is_dicomweb_url(input_spec):
        from monai_srgan.engines.distributed import ProcessShard

        hook.source, hook.cache = dicomweb.parse_url(input_spec), output / PACS_CACHE
        shard = ProcessShard(str(getattr(pipe, "device", None) or "cpu"))
        input_path = _fetch_once(shard, hook.source, output, options)
    if store_to:
        options.writer_kwargs["uid_seed"] = uid_seed(pipe, options.writer_kwargs)
    options.after_output = hook
    code = run_batch(pipe, input_path, output, options)
    if shard is not None and code not in EXIT_SIGNAL.values():  # an interrupted rank's peers may be gone
        shard.close()
    return code


def _fetch_once(shard: Any, url: dicomweb.DicomWebURL, output: Path, options: Any) -> Path:
    """:func:`fetch_input` by rank 0 alone under torchrun (every rank would retrieve the whole study otherwise); the
    other ranks wait for its folder, or raise what it raised (so that none waits forever). Alone: just the fetch."""
    if not shard.active:
        return fetch_input(url, output, options.resume, options.overwrite)
    folder, failure, error = None, None, None
    if shard.rank == 0:
        try:
            folder = str(fetch_input(url, output, options.resume, options.overwrite))
        except SRGANError as e:
            error, failure = e, (isinstance(e, dicomweb.DicomWebError), str(e))
    folder, failure = shard.broadcast((folder, failure))
    if error is not None:
        raise error
    if failure is not None:
        raise dicomweb.DicomWebError(None, failure[1]) if failure[0] else ConfigError(failure[1])
    return Path(folder)
