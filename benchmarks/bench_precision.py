"""Precision benchmark: bf16 autocast vs fp32 for the shipped bundles on their held-out images (PSNR cost, speed).

For each bundle (default ``bundles/cxr_sr`` and ``bundles/retina_sr``) the held-out ``test`` split of its
``configs/evaluate.json`` (same files, preprocessing and bicubic ×4 degradation as the bundle's evaluation) is
super-resolved by the shipped network through :class:`~monai_srgan.inference.SRInferer` (256-px tiles, channels-last)
in float32 and under bf16 autocast with the first convolution in fp32 (as ``dtype="auto"`` runs it). Reported per
bundle: mean PSNR against the HR image for both, the PSNR cost (fp32 − bf16; the ``dtype="auto"`` criterion is
≤ 0.01 dB), the same after rounding to 8 bits (what a PNG holds), the PSNR of bf16 against fp32, and the fp32/bf16
wall-time ratio (interleaved, best of ``--repeats``, one process).

Usage (from the repository root)::

    python benchmarks/bench_precision.py                       # both bundles, 1 thread
    python benchmarks/bench_precision.py --bundles bundles/cxr_sr --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

__all__ = ["main", "held_out_pairs", "measure_bundle"]

REPO = Path(__file__).resolve().parents[1]


def held_out_pairs(bundle: str | Path, section: str = "test") -> tuple[list[tuple], int]:
    """``[(name, lr, hr)]`` (``(1, C, *spatial)`` in [0, 1]) of a bundle's held-out split, and the bundle's scale."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(Path(bundle) / "configs" / "evaluate.json"))
    parser["bundle_root"] = str(bundle)
    parser["eval_section"] = section
    parser["output_dir"] = str(REPO / "runs" / "bench_precision" / Path(bundle).name)
    files = parser.get_parsed_content("eval_files")
    preprocess = parser.get_parsed_content("eval_transform")
    degrade = parser.get_parsed_content("degrade")
    pairs = []
    for i, entry in enumerate(files):
        d = preprocess(dict(entry))
        if hasattr(degrade, "set_random_state"):
            degrade.set_random_state(i)
        d = degrade(d)
        hr = torch.as_tensor(d["hr"]).float()[None]
        lr = torch.as_tensor(d["lr"]).float()[None]
        pairs.append((Path(str(entry["hr"])).name, lr, hr))
    return pairs, int(parser.get_parsed_content("scale"))


def measure_bundle(bundle: str | Path, repeats: int = 2, tile: int = 256) -> dict:
    """PSNR cost and speed-up of bf16 autocast for one bundle (see the module docstring)."""
    from monai_srgan.inference import SRInferencePipeline, SRInferer
    from monai_srgan.metrics import psnr

    pairs, scale = held_out_pairs(bundle)
    net = SRInferencePipeline.from_bundle(bundle, dtype="float32").network
    runs = {name: SRInferer(scale, roi_size=tile, dtype=name) for name in ("float32", "bfloat16")}
    rows, best = [], {name: float("inf") for name in runs}
    with torch.inference_mode():
        for name, lr, hr in pairs:
            out = {}
            for rep in range(repeats):
                for dt, inf in runs.items():
                    t0 = time.perf_counter()
                    out[dt] = inf(lr, net).clamp(0, 1)
                    best[dt] = min(best[dt], (time.perf_counter() - t0) / lr[0, 0].numel()) if rep else best[dt]
            q = {dt: (y * 255).round() / 255 for dt, y in out.items()}
            rows.append(
                {
                    "image": name,
                    "lr": "x".join(str(n) for n in lr.shape[2:]),
                    "psnr_fp32": float(psnr(out["float32"], hr, data_range=1.0)),
                    "psnr_bf16": float(psnr(out["bfloat16"], hr, data_range=1.0)),
                    "psnr_fp32_8bit": float(psnr(q["float32"], hr, data_range=1.0)),
                    "psnr_bf16_8bit": float(psnr(q["bfloat16"], hr, data_range=1.0)),
                    "psnr_bf16_vs_fp32": float(psnr(out["bfloat16"], out["float32"], data_range=1.0)),
                    "max_abs_bf16_vs_fp32": float((out["bfloat16"] - out["float32"]).abs().max()),
                }
            )
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if k not in ("image", "lr")}
    worst = max(r["psnr_fp32"] - r["psnr_bf16"] for r in rows)
    return {
        "bundle": str(bundle),
        "images": len(rows),
        "mean": mean,
        "cost_db": mean["psnr_fp32"] - mean["psnr_bf16"],
        "cost_db_8bit": mean["psnr_fp32_8bit"] - mean["psnr_bf16_8bit"],
        "worst_image_cost_db": worst,
        "speedup_bf16": best["float32"] / best["bfloat16"],
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure every bundle and print a Markdown table (JSON on stderr)."""
    from monai_srgan.utils.precision import bf16_flags, bf16_speedup, cpu_model_name

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundles", default="bundles/cxr_sr,bundles/retina_sr")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--tile", type=int, default=256)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    flags = bf16_flags()
    print(f"CPU: {cpu_model_name()}; bf16/AMX flags: {', '.join(flags) or 'none'}; torch {torch.__version__}; "
          f"{args.threads} thread(s); conv probe bf16 speed-up {bf16_speedup():.2f}x")  # fmt: skip
    print(
        "| bundle | held-out images | PSNR fp32 | PSNR bf16 | cost (dB) | worst image (dB) | cost after 8-bit "
        "rounding (dB) | PSNR bf16 vs fp32 | max abs diff | speed-up bf16 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in args.bundles.split(","):
        r = measure_bundle(b, args.repeats, args.tile)
        print(json.dumps(r), file=sys.stderr, flush=True)
        m = r["mean"]
        worst_abs = max(x["max_abs_bf16_vs_fp32"] for x in r["rows"])
        print(f"| {b} | {r['images']} | {m['psnr_fp32']:.4f} | {m['psnr_bf16']:.4f} | {r['cost_db']:+.4f} | "
              f"{r['worst_image_cost_db']:+.4f} | {r['cost_db_8bit']:+.4f} | {m['psnr_bf16_vs_fp32']:.1f} | "
              f"{worst_abs:.4f} | {r['speedup_bf16']:.2f}x |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
