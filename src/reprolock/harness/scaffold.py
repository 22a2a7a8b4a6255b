"""``repro golden init``: a commented suite table guessed from the project, and an inputs stub.

Nothing of the project is imported or run: the layout is read from the file system, the lock
is the first file a lock reader accepts, the base image the first local image with Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from reprolock.config import SUITE_NAME as _SUITE_NAME
from reprolock.errors import ReproError, UsageError
from reprolock.files import atomic_write_text, inside, read_text
from reprolock.harness.lockfile import read_lock

_LOCK_NAMES = (
    "requirements.txt",
    "requirements-lock.txt",
    "requirements/prod.txt",
    "requirements/main.txt",
    "requirements/base.txt",
    "uv.lock",
    "poetry.lock",
    "pylock.toml",
)
_PLACEHOLDER_IMAGE = "python:3.11-slim"
"""A tag (accepted with a warning) when no local image has Python: pin it by digest."""

INPUTS_STUB = '''\
"""Writes the inputs of suite {name}: the arrays its entrypoint is called with.

Run it once (python {path}) and commit the inputs.npz it writes beside itself; replace the
example with real data: each keyword of np.savez is an array the entrypoint receives.
"""

from pathlib import Path

import numpy as np

rng = np.random.default_rng(0)  # seeded: the inputs must not change between runs
np.savez(Path(__file__).with_name("inputs.npz"), X=rng.normal(size=(200, 4)))
'''


@dataclass(frozen=True, kw_only=True, slots=True)
class Scaffold:
    """What ``repro golden init`` found and wrote."""

    config: Path
    """The config file the suite table was added to."""
    stub: Path | None
    """The inputs script written; None when one was there already."""
    guesses: tuple[str, ...]
    """What was guessed and from what, one line each."""


def python_images(client: docker.DockerClient) -> list[str]:
    """Tags of local images that look like Python base images (reprolock's own left out)."""
    try:
        images = client.images.list()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return []
    tags = sorted({str(tag) for image in images for tag in image.tags or ()})
    return [tag for tag in tags if "python" in tag and not tag.startswith("reprolock-env")]


def _layout(project: Path) -> tuple[list[str], list[str], str, str]:
    """``(source, pythonpath, entrypoint, why)`` from a src layout or a top-level package."""
    src = project / "src"
    if src.is_dir():
        for package in sorted(p for p in src.iterdir() if (p / "__init__.py").is_file()):
            module = f"{package.name}.model" if (package / "model.py").is_file() else package.name
            where = f"src/{package.name}"
            return ["src"], ["src"], f"{module}:predict", f"src layout: {where}"
    for package in sorted(p for p in project.iterdir() if (p / "__init__.py").is_file()):
        if package.name not in {"tests", "test", "docs"}:
            return [package.name], [], f"{package.name}:predict", f"package {package.name}"
    return ["."], [], "model:predict", "no package found: a model.py at the top"


def _lock(project: Path) -> tuple[str, str]:
    for name in _LOCK_NAMES:
        path = project / name
        if not path.is_file():
            continue
        try:
            read_lock(path)
        except (ReproError, OSError):
            continue
        return name, f"lock {name}: read as a lock"
    return "requirements.txt", "no lock found: pip-compile --generate-hashes writes one"


def suite_table(
    name: str, project: Path, base_images: Sequence[str], *, prefix: str
) -> tuple[str, list[str]]:
    """The commented TOML table of a new suite and what was guessed."""
    source, pythonpath, entrypoint, layout = _layout(project)
    lock, lock_why = _lock(project)
    image = base_images[0] if base_images else _PLACEHOLDER_IMAGE
    image_why = (
        f"base image {image}: a local image with Python"
        if base_images
        else f"base image {image}: no local image with Python; pin one by digest"
    )
    inputs = f"golden/{name}/inputs.npz"
    table = f"""
# Suite {name}, written by `repro golden init`: check each value, then
# `python golden/{name}/make_inputs.py`, `repro golden check` and `repro golden record`.
[{prefix}suites.{name}]
lock = "{lock}"                      # hashed: pip-compile --generate-hashes, uv.lock, poetry.lock
base-image = "{image}"   # best pinned: name@sha256:<digest> (or a local image's sha256:<id>)
entrypoint = "{entrypoint}"   # f(inputs: dict of arrays) -> array or dict of arrays
inputs = "{inputs}"
golden = "golden/{name}/golden.npz"
source = {_toml_list(source)}                    # mounted read-only at /work/<path>
pythonpath = {_toml_list(pythonpath)}                # added to sys.path in the container
# rtol = 1e-7                         # floats match when |a-g| <= atol + rtol*|g|
# atol = 0.0
# max-label-flip-rate = 0.0           # share of labels allowed to differ
# [{prefix}suites.{name}.outputs.proba]   # per output: rtol, atol, max-label-flip-rate,
# atol = 1e-6                         # noise = "accept" for an output two runs disagree on
"""
    return table, [layout, lock_why, image_why]


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def scaffold(
    name: str, project: Path, base_images: Sequence[str], existing: Sequence[str]
) -> Scaffold:
    """Add suite ``name`` to the project's config (pyproject.toml unless a repro.toml is there)
    and write its inputs stub; a suite of that name already configured is a usage error."""
    if not _SUITE_NAME.match(name):
        raise UsageError(f"{name!r}: a suite name takes letters, digits, '.', '_' and '-' only")
    if name in existing:
        raise UsageError(f"suite {name} is already configured; pick another name")
    dedicated = project / "repro.toml"
    config = dedicated if dedicated.is_file() else project / "pyproject.toml"
    prefix = "" if config == dedicated else "tool.repro."
    stub = project / "golden" / name / "make_inputs.py"
    # Both are written: a config file or a golden/ directory linked out of the project is
    # refused before anything is.
    for written in (config, stub):
        inside(project, written.relative_to(project), what="repro golden init")
    table, guesses = suite_table(name, project, base_images, prefix=prefix)
    before = read_text(config) if config.is_file() else ""
    separator = "" if not before or before.endswith("\n") else "\n"
    atomic_write_text(config, before + separator + table)
    if stub.exists():
        return Scaffold(config=config, stub=None, guesses=tuple(guesses))
    stub.parent.mkdir(parents=True, exist_ok=True)
    relative = stub.relative_to(project).as_posix()
    atomic_write_text(stub, INPUTS_STUB.format(name=name, path=relative))
    return Scaffold(config=config, stub=stub, guesses=tuple(guesses))
