"""Packaging hook: the wheel carries the shipped MONAI bundles as package data (``monai_srgan/bundles/<name>``).

Everything else is in pyproject.toml. The bundles live at the repository root (``bundles/``, where the MONAI Model
Zoo layout and the docs expect them); ``build_py`` copies them into the package so that ``monai-srgan infer ...
--bundle cxr_sr`` and ``python -m monai_srgan.bundle path cxr_sr`` work from an installed wheel.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLE_IGNORE = shutil.ignore_patterns("runs", "*.ts", "__pycache__", "*.pyc", ".*")


class BuildPyWithBundles(build_py):
    """``build_py`` plus a copy of ``bundles/`` into ``<build>/monai_srgan/bundles``."""

    def run(self):
        super().run()
        src = Path(__file__).resolve().parent / "bundles"
        if not src.is_dir():  # building from an sdist made without bundles/
            raise FileNotFoundError(f"bundles/ not found next to setup.py ({src})")
        dest = Path(self.build_lib) / "monai_srgan" / "bundles"
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest, ignore=BUNDLE_IGNORE)


setup(cmdclass={"build_py": BuildPyWithBundles})
