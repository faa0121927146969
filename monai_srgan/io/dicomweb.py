"""DICOMweb (client side): study/series URLs, credentials, WADO-RS retrieval into a folder, STOW-RS of a series.

Every request goes through the maintained ``dicomweb-client`` package (``pip install 'monai_srgan[pacs]'``); no
multipart message is parsed here. Credentials come from the environment or ``~/.netrc`` and are never put into a
message, a report or a file:

- HTTP basic: ``MONAI_SRGAN_DICOMWEB_USER`` and ``MONAI_SRGAN_DICOMWEB_PASSWORD``;
- a bearer token: ``MONAI_SRGAN_DICOMWEB_TOKEN``;
- otherwise the ``~/.netrc`` entry of the host (``requests`` reads it), or no authentication.

Errors are :class:`DicomWebError` (an :class:`~monai_srgan.errors.InputFileError` naming the study or series URL) with
one line that says what happened and what to do (:func:`describe_http_error`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.io.writers.common import atomic_write_file

__all__ = [
    "ENV_USER",
    "ENV_PASSWORD",
    "ENV_TOKEN",
    "DicomWebURL",
    "DicomWebError",
    "is_dicomweb_url",
    "parse_url",
    "open_session",
    "open_client",
    "describe_http_error",
    "list_series",
    "fetch_series",
    "stored_instances",
    "store_series",
]

logger = logging.getLogger(__name__)

ENV_USER = "MONAI_SRGAN_DICOMWEB_USER"
ENV_PASSWORD = "MONAI_SRGAN_DICOMWEB_PASSWORD"
ENV_TOKEN = "MONAI_SRGAN_DICOMWEB_TOKEN"
TIMEOUT_S = 60.0
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_COMPLETE = ".complete.json"  # in a retrieved series folder: its instances (dot files are not inputs)
_STOW_BATCH_BYTES = 64 << 20  # one STOW-RS request carries at most about this much


class DicomWebError(InputFileError):
    """A DICOMweb request failed; the message names the study/series URL, the problem and what to do."""


@dataclass(frozen=True)
class DicomWebURL:
    """``<base>/studies/<study>[/series/<series>]``: ``base`` is the DICOMweb root (e.g. ``http://host:8042/dicom-web``)."""

    base: str
    study: str | None = None
    series: str | None = None

    def __str__(self) -> str:
        text = self.base
        if self.study:
            text += f"/studies/{self.study}"
        if self.series:
            text += f"/series/{self.series}"
        return text

    def with_series(self, series: str) -> DicomWebURL:
        """The URL of one series of this study."""
        return DicomWebURL(self.base, self.study, series)

    @property
    def host(self) -> str:
        """``host[:port]`` (for messages and ``~/.netrc``)."""
        return urlsplit(self.base).netloc


def is_dicomweb_url(text: Any) -> bool:
    """True for an ``http://`` or ``https://`` address (a DICOMweb input or destination)."""
    return isinstance(text, str) and text.strip().lower().startswith(("http://", "https://"))


def parse_url(text: str, *, need_study: bool = True, option: str = "INPUT") -> DicomWebURL:
    """Split a DICOMweb address into base, StudyInstanceUID and SeriesInstanceUID.

    Args:
        text: ``http(s)://HOST[:PORT]/<base>/studies/<StudyUID>[/series/<SeriesUID>]``, or just the base (``need_study``
            False, e.g. ``--store-to http://host:8042/dicom-web``).
        need_study: refuse an address without ``/studies/<StudyUID>``.
        option: the argument named in errors.

    Raises:
        ConfigError: not such an address; credentials written into it (they belong in the environment); a UID that is
            not a DICOM UID.
    """
    parts = urlsplit(text.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{option} {text!r} is not a DICOMweb address: use http(s)://HOST[:PORT]/<base>/studies/<UID>"
        )
    if parts.username is not None or parts.password is not None:  # never echo them
        raise ConfigError(
            f"{option}: the DICOMweb address holds credentials ('user:password@'); remove them from the address "
            f"and set {ENV_USER}/{ENV_PASSWORD} or {ENV_TOKEN} (or a ~/.netrc entry) instead"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{option} {text!r}: a DICOMweb address takes no '?query' or '#fragment'")
    segs = [s for s in parts.path.split("/") if s]
    study = series = None
    if "studies" in segs:
        i = len(segs) - 1 - segs[::-1].index("studies")
        rest, segs = segs[i + 1 :], segs[:i]
        if len(rest) not in (1, 3) or (len(rest) == 3 and rest[1] != "series"):
            raise ConfigError(
                f"{option} {text!r}: expected .../studies/<StudyInstanceUID> or .../studies/<UID>/series/<UID>"
            )
        study, series = rest[0], (rest[2] if len(rest) == 3 else None)
        for what, uid in (("StudyInstanceUID", study), ("SeriesInstanceUID", series)):
            if uid is not None and (not _UID.match(uid) or len(uid) > 64):
                raise ConfigError(f"{option} {text!r}: {uid!r} is not a {what} (digits and dots, at most 64)")
    if need_study and study is None:
        raise ConfigError(
            f"{option} {text!r} names no study: add /studies/<StudyInstanceUID> "
            "(optionally /series/<SeriesInstanceUID>)"
        )
    base = f"{parts.scheme.lower()}://{parts.netloc}" + ("/" + "/".join(segs) if segs else "")
    return DicomWebURL(base, study, series)


def open_session(user: str | None = None, password: str | None = None, token: str | None = None) -> Any:
    """A ``requests.Session`` with the credentials given, else those of the environment, else ``~/.netrc``.

    Raises:
        ConfigError: only one of user and password is set.
    """
    import requests

    user = user if user is not None else os.environ.get(ENV_USER) or None
    password = password if password is not None else os.environ.get(ENV_PASSWORD) or None
    token = token if token is not None else os.environ.get(ENV_TOKEN) or None
    session = requests.Session()
    if bool(user) != bool(password):
        missing = ENV_PASSWORD if user else ENV_USER
        raise ConfigError(f"DICOMweb credentials: {missing} is not set (set both {ENV_USER} and {ENV_PASSWORD})")
    if user:
        session.auth = (user, password)
    elif token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session  # without either, requests uses the host's ~/.netrc entry


def open_client(base: str, session: Any = None) -> Any:
    """A ``dicomweb_client.DICOMwebClient`` for the DICOMweb root ``base``."""
    try:
        from dicomweb_client import DICOMwebClient
    except ImportError as e:
        raise ConfigError("DICOMweb needs the 'dicomweb-client' package: pip install 'monai_srgan[pacs]'") from e
    kw: dict[str, Any] = {}
    if "timeout" in inspect.signature(DICOMwebClient).parameters:  # dicomweb-client >= 0.60
        kw["timeout"] = TIMEOUT_S
    client = DICOMwebClient(url=base, session=session if session is not None else open_session(), **kw)
    # dicomweb-client retries failed connections 5 times over 30 s; 3 tries over 3 s say "down" soon enough
    client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=500)
    return client


def describe_http_error(e: BaseException, where: str, action: str = "read") -> str:
    """One line for a failed DICOMweb request: what the server said and what to do (no credentials, no traceback).

    Args:
        e: the exception ``requests``/``dicomweb-client`` raised.
        where: the study/series URL (or server) concerned.
        action: ``read`` or ``store``, for the 403 advice.
    """
    import requests

    host = urlsplit(where).netloc or where
    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(e, requests.exceptions.ConnectionError) and status is None:
        return (
            f"{where}: cannot connect to the DICOMweb server at {host} (connection refused or host unreachable): "
            "check that the server is running and the address (host, port, base path), then rerun with --resume"
        )
    if isinstance(e, requests.exceptions.Timeout):
        return f"{where}: the DICOMweb server at {host} did not answer within {TIMEOUT_S:g} s: rerun with --resume"
    if status == 401:
        return (
            f"{where}: the DICOMweb server refused the credentials (HTTP 401): set {ENV_USER} and {ENV_PASSWORD} "
            f"(or {ENV_TOKEN}, or a ~/.netrc entry for {urlsplit(where).hostname})"
        )
    if status == 403:
        return f"{where}: not allowed to {action} (HTTP 403): ask the PACS administrator for {action} access"
    if status == 404:
        return (
            f"{where}: not found on the server (HTTP 404): check the StudyInstanceUID/SeriesInstanceUID and the "
            "DICOMweb base path (e.g. http://HOST:8042/dicom-web)"
        )
    if status is not None:
        reason = getattr(e.response, "reason", "") or ""
        return f"{where}: the DICOMweb server answered HTTP {status} {reason}".rstrip() + " (see the server's log)"
    return f"{where}: DICOMweb request failed ({type(e).__name__}: {e})"


def _guard(where: str, action: str = "read"):
    """Context manager turning request failures into :class:`DicomWebError` with :func:`describe_http_error`'s line."""
    import contextlib

    import requests

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except (requests.exceptions.RequestException, OSError) as e:
            if isinstance(e, InputFileError):
                raise
            raise DicomWebError(None, describe_http_error(e, where, action)) from None

    return guard()


def _uid_of(item: dict, tag: str) -> str | None:
    values = (item.get(tag) or {}).get("Value") or []
    return str(values[0]) if values else None


def list_series(client: Any, url: DicomWebURL) -> list[str]:
    """The SeriesInstanceUIDs of ``url``'s study (just ``url.series`` when it names one, after checking it exists).

    Raises:
        DicomWebError: server down, 401/403, or no such study/series (one line each).
    """
    with _guard(str(url)):
        found = client.search_for_series(study_instance_uid=url.study, fields=["SeriesInstanceUID"])
    series = [s for s in (_uid_of(x, "0020000E") for x in found) if s]
    if not series:
        raise DicomWebError(
            None,
            f"{url}: no such study on the server (a QIDO-RS search found no series): check the StudyInstanceUID",
        )
    if url.series:
        if url.series not in series:
            raise DicomWebError(None, f"{url}: no such series in this study: check the SeriesInstanceUID")
        return [url.series]
    return sorted(s for s in series if not _made_by_us(client, url.with_series(s)))


def _made_by_us(client: Any, url: DicomWebURL) -> bool:
    """True for a series monai_srgan derived (stored back into its study): it is not super-resolved again."""
    with _guard(str(url)):
        found = client.search_for_instances(
            study_instance_uid=url.study, series_instance_uid=url.series, limit=1, fields=["00082111"]
        )
    derivation = " ".join(str(v) for x in found for v in ((x.get("00082111") or {}).get("Value") or []))
    if "by monai_srgan" in derivation:  # the writer's DerivationDescription (io/discovery.py skips such files too)
        logger.info("%s: derived by monai_srgan: not retrieved", url)
        return True
    return False


def _save(ds: Any, path: Path) -> None:
    """One retrieved instance as a DICOM file (atomically; pydicom 2 and 3)."""
    import pydicom

    def write(tmp: Path) -> None:
        if int(pydicom.__version__.split(".")[0]) >= 3:
            ds.save_as(tmp, enforce_file_format=True)
        else:
            ds.save_as(str(tmp), write_like_original=False)

    atomic_write_file(path, write, overwrite=True)


def fetch_series(client: Any, url: DicomWebURL, dest: str | os.PathLike) -> Path:
    """Retrieve one series with WADO-RS into ``dest`` (``<SOPInstanceUID>.dcm`` files), reusing a complete earlier copy.

    A folder with ``.complete.json`` listing the instances it holds is not retrieved again, so the files, their
    modification times and so the batch's resume keys stay the same on ``--resume``.

    Returns:
        ``dest``.

    Raises:
        DicomWebError: the series cannot be retrieved.
    """
    dest = Path(dest)
    marker = dest / _COMPLETE
    if marker.is_file():
        try:
            names = json.loads(marker.read_text(encoding="utf-8"))["instances"]
            if all((dest / f"{n}.dcm").is_file() for n in names):
                logger.info("%s: reusing the copy in %s", url, dest)
                return dest
        except (ValueError, KeyError, OSError):
            pass
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    with _guard(str(url)):
        for ds in client.iter_series(url.study, url.series):
            sop = str(ds.SOPInstanceUID)
            if not _UID.match(sop):
                raise DicomWebError(None, f"{url}: the server sent an instance with SOPInstanceUID {sop!r}")
            _save(ds, dest / f"{sop}.dcm")
            names.append(sop)
    if not names:
        raise DicomWebError(None, f"{url}: the server returned no instances for this series (WADO-RS)")
    atomic_write_file(marker, lambda tmp: tmp.write_text(json.dumps({"instances": names}), encoding="utf-8"), True)
    return dest


def stored_instances(client: Any, study: str, series: str, where: str) -> set[str]:
    """The SOPInstanceUIDs of ``series`` the server holds (QIDO-RS); empty when it holds none."""
    import requests

    try:
        found = client.search_for_instances(
            study_instance_uid=study, series_instance_uid=series, fields=["SOPInstanceUID"]
        )
    except requests.exceptions.HTTPError as e:  # some servers answer 404 for an empty series
        if getattr(e.response, "status_code", None) == 404:
            return set()
        raise DicomWebError(None, describe_http_error(e, where, "read")) from None
    except requests.exceptions.RequestException as e:
        raise DicomWebError(None, describe_http_error(e, where, "read")) from None
    return {u for u in (_uid_of(x, "00080018") for x in found) if u}


def _batches(paths: Sequence[Path]) -> Iterable[list[Path]]:
    batch, size = [], 0
    for p in paths:
        n = p.stat().st_size
        if batch and size + n > _STOW_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(p)
        size += n
    if batch:
        yield batch


def store_series(client: Any, folder: str | os.PathLike, base: str) -> dict[str, Any]:
    """Send the DICOM files of one derived series folder with STOW-RS, skipping the instances the server already holds.

    The server is asked first (QIDO-RS) and asked again afterwards: what it holds then is what counts as stored, so a
    partial failure is seen whatever the STOW response says.

    Args:
        client: from :func:`open_client`.
        folder: the series folder (``*.dcm``, one series).
        base: the DICOMweb root, for messages.

    Returns:
        ``{"study", "series", "instances", "sent", "stored", "already"}``: counts of the folder's instances, those sent
        now, those the server holds afterwards, those it held before.

    Raises:
        DicomWebError: the store cannot be reached or refuses (one line), or some instances are missing afterwards
            (``.result`` holds the counts).
    """
    import pydicom

    folder = Path(folder)
    files = sorted(folder.glob("*.dcm"))
    headers = {p: pydicom.dcmread(p, stop_before_pixels=True) for p in files}
    if not headers:
        raise DicomWebError(folder, "holds no DICOM files to store")
    studies = {str(h.StudyInstanceUID) for h in headers.values()}
    series = {str(h.SeriesInstanceUID) for h in headers.values()}
    if len(studies) != 1 or len(series) != 1:
        raise DicomWebError(folder, "holds more than one study or series: store one derived series at a time")
    study, uid = studies.pop(), series.pop()
    where = f"{base}/studies/{study}/series/{uid}"
    before = stored_instances(client, study, uid, where)
    todo = [p for p in files if str(headers[p].SOPInstanceUID) not in before]
    problem = None
    for batch in _batches(todo):
        try:
            with _guard(where, "store"):
                client.store_instances([pydicom.dcmread(p) for p in batch], study_instance_uid=study)
        except DicomWebError as e:
            problem = str(e)
            break
    after = before
    if todo:
        try:
            after = stored_instances(client, study, uid, where)
        except DicomWebError:
            if problem is None:
                raise
    result = {
        "study": study,
        "series": uid,
        "instances": len(files),
        "sent": len(todo),
        "stored": len({str(h.SOPInstanceUID) for h in headers.values()} & after),
        "already": len(before),
    }
    if result["stored"] < result["instances"]:
        missing = result["instances"] - result["stored"]
        err = DicomWebError(
            None,
            problem
            or f"{where}: the server holds {result['stored']} of the {result['instances']} instances after STOW-RS "
            f"({missing} refused: see the server's log), rerun with --resume to send the missing ones",
        )
        err.result = result
        raise err
    return result
