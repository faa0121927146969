"""Grain synthesis: stationary white noise of a set amplitude added to an SR output, the sensor grain that a
pixel-loss model averages away and that an adversarial generator, having no source of randomness, imitates with
structure drawn from the input (the "web of thin branching lines" of docs/results.md).

The idea is film-grain synthesis (AV1, Norkin & Birkbeck, "Film grain synthesis for AV1 video codec", DCC 2018):
grain carries no content, so it is not reconstructed but synthesised with a measured amplitude. ESRGAN+ (Rakotonirina
& Rasoanaivo, ICASSP 2020) gives an SR generator Gaussian noise inputs for the same reason. Here the noise is added
after the generator, so it can never shape anatomy: every output pixel gets ``sigma_c · n`` with ``n`` standard
normal, independent between pixels and channels.

At inference the noise is a function of the output position (and the slice, for volumes run slice by slice) and a
seed, drawn in fixed blocks of the output grid: tiled and whole-image inference give the same pixels, and the same
input always gives the same output. In training it is fresh noise every call, so the discriminator and the losses
see grain that the generator cannot memorise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from monai_srgan.errors import ConfigError

__all__ = ["GrainGenerator", "position_noise", "with_grain", "grain_applied_to", "GRAIN_KEY"]

#: state-dict key of the per-channel grain amplitude in a weight file of a :class:`GrainGenerator`
GRAIN_KEY = "grain_sigma"
#: edge of the blocks of the output grid the inference noise is drawn in (one seeded draw per block)
NOISE_BLOCK = 64


def position_noise(
    channels: int,
    region: Sequence[slice],
    seed: int = 0,
    index: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Standard normal noise ``(channels, *region)`` that depends only on the absolute position, ``index`` and ``seed``.

    The output grid is cut into blocks of :data:`NOISE_BLOCK` pixels per axis; each block is one draw of a CPU
    ``torch.Generator`` seeded by ``(seed, index, block coordinates)``. Any two regions agree where they overlap, so
    tiles of an image get exactly the noise of the whole image.

    Args:
        channels: number of channels.
        region: the output slices (absolute, with ``start`` and ``stop``), one per spatial axis.
        seed: the noise seed.
        index: an extra key (the slice of a volume run slice by slice, the batch entry).
        device: where the result goes.
    """
    starts = [int(s.start or 0) for s in region]
    stops = [int(s.stop) for s in region]
    if any(b <= a for a, b in zip(starts, stops)):
        raise ConfigError(f"position_noise: empty region {tuple(region)}")
    first = [a // NOISE_BLOCK for a in starts]
    last = [(b - 1) // NOISE_BLOCK for b in stops]
    grid = [range(f, g + 1) for f, g in zip(first, last)]
    span = [(g - f + 1) * NOISE_BLOCK for f, g in zip(first, last)]
    field = torch.empty((channels, *span))
    gen = torch.Generator()
    for block in itertools.product(*grid):
        key = (int(seed), int(index), *block)
        gen.manual_seed(_mix(key))
        at = tuple(slice((b - f) * NOISE_BLOCK, (b - f + 1) * NOISE_BLOCK) for b, f in zip(block, first))
        field[(slice(None), *at)] = torch.randn((channels, *[NOISE_BLOCK] * len(block)), generator=gen)
    crop = tuple(slice(a - f * NOISE_BLOCK, b - f * NOISE_BLOCK) for a, b, f in zip(starts, stops, first))
    return field[(slice(None), *crop)].to(device)


def _mix(key: Sequence[int]) -> int:
    # splitmix64 over the key's integers: a seed per block, with nearby blocks far apart
    h = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    for k in key:
        h = (h ^ (k & mask)) * 0xBF58476D1CE4E5B9 & mask
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & mask
        h ^= h >> 29
    return h


class GrainGenerator(nn.Module):
    """Wraps a generator: ``forward(lr) = G(lr) + sigma · n`` (grain synthesis, module doc).

    The wrapped generator keeps its weights (``.generator``); the wrapper has the generator contract (``.scale``,
    ``.spatial_dims``, ``.receptive_field``, ...). The amplitude is a buffer saved with the weights
    (:data:`GRAIN_KEY`), in the units of the network's normalised output (fractions of the data range for [0, 1]
    models). :class:`~monai_srgan.inference.SRInferencePipeline` runs the tiles through ``.generator`` and adds
    :meth:`grain` to each at its position, so tiling stays exact.

    Args:
        generator: the SR generator.
        sigma: grain amplitude, one value (for every channel) or one per output channel (0: no grain).
        seed: seed of the inference noise (:func:`position_noise`).
    """

    def __init__(self, generator: nn.Module, sigma: float | Sequence[float], seed: int = 0) -> None:
        super().__init__()
        if not isinstance(generator, nn.Module):
            raise ConfigError(f"GrainGenerator wraps a torch.nn.Module generator, got {type(generator).__name__}")
        if isinstance(generator, GrainGenerator):
            raise ConfigError("GrainGenerator: the generator already has grain; set its sigma instead of wrapping it")
        self.generator = generator
        values = [float(sigma)] if not isinstance(sigma, Sequence) else [float(s) for s in sigma]
        if not values or any(not v >= 0 for v in values):
            raise ConfigError(f"GrainGenerator sigma={sigma}: give amplitudes >= 0, one or one per output channel")
        self.register_buffer(GRAIN_KEY, torch.tensor(values, dtype=torch.float32))
        self.seed = int(seed)

    def __getattr__(self, name: str) -> Any:
        # the generator contract's attributes (scale, receptive_field, in_channels, ...) are the wrapped network's
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["generator"], name)

    @property
    def sigma(self) -> torch.Tensor:
        """The per-channel grain amplitude."""
        return getattr(self, GRAIN_KEY)

    def _sigma_for(self, channels: int) -> torch.Tensor:
        """The amplitude per output channel (one value serves every channel)."""
        if self.sigma.numel() == 1:
            return self.sigma.expand(channels)
        if self.sigma.numel() != channels:
            raise ConfigError(
                f"GrainGenerator: output has {channels} channels, sigma has {self.sigma.numel()}: give one value or "
                "one per channel (train.json grain_sigma)"
            )
        return self.sigma

    def grain(self, shape: Sequence[int], region: Sequence[slice] | None = None, index: int = 0) -> torch.Tensor:
        """The grain of an output ``(C, *spatial)`` at ``region`` (default: the whole output from the origin)."""
        c, *spatial = (int(s) for s in shape)
        sigma = self._sigma_for(c)
        if region is None:
            region = tuple(slice(0, n) for n in spatial)
        noise = position_noise(c, region, self.seed, index, sigma.device)
        return noise * sigma.view(-1, *[1] * len(spatial))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sr = self.generator(x)
        if self.training:
            shape = (1, -1, *[1] * (sr.ndim - 2))
            return sr + torch.randn_like(sr) * self._sigma_for(sr.shape[1]).to(sr.dtype).view(shape)
        noise = torch.stack([self.grain(sr.shape[1:], index=i) for i in range(sr.shape[0])])
        return sr + noise.to(sr)


def with_grain(generator: nn.Module, sigma: float | Sequence[float] | None, seed: int = 0) -> nn.Module:
    """``GrainGenerator(generator, sigma)``, or ``generator`` itself when ``sigma`` is 0 or None (no grain)."""
    if sigma is None or (not isinstance(sigma, Sequence) and float(sigma) == 0):
        return generator
    return GrainGenerator(generator, sigma, seed)


def grain_applied_to(network: nn.Module, wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """``wrap(network)`` with the grain kept outside: for a :class:`GrainGenerator`, its generator is wrapped (e.g. by
    :class:`~monai_srgan.networks.SelfEnsemble`, which would otherwise average the grain away) and the grain added to
    the result; any other network is simply wrapped."""
    if not isinstance(network, GrainGenerator):
        return wrap(network)
    return GrainGenerator(wrap(network.generator), network.sigma.tolist(), network.seed)
