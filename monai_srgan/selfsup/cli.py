"""The ``--self-supervised`` options of ``monai-srgan infer`` and the pipeline they build (no torch at import)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_self_supervised_args", "self_supervised_pipeline"]


def add_self_supervised_args(parser: argparse.ArgumentParser) -> None:
    """Add the option group of self-supervised through-plane SR (SMORE-style) to ``infer``."""
    g = parser.add_argument_group(
        "self-supervised through-plane SR of volumes (SMORE-style; with --bundle bundles/ct_mr_sr_3d)"
    )
    g.add_argument(
        "--self-supervised",
        action="store_true",
        help="fine-tune on each volume's own in-plane slices and restore its slice axis; starts from the bundle's "
        "pretrained through-plane network of that factor when the bundle has one, else from cubic interpolation "
        "(--load-model: saved weights); --scale is the through-plane factor (default: slice spacing / in-plane "
        "spacing)",
    )
    g.add_argument("--budget", type=float, default=5.0, metavar="MIN", help="training minutes per volume (default 5)")
    g.add_argument("--iterations", type=int, default=None, help="training iterations (overrides --budget; exact)")
    g.add_argument("--slice-profile", choices=("box", "gaussian"), default="box", help="slice profile (default box)")
    g.add_argument(
        "--slice-thickness", type=float, default=None, metavar="MM", help="profile width/FWHM, mm (default: spacing)"
    )
    g.add_argument("--seed", type=int, default=0, help="seed of the self-supervised training (default 0)")
    g.add_argument("--save-model", default=None, metavar="FILE", help="save the self-supervised weights (.pt)")
    g.add_argument("--load-model", default=None, metavar="FILE", help="reuse saved self-supervised weights")


class _StageBars:
    """One tqdm bar per stage ("building in-plane training pairs", "training") on stderr."""

    def __init__(self, disable: bool) -> None:
        self.disable, self.bar, self.stage = disable, None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.disable:
            return
        from tqdm import tqdm

        if stage != self.stage:
            if self.bar is not None:
                self.bar.close()
            self.stage = stage
            self.bar = tqdm(total=total, desc=f"  {stage}", file=sys.stderr, leave=False)
        self.bar.n = done
        self.bar.refresh()


def self_supervised_pipeline(args: argparse.Namespace, base: Any) -> Any:
    """Wrap ``base`` (the bundle's pipeline: normalisation, device, writers) for ``--self-supervised``."""
    from monai_srgan.errors import ConfigError
    from monai_srgan.selfsup.volume import SelfSupervisedVolumePipeline

    if args.iterations is not None and args.iterations < 1:
        raise ConfigError("--iterations must be at least 1")
    if args.budget <= 0:
        raise ConfigError("--budget must be a positive number of minutes")
    return SelfSupervisedVolumePipeline(
        base,
        scale=args.scale,
        thickness_mm=args.slice_thickness,
        profile=args.slice_profile,
        iterations=args.iterations,
        budget_s=60.0 * args.budget,
        seed=args.seed,
        save_model=args.save_model,
        load_model=args.load_model,
        progress=_StageBars(args.no_progress),
    )
