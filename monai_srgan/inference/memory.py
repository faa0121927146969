"""Memory check before super-resolving one input: the output is held whole in memory, so a large factor on a large
image (×16 of a 3000×2000 colour fundus: 4.6 GB of output pixels, about 16 GB with the writer's copies) must be
refused before it starts, not found out by the kernel's OOM killer after minutes.

Measured on this package's CLI (nearest-neighbour model, CPU; the tile working memory of a real generator is bounded
by the tile size): peak memory above the loaded input is about 1.9× the output array for grey PNG, 3.5× for 8-bit
colour PNG/JPEG (Pillow's interleaved copy + its 4-byte RGBX buffer) and 2.8× for colour NIfTI, plus ~100 MB.
:func:`memory_needed` uses 2× (grey, or 16-bit colour PNG written block by block) and 3.5× (8-bit colour) + 256 MiB +
three float32 copies of the input.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from monai_srgan.errors import InputFileError

__all__ = ["available_memory", "memory_needed", "check_memory", "format_bytes"]

_WORKING = 256 * 2**20


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_value(path: str, keys: Sequence[str]) -> int:
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name in keys and value.strip().isdigit():
                    return int(value)
    except OSError:
        pass
    return 0


def _cgroup_available() -> int | None:
    """What the container's memory limit still allows (cgroup v2, else v1); reclaimable file cache counts as free."""
    for limit_f, usage_f, stat_f, inactive in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat", "inactive_file"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
            "/sys/fs/cgroup/memory/memory.stat",
            "total_inactive_file",
        ),
    ):
        limit, usage = _read_int(limit_f), _read_int(usage_f)
        if limit is None or usage is None or limit >= 2**60:  # "max" or the v1 "unlimited" value
            continue
        return max(limit - usage + _stat_value(stat_f, (inactive,)), 0)
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate: ``MemAvailable`` of ``/proc/meminfo`` (else free physical pages),
    lowered to what a container's cgroup limit allows; None when unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    limit = _cgroup_available()
    if limit is not None:
        avail = limit if avail is None else min(avail, limit)
    return avail


def format_bytes(n: float) -> str:
    """``1.2 GB``-style size (decimal units, as disk and memory tools print them)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"  # pragma: no cover


def memory_needed(shape: Sequence[int], scales: Sequence[int], out_dtype: Any) -> tuple[int, int]:
    """``(output bytes, total bytes needed)`` to super-resolve an input of ``shape`` ``(C, *spatial)``.

    Args:
        shape: the loaded input's shape.
        scales: the SR factor per spatial axis.
        out_dtype: the output array's dtype.
    """
    channels, spatial = int(shape[0]), [int(n) for n in shape[1:]]
    out_px = int(np.prod([n * int(s) for n, s in zip(spatial, scales)] + spatial[len(scales) :], dtype=np.float64))
    itemsize = np.dtype(out_dtype).itemsize
    out_bytes = channels * out_px * itemsize
    factor = 3.5 if channels > 1 and itemsize == 1 else 2.0
    in_bytes = channels * int(np.prod(spatial, dtype=np.float64)) * 4
    return out_bytes, int(out_bytes * factor + 3 * in_bytes + _WORKING)


def check_memory(shape: Sequence[int], scales: Sequence[int], out_dtype: Any, where: str | None) -> None:
    """Refuse an input whose super-resolution would not fit in the memory available now.

    Args:
        shape: the loaded input's shape ``(C, *spatial)``.
        scales: the SR factor per spatial axis.
        out_dtype: the output array's dtype.
        where: the input, for the message.

    Raises:
        InputFileError: naming the output size, the memory needed and available, and what to do.
    """
    avail = available_memory()
    if avail is None:
        return
    out_bytes, need = memory_needed(shape, scales, out_dtype)
    if need <= avail:
        return
    out_shape = "×".join(str(int(n) * int(s)) for n, s in zip(shape[1:], scales))
    factor = "×".join(dict.fromkeys(str(int(s)) for s in scales))
    raise InputFileError(
        where,
        f"super-resolution ×{factor} gives a {out_shape} output of {format_bytes(out_bytes)} with {shape[0]} "
        f"channel(s) and needs about {format_bytes(need)} of memory; {format_bytes(avail)} is available",
        "use a smaller scale (--scale, e.g. a bundle's ×4 weights), crop or split the image, run it on a machine with "
        "more memory, or pass --no-memory-check to try anyway",
    )
