"""monai_srgan.utils: small helpers shared by inference and training (precision by hardware capability)."""

from __future__ import annotations

from monai_srgan.utils.precision import (
    bf16_speedup,
    cpu_flags,
    cpu_model_name,
    fast_bf16,
    has_native_bf16,
    resolve_dtype,
)

__all__ = ["bf16_speedup", "cpu_flags", "cpu_model_name", "fast_bf16", "has_native_bf16", "resolve_dtype"]
