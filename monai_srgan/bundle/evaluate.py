"""Model vs bicubic on held-out images, for the bundles' ``evaluate.json``.

For every image: pre-process (load, FOV crop / resize, normalise to [0, 1]) → HR; degrade (the same degradation as
training, bicubic ×4 by default) → LR; the generator (tiled, exact) → SR; then
:func:`monai_srgan.metrics.evaluate_pair` scores SR **and** the bicubic upsampling of the same LR against HR
(PSNR, SSIM, RMSE, sharpness ratio, LR-consistency, hallucination score, optionally vessel agreement), on the whole
image and, where a field-of-view mask is present (fundus, key ``"fov"``), inside it. SSIM is also given in
scikit-image's default convention (7×7 uniform, sample covariance), the one of the reference bicubic baselines
(docs/results.md).

Writes ``metrics.csv`` (one row per image + mean), ``metrics.json`` (meta, summary, rows), ``metrics.md`` (summary
table) and ``comparison.png`` (per image: bicubic | model | HR | |model − HR| ×4 | |bicubic − HR| ×4 on a crop).

Under ``torchrun`` (a bundle's ``configs/multi_gpu_evaluate.json``) each rank scores a shard of the images (MONAI's
:func:`~monai.data.partition_dataset`: rank ``r`` takes images ``r, r + N, ...``); rank 0 gathers the rows and the
figure crops and writes the one report, equal to a single process's (same per-image degradation seeds, same order).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_srgan.engines import distributed as dist_utils
from monai_srgan.errors import ConfigError, InputFileError, SRGANError
from monai_srgan.inference.tiling import SRInferer
from monai_srgan.io.writers.common import atomic_write_file
from monai_srgan.metrics import evaluate_pair, format_table, psnr, rows_from_results, ssim, summarize, write_report
from monai_srgan.networks import (
    CheckpointMismatchError,
    SelfEnsemble,
    grain_applied_to,
    grain_for_weights,
    load_network_weights,
)
from monai_srgan.transforms.resize import imresize
from monai_srgan.utils.figures import comparison_figure, detail_crop
from monai_srgan.utils.flags import as_flag

__all__ = [
    "evaluate_sr",
    "load_bundle_generator",
    "comparison_figure",
    "portable_meta",
    "published_table",
    "update_metadata_metrics",
]

logger = logging.getLogger(__name__)


def load_bundle_generator(
    network: torch.nn.Module, weights: str | os.PathLike | None, scale: Any = None, setting: str = "model_path"
) -> torch.nn.Module:
    """Load ``weights`` (``params_ema`` preferred) into ``network``; errors name the setting to change.

    Raises:
        ConfigError: the weight file is missing (names ``setting``), or it does not fit the network (names
            ``scale``/``network``/``network_kwargs``: a ×4 model evaluated with ``--scale 2``, another width, ...).
        InputFileError: the weight file cannot be read (truncated, not a torch file): names the file.
    """
    if weights is None or weights == "":
        return network
    if not Path(weights).is_file():
        folder = Path(weights).parent
        have = sorted(p.name for p in folder.glob("*.pt")) if folder.is_dir() else []
        shipped = f" ({folder} holds: {', '.join(have)}; a bundle picks one by its scale)" if have else ""
        raise ConfigError(
            f"{setting}='{weights}' does not exist{shipped}: train the model first (configs/train.json writes "
            f"<output_dir>/model.pt), choose a scale that has weights, or set --{setting} to a weight file"
        )

    try:
        network = grain_for_weights(network, os.fspath(weights))
        load_network_weights(network, os.fspath(weights), strict=True)
    except Exception as e:  # noqa: BLE001 - say which setting does not fit
        if isinstance(e, InputFileError) and not isinstance(e, CheckpointMismatchError):
            raise  # an unreadable file: its own message names it and says how to re-save it
        net_scale = getattr(network, "scale", scale)
        raise ConfigError(
            f"{setting}='{weights}' does not fit the configured network {type(network).__name__} "
            f"(scale={net_scale}): the weights were trained with another scale, network or network_kwargs. "
            f"Set --scale/--network/--network_kwargs to the values the weights were trained with (the bundle's "
            f"shipped models/model.pt is described in its docs/README.md), or set --{setting} to weights trained "
            f"for this configuration. ({str(e).splitlines()[0][:300]})"
        ) from e
    return network


def published_table(published: Mapping[str, Any], scale: int, summary: Mapping[str, Any], n: int) -> str:
    """Markdown: a paper's bicubic and model PSNR/SSIM at ``scale`` beside ours (means of ``summary``)."""

    def cell(psnr_db: float | None, ssim_v: float | None) -> str:
        return " / ".join("—" if v is None else f"{v:.{d}f}" for v, d in ((psnr_db, 2), (ssim_v, 4)))

    pub = published[str(scale)]
    pb, pm = pub.get("bicubic", {}), pub.get("model", {})
    mean = {k: summary[k]["mean"] for k in ("psnr_bicubic", "psnr_model", "ssim_bicubic", "ssim_model")}
    gain_pub = pm["psnr"] - pb["psnr"] if "psnr" in pm and "psnr" in pb else None
    rows = [
        f"| x{int(scale)} | bicubic PSNR / SSIM | model PSNR / SSIM | PSNR gain |",
        "|---|---|---|---|",
        f"| {published.get('source', 'published')} | {cell(pb.get('psnr'), pb.get('ssim'))} | "
        f"{cell(pm.get('psnr'), pm.get('ssim'))} | {'—' if gain_pub is None else f'{gain_pub:+.2f}'} |",
        f"| ours ({n} held-out images) | {cell(mean['psnr_bicubic'], mean['ssim_bicubic'])} | "
        f"{cell(mean['psnr_model'], mean['ssim_model'])} | {mean['psnr_model'] - mean['psnr_bicubic']:+.2f} |",
    ]
    return "\n".join(rows)


def update_metadata_metrics(metadata_file: str | os.PathLike, eval_metrics: Mapping[str, Any]) -> None:
    """Write ``eval_metrics`` into a bundle's ``configs/metadata.json`` (other fields untouched)."""
    p = Path(metadata_file)
    meta = json.loads(p.read_text())
    meta["eval_metrics"] = dict(eval_metrics)
    text = json.dumps(meta, indent=4) + "\n"
    atomic_write_file(p, lambda tmp: tmp.write_text(text), overwrite=True)


def portable_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` for ``metrics.json`` without machine paths: ``dataset_dir`` (a folder or a list of folders) relative to
    the folders' common parent (``"cxr"``, ``["cxr", "extra/cxr"]``); other values unchanged."""
    out = dict(meta)
    dirs = out.get("dataset_dir")
    if isinstance(dirs, (str, os.PathLike)) or (isinstance(dirs, Sequence) and dirs and not isinstance(dirs, str)):
        many = not isinstance(dirs, (str, os.PathLike))
        paths = [Path(os.fspath(d)).expanduser().resolve() for d in (dirs if many else [dirs])]
        parent = Path(os.path.commonpath([str(p.parent) for p in paths]))
        rel = [p.relative_to(parent).as_posix() for p in paths]
        out["dataset_dir"] = rel if many else rel[0]
    return out


def _fmt(v: float, nd: int = 4) -> float:
    return float(round(float(v), nd))


@torch.no_grad()
def evaluate_sr(
    network: torch.nn.Module,
    files: Sequence[Mapping[str, Any]],
    preprocess: Callable[[dict], dict],
    degrade: Callable[[dict], dict],
    scale: int,
    out_dir: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    hr_key: str = "hr",
    lr_key: str = "lr",
    fov_key: str = "fov",
    crop_border: int = 0,
    tile_size: int | None = 128,
    vessels: bool = False,
    vessel_kwargs: Mapping[str, Any] | None = None,
    num_figures: int = 4,
    figure_crop: int = 160,
    max_images: int | None = None,
    model_name: str = "model",
    metadata_file: str | os.PathLike | None = None,
    meta: Mapping[str, Any] | None = None,
    seed: int = 0,
    compare_weights: Mapping[str, str | os.PathLike] | None = None,
    published: Mapping[str, Any] | None = None,
    selection: str | None = None,
    self_ensemble: bool = False,
) -> dict[str, Any]:
    """Evaluate a generator against bicubic on ``files`` and write the reports and the comparison figure.

    Args:
        network: the generator (weights loaded here from ``weights`` when given).
        files: datalist entries (``{hr_key: path}``), e.g. the ``test`` section of the bundle's datalist.
        preprocess: deterministic transform: entry → dict with ``hr_key`` normalised to [0, 1] (and ``fov_key``).
        degrade: transform writing ``lr_key`` from ``hr_key`` (the training degradation; seeded per image when
            random).
        scale: SR factor.
        out_dir: folder for ``metrics.csv``, ``metrics.json``, ``metrics.md``, ``comparison.png``.
        weights: weight file (``params_ema`` preferred); ``None`` keeps the network's weights.
        device: where the generator runs.
        crop_border: pixels removed at each border before scoring (0: the reference protocol; SR papers use
            ``scale``).
        tile_size: LR tile size of the tiled inferer (exact: tiles get the receptive field as context); ``None``
            runs the whole image at once.
        vessels: add vessel agreement (fundus).
        num_figures: images shown in ``comparison.png``.
        max_images: evaluate only the first N files.
        metadata_file: when given, the summary is written into this ``metadata.json``'s ``eval_metrics``.
        meta: extra fields for ``metrics.json``'s ``meta``.
        compare_weights: ``{label: weight file}`` of other weights for the same network, shown as columns of
            ``comparison.png`` between bicubic and this model (e.g. ``{"PSNR model": "models/model.pt"}`` when
            evaluating the GAN weights: LR | bicubic | PSNR model | GAN model | HR).
        published: a paper's figures to set beside ours in ``metrics.md``, by scale:
            ``{"source": "...", "4": {"bicubic": {"psnr": .., "ssim": ..}, "model": {...}}, ...}``.
        selection: which images ``files`` are and why (:func:`~monai_srgan.bundle.describe_section`): printed
            before scoring and recorded in ``metrics.json``.
        self_ensemble: score the geometric self-ensemble of the network (and of ``compare_weights``): the mean of the
            8 flipped and rotated passes (:class:`~monai_srgan.networks.SelfEnsemble`).

    ``metrics.json`` records file and folder paths portably: weight files by name, ``meta["dataset_dir"]`` relative
    to the folders' common parent (absolute machine paths would not hold on another machine).

    Returns:
        ``{"summary": {column: {"mean", ...}}, "eval_metrics": {...}, "files": {...}}``.
    """
    self_ensemble, vessels = as_flag(self_ensemble, "self_ensemble"), as_flag(vessels, "vessels")
    n_given = len(files := list(files))
    files = files[: max_images or None]
    if not files:
        raise ConfigError("evaluation: no images to evaluate (empty 'test' split?): check --dataset_dir")
    dev = torch.device(device)
    shard = dist_utils.ProcessShard(dev)
    if selection and shard.rank == 0:
        cut = f"; the first {len(files)} of them (max_images={max_images})" if len(files) < n_given else ""
        ranks = f" ({shard.world} processes)" if shard.world > 1 else ""
        print(f"scoring {selection}{cut}{ranks}", flush=True)
    network = load_bundle_generator(network, weights, scale).to(dev).eval()
    net_scale = getattr(network, "scale", scale)
    if net_scale is not None and int(np.max(np.atleast_1d(net_scale))) != int(scale):
        raise ConfigError(f"scale={scale} but the network upsamples x{net_scale}: set --scale to the model's factor")
    inferer = SRInferer(scale=scale, roi_size=tile_size, device=dev) if tile_size else None

    def super_resolve(net: torch.nn.Module, lr: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(inferer(lr.to(dev), net) if inferer is not None else net(lr.to(dev))).float().cpu()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    others = {
        label: load_bundle_generator(copy.deepcopy(network), w, scale, setting=f"compare_weights['{label}']").eval()
        for label, w in dict(compare_weights or {}).items()
    }
    if self_ensemble:
        network = grain_applied_to(network, SelfEnsemble)
        others = {k: grain_applied_to(v, SelfEnsemble) for k, v in others.items()}
    label = model_name if others else "model"
    columns = ("LR", "bicubic", *others, label, "HR", "|model-HR|x4", "|bicubic-HR|x4")

    def score(i: int, entry: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor] | None, float]:
        """Rows of image ``i`` (global index: its degradation seed), its figure crops (first ``num_figures``), SR s."""
        name = Path(str(entry.get(hr_key, f"image_{i}"))).name
        d = preprocess(dict(entry))
        if hasattr(degrade, "set_random_state"):
            degrade.set_random_state(seed + i)
        d = degrade(d)
        hr = torch.as_tensor(d[hr_key]).float()[None]
        lr = torch.as_tensor(d[lr_key]).float()[None]
        mask = d.get(fov_key)
        mask = torch.as_tensor(mask).float()[None] if mask is not None else None
        if mask is not None and tuple(mask.shape[2:]) != tuple(hr.shape[2:]):
            mask = None
        ts = time.time()
        sr = super_resolve(network, lr)
        sr_s = time.time() - ts
        if tuple(sr.shape[2:]) != tuple(hr.shape[2:]):
            raise ConfigError(
                f"scale={scale}: the model output {tuple(sr.shape[2:])} does not match the HR {tuple(hr.shape[2:])} "
                f"of '{name}'; set --scale to the model's factor"
            )
        bic = imresize(lr, size=tuple(hr.shape[2:])).clamp(0, 1)
        res = evaluate_pair(
            sr, hr, lr, scale=scale, crop_border=crop_border, bicubic=bic, vessels=vessels,
            vessel_kwargs=dict(vessel_kwargs or {}), mask=None,
        )  # fmt: skip
        srs, bics = sr.clamp(0, 1), bic
        sk = {"win_size": 7, "gaussian_weights": False, "use_sample_covariance": True, "crop_border": crop_border}
        res["ssim_sk_model"] = ssim(srs, hr, **sk)
        res["ssim_sk_bicubic"] = ssim(bics, hr, **sk)
        res["ssim_sk_gain"] = res["ssim_sk_model"] - res["ssim_sk_bicubic"]
        if mask is not None:
            for tag, img in (("model", srs), ("bicubic", bics)):
                res[f"psnr_fov_{tag}"] = psnr(img, hr, crop_border=crop_border, mask=mask)
                res[f"ssim_fov_{tag}"] = ssim(img, hr, crop_border=crop_border, mask=mask)
            res["psnr_fov_gain"] = res["psnr_fov_model"] - res["psnr_fov_bicubic"]
            res["ssim_fov_gain"] = res["ssim_fov_model"] - res["ssim_fov_bicubic"]
        rows = rows_from_results(res, names=[name], height=[int(hr.shape[2])], width=[int(hr.shape[3])])
        logger.info("%s: PSNR model %.3f dB, bicubic %.3f dB", name, float(res["psnr_model"][0]),
                    float(res["psnr_bicubic"][0]))  # fmt: skip
        if i >= num_figures:
            return rows, None, sr_s
        r0, c0 = detail_crop(hr[0], figure_crop, None if mask is None else mask[0])
        cs = min(figure_crop, hr.shape[2], hr.shape[3])
        sl = (slice(None), slice(r0, r0 + cs), slice(c0, c0 + cs))
        lr_up = torch.nn.functional.interpolate(lr, size=tuple(hr.shape[2:]), mode="nearest")[0]
        crops = {"LR": lr_up[sl], "bicubic": bics[0][sl]}
        for other, net in others.items():
            crops[other] = super_resolve(net, lr).clamp(0, 1)[0][sl]
        crops[label] = srs[0][sl]
        crops["HR"] = hr[0][sl]
        crops["|model-HR|x4"] = ((srs[0] - hr[0]).abs() * 4)[sl].mean(0, keepdim=True)
        crops["|bicubic-HR|x4"] = ((bics[0] - hr[0]).abs() * 4)[sl].mean(0, keepdim=True)
        return rows, {"name": name, **{k: v.clone() for k, v in crops.items()}}, sr_s

    t0 = time.time()
    mine: list[tuple[int, list[dict[str, Any]], dict[str, Any] | None]] = []
    sr_seconds, failure = 0.0, None
    try:
        for i in shard.indices(len(files)):
            rows_i, fig_i, sr_s = score(i, files[i])
            mine.append((i, rows_i, fig_i))
            sr_seconds += sr_s
    except Exception as e:  # under torchrun every rank must reach the gather, or its peers wait forever
        if not shard.active:
            raise
        failure = (type(e).__name__, str(e), isinstance(e, SRGANError))
        error: Exception | None = e
    else:
        error = None
    parts = shard.gather((mine, sr_seconds, failure))
    first = None if parts is None else next(((r, p[2]) for r, p in enumerate(parts) if p[2] is not None), None)
    first = shard.broadcast(first)
    if first is not None:
        if error is not None:
            raise error
        rank, (kind, text, ours) = first
        raise (ConfigError if ours else RuntimeError)(f"evaluation failed on rank {rank}: {kind}: {text}")
    if parts is None:  # not rank 0: rank 0 writes the report; every rank returns its result
        result = shard.broadcast(None)
        shard.close()
        if "error" in result:
            raise ConfigError(f"evaluation failed on rank 0 while writing the report: {result['error']}")
        return result

    def report() -> dict[str, Any]:
        """Rank 0 (or the only process): merge the rows in image order, write the reports and the figure."""
        done = sorted((item for part in parts for item in part[0]), key=lambda item: item[0])
        rows = [r for _, rows_i, _ in done for r in rows_i]
        sr_seconds = float(sum(part[1] for part in parts))
        figs = [fig for _, _, fig in done if fig is not None]
        fig_cols: dict[str, list[torch.Tensor]] = {k: [fig[k] for fig in figs] for k in columns}
        fig_names = [fig["name"] for fig in figs]
        wall = time.time() - t0
        summary = summarize(rows)
        run_meta = {
            "model_name": model_name,
            "weights": Path(weights).name if weights else None,
            "selection": selection,
            "scale": scale,
            "crop_border": crop_border,
            "self_ensemble": bool(self_ensemble),
            "num_images": len(rows),
            "ssim": "paper convention (gaussian 11x11, sigma 1.5); ssim_sk_*: scikit-image defaults (uniform 7x7, "
            "sample covariance), the convention of the reference bicubic baselines",
            "psnr_fov": "inside the FundusFOV mask" if any("psnr_fov_model" in r for r in rows) else None,
            "wall_seconds": round(wall, 2),
            "sr_seconds": round(sr_seconds, 2),
            "device": str(dev),
            **({"processes": shard.world} if shard.world > 1 else {}),
            "hardware": f"{platform.machine()} {platform.processor() or ''} torch {torch.__version__} "
            f"threads {torch.get_num_threads()}".strip(),
            **portable_meta(meta or {}),
        }
        write_report(rows, out / "metrics.csv")
        title = f"# {model_name}: model vs bicubic x{scale} on {len(rows)} held-out images"
        text = f"{title}\n\n{format_table(summary)}\n"
        if published and str(scale) in published:
            run_meta["published"] = {"source": published.get("source"), **published[str(scale)]}
            text += "\n" + published_table(published, scale, summary, len(rows)) + "\n"
        write_report(rows, out / "metrics.json", meta=run_meta)
        (out / "metrics.md").write_text(text)
        if fig_names:
            from PIL import Image

            fig = comparison_figure(list(fig_cols.items()), zoom=2, names=fig_names)
            Image.fromarray(fig).save(out / "comparison.png")

        def mean(k: str) -> float | None:
            return _fmt(summary[k]["mean"]) if k in summary else None

        eval_metrics = {
            k: mean(k)
            for k in (
                "psnr_model", "psnr_bicubic", "psnr_gain", "ssim_model", "ssim_bicubic", "ssim_gain",
                "ssim_sk_model", "ssim_sk_bicubic", "psnr_fov_model", "psnr_fov_bicubic", "psnr_fov_gain",
                "ssim_fov_model", "ssim_fov_bicubic", "lr_psnr_model", "lr_psnr_bicubic", "hallucination_model",
                "hallucination_bicubic", "vessel_f1_model", "vessel_f1_bicubic", "gradient_ratio_model",
                "gradient_ratio_bicubic",
            )
            if k in summary
        }  # fmt: skip
        eval_metrics["num_test_images"] = len(rows)
        if metadata_file:
            update_metadata_metrics(metadata_file, eval_metrics)
        logger.info("evaluation written to %s", out)
        print(format_table(summary))
        return {"summary": summary, "eval_metrics": eval_metrics, "files": {"dir": str(out)}}

    try:
        result = report()
    except Exception as e:
        shard.broadcast({"error": f"{type(e).__name__}: {e}"})  # the other ranks stop too, none waits
        raise
    result = shard.broadcast(result)
    shard.close()
    return result
