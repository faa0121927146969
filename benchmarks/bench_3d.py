"""3D inference benchmark: ×4 through-plane SR of the shared CT volume on the CPU (bundles/ct_mr_sr_3d).

For each tile size, a fresh process loads the bundle's pipeline (``SRInferencePipeline.from_bundle``), runs it once to
warm up on a small crop, then times ``predict`` on the whole CT volume (122×101×112 voxels → 122×101×448) and reports
output voxels per second and the process's peak resident memory (``ru_maxrss``) above the baseline measured after
loading the volume and the model.

    python benchmarks/bench_3d.py [--threads 1] [--tiles 128,128,32 64,64,16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONAI_SRGAN_DATA", REPO.parent / "shared" / "data"))


def _worker(tile: list[int], threads: int, bundle: str, volume: str) -> dict:
    import resource
    import time

    import torch

    torch.set_num_threads(threads)
    from monai_srgan.inference import SRInferencePipeline
    from monai_srgan.transforms import LoadMedicalImage

    pipe = SRInferencePipeline.from_bundle(bundle, tile_size=tile, sw_batch_size=1, output_dtype="float32")
    img = LoadMedicalImage()(volume)
    pipe.predict(img[:, :32, :32, :8])  # warm-up
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    sr = pipe.predict(img)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_out = int(sr[0].numel())
    return {
        "tile": tile,
        "threads": threads,
        "input_shape": list(img.shape[1:]),
        "output_shape": list(sr.shape[1:]),
        "seconds": round(dt, 2),
        "voxels_per_s": round(n_out / dt),
        "peak_rss_mb": round(peak / 1024),
        "peak_above_baseline_mb": round((peak - base) / 1024),
        "receptive_field": int(getattr(pipe.network, "receptive_field", 0)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tiles", nargs="+", default=["128,128,32", "64,64,16"])
    ap.add_argument("--bundle", default=str(REPO / "bundles" / "ct_mr_sr_3d"))
    ap.add_argument("--volume", default=str(DATA / "volumes" / "totalseg_example_ct.nii.gz"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        tile = [int(v) for v in args.worker.split(",")]
        print(json.dumps(_worker(tile, args.threads, args.bundle, args.volume)))
        return 0
    results = []
    for t in args.tiles:
        cmd = [sys.executable, __file__, "--worker", t, "--threads", str(args.threads), "--bundle", args.bundle,
               "--volume", args.volume]  # fmt: skip
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results.append(json.loads(out))
        r = results[-1]
        print(
            f"tile {r['tile']}: {r['input_shape']} -> {r['output_shape']} in {r['seconds']} s, "
            f"{r['voxels_per_s']:,} output voxels/s, peak RSS {r['peak_rss_mb']} MB "
            f"(+{r['peak_above_baseline_mb']} MB during predict)",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
