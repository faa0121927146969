"""MONAI Label integration: super-resolution models served by a MONAI Label server (docs/monailabel.md).

:class:`SRInferTask` (MONAI Label's ``BasicInferTask``, type ``InferType.OTHERS``) runs the shared
:class:`monai_srgan.inference.SRInferencePipeline` built from a bundle and returns the SR image (PNG or NIfTI) with
JSON result parameters. The helpers in :mod:`.bundles` and :mod:`.errors` do not need MONAI Label; ``SRInferTask`` is
imported lazily so that ``import monai_srgan.apps.monailabel`` works in environments without ``monailabel``.
"""

from __future__ import annotations

from typing import Any

from monai_srgan.apps.monailabel.bundles import conf_bool, conf_list, discover_bundles, resolve_bundles_dir
from monai_srgan.apps.monailabel.errors import http_status_for, raise_http_error
from monai_srgan.apps.monailabel.results import choose_output_format, lr_consistency_psnr, result_params

__all__ = [
    "SRInferTask",
    "discover_bundles",
    "resolve_bundles_dir",
    "conf_list",
    "conf_bool",
    "http_status_for",
    "raise_http_error",
    "choose_output_format",
    "lr_consistency_psnr",
    "result_params",
]


def __getattr__(name: str) -> Any:
    if name == "SRInferTask":
        from monai_srgan.apps.monailabel.infer import SRInferTask

        return SRInferTask
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
