"""The one inference pipeline: load → normalise → tiled generator → inverse normalisation → writer.

Used by the ``monai-srgan`` command line, by every bundle's ``inference.json`` (``from_bundle``) and by the MONAI Label
task. The output covers exactly the input's field of view at ``scale`` × its size (no crop, no resize), its affine
and ``srgan_spacing`` are corrected for the scale (MONAI keeps the LR affine), and its values are in the source's value
domain, ready for a writer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from monai_srgan.errors import ConfigError, InputFileError
from monai_srgan.inference.tiling import SRInferer

__all__ = ["SRInferencePipeline", "sr_affine", "output_format_for", "FORMAT_EXTENSIONS", "load_generator"]

#: output formats and the extension each writer uses (``dicom`` writes a folder)
FORMAT_EXTENSIONS = {"dicom": "", "png": ".png", "jpeg": ".jpg", "tiff": ".tif", "nifti": ".nii.gz"}
_SAME = {
    "dicom": "dicom",
    "dicom_series": "dicom",
    "png": "png",
    "jpeg": "jpeg",
    "tiff": "tiff",
    "bmp": "png",
    "nifti": "nifti",
}


def output_format_for(meta: Mapping[str, Any], fmt: str = "same") -> str:
    """Resolve ``fmt`` (``"same"`` keeps the input's format) to one of :data:`FORMAT_EXTENSIONS`."""
    fmt = str(fmt).lower()
    if fmt in ("jpg",):
        fmt = "jpeg"
    if fmt in ("tif",):
        fmt = "tiff"
    if fmt in ("nii", "nii.gz"):
        fmt = "nifti"
    if fmt == "same":
        src = str(meta.get("srgan_format", "png"))
        fmt = _SAME.get(src, "nifti" if len(meta.get("spatial_shape", ())) == 3 else "png")
    if fmt not in FORMAT_EXTENSIONS:
        raise ConfigError(f"format={fmt!r}: choose one of same, {', '.join(FORMAT_EXTENSIONS)}")
    return fmt


def sr_affine(affine: torch.Tensor | np.ndarray, in_shape: Sequence[int], scale: Sequence[int]) -> torch.Tensor:
    """Affine of the SR output: spacing ÷ scale and the origin moved to the centre of the new first pixel."""
    from monai_srgan.transforms.resize import rescale_affine

    out_shape = [int(n * s) for n, s in zip(in_shape, scale)]
    return rescale_affine(torch.as_tensor(np.asarray(affine)), list(in_shape), out_shape)


def load_generator(
    weights: str | os.PathLike,
    network: str | torch.nn.Module = "srresnet",
    scale: int | Sequence[int] | None = None,
    **network_kwargs: Any,
) -> torch.nn.Module:
    """Build a generator and load weights into it (``torch.load(weights_only=True)``, ``params_ema`` preferred).

    Also opens models exported by ``monai-srgan export`` (``.ts``/TorchScript or ``.onnx``), see
    :func:`monai_srgan.inference.exported.load_exported`.

    Args:
        weights: checkpoint or state-dict file, or an exported model.
        network: registry name (``get_generator``) or an instantiated module.
        scale: SR factor (passed to the generator constructor when ``network`` is a name).
        network_kwargs: further constructor arguments (``spatial_dims``, ``in_channels``, ``out_channels``, ...).
    """
    from monai_srgan.inference.exported import is_exported, load_exported

    if is_exported(weights):
        return load_exported(weights)
    if isinstance(network, str):
        from monai_srgan.networks import get_generator

        kw = {"spatial_dims": 2, "in_channels": 1, "out_channels": None, **network_kwargs}
        if kw["out_channels"] is None:
            kw["out_channels"] = kw["in_channels"]
        model = get_generator(network, scale=scale if scale is not None else 4, **kw)
    else:
        model = network
    from monai_srgan.networks import load_network_weights

    if not os.path.isfile(weights):
        raise InputFileError(weights, "model weight file not found", "give the path of a trained checkpoint")
    try:
        load_network_weights(model, os.fspath(weights), strict=True)
    except InputFileError:
        raise
    except Exception as e:  # noqa: BLE001 - report which file does not fit which network
        raise ConfigError(
            f"weights '{weights}' do not fit network {type(model).__name__} ({e}); check --network/--scale "
            "and the architecture options the model was trained with"
        ) from e
    return model


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
        tile_size: tile size in input pixels (int or per axis).
        overlap: tile overlap in input pixels (default: the generator's receptive field).
        context: extra pixels around each tile (default: the receptive field): tiles are then exact.
        receptive_field: override ``network.receptive_field``.
        sw_batch_size: tiles per generator call.
        device: where the generator runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``); outputs are gathered on the CPU.
        dtype: generator dtype (``"float32"``, ``"float16"``, ``"bfloat16"``).
        max_buffer_mb: float buffer bound per stripe (see :class:`SRInferer`).
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
    """

    def __init__(
        self,
        network: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
        scale: int | Sequence[int],
        *,
        normalize: Callable[[MetaTensor], MetaTensor] | None = None,
        model_name: str = "model",
        tile_size: int | Sequence[int] = 192,
        overlap: int | None = None,
        context: int | None = None,
        receptive_field: int | None = None,
        sw_batch_size: int = 4,
        device: str | torch.device | None = "cpu",
        dtype: str | torch.dtype | None = None,
        max_buffer_mb: float = 512.0,
        in_channels: int | None = None,
        spatial_dims: int | None = None,
        output_dtype: str = "auto",
        loader: Callable[[Any], MetaTensor] | None = None,
        progress: bool = False,
        check_geometry: bool = True,
    ) -> None:
        self.device = torch.device(device or "cpu")
        if isinstance(network, torch.nn.Module):
            network = network.to(self.device).eval()
            if dtype is not None:
                network = network.to(getattr(torch, str(dtype).replace("torch.", "")))
        self.network = network
        net_scale = getattr(network, "scale", None)
        if (
            net_scale is not None
            and _as_tuple(net_scale) != _as_tuple(scale)[: len(_as_tuple(net_scale))]
            and (_as_tuple(net_scale) != _as_tuple(scale))
        ):
            raise ConfigError(
                f"scale={scale} but the network {type(network).__name__} upsamples x{net_scale}: "
                "set the scale the model was trained for"
            )
        self.scale = scale
        self.model_name = model_name
        self.normalize = normalize
        self.in_channels = in_channels if in_channels is not None else _network_in_channels(network)
        if spatial_dims is None:
            spatial_dims = getattr(network, "spatial_dims", None)
        if spatial_dims is None:
            spatial_dims = len(scale) if isinstance(scale, Sequence) and not isinstance(scale, str) else 2
        self.spatial_dims = int(spatial_dims)
        self.output_dtype = output_dtype
        self.check_geometry = bool(check_geometry)
        self._loader = loader
        self.tile_size = tile_size
        self.inferer = SRInferer(
            scale=scale,
            roi_size=tile_size,
            overlap=overlap,
            context=context,
            receptive_field=receptive_field,
            sw_batch_size=sw_batch_size,
            device=self.device,
            dtype=dtype,
            max_buffer_mb=max_buffer_mb,
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

        Required ids: ``network_def`` (the generator) and ``scale``. Optional ids: ``normalize`` (array transform
        writing ``srgan_norm``), ``model_name``, ``tile_size``, ``tile_overlap``, ``sw_batch_size``, ``in_channels``,
        ``spatial_dims``. Weights: ``weights`` argument, else id ``model_path``, else ``<bundle>/models/model.pt``.
        ``bundle_root`` is set to ``bundle_dir``.

        Args:
            bundle_dir: the bundle folder (holding ``configs/`` and ``models/``).
            config_file: config file(s) relative to the bundle (default ``configs/inference.json``).
            weights: weight file to use instead of the bundle's.
            overrides: keyword arguments of :class:`SRInferencePipeline` (``device``, ``tile_size``, ...); ``scale``
                here is only checked against the bundle's.
        """
        from monai.bundle import ConfigParser

        bundle_dir = Path(bundle_dir)
        files = config_file or ["configs/inference.json"]
        files = [files] if isinstance(files, (str, os.PathLike)) else list(files)
        paths = [Path(f) if Path(f).is_absolute() else bundle_dir / f for f in files]
        for p in paths:
            if not p.is_file():
                raise InputFileError(p, "bundle config not found", f"is '{bundle_dir}' a bundle folder?")
        parser = ConfigParser()
        parser.read_config([str(p) for p in paths])
        parser["bundle_root"] = str(bundle_dir)
        for key in ("network_def", "scale"):
            if key not in parser:
                raise ConfigError(f"bundle config {paths[0]} defines no '{key}' (see docs/inference.md)")
        scale = parser.get_parsed_content("scale")
        expected = overrides.pop("scale", None)
        if expected is not None and _as_tuple(expected) != _as_tuple(scale):
            raise ConfigError(f"scale={expected} was asked for but bundle '{bundle_dir}' is x{scale}")
        network = parser.get_parsed_content("network_def")
        if weights is None:
            weights = parser.get_parsed_content("model_path") if "model_path" in parser else None
            weights = weights or bundle_dir / "models" / "model.pt"
        network = load_generator(weights, network)
        kw: dict[str, Any] = {"model_name": f"{bundle_dir.name}:{Path(weights).name}"}
        for cfg_id, arg in (
            ("normalize", "normalize"),
            ("model_name", "model_name"),
            ("tile_size", "tile_size"),
            ("tile_overlap", "overlap"),
            ("sw_batch_size", "sw_batch_size"),
            ("in_channels", "in_channels"),
            ("spatial_dims", "spatial_dims"),
        ):
            if cfg_id in parser:
                kw[arg] = parser.get_parsed_content(cfg_id)
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(network, scale, **kw)

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
        return cls(model, scale, **kwargs)

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

    def _check_input(self, image: MetaTensor) -> tuple[int, str]:
        where = _where(image)
        nsp = image.ndim - 1
        if nsp not in (2, 3):
            raise InputFileError(where, f"has shape {tuple(image.shape)}; expected (C, H, W) or (C, H, W, D)")
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
                self._check_slice_axis(image, where)
            return nsp, "native"
        if nsp == 3 and self.spatial_dims == 2:
            return nsp, "slices"
        raise InputFileError(
            where, f"is {nsp}D but the model is {self.spatial_dims}D", "use a 2D model for images, 3D for volumes"
        )

    def _check_slice_axis(self, image: MetaTensor, where: str | None) -> None:
        """Through-plane models need to know that their upsampled axis is the thick-slice axis of the volume."""
        s = _as_tuple(self.scale)
        if len(s) != 3 or len(set(s)) == 1:
            return  # isotropic SR: every axis alike
        axes = [k for k in range(3) if s[k] == max(s)]
        known = image.meta.get("srgan_spacing_known")
        sp = image.meta.get("srgan_spacing")
        if known is not None and not all(bool(k) for k in list(known)[:3]):
            raise InputFileError(
                where,
                f"the header gives no voxel spacing (axes known: {list(known)[:3]}), so the slice axis of this "
                f"volume cannot be checked; the model upsamples axis {axes} (scale {list(s)}) only",
                "write the spacing into the header (NIfTI pixdim + sform/qform; DICOM PixelSpacing and "
                "ImagePositionPatient/SliceThickness) with the thick slices on that axis, or pass "
                "check_geometry=False if you are sure",
            )
        if sp is None or len(sp) < 3:
            return
        sp = [float(v) for v in sp[:3]]
        other = max(sp[k] for k in range(3) if k not in axes)
        finest_sr = min(sp[k] for k in axes)
        if finest_sr < 0.8 * other:
            thick = int(np.argmax(sp))
            raise InputFileError(
                where,
                f"voxel spacing {sp} mm: the model upsamples axis {axes} ({finest_sr:g} mm) but axis {thick} is the "
                f"thick-slice axis ({sp[thick]:g} mm)",
                f"reorient the volume so that the slices lie along axis {axes[0]} (e.g. monai.transforms.Orientation "
                "or nibabel as_closest_canonical for axial data), or pass check_geometry=False",
            )

    def scales_for(self, image: MetaTensor) -> tuple[int, ...]:
        """Per-axis SR factors for ``image`` (a 2D model on a volume keeps the slice axis)."""
        nsp = image.ndim - 1
        s = _as_tuple(self.scale)
        if len(s) == 1:
            s = s * self.spatial_dims
        if nsp == 3 and self.spatial_dims == 2:
            s = (*s[:2], 1)
        return tuple(int(v) for v in s)

    def _out_dtype(self, meta: Mapping[str, Any]) -> np.dtype:
        if self.output_dtype != "auto":
            return np.dtype(self.output_dtype)
        src = str(meta.get("srgan_dtype", "float32"))
        try:
            dt = np.dtype(src)
        except TypeError:
            return np.dtype(np.float32)
        slope = float(meta.get("srgan_rescale_slope", 1.0))
        icpt = float(meta.get("srgan_rescale_intercept", 0.0))
        lo, hi = meta.get("srgan_value_min"), meta.get("srgan_value_max")
        if dt.kind in "ui" and slope == 1.0 and icpt == round(icpt) and lo is not None and hi is not None:
            info = np.iinfo(dt)
            if info.min <= float(lo) and float(hi) <= info.max:
                return dt
        return np.dtype(np.float32)

    @torch.inference_mode()
    def predict(self, image: MetaTensor | Any) -> MetaTensor:
        """Super-resolve one image: returns a ``MetaTensor`` ``(C, *scale·spatial)`` in the source value domain.

        The meta is the input's with ``affine`` and ``srgan_spacing`` corrected, ``spatial_shape`` updated,
        ``srgan_sr_scale`` (per axis), ``srgan_model`` and ``srgan_inference_s`` (seconds) added.
        """
        from monai_srgan.transforms.intensity import invert_normalization

        t0 = time.perf_counter()
        image = self.load(image)
        nsp, how = self._check_input(image)
        scales = self.scales_for(image)
        meta = dict(image.meta)
        x, params = self._normalize(image)
        if how == "slices":
            batch = x.permute(3, 0, 1, 2)  # (D, C, H, W): slices as a batch
        else:
            batch = x[None]
        out_dt = self._out_dtype(meta)
        lo, hi = meta.get("srgan_value_min"), meta.get("srgan_value_max")
        sr_spatial = [int(n * s) for n, s in zip(image.shape[1:], scales)]
        out: np.ndarray | None = None
        try:
            for rows, y in self.inferer.iter_stripes(batch, self.network):
                if out is None:
                    out = np.empty((y.shape[1], *sr_spatial), dtype=out_dt)
                # invert in chunks of rows: the inverse works in float64, a whole stripe would double the memory
                step = max(1, (1 << 22) // max(1, y[:, :, :1].numel()))
                for r0 in range(0, y.shape[2], step):
                    v = invert_normalization(y[:, :, r0 : r0 + step], params)
                    v = v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else torch.as_tensor(v)
                    if lo is not None and hi is not None:
                        v = v.clamp_(float(lo), float(hi))
                    if out_dt.kind in "ui":
                        v = v.round_()
                    v = v.permute(1, 2, 3, 0) if how == "slices" else v[0]  # (C, h, W[, D])
                    dst = slice(rows.start + r0, min(rows.start + r0 + step, rows.stop))
                    out[:, dst] = v.numpy().astype(out_dt, copy=False)
                del y
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
        from monai_srgan.inference.writers import write_image

        writer_kwargs.setdefault("model_name", self.model_name)
        return write_image(sr, out_path, output_format_for(sr.meta, fmt), **writer_kwargs)

    def run(self, source: Any, out_path: str | os.PathLike, fmt: str = "same", **writer_kwargs: Any) -> Path:
        """Load, super-resolve and write one input; returns the written path."""
        return self.write(self.predict(source), out_path, fmt, **writer_kwargs)


def _network_in_channels(network: Any) -> int | None:
    """``network.in_channels``, else the input channels of its first convolution, else None (unknown)."""
    c = getattr(network, "in_channels", None)
    if c is not None:
        return int(c)
    if isinstance(network, torch.nn.Module):
        for m in network.modules():
            if isinstance(m, torch.nn.modules.conv._ConvNd):
                return int(m.in_channels)
    return None


def _as_tuple(v: Any) -> tuple[int, ...]:
    if isinstance(v, (int, float, np.integer)):
        return (int(v),)
    return tuple(int(x) for x in v)


def _where(image: Any) -> str | None:
    meta = getattr(image, "meta", {}) or {}
    files = meta.get("srgan_source_files")
    if files and len(files) > 1:
        return os.path.dirname(os.fspath(files[0])) or os.fspath(files[0])
    f = meta.get("filename_or_obj")
    return os.fspath(f) if isinstance(f, (str, os.PathLike)) else None


def _default_normalize() -> Callable[[MetaTensor], MetaTensor]:
    from monai_srgan.transforms.intensity import ScaleToUnitRange

    return ScaleToUnitRange()
