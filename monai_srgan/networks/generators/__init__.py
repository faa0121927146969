"""monai_srgan.networks.generators."""

from __future__ import annotations

__all__: list[str] = []
