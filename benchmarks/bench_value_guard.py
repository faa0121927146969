"""What the output value rules (clamp to the source's data range, keep flat regions flat) do to fidelity.

Usage::

    MONAI_SRGAN_DATA=../shared/data python benchmarks/bench_value_guard.py

Each HR image (test-split images of the 2D bundles, never trained on; the slices of the signed-16-bit ADC MR series
and of the CT series, which no bundle trained on) is reduced ×4 with the project's bicubic (``imresize``), super-
resolved with the shipped ``cxr_sr``/``retina_sr`` PSNR weights twice — the rules on (the default) and off
(``clamp="range"``, ``keep_flat=False`` and, for signed 16-bit sources, normalisation over the int16 range: what
main did before) — and compared with the HR image: PSNR over the HR's data range, the fraction of output pixels
outside the HR's real-value range, and the standard deviation of the SR inside the HR's constant background at its
minimum value (texture invented where there is none). Results: docs/inference.md "Value domain of the output".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from monai.data import MetaTensor

from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.transforms import LoadMedicalImage
from monai_srgan.transforms.resize import imresize

DATA = Path(os.environ.get("MONAI_SRGAN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CASES = [  # (bundle, source relative to DATA, slices to use for series)
    ("cxr_sr", "cxr/nih_00009683_000.png"),
    ("cxr_sr", "cxr/nih_00011547_000.png"),
    ("retina_sr", "retina/hrf_01_g.jpg"),
    ("retina_sr", "extra/retina/stare_im0001.ppm.gz"),
    ("cxr_sr", "dicom/dcmqi_701-ADCb500"),
    ("cxr_sr", "dicom/dcmqi_ct-3slice"),
]


def _find(rel: str) -> Path | None:
    p = DATA / rel
    if p.exists():
        return p
    hits = sorted(DATA.rglob(Path(rel).name))
    return hits[0] if hits else None


def _lr(hr: MetaTensor, scale: int) -> MetaTensor:
    """HR → LR with the project's bicubic, keeping the value-domain meta (a volume: slice by slice)."""
    x = hr.as_subclass(torch.Tensor)
    if x.ndim == 4:
        lr = torch.stack([imresize(x[..., k], 1.0 / scale) for k in range(x.shape[-1])], dim=-1)
    else:
        lr = imresize(x, 1.0 / scale)
    lo, hi = float(hr.meta["srgan_value_min"]), float(hr.meta["srgan_value_max"])
    if hr.meta.get("srgan_dtype", "float32").startswith(("uint", "int")):  # an acquired LR holds stored integers
        lr = lr.round().clamp(lo, hi)
    return MetaTensor(lr, meta=dict(hr.meta))


def main() -> int:
    if not DATA.is_dir():
        print(f"error: no shared data at {DATA} (set MONAI_SRGAN_DATA)", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parents[1] / "bundles"
    load = LoadMedicalImage()
    print("| image | bundle | PSNR rules on | PSNR rules off | outside HR range on / off | background SD on / off |")
    print("|---|---|---|---|---|---|")
    for bundle, rel in CASES:
        src = _find(rel)
        if src is None:
            print(f"| {rel} | missing | | | | |")
            continue
        hr = load(str(src))
        h, w = (int(v) // 4 * 4 for v in hr.shape[1:3])
        hr = hr[:, :h, :w]
        lr = _lr(hr, 4)
        ref = hr.as_subclass(torch.Tensor).double()
        lo, hi = float(ref.min()), float(ref.max())
        near = torch.nn.functional.max_pool2d((ref != lo).any(dim=0)[None].double().movedim(-1, 0), 17, 1, 8)
        bg = near.movedim(0, -1)[0] == 0  # HR background at its minimum (zero, air), 8 HR px (2 LR) from the rest
        old = {"clamp": "range", "keep_flat": False}
        if hr.meta.get("srgan_dtype") == "int16":  # main before: signed data normalised over the int16 range
            s, i = float(hr.meta.get("srgan_rescale_slope", 1.0)), float(hr.meta.get("srgan_rescale_intercept", 0.0))
            old["value_range"] = (-32768 * s + i, 32767 * s + i)
        res = {}
        for name, kw in (("on", {}), ("off", old)):
            kw, meta = dict(kw), dict(lr.meta)
            if "value_range" in kw:  # the loader's range before: what normalisation and clamping used
                meta["srgan_value_min"], meta["srgan_value_max"] = kw.pop("value_range")
            pipe = SRInferencePipeline.from_bundle(root / bundle, **kw)
            sr = pipe.predict(MetaTensor(lr.clone(), meta=meta)).as_subclass(torch.Tensor).double()
            mse = float(((sr - ref) ** 2).mean())
            psnr = 10 * np.log10((hi - lo) ** 2 / max(mse, 1e-12))
            outside = float(((sr < lo) | (sr > hi)).any(dim=0).double().mean())
            sd = float(sr[:, bg].std()) if int(bg.sum()) > 1 else float("nan")
            res[name] = (psnr, outside, sd)
        on, off = res["on"], res["off"]
        print(
            f"| {src.name} | {bundle} | {on[0]:.2f} dB | {off[0]:.2f} dB | {100 * on[1]:.2f} % / {100 * off[1]:.2f} % "
            f"| {on[2]:.2f} / {off[2]:.2f} |"
        )
    native = _find("dicom/dcmqi_701-ADCb500")  # the series itself, no HR: what a reader of the output gets
    if native is not None:
        src = load(str(native)).as_subclass(torch.Tensor)
        print("\n| ADC series (native, x4 cxr_sr) | min | max | negative | exactly 0 |")
        print("|---|---|---|---|---|")
        print(f"| source | {float(src.min()):.0f} | {float(src.max()):.0f} | {float((src < 0).double().mean()):.1%} | "
              f"{float((src == 0).double().mean()):.1%} |")  # fmt: skip
        off = {"clamp": "range", "keep_flat": False}
        for name, kw in (("rules on", {}), ("rules off (range clamp, no flat rule)", off)):
            sr = SRInferencePipeline.from_bundle(root / "cxr_sr", **kw).predict(str(native)).as_subclass(torch.Tensor)
            print(f"| {name} | {float(sr.min()):.0f} | {float(sr.max()):.0f} | {float((sr < 0).double().mean()):.1%} "
                  f"| {float((sr == 0).double().mean()):.1%} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
