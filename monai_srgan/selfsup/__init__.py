"""Self-supervised super-resolution learned from the input itself (SMORE-style through-plane SR of a volume).

Names load on first use (PEP 562), so that the command line can add its options without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SelfSupervisedSliceSR": "smore",
    "default_scale": "smore",
    "inplane_training_pairs": "smore",
    "SelfSupervisedVolumePipeline": "volume",
    "ThroughPlaneModule": "volume",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
