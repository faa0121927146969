"""Training-set intensity statistics (per-channel mean and std) for :class:`~.normalize.ZScoreNormalize` (paper 000,
eq. 7), streamed one image at a time with Chan et al.'s parallel update.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from monai_srgan.errors import ConfigError

__all__ = ["compute_dataset_stats"]


def compute_dataset_stats(
    files: Iterable[Any],
    loader: Callable[[Any], torch.Tensor] | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    key: str = "image",
) -> dict[str, Any]:
    """Per-channel mean and standard deviation over a list of images, streaming one image at a time.

    The result is what :class:`ZScoreNormalize` takes (paper 000, eq. 7: ``mu``/``sigma`` of the training set) and
    is JSON-serialisable, e.g. for a bundle config. Per-image moments are merged with Chan et al.'s parallel update,
    so the numbers do not suffer from the cancellation of ``E[x^2] - E[x]^2``.

    Args:
        files: paths, :class:`~monai_srgan.io.InputItem`, or datalist dicts (``{key: path}``).
        loader: callable loading one entry (default :class:`~monai_srgan.transforms.io.LoadMedicalImage`).
        transform: optional callable applied after loading (e.g. ``ScaleToUnitRange()`` to get the statistics in
            the [0, 1] domain the z-score will be applied in).
        key: the path key of dict entries.

    Returns:
        ``{"mean": [...], "std": [...], "count": pixels per channel, "num_images": n}``.
    """
    if loader is None:
        from monai_srgan.transforms.io import LoadMedicalImage

        loader = LoadMedicalImage()
    n_tot, mean, m2 = 0, None, None
    n_img = 0
    for entry in files:
        src = entry[key] if isinstance(entry, Mapping) else entry
        img = loader(os.fspath(src) if isinstance(src, os.PathLike) else src)
        if transform is not None:
            img = transform(img)
        x = torch.as_tensor(img).detach().to(torch.float64).reshape(img.shape[0], -1)
        n = x.shape[1]
        m = x.mean(dim=1)
        v = ((x - m[:, None]) ** 2).sum(dim=1)
        if mean is None:
            n_tot, mean, m2 = n, m, v
        else:
            if m.shape != mean.shape:
                raise ConfigError(
                    f"compute_dataset_stats: {src} has {m.numel()} channels, earlier files {mean.numel()}"
                )
            delta = m - mean
            total = n_tot + n
            mean = mean + delta * (n / total)
            m2 = m2 + v + delta**2 * (n_tot * n / total)
            n_tot = total
        n_img += 1
    if mean is None:
        raise ConfigError("compute_dataset_stats: the file list is empty")
    std = torch.sqrt(m2 / n_tot)
    return {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "count": int(n_tot),
        "num_images": n_img,
    }
