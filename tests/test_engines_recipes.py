"""Each seed paper's recipe is a config: generator, discriminator, losses and data path swapped in the minimal
config of docs/training.md, both stages run a few iterations on real crops (random-weight VGG, tiny widths)."""

from __future__ import annotations

import math

import pytest
from test_engines_config import _parser

G = "monai_srgan.networks."
SMALL_SRRESNET = {"_target_": G + "SRResNet", "spatial_dims": 2, "in_channels": "@channels",
                  "out_channels": "@channels", "scale": "@scale", "num_feat": 8, "num_blocks": 2}  # fmt: skip
SRGAN_D = {"_target_": G + "SRGANDiscriminator", "spatial_dims": 2, "in_channels": "@channels", "num_features": 8,
           "num_layers": 4, "dense_features": 32}  # fmt: skip


def _paper_loss(paper: str) -> dict:
    return {"_target_": "_paper_losses.paper_generator_loss", "paper": paper, "pretrained": False}


def _degrade(target: str = "BicubicDownsampled", clip=(0, 1), **kw) -> dict:
    return {"_target_": "monai_srgan.transforms." + target, "keys": "hr", "lr_key": "lr", "scale": "@scale",
            "clip": None if clip is None else list(clip), **kw}  # fmt: skip


RECIPES: dict[str, dict] = {
    # 000: SRResNet + VGG-19 discriminator, MSE pretraining at lr 1e-4, content (VGG) + adversarial; z-score data
    "000": {
        "generator": SMALL_SRRESNET,
        "discriminator": {
            "_target_": G + "VGG19Discriminator",
            "spatial_dims": 2,
            "in_channels": "@channels",
            "base_channels": 8,
            "extra_channels": 16,
            "dense_features": 32,
        },  # fmt: skip
        "load#1": {"_target_": "monai_srgan.transforms.ZScoreNormalized", "keys": "hr"},
        "train_pairs#transforms#1": _degrade(clip=None),
        "val_pairs#transforms#1": _degrade(clip=None),
        "validator#value_min": None,
        "validator#data_range": 6.0,
        "pretrainer#loss_function": {"_target_": "torch.nn.MSELoss"},
        "pretrainer#optimizer_g#lr": 1e-4,
        "trainer#optimizer_g#lr": 1e-4,
        "trainer#generator_loss": _paper_loss("000"),
        "_terms": {"vgg", "gan"},
    },
    # 001: EDSR with improved SE + feature-fusion SE discriminator, fusion loss with a relativistic GAN
    "001": {
        "generator": {
            "_target_": G + "EDSR",
            "spatial_dims": 2,
            "in_channels": "@channels",
            "out_channels": "@channels",
            "scale": "@scale",
            "num_feat": 16,
            "num_blocks": 1,
            "se": "improved",
            "se_reduction": 4,
        },  # fmt: skip
        "discriminator": {
            "_target_": G + "FeatureFusionSEDiscriminator",
            "spatial_dims": 2,
            "in_channels": "@channels",
            "num_features": 8,
            "fused_channels": 16,
            "dense_features": 32,
            "se_reduction": 4,
        },  # fmt: skip
        "trainer#generator_loss": _paper_loss("001"),
        "trainer#adversarial_loss#gan_type": "ragan",
        "_terms": {"fusion"},
        "_real_logits": True,
    },
    # 002: RRDBNet + U-Net discriminator with spectral norm, L1 + perceptual + 0.1 GAN, EMA, pair pool
    "002": {
        "generator": {
            "_target_": G + "RRDBNet",
            "spatial_dims": 2,
            "in_channels": "@channels",
            "out_channels": "@channels",
            "scale": "@scale",
            "num_feat": 8,
            "num_blocks": 1,
            "num_grow_ch": 4,
        },  # fmt: skip
        "discriminator": {
            "_target_": G + "UNetDiscriminatorSN",
            "spatial_dims": 2,
            "in_channels": "@channels",
            "num_feat": 8,
        },  # fmt: skip
        "pretrainer#optimizer_g#lr": 2e-4,
        "pretrainer#ema_decay": 0.999,
        "trainer#generator_loss": _paper_loss("002"),
        "trainer#ema_decay": 0.999,
        "trainer#pool_size": 4,
        "_terms": {"l1", "percep", "gan"},
    },
    # 003: SRGAN with saliency: blur + downsampling, saliency-weighted MSE + VGG-16 + saliency + 0.01 adversarial
    "003": {
        "generator": SMALL_SRRESNET,
        "discriminator": SRGAN_D,
        "train_pairs#transforms#1": _degrade("RandBlurDownsampled", sigma=[0.5, 1.5]),
        "val_pairs#transforms#1": _degrade("RandBlurDownsampled", sigma=1.0),
        "pretrainer#loss_function": {"_target_": "monai_srgan.losses.SaliencyWeightedMSELoss"},
        "trainer#generator_loss": _paper_loss("003"),
        "_terms": {"wmse", "vgg", "saliency", "gan"},
    },
    # 004: chest X-ray in [-1, 1], 8-block SRResNet with InstanceNorm after the trunk, D with dropout
    "004": {
        "image_glob": "cxr/nih_00000075_000.png",
        "channels": 1,
        "generator": {
            **SMALL_SRRESNET,
            "num_blocks": 8,
            "norm": "none",
            "trunk_norm": "instance",
            "output_act": "tanh",
        },  # fmt: skip
        "discriminator": {**SRGAN_D, "dropout": 0.3},
        "load#1": {"_target_": "monai_srgan.transforms.ScaleToUnitRanged", "keys": "hr", "out_range": [-1, 1]},
        "train_pairs#transforms#1": _degrade(clip=(-1, 1)),
        "val_pairs#transforms#1": _degrade(clip=(-1, 1)),
        "validator#data_range": 2.0,
        "validator#value_min": -1.0,
        "pretrainer#loss_function": {"_target_": "torch.nn.MSELoss"},
        "trainer#generator_loss": _paper_loss("004"),
        "_terms": {"mse", "vgg", "gan"},
    },
}


@pytest.mark.parametrize("paper", sorted(RECIPES))
def test_paper_recipe_trains_from_config(data_root, tmp_path, paper):
    recipe = dict(RECIPES[paper])
    terms, real_logits = recipe.pop("_terms"), recipe.pop("_real_logits", False)
    parser = _parser(data_root, tmp_path)
    for key, value in recipe.items():
        parser[key] = value
    parser.get_parsed_content("run")
    pre, gan = parser.get_parsed_content("pretrainer"), parser.get_parsed_content("trainer")
    assert pre.state.iteration == 2 and gan.state.iteration == 2
    out = gan.state.output
    assert terms | {"loss_g", "loss_d", "d_real", "d_fake"} <= set(out), sorted(out)
    assert all(math.isfinite(v) for v in out.values()), out
    assert gan.g_needs_real_logits == real_logits
    val = gan.state.val_history[-1]
    assert math.isfinite(val["psnr"]) and math.isfinite(val["psnr_bicubic"])
    assert (tmp_path / "models" / "stage2" / "model.pt").is_file()
