"""Which stage-2 (GAN) checkpoint to ship: PSNR gain and sharpness of each on the validation images.

Usage (after a stage-2 run that kept its numbered checkpoints, ``--train#stage2#checkpoint#keep_last 10``)::

    python benchmarks/gan_checkpoints.py --bundle retina_sr \\
        --dataset_dir "['../shared/data/retina','../shared/data/extra/retina']" \\
        runs/retina_gan/stage2/checkpoint_iter*.pt

For every checkpoint, its EMA generator (``params_ema``) super-resolves the ``validation`` section of the bundle's
split (never the test images) at ×4 through the bundle's own ``evaluate.json`` pre-processing and bicubic
degradation; the report gives the mean PSNR gain over bicubic and the mean gradient ratio (mean Sobel gradient
magnitude of SR / HR, 1 = as sharp as the truth). The shipped GAN weights are the checkpoint with the highest
gradient ratio whose PSNR stays above bicubic's (docs/results.md).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from monai.bundle import ConfigParser

    from monai_srgan.metrics import evaluate_pair
    from monai_srgan.networks import load_network_weights

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--bundle", default="retina_sr", choices=["retina_sr", "cxr_sr"])
    ap.add_argument("--dataset_dir", required=True, help="as given to train.json (a folder or a list of folders)")
    args = ap.parse_args()
    bundle = REPO / "bundles" / args.bundle
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "evaluate.json"))
    parser["bundle_root"] = str(bundle)
    parser["dataset_dir"] = ast.literal_eval(args.dataset_dir) if args.dataset_dir.startswith("[") else args.dataset_dir
    parser["output_dir"] = "/tmp/srgan_gan_checkpoints"
    parser["eval_section"] = "validation"
    prep, degrade = parser.get_parsed_content("eval_transform"), parser.get_parsed_content("degrade")
    pairs = []
    for entry in parser.get_parsed_content("eval_files"):
        d = degrade(prep(dict(entry)))
        pairs.append((torch.as_tensor(d["hr"]).float()[None], torch.as_tensor(d["lr"]).float()[None]))
    print(f"{args.bundle}: {len(pairs)} validation images")
    scores = {}
    for ckpt in sorted(args.checkpoints):
        net = parser.get_parsed_content("network_def", instantiate=True)
        load_network_weights(net, str(ckpt))
        net.eval()
        gains, ratios = [], []
        for hr, lr in pairs:
            with torch.no_grad():
                sr = net(lr).float().clamp(0, 1)
            res = evaluate_pair(sr, hr, lr, crop_border=0, fidelity=False)
            gains.append(float(res["psnr_gain"][0]))
            ratios.append(float(res["gradient_ratio_model"][0]))
        scores[ckpt.name] = (sum(gains) / len(gains), sum(ratios) / len(ratios))
        print(f"{ckpt.name}: PSNR gain {scores[ckpt.name][0]:+.3f} dB, gradient ratio "
              f"{scores[ckpt.name][1]:.3f}")  # fmt: skip
    above = {name: ratio for name, (gain, ratio) in scores.items() if gain > 0}
    if above:  # the rule of the module docstring
        print(f"to ship: {max(above, key=above.get)} (highest gradient ratio with a positive PSNR gain)")
    else:
        print("to ship: none (no checkpoint stays above bicubic's PSNR)")


if __name__ == "__main__":
    main()
