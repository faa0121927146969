"""``python -m monai_srgan.bundle path NAME`` / ``copy NAME DEST`` / ``weights SRC DEST``: shipped bundles and weights.

``path`` prints the folder of a shipped bundle (``retina_sr``, ``cxr_sr``, ``ct_mr_sr_3d``), e.g. to run it the zoo's
way: ``cd "$(python -m monai_srgan.bundle path cxr_sr)" && python -m monai.bundle run --config_file
configs/inference.json --dataset_dir IN --output_dir OUT``; ``copy`` places a writable copy in ``DEST/NAME``;
``weights`` writes the generator of a training export or checkpoint (``params_ema`` preferred) as the plain state
dict that a bundle ships in ``models/`` (e.g. ``runs/train/stage1/model.pt`` → ``models/model_x8.pt``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from monai_srgan import __version__
from monai_srgan.errors import ConfigError

__all__ = ["main"]


class _BundleNames(Sequence):
    """The shipped bundles' names, read on first use: ``--help`` and ``--version`` never import torch or MONAI."""

    def _names(self) -> tuple[str, ...]:
        from monai_srgan.bundle.infer import BUNDLE_NAMES

        return tuple(BUNDLE_NAMES)

    def __getitem__(self, i):
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for an unknown bundle, an existing destination, or weights that cannot
    be read or written)."""
    parser = argparse.ArgumentParser(prog="python -m monai_srgan.bundle", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"monai_srgan {__version__}")
    names = _BundleNames()
    sub = parser.add_subparsers(dest="command", required=True)
    name_help = {"choices": names, "metavar": "NAME", "help": "a shipped bundle: %(choices)s"}
    sub.add_parser("path", help="print a shipped bundle's folder").add_argument("name", **name_help)
    cp = sub.add_parser("copy", help="copy a shipped bundle to DEST/NAME")
    cp.add_argument("name", **name_help)
    cp.add_argument("dest", help="destination folder (created)")
    wt = sub.add_parser("weights", help="write a training export's generator as a bundle's plain state dict")
    wt.add_argument("src", help="a trainer's model.pt / best_model.pt / checkpoint_last.pt")
    wt.add_argument("dest", help="the weight file to write, e.g. bundles/retina_sr/models/model_x8.pt")
    wt.add_argument(
        "--half",
        action="store_true",
        help="store floating-point tensors as float16 (half the file; loading casts them back to the network's dtype)",
    )
    wt.add_argument(
        "--key",
        default=None,
        help="the checkpoint entry to write, e.g. params (the generator without EMA); default: params_ema, else params",
    )
    args = parser.parse_args(argv)
    if args.command == "weights":
        return _weights(args.src, args.dest, args.half, args.key)
    from monai_srgan.bundle.infer import bundle_path

    try:
        src = bundle_path(args.name)
        if args.command == "path":
            print(src)
            return 0
        dest = Path(args.dest) / args.name
        if dest.exists():
            raise ConfigError(f"'{dest}' already exists: choose another destination")
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("runs", "*.ts", "__pycache__"))
        print(dest)
        return 0
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _weights(src: str, dest: str, half: bool = False, key: str | None = None) -> int:
    from monai_srgan.errors import InputFileError
    from monai_srgan.networks.checkpoint import extract_state_dict, read_weight_file, save_state_dict

    try:
        state, _key, _stripped = extract_state_dict(read_weight_file(src), key=key, source=src)  # params_ema first
    except InputFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        save_state_dict(state, dest, half=half)
    except OSError as e:
        print(f"error: cannot write '{dest}' ({e.strerror or e}): give DEST as a writable file path", file=sys.stderr)
        return 2
    print(dest)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
