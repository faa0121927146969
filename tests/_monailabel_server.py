"""A real MONAI Label server for the tests, started from its own environment and stopped afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _orthanc import free_port

APP_DIR = Path(__file__).resolve().parents[1] / "apps" / "monailabel_sr"


@dataclass
class Server:
    """A running server: its address, the ``/info/`` answer, the process and the tail of its log."""

    base: str
    info: dict[str, Any]
    proc: subprocess.Popen
    log_path: Path

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def monailabel_server(
    env: Path,
    studies: str | Path,
    bundles_dir: Path,
    models: Sequence[str],
    log_path: Path,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """``monailabel start_server`` of the sample app on a free 127.0.0.1 port, up when ``/info/`` answers.

    Args:
        env: the MONAI Label environment (``scripts/build_monailabel_env.sh``).
        studies: the datastore (a folder, or a DICOMweb address).
        bundles_dir: the folder of the bundles the app serves (``--conf bundles_dir``).
        models: the bundles to serve (``--conf models``).
        log_path: where the server's output goes.
        extra_env: more environment variables for the server.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(env / "bin" / "monailabel"), "start_server", "--app", str(APP_DIR), "--studies", str(studies)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--conf", "bundles_dir", str(bundles_dir)]
    cmd += ["--conf", "models", ",".join(models)]
    server_env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    server_env.update(PATH=f"{env / 'bin'}{os.pathsep}{server_env.get('PATH', '')}", OMP_NUM_THREADS="1")
    server_env["MONAILABEL_PYEXE"] = str(env / "bin" / "python")  # the monailabel script runs `python -m ...`
    server_env.update(extra_env or {})
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=server_env, start_new_session=True)
    server = Server(base, {}, proc, log_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"server exited with {proc.returncode}:\n{server.log_tail()}"
            try:
                with urllib.request.urlopen(f"{base}/info/", timeout=5) as r:
                    if r.status == 200:
                        server.info = json.loads(r.read())
                        break
            except OSError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"server did not answer /info/ in 120 s:\n{server.log_tail()}")
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
