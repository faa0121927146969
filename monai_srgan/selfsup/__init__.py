"""Self-supervised super-resolution learned from the input itself (SMORE-style through-plane SR of a volume).

Names load on first use (PEP 562), so that the command line can add its options without importing torch.
"""

from __future__ import annotations

from monai_srgan.utils.lazy import lazy_exports

_LAZY = {
    "SelfSupervisedSliceSR": "smore",
    "default_scale": "smore",
    "inplane_training_pairs": "smore",
    "SelfSupervisedVolumePipeline": "volume",
}

__all__ = list(_LAZY)


__getattr__ = lazy_exports(__name__, _LAZY)
