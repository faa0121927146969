"""monai_srgan.transforms."""

from __future__ import annotations

__all__: list[str] = []
