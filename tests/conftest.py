"""Shared fixtures: real data from ../shared/data (or $MONAI_SRGAN_DATA). Missing data fails loudly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    env = os.environ.get("MONAI_SRGAN_DATA")
    root = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    if not (root / "MANIFEST.md").is_file():
        raise pytest.UsageError(
            f"Shared test data not found at '{root}'. Set MONAI_SRGAN_DATA to the shared data folder "
            "(the one holding MANIFEST.md); tests never skip for missing data."
        )
    return root


DATA_ROOT = _data_root()
REFERENCE_ROOT = DATA_ROOT.parent / "reference"


@pytest.fixture(scope="session")
def data_root() -> Path:
    return DATA_ROOT


@pytest.fixture(scope="session")
def reference_root() -> Path:
    if not REFERENCE_ROOT.is_dir():
        raise pytest.UsageError(f"Reference folder not found at '{REFERENCE_ROOT}' (next to the shared data).")
    return REFERENCE_ROOT


@pytest.fixture(autouse=True)
def _few_threads():
    # CI has 2 cores and runs two xdist workers: one thread each avoids oversubscription.
    torch.set_num_threads(1)
    yield
