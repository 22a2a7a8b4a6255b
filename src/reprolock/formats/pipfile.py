"""Pipfile and ``Pipfile.lock``: pipenv's entries as requirements, its lock, and its hash of
the Pipfile (``_meta.hash``) that tells whether the lock was made from it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from packaging.utils import canonicalize_name

from reprolock.formats.errors import ParseError, Problem
from reprolock.formats.json import json_key_lines
from reprolock.formats.lock import (
    EntryError,
    Index,
    LockEntry,
    LockFile,
    LockMeta,
    Source,
    canonical_name,
    normal_version,
)
from reprolock.formats.spec import Spec, SpecError, SpecKind, classify

VCS_KEYS = ("git", "hg", "svn", "bzr")
# Sections of a Pipfile that are not package categories (plette's PIPFILE_SECTIONS plus the
# names pipenv reserves); every other top-level table is a custom category.
NON_CATEGORIES = frozenset(
    {"source", "requires", "scripts", "pipenv", "pipfile", "default", "develop"}
)
BASE_CATEGORIES = {"packages": "", "dev-packages": "dev-packages"}
_SPEC_OPERATORS = ("==", ">=", "<=", "~=", "!=", ">", "<")
_DEFAULT_SOURCE: list[dict[str, Any]] = [
    {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}
]
_KINDS = {SpecKind.VCS: Source.VCS, SpecKind.URL: Source.URL, SpecKind.PATH: Source.PATH}


def pipfile_hashes(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Every ``_meta.hash.sha256`` some pipenv release would write for this Pipfile.

    pipenv hashes ``json.dumps({"_meta": {"sources", "requires"}, "default", "develop", ...},
    sort_keys=True, separators=(",", ":"))`` with sha256, after plette injects the default
    PyPI source when there is no ``[[source]]``. Releases differ in two ways, so a lock is in
    sync when it matches any of them:

    - up to ~2022 only ``default``/``develop`` are hashed; later releases add every custom
      category (any other top-level table but scripts/pipenv/pipfile);
    - since ~2025 (#4699) package names are PEP 503-normalised before hashing.

    Verified on real pairs: pipenv 2026.10.3 and 2023.12.1 (``pipenv lock`` here), and a public
    Pipfile/Pipfile.lock pair from 2022. Not covered: pipenv also hashes the extra indexes of
    the user's pip.conf when the Pipfile has no ``[[source]]``; that cannot be known here.
    """
    sources = data.get("source", _DEFAULT_SOURCE)
    requires = data.get("requires", {})
    custom = {
        key: value
        for key, value in data.items()
        if key not in NON_CATEGORIES and key not in BASE_CATEGORIES
    }

    def canonical(section: object) -> object:
        if isinstance(section, dict):
            return {canonicalize_name(str(k)): v for k, v in section.items()}
        return section

    def digest(normalise: bool, with_custom: bool) -> str:
        norm = canonical if normalise else (lambda s: s)
        body: dict[str, Any] = {
            "_meta": {"sources": sources, "requires": requires},
            "default": norm(data.get("packages", {})),
            "develop": norm(data.get("dev-packages", {})),
        }
        if with_custom:
            body.update({k: norm(v) for k, v in custom.items()})
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    try:
        variants = (digest(False, False), digest(False, True), digest(True, True))
    except (TypeError, ValueError):
        return ()  # a TOML date or time: pipenv's own json.dumps would fail too
    return tuple(dict.fromkeys(variants))


# --- Pipfile entries -> specs --------------------------------------------------------------


def _named(spec: Spec, name: str) -> Spec:
    return dataclasses.replace(spec, name=canonicalize_name(name), display_name=name)


def _vcs_url(vcs: str, url: str, ref: object) -> str:
    """The pip form of a Pipfile VCS entry; a ``ref`` key wins over an ``@ref`` in the URL."""
    text = url.strip()
    if text.startswith(f"{vcs}+"):
        text = text[len(vcs) + 1 :]
    scp = re.match(r"^([\w.-]+@[\w.-]+):(?!//)(.+)$", text)
    if scp:  # git@github.com:org/repo.git, which pip only accepts as ssh://
        text = f"ssh://{scp.group(1)}/{scp.group(2)}"
    body, _, fragment = text.partition("#")
    scheme_end = body.find("://")
    path_start = body.find("/", scheme_end + 3 if scheme_end >= 0 else 0)
    if ref is not None and path_start >= 0 and "@" in body[path_start:]:
        body = body.rsplit("@", 1)[0]
    if ref is not None and str(ref):
        body = f"{body}@{ref}"
    return f"{vcs}+{body}" + (f"#{fragment}" if fragment else "")


def pipenv_entry_spec(name: str, value: object) -> Spec:
    """Classify one Pipfile / Pipfile.lock entry the way pipenv turns it into a requirement.

    Raises :class:`SpecError` (a ``ValueError``) for an entry pipenv could not use either.
    """
    if isinstance(value, str):
        vcs = next((v for v in VCS_KEYS if value.startswith(f"{v}+")), None)
        table: dict[str, Any] = {vcs: value} if vcs else {"version": value}
    elif isinstance(value, dict):
        table = value
    else:
        raise SpecError(f"expected a version string or a table, got {type(value).__name__}")
    extras = table.get("extras", [])
    if not isinstance(extras, list) or not all(isinstance(e, str) for e in extras):
        raise SpecError("extras must be a list of strings")
    editable = table.get("editable") is True
    hashes = tuple(h for h in table.get("hashes", []) if isinstance(h, str))
    for vcs in VCS_KEYS:
        if vcs in table:
            url = _vcs_url(vcs, str(table[vcs]), table.get("ref"))
            return _named(classify(url, editable=editable), name)
    for key in ("path", "file"):
        if key in table:
            return _named(classify(str(table[key]), editable=editable, hashes=hashes), name)
    version = table.get("version", "*")
    if not isinstance(version, str):
        raise SpecError(f"version must be a string, got {type(version).__name__}")
    version = version.strip()
    if version in {"*", "", "==*"}:
        version = ""
    elif not version.startswith(_SPEC_OPERATORS):
        version = f"=={version}"  # pipenv reads a bare "1.2" as "==1.2"
    text = name + (f"[{','.join(extras)}]" if extras else "") + version
    markers = table.get("markers")
    if isinstance(markers, str) and markers.strip():
        text = f"{text}; {markers}"
    return classify(text, hashes=hashes)


def read(text: str) -> LockFile:
    """Read a Pipfile.lock; :class:`~reprolock.formats.errors.ParseError` when it is not a
    JSON object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    if not isinstance(data, dict):
        raise ParseError("expected a JSON object at the top level")
    lines = json_key_lines(text)
    entries: list[LockEntry] = []
    problems: list[Problem] = []
    for section in (k for k in data if k != "_meta"):
        packages = data[section]
        if not isinstance(packages, dict):
            continue
        for key, value in packages.items():
            line = lines.get((section, key), lines.get((section,), 1))
            try:
                entries.append(_entry(key, value, line))
            except ValueError as exc:  # EntryError, SpecError, or a URL urllib rejects
                message = str(exc) if isinstance(exc, EntryError) else f"{key}: {exc}"
                problems.append(Problem(message=message, line=line))
    meta = data.get("_meta")
    meta = meta if isinstance(meta, dict) else {}
    hash_table = meta.get("hash")
    recorded = hash_table.get("sha256") if isinstance(hash_table, dict) else None
    return LockFile(
        format="Pipfile.lock",
        entries=tuple(entries),
        meta=LockMeta(
            content_hash=recorded.strip() if isinstance(recorded, str) else "",
            content_hash_line=lines.get(("_meta", "hash", "sha256"), lines.get(("_meta",), 1)),
            indexes=_indexes(meta.get("sources"), lines),
        ),
        problems=tuple(problems),
    )


def _entry(key: str, value: object, line: int) -> LockEntry:
    canonical_name(key)
    pinned = value.get("version") if isinstance(value, dict) else value
    pinned = pinned.strip() if isinstance(pinned, str) else ""
    if pinned.startswith("==") and not pinned.startswith("==="):
        # refused as every lock reader refuses a version, before the requirement parser
        normal_version(key, pinned[2:])
    spec = pipenv_entry_spec(key, value)
    kind = _KINDS.get(spec.kind)
    if kind is not None:
        url = spec.url or ""
        ref = spec.vcs_ref or ""
        if ref and url.endswith(f"@{ref}"):
            url = url[: -len(ref) - 1]
        return LockEntry(
            name=spec.name,
            version=normal_version(spec.label, spec.version),
            source=kind,
            hashes=spec.hashes,
            hashed=bool(spec.hashes),
            url=url,
            reference=spec.url or "",
            ref=ref,
            marker=spec.marker,
            line=line,
        )
    if spec.kind is not SpecKind.EXACT or spec.version is None:
        raise EntryError(f"{spec.label} has no exact version in Pipfile.lock")
    return LockEntry(
        name=spec.name,
        version=normal_version(spec.label, spec.version),
        hashes=spec.hashes,
        hashed=bool(spec.hashes),
        marker=spec.marker,
        line=line,
    )


def _indexes(sources: object, lines: Mapping[tuple[str | int, ...], int]) -> tuple[Index, ...]:
    out: list[Index] = []
    for index, entry in enumerate(sources if isinstance(sources, list) else ()):
        if not isinstance(entry, dict):
            continue
        prefix = ("_meta", "sources", index)
        line = lines.get(prefix, 1)
        if entry.get("verify_ssl", True) is False:
            line = lines.get((*prefix, "verify_ssl"), line)
        out.append(
            Index(
                name=str(entry.get("name") or ""),
                url=str(entry.get("url") or ""),
                verify_ssl=entry.get("verify_ssl", True) is not False,
                line=line,
            )
        )
    return tuple(out)
