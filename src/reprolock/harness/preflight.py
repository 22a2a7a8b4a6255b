"""Checks of a suite on the host, before anything is built: mistakes in the config exit 2.

A wrong module name, inputs that are not an ``.npz`` or an ``outputs.NAME`` table naming no
output would otherwise cost a build and a run, and read as "behaviour changed" or "broken".
Nothing here imports or runs the project's code: the entrypoint's module is found by its path
and read with :mod:`ast`.
"""

from __future__ import annotations

import ast
import difflib
import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors
import requests.exceptions

from reprolock.config import Suite
from reprolock.errors import ConfigError, ReproError
from reprolock.files import read_bytes, read_text
from reprolock.harness import runner
from reprolock.harness.docker import DockerUnavailableError, explain
from reprolock.harness.image import close_tags
from reprolock.harness.lockfile import read_lock

_MAX_MODULE = 8 * 2**20
"""Larger than any hand-written module: past it the function is not looked for."""
_MAX_GOLDEN_JSON = 16 * 2**20


@dataclass(frozen=True, kw_only=True, slots=True)
class SuiteCheck:
    """What ``repro golden check`` found for one suite."""

    suite: str
    """The suite's name."""
    facts: tuple[str, ...] = ()
    """What was found, one line each (the module's file, the inputs' arrays)."""
    problems: tuple[str, ...] = ()
    """Configuration mistakes, one line each; any of them exits 2."""


def check_suite(suite: Suite) -> SuiteCheck:
    """Every host-side check of ``suite``; never raises for a mistake in the project."""
    facts: list[str] = []
    problems: list[str] = []
    try:
        read_lock(suite.lock_path)
    except ReproError as exc:
        problems.append(str(exc))
    for check in (_entrypoint, _inputs, _outputs):
        found, problem = check(suite)
        facts.extend(found)
        if problem is not None:
            problems.append(f"suite {suite.name}: {problem}")
    return SuiteCheck(suite=suite.name, facts=tuple(facts), problems=tuple(problems))


def require(suites: Iterable[Suite]) -> None:
    """Raise :class:`ConfigError` (exit 2) with the first suite's mistakes, one per ``; ``.

    An unreadable or unsafe lock raises its own error first, as the harness would.
    """
    for suite in suites:
        read_lock(suite.lock_path)
        problems = check_suite(suite).problems
        if problems:
            raise ConfigError("; ".join(problems))


# --- entrypoint ----------------------------------------------------------------------------


def _posix(entry: str) -> str:
    return posixpath.normpath(PurePosixPath(Path(entry).as_posix()).as_posix())


def _mounted(suite: Suite, relative: str) -> bool:
    """Whether a path relative to the config's directory is inside a ``source`` entry."""
    for entry in suite.source:
        root = _posix(entry)
        if root in (".", relative) or relative.startswith(f"{root}/"):
            return True
    return False


def _module_file(suite: Suite, root: str, parts: list[str]) -> str | None:
    """The module's file under ``root`` (relative to the config's directory), if on the host."""
    base = posixpath.join(root, *parts)
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        relative = _posix(candidate)
        if suite.path(relative).is_file():
            return relative
    return None


def _entrypoint(suite: Suite) -> tuple[list[str], str | None]:
    module, _, function = suite.entrypoint.partition(":")
    parts = module.split(".")
    # The runner's sys.path: each pythonpath entry under /work, then /work itself.
    on_path = [*(_posix(entry) for entry in suite.pythonpath), "."]
    for root in on_path:
        found = _module_file(suite, root, parts)
        if found is None:
            continue
        if not _mounted(suite, found):
            where = posixpath.dirname(found) or "."
            mounted = ", ".join(suite.source) or "nothing"
            return [], (
                f"entrypoint {suite.entrypoint}: {module} is at {found} but {where} is not in "
                f"source (mounted: {mounted}); add it to source in {suite.where}"
            )
        return _function(suite, found, function)
    elsewhere = [
        root
        for root in dict.fromkeys([*(_posix(entry) for entry in suite.source), "src"])
        if root not in on_path and _module_file(suite, root, parts[:1]) is not None
    ]
    if elsewhere:
        root = elsewhere[0]
        package = posixpath.join(root, parts[0])
        return [], (
            f"entrypoint {suite.entrypoint}: {parts[0]} is at {package} but {root} is not on "
            f'pythonpath; add pythonpath = ["{root}"] to {suite.where}'
        )
    if _installed_by_lock(suite, parts[0]):
        return [f"entrypoint {suite.entrypoint}: {parts[0]} is installed by the lock"], None
    searched = ", ".join(posixpath.normpath(f"/work/{root}") for root in on_path)
    guess = _close_module(suite, on_path, parts)
    return [], (
        f"entrypoint {suite.entrypoint}: no module {module} in the suite's source (looked in "
        f"{searched} for {'/'.join(parts)}.py or {'/'.join(parts)}/__init__.py); "
        + (f"did you mean {guess}? " if guess else "")
        + f"check its spelling, source and pythonpath in {suite.where}"
    )


def _close_module(suite: Suite, roots: list[str], parts: list[str]) -> str | None:
    """A module beside where ``parts`` was looked for whose name is close to its last part."""
    for root in roots:
        directory = suite.path(posixpath.join(root, *parts[:-1]))
        if not directory.is_dir():
            continue
        names = sorted(
            path.stem if path.suffix == ".py" else path.name
            for path in directory.iterdir()
            if (path.suffix == ".py" and path.stem != "__init__")
            or (path / "__init__.py").is_file()
        )
        close = difflib.get_close_matches(parts[-1], names, n=1, cutoff=0.6)
        if close:
            return ".".join([*parts[:-1], close[0]])
    return None


def _installed_by_lock(suite: Suite, top: str) -> bool:
    """Whether a lock entry's name is the top-level module's (``scikit_learn`` for a package
    ``scikit-learn``): an entrypoint may live in an installed distribution."""
    try:
        lock = read_lock(suite.lock_path)
    except (ReproError, OSError):
        return False  # the lock's own error is reported where it is read
    wanted = top.lower().replace("_", "-")
    return any(req.name.lower().replace("_", "-") == wanted for req in lock.requirements)


def _function(suite: Suite, found: str, function: str) -> tuple[list[str], str | None]:
    fact = f"entrypoint {suite.entrypoint}: {found}"
    try:
        tree = ast.parse(read_text(suite.path(found), limit=_MAX_MODULE), filename=found)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        # Unreadable or invalid: the run reports it with the interpreter's own words.
        return [fact], None
    names, dynamic = _top_level_names(tree.body)
    if dynamic or function in names:
        return [fact], None
    defined = sorted(name for name, is_function in names.items() if is_function)
    listed = f"functions there: {', '.join(defined)}" if defined else "it defines no function"
    return [], f"entrypoint {suite.entrypoint}: {found} has no {function} ({listed})"


def _top_level_names(body: list[ast.stmt]) -> tuple[dict[str, bool], bool]:
    """Names bound at a module's top level (True for functions and classes), and whether
    names can appear that the text does not show (``import *``, a module ``__getattr__``)."""
    names: dict[str, bool] = {}
    dynamic = False
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = True
            dynamic = dynamic or node.name == "__getattr__"
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for bound in ast.walk(target):
                    if isinstance(bound, ast.Name):
                        names.setdefault(bound.id, False)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    dynamic = True
                names.setdefault(alias.asname or alias.name.split(".")[0], False)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for block in _blocks(node):
                inner, more = _top_level_names(block)
                dynamic = dynamic or more
                for inner_name, is_function in inner.items():
                    names[inner_name] = names.get(inner_name, False) or is_function
    return names, dynamic


def _blocks(node: ast.If | ast.Try | ast.With) -> list[list[ast.stmt]]:
    if isinstance(node, ast.If):
        return [node.body, node.orelse]
    if isinstance(node, ast.With):
        return [node.body]
    return [node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)]


# --- inputs and outputs --------------------------------------------------------------------


def describe_arrays(arrays: Mapping[str, tuple[tuple[int, ...], Any]]) -> str:
    """``X (float64, 300x4), y (int64, 300)``."""
    return ", ".join(
        f"{name} ({dtype}, {'x'.join(str(n) for n in shape) or 'scalar'})"
        for name, (shape, dtype) in arrays.items()
    )


def _inputs(suite: Suite) -> tuple[list[str], str | None]:
    path = suite.inputs_path
    if not path.is_file():
        return [], f"inputs {suite.inputs}: no such file"
    try:
        with path.open("rb") as handle:
            arrays = runner.npz_members(handle, what=f"inputs {suite.inputs}")
    except runner.NpzError as exc:
        return [], (
            f"{exc}; the inputs must be an .npz of named arrays, as numpy.savez(path, X=...) writes"
        )
    except OSError as exc:
        return [], f"inputs {suite.inputs}: cannot read: {exc.strerror or exc}"
    if not arrays:
        return [], f"inputs {suite.inputs}: holds no array"
    return [f"inputs {suite.inputs}: {describe_arrays(arrays)}"], None


def _recorded_outputs(suite: Suite) -> list[str] | None:
    """The output names golden.json lists, or None when there is no readable golden.json."""
    path = suite.golden_json_path
    if not path.is_file():
        return None
    try:
        meta = json.loads(read_bytes(path, limit=_MAX_GOLDEN_JSON))
    except (OSError, ValueError, RecursionError):
        return None  # replay reports an unreadable golden itself (exit 3)
    outputs = meta.get("outputs") if isinstance(meta, dict) else None
    return sorted(outputs) if isinstance(outputs, dict) else None


def unknown_outputs(suite: Suite, recorded: Iterable[str]) -> str | None:
    """The mistake of ``outputs.NAME`` tables that name no ``recorded`` output, or None."""
    names = sorted(recorded)
    unknown = [name for name in suite.outputs if name not in names]
    if not unknown:
        return None
    tables = ", ".join(suite.output_table(name) for name in unknown)
    return f"{tables}: no such output (recorded: {', '.join(names) or 'none'})"


def _outputs(suite: Suite) -> tuple[list[str], str | None]:
    recorded = _recorded_outputs(suite)
    if recorded is None:
        return [], None
    return [f"golden outputs: {', '.join(recorded)}"], unknown_outputs(suite, recorded)


# --- base image ----------------------------------------------------------------------------


def check_base_image(client: docker.DockerClient, suite: Suite) -> tuple[str | None, str | None]:
    """``(fact, problem)`` about the suite's base image on this daemon; nothing is pulled.

    Raises :class:`DockerUnavailableError` when the daemon does not answer.
    """
    reference = suite.base_image
    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        if "@sha256:" in reference:
            return f"base image {reference}: not here yet; pulled by the first build", None
        close = close_tags(client, reference)
        hint = f"; local images with a similar name: {', '.join(close)}" if close else ""
        return None, (
            f"suite {suite.name}: base image {reference} is not on this Docker daemon{hint}"
        )
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerUnavailableError(f"base image {reference}: {explain(exc)}") from None
    return f"base image {reference}: present ({str(image.id)[:19]})", None
