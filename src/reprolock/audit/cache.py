"""The audit cache: per-file scan results, and the whole run's findings, reused while nothing
that produced them has changed (as ruff and mypy cache theirs).

One file per audited root and configuration under ``<cache dir>/audit/``. Entries are keyed
by content hashes, never by modification times, so a checkout, a touch or a clock change
cannot serve a stale result. The namespace of the file covers reprolock's version, the cache
format and the configuration, so an upgrade or a config change never reads an old entry.

The file is a pickle of reprolock's own frozen dataclasses: loading it is several times
faster than rebuilding them from JSON. It lives in the user's own cache directory, like the
bytecode Python itself caches there; a file that fails to load is ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reprolock import __version__
from reprolock.audit.interface import FileFacts
from reprolock.config import Config
from reprolock.files import atomic_write_bytes
from reprolock.model import Finding

FORMAT = 1
"""Bumped whenever FileFacts or the scanners' output changes shape or meaning."""


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


@dataclass(kw_only=True, slots=True)
class _Payload:
    format: int
    version: str
    shape: str
    files: dict[str, CachedFile] = field(default_factory=dict)
    tree: str = ""
    findings: tuple[Finding, ...] = ()


class AuditCache:
    """Load once, consult during the run, save once at the end."""

    def __init__(self, directory: Path, root: Path, config: Config) -> None:
        namespace = digest("\0".join((__version__, str(FORMAT), str(root), repr(config))).encode())[
            :32
        ]
        self.path = directory / "audit" / f"{namespace}.pickle"
        self._old = self._load()

    def _load(self) -> _Payload | None:
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        try:
            payload = pickle.loads(data)  # noqa: S301 - the user's own cache, see module docstring
        except Exception:
            return None
        if (
            not isinstance(payload, _Payload)
            or payload.format != FORMAT
            or payload.version != __version__
        ):
            return None
        return payload

    def facts(self, shape: str, path: str, file_digest: str,
              current: Mapping[str, str]) -> FileFacts | None:  # fmt: skip
        """The cached facts of ``path`` when the tree shape, its content and its deps match.

        ``current`` maps paths to the digests of this run, for checking deps."""
        old = self._old
        if old is None or old.shape != shape:
            return None
        entry = old.files.get(path)
        if entry is None or entry.digest != file_digest:
            return None
        for dep, dep_digest in entry.deps:
            if current.get(dep) != dep_digest:
                return None
        return entry.facts

    def findings(self, tree: str) -> tuple[Finding, ...] | None:
        """The whole run's raw findings when every input of the last run is unchanged."""
        old = self._old
        if old is None or not old.tree or old.tree != tree:
            return None
        return old.findings

    def save(self, *, shape: str, files: Mapping[str, CachedFile], tree: str,
             findings: Iterable[Finding]) -> None:  # fmt: skip
        """Replace the cache file atomically; a failure to write is not an error."""
        payload = _Payload(
            format=FORMAT,
            version=__version__,
            shape=shape,
            files=dict(files),
            tree=tree,
            findings=tuple(findings),
        )
        with contextlib.suppress(OSError):
            atomic_write_bytes(self.path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def tree_digest(shape: str, digests: Mapping[str, str]) -> str:
    """One hash of every input file's path and content."""
    h = hashlib.sha256(shape.encode())
    for path in sorted(digests):
        h.update(f"\0{path}\0{digests[path]}".encode())
    return h.hexdigest()


def shape_digest(paths: Iterable[str]) -> str:
    """A hash of which files exist: scanners consult siblings, so a new file changes results."""
    return digest("\0".join(sorted(paths)).encode())
