"""pytest settings for the Model Zoo-style bundle tests (the zoo runs them with unittest; these apply under pytest)."""

from __future__ import annotations

import pytest
import torch
from sr_bundle_utils import data_root

try:
    data_root()
except FileNotFoundError as e:  # fail the whole run, as tests/conftest.py does: never a skip
    raise pytest.UsageError(str(e)) from None


@pytest.fixture(autouse=True)
def _few_threads():
    # CI has 2 cores and runs two xdist workers: one thread each avoids oversubscription.
    torch.set_num_threads(1)
    yield
