"""One weight loader for every checkpoint layout users meet, and an atomic generator-weight writer.

Accepted by :func:`load_network_weights` (always ``torch.load(..., weights_only=True)``, never unpickling code):

- this project's files (``monai_srgan.engines``): ``{"params", "params_ema", "net_d", "optimizer_g", ...}`` —
  ``params_ema`` is preferred for a generator; pass ``key="net_d"`` for the discriminator, ``key="params"`` for the
  raw (non-EMA) generator;
- MONAI bundle ``models/model.pt``: a plain state dict;
- BasicSR / Real-ESRGAN releases (``RealESRGAN_x4plus.pth`` …): ``{"params_ema": ...}`` or ``{"params": ...}``,
  ``params_ema`` preferred, as BasicSR does;
- other wrappers (``state_dict``, ``model``, ``net_g``, ``generator``, ``ema`` …): the sub-dictionary of tensors whose
  keys match the model is taken, preferred names first;
- ``module.`` (DataParallel/DDP) and ``_orig_mod.`` (``torch.compile``) prefixes are stripped; the
  ``n_averaged`` counter of ``torch.optim.swa_utils.AveragedModel`` is ignored.

Mismatches are reported key by key (:class:`LoadReport`); with ``strict=True`` they raise
:class:`CheckpointMismatchError` naming the file, the architecture and the likely cause (wrong scale, gray vs RGB,
different ``num_blocks``/``num_feat``, another architecture).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputFileError
from ..io.writers.common import atomic_write_file
from .export import unwrap_model
from .generators.grain import GRAIN_KEY, GrainGenerator

__all__ = [
    "load_network_weights",
    "grain_for_weights",
    "read_weight_file",
    "save_generator_weights",
    "save_state_dict",
    "atomic_torch_save",
    "extract_state_dict",
    "LoadReport",
    "CheckpointMismatchError",
    "PREFERRED_KEYS",
]

#: wrapper keys tried in this order when no ``key`` is given (``params_ema`` first, as BasicSR)
PREFERRED_KEYS = ("params_ema", "params", "ema", "state_dict", "model", "net_g", "generator", "netG", "g", "net")
_STRIP_PREFIXES = ("module.", "_orig_mod.")
_IGNORED_KEYS = ("n_averaged",)


class CheckpointMismatchError(InputFileError):
    """Weights do not fit the network (strict loading). ``.report`` holds the :class:`LoadReport`."""

    def __init__(self, path: Any, problem: str, hint: str | None = None, report: LoadReport | None = None) -> None:
        super().__init__(path, problem, hint)
        self.report = report

    def __reduce__(self):
        return (self.__class__, (self.path, self.problem, self.hint, self.report))


@dataclass
class LoadReport:
    """What :func:`load_network_weights` did.

    Attributes:
        source: file path, or ``"<state dict>"``.
        architecture: the model's description, e.g. ``"RRDBNet(scale=4)"``.
        wrapper_key: the top-level key the weights came from (``"params_ema"``, ...) or ``None`` for a plain dict.
        stripped_prefixes: prefixes removed from the keys.
        loaded: keys loaded.
        missing: model keys absent from the checkpoint.
        unexpected: checkpoint keys the model does not have.
        mismatched: ``(key, checkpoint_shape, model_shape)`` for keys with different shapes.
        hints: likely causes of the mismatches.
    """

    source: str
    architecture: str
    wrapper_key: str | None = None
    stripped_prefixes: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every key matched in name and shape."""
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        src = self.source + (f" [{self.wrapper_key}]" if self.wrapper_key else "")
        lines = [f"weights {src} -> {self.architecture}: {len(self.loaded)} tensors loaded"]
        if self.stripped_prefixes:
            lines.append(f"  stripped prefixes: {', '.join(self.stripped_prefixes)}")

        def few(keys: list[str], n: int = 8) -> str:
            return ", ".join(keys[:n]) + (f", ... ({len(keys) - n} more)" if len(keys) > n else "")

        if self.missing:
            lines.append(f"  missing in checkpoint ({len(self.missing)}): {few(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected in checkpoint ({len(self.unexpected)}): {few(self.unexpected)}")
        for k, a, b in self.mismatched[:8]:
            lines.append(f"  shape mismatch {k}: checkpoint {list(a)} vs model {list(b)}")
        if len(self.mismatched) > 8:
            lines.append(f"  ... {len(self.mismatched) - 8} more shape mismatches")
        for h in self.hints:
            lines.append(f"  likely cause: {h}")
        return "\n".join(lines)


def _describe(model: nn.Module) -> str:
    parts = []
    for attr in ("spatial_dims", "scale"):
        if hasattr(model, attr):
            parts.append(f"{attr}={getattr(model, attr)}")
    return f"{type(model).__name__}({', '.join(parts)})"


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and sum(isinstance(v, torch.Tensor) for v in obj.values()) >= max(1, len(obj) - len(_IGNORED_KEYS))
    )


def _strip(sd: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], list[str]]:
    out: dict[str, torch.Tensor] = {}
    stripped: set[str] = set()
    for k, v in sd.items():
        if k in _IGNORED_KEYS or not isinstance(v, torch.Tensor):
            continue
        changed = True
        while changed:
            changed = False
            for p in _STRIP_PREFIXES:
                if k.startswith(p):
                    k = k[len(p) :]
                    stripped.add(p)
                    changed = True
        out[k] = v
    return out, sorted(stripped)


def extract_state_dict(
    obj: Any, key: str | None = None, model: nn.Module | None = None, source: str = "<state dict>"
) -> tuple[dict[str, torch.Tensor], str | None, list[str]]:
    """Find the state dict inside a loaded checkpoint object.

    Args:
        obj: what ``torch.load`` returned (or a state dict).
        key: top-level key to use (``"params"``, ``"net_d"``, ...); ``None`` = automatic (see module doc).
        model: when given, automatic selection prefers the sub-dictionary whose keys match this model.
        source: name used in error messages.

    Returns:
        ``(state_dict, wrapper_key, stripped_prefixes)``.

    Raises:
        InputFileError: ``key`` absent, or no state dict found.
    """
    if not isinstance(obj, Mapping):
        raise InputFileError(source, f"holds a {type(obj).__name__}, not a state dict", "save model.state_dict()")
    if key is not None:
        if key not in obj:
            raise InputFileError(source, f"has no key {key!r}", f"available keys: {sorted(map(str, obj))}")
        sub = obj[key]
        if not _is_state_dict(sub):
            raise InputFileError(source, f"entry {key!r} is not a state dict of tensors")
        sd, stripped = _strip(sub)
        return sd, key, stripped
    if _is_state_dict(obj):
        sd, stripped = _strip(obj)
        return sd, None, stripped
    candidates = [k for k, v in obj.items() if _is_state_dict(v)]
    if not candidates:
        raise InputFileError(
            source,
            "contains no state dict of tensors",
            f"top-level keys: {sorted(map(str, obj))[:12]}; pass key=... to choose one",
        )
    ordered = [k for k in PREFERRED_KEYS if k in candidates] + [k for k in candidates if k not in PREFERRED_KEYS]
    if model is not None:
        model_keys = set(model.state_dict())
        for k in ordered:
            sd, stripped = _strip(obj[k])
            if model_keys & set(sd):
                return sd, k, stripped
    sd, stripped = _strip(obj[ordered[0]])
    return sd, ordered[0], stripped


def _block_count(keys: set[str], prefix: str = "body.") -> int | None:
    idx = {int(m.group(1)) for k in keys if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(idx) + 1 if idx else None


def _hints(model: nn.Module, report: LoadReport, ckpt_keys: set[str], model_keys: set[str]) -> list[str]:
    hints: list[str] = []
    name = type(model).__name__
    if not (ckpt_keys & model_keys):
        sample = ", ".join(sorted(ckpt_keys)[:4])
        hints.append(f"no key in common: the checkpoint is for another architecture than {name} (its keys: {sample})")
        if any(k.endswith("weight_orig") for k in ckpt_keys):
            hints.append(
                "it holds spectral-norm discriminator weights (weight_orig/_u/_v): load it into a discriminator"
            )
        return hints
    for k, a, b in report.mismatched:
        if len(a) < 2 or len(a) != len(b):
            continue
        if k.endswith(("conv_first.weight", "body.0.weight", "head.conv.weight")) and a[1] != b[1]:
            r = a[1] / b[1]
            if r in (3, 1 / 3):
                hints.append(
                    f"input channels {a[1]} (checkpoint) vs {b[1]} (model): RGB vs gray — set in_channels, or convert "
                    "RGB weights with rrdbnet_rgb_to_gray"
                )
            elif r in (4, 16, 1 / 4, 1 / 16, 8, 64, 1 / 8, 1 / 64):
                hints.append(
                    f"input channels {a[1]} vs {b[1]}: a pixel-unshuffle front end of another scale — the checkpoint "
                    f"is probably for another scale than {getattr(model, 'scale', '?')} (×4: none, ×2: 2, ×1: 4)"
                )
        elif a[0] != b[0] and a[1:] == b[1:] and (k.startswith(("conv_last", "tail")) or "upconv" in k or
                                                   re.match(r"body\.\d+\.weight", k)):  # fmt: skip
            hints.append(
                f"{k}: {a[0]} vs {b[0]} output channels — another scale (sub-pixel layers have out·scale² channels) "
                "or a different out_channels"
            )
        elif a[0] != b[0] or a[1] != b[1]:
            hints.append(f"{k}: {list(a)} vs {list(b)} — a different width (num_feat / num_grow_ch) or channel count")
            break
    up = re.compile(r"(conv_up\d+|upconv\d+|upsample\.\d+)")
    if any(up.search(k) for k in report.missing + report.unexpected):
        hints.append(
            f"upsampling layers differ: the checkpoint is for another scale than {getattr(model, 'scale', '?')}"
        )
    nb_c, nb_m = _block_count(ckpt_keys), _block_count(model_keys)
    if nb_c and nb_m and nb_c != nb_m and (report.missing or report.unexpected):
        hints.append(f"the checkpoint has {nb_c} body blocks, the model {nb_m}: set num_blocks={nb_c}")
    return list(dict.fromkeys(hints))


def read_weight_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file and what to do.

    Raises:
        InputFileError: the file is missing, or unreadable (truncated, not a torch file, pickled code).
    """
    source = os.fspath(path)
    if not Path(source).is_file():
        raise InputFileError(source, "weight file not found", "check the path (no weights are downloaded)")
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except Exception as e:  # unreadable, truncated or pickled code
        first = (str(e).splitlines() or [""])[0]
        raise InputFileError(
            source,
            f"cannot be read with torch.load(weights_only=True): {type(e).__name__}: {first}",
            "the file must hold tensors only (a state dict); re-save it with torch.save(model.state_dict())",
        ) from None


def load_network_weights(
    model: nn.Module,
    path_or_state: str | os.PathLike | Mapping[str, Any],
    strict: bool = True,
    key: str | None = None,
    map_location: str | torch.device = "cpu",
) -> LoadReport:
    """Load weights into ``model`` from any supported checkpoint layout (see module doc) and report what happened.

    Args:
        model: the network (a DDP/compiled wrapper is unwrapped).
        path_or_state: a file path (``.pt``/``.pth``/``.ckpt``) or an already loaded object/state dict.
        strict: raise :class:`CheckpointMismatchError` on any missing, unexpected or shape-mismatched key;
            otherwise load every key that fits and report the rest.
        key: top-level entry to load (e.g. ``"params"``, ``"params_ema"``, ``"net_d"``); automatic when ``None``.
        map_location: device for ``torch.load``.

    Returns:
        a :class:`LoadReport` (``str(report)`` is readable).

    Raises:
        InputFileError: missing/unreadable file or no state dict inside.
        CheckpointMismatchError: strict mode and the weights do not fit.
    """
    model = unwrap_model(model)
    if isinstance(path_or_state, (str, os.PathLike)):
        source = os.fspath(path_or_state)
        obj = read_weight_file(source, map_location)
    else:
        source, obj = "<state dict>", path_or_state
    sd, wrapper, stripped = extract_state_dict(obj, key=key, model=model, source=source)
    if isinstance(model, GrainGenerator) and not any(k == GRAIN_KEY or k.startswith("generator.") for k in sd):
        # plain generator weights (a PSNR stage) into a generator with grain: the grain keeps its amplitude
        report = load_network_weights(model.generator, sd, strict=strict, map_location=map_location)
        report.source, report.wrapper_key, report.stripped_prefixes = source, wrapper, stripped
        return report
    report = LoadReport(source, _describe(model), wrapper, stripped)
    target = model.state_dict()
    ckpt_keys, model_keys = set(sd), set(target)
    report.missing = [k for k in target if k not in sd]
    report.unexpected = [k for k in sd if k not in target]
    fit = {}
    for k, v in sd.items():
        if k in target:
            if tuple(v.shape) != tuple(target[k].shape):
                report.mismatched.append((k, tuple(v.shape), tuple(target[k].shape)))
            else:
                fit[k] = v
    report.loaded = list(fit)
    if not report.ok:
        report.hints = _hints(model, report, ckpt_keys, model_keys)
        if GRAIN_KEY in ckpt_keys and not isinstance(model, GrainGenerator):
            report.hints.insert(0, "the weights add grain: build the network with grain_for_weights(network, path)")
        if strict:
            raise CheckpointMismatchError(
                source,
                f"weights do not fit {report.architecture}:\n{report}",
                "fix the architecture settings (scale, channels, num_blocks, num_feat) or load with strict=False",
                report,
            )
    model.load_state_dict(fit, strict=False)
    return report


def grain_for_weights(
    network: nn.Module, path_or_state: str | os.PathLike | Mapping[str, Any], map_location: str | torch.device = "cpu"
) -> nn.Module:
    """``network`` wrapped in a :class:`~monai_srgan.networks.GrainGenerator` when the weights carry a grain
    amplitude (GAN weights trained with grain), else ``network`` itself. It only builds the network: load the
    weights into the result with :func:`load_network_weights`."""
    obj = (
        read_weight_file(os.fspath(path_or_state), map_location)
        if isinstance(path_or_state, (str, os.PathLike))
        else path_or_state
    )
    sd, _, _ = extract_state_dict(obj, model=None)
    if GRAIN_KEY not in sd or isinstance(unwrap_model(network), GrainGenerator):
        return network
    return GrainGenerator(network, sd[GRAIN_KEY].tolist())


def save_generator_weights(model: nn.Module, path: str | os.PathLike, key: str | None = None) -> Path:
    """Write the model's state dict atomically (:func:`monai_srgan.io.writers.common.atomic_write_file`).

    Args:
        model: the network (DDP/compiled wrappers are unwrapped; tensors are saved on CPU).
        path: destination, e.g. a bundle's ``models/model.pt``.
        key: ``None`` writes a plain state dict (MONAI bundle ``model.pt``); ``"params_ema"``/``"params"`` wraps it
            as BasicSR does. :func:`load_network_weights` reads both.

    Returns:
        the written path.
    """
    return save_state_dict(unwrap_model(model).state_dict(), path, key)


def save_state_dict(
    state: Mapping[str, torch.Tensor], path: str | os.PathLike, key: str | None = None, half: bool = False
) -> Path:
    """Write a state dict atomically, its tensors detached, on CPU and contiguous (folders are created).

    Args:
        state: the state dict.
        path: destination.
        key: ``None`` writes it plain; a key (``"params_ema"``) wraps it as BasicSR does.
        half: store floating-point tensors as float16 (loading casts them back to the network's dtype).

    Returns:
        the written path.
    """
    sd = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    return atomic_torch_save(sd if key is None else {key: sd}, path)


def atomic_torch_save(obj: Any, path: str | os.PathLike, fsync: bool = False) -> Path:
    """``torch.save`` through :func:`~monai_srgan.io.writers.common.atomic_write_file` (temporary sibling, then
    ``os.replace``): never a half-written file; folders are created. The one torch writer of the package (weights,
    training checkpoints, self-supervised models).

    Args:
        obj: what to save (tensors and plain containers, to load with ``weights_only=True``).
        path: destination; any file name works, with or without an extension.
        fsync: flush to disk before the rename (training checkpoints, which must survive a power cut).

    Returns:
        the written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        # through a file object: given a path, torch.save names its archive after the file's stem, which is empty
        # for the ".srgan-tmp-…-NAME" sibling of a destination without an extension ("invalid file name")
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    return atomic_write_file(path, write, overwrite=True, fsync=fsync)
