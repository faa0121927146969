"""Helpers the MONAI bundles (``bundles/retina_sr``, ``bundles/cxr_sr``, ``bundles/ct_mr_sr_3d``) ``_target_`` into.

Bundles hold configs only; what they need beyond the transforms, networks, engines and metrics lives here:

- :func:`make_datalist` — the deterministic train/validation/test split of a dataset folder (a MONAI datalist JSON);
- :func:`evaluate_sr` — model vs bicubic on held-out images: PSNR/SSIM (full and FOV-masked), fidelity metrics,
  CSV/JSON/Markdown reports and a comparison figure;
- :func:`bundle_weights` — the shipped weight file that a scale and ``"psnr"``/``"gan"`` select;
- :func:`load_bundle_generator` — build the bundle's generator and load weights, with errors naming the setting;
- :class:`SRBundleInference`, :func:`run_inference`, :func:`pipeline_from_bundle` — inference from the parsed
  ``inference.json`` objects (the ``monai-srgan infer`` batch); :func:`bundle_path` — a shipped bundle by name;
- :func:`bundle_output_dir` — the default ``output_dir`` (never inside an installed package).

Names load on first use (PEP 562), so ``python -m monai_srgan.bundle --help`` starts without torch or MONAI.
"""

from __future__ import annotations

from monai_srgan.utils.lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, ("data", "evaluate", "infer", "weights", "paths"))
