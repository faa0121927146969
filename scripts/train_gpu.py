"""Train the retina ×4/×8/×16 and chest X-ray ×4 PSNR weights on one CUDA GPU, evaluate them, ship the winners.

One command (issue 28): ``python scripts/train_gpu.py`` runs, for each job, the bundle's own ``train.json``
(``run_stage1``) with command-line-style overrides — a larger generator, bigger batches and patches, bf16 autocast,
DataLoader workers — then ``evaluate.json`` on the **validation** split (never the test split) for the new weights
and for the weights the bundle ships, and copies the new weights to ``bundles/<bundle>/models/`` only when their
validation PSNR is higher and the bundle's configs can load them (same network and ``network_kwargs``). Everything
runs in this one process through ``monai.bundle.run`` (each step is also printed as the equivalent
``python -m monai.bundle run`` command line).

Resumable: each job trains into ``<out>/<job>``, where ``train.json`` resumes from ``stage1/checkpoint_last.pt``;
re-running the same command continues an interrupted job, returns at once for a finished one, and re-uses an
evaluation newer than its weights. ``<out>/summary.json`` records what was measured and decided.

``--tiny`` runs the same steps with a few iterations, small patches and a small network on the CPU (the test
``tests/test_gpu_script.py``); ``--arch bundle`` trains the bundle's own network (32 features × 8 convolutions,
drop-in weights, warm-started from the shipped ones) instead of the larger default. docs/training.md, "On a GPU".
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MAX_FILE_BYTES = 1024 * 1024  # the bundles' pre-commit limit on every file (tests/test_bundle_conventions.py)


@dataclass(frozen=True)
class Job:
    """One weight file to train: a bundle, a scale and its GPU settings (``tiny`` ones for the CPU test)."""

    name: str
    bundle: str
    scale: int
    lr_patch: int
    epochs: int
    warm_from: str | None = None  # another job whose ×4 trunk starts this one (warm_start_partial)


#: epoch_length 500: ×4 12,000 iterations, ×8/×16 8,000 (from the ×4 trunk), batch 32 (shipped: 16 at 48 px)
JOBS = (
    Job("retina_x4", "retina_sr", 4, lr_patch=64, epochs=24),
    Job("retina_x8", "retina_sr", 8, lr_patch=40, epochs=16, warm_from="retina_x4"),
    Job("retina_x16", "retina_sr", 16, lr_patch=24, epochs=16, warm_from="retina_x4"),
    Job("cxr_x4", "cxr_sr", 4, lr_patch=64, epochs=24),
)

#: generator widths: ``large`` (355 k parameters at ×4 RGB) fits the bundles' 1 MB file limit in float16 at ×4
#: and ×8 (0.73 / 0.85 MB), not at ×16 (1.35 MB: its upsampler's last convolution has 48 → 768 channels)
ARCHS = {
    "large": {"num_feat": 48, "num_conv": 16},
    "bundle": {},  # the bundle's own network_kwargs (32 × 8): weights the shipped configs load as they are
}
TINY_ARCH = {"large": {"num_feat": 8, "num_conv": 2}, "bundle": {}}
FULL = {"epoch_length": 500, "batch_size": 32, "num_workers": 8, "val_images": 4}
TINY = {"epoch_length": 2, "epochs": 2, "batch_size": 2, "num_workers": 0, "val_images": 1, "patches_per_image": 2}
TINY_LR_PATCH = {4: 16, 8: 8, 16: 8}
TINY_SIZE = {"retina_sr": {"hr_width": 200}, "cxr_sr": {"hr_size": 128}}


def _data_dirs(data_root: Path, bundle: str) -> list[str]:
    sub = "retina" if bundle == "retina_sr" else "cxr"
    return [str(p) for p in (data_root / sub, data_root / "extra" / sub) if p.is_dir()]


def _bundle_network_kwargs(bundle_root: Path) -> dict[str, Any]:
    cfg = json.loads((bundle_root / "configs" / "inference.json").read_text())
    return {"network": cfg["network"], **cfg["network_kwargs"]}


def _command(run_id: str | None, config: Path, overrides: dict[str, Any]) -> str:
    """The equivalent ``python -m monai.bundle run`` command line (printed, recorded in summary.json)."""
    args = ["python", "-m", "monai.bundle", "run", *([run_id] if run_id else []), "--config_file", str(config)]
    for k, v in overrides.items():
        args += [f"--{k}", v if isinstance(v, str) else json.dumps(v)]
    return shlex.join(args)


def _bundle_run(run_id: str | None, config: Path, overrides: dict[str, Any]) -> None:
    from monai.bundle import run

    print(f"+ {_command(run_id, config, overrides)}", flush=True)
    run(run_id=run_id, config_file=str(config), **overrides)


class Driver:
    """Trains, evaluates and ships the jobs of one invocation (see the module docstring)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out).resolve()
        self.bundles = Path(args.bundles).resolve()
        self.tiny = bool(args.tiny)
        self.arch = (TINY_ARCH if self.tiny else ARCHS)[args.arch]
        self.data = {
            "retina_sr": args.retina_dir or _data_dirs(Path(args.data), "retina_sr"),
            "cxr_sr": args.cxr_dir or _data_dirs(Path(args.data), "cxr_sr"),
        }
        self.summary_path = self.out / "summary.json"
        self.summary = json.loads(self.summary_path.read_text()) if self.summary_path.is_file() else {}

    # ------------------------------------------------------------------------------------------ settings
    def common(self, job: Job) -> dict[str, Any]:
        """Overrides shared by train.json and evaluate.json: data, scale, generator, image size."""
        o: dict[str, Any] = {"bundle_root": str(self.bundles / job.bundle), "dataset_dir": self.data[job.bundle],
                             "scale": job.scale}  # fmt: skip
        o.update({f"network_kwargs#{k}": v for k, v in self.arch.items()})
        if self.tiny:
            o.update(TINY_SIZE[job.bundle])
        return o

    def train_overrides(self, job: Job) -> dict[str, Any]:
        s = TINY if self.tiny else FULL
        o = self.common(job)
        o.update({
            "output_dir": str(self.out / job.name),
            "lr_patch": TINY_LR_PATCH[job.scale] if self.tiny else job.lr_patch,
            "stage1_epochs": self.args.epochs or s.get("epochs", job.epochs),
            "epoch_length": s["epoch_length"],
            "batch_size": s["batch_size"],
            "num_workers": s["num_workers"],
            "val_images": s["val_images"],
            "log_iterations": 1 if self.tiny else 100,
        })  # fmt: skip
        if "patches_per_image" in s:
            o["patches_per_image"] = s["patches_per_image"]
        if self.args.precision == "fp32":
            o["amp"] = False
        else:
            o["amp"] = "auto"
            o["train#pretrainer#amp_dtype"] = {"bf16": "bfloat16", "fp16": "float16"}[self.args.precision]
        if self.args.compile:
            o["compile"] = True
        warm = self.warm_start(job)
        if warm is not None:
            o["train#pretrainer#warm_start"] = str(warm)
            o["train#pretrainer#warm_start_partial"] = job.warm_from is not None
        return o

    def warm_start(self, job: Job) -> Path | None:
        """×8/×16: the ×4 job's weights (partial); ×4 with ``--arch bundle``: the shipped ×4 weights."""
        if job.warm_from is not None:
            return self.out / job.warm_from / "stage1" / "model.pt"
        if self.args.arch == "bundle":
            from monai_srgan.bundle.weights import shipped_weights

            return shipped_weights(self.bundles / job.bundle).get((job.scale, "psnr"))
        return None

    # ------------------------------------------------------------------------------------------ steps
    def train(self, job: Job) -> Path:
        model = self.out / job.name / "stage1" / "model.pt"
        cfg = self.bundles / job.bundle / "configs" / "train.json"
        t0 = time.time()
        _bundle_run("run_stage1", cfg, overrides := self.train_overrides(job))
        if not model.is_file():
            raise RuntimeError(f"{job.name}: training ended without {model}")
        self.record(job, train_command=_command("run_stage1", cfg, overrides), train_seconds=round(time.time() - t0))
        return model

    def evaluate(self, job: Job, weights: Path | None, tag: str) -> dict[str, Any] | None:
        """``evaluate.json`` on the validation split; ``weights=None``: the bundle's shipped weights (None if none)."""
        from monai_srgan.errors import ConfigError

        out = self.out / job.name / f"eval_{tag}"
        metrics = out / "eval_validation" / "metrics.json"
        o = self.common(job)
        if weights is None:
            o = {k: v for k, v in o.items() if not k.startswith("network_kwargs#")}  # the bundle's own network
        else:
            o["model_path"] = str(weights)
        o.update({"output_dir": str(out), "eval_section": "validation", "num_figures": 0 if self.tiny else 4})
        fresh = metrics.is_file() and weights is not None and metrics.stat().st_mtime > weights.stat().st_mtime
        if not fresh:
            try:
                _bundle_run(None, self.bundles / job.bundle / "configs" / "evaluate.json", o)
            except Exception as e:  # noqa: BLE001 - a bundle without shipped weights at this scale: nothing to beat
                if weights is not None or not isinstance(_root_cause(e), ConfigError):
                    raise
                print(f"{job.name}: no shipped weights to compare ({_root_cause(e)})", flush=True)
                return None
        return json.loads(metrics.read_text())["summary"]

    def ship(self, job: Job, model: Path, new: dict[str, Any], old: dict[str, Any] | None) -> str:
        """Copy ``model`` into the bundle when it beats the shipped weights on validation PSNR; returns the decision."""
        from monai_srgan.bundle.weights import weight_file_name
        from monai_srgan.networks.checkpoint import extract_state_dict, read_weight_file, save_state_dict

        psnr_new = new["psnr_model"]["mean"]
        psnr_old = None if old is None else old["psnr_model"]["mean"]
        self.record(job, val_psnr=round(psnr_new, 4), val_psnr_shipped=None if old is None else round(psnr_old, 4),
                    val_psnr_bicubic=round(new["psnr_bicubic"]["mean"], 4))  # fmt: skip
        if psnr_old is not None and psnr_new <= psnr_old + self.args.min_gain:
            return f"kept the shipped weights (validation PSNR {psnr_new:.3f} ≤ shipped {psnr_old:.3f} dB)"
        name = weight_file_name(job.scale, "psnr")
        staged = self.out / "ship" / job.bundle / name
        state, _, _ = extract_state_dict(read_weight_file(model), source=str(model))
        save_state_dict(state, staged)
        if staged.stat().st_size > MAX_FILE_BYTES:
            save_state_dict(state, staged, half=True)
        better = "no shipped weights" if psnr_old is None else f"{psnr_new:.3f} > shipped {psnr_old:.3f} dB"
        if staged.stat().st_size > MAX_FILE_BYTES:
            return f"staged {staged} ({better}), not shipped: {staged.stat().st_size} bytes even in float16 (> 1 MB)"
        fits = {"network": "srvgg", **_bundle_network_kwargs(self.bundles / job.bundle)}
        wanted = {**fits, **self.arch}
        if wanted != fits:
            flags = " ".join(f"--network_kwargs#{k} {v}" for k, v in self.arch.items())
            return (
                f"staged {staged} ({better}); the bundle's configs build another network: use it with "
                f"--model_path {staged} {flags}, or ship it by setting these network_kwargs in the bundle's "
                "train/evaluate/inference.json (all its weights, GAN included, must then have this width)"
            )
        dest = self.bundles / job.bundle / "models" / name
        dest.write_bytes(staged.read_bytes())
        return f"shipped {dest} ({better})"

    def record(self, job: Job, **fields: Any) -> None:
        self.summary.setdefault(job.name, {}).update(fields)
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = self.summary_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.summary, indent=2) + "\n")
        os.replace(tmp, self.summary_path)

    def run(self, names: list[str] | None) -> int:
        for job in JOBS:
            if names and job.name not in names:
                continue
            if not self.data[job.bundle]:
                print(f"{job.name}: no data for {job.bundle} (give --data or --{job.bundle[:-3]}_dir)", file=sys.stderr)
                return 2
            if job.warm_from and not (self.out / job.warm_from / "stage1" / "model.pt").is_file():
                print(f"{job.name}: needs the {job.warm_from} weights first (run that job)", file=sys.stderr)
                return 2
            model = self.train(job)
            new, old = self.evaluate(job, model, "candidate"), self.evaluate(job, None, "shipped")
            decision = self.ship(job, model, new, old)
            self.record(job, decision=decision)
            print(f"{job.name}: {decision}", flush=True)
        print(f"summary: {self.summary_path}")
        return 0


def _root_cause(e: BaseException) -> BaseException:
    """The innermost exception MONAI's wrappers chain (the project's ``ConfigError`` under their ``RuntimeError``)."""
    for _ in range(32):
        if (inner := e.__cause__ or e.__context__) is None:
            break
        e = inner
    return e


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(REPO / "runs" / "gpu"), help="run folder (re-use it to resume)")
    p.add_argument("--data", default=os.environ.get("MONAI_SRGAN_DATA", str(REPO.parent / "shared" / "data")),
                   help="data root holding retina/, cxr/ and extra/ (default $MONAI_SRGAN_DATA)")  # fmt: skip
    p.add_argument("--retina_dir", nargs="+", help="retina dataset folders (default: DATA/retina DATA/extra/retina)")
    p.add_argument("--cxr_dir", nargs="+", help="chest X-ray dataset folders (default: DATA/cxr DATA/extra/cxr)")
    p.add_argument("--bundles", default=str(REPO / "bundles"), help="folder holding retina_sr/ and cxr_sr/")
    p.add_argument("--jobs", nargs="+", choices=[j.name for j in JOBS], help="only these jobs (default: all)")
    p.add_argument("--arch", choices=sorted(ARCHS), default="large",
                   help="large: 48 features x 16 convolutions (default); bundle: the shipped network")  # fmt: skip
    p.add_argument("--precision", choices=("bf16", "fp16", "fp32"), default="bf16", help="autocast dtype")
    p.add_argument("--compile", action="store_true", help="train through torch.compile")
    p.add_argument("--epochs", type=int, help="epochs of 500 iterations for every job (default: the job's own)")
    p.add_argument("--min_gain", type=float, default=0.0, help="dB the new weights must beat the shipped ones by")
    p.add_argument("--tiny", "--smoke", action="store_true", help="a few iterations, small patches (CPU test)")
    p.add_argument("--allow_cpu", action="store_true", help="run the full settings without CUDA (hours)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not args.tiny and not args.allow_cpu and not torch.cuda.is_available():
        print("error: no CUDA GPU: the full settings need one (--tiny for a CPU smoke run, --allow_cpu to insist)",
              file=sys.stderr)  # fmt: skip
        return 2
    return Driver(args).run(args.jobs)


if __name__ == "__main__":
    sys.exit(main())
