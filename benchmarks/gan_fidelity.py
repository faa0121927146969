"""Do the GAN weights invent vessels? Hand-labelled STARE vessels vs the vessel maps of HR, bicubic, PSNR and GAN
outputs, and the network interpolation between the PSNR and GAN weights that keeps the GAN faithful.

Usage::

    MONAI_SRGAN_DATA=../shared/data python benchmarks/gan_fidelity.py [--alphas 0 0.25 0.5 0.75 1] [--write ALPHA]

Protocol: each STARE photograph with a hand-labelled vessel map (second observer, ``extra/retina/stare_vessels_vk``)
is the HR at its native 700×605 (cropped to a multiple of 4) in [0, 1]; LR = the project's bicubic ×1/4. Outputs:
bicubic, and the generator with weights ``θ(α) = (1 − α)·θ_PSNR + α·θ_GAN`` (ESRGAN's network interpolation, Wang
et al., ECCV workshops 2018, §3.4: one dial from fidelity to sharpness, same architecture, no retraining); α = 0 is
the shipped PSNR model, α = 1 the GAN weights themselves (``--gan``, default the bundle's ``model_gan.pt``). For each
output the vessel map (Frangi, the ``evaluate.json`` settings: σ 1, 1.5, 2; threshold 0.15) is scored against the
**hand labels** inside the field of view (F1 with a 1-pixel tolerance), and PSNR, gradient ratio (SR/HR sharpness)
and the hallucination score (:func:`monai_srgan.metrics.evaluate_pair`) against HR.

α is chosen on the STARE photographs of the training and validation sections of the bundle's split (the hand labels
never trained anything; α is one number), then reported on the STARE test photographs: the sharpest α whose mean
label F1 is at least bicubic's and whose hallucination score is at most 5× the PSNR model's (the 0.3.0 stage-2
GAN's is about 10×; the margin the model card states). ``--write ALPHA`` stores ``θ(ALPHA)`` as the bundle's
``models/model_gan.pt`` (a plain state dict; for GAN weights that carry synthesised grain, ``GrainGenerator``, the
grain amplitude is interpolated too, α·σ, and written with them). ``--previous PATH`` scores an earlier GAN's
weights beside them and shows them in the figure (e.g. ``benchmarks/results/retina_model_gan_stage2.pt``, the
0.3.0 stage-2 GAN, or ``retina_model_gan_0.5.0.pt``, the 0.5.0 GAN without grain).
"""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path

import numpy as np
import torch
from monai.data import MetaTensor

from monai_srgan.bundle import make_datalist
from monai_srgan.inference.pipeline import SRInferencePipeline
from monai_srgan.metrics import evaluate_pair
from monai_srgan.metrics._filters import binary_dilate, binary_erode
from monai_srgan.metrics.fidelity.vessels import vessel_map
from monai_srgan.networks import GrainGenerator, grain_for_weights, load_network_weights, save_generator_weights
from monai_srgan.transforms import LoadMedicalImage
from monai_srgan.transforms.fundus import estimate_fov_mask
from monai_srgan.transforms.resize import imresize

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONAI_SRGAN_DATA", ROOT.parent / "shared" / "data"))
VESSELS = {"sigmas": (1.0, 1.5, 2.0)}
#: the chosen weights may hallucinate at most this many times as much as the PSNR model (the stage-2 GAN: ~10x)
HALLUCINATION_RATIO = 5.0


def is_faithful(f1: float | None, f1_bicubic: float | None, hallucination: float, hallucination_psnr: float) -> bool:
    """The fidelity rule of both selection steps (this script and ``gan_checkpoints.py``): a vessel F1 at least
    bicubic's (skipped when ``f1`` is None: no vessels to score) and a hallucination score at most
    ``HALLUCINATION_RATIO`` times the PSNR model's."""
    vessels_ok = f1 is None or f1 >= f1_bicubic
    return vessels_ok and hallucination <= HALLUCINATION_RATIO * hallucination_psnr


def _label_f1(pred: torch.Tensor, label: torch.Tensor, fov: torch.Tensor, tol: int = 1) -> float:
    p, g = pred & fov, label & fov
    near_g, near_p = binary_dilate(g, tol), binary_dilate(p, tol)
    prec = float((p & near_g).sum()) / max(float(p.sum()), 1.0)
    rec = float((g & near_p).sum()) / max(float(g.sum()), 1.0)
    return 2 * prec * rec / max(prec + rec, 1e-12)


def _worst_crop(outs: dict[str, torch.Tensor], fov: torch.Tensor, keys: dict[str, str], size: int = 96) -> list:
    """The ``size`` crop (inside the field of view) where the shipped GAN (the last of ``keys``) differs most from
    HR: green channel, contrast stretched over the HR crop, one panel per ``keys`` entry (output key -> label)."""
    gan = outs[list(keys)[-1]][0]
    diff = (gan - outs["HR"][0]).abs().mean(0) * fov.reshape(gan.shape[-2:]).float()
    score = torch.nn.functional.avg_pool2d(diff[None, None], size, stride=size // 4)[0, 0]
    r, c = divmod(int(torch.argmax(score)), score.shape[1])
    y, x = r * (size // 4), c * (size // 4)
    ref = outs["HR"][0, 1, y : y + size, x : x + size]
    lo, hi = float(ref.min()), float(ref.max())
    return [
        (label, ((outs[k][0, 1:2, y : y + size, x : x + size] - lo) / max(hi - lo, 1e-6)).clamp(0, 1))
        for k, label in keys.items()
    ]  # fmt: skip


def _state(net: torch.nn.Module, path: Path) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The generator's state dict and the grain amplitude the weights carry (``GrainGenerator``; else None), loaded
    the way the bundles load them."""
    built = grain_for_weights(copy.deepcopy(net), path)
    load_network_weights(built, path)
    if isinstance(built, GrainGenerator):
        return built.generator.state_dict(), built.sigma
    return built.state_dict(), None


def _stare_sections() -> dict[str, str]:
    folders = [str(DATA / "retina"), str(DATA / "extra" / "retina")]
    dl = make_datalist(folders, exclude=["skimage_*", "*.vk.ppm.gz"])
    return {Path(e["image"]).name: sec for sec, entries in dl.items() for e in entries if "stare_" in e["image"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0])
    ap.add_argument("--gan", default=str(ROOT / "bundles" / "retina_sr" / "models" / "model_gan.pt"))
    ap.add_argument("--previous", default=None, help="an earlier GAN's weights, scored and shown beside the new")
    ap.add_argument("--write", type=float, default=None, help="store theta(ALPHA) as models/model_gan.pt")
    ap.add_argument("--threshold", type=float, default=0.15, help="vesselness threshold (0.15: evaluate.json's)")
    ap.add_argument("--figure", default=None, help="write HR | PSNR | GAN crops where the GAN differs most from HR")
    args = ap.parse_args(argv)
    bundle = ROOT / "bundles" / "retina_sr"
    pipe = SRInferencePipeline.from_bundle(bundle, weights=bundle / "models" / "model.pt", output_dtype="float32",
                                           tile_size=256)  # fmt: skip
    net = pipe.network
    (psnr_state, _), (gan_state, gan_grain) = _state(net, bundle / "models" / "model.pt"), _state(net, Path(args.gan))
    previous_state, previous_grain = _state(net, Path(args.previous)) if args.previous else (None, None)

    def use(state: dict[str, torch.Tensor], grain: torch.Tensor | None) -> None:
        """θ into the generator; the grain amplitude (α·σ for an interpolation) added after it, as the loaders do."""
        net.load_state_dict({k: v.to(psnr_state[k].dtype) for k, v in state.items()})
        pipe.network = net if grain is None or float(grain.max()) == 0 else GrainGenerator(net, grain.tolist())

    sections = _stare_sections()
    load = LoadMedicalImage()
    rows: dict[str, list[dict[str, float]]] = {"select": [], "test": []}
    test_outs: list[tuple[str, dict[str, torch.Tensor], torch.Tensor]] = []
    for name, section in sorted(sections.items()):
        hr = load(str(DATA / "extra" / "retina" / name)).as_subclass(torch.Tensor).float() / 255.0
        label = load(str(DATA / "extra" / "retina" / "stare_vessels_vk" / name.replace(".ppm.gz", ".vk.ppm.gz")))
        h, w = (int(v) // 4 * 4 for v in hr.shape[1:])
        hr, label = hr[:, :h, :w], label.as_subclass(torch.Tensor)[:1, :h, :w] > 127
        fov = binary_erode(estimate_fov_mask(hr)[None].bool(), 4)[0]
        lr = imresize(hr[None], 0.25).clamp(0, 1)
        bic = imresize(lr, size=(h, w)).clamp(0, 1)
        outs = {"HR": hr[None], "bicubic": bic}
        x = MetaTensor(lr[0].clone())
        x.meta.update(srgan_value_min=0.0, srgan_value_max=1.0, srgan_dtype="float32")
        for a in args.alphas:
            mixed = {k: (1 - a) * psnr_state[k].float() + a * gan_state[k].float() for k in psnr_state}
            use(mixed, None if gan_grain is None else a * gan_grain)
            outs[f"a{a:g}"] = pipe.predict(x).as_subclass(torch.Tensor)[None].clamp(0, 1)
        if previous_state is not None:
            use(previous_state, previous_grain)
            outs["previous"] = pipe.predict(x).as_subclass(torch.Tensor)[None].clamp(0, 1)
        row: dict[str, float] = {}
        for key, img in outs.items():
            vmap = vessel_map(img, threshold=args.threshold, **VESSELS)[0]
            row[f"{key}_label_f1"] = _label_f1(vmap, label, fov[None])
            row[f"{key}_label_f1_exact"] = _label_f1(vmap, label, fov[None], tol=0)
            if key != "HR":
                res = evaluate_pair(img, hr[None], lr, scale=4, bicubic=bic, vessels=False, crop_border=0)
                row[f"{key}_psnr"] = float(res["psnr_model"][0])
                row[f"{key}_grad"] = float(res["gradient_ratio_model"][0])
                row[f"{key}_halluc"] = float(res["hallucination_model"][0])
        rows["test" if section == "test" else "select"].append(row)
        if args.figure and section == "test":
            test_outs.append((name, outs, fov))
        print(f"{name} ({section}): " + ", ".join(f"{k} {row[f'{k}_label_f1']:.3f}" for k in outs), flush=True)
    keys = ["bicubic", *[f"a{a:g}" for a in args.alphas], *(["previous"] if previous_state is not None else [])]
    chosen = {}
    for part, rs in rows.items():
        mean = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        print(f"\n{part} ({len(rs)} STARE photographs): label F1 HR {mean['HR_label_f1']:.3f}")
        print("| output | vessel F1 vs hand labels (±1 px / exact) | PSNR dB | gradient ratio | hallucination |")
        print("|---|---|---|---|---|")
        for k in keys:
            label = {"a0": "α 0 (PSNR model)", "a1": "α 1 (the --gan weights)", "previous": "previous GAN"}.get(
                k, k.replace("a", "α ", 1)
            )
            print(f"| {label} | {mean[k + '_label_f1']:.3f} / {mean[k + '_label_f1_exact']:.3f} | "
                  f"{mean[k + '_psnr']:.2f} | {mean[k + '_grad']:.3f} | {mean[k + '_halluc']:.5f} |")  # fmt: skip
        if part == "select":
            ok = [a for a in args.alphas if is_faithful(mean[f"a{a:g}_label_f1"], mean["bicubic_label_f1"],
                                                        mean[f"a{a:g}_halluc"], mean["a0_halluc"])]  # fmt: skip
            chosen["alpha"] = max(ok) if ok else 0.0
            print(f"\nchosen on the selection images: α = {chosen['alpha']:g} (the sharpest that is faithful)")
    if args.figure and test_outs:
        shipped = args.write if args.write is not None else chosen["alpha"]
        shown = {"HR": "HR", "bicubic": "bicubic", "a0": "PSNR model"}
        if previous_state is not None:
            shown["previous"] = "previous GAN"
        if max(args.alphas) != shipped:
            shown[f"a{max(args.alphas):g}"] = "stage-2 GAN"
        shown.pop(f"a{shipped:g}", None)  # the shipped output comes last: the crop is chosen on it
        shown[f"a{shipped:g}"] = f"shipped GAN, alpha {shipped:g}"
        figure_rows = [(name, _worst_crop(outs, fov, shown)) for name, outs, fov in test_outs]
        from PIL import Image

        from monai_srgan.utils.figures import comparison_figure

        labels = [lab for lab, _ in figure_rows[0][1]]
        panels = [(lab, [dict(r)[lab] for _, r in figure_rows]) for lab in labels]
        fig = comparison_figure(panels, zoom=3, names=[n.split(".")[0] for n, _ in figure_rows])
        Image.fromarray(fig).save(args.figure)
        print(f"figure: {args.figure}")
    if args.write is not None:
        a = float(args.write)
        mixed = {k: ((1 - a) * psnr_state[k].float() + a * gan_state[k].float()).to(psnr_state[k].dtype)
                 for k in psnr_state}  # fmt: skip
        net.load_state_dict(mixed)  # a plain state dict, as every shipped weight file (docs/results.md records α)
        out = net if gan_grain is None else GrainGenerator(net, (a * gan_grain).tolist())  # the grain interpolated too
        save_generator_weights(out, bundle / "models" / "model_gan.pt")
        print(f"written: {bundle / 'models' / 'model_gan.pt'} (α = {a:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
