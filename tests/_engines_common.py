"""Shared pieces of the engine tests: tiny real-image datasets and tiny networks (fast on one CPU core)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from monai.data import Dataset
from monai.transforms import Compose, Lambdad, RandFlipd, RandSpatialCropd
from PIL import Image
from torch import nn

from monai_srgan.engines import SRValidator, make_dataloader

FUNDUS = "retina/skimage_retina.jpg"
XRAY = "cxr/nih_00000075_000.png"


@lru_cache(maxsize=8)
def real_region(data_root: str, rel: str, size: int = 128, gray: bool = False) -> torch.Tensor:
    """A central ``size``² region of a real shared image, channel-first float32 in [0, 1]."""
    im = Image.open(Path(data_root) / rel)
    im = im.convert("L" if gray else "RGB")
    w, h = im.size
    box = (w // 2 - size // 2, h // 2 - size // 2, w // 2 + size // 2, h // 2 + size // 2)
    arr = np.asarray(im.crop(box), dtype=np.float32) / 255.0
    t = torch.from_numpy(arr)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def paired_dataset(images: list[torch.Tensor], patch: int, scale: int, n: int = 8, random: bool = True) -> Dataset:
    """HR patches cropped at random from real images, then degraded (crop HR first, then degrade)."""
    items = [{"hr": images[i % len(images)]} for i in range(n)]
    if random:
        xform = Compose(
            [
                RandSpatialCropd(keys="hr", roi_size=(patch, patch), random_size=False),
                RandFlipd(keys="hr", prob=0.5, spatial_axis=1),
                Lambdad(keys="hr", func=lambda x: torch.as_tensor(x).float().contiguous()),
            ]
        )
    else:
        xform = Compose([Lambdad(keys="hr", func=lambda x: torch.as_tensor(x)[:, :patch, :patch].float().contiguous())])

    from monai_srgan.transforms import BicubicDownsampled

    return Dataset(
        items, transform=Compose([xform, BicubicDownsampled(keys="hr", lr_key="lr", scale=scale, clip=(0, 1))])
    )


class TinyGenerator(nn.Module):
    """Stand-in SR generator (conv, ReLU, conv, PixelShuffle) with the contract attributes."""

    def __init__(self, spatial_dims: int = 2, in_channels: int = 3, out_channels: int = 3, scale: int = 2, ch=8):
        super().__init__()
        self.scale, self.in_channels, self.receptive_field = scale, in_channels, 2
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, ch, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(ch, out_channels * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x):
        up = nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")
        return up + self.body(x)


class TinyDiscriminator(nn.Module):
    """Stand-in discriminator: two strided convs, optional dropout, global pooling, logits (N, 1)."""

    def __init__(self, spatial_dims: int = 2, in_channels: int = 3, ch: int = 8, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ch, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Conv2d(ch, ch, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(ch, 1),
        )

    def forward(self, x):
        return self.net(x)


def make_loaders(data_root, kind: str = "fundus", patch: int = 32, scale: int = 2, n: int = 8, batch: int = 2):
    gray = kind == "xray"
    img = real_region(str(data_root), XRAY if gray else FUNDUS, 128, gray)
    train = make_dataloader(paired_dataset([img], patch, scale, n=n), batch_size=batch, shuffle=True)
    val = make_dataloader(paired_dataset([img], 48, scale, n=2, random=False), batch_size=2, shuffle=False)
    return train, val, (1 if gray else 3)


def make_validator(val_loader, num_images: int = 2) -> SRValidator:
    return SRValidator(device="cpu", val_data_loader=val_loader, num_images=num_images)


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def build_gan_trainer(data_root, ckpt_dir, max_epochs: int = 2, save_interval: int | None = 3, resume=True, **kw):
    """A stage-2 trainer exercising resumable state: dropout D (RNG), EMA, schedulers, random crops/flips.

    (No pair pool here: a pool would hide a wrong data stream for a few iterations.)
    """
    from monai_srgan.engines import SRGANTrainer
    from monai_srgan.losses import AdversarialLoss, GeneratorLoss

    torch.manual_seed(0)
    train, val, c = make_loaders(data_root, "fundus", patch=32, scale=2, n=8, batch=2)
    g = TinyGenerator(in_channels=c, out_channels=c, ch=kw.pop("g_ch", 8), scale=kw.pop("scale", 2))
    d = TinyDiscriminator(in_channels=c, dropout=0.3)
    opt_g = torch.optim.Adam(g.parameters(), 1e-3)
    opt_d = torch.optim.Adam(d.parameters(), 1e-3)
    gl = GeneratorLoss(
        {"l1": {"loss": nn.L1Loss(), "weight": 1.0}, "gan": {"loss": AdversarialLoss("vanilla"), "weight": 0.1}}
    )
    return SRGANTrainer(
        device="cpu",
        max_epochs=max_epochs,
        train_data_loader=train,
        generator=g,
        optimizer_g=opt_g,
        lr_scheduler_g=torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones=[3, 6], gamma=0.5),
        discriminator=d,
        optimizer_d=opt_d,
        lr_scheduler_d=torch.optim.lr_scheduler.MultiStepLR(opt_d, milestones=[5], gamma=0.5),
        generator_loss=gl,
        adversarial_loss=AdversarialLoss("vanilla"),
        validator=make_validator(val),
        ckpt_dir=ckpt_dir,
        save_interval=save_interval,
        resume=resume,
        ema_decay=0.9,
        **kw,
    )
