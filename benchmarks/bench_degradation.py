"""Degradation throughput: HR 256-px patches per second on the CPU (issue 2 benchmark; figures in docs/benchmarks.md).

Run from the repository root (about a minute):

    python benchmarks/bench_degradation.py            # plain-text table
    python benchmarks/bench_degradation.py --markdown # the table for docs/benchmarks.md

Each case degrades real 256×256 HR patches cut from ../shared/data (or $MONAI_SRGAN_DATA) in a loop for
``--seconds``: once in one process with one torch thread (per-core rate and CPU ms per patch), then in
``--workers`` processes at once (what a DataLoader with that many workers gets). The load average of the machine is
printed with the table: other users of the CPU make the numbers noisy.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monai_srgan.transforms import (  # noqa: E402
    BicubicDownsample,
    RandRealESRGANDegradation,
    RandRealESRGANDegradationd,
    RandXRayDegradation,
)

__all__ = ["main", "CASES"]


def _data_root() -> Path:
    env = os.environ.get("MONAI_SRGAN_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not (root / "MANIFEST.md").is_file():
        raise SystemExit(f"shared data not found at {root}; set MONAI_SRGAN_DATA")
    return root


def _crops(a: np.ndarray, n: int, size: int = 256, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.RandomState(seed)
    h, w = a.shape[:2]
    out = []
    for _ in range(n):
        y, x = rng.randint(h // 8, h - size - h // 8), rng.randint(w // 8, w - size - w // 8)
        out.append(np.ascontiguousarray(a[y : y + size, x : x + size]))
    return out


def load_patches(n: int = 8) -> dict[str, list[torch.Tensor]]:
    """Real 256² patches: RGB 8-bit fundus (HRF) and 12-bit gray chest X-ray (DICOM, normalised to [0, 1])."""
    root = _data_root()
    rgb = np.asarray(Image.open(root / "retina" / "hrf_01_h.jpg").convert("RGB"))
    rgb_p = [torch.from_numpy(c.astype(np.float32) / 255.0).permute(2, 0, 1).contiguous() for c in _crops(rgb, n)]
    try:
        import pydicom

        ds = pydicom.dcmread(root / "dicom" / "pydicom-issue966_966_fixed.dcm")
        g = ds.pixel_array.astype(np.float32) / float(2 ** int(ds.BitsStored) - 1)
    except Exception:  # JPEG 2000 decoder missing: fall back to the 8-bit NIH PNG scaled as if 16-bit
        g = np.asarray(Image.open(root / "cxr" / "nih_00000075_000.png").convert("L")).astype(np.float32) / 255.0
    gray_p = [torch.from_numpy(c)[None].contiguous() for c in _crops(g, n)]
    return {"rgb": rgb_p, "gray": gray_p}


def _case(name: str):
    if name == "bicubic_x4_rgb":
        t = BicubicDownsample(4)
        return "rgb", lambda x: t(x)
    if name == "realesrgan_x4_rgb8":
        t = RandRealESRGANDegradationd(keys="hr", lr_key="lr", scale=4, bit_depth=8).set_random_state(0)
        return "rgb", lambda x: t({"hr": x})
    if name == "realesrgan_x4_rgb8_nousm":
        t = RandRealESRGANDegradation(scale=4, bit_depth=8, usm=False).set_random_state(0)
        return "rgb", lambda x: t(x)
    if name == "realesrgan_x4_gray16":
        t = RandRealESRGANDegradationd(keys="hr", lr_key="lr", scale=4, bit_depth=16).set_random_state(0)
        return "gray", lambda x: t({"hr": x})
    if name == "xray_x2_gray16":
        t = RandXRayDegradation(scale=2).set_random_state(0)
        return "gray", lambda x: t(x)
    if name == "realesrgan_x4_rgb8_batch16":
        t = RandRealESRGANDegradation(scale=4, bit_depth=8).set_random_state(0)
        return "rgb_batch16", lambda x: t(x)
    raise KeyError(name)


CASES = {
    "bicubic_x4_rgb": "bicubic ×4, RGB 8-bit (BicubicDownsample)",
    "realesrgan_x4_rgb8": "Real-ESRGAN high-order ×4, RGB 8-bit, with USM GT (RandRealESRGANDegradationd)",
    "realesrgan_x4_rgb8_nousm": "Real-ESRGAN high-order ×4, RGB 8-bit, USM precomputed per image (or off)",
    "realesrgan_x4_gray16": "Real-ESRGAN high-order ×4, gray 16-bit defaults, with USM GT",
    "xray_x2_gray16": "X-ray detector model ×2, gray (PSF + binning + Poisson-Gaussian)",
    "realesrgan_x4_rgb8_batch16": "Real-ESRGAN ×4 RGB 8-bit, one call per batch of 16 (N, C, H, W)",
}


_PATCHES: dict[str, list[torch.Tensor]] = {}


def _init(n: int = 8) -> None:
    torch.set_num_threads(1)
    if not _PATCHES:
        _PATCHES.update(load_patches(n))


def _run(args: tuple[str, float, int]) -> tuple[int, float, float]:
    name, seconds, n = args
    _init(n)
    patches = _PATCHES
    kind, fn = _case(name)
    per_call = 1
    if kind == "rgb_batch16":
        items = [torch.stack([patches["rgb"][(i + j) % n] for j in range(16)]) for i in range(n)]
        per_call = 16
    else:
        items = patches[kind]
    fn(items[0])  # warm-up (weight caches)
    count, i = 0, 0
    c0, w0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - w0 < seconds:
        fn(items[i % len(items)])
        i += 1
        count += per_call
    return count, time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per measurement")
    p.add_argument("--workers", type=int, default=2, help="parallel processes for the multi-worker rate")
    p.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args(argv)
    load0 = os.getloadavg()[0]
    rows = []
    with mp.get_context("spawn").Pool(a.workers, initializer=_init) as pool:
        for name in a.cases:
            n1, w1, c1 = _run((name, a.seconds, 8))
            res = pool.map(_run, [(name, a.seconds, 8)] * a.workers, chunksize=1)
            rate_w = sum(r[0] / r[1] for r in res)
            rows.append((name, n1 / w1, 1000.0 * c1 / n1, rate_w))
    load1 = os.getloadavg()[0]
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}"
    head = (
        f"| case | 1 process (patches/s) | CPU ms/patch | {a.workers} processes (patches/s) "
        f"| {a.workers} idle cores, est. (patches/s) |"
    )
    if a.markdown:
        print(f"Command: `python benchmarks/bench_degradation.py --seconds {a.seconds:g} --workers {a.workers}`  ")
        print(f"Machine: {machine}; load average {load0:.1f} before, {load1:.1f} after.\n")
        print(head)
        print("|---|---:|---:|---:|---:|")
        for name, r1, cms, rw in rows:
            print(f"| {CASES[name]} | {r1:.0f} | {cms:.1f} | {rw:.0f} | {a.workers * 1000.0 / cms:.0f} |")
    else:
        print(f"machine: {machine}; load average {load0:.1f} → {load1:.1f}")
        for name, r1, cms, rw in rows:
            print(
                f"{name:28s} 1 proc {r1:8.1f}/s  {cms:6.1f} CPU ms/patch  {a.workers} procs {rw:8.1f}/s  "
                f"est. {a.workers} idle cores {a.workers * 1000.0 / cms:8.1f}/s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
