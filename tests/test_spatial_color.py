"""Whole-image pre-processing the chest X-ray bundle runs before patch sampling: ResizeImage[d], ToGrayscale[d]."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from monai_srgan.errors import ConfigError
from monai_srgan.transforms import LoadMedicalImage, ResizeImage, ResizeImaged, ToGrayscale, ToGrayscaled, imresize


def test_to_grayscale_is_pil_luma_and_keeps_meta(data_root):
    path = data_root / "retina" / "hrf_01_h.jpg"
    img = LoadMedicalImage()(str(path))[:, 1000:1064, 1500:1600]  # (3, 64, 100) RGB crop of a fundus photograph
    grey = ToGrayscale()(img)
    assert grey.shape == (1, 64, 100)
    assert grey.meta["srgan_photometric"] == "L" and grey.meta["original_channel_dim"] == "no_channel"
    rgb8 = img.permute(1, 2, 0).numpy().round().astype(np.uint8)
    pil = np.asarray(Image.fromarray(rgb8).convert("L"), dtype=np.float32)
    assert np.abs(grey[0].numpy() - pil).max() <= 0.5 + 1e-3  # PIL rounds its luma to 8 bits
    assert ToGrayscale()(grey) is grey  # 1 channel passes unchanged
    d = ToGrayscaled(keys="image")({"image": img, "other": img})
    assert d["image"].shape[0] == 1 and d["other"].shape[0] == 3


def test_resize_image_width_longest_and_spacing(data_root):
    img = LoadMedicalImage()(str(data_root / "cxr" / "mhh_2168a917.png"))
    h, w = img.shape[1:3]
    sp = [float(s) for s in img.meta["srgan_spacing"]][:2]
    out = ResizeImage(width=256)(img)
    assert out.shape[2] == 256 and out.shape[1] == max(round(h * 256 / w), 1)
    assert torch.allclose(out.as_tensor(), imresize(img.float(), size=tuple(out.shape[1:3])).as_tensor().clamp(
        float(img.meta["srgan_value_min"]), float(img.meta["srgan_value_max"])))  # fmt: skip
    new_sp = out.meta["srgan_spacing"][:2]
    assert new_sp == pytest.approx([sp[0] * h / out.shape[1], sp[1] * w / 256])  # mm per pixel grows as pixels shrink
    assert max(ResizeImage(longest=300)(img).shape[1:3]) == 300
    assert ResizeImage(width=w * 2, only_down=True)(img) is img  # never enlarges
    with pytest.raises(ConfigError, match="exactly one of"):
        ResizeImage(width=256, longest=300)


def test_resize_imaged_resizes_the_fov_mask_with_nearest(data_root):
    img = LoadMedicalImage()(str(data_root / "cxr" / "mhh_2168a917.png"))
    fov = (img[:1] > img.mean()).float()
    d = ResizeImaged(keys="image", spatial_size=(128, 96))({"image": img, "fov": fov})
    assert d["image"].shape[1:] == (128, 96) and d["fov"].shape[1:] == (128, 96)
    assert set(torch.unique(d["fov"]).tolist()) <= {0.0, 1.0}  # still a mask
