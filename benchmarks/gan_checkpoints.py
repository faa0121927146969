"""Which stage-2 (GAN) checkpoint to ship: PSNR gain and sharpness of each on the validation images.

Usage (after a stage-2 run that kept its numbered checkpoints, ``--train#stage2#checkpoint#keep_last 10``)::

    python benchmarks/gan_checkpoints.py --bundle retina_sr \\
        --dataset_dir "['../shared/data/retina','../shared/data/extra/retina']" \\
        runs/retina_gan/stage2/checkpoint_iter*.pt

For every checkpoint, its EMA generator (``params_ema``) super-resolves the ``validation`` section of the bundle's
split (never the test images) at ×4 through the bundle's own ``evaluate.json`` pre-processing and bicubic
degradation, and so does the PSNR model the GAN stage started from (``--psnr``, default the bundle's
``models/model.pt``). The report gives, as means over the images: PSNR gain over bicubic, gradient ratio (mean
Sobel gradient magnitude of SR / HR, 1 = as sharp as the truth), hallucination score (high-frequency energy SR
adds that HR lacks, :func:`~monai_srgan.metrics.hallucination_score`) and, for fundus, the vessel F1 of the SR's
vessel map against the HR's (the ``evaluate.json`` settings).

The rule (docs/results.md): a checkpoint is *faithful* when its PSNR stays above bicubic's, its hallucination score
is at most ``HALLUCINATION_RATIO`` (5×) the PSNR model's and, for fundus, its vessel F1 is at least bicubic's; the
one to ship is the faithful checkpoint with the highest gradient ratio not above the band's top (1.12). The vessel
maps against the STARE *hand labels* are checked next with ``gan_fidelity.py``. ``--grain 0 0.004 ...`` scores each
checkpoint with each synthesised-grain amplitude (:class:`~monai_srgan.networks.GrainGenerator`) instead of the one
its weights carry, and the rule then chooses the pair.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from gan_fidelity import HALLUCINATION_RATIO, is_faithful  # noqa: E402  (one rule for both selection steps)

#: the gradient-ratio band the shipped GAN weights aim for (issue 28)
BAND = (0.88, 1.12)


def main() -> None:
    from monai.bundle import ConfigParser

    from monai_srgan.metrics import evaluate_pair
    from monai_srgan.networks import GrainGenerator, grain_for_weights, load_network_weights, with_grain

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--bundle", default="retina_sr", choices=["retina_sr", "cxr_sr"])
    ap.add_argument("--psnr", type=Path, default=None, help="the PSNR weights the GAN started from")
    ap.add_argument("--dataset_dir", required=True, help="as given to train.json (a folder or a list of folders)")
    ap.add_argument("--grain", type=float, nargs="+", default=None,
                    help="score every checkpoint with each of these synthesised-grain amplitudes instead of the one "
                         "its weights carry (GrainGenerator; 0 = none)")  # fmt: skip
    args = ap.parse_args()
    bundle = REPO / "bundles" / args.bundle
    args.psnr = args.psnr or bundle / "models" / "model.pt"
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
    vessels = args.bundle == "retina_sr"
    vessel_kwargs = parser.get_parsed_content("evaluation#vessel_kwargs") if vessels else None

    def score(path: Path, grain: float | None = None) -> dict[str, float]:
        net = parser.get_parsed_content("network_def", instantiate=True)
        net = grain_for_weights(net, str(path))
        load_network_weights(net, str(path))
        if grain is not None:
            net = with_grain(net.generator if isinstance(net, GrainGenerator) else net, grain)
        net.eval()
        rows = []
        for hr, lr in pairs:
            with torch.no_grad():
                sr = net(lr).float().clamp(0, 1)
            res = evaluate_pair(sr, hr, lr, crop_border=0, vessels=vessels, vessel_kwargs=vessel_kwargs)
            rows.append({k: float(v[0]) for k, v in res.items()})
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        name = str(path) if grain is None else f"{path} grain {grain:g}"
        line = (f"{name}: PSNR gain {mean['psnr_gain']:+.3f} dB, gradient ratio "
                f"{mean['gradient_ratio_model']:.3f}, hallucination {mean['hallucination_model']:.5f}")  # fmt: skip
        if vessels:
            line += f", vessel F1 vs HR {mean['vessel_f1_model']:.3f} (bicubic {mean['vessel_f1_bicubic']:.3f})"
        print(line, flush=True)
        return mean

    reference = score(args.psnr)
    limit = HALLUCINATION_RATIO * reference["hallucination_model"]
    faithful = {}
    for ckpt in sorted(args.checkpoints):
        for grain in args.grain or [None]:
            m = score(ckpt, grain)
            f1, f1_bicubic = (m["vessel_f1_model"], m["vessel_f1_bicubic"]) if vessels else (None, None)
            faithful_here = is_faithful(f1, f1_bicubic, m["hallucination_model"], reference["hallucination_model"])
            if faithful_here and m["psnr_gain"] > 0 and m["gradient_ratio_model"] <= BAND[1]:
                # the path: runs share checkpoint file names
                faithful[str(ckpt) if grain is None else f"{ckpt} grain {grain:g}"] = m["gradient_ratio_model"]
    if faithful:
        best = max(faithful, key=faithful.get)
        inside = BAND[0] <= faithful[best]
        print(f"to ship: {best} (the sharpest faithful checkpoint; gradient ratio {faithful[best]:.3f}, "
              f"{'inside' if inside else 'below'} the {BAND[0]}-{BAND[1]} band)")  # fmt: skip
    else:
        print(f"to ship: none (no checkpoint stays above bicubic with hallucination <= {limit:.5f})")


if __name__ == "__main__":
    main()
