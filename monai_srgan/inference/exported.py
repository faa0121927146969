"""Exported generators (TorchScript, ONNX) as drop-in networks for the inference pipeline.

``monai-srgan export`` writes the model plus a sidecar ``<file>.json`` holding what the pipeline needs and an exported
graph does not keep: ``scale``, ``receptive_field``, ``in_channels``, ``out_channels``, ``spatial_dims`` and the
model name. :func:`load_exported` reads both and returns a callable module with those attributes, so
``monai-srgan infer --model model.onnx`` runs exactly like the original model.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.io.writers.common import atomic_write_file
from monai_srgan.networks import export as net_export
from monai_srgan.networks.generators.grain import GrainGenerator

__all__ = ["is_exported", "load_exported", "export_model", "ExportedGenerator", "SIDECAR_KEYS"]

SIDECAR_KEYS = ("scale", "receptive_field", "in_channels", "out_channels", "spatial_dims", "model_name")
_TS_SUFFIXES = (".ts", ".torchscript", ".jit")


def is_exported(path: str | os.PathLike) -> bool:
    """True for ``.onnx`` files and TorchScript archives (``.ts``, or a ``.pt`` with a ``<file>.json`` sidecar)."""
    p = Path(path)
    if p.suffix.lower() == ".onnx" or p.suffix.lower() in _TS_SUFFIXES:
        return True
    return Path(str(p) + ".json").is_file() and p.suffix.lower() in (".pt", ".pth") and _is_torchscript(p)


def _is_torchscript(p: Path) -> bool:
    try:
        with zipfile.ZipFile(p) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class ExportedGenerator(torch.nn.Module):
    """Wraps a TorchScript module or an ONNX Runtime session; ``forward(lr) -> sr`` on CPU tensors.

    Attributes ``scale``, ``receptive_field``, ``in_channels``, ``out_channels``, ``spatial_dims``: from the sidecar.
    """

    def __init__(self, path: str | os.PathLike, info: dict[str, Any]) -> None:
        super().__init__()
        self.path = os.fspath(path)
        for k in SIDECAR_KEYS:
            setattr(self, k, info.get(k))
        self._ts = None
        self._ort = None
        if self.path.lower().endswith(".onnx"):
            try:
                import onnxruntime as ort
            except ImportError as e:
                raise InputFileError(path, "ONNX Runtime is not installed", "pip install 'monai_srgan[export]'") from e
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(torch.get_num_threads(), 1)
            self._ort = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])
            self._in_name = self._ort.get_inputs()[0].name
        else:
            self._ts = torch.jit.load(self.path, map_location="cpu")
            self._ts.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._ts is not None:
            return self._ts(x.to("cpu"))
        y = self._ort.run(None, {self._in_name: x.detach().cpu().float().numpy()})[0]
        return torch.from_numpy(np.asarray(y))


def load_exported(path: str | os.PathLike) -> ExportedGenerator:
    """Load a model written by ``monai-srgan export`` (reads ``<path>.json`` when present)."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "exported model not found", "check the --model path")
    side = Path(str(p) + ".json")
    info: dict[str, Any] = json.loads(side.read_text()) if side.is_file() else {}
    try:
        return ExportedGenerator(p, info)
    except InputFileError:
        raise
    except Exception as e:  # noqa: BLE001 - corrupt/foreign files
        raise InputFileError(
            p,
            f"cannot load the exported model ({type(e).__name__}: {e})",
            "give a TorchScript or ONNX file written by 'monai-srgan export', or export it again",
        ) from e


def export_model(pipeline: Any, output: str | os.PathLike, to: str | None = None, tile_size: int = 64) -> Path:
    """Export the pipeline's generator to TorchScript or ONNX with a sidecar JSON.

    Args:
        pipeline: an :class:`~monai_srgan.inference.pipeline.SRInferencePipeline` (its network, scale, channels).
        output: ``.ts``/``.pt`` (TorchScript) or ``.onnx`` file.
        to: ``"torchscript"`` or ``"onnx"``; default from the extension.
        tile_size: spatial size of the example input used for tracing (dynamic axes are kept).

    Returns:
        the written model path (the sidecar is ``<path>.json``).
    """
    out = Path(output)
    to = to or ("onnx" if out.suffix.lower() == ".onnx" else "torchscript")
    net = pipeline.network
    if isinstance(net, ExportedGenerator):
        raise ConfigError("--model is already an exported model: export from the original weights")
    if isinstance(net, GrainGenerator):
        source = getattr(pipeline, "weights_path", None) or "these weights"
        raise ConfigError(
            f"{source} adds synthesised grain (GrainGenerator), which an exported graph cannot draw at each tile's "
            "position: export the PSNR weights (--weights psnr), or run the .pt weights as they are"
        )
    in_ch = int(pipeline.in_channels or getattr(net, "in_channels", None) or 1)
    sd = int(pipeline.spatial_dims)
    example = torch.rand(1, in_ch, *([int(tile_size)] * sd))
    out.parent.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    if to == "onnx":
        atomic_write_file(out, lambda tmp: net_export.export_onnx(net, tmp, example), True)
    elif to == "torchscript":
        atomic_write_file(out, lambda tmp: net_export.export_torchscript(net, tmp, example), True)
    else:
        raise ConfigError(f"--to {to!r}: choose torchscript or onnx")
    info = {
        "scale": pipeline.scale,
        "receptive_field": getattr(net, "receptive_field", None),
        "in_channels": in_ch,
        "out_channels": getattr(net, "out_channels", None),
        "spatial_dims": sd,
        "model_name": pipeline.model_name,
        "format": to,
    }
    atomic_write_file(Path(str(out) + ".json"), lambda tmp: tmp.write_text(json.dumps(info, indent=2)), True)
    return out
