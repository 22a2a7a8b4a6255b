"""``pdm.lock``: ``[[package]]`` entries with their files' hashes, the ``content_hash`` of the
pyproject it was made from, and PDM's own ways of computing that hash."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packaging.utils import canonicalize_name

from reprolock.formats.errors import Problem
from reprolock.formats.lock import (
    EntryError,
    LockEntry,
    LockFile,
    LockMeta,
    Source,
    canonical_name,
    normal_marker,
    normal_version,
    table,
    tables,
)
from reprolock.formats.locktoml import load_compact_toml
from reprolock.formats.poetry import sha256_json

_VCS_KEYS = ("git", "hg", "svn", "bzr")


def read(text: str) -> LockFile:
    """Read a pdm.lock; :class:`~reprolock.formats.errors.ParseError` when it is not TOML."""
    doc = load_compact_toml(text)
    data = doc.data
    metadata = table(data.get("metadata"))
    legacy: dict[tuple[str, str], object] = {}
    for key, value in table(metadata.get("files")).items():
        # lock_version 3.x/4.0: [metadata.files] "name[extras] version" = [{url, hash}]
        parts = str(key).rsplit(" ", 1)
        if len(parts) == 2:
            bare = parts[0].split("[", 1)[0]
            legacy[(str(canonicalize_name(bare)), parts[1])] = value
    entries: list[LockEntry] = []
    problems: list[Problem] = []
    for index, pkg in enumerate(data.get("package") or []):
        if not isinstance(pkg, dict):
            continue
        line = doc.line("package", index, "name")
        if not isinstance(pkg.get("name"), str) or not pkg["name"].strip():
            problems.append(
                Problem(message="[[package]] has no name", line=doc.line("package", index))
            )
            continue
        try:
            entries.append(_entry(pkg, line, legacy))
        except EntryError as exc:
            problems.append(Problem(message=str(exc), line=line))
    recorded = metadata.get("content_hash")
    # a lock with [metadata.lock_inputs] is validated by PDM against those, not the hash
    in_sync_by_hash = isinstance(recorded, str) and "lock_inputs" not in metadata
    meta = LockMeta(
        content_hash=recorded.strip() if in_sync_by_hash and isinstance(recorded, str) else "",
        content_hash_line=doc.line("metadata", "content_hash"),
    )
    return LockFile(format="pdm.lock", entries=tuple(entries), meta=meta, problems=tuple(problems))


def _entry(
    pkg: Mapping[str, Any], line: int, legacy: Mapping[tuple[str, str], object]
) -> LockEntry:
    name = canonical_name(pkg["name"])
    version = normal_version(pkg["name"], pkg.get("version"))
    files = pkg.get("files")
    if files is None:
        files = legacy.get((name, str(pkg.get("version"))))
    found = list(tables(files))
    hashes = tuple(str(f["hash"]) for f in found if isinstance(f.get("hash"), str) and f["hash"])
    vcs = next((k for k in _VCS_KEYS if isinstance(pkg.get(k), str)), None)
    source, url, reference = Source.REGISTRY, "", ""
    if vcs is not None:
        source, url = Source.VCS, str(pkg[vcs])
        revision = pkg.get("revision")
        reference = f"{vcs}+{url}@{revision}" if isinstance(revision, str) and revision else url
    elif isinstance(pkg.get("path"), str):
        source, url = Source.PATH, pkg["path"]
        reference = url
    elif isinstance(pkg.get("url"), str):
        source, url = Source.URL, pkg["url"]
        reference = url
    label = f"{pkg['name']}=={pkg['version']}" if isinstance(pkg.get("version"), str) else name
    return LockEntry(
        name=name,
        version=version,
        source=source,
        hashes=hashes,
        hashed=bool(found) and len(hashes) == len(found),
        url=url,
        reference=reference,
        ref=str(pkg.get("ref") or "") if vcs else "",
        commit=str(pkg.get("revision") or "") if vcs else "",
        marker=normal_marker(label, pkg.get("marker")),
        line=line,
    )


def _group(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).lower()


def content_hashes(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The sha256 candidates of PDM's ``[metadata] content_hash`` for this pyproject.

    PDM hashes sorted JSON of sources, dependencies, dev-dependencies, optional-dependencies
    and requires-python plus one resolution key. PDM >= 2.2x merges ``[dependency-groups]``
    into dev-dependencies and hashes the whole ``[tool.pdm.resolution]``; earlier 2.x hashed
    ``[tool.pdm.dev-dependencies]`` as written and only the resolution overrides. A lock
    matching any era's hash was made from this content.
    """
    project = table(data.get("project"))
    pdm = table(table(data.get("tool")).get("pdm"))
    if pdm.get("workspace"):
        return ()  # a workspace hash covers its members' files too
    raw_dev = pdm.get("dev-dependencies", {})
    merged: dict[str, list[Any]] = {}
    for name, deps in table(data.get("dependency-groups", {})).items():
        merged[_group(name)] = list(deps) if isinstance(deps, list) else []
    if isinstance(raw_dev, dict):
        for name, deps in raw_dev.items():
            merged.setdefault(_group(name), []).extend(deps if isinstance(deps, list) else [])
    resolution = table(pdm.get("resolution", {}))
    overrides = pdm["overrides"] if "overrides" in pdm else resolution.get("overrides", {})
    base = {
        "sources": pdm.get("source", []),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "requires-python": project.get("requires-python", ""),
    }
    out: list[str] = []
    # Equal dev tables (none in either form, the usual case) hash alike: hash them once.
    for dev in (merged,) if merged == raw_dev else (merged, raw_dev):
        for extra in ({"resolution": resolution}, {"overrides": overrides}):
            digest = sha256_json({**base, "dev-dependencies": dev, **extra})
            if digest is not None and digest not in out:
                out.append(digest)
    return tuple(out)
