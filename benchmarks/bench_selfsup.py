"""Self-supervised through-plane SR (SMORE-style) vs interpolation and the pretrained 3D model, on real thin volumes.

Usage::

    python benchmarks/bench_selfsup.py                       # the three thin volumes, x4, 1500 iterations each
    python benchmarks/bench_selfsup.py --iterations 3000 --volumes extra/volumes/niivue_MR_Gd.nii.gz

Protocol (issue: "3D that beats interpolation"): a thin-slice volume (1 mm MR, 3 mm isotropic CT) is the truth HR,
normalised to [0, 1] by its 0.5/99.5 percentiles; thick slices are simulated with a box slice profile of ``scale``
slices (:class:`~monai_srgan.transforms.SliceThicknessDegradation`, contiguous) along the last axis → LR. Each method
restores the slice axis of LR, and is scored against HR (PSNR with data range 1 and SSIM over the volume, ``scale``
slices cropped at both ends of the slice axis) and against LR (LR-consistency: PSNR of the re-degraded output vs LR):

- trilinear and cubic B-spline (``scipy.ndimage.map_coordinates(order=3)``, the SMORE paper's baseline),
- the shipped pretrained ``ct_mr_sr_3d`` model through the inference pipeline,
- self-supervised: :class:`~monai_srgan.selfsup.SelfSupervisedSliceSR` trained on the LR volume itself, starting
  from the pretrained network (as ``--self-supervised`` does) and keeping the best of {start, fine-tuned, cubic
  B-spline} on held-back in-plane slices (the "kept" column).

Prints a Markdown table with the CPU model, iterations and wall times; ``--out`` writes the JSON too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monai.data import MetaTensor  # noqa: E402

from monai_srgan.metrics import psnr, ssim  # noqa: E402
from monai_srgan.selfsup import SelfSupervisedSliceSR  # noqa: E402
from monai_srgan.transforms import LoadMedicalImage, SliceThicknessDegradation  # noqa: E402
from monai_srgan.transforms.resize import bspline_upsample_axis  # noqa: E402
from monai_srgan.utils.precision import cpu_model_name  # noqa: E402

VOLUMES = [
    "extra/volumes/niivue_MR_Gd.nii.gz",
    "extra/volumes/niivue_CIT168_CIT168toMNI152-2009c_T1w_brain.nii.gz",
    "volumes/totalseg_example_ct.nii.gz",
]


def scores(sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor, scale: int) -> dict[str, float]:
    crop = (slice(None), slice(None), slice(None), slice(scale, -scale))
    a, b = sr.clamp(0, 1)[crop][None], hr[crop][None]
    back = SliceThicknessDegradation(scale, axis=-1)(sr.clamp(0, 1))
    return {
        "psnr": float(psnr(a, b, data_range=1.0)),
        "ssim": float(ssim(a, b, data_range=1.0)),
        "lr_psnr": float(psnr(back[None], lr[None], data_range=1.0)),
    }


def _bundle_pipeline():
    from monai_srgan.inference import SRInferencePipeline

    return SRInferencePipeline.from_bundle(str(REPO / "bundles" / "ct_mr_sr_3d"))


def pretrained(lr: torch.Tensor, spacing: list[float], scale: int) -> torch.Tensor | None:
    if scale != 4:
        return None
    pipe = _bundle_pipeline()
    affine = torch.diag(torch.tensor([*spacing[:2], spacing[2] * scale, 1.0], dtype=torch.float64))
    img = MetaTensor(lr.clone(), affine=affine, meta={"srgan_spacing": [spacing[0], spacing[1], spacing[2] * scale]})
    return pipe.predict(img).as_tensor().float()


def run(path: Path, scale: int, iterations: int, seed: int) -> dict:
    img = LoadMedicalImage()(str(path))
    x = img.as_tensor().float()
    x = x[..., : (x.shape[-1] // scale) * scale]
    flat = x.flatten()[:: max(1, x.numel() // 2_000_000)]
    lo, hi = torch.quantile(flat, 0.005), torch.quantile(flat, 0.995)
    hr = ((x - lo) / (hi - lo)).clamp(0, 1)
    lr = SliceThicknessDegradation(scale, axis=-1)(hr)
    spacing = [float(v) for v in img.meta.get("srgan_spacing", [1.0, 1.0, 1.0])[:3]]
    row = {"volume": path.name, "shape_hr": list(hr.shape[1:]), "spacing_hr_mm": spacing}
    row["trilinear"] = scores(bspline_upsample_axis(lr, scale, -1, order=1), hr, lr, scale)
    row["cubic_bspline"] = scores(bspline_upsample_axis(lr, scale, -1, order=3), hr, lr, scale)
    pre = pretrained(lr, spacing, scale)
    if pre is not None:
        row["pretrained"] = scores(pre, hr, lr, scale)
    t0 = time.perf_counter()
    # as `monai-srgan infer --self-supervised` does: start from the bundle's pretrained network of this factor
    start = _bundle_pipeline().network.net.state_dict() if scale == 4 else None
    model = SelfSupervisedSliceSR(scale=scale, iterations=iterations, seed=seed, init_state=start).fit(lr)
    t1 = time.perf_counter()
    sr = model.predict(lr)
    row["self_supervised"] = scores(sr, hr, lr, scale)
    row["self_supervised"].update(train_s=t1 - t0, apply_s=time.perf_counter() - t1, iterations=iterations,
                                  kept=model.kept, validation=model.validation)  # fmt: skip
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--volumes", nargs="*", default=VOLUMES, help="paths relative to the shared data folder")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--iterations", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = Path(os.environ.get("MONAI_SRGAN_DATA", REPO.parent / "shared" / "data"))
    rows = [run(data / v, args.scale, args.iterations, args.seed) for v in args.volumes]
    cpu = cpu_model_name()
    print(f"\nx{args.scale} simulated thick slices (box profile); {cpu}, {args.threads} threads")
    methods = ["trilinear", "cubic_bspline", "pretrained", "self_supervised"]
    print("\n| volume | " + " | ".join(methods) + " | SS − cubic B-spline | SS kept (held-back dB) | SS train s |")
    print("|---|" + "---:|" * (len(methods) + 3))
    gains = []
    for r in rows:
        cells = [f"{r[m]['psnr']:.2f} / {r[m]['ssim']:.4f}" if m in r else "—" for m in methods]
        gain = r["self_supervised"]["psnr"] - r["cubic_bspline"]["psnr"]
        gains.append(gain)
        secs = r["self_supervised"]["train_s"]
        v = r["self_supervised"]["validation"]
        why = ", ".join(f"{k[:-3]} {v[k]:.2f}" for k in ("start_db", "finetuned_db", "bspline_db") if k in v)
        kept = f"{r['self_supervised']['kept']} ({why})"
        print(f"| {r['volume']} | " + " | ".join(cells) + f" | {gain:+.2f} dB | {kept} | {secs:.0f} |")
    print(f"\nmean gain of self-supervised over cubic B-spline: {np.mean(gains):+.2f} dB (PSNR dB / SSIM per cell)")
    print("LR-consistency (dB): " + "; ".join(
        f"{r['volume']}: " + ", ".join(f"{m} {r[m]['lr_psnr']:.1f}" for m in methods if m in r) for r in rows
    ))  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=4) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
