"""The audit cache: per-file scan results, and the whole run's findings, reused while nothing
that produced them has changed (as ruff and mypy cache theirs).

Two files per audited root and configuration under ``<cache dir>/audit/``: a small one for
the last run (every input file's size, mtime and sha256, and the run's findings) and a larger
one with each file's scan result. Results are keyed by content hashes; size and mtime only
spare re-hashing a file whose stat is unchanged (as mypy does), so a touch costs a hash, never
a stale result. The namespace covers reprolock's version, the cache format and the
configuration, so an upgrade or a config change never reads an old entry.

The files are pickles of reprolock's own frozen dataclasses: loading them is several times
faster than rebuilding the objects from JSON. They live in the user's own cache directory,
like the bytecode Python caches there; a file that fails to load is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprolock import __version__
from reprolock.audit.interface import FileFacts
from reprolock.config import Config
from reprolock.files import atomic_write_bytes
from reprolock.model import Finding, Location, Severity

FORMAT = 3
"""Bumped whenever FileFacts, Finding or the scanners' output changes shape or meaning."""

Stat = tuple[int, int]
"""(size, mtime_ns) of a file."""

Ignores = dict[int, tuple[str, ...]]
"""Inline ``# repro: ignore[...]`` comments of a file: line -> rule ids or prefixes."""


def digest(data: bytes) -> str:
    """The content hash used for cache keys."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class CachedFile:
    """One file's scan result and what it was computed from."""

    digest: str
    """sha256 of the file's bytes."""
    deps: tuple[tuple[str, str], ...]
    """(path, digest) of every other file the scan read (``-r`` targets)."""
    facts: FileFacts
    """The scan result."""
    ignores: Ignores = field(default_factory=dict)
    """The file's inline ignore comments."""


@dataclass(kw_only=True, slots=True)
class RunRecord:
    """What the whole last run needs to be replayed without scanning anything."""

    tree: str
    """:func:`tree_digest` of every input."""
    files_scanned: int
    """Files the run scanned."""
    findings: tuple[tuple[Any, ...], ...]
    """Raw findings (before filters), as plain tuples: much faster to load than objects."""
    ignores: dict[str, Ignores]
    """Inline ignore comments of every scanned file (empty for most)."""


@dataclass(kw_only=True, slots=True)
class _Header:
    format: int
    version: str


@dataclass(kw_only=True, slots=True)
class _RunPayload(_Header):
    stats: dict[str, tuple[int, int, str]]
    extra: tuple[str, ...]
    record: RunRecord | None


@dataclass(kw_only=True, slots=True)
class _FilesPayload(_Header):
    shape: str
    files: dict[str, CachedFile]


def _load(path: Path, kind: type[_Header]) -> Any:
    try:
        payload = pickle.loads(path.read_bytes())  # noqa: S301 - the user's own cache
    except Exception:
        return None
    if not isinstance(payload, kind) or payload.format != FORMAT or payload.version != __version__:
        return None
    return payload


class AuditCache:
    """Load once, consult during the run, save once at the end."""

    def __init__(self, directory: Path, root: Path, config: Config) -> None:
        namespace = digest("\0".join((__version__, str(FORMAT), str(root), repr(config))).encode())[
            :32
        ]
        base = directory / "audit" / namespace
        self._run_path = base.with_suffix(".run.pickle")
        self._files_path = base.with_suffix(".files.pickle")
        run: _RunPayload | None = _load(self._run_path, _RunPayload)
        self._stats = run.stats if run else {}
        self.extra: tuple[str, ...] = run.extra if run else ()
        """Files outside discovery that the last run read (``-r`` targets)."""
        self._record = run.record if run else None
        self._files: _FilesPayload | None = None
        self._files_loaded = False

    def known_digest(self, path: str, stat: Stat) -> str | None:
        """The digest recorded for ``path`` when its size and mtime are unchanged."""
        known = self._stats.get(path)
        if known is None or (known[0], known[1]) != stat:
            return None
        return known[2]

    def record(self, tree: str) -> RunRecord | None:
        """The last run, when every input of it is unchanged."""
        if self._record is None or self._record.tree != tree:
            return None
        return self._record

    def facts(self, shape: str, path: str, file_digest: str,
              current: Mapping[str, str]) -> CachedFile | None:  # fmt: skip
        """The cached scan of ``path`` when the tree shape, its content and its deps match.

        ``current`` maps paths to the digests of this run, for checking deps."""
        if not self._files_loaded:
            self._files = _load(self._files_path, _FilesPayload)
            self._files_loaded = True
        old = self._files
        if old is None or old.shape != shape:
            return None
        entry = old.files.get(path)
        if entry is None or entry.digest != file_digest:
            return None
        for dep, dep_digest in entry.deps:
            if current.get(dep) != dep_digest:
                return None
        return entry

    def save(
        self,
        *,
        stats: dict[str, tuple[int, int, str]],
        extra: Iterable[str],
        record: RunRecord,
        shape: str,
        files: Mapping[str, CachedFile],
    ) -> None:
        """Replace both cache files atomically; a failure to write is not an error."""
        run = _RunPayload(
            format=FORMAT, version=__version__, stats=stats, extra=tuple(extra), record=record
        )
        per_file = _FilesPayload(format=FORMAT, version=__version__, shape=shape, files=dict(files))
        with contextlib.suppress(OSError):
            atomic_write_bytes(self._files_path, pickle.dumps(per_file, pickle.HIGHEST_PROTOCOL))
            atomic_write_bytes(self._run_path, pickle.dumps(run, pickle.HIGHEST_PROTOCOL))


def tree_digest(shape: str, digests: Mapping[str, str]) -> str:
    """One hash of every input file's path and content."""
    h = hashlib.sha256(shape.encode())
    for path in sorted(digests):
        h.update(f"\0{path}\0{digests[path]}".encode())
    return h.hexdigest()


def shape_digest(paths: Iterable[str]) -> str:
    """A hash of which files exist: scanners consult siblings, so a new file changes results."""
    return digest("\0".join(sorted(paths)).encode())


def finding_to_tuple(f: Finding) -> tuple[Any, ...]:
    """A finding as plain data (see :attr:`RunRecord.findings`)."""
    loc = f.location
    return (
        f.rule, f.severity.value, f.message, loc.path, loc.line, loc.column,
        f.subject, f.fix, f.fingerprint,
    )  # fmt: skip


def finding_from_tuple(t: tuple[Any, ...]) -> Finding:
    """The inverse of :func:`finding_to_tuple`."""
    rule, severity, message, path, line, column, subject, fix, fingerprint = t
    return Finding(
        rule=rule,
        severity=Severity(severity),
        message=message,
        location=Location(path=path, line=line, column=column),
        subject=subject,
        fix=fix,
        fingerprint=fingerprint,
    )
