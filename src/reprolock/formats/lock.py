"""One model of a lock, whatever wrote it: a :class:`LockFile` of :class:`LockEntry`.

Every reader in this package returns it; the audit judges its entries, the harness installs
them, ``repro diff`` compares them. Names and versions are checked here, once, for all of them:
a name that is not PEP 508 or a version that is not PEP 440 is a :class:`Problem` of the
reader and never becomes an entry.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from reprolock.formats.errors import Problem, token
from reprolock.formats.header import Header
from reprolock.formats.requirements import IncludeEntry


class Source(enum.Enum):
    """Where a locked package comes from."""

    REGISTRY = "registry"
    """A package index (conda channels too)."""
    VCS = "vcs"
    """A version-control checkout."""
    URL = "url"
    """A direct archive URL."""
    PATH = "path"
    """A local file or directory."""
    PROJECT = "project"
    """The locked project itself or a workspace member: its code, not a package to fetch."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LockEntry:
    """One locked package."""

    name: str
    """Canonical project name (a conda package's own name for conda-lock's conda entries)."""
    version: str = ""
    """The version, normalised; "" when the lock records none (a VCS or path entry)."""
    source: Source = Source.REGISTRY
    """Where it comes from."""
    hashes: tuple[str, ...] = ()
    """``algo:hex`` of every artifact the lock records, as written."""
    hashed: bool = False
    """Every artifact the lock records carries a hash (and there is at least one)."""
    url: str = ""
    """Where a VCS, URL, path or project entry comes from (a conda package's URL)."""
    reference: str = ""
    """The entry as a direct reference, for a diff: ``git+URL@COMMIT``, an archive URL, a path."""
    ref: str = ""
    """VCS: the revision asked for (a branch, a tag)."""
    commit: str = ""
    """VCS: the commit the lock resolved."""
    marker: str | None = None
    """The environment marker under which the entry applies."""
    line: int = 1
    """Line of the entry."""
    platform: str = ""
    """conda-lock: the platform of the entry (``linux-64``)."""
    manager: str = ""
    """conda-lock: ``conda`` or ``pip``."""
    text: str = ""
    """A requirements lock: the requirement as written."""
    editable: bool = False
    """A requirements lock: an editable install (``-e``)."""

    @property
    def pin(self) -> str:
        """``name==version``."""
        return f"{self.name}=={self.version}"


def entry_at(entry: LockEntry, line: int) -> LockEntry:
    """``entry`` on ``line``: ``dataclasses.replace`` without its look-up of every field (a
    package read once is placed so in each lock that holds it)."""
    return LockEntry(
        name=entry.name,
        version=entry.version,
        source=entry.source,
        hashes=entry.hashes,
        hashed=entry.hashed,
        url=entry.url,
        reference=entry.reference,
        ref=entry.ref,
        commit=entry.commit,
        marker=entry.marker,
        line=line,
        platform=entry.platform,
        manager=entry.manager,
        text=entry.text,
        editable=entry.editable,
    )


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
    """``(entry index, extra or None, edge)``: the edges out of each locked package."""
    extras: tuple[str, ...] = ()
    """Extra names tried when an edge's marker tests ``extra``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Index:
    """A package index a lock names."""

    name: str
    """Its name in the lock ("" when none)."""
    url: str
    """Its URL, as written."""
    verify_ssl: bool = True
    """False when the lock turns TLS verification off for it."""
    line: int = 1
    """Line of the index."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Recorded:
    """A requirement a lock records as declared by a project (uv's ``[package.metadata]``)."""

    name: str
    """Canonical name."""
    extras: tuple[str, ...] = ()
    """Requested extras, canonical and sorted."""
    specifier: str = ""
    """The version specifier as written."""
    marker: str | None = None
    """The marker as written."""
    origin: str = ""
    """Where it comes from: ``""`` the default index, ``"index"`` a named index, else
    ``"git"``, ``"url"`` or ``"path"`` (a path, directory or workspace member), for which uv
    keeps no specifier."""
    line: int = 1
    """Line of the record."""

    @property
    def sourced(self) -> bool:
        """Lowered to a git, URL or path source rather than an index."""
        return self.origin not in ("", "index")


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    """A named list of declared requirements (a dependency group)."""

    name: str
    """Canonical group name."""
    requirements: tuple[Recorded, ...]
    """Its requirements."""
    line: int = 1
    """Line of the group."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedProject:
    """What a lock records about a project of its workspace, to tell when it changed."""

    name: str
    """Canonical name."""
    path: str
    """Its directory, relative to the lock's."""
    requires_dist: tuple[Recorded, ...] = ()
    """Its dependencies and extras' dependencies (extras as ``extra == ...`` markers)."""
    requires_dist_line: int = 1
    """Line of ``requires-dist``."""
    requires_dev: tuple[Group, ...] = ()
    """Its dependency groups."""
    provides_extras: tuple[str, ...] | None = None
    """The extras it declares (None when the lock does not say)."""
    provides_extras_line: int = 1
    """Line of ``provides-extras``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LockMeta:
    """What a lock records besides its entries: what it was made from, and by what."""

    content_hash: str = ""
    """The hash of the manifest the lock was made from (Poetry ``content-hash``, PDM
    ``content_hash``, pipenv ``_meta.hash.sha256``); "" when none is recorded."""
    content_hash_line: int = 1
    """Line of the content hash."""
    generator: str = ""
    """The version of the tool that wrote the lock, when it says (Poetry's header)."""
    created_by: str = ""
    """pylock.toml ``created-by``."""
    requires_python: str | None = None
    """The lock's own Python constraint, normalised (uv.lock, pylock.toml)."""
    requires_python_line: int = 1
    """Line of ``requires-python``."""
    extras: tuple[str, ...] = ()
    """pylock.toml: every extra the lock offers."""
    dependency_groups: tuple[str, ...] = ()
    """pylock.toml: every dependency group the lock offers."""
    indexes: tuple[Index, ...] = ()
    """Package indexes the lock names (Pipfile.lock ``_meta.sources``)."""
    channels: tuple[str, ...] = ()
    """conda-lock: the channels the lock was solved with."""
    sources: tuple[str, ...] = ()
    """conda-lock: the environment files it was made from, as written."""
    projects: tuple[LockedProject, ...] = ()
    """uv.lock: the workspace's projects and what each declared."""
    groups: tuple[Group, ...] = ()
    """uv.lock: ``[manifest] dependency-groups`` of a workspace root that is no project."""
    header: Header | None = None
    """A requirements lock: the header of the tool that compiled it."""
    includes: tuple[IncludeEntry, ...] = ()
    """A requirements lock: its ``-r``/``-c`` lines."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LockFile:
    """A lock read into one model."""

    format: str
    """``requirements``, ``uv.lock``, ``poetry.lock``, ``pdm.lock``, ``Pipfile.lock``,
    ``pylock``, ``conda-lock.yml`` or ``conda explicit``."""
    entries: tuple[LockEntry, ...] = ()
    """Every entry, in file order, markers unevaluated."""
    graph: DependencyGraph | None = None
    """The dependency graph, for formats whose per-package markers are not enough."""
    meta: LockMeta = field(default_factory=LockMeta)
    """What the lock records besides its entries."""
    problems: tuple[Problem, ...] = ()
    """Entries its tool would refuse (a bad name, version or marker): they are not entries."""


# --------------------------------------------------------------------------------------------
# Checking what a lock says before anyone else sees it

# PEP 508's name: letters and digits at both ends, ".", "_" and "-" between. A name that
# starts with "-" would be an option to pip: nothing else stands between a lock and pip's
# command line.
_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
# What str(Version(...)) can give: the characters of a normalised PEP 440 version.
_NORMAL_VERSION = re.compile(r"^[0-9][0-9a-z.!+]*$")


def valid_name(name: object) -> bool:
    """True when ``name`` is a PEP 508 project name."""
    return isinstance(name, str) and _PROJECT_NAME.match(name) is not None


def pin_problem(name: str, version: str) -> str | None:
    """Why ``name==version`` must not reach a command line (None when it may): the last
    check before pip, for requirements that did not come through a reader."""
    if not valid_name(name):
        return f"invalid package name {token(name)}"
    if not _NORMAL_VERSION.match(version):
        return f"invalid version {token(version)}"
    return None


class EntryError(ValueError):
    """One entry a reader cannot take: a :class:`Problem` at ``line`` (None: the entry's)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def canonical_name(name: object) -> str:
    """The canonical form of a PEP 508 name; :class:`EntryError` for anything else."""
    if not valid_name(name):
        raise EntryError(f"invalid package name {token(name)}")
    return str(canonicalize_name(str(name)))


_CACHED = 512
"""Longest version or marker kept in a cache (a hostile lock may hold huge distinct ones)."""


def normal_version(label: str, version: object) -> str:
    """``version`` normalised (PEP 440), "" when there is none; :class:`EntryError` when it is
    not a version."""
    if version is None or (isinstance(version, str) and not version.strip()):
        return ""
    if not isinstance(version, str):
        raise EntryError(f"{label} has an invalid version {token(version)}")
    stripped = version.strip()
    normal = _pep440(stripped) if len(stripped) <= _CACHED else _pep440.__wrapped__(stripped)
    if normal is None:
        raise EntryError(f"{label} has an invalid version {token(version)}")
    return normal


@functools.lru_cache(maxsize=4096)
def _pep440(version: str) -> str | None:
    """``str(Version(version))``, None when it is no version: the same few hundred versions
    recur in every lock of a repository."""
    try:
        return str(Version(version))
    except ValueError:  # InvalidVersion, or more digits than int() converts
        return None


def normal_marker(label: str, marker: object) -> str | None:
    """``marker`` normalised, None when there is none; :class:`EntryError` when invalid."""
    if marker is None or (isinstance(marker, str) and not marker.strip()):
        return None
    if not isinstance(marker, str):
        raise EntryError(f"{label} has a marker that is not a string: {token(marker)}")
    read = _pep508_marker if len(marker) <= _CACHED else _pep508_marker.__wrapped__
    normal, detail = read(marker)
    if normal is None:
        raise EntryError(f"{label} has an invalid marker: {detail}")
    return normal


@functools.lru_cache(maxsize=4096)
def _pep508_marker(marker: str) -> tuple[str | None, str]:
    """``str(Marker(marker))``, or None and the first line of why it is no marker."""
    try:
        return str(Marker(marker)), ""
    except InvalidMarker as exc:
        return None, str(exc).strip().splitlines()[0]


def normal_specifier(value: object) -> str:
    """A ``requires-python`` normalised; :class:`EntryError` when it is not a specifier."""
    try:
        return str(SpecifierSet(str(value)))
    except InvalidSpecifier:
        raise EntryError(f"invalid requires-python {token(value)}") from None


def sha256_hashes(hashes: Iterable[str]) -> tuple[str, ...]:
    """The ``sha256:<hex>`` values among ``algo:hex`` strings, lower-cased and sorted."""
    out: set[str] = set()
    for value in hashes:
        algo, sep, digest = value.strip().partition(":")
        if sep and algo.lower() == "sha256" and re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            out.add(f"sha256:{digest.lower()}")
    return tuple(sorted(out))


def tables(value: object) -> Iterator[dict[str, Any]]:
    """The tables of an array of tables (anything else skipped)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def table(value: object) -> dict[str, Any]:
    """``value`` when it is a table, else an empty one."""
    return value if isinstance(value, dict) else {}


def names(value: object) -> tuple[str, ...]:
    """Canonical forms of the strings of a list (anything else skipped)."""
    items = value if isinstance(value, list) else []
    return tuple(str(canonicalize_name(v)) for v in items if isinstance(v, str))
