"""End to end: ``monai-srgan infer`` on a 2000² chest X-ray vs a Real-ESRGAN-style script, same network, one run.

Usage::

    python benchmarks/bench_cli_e2e.py [--repeats 2]

Both sides are whole processes, timed from start to exit with their peak RSS (``ru_maxrss`` of the child):

- **project**: ``monai-srgan infer IMAGE OUT --bundle bundles/cxr_sr --format png --no-progress`` (its defaults:
  256-px abutting tiles, ``--dtype auto``, PNG ``compress_level`` 1, report written);
- **reference**: a script that does what ``inference_realesrgan.py`` does around ``RealESRGANer``: import torch,
  build the same network with the same weights, read the image, [0, 1] float, Real-ESRGAN's ``tile_process``
  (``benchmarks/bench_tiler.reference_tile_process``: tile 192, pad 10, fp32), round to 8 bits, write the PNG with
  the same ``compress_level`` 1 (so the write is not what differs).

Also reports the CLI's start-up before any model work: ``monai-srgan --help`` wall time. ``--folder N`` also times a
folder of N 2000² radiographs on both sides (the reference loops over the files in one process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE = "cxr/covidcxr_2168a917.jpg"

_REFERENCE = r"""
import sys, numpy as np, torch
from PIL import Image
sys.path.insert(0, sys.argv[3])
from bench_tiler import reference_tile_process
from monai.bundle import ConfigParser
from monai_srgan.inference.loading import load_generator
bundle = sys.argv[4]
cfg = ConfigParser(); cfg.read_config(bundle + "/configs/inference.json"); cfg["bundle_root"] = bundle
net = load_generator(bundle + "/models/model.pt", cfg.get_parsed_content("network_def")).eval()
import os
src, dst = sys.argv[1], sys.argv[2]
pairs = [(src, dst)] if not os.path.isdir(src) else [
    (os.path.join(src, f), os.path.join(dst, f)) for f in sorted(os.listdir(src))]
if os.path.isdir(src):
    os.makedirs(dst, exist_ok=True)
for a, b in pairs:  # a folder: one image after another in one process, as inference_realesrgan.py does
    img = np.asarray(Image.open(a).convert("L"), dtype=np.float32) / 255.0
    with torch.inference_mode():
        out = reference_tile_process(net, torch.from_numpy(img)[None, None], 4)
    out = (out[0, 0].clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    Image.fromarray(out).save(b, format="PNG", compress_level=1)
"""


def _folder(folder: Path, data: Path, n: int) -> Path:
    """``n`` 2000×2000 radiographs (the shared CXRs, resized as the single-image case is): a folder of real work."""
    from PIL import Image

    folder.mkdir(parents=True)
    srcs = sorted((data / "cxr").glob("*.jpg")) + sorted((data / "cxr").glob("nih_*.png"))
    for i in range(n):
        Image.open(srcs[i % len(srcs)]).convert("L").resize((2000, 2000), Image.BICUBIC).save(folder / f"c{i}.png")
    return folder


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and this child's own peak RSS in MB (``os.wait4``: the rusage of exactly that process)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        secs = time.perf_counter() - t0
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{cmd[:3]} failed:\n{err.read().decode(errors='replace')[-3000:]}")
    return secs, usage.ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=IMAGE)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--folder", type=int, default=0, help="also a folder of N such radiographs, both sides, one run")
    args = p.parse_args(argv)
    data = Path(os.environ.get("MONAI_SRGAN_DATA", REPO.parent / "shared" / "data"))
    image = data / args.image
    bundle = str(REPO / "bundles" / "cxr_sr")
    cli = str(Path(sys.executable).with_name("monai-srgan"))
    rows: dict[str, list[float]] = {"project": [], "reference": [], "help": []}
    peaks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            out = Path(tmp) / f"cli{r}"
            secs, peak = _timed([cli, "infer", str(image), str(out), "--bundle", bundle, "--format", "png",
                                 "--no-progress"])  # fmt: skip
            rows["project"].append(secs)
            peaks.setdefault("project", peak)
            secs, _ = _timed([sys.executable, "-c", _REFERENCE, str(image), str(Path(tmp) / f"ref{r}.png"),
                              str(REPO / "benchmarks"), bundle])  # fmt: skip
            rows["reference"].append(secs)
            rows["help"].append(_timed([cli, "--help"])[0])
            if r == 0:  # the project's PNG encoder against Pillow's (compress_level 1 both)
                sizes = {"project": next(out.glob("*.png")).stat().st_size / 1e6,
                         "reference": (Path(tmp) / "ref0.png").stat().st_size / 1e6}  # fmt: skip
        if args.folder:
            folder = _folder(Path(tmp) / "folder", data, args.folder)
            rows["project folder"], rows["reference folder"] = [], []
            for r in range(args.repeats):
                secs, peak = _timed([cli, "infer", str(folder), str(Path(tmp) / f"cf{r}"), "--bundle", bundle,
                                     "--format", "png", "--no-progress"])  # fmt: skip
                rows["project folder"].append(secs)
                peaks["project folder"] = max(peaks.get("project folder", 0.0), peak)
                rows["reference folder"].append(_timed([sys.executable, "-c", _REFERENCE, str(folder),
                                                        str(Path(tmp) / f"rf{r}"), str(REPO / "benchmarks"),
                                                        bundle])[0])  # fmt: skip
    best = {k: min(v) for k, v in rows.items()}
    from monai_srgan.utils.precision import cpu_model_name

    cpu = cpu_model_name()
    print(f"x4 of {args.image} (2000x2000 -> 8000x8000), cxr_sr network; {cpu}, {os.cpu_count()} cores")
    print(f"project `monai-srgan infer`: {best['project']:.1f} s wall (min of {args.repeats}), peak RSS "
          f"{peaks['project']:.0f} MB")  # fmt: skip
    print(f"reference script: {best['reference']:.1f} s wall")
    print(f"output PNG: project {sizes['project']:.1f} MB, reference (Pillow) {sizes['reference']:.1f} MB")
    print(f"ratio project / reference: {best['project'] / best['reference']:.2f}")
    print(f"`monai-srgan --help`: {best['help']:.2f} s")
    if args.folder:
        pf, rf = best["project folder"], best["reference folder"]
        print(
            f"folder of {args.folder} radiographs: project {pf:.1f} s, reference {rf:.1f} s, ratio {pf / rf:.2f}; "
            f"project peak RSS {peaks['project folder']:.0f} MB"
        )
    print(json.dumps({"seconds": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
