"""RRDBNet (ESRGAN / Real-ESRGAN generator, paper 002), key-compatible with the released Real-ESRGAN checkpoints.

Architecture (Wang et al., ESRGAN, ECCVW 2018, Fig. 3–4; Real-ESRGAN, ICCVW 2021, Sec. 3.3): ``conv_first``, a trunk of
``num_blocks`` residual-in-residual dense blocks (residual scaling β = 0.2), ``conv_body`` with a long skip, two
``nearest ×2 → conv → LeakyReLU(0.2)`` upsampling steps (``conv_up1``, ``conv_up2``), ``conv_hr`` and ``conv_last``.
Real-ESRGAN's ×2 and ×1 models put a pixel-unshuffle (2 or 4) in front so the trunk always upsamples ×4. The released
×4 model (23 blocks, 64 features, growth 32) has 16,697,987 parameters (paper 002).

Generalisation, identical to the reference where the reference is defined: the trunk upsamples by ``2^n`` with
``n = max(2, log2(max scale))`` (``conv_up3`` for ×8, ``conv_up4`` for ×16) and every axis is pixel-unshuffled by
``2^n / scale_axis`` first, so 3D through-plane scales such as ``(1, 1, 4)`` work with the same keys. Inputs whose size
is not divisible by the unshuffle factor are edge-padded and the output cropped back (BasicSR pads the same way at
inference).

:func:`rrdbnet_rgb_to_gray` converts the weights of an RGB model into an exactly equivalent 1-channel model (see
there) so released RGB weights can be fine-tuned on gray X-rays (paper 002's transfer-learning recipe).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from torch import nn

from ...errors import ConfigError
from ..blocks.pixelshuffle import pixel_unshuffle
from ..blocks.residual import RRDB
from .base import receptive_field, set_scale

__all__ = ["RRDBNet", "rrdbnet_rgb_to_gray", "GRAY_WEIGHTS"]

#: output-channel weights for the RGB → gray conversion: ITU-R BT.601 luma (default) or the plain mean
GRAY_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "bt601": (0.299, 0.587, 0.114),
    "mean": (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
}


class RRDBNet(nn.Module):
    """Real-ESRGAN's RRDBNet for 2D/3D, 1 or 3 channels, scale 1/2/4/8/16 or per-axis powers of two.

    ``feat = conv_first(unshuffle(lr)); feat = feat + conv_body(RRDB^B(feat));``
    ``feat = lrelu(conv_up_k(nearest×2(feat)))`` for ``k = 1..n``; ``sr = conv_last(lrelu(conv_hr(feat)))``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (``num_in_ch`` in BasicSR).
        out_channels: output channels (``num_out_ch``).
        scale: 1, 2, 4 (Real-ESRGAN), 8, 16 or one power of two per axis.
        num_feat: feature channels (64 released).
        num_blocks: RRDB blocks (``num_block`` in BasicSR; 23 released, 6 in the anime model).
        num_grow_ch: growth channels of the dense blocks (32 released).
        res_scale: residual scaling β (0.2).

    Attributes:
        scale: int (isotropic) or per-axis tuple.
        receptive_field: radius in LR pixels (exact dependency radius; see ``generators.base``).
        unshuffle_factors: pixel-unshuffle factor per axis in front of ``conv_first``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int | Sequence[int] = 4,
        num_feat: int = 64,
        num_blocks: int = 23,
        num_grow_ch: int = 32,
        res_scale: float = 0.2,
    ) -> None:
        super().__init__()
        factors = set_scale(self, spatial_dims, scale)
        if any(f & (f - 1) for f in factors):
            raise ConfigError(f"RRDBNet scale must be a power of two per axis (1, 2, 4, 8, 16), got {scale!r}.")
        n_up = max(2, int(math.log2(max(factors))))
        if n_up > 4:
            raise ConfigError(f"RRDBNet supports scales up to 16, got {scale!r}.")
        conv = Conv[Conv.CONV, spatial_dims]
        self.scale_factors = list(factors)
        self.unshuffle_factors = [2**n_up // f for f in factors]
        self.n_up = n_up
        self.unshuffle = math.prod(self.unshuffle_factors)
        self.conv_first = conv(in_channels * self.unshuffle, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(spatial_dims, num_feat, num_grow_ch, res_scale) for _ in range(num_blocks)])
        self.conv_body = conv(num_feat, num_feat, 3, 1, 1)
        for i in range(n_up):
            self.add_module(f"conv_up{i + 1}", conv(num_feat, num_feat, 3, 1, 1))
        self.conv_hr = conv(num_feat, num_feat, 3, 1, 1)
        self.conv_last = conv(num_feat, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.receptive_field = receptive_field(
            lambda d: (
                [("down", self.unshuffle_factors[d])]
                + [("conv", 1)] * (2 + 15 * num_blocks)
                + [op for _ in range(n_up) for op in (("up", 2), ("conv", 1))]
                + [("conv", 1)] * 2
            ),
            factors,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes: list[int] = []
        pad: list[int] = []
        # traced/ONNX graphs always pad (by 0 when divisible) so that they stay valid for every input size
        need_pad = torch.jit.is_tracing() and self.unshuffle > 1
        for d in range(self.spatial_dims - 1, -1, -1):  # F.pad lists the last axis first
            s = x.shape[2 + d]
            f = self.unshuffle_factors[d]
            sizes.insert(0, s)
            pad += [0, (f - s % f) % f]
            if s % f != 0:
                need_pad = True
        if need_pad:
            x = F.pad(x, pad, mode="replicate")
        feat = pixel_unshuffle(x, self.unshuffle_factors)
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        # Real-ESRGAN's flat key names (conv_up1, conv_up2, ...); hasattr is resolved statically by TorchScript
        if hasattr(self, "conv_up1"):
            feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2.0, mode="nearest")))
        if hasattr(self, "conv_up2"):
            feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2.0, mode="nearest")))
        if hasattr(self, "conv_up3"):
            feat = self.lrelu(self.conv_up3(F.interpolate(feat, scale_factor=2.0, mode="nearest")))
        if hasattr(self, "conv_up4"):
            feat = self.lrelu(self.conv_up4(F.interpolate(feat, scale_factor=2.0, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        if need_pad:
            for d in range(self.spatial_dims):
                out = out.narrow(2 + d, 0, sizes[d] * self.scale_factors[d])
        return out


def rrdbnet_rgb_to_gray(
    state_dict: Mapping[str, torch.Tensor], output_weights: str | Sequence[float] = "bt601", gray_input: bool = True
) -> dict[str, torch.Tensor]:
    """Exact conversion of a 3-channel RRDBNet state dict into a 1-channel one (gray X-ray fine-tuning, paper 002).

    - Input: a gray image fed to the RGB model as ``(g, g, g)`` contributes ``Σ_c W[:, c]·g`` to ``conv_first``, so the
      gray model's ``conv_first.weight`` is the sum over the input colour channels (per pixel-unshuffle offset:
      BasicSR's unshuffled channel ``c·r² + k`` → gray channel ``k``).
    - Output: the gray output is a fixed linear combination ``Σ_c a_c · out_c`` of the RGB model's outputs, folded
      into ``conv_last``: ``W' = Σ_c a_c W[c]``, ``b' = Σ_c a_c b[c]``. ``a`` is ITU-R BT.601 luma
      ``(0.299, 0.587, 0.114)`` by default (the Y channel SR papers evaluate on), ``"mean"`` for ``(1/3, 1/3, 1/3)``,
      or any three weights.

    Hence ``gray_model(g) == Σ_c a_c · rgb_model(g, g, g)_c`` up to float rounding (tested).

    Args:
        state_dict: an RRDBNet state dict with 3 input and 3 output channels (unwrapped, e.g. ``params_ema``).
        output_weights: ``"bt601"``, ``"mean"`` or a sequence of 3 floats.
        gray_input: convert the input side too (``False`` keeps 3-channel input, gray output only).

    Returns:
        A new state dict for ``RRDBNet(..., in_channels=1 (or 3), out_channels=1)`` with the same keys.
    """
    a = GRAY_WEIGHTS[output_weights] if isinstance(output_weights, str) else tuple(float(v) for v in output_weights)
    if len(a) != 3:
        raise ConfigError(f"output_weights needs 3 values (R, G, B), got {output_weights!r}.")
    sd = {k: v.clone() for k, v in state_dict.items()}
    for key in ("conv_first.weight", "conv_last.weight", "conv_last.bias"):
        if key not in sd:
            raise ConfigError(f"not an RRDBNet state dict: '{key}' missing (unwrap 'params_ema'/'params' first).")
    w_last, b_last = sd["conv_last.weight"], sd["conv_last.bias"]
    if w_last.shape[0] != 3:
        raise ConfigError(f"conv_last has {w_last.shape[0]} output channels; the RGB → gray conversion needs 3.")
    coef = torch.tensor(a, dtype=w_last.dtype)
    sd["conv_last.weight"] = torch.einsum("c,c...->...", coef, w_last).unsqueeze(0).contiguous()
    sd["conv_last.bias"] = (coef * b_last).sum().reshape(1)
    if gray_input:
        w = sd["conv_first.weight"]
        if w.shape[1] % 3 != 0:
            raise ConfigError(f"conv_first has {w.shape[1]} input channels, not 3 × (unshuffle factor)².")
        per = w.shape[1] // 3
        sd["conv_first.weight"] = w.reshape(w.shape[0], 3, per, *w.shape[2:]).sum(dim=1).contiguous()
    return sd
