"""monai_srgan: GAN super-resolution of medical images as a MONAI plugin.

Subpackages, in the order an image meets them: ``io`` (discovery, readers, writers), ``transforms`` (loading,
colour, resizing, intensity, degradation, paired augmentation, datasets), ``networks`` (generators, discriminators,
VGG features, checkpoints), ``losses``, ``engines`` (two-stage Ignite training), ``inference`` (pipeline, tiler,
CLI), ``metrics``, ``bundle`` (what the MONAI bundles' configs target), ``selfsup`` (SMORE) and ``apps`` (MONAI
Label).
Docstrings cite the five papers as "paper 000" … "paper 004" and other works by short name; full citations are
in docs/references.md, and docs/architecture.md maps each paper's components to their files.
"""

from __future__ import annotations

from monai_srgan.utils.excepthook import install_bundle_excepthook as _install_bundle_excepthook

__version__ = "0.1.0"

__all__ = ["__version__"]

# under `python -m monai.bundle` only: the project's errors and Ctrl-C end in their message, not a traceback
_install_bundle_excepthook()
