"""Metric reports with bicubic as a first-class baseline: model and bicubic side by side, per image and overall.

Every SR paper in this project reports its model next to bicubic interpolation (paper 001, Tables 2-4); a number
without its bicubic counterpart on the same images cannot be judged. :func:`evaluate_pair` scores a batch of SR
outputs *and* the bicubic upsampling of the same LR inputs against HR; :func:`rows_from_results`,
:func:`summarize`, :func:`write_report` and :func:`format_table` turn the results into the CSV/JSON files and the
Markdown table users read (bundles' ``evaluate.json``, the engines' validation, the CLI).

Columns are ``<metric>_model`` and ``<metric>_bicubic`` (plus ``psnr_gain`` / ``ssim_gain`` = model − bicubic):

============================  ==========================================================================
``psnr``, ``ssim``, ``rmse``   :func:`~monai_srgan.metrics.psnr` etc. against HR (border crop = scale)
``sharpness_ratio``            sharpness(x) / sharpness(HR) (variance of Laplacian; 1 = as sharp as HR)
``gradient_ratio``             mean Sobel gradient magnitude of x / that of HR (1 = as sharp as HR)
``lr_psnr``                    :func:`~monai_srgan.metrics.lr_consistency` PSNR (re-degraded x vs LR)
``hallucination``              :func:`~monai_srgan.metrics.hallucination_score` (HF energy not in HR)
``vessel_precision/recall/f1`` :func:`~monai_srgan.metrics.vessel_agreement` (fundus, ``vessels=True``)
============================  ==========================================================================
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from monai_srgan.errors import ConfigError
from monai_srgan.transforms.resize import imresize

from ._filters import plain_tensor
from .fidelity import hallucination_score, lr_consistency, vessel_agreement
from .quality import psnr, rmse, sharpness, ssim
from .quality.common import resolve_range

__all__ = ["bicubic_baseline", "evaluate_pair", "rows_from_results", "summarize", "write_report", "format_table"]


def bicubic_baseline(lr: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bicubic upsampling of ``lr`` (N, C, *spatial) to ``size`` with the project's single resize ``imresize``."""
    return imresize(
        plain_tensor(lr).float(), size=tuple(int(s) for s in size), mode="bicubic", spatial_dims=lr.ndim - 2
    )


def _infer_scale(hr: torch.Tensor, lr: torch.Tensor) -> tuple[float, ...]:
    return tuple(h / lo for h, lo in zip(hr.shape[2:], lr.shape[2:]))


def evaluate_pair(
    sr: torch.Tensor,
    hr: torch.Tensor,
    lr: torch.Tensor,
    scale: float | Sequence[float] | None = None,
    data_range: float | None = None,
    input_range: Sequence[float] | None = None,
    crop_border: int | Sequence[int] | None = None,
    y_channel: bool = False,
    mask: torch.Tensor | None = None,
    clip: bool = True,
    bicubic: torch.Tensor | None = None,
    fidelity: bool = True,
    vessels: bool = False,
    vessel_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """Score SR outputs and the bicubic baseline of the same LR inputs against HR, side by side.

    Args:
        sr: ``(N, C, *spatial)`` model outputs.
        hr: ``(N, C, *spatial)`` ground truth.
        lr: ``(N, C, *lr_spatial)`` model inputs (the bicubic baseline is ``imresize(lr, size=hr_spatial)``).
        scale: SR factor; inferred from the shapes when omitted.
        data_range, input_range: value range of the images (as :func:`~monai_srgan.metrics.psnr`; default [0, 1]).
        crop_border: pixels cropped from each side for PSNR/SSIM/RMSE/hallucination; default the (integer) scale
            of each axis, the SR-paper convention (0 along axes that are not super-resolved).
        y_channel: PSNR/SSIM/RMSE on the BT.601 luma of RGB images (the SR convention for natural images; the
            reference fundus baselines are RGB).
        mask: field-of-view mask ``(N or 1, 1, *spatial)`` (fundus): full-reference metrics inside it only.
        clip: clamp SR and bicubic to the input range first, as a written image would be.
        bicubic: a precomputed bicubic baseline (skips the resize).
        fidelity: add LR-consistency and hallucination columns.
        vessels: add vessel precision/recall/F1 (fundus; ``vessel_kwargs`` go to
            :func:`~monai_srgan.metrics.vessel_agreement`, e.g. ``sigmas``, ``threshold``, ``tolerance``).

    Returns:
        ``{column: (N,) float64 tensor}`` in side-by-side order (``psnr_model``, ``psnr_bicubic``, ``psnr_gain``,
        ...); feed it to :func:`rows_from_results`.

    Example:
        >>> from monai_srgan.transforms.resize import imresize
        >>> hr = torch.rand(2, 1, 64, 64)
        >>> lr = imresize(hr, 0.25)
        >>> res = evaluate_pair(imresize(lr, 4.0), hr, lr)
        >>> float((res["psnr_model"] - res["psnr_bicubic"]).abs().max()) < 1e-6
        True
    """
    sr, hr, lr = plain_tensor(sr).float(), plain_tensor(hr).float(), plain_tensor(lr).float()
    if sr.shape != hr.shape:
        raise ValueError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} must have the same shape.")
    factors = _infer_scale(hr, lr) if scale is None else scale
    if crop_border is None:
        f = factors if isinstance(factors, Sequence) else [factors] * (hr.ndim - 2)
        crop_border = [int(v) if float(v).is_integer() and v > 1 else 0 for v in f]
    if bicubic is None:
        bicubic = bicubic_baseline(lr, hr.shape[2:])
    bicubic = plain_tensor(bicubic).float()
    offset, dr = resolve_range(data_range, input_range)
    if clip:
        sr, bicubic = sr.clamp(offset, offset + dr), bicubic.clamp(offset, offset + dr)
    rng = {"input_range": (offset, offset + dr)}
    common = {"crop_border": crop_border, "mask": mask, **rng}
    out: dict[str, torch.Tensor] = {}
    candidates = {"model": sr, "bicubic": bicubic}

    def add(name: str, fn, gain: bool = False) -> None:
        vals = {k: fn(v).double().reshape(-1) for k, v in candidates.items()}
        out[f"{name}_model"], out[f"{name}_bicubic"] = vals["model"], vals["bicubic"]
        if gain:
            out[f"{name}_gain"] = vals["model"] - vals["bicubic"]

    add("psnr", lambda x: psnr(x, hr, y_channel=y_channel, **common), gain=True)
    add("ssim", lambda x: ssim(x, hr, y_channel=y_channel, **common), gain=True)
    add("rmse", lambda x: rmse(x, hr, y_channel=y_channel, **common))
    sharp_hr = sharpness(hr, mask=mask, **rng)
    add("sharpness_ratio", lambda x: sharpness(x, mask=mask, **rng) / sharp_hr)
    grad_hr = sharpness(hr, method="gradient_magnitude", mask=mask, **rng)
    add("gradient_ratio", lambda x: sharpness(x, method="gradient_magnitude", mask=mask, **rng) / grad_hr)
    if fidelity:
        lr_mask = None
        if mask is not None:
            from monai_srgan.transforms.resize import imresize

            m = plain_tensor(mask).float()
            if m.shape[2:] != lr.shape[2:]:  # LR pixels wholly inside the field of view
                m = imresize(m, size=tuple(lr.shape[2:]), mode="area", spatial_dims=m.ndim - 2)
            lr_mask = m > 0.99
        add("lr_psnr", lambda x: lr_consistency(x, lr, mask=lr_mask, **rng)["psnr"])
        add("hallucination", lambda x: hallucination_score(x, hr, mask=mask, crop_border=crop_border, **rng))
    if vessels:
        vk = dict(vessel_kwargs or {})
        vk.setdefault("input_range", (offset, offset + dr))
        agree = {k: vessel_agreement(v, hr, mask=mask, **vk) for k, v in candidates.items()}
        for part in ("precision", "recall", "f1"):
            out[f"vessel_{part}_model"] = agree["model"][part].double()
            out[f"vessel_{part}_bicubic"] = agree["bicubic"][part].double()
    return out


def rows_from_results(
    results: Mapping[str, torch.Tensor], names: Sequence[str] | None = None, **extra: Sequence[Any]
) -> list[dict[str, Any]]:
    """Per-image rows ``[{"image": name, column: float, ...}, ...]`` from :func:`evaluate_pair` output.

    Args:
        results: ``{column: (N,) tensor}``.
        names: one identifier per image (file name); ``"0"``, ``"1"``, ... when omitted.
        extra: further per-image columns (e.g. ``scale=[4, 4]``), put after ``image``.
    """
    n = len(next(iter(results.values())))
    names = [str(i) for i in range(n)] if names is None else [str(v) for v in names]
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} images.")
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"image": names[i]}
        row.update({k: v[i] for k, v in extra.items()})
        row.update({k: float(v[i]) for k, v in results.items()})
        rows.append(row)
    return rows


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation, min, max and count of every numeric column over the rows.

    Non-finite values (PSNR of an image identical to its reference is ``inf``) are left out of the statistics and
    counted in ``n_nonfinite``.
    """
    columns: dict[str, list[float]] = {}
    for row in rows:
        for k, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                columns.setdefault(k, []).append(float(v))
    summary = {}
    for k, vals in columns.items():
        finite = [v for v in vals if math.isfinite(v)]
        n = len(finite)
        mean = sum(finite) / n if n else float("nan")
        std = math.sqrt(sum((v - mean) ** 2 for v in finite) / n) if n else float("nan")
        summary[k] = {
            "mean": mean,
            "std": std,
            "min": min(finite) if n else float("nan"),
            "max": max(finite) if n else float("nan"),
            "n": n,
            "n_nonfinite": len(vals) - n,
        }
    return summary


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def write_report(
    rows: Sequence[Mapping[str, Any]], path: str | os.PathLike, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write per-image rows to ``.csv`` (one row per image, then a ``mean`` row) or ``.json``.

    The JSON file holds ``{"meta": meta, "summary": summarize(rows), "images": rows}`` with non-finite numbers as
    ``"inf"``/``"-inf"``/``null`` (strict JSON). Parent folders are created. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    if path.suffix.lower() == ".json":
        doc = {"meta": dict(meta or {}), "summary": summary, "images": [dict(r) for r in rows]}
        path.write_text(json.dumps(_json_safe(doc), indent=4, allow_nan=False) + "\n")
        return path
    if path.suffix.lower() != ".csv":
        raise ConfigError(f"report path must end in .csv or .json, got '{path}'.")
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(dict(row))
        mean_row = {k: summary[k]["mean"] for k in fields if k in summary}
        mean_row[fields[0]] = "mean"
        writer.writerow(mean_row)
    return path


def format_table(summary: Mapping[str, Mapping[str, float]], digits: int = 4) -> str:
    """Markdown table ``| metric | model | bicubic | model − bicubic |`` of the means in a :func:`summarize` result."""
    lines = ["| metric | model | bicubic | model − bicubic |", "|---|---|---|---|"]
    for key in summary:
        if not key.endswith("_model"):
            continue
        name = key[: -len("_model")]
        m = summary[key]["mean"]
        b = summary.get(f"{name}_bicubic", {}).get("mean", float("nan"))
        lines.append(f"| {name} | {m:.{digits}f} | {b:.{digits}f} | {m - b:+.{digits}f} |")
    return "\n".join(lines)
