"""VGGFeatureExtractor: torchvision layout, weight loading, preprocessing, 1-channel and 3D input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.networks.features import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG_LAYER_NAMES,
    VGGFeatureExtractor,
    build_vgg_features,
    load_vgg_weights,
    vgg_layer_index,
)

# torchvision's vgg19().features / vgg16().features module indices (from torchvision.models.vgg, cfgs "E"/"D").
TORCHVISION_VGG19 = {
    "conv1_1": 0, "relu1_1": 1, "conv1_2": 2, "relu1_2": 3, "pool1": 4, "conv2_1": 5, "conv2_2": 7, "pool2": 9,
    "conv3_1": 10, "conv3_4": 16, "relu3_4": 17, "pool3": 18, "conv4_1": 19, "relu4_1": 20, "conv4_4": 25,
    "pool4": 27, "conv5_1": 28, "relu5_1": 29, "conv5_4": 34, "relu5_4": 35, "pool5": 36,
}  # fmt: skip
TORCHVISION_VGG16 = {
    "conv1_2": 2, "pool1": 4, "conv2_2": 7, "pool2": 9, "conv3_3": 14, "pool3": 16, "conv4_1": 17, "relu4_1": 18,
    "conv4_3": 21, "relu4_3": 22, "pool4": 23, "conv5_3": 28, "relu5_3": 29, "pool5": 30,
}  # fmt: skip


def _torchvision_state(vgg_type: str, seed: int = 0, with_classifier: bool = True) -> dict[str, torch.Tensor]:
    """A synthetic state dict in the exact key layout of torchvision's VGG (random values)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in build_vgg_features(2, 3, vgg_type).state_dict().items():
        state[f"features.{k}"] = torch.randn(v.shape, generator=g) * 0.05
    if with_classifier:
        state.update({
            "classifier.0.weight": torch.randn(16, 32, generator=g),
            "classifier.0.bias": torch.randn(16, generator=g),
            "classifier.6.weight": torch.randn(10, 16, generator=g),
            "classifier.6.bias": torch.randn(10, generator=g),
        })  # fmt: skip
    return state


@pytest.mark.parametrize("vgg_type,expected", [("vgg19", TORCHVISION_VGG19), ("vgg16", TORCHVISION_VGG16)])
def test_layer_indices_match_torchvision(vgg_type, expected):
    for name, idx in expected.items():
        assert vgg_layer_index(name, vgg_type) == idx, name
    features = build_vgg_features(2, 3, vgg_type)
    assert len(features) == len(VGG_LAYER_NAMES[vgg_type]) == (37 if vgg_type == "vgg19" else 31)
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for idx, name in enumerate(VGG_LAYER_NAMES[vgg_type]):
        assert isinstance(features[idx], kinds[name[:4]]), (idx, name)


@pytest.mark.parametrize("vgg_type,n_params", [("vgg19", 20_024_384), ("vgg16", 14_714_688)])
def test_parameter_count_equals_torchvision_features(vgg_type, n_params):
    # torchvision: vgg19 143,667,240 params of which the classifier holds 123,642,856; vgg16 138,357,544 - 123,642,856.
    ext = VGGFeatureExtractor(["pool5"], vgg_type=vgg_type, pretrained=False)
    assert sum(p.numel() for p in ext.parameters()) == n_params


def test_truncated_after_last_requested_layer_and_outputs_in_order():
    ext = VGGFeatureExtractor(["relu4_1", "conv1_2"], pretrained=False)
    assert len(ext.features) == 21
    out = ext(torch.rand(1, 3, 16, 16))
    assert list(out) == ["relu4_1", "conv1_2"]
    assert out["conv1_2"].shape == (1, 64, 16, 16)
    assert out["relu4_1"].shape == (1, 512, 2, 2)
    assert out["relu4_1"].min() >= 0
    assert out["conv1_2"].min() < 0  # before ReLU: negative values survive


def test_unknown_layer_and_type_raise_config_error():
    with pytest.raises(ConfigError, match="conv5_4"):  # the message lists the valid names
        VGGFeatureExtractor(["conv6_1"], pretrained=False)
    with pytest.raises(ConfigError, match="vgg_type"):
        VGGFeatureExtractor(["conv1_1"], vgg_type="vgg11", pretrained=False)
    with pytest.raises(ConfigError, match="conv5_3"):  # vgg16 has no conv5_4
        VGGFeatureExtractor(["conv5_4"], vgg_type="vgg16", pretrained=False)


def test_pretrained_without_weights_path_explains_what_to_do():
    with pytest.raises(ConfigError) as err:
        VGGFeatureExtractor(["conv5_4"])
    msg = str(err.value)
    assert "weights_path" in msg and "vgg19-dcbb9e9d.pth" in msg and "pretrained=False" in msg


@pytest.fixture(scope="module")
def vgg19_state() -> dict[str, torch.Tensor]:
    return _torchvision_state("vgg19")


@pytest.mark.parametrize("prefix,with_classifier", [("", True), ("module.", False)])
def test_loads_torchvision_weight_file_exactly(tmp_path, vgg19_state, prefix, with_classifier):
    path = tmp_path / "vgg19.pth"
    torch.save({prefix + k: v for k, v in vgg19_state.items() if with_classifier or k.startswith("features.")}, path)
    ext = VGGFeatureExtractor(["conv5_4"], weights_path=path)
    loaded = ext.features.state_dict()
    assert len(loaded) == 32  # 16 convolutions up to conv5_4, weight + bias
    for k, v in loaded.items():
        assert torch.equal(v, vgg19_state[f"features.{k}"]), k


def test_forward_equals_manual_vgg_with_imagenet_normalisation(vgg19_state):
    state = vgg19_state
    ext = VGGFeatureExtractor(["conv1_2", "relu1_2"], pretrained=False, input_range=(-1.0, 1.0))
    load_vgg_weights(ext.features, state)  # an in-memory torchvision state dict works like a file
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    h = ((x + 1) / 2 - mean) / std
    h = F.relu(F.conv2d(h, state["features.0.weight"], state["features.0.bias"], padding=1))
    h = F.conv2d(h, state["features.2.weight"], state["features.2.bias"], padding=1)
    out = ext(x)
    torch.testing.assert_close(out["conv1_2"], h, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["relu1_2"], F.relu(h), rtol=1e-5, atol=1e-5)


def test_vgg16_file_into_vgg19_is_rejected(tmp_path):
    torch.save(_torchvision_state("vgg16"), tmp_path / "vgg16.pth")
    with pytest.raises(InputFileError, match="vgg19"):
        VGGFeatureExtractor(["conv4_4"], weights_path=tmp_path / "vgg16.pth")
    # the right type loads
    VGGFeatureExtractor(["relu4_1"], vgg_type="vgg16", weights_path=tmp_path / "vgg16.pth")


def test_missing_or_foreign_weight_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        VGGFeatureExtractor(["conv1_1"], weights_path=tmp_path / "nope.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(InputFileError, match="features"):
        VGGFeatureExtractor(["conv1_1"], weights_path=tmp_path / "other.pth")


def test_frozen_eval_but_gradient_reaches_input():
    ext = VGGFeatureExtractor(["conv2_2"], pretrained=False)
    ext.train()
    assert not ext.training and not ext.features.training
    assert all(not p.requires_grad for p in ext.parameters())
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    ext(x)["conv2_2"].abs().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    trainable = VGGFeatureExtractor(["conv1_1"], pretrained=False, requires_grad=True)
    trainable.train()
    assert trainable.training and all(p.requires_grad for p in trainable.parameters())


def test_one_channel_input_is_replicated():
    ext = VGGFeatureExtractor(["relu2_1"], pretrained=False)
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(ext(x)["relu2_1"], ext(x.repeat(1, 3, 1, 1))["relu2_1"])
    with pytest.raises(ValueError, match="1 or 3"):
        ext(torch.rand(1, 2, 8, 8))


def test_3d_input_is_processed_slice_wise():
    ext = VGGFeatureExtractor(["conv1_2", "pool1"], pretrained=False)
    x = torch.rand(2, 1, 8, 6, 3)
    out = ext(x)
    assert out["conv1_2"].shape == (2, 64, 8, 6, 3) and out["pool1"].shape == (2, 64, 4, 3, 3)
    for k in range(3):
        ref = ext(x[..., k])
        for name in ("conv1_2", "pool1"):
            torch.testing.assert_close(out[name][..., k], ref[name])
