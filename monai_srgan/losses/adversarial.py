"""Adversarial losses for per-image ``(N, 1)`` and per-pixel ``(N, 1, *spatial)`` discriminator logits.

Discriminators return logits, never probabilities (docs/architecture.md); every loss here works on logits.

- ``vanilla``: G ``-log D(G(x)) = softplus(-f)``, the non-saturating form (paper 000 eq. 5, paper 003 eq. 10);
  D ``-log D(y) - log(1 - D(G(x)))`` (paper 000 eq. 10, paper 003 eq. 5), as BCE with logits.
- ``lsgan``: G ``(f - 1)^2``; D ``(r - 1)^2 + f^2`` (Mao et al. 2017).
- ``hinge``: G ``-f``; D ``relu(1 - r) + relu(1 + f)`` (Lim & Ye 2017; Miyato et al. 2018).
- ``ragan``: G ``[BCE(r - E f, 0) + BCE(f - E r, 1)] / 2``; D ``[BCE(r - E f, 1) + BCE(f - E r, 0)] / 2``.

with ``f`` the logits of the SR (fake) batch, ``r`` those of the HR (real) batch, ``E`` the mean over the whole
batch (and over pixels for a per-pixel discriminator), each term averaged over all its elements. ``ragan`` is the
relativistic average GAN of ESRGAN (Wang et al. 2018, eqs. 1-2; Jolicoeur-Martineau 2018), paper 001's "RG".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from monai_srgan.errors import ConfigError

__all__ = ["AdversarialLoss", "GAN_TYPES"]

GAN_TYPES = ("vanilla", "lsgan", "hinge", "ragan")


class AdversarialLoss(nn.Module):
    """Generator and discriminator sides of a GAN objective on discriminator logits.

    Args:
        gan_type: ``"vanilla"``, ``"lsgan"``, ``"hinge"`` or ``"ragan"`` (relativistic average).
        real_label: target for "real" in ``vanilla``/``lsgan``/``ragan`` (e.g. 0.9 for one-sided label smoothing).
        fake_label: target for "fake".

    As a term of :class:`~monai_srgan.losses.GeneratorLoss` it is called ``loss(sr, hr, fake_logits=...,
    real_logits=...)`` and returns :meth:`generator_loss`; ``sr``/``hr`` are unused (the logits already are
    ``D(sr)`` and ``D(hr)``). ``ragan`` needs ``real_logits`` on both sides.
    """

    needs_logits = True

    def __init__(self, gan_type: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise ConfigError(f"AdversarialLoss gan_type={gan_type!r}: expected one of {GAN_TYPES}")
        self.gan_type = gan_type
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)

    @property
    def needs_real_logits(self) -> bool:
        """True for ``ragan``: the generator side needs ``real_logits = D(hr)`` too."""
        return self.gan_type == "ragan"

    def _bce(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def _need_real(self, real_logits: torch.Tensor | None, side: str) -> torch.Tensor:
        if real_logits is None:
            raise ValueError(f"AdversarialLoss(gan_type='ragan').{side} needs real_logits = D(hr) as well")
        return real_logits

    def generator_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """Generator loss from ``fake_logits = D(sr)`` (and, for ``ragan``, ``real_logits = D(hr)``).

        ``real_logits`` are detached: they do not depend on the generator, and detaching keeps the generator
        step from leaving gradients in the discriminator (as ESRGAN does).
        """
        if self.gan_type == "vanilla":
            return self._bce(fake_logits, self.real_label)
        if self.gan_type == "lsgan":
            return F.mse_loss(fake_logits, torch.full_like(fake_logits, self.real_label))
        if self.gan_type == "hinge":
            return -fake_logits.mean()
        real = self._need_real(real_logits, "generator_loss").detach()
        return 0.5 * (
            self._bce(real - fake_logits.mean(), self.fake_label)
            + self._bce(fake_logits - real.mean(), self.real_label)
        )

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """Discriminator loss from ``real_logits = D(hr)`` and ``fake_logits = D(sr.detach())``."""
        if self.gan_type == "vanilla":
            return self._bce(real_logits, self.real_label) + self._bce(fake_logits, self.fake_label)
        if self.gan_type == "lsgan":
            return F.mse_loss(real_logits, torch.full_like(real_logits, self.real_label)) + F.mse_loss(
                fake_logits, torch.full_like(fake_logits, self.fake_label)
            )
        if self.gan_type == "hinge":
            return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        return 0.5 * (
            self._bce(real_logits - fake_logits.mean(), self.real_label)
            + self._bce(fake_logits - real_logits.mean(), self.fake_label)
        )

    def forward(
        self,
        sr: torch.Tensor | None = None,
        hr: torch.Tensor | None = None,
        fake_logits: torch.Tensor | None = None,
        real_logits: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generator loss, in the :class:`~monai_srgan.losses.GeneratorLoss` term signature."""
        if fake_logits is None:
            raise ValueError("AdversarialLoss needs fake_logits = D(sr) (call it as loss(sr, hr, fake_logits=...))")
        return self.generator_loss(fake_logits, real_logits)

    def extra_repr(self) -> str:
        return f"gan_type={self.gan_type!r}"
