"""The arguments of the ``monai-srgan`` command line (``infer`` and ``export``), parsed without torch or MONAI so
that ``--help`` and usage errors answer at once; :mod:`monai_srgan.apps.cli` runs them."""

from __future__ import annotations

import argparse

from monai_srgan import __version__
from monai_srgan.io.writers.formats import FORMAT_CHOICES
from monai_srgan.selfsup.cli import add_self_supervised_args

__all__ = ["build_parser", "NETWORK_CHOICES", "DTYPE_CHOICES"]

#: ``monai_srgan.networks.GENERATORS`` names, written out so that ``--help`` needs no torch (a test keeps them equal)
NETWORK_CHOICES = ("srresnet", "msrresnet", "edsr", "rrdbnet", "srvggnetcompact", "cascadedsr", "throughplanesr")
_NETWORK_ALIASES = ("srgan", "esrgan", "realesrgan", "srvgg", "compact", "cascaded", "edsrse")
DTYPE_CHOICES = ("auto", "float32", "float16", "bfloat16")


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: use a value of at least {minimum}")
        return value

    return parse


_positive, _non_negative = _int_at_least(1), _int_at_least(0)


# --------------------------------------------------------------------------------------------------- arguments
def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (one of --bundle / --model)")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundle", help="MONAI bundle folder (configs/inference.json + models/model.pt)")
    src.add_argument("--model", help="weight file (.pt checkpoint/state dict) or exported model (.ts, .onnx)")
    g.add_argument(
        "--network",
        default="srresnet",
        metavar="NAME",
        help=f"generator of --model: {', '.join(NETWORK_CHOICES)} (default srresnet)",
    )
    g.add_argument(
        "--scale",
        type=_positive,
        help="SR factor of --model; with --bundle, selects that scale's shipped weights (retina_sr: 4, 8, 16)",
    )
    g.add_argument("--in-channels", type=_positive, default=None, help="input channels of --model (default 1)")
    g.add_argument(
        "--net-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra generator constructor argument for --model (JSON value), repeatable",
    )
    g.add_argument(
        "--weights",
        help="with --bundle: 'psnr' (default: fidelity-oriented), 'gan' (adversarially fine-tuned, sharper) or a "
        "weight file",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``monai-srgan`` (sub-commands ``infer`` and ``export``)."""
    parser = argparse.ArgumentParser(prog="monai-srgan", description="GAN super-resolution of medical images.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    inf = sub.add_parser("infer", help="super-resolve a file or a folder (DICOM series, PNG/JPEG/TIFF, NIfTI)")
    inf.add_argument(
        "input",
        help="file, DICOM series folder or folder searched recursively, or a DICOMweb study/series address "
        "http(s)://HOST[:PORT]/<base>/studies/<StudyUID>[/series/<SeriesUID>] (credentials: docs/inference.md)",
    )
    inf.add_argument("output", help="output folder (created; must not be inside the input, nor hold it)")
    _add_model_args(inf)
    inf.add_argument("--expect-scale", type=_positive, help="fail unless the model's scale is this")
    inf.add_argument("--format", default="same", choices=FORMAT_CHOICES, help="output format (default: same as input)")
    inf.add_argument(
        "--tile-size", type=_positive, default=None, help="tile size, input px (default: the bundle's, else 256)"
    )
    inf.add_argument(
        "--overlap", type=_non_negative, default=None, help="ignored: tiles abut and their context makes them exact"
    )
    inf.add_argument(
        "--context", type=_non_negative, default=None, help="context pixels per tile side (default: receptive field)"
    )
    inf.add_argument(
        "--batch", type=_positive, default=None, help="tiles per generator call (default: 1 on CPU, 4 on GPU)"
    )
    inf.add_argument(
        "--compress-level",
        type=int,
        choices=range(10),
        default=1,
        metavar="0-9",
        help="zlib level of PNG/TIFF outputs (lossless at every level; default 1: fast; 9: smallest)",
    )
    inf.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    inf.add_argument(
        "--dtype", default=None, choices=DTYPE_CHOICES, help="generator precision (default: the pipeline's)"
    )
    inf.add_argument(
        "--clamp",
        default=None,
        choices=("data", "range"),
        help="keep output values inside the source's data range (default: data) or only its bit-depth range",
    )
    inf.add_argument(
        "--no-keep-flat",
        action="store_true",
        help="let the model write texture where the source is exactly constant (default: kept constant)",
    )
    inf.add_argument(
        "--self-ensemble",
        action="store_true",
        help="average the SR of the 8 flipped and rotated inputs (8x the time; PSNR weights gain a little)",
    )
    inf.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write a calibrated per-pixel uncertainty map (1 SD, output value units) beside each output",
    )
    inf.add_argument("--compare", action="store_true", help="also write bicubic|SR|difference PNG and LR residual map")
    again = inf.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue an earlier run: skip inputs whose output exists")
    again.add_argument(
        "--overwrite", action="store_true", help="redo an earlier run: replace its outputs (each atomically)"
    )
    inf.add_argument(
        "--follow-links",
        action="store_true",
        help="also follow symbolic links that lead out of INPUT (default: skipped, named in the report)",
    )
    inf.add_argument(
        "--no-memory-check",
        action="store_true",
        help="start an input even when its output and working memory are estimated not to fit in free memory",
    )
    inf.add_argument(
        "--store-to",
        default=None,
        metavar="URL",
        help="DICOMweb root (e.g. http://HOST:8042/dicom-web): send each derived series there with STOW-RS, into "
        "its source's study (instances the server already holds are not sent again)",
    )
    inf.add_argument("--series-number", type=_non_negative, default=None, help="SeriesNumber of derived DICOM series")
    inf.add_argument("--note", default=None, help="DICOM ImageComments note (default: not for diagnostic use)")
    inf.add_argument("--no-note", action="store_true", help="write no ImageComments note")
    inf.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_self_supervised_args(inf)

    exp = sub.add_parser("export", help="export a generator to TorchScript or ONNX (+ a .json sidecar)")
    exp.add_argument("output", help="output file (.ts / .pt for TorchScript, .onnx for ONNX)")
    _add_model_args(exp)
    exp.add_argument("--to", choices=("torchscript", "onnx"), default=None, help="default: from the file extension")
    exp.add_argument("--tile-size", type=_positive, default=64, help="example input size used for tracing (default 64)")
    return parser
