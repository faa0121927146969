"""Through-plane SR of held-out volumes against trilinear and tricubic interpolation (3D bundles' ``evaluate.json``).

For every held-out volume (or slab of one): load it in its value domain (HU for CT) → HR; simulate the thick-slice
acquisition with :class:`~monai_srgan.transforms.SliceThicknessDegradation` (the training degradation) → LR; run the
**inference pipeline** (:class:`~monai_srgan.inference.SRInferencePipeline`: its normalisation, tiled generator and
inverse, i.e. exactly what a user gets) → SR; upsample the same LR along the slice axis with the project's one
resize :func:`~monai_srgan.transforms.resize.imresize` in ``"bilinear"`` (= trilinear: the in-plane factors are 1) and
``"bicubic"`` (= tricubic, Keys a = -0.5) modes; score all three against HR with
:func:`~monai_srgan.metrics.evaluate_pair` (PSNR, SSIM, RMSE, sharpness ratio, LR-consistency, hallucination;
``crop_border`` = scale slices at both ends of the slice axis, nothing in-plane).

Writes ``metrics.csv`` (one row per volume + mean), ``metrics.json`` (meta, summary, rows), ``metrics.md`` (table
model | trilinear | tricubic) and ``comparison.png`` (a coronal/sagittal plane through the middle of each volume:
LR (nearest) | trilinear | tricubic | model | HR).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from PIL import Image, ImageDraw

from monai_srgan.errors import ConfigError
from monai_srgan.metrics.report import evaluate_pair, summarize, write_report
from monai_srgan.transforms import LoadMedicalImage, SliceThicknessDegradation
from monai_srgan.transforms.resize import bspline_upsample_axis, imresize

__all__ = ["evaluate_volume_sr", "crop_slab"]

_BASELINES = {"trilinear": "bilinear", "tricubic": "bicubic"}


def crop_slab(img: Any, start: int | None, stop: int | None, axis: int = -1) -> Any:
    """``img[..., start:stop]`` along spatial ``axis`` with the affine's origin moved to the slab's first slice."""
    nd = img.ndim - 1
    ax = axis % nd
    n = img.shape[1 + ax]
    lo, hi, _ = slice(start, stop).indices(n)
    if hi - lo <= 0:
        raise ConfigError(f"slab [{start}, {stop}] is empty for a volume of {n} slices along axis {ax}")
    idx = [slice(None)] * img.ndim
    idx[1 + ax] = slice(lo, hi)
    plain = img.as_tensor() if isinstance(img, MetaTensor) else torch.as_tensor(img)
    out = plain[tuple(idx)].clone()
    if not isinstance(img, MetaTensor):
        return out
    meta = dict(img.meta)
    aff = torch.as_tensor(np.asarray(img.affine), dtype=torch.float64).clone()
    aff[:3, 3] = aff[:3, 3] + aff[:3, ax] * lo
    meta.pop("affine", None)
    meta["spatial_shape"] = np.asarray(out.shape[1:])
    return MetaTensor(out, affine=aff, meta=meta)


def _plane(vol: torch.Tensor, axis: int) -> torch.Tensor:
    """The middle plane of ``(C, X, Y, Z)`` that contains the slice axis (rows = slice axis, upwards)."""
    c = vol.shape
    # cut across the first in-plane axis that is not the slice axis
    cut = 1 if axis != 1 % 3 else 0
    img = vol.select(1 + cut, c[1 + cut] // 2)  # (C, a, b)
    rest = [k for k in range(3) if k != cut]
    img = img.movedim(1 + rest.index(axis), 1)  # slice axis first
    return img.flip(1)


def _comparison_png(
    rows: Sequence[Sequence[torch.Tensor]], labels: Sequence[str], path: Path, lo: float, hi: float, zoom: int = 3
) -> None:
    tiles = []
    for row in rows:
        ims = []
        for t in row:
            a = ((t[0].float() - lo) / max(hi - lo, 1e-6)).clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
            a = np.repeat(np.repeat(a, zoom, 0), zoom, 1)
            ims.append(np.pad(a, ((14, 2), (2, 2))))
        tiles.append(np.concatenate(ims, axis=1))
    w = max(t.shape[1] for t in tiles)
    canvas = np.concatenate([np.pad(t, ((0, 0), (0, w - t.shape[1]))) for t in tiles], axis=0)
    im = Image.fromarray(canvas).convert("RGB")

    d = ImageDraw.Draw(im)
    x = 0
    for lab, t in zip(labels, rows[0]):
        d.text((x + 4, 1), lab, fill=(255, 255, 0))
        x += t.shape[-1] * zoom + 4
    im.save(path)


@torch.inference_mode()
def evaluate_volume_sr(
    pipeline: Any,
    files: Sequence[Mapping[str, Any]],
    scale: int,
    out_dir: str | os.PathLike,
    slice_axis: int = -1,
    profile: str = "box",
    thickness: float | None = None,
    hr_key: str = "hr",
    figure: bool = True,
    plane_range: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Score the pipeline's through-plane SR of held-out volumes against trilinear and tricubic interpolation.

    Args:
        pipeline: a :class:`~monai_srgan.inference.SRInferencePipeline` (e.g. ``from_bundle``) with a 3D generator
            whose scale along ``slice_axis`` is ``scale``.
        files: ``[{"hr": path, "slab": [start, stop]}, ...]``; ``slab`` (optional) keeps only those slices (held out
            part of a training volume); ``start`` must be a multiple of ``scale`` to match the training grid.
        scale: slice downsampling factor of the simulated thick-slice acquisition.
        out_dir: where the reports go.
        slice_axis: the spatial axis of the slices (the last one for this project's NIfTI/DICOM loaders on axial data).
        profile, thickness: slice profile of :class:`~monai_srgan.transforms.SliceThicknessDegradation`.
        hr_key: key of the path in each item.
        figure: write ``comparison.png``.
        plane_range: display window (value domain) of the figure; ``None`` = 1st..99th percentile of the last HR.

    Returns:
        ``{"summary": ..., "rows": [...], "files": {...}}``; the summary has ``<metric>_model``,
        ``<metric>_trilinear``, ``<metric>_tricubic`` and ``psnr_gain_trilinear``/``psnr_gain_tricubic`` (model −
        baseline) means.
    """
    if not files:
        raise ConfigError("evaluate: no held-out volumes (test_files is empty)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loader = LoadMedicalImage()
    degrade = SliceThicknessDegradation(scale=scale, thickness=thickness, axis=slice_axis, profile=profile)
    rows: list[dict[str, Any]] = []
    fig_rows: list[list[torch.Tensor]] = []
    t_model = 0.0
    for item in files:
        path = item[hr_key] if isinstance(item, Mapping) else item
        hr = loader(path)
        if hr.ndim != 4:
            raise ConfigError(f"evaluate: '{path}' is not a volume (shape {tuple(hr.shape)})")
        slab = item.get("slab") if isinstance(item, Mapping) else None
        if slab:
            hr = crop_slab(hr, slab[0], slab[1], slice_axis)
        lr = degrade(hr)  # crops the slice axis to a multiple of the scale; LR affine/spacing rescaled
        hr = hr[(slice(None),) * (1 + slice_axis % 3) + (slice(0, lr.shape[1 + slice_axis % 3] * scale),)]
        t0 = time.perf_counter()
        sr = pipeline.predict(lr)
        t_model += time.perf_counter() - t0
        factors = [scale if k == slice_axis % 3 else 1 for k in range(3)]
        if tuple(sr.shape) != tuple(hr.shape):
            raise ConfigError(
                f"evaluate: the model's output {tuple(sr.shape)} is not the HR shape {tuple(hr.shape)}: is the "
                f"bundle's scale {pipeline.scale} the evaluation scale {factors}?"
            )
        hr_t = hr.as_tensor().float()[None]
        lr_t = lr.as_tensor().float()[None]
        sr_t = sr.as_tensor().float()[None]
        base = {k: imresize(lr_t, size=tuple(hr_t.shape[2:]), mode=m, spatial_dims=3) for k, m in _BASELINES.items()}
        base["cubic_bspline"] = bspline_upsample_axis(lr_t[0], scale, slice_axis)[None]  # SMORE's baseline
        rng = (float(hr_t.min()), float(hr_t.max()))
        row: dict[str, Any] = {
            "image": f"{Path(str(path)).name}[{slab[0]}:{slab[1]}]" if slab else Path(str(path)).name
        }
        res = {k: evaluate_pair(sr_t, hr_t, lr_t, scale=factors, input_range=rng, bicubic=b) for k, b in base.items()}
        first = next(iter(res.values()))
        for col, v in first.items():
            if col.endswith("_model"):
                name = col[: -len("_model")]
                row[col] = float(v[0])
                for k in base:
                    row[f"{name}_{k}"] = float(res[k][f"{name}_bicubic"][0])
        for k in base:
            row[f"psnr_gain_{k}"] = row["psnr_model"] - row[f"psnr_{k}"]
            row[f"ssim_gain_{k}"] = row["ssim_model"] - row[f"ssim_{k}"]
        ax = slice_axis % 3
        inner = (slice(None), slice(None)) + tuple(slice(scale, -scale) if k == ax else slice(None) for k in range(3))
        row["mae_model"] = float((sr_t - hr_t)[inner].abs().mean())  # same border crop as PSNR/SSIM
        for k, b in base.items():
            row[f"mae_{k}"] = float((b - hr_t)[inner].abs().mean())
        row.update(hr_shape=list(hr.shape[1:]), lr_shape=list(lr.shape[1:]), data_range=rng[1] - rng[0])
        rows.append(row)
        if figure:
            lr_near = imresize(lr_t, size=tuple(hr_t.shape[2:]), mode="nearest", spatial_dims=3)[0]
            fig_rows.append(
                [_plane(v, ax) for v in (lr_near, base["trilinear"][0], base["tricubic"][0], sr_t[0], hr_t[0])]
            )
    summary = summarize(rows)  # numeric columns only
    meta = {
        "scale": scale,
        "slice_axis": slice_axis,
        "profile": profile,
        "model": getattr(pipeline, "model_name", "model"),
        "baselines": {
            **{k: f"imresize mode={m!r} along the slice axis" for k, m in _BASELINES.items()},
            "cubic_bspline": "scipy.ndimage.map_coordinates order 3 along the slice axis",
        },
        "crop_border_slices": scale,
        "data_range": "HR min..max of each volume (value domain, e.g. HU)",
        "model_seconds": round(t_model, 3),
    }
    files_out = {
        "csv": str(write_report(rows, out / "metrics.csv")),
        "json": str(write_report(rows, out / "metrics.json", meta=meta)),
    }
    lines = ["| metric | model | trilinear | tricubic | cubic B-spline |", "|---|---|---|---|---|"]
    for name in ("psnr", "ssim", "rmse", "mae", "sharpness_ratio", "lr_psnr", "hallucination"):
        if f"{name}_model" in summary:
            vals = [summary[f"{name}_{k}"]["mean"] for k in ("model", "trilinear", "tricubic", "cubic_bspline")]
            lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    (out / "metrics.md").write_text("\n".join(lines) + "\n")
    files_out["md"] = str(out / "metrics.md")
    if figure and fig_rows:
        if plane_range is None:
            q = torch.quantile(hr_t.flatten()[:: max(1, hr_t.numel() // 1_000_000)], torch.tensor([0.01, 0.99]))
            plane_range = (float(q[0]), float(q[1]))
        lo, hi = plane_range
        _comparison_png(fig_rows, ["LR", "trilinear", "tricubic", "model", "HR"], out / "comparison.png", lo, hi)
        files_out["png"] = str(out / "comparison.png")
    (out / "summary.json").write_text(json.dumps({k: v["mean"] for k, v in summary.items()}, indent=4) + "\n")
    return {"summary": summary, "rows": rows, "files": files_out}
