"""Paired benchmark: the project's tiled inference against a reference tiler, same network, same weights, same image.

The reference is Real-ESRGAN's ``RealESRGANer.tile_process`` algorithm, written here in a few lines (not copied):
split the image into ``tile_size`` tiles, run each with ``tile_pad`` pixels of context (clamped at the border), paste
the unpadded centre into a float32 output; fp32, contiguous memory, one tile per call. The project runs
``SRInferencePipeline.from_bundle(bundle).predict`` with its defaults (tile size, batch, ``dtype="auto"``,
channels-last), i.e. including normalisation and the inverse to the 8-bit output, and once more with
``dtype="float32"`` to separate the tiling/memory-format gain from the precision gain.

Measured, ×4 of a real 2000×2000 chest X-ray with the shipped ``bundles/cxr_sr`` network:

- **time**: one child process runs every configuration back to back, ``--repeats`` times interleaved; the minimum of
  each is kept and reported as a ratio to the reference (the machine is shared: ratios from one run, not absolute
  times, are the figure to quote);
- **seams**: max |tiled − untiled| of the float output (normalised [0, 1] units) for the project's tiler and the
  reference, fp32, against one untiled pass of the whole image;
- **peak memory**: ``ru_maxrss`` of a fresh child per configuration (one run), minus nothing: the interpreter with
  torch and MONAI imported is included (reported separately);
- **write**: PNG encoding of the 8000² output at the project's ``compress_level`` (1) and Pillow's default (6);
- the CPU model and its bf16/AMX flags (``/proc/cpuinfo``, what ``lscpu`` shows).

Usage (from the repository root)::

    python benchmarks/bench_tiler.py                        # 1 thread, 3 repeats
    python benchmarks/bench_tiler.py --threads 2 --json benchmarks/results/tiler.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main", "reference_tile_process", "child"]

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONAI_SRGAN_DATA", REPO.parent / "shared" / "data"))
IMAGE = "cxr/covidcxr_2168a917.jpg"  # 2000 x 2000, 8-bit grey


def reference_tile_process(net, img, scale: int, tile_size: int = 192, tile_pad: int = 10):
    """Real-ESRGAN's tiling algorithm: tiles of ``tile_size`` + ``tile_pad`` context, paste the unpadded centre."""
    import torch

    n, _, h, w = img.shape
    out = None
    for ty in range(math.ceil(h / tile_size)):
        for tx in range(math.ceil(w / tile_size)):
            y0, x0 = ty * tile_size, tx * tile_size
            y1, x1 = min(y0 + tile_size, h), min(x0 + tile_size, w)
            py0, px0 = max(y0 - tile_pad, 0), max(x0 - tile_pad, 0)
            py1, px1 = min(y1 + tile_pad, h), min(x1 + tile_pad, w)
            with torch.no_grad():
                y = net(img[:, :, py0:py1, px0:px1])
            if out is None:
                out = img.new_zeros(n, y.shape[1], h * scale, w * scale)
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = y[
                :, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
            ]
    return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _setup(cfg: dict):
    import torch

    torch.set_num_threads(int(cfg["threads"]))
    from monai_srgan.inference import SRInferencePipeline

    pipe = SRInferencePipeline.from_bundle(cfg["bundle"])
    ref_net = SRInferencePipeline.from_bundle(cfg["bundle"], dtype="float32", channels_last=False).network
    image = pipe.load(str(DATA / cfg["image"]))
    return pipe, ref_net, image


def _normalised(pipe, image):
    import torch

    x, _ = pipe._normalize(image)
    return torch.as_tensor(x)[None]


def child(cfg: dict) -> dict:
    """One measurement in this process: ``cfg["what"]`` is ``time``, ``seams``, ``mem_project`` or ``mem_reference``."""
    import torch

    pipe, ref_net, image = _setup(cfg)
    rss0 = _rss_mb()
    scale, tile, pad = int(pipe.scale), int(cfg["ref_tile"]), int(cfg["ref_pad"])
    what = cfg["what"]
    if what == "mem_project":
        sr = pipe.predict(image)
        return {"peak_rss_mb": round(_rss_mb(), 1), "rss_before_mb": round(rss0, 1), "output": list(sr.shape)}
    if what == "mem_reference":
        with torch.inference_mode():
            y = reference_tile_process(ref_net, _normalised(pipe, image), scale, tile, pad)
        return {"peak_rss_mb": round(_rss_mb(), 1), "rss_before_mb": round(rss0, 1), "output": list(y.shape)}
    if what == "seams":
        from monai_srgan.inference import SRInferer

        x = _normalised(pipe, image)
        if cfg.get("seam_crop"):
            x = x[:, :, : cfg["seam_crop"], : cfg["seam_crop"]].contiguous()
        with torch.inference_mode():
            whole = ref_net(x)
            proj = SRInferer(scale, roi_size=pipe.inferer.roi_size, sw_batch_size=pipe.inferer.sw_batch_size)(
                x, ref_net
            )
            ref = reference_tile_process(ref_net, x, scale, tile, pad)
            auto = SRInferer(scale, roi_size=pipe.inferer.roi_size, dtype=pipe.dtype)(x, ref_net)
        return {
            "seam_input": list(x.shape[2:]),
            "max_abs_project_fp32_vs_untiled": float((proj - whole).abs().max()),
            "max_abs_reference_vs_untiled": float((ref - whole).abs().max()),
            "max_abs_project_auto_vs_untiled_fp32": float((auto - whole).abs().max()),
        }
    # time: every configuration back to back, interleaved, minimum of the repeats
    fp32 = type(pipe).from_bundle(cfg["bundle"], dtype="float32")
    runs = {
        "project": lambda: pipe.predict(image),
        "project_fp32": lambda: fp32.predict(image),
        "reference": lambda: reference_tile_process(ref_net, _normalised(pipe, image), scale, tile, pad),
    }
    best = {k: float("inf") for k in runs}
    with torch.inference_mode():
        for _ in range(int(cfg["repeats"])):
            for k, f in runs.items():
                t0 = time.perf_counter()
                f()
                best[k] = min(best[k], time.perf_counter() - t0)
    sr = pipe.predict(image)
    writes = {}
    with tempfile.TemporaryDirectory() as d:
        for level in (1, 6):
            t0 = time.perf_counter()
            pipe.write(sr, Path(d) / f"sr{level}.png", "png", compress_level=level)
            writes[level] = (time.perf_counter() - t0, (Path(d) / f"sr{level}.png").stat().st_size / 2**20)
    return {
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "ratio_project_vs_reference": round(best["project"] / best["reference"], 3),
        "ratio_project_fp32_vs_reference": round(best["project_fp32"] / best["reference"], 3),
        "write_png_s": {f"level{k}": round(v[0], 2) for k, v in writes.items()},
        "png_mb": {f"level{k}": round(v[1], 1) for k, v in writes.items()},
        "project": {
            "tile_size": pipe.inferer.roi_size,
            "sw_batch_size": pipe.inferer.sw_batch_size,
            "dtype": str(pipe.dtype).replace("torch.", ""),
            "channels_last": pipe.inferer.channels_last,
            "context": pipe.inferer.context or int(getattr(pipe.network, "receptive_field", 0)),
            "tiles": len(pipe.inferer.plan(tuple(image.shape[1:]), pipe.network)),
        },
    }


def _run_child(cfg: dict, timeout: float) -> dict:
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from bench_tiler import child\n"
        f"print('RESULT ' + json.dumps(child(json.loads({json.dumps(json.dumps(cfg))}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child {cfg['what']} failed (rc {out.returncode}): {out.stderr.strip()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    """Run the paired measurements and print a Markdown summary (and JSON when asked)."""
    from monai_srgan.utils.precision import bf16_flags, bf16_speedup, cpu_model_name

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default="bundles/cxr_sr")
    p.add_argument("--image", default=IMAGE, help="path under the shared data folder (default: 2000² chest X-ray)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ref-tile", type=int, default=192, help="reference tile_size (default 192)")
    p.add_argument("--ref-pad", type=int, default=10, help="reference tile_pad (Real-ESRGAN's default 10)")
    p.add_argument("--seam-crop", type=int, default=0, help="check seams on this top-left crop (0: whole image)")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    base = dict(bundle=args.bundle, image=args.image, threads=args.threads, repeats=args.repeats,
                ref_tile=args.ref_tile, ref_pad=args.ref_pad, seam_crop=args.seam_crop)  # fmt: skip
    flags = bf16_flags()
    res: dict = {"cpu": cpu_model_name(), "bf16_amx_flags": flags, "bf16_probe_speedup": round(bf16_speedup(), 2)}
    res["config"] = base
    for what in ("time", "seams", "mem_project", "mem_reference"):
        res[what] = _run_child({**base, "what": what}, args.timeout)
        print(json.dumps({what: res[what]}), file=sys.stderr, flush=True)
    t, s = res["time"], res["seams"]
    print(f"CPU: {res['cpu']}; bf16/AMX flags: {', '.join(flags) or 'none'}; {args.threads} thread(s); "
          f"project: {t['project']}")  # fmt: skip
    print("| configuration | wall s (min of repeats) | ratio to reference | peak RSS MB | max abs diff vs untiled |")
    print("|---|---:|---:|---:|---:|")
    print(f"| project, defaults ({t['project']['dtype']}) | {t['seconds']['project']} | "
          f"{t['ratio_project_vs_reference']} | {res['mem_project']['peak_rss_mb']} | "
          f"{s['max_abs_project_auto_vs_untiled_fp32']:.2e} (precision, vs fp32) |")  # fmt: skip
    print(f"| project, float32 | {t['seconds']['project_fp32']} | {t['ratio_project_fp32_vs_reference']} | "
          f"| {s['max_abs_project_fp32_vs_untiled']:.2e} |")  # fmt: skip
    print(f"| reference tiler (tile {args.ref_tile}, pad {args.ref_pad}, fp32) | {t['seconds']['reference']} | 1.0 | "
          f"{res['mem_reference']['peak_rss_mb']} | {s['max_abs_reference_vs_untiled']:.2e} |")  # fmt: skip
    print(
        f"PNG write of the output: {t['write_png_s']} s, {t['png_mb']} MB; RSS before inference: "
        f"project {res['mem_project']['rss_before_mb']} MB, reference {res['mem_reference']['rss_before_mb']} MB"
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
