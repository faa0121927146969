"""Inference benchmark: ×4 SR of a 2000×2000 chest X-ray and a 3504×2336 fundus photograph, tiled vs untiled.

Each case runs in its own subprocess so that its peak resident memory (``ru_maxrss``) is its own. Reported per case:
load, inference and write seconds, output megapixels per second of inference, peak RSS. The untiled case runs under
an address-space limit (``--untiled-limit-gb``) so that running out of memory is reported instead of swapping.

Usage (from the repository root)::

    python benchmarks/bench_inference.py                      # SRResNet-small, random weights, 1 thread
    python benchmarks/bench_inference.py --bundle bundles/cxr_sr --cases cxr   # shipped weights
    python benchmarks/bench_inference.py --json benchmarks/results/inference.json
    python benchmarks/bench_inference.py --paired             # project vs a reference tiler (bench_tiler.py)

``--paired`` runs :mod:`bench_tiler`: the project's pipeline against Real-ESRGAN's tiling algorithm written in a few
lines, same network and weights (``bundles/cxr_sr``), ×4 of the 2000×2000 chest X-ray; wall-time ratio, seams, peak
memory, CPU model and flags.

With no ``--bundle`` the generator is a small SRResNet (``num_feat=16, num_blocks=4``; ``--num-feat/--num-blocks``) with
random weights: speed and memory of trained weights of the same architecture are identical.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main", "run_case"]

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONAI_SRGAN_DATA", REPO.parent / "shared" / "data"))
CASES = {
    "cxr": ("cxr/covidcxr_2168a917.jpg", 1),  # 2000 x 2000, 8-bit grey (MHH)
    "fundus": ("retina/hrf_01_h.jpg", 3),  # 3504 x 2336, 8-bit RGB (HRF)
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_case(cfg: dict) -> dict:
    """Run one case in this process and return its measurements (called in the child)."""
    import torch

    torch.set_num_threads(int(cfg["threads"]))
    from monai_srgan.inference import SRInferencePipeline
    from monai_srgan.networks import SRResNet

    rss_imports = _peak_rss_mb()
    path, channels = str(DATA / CASES[cfg["case"]][0]), CASES[cfg["case"]][1]
    t0 = time.perf_counter()
    if cfg.get("bundle"):
        pipe = SRInferencePipeline.from_bundle(cfg["bundle"], tile_size=cfg["tile"], sw_batch_size=cfg["batch"])
        # (None keeps the bundle's tile_size/sw_batch_size)
        model = f"bundle {cfg['bundle']}"
    else:
        torch.manual_seed(0)
        net = SRResNet(
            2, channels, channels, scale=cfg["scale"], num_feat=cfg["num_feat"], num_blocks=cfg["num_blocks"]
        )
        pipe = SRInferencePipeline(net, cfg["scale"], tile_size=cfg["tile"], sw_batch_size=cfg["batch"])
        model = f"SRResNet(num_feat={cfg['num_feat']}, num_blocks={cfg['num_blocks']}), random weights"
    image = pipe.load(path)
    t_load = time.perf_counter() - t0
    if cfg["mode"] == "untiled":
        pipe.inferer.roi_size = max(image.shape[1:])
    t1, c1 = time.perf_counter(), time.process_time()
    sr = pipe.predict(image)
    t_inf, c_inf = time.perf_counter() - t1, time.process_time() - c1
    with tempfile.TemporaryDirectory() as d:
        t2 = time.perf_counter()
        pipe.write(sr, Path(d) / "sr.png", "png")
        t_write = time.perf_counter() - t2
    out_mp = sr.shape[1] * sr.shape[2] / 1e6
    return {
        **cfg,
        "model": model,
        "input": f"{image.shape[2]}x{image.shape[1]}x{image.shape[0]}",
        "output": f"{sr.shape[2]}x{sr.shape[1]}x{sr.shape[0]}",
        "receptive_field": int(getattr(pipe.network, "receptive_field", 0)),
        "load_s": round(t_load, 2),
        "infer_s": round(t_inf, 2),
        "write_s": round(t_write, 2),
        "infer_cpu_s": round(c_inf, 2),
        "out_mp_per_s": round(out_mp / t_inf, 3),
        "out_mp_per_cpu_s": round(out_mp / c_inf, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_after_imports_mb": round(rss_imports, 1),
        "status": "ok",
    }


def _child(cfg: dict, limit_gb: float | None, timeout: float) -> dict:
    code = (
        "import json, resource, sys\n"
        f"lim = {limit_gb!r}\n"
        "if lim: resource.setrlimit(resource.RLIMIT_AS, (int(lim * 2**30), int(lim * 2**30)))\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from bench_inference import run_case\n"
        "try:\n"
        f"    res = run_case(json.loads({json.dumps(json.dumps(cfg))}))\n"
        "except (MemoryError, RuntimeError) as e:\n"
        "    import resource as r\n"
        f"    res = dict(json.loads({json.dumps(json.dumps(cfg))}), status='out of memory (address space limit '"
        f" + str(lim) + ' GB): ' + str(e).splitlines()[0][:120], peak_rss_mb=round(r.getrusage(r.RUSAGE_SELF)"
        ".ru_maxrss / 1024, 1))\n"
        "print('RESULT ' + json.dumps(res))\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {**cfg, "status": f"timeout after {timeout:.0f} s"}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {**cfg, "status": f"child failed (rc {out.returncode}): {out.stderr.strip().splitlines()[-1:]}"}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark cases and print a Markdown table (and JSON when asked)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="cxr,fundus")
    p.add_argument("--modes", default="tiled,untiled")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--tile", type=int, default=None, help="tile size (default: the pipeline's/bundle's)")
    p.add_argument("--batch", type=int, default=None, help="tiles per call (default: the pipeline's/bundle's)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--num-feat", type=int, default=16, help="SRResNet width when no --bundle (default 16)")
    p.add_argument("--num-blocks", type=int, default=4, help="SRResNet residual blocks when no --bundle (default 4)")
    p.add_argument("--bundle", default=None, help="use a bundle's shipped weights instead of random SRResNet")
    p.add_argument("--untiled-limit-gb", type=float, default=8.0)
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--paired", action="store_true", help="run bench_tiler.py (project vs reference tiler) instead")
    args, rest = p.parse_known_args(argv)
    if args.paired:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_tiler import main as paired_main

        return paired_main([*rest, "--threads", str(args.threads)] + (["--json", args.json] if args.json else []))
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    results = []
    for case in args.cases.split(","):
        for mode in args.modes.split(","):
            cfg = dict(case=case, mode=mode, scale=args.scale, tile=args.tile, batch=args.batch,
                       threads=args.threads, bundle=args.bundle, num_feat=args.num_feat,
                       num_blocks=args.num_blocks)  # fmt: skip
            res = _child(cfg, args.untiled_limit_gb if mode == "untiled" else None, args.timeout)
            results.append(res)
            print(json.dumps(res), file=sys.stderr, flush=True)
    head = ["case", "mode", "input → output", "infer s (wall)", "output MP/s (wall)", "output MP per CPU-s"]
    print("| " + " | ".join([*head, "peak RSS MB", "status"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        shapes = f"{r.get('input', '')} → {r.get('output', '')}"
        cols = [r["case"], f"{r['mode']} (tile {r['tile']})", shapes, r.get("infer_s", ""), r.get("out_mp_per_s", "")]
        cols += [r.get("out_mp_per_cpu_s", ""), r.get("peak_rss_mb", ""), r["status"]]
        print("| " + " | ".join(str(c) for c in cols) + " |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
