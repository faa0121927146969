"""VGG-16/19 feature extractor for perceptual losses, built without torchvision.

The network is the convolution part (``features``) of VGG (Simonyan & Zisserman, ICLR 2015) in torchvision's exact
layer layout, so a torchvision ImageNet weight file (``features.N.weight`` / ``features.N.bias``) loads into it
unchanged. Layers are named as in BasicSR: ``conv{b}_{i}`` is the ``i``-th convolution of block ``b`` *before* its
ReLU, ``relu{b}_{i}`` the same feature map after the ReLU, ``pool{b}`` the max pooling closing block ``b``.

Uses in this project: the perceptual loss of SRGAN (Ledig et al. 2017; paper 000 eq. 3, VGG-19 feature maps
``phi_{i,j}``), Real-ESRGAN's perceptual loss on VGG-19 features before ReLU (paper 002: conv1_2, conv2_2, conv3_4,
conv4_4, conv5_4), paper 001's VGG term of the fusion loss and paper 003's VGG-16 ``relu4_1`` loss.

No weights are downloaded: pass the path of a torchvision-format file (``vgg19-dcbb9e9d.pth``,
``vgg16-397923af.pth``) as ``weights_path``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch
from monai.networks.layers.factories import Act, Conv, Pool
from torch import nn

from monai_srgan.errors import ConfigError, InputFileError

__all__ = [
    "VGG_CONFIGS",
    "VGG_LAYER_NAMES",
    "VGG_WEIGHT_FILES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "vgg_layer_index",
    "build_vgg_features",
    "load_vgg_features_state",
    "load_vgg_weights",
    "VGGFeatureExtractor",
]

#: Number of 3x3 convolutions per block (torchvision configurations "D" and "E").
VGG_CONFIGS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
#: Output channels of each of the five blocks.
VGG_BLOCK_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)
#: The torchvision weight files users are expected to supply (names as torchvision caches them).
VGG_WEIGHT_FILES: dict[str, str] = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
}
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def _layer_names(blocks: Sequence[int]) -> tuple[str, ...]:
    names: list[str] = []
    for b, n_conv in enumerate(blocks, start=1):
        for i in range(1, n_conv + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return tuple(names)


#: Name of every module of torchvision's ``vgg.features`` in order: ``VGG_LAYER_NAMES[t][N]`` is ``features.N``.
VGG_LAYER_NAMES: dict[str, tuple[str, ...]] = {k: _layer_names(v) for k, v in VGG_CONFIGS.items()}


def _check_vgg_type(vgg_type: str) -> None:
    if vgg_type not in VGG_CONFIGS:
        raise ConfigError(f"vgg_type must be one of {sorted(VGG_CONFIGS)}, got {vgg_type!r}.")


def vgg_layer_index(name: str, vgg_type: str = "vgg19") -> int:
    """Index ``N`` of the layer ``name`` in torchvision's ``vgg.features`` (e.g. ``conv5_4`` -> 34 for VGG-19).

    Raises:
        ConfigError: unknown ``vgg_type`` or layer name (the message lists the valid names).
    """
    _check_vgg_type(vgg_type)
    names = VGG_LAYER_NAMES[vgg_type]
    if name not in names:
        raise ConfigError(f"Unknown {vgg_type} layer {name!r}; valid layer names: {', '.join(names)}.")
    return names.index(name)


def build_vgg_features(
    spatial_dims: int = 2,
    in_channels: int = 3,
    vgg_type: str = "vgg19",
    last_index: int | None = None,
    base_channels: int = 64,
) -> nn.Sequential:
    """The VGG convolution stack in torchvision's layout (keys ``N.weight``), truncated after ``last_index``.

    Plain ``ConvNd``/``ReLU``/``MaxPoolNd`` layers (from MONAI's factories) are used instead of MONAI's
    ``Convolution`` so that the module indices equal torchvision's and its weight files load unchanged. Random
    weights are initialised as torchvision does (Kaiming normal, fan-out, zero bias).

    Args:
        spatial_dims: 2 (3 builds the same stack with 3D layers; ImageNet weights exist only for 2D).
        in_channels: input channels of the first convolution (3 for ImageNet weights).
        vgg_type: ``"vgg16"`` or ``"vgg19"``.
        last_index: index of the last layer kept (``None`` keeps the whole stack up to ``pool5``).
        base_channels: width of the first block (VGG: 64; the blocks have 1, 2, 4, 8, 8 times as many). Other
            widths only serve small random-weight networks (tests, 3D); ImageNet weights need 64.
    """
    _check_vgg_type(vgg_type)
    conv_t, pool_t = Conv[Conv.CONV, spatial_dims], Pool[Pool.MAX, spatial_dims]
    layers: list[nn.Module] = []
    c_in = in_channels
    widths = [c * base_channels // 64 for c in VGG_BLOCK_CHANNELS]
    for n_conv, c_out in zip(VGG_CONFIGS[vgg_type], widths):
        for _ in range(n_conv):
            layers += [conv_t(c_in, c_out, kernel_size=3, padding=1), Act[Act.RELU]()]
            c_in = c_out
        layers.append(pool_t(kernel_size=2, stride=2))
    if last_index is not None:
        layers = layers[: last_index + 1]
    for m in layers:  # torchvision's VGG initialisation, so that a deep random-weight stack keeps its signal
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return nn.Sequential(*layers)


def load_vgg_features_state(path_or_state: str | os.PathLike | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Read a torchvision-format VGG state dict and return its ``features`` part with keys ``"N.weight"``.

    Accepts the full torchvision state dict (``features.*`` and ``classifier.*``; the classifier is ignored), a
    ``features``-only dict (``features.N.*`` or ``N.*``), and a ``module.`` prefix (DataParallel). Files are read
    with ``torch.load(..., weights_only=True)``.

    Raises:
        InputFileError: the file does not exist, cannot be read, or holds no VGG ``features`` weights.
    """
    src = None
    if isinstance(path_or_state, (str, os.PathLike)):
        src = os.fspath(path_or_state)
        if not os.path.isfile(src):
            raise InputFileError(src, "VGG weight file not found", _weights_hint())
        try:
            state = torch.load(src, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any failure here means the file cannot be used
            raise InputFileError(src, f"cannot read the VGG weight file ({e})", _weights_hint()) from e
    else:
        state = path_or_state
    if not isinstance(state, Mapping):
        raise InputFileError(src, f"expected a state dict, found {type(state).__name__}", _weights_hint())
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        k = key[len("module.") :] if key.startswith("module.") else key
        if k.startswith("features."):
            out[k[len("features.") :]] = value
        elif k.split(".")[0].isdigit():
            out[k] = value
    if not out:
        raise InputFileError(
            src, "no VGG 'features.N.weight' keys found (not a torchvision-format VGG state dict)", _weights_hint()
        )
    return out


def load_vgg_weights(
    features: nn.Sequential,
    path_or_state: str | os.PathLike | Mapping[str, torch.Tensor],
    vgg_type: str = "vgg19",
) -> None:
    """Copy torchvision-format VGG weights into ``features`` (a stack from :func:`build_vgg_features`).

    Only the layers present in ``features`` are loaded (deeper layers of the file are ignored). When the first
    convolution has one input channel and the file has three, the RGB kernels are summed, so that a gray image
    gives the same response as the RGB image with that gray value in all three channels.

    Raises:
        InputFileError: a needed key is missing or has the wrong shape (usually a VGG-16 file for VGG-19 or the
            reverse: the message says so).
    """
    state = load_vgg_features_state(path_or_state)
    src = os.fspath(path_or_state) if isinstance(path_or_state, (str, os.PathLike)) else None
    with torch.no_grad():
        for idx, layer in enumerate(features):
            if not isinstance(layer, (nn.Conv2d, nn.Conv3d)):
                continue
            for pname in ("weight", "bias"):
                key = f"{idx}.{pname}"
                if key not in state:
                    raise InputFileError(
                        src,
                        f"missing key 'features.{key}' needed by {vgg_type} layer {VGG_LAYER_NAMES[vgg_type][idx]}",
                        f"is this a {vgg_type} file? VGG-16 and VGG-19 files are not interchangeable",
                    )
                value = state[key].to(dtype=torch.float32)
                target = getattr(layer, pname)
                if pname == "weight" and idx == 0 and target.shape[1] == 1 and value.ndim == 4 and value.shape[1] == 3:
                    value = value.sum(dim=1, keepdim=True)
                if value.ndim == 4 and target.ndim == 5:
                    raise InputFileError(src, "ImageNet VGG weights are 2D; they cannot initialise a 3D network")
                if tuple(value.shape) != tuple(target.shape):
                    raise InputFileError(
                        src,
                        f"'features.{key}' has shape {tuple(value.shape)}, the {vgg_type} layer "
                        f"{VGG_LAYER_NAMES[vgg_type][idx]} needs {tuple(target.shape)}",
                        f"is this a {vgg_type} file? VGG-16 and VGG-19 files are not interchangeable",
                    )
                target.copy_(value)


def _weights_hint(vgg_type: str | None = None) -> str:
    files = {vgg_type: VGG_WEIGHT_FILES[vgg_type]} if vgg_type in VGG_WEIGHT_FILES else VGG_WEIGHT_FILES
    where = "; ".join(f"{k}: {v}" for k, v in files.items())
    return (
        "download the torchvision ImageNet weight file on a machine with internet access "
        f"({where}; torchvision also caches it under ~/.cache/torch/hub/checkpoints/) and pass its local path "
        "as weights_path=...; nothing is downloaded at run time"
    )


class VGGFeatureExtractor(nn.Module):
    """Named feature maps of an ImageNet VGG-16/19, frozen, for perceptual losses.

    The input is mapped from ``input_range`` to [0, 1], then (``use_input_norm``) normalised with the ImageNet
    mean/std, and passed through torchvision's VGG ``features`` stack truncated after the deepest requested layer.
    One-channel input is replicated to three channels. The paper's feature map ``phi_{i,j}`` (SRGAN / paper 000,
    eq. 3: the ``j``-th convolution before the ``i``-th pooling, after activation) is ``relu{i}_{j}``; the
    "before activation" features of ESRGAN/Real-ESRGAN (paper 002) are ``conv{i}_{j}``.

    3D input ``(N, C, H, W, D)`` is processed slice by slice along the last axis (each ``(H, W)`` slice is a
    2D image; the slices are batched together, so memory grows with ``N * D``) and every feature map is returned
    as ``(N, C', H', W', D)`` -- a 2.5D perceptual feature, since no 3D ImageNet VGG exists.

    Args:
        layer_names: layers to return, e.g. ``["conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4"]``
            (Real-ESRGAN) or ``["relu4_1"]`` with ``vgg_type="vgg16"`` (paper 003). See ``VGG_LAYER_NAMES``.
        vgg_type: ``"vgg19"`` or ``"vgg16"``.
        weights_path: path of the torchvision-format ImageNet weight file (``features.N.weight`` keys; the full
            torchvision state dict with ``classifier.*`` keys is accepted, the classifier is ignored). Loaded with
            ``weights_only=True`` whenever it is given.
        use_input_norm: normalise with the ImageNet mean/std (as the ImageNet weights expect).
        input_range: the value range of the input images, e.g. ``(0, 1)`` (default) or ``(-1, 1)``
            (paper 004); mapped linearly to [0, 1] before the ImageNet normalisation.
        requires_grad: train the VGG weights as well (default frozen). Gradients always reach the input.
        pretrained: require ImageNet weights. ``True`` (default) without ``weights_path`` raises a
            ``ConfigError`` that explains where to get the file; ``False`` keeps random weights when no file is
            given (tests, experiments).

    Shapes:
        input ``(N, 1 or 3, H, W)`` or ``(N, 1 or 3, H, W, D)``; output ``{name: (N, C', H', W'[, D])}`` in the
        order of ``layer_names``.

    Raises:
        ConfigError: unknown ``vgg_type``/layer name, an empty ``layer_names``, a bad ``input_range``, or
            ``pretrained=True`` without ``weights_path``.
        InputFileError: the weight file is missing or does not fit (see :func:`load_vgg_weights`).
    """

    def __init__(
        self,
        layer_names: Sequence[str],
        vgg_type: str = "vgg19",
        weights_path: str | os.PathLike | None = None,
        use_input_norm: bool = True,
        input_range: Sequence[float] = (0.0, 1.0),
        requires_grad: bool = False,
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        _check_vgg_type(vgg_type)
        if isinstance(layer_names, str):
            layer_names = [layer_names]
        self.layer_names = list(layer_names)
        if not self.layer_names:
            raise ConfigError("VGGFeatureExtractor: layer_names must name at least one layer.")
        self.layer_indices = {name: vgg_layer_index(name, vgg_type) for name in self.layer_names}
        if len(input_range) != 2 or not float(input_range[1]) > float(input_range[0]):
            raise ConfigError(
                f"VGGFeatureExtractor: input_range must be (low, high) with low < high, got {input_range}."
            )
        if pretrained and weights_path is None:
            raise ConfigError(
                f"VGGFeatureExtractor(pretrained=True) needs weights_path (ImageNet {vgg_type} weights): "
                + _weights_hint(vgg_type)
                + ". Pass pretrained=False to use random weights (tests only: a random VGG is no perceptual metric)."
            )
        self.vgg_type = vgg_type
        self.weights_path = None if weights_path is None else os.fspath(weights_path)
        self.use_input_norm = use_input_norm
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.features = build_vgg_features(2, 3, vgg_type, last_index=max(self.layer_indices.values()))
        if weights_path is not None:
            load_vgg_weights(self.features, weights_path, vgg_type)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.trainable = requires_grad
        for p in self.features.parameters():
            p.requires_grad_(requires_grad)
        if not requires_grad:
            self.eval()

    def train(self, mode: bool = True) -> VGGFeatureExtractor:
        """Frozen extractors stay in eval mode (no layer depends on it today; kept for safety)."""
        return super().train(mode and self.trainable)

    def _preprocess(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, *x.shape[2:])
        elif x.shape[1] != 3:
            raise ValueError(f"VGGFeatureExtractor expects 1 or 3 input channels, got {x.shape[1]}.")
        lo, hi = self.input_range
        if (lo, hi) != (0.0, 1.0):
            x = (x - lo) / (hi - lo)
        if self.use_input_norm:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return x

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return ``{name: feature map}`` for every requested layer (see the class docstring for 3D)."""
        if x.ndim == 5:
            n, d = x.shape[0], x.shape[-1]
            slices = x.movedim(-1, 1).reshape(n * d, *x.shape[1:-1])
            out2d = self.forward(slices)
            return {k: v.reshape(n, d, *v.shape[1:]).movedim(1, -1) for k, v in out2d.items()}
        if x.ndim != 4:
            raise ValueError(
                f"VGGFeatureExtractor expects (N, C, H, W) or (N, C, H, W, D) input, got {tuple(x.shape)}."
            )
        h = self._preprocess(x)
        wanted = {idx: name for name, idx in self.layer_indices.items()}
        found: dict[str, torch.Tensor] = {}
        for idx, layer in enumerate(self.features):
            h = layer(h)
            if idx in wanted:
                found[wanted[idx]] = h
        return {name: found[name] for name in self.layer_names}

    def extra_repr(self) -> str:
        return (
            f"vgg_type={self.vgg_type!r}, layer_names={self.layer_names}, use_input_norm={self.use_input_norm}, "
            f"input_range={self.input_range}, weights_path={self.weights_path!r}"
        )
