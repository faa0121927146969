"""Means of an evaluation's per-image rows over a subset of the images (one source, one dataset).

Usage::

    python benchmarks/metrics_subset.py bundles/cxr_sr/docs/eval/metrics.csv "nih_*"
    python benchmarks/metrics_subset.py bundles/retina_sr/docs/eval/metrics.csv "hrf_*" "idrid_*" --columns psnr_gain

Reads the ``metrics.csv`` that ``evaluate.json`` writes (one row per test image, then a ``mean`` row) and prints the
mean of each column over the images whose file name matches one of the patterns (``fnmatch``, case-insensitive):
the subset figures of docs/results.md and the bundles' READMEs (NIH radiographs only, HRF/IDRiD photographs only).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", help="an evaluation's metrics.csv")
    ap.add_argument("patterns", nargs="+", help="image name patterns, e.g. 'nih_*'")
    ap.add_argument("--columns", nargs="+", default=["psnr_model", "psnr_bicubic", "psnr_gain"])
    args = ap.parse_args(argv)
    with open(args.csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["image"] != "mean"]
    chosen = [r for r in rows if any(fnmatch.fnmatch(r["image"].lower(), p.lower()) for p in args.patterns)]
    if not chosen:
        print(f"error: no image of {args.csv} matches {args.patterns}", file=sys.stderr)
        return 2
    missing = [c for c in args.columns if c not in chosen[0]]
    if missing:
        print(f"error: {args.csv} has no column {missing}; it has {sorted(chosen[0])}", file=sys.stderr)
        return 2
    print(f"{args.csv}: {len(chosen)} of {len(rows)} images ({', '.join(r['image'] for r in chosen)})")
    for c in args.columns:
        print(f"{c}: {sum(float(r[c]) for r in chosen) / len(chosen):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
