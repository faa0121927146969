"""Helpers the MONAI bundles (``bundles/retina_sr``, ``bundles/cxr_sr``) ``_target_`` into.

Bundles hold configs only; what they need beyond the transforms, networks, engines and metrics lives here:

- :func:`make_datalist` — the deterministic train/validation/test split of a dataset folder (a MONAI datalist JSON);
- :class:`ResizeImage[d] <ResizeImaged>` and :class:`ToGrayscale[d] <ToGrayscaled>` — deterministic pre-processing
  (fixed width / longest side with the project's one resize; RGB(A) → 1 channel);
- :func:`evaluate_sr` — model vs bicubic on held-out images: PSNR/SSIM (full and FOV-masked), fidelity metrics,
  CSV/JSON/Markdown reports and a comparison figure;
- :func:`bundle_weights` — the shipped weight file that a scale and ``"psnr"``/``"gan"`` select;
- :func:`load_bundle_generator` — build the bundle's generator and load weights, with errors naming the setting;
- :class:`SRBundleInference`, :func:`run_inference`, :func:`pipeline_from_bundle` — inference from the parsed
  ``inference.json`` objects (the ``monai-srgan infer`` batch); :func:`bundle_path` — a shipped bundle by name.
"""

from __future__ import annotations

from .data import (
    ResizeImage,
    ResizeImageD,
    ResizeImaged,
    ResizeImageDict,
    ToGrayscale,
    ToGrayscaleD,
    ToGrayscaled,
    ToGrayscaleDict,
    datalist_section,
    make_datalist,
    require_file,
)
from .evaluate import comparison_figure, evaluate_sr, load_bundle_generator, published_table, update_metadata_metrics
from .infer import BUNDLE_NAMES, SRBundleInference, bundle_path, bundles_root, pipeline_from_bundle, run_inference
from .weights import WEIGHT_KINDS, bundle_weights, shipped_weights, weight_file_name

__all__ = [
    "make_datalist",
    "datalist_section",
    "require_file",
    "ResizeImage",
    "ResizeImaged",
    "ResizeImageD",
    "ResizeImageDict",
    "ToGrayscale",
    "ToGrayscaled",
    "ToGrayscaleD",
    "ToGrayscaleDict",
    "evaluate_sr",
    "load_bundle_generator",
    "comparison_figure",
    "published_table",
    "update_metadata_metrics",
    "BUNDLE_NAMES",
    "bundles_root",
    "bundle_path",
    "pipeline_from_bundle",
    "run_inference",
    "SRBundleInference",
    "WEIGHT_KINDS",
    "bundle_weights",
    "weight_file_name",
    "shipped_weights",
]
