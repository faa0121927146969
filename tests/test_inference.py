"""SRInferencePipeline / SRInferer on real images with real generator classes (small random weights)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from _inference_helpers import NearestUp

from monai_srgan.errors import ConfigError
from monai_srgan.inference import SRInferencePipeline, SRInferer
from monai_srgan.networks import SRResNet
from monai_srgan.networks.checkpoint import save_generator_weights


def _srresnet(spatial_dims=2, scale=2, seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"num_feat": 8, "num_blocks": 2, **kw}
    return SRResNet(spatial_dims, 1, 1, scale=scale, **kw).eval()


@pytest.fixture(scope="module")
def chest(data_root):
    from monai_srgan.transforms import LoadMedicalImage

    return LoadMedicalImage()(str(data_root / "cxr" / "mhh_2168a917.png"))  # 549 x 640, 8-bit, real


def _srvgg(in_channels=1, scale=4, seed=0):
    """The cxr_sr/retina_sr architecture (SRVGGNetCompact, bicubic base) with random, non-zero weights."""
    from monai_srgan.networks import SRVGGNetCompact

    torch.manual_seed(seed)
    net = SRVGGNetCompact(2, in_channels, in_channels, scale=scale, num_feat=8, num_conv=3, base_mode="cubic")
    return net.eval()


@pytest.mark.parametrize("tile", [64, 77, 100, 131, 1000])
def test_tiled_equals_untiled_on_a_real_chest_xray_crop(chest, tile):
    """Abutting tiles with context margins equal the untiled network (≤ 1e-6), 2D, divisible or not, batched."""
    x = chest.as_tensor().float()[None, :, :200, :230] / 255.0  # real 200 x 230 crop in [0, 1]
    for net, scale in ((_srresnet(), 2), (_srvgg(), 4)):
        with torch.inference_mode():
            whole = net(x)
            for batch in (1, 3):
                inf = SRInferer(scale=scale, roi_size=tile, sw_batch_size=batch)
                tiled = inf(x, net)
                assert tiled.shape == whole.shape
                assert (tiled - whole).abs().max().item() <= 1e-6, (tile, batch, type(net).__name__)
                # tiles abut: every input pixel is the core of exactly one tile, no row is computed twice
                cover = torch.zeros(x.shape[2:], dtype=torch.int32)
                for core, box, _ in inf.plan(tuple(x.shape[2:]), net):
                    cover[core] += 1
                    assert all(b.start <= c.start and c.stop <= b.stop for c, b in zip(core, box))
                assert bool((cover == 1).all())


def test_tiled_equals_untiled_in_3d_on_a_real_volume(data_root):
    from monai_srgan.transforms import LoadMedicalImage

    vol = LoadMedicalImage()(str(data_root / "volumes" / "totalseg_example_ct.nii.gz")).as_tensor().float()
    x = vol[None, :, 30:70, 20:57, 40:61]
    x = (x - x.min()) / (x.max() - x.min())
    net = _srresnet(3, scale=(1, 1, 2), num_feat=4, num_blocks=1, head_kernel_size=3, tail_kernel_size=3)
    with torch.inference_mode():
        whole = net(x)
        for tile in ((16, 16, 8), (13, 40, 21), (40, 11, 5)):
            tiled = SRInferer(scale=(1, 1, 2), roi_size=tile)(x, net)
            assert (tiled - whole).abs().max().item() <= 1e-6, tile


def test_pipeline_tiles_are_exact_and_context_is_what_makes_them_so(chest):
    net = _srresnet()
    kw = dict(output_dtype="float32", dtype="float32")
    whole = SRInferencePipeline(net, 2, tile_size=max(chest.shape[1:]), **kw).predict(chest)
    tiled_pipe = SRInferencePipeline(net, 2, tile_size=96, **kw)
    assert len(tiled_pipe.inferer.plan(tuple(chest.shape[1:]), net)) == 42  # 6 x 7 tiles of 549 x 640
    tiled = tiled_pipe.predict(chest)
    assert tiled.shape == whole.shape == (1, 2 * chest.shape[1], 2 * chest.shape[2])
    # values are in the 8-bit value domain: 1e-6 of the [0, 1] range is 2.55e-4 grey levels
    assert (tiled.as_tensor() - whole.as_tensor()).abs().max().item() / 255.0 <= 1e-6
    # without context margins the same tiles are not exact: the margins are what makes tiling seamless
    plain = SRInferencePipeline(net, 2, tile_size=96, context=0, **kw).predict(chest)
    assert (plain.as_tensor() - whole.as_tensor()).abs().max().item() / 255.0 > 1e-4


def test_precision_by_capability(monkeypatch):
    from monai_srgan.utils import precision

    assert precision.resolve_dtype("float32") == torch.float32
    assert precision.resolve_dtype("bf16") == torch.bfloat16 and precision.resolve_dtype("float16") == torch.float16
    assert precision.resolve_dtype("auto", "cuda") == torch.float16
    with pytest.raises(ConfigError, match="dtype"):
        precision.resolve_dtype("int8")
    native = any(f in precision.cpu_flags() for f in ("avx512_bf16", "amx_bf16"))
    assert precision.has_native_bf16() == native
    first = precision.bf16_speedup()
    assert precision.bf16_speedup() is first  # measured once, cached: a second measurement would be a new float
    expected = torch.bfloat16 if native else torch.float32  # by flags alone: the same output however busy the CPU
    assert precision.resolve_dtype("auto", "cpu") == expected == precision.resolve_dtype(None)
    monkeypatch.setenv("MONAI_SRGAN_AUTO_DTYPE", "float32")
    assert precision.resolve_dtype("auto") == torch.float32
    assert SRInferencePipeline(_srresnet(), 2).dtype == torch.float32
    monkeypatch.setenv("MONAI_SRGAN_AUTO_DTYPE", "bfloat16")
    assert SRInferencePipeline(_srresnet(), 2).dtype == torch.bfloat16
    assert SRInferencePipeline(NearestUp(2), 2, dtype="auto").dtype == torch.bfloat16
    # 3D networks on a CPU and exported models stay float32 under auto
    assert SRInferencePipeline(_srresnet(3, num_feat=4, num_blocks=1), 2).dtype == torch.float32
    monkeypatch.setattr(precision, "has_native_bf16", lambda: False)
    monkeypatch.delenv("MONAI_SRGAN_AUTO_DTYPE")
    assert not precision.fast_bf16("cpu") and precision.resolve_dtype("auto") == torch.float32


def test_low_precision_keeps_the_input_convolution_in_float32(chest):
    from monai_srgan.utils.precision import low_precision

    net = _srvgg()
    seen = []
    net.body[0].register_forward_hook(lambda m, a, o: seen.append((a[0].dtype, o.dtype)))
    net.body[2].register_forward_hook(lambda m, a, o: seen.append((a[0].dtype, o.dtype)))
    x = chest.as_tensor().float()[None, :, :64, :64] / 255.0
    with torch.inference_mode(), low_precision(net, "cpu", torch.bfloat16):
        y = net(x)
    assert seen == [(torch.float32, torch.float32), (torch.bfloat16, torch.bfloat16)]  # only the first conv is fp32
    assert y.dtype == torch.float32  # the fp32 bicubic base lifts the sum
    assert len(net.body[0]._forward_pre_hooks) == 0  # hooks removed


def test_pipeline_auto_uses_channels_last_and_writes_fast_lossless_png(tmp_path, chest):
    from PIL import Image

    net = _srvgg(scale=2)
    pipe = SRInferencePipeline(net, 2, dtype="float32")
    assert pipe.network.body[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert pipe.inferer.sw_batch_size == 1 and pipe.compress_level == 1
    sr = pipe.predict(chest)
    sizes = {}
    for level in (1, 9):
        out = pipe.write(sr, tmp_path / f"sr{level}.png", "png", compress_level=level)
        np.testing.assert_array_equal(np.asarray(Image.open(out)), sr.numpy()[0])  # lossless at every level
        sizes[level] = out.stat().st_size
    assert sizes[9] < sizes[1]
    tif = pipe.write(sr, tmp_path / "sr.tif", "tiff")
    np.testing.assert_array_equal(pipe.load(str(tif)).numpy()[0].astype(np.uint8), sr.numpy()[0])
    with pytest.raises(ConfigError, match="compress_level"):
        pipe.write(sr, tmp_path / "bad.png", "png", compress_level=12)
    with pytest.raises(ConfigError, match=r"needs a DICOM input .*: choose another format"):  # what to do, too
        pipe.write(sr, tmp_path / "sr_dicom", "dicom")


def test_output_integers_and_geometry_of_a_2d_image(chest):
    sr = SRInferencePipeline(NearestUp(4), 4, tile_size=128).predict(chest)
    assert sr.dtype == torch.uint8 or str(sr.dtype) == "torch.uint8"
    assert tuple(sr.shape[1:]) == (chest.shape[1] * 4, chest.shape[2] * 4)
    np.testing.assert_array_equal(sr.numpy()[:, ::4, ::4], chest.numpy().astype(np.uint8))
    np.testing.assert_allclose(sr.meta["srgan_spacing"], np.asarray(chest.meta["srgan_spacing"]) / 4)
    # first SR pixel centre sits (1/s - 1)/2 LR pixels from the first LR pixel centre; spacing / s
    a_lr, a_sr = np.asarray(chest.affine), np.asarray(sr.affine)
    np.testing.assert_allclose(a_sr[:2, :2], a_lr[:2, :2] / 4)
    np.testing.assert_allclose(a_sr[:2, -1], a_lr[:2, -1] + a_lr[:2, :2] @ np.full(2, (0.25 - 1) / 2))
    assert sr.meta["srgan_sr_scale"] == [4, 4]


def test_2d_model_on_a_dicom_series_keeps_slices_and_writes_nifti(tmp_path, data_root):
    folder = data_root / "dicom" / "dcmqi_701-ADCb500"
    pipe = SRInferencePipeline(NearestUp(2), 2, tile_size=128)
    sr = pipe.predict(str(folder))
    assert tuple(sr.shape) == (1, 512, 512, 20) and sr.dtype == torch.int16
    assert sr.meta["srgan_sr_scale"] == [2, 2, 1]
    lr_aff = np.asarray(pipe.load(str(folder)).affine)
    np.testing.assert_allclose(np.asarray(sr.affine)[:3, 2], lr_aff[:3, 2])  # slice axis untouched
    np.testing.assert_allclose(np.asarray(sr.affine)[:3, :2], lr_aff[:3, :2] / 2)
    out = pipe.write(sr, tmp_path / "mr.nii.gz", "nifti")
    img = nib.load(str(out))
    assert img.shape == (512, 512, 20) and img.get_data_dtype() == np.int16
    np.testing.assert_allclose(img.affine, np.asarray(sr.affine), atol=1e-4)


def test_through_plane_3d_model_writes_interpolated_slice_geometry(tmp_path, data_root):
    """A 3D generator with scale (1, 1, 2): twice the slices, half the spacing, positions between the sources."""
    folder = data_root / "dicom" / "dcmqi_701-ADCb500"
    net = _srresnet(3, scale=(1, 1, 2), num_feat=4, num_blocks=1, head_kernel_size=3, tail_kernel_size=3)
    pipe = SRInferencePipeline(net, (1, 1, 2), tile_size=(96, 96, 12), output_dtype="float32")
    sr = pipe.predict(str(folder))
    assert tuple(sr.shape) == (1, 256, 256, 40)
    whole = SRInferencePipeline(net, (1, 1, 2), tile_size=(256, 256, 20), output_dtype="float32").predict(str(folder))
    assert (sr.as_tensor() - whole.as_tensor()).abs().max().item() < 1e-4 * 2000  # value range of ADC ~0..2000+
    out = pipe.write(sr, tmp_path / "mr_sr", "dicom", model_name="tiny3d")
    files = sorted(out.iterdir())
    assert len(files) == 40
    srcs = sorted((pydicom.dcmread(f, stop_before_pixels=True) for f in folder.glob("*.dcm")),
                  key=lambda d: int(d.InstanceNumber))  # fmt: skip
    p = np.array([[float(v) for v in d.ImagePositionPatient] for d in srcs])
    outs = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    q = np.array([[float(v) for v in d.ImagePositionPatient] for d in outs])
    step = p[1] - p[0]
    np.testing.assert_allclose(q[0], p[0] - 0.25 * step, atol=1e-3)
    np.testing.assert_allclose(q[1], p[0] + 0.25 * step, atol=1e-3)
    np.testing.assert_allclose(np.diff(q, axis=0), np.tile(step / 2, (39, 1)), atol=1e-3)
    assert float(outs[0].SliceThickness) == pytest.approx(float(srcs[0].SliceThickness) / 2)
    assert float(outs[0].SpacingBetweenSlices) == pytest.approx(float(srcs[0].SpacingBetweenSlices) / 2)
    assert [int(d.InstanceNumber) for d in outs] == list(range(1, 41))
    assert outs[0].FrameOfReferenceUID == srcs[0].FrameOfReferenceUID  # same patient coordinate system
    refs = {str(r.ReferencedSOPInstanceUID) for d in outs[:2] for r in d.SourceImageSequence}
    assert str(srcs[0].SOPInstanceUID) in refs


def test_scale_mismatch_is_a_clear_error(chest):
    class Unlabelled(torch.nn.Module):  # upsamples x2, says nothing about it
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2.0)

    with pytest.raises(ConfigError, match="scale"):
        SRInferencePipeline(Unlabelled(), 4, tile_size=128).predict(chest)
    with pytest.raises(ConfigError, match="trained for"):
        SRInferencePipeline(_srresnet(scale=2), 4)


def test_from_bundle_reads_the_documented_ids(tmp_path, chest):
    net = _srresnet()
    (tmp_path / "configs").mkdir()
    (tmp_path / "models").mkdir()
    save_generator_weights(net, tmp_path / "models" / "model.pt")
    cfg = {
        "scale": 2,
        "network_def": {
            "_target_": "monai_srgan.networks.SRResNet",
            "spatial_dims": 2,
            "in_channels": 1,
            "out_channels": 1,
            "scale": "@scale",
            "num_feat": 8,
            "num_blocks": 2,
        },
        "normalize": {"_target_": "monai_srgan.transforms.intensity.ScaleToUnitRange"},
        "tile_size": 256,
        "tile_overlap": 8,
        "sw_batch_size": 2,
        "model_name": "test-bundle-srresnet",
    }
    (tmp_path / "configs" / "inference.json").write_text(json.dumps(cfg))
    pipe = SRInferencePipeline.from_bundle(tmp_path, output_dtype="float32")
    assert pipe.model_name == "test-bundle-srresnet" and pipe.inferer.roi_size == 256
    ref = SRInferencePipeline(net, 2, output_dtype="float32", tile_size=1024).predict(chest)
    got = pipe.predict(chest)
    assert (got.as_tensor() - ref.as_tensor()).abs().max().item() < 255e-4
    with pytest.raises(ConfigError, match="bundle"):
        SRInferencePipeline.from_bundle(tmp_path, scale=4)
    del cfg["network_def"]
    (tmp_path / "configs" / "inference.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="network_def"):
        SRInferencePipeline.from_bundle(tmp_path)


def test_srinferer_is_a_monai_inferer_with_dtype_option():
    from monai.inferers import Inferer

    net = _srresnet()
    x = torch.rand(2, 1, 70, 90)
    inf = SRInferer(scale=2, roi_size=32, sw_batch_size=3)
    assert isinstance(inf, Inferer)
    with torch.no_grad():
        ref = net(x)
        torch.testing.assert_close(inf(x, net), ref, atol=1e-6, rtol=0)
        auto = SRInferer(scale=2, roi_size=32, dtype="bfloat16")(x, net)  # autocast, fp32 weights
        low = SRInferer(scale=2, roi_size=32, dtype="bfloat16")(x, net.to(torch.bfloat16))
    assert auto.dtype == low.dtype == torch.float32
    assert (auto - ref).abs().max().item() < 0.05 and (low - ref).abs().max().item() < 0.1


def test_comparison_outputs_flag_content_the_input_cannot_explain(tmp_path, chest):
    from PIL import Image

    from monai_srgan.inference.compare import comparison_paths, lr_residual, write_comparison

    class Shifted(NearestUp):  # invents a 6-pixel shift: LR-consistency must drop
        def forward(self, x):
            return torch.roll(super().forward(x), shifts=6, dims=-1)

    scores = {}
    for name, net in (("faithful", NearestUp(2)), ("shifted", Shifted(2))):
        pipe = SRInferencePipeline(net, 2, tile_size=1024)
        sr = pipe.predict(chest)
        out = tmp_path / f"{name}_x2.png"
        scores[name] = write_comparison(pipe, chest, sr, out)
        cmp_path, res_path = comparison_paths(out)
        fig, res = Image.open(cmp_path), Image.open(res_path)
        # overview + difference map on top, two labelled crop rows (LR | bicubic | SR | |SR-bicubic|), colour bars
        assert fig.mode == "RGB" and 4 * 256 <= fig.width <= 4 * 256 + 40 and fig.height >= 2 * 256 + 100
        assert res.width >= chest.shape[2] and res.height > chest.shape[1]  # LR grid + label + colour bar
        lr_norm, params = pipe._normalize(pipe.load(chest))
        k, b0 = (float(np.asarray(params[key]).reshape(-1)[0]) for key in ("scale", "offset"))
        residual, _ = lr_residual(torch.as_tensor(lr_norm).float(), sr.as_tensor(), lambda b, k=k, b0=b0: b * k + b0)
        scores[name + "_res"] = float(residual.mean())
    assert scores["faithful"] > 35.0 > scores["shifted"]
    assert scores["shifted_res"] > 2 * scores["faithful_res"]


def test_comparison_figure_of_a_volume_shows_the_through_plane_planes(tmp_path, data_root):
    from PIL import Image

    from monai_srgan.inference.compare import comparison_paths, write_comparison

    class ThroughPlane(torch.nn.Module):  # trilinear x4 along the slice axis: differs from bicubic at edges
        scale = (1, 1, 4)

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=(1, 1, 4), mode="trilinear")

    vol = nib.load(str(data_root / "volumes" / "totalseg_example_ct.nii.gz"))
    crop = nib.Nifti1Image(np.asarray(vol.dataobj)[30:90, 20:80, 40:64].astype(np.float32), vol.affine)
    src = tmp_path / "ct.nii.gz"
    nib.save(crop, str(src))
    pipe = SRInferencePipeline(ThroughPlane(), (1, 1, 4), spatial_dims=3, tile_size=64)
    sr = pipe.predict(str(src))
    out = tmp_path / "ct_x4.nii.gz"
    assert write_comparison(pipe, str(src), sr, out) > 20.0
    fig = np.asarray(Image.open(comparison_paths(out)[0]))
    # top row: axial | coronal | sagittal SR and their difference maps; crops of coronal and sagittal only
    assert fig.shape[0] > 96 + 2 * 2 * 60 and fig.shape[1] >= 4 * 2 * 60
