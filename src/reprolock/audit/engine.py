"""Run the audit: discover, scan each file, cross-check, then filter and sort findings."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import gc
import os
import stat as stat_module
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprolock import __version__, files
from reprolock.audit.aside import Failed, aside
from reprolock.audit.baseline import BaselineEntry
from reprolock.audit.cache import (
    AuditCache,
    CachedFile,
    Missing,
    RunRecord,
    digest,
    finding_from_tuple,
    finding_to_tuple,
    now_ns,
    shape_digest,
    stat_key,
    tree_digest,
    unsafe_reason,
    walk_digest,
)
from reprolock.audit.discover import Discovered, Walked, claim, walk, walk_aside
from reprolock.audit.suppress import ignore_comments, suppressed_by
from reprolock.config import Config
from reprolock.files import is_inside, read_bytes
from reprolock.model import Finding, Report

if TYPE_CHECKING:
    from reprolock.audit.checks import Check
    from reprolock.audit.interface import FileFacts, ScanContext, Scanner

# The scanners, the checks, the worker pool and the parsers (reprolock.audit.scanning) are
# imported when a run scans something: a run answered from the cache needs none of them, and
# importing them was most of its time.
# ruff: noqa: PLC0415

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditOptions:
    """Choices made on the command line rather than in config."""

    select: frozenset[str] | None = None
    """Only these rule ids (None: all)."""
    ignore: frozenset[str] = frozenset()
    """Never these rule ids."""
    baseline: dict[str, BaselineEntry] = field(default_factory=dict)
    """Accepted findings by fingerprint."""
    today: dt.date | None = None
    """The date baseline expiry is judged against (None: today)."""
    cache_dir: Path | None = None
    """Where to keep the audit cache (see :mod:`reprolock.audit.cache`); None: no cache. A
    directory others can write is not used (one warning says so)."""
    jobs: int | None = None
    """Processes that scan files: None decides from the CPU count and the work to do."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditResult:
    """The report, plus what the CLI needs beyond it."""

    report: Report
    """Findings to report, sorted."""
    unbaselined: tuple[Finding, ...]
    """Every finding that passed filters and inline ignores, baseline not applied."""
    facts: dict[str, FileFacts]
    """Facts of every scanned file, by path."""


def confined(root: Path, rel: str) -> bool:
    """True when root-relative ``rel`` stays inside ``root`` once symlinks are resolved."""
    try:
        return is_inside(root, rel)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return False


def read_file(path: Path) -> bytes | OSError:
    """The file's bytes: a regular file (a FIFO cannot hang the audit, ``/dev/zero`` cannot
    fill memory), its size checked before reading; else the error."""
    try:
        return read_bytes(path, limit=files.MAX_FILE_BYTES)
    except OSError as exc:
        return exc


def run_audit(
    root: Path,
    config: Config,
    options: AuditOptions | None = None,
    *,
    scanners: Sequence[Scanner] | None = None,
    checks: Sequence[Check] | None = None,
    progress: Progress | None = None,
    warn: Progress | None = None,
) -> AuditResult:
    """Audit the tree at ``root``.

    With ``options.cache_dir``, an unchanged tree is answered from the cache without
    scanning; ``AuditResult.facts`` is then empty (only the findings are cached whole).
    ``warn`` gets one line when the cache cannot be used (default: printed on stderr).
    """
    with _no_collections():
        return _audit(
            root, config, options or AuditOptions(), scanners, checks, progress=progress, warn=warn
        )


def _audit(
    root: Path,
    config: Config,
    options: AuditOptions,
    scanners: Sequence[Scanner] | None,
    checks: Sequence[Check] | None,
    *,
    progress: Progress | None,
    warn: Progress | None,
) -> AuditResult:
    root = root.resolve()
    custom_scanners = scanners
    notes: list[Finding] = []
    # before any file or directory is looked at: what changes after this is not trusted
    started = now_ns()
    cache = _open_cache(options.cache_dir, root, config, warn) if options.cache_dir else None
    listings = cache.listings() if cache is not None else None
    # the recorded files whose record no longer holds, when another process looked at them
    changed_since: set[str] | None = None
    if custom_scanners is None and (cache is None or not cache.has_record):
        # No record can answer this run: it will scan, so the scanners and checks load while
        # another process walks.
        walked = walk_aside(root, config, notes, listings, partial(_load_scanning, checks))
    elif cache is not None and cache.recorded_files >= _STAT_ASIDE_MIN_FILES:
        # The files the last run recorded are looked at (one stat each) while this process
        # walks the directories; a run answered from its record spends most of its time there.
        changed, walked = aside(
            partial(cache.changed, str(root)), partial(walk, root, config, notes, listings)
        )
        changed_since = None if isinstance(changed, Failed) else changed
    else:
        walked = walk(root, config, notes, listings)
    # The last run's claims serve while the same files are there (the built-in scanners only:
    # the cache's key does not cover others).
    walked_key = walk_digest(walked) if custom_scanners is None else ""
    claims = cache.claims(walked_key) if cache is not None else None
    if claims is not None and not claims.keys() <= {rel for rel, _ in walked}:
        claims = None  # a record names only files the walk kept: never another path
    if claims is None:
        scanners = list(custom_scanners) if custom_scanners is not None else _all_scanners()
        found = claim(walked, scanners)
        claims = {d.path: d.scanner.name for d in found}
    else:
        scanners = []
        found = []
    if progress:
        progress(f"scanning {len(claims)} files")
    run = _Run(root, config, frozenset(claims), cache)
    if listings is not None:
        run.listings = listings.made
        # a directory listed anew is recorded, so that the next run is spared listing it
        run.refreshed = listings.listed > 0

    record = None
    if cache is not None:
        run.digest_discovered(claims, changed=changed_since)
        for extra in cache.extra:
            if extra not in run.digests:
                run.digest_of(extra)
        run.recall_missing(cache)
        record = cache.record(tree_digest(run.shape, run.digests, run.missing()))
    if record is not None:
        raw = [finding_from_tuple(t) for t in record.findings]
        files_scanned = record.files_scanned
        ignores = record.ignores
        if cache is not None and run.refreshed:
            run.save(cache, started, record, files=False, claims=(claims, walked_key))
    else:
        if not scanners:
            scanners = _all_scanners()
            found = _claimed(walked, claims, scanners)
        from reprolock.audit.scanning import scan_all

        raw = scan_all(
            run, found, scanners, checks, jobs=options.jobs, parallel=custom_scanners is None
        )
        files_scanned = len(run.facts)
        ignores = run.ignores
        if cache is not None:
            run.forget_unused()
            run.save(
                cache, started, run.record(raw, ignores), files=True, claims=(claims, walked_key)
            )

    # Notes about .gitignore files come from discovery, which runs every time: never cached.
    raw = [*raw, *notes]
    kept, inline_ignored = _filter(raw, config, options, root, ignores=ignores)
    today = options.today or dt.date.today()
    reported = []
    baselined = 0
    for f in kept:
        entry = options.baseline.get(f.fingerprint)
        if entry is None:
            reported.append(f)
        elif not entry.active(today):
            expired = f"{f.message} (baseline entry expired {entry.expires})"
            reported.append(replace(f, message=expired))
        else:
            baselined += 1
    reported.sort(key=lambda f: f.sort_key)
    report = Report(
        root=str(root),
        files_scanned=files_scanned,
        findings=tuple(reported),
        suppressed=inline_ignored + baselined,
        version=__version__,
    )
    return AuditResult(
        report=report, unbaselined=tuple(sorted(kept, key=lambda f: f.sort_key)), facts=run.facts
    )


@contextlib.contextmanager
def _no_collections() -> Iterator[None]:
    """Keep the cyclic garbage collector from running while an audit runs.

    A scan makes hundreds of thousands of small objects that all live to the end of the run
    (facts, lock entries, findings, and the facts the workers send back, unpickled), and each
    collection of the youngest generation walks every object made since the last one: however
    rarely it runs, it walks them all once, a sixth of the audit's CPU time on the bench trees
    even at one collection per 100,000 allocations. The audit makes no cyclic garbage to collect
    (measured: an audit of either bench tree, of every field repository, of the fixtures or of
    a tree of unparsable files leaves the same 99 unreachable objects, made by imports), so
    none runs; what was made before (modules, config) is frozen out of sight too. On the way
    out what the audit made is moved to the oldest generation without being walked, or the
    next collection, in the caller, would walk it all; then the thresholds are put back. The
    memory bound (bench/run.py, peak RSS) is unchanged, and worker processes inherit the same
    state.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(0, *before[1:])
    try:
        yield
    finally:
        gc.freeze()  # everything made since: out of the young generation, without a walk
        gc.unfreeze()
        gc.set_threshold(*before)


def _load_scanning(checks: Sequence[Check] | None) -> None:
    """Import what scanning needs: the scanners, the scanning half of the audit, the checks
    (unless the caller brought its own)."""
    import reprolock.audit.registry
    import reprolock.audit.scanning

    if checks is None:
        import reprolock.audit.checks  # noqa: F401


def _all_scanners() -> list[Scanner]:
    from reprolock.audit.registry import all_scanners

    return all_scanners()


def _claimed(
    walked: Sequence[Walked], claims: Mapping[str, str], scanners: Sequence[Scanner]
) -> list[Discovered]:
    """The files the cache's claims name, each with its scanner."""
    by_name = {s.name: s for s in scanners}
    if not all(name in by_name for name in claims.values()):
        return claim(walked, scanners)
    return [
        Discovered(path=rel, location=location, scanner=by_name[claims[rel]])
        for rel, location in walked
        if rel in claims
    ]


def _open_cache(
    directory: Path, root: Path, config: Config, warn: Progress | None
) -> AuditCache | None:
    problem = unsafe_reason(directory)
    if problem is None:
        return AuditCache(directory, root, config)
    message = f"not using the audit cache: {problem}"
    if warn is not None:
        warn(message)
    else:
        print(f"repro: warning: {message}", file=sys.stderr)
    return None


_STAT_ASIDE_MIN_FILES = 2000
"""A warm run of a tree with fewer recorded files looks at them itself: forking costs more."""

_MISSING = ""
"""Digest of a file that does not exist (or a path that cannot name one)."""
_OUTSIDE = "outside"
"""Digest of a path that leads outside the root: never opened."""


class _Run:
    """The files of one audit: their digests, facts, and the cache entries to save."""

    def __init__(
        self, root: Path, config: Config, discovered: frozenset[str], cache: AuditCache | None
    ) -> None:
        self.root = root
        self._root_text = str(root)
        self.config = config
        self.files = discovered
        """Root-relative paths of the files discovery kept and a scanner claims."""
        self._ctx: ScanContext | None = None
        self.cache = cache
        self.shape = shape_digest(discovered) if cache is not None else ""
        self.digests: dict[str, str] = {}
        self.stats: dict[str, tuple[int, int, int, int, str] | str] = {}
        """What the cache records of each file: (size, mtime, inode, ctime, digest), or the
        record itself where it still holds."""
        self.absent: dict[str, set[str]] = {}
        """Names looked for and not found (outside discovery), by directory."""
        self._recalled: dict[str, Missing] = {}
        """Directories whose missing names come from the cache, unchanged, not looked at."""
        self._dirs: dict[str, tuple[int, int, int] | None] = {}
        self.refreshed = False
        """Whether some digest or absence was found without the cache's help: a run answered
        from the cache then writes its record again, so the next one is spared the work."""
        self.facts: dict[str, FileFacts] = {}
        self.entries: dict[str, CachedFile] = {}
        self.listings: dict[str, list[Any]] = {}
        """The walk's directory listings, saved for the next run (see ``discover.Listings``)."""
        self.prescanned: dict[str, tuple[FileFacts, dict[int, tuple[str, ...]]]] = {}
        """Results of worker processes, waiting for :meth:`scan` to take them."""
        self.ignores: dict[str, dict[int, tuple[str, ...]]] = {}
        """Inline ignore comments of every file scanned or taken from the cache."""

    @property
    def ctx(self) -> ScanContext:
        """What every scanner and check is given (made on first use: a run answered from the
        cache never imports the scanners' interface)."""
        if self._ctx is None:
            from reprolock.audit.interface import ScanContext

            self._ctx = ScanContext(root=self.root, config=self.config, files=self.files)
        return self._ctx

    def digest_of(self, rel: str, data: bytes | None = None) -> str:
        """The content digest of a root-relative file, memoised: ``""`` when it does not
        exist, ``outside`` when it leads out of the root (never opened), ``error:N`` when it
        cannot be read. The cache's recorded digest is trusted while the file's stat (size,
        mtime, inode, ctime) is unchanged; a name missing last time is still missing while
        its directory is unchanged."""
        known = self.digests.get(rel)
        if known is not None:
            return known
        discovered = rel in self.files
        if not discovered and self._was_missing(rel):
            return _MISSING
        if not discovered:
            # the directory's stat is taken before any name in it is looked for (see save)
            self._dir_key(rel.rpartition("/")[0])
        path = f"{self._root_text}/{rel}"
        try:
            st = os.stat(path)
        except (OSError, ValueError) as exc:
            code = getattr(exc, "errno", None)
            missing = code in (errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, None)
            if missing and not discovered:
                directory, _, name = rel.rpartition("/")
                self._note_missing(directory, [name])
                self.refreshed = True
                return _MISSING
            known = _MISSING if missing else f"error:{code}"
            self.digests[rel] = known
            return known
        # discovery keeps inside the root; a path from a file is checked once it exists
        if not discovered and not confined(self.root, rel):
            self.digests[rel] = _OUTSIDE
            return _OUTSIDE
        stat = stat_key(st)
        known = self.cache.known_digest(rel, stat) if self.cache is not None else None
        if known is None:
            self.refreshed = True
            if data is None:
                read = read_file(Path(path))
                if isinstance(read, OSError):
                    known = f"error:{read.errno}"
                else:
                    data = read
            if data is not None:
                known = digest(data)
        assert known is not None  # noqa: S101 - one branch above set it
        self.digests[rel] = known
        self.stats[rel] = (*stat, known)
        return known

    def digest_discovered(self, paths: Iterable[str], *, changed: set[str] | None = None) -> None:
        """:meth:`digest_of` each discovered path, with the common case of a warm run inline:
        one ``stat``, and the cache's digest for it (tens of thousands of files: a method
        call and its branches per file showed in the time). With ``changed`` (the cache's
        :meth:`~reprolock.audit.cache.AuditCache.changed`, found beforehand), a recorded path
        it does not name needs no look at all."""
        cache = self.cache
        base = self._root_text + "/"
        digests, stats = self.digests, self.stats
        for rel in paths:
            if changed is not None and cache is not None and rel not in changed:
                line = cache.recorded(rel)
                if line is not None and rel not in digests:
                    digests[rel] = line.split(" ", 4)[4]
                    stats[rel] = line
                    continue
            held = None
            if cache is not None and rel not in digests:
                try:
                    stat = stat_key(os.stat(base + rel))
                except (OSError, ValueError):
                    pass
                else:
                    held = cache.known_digest(rel, stat)
            if held is None:
                self.digest_of(rel)
                continue
            digests[rel] = held
            stats[rel] = (*stat, held)

    def _note_missing(self, directory: str, names: Iterable[str]) -> None:
        """Names in ``directory`` looked for and not found: keyed by directory in the cache."""
        self.absent.setdefault(directory, set()).update(names)

    def _was_missing(self, rel: str) -> bool:
        directory, _, name = rel.rpartition("/")
        found = self.absent.get(directory)
        if found is not None and name in found:
            return True
        recalled = self._recalled.pop(directory, None)
        if recalled is None:
            return False
        # a name in a recalled directory is asked about: the directory's names become a set
        self._note_missing(directory, recalled.names())
        return name in self.absent[directory]

    def recall_missing(self, cache: AuditCache) -> None:
        """The names the last run found missing: all of a directory's at once while the
        directory is unchanged (kept as the cache has them), else one by one."""
        for directory, missing in cache.absent():
            if cache.still_absent(directory, self._dir_key(directory)):
                self._recalled[directory] = missing
            else:
                for name in missing.names():
                    self.digest_of(f"{directory}/{name}" if directory else name)

    def missing(self) -> dict[str, Missing]:
        """Every directory's names looked for and not found, as the cache keeps them."""
        out = dict(self._recalled)
        for directory, names in self.absent.items():
            out[directory] = Missing.of(names)
        return out

    def _dir_key(self, directory: str) -> tuple[int, int, int] | None:
        """(mtime, inode, ctime) of a root-relative directory, memoised; None if not one."""
        if directory in self._dirs:
            return self._dirs[directory]
        key = None
        with contextlib.suppress(OSError, ValueError):
            st = os.stat(os.path.join(self._root_text, directory))
            if stat_module.S_ISDIR(st.st_mode):
                key = (st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        self._dirs[directory] = key
        return key

    def cached(self, rel: str) -> bool:
        """True when the cache holds a valid scan of ``rel``."""
        return self.cache is not None and self.cache.holds(self.shape, rel, _Digests(self))

    def _cached_entry(self, rel: str) -> CachedFile | None:
        if self.cache is None:
            return None
        return self.cache.facts(self.shape, rel, _Digests(self))

    def scan(self, scanner: Scanner, rel: str, location: str) -> FileFacts:
        """Facts of one file (at absolute path ``location``, a string: no path object is made
        for a file the workers scanned): from the cache when its inputs are unchanged, else
        scanned."""
        prescanned = self.prescanned.pop(rel, None)
        entry = self._cached_entry(rel)
        if entry is None:
            if prescanned is not None:
                result, ignores = prescanned
            else:
                from reprolock.audit.scanning import scan_with_ignores

                result, ignores = scan_with_ignores(scanner, rel, Path(location), self.ctx)
            if self.cache is None:
                self.ignores[rel] = ignores
                self.facts[rel] = result
                return result
            consulted = dict.fromkeys([*(inc.target for inc in result.includes), *result.consulted])
            deps = tuple((path, self.digest_of(path)) for path in consulted)
            entry = CachedFile(digest=self.digest_of(rel), deps=deps, facts=result, ignores=ignores)
        self.entries[rel] = entry
        self.ignores[rel] = entry.ignores
        self.facts[rel] = entry.facts
        return entry.facts

    def forget_unused(self) -> None:
        """Keep only what this run's answer depends on: the discovered files, what their
        scans consulted. Paths checked only because the last
        run had consulted them (a file since renamed, an include since removed) are dropped,
        so the list does not grow from run to run."""
        needed: set[str] = set()
        for entry in self.entries.values():
            needed.update(dep for dep, _ in entry.deps)
        keep = needed | self.files
        self.digests = {p: d for p, d in self.digests.items() if p in keep}
        self.stats = {p: s for p, s in self.stats.items() if p in keep}
        for directory, recalled in self._recalled.items():
            self._note_missing(directory, recalled.names())
        self._recalled = {}
        absent: dict[str, set[str]] = {}
        for directory, names in self.absent.items():
            kept = {n for n in names if (f"{directory}/{n}" if directory else n) in needed}
            if kept:
                absent[directory] = kept
        self.absent = absent

    def save(
        self,
        cache: AuditCache,
        started: int,
        record: RunRecord,
        *,
        files: bool,
        claims: tuple[Mapping[str, str], str],
    ) -> None:
        """Write what this run learned to ``cache``: the run's record (with ``claims``, each
        discovered file's scanner and the walk's digest), and with ``files`` every file's
        scan."""
        if files:
            cache.save_files(shape=self.shape, files=self.entries)
        absent: dict[str, tuple[tuple[int, int, int], Missing]] = {}
        # a name whose directory is missing too is looked for by itself next time
        extra = [p for p in self.digests if p not in self.files]
        for directory, missing in self.missing().items():
            key = self._dirs.get(directory)
            if key is not None:
                absent[directory] = (key, missing)
            else:
                extra.extend(f"{directory}/{n}" if directory else n for n in missing.names())
        cache.save_run(
            started=started,
            stats=self.stats,
            absent=absent,
            extra=sorted(extra),
            record=record,
            claims=claims[0],
            walked=claims[1],
            dirs=self.listings,
        )

    def record(
        self, raw: list[Finding], ignores: dict[str, dict[int, tuple[str, ...]]]
    ) -> RunRecord:
        """The record of this run for the cache."""
        return RunRecord(
            tree=tree_digest(self.shape, self.digests, self.missing()),
            files_scanned=len(self.facts),
            findings=tuple(finding_to_tuple(f) for f in raw),
            ignores=ignores,
        )


class _Digests(Mapping[str, str]):
    """Digests of the current run, computed on demand for dependency checks."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def __getitem__(self, key: str) -> str:
        return self._run.digest_of(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._run.digests)

    def __len__(self) -> int:
        return len(self._run.digests)


def _filter(
    raw: list[Finding],
    config: Config,
    options: AuditOptions,
    root: Path,
    *,
    ignores: Mapping[str, dict[int, tuple[str, ...]]],
) -> tuple[list[Finding], int]:
    """Findings left after rule selection, severity overrides and inline ignores, and how many
    inline ignores hid (rules deselected or turned off are not "suppressed": never raised).

    ``ignores`` holds the ignore comments of the files this run scanned (or the cache
    recorded); a finding in any other file has its file read here."""
    kept: list[Finding] = []
    ignored = 0
    others: dict[str, dict[int, tuple[str, ...]]] = {}
    for f in raw:
        if options.select is not None and f.rule not in options.select:
            continue
        if f.rule in options.ignore:
            continue
        severity = config.severity_of(f.rule, f.severity)
        if severity is None:
            continue
        if severity is not f.severity:
            f = f.with_severity(severity)  # noqa: PLW2901
        path = f.location.path
        comments = ignores.get(path)
        if comments is None:
            comments = others.get(path)
            if comments is None:
                comments = others[path] = ignore_comments(_read_text(root / path))
        if comments and suppressed_by(f.rule, f.location.line, comments):
            ignored += 1
            continue
        kept.append(f)
    return kept, ignored


def _read_text(path: Path) -> str:
    data = read_file(path)
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else ""
