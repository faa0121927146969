"""monai_srgan.utils: small helpers shared by inference and training (precision by hardware capability, figures).

Names load on first use (:func:`~monai_srgan.utils.lazy.lazy_exports`).
"""

from __future__ import annotations

from monai_srgan.utils.lazy import lazy_exports

_LAZY = {
    name: "precision"
    for name in (
        "bf16_flags",
        "bf16_speedup",
        "cpu_flags",
        "cpu_model_name",
        "fast_bf16",
        "has_native_bf16",
        "resolve_dtype",
    )
}
_LAZY["as_flag"] = "flags"
__all__ = list(_LAZY)
__getattr__ = lazy_exports(__name__, _LAZY)
