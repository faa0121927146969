"""torchrun / DDP helpers: the same training config runs alone or under ``torchrun --nproc_per_node=N``.

Initialisation reads torchrun's environment variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``); no ``--local_rank`` flag is needed. The backend is NCCL when CUDA is available
and gloo otherwise. :func:`make_dataloader` picks a ``DistributedSampler`` when a process group is up, and the
trainers wrap their networks in ``DistributedDataParallel`` themselves; only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from monai.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

__all__ = [
    "init_distributed",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "distributed_device",
    "make_dataloader",
    "wrap_ddp",
    "cleanup_distributed",
    "barrier",
    "ProcessShard",
]


def is_distributed() -> bool:
    """True when a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def init_distributed(backend: str | None = None, timeout_s: float | None = None) -> bool:
    """Initialise the default process group from torchrun's environment, once; a no-op when not under torchrun.

    Args:
        backend: ``"nccl"``/``"gloo"``; default NCCL when CUDA is available, else gloo.
        timeout_s: collective timeout in seconds (PyTorch default when ``None``).

    Returns:
        True when running distributed (world size > 1) after the call.
    """
    if not dist.is_available():
        return False
    if dist.is_initialized():
        return dist.get_world_size() > 1
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or "RANK" not in os.environ:
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    kwargs: dict[str, Any] = {"backend": backend, "init_method": "env://"}
    if timeout_s is not None:
        import datetime

        kwargs["timeout"] = datetime.timedelta(seconds=float(timeout_s))
    dist.init_process_group(**kwargs)
    return dist.get_world_size() > 1


def distributed_device(device: str | torch.device) -> torch.device:
    """Under torchrun a bare ``"cuda"`` becomes ``cuda:LOCAL_RANK``; other devices are returned unchanged."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and is_distributed():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def make_dataloader(
    dataset: Any,
    batch_size: int = 1,
    shuffle: bool = True,
    num_workers: int = 0,
    drop_last: bool = True,
    seed: int = 0,
    pin_memory: bool = False,
    collate_fn: Callable | None = None,
    distributed: bool | None = None,
    **kwargs: Any,
) -> DataLoader:
    """A MONAI ``DataLoader`` that shards the data with a ``DistributedSampler`` when run under torchrun.

    Calls :func:`init_distributed` first, so a config that builds its loader with this function needs nothing
    else to run under ``torchrun``. The trainers re-seed the loader at every epoch (exact resume).

    Args:
        dataset: a map-style dataset (e.g. from ``monai_srgan.transforms.build_sr_dataset``).
        batch_size: per-process batch size.
        shuffle: shuffle each epoch (training); ``False`` for validation.
        num_workers: DataLoader workers.
        drop_last: drop the incomplete last batch (training default).
        seed: seed of the ``DistributedSampler`` shuffle.
        distributed: shard across processes; default: shard training loaders (``shuffle=True``) and give every
            process the whole set for validation (``shuffle=False``), so all ranks compute the same metrics.
        pin_memory, collate_fn, kwargs: passed to the DataLoader.
    """
    init_distributed()
    shard = bool(shuffle) if distributed is None else bool(distributed)
    if is_distributed() and shard:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
        kwargs["sampler"] = sampler
        shuffle = False
    if collate_fn is not None:
        kwargs["collate_fn"] = collate_fn
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        **kwargs,
    )


def wrap_ddp(model: torch.nn.Module, device: torch.device, find_unused_parameters: bool = False) -> torch.nn.Module:
    """Wrap ``model`` (already on ``device``) in ``DistributedDataParallel`` when distributed, else return it."""
    if not is_distributed() or not any(p.requires_grad for p in model.parameters()):
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=device_ids, find_unused_parameters=find_unused_parameters
    )


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup_distributed() -> None:
    """Destroy the process group (end of a torchrun script, or a bundle's ``finalize``).

    Every rank waits at a barrier first: a rank that tears gloo down while a peer is still writing checkpoints or
    finishing a collective can abort at exit ("terminate called without an active exception").
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class ProcessShard:
    """This process's share of a batch job: everything alone, a :func:`monai.data.partition_dataset` shard under
    torchrun (the inference runner and ``evaluate.json`` use it; rank ``r`` of ``N`` takes items ``r, r + N, ...``).

    The process group comes from :func:`init_distributed` (NCCL for a CUDA device, gloo otherwise); :meth:`close`
    tears down only a group that this shard started (the caller's own group stays).

    Args:
        device: where the work runs (``"cuda..."`` picks NCCL).
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        started = dist.is_available() and not dist.is_initialized()
        self.active = init_distributed(backend="nccl" if str(device).startswith("cuda") else "gloo")
        self.started_here = started and self.active
        self.rank, self.world = get_rank(), get_world_size()

    def indices(self, n: int) -> list[int]:
        """The indices of ``n`` items this rank takes (fewer items than ranks: the last ranks get none)."""
        if not self.active:
            return list(range(n))
        from monai.data import partition_dataset

        if n < self.world:  # partition_dataset refuses fewer items than partitions
            return [self.rank] if self.rank < n else []
        parts = partition_dataset(list(range(n)), num_partitions=self.world, shuffle=False, even_divisible=False)
        return list(parts[self.rank])

    def gather(self, part: Any) -> list[Any] | None:
        """Every rank's ``part`` on rank 0, in rank order (``None`` on the other ranks)."""
        if not self.active:
            return [part]
        got: list[Any] | None = [None] * self.world if self.rank == 0 else None
        dist.gather_object(part, got, dst=0)
        return got

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait for every rank (a no-op alone)."""
        if self.active:
            dist.barrier()

    def close(self) -> None:
        """Tear down the process group when this shard started it (every rank at a barrier first)."""
        if self.started_here:
            cleanup_distributed()
