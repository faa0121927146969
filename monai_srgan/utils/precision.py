"""Precision by capability: bf16 autocast where this machine runs it natively and faster, fp32 elsewhere.

``resolve_dtype("auto", device)`` is what inference uses (``SRInferencePipeline(dtype="auto")``, the default):

- **CUDA**: ``float16`` autocast.
- **CPU**: ``bfloat16`` autocast when the CPU has bf16 instructions (``avx512_bf16`` or ``amx_bf16`` in
  ``/proc/cpuinfo``); else ``float32``. Without bf16 units PyTorch emulates bf16 and is many times slower than fp32.
  The decision is by the flags alone, so the same machine always gives the same output: the earlier timed probe
  could choose fp32 when the machine was busy, and two runs of one command could then differ by a grey level.
  :func:`bf16_speedup` times a probe for benchmarks (docs/benchmarks.md, "Precision").

Low precision runs under :func:`low_precision`: autocast everywhere except the first convolution, which sees the
input in float32. Rounding the *input* to bf16 (8 significant bits) is what costs accuracy: with it, bf16 cost the
shipped cxr_sr network 0.018 dB PSNR on its held-out images; with the first convolution in fp32 it costs 0.001 dB
(retina_sr: 0.0025 → 0.0006 dB) for ~5 % of the speed-up (docs/benchmarks.md, "Precision"). The criterion for
``"auto"`` is a cost ≤ 0.01 dB against the HR image. Set ``MONAI_SRGAN_AUTO_DTYPE=float32`` (or ``bfloat16``) to
override what ``"auto"`` picks, e.g. for a network whose bf16 cost was not measured. Training can use the same
decision (``fast_bf16()``) for its ``amp_dtype``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import time
from collections.abc import Iterator

import torch

from monai_srgan.errors import ConfigError

__all__ = [
    "cpu_flags",
    "cpu_model_name",
    "bf16_flags",
    "has_native_bf16",
    "bf16_speedup",
    "fast_bf16",
    "resolve_dtype",
    "low_precision",
]

_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
_NAMES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info.setdefault(k.strip(), v.strip())
    except OSError:  # not Linux: no flags known
        pass
    return info


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it does not exist)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_model_name() -> str:
    """The CPU model name of ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    return _cpuinfo().get("model name") or platform.processor() or "unknown"


def bf16_flags() -> list[str]:
    """The CPU's bf16 and AMX flags (``avx512_bf16``, ``amx_bf16``, ``amx_tile``, ...), sorted: what benchmarks record
    beside their timings."""
    return sorted(f for f in cpu_flags() if "bf16" in f or f.startswith("amx"))


def has_native_bf16() -> bool:
    """True when the CPU has bf16 instructions (``avx512_bf16`` or AMX ``amx_bf16``)."""
    return any(f in cpu_flags() for f in _BF16_FLAGS)


@functools.cache
def bf16_speedup(repeats: int = 3) -> float:
    """fp32 time / bf16-autocast time of a small CPU convolution probe (cached: measured once per process).

    The probe is three 3×3 convolutions, 32 → 32 channels with LeakyReLU, on a ``(1, 32, 96, 96)`` channels-last
    input (the shape of the compact SR generators' body); best of ``repeats`` after a warm-up call; ≈ 0.1–0.5 s.
    """
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        *[m for _ in range(3) for m in (torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.LeakyReLU(0.1))]
    ).eval()
    net = net.to(memory_format=torch.channels_last)
    x = torch.rand(1, 32, 96, 96).contiguous(memory_format=torch.channels_last)

    def best(low: bool) -> float:
        times = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=low):
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                net(x)
                if i:  # the first call builds the kernels
                    times.append(time.perf_counter() - t0)
        return min(times)

    t32, t16 = best(False), best(True)
    t32 = min(t32, best(False))  # interleaved, so that a load change hits both
    return t32 / max(t16, 1e-9)


def fast_bf16(device: str | torch.device = "cpu") -> bool:
    """True when bf16 autocast is native on ``device`` (CPU: the bf16 flags; deterministic, no timing)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type != "cpu":
        return False
    return has_native_bf16()


def resolve_dtype(dtype: str | torch.dtype | None = "auto", device: str | torch.device = "cpu") -> torch.dtype:
    """The dtype to run a generator in on ``device``: ``"auto"``/``None`` decide by capability (module docstring).

    Args:
        dtype: ``"auto"`` (or ``None``), or an explicit ``float32``/``bfloat16``/``float16`` (name or torch dtype).
        device: where the generator runs.

    Returns:
        ``torch.float32`` (run as it is), or ``torch.bfloat16``/``torch.float16`` (run under autocast).
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    name = "auto" if dtype is None else str(dtype).replace("torch.", "").lower()
    if name == "auto":
        name = os.environ.get("MONAI_SRGAN_AUTO_DTYPE", "auto").lower() or "auto"
        if name == "auto":
            dev = torch.device(device)
            if dev.type == "cuda":
                return torch.float16
            return torch.bfloat16 if fast_bf16(dev) else torch.float32
    if name not in _NAMES:
        raise ConfigError(f"dtype={dtype!r}: choose auto, float32, bfloat16 or float16")
    return _NAMES[name]


@contextlib.contextmanager
def low_precision(network: torch.nn.Module | None, device_type: str, dtype: torch.dtype | None) -> Iterator[None]:
    """Run ``network`` under ``dtype`` autocast, with its first convolution (registration order) in float32.

    ``dtype`` ``None``/``float32`` is a no-op. The first convolution's input is cast to float32 and autocast is off
    inside it (forward pre-hook/hook pair, removed on exit), so the input keeps its full precision.

    Args:
        network: the generator (hooks go on its first ``nn.Conv*``; none when it has none or is not a module).
        device_type: ``"cpu"`` or ``"cuda"``.
        dtype: ``torch.bfloat16`` or ``torch.float16`` for autocast.
    """
    if dtype is None or dtype == torch.float32:
        yield
        return
    first = None
    if isinstance(network, torch.nn.Module):
        first = next((m for m in network.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)), None)
    handles, contexts = [], []

    def pre(_m: torch.nn.Module, args: tuple) -> tuple:
        ctx = torch.autocast(device_type=device_type, enabled=False)
        ctx.__enter__()
        contexts.append(ctx)
        return tuple(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)

    def post(_m: torch.nn.Module, _args: tuple, _out: torch.Tensor) -> None:
        if contexts:
            contexts.pop().__exit__(None, None, None)

    if first is not None:
        handles = [first.register_forward_pre_hook(pre), first.register_forward_hook(post)]
    try:
        with torch.autocast(device_type=device_type, dtype=dtype):
            yield
    finally:
        for h in handles:
            h.remove()
