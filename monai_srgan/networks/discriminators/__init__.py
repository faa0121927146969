"""monai_srgan.networks.discriminators."""

from __future__ import annotations

__all__: list[str] = []
