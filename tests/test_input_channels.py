"""Grey images stored as RGB/RGBA are grey to a 1-channel model; truly coloured input stays refused (issue 27)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _inference_helpers import NearestUp
from PIL import Image

from monai_srgan.errors import InputFileError
from monai_srgan.inference.pipeline import SRInferencePipeline


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_equal_channels_processed_as_grey_with_a_warning(tmp_path, mode, caplog):
    grey = (np.arange(32 * 24).reshape(24, 32) % 251).astype(np.uint8)
    Image.fromarray(grey).convert(mode).save(tmp_path / "g.png")
    pipe = SRInferencePipeline(NearestUp(2), 2, in_channels=1)
    with caplog.at_level(logging.WARNING):
        sr = pipe.predict(tmp_path / "g.png")
    assert sr.shape == (1, 48, 64)
    np.testing.assert_array_equal(sr[0, ::2, ::2].numpy(), grey)
    assert any("grey image stored as 3-channel colour" in w for w in sr.meta["srgan_warnings"])
    assert "grey image stored as" in caplog.text and "g.png" in caplog.text


def test_real_rgba_radiograph_of_the_shared_data(data_root):
    src = data_root / "cxr" / "nih_00000100_000.png"
    assert Image.open(src).mode == "RGBA"
    sr = SRInferencePipeline(NearestUp(2), 2, in_channels=1, tile_size=512).predict(src)
    assert sr.shape[0] == 1


def test_coloured_input_to_a_grey_model_stays_refused(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 200  # red: not grey
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.raises(InputFileError, match=r"has 3 channel\(s\) but the model takes 1"):
        SRInferencePipeline(NearestUp(2), 2, in_channels=1).predict(tmp_path / "c.png")
