"""Does ``torch.compile`` pay for folder inference on the CPU? One 256-px tile (+ context), shipped cxr_sr network.

Usage::

    python benchmarks/bench_compile_inference.py [--repeats 10]

Times the eager network under bf16 autocast (what ``dtype="auto"`` runs on a CPU with ``avx512_bf16``) against the
same network through ``torch.compile`` (inductor, ``dynamic=False``), eager again afterwards so that a load change
shows; prints the compile time of the first call. Autocast covers the whole network here (the pipeline keeps the
first convolution in float32 through hooks, which dynamo does not trace), so the compiled figure is a best case.
A folder of 2000² radiographs has about four distinct tile shapes, each compiled once per process.
"""

from __future__ import annotations

import argparse
import time

import torch

from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.utils.precision import cpu_model_name


def _median_ms(fn, x: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return sorted(times)[repeats // 2] * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--tile", type=int, default=270, help="tile edge with its context (256-px tiles: 270 inside)")
    args = p.parse_args(argv)
    net = SRInferencePipeline.from_bundle("cxr_sr").network
    x = torch.rand(1, 1, args.tile, args.tile).contiguous(memory_format=torch.channels_last)

    def run(model):
        def call(t):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(t).float()

        return call

    with torch.inference_mode():
        eager = run(net)
        for _ in range(3):
            eager(x)
        before = _median_ms(eager, x, args.repeats)
        compiled = run(torch.compile(net, dynamic=False))
        t0 = time.perf_counter()
        compiled(x)
        compile_s = time.perf_counter() - t0
        comp = _median_ms(compiled, x, args.repeats)
        after = _median_ms(eager, x, args.repeats)
    print(f"{cpu_model_name()}, {torch.get_num_threads()} threads; tile {args.tile}², cxr_sr network, bf16 autocast")
    print(f"eager {before:.1f} ms, compiled {comp:.1f} ms, eager again {after:.1f} ms per tile; "
          f"first compiled call {compile_s:.1f} s")  # fmt: skip
    saved = min(before, after) - comp
    if saved > 0:
        print(f"compile repaid after {compile_s / (saved / 1000):.0f} tiles per shape (a 2000² image has 64)")
    else:
        print("compiled is not faster: never repaid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
