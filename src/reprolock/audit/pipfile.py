"""Pipfile and Pipfile.lock scanners: declared requirements, locked pins and pipenv's lock hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from reprolock.audit._json import json_key_lines
from reprolock.audit._toml import load_toml
from reprolock.audit.interface import (
    Declared,
    FileFacts,
    Pin,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
)
from reprolock.config import Profile
from reprolock.model import Finding, Location
from reprolock.rules import finding
from reprolock.specs import JudgeContext, Spec, SpecError, SpecKind, classify, judge_concrete

PIPFILE = "Pipfile"
PIPFILE_LOCK = "Pipfile.lock"

_VCS_KEYS = ("git", "hg", "svn", "bzr")
# Sections of a Pipfile that are not package categories (plette's PIPFILE_SECTIONS plus the
# names pipenv reserves); every other top-level table is a custom category.
_NON_CATEGORIES = frozenset(
    {"source", "requires", "scripts", "pipenv", "pipfile", "default", "develop"}
)
_BASE_CATEGORIES = {"packages": "", "dev-packages": "dev-packages"}
# In a manifest, ranges are intended; only what makes the lock itself irreproducible counts.
_MANIFEST_RULES = frozenset({"RP104", "RP105", "RP106"})
_SPEC_OPERATORS = ("==", ">=", "<=", "~=", "!=", ">", "<")
_DEFAULT_SOURCE: list[dict[str, Any]] = [
    {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}
]

_SYNC_HASH = "pipenv.sha256"
_SYNC_HASH_LINE = "pipenv.sha256.line"


def pipfile_scanners() -> list[Scanner]:
    """The Pipfile and Pipfile.lock scanners."""
    return [PipfileScanner(), PipfileLockScanner()]


# --- pipenv's Pipfile hash ----------------------------------------------------------------


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
        if key not in _NON_CATEGORIES and key not in _BASE_CATEGORIES
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
        vcs = next((v for v in _VCS_KEYS if value.startswith(f"{v}+")), None)
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
    for vcs in _VCS_KEYS:
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


def _judge(
    spec: Spec, location: Location, ctx: JudgeContext, rules: frozenset[str]
) -> list[Finding]:
    return [f for f in judge_concrete(spec, location, ctx) if f.rule in rules]


# --- the scanners --------------------------------------------------------------------------


class PipfileScanner(Scanner):
    """``Pipfile``: a manifest (ranges fine) that needs a Pipfile.lock in sync beside it."""

    name = PIPFILE

    def claims(self, relpath: str, filename: str) -> bool:
        return filename == PIPFILE

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        doc = load_toml(source)
        data, lines = doc.data, doc.lines
        judge_ctx = ctx.judge_context(source, hash_capable=False)
        findings: list[Finding] = []
        declared: list[Declared] = []
        for section, group in _categories(data):
            table = data[section]
            section_line = lines.get((section,), 1)
            if not isinstance(table, dict):
                msg = f"[{section}] must be a table of packages"
                findings.append(finding("RP001", msg, source.at(section_line)))
                continue
            for key, value in table.items():
                line = lines.get((section, key), section_line)
                try:
                    spec = pipenv_entry_spec(key, value)
                except ValueError as exc:  # SpecError, or a URL urllib rejects
                    msg = f"[{section}] {key}: {exc}"
                    findings.append(finding("RP001", msg, source.at(line), subject=key))
                    continue
                declared.append(Declared(spec=spec, line=line, group=group))
                findings.extend(_judge(spec, source.at(line), judge_ctx, _MANIFEST_RULES))
        findings.extend(_source_findings(data.get("source"), lines, source, ("source",)))
        hashes = pipfile_hashes(data)
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.MANIFEST,
            findings=tuple(findings),
            declared=tuple(declared),
            sync={_SYNC_HASH: " ".join(hashes)} if hashes else {},
        )

    def cross_check(self, facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterable[Finding]:
        for manifest in facts.values():
            if manifest.kind != PIPFILE or manifest.role is not Role.MANIFEST:
                continue
            lock_path = _beside(manifest.path, PIPFILE_LOCK)
            if lock_path not in facts and lock_path not in ctx.files:
                if ctx.config.profile is Profile.APPLICATION and manifest.declared:
                    yield finding(
                        "RP201",
                        "Pipfile has no Pipfile.lock beside it",
                        Location(path=manifest.path, line=1),
                        fix="pipenv lock",
                    )
                continue
            lock = facts.get(lock_path)
            computed = manifest.sync.get(_SYNC_HASH)
            if lock is None or lock.kind != PIPFILE_LOCK or lock.role is not Role.LOCK:
                continue  # the lock could not be read: it has its own RP001
            if not computed:
                continue
            recorded = lock.sync.get(_SYNC_HASH, "")
            line = int(lock.sync.get(_SYNC_HASH_LINE, "1"))
            if not recorded:
                msg = "Pipfile.lock records no hash of its Pipfile"
            elif recorded.lower() not in computed.split():
                msg = "Pipfile.lock is out of sync with Pipfile (_meta.hash does not match)"
            else:
                continue
            yield finding("RP202", msg, Location(path=lock.path, line=line), fix="pipenv lock")


class PipfileLockScanner(Scanner):
    """``Pipfile.lock``: exact, hashed pins written by pipenv."""

    name = PIPFILE_LOCK

    def claims(self, relpath: str, filename: str) -> bool:
        return filename == PIPFILE_LOCK

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        try:
            data = json.loads(source.text)
        except json.JSONDecodeError as exc:
            raise ScanError(f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
        if not isinstance(data, dict):
            raise ScanError("expected a JSON object at the top level")
        lines = json_key_lines(source.text)
        judge_ctx = ctx.judge_context(source)
        findings: list[Finding] = []
        pins: dict[str, Pin] = {}
        for section in (k for k in data if k != "_meta"):
            table = data[section]
            if not isinstance(table, dict):
                continue
            for key, entry in table.items():
                line = lines.get((section, key), lines.get((section,), 1))
                findings.extend(
                    self._entry(
                        key, entry=entry, source=source, line=line, judge_ctx=judge_ctx, pins=pins
                    )
                )
        meta = data.get("_meta")
        meta = meta if isinstance(meta, dict) else {}
        findings.extend(_source_findings(meta.get("sources"), lines, source, ("_meta", "sources")))
        hash_table = meta.get("hash")
        recorded = hash_table.get("sha256") if isinstance(hash_table, dict) else None
        sync: dict[str, str] = {}
        if isinstance(recorded, str) and recorded:
            sync[_SYNC_HASH] = recorded.strip()
            hash_line = lines.get(("_meta", "hash", "sha256"), lines.get(("_meta",), 1))
            sync[_SYNC_HASH_LINE] = str(hash_line)
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.LOCK,
            findings=tuple(findings),
            pins=tuple(pins.values()),
            compiled_from=(_beside(source.path, PIPFILE),),
            sync=sync,
        )

    def _entry(
        self,
        key: str,
        *,
        entry: object,
        source: SourceFile,
        line: int,
        judge_ctx: JudgeContext,
        pins: dict[str, Pin],
    ) -> Iterator[Finding]:
        location = source.at(line)
        try:
            spec = pipenv_entry_spec(key, entry)
        except ValueError as exc:  # SpecError, or a URL urllib rejects
            yield finding("RP001", f"{key}: {exc}", location, subject=key)
            return
        if spec.kind in {SpecKind.VCS, SpecKind.PATH, SpecKind.URL}:
            yield from _judge(spec, location, judge_ctx, frozenset({"RP104", "RP105", "RP106"}))
            return
        if spec.kind is not SpecKind.EXACT or spec.version is None:
            msg = f"{spec.label} has no exact version in Pipfile.lock"
            yield finding("RP001", msg, location, subject=spec.name)
            return
        pins.setdefault(
            spec.name,
            Pin(name=spec.name, version=spec.version, line=line, hashed=bool(spec.hashes)),
        )
        if not spec.hashes:
            msg = f"{spec.label}=={spec.version} has no hash in Pipfile.lock"
            yield finding("RP203", msg, location, subject=spec.name)


def _categories(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for section, group in _BASE_CATEGORIES.items():
        if section in data:
            yield section, group
    for section, value in data.items():
        if section in _NON_CATEGORIES or section in _BASE_CATEGORIES:
            continue
        # A custom category is a table of packages; anything else is not pipenv's business.
        if isinstance(value, dict):
            yield section, section


def _source_findings(
    sources: object,
    lines: Mapping[tuple[str | int, ...], int],
    source: SourceFile,
    prefix: tuple[str, ...],
) -> Iterator[Finding]:
    if not isinstance(sources, list):
        return
    for index, entry in enumerate(sources):
        if not isinstance(entry, dict) or entry.get("verify_ssl", True) is not False:
            continue
        # Never copy a token from a source URL into a report.
        url = re.sub(r"//[^/@\s]+@", "//***@", str(entry.get("url") or ""))
        label = str(entry.get("name") or url or f"#{index + 1}")
        line = lines.get((*prefix, index, "verify_ssl"), lines.get((*prefix, index), 1))
        yield finding(
            "RP107",
            f"TLS verification is off for source {label}",
            source.at(line),
            subject=label,
            fix="verify_ssl = true",
        )


def _beside(path: str, name: str) -> str:
    parent = str(PurePosixPath(path).parent)
    return name if parent == "." else f"{parent}/{name}"
