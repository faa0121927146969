"""monai_srgan.metrics."""

from __future__ import annotations

__all__: list[str] = []
