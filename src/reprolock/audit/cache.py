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
import itertools
import json
import operator
import os
import re
import stat as stat_module
import time
import types
import typing
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolock import __version__
from reprolock.audit.discover import Listings
from reprolock.config import Config
from reprolock.files import atomic_write_bytes, read_bytes
from reprolock.model import Finding, Location, Severity

if TYPE_CHECKING:
    from reprolock.audit.interface import FileFacts

FORMAT = 8
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
    line: bytes | None = field(default=None, compare=False, repr=False)
    """The entry as stored, when it was read from the cache: written back as it is."""


@dataclass(kw_only=True, slots=True)
class RunRecord:
    """What the whole last run needs to be replayed without scanning anything."""

    tree: str
    """:func:`tree_digest` of every input."""
    files_scanned: int
    """Files the run scanned."""
    findings: tuple[tuple[Any, ...], ...]
    """Raw findings (before filters), as plain tuples (see :func:`finding_to_tuple`)."""
    ignores: Mapping[str, Ignores]
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


SCHEMA = "9b108f48e1dcca50"
"""The digest of :func:`schema` of :class:`FileFacts`, written down so that a run answered
from the cache need not import the scanners' types to find its namespace; a test fails when
the types change and this does not."""


def schema_of_facts() -> str:
    """What :data:`SCHEMA` must be: the digest of the cached types' shape today."""
    from reprolock.audit.interface import FileFacts  # noqa: PLC0415 - the scanning side's types

    return digest(schema(FileFacts).encode())[:16]


@functools.cache
def _facts_codec() -> Codec:
    from reprolock.audit.interface import FileFacts  # noqa: PLC0415 - the scanning side's types

    return codec(FileFacts)


def _encode_ignores(ignores: Ignores) -> list[Any]:
    return [[line, list(ids)] for line, ids in ignores.items()]


def _decode_ignores(data: list[Any]) -> Ignores:
    return {int(line): tuple(ids) for line, ids in data}


# ---------------------------------------------------------------------------------------------
# The files on disk: a header line naming the format, the body's encoding and the sha256 of
# the body, then the body: one JSON document. The scans are compressed with zlib (they repeat
# themselves from file to file, and a warm run reads them only when something changed); the
# run record is not: a warm run of an unchanged tree reads nothing else, and inflating it
# cost three times reading it (the run record of 1,000 projects: 4.8 MB, 17 ms to inflate).


def _members(items: Iterable[tuple[str, Any]], batch: int = 4096) -> Iterator[str]:
    """``"key":value`` members of a JSON object, comma-separated, encoded in batches (one
    ``json.dumps`` per member would cost more than the encoding itself)."""
    chunk: dict[str, Any] = {}
    first = True
    for key, value in items:
        chunk[key] = value
        if len(chunk) >= batch:
            yield ("" if first else ",") + _compact(chunk)[1:-1]
            first, chunk = False, {}
    if chunk:
        yield ("" if first else ",") + _compact(chunk)[1:-1]


def _compact(value: Any) -> str:
    # ASCII only: a file name that is not UTF-8 holds lone surrogates, which JSON can escape
    # and UTF-8 cannot encode
    return json.dumps(value, separators=(",", ":"))


_ZLIB = b"zlib"
_RAW = b"raw"


def _dump(chunks: Iterable[str | bytes], *, compress: bool) -> bytes:
    """The cache file for a body given in chunks (text is ASCII), with ``compress`` compressed
    as it is made."""
    packer = zlib.compressobj(1) if compress else None
    check = hashlib.sha256()
    parts: list[bytes] = []
    for chunk in chunks:
        data = chunk.encode("ascii") if isinstance(chunk, str) else chunk
        packed = packer.compress(data) if packer is not None else data
        if packed:
            check.update(packed)
            parts.append(packed)
    if packer is not None:
        packed = packer.flush()
        check.update(packed)
        parts.append(packed)
    encoding = _ZLIB if compress else _RAW
    header = b"%s %d %s %s\n" % (_MAGIC, FORMAT, encoding, check.hexdigest().encode())
    return b"".join([header, *parts])


def _load_bytes(path: Path) -> bytes | None:
    """The body of the cache file ``path``, decompressed; None when missing, damaged or of
    another format."""
    try:
        data = read_bytes(path, limit=MAX_CACHE_FILE, follow_symlinks=False)
    except OSError:
        return None
    header, newline, body = data.partition(b"\n")
    del data
    parts = header.split(b" ")
    if not newline or len(parts) != 4 or parts[0] != _MAGIC or parts[1] != b"%d" % FORMAT:
        return None
    if parts[2] not in (_ZLIB, _RAW) or digest(body).encode() != parts[3]:
        return None
    if parts[2] == _RAW:
        return body
    try:
        return zlib.decompress(body)
    except zlib.error:
        return None


def _load(path: Path) -> Any:
    """The JSON document in ``path``; None when missing, damaged or of another format."""
    body = _load_bytes(path)
    try:
        return None if body is None else json.loads(body)
    except ValueError:
        return None


_ENCODER = json.JSONEncoder(separators=(",", ":"))
_PLAIN = re.compile(r"[ !#-\[\]-~]*")
"""Printable ASCII but for the quote and the backslash: a JSON string as it is."""


def _string(text: str) -> str:
    """``text`` as a JSON string: by hand when nothing in it needs escaping."""
    return f'"{text}"' if _PLAIN.fullmatch(text) else _ENCODER.encode(text)


def _entry_line(path: str, entry: CachedFile) -> bytes:
    """One line of the files document: path, digest and deps (read for every entry to
    validate it) apart from the scan itself (decoded only for the files that are used)."""
    if entry.line is not None:
        return entry.line
    deps = _ENCODER.encode([list(dep) for dep in entry.deps]) if entry.deps else "[]"
    scan = _ENCODER.encode([_facts_codec()[0](entry.facts), _encode_ignores(entry.ignores)])
    return f"{_string(path)}\t{entry.digest}\t{deps}\t{scan}\n".encode("ascii")


def _parse_entry(line: bytes) -> tuple[str, str, tuple[tuple[str, str], ...], bytes]:
    """(path, digest, deps, the scan still encoded) of a line written by :func:`_entry_line`."""
    key, digest_text, deps_text, _ = line.split(b"\t", 3)
    path = key[1:-1].decode("ascii") if b"\\" not in key else json.loads(key)
    deps = () if deps_text == b"[]" else tuple((d, h) for d, h in json.loads(deps_text))
    if not isinstance(path, str) or not all(
        isinstance(d, str) and isinstance(h, str) for d, h in deps
    ):
        raise ValueError("not an entry")
    return path, digest_text.decode(), deps, line


class AuditCache:
    """Load once, consult during the run, save once at the end."""

    def __init__(self, directory: Path, root: Path, config: Config) -> None:
        key = "\0".join((__version__, str(FORMAT), SCHEMA, str(root), repr(config)))
        base = directory / "audit" / digest(key.encode())[:32]
        self._run_path = base.with_suffix(".run.json")
        self._files_path = base.with_suffix(".files.json")
        self._stats: dict[str, Any] = {}
        self._absent: dict[str, Any] = {}
        self._trusted_before = 0
        self._extra: tuple[str, ...] = ()
        self._record: RunRecord | None = None
        self._claims: Any = None
        self._dirs: dict[str, Any] = {}
        self._entries: dict[str, tuple[str, tuple[tuple[str, str], ...], bytes]] | None = None
        self._shape = ""
        self._valid: set[str] | None = None
        try:
            self._read_run(_load(self._run_path))
        except (KeyError, TypeError, ValueError, IndexError):
            self._stats, self._absent, self._extra, self._record = {}, {}, (), None
            self._claims = None

    @property
    def has_record(self) -> bool:
        """Whether an earlier run left a record this one may be answered from."""
        return self._record is not None

    @property
    def extra(self) -> Iterator[str]:
        """Every path the last run took the digest of (discovered ones included, names it
        found missing not: see :meth:`absent`): files outside discovery that it read
        (``-r`` targets, sibling locks), paths outside the root, unreadable files."""
        yield from self._stats
        yield from self._extra

    def absent(self) -> Iterator[tuple[str, Missing]]:
        """(directory, names) the last run looked for outside discovery and did not find."""
        for directory, known in self._absent.items():
            if isinstance(known, list) and len(known) == 5:
                names, names_digest = known[3], known[4]
                if isinstance(names, str) and isinstance(names_digest, str):
                    yield directory, Missing(text=names, digest=names_digest)

    def still_absent(self, directory: str, dir_key: tuple[int, int, int] | None) -> bool:
        """True when ``directory``'s (mtime, inode, ctime) is what the last run recorded, and
        was not racy: no entry can appear in a directory without changing its times, so every
        name missing from it then is missing now, without a look at each."""
        known = self._absent.get(directory)
        if dir_key is None or not isinstance(known, list) or len(known) != 5:
            return False
        return (known[0], known[1], known[2]) == dir_key and self.trusted(dir_key[0], dir_key[2])

    def _read_run(self, doc: Any) -> None:
        if not isinstance(doc, dict) or doc.get("version") != __version__:
            return
        self._stats = doc["stats"]
        self._absent = doc["absent"]
        self._trusted_before = int(doc["started"]) - RACY_NS
        self._extra = tuple(doc["extra"])
        self._claims = doc.get("claims")
        dirs = doc.get("dirs")
        self._dirs = dirs if isinstance(dirs, dict) else {}
        self._record = RunRecord(
            tree=doc["tree"],
            files_scanned=int(doc["files_scanned"]),
            findings=tuple(tuple(f) for f in doc["findings"]),
            ignores=_Ignored(
                {path: _decode_ignores(lines) for path, lines in doc["ignores"].items()},
                self._stats,
            ),
        )

    def trusted(self, mtime_ns: int, ctime_ns: int) -> bool:
        """Whether a stat recorded with these times can be trusted: both older than
        :data:`RACY_NS` before the run that recorded it."""
        return max(mtime_ns, ctime_ns) < self._trusted_before

    def known_digest(self, path: str, stat: Stat) -> str | None:
        """The digest recorded for ``path`` when its stat is unchanged and not racy."""
        known = self._stats.get(path)
        if not isinstance(known, str):
            return None
        # "size mtime inode ctime digest": one string per file parses far faster than a list
        prefix = f"{stat[0]} {stat[1]} {stat[2]} {stat[3]} "
        if not known.startswith(prefix) or max(stat[1], stat[3]) >= self._trusted_before:
            return None
        return known[len(prefix) :]

    @property
    def recorded_files(self) -> int:
        """How many files the last run recorded a stat and digest of."""
        return len(self._stats)

    def recorded(self, path: str) -> str | None:
        """``path``'s record, ``"size mtime inode ctime digest"``: what :meth:`changed` vouches
        for when it does not name the path."""
        known = self._stats.get(path)
        return known if isinstance(known, str) else None

    def changed(self, root: str) -> set[str]:
        """The recorded paths under ``root`` whose record :meth:`known_digest` would not trust
        now (changed, racy, gone, unreadable, damaged): a ``stat`` of each. Every other
        recorded path's digest holds, as :meth:`recorded` gives it."""
        base = root.rstrip("/") + "/"
        out: set[str] = set()
        for path in self._stats:
            try:
                stat = stat_key(os.stat(base + path))
            except (OSError, ValueError):
                out.add(path)
                continue
            if self.known_digest(path, stat) is None:
                out.add(path)
        return out

    def listings(self) -> Listings:
        """The directory listings of the last run's walk, for this one to reuse."""
        return Listings(known=self._dirs, trusted_before=self._trusted_before)

    def claims(self, walked: str) -> dict[str, str] | None:
        """Which scanner claimed each file, as the last run recorded it, when discovery kept
        the same files (``walked``: their :func:`walk_digest`); else None. Spares the run
        importing the scanners to ask them again."""
        known = self._claims
        if not walked or not isinstance(known, dict) or known.get("walk") != walked:
            return None
        by_scanner = known.get("by")
        if not isinstance(by_scanner, dict):
            return None
        out: dict[str, str] = {}
        for name, paths in by_scanner.items():
            if not isinstance(name, str) or not isinstance(paths, str):
                return None
            out.update(dict.fromkeys(paths.split("\0") if paths else (), name))
        return out

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
        # each file is taken once: let the index entry go as soon as it is decoded
        entry = self._entries.pop(path, None)
        if entry is None:
            return None
        file_digest, deps, line = entry
        try:
            facts, ignores = json.loads(line.split(b"\t", 3)[3])
            return CachedFile(
                digest=file_digest,
                deps=deps,
                facts=_facts_codec()[1](facts),
                ignores=_decode_ignores(ignores),
                line=line,
            )
        except (KeyError, TypeError, ValueError, IndexError):
            return None

    def _validate(self, shape: str, current: Mapping[str, str]) -> set[str]:
        """Paths whose entries still hold: own digest and every dep's digest unchanged, and
        every dep that has an entry of its own valid too (a file's result depends on what its
        includes include). Invalidity spreads from includes to includers over the whole
        graph at once, so a cycle of includes is handled like any other file."""
        body = _load_bytes(self._files_path)
        if body is None:
            return set()
        head, _, rest = body.partition(b"\n")
        try:
            doc = json.loads(head)
            if doc != {"version": __version__, "shape": shape}:
                return set()
            entries: dict[str, tuple[str, tuple[tuple[str, str], ...], bytes]] = {}
            for line in rest.splitlines(keepends=True):
                path, file_digest, deps, _ = _parse_entry(line)
                entries[path] = (file_digest, deps, line)
        except (TypeError, ValueError):
            return set()
        del body, rest
        self._entries = entries
        valid: set[str] = set()
        includers: dict[str, list[str]] = {}
        bad: list[str] = []
        for path, (file_digest, deps, _) in entries.items():
            ok = bool(file_digest) and current.get(path) == file_digest
            for dep, dep_digest in deps:
                includers.setdefault(dep, []).append(path)
                ok = ok and current.get(dep) == dep_digest
            (valid.add if ok else bad.append)(path)
        while bad:
            for includer in includers.get(bad.pop(), ()):
                if includer in valid:
                    valid.discard(includer)
                    bad.append(includer)
        return valid

    def save_files(self, *, shape: str, files: Mapping[str, CachedFile]) -> None:
        """Replace the per-file scan results (mode 0600); a failure to write is not an error.

        One line per file; an entry read from the cache and used unchanged is written back as
        it was read, so a run that rescans a few files encodes only those."""
        head = _compact({"version": __version__, "shape": shape}) + "\n"
        lines = (_entry_line(path, entry) for path, entry in files.items())
        with contextlib.suppress(OSError):
            atomic_write_bytes(
                self._files_path, _dump(itertools.chain([head], lines), compress=True), mode=0o600
            )

    def save_run(
        self,
        *,
        started: int,
        stats: Mapping[str, tuple[int, int, int, int, str] | str],
        absent: Mapping[str, tuple[tuple[int, int, int], Missing]],
        extra: Iterable[str],
        record: RunRecord,
        claims: Mapping[str, str] | None = None,
        walked: str = "",
        dirs: Mapping[str, list[Any]] | None = None,
    ) -> None:
        """Replace the run's record (mode 0600); a failure to write is not an error.

        ``started``: :func:`now_ns` before the run looked at any file. ``stats``: path -> its
        (size, mtime, inode, ctime, digest), or the record it keeps. ``absent``: directory
        -> ((mtime, inode, ctime), names looked for there and not found). ``claims``: path ->
        the scanner that claimed it, of the files discovery kept (``walked``: their
        :func:`walk_digest`); ``dirs``: the walk's :attr:`Listings.made`."""
        head = {
            "version": __version__,
            "started": started,
            "absent": {d: [*key, m.text, m.digest] for d, (key, m) in absent.items()},
            # what stats do not already name: paths outside the root, unreadable files
            "extra": [p for p in extra if p not in stats],
            "tree": record.tree,
            "files_scanned": record.files_scanned,
            "findings": record.findings,
            "ignores": {p: _encode_ignores(lines) for p, lines in record.ignores.items() if lines},
            "dirs": dict(dirs or {}),
        }
        if claims is not None and walked:
            by_scanner: dict[str, list[str]] = {}
            for path, name in claims.items():
                by_scanner.setdefault(name, []).append(path)
            head["claims"] = {
                "walk": walked,
                "by": {name: "\0".join(paths) for name, paths in sorted(by_scanner.items())},
            }
        lines = (
            (path, stat if isinstance(stat, str) else " ".join(map(str, stat)))
            for path, stat in stats.items()
        )
        chunks = itertools.chain([_compact(head)[:-1], ',"stats":{'], _members(lines), ["}}"])
        with contextlib.suppress(OSError):
            atomic_write_bytes(self._run_path, _dump(chunks, compress=False), mode=0o600)


def now_ns() -> int:
    """The clock stats are compared against (see :data:`RACY_NS`)."""
    return time.time_ns()


@dataclass(frozen=True, kw_only=True, slots=True)
class Missing:
    """Names looked for in one directory and not found, as the cache keeps them."""

    text: str
    """The names, sorted, separated by NUL (which no file name holds)."""
    digest: str
    """sha256 of ``text``: what the run's key holds for the directory."""

    @classmethod
    def of(cls, names: Iterable[str]) -> Missing:
        """The record of ``names``."""
        text = "\0".join(sorted(set(names)))
        return cls(text=text, digest=digest(text.encode("utf-8", "surrogateescape")))

    def names(self) -> list[str]:
        """The names."""
        return self.text.split("\0") if self.text else []


class _Ignored(Mapping[str, Ignores]):
    """Inline ignores of a recorded run: those written, and none for every other file it
    recorded (only files with ignore comments are written)."""

    def __init__(self, written: dict[str, Ignores], files: Mapping[str, object]) -> None:
        self._written = written
        self._files = files

    def __getitem__(self, path: str) -> Ignores:
        found = self._written.get(path)
        if found is not None:
            return found
        if path in self._files:
            return _NO_IGNORES
        raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._files), **self._written})

    def __len__(self) -> int:
        return sum(1 for _ in self)


def tree_digest(
    shape: str, digests: Mapping[str, str], absent: Mapping[str, Missing] | None = None
) -> str:
    """One hash of every input file's path and content, and of the names looked for and
    missing (by directory)."""
    h = hashlib.sha256(shape.encode())
    # a file name that is not UTF-8 holds lone surrogates: hashed as the bytes it was
    h.update(
        "".join(f"\0{path}\0{digests[path]}" for path in sorted(digests)).encode(
            "utf-8", "surrogateescape"
        )
    )
    for directory, missing in sorted((absent or {}).items()):
        h.update(f"\0\0{directory}\0{missing.digest}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def walk_digest(walked: Iterable[tuple[str, str]]) -> str:
    """A hash of the files discovery kept, in its order (claimed or not)."""
    return digest("\0".join(rel for rel, _ in walked).encode("utf-8", "surrogateescape"))


def shape_digest(paths: Iterable[str]) -> str:
    """A hash of which files exist: scanners consult siblings, so a new file changes results."""
    return digest("\0".join(sorted(paths)).encode("utf-8", "surrogateescape"))


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
