"""The five papers' stage-2 generator losses written independently of the recipes, as the reference the recipe
configs (bundles/*/configs/recipes/*.json ``generator_loss``) and docs/losses.md are checked against.

The package has no paper switch: each paper's loss is its recipe's ``GeneratorLoss`` terms and weights. This module
restates them from the papers (docs/losses.md gives the equations) so a test can catch a recipe that drifts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from monai_srgan.errors import ConfigError
from monai_srgan.losses import GeneratorLoss

#: Paper id -> one-line description of its generator loss .
PAPER_LOSSES: dict[str, str] = {
    "000": "SRGAN for DR fundus: VGG-19 phi_5,4 content (eq. 3) + lambda * non-saturating GAN (eqs. 4-5)",
    "001": "EDSR-GAN with improved SE: fusion loss L_VGG + 1 L1 + 0.005 L_RG + 0.5 MSE",
    "002": "Real-ESRGAN fine-tuning: L1 + perceptual (VGG-19 conv1_2..conv5_4) + 0.1 vanilla GAN",
    "003": "SRGAN with local saliency: saliency-weighted MSE + VGG-16 relu4_1 + saliency loss + 0.01 GAN (eq. 6)",
    "004": "SRGAN for COVID-19 CXR in [-1, 1]: MSE + 0.006 VGG-19 phi_5,4 + 0.001 GAN (SRGAN recipe)",
}


def paper_generator_loss(
    paper: str,
    vgg_weights_path: str | os.PathLike | None = None,
    pretrained: bool = True,
    input_range: Sequence[float] | None = None,
) -> GeneratorLoss:
    """The stage-2 (adversarial) generator loss of one of the five papers as a :class:`GeneratorLoss`.

    The same configurations are written out as JSON in docs/losses.md. Weights a paper does not state are taken
    from the method it builds on and marked as such there (000, 004: Ledig et al.'s SRGAN values).

    Args:
        paper: ``"000"``, ``"001"``, ``"002"``, ``"003"`` or ``"004"`` (see ``PAPER_LOSSES``).
        vgg_weights_path: torchvision ImageNet VGG weight file (VGG-16 for paper 003, VGG-19 otherwise).
        pretrained: ``False`` builds a random VGG (tests only).
        input_range: value range of the images; default ``(-1, 1)`` for paper 004, ``(0, 1)`` otherwise.
    """
    from torch.nn import L1Loss, MSELoss

    from monai_srgan.losses import AdversarialLoss, FusionLoss, PerceptualLoss, SaliencyLoss, SaliencyWeightedMSELoss

    paper = str(paper).zfill(3)
    if paper not in PAPER_LOSSES:
        raise ConfigError(f"paper={paper!r}: expected one of {sorted(PAPER_LOSSES)}")
    rng = tuple(input_range) if input_range is not None else ((-1.0, 1.0) if paper == "004" else (0.0, 1.0))

    def vgg(preset: str) -> PerceptualLoss:
        return PerceptualLoss.from_preset(preset, weights_path=vgg_weights_path, pretrained=pretrained, input_range=rng)

    if paper == "000":
        terms = {
            "vgg": {"loss": vgg("srgan"), "weight": 0.006},
            "gan": {"loss": AdversarialLoss("vanilla"), "weight": 1e-3},
        }
    elif paper == "001":
        fusion = FusionLoss(vgg_weights_path=vgg_weights_path, pretrained=pretrained, input_range=rng)
        terms = {"fusion": {"loss": fusion, "weight": 1.0}}
    elif paper == "002":
        terms = {
            "l1": {"loss": L1Loss(), "weight": 1.0},
            "percep": {"loss": vgg("realesrgan"), "weight": 1.0},
            "gan": {"loss": AdversarialLoss("vanilla"), "weight": 0.1},
        }
    elif paper == "003":
        terms = {
            "wmse": {"loss": SaliencyWeightedMSELoss(), "weight": 1.0},
            "vgg": {"loss": vgg("mahapatra2017"), "weight": 1.0},
            "saliency": {"loss": SaliencyLoss(), "weight": 1.0},
            "gan": {"loss": AdversarialLoss("vanilla"), "weight": 0.01},
        }
    else:
        terms = {
            "mse": {"loss": MSELoss(), "weight": 1.0},
            "vgg": {"loss": vgg("srgan"), "weight": 0.006},
            "gan": {"loss": AdversarialLoss("vanilla"), "weight": 1e-3},
        }
    return GeneratorLoss(terms)
