"""``pylock.toml`` / ``pylock.NAME.toml``: the standard lock of PEP 751.

``packaging.pylock`` validates a whole file and refuses it at its first bad key; a reader here
must keep every entry's line and read the rest of a file around a bad entry, so it walks the
TOML itself, with the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from packaging.utils import parse_wheel_filename

from reprolock.formats.errors import Problem, excerpt
from reprolock.formats.lock import (
    EntryError,
    LockEntry,
    LockFile,
    LockMeta,
    Source,
    canonical_name,
    names,
    normal_marker,
    normal_specifier,
    normal_version,
    table,
    tables,
)
from reprolock.formats.locktoml import load_compact_toml
from reprolock.formats.toml import TomlDocument

NAME = re.compile(r"^pylock\.([^.]+\.)?toml$")
"""File names of the format."""
_LOCK_VERSION_1 = re.compile(r"^1(\.\d+)*$")


def read(text: str) -> LockFile:
    """Read a pylock.toml; :class:`~reprolock.formats.errors.ParseError` when it is not TOML."""
    doc = load_compact_toml(text)
    data = doc.data
    problems: list[Problem] = []
    version = data.get("lock-version")
    if not isinstance(version, str):
        problems.append(Problem(message='lock-version is missing (PEP 751 requires "1.0")', line=1))
    elif not _LOCK_VERSION_1.match(version.strip()):
        message = f"unsupported lock-version {excerpt(version)} (only 1.x is defined)"
        problems.append(Problem(message=message, line=doc.line("lock-version")))
    requires_python = None
    if data.get("requires-python") is not None:
        try:
            requires_python = normal_specifier(data["requires-python"])
        except EntryError as exc:
            problems.append(Problem(message=str(exc), line=doc.line("requires-python")))
    entries: list[LockEntry] = []
    for index, pkg in enumerate(data.get("packages") or []):
        if not isinstance(pkg, dict):
            continue
        line = doc.line("packages", index, "name")
        if not isinstance(pkg.get("name"), str) or not pkg["name"].strip():
            message = "[[packages]] has no name"
            problems.append(Problem(message=message, line=doc.line("packages", index)))
            continue
        try:
            entries.append(_entry(doc, pkg, line))
        except EntryError as exc:
            problems.append(Problem(message=str(exc), line=line))
    created_by = data.get("created-by")
    meta = LockMeta(
        created_by=created_by.strip() if isinstance(created_by, str) else "",
        requires_python=requires_python,
        requires_python_line=doc.line("requires-python"),
        extras=names(data.get("extras")),
        dependency_groups=names(data.get("dependency-groups")),
    )
    return LockFile(format="pylock", entries=tuple(entries), meta=meta, problems=tuple(problems))


def _hashes(artifact: Mapping[str, Any]) -> list[str]:
    found = table(artifact.get("hashes"))
    return [
        f"{algo}:{digest}" for algo, digest in found.items() if isinstance(digest, str) and digest
    ]


def _entry(doc: TomlDocument, pkg: Mapping[str, Any], line: int) -> LockEntry:
    name = canonical_name(pkg["name"])
    vcs, directory, archive = pkg.get("vcs"), pkg.get("directory"), pkg.get("archive")
    artifacts = [a for a in (pkg.get("sdist"),) if isinstance(a, dict)]
    artifacts += list(tables(pkg.get("wheels")))
    hashes = [h for a in artifacts for h in _hashes(a)]
    hashed = bool(artifacts) and all(_hashes(a) for a in artifacts)
    source, url, reference, ref, commit = Source.REGISTRY, "", "", "", ""
    if isinstance(vcs, dict):
        source = Source.VCS
        url = str(vcs.get("url") or vcs.get("path") or "")
        commit = str(vcs.get("commit-id") or "")
        ref = str(vcs.get("requested-revision") or "")
        reference = f"{vcs.get('type', 'git')}+{url}" + (f"@{commit}" if commit else "")
    elif isinstance(directory, dict):
        source = Source.PROJECT if directory.get("editable") is True else Source.PATH
        url = reference = str(directory.get("path") or "")
    elif isinstance(archive, dict):
        hashes = _hashes(archive)
        hashed = bool(hashes)
        where = archive.get("url") or archive.get("path")
        source = Source.URL if isinstance(archive.get("url"), str) else Source.PATH
        url = reference = str(where or "")
    version = pkg.get("version")
    if version is None and source is Source.REGISTRY:
        version = _wheel_version(list(tables(pkg.get("wheels"))))
    label = f"{pkg['name']}=={version}" if isinstance(version, str) else name
    return LockEntry(
        name=name,
        version=normal_version(pkg["name"], version),
        source=source,
        hashes=tuple(hashes),
        hashed=hashed,
        url=url,
        reference=reference,
        ref=ref,
        commit=commit,
        marker=normal_marker(label, pkg.get("marker")),
        line=line,
    )


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
