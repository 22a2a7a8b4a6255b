"""Projects and sdists whose setup.py leaves a file behind when anything runs it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

CANARY_NAME = "reprolock-canary-sdist"
"""A project name not on the index: only the repository's own sdist could provide it."""


def setup_py(canary: Path, name: str = CANARY_NAME) -> str:
    """A setup.py that writes ``canary`` when executed (by a build, or by pip for metadata)."""
    return (
        "import pathlib\n"
        f"pathlib.Path({str(canary)!r}).write_text('setup.py ran')\n"
        "from setuptools import setup\n"
        f"setup(name={name!r}, version='1.0')\n"
    )


def write_sdist(folder: Path, canary: Path, name: str = CANARY_NAME) -> Path:
    """``folder/NAME-1.0.tar.gz``: an sdist whose setup.py writes ``canary``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-1.0.tar.gz"
    files = {
        "setup.py": setup_py(canary, name),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
    }
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def write_project(folder: Path, canary: Path, name: str = CANARY_NAME) -> Path:
    """A local project (``-e .`` / ``./pkg``) whose setup.py writes ``canary``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "setup.py").write_text(setup_py(canary, name), encoding="utf-8")
    return folder
