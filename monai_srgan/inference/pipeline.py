"""The one inference pipeline: load → normalise → tiled generator → inverse normalisation → writer.

Used by the ``monai-srgan`` command line, by every bundle's ``inference.json`` (``from_bundle``) and by the MONAI Label
task. The output covers exactly the input's field of view at ``scale`` × its size (no crop, no resize), its affine
and ``srgan_spacing`` are corrected for the scale (MONAI keeps the LR affine), and its values are in the source's value
domain, ready for a writer.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.inference.exported import ExportedGenerator
from monai_srgan.inference.formats import check_slice_axis, output_dtype_for, scale_tuple, sr_affine
from monai_srgan.inference.loading import load_generator, network_in_channels
from monai_srgan.inference.tiling import SRInferer
from monai_srgan.inference.value_guard import CLAMP_MODES, OutputValueGuard
from monai_srgan.io.writers import write_image
from monai_srgan.io.writers.formats import FORMAT_EXTENSIONS, output_format_for
from monai_srgan.networks.generators.grain import GrainGenerator, grain_applied_to
from monai_srgan.networks.generators.self_ensemble import SelfEnsemble
from monai_srgan.transforms.intensity import ScaleToUnitRange, invert_normalization
from monai_srgan.utils.flags import as_flag
from monai_srgan.utils.precision import resolve_dtype

__all__ = ["SRInferencePipeline", "sr_affine", "output_format_for", "FORMAT_EXTENSIONS", "load_generator"]

logger = logging.getLogger(__name__)

#: tile size (input pixels) when none is given: large enough that the context margins cost little (≈ 8 % at a
#: receptive field of 10), small enough that one tile's activations stay in the tens of MB
DEFAULT_TILE_SIZE = 256


class SRInferencePipeline:
    """Load → normalise → tiled generator (:class:`SRInferer`) → inverse normalisation, plus writers.

    Args:
        network: the generator (a module with ``forward(lr) -> sr``; ``.scale``, ``.receptive_field``,
            ``.spatial_dims``/``.in_channels`` are used when present), or a loaded exported model.
        scale: SR factor (int, or one per spatial axis for 3D through-plane SR); must match the network's output.
        normalize: array transform applied to the loaded ``MetaTensor`` that writes ``meta["srgan_norm"]``
            (default: :class:`monai_srgan.transforms.intensity.ScaleToUnitRange`, [0, 1] over
            ``srgan_value_min``/``srgan_value_max``). Its inverse is :func:`invert_normalization`.
        model_name: named in the outputs (DICOM DerivationDescription, reports).
        tile_size: tile size in input pixels (int or per axis; default :data:`DEFAULT_TILE_SIZE`).
        overlap: ignored (kept for compatibility): tiles abut, the context margin makes them exact.
        context: extra pixels around each tile (default: the receptive field): tiles are then exact.
        receptive_field: override ``network.receptive_field``.
        sw_batch_size: tiles per generator call (default: 1 on the CPU, where one tile per call is fastest; 4 on a
            GPU).
        device: where the generator runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``); outputs are gathered on the CPU.
        dtype: ``"auto"`` (default; ``None`` means the same): bf16 autocast on CPUs with native, faster bf16, fp16
            autocast on CUDA, else float32 (:func:`monai_srgan.utils.precision.resolve_dtype`); float32 for exported
            (TorchScript/ONNX) models and, on CPUs, for 3D networks (bf16 accuracy measured for 2D only). Or
            ``"float32"``, ``"bfloat16"``, ``"float16"`` (autocast, first convolution in float32).
        channels_last: run the network and its tiles in channels-last memory format (default: for 2D networks).
        compress_level: zlib level of PNG/TIFF outputs written by :meth:`write` (0–9; default 1: fast, lossless,
            files ≈ 1/3 larger than level 6).
        max_buffer_mb: ignored (kept for compatibility): tiles go straight into the output array.
        in_channels: channels the network takes (default ``network.in_channels`` when present).
        spatial_dims: 2 or 3 (default ``network.spatial_dims``, else the length of ``scale``, else 2). A 2D network
            on a volume runs slice by slice over the last axis.
        output_dtype: ``"auto"`` (the source's integer dtype when the value domain is integral, else float32) or a
            NumPy dtype name.
        loader: callable turning a path / list of paths / InputItem into a ``MetaTensor``
            (default :class:`monai_srgan.transforms.LoadMedicalImage`).
        progress: show a per-tile progress bar.
        check_geometry: for a 3D model with a per-axis scale (through-plane SR), refuse volumes whose header gives
            no voxel spacing (``srgan_spacing_known``) and volumes whose upsampled axis is finer than another axis
            (the slices are on another axis: reorient first).
        clamp: ``"data"`` (default) keeps the output inside the source's data range (a DICOM series: the whole
            series'); ``"range"`` only inside the representable range of the source
            (:mod:`monai_srgan.inference.value_guard` says why).
        keep_flat: where the source is exactly constant over a 3×3 (3×3×3) neighbourhood, the output takes that
            constant (no texture invented in zero background or air).
        self_ensemble: run the geometric self-ensemble (:class:`~monai_srgan.networks.SelfEnsemble`, EDSR+): the mean
            of the 8 flipped and rotated passes, 8× the time, a little closer to the truth for PSNR weights
            (docs/results.md). The model name in reports and DICOM headers says so. Eager models only.
    """

    def __init__(
        self,
        network: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
        scale: int | Sequence[int],
        *,
        normalize: Callable[[MetaTensor], MetaTensor] | None = None,
        model_name: str = "model",
        tile_size: int | Sequence[int] | None = None,
        overlap: int | None = None,
        context: int | None = None,
        receptive_field: int | None = None,
        sw_batch_size: int | None = None,
        device: str | torch.device | None = "cpu",
        dtype: str | torch.dtype | None = "auto",
        channels_last: bool | None = None,
        compress_level: int = 1,
        max_buffer_mb: float | None = None,
        in_channels: int | None = None,
        spatial_dims: int | None = None,
        output_dtype: str = "auto",
        loader: Callable[[Any], MetaTensor] | None = None,
        progress: bool = False,
        check_geometry: bool = True,
        clamp: str | None = "data",
        keep_flat: bool | None = True,
        self_ensemble: bool | None = False,
    ) -> None:
        clamp = clamp or "data"
        if clamp not in CLAMP_MODES:
            raise ConfigError(f"clamp={clamp!r}: choose one of {', '.join(CLAMP_MODES)}")
        self.clamp, self.keep_flat = clamp, keep_flat is None or as_flag(keep_flat, "keep_flat")
        #: the weight file the network was loaded from (set by the constructors; finds its uncertainty calibration)
        self.weights_path: str | None = None
        self.device = torch.device(device or "cpu")
        if isinstance(network, torch.nn.Module):
            network = network.to(self.device).eval()
        if isinstance(network, GrainGenerator) and float(network.sigma.max()) > 0:
            sigma = "/".join(f"{v:.4g}" for v in network.sigma.unique().tolist())
            model_name = f"{model_name} + synthesised grain sigma {sigma}"
        self.self_ensemble = as_flag(self_ensemble, "self_ensemble")
        if self.self_ensemble:
            if not _autocastable(network):
                raise ConfigError(
                    f"self_ensemble needs the model as a PyTorch module, not an exported {type(network).__name__}: "
                    "give the .pt weights, or run without self_ensemble"
                )
            network = grain_applied_to(network, SelfEnsemble)
            ensemble = network.generator if isinstance(network, GrainGenerator) else network
            model_name = f"{model_name} self-ensemble {len(ensemble.transforms)}"
        self.network = network
        net_scale = getattr(network, "scale", None)
        if net_scale is not None and scale_tuple(net_scale) != scale_tuple(scale)[: len(scale_tuple(net_scale))]:
            raise ConfigError(
                f"scale={scale} but the network {type(network).__name__} upsamples x{net_scale}: "
                "set the scale the model was trained for"
            )
        self.scale = scale
        self.model_name = model_name
        self.normalize = normalize
        self.in_channels = in_channels if in_channels is not None else network_in_channels(network)
        if spatial_dims is None:
            spatial_dims = getattr(network, "spatial_dims", None)
        if spatial_dims is None:
            spatial_dims = len(scale) if isinstance(scale, Sequence) and not isinstance(scale, str) else 2
        self.spatial_dims = int(spatial_dims)
        self.output_dtype = output_dtype
        self.check_geometry = bool(check_geometry)
        self._loader = loader
        self.tile_size = DEFAULT_TILE_SIZE if tile_size is None else tile_size
        self.compress_level = int(compress_level)
        plain = _autocastable(network)
        auto = dtype is None or str(dtype).lower() == "auto"
        # auto: exported models run as they are; bf16 on CPUs was measured (≤ 0.01 dB) for 2D networks only
        if auto and (not plain or (self.device.type == "cpu" and self.spatial_dims != 2)):
            dtype = "float32"
        self.dtype = resolve_dtype(dtype, self.device)
        if channels_last is None:
            channels_last = plain and self.spatial_dims == 2
        if channels_last and plain and self.spatial_dims == 2:
            self.network = network.to(memory_format=torch.channels_last)
        if sw_batch_size is None:
            sw_batch_size = 1 if self.device.type == "cpu" else 4
        self.inferer = SRInferer(
            scale=scale,
            roi_size=self.tile_size,
            overlap=overlap,
            context=context,
            receptive_field=receptive_field,
            sw_batch_size=sw_batch_size,
            device=self.device,
            dtype=self.dtype,
            channels_last=bool(channels_last),
            progress=progress,
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_bundle(
        cls,
        bundle_dir: str | os.PathLike,
        config_file: str | Sequence[str] | None = None,
        weights: str | os.PathLike | None = None,
        **overrides: Any,
    ) -> SRInferencePipeline:
        """Build the pipeline from a MONAI bundle's ``configs/inference.json`` (ids: docs/inference.md).

        The config's ``pipeline`` component when it has one (the shipped bundles), with ``bundle_root``,
        ``model_path`` and ``pipeline#<argument>`` set from the arguments; else assembled from the ids ``network_def``
        and ``scale`` (required), ``normalize``, ``model_name``, ``tile_size``, ``tile_overlap``, ``sw_batch_size``,
        ``in_channels``, ``spatial_dims``, ``self_ensemble``. Weights: ``weights`` argument, else id ``model_path``,
        else ``<bundle>/models/model.pt``. Implemented by
        :func:`monai_srgan.inference.bundle_config.pipeline_from_bundle`.

        Args:
            bundle_dir: the bundle folder (holding ``configs/`` and ``models/``), or a shipped bundle's name
                (``cxr_sr``, ``retina_sr``, ``ct_mr_sr_3d``).
            config_file: config file(s) relative to the bundle (default ``configs/inference.json``).
            weights: weight file to use instead of the bundle's.
            overrides: keyword arguments of :class:`SRInferencePipeline` (``device``, ``tile_size``, ...); ``scale``
                here is only checked against the bundle's.
        """
        from monai_srgan.inference.bundle_config import pipeline_from_bundle

        return pipeline_from_bundle(cls, bundle_dir, config_file, weights, **overrides)

    @classmethod
    def from_model_file(
        cls,
        weights: str | os.PathLike,
        network: str | torch.nn.Module = "srresnet",
        scale: int | Sequence[int] | None = None,
        network_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> SRInferencePipeline:
        """Build the pipeline from a weight file (or an exported model) and a registry network name."""
        model = load_generator(weights, network, scale, **dict(network_kwargs or {}))
        if scale is None:
            scale = getattr(model, "scale", None)
            if scale is None:
                raise ConfigError(f"the scale of '{weights}' is unknown: pass --scale")
        kwargs.setdefault("model_name", getattr(model, "model_name", None) or Path(weights).name)
        pipe = cls(model, scale, **kwargs)
        pipe.weights_path = os.fspath(weights)
        return pipe

    # ------------------------------------------------------------------ steps
    def load(self, source: Any) -> MetaTensor:
        """Load a path, a list of DICOM files of one series, an ``InputItem`` or pass a ``MetaTensor`` through."""
        if isinstance(source, MetaTensor):
            return source
        if self._loader is None:
            from monai_srgan.transforms import LoadMedicalImage

            self._loader = LoadMedicalImage()
        return self._loader(source)

    def _normalize(self, image: MetaTensor) -> tuple[torch.Tensor, Mapping[str, Any]]:
        if self.normalize is None:
            self.normalize = _default_normalize()
        out = self.normalize(image)
        params = out.meta.get("srgan_norm") if isinstance(out, MetaTensor) else None
        if params is None:
            raise ConfigError(
                f"normalize={type(self.normalize).__name__} wrote no meta['srgan_norm']: use a "
                "monai_srgan.transforms.intensity transform so that the output can be mapped back"
            )
        return out.as_subclass(torch.Tensor).float(), params

    def check_input(self, image: MetaTensor) -> tuple[MetaTensor, int, str]:
        """Check a loaded image against the model: returns ``(image, spatial dims, how)``.

        ``how`` is ``"native"`` (the model's own dimensionality) or ``"slices"`` (a 2D model on a volume, slice by
        slice). A grey image stored as equal colour channels comes back as one channel for a one-channel model.

        Raises:
            InputFileError: wrong dimensionality or channels, NaN or infinite values, or (3D with ``check_geometry``)
                a slice axis that does not fit the model's per-axis scale; each names the file.
        """
        where = _where(image)
        nsp = image.ndim - 1
        if nsp not in (2, 3):
            raise InputFileError(where, f"has shape {tuple(image.shape)}; expected (C, H, W) or (C, H, W, D)")
        if self.in_channels == 1 and image.shape[0] in (3, 4) and _equal_channels(image):
            image = _as_grey(image)
        if self.in_channels is not None and image.shape[0] != int(self.in_channels):
            raise InputFileError(
                where,
                f"has {image.shape[0]} channel(s) but the model takes {self.in_channels}",
                "use a model trained for this kind of image (e.g. retina_sr for RGB, cxr_sr for grey)",
            )
        if not bool(torch.isfinite(image.as_subclass(torch.Tensor)).all()):
            raise InputFileError(where, "contains NaN or infinite values", "fix or remove the file")
        if nsp == self.spatial_dims:
            if nsp == 3 and self.check_geometry:
                check_slice_axis(image, scale_tuple(self.scale), where)
            return image, nsp, "native"
        if nsp == 3 and self.spatial_dims == 2:
            return image, nsp, "slices"
        raise InputFileError(
            where, f"is {nsp}D but the model is {self.spatial_dims}D", "use a 2D model for images, 3D for volumes"
        )

    def scales_for(self, image: MetaTensor) -> tuple[int, ...]:
        """Per-axis SR factors for ``image`` (a 2D model on a volume keeps the slice axis)."""
        nsp = image.ndim - 1
        s = scale_tuple(self.scale)
        if len(s) == 1:
            s = s * self.spatial_dims
        if nsp == 3 and self.spatial_dims == 2:
            s = (*s[:2], 1)
        return tuple(int(v) for v in s)

    @torch.inference_mode()
    def predict(self, image: MetaTensor | Any, progress: Callable[[int, int], None] | None = None) -> MetaTensor:
        """Super-resolve one image: returns a ``MetaTensor`` ``(C, *scale·spatial)`` in the source value domain.

        ``progress(tiles_done, tiles_total)`` is called after every tile (e.g. a
        :class:`~monai_srgan.inference.tiling.TileProgress`).

        The meta is the input's with ``affine`` and ``srgan_spacing`` corrected, ``spatial_shape`` updated,
        ``srgan_sr_scale`` (per axis), ``srgan_model``, ``srgan_inference_s`` (seconds), ``srgan_clamped_fraction``
        and ``srgan_flat_fraction`` (output pixels changed by the ``clamp`` and ``keep_flat`` rules) added.
        """
        t0 = time.perf_counter()
        image = self.load(image)
        image, nsp, how = self.check_input(image)
        scales = self.scales_for(image)
        meta = dict(image.meta)
        x, params = self._normalize(image)
        src = image.as_subclass(torch.Tensor)
        if how == "slices":
            batch, src = x.permute(3, 0, 1, 2), src.permute(3, 0, 1, 2)  # (D, C, H, W): slices as a batch
        else:
            batch, src = x[None], src[None]
        out_dt = output_dtype_for(meta, self.output_dtype)
        lo, hi = meta.get("srgan_value_min"), meta.get("srgan_value_max")
        sr_spatial = [int(n * s) for n, s in zip(image.shape[1:], scales)]
        out: np.ndarray | None = None
        representable = (float(lo), float(hi)) if lo is not None and hi is not None else None
        guard = OutputValueGuard(src, scales[: src.ndim - 2], representable, self.clamp, self.keep_flat)
        try:
            # every tile goes straight into the one output array, in the output dtype: no float copy of the image
            for n, sl, y in self.inferer.iter_tiles(batch, self.network, progress):
                if out is None:
                    out = np.empty((y.shape[0], *sr_spatial), dtype=out_dt)
                v = invert_normalization(y, params, channel_dim=0)
                v = v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else torch.as_tensor(v)
                v = guard(n if how == "slices" else 0, sl, v)
                if out_dt.kind in "ui":
                    v = v.round_()
                dst = (slice(None), *sl, n) if how == "slices" else (slice(None), *sl)
                out[dst] = v.numpy()
        except RuntimeError as e:
            msg = str(e)
            if "channels" in msg or "size mismatch" in msg or "shape" in msg:
                raise InputFileError(
                    _where(image), f"the model cannot take this image ({msg.splitlines()[0]})", "wrong channels?"
                ) from e
            raise
        assert out is not None
        affine = sr_affine(image.affine, image.shape[1:], scales)
        meta.pop("affine", None)
        meta["spatial_shape"] = np.asarray(sr_spatial)
        sp = meta.get("srgan_spacing")
        if sp is not None:
            meta["srgan_spacing"] = [float(a) / s for a, s in zip(sp, scales)] + list(sp[len(scales) :])
        meta["srgan_sr_scale"] = list(scales)
        meta["srgan_model"] = self.model_name
        meta["srgan_clamped_fraction"] = guard.clamped_fraction
        meta["srgan_flat_fraction"] = guard.flat_fraction
        meta["srgan_inference_s"] = time.perf_counter() - t0
        return MetaTensor(torch.from_numpy(out), affine=affine, meta=meta)

    __call__ = predict

    def write(
        self,
        sr: MetaTensor,
        out_path: str | os.PathLike,
        fmt: str = "same",
        **writer_kwargs: Any,
    ) -> Path:
        """Write ``sr`` (the output of :meth:`predict`) atomically to ``out_path`` (file, or folder for DICOM)."""
        writer_kwargs.setdefault("model_name", self.model_name)
        fmt = output_format_for(sr.meta, fmt)
        if fmt in ("png", "tiff"):
            writer_kwargs.setdefault("compress_level", self.compress_level)
        return write_image(sr, out_path, fmt, **writer_kwargs)

    def run(self, source: Any, out_path: str | os.PathLike, fmt: str = "same", **writer_kwargs: Any) -> Path:
        """Load, super-resolve and write one input; returns the written path."""
        return self.write(self.predict(source), out_path, fmt, **writer_kwargs)


def _autocastable(network: Any) -> bool:
    """True for an eager ``nn.Module`` (autocast and memory formats apply); False for exported/scripted models."""
    return isinstance(network, torch.nn.Module) and not isinstance(network, (ExportedGenerator, torch.jit.ScriptModule))


def _where(image: Any) -> str | None:
    meta = getattr(image, "meta", {}) or {}
    files = meta.get("srgan_source_files")
    if files and len(files) > 1:
        return os.path.dirname(os.fspath(files[0])) or os.fspath(files[0])
    f = meta.get("filename_or_obj")
    return os.fspath(f) if isinstance(f, (str, os.PathLike)) else None


def _equal_channels(image: MetaTensor) -> bool:
    """True when every colour channel equals the first: a grey image stored as RGB/RGBA (alpha already dropped)."""
    x = image.as_subclass(torch.Tensor)
    return all(torch.equal(x[0], x[c]) for c in range(1, min(3, x.shape[0])))


def _as_grey(image: MetaTensor) -> MetaTensor:
    """The first channel of a grey image stored as colour, with a warning for the report row."""
    meta = dict(image.meta)
    note = f"grey image stored as {image.shape[0]}-channel colour (all channels equal): processed as 1 channel"
    logger.warning("%s: %s", _where(image), note)
    meta["srgan_warnings"] = [*list(meta.get("srgan_warnings") or []), note]
    meta["srgan_photometric"] = "L"
    grey = MetaTensor(image.as_subclass(torch.Tensor)[:1].clone(), meta=meta)
    grey.affine = image.affine
    return grey


def _default_normalize() -> Callable[[MetaTensor], MetaTensor]:
    return ScaleToUnitRange()
