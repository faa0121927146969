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


def test_network_scale_follows_the_same_rule():
    """The generators' ``scale`` (``normalize_scale``) is ``per_axis`` plus positive integers; errors name ``scale``."""
    from monai_srgan.networks import get_generator
    from monai_srgan.networks.blocks.pixelshuffle import normalize_scale

    assert normalize_scale([2], 3) == (2, 2, 2) and normalize_scale(np.int64(4), 2) == (4, 4)
    assert normalize_scale(torch.tensor([1, 1, 4]), 3) == (1, 1, 4) == normalize_scale((1, np.int64(1), 4.0), 3)
    with pytest.raises(ConfigError, match=r"scale=\(2, 2, 2\) needs one entry per spatial axis \(2\)"):
        get_generator("srvgg", spatial_dims=2, in_channels=1, out_channels=1, scale=(2, 2, 2))
    for bad in (2.5, 0, (2, -1)):
        with pytest.raises(ConfigError, match="positive integers"):
            normalize_scale(bad, 2)
