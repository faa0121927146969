"""A real Orthanc (Debian packages ``orthanc`` + ``orthanc-dicomweb``) for the PACS tests, started on 127.0.0.1.

:func:`start_orthanc` writes a temporary configuration (own free HTTP and DICOM ports, storage in a temporary folder,
``RemoteAccessAllowed`` false, authentication on with one registered user, the DICOMweb plugin, a Lua filter that
refuses one instance of a derived series while a flag file exists) and waits until the REST API answers.
"""

from __future__ import annotations

import base64
import glob
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["INSTALL", "Orthanc", "orthanc_binary", "dicomweb_plugin", "start_orthanc", "free_port"]

INSTALL = "apt-get update && apt-get install -y orthanc orthanc-dicomweb"

# refuses InstanceNumber 3 of a series whose description ends with the SR suffix, while the flag file exists:
# a real partial STOW-RS failure
_LUA = """
function ReceivedInstanceFilter(dicom, origin, info)
  local f = io.open("{flag}", "r")
  if f ~= nil then
    io.close(f)
    if dicom.InstanceNumber == "3" and string.find(dicom.SeriesDescription or "", " SR x", 1, true) then
      return false
    end
  end
  return true
end
"""


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc")


def dicomweb_plugin() -> str | None:
    """The DICOMweb plugin the Debian package installs (``dpkg -L orthanc-dicomweb``)."""
    try:
        listed = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    found = [p for p in listed.split() if "DicomWeb" in p and ".so" in p and Path(p).is_file()]
    found += glob.glob("/usr/share/orthanc/plugins/libOrthancDicomWeb.so*")
    return sorted(found, key=len)[0] if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    proc: subprocess.Popen
    port: int
    user: str
    password: str
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def reject_flag(self) -> Path:
        return self.folder / "reject"

    def request(self, path: str, data: bytes | None = None, method: str | None = None) -> bytes:
        req = urllib.request.Request(self.url + path, data=data, method=method)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read()

    def json(self, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        return json.loads(self.request(path, data))

    def upload(self, files) -> None:
        for f in files:
            self.request("/instances", Path(f).read_bytes(), "POST")

    def log(self) -> str:
        return (self.folder / "orthanc.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


def start_orthanc(folder: Path, user: str, password: str) -> Orthanc:
    """Start Orthanc with a temporary configuration in ``folder``; raises ``RuntimeError`` with its log if it fails."""
    plugin = dicomweb_plugin()
    if plugin is None:
        raise RuntimeError(f"the Orthanc DICOMweb plugin is not installed: {INSTALL}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "filter.lua").write_text(_LUA.replace("{flag}", str(folder / "reject")))
    port = free_port()
    config = {
        "Name": "monai-srgan-test",
        "HttpPort": port,
        "DicomPort": free_port(),
        "DicomServerEnabled": False,
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {user: password},
        "Plugins": [plugin],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "LuaScripts": [str(folder / "filter.lua")],
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = open(folder / "orthanc.log", "wb")
    proc = subprocess.Popen([orthanc_binary(), str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    server = Orthanc(proc, port, user, password, folder)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {proc.returncode}:\n{server.log()}")
        try:
            server.json("/system")
            return server
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"Orthanc did not answer in 30 s:\n{server.log()}")
