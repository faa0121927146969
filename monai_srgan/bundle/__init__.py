"""Helpers the MONAI bundles (``bundles/retina_sr``, ``bundles/cxr_sr``) ``_target_`` into.

Bundles hold configs only; what they need beyond the transforms, networks, engines and metrics lives here:

- :func:`make_datalist` — the deterministic train/validation/test split of a dataset folder (a MONAI datalist JSON);
- :func:`evaluate_sr` — model vs bicubic on held-out images: PSNR/SSIM (full and FOV-masked), fidelity metrics,
  CSV/JSON/Markdown reports and a comparison figure;
- :func:`bundle_weights` — the shipped weight file that a scale and ``"psnr"``/``"gan"`` select;
- :func:`load_bundle_generator` — build the bundle's generator and load weights, with errors naming the setting;
- :class:`SRBundleInference`, :func:`run_inference`, :func:`pipeline_from_bundle` — inference from the parsed
  ``inference.json`` objects (the ``monai-srgan infer`` batch); :func:`bundle_path` — a shipped bundle by name.
"""

from __future__ import annotations

from .data import *  # noqa: F401,F403
from .data import __all__ as _data_all
from .evaluate import *  # noqa: F401,F403
from .evaluate import __all__ as _eval_all
from .infer import *  # noqa: F401,F403
from .infer import __all__ as _infer_all
from .weights import *  # noqa: F401,F403
from .weights import __all__ as _weights_all

__all__ = [*_data_all, *_eval_all, *_infer_all, *_weights_all]
