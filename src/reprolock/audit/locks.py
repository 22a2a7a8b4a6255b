"""Lock-file scanners: poetry.lock, uv.lock, pdm.lock, pylock.toml and Pipfile.lock.

:mod:`reprolock.formats` reads each into one model; :func:`lock_facts` judges its entries
(conda locks too): what the reader refused is RP001, every entry goes through
:func:`~reprolock.specs.judge_locked`, and the facts carry the lock for the cross-file checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import ClassVar

from reprolock.audit.interface import FileFacts, Pin, Role, ScanContext, Scanner, SourceFile
from reprolock.formats import pdm, pipfile, poetry, pylock, uv
from reprolock.formats.lock import LockEntry, LockFile
from reprolock.model import Finding
from reprolock.rules import finding
from reprolock.specs import judge_locked, locked_sound

_CREDENTIALS = re.compile(r"//[^/@\s]+@")


def lock_facts(
    source: SourceFile,
    ctx: ScanContext,
    lock: LockFile,
    *,
    kind: str,
    fix: str | None = None,
    compiled_from: tuple[str, ...] = (),
    pin_name: Callable[[LockEntry], str] = lambda entry: entry.name,
) -> FileFacts:
    """The facts of one lock: its reader's problems (RP001), each entry judged, an index
    without TLS verification (RP107), its pins (named by ``pin_name``)."""
    judge = ctx.judge_context(source)
    found: list[Finding] = [
        finding("RP001", p.message, source.at(p.line, p.column), severity=p.severity)
        for p in lock.problems
    ]
    pins: dict[tuple[str, str], Pin] = {}
    name_of_lock = source.name  # a path parsed: once, not per entry
    for entry in lock.entries:
        if not locked_sound(entry):
            loc = source.at(entry.line)
            found.extend(judge_locked(entry, loc, judge, lock=name_of_lock, fix=fix))
        name = pin_name(entry)
        if name and entry.version:
            pin = Pin(name=name, version=entry.version, line=entry.line, hashed=entry.hashed)
            pins.setdefault((name, entry.version), pin)
    for number, index in enumerate(lock.meta.indexes, start=1):
        if not index.verify_ssl:
            # never copy a token from an index URL into a report
            label = index.name or _CREDENTIALS.sub("//***@", index.url) or f"#{number}"
            message = f"TLS verification is off for source {label}"
            loc = source.at(index.line)
            found.append(finding("RP107", message, loc, subject=label, fix="verify_ssl = true"))
    return FileFacts(
        path=source.path,
        kind=kind,
        role=Role.LOCK,
        findings=tuple(found),
        pins=tuple(pins.values()),
        compiled_from=compiled_from,
        lock=lock,
    )


def beside(path: str, name: str) -> str:
    """The root-relative path of ``name`` in the directory of root-relative ``path``."""
    parent = str(PurePosixPath(path).parent)
    return name if parent == "." else f"{parent}/{name}"


class _LockScanner(Scanner):
    """One lock format: its reader, the fix that regenerates its hashes, its manifests."""

    fix: ClassVar[str | None] = None
    """Command that regenerates hashes, for RP203."""
    filename: ClassVar[str] = ""
    """The file name of the format."""

    def claims(self, relpath: str, filename: str) -> bool:
        return filename == self.filename

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        lock = self.read(source.text)
        return lock_facts(
            source,
            ctx,
            lock,
            kind=self.name,
            fix=self.fix_for(lock),
            compiled_from=self.manifests(source, ctx, lock),
        )

    def read(self, text: str) -> LockFile:
        """The lock read from ``text``."""
        raise NotImplementedError

    def fix_for(self, lock: LockFile) -> str | None:
        """The fix suggested for RP203 in this lock."""
        return self.fix

    def manifests(self, source: SourceFile, ctx: ScanContext, lock: LockFile) -> tuple[str, ...]:
        """The manifests this lock resolves (by default the pyproject beside it)."""
        sibling = beside(source.path, "pyproject.toml")
        return (sibling,) if sibling in ctx.files else ()


class PoetryLockScanner(_LockScanner):
    """``poetry.lock``."""

    name = filename = "poetry.lock"
    extensions = frozenset({"lock"})
    fix = "poetry lock --regenerate"

    def read(self, text: str) -> LockFile:
        return poetry.read(text)


class PdmLockScanner(_LockScanner):
    """``pdm.lock``."""

    name = filename = "pdm.lock"
    extensions = frozenset({"lock"})
    fix = "pdm lock --refresh"

    def read(self, text: str) -> LockFile:
        return pdm.read(text)


class PipfileLockScanner(_LockScanner):
    """``Pipfile.lock``: exact, hashed pins written by pipenv from the Pipfile beside it."""

    name = filename = "Pipfile.lock"
    extensions = frozenset({"lock"})

    def read(self, text: str) -> LockFile:
        return pipfile.read(text)

    def manifests(self, source: SourceFile, ctx: ScanContext, lock: LockFile) -> tuple[str, ...]:
        return (beside(source.path, "Pipfile"),)


class PylockScanner(_LockScanner):
    """``pylock.toml`` / ``pylock.NAME.toml``: the PEP 751 standard lock."""

    name = "pylock"
    extensions = frozenset({"toml"})

    def claims(self, relpath: str, filename: str) -> bool:
        return bool(pylock.NAME.match(filename))

    def read(self, text: str) -> LockFile:
        return pylock.read(text)

    def fix_for(self, lock: LockFile) -> str | None:
        created_by = lock.meta.created_by
        return f"regenerate the lock with {created_by}" if created_by else None


class UvLockScanner(_LockScanner):
    """``uv.lock``: its manifests are every workspace project's pyproject.toml."""

    name = filename = "uv.lock"
    extensions = frozenset({"lock"})
    fix = "uv lock --refresh"

    def read(self, text: str) -> LockFile:
        return uv.read(text)

    def manifests(self, source: SourceFile, ctx: ScanContext, lock: LockFile) -> tuple[str, ...]:
        out = list(super().manifests(source, ctx, lock))
        for project in lock.meta.projects:
            rel = member_manifest(source.path, project.path)
            if rel is not None and rel in ctx.files and rel not in out:
                out.append(rel)
        return tuple(out)


def member_manifest(lock: str, where: str) -> str | None:
    """The root-relative pyproject.toml of a project at ``where`` (relative to the lock's
    directory); None when that leaves the root."""
    base = PurePosixPath(lock).parent
    parts: list[str] = [] if str(base) == "." else list(base.parts)
    for part in PurePosixPath(where).parts:
        if part in {"", "."}:
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part == "/":
            return None
        else:
            parts.append(part)
    parts.append("pyproject.toml")
    return "/".join(parts)


def lock_scanners() -> list[Scanner]:
    """Every lock-file scanner (conda locks are the conda scanner's)."""
    return [
        PoetryLockScanner(),
        UvLockScanner(),
        PdmLockScanner(),
        PylockScanner(),
        PipfileLockScanner(),
    ]
