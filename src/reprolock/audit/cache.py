"""The audit cache: per-file scan results, and the whole run's findings, reused while nothing
that produced them has changed (as ruff and mypy cache theirs).

Two files per audited root and configuration under ``<cache dir>/audit/``: a small one for
the last run (every input file's stat and sha256, and the run's findings) and a larger one
with each file's scan result. Results are keyed by content hashes; a file's stat (size,
mtime, inode and ctime, which ``touch -d`` cannot set back) only spares re-hashing it, and
only when it was not written within :data:`RACY_NS` of the run that recorded it. The
namespace covers reprolock's version, the cache format, the shape of the cached types and
the configuration, so an upgrade or a config change never reads an old entry.

The cache directory may be shared with other users (a CI cache restored from elsewhere, a
directory in ``/tmp``), so nothing in it is trusted to run: entries are JSON, never pickle,
and each file carries the sha256 of its body, so a damaged or truncated file is a miss, never
a wrong report. The audit uses the cache only in a directory the user owns that no one else
can write (see :func:`unsafe_reason`); files are written with mode 0600.
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import enum
import functools
import hashlib
import json
import operator
import os
import stat as stat_module
import time
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprolock import __version__
from reprolock.audit.interface import FileFacts
from reprolock.config import Config
from reprolock.files import atomic_write_bytes, read_bytes
from reprolock.model import Finding, Location, Severity

FORMAT = 4
"""Bumped whenever the layout of the cache files or the scanners' output changes meaning.
(A change to the fields of :class:`FileFacts` and the types in it changes the namespace by
itself: see :func:`schema`.)"""

RACY_NS = 2_000_000_000
"""A file modified this close to the run that recorded its stat is hashed again next time:
file systems stamp times with a coarse clock (one second on some), so a later write in the
same tick could leave the stat unchanged."""

MAX_CACHE_FILE = 2**31
"""Cache files larger than this are not read (a tree of 200,000 files needs about 60 MB)."""

_MAGIC = b"reprolock-audit-cache"
_NO_IGNORES: dict[int, tuple[str, ...]] = {}

Stat = tuple[int, int, int, int]
"""(size, mtime_ns, inode, ctime_ns) of a file."""

Ignores = dict[int, tuple[str, ...]]
"""Inline ``# repro: ignore[...]`` comments of a file: line -> rule ids or prefixes."""


def digest(data: bytes) -> str:
    """The content hash used for cache keys."""
    return hashlib.sha256(data).hexdigest()


def stat_key(st: os.stat_result) -> Stat:
    """What must be unchanged for a file's recorded digest to be trusted."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


@dataclass(frozen=True, kw_only=True, slots=True)
class CachedFile:
    """One file's scan result and what it was computed from."""

    digest: str
    """sha256 of the file's bytes."""
    deps: tuple[tuple[str, str], ...]
    """(path, digest) of every other file the scan consulted (includes, siblings)."""
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
    """Raw findings (before filters), as plain tuples (see :func:`finding_to_tuple`)."""
    ignores: dict[str, Ignores]
    """Inline ignore comments of every scanned file (empty for most)."""


# ---------------------------------------------------------------------------------------------
# Where the cache may live


def unsafe_reason(directory: Path) -> str | None:
    """Why ``directory`` and its ``audit/`` folder must not hold the audit cache, or None.

    Both are created (mode 0700) when missing. Each must be a directory owned by the current
    user that neither its group nor others can write; ``audit/`` must not be a symlink.
    Anyone who can write there could otherwise make the audit report what they like.
    """
    audit = directory / "audit"
    for path, follow in ((directory, True), (audit, False)):
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = os.stat(path, follow_symlinks=follow)
        except OSError as exc:
            return f"{path}: {exc.strerror or exc}"
        if not stat_module.S_ISDIR(st.st_mode):
            return f"{path} is not a directory"
        if st.st_uid != os.geteuid():
            return f"{path} belongs to another user (uid {st.st_uid})"
        mode = stat_module.S_IMODE(st.st_mode)
        if mode & 0o022:
            return f"{path} is writable by other users (mode {mode:04o})"
    return None


# ---------------------------------------------------------------------------------------------
# Plain data <-> the cached dataclasses


Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]
"""(encode to JSON-ready data, decode back)."""


def _same(value: Any) -> Any:
    return value


@functools.cache
def codec(tp: Any) -> Codec:
    """Encoder and decoder of values of type ``tp`` as JSON data.

    Dataclasses become lists of their fields in order (compact, and quick to read back),
    enums their values, tuples lists; ``str``, ``int``, ``bool`` and None stay as they are.
    Only the types the scanners' facts are made of are supported: anything else is a
    ``TypeError`` at import time of the first use, not a silently lossy cache.
    """
    if tp in (str, int, bool, float, type(None)):
        return _same, _same
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"cannot cache {tp!r}")
        enc, dec = codec(inner[0])
        if enc is _same and dec is _same:
            return _same, _same
        return (lambda v: None if v is None else enc(v)), (lambda v: None if v is None else dec(v))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        enc, dec = codec(args[0])
        if enc is _same and dec is _same:
            return list, tuple
        return (lambda v: [enc(x) for x in v]), (lambda v: tuple([dec(x) for x in v]))
    if origin is tuple:
        parts = [codec(a) for a in args]
        return (
            lambda v: [e(x) for (e, _), x in zip(parts, v, strict=True)],
            lambda v: tuple([d(x) for (_, d), x in zip(parts, v, strict=True)]),
        )
    if origin in (dict, collections.abc.Mapping) and args and args[0] is str:
        enc, dec = codec(args[1])
        return (lambda v: {k: enc(x) for k, x in v.items()}), (
            lambda v: {k: dec(x) for k, x in v.items()}
        )
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return (lambda v: v.value), tp
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_codec(tp)
    raise TypeError(f"cannot cache {tp!r}")


def _dataclass_codec(cls: type[Any]) -> Codec:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    parts = [(name, *codec(hints[name])) for name in names]
    plain = [(name, None if dec is _same else dec) for name, _, dec in parts]
    fields = operator.attrgetter(*names)
    encoders = [None if enc is _same else enc for _, enc, _ in parts]

    def encode(value: Any) -> list[Any]:
        values = fields(value) if len(names) > 1 else (fields(value),)
        return [v if e is None else e(v) for e, v in zip(encoders, values, strict=True)]

    def decode(data: list[Any]) -> Any:
        if len(data) != len(plain):
            raise ValueError(f"{cls.__name__}: {len(data)} fields, expected {len(plain)}")
        return cls(
            **{
                name: value if dec is None else dec(value)
                for (name, dec), value in zip(plain, data, strict=True)
            }
        )

    return encode, decode


def schema(tp: Any, seen: frozenset[Any] = frozenset()) -> str:
    """A description of ``tp``'s shape (field names and types, recursively), for the cache
    namespace: a field added to any cached type makes old entries unreachable."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp not in seen:
        hints = typing.get_type_hints(tp)
        inner = ",".join(
            f"{f.name}:{schema(hints[f.name], seen | {tp})}" for f in dataclasses.fields(tp)
        )
        return f"{tp.__name__}({inner})"
    args = typing.get_args(tp)
    if args:
        origin = typing.get_origin(tp)
        return f"{getattr(origin, '__name__', origin)}[{','.join(schema(a, seen) for a in args)}]"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"{tp.__name__}{{{','.join(str(m.value) for m in tp)}}}"
    return getattr(tp, "__name__", repr(tp))


_encode_facts, _decode_facts = codec(FileFacts)
_SCHEMA = digest(schema(FileFacts).encode())[:16]


def _encode_ignores(ignores: Ignores) -> list[Any]:
    return [[line, list(ids)] for line, ids in ignores.items()]


def _decode_ignores(data: list[Any]) -> Ignores:
    return {int(line): tuple(ids) for line, ids in data}


# ---------------------------------------------------------------------------------------------
# The files on disk: a header line with the body's sha256, then the body (one JSON document)


def _dump(document: Any) -> bytes:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    header = b"%s %d %s\n" % (_MAGIC, FORMAT, digest(body).encode())
    return header + body


def _load(path: Path) -> Any:
    """The document in ``path``; None when missing, damaged or of another format."""
    try:
        data = read_bytes(path, limit=MAX_CACHE_FILE, follow_symlinks=False)
    except OSError:
        return None
    header, newline, body = data.partition(b"\n")
    parts = header.split(b" ")
    if not newline or len(parts) != 3 or parts[0] != _MAGIC or parts[1] != b"%d" % FORMAT:
        return None
    if digest(body).encode() != parts[2]:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class AuditCache:
    """Load once, consult during the run, save once at the end."""

    def __init__(self, directory: Path, root: Path, config: Config) -> None:
        key = "\0".join((__version__, str(FORMAT), _SCHEMA, str(root), repr(config)))
        base = directory / "audit" / digest(key.encode())[:32]
        self._run_path = base.with_suffix(".run.json")
        self._files_path = base.with_suffix(".files.json")
        self._stats: dict[str, list[Any]] = {}
        self._absent: dict[str, list[Any]] = {}
        self._absent_names: dict[str, frozenset[str]] = {}
        self._trusted_before = 0
        self.extra: tuple[str, ...] = ()
        """Files outside discovery that the last run read (``-r`` targets, siblings)."""
        self._record: RunRecord | None = None
        self._entries: dict[str, list[Any]] | None = None
        self._shape = ""
        self._valid: set[str] | None = None
        try:
            self._read_run(_load(self._run_path))
        except (KeyError, TypeError, ValueError, IndexError):
            self._stats, self._absent, self.extra, self._record = {}, {}, (), None

    def _read_run(self, doc: Any) -> None:
        if not isinstance(doc, dict) or doc.get("version") != __version__:
            return
        self._stats = doc["stats"]
        self._absent = doc["absent"]
        self._trusted_before = int(doc["started"]) - RACY_NS
        self.extra = tuple(doc["extra"])
        # only files with inline ignores are written; every other file has none
        ignores: dict[str, Ignores] = dict.fromkeys(self._stats, _NO_IGNORES)
        ignores.update((path, _decode_ignores(lines)) for path, lines in doc["ignores"].items())
        self._record = RunRecord(
            tree=doc["tree"],
            files_scanned=int(doc["files_scanned"]),
            findings=tuple(tuple(f) for f in doc["findings"]),
            ignores=ignores,
        )

    def trusted(self, mtime_ns: int, ctime_ns: int) -> bool:
        """Whether a stat recorded with these times can be trusted: both older than
        :data:`RACY_NS` before the run that recorded it."""
        return max(mtime_ns, ctime_ns) < self._trusted_before

    def known_absent(self, directory: str, name: str, dir_key: tuple[int, int, int] | None) -> bool:
        """True when ``name`` was missing from ``directory`` last time and the directory's
        (mtime, inode, ctime) is unchanged and not racy: no entry can appear in a directory
        without changing its times, so one stat of the directory answers for every name."""
        known = self._absent.get(directory)
        if dir_key is None or known is None or len(known) != 4:
            return False
        if (known[0], known[1], known[2]) != dir_key or not self.trusted(dir_key[0], dir_key[2]):
            return False
        names = self._absent_names.get(directory)
        if names is None:
            names = self._absent_names[directory] = frozenset(known[3])
        return name in names

    def known_digest(self, path: str, stat: Stat) -> str | None:
        """The digest recorded for ``path`` when its stat is unchanged and not racy."""
        known = self._stats.get(path)
        if known is None or len(known) != 5 or (known[0], known[1], known[2], known[3]) != stat:
            return None
        if not self.trusted(stat[1], stat[3]):
            return None
        recorded = known[4]
        return recorded if isinstance(recorded, str) else None

    def record(self, tree: str) -> RunRecord | None:
        """The last run, when every input of it is unchanged."""
        if self._record is None or self._record.tree != tree:
            return None
        return self._record

    def holds(self, shape: str, path: str, current: Mapping[str, str]) -> bool:
        """True when the cache holds a scan of ``path`` that is still good: the tree shape is
        the same and neither the file nor anything it consulted, directly or through what
        that consulted, has changed.

        ``current`` maps paths to the digests of this run (computed on demand)."""
        if self._valid is None:
            self._valid = self._validate(shape, current)
        return path in self._valid

    def facts(self, shape: str, path: str, current: Mapping[str, str]) -> CachedFile | None:
        """The cached scan of ``path`` when :meth:`holds` is true."""
        if not self.holds(shape, path, current) or self._entries is None:
            return None
        # each file is taken once: let its raw form go as soon as it is decoded
        entry = self._entries.pop(path, None)
        if entry is None:
            return None
        try:
            return CachedFile(
                digest=entry[0],
                deps=tuple((dep, dep_digest) for dep, dep_digest in entry[1]),
                facts=_decode_facts(entry[2]),
                ignores=_decode_ignores(entry[3]),
            )
        except (KeyError, TypeError, ValueError, IndexError):
            return None

    def _validate(self, shape: str, current: Mapping[str, str]) -> set[str]:
        """Paths whose entries still hold: own digest and every dep's digest unchanged, and
        every dep that has an entry of its own valid too (a file's result depends on what its
        includes include). Invalidity spreads from includes to includers over the whole
        graph at once, so a cycle of includes is handled like any other file."""
        doc = _load(self._files_path)
        if not isinstance(doc, dict) or doc.get("version") != __version__:
            return set()
        if doc.get("shape") != shape or not isinstance(doc.get("files"), dict):
            return set()
        entries: dict[str, list[Any]] = doc["files"]
        self._entries = entries
        valid: set[str] = set()
        includers: dict[str, list[str]] = {}
        bad: list[str] = []
        for path, entry in entries.items():
            try:
                ok = bool(entry[0]) and current.get(path) == entry[0]
                for dep, dep_digest in entry[1]:
                    includers.setdefault(dep, []).append(path)
                    ok = ok and current.get(dep) == dep_digest
            except (TypeError, ValueError, IndexError):
                ok = False
            (valid.add if ok else bad.append)(path)
        while bad:
            for includer in includers.get(bad.pop(), ()):
                if includer in valid:
                    valid.discard(includer)
                    bad.append(includer)
        return valid

    def save_files(self, *, shape: str, files: Mapping[str, CachedFile]) -> None:
        """Replace the per-file scan results (mode 0600); a failure to write is not an error."""
        per_file = {
            "version": __version__,
            "shape": shape,
            "files": {
                path: [
                    entry.digest,
                    [list(dep) for dep in entry.deps],
                    _encode_facts(entry.facts),
                    _encode_ignores(entry.ignores),
                ]
                for path, entry in files.items()
            },
        }
        with contextlib.suppress(OSError):
            atomic_write_bytes(self._files_path, _dump(per_file), mode=0o600)

    def save_run(
        self,
        *,
        started: int,
        stats: Mapping[str, tuple[int, int, int, int, str]],
        absent: Mapping[str, tuple[int, int, int, list[str]]],
        extra: Iterable[str],
        record: RunRecord,
    ) -> None:
        """Replace the run's record (mode 0600); a failure to write is not an error.

        ``started``: :func:`now_ns` before the run looked at any file. ``absent``: directory
        -> (mtime, inode, ctime, names looked for there and not found)."""
        run = {
            "version": __version__,
            "started": started,
            "stats": stats,
            "absent": {d: [*key, sorted(names)] for d, (*key, names) in absent.items()},
            "extra": list(extra),
            "tree": record.tree,
            "files_scanned": record.files_scanned,
            "findings": record.findings,
            "ignores": {p: _encode_ignores(lines) for p, lines in record.ignores.items() if lines},
        }
        with contextlib.suppress(OSError):
            atomic_write_bytes(self._run_path, _dump(run), mode=0o600)


def now_ns() -> int:
    """The clock stats are compared against (see :data:`RACY_NS`)."""
    return time.time_ns()


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
