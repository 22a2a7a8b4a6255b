"""``uv.lock``: registry packages with hashed files, their sources, the dependency graph, and
what uv records of each workspace project (``[package.metadata]``) to tell when it changed.

uv.lock is universal: it lists every package any platform needs. The graph says which a
target gets: the packages reachable from the workspace's projects (``editable``/``virtual``
sources) through edges whose markers hold there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from reprolock.formats.errors import Problem
from reprolock.formats.lock import (
    DependencyEdge,
    DependencyGraph,
    EntryError,
    Group,
    LockedProject,
    LockEntry,
    LockFile,
    LockMeta,
    Recorded,
    Source,
    canonical_name,
    entry_at,
    normal_marker,
    normal_specifier,
    normal_version,
    table,
    tables,
)
from reprolock.formats.locktoml import blocks_of, load_compact_toml
from reprolock.formats.toml import TomlDocument, TomlPath

_PROJECT_SOURCES = ("editable", "virtual", "directory")
"""Sources of packages whose metadata uv records (``directory`` is a project too, not built)."""
_SOURCES = {
    "git": Source.VCS,
    "url": Source.URL,
    "path": Source.PATH,
    "directory": Source.PATH,
    "editable": Source.PROJECT,
    "virtual": Source.PROJECT,
}
_ORIGINS = {
    "git": "git",
    "url": "url",
    "path": "path",
    "directory": "path",
    "editable": "path",
    "virtual": "path",
    "index": "index",
}
"""Keys of a requirement uv lowered to a source, and the origin each records."""


def origin_of(keys: Iterable[str]) -> str:
    """The origin (see :attr:`Recorded.origin`) of a source or a record with ``keys``;
    ``workspace`` is a path: uv records a member by its directory."""
    found = [_ORIGINS.get(k, "path" if k == "workspace" else "") for k in keys]
    return next((o for o in found if o), "")


def read(text: str) -> LockFile:
    """Read a uv.lock; :class:`~reprolock.formats.errors.ParseError` when it is not TOML."""
    return _Reader(load_compact_toml(text, shared=True)).read()


_Made = tuple[LockEntry, list[DependencyEdge], list[tuple[str, DependencyEdge]]]
_MADE: dict[tuple[object, ...], _Made] = {}
"""What a package read from the line reader's cache of blocks made (its entry, its edges and
its extras' edges), by :func:`~reprolock.formats.locktoml.blocks_of`: the same package,
locked by many projects of a repository, is made once. Only a registry, URL, path or VCS
package without a problem; the entry's line is that of its first reading."""
_MADE_KEPT = 1024
"""Packages :data:`_MADE` keeps (it starts again when full): as many as the line reader's
blocks, which each key holds."""


class _Reader:
    def __init__(self, doc: TomlDocument) -> None:
        self.doc = doc
        self.entries: list[LockEntry] = []
        self.problems: list[Problem] = []
        self.edges: list[tuple[int, str | None, DependencyEdge]] = []
        self.roots: list[DependencyEdge] = []
        self.projects: list[LockedProject] = []
        self.names: dict[str, str] = {}
        """Canonical form of each name met: a lock names the same few packages in most
        packages' dependencies."""

    def read(self) -> LockFile:
        data = self.doc.data
        requires_python = None
        if data.get("requires-python") is not None:
            try:
                requires_python = normal_specifier(data["requires-python"])
            except EntryError as exc:
                self.problem(str(exc), self.doc.line("requires-python"))
        for index, pkg in enumerate(data.get("package") or []):
            if isinstance(pkg, dict):
                self._package(index, pkg)
        graph = None
        if any(e.source is Source.PROJECT for e in self.entries):
            graph = DependencyGraph(roots=tuple(self.roots), edges=tuple(self.edges))
        manifest = table(data.get("manifest"))
        meta = LockMeta(
            requires_python=requires_python,
            requires_python_line=self.doc.line("requires-python"),
            projects=tuple(self.projects),
            groups=self._groups(
                ("manifest", "dependency-groups"), manifest.get("dependency-groups")
            ),
        )
        return LockFile(
            format="uv.lock",
            entries=tuple(self.entries),
            graph=graph,
            meta=meta,
            problems=tuple(self.problems),
        )

    def problem(self, message: str, line: int) -> None:
        self.problems.append(Problem(message=message, line=line))

    def _package(self, index: int, pkg: dict[str, Any]) -> None:
        line = self.doc.line("package", index, "name")
        blocks = blocks_of(self.doc, "package", index)
        made = _MADE.get(blocks) if blocks is not None else None
        if made is not None:
            entry, edges, extras = made
            if entry.line != line:
                entry = entry_at(entry, line)
            position = len(self.entries)
            self.entries.append(entry)
            self.edges.extend([(position, None, edge) for edge in edges])
            self.edges.extend([(position, extra, edge) for extra, edge in extras])
            return
        if not isinstance(pkg.get("name"), str) or not pkg["name"].strip():
            self.problem("[[package]] has no name", self.doc.line("package", index))
            return
        try:
            entry = self._entry(pkg, line)
            edges = list(self._edges(pkg.get("dependencies"), index, "dependencies"))
            optional = [
                (str(canonicalize_name(extra)), edge)
                for extra, deps in table(pkg.get("optional-dependencies")).items()
                for edge in self._edges(deps, index, "optional-dependencies", extra)
            ]
            dev = [
                edge
                for group, deps in table(pkg.get("dev-dependencies")).items()
                for edge in self._edges(deps, index, "dev-dependencies", group)
            ]
        except EntryError as exc:
            self.problem(str(exc), exc.line or line)
            return
        position = len(self.entries)
        self.entries.append(entry)
        if entry.source is Source.PROJECT:
            # the project and its workspace members: their dependencies are the graph's roots
            self.roots.extend([*edges, *(edge for _, edge in optional), *dev])
        else:
            self.edges.extend((position, None, edge) for edge in edges)
            self.edges.extend((position, extra, edge) for extra, edge in optional)
        metadata = pkg.get("metadata")
        if blocks is not None and entry.source is not Source.PROJECT and metadata is None:
            if len(_MADE) >= _MADE_KEPT:
                _MADE.clear()
            _MADE[blocks] = (entry, edges, optional)
        if isinstance(metadata, dict):
            source = table(pkg.get("source"))
            for key in _PROJECT_SOURCES:
                where = source.get(key)
                if isinstance(where, str):
                    self.projects.append(self._project(index, entry.name, where, metadata))
                    break

    def _canonical(self, name: str) -> str:
        """:func:`canonical_name` of ``name``, once per lock."""
        found = self.names.get(name)
        if found is None:
            found = self.names[name] = canonical_name(name)
        return found

    def _entry(self, pkg: Mapping[str, Any], line: int) -> LockEntry:
        name = self._canonical(pkg["name"])
        source = table(pkg.get("source"))
        key = None
        for candidate in _SOURCES:
            if isinstance(source.get(candidate), str):
                key = candidate
                break
        kind = _SOURCES[key] if key is not None else Source.REGISTRY
        raw = str(source[key]) if key is not None else ""
        url, ref, commit = raw, "", ""
        if kind is Source.VCS:
            url, _, commit = raw.partition("#")
            found = re.search(r"[?&](?:rev|tag|branch)=([^&#]+)", url)
            ref = found.group(1) if found else ""
            url = url.split("?", 1)[0]
        sdist, wheels = pkg.get("sdist"), pkg.get("wheels")
        artifacts = [sdist] if isinstance(sdist, dict) else []
        if isinstance(wheels, list):
            artifacts += [a for a in wheels if isinstance(a, dict)]
        hashes = tuple([h for a in artifacts if isinstance(h := a.get("hash"), str) and h])
        resolution = pkg.get("resolution-markers")
        marker = None
        if resolution:
            written = [m for m in resolution if isinstance(m, str)]
            marker = " or ".join(f"({m})" for m in written) if written else None
        label = name
        if marker is not None and isinstance(pkg.get("version"), str):
            label = f"{pkg['name']}=={pkg['version']}"  # only an invalid marker's message
        return LockEntry(
            name=name,
            version=normal_version(pkg["name"], pkg.get("version")),
            source=kind,
            hashes=hashes,
            hashed=bool(artifacts) and len(hashes) == len(artifacts),
            url=url,
            reference=raw,
            ref=ref,
            commit=commit,
            marker=normal_marker(label, marker),
            line=line,
        )

    def _edges(self, deps: object, index: int, *where: str) -> Iterator[DependencyEdge]:
        for position, dep in enumerate(deps if isinstance(deps, list) else ()):
            if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
                continue
            try:
                version, extras = dep.get("version"), dep.get("extra")
                yield DependencyEdge(
                    name=self._canonical(dep["name"]),
                    version=normal_version(dep["name"], version) if version else None,
                    marker=normal_marker(dep["name"], dep.get("marker")),
                    extras=tuple(str(canonicalize_name(e)) for e in extras if isinstance(e, str))
                    if extras
                    else (),
                )
            except EntryError as exc:
                # the line only of an edge that has a problem
                raise EntryError(
                    str(exc), self.doc.line("package", index, *where, position)
                ) from None

    def _project(
        self, index: int, name: str, where: str, metadata: dict[str, Any]
    ) -> LockedProject:
        base: TomlPath = ("package", index, "metadata")
        provides = metadata.get("provides-extras")
        return LockedProject(
            name=name,
            path=where,
            requires_dist=self._recorded((*base, "requires-dist"), metadata.get("requires-dist")),
            requires_dist_line=self.doc.line(*base, "requires-dist"),
            requires_dev=self._groups((*base, "requires-dev"), metadata.get("requires-dev")),
            provides_extras=tuple(
                sorted(str(canonicalize_name(e)) for e in provides if isinstance(e, str))
            )
            if isinstance(provides, list)
            else None,
            provides_extras_line=self.doc.line(*base, "provides-extras"),
        )

    def _recorded(self, path: TomlPath, value: object) -> tuple[Recorded, ...]:
        out: list[Recorded] = []
        for index, entry in enumerate(value if isinstance(value, list) else ()):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            extras = entry.get("extras")
            marker, specifier = entry.get("marker"), entry.get("specifier")
            out.append(
                Recorded(
                    name=str(canonicalize_name(entry["name"])),
                    extras=tuple(
                        sorted(str(canonicalize_name(e)) for e in extras if isinstance(e, str))
                    )
                    if isinstance(extras, list)
                    else (),
                    specifier=specifier if isinstance(specifier, str) else "",
                    marker=marker if isinstance(marker, str) else None,
                    origin=origin_of(entry),
                    line=self.doc.line(*path, index),
                )
            )
        return tuple(out)

    def _groups(self, path: TomlPath, value: object) -> tuple[Group, ...]:
        return tuple(
            Group(
                name=str(canonicalize_name(group)),
                requirements=self._recorded((*path, group), entries),
                line=self.doc.line(*path, group),
            )
            for group, entries in table(value).items()
        )


# --------------------------------------------------------------------------------------------
# What uv records of a pyproject.toml


@dataclass(frozen=True, kw_only=True, slots=True)
class UvSource:
    """One entry of ``[tool.uv.sources]``: where uv sends the requirements of a name."""

    name: str
    """Canonical name of the package."""
    marker: str | None = None
    """The entry's ``marker``: it applies only there."""
    origin: str = ""
    """``"index"`` (uv keeps the requirement's version specifier), else ``"git"``, ``"url"``
    or ``"path"`` (a path or a workspace member), for which uv keeps none; see
    :attr:`~reprolock.formats.lock.Recorded.origin`."""
    extra: str = ""
    """The entry's ``extra``: it applies only to that extra's requirements."""
    group: str = ""
    """The entry's ``group``: it applies only to that group's requirements."""


@dataclass(frozen=True, kw_only=True, slots=True)
class UvProject:
    """What uv records of a pyproject.toml in uv.lock: ``dependencies`` and each extra's
    list feed ``requires-dist``, dependency groups feed ``requires-dev``."""

    project: bool = False
    """It has a ``[project]`` table (else it is a workspace root that is no project)."""
    name: str = ""
    """Canonical project name."""
    requires_python: str | None = None
    """``requires-python`` as written."""
    dynamic: tuple[str, ...] = ()
    """``dynamic`` fields (uv does not compare what is computed at build time)."""
    dependencies: tuple[str, ...] = ()
    """``[project] dependencies`` as written."""
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """``[project.optional-dependencies]`` by canonical extra name."""
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """PEP 735 groups with includes expanded, and ``tool.uv.dev-dependencies`` as ``dev``."""
    sources: tuple[UvSource, ...] = ()
    """``[tool.uv.sources]``."""


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def group_key(groups: Mapping[str, Any], name: str) -> str | None:
    """The key of ``groups`` that names the PEP 735 group ``name``."""
    wanted = canonicalize_name(name)
    return next((key for key in groups if canonicalize_name(key) == wanted), None)


def flatten_group(
    groups: Mapping[str, Any], name: str, seen: tuple[str, ...] = ()
) -> list[str] | None:
    """The requirements of a PEP 735 group with ``include-group`` expanded; None on a cycle or
    an unknown group."""
    if name in seen:
        return None
    entries = groups.get(name)
    out: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("include-group"), str):
            target = group_key(groups, entry["include-group"])
            nested = flatten_group(groups, target, (*seen, name)) if target is not None else None
            if nested is None:
                return None
            out.extend(nested)
    return out


def project_inputs(data: Mapping[str, Any]) -> UvProject | None:
    """What uv records of the pyproject ``data``; None for one uv refuses (a group that
    includes itself or an unknown group)."""
    uv = table(table(data.get("tool")).get("uv"))
    groups_table = table(data.get("dependency-groups"))
    groups: dict[str, tuple[str, ...]] = {}
    for name in groups_table:
        flat = flatten_group(groups_table, name)
        if flat is None:
            return None
        groups[str(canonicalize_name(name))] = tuple(flat)
    legacy_dev = _strings(uv.get("dev-dependencies"))
    if legacy_dev:
        groups["dev"] = (*groups.get("dev", ()), *legacy_dev)
    sources: list[UvSource] = []
    for name, value in table(uv.get("sources")).items():
        for entry in tables(value if isinstance(value, list) else [value]):
            marker, extra, group = entry.get("marker"), entry.get("extra"), entry.get("group")
            sources.append(
                UvSource(
                    name=str(canonicalize_name(name)),
                    marker=marker if isinstance(marker, str) and marker.strip() else None,
                    origin=origin_of(entry),
                    extra=str(canonicalize_name(extra)) if isinstance(extra, str) else "",
                    group=str(canonicalize_name(group)) if isinstance(group, str) else "",
                )
            )
    project = data.get("project")
    if not isinstance(project, dict):
        return UvProject(groups=groups, sources=tuple(sources))
    requires_python = project.get("requires-python")
    return UvProject(
        project=True,
        name=str(canonicalize_name(str(project.get("name", "")))),
        requires_python=requires_python if isinstance(requires_python, str) else None,
        dynamic=tuple(sorted(_strings(project.get("dynamic")))),
        dependencies=_strings(project.get("dependencies")),
        optional={
            str(canonicalize_name(k)): _strings(v)
            for k, v in table(project.get("optional-dependencies")).items()
        },
        groups=groups,
        sources=tuple(sources),
    )
