"""Generator throughput on CPU at ×4: output megapixels/s, FLOPs per output pixel, fraction of this machine's
convolution peak, and what channels_last and bf16 autocast change (speed and PSNR).

Usage::

    python benchmarks/bench_generators.py                    # 32x32 LR RGB crop -> 128x128, all generators
    python benchmarks/bench_generators.py --size 64 --repeat 3
    python benchmarks/bench_generators.py --only rrdbnet srvgg --threads 0   # torch's default thread count

One thread by default: on a CPU shared with other processes, multi-threaded runs stall at every operator's
thread barrier and their timings vary several-fold between runs; single-thread figures are reproducible (per core).

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per multiply-accumulate; convolutions,
matmuls and the rest of what it counts). The machine's convolution peak is measured in the same run by a large
3×3 convolution (64→64 channels on a 256×256 map) right after each generator's timing, so "fraction of peak" stays
meaningful when other processes share the CPU; fp32 and channels_last runs are interleaved for the same reason.
Networks are at their published sizes with random weights (the timing does not depend on them); the input is a
real fundus photograph crop (../shared/data/retina, or $MONAI_SRGAN_DATA), downsampled ×4.

bf16 autocast is timed on a ``--bf16-size`` centre crop (default 16 px LR) with one cold call, because CPUs without
bf16 units (AVX2 only) run it on slow reference kernels; its PSNR columns compare on that crop.

PSNR columns: ``PSNR vs fp32`` is the PSNR of the variant's output against the fp32 output (data range 1) — the
numerical error the variant adds; ``ΔPSNR vs HR`` is the change of the PSNR against the HR crop. With random weights
only the first is meaningful for every network (MSRResNet/SRVGGNetCompact outputs stay close to their interpolated
base, so their ``ΔPSNR vs HR`` is meaningful too).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monai_srgan.networks import EDSR, CascadedSR, MSRResNet, RRDBNet, SRResNet, SRVGGNetCompact  # noqa: E402

GENERATORS: dict[str, Callable[[], torch.nn.Module]] = {
    "srresnet": lambda: SRResNet(2, 3, 3, 4),  # SRGAN, 16 blocks, 64 features
    "srresnet8_p004": lambda: SRResNet(2, 3, 3, 4, num_blocks=8, head_kernel_size=3, trunk_norm="instance"),
    "msrresnet": lambda: MSRResNet(2, 3, 3, 4),  # BasicSR MSRResNet, 16 blocks
    "edsr_se": lambda: EDSR(2, 3, 3, 4),  # paper 001, 16 blocks, improved SE
    "rrdbnet": lambda: RRDBNet(2, 3, 3, 4),  # RealESRGAN_x4plus, 23 blocks
    "srvgg": lambda: SRVGGNetCompact(2, 3, 3, 4, 64, 32),  # realesr-general-x4v3
    "cascaded": lambda: CascadedSR(2, 3, 3, 4),  # paper 003, 2 x SRResNet-16 x2 stages
}


def _data_root() -> Path:
    env = os.environ.get("MONAI_SRGAN_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_pair(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(LR, HR): a centre crop of 4·size px of a fundus photograph, LR by antialiased bicubic ×4 reduction."""
    f = sorted((_data_root() / "retina").glob("hrf_01_h.jpg"))[0]
    img = Image.open(f).convert("RGB")
    w, h = img.size
    s = 4 * size
    hr_img = img.crop((w // 2 - s // 2, h // 2 - s // 2, w // 2 + s // 2, h // 2 + s // 2))
    lr_img = hr_img.resize((size, size), Image.BICUBIC)

    def t(im):
        return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()

    return t(lr_img), t(hr_img)


def crop_pair(lr: torch.Tensor, hr: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre crop of ``size`` LR pixels and the matching ×4 HR crop."""
    o = (lr.shape[-1] - size) // 2
    return lr[..., o : o + size, o : o + size].contiguous(), hr[..., 4 * o : 4 * (o + size), 4 * o : 4 * (o + size)]


def best_time(fn: Callable[[], torch.Tensor], repeat: int) -> tuple[float, torch.Tensor]:
    """Best wall time of ``repeat`` calls after one warm-up call (oneDNN primitive creation, allocator); the output.

    ``repeat=0`` times the single (cold) call itself.
    """
    t0 = time.perf_counter()
    out = fn()
    if repeat == 0:
        return time.perf_counter() - t0, out
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def conv_peak(repeat: int) -> float:
    """GFLOP/s of a large 3x3 convolution (64->64 channels, 1x64x256x256), best of ``repeat``."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(1, 64, 256, 256)
    flops = 2 * 64 * 64 * 9 * 256 * 256
    with torch.no_grad():
        t, _ = best_time(lambda: conv(x), repeat)
    return flops / t / 1e9


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(F.mse_loss(a.float().clamp(0, 1), b.float().clamp(0, 1)))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def count_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=32, help="LR size (output is 4x)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: reproducible on a shared machine; 0: torch's default)"
    )
    ap.add_argument("--only", nargs="*", default=None, choices=sorted(GENERATORS))
    ap.add_argument("--no-bf16", action="store_true", help="skip bf16 autocast (slow on CPUs without bf16 units)")
    ap.add_argument("--bf16-size", type=int, default=16, help="LR size of the bf16 run (a centre crop)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t_start = time.perf_counter()
    lr, hr = load_pair(args.size)
    out_px = hr.shape[-1] * hr.shape[-2]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    peak0 = conv_peak(args.repeat + 1)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load avg {load:.1f}; "
        f"LR {args.size}x{args.size} -> {hr.shape[-2]}x{hr.shape[-1]}; conv peak {peak0:.0f} GFLOP/s"
    )
    print()
    print(
        "| generator | params | kFLOP/out px | fp32 MP/s | conv peak GFLOP/s | % of peak | channels_last MP/s "
        "| PSNR vs fp32 (dB) "
        "| bf16 MP/s | bf16 PSNR vs fp32 (dB) | bf16 ΔPSNR vs HR (dB) | receptive field (LR px) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.only or GENERATORS:
        model = GENERATORS[name]().eval()
        params = sum(p.numel() for p in model.parameters())
        flops = count_flops(model, lr)
        model_cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
        lr_cl = lr.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ref, out_cl = model(lr), model_cl(lr_cl)  # warm-up
            t32 = tcl = float("inf")
            for _ in range(args.repeat):  # interleaved, so that load changes hit both alike
                t32 = min(t32, timed(lambda m=model: m(lr)))
                tcl = min(tcl, timed(lambda m=model_cl, x=lr_cl: m(x)))
            peak = conv_peak(2)  # measured next to the model: the CPU share other processes leave changes
            if args.no_bf16:
                tbf, out_bf, ref_b, hr_b = float("nan"), ref, ref, hr
            else:
                # bf16 runs on a smaller centre crop (much slower on CPUs without bf16 units), one cold call
                lr_b, hr_b = crop_pair(lr, hr, args.bf16_size)
                ref_b = model(lr_b)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    tbf, out_bf = best_time(lambda m=model, x=lr_b: m(x), 0)
        mp = out_px / 1e6
        print(
            f"| {name} | {params / 1e6:.2f} M | {flops / out_px / 1e3:.0f} | {mp / t32:.3f} | {peak:.0f} | "
            f"{100 * flops / t32 / 1e9 / peak:.0f} % | {mp / tcl:.3f} | {psnr(out_cl, ref):.1f} | "
            f"{hr_b.shape[-1] * hr_b.shape[-2] / 1e6 / tbf:.4f} | "
            f"{psnr(out_bf, ref_b):.1f} | {psnr(out_bf, hr_b) - psnr(ref_b, hr_b):+.3f} | {model.receptive_field} |"
        )
        sys.stdout.flush()
    peak1 = conv_peak(args.repeat + 1)
    print()
    print(
        f"conv peak at start {peak0:.0f}, at end {peak1:.0f} GFLOP/s (a large difference means other processes "
        f"competed for the CPU); total {time.perf_counter() - t_start:.0f} s"
    )


if __name__ == "__main__":
    main()
