"""Where a bundle writes by default: ``<bundle_root>/runs/<kind>``, never inside an installed package.

The Model Zoo convention puts a bundle's outputs under its own folder. A bundle shipped in the wheel lives in
``site-packages/monai_srgan/bundles/<name>``: writing there would mix run outputs into the installation (and fail
where it is read-only), so an installed bundle writes to ``~/monai_srgan_runs/<name>/<kind>`` (or
``$MONAI_SRGAN_RUNS/<name>/<kind>``) instead, and says so.
"""

from __future__ import annotations

import logging
import os
import site
import sysconfig
from pathlib import Path

__all__ = ["RUNS_ENV", "bundle_output_dir", "is_installed_path"]

logger = logging.getLogger(__name__)

#: folder for the outputs of installed bundles (default ``~/monai_srgan_runs``)
RUNS_ENV = "MONAI_SRGAN_RUNS"


def is_installed_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies inside a site-packages (or dist-packages) folder of this interpreter."""
    p = Path(path).expanduser().resolve()
    roots = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib")}
    try:
        roots |= set(site.getsitepackages()) | {site.getusersitepackages()}
    except AttributeError:  # virtualenvs of old Pythons lack these
        pass
    for root in filter(None, roots):
        try:
            p.relative_to(Path(root).resolve())
            return True
        except ValueError:
            continue
    return any(part in ("site-packages", "dist-packages") for part in p.parts)


def bundle_output_dir(bundle_root: str | os.PathLike, kind: str) -> str:
    """The default ``output_dir`` of a bundle config: ``<bundle_root>/runs/<kind>``, or, for a bundle installed with
    the package, ``~/monai_srgan_runs/<bundle name>/<kind>`` (``$MONAI_SRGAN_RUNS`` replaces the first part).

    Args:
        bundle_root: the bundle folder (``"."`` when run from it).
        kind: ``"train"``, ``"eval"`` or ``"inference"``.
    """
    root = os.fspath(bundle_root)
    if not is_installed_path(root):
        return f"{root}/runs/{kind}"
    base = Path(os.environ.get(RUNS_ENV) or Path.home() / "monai_srgan_runs").expanduser()
    out = base / Path(root).resolve().name / kind
    logger.info("output_dir: the bundle at %s is installed (site-packages): writing to %s (set --output_dir to "
                "choose)", root, out)  # fmt: skip
    return str(out)
