"""Target selection and strict refusal: a lock read by :mod:`reprolock.formats` becomes exact,
hashed requirements from the package index, and those that apply to one target."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import SpecifierSet

from reprolock.errors import UnansweredError
from reprolock.formats.errors import cut, token
from reprolock.formats.lock import (
    DependencyEdge,
    DependencyGraph,
    LockEntry,
    Source,
    pin_problem,
    sha256_hashes,
    valid_name,
)
from reprolock.formats.read import IncludeOutsideError, LockError, load, lock_format

LockFormat = Literal["requirements", "uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock", "pylock"]

DIGEST_VERSION = 1
"""Bumped whenever :meth:`Lock.digest` would hash the same requirements differently."""


class ProbeError(UnansweredError):
    """The base image's probe output does not describe a usable CPython (exit 3)."""


# --------------------------------------------------------------------------------------------
# The target: what a base image's python3 is, read once by the probe (harness/probe.py)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetEnvironment:
    """The interpreter and platform of a base image, as markers and wheel tags see them."""

    python_version: str
    """``3.11``."""
    python_full_version: str
    """``3.11.2``."""
    implementation_name: str
    """``cpython``."""
    platform_machine: str
    """``x86_64``."""
    sys_platform: str
    """``linux``."""
    platform_system: str
    """``Linux``."""
    os_name: str
    """``posix``."""
    platform_tags: tuple[str, ...]
    """Compatible wheel tags (``cp311-cp311-manylinux_2_36_x86_64``...), most preferred first,
    in the order ``packaging.tags.sys_tags()`` gives inside the image."""
    implementation_version: str = ""
    """``3.11.2`` (empty: same as :attr:`python_full_version`)."""
    platform_python_implementation: str = "CPython"
    """``CPython``."""
    platform_release: str = ""
    """The kernel release the probe saw (the host's: containers share its kernel)."""
    platform_version: str = ""
    """The kernel build string the probe saw."""

    def markers(self) -> dict[str, str]:
        """The PEP 508 marker environment of the target (``extra`` excluded)."""
        return {
            "implementation_name": self.implementation_name,
            "implementation_version": self.implementation_version or self.python_full_version,
            "os_name": self.os_name,
            "platform_machine": self.platform_machine,
            "platform_python_implementation": self.platform_python_implementation,
            "platform_release": self.platform_release,
            "platform_system": self.platform_system,
            "platform_version": self.platform_version,
            "python_full_version": self.python_full_version,
            "python_version": self.python_version,
            "sys_platform": self.sys_platform,
        }

    @property
    def interpreter(self) -> str:
        """``cp311``: the interpreter part of this target's own tags."""
        return "cp" + self.python_version.replace(".", "")

    @property
    def abis(self) -> tuple[str, ...]:
        """Interpreter-specific ABIs (``cp311``; ``cp313t`` when free-threaded), best first."""
        found: dict[str, None] = {}
        for tag in self.platform_tags:
            interpreter, abi, _ = tag.split("-", 2)
            if interpreter == self.interpreter and abi not in {"none", "abi3", "abi3t"}:
                found[abi] = None
        return tuple(found)

    @property
    def platforms(self) -> tuple[str, ...]:
        """Platform parts of the tags (``manylinux_2_36_x86_64``...), ``any`` excluded."""
        found: dict[str, None] = {}
        for tag in self.platform_tags:
            platform = tag.split("-", 2)[2]
            if platform != "any":
                found[platform] = None
        return tuple(found)

    def describe(self) -> str:
        """``Python 3.11.2 (cp311, manylinux_2_36_x86_64)``: the target, for messages."""
        platforms = self.platforms
        portable = [p for p in platforms if not p.startswith("linux_")]
        best = (portable or list(platforms) or ["any"])[0]
        abi = self.abis[0] if self.abis else self.interpreter
        return f"Python {self.python_full_version} ({abi}, {best})"

    def to_dict(self) -> dict[str, Any]:
        """The probe-shaped mapping :meth:`from_probe` reads back (JSON-ready)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _PROBE_FIELDS}
        out["platform_tags"] = list(self.platform_tags)
        return out

    @classmethod
    def from_probe(cls, data: Mapping[str, Any]) -> TargetEnvironment:
        """Build the target from the JSON :mod:`reprolock.harness.probe` prints (unknown keys
        are ignored)."""
        values: dict[str, str] = {}
        for name in _PROBE_FIELDS:
            value = data.get(name)
            if name in _OPTIONAL_PROBE_FIELDS and value is None:
                continue
            if not isinstance(value, str) or (not value and name not in _OPTIONAL_PROBE_FIELDS):
                raise ProbeError(f"the base image probe gave no usable {name!r}: {value!r}")
            values[name] = value
        tags = data.get("platform_tags")
        if (
            not isinstance(tags, list | tuple)
            or not tags
            or not all(isinstance(t, str) and t.count("-") >= 2 for t in tags)
        ):
            raise ProbeError("the base image probe gave no compatible wheel tags")
        if values["implementation_name"] != "cpython":
            raise ProbeError(
                f"the base image's python3 is {values['implementation_name']}; "
                "the harness installs CPython wheels"
            )
        if not re.fullmatch(r"\d+\.\d+", values["python_version"]):
            raise ProbeError(
                f"the base image probe gave python_version {values['python_version']!r}"
            )
        return cls(platform_tags=tuple(tags), **values)


_OPTIONAL_PROBE_FIELDS = frozenset(
    {
        "implementation_version",
        "platform_python_implementation",
        "platform_release",
        "platform_version",
    }
)
_PROBE_FIELDS = (
    "python_version",
    "python_full_version",
    "implementation_name",
    "implementation_version",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "sys_platform",
    "os_name",
)

# --------------------------------------------------------------------------------------------
# Locked requirements
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedRequirement:
    """One exact, hashed pin of a lock."""

    name: str
    """Canonical project name."""
    version: str
    """The exact version (normalised)."""
    hashes: tuple[str, ...]
    """``sha256:<hex>`` of the locked files, sorted (other algorithms are dropped)."""
    marker: str | None
    """The environment marker of the entry, unevaluated."""
    source: str
    """``path:line`` of the entry, for messages."""
    url: str | None = None
    """Lenient reads only (``read_lock(strict=False)``): the VCS URL, archive URL or path the
    entry installs from instead of the index; its :attr:`version` is then "" when the lock
    records none. A strict read refuses such entries."""

    @property
    def pin(self) -> str:
        """``name==version``."""
        return f"{self.name}=={self.version}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Lock:
    """A lock file read into exact, hashed requirements."""

    path: Path
    """The file read."""
    format: LockFormat
    """``requirements`` | ``uv.lock`` | ``poetry.lock`` | ``pylock``."""
    requirements: tuple[LockedRequirement, ...]
    """Every entry, in file order, markers unevaluated."""
    graph: DependencyGraph | None = None
    """The dependency graph, for formats whose per-package markers are not enough."""
    requires_python: str | None = None
    """The lock's own Python constraint (uv.lock, pylock.toml), checked against the target."""
    extras: tuple[str, ...] = ()
    """pylock.toml: every extra the lock offers (all are selected)."""
    dependency_groups: tuple[str, ...] = ()
    """pylock.toml: every dependency group the lock offers (all are selected)."""

    def for_target(self, target: TargetEnvironment) -> tuple[LockedRequirement, ...]:
        """The requirements that apply on ``target``, sorted by name.

        Every extra and dependency group the lock carries is selected. Raises
        :class:`LockError` when the lock excludes the target's Python or selects two
        versions of one package.
        """
        self._check_python(target)
        env = target.markers()
        chosen = [
            (index, req)
            for index, req in enumerate(self.requirements)
            if self._holds(req.marker, env, req.source)
        ]
        if self.graph is not None:
            reached = self._reached(self.graph, env)
            chosen = [(index, req) for index, req in chosen if index in reached]
        by_name: dict[str, LockedRequirement] = {}
        for _, req in chosen:
            other = by_name.get(req.name)
            if other is not None and other.version != req.version:
                raise LockError(
                    f"{req.source}: {req.pin} and {other.pin} (at {other.source}) both apply "
                    f"to {target.describe()}"
                )
            if other is not None:
                req = LockedRequirement(  # noqa: PLW2901 - one entry per name, hashes merged
                    name=req.name,
                    version=req.version,
                    hashes=tuple(sorted({*other.hashes, *req.hashes})),
                    marker=other.marker,
                    source=other.source,
                )
            by_name[req.name] = req
        return tuple(by_name[name] for name in sorted(by_name))

    def digest(self, target: TargetEnvironment) -> str:
        """sha256 (hex) of the normalised :meth:`for_target` list: ``name==version`` and its
        sorted hashes, one per line; file order, hash order and markers do not change it."""
        lines = [f"reprolock-lock-digest/{DIGEST_VERSION}"]
        lines += [f"{r.pin} {' '.join(sorted(set(r.hashes)))}" for r in self.for_target(target)]
        return hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()

    def _check_python(self, target: TargetEnvironment) -> None:
        if not self.requires_python:
            return
        try:
            allowed = SpecifierSet(self.requires_python)
            ok = allowed.contains(target.python_full_version, prereleases=True)
        except ValueError:  # InvalidSpecifier (refused at read time), or too many digits
            raise LockError(
                f"{self.path}: invalid requires-python {token(self.requires_python)}"
            ) from None
        if not ok:
            raise LockError(
                f"{self.path}: the lock requires Python {cut(self.requires_python)}; the target is "
                f"{target.describe()}"
            )

    def _holds(self, marker: str | None, env: Mapping[str, str], source: str) -> bool:
        if marker is None:
            return True
        if self.format == "pylock":
            return _evaluate(
                marker,
                {
                    **env,
                    "extra": "",
                    "extras": frozenset(self.extras),
                    "dependency_groups": frozenset(self.dependency_groups),
                },
                source,
                context="lock_file",
            )
        extras = ("", *(self.graph.extras if self.graph else _marker_extras(marker)))
        return any(_evaluate(marker, {**env, "extra": extra}, source) for extra in extras)

    def _reached(self, graph: DependencyGraph, env: Mapping[str, str]) -> set[int]:
        """Indexes of the requirements reachable from the project's own dependencies."""
        by_name: dict[str, list[int]] = {}
        for index, req in enumerate(self.requirements):
            by_name.setdefault(req.name, []).append(index)
        outgoing: dict[tuple[int, str | None], list[DependencyEdge]] = {}
        for index, extra, edge in graph.edges:
            outgoing.setdefault((index, extra), []).append(edge)
        where = str(self.path)
        pending = [e for e in graph.roots if self._holds(e.marker, env, where)]
        seen: set[tuple[int, str | None]] = set()
        while pending:
            edge = pending.pop()
            for index in by_name.get(edge.name, ()):
                if edge.version is not None and edge.version != self.requirements[index].version:
                    continue
                for key in ((index, None), *((index, e) for e in edge.extras)):
                    if key in seen:
                        continue
                    seen.add(key)
                    source = self.requirements[index].source
                    pending.extend(
                        e for e in outgoing.get(key, ()) if self._holds(e.marker, env, source)
                    )
        return {index for index, _ in seen}


_EXTRA_LITERAL = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]|['"]([^'"]+)['"]\s*==\s*extra\b""")


def _marker_extras(marker: str) -> tuple[str, ...]:
    """The extra names a marker tests (every extra is selected)."""
    return tuple(a or b for a, b in _EXTRA_LITERAL.findall(marker))


def _evaluate(
    marker: str,
    env: Mapping[str, Any],
    source: str,
    *,
    context: Literal["metadata", "lock_file"] = "metadata",
) -> bool:
    try:
        return Marker(marker).evaluate(env, context=context)
    except UndefinedEnvironmentName as exc:
        detail = f"{exc} is not defined in this kind of lock"
        raise LockError(f"{source}: cannot evaluate marker {token(marker)}: {detail}") from None
    except (InvalidMarker, UndefinedComparison) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LockError(f"{source}: cannot evaluate marker {token(marker)}: {detail}") from None
    except ValueError:  # a version in the marker with more digits than int() converts
        raise LockError(f"{source}: cannot evaluate marker {token(marker)}") from None


# --------------------------------------------------------------------------------------------
# From the lock model to what the harness installs
# --------------------------------------------------------------------------------------------

_OFFLINE = "the harness installs only wheels from the package index, checked by hash"
_REFUSALS = {
    Source.VCS: "is a VCS checkout",
    Source.URL: "is a direct URL",
    Source.PATH: "is a local path",
}


def read_lock(path: Path, *, strict: bool = True, root: Path | None = None) -> Lock:
    """Read ``path`` (any lock :mod:`reprolock.formats` reads, but a conda one) into exact,
    hashed requirements.

    The format follows the file name (``uv.lock``, ``poetry.lock``, ``pdm.lock``,
    ``Pipfile.lock``, ``pylock[.NAME].toml``; anything else is a requirements file). Only
    sha256 hashes are kept. The project's own code (uv workspace members, pylock editable
    directories) is skipped: it is the suite's mounted source. :meth:`Lock.for_target` selects
    every extra and group.

    Raises :class:`LockError` (exit 2), ``path:line: ...``, for the first entry its reader
    refused (a name that is not PEP 508, a version that is not PEP 440), then for the first
    that is not an exact pin with a sha256 hash, or that is a direct URL, VCS or local path.

    ``strict=False`` reads a lock for looking at rather than building: entries without hashes
    are kept with ``hashes=()``, direct URL, VCS and local-path entries are kept with
    :attr:`LockedRequirement.url`, a requirements file's local ``-r`` files are read in (only
    inside ``root`` when given). Entries that are not exact pins are still refused.
    """
    fmt = lock_format(path.name)
    if fmt.startswith("conda"):
        raise LockError(
            f"{path}: {path.name} is not supported by the harness; "
            "the harness installs pip wheels, not conda packages"
        )
    lock = load(path, root=root, includes=not strict)
    for problem in lock.problems:
        if problem.severity is None:
            raise _fail(path, problem.line, problem.message)
    if strict:
        for include in lock.meta.includes:
            flag = "-c" if include.constraint else "-r"
            raise _fail(
                path,
                include.line,
                f"{flag} {cut(include.path)}: a lock for the harness must be self-contained "
                "(compile it into one file)",
            )
    requirements: list[LockedRequirement] = []
    position: dict[int, int] = {}
    for index, entry in enumerate(lock.entries):
        if entry.source is Source.PROJECT:
            continue
        req = _requirement(path, entry, strict=strict)
        if req is not None:
            position[index] = len(requirements)
            requirements.append(req)
    graph = lock.graph
    if graph is not None:
        edges = tuple((position[i], x, e) for i, x, e in graph.edges if i in position)
        graph = DependencyGraph(roots=graph.roots, edges=edges, extras=graph.extras)
    return Lock(
        path=path,
        format=cast(LockFormat, fmt),
        requirements=tuple(requirements),
        graph=graph,
        requires_python=lock.meta.requires_python,
        extras=lock.meta.extras,
        dependency_groups=lock.meta.dependency_groups,
    )


def _fail(path: Path, line: int, message: str) -> LockError:
    return LockError(f"{path}:{line}: {message}")


def _requirement(path: Path, entry: LockEntry, *, strict: bool) -> LockedRequirement | None:
    """What the harness installs for ``entry``; :class:`LockError` when it cannot (``strict``:
    a direct reference, an entry without an exact version or a sha256 hash)."""
    url: str | None = None
    refusal = _REFUSALS.get(entry.source)
    if entry.text:  # a requirements line: refused as written
        if entry.editable or refusal is not None:
            if strict and entry.editable:
                what = cut(entry.url or entry.text)
                raise _fail(path, entry.line, f"-e {what} is an editable install; {_OFFLINE}")
            if strict:
                raise _fail(path, entry.line, f"{cut(entry.text)} {refusal}; {_OFFLINE}")
            if not entry.name:
                return None  # an unnamed local project (-e .): nothing to compare by name
            url = entry.reference
        elif not entry.version:
            detail = "an exact, hashed pin" if strict else "an exact pin"
            raise _fail(path, entry.line, f"{cut(entry.text)} is not {detail}")
        elif strict and not entry.hashes:
            raise _fail(
                path,
                entry.line,
                f"{cut(entry.text)} is not an exact, hashed pin (no --hash; "
                "pip-compile --generate-hashes writes them)",
            )
    elif refusal is not None:
        if strict:
            message = f"{entry.name} {refusal} ({cut(entry.url)}); {_OFFLINE}"
            raise _fail(path, entry.line, message)
        url = entry.reference
    if not entry.version and url is None:
        raise _fail(
            path, entry.line, f"{entry.name} has no version; it is not an exact, hashed pin"
        )
    sha256 = sha256_hashes(entry.hashes)
    if strict and not sha256:
        detail = "no sha256 hash" if entry.hashes else "no hash"
        raise _fail(path, entry.line, f"{entry.pin} is not an exact, hashed pin ({detail})")
    return LockedRequirement(
        name=entry.name,
        version=entry.version,
        hashes=sha256,
        marker=entry.marker,
        source=f"{path}:{entry.line}",
        url=url,
    )


__all__ = [
    "DependencyEdge",
    "DependencyGraph",
    "IncludeOutsideError",
    "Lock",
    "LockError",
    "LockedRequirement",
    "ProbeError",
    "TargetEnvironment",
    "pin_problem",
    "read_lock",
    "token",
    "valid_name",
]
