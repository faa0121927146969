"""PSNR gain per hour of training for a few generator sizes: which one a CPU budget should train.

Usage::

    python benchmarks/bench_training_candidates.py --minutes 7 \\
        --out benchmarks/results/training_candidates_retina_x4.json

Every candidate is the bundle's own ``run_stage1`` (``python -m monai.bundle run run_stage1 --config_file
bundles/<bundle>/configs/train.json``) with command-line overrides only (network size, patch, batch); candidates run
two at a time, one torch thread each (the machine's two cores, the same load for both of a pair), and each is stopped
with SIGTERM after ``--minutes`` of wall time (the trainer checkpoints and exits). The learning rate is the bundle's,
its cosine schedule stretched over ``--horizon`` iterations (the length of a real run), so the curves compare the
candidates' early progress at the rate a long run would use.

The curve of a candidate is its validation ``psnr_gain`` over bicubic (dB, mean over ``--val-images`` validation
images, never test images) against wall seconds, read from the trainer's per-epoch validation log; the report also
gives seconds per iteration. The CPU model and its flags are recorded (the machines vary).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monai_srgan.utils.precision import bf16_flags, cpu_model_name  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONAI_SRGAN_DATA", REPO.parent / "shared" / "data"))

CANDIDATES = {
    "srvgg-32x8": {"network_kwargs": {"num_feat": 32, "num_conv": 8}},
    "srvgg-64x16": {"network_kwargs": {"num_feat": 64, "num_conv": 16}},
    "srvgg-48x12": {"network_kwargs": {"num_feat": 48, "num_conv": 12}},
}
BASE_KWARGS = {"base_mode": "cubic", "zero_init_last": True}
DATASETS = {
    "retina_sr": [DATA / "retina", DATA / "extra" / "retina"],
    "cxr_sr": [DATA / "cxr", DATA / "extra" / "cxr"],
}
_VAL = re.compile(r"^(\S+ \S+) - .*epoch (\d+) validation: (\{.*\})")


def _command(bundle: str, name: str, out_dir: Path, args: argparse.Namespace) -> list[str]:
    kwargs = {**BASE_KWARGS, **CANDIDATES[name]["network_kwargs"]}
    epochs = max(1, args.horizon // args.epoch_length)
    return [
        sys.executable, "-m", "monai.bundle", "run", "run_stage1",
        "--config_file", str(REPO / "bundles" / bundle / "configs" / "train.json"),
        "--dataset_dir", repr([str(d) for d in DATASETS[bundle]]),
        "--output_dir", str(out_dir),
        "--network_kwargs", json.dumps(kwargs),
        "--stage1_epochs", str(epochs),
        "--epoch_length", str(args.epoch_length),
        "--val_images", str(args.val_images),
        "--scale", str(args.scale),
    ]  # fmt: skip


def _curve(log: str) -> list[dict[str, float]]:
    points, start = [], None
    for line in log.splitlines():
        if start is None and " - " in line[:30]:
            start = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        m = _VAL.match(line)
        if m and start is not None:
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
            metrics = ast.literal_eval(m.group(3))  # the trainer logs a dict of floats
            points.append({"seconds": round((t - start).total_seconds(), 1), "epoch": int(m.group(2)),
                           "psnr_gain": metrics["psnr_gain"], "ssim_gain": metrics["ssim_gain"]})  # fmt: skip
    return points


def _run_pair(bundle: str, names: list[str], args: argparse.Namespace, tmp: Path) -> dict[str, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {}
    for name in names:
        log = open(tmp / f"{name}.log", "w")  # noqa: SIM115 - closed below
        cmd = _command(bundle, name, tmp / name, args)
        procs[name] = (subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT), log)
    deadline = time.monotonic() + args.minutes * 60
    while time.monotonic() < deadline and any(p.poll() is None for p, _ in procs.values()):
        time.sleep(2)
    results = {}
    for name, (p, log) in procs.items():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=120)
        log.close()
        text = (tmp / f"{name}.log").read_text()
        rates = [float(x) for x in re.findall(r"\| (\d+\.\d+) it/s", text)]
        results[name] = {"curve": _curve(text), "returncode": p.returncode,
                         "seconds_per_iteration": round(1 / rates[-1], 4) if rates else None}  # fmt: skip
        if not results[name]["curve"]:
            print(text[-3000:], file=sys.stderr)
            raise SystemExit(f"{name}: no validation in the log (see above)")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="retina_sr", choices=sorted(DATASETS))
    ap.add_argument("--candidates", nargs="+", default=["srvgg-32x8", "srvgg-64x16"], choices=sorted(CANDIDATES))
    ap.add_argument("--minutes", type=float, default=7.0, help="wall time of each candidate")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--epoch_length", type=int, default=300)
    ap.add_argument("--val-images", dest="val_images", type=int, default=4)
    ap.add_argument("--horizon", type=int, default=40000, help="iterations the cosine schedule is stretched over")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    cpu = f"{cpu_model_name()}, {os.cpu_count()} cores, bf16 flags: {', '.join(bf16_flags()) or 'none'}"
    report = {"cpu": cpu, "bundle": args.bundle, "scale": args.scale, "minutes": args.minutes,
              "horizon": args.horizon, "epoch_length": args.epoch_length, "val_images": args.val_images,
              "threads_per_candidate": 1, "candidates": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="srgan_candidates_") as tmp:
        for i in range(0, len(args.candidates), 2):
            report["candidates"].update(_run_pair(args.bundle, args.candidates[i : i + 2], args, Path(tmp)))
    for name, r in report["candidates"].items():
        last = r["curve"][-1]
        print(f"{name}: {r['seconds_per_iteration']} s/it, gain {last['psnr_gain']:+.3f} dB after {last['seconds']} s "
              f"(epoch {last['epoch']})")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
