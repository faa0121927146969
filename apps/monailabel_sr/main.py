"""MONAI Label app serving monai_srgan super-resolution bundles as models (docs/monailabel.md).

Start it with (bound to 127.0.0.1; the port is yours to choose)::

    monailabel start_server --app apps/monailabel_sr --studies /path/to/images --host 127.0.0.1 --port 8000

Settings (``--conf KEY VALUE``, repeatable):

- ``bundles_dir``: folder of bundles (default: ``bundles/`` of this repository; relative paths are relative to the app);
- ``models``: comma-separated bundle names to serve (default ``all``: every folder with ``configs/inference.json``);
- ``tile_size``: tile size in input pixels for every model (default: each bundle's ``tile_size``);
- ``skip_broken``: ``true`` serves the bundles that load and logs the others (default ``false``: a broken bundle
  stops the start-up with its error);
- with ``--studies http://HOST:PORT/dicom-web`` (a DICOMweb datastore, e.g. Orthanc): ``dicomweb_nifti`` (default
  ``false``: series reach the models as DICOM files) and ``dicomweb_filter`` (QIDO-RS filter of the listed series,
  JSON, default ``{}``: all); an infer request with ``params {"store": true}`` stores the result back as a derived
  series (docs/monailabel.md "DICOMweb datastore").
"""

from __future__ import annotations

import logging
import os
from typing import Any

from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.tasks.infer_v2 import InferTask

from monai_srgan.apps.monailabel import (
    SRInferTask,
    conf_bool,
    conf_list,
    discover_bundles,
    raise_http_error,
    resolve_bundles_dir,
)
from monai_srgan.apps.monailabel.errors import UnknownModelError

__all__ = ["SuperResolutionApp"]

logger = logging.getLogger(__name__)


class SuperResolutionApp(MONAILabelApp):
    """Every SR bundle under ``bundles_dir`` (or those named by ``--conf models``) as an ``InferType.OTHERS`` model."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        import monai_srgan

        conf = dict(conf or {})
        self.bundles_dir = resolve_bundles_dir(conf, app_dir)
        self.bundles = discover_bundles(self.bundles_dir, conf_list(conf.get("models")))
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="monai_srgan super-resolution",
            description="GAN super-resolution of medical images (research use, not for diagnosis)",
            version=str(getattr(monai_srgan, "__version__", "0.1.0")),
        )

    def init_infers(self) -> dict[str, InferTask]:
        """One :class:`SRInferTask` per bundle, named after the bundle folder."""
        tile = self.conf.get("tile_size")
        kw: dict[str, Any] = {"tile_size": int(tile)} if tile else {}
        skip_broken = conf_bool(self.conf.get("skip_broken"), default=False)
        infers: dict[str, InferTask] = {}
        for name, path in self.bundles.items():
            try:
                infers[name] = SRInferTask(path, name=name, **kw)
            except Exception as e:  # noqa: BLE001 - name the bundle that cannot be served
                if not skip_broken:
                    raise RuntimeError(f"bundle '{path}' cannot be served: {e}") from e
                logger.error("bundle '%s' is not served: %s", path, e)
        logger.info("serving SR models: %s (bundles from %s)", ", ".join(infers) or "none", self.bundles_dir)
        if self.studies.startswith(("http://", "https://")):  # a DICOMweb datastore: results can be stored back
            for task in infers.values():
                task.store_to = self.studies
        return infers

    def init_remote_datastore(self) -> Any:
        """MONAI Label's DICOMweb datastore, handing each series to the task as DICOM files (monai_srgan's reader keeps
        the DICOM value semantics, and a derived series can copy its source header) and listing every series.

        ``--conf dicomweb_nifti true`` lets MONAI Label convert series to NIfTI instead; ``--conf dicomweb_filter
        '{"Modality": "CR"}'`` restricts the series listed (default: all; MONAI Label's own default is CT only).
        """
        import json

        from monailabel.config import settings

        settings.MONAI_LABEL_DICOMWEB_CONVERT_TO_NIFTI = conf_bool(self.conf.get("dicomweb_nifti"), default=False)
        settings.MONAI_LABEL_DICOMWEB_SEARCH_FILTER = json.loads(self.conf.get("dicomweb_filter") or "{}")
        return super().init_remote_datastore()

    def _download_dcmqi_tools(self) -> None:
        """Nothing to download: SR results are images, not DICOM SEG (MONAI Label fetches dcmqi from GitHub here)."""

    def init_trainers(self) -> dict:
        """No training through MONAI Label: train with the bundles' train.json."""
        return {}

    def infer(self, request: dict[str, Any], datastore: Any = None) -> dict[str, Any]:
        """MONAI Label's ``infer`` with readable HTTP errors (404 unknown model/image, 422 unusable image, ...)."""
        model = request.get("model")
        try:
            if model not in self._infers:
                raise UnknownModelError(
                    f"unknown model '{model}': this server serves {', '.join(sorted(self._infers)) or 'no models'}"
                )
            image = request.get("image")
            if isinstance(image, str) and image and not os.path.exists(image):
                store = datastore or self.datastore()
                try:
                    known = store.get_image_uri(image)
                except IndexError:  # MONAI Label's DICOMweb datastore: no such series on the server
                    known = None
                if not known:
                    from monai_srgan.apps.monailabel.errors import UnknownImageError

                    raise UnknownImageError(f"image '{image}' is not in the datastore (see /datastore/?output=all)")
            return super().infer(request, datastore)
        except Exception as e:  # noqa: BLE001 - every failure becomes an HTTP error with its message
            logger.warning("infer %s failed: %s", model, e)
            raise_http_error(e)
