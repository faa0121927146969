"""Training throughput of a bundle's stage 1 at its defaults: now vs an earlier commit, in one run.

Usage::

    python benchmarks/bench_bundle_training.py                         # retina_sr, 20 timed iterations
    python benchmarks/bench_bundle_training.py --bundle cxr_sr --ref-commit ada2b6b --iters 30

Each configuration runs in its own process (2 torch threads, the machine's cores), builds the bundle's own
``pretrainer`` from ``configs/train.json`` with command-line-style overrides only (``dataset_dir``, ``output_dir``,
one epoch of ``warmup + iters`` iterations, no validation) and times every iteration with an Ignite event; the
trainer's ``profile=True`` timers give the data share. Configurations, interleaved ``--rounds`` times:

- ``ref``: the code and bundle config of ``--ref-commit`` (checked out with ``git worktree`` into a temporary folder);
- ``fp32``: this checkout with ``amp=False, channels_last=False``;
- ``auto``: this checkout at its defaults (``amp="auto"``: bf16 autocast where the CPU runs it natively and faster;
  ``channels_last="auto"``);
- ``prefetch``, ``compile``, ``compile+prefetch``: the defaults plus the trainer's ``prefetch=2`` (a background
  thread prepares the next batches) and/or ``compile=True`` (``torch.compile``; compiling happens in the warm-up
  iterations, which are not timed). ``--configs`` picks among these.

The report gives seconds per iteration (median), iterations per hour, the data share, ratios to ``ref`` and the first
iteration's time (from the engine's start; each process gets an empty TorchInductor cache, so in the ``compile`` rows
it includes a cold compile), with the CPU model and its bf16 flags (the machines vary; figures from another CPU do
not transfer).

``--full-epochs N`` also times the bundle's own ``run_stage1`` end to end (``python -m monai.bundle run run_stage1``
with ``--stage1_epochs N``: start-up, caching, validation every epoch, checkpoints and logging included) for
``ref`` and this checkout at its defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(2)
from ignite.engine import Events
from monai.bundle import ConfigParser
args = json.loads(sys.argv[1])
cfg = ConfigParser()
cfg.read_config(args["config"])
T = "train#pretrainer" if "train#pretrainer" in cfg else "pretrainer"  # the bundles' ids changed over time
S = "train#stage1" if "train#stage1" in cfg else None  # since 0.4: validation/TensorBoard are handlers of a stage
for k, v in args["overrides"].items():
    if S and k in ("{T}#validator", "{T}#tensorboard_dir"):
        k = S + ("#validation" if k.endswith("validator") else "#tensorboard")
    cfg[k.replace("{T}", T)] = v
trainer = cfg.get_parsed_content(T)
stamps = []
trainer.add_event_handler(Events.STARTED, lambda e: stamps.append(time.perf_counter()))
trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: stamps.append(time.perf_counter()))
trainer.run()
first = stamps[1] - stamps[0]
stamps = stamps[1:]
steps = [b - a for a, b in zip(stamps, stamps[1:])][args["warmup"]:]
timings = dict(trainer.state.timings)
total = sum(timings.values()) or 1.0
print("RESULT " + json.dumps({"steps": steps, "data_share": timings.get("data", 0.0) / total, "first": first}))
"""


def _cpu() -> str:
    from monai_srgan.utils.precision import bf16_flags, cpu_model_name

    return f"{cpu_model_name()}, {os.cpu_count()} cores, bf16 flags: {', '.join(bf16_flags()) or 'none'}"


def _run(root: Path, bundle: str, extra: dict, data: Path, warmup: int, iters: int) -> dict:
    bundle_dir = root / "bundles" / bundle
    with tempfile.TemporaryDirectory() as out:
        overrides = {
            "bundle_root": str(bundle_dir),
            "dataset_dir": str(data),
            "output_dir": out,
            "stage1_epochs": 1,
            "epoch_length": warmup + iters + 1,
            "{T}#validator": None,
            "{T}#profile": True,
            "{T}#tensorboard_dir": None,
            **extra,
        }
        payload = {"config": str(bundle_dir / "configs" / "train.json"), "overrides": overrides, "warmup": warmup}
        # a fresh TorchInductor cache per process: the first iteration of a compile row includes a cold compile
        env = {**os.environ, "PYTHONPATH": str(root), "TORCHINDUCTOR_CACHE_DIR": os.path.join(out, "inductor")}
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(payload)], cwd=root, env=env, capture_output=True, text=True
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{root} {extra}: benchmark child failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _full_run(root: Path, bundle: str, data: Path, epochs: int) -> float:
    """Wall seconds of ``python -m monai.bundle run run_stage1`` for ``epochs`` stage-1 epochs at the defaults."""
    import time

    bundle_dir = root / "bundles" / bundle
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "monai.bundle", "run", "run_stage1", "--config_file",
               str(bundle_dir / "configs" / "train.json"), "--bundle_root", str(bundle_dir), "--dataset_dir",
               str(data), "--output_dir", out, "--stage1_epochs", str(epochs)]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True,
                              text=True)  # fmt: skip
        if proc.returncode:
            raise RuntimeError(f"{root}: run_stage1 failed:\n{proc.stderr[-3000:]}")
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default="retina_sr")
    p.add_argument("--ref-commit", default="ada2b6b", help="commit to compare with (default: before the speed work)")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data", default=None, help="dataset_dir (default: the shared data folder of the bundle)")
    p.add_argument("--full-epochs", type=int, default=0, help="also time run_stage1 end to end for N epochs")
    p.add_argument("--configs", nargs="+", default=["fp32", "auto", "prefetch", "compile", "compile+prefetch"],
                   help="configurations of this checkout to time (auto = the bundle's defaults)")  # fmt: skip
    args = p.parse_args(argv)
    shared = Path(os.environ.get("MONAI_SRGAN_DATA", REPO.parent / "shared" / "data"))
    data = Path(args.data) if args.data else shared / ("retina" if args.bundle == "retina_sr" else "cxr")

    with tempfile.TemporaryDirectory() as tmp:
        ref_root = Path(tmp) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", str(ref_root), args.ref_commit], cwd=REPO, check=True,
                       capture_output=True)  # fmt: skip
        try:
            configs = {
                "ref": (ref_root, {}),
                "fp32": (REPO, {"{T}#amp": False, "{T}#channels_last": False}),
                "auto": (REPO, {"{T}#amp": "auto", "{T}#channels_last": "auto"}),
                "prefetch": (REPO, {"{T}#prefetch": 2}),
                "compile": (REPO, {"{T}#compile": True}),
                "compile+prefetch": (REPO, {"{T}#compile": True, "{T}#prefetch": 2}),
            }
            configs = {k: v for k, v in configs.items() if k == "ref" or k in args.configs}
            steps: dict[str, list[float]] = {k: [] for k in configs}
            share: dict[str, list[float]] = {k: [] for k in configs}
            first: dict[str, list[float]] = {k: [] for k in configs}
            for _ in range(args.rounds):
                for name, (root, extra) in configs.items():
                    r = _run(root, args.bundle, extra, data, args.warmup, args.iters)
                    steps[name] += r["steps"]
                    share[name].append(r["data_share"])
                    first[name].append(r["first"])
            full = {}
            if args.full_epochs:
                full = {name: _full_run(root, args.bundle, data, args.full_epochs) for name, root in
                        (("ref", ref_root), ("now", REPO))}  # fmt: skip
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(ref_root)], cwd=REPO, capture_output=True)

    ref = statistics.median(steps["ref"])
    print(f"\n{args.bundle} stage 1 at its defaults; {_cpu()}; {args.rounds}×{args.iters} iterations per configuration")
    print(f"ref = commit {args.ref_commit}\n")
    print("| configuration | s / iteration (median) | iterations / hour | data share | speed vs ref | first it. |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in configs:
        med = statistics.median(steps[name])
        print(
            f"| {name} | {med:.3f} | {3600 / med:,.0f} | {100 * statistics.mean(share[name]):.0f} % | "
            f"{ref / med:.2f}× | {statistics.median(first[name]):.1f} s |"
        )
    if full:
        print(f"\nend to end, run_stage1 with --stage1_epochs {args.full_epochs} (epoch_length at the default):")
        for name, secs in full.items():
            print(f"- {name}: {secs:.1f} s wall ({full['ref'] / secs:.2f}× ref)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
