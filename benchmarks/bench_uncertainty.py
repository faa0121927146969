"""Cost of ``--uncertainty``: plain inference vs inference + the calibrated uncertainty map, in one run.

Usage::

    MONAI_SRGAN_DATA=../shared/data python benchmarks/bench_uncertainty.py [--repeats 3]

A 1024×1024 NIH radiograph ×4 with the shipped ``cxr_sr`` weights and a 700-px-wide fundus photograph ×4 with
``retina_sr`` (the sizes of docs/results.md), each timed alternately ``repeats`` times after a warm-up: the plain
``SRInferencePipeline.predict`` and ``predict`` + ``estimate_uncertainty`` (what ``monai-srgan infer --uncertainty``
adds before writing). Prints the medians and their ratio with the CPU model (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.inference.uncertainty import estimate_uncertainty, load_error_model
from monai_srgan.transforms import LoadMedicalImage
from monai_srgan.utils.precision import cpu_model_name

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONAI_SRGAN_DATA", ROOT.parent / "shared" / "data"))
CASES = [("cxr_sr", "cxr/nih_00009683_000.png", None), ("retina_sr", "retina/hrf_01_h.jpg", 700)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"{cpu_model_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| image | input | plain inference s | + uncertainty s | ratio |")
    print("|---|---|---|---|---|")
    for bundle, rel, width in CASES:
        img = LoadMedicalImage()(str(DATA / rel))
        if width is not None:  # the evaluation size of the fundus photographs
            from monai_srgan.transforms.spatial import ResizeImage

            img = ResizeImage(width=width)(img)
        pipe = SRInferencePipeline.from_bundle(ROOT / "bundles" / bundle)
        model = load_error_model(pipe.weights_path)
        sr = pipe.predict(img)
        estimate_uncertainty(pipe, img, sr, model)  # warm-up
        plain, full = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            pipe.predict(img)
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sr = pipe.predict(img)
            estimate_uncertainty(pipe, img, sr, model)
            full.append(time.perf_counter() - t0)
        p, f = statistics.median(plain), statistics.median(full)
        shape = "x".join(str(int(v)) for v in img.shape[1:])
        print(f"| {Path(rel).name} ({bundle}) | {shape} | {p:.2f} | {f:.2f} | {f / p:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
