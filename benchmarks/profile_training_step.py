"""Where a stage-1 training step of the retina bundle's generator goes: the PyTorch profiler's operator table.

Usage::

    python benchmarks/profile_training_step.py            # retina_sr defaults: SRVGGNetCompact 32×8, ×4, batch 16
    python benchmarks/profile_training_step.py --threads 1 --compile

One step is what ``SRPretrainer`` does at the bundle's defaults without the data path: bf16 autocast where the CPU has
native bf16 (``monai_srgan.utils.precision.fast_bf16``), channels-last, L1 loss, Adam. Random 48 px LR / 192 px HR
patches. Prints seconds per step (median of ``--steps`` after a warm-up) and the operators' self-CPU shares.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from monai_srgan.networks import get_generator
from monai_srgan.utils.precision import bf16_flags, cpu_model_name, fast_bf16


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--compile", action="store_true", help="train through torch.compile (as compile=True does)")
    p.add_argument("--rows", type=int, default=12)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = get_generator("srvgg", spatial_dims=2, in_channels=3, out_channels=3, scale=4, num_feat=32, num_conv=8,
                      base_mode="cubic", zero_init_last=True).to(memory_format=torch.channels_last)  # fmt: skip
    net = torch.compile(g, dynamic=False) if args.compile else g
    lr = torch.rand(16, 3, 48, 48).contiguous(memory_format=torch.channels_last)
    hr = torch.rand(16, 3, 192, 192).contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(g.parameters(), 5e-4, betas=(0.9, 0.99))
    bf16 = fast_bf16("cpu")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.l1_loss(net(lr).float(), hr)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    flags = ", ".join(bf16_flags()) or "none"
    print(f"{cpu_model_name()}, {args.threads} thread(s), bf16 flags: {flags}; bf16 autocast: {bf16}; "
          f"compile: {args.compile}; {statistics.median(times):.4f} s/step (median of {args.steps})")  # fmt: skip
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows) or 1.0
    print("\n| operator | share of self CPU time |\n|---|---:|")
    for e in rows[: args.rows]:
        print(f"| `{e.key}` | {100 * e.self_cpu_time_total / total:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
