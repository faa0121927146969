"""Training cost of every loss: forward + backward time on one batch, relative to one SRResNet-16 generator step.

Usage::

    python benchmarks/bench_losses.py                       # 16 x 3 x 256 x 256, CPU, 1 thread, markdown table
    python benchmarks/bench_losses.py --batch 4 --size 128  # quicker
    python benchmarks/bench_losses.py --only l1 saliency    # a subset

The batch is real data: 256x256 crops of the HRF/IDRiD fundus photographs in ../shared/data (or
$MONAI_SRGAN_DATA), with SR = bicubic down/up (x4) of HR. The reference is one forward + backward of
``monai_srgan.networks.SRResNet(2, 3, 3, scale=4)`` (16 residual blocks, 64 features) from the 64x64 LR batch.
VGG weights are random (timing does not depend on them). Adversarial terms are timed on given logits; the
discriminator's own forward/backward is not part of a loss's cost. Each paper's total is the sum of its terms.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monai_srgan.losses import (  # noqa: E402
    AdversarialLoss,
    CharbonnierLoss,
    FusionLoss,
    L1Loss,
    LocalSaliency,
    MSELoss,
    PerceptualLoss,
    SaliencyLoss,
    SaliencyWeightedMSELoss,
)


def _data_root() -> Path:
    env = os.environ.get("MONAI_SRGAN_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def load_batch(batch: int, size: int) -> torch.Tensor:
    """``batch`` RGB crops ``size`` x ``size`` in [0, 1] from the fundus photographs (centre region, FOV inside)."""
    files = sorted((_data_root() / "retina").glob("*"))
    files = [f for f in files if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif")]
    crops = []
    i = 0
    while len(crops) < batch:
        img = np.asarray(Image.open(files[i % len(files)]).convert("RGB"), dtype=np.float32) / 255.0
        h, w = img.shape[:2]
        k = i // len(files)
        top = h // 2 - size + (k * size // 2) % size
        left = w // 2 - size + (k * size // 3) % size
        crops.append(img[top : top + size, left : left + size].transpose(2, 0, 1))
        i += 1
    return torch.from_numpy(np.ascontiguousarray(np.stack(crops)))


def time_it(fn: Callable[[], torch.Tensor | None], repeat: int) -> float:
    """Median wall time of ``repeat`` calls (after one warm-up call when repeat > 1)."""
    if repeat > 1:
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="repeats for cheap losses (VGG losses run once)")
    ap.add_argument("--only", nargs="*", default=None, help="names of the rows to run")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    hr = load_batch(args.batch, args.size)
    lr = F.interpolate(hr, scale_factor=0.25, mode="bicubic", antialias=True, align_corners=False)
    sr0 = F.interpolate(lr, size=hr.shape[2:], mode="bicubic", align_corners=False).clamp(0, 1)
    # logits stand in for D(sr) (with a gradient path back to D/G) and D(hr)
    fake = torch.randn(args.batch, 1).requires_grad_(True)
    real = torch.randn(args.batch, 1) + 1
    fake_px = torch.randn(args.batch, 1, args.size, args.size).requires_grad_(True)
    real_px = torch.randn(args.batch, 1, args.size, args.size) + 1

    from monai_srgan.networks import SRResNet

    gen = SRResNet(2, 3, 3, scale=4)
    gen_name = "monai_srgan.networks.SRResNet(2, 3, 3, scale=4)"

    def gen_step() -> None:
        gen.zero_grad(set_to_none=True)
        out = gen(lr)
        F.l1_loss(out, hr).backward()

    def loss_step(loss: torch.nn.Module, **kw) -> Callable[[], None]:
        def run() -> None:
            sr = sr0.clone().requires_grad_(True)
            loss(sr, hr, **kw).backward()

        return run

    def forward_only(module: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                module(hr)

        return run

    def vgg(preset: str) -> PerceptualLoss:
        return PerceptualLoss.from_preset(preset, pretrained=False)

    rows: list[tuple[str, str, Callable[[], torch.nn.Module], dict, bool]] = [
        # name, description, factory, logits kwargs, heavy (run once)
        ("l1", "L1Loss", L1Loss, {}, False),
        ("mse", "MSELoss", MSELoss, {}, False),
        ("charbonnier", "CharbonnierLoss(1e-3)", CharbonnierLoss, {}, False),
        (
            "gan_vanilla",
            "AdversarialLoss('vanilla'), logits (N, 1)",
            lambda: AdversarialLoss("vanilla"),
            {"fake_logits": fake, "real_logits": real},
            False,
        ),
        (
            "gan_ragan_px",
            "AdversarialLoss('ragan'), per-pixel logits (N, 1, H, W)",
            lambda: AdversarialLoss("ragan"),
            {"fake_logits": fake_px, "real_logits": real_px},
            False,
        ),
        ("saliency_map", "LocalSaliency(hard) of HR, forward only", LocalSaliency, {}, False),
        ("saliency", "SaliencyLoss (eq. 9, soft histogram)", SaliencyLoss, {}, False),
        ("wmse", "SaliencyWeightedMSELoss (eq. 7, SR saliency)", SaliencyWeightedMSELoss, {}, False),
        (
            "wmse_hr",
            "SaliencyWeightedMSELoss(sr_weight='hr')",
            lambda: SaliencyWeightedMSELoss(sr_weight="hr"),
            {},
            False,
        ),
        (
            "vgg_realesrgan",
            "PerceptualLoss 'realesrgan' (VGG-19 conv1_2..conv5_4, L1)",
            lambda: vgg("realesrgan"),
            {},
            True,
        ),
        ("vgg_srgan", "PerceptualLoss 'srgan' (VGG-19 relu5_4, L2)", lambda: vgg("srgan"), {}, True),
        ("vgg16_relu41", "PerceptualLoss 'mahapatra2017' (VGG-16 relu4_1, L2)", lambda: vgg("mahapatra2017"), {}, True),
        (
            "fusion",
            "FusionLoss (paper 001; VGG-19 conv5_4)",
            lambda: FusionLoss(pretrained=False),
            {"fake_logits": fake, "real_logits": real},
            True,
        ),
    ]
    if args.only:
        rows = [r for r in rows if r[0] in args.only]

    print(
        f"# batch {args.batch} x 3 x {args.size} x {args.size}, torch {torch.__version__}, "
        f"{args.threads} thread(s), CPU",
        flush=True,
    )
    t_gen_before = time_it(gen_step, max(1, min(args.repeat, 2)))
    print(f"reference: {gen_name} forward+backward on {tuple(lr.shape)}: {t_gen_before:.2f} s", flush=True)
    t_gen = t_gen_before
    results: dict[str, float] = {}
    lines = [
        "| loss | forward + backward (s) | × SRResNet-16 step |",
        "|---|---|---|",
        f"| SRResNet-16 ×4 generator step (reference) | {t_gen:.2f} | 1.00 |",
    ]
    for name, desc, factory, kw, heavy in rows:
        module = factory()
        fn = forward_only(module) if name == "saliency_map" else loss_step(module, **kw)
        t = time_it(fn, 1 if heavy else args.repeat)
        results[name] = t
        lines.append(f"| `{name}`: {desc} | {t:.3f} | {t / t_gen:.3f} |")
        print(lines[-1], flush=True)
    # the machine may be shared: time the reference again at the end and use the mean of both
    t_gen_after = time_it(gen_step, 1)
    t_gen = 0.5 * (t_gen_before + t_gen_after)
    print(f"reference again: {t_gen_after:.2f} s; using the mean {t_gen:.2f} s for the ratios", flush=True)
    lines[2] = (
        f"| SRResNet-16 ×4 generator step (reference; {t_gen_before:.2f} s before, {t_gen_after:.2f} s after) "
        f"| {t_gen:.2f} | 1.00 |"
    )
    lines = lines[:3] + [
        f"| {ln.split(' | ')[0][2:]} | {results[n]:.3f} | {results[n] / t_gen:.3f} |"
        for ln, n in zip(lines[3:], results)
    ]
    papers = {
        "000": ["vgg_srgan", "gan_vanilla"],
        "001": ["fusion"],
        "002": ["l1", "vgg_realesrgan", "gan_vanilla"],
        "003": ["wmse", "vgg16_relu41", "saliency", "gan_vanilla"],
        "004": ["mse", "vgg_srgan", "gan_vanilla"],
    }
    for paper, parts in papers.items():
        if all(p in results for p in parts):
            t = sum(results[p] for p in parts)
            lines.append(f"| paper {paper} generator loss (sum of {', '.join(parts)}) | {t:.3f} | {t / t_gen:.3f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
