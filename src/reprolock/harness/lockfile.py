"""Read any supported lock into exact, hashed requirements, and select those for one target."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from reprolock.audit.interface import ScanError, SourceFile
from reprolock.audit.pyproject import TomlDocument, iter_dicts, load_toml
from reprolock.audit.requirements import parse_requirements
from reprolock.errors import UnansweredError, UsageError
from reprolock.files import decode_text, is_inside, read_bytes
from reprolock.specs import Spec, SpecKind

LockFormat = Literal["requirements", "uv.lock", "poetry.lock", "pylock"]

DIGEST_VERSION = 1
"""Bumped whenever :meth:`Lock.digest` would hash the same requirements differently."""


class LockError(UsageError):
    """A lock the harness cannot build from; the message starts with ``path:line:``."""


class IncludeOutsideError(LockError):
    """A requirements lock's ``-r`` file leads outside the root it was read with."""


class ProbeError(UnansweredError):
    """The base image's probe output does not describe a usable CPython (exit 3)."""


# PEP 508's name: letters and digits at both ends, ".", "_" and "-" between. A name that
# starts with "-" would be an option to pip: nothing else stands between a lock and pip's
# command line.
_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
# What str(Version(...)) can give: the characters of a normalised PEP 440 version.
_NORMAL_VERSION = re.compile(r"^[0-9][0-9a-z.!+]*$")
_TOKEN_CHARS = 60


def token(value: object) -> str:
    """``value`` as an error message quotes it: ``repr``, cut after 60 characters."""
    if isinstance(value, str) and len(value) > _TOKEN_CHARS:
        return f"{value[:_TOKEN_CHARS]!r}... ({len(value)} characters)"
    return repr(value)


def valid_name(name: object) -> bool:
    """True when ``name`` is a PEP 508 project name."""
    return isinstance(name, str) and _PROJECT_NAME.match(name) is not None


def pin_problem(name: str, version: str) -> str | None:
    """Why ``name==version`` must not reach a command line (None when it may): the last
    check before pip, for requirements that did not come through :func:`read_lock`."""
    if not valid_name(name):
        return f"invalid package name {token(name)}"
    if not _NORMAL_VERSION.match(version):
        return f"invalid version {token(version)}"
    return None


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
class DependencyEdge:
    """A dependency recorded in a graph-shaped lock (uv.lock, Poetry 1.x poetry.lock)."""

    name: str
    """Canonical name of the package depended on."""
    version: str | None = None
    """The version, when the lock names it (several versions of ``name`` are locked)."""
    marker: str | None = None
    """The marker under which the dependency applies."""
    extras: tuple[str, ...] = ()
    """Extras of ``name`` requested by this edge."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DependencyGraph:
    """Which locked packages depend on which, so a target installs only what it reaches."""

    roots: tuple[DependencyEdge, ...]
    """Dependencies of the project itself (all its extras and groups included)."""
    edges: tuple[tuple[int, str | None, DependencyEdge], ...]
    """``(requirement index, extra or None, edge)``: the edges out of each locked package."""
    extras: tuple[str, ...] = ()
    """Extra names tried when an edge's marker tests ``extra``."""


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
                f"{self.path}: the lock requires Python {self.requires_python}; the target is "
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
# Reading
# --------------------------------------------------------------------------------------------

_PYLOCK_NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")
_UNSUPPORTED = {
    "pdm.lock": "export it: pdm export --format requirements -o requirements.txt",
    "pipfile.lock": "export it: pipenv requirements --hash > requirements.txt",
    "conda-lock.yml": "the harness installs pip wheels, not conda packages",
}
_OFFLINE = "the harness installs only wheels from the package index, checked by hash"


def read_lock(path: Path, *, strict: bool = True, root: Path | None = None) -> Lock:
    """Read ``path`` (pip-compile/uv requirements with hashes, uv.lock, poetry.lock,
    pylock.toml) into exact, hashed requirements.

    The format follows the file name (``uv.lock``, ``poetry.lock``, ``pylock[.NAME].toml``;
    anything else is a requirements file). Only sha256 hashes are kept. The project's own
    editable package (uv.lock members, pylock editable directories) is skipped: its code is
    the suite's mounted source. :meth:`Lock.for_target` selects every extra and group.

    Raises :class:`LockError` (exit 2), ``path:line: ...``, for the first entry that is not an
    exact pin with a sha256 hash, or that is a direct URL, VCS or local path.

    ``strict=False`` reads a lock for looking at rather than building (``repro diff``):
    entries without hashes are kept with ``hashes=()``, direct URL, VCS and local-path
    entries are kept with :attr:`LockedRequirement.url`, a requirements file's local ``-r``
    files are read in (``-c`` constraints install nothing and are skipped). Entries that are
    not exact pins, and unparsable files, are still refused. With ``root``, an ``-r`` file
    that leads outside it (``..``, an absolute path, a symlink) is refused unread.

    Every package name is checked against PEP 508 and every version against PEP 440 before
    anything else sees it: a name such as ``-r evil`` is a :class:`LockError`.
    """
    text = _read_text(path)
    name = path.name.lower()
    if name in _UNSUPPORTED:
        raise LockError(
            f"{path}: {path.name} is not supported by the harness; {_UNSUPPORTED[name]}"
        )
    if name == "uv.lock":
        return _UvReader(path, _toml(path, text), strict=strict).read()
    if name == "poetry.lock":
        return _read_poetry(path, _toml(path, text), strict=strict)
    if _PYLOCK_NAME.match(name):
        return _read_pylock(path, _toml(path, text), strict=strict)
    if strict:
        return _read_requirements(path, text)
    requirements = _lenient_requirements(path, text, seen={path.resolve()}, root=root)
    return Lock(path=path, format="requirements", requirements=requirements)


def _read_text(path: Path) -> str:
    """The lock's text: a regular file under the size limit (a FIFO or device is refused
    unread), UTF-8, BOM removed."""
    try:
        data = read_bytes(path)
    except OSError as exc:
        raise LockError(f"{path}: cannot read the lock: {exc.strerror or exc}") from None
    text = decode_text(data)
    if not isinstance(text, str):
        raise LockError(f"{path}:{text.line}: cannot read the lock: {text.message}")
    return text


def _toml(path: Path, text: str) -> TomlDocument:
    try:
        return load_toml(SourceFile(path=str(path), abspath=path, text=text))
    except ScanError as exc:
        raise LockError(f"{path}:{exc.line}: {exc.message}") from None
    except RecursionError:
        raise LockError(f"{path}:1: invalid TOML: nesting too deep to parse") from None


def _fail(path: Path, line: int, message: str) -> LockError:
    return LockError(f"{path}:{line}: {message}")


def _sha256s(hashes: Iterable[str]) -> tuple[str, ...]:
    """The ``sha256:<hex>`` values among ``algo:hex`` strings, lower-cased and sorted."""
    out: set[str] = set()
    for value in hashes:
        algo, sep, digest = value.strip().partition(":")
        if sep and algo.lower() == "sha256" and re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            out.add(f"sha256:{digest.lower()}")
    return tuple(sorted(out))


def _name(path: Path, line: int, name: object) -> str:
    """The canonical form of a PEP 508 project name read from a lock, else :class:`LockError`."""
    if not valid_name(name):
        raise _fail(path, line, f"invalid package name {token(name)}")
    return str(canonicalize_name(str(name)))


def _version(path: Path, line: int, label: str, version: object) -> str:
    if not isinstance(version, str) or not version.strip():
        raise _fail(path, line, f"{label} has no version; it is not an exact, hashed pin")
    try:
        return str(Version(version.strip()))
    except ValueError:  # InvalidVersion, or more digits than int() converts
        raise _fail(path, line, f"{label} has an invalid version {token(version)}") from None


def _marker(path: Path, line: int, label: str, marker: object) -> str | None:
    if marker is None or (isinstance(marker, str) and not marker.strip()):
        return None
    if not isinstance(marker, str):
        raise _fail(path, line, f"{label} has a marker that is not a string: {token(marker)}")
    try:
        return str(Marker(marker))
    except InvalidMarker as exc:
        detail = str(exc).strip().splitlines()[0]
        raise _fail(path, line, f"{label} has an invalid marker: {detail}") from None


def _requirement(
    path: Path,
    line: int,
    name: str,
    version: object,
    *,
    hashes: Iterable[str],
    marker: object,
    strict: bool = True,
    url: str | None = None,
) -> LockedRequirement:
    """A requirement, or :class:`LockError` when its name is not a PEP 508 name, it has no
    version or (``strict``) no sha256 hash. A lenient direct reference (``url``) may have no
    version."""
    canonical = _name(path, line, name)
    if url is not None and (version is None or version == ""):
        exact = ""
    else:
        exact = _version(path, line, name, version)
    all_hashes = [h for h in hashes if isinstance(h, str) and h.strip()]
    sha256 = _sha256s(all_hashes)
    label = f"{name}=={version}" if isinstance(version, str) else name
    if strict and not sha256:
        detail = "no sha256 hash" if all_hashes else "no hash"
        raise _fail(path, line, f"{label} is not an exact, hashed pin ({detail})")
    return LockedRequirement(
        name=canonical,
        version=exact,
        hashes=sha256,
        marker=_marker(path, line, label, marker),
        source=f"{path}:{line}",
        url=url,
    )


# --- requirements files (pip-compile, uv pip compile) -----------------------------------------

_KIND_REFUSAL = {
    SpecKind.URL: "is a direct URL",
    SpecKind.VCS: "is a VCS checkout",
    SpecKind.PATH: "is a local path",
}


def _read_requirements(path: Path, text: str) -> Lock:
    parsed = parse_requirements(text)
    for problem in parsed.problems:
        if problem.severity is None:
            raise _fail(path, problem.line, problem.message)
    for include in parsed.includes:
        flag = "-c" if include.constraint else "-r"
        raise _fail(
            path,
            include.line,
            f"{flag} {include.path}: a lock for the harness must be self-contained "
            "(compile it into one file)",
        )
    out: list[LockedRequirement] = []
    for entry in parsed.requirements:
        out.append(_from_spec(path, entry.line, entry.spec))
    return Lock(path=path, format="requirements", requirements=tuple(out))


_INCLUDE_DEPTH = 32


def _lenient_requirements(
    path: Path, text: str, *, seen: set[Path], root: Path | None, depth: int = 0
) -> tuple[LockedRequirement, ...]:
    """A requirements file read for looking at: its ``-r`` files in place, no hash needed."""
    parsed = parse_requirements(text)
    for problem in parsed.problems:
        if problem.severity is None:
            raise _fail(path, problem.line, problem.message)
    out: list[LockedRequirement] = []
    entries: list[tuple[int, Spec | None, str | None]] = [
        (e.line, e.spec, None) for e in parsed.requirements
    ]
    entries += [(i.line, None, i.path) for i in parsed.includes if not i.constraint]
    for line, spec, include in sorted(entries, key=lambda e: e[0]):
        if spec is not None:
            req = _lenient_spec(path, line, spec)
            if req is not None:
                out.append(req)
            continue
        assert include is not None  # noqa: S101 - the tuple holds one or the other
        out.extend(_lenient_include(path, line, include, seen=seen, root=root, depth=depth))
    return tuple(out)


def _lenient_include(
    path: Path, line: int, include: str, *, seen: set[Path], root: Path | None, depth: int
) -> tuple[LockedRequirement, ...]:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", include) or "${" in include:
        raise _fail(path, line, f"-r {include}: only a local file can be read")
    target = path.parent / include.removeprefix("file:")
    if root is not None and not is_inside(root, target):
        where = Path(root).resolve()
        raise IncludeOutsideError(f"{path}:{line}: -r {include} leads outside {where}")
    key = target.resolve()
    if key in seen or depth >= _INCLUDE_DEPTH:
        raise _fail(path, line, f"-r {include} leads to an include cycle")
    try:
        data = read_bytes(target)
    except OSError as exc:
        raise _fail(path, line, f"-r {include}: {exc.strerror or exc}") from None
    text = decode_text(data)
    if not isinstance(text, str):
        raise LockError(f"{target}:{text.line}: cannot read the lock: {text.message}")
    return _lenient_requirements(target, text, seen={*seen, key}, root=root, depth=depth + 1)


def _lenient_spec(path: Path, line: int, spec: Spec) -> LockedRequirement | None:
    if spec.kind in _KIND_REFUSAL or spec.editable:
        if not spec.name:
            return None  # an unnamed local project (-e .): nothing to compare by name
        return _requirement(
            path,
            line,
            spec.name,
            spec.version,
            hashes=spec.hashes,
            marker=spec.marker,
            strict=False,
            url=spec.url or spec.raw,
        )
    if spec.kind is not SpecKind.EXACT or spec.version is None:
        raise _fail(path, line, f"{spec.raw} is not an exact pin")
    return _requirement(
        path, line, spec.name, spec.version, hashes=spec.hashes, marker=spec.marker, strict=False
    )


def _from_spec(path: Path, line: int, spec: Spec) -> LockedRequirement:
    if spec.editable:
        raise _fail(path, line, f"-e {spec.url or spec.raw} is an editable install; {_OFFLINE}")
    refusal = _KIND_REFUSAL.get(spec.kind)
    if refusal is not None:
        raise _fail(path, line, f"{spec.raw} {refusal}; {_OFFLINE}")
    if spec.kind is not SpecKind.EXACT or spec.version is None:
        raise _fail(path, line, f"{spec.raw} is not an exact, hashed pin")
    if not spec.hashes:
        raise _fail(
            path,
            line,
            f"{spec.raw} is not an exact, hashed pin (no --hash; "
            "pip-compile --generate-hashes writes them)",
        )
    return _requirement(path, line, spec.name, spec.version, hashes=spec.hashes, marker=spec.marker)


# --- uv.lock ---------------------------------------------------------------------------------

# The project and its workspace members: their code is the suite's mounted source.
_UV_PROJECT_SOURCES = ("editable", "virtual")
_UV_REFUSED_SOURCES = {
    "git": "is a VCS checkout",
    "url": "is a direct URL",
    "path": "is a local path",
    "directory": "is a local path",
}


class _UvReader:
    """``uv.lock``: registry packages with hashed files, and the dependency graph.

    uv.lock is universal: it lists every package any platform needs. A target gets the
    packages reachable from the project and its workspace members (``editable``/``virtual``
    sources) through dependency edges whose markers hold on it, with all their extras and
    dependency groups; forked versions are told apart by the ``version`` uv writes on their
    edges. Conflict markers uv invents for mutually exclusive extras (``extra ==
    'extra-N-...'``) count as not selected. A lock without such a member (``uv lock
    --script``) falls back to each package's ``resolution-markers``.
    """

    def __init__(self, path: Path, doc: TomlDocument, *, strict: bool = True) -> None:
        self.path = path
        self.doc = doc
        self.strict = strict
        self.requirements: list[LockedRequirement] = []
        self.edges: list[tuple[int, str | None, DependencyEdge]] = []
        self.roots: list[DependencyEdge] = []

    def read(self) -> Lock:
        data = self.doc.data
        requires_python = data.get("requires-python")
        if requires_python is not None:
            requires_python = self._specifier(requires_python, self.doc.line("requires-python"))
        projects = 0
        for index, pkg in enumerate(data.get("package") or []):
            if not isinstance(pkg, dict):
                continue
            projects += self._package(index, pkg)
        graph = None
        if projects:
            graph = DependencyGraph(roots=tuple(self.roots), edges=tuple(self.edges))
        return Lock(
            path=self.path,
            format="uv.lock",
            requirements=tuple(self.requirements),
            graph=graph,
            requires_python=requires_python,
        )

    def _specifier(self, value: object, line: int) -> str:
        try:
            return str(SpecifierSet(str(value)))
        except InvalidSpecifier:
            raise _fail(self.path, line, f"invalid requires-python {token(value)}") from None

    def _package(self, index: int, pkg: dict[str, Any]) -> int:
        """Record one ``[[package]]``; 1 when it is a project (a graph root), else 0."""
        line = self.doc.line("package", index, "name")
        name = pkg.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _fail(self.path, self.doc.line("package", index), "[[package]] has no name")
        _name(self.path, line, name)
        source = pkg.get("source")
        source = source if isinstance(source, dict) else {}
        if any(key in source for key in _UV_PROJECT_SOURCES):
            self.roots.extend(self._edges(pkg.get("dependencies"), index, "dependencies"))
            for table in ("optional-dependencies", "dev-dependencies"):
                groups = pkg.get(table)
                for group, deps in groups.items() if isinstance(groups, dict) else ():
                    self.roots.extend(self._edges(deps, index, table, group))
            return 1
        url: str | None = None
        for key, refusal in _UV_REFUSED_SOURCES.items():
            if key in source:
                if self.strict:
                    raise _fail(self.path, line, f"{name} {refusal} ({source[key]}); {_OFFLINE}")
                url = str(source[key])
        files = [a for a in (pkg.get("sdist"),) if isinstance(a, dict)]
        files += list(iter_dicts(pkg.get("wheels")))
        resolution = [m for m in pkg.get("resolution-markers") or [] if isinstance(m, str)]
        marker = " or ".join(f"({m})" for m in resolution) if resolution else None
        position = len(self.requirements)
        self.requirements.append(
            _requirement(
                self.path,
                line,
                name,
                pkg.get("version"),
                hashes=(str(f.get("hash", "")) for f in files),
                marker=marker,
                strict=self.strict,
                url=url,
            )
        )
        for edge in self._edges(pkg.get("dependencies"), index, "dependencies"):
            self.edges.append((position, None, edge))
        optional = pkg.get("optional-dependencies")
        for extra, deps in optional.items() if isinstance(optional, dict) else ():
            for edge in self._edges(deps, index, "optional-dependencies", extra):
                self.edges.append((position, str(canonicalize_name(extra)), edge))
        return 0

    def _edges(self, deps: object, index: int, *where: str) -> Iterator[DependencyEdge]:
        for position, dep in enumerate(deps if isinstance(deps, list) else ()):
            if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
                continue
            line = self.doc.line("package", index, *where, position)
            version = dep.get("version")
            extras = dep.get("extra") or []
            yield DependencyEdge(
                name=_name(self.path, line, dep["name"]),
                version=_version(self.path, line, dep["name"], version) if version else None,
                marker=_marker(self.path, line, dep["name"], dep.get("marker")),
                extras=tuple(str(canonicalize_name(e)) for e in extras if isinstance(e, str)),
            )


# --- poetry.lock -----------------------------------------------------------------------------

_POETRY_REFUSED = {
    "git": "is a VCS checkout",
    "url": "is a direct URL",
    "file": "is a local path",
    "directory": "is a local path",
}


def _read_poetry(path: Path, doc: TomlDocument, *, strict: bool = True) -> Lock:
    """``poetry.lock``. Lock-version 2.1 (Poetry 2) writes each package's markers (one
    string, or one per group); older locks keep markers on dependency edges only, so
    those are read as a graph rooted at the sibling pyproject.toml's dependencies."""
    data = doc.data
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    lock_version = str(metadata.get("lock-version", ""))
    per_package_markers = _version_at_least(lock_version, "2.1")
    legacy_files = metadata.get("files")
    legacy_files = legacy_files if isinstance(legacy_files, dict) else {}
    extras_table = data.get("extras")
    extras: set[str] = set()
    if isinstance(extras_table, dict):
        extras.update(str(canonicalize_name(e)) for e in extras_table)
    requirements: list[LockedRequirement] = []
    raw_edges: list[tuple[int, int, Any]] = []
    for index, pkg in enumerate(data.get("package") or []):
        if not isinstance(pkg, dict):
            continue
        line = doc.line("package", index, "name")
        name = pkg.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _fail(path, doc.line("package", index), "[[package]] has no name")
        _name(path, line, name)
        source = pkg.get("source")
        kind = source.get("type") if isinstance(source, dict) else None
        url: str | None = None
        if kind in _POETRY_REFUSED:
            where = source.get("url") if isinstance(source, dict) else None
            if strict:
                raise _fail(path, line, f"{name} {_POETRY_REFUSED[kind]} ({where}); {_OFFLINE}")
            url = _poetry_url(kind, source if isinstance(source, dict) else {})
        files = pkg.get("files")
        if files is None:
            wanted = canonicalize_name(name)
            files = next(
                (v for k, v in legacy_files.items() if canonicalize_name(k) == wanted), None
            )
        hashes = [str(f.get("hash", "")) for f in iter_dicts(files)]
        marker = _poetry_marker(pkg.get("markers")) if per_package_markers else None
        requirements.append(
            _requirement(
                path,
                line,
                name,
                pkg.get("version"),
                hashes=hashes,
                marker=marker,
                strict=strict,
                url=url,
            )
        )
        package_extras = pkg.get("extras")
        if isinstance(package_extras, dict):
            extras.update(str(canonicalize_name(e)) for e in package_extras)
        raw_edges.append((len(requirements) - 1, index, pkg.get("dependencies")))
    graph = None
    if not per_package_markers:
        graph = _poetry_graph(path, doc, requirements, raw_edges, tuple(sorted(extras)))
    return Lock(path=path, format="poetry.lock", requirements=tuple(requirements), graph=graph)


def _poetry_url(kind: object, source: Mapping[str, Any]) -> str:
    """Where a Poetry direct reference installs from; a git one with its resolved commit."""
    where = str(source.get("url", ""))
    commit = source.get("resolved_reference") or source.get("reference")
    if kind == "git" and isinstance(commit, str) and commit:
        return f"git+{where}@{commit}"
    return where


def _version_at_least(text: str, minimum: str) -> bool:
    try:
        return Version(text) >= Version(minimum)
    except ValueError:  # InvalidVersion, or more digits than int() converts
        return False


def _poetry_marker(markers: object) -> str | None:
    """Poetry 2's ``markers``: a string, or ``{group = marker}`` (every group is selected)."""
    if isinstance(markers, str):
        return markers
    if isinstance(markers, dict):
        values = [m for m in markers.values() if isinstance(m, str)]
        if len(values) < len(markers) or any(not m.strip() for m in values):
            return None  # a group without a marker installs it everywhere
        unique = list(dict.fromkeys(values))
        return unique[0] if len(unique) == 1 else " or ".join(f"({m})" for m in unique)
    return None


def _poetry_constraints(value: object) -> list[dict[str, Any]]:
    """``numpy = ">=1"`` / ``{version, markers, extras}`` / a list of tables, as tables."""
    if isinstance(value, str):
        return [{"version": value}]
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _poetry_graph(
    path: Path,
    doc: TomlDocument,
    requirements: Sequence[LockedRequirement],
    raw_edges: Sequence[tuple[int, int, Any]],
    extras: tuple[str, ...],
) -> DependencyGraph:
    edges: list[tuple[int, str | None, DependencyEdge]] = []
    depended_on: set[str] = set()
    for position, index, deps in raw_edges:
        for dep_name, value in deps.items() if isinstance(deps, dict) else ():
            line = doc.line("package", index, "dependencies", dep_name)
            canonical = _name(path, line, dep_name)
            depended_on.add(canonical)
            for table in _poetry_constraints(value):
                edge_extras = table.get("extras") or []
                edges.append(
                    (
                        position,
                        None,
                        DependencyEdge(
                            name=canonical,
                            marker=_marker(path, line, dep_name, table.get("markers")),
                            extras=tuple(
                                str(canonicalize_name(e)) for e in edge_extras if isinstance(e, str)
                            ),
                        ),
                    )
                )
    roots = list(_pyproject_roots(path.parent / "pyproject.toml"))
    named = {edge.name for edge in roots}
    # A package nothing else needs is in the lock because the project asked for it.
    roots += [
        DependencyEdge(name=req.name)
        for req in requirements
        if req.name not in depended_on and req.name not in named
    ]
    return DependencyGraph(roots=tuple(roots), edges=tuple(edges), extras=extras)


def _pyproject_roots(pyproject: Path) -> Iterator[DependencyEdge]:
    """The project's own dependencies (all groups and extras), with their markers."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return
    project = data.get("project")
    project = project if isinstance(project, dict) else {}
    tables: list[object] = [project.get("optional-dependencies"), data.get("dependency-groups")]
    lists: list[object] = [project.get("dependencies")]
    lists += [v for t in tables if isinstance(t, dict) for v in t.values()]
    pep508 = [item for values in lists if isinstance(values, list) for item in values]
    for text in pep508:
        if not isinstance(text, str):
            continue  # {include-group = ...}: its members are listed in their own group
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        yield DependencyEdge(
            name=str(canonicalize_name(req.name)),
            marker=str(req.marker) if req.marker else None,
            extras=tuple(str(canonicalize_name(e)) for e in sorted(req.extras)),
        )
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    if not isinstance(poetry, dict):
        return
    tables = [poetry.get("dependencies"), poetry.get("dev-dependencies")]
    group_tables = poetry.get("group")
    for group in group_tables.values() if isinstance(group_tables, dict) else ():
        if isinstance(group, dict):
            tables.append(group.get("dependencies"))
    for table in tables:
        for dep_name, value in table.items() if isinstance(table, dict) else ():
            if dep_name.lower() == "python":
                continue
            for constraint in _poetry_constraints(value):
                marker = constraint.get("markers")
                edge_extras = constraint.get("extras") or []
                yield DependencyEdge(
                    name=str(canonicalize_name(dep_name)),
                    marker=marker if isinstance(marker, str) and marker.strip() else None,
                    extras=tuple(
                        str(canonicalize_name(e)) for e in edge_extras if isinstance(e, str)
                    ),
                )


# --- pylock.toml (PEP 751) -------------------------------------------------------------------


def _read_pylock(path: Path, doc: TomlDocument, *, strict: bool = True) -> Lock:
    data = doc.data
    lock_version = data.get("lock-version")
    if not isinstance(lock_version, str) or not _version_at_least(lock_version, "1.0"):
        raise _fail(
            path, doc.line("lock-version"), f"unsupported lock-version {token(lock_version)}"
        )
    if not lock_version.startswith("1."):
        raise _fail(
            path, doc.line("lock-version"), f"unsupported lock-version {token(lock_version)}"
        )
    requires_python = data.get("requires-python")
    if requires_python is not None:
        try:
            requires_python = str(SpecifierSet(str(requires_python)))
        except InvalidSpecifier:
            line = doc.line("requires-python")
            raise _fail(path, line, f"invalid requires-python {token(requires_python)}") from None
    requirements: list[LockedRequirement] = []
    for index, pkg in enumerate(data.get("packages") or []):
        if not isinstance(pkg, dict):
            continue
        req = _pylock_package(path, doc, index, pkg, strict=strict)
        if req is not None:
            requirements.append(req)
    return Lock(
        path=path,
        format="pylock",
        requirements=tuple(requirements),
        requires_python=requires_python,
        extras=_names(data.get("extras")),
        dependency_groups=_names(data.get("dependency-groups")),
    )


def _names(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else []
    return tuple(str(canonicalize_name(v)) for v in items if isinstance(v, str))


def _pylock_package(
    path: Path, doc: TomlDocument, index: int, pkg: dict[str, Any], *, strict: bool = True
) -> LockedRequirement | None:
    line = doc.line("packages", index, "name")
    name = pkg.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, doc.line("packages", index), "[[packages]] has no name")
    _name(path, line, name)
    directory = pkg.get("directory")
    if isinstance(directory, dict) and directory.get("editable") is True:
        return None  # the project itself, mounted as the suite's source
    direct = _pylock_direct(pkg, directory)
    if direct is not None:
        refusal, where, url = direct
        if strict:
            raise _fail(path, line, f"{name} {refusal} ({where}); {_OFFLINE}")
        archive = pkg.get("archive")
        table = archive.get("hashes") if isinstance(archive, dict) else None
        archive_hashes = [f"{a}:{d}" for a, d in table.items()] if isinstance(table, dict) else []
        return _requirement(
            path,
            line,
            name,
            pkg.get("version"),
            hashes=archive_hashes,
            marker=pkg.get("marker"),
            strict=False,
            url=url,
        )
    files = [a for a in (pkg.get("sdist"),) if isinstance(a, dict)]
    wheels = list(iter_dicts(pkg.get("wheels")))
    files += wheels
    hashes: list[str] = []
    for artifact in files:
        table = artifact.get("hashes")
        for algo, digest in table.items() if isinstance(table, dict) else ():
            hashes.append(f"{algo}:{digest}")
    version = pkg.get("version")
    if version is None:
        version = _wheel_version(wheels)
    return _requirement(
        path, line, name, version, hashes=hashes, marker=pkg.get("marker"), strict=strict
    )


def _pylock_direct(pkg: Mapping[str, Any], directory: object) -> tuple[str, object, str] | None:
    """``(refusal, where, url)`` for a VCS, directory or archive package, else None."""
    vcs = pkg.get("vcs")
    if isinstance(vcs, dict):
        where = vcs.get("url") or vcs.get("path")
        commit = vcs.get("commit-id")
        url = f"{vcs.get('type', 'git')}+{where}" + (f"@{commit}" if commit else "")
        return "is a VCS checkout", where, url
    if isinstance(directory, dict):
        where = directory.get("path")
        return "is a local path", where, str(where)
    archive = pkg.get("archive")
    if isinstance(archive, dict):
        where = archive.get("url") or archive.get("path")
        return "is a direct URL", where, str(where)
    return None


def _wheel_version(wheels: Sequence[Mapping[str, Any]]) -> str | None:
    """The version every wheel's file name gives, when ``version`` is omitted."""
    versions: set[str] = set()
    for wheel in wheels:
        filename = wheel.get("name")
        if not isinstance(filename, str):
            where = wheel.get("url") or wheel.get("path")
            filename = str(where).rsplit("/", 1)[-1] if where else None
        if filename is None:
            return None
        try:
            versions.add(str(parse_wheel_filename(filename)[1]))
        except ValueError:  # InvalidWheelFilename, InvalidVersion, too many digits
            return None
    return versions.pop() if len(versions) == 1 else None


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
