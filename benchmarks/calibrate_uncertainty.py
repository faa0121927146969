"""Fit a bundle's uncertainty error model on its validation split and check it on its test split.

Usage (from the repository root)::

    python benchmarks/calibrate_uncertainty.py --bundle retina_sr \\
        --dataset_dir "['../shared/data/retina','../shared/data/extra/retina']" --write
    python benchmarks/calibrate_uncertainty.py --bundle cxr_sr \\
        --dataset_dir "['../shared/data/cxr','../shared/data/extra/cxr']" --write

The images, split, pre-processing and degradation are the bundle's ``configs/evaluate.json`` (the same held-out
protocol as docs/results.md). On every **validation** image the shipped weights super-resolve the degraded image,
the error model's features are measured (``monai_srgan.inference.uncertainty``) and pixels are sampled to fit it
(Gaussian NLL, then the 90 % coverage factor). On every **test** image, never used to fit, it prints per image:
the Spearman rank correlation between 8×8-block means of sigma and of ``|SR − HR|`` (inside the field of view for
fundus photographs) and the fraction of pixels with ``|SR − HR| ≤ 1.645 σ``; then the cost of ``--uncertainty``
relative to plain inference. ``--write`` stores the model beside the weights (``<weights>.uncertainty.json``).

``--bundle ct_mr_sr_3d`` (no ``--dataset_dir``) does the same for the 3D bundle: fitted on the thin volumes its
shipped weights trained on (:data:`VOLUMES_FIT`; it has no separate validation volume), checked on its held-out test
volumes (:data:`VOLUMES_TEST`), ×4 box slice profile, 8×8×8 blocks. With ``--self-calibrate`` nothing is fitted
in advance: each test volume calibrates itself on its own in-plane axes
(:mod:`monai_srgan.inference.self_calibration`), which is what the shipped 3D calibration does (``--write`` stores
it with ``self_calibrate`` true)::

    python benchmarks/calibrate_uncertainty.py --bundle ct_mr_sr_3d --self-calibrate --write
"""

from __future__ import annotations

import argparse
import ast
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from monai.bundle import ConfigParser
from monai.data import MetaTensor

from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.inference.uncertainty import (
    FEATURES,
    ErrorModel,
    calibration_path,
    estimate_uncertainty,
    fit_error_model,
    uncertainty_features,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_PER_IMAGE = 60000


def _spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra = a.argsort().argsort().double()
    rb = b.argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()).clamp_min(1e-12))


def section_pairs(bundle: Path, args: argparse.Namespace, section: str):
    """Yield ``(name, lr MetaTensor in [0, 1], hr (C, H, W), fov mask (H, W) or None, weight file)`` of one split
    section (``args``: ``dataset_dir``, ``work_dir``, ``scale``, ``weights``, ``max_images``); also used by
    ``calibrate_grain.py``."""
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "evaluate.json"))
    parser.update(
        {
            "bundle_root": str(bundle),
            "dataset_dir": ast.literal_eval(args.dataset_dir) if args.dataset_dir.startswith("[") else args.dataset_dir,
            "output_dir": args.work_dir,
            "eval_section": section,
            "scale": args.scale,
            "weights": args.weights,
        }
    )
    files = parser.get_parsed_content("eval_files")
    transform, degrade = parser.get_parsed_content("eval_transform"), parser.get_parsed_content("degrade")
    for entry in files[: args.max_images]:
        d = degrade(transform(dict(entry)))
        hr = torch.as_tensor(d["hr"]).as_subclass(torch.Tensor).float()
        lr = MetaTensor(torch.as_tensor(d["lr"]).as_subclass(torch.Tensor).float().clone())  # fresh meta: [0, 1]
        lr.meta.update(srgan_value_min=0.0, srgan_value_max=1.0, srgan_dtype="float32")
        fov = d.get("fov")
        fov = None if fov is None else torch.as_tensor(fov)[0] > 0.5
        yield Path(str(entry["hr"])).name, lr, hr, fov, parser.get_parsed_content("model_path")


#: ct_mr_sr_3d: the volumes its shipped weights trained on (fit) and its held-out test volumes (check), docs/3d.md
VOLUMES_FIT = [
    ("extra/volumes/niivue_CIT168_CIT168toMNI152-2009c_T1w_brain.nii.gz", None),
    ("extra/volumes/niivue_spm152.nii.gz", None),
    ("volumes/totalseg_example_ct.nii.gz", (0, 80)),
]
VOLUMES_TEST = [("volumes/totalseg_example_ct.nii.gz", (80, None)), ("extra/volumes/niivue_MR_Gd.nii.gz", None)]


def _volume_pairs(entries: list, scale: int = 4):
    """``(name, lr MetaTensor, hr (1, H, W, D), None, None)`` of thin volumes: the truth and its ×``scale`` thick
    slices (box profile, as ``evaluate.json`` of ct_mr_sr_3d simulates them), in the value domain."""
    import os

    from monai_srgan.transforms import LoadMedicalImage, SliceThicknessDegradation

    data = Path(os.environ.get("MONAI_SRGAN_DATA", ROOT.parent / "shared" / "data"))
    for rel, slab in entries:
        img = LoadMedicalImage()(str(data / rel))
        x = img.as_subclass(torch.Tensor).float()
        if slab is not None:
            x = x[..., slab[0] : slab[1]]
        x = x[..., : (x.shape[-1] // scale) * scale]
        lr = SliceThicknessDegradation(scale, axis=-1)(x)
        sp = [float(v) for v in img.meta["srgan_spacing"][:3]]
        affine = torch.diag(torch.tensor([sp[0], sp[1], sp[2] * scale, 1.0], dtype=torch.float64))
        meta = {
            "srgan_spacing": [sp[0], sp[1], sp[2] * scale],
            "srgan_spacing_known": [True] * 3,
            "srgan_value_min": float(x.min()),
            "srgan_value_max": float(x.max()),
            "srgan_dtype": "float32",
        }
        name = Path(rel).name + ("" if slab is None else f" z{slab[0]}..{slab[1] or x.shape[-1] + slab[0]}")
        yield name, MetaTensor(lr, affine=affine, meta=meta), x, None, None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True, help="retina_sr, cxr_sr or ct_mr_sr_3d")
    ap.add_argument("--dataset_dir", default=None, help="as for the bundle's evaluate.json (2D bundles)")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--weights", default="psnr")
    ap.add_argument("--no-tta", action="store_true", help="fit without the test-time-augmentation feature")
    ap.add_argument("--max-images", dest="max_images", type=int, default=None)
    ap.add_argument("--work-dir", dest="work_dir", default="/tmp/srgan_calibration")
    ap.add_argument("--write", action="store_true", help="store the fitted model beside the weights")
    ap.add_argument(
        "--self-calibrate",
        dest="self_calibrate",
        action="store_true",
        help="ct_mr_sr_3d: every volume calibrates itself on its in-plane axes (nothing fitted in advance)",
    )
    args = ap.parse_args(argv)
    bundle = ROOT / "bundles" / args.bundle
    rng = np.random.default_rng(0)
    pipe = None
    feats_s: dict[str, list[np.ndarray]] = {n: [] for n in FEATURES}
    errs: list[np.ndarray] = []
    val_names = []
    weights = None
    volumes = args.bundle == "ct_mr_sr_3d"
    if args.self_calibrate and not volumes:
        print("error: --self-calibrate is for the volumes of ct_mr_sr_3d")
        return 2
    fit_pairs = _volume_pairs(VOLUMES_FIT) if volumes else section_pairs(bundle, args, "validation")
    if args.self_calibrate:
        fit_pairs = iter(())
        pipe = SRInferencePipeline.from_bundle(bundle, output_dtype="float32")
        weights = pipe.weights_path
    for name, lr, hr, fov, pair_weights in fit_pairs:
        weights = weights or pair_weights
        if pipe is None:
            kw = {"output_dtype": "float32"} if volumes else {"weights": weights, "scale": args.scale,
                                                              "output_dtype": "float32"}  # fmt: skip
            pipe = SRInferencePipeline.from_bundle(bundle, **kw)
            weights = pipe.weights_path
        sr = pipe.predict(lr)
        tta = None if args.no_tta else pipe.predict(MetaTensor(lr.flip(1), meta=dict(lr.meta))).flip(1)[None]
        f = uncertainty_features(sr[None], lr[None], pipe.scales_for(lr), tta)
        # samples in fractions of each image's normalisation range R, so that volumes of any units fit one model
        value_range = float(lr.meta.get("srgan_value_max", 1.0)) - float(lr.meta.get("srgan_value_min", 0.0))
        f = {n: v / value_range for n, v in f.items()}
        err = (sr.as_subclass(torch.Tensor) - hr).pow(2).mean(dim=0).sqrt() / value_range  # RMS over channels
        sign = torch.sign((sr.as_subclass(torch.Tensor) - hr).mean(dim=0))
        keep = torch.ones_like(err, dtype=torch.bool) if fov is None else fov
        idx = np.flatnonzero(keep.numpy().ravel())
        pick = rng.choice(idx, size=min(SAMPLES_PER_IMAGE, idx.size), replace=False)
        for n in FEATURES:
            feats_s[n].append(f[n][0, 0].numpy().ravel()[pick])
        errs.append((sign * err).numpy().ravel()[pick])
        val_names.append(name)
        print(f"validation {name}: {hr.shape[1]}x{hr.shape[2]}", flush=True)
    if pipe is None:
        print("error: the validation split is empty")
        return 2
    if args.self_calibrate:
        model = ErrorModel(
            floor=0.0,
            coef={n: 0.0 for n in FEATURES},
            factor=1.0,
            uses_tta=False,
            self_calibrate=True,
            fit={"method": "self-calibrated on each volume's in-plane axes"},
        )
    else:
        model = fit_error_model({n: np.concatenate(v) for n, v in feats_s.items()}, np.concatenate(errs), 1.0,
                                uses_tta=not args.no_tta)  # fmt: skip
        print(f"fitted: floor {model.floor:.5f}, coef {model.coef}, factor {model.factor:.3f}, "
              f"NLL {model.fit['nll']:.3f}")  # fmt: skip

    print("\n| test image | Spearman (8x8 blocks) | coverage of ±1.645 σ | mean σ (grey levels /255) |")
    print("|---|---|---|---|")
    rhos, covs, t_plain, t_unc = [], [], 0.0, 0.0
    test_names = []
    test_pairs = _volume_pairs(VOLUMES_TEST) if volumes else section_pairs(bundle, args, "test")
    pool = F.avg_pool3d if volumes else F.avg_pool2d
    for name, lr, hr, fov, _ in test_pairs:
        t0 = time.perf_counter()
        sr = pipe.predict(lr)
        t1 = time.perf_counter()
        sigma = estimate_uncertainty(pipe, lr, sr, model)[0]
        t2 = time.perf_counter()
        t_plain, t_unc = t_plain + (t1 - t0), t_unc + (t2 - t0)
        err = (sr.as_subclass(torch.Tensor) - hr).pow(2).mean(dim=0).sqrt()
        cover = (err <= 1.645 * sigma) if fov is None else (err <= 1.645 * sigma)[fov]
        bs = pool(sigma[None, None].as_subclass(torch.Tensor), 8)[0, 0]  # 8x8 (8x8x8 for volumes) blocks
        be = pool(err[None, None], 8)[0, 0]
        inside = torch.ones_like(bs, dtype=torch.bool)
        if fov is not None:  # blocks entirely inside the field of view
            inside = F.avg_pool2d(fov[None, None].float(), 8)[0, 0] == 1.0
        rho = _spearman(bs[inside], be[inside])
        cov = float(cover.float().mean())
        rhos.append(rho)
        covs.append(cov)
        test_names.append(name)
        r = float(lr.meta.get("srgan_value_max", 1.0)) - float(lr.meta.get("srgan_value_min", 0.0))
        print(f"| {name} | {rho:.3f} | {100 * cov:.1f} % | {255 * float(sigma.mean()) / r:.2f} |", flush=True)
    cost = t_unc / max(t_plain, 1e-9)
    print(f"| mean of {len(rhos)} | {np.mean(rhos):.3f} | {100 * np.mean(covs):.1f} % | |")
    print(f"\ncost of --uncertainty: {cost:.2f}x plain inference ({t_unc:.1f} s vs {t_plain:.1f} s)")
    model.fit.update(
        bundle=args.bundle,
        weights=Path(weights).name,
        scale=args.scale,
        validation=val_names,
        test=test_names,
        test_spearman_mean=round(float(np.mean(rhos)), 4),
        test_coverage_mean=round(float(np.mean(covs)), 4),
        cost_ratio=round(cost, 2),
        command=" ".join(["python benchmarks/calibrate_uncertainty.py", *map(shlex.quote, argv or sys.argv[1:])]),
    )
    if args.write:
        model.save(calibration_path(weights))
        print(f"written: {calibration_path(weights)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
