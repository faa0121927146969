"""monai_srgan.inference."""

from __future__ import annotations

__all__: list[str] = []
