"""Measure the grain amplitude a bundle's SR output lacks: the sensor noise of HR that the PSNR model averages away.

Usage (from the repository root)::

    python benchmarks/calibrate_grain.py --bundle retina_sr \\
        --dataset_dir "['../shared/data/retina','../shared/data/extra/retina']"

On every image of the **training** section of the bundle's split (never the validation or test images), through
the bundle's own ``evaluate.json`` pre-processing and bicubic degradation (the pairs of ``calibrate_uncertainty.py``),
the weights (default the shipped PSNR ``models/model.pt``) super-resolve the LR, and Immerkær's noise estimate
(:func:`~monai_srgan.metrics.noise_sd`; inside the field of view for fundus photographs) is taken per channel
of HR and of SR. The grain amplitude is ``σ_c = sqrt(mean(max(0, σ_HR,c² − σ_SR,c²)))``: white noise of that
amplitude restores the noise power that SR lacks. It is the ``grain_sigma`` that ``train.json``'s GAN stage adds
(:class:`~monai_srgan.networks.GrainGenerator`; docs/results.md says why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from calibrate_uncertainty import section_pairs  # noqa: E402  (one loader of a split section's pairs)


def main() -> None:
    from monai.bundle import ConfigParser

    from monai_srgan.bundle.evaluate import load_bundle_generator
    from monai_srgan.metrics import noise_sd

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="retina_sr", choices=["retina_sr", "cxr_sr"])
    ap.add_argument("--dataset_dir", required=True, help="as given to train.json (a folder or a list of folders)")
    ap.add_argument("--weights", default="psnr", help="psnr (default: the bundle's models/model.pt) or a weight file")
    ap.add_argument("--section", default="training", help="split section to measure on")
    args = ap.parse_args()
    bundle = ROOT / "bundles" / args.bundle
    loader = argparse.Namespace(dataset_dir=args.dataset_dir, work_dir="/tmp/srgan_calibrate_grain", scale=4,
                                weights=args.weights, max_images=None)  # fmt: skip
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "evaluate.json"))
    parser["bundle_root"] = str(bundle)
    net = None
    hr_var, sr_var = [], []
    for name, lr, hr, fov, weights in section_pairs(bundle, loader, args.section):
        if net is None:
            net = load_bundle_generator(parser.get_parsed_content("network_def", instantiate=True), weights).eval()
        with torch.no_grad():
            sr = net(lr.as_subclass(torch.Tensor)[None]).float().clamp(0, 1)
        mask = None if fov is None else fov[None, None].float()
        n_hr = noise_sd(hr[None], per_channel=True, mask=mask)[0]
        n_sr = noise_sd(sr, per_channel=True, mask=mask)[0]
        hr_var.append(n_hr**2)
        sr_var.append(n_sr**2)
        print(f"{name}: noise SD per channel HR {[round(float(v), 5) for v in n_hr]}, "
              f"SR {[round(float(v), 5) for v in n_sr]}", flush=True)  # fmt: skip
    hr_var, sr_var = torch.stack(hr_var), torch.stack(sr_var)
    sigma = (hr_var - sr_var).clamp_min(0).mean(0).sqrt()
    print(f"{len(hr_var)} {args.section} images: mean noise SD HR {hr_var.mean(0).sqrt().tolist()}, "
          f"SR {sr_var.mean(0).sqrt().tolist()}")  # fmt: skip
    print(f"grain_sigma: {[round(float(s), 4) for s in sigma]}")


if __name__ == "__main__":
    main()
