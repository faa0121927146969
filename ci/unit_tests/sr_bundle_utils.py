"""Helpers shared by the Model Zoo-style bundle tests (``ci/unit_tests/test_<bundle>.py``).

The zoo's ``ci/unit_tests`` files build a small dataset in ``setUp``, override the bundle's configs and run
``train.json``, ``evaluate.json`` and ``inference.json`` through ``monai.bundle.ConfigWorkflow`` (initialize, check the
bundle properties, run, finalize). Here the data are small real images and crops from the project's shared data
(``MONAI_SRGAN_DATA``, default ``../shared/data``): missing data is an error, never a skip.

Run them as the zoo does (``python ci/unit_tests/runner.py -b <bundle>`` there; here ``python -m unittest
ci/unit_tests/test_retina_sr.py``) or with ``pytest`` (they are in the project's ``testpaths``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bundle_root(name: str) -> str:
    """The bundle folder (``models/<name>`` in the Model Zoo, ``bundles/<name>`` in this repository)."""
    return str(REPO / "bundles" / name)


def data_root() -> Path:
    """The shared data folder (the one holding ``MANIFEST.md``); raises when it is not there."""
    env = os.environ.get("MONAI_SRGAN_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not (root / "MANIFEST.md").is_file():
        raise FileNotFoundError(
            f"Shared test data not found at '{root}'. Set MONAI_SRGAN_DATA to the shared data folder "
            "(the one holding MANIFEST.md); the bundle tests never skip for missing data."
        )
    return root


def write_fundus(folder: str | os.PathLike, names: list[str], width: int = 480) -> list[Path]:
    """Fundus photographs made small (``width`` px wide, the whole field of view kept) as PNG."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        im = Image.open(data_root() / "retina" / n)
        im.draft("RGB", (im.width // 4, im.height // 4))  # JPEG: decode at 1/4 size
        im = im.convert("RGB").resize((width, round(width * im.height / im.width)), Image.BICUBIC)
        out.append(folder / (Path(n).stem + ".png"))
        im.save(out[-1])
    return out


def write_radiographs(folder: str | os.PathLike, names: list[str], size: int = 256) -> list[Path]:
    """Chest radiographs resized to ``size``² as PNG (the files' own mode: grey, or RGBA for one of them)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        out.append(folder / (Path(n).stem + ".png"))
        Image.open(data_root() / "cxr" / n).resize((size, size), Image.BICUBIC).save(out[-1])
    return out


def write_crop(src: str | os.PathLike, dst: str | os.PathLike, size: int) -> Path:
    """A centred ``size``² crop of a 2D image file."""
    from PIL import Image

    im = Image.open(src)
    left, top = (im.width - size) // 2, (im.height - size) // 2
    im.crop((left, top, left + size, top + size)).save(dst)
    return Path(dst)


def write_volumes(folder: str | os.PathLike, in_plane: int = 48, ct_slices: int = 64) -> dict[str, Path]:
    """Centred in-plane crops of the shared CT (its last ``ct_slices`` slices) and MR volumes, under
    ``folder/volumes/`` with the shared names (``ct_mr_sr_3d``'s ``ct_file``/``mr_file``); affines kept."""
    import nibabel as nib

    vol = Path(folder) / "volumes"
    vol.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, name, slices in (("ct", "totalseg_example_ct.nii.gz", ct_slices),
                              ("mr", "totalseg_example_mr_sm.nii.gz", None)):  # fmt: skip
        img = nib.load(str(data_root() / "volumes" / name))
        x0, y0 = (img.shape[0] - in_plane) // 2, (img.shape[1] - in_plane) // 2
        z = slice(None) if slices is None else slice(img.shape[2] - slices, None)
        out[key] = vol / name
        nib.save(img.slicer[x0 : x0 + in_plane, y0 : y0 + in_plane, z], str(out[key]))
    return out


def run_workflow(workflow_type: str, config_file: str | list[str], check_properties: bool = True, **override):
    """``ConfigWorkflow`` as the zoo's tests run it: initialize, check the bundle properties (for ``train`` and
    ``infer``), run, finalize. ``override`` holds ``bundle_root`` and the config overrides."""
    from monai.bundle import ConfigWorkflow

    root = override["bundle_root"]
    wf = ConfigWorkflow(
        workflow_type=workflow_type,
        config_file=config_file,
        logging_file=os.path.join(root, "configs/logging.conf"),
        meta_file=os.path.join(root, "configs/metadata.json"),
        **override,
    )
    wf.initialize()
    if check_properties:
        result = wf.check_properties()
        if result:
            raise ValueError(f"check properties for the {workflow_type} config failed: {result}")
    wf.run()
    wf.finalize()
    return wf
