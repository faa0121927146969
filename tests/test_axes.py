"""The one per-axis rule (``monai_srgan.utils.axes.per_axis``)."""

import numpy as np
import pytest
import torch

from monai_srgan.errors import ConfigError
from monai_srgan.utils.axes import per_axis


@pytest.mark.parametrize(
    "value,kind,expected",
    [(4, float, (4.0, 4.0, 4.0)), ([2], int, (2, 2, 2)), ((1, 2, 3), float, (1.0, 2.0, 3.0)),
     (np.array([1.5, 2, 3]), float, (1.5, 2.0, 3.0)), (torch.tensor(2), int, (2, 2, 2)),
     (np.float64(2.5), None, (2.5,) * 3),     (torch.tensor([1, 2, 3]), None, (1, 2, 3))],
)  # fmt: skip
def test_per_axis_values(value, kind, expected):
    assert per_axis(value, 3, "x", kind) == expected


def test_per_axis_wrong_length_names_the_setting():
    with pytest.raises(ConfigError, match=r"patch_size=\(1, 2\) needs one entry per spatial axis \(3\)"):
        per_axis([1, 2], 3, "patch_size", int)
