"""Export generators to TorchScript and ONNX with dynamic spatial size (and batch).

Every generator of this package is scriptable (``torch.jit.script``), so the TorchScript file accepts any input size,
exactly like the eager model; ``python -m monai.bundle ckpt_export`` (which scripts ``network_def``) works on them too.
ONNX export uses the TorchScript-based exporter (``dynamo=False``) with dynamic batch and spatial axes; inputs whose
size the network cannot take (e.g. RRDBNet ×2 on odd sizes) behave as in eager mode.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["export_torchscript", "export_onnx", "unwrap_model"]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The bare network under DDP/DataParallel/AveragedModel/``torch.compile`` wrappers."""
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


def export_torchscript(
    model: nn.Module, path: str | os.PathLike, example: torch.Tensor | None = None, extra_files: dict | None = None
) -> Path:
    """Script ``model`` (eval mode, CPU copy untouched) and save it to ``path``.

    Args:
        model: a generator (any ``nn.Module`` that ``torch.jit.script`` accepts).
        path: output ``.ts``/``.pt`` file.
        example: optional input; when scripting fails the model is traced with it instead (fixed control flow, still
            dynamic in size for these networks).
        extra_files: optional ``{name: str}`` stored in the archive (e.g. the architecture as JSON).

    Returns:
        the written path. Load it with ``torch.jit.load(path)``.
    """
    model = unwrap_model(model)
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript deprecation notices
            try:
                ts = torch.jit.script(model)
            except Exception:
                if example is None:
                    raise
                with torch.no_grad():
                    ts = torch.jit.trace(model, example)
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.jit.save(ts, str(path), _extra_files=extra_files or {})
    finally:
        model.train(was_training)
    return path


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    example: torch.Tensor,
    opset_version: int = 17,
    input_name: str = "lr",
    output_name: str = "sr",
    **kwargs: Any,
) -> Path:
    """Export ``model`` to ONNX with dynamic batch and spatial axes.

    Args:
        model: a generator.
        path: output ``.onnx`` file.
        example: an input ``(N, C, *spatial)`` used to trace (its channel count is fixed in the graph; batch and
            spatial sizes are dynamic).
        opset_version: ONNX opset (17).
        input_name: graph input name.
        output_name: graph output name.
        kwargs: passed to ``torch.onnx.export``.

    Returns:
        the written path. Run it with ``onnxruntime.InferenceSession(path)``.
    """
    model = unwrap_model(model)
    was_training = model.training
    model.eval()
    nd = example.ndim
    axes = {0: "batch", **{i: f"spatial{i - 2}" for i in range(2, nd)}}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: axes, output_name: axes},
                opset_version=opset_version,
                dynamo=False,
                **kwargs,
            )
    finally:
        model.train(was_training)
    return path
