"""torchrun worker for the DDP test: the same trainer code as a single-process run, no --local_rank flag."""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _engines_common import TinyDiscriminator, TinyGenerator, make_validator, paired_dataset, real_region  # noqa: E402

from monai_srgan.engines import SRGANTrainer, cleanup_distributed, get_rank, is_distributed, make_dataloader  # noqa: E402
from monai_srgan.losses import AdversarialLoss, GeneratorLoss  # noqa: E402

if __name__ == "__main__":
    data_root, ckpt_dir, out_dir = sys.argv[1:4]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    img = real_region(data_root, "cxr/nih_00000075_000.png", 128, True)
    train = make_dataloader(paired_dataset([img], 32, 2, n=8), batch_size=2, shuffle=True)  # DistributedSampler
    val = make_dataloader(paired_dataset([img], 48, 2, n=2, random=False), batch_size=2, shuffle=False)
    g, d = TinyGenerator(in_channels=1, out_channels=1), TinyDiscriminator(in_channels=1)
    gl = GeneratorLoss({"l1": {"loss": torch.nn.L1Loss()}, "gan": {"loss": AdversarialLoss(), "weight": 0.1}})
    t = SRGANTrainer(
        device="cpu", max_epochs=2, train_data_loader=train, generator=g, discriminator=d,
        optimizer_g=torch.optim.Adam(g.parameters(), 1e-3), optimizer_d=torch.optim.Adam(d.parameters(), 1e-3),
        generator_loss=gl, adversarial_loss=AdversarialLoss(), validator=make_validator(val), ckpt_dir=ckpt_dir,
        save_interval=1, tensorboard_dir=os.path.join(out_dir, "tb"),
    )  # fmt: skip
    t.run()
    report = {
        "distributed": is_distributed(),
        "ddp": isinstance(t.generator, torch.nn.parallel.DistributedDataParallel),
        "epoch_length": t.state.epoch_length,
        "iteration": t.state.iteration,
        "g_sum": float(sum(p.double().sum() for p in t.generator_raw.parameters())),
        "d_sum": float(sum(p.double().sum() for p in t.discriminator_raw.parameters())),
        "psnr": t.state.val_history[-1]["psnr"],
    }
    with open(os.path.join(out_dir, f"rank{get_rank()}.json"), "w") as f:
        json.dump(report, f)
    cleanup_distributed()
