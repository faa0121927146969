"""Scale-out of ``monai-srgan infer`` over a folder: 1 process vs 2 torchrun processes (1 thread each), one run.

Usage::

    MONAI_SRGAN_DATA=../shared/data python benchmarks/bench_scaleout.py [--images 8] [--repeats 2]

A folder of ``--images`` 1024×1024 NIH radiographs (the 16 of the shared data, cycled) is super-resolved ×4 with the
shipped ``cxr_sr`` weights by whole commands, alternated ``--repeats`` times:

- ``OMP_NUM_THREADS=1 monai-srgan infer IN OUT --bundle cxr_sr`` (one process, one thread),
- ``torchrun --standalone --nproc_per_node=2 --no-python monai-srgan infer IN OUT --bundle cxr_sr`` (two processes,
  one thread each: torchrun's default),
- ``monai-srgan infer IN OUT --bundle cxr_sr`` with both threads (the default single process), for reference.

Prints wall times from start to exit (start-up included), the speed-up of 2 processes over 1 and over the
2-thread process, and checks that the outputs are identical (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONAI_SRGAN_DATA", REPO.parent / "shared" / "data"))
BIN = Path(sys.executable).parent


def _run(cmd: list[str], threads: int | None) -> float:
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    from monai_srgan.utils.precision import cpu_model_name

    work = Path(tempfile.mkdtemp(prefix="srgan_scaleout_"))
    inp = work / "in"
    inp.mkdir()
    srcs = sorted((DATA / "cxr").glob("nih_*.png"))
    for i in range(args.images):
        Image.open(srcs[i % len(srcs)]).convert("L").save(inp / f"cxr_{i:02d}.png")
    bundle = str(REPO / "bundles" / "cxr_sr")
    infer = [str(BIN / "monai-srgan"), "infer", str(inp)]
    sides = {
        "1 process, 1 thread": (lambda out: [*infer, out, "--bundle", bundle, "--no-progress"], 1),
        "2 torchrun processes, 1 thread each": (
            lambda out: [
                str(BIN / "torchrun"),
                "--standalone",
                "--nproc_per_node=2",
                "--no-python",
                *infer,
                out,
                "--bundle",
                bundle,
                "--no-progress",
            ],
            1,
        ),
        "1 process, 2 threads (default)": (lambda out: [*infer, out, "--bundle", bundle, "--no-progress"], None),
    }
    times: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.repeats):
        for j, (name, (cmd, threads)) in enumerate(sides.items()):
            out = work / f"out_{r}_{j}"
            times[name].append(_run(cmd(str(out)), threads))
    outs = sorted(work.glob("out_*"))
    ref = {p.name: np.asarray(Image.open(p)) for p in sorted(outs[0].glob("*_x4.png"))}
    same = all(
        np.array_equal(ref[p.name], np.asarray(Image.open(p))) for o in outs[1:] for p in sorted(o.glob("*_x4.png"))
    )
    print(f"{cpu_model_name()}; {args.images} radiographs 1024x1024 x4 (cxr_sr), {args.repeats} alternating runs")
    print("| command | wall s (median) | per image s |")
    print("|---|---|---|")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"| {k} | {v:.1f} | {v / args.images:.2f} |")
    one, two, default = med["1 process, 1 thread"], med["2 torchrun processes, 1 thread each"], med[
        "1 process, 2 threads (default)"]  # fmt: skip
    print(f"\nspeed-up of 2 processes: {one / two:.2f}x over 1 process (1 thread), {default / two:.2f}x over the "
          f"default 2-thread process; outputs identical: {same}")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
