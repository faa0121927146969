"""Small helpers shared by the training engines: RNG state capture, per-epoch data seeding, atomic saving.

Exact resume (the property BasicSR/Real-ESRGAN lack and users ask for, docs/architecture.md) rests on two rules:

1. the *data* randomness of an epoch (sampler shuffle, DataLoader worker seeds, MONAI random transforms) is a pure
   function of ``(seed, epoch, rank)``: :func:`seed_dataloader_for_epoch` re-seeds it at every epoch start, so a
   resumed run rebuilds the interrupted epoch and skips the batches already consumed;
2. the *training* randomness (dropout, pools, anything using the global generators) is saved in every checkpoint
   with :func:`get_rng_state` and put back with :func:`set_rng_state`.

All states are stored as tensors or plain containers so that checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from monai.data.utils import set_rnd
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler

from monai_srgan.errors import ConfigError, project_error
from monai_srgan.utils.precision import fast_bf16

__all__ = [
    "get_rng_state",
    "set_rng_state",
    "preserved_rng",
    "epoch_seed",
    "seed_dataloader_for_epoch",
    "set_requires_grad",
    "to_plain_tensor",
    "resolve_amp",
    "use_channels_last",
    "to_memory_format",
    "surface_input_errors",
    "prefetch_batches",
]

_MAX_SEED = 2**31 - 1


def get_rng_state() -> dict[str, Any]:
    """Capture python, numpy, torch (and CUDA, when initialised) global random states as tensors/plain containers."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states captured by :func:`get_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state(
        (npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block (validation, image logging) without disturbing the training random streams."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def epoch_seed(seed: int, epoch: int, restart: int = 0, rank: int = 0) -> int:
    """A seed that depends only on ``(seed, epoch, restart, rank)`` (``restart`` counts loader restarts in an epoch)."""
    value = (int(seed) * 1_000_003 + int(epoch) * 10_007 + int(restart) * 101 + int(rank) * 7_919) % _MAX_SEED
    return value


def seed_dataloader_for_epoch(loader: Any, seed: int, epoch: int, restart: int = 0, rank: int = 0) -> None:
    """Make the next ``iter(loader)`` a pure function of ``(seed, epoch, restart, rank)``.

    Seeds (i) the loader's ``generator`` (created when missing), which drives the ``RandomSampler`` shuffle and the
    base seed from which MONAI's ``worker_init_fn`` seeds each worker's transforms; (ii) a ``DistributedSampler`` via
    ``set_epoch``; (iii) with ``num_workers == 0``, the random state of every MONAI ``Randomizable`` transform of the
    dataset (``monai.data.utils.set_rnd``). Anything that is not a ``torch.utils.data.DataLoader`` is left alone.

    Note:
        ``persistent_workers=True`` keeps worker random states across epochs and so defeats (i) for workers; use the
        default ``persistent_workers=False`` when exact resume matters.
    """
    if not isinstance(loader, DataLoader):
        return
    value = epoch_seed(seed, epoch, restart, rank)
    gen = loader.generator
    if gen is None:
        gen = torch.Generator()
        loader.generator = gen
    gen.manual_seed(value)
    sampler = loader.sampler
    if isinstance(sampler, RandomSampler) and sampler.generator is not gen:
        sampler.generator = gen
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(int(epoch))
    if loader.num_workers == 0:
        set_rnd(loader.dataset, seed=(value * 31 + 17) % _MAX_SEED)


def set_requires_grad(model: torch.nn.Module | None, flag: bool) -> None:
    """Switch ``requires_grad`` of all parameters (used to freeze D during the generator step)."""
    if model is None:
        return
    for p in model.parameters():
        p.requires_grad_(flag)


def to_plain_tensor(x: Any) -> Any:
    """MetaTensor → plain ``torch.Tensor`` (no metadata tracking in the hot loop); other values unchanged."""
    if isinstance(x, torch.Tensor) and hasattr(x, "as_tensor"):
        return x.as_tensor()
    return x


def resolve_amp(amp: bool | str, device: torch.device | str) -> bool:
    """``amp`` of the trainers: a bool, or ``"auto"`` (CUDA, or a CPU with fast native bf16)."""
    if isinstance(amp, str):
        if amp.lower() != "auto":
            raise ConfigError(f'amp={amp!r}: use true, false or "auto".')
        return torch.device(device).type == "cuda" or (torch.device(device).type == "cpu" and fast_bf16())
    return bool(amp)


def use_channels_last(channels_last: bool | str, network: torch.nn.Module) -> bool:
    """``channels_last`` of the trainers: a bool, or ``"auto"`` (2D networks: yes; 3D: no)."""
    if isinstance(channels_last, str):
        if channels_last.lower() != "auto":
            raise ConfigError(f'channels_last={channels_last!r}: use true, false or "auto".')
        return getattr(network, "spatial_dims", None) == 2
    return bool(channels_last)


def to_memory_format(network: torch.nn.Module, channels_last: bool) -> torch.nn.Module:
    """Convert a 2D network's weights to channels-last in place (parameters stay the same objects)."""
    return network.to(memory_format=torch.channels_last) if channels_last else network


def surface_input_errors(it: Iterator) -> Iterator:
    """Iterate ``it``; a bad-input error raised inside a transform surfaces as itself, not as MONAI's wrapper."""
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except Exception as e:
            root = project_error(e)
            if root is not None and root is not e:
                raise root from None
            raise
        yield batch


def prefetch_batches(it: Iterator, depth: int = 2) -> Iterator:
    """Iterate ``it`` in a background thread, up to ``depth`` batches ahead (torch ops release the GIL, so batch
    preparation overlaps the training step). Errors are raised in the consumer, in order; closing the returned
    iterator (an epoch ends early) stops the thread."""
    buffer: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()
    end = object()

    def put(entry: tuple) -> bool:  # False once the consumer has gone
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in it:
                if not put((True, item)):
                    return
            put((True, end))
        except BaseException as e:  # delivered to the consumer
            put((False, e))

    worker = threading.Thread(target=produce, name="monai_srgan-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = buffer.get()
            if not ok:
                raise item
            if item is end:
                return
            yield item
    finally:
        stop.set()
