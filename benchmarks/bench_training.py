"""Training throughput of stage 1 (SRPretrainer) and stage 2 (SRGANTrainer) with the share of time per phase.

Usage::

    python benchmarks/bench_training.py                       # fundus RGB and chest X-ray gray, both stages
    python benchmarks/bench_training.py --kind xray --iters 10 --threads 2
    python benchmarks/bench_training.py --generator compact   # SRVGGNetCompact instead of SRResNet-16

Default configuration (what the bundles start from; ../shared/reference/README.md, papers 000/004): ×4, LR patches
of 48 px (HR 192 px), batch 4, SRResNet (16 blocks, 64 features, BatchNorm), SRGAN discriminator; stage 1 L1
(Adam 2e-4); stage 2 Real-ESRGAN's generator loss (L1 + VGG-19 perceptual + 0.1 vanilla GAN, random-weight VGG: the
timing does not depend on the weights), EMA 0.999. Data: real images (fundus ../shared/data/retina/hrf_01_h.jpg,
chest X-ray ../shared/data/cxr/nih_00000075_000.png) decoded once (CacheDataset), then per sample the real
pipeline: random HR patch, bicubic ×4 (``imresize``), paired flip/rotate — so "data" is the per-iteration
transform + collate cost, as with a cached dataset in training.

Phases come from the trainers' ``profile=True`` timers: data (batch fetch), G forward, D forward, losses
(content/perceptual/adversarial), G backward+step, D backward+step; "other" is the rest of the iteration (EMA
update, NaN guard, bookkeeping). ``--warmup`` iterations are excluded. On a shared CPU the absolute numbers vary
with the load of other processes (the script prints the load average); the shares are more stable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monai.data import Dataset  # noqa: E402
from monai.transforms import Compose  # noqa: E402

from monai_srgan.engines import SRGANTrainer, SRPretrainer, make_dataloader  # noqa: E402
from monai_srgan.losses import AdversarialLoss, GeneratorLoss, PerceptualLoss  # noqa: E402
from monai_srgan.networks import SRGANDiscriminator, SRResNet, SRVGGNetCompact  # noqa: E402
from monai_srgan.transforms import (  # noqa: E402
    BicubicDownsampled,
    LoadMedicalImaged,
    RandHRPatchd,
    RandPairedFlipRotated,
    ScaleToUnitRanged,
)

IMAGES = {"fundus": ("retina/hrf_01_h.jpg", 3), "xray": ("cxr/nih_00000075_000.png", 1)}
PHASES = ["data", "g_forward", "d_forward", "losses", "g_backward", "d_backward"]


def _data_root() -> Path:
    env = os.environ.get("MONAI_SRGAN_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def build_loader(kind: str, lr_patch: int, scale: int, batch: int, n_samples: int):
    rel, _ = IMAGES[kind]
    hr = Compose([LoadMedicalImaged(keys="hr"), ScaleToUnitRanged(keys="hr")])({"hr": str(_data_root() / rel)})["hr"]
    pairs = Compose(
        [
            RandHRPatchd(keys="hr", patch_size=lr_patch * scale),
            BicubicDownsampled(keys="hr", lr_key="lr", scale=scale, clip=(0, 1)),
            RandPairedFlipRotated(keys=("lr", "hr")),
        ]
    )
    # the image is decoded once (as with a CacheDataset); patch, degradation and augmentation run per sample
    return make_dataloader(Dataset([{"hr": hr}] * n_samples, transform=pairs), batch_size=batch, shuffle=True)


def build_generator(name: str, channels: int, scale: int) -> torch.nn.Module:
    if name == "compact":
        return SRVGGNetCompact(2, channels, channels, scale, num_feat=64, num_conv=16)
    return SRResNet(2, channels, channels, scale)  # SRGAN: 16 blocks, 64 features, BatchNorm


def run_stage(stage: int, kind: str, args: argparse.Namespace) -> dict:
    _, channels = IMAGES[kind]
    torch.manual_seed(0)
    n_iter = args.warmup + args.iters
    loader = build_loader(kind, args.lr_patch, args.scale, args.batch, n_samples=args.batch * n_iter)
    g = build_generator(args.generator, channels, args.scale)
    common = dict(
        device=args.device, max_epochs=1, train_data_loader=loader, generator=g, epoch_length=n_iter, profile=True
    )
    if stage == 1:
        trainer = SRPretrainer(
            optimizer_g=torch.optim.Adam(g.parameters(), 2e-4, betas=(0.9, 0.99)),
            loss_function=torch.nn.L1Loss(),
            **common,
        )
    else:
        d = SRGANDiscriminator(2, channels)
        trainer = SRGANTrainer(
            optimizer_g=torch.optim.Adam(g.parameters(), 1e-4, betas=(0.9, 0.99)),
            discriminator=d,
            optimizer_d=torch.optim.Adam(d.parameters(), 1e-4, betas=(0.9, 0.99)),
            generator_loss=GeneratorLoss(  # paper 002 (Real-ESRGAN): L1 + perceptual + 0.1 GAN, random-weight VGG
                {
                    "l1": {"loss": torch.nn.L1Loss(), "weight": 1.0},
                    "percep": {"loss": PerceptualLoss.from_preset("realesrgan", pretrained=False), "weight": 1.0},
                    "gan": {"loss": AdversarialLoss("vanilla"), "weight": 0.1},
                }
            ),
            adversarial_loss=AdversarialLoss("vanilla"),
            ema_decay=0.999,
            **common,
        )
    from ignite.engine import Events

    marks: dict[str, float] = {}

    @trainer.on(Events.ITERATION_COMPLETED(once=args.warmup))
    def _reset(engine):
        engine.state.timings.clear()
        marks["t0"] = time.perf_counter()

    trainer.run()
    wall = time.perf_counter() - marks["t0"]
    t = dict(trainer.state.timings)
    shares = {p: t.get(p, 0.0) / wall for p in PHASES}
    shares["other"] = max(0.0, 1.0 - sum(shares.values()))
    return {
        "stage": stage,
        "kind": kind,
        "channels": channels,
        "it_per_s": args.iters / wall,
        "s_per_it": wall / args.iters,
        "hr_px_per_s": args.iters * args.batch * (args.lr_patch * args.scale) ** 2 / wall,
        "shares": shares,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=["fundus", "xray", "both"], default="both")
    ap.add_argument("--stage", choices=["1", "2", "both"], default="both")
    ap.add_argument("--generator", choices=["srresnet", "compact"], default="srresnet")
    ap.add_argument("--lr-patch", type=int, default=48)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kinds = ["fundus", "xray"] if args.kind == "both" else [args.kind]
    stages = [1, 2] if args.stage == "both" else [int(args.stage)]
    load = os.getloadavg()
    print(
        f"# torch {torch.__version__}, device {args.device}, {args.threads} thread(s), {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f}/{load[1]:.1f}; x{args.scale}, LR {args.lr_patch} px, batch {args.batch}, "
        f"generator {args.generator}, {args.iters} timed iterations after {args.warmup} warm-up"
    )
    header = "| config | stage | it/s | s/it | HR Mpx/s | " + " | ".join(PHASES + ["other"]) + " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    results = []
    for kind in kinds:
        for stage in stages:
            r = run_stage(stage, kind, args)
            results.append(r)
            sh = " | ".join(f"{100 * r['shares'][p]:.0f}%" for p in PHASES + ["other"])
            name = f"{kind} ({'RGB' if r['channels'] == 3 else 'gray'})"
            print(
                f"| {name} | {stage} | {r['it_per_s']:.2f} | {r['s_per_it']:.2f} | "
                f"{r['hr_px_per_s'] / 1e6:.3f} | {sh} |",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "load": load, "results": results}, indent=1))


if __name__ == "__main__":
    main()
