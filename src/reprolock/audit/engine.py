"""Run the audit: discover, scan each file, cross-check, then filter and sort findings."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import stat as stat_module
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pathspec

from reprolock import __version__, files
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
from reprolock.audit.discover import Discovered, Walked, claim, walk
from reprolock.audit.interface import (
    FileFacts,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
    parent_dir,
)
from reprolock.audit.suppress import ignore_comments, ignore_comments_in, suppressed_by
from reprolock.config import DEFAULT_EXCLUDES, Config
from reprolock.files import DecodeProblem, FileTooLargeError, decode_text, is_inside, read_bytes
from reprolock.model import Finding, Location, Report, Severity
from reprolock.rules import finding
from reprolock.specs import oversized_number

if TYPE_CHECKING:
    from reprolock.audit.checks import Check

# The scanners, the checks and the worker pool are imported when a run scans something: a run
# answered from the cache needs none of them, and importing them is most of its time.
# ruff: noqa: PLC0415

Progress = Callable[[str], None]

_FIXABLE_FROM_LOCK = frozenset({"RP101", "RP102"})


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


def scan_file(
    scanner: Scanner, rel: str, abspath: Path, ctx: ScanContext, data: bytes | OSError | None = None
) -> FileFacts:
    """Decode and scan one file (read here unless ``data`` is given); unreadable or
    unparsable files become RP001."""
    if data is None:
        data = _read(abspath)
    if isinstance(data, FileTooLargeError):
        message = f"skipped: {data.strerror}"
        return _broken(rel, scanner, message, 1, rule="RP002", severity=Severity.NOTE)
    if isinstance(data, OSError):
        return _broken(rel, scanner, f"cannot read: {data.strerror or data}", 1)
    decoded = decode_text(data)
    if isinstance(decoded, DecodeProblem):
        if scanner.tentative(rel):
            return FileFacts(path=rel, kind=scanner.name, role=Role.OTHER)
        severity = Severity.NOTE if decoded.skipped else None
        return _broken(rel, scanner, decoded.message, decoded.line, severity=severity)
    source = SourceFile(path=rel, abspath=abspath, text=decoded)
    try:
        return _readable_versions(scanner.scan(source, ctx))
    except ScanError as exc:
        return _broken(rel, scanner, exc.message, exc.line, column=exc.column)
    except RecursionError:
        return _broken(rel, scanner, "nesting too deep to parse", 1)


def _readable_versions(facts: FileFacts) -> FileFacts:
    """``facts`` without versions no comparison can read (a number of thousands of digits:
    Python refuses to convert it, and pip fails on it too), each an RP001 at its line. Every
    cross-file check compares versions; this is the one gate they all pass through."""
    problems: list[Finding] = []

    def readable(text: str, line: int) -> bool:
        why = oversized_number(text)
        if why is None:
            return True
        at = Location(path=facts.path, line=max(line, 1), column=1)
        problems.append(finding("RP001", f"{facts.kind}: {why}", at))
        return False

    pins = tuple(p for p in facts.pins if readable(p.version, p.line))
    declared = tuple(
        d for d in facts.declared if readable(f"{d.spec.raw} {d.spec.specifier}", d.line)
    )
    pythons = tuple(p for p in facts.pythons if readable(p.value, p.line))
    images = tuple(i for i in facts.images if readable(i.ref, i.line))
    if not problems:
        return facts
    unique = tuple(dict.fromkeys(problems))
    return replace(
        facts,
        pins=pins,
        declared=declared,
        pythons=pythons,
        images=images,
        findings=(*facts.findings, *unique),
    )


def _confined(root: Path, rel: str) -> bool:
    """True when root-relative ``rel`` stays inside ``root`` once symlinks are resolved."""
    try:
        return is_inside(root, rel)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return False


def _read(path: Path) -> bytes | OSError:
    """The file's bytes: a regular file (a FIFO cannot hang the audit, ``/dev/zero`` cannot
    fill memory), its size checked before reading; else the error."""
    try:
        return read_bytes(path, limit=files.MAX_FILE_BYTES)
    except OSError as exc:
        return exc


def _broken(
    rel: str,
    scanner: Scanner,
    message: str,
    line: int,
    *,
    column: int = 1,
    severity: Severity | None = None,
    rule: str = "RP001",
) -> FileFacts:
    loc = Location(path=rel, line=max(line, 1), column=max(column, 1))
    found = finding(rule, f"{scanner.name}: {message}", loc, severity=severity)
    return FileFacts(path=rel, kind=scanner.name, role=Role.OTHER, findings=(found,))


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
    options = options or AuditOptions()
    root = root.resolve()
    custom_scanners = scanners
    notes: list[Finding] = []
    walked = walk(root, config, notes)
    cache = _open_cache(options.cache_dir, root, config, warn) if options.cache_dir else None
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
    ctx = ScanContext(root=root, config=config, files=frozenset(claims))
    started = now_ns()
    run = _Run(root, ctx, cache)

    record = None
    if cache is not None:
        for path in claims:
            run.digest_of(path)
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
        if custom_scanners is None:
            run.prescan([d for d in found if not run.cached(d.path)], options.jobs)
        for item in found:
            run.scan(item.scanner, item.path, item.abspath)
        reached = _scan_reached(root, run, scanners, config)
        raw = [f for ff in (*run.facts.values(), *reached.reported) for f in ff.findings]
        seen = {**reached.consulted, **{ff.path: ff for ff in reached.reported}, **run.facts}
        for scanner in scanners:
            raw.extend(scanner.cross_check(seen, ctx))
        if checks is None:
            from reprolock.audit.checks import all_checks

            checks = all_checks()
        for check in checks:
            raw.extend(_reported_by(check, check.run(seen, ctx)))
        locks = _LockIndex(run.facts)
        raw = [_with_lock_fix(f, locks) for f in raw]
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


_MISSING = ""
"""Digest of a file that does not exist (or a path that cannot name one)."""
_OUTSIDE = "outside"
"""Digest of a path that leads outside the root: never opened."""


class _Run:
    """The files of one audit: their digests, facts, and the cache entries to save."""

    def __init__(self, root: Path, ctx: ScanContext, cache: AuditCache | None) -> None:
        self.root = root
        self._root_text = str(root)
        self.ctx = ctx
        self.cache = cache
        self.shape = shape_digest(ctx.files) if cache is not None else ""
        self.digests: dict[str, str] = {}
        self.stats: dict[str, tuple[int, int, int, int, str]] = {}
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
        self._prescanned: dict[str, tuple[FileFacts, dict[int, tuple[str, ...]]]] = {}
        self.ignores: dict[str, dict[int, tuple[str, ...]]] = {}
        """Inline ignore comments of every file scanned or taken from the cache."""

    def digest_of(self, rel: str, data: bytes | None = None) -> str:
        """The content digest of a root-relative file, memoised: ``""`` when it does not
        exist, ``outside`` when it leads out of the root (never opened), ``error:N`` when it
        cannot be read. The cache's recorded digest is trusted while the file's stat (size,
        mtime, inode, ctime) is unchanged; a name missing last time is still missing while
        its directory is unchanged."""
        known = self.digests.get(rel)
        if known is not None:
            return known
        discovered = rel in self.ctx.files
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
        if not discovered and not _confined(self.root, rel):
            self.digests[rel] = _OUTSIDE
            return _OUTSIDE
        stat = stat_key(st)
        known = self.cache.known_digest(rel, stat) if self.cache is not None else None
        if known is None:
            self.refreshed = True
            if data is None:
                read = _read(Path(path))
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

    def prescan(self, todo: list[Discovered], jobs: int | None) -> None:
        """Scan ``todo`` in worker processes when that pays (a large tree, several CPUs)."""
        workers = jobs if jobs is not None else min(os.cpu_count() or 1, 4)
        if workers < 2 or (jobs is None and len(todo) < _PARALLEL_MIN_FILES):
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if "fork" not in multiprocessing.get_all_start_methods():
            return  # workers must inherit the scanners' modules cheaply; spawn would not pay
        batches: list[list[tuple[str, str, str]]] = [[] for _ in range(workers * 4)]
        for index, item in enumerate(todo):
            batches[index % len(batches)].append((item.scanner.name, item.path, item.location))
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(self.ctx,)
        ) as pool:
            for results in pool.map(_scan_batch, [b for b in batches if b]):
                for rel, facts, ignores in results:
                    self._prescanned[rel] = (facts, ignores)

    def scan(self, scanner: Scanner, rel: str, abspath: Path) -> FileFacts:
        """Facts of one file: from the cache when its inputs are unchanged, else scanned."""
        prescanned = self._prescanned.pop(rel, None)
        entry = self._cached_entry(rel)
        if entry is None:
            if prescanned is not None:
                result, ignores = prescanned
            else:
                result, ignores = _scan_with_ignores(scanner, rel, abspath, self.ctx)
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
        keep = needed | self.ctx.files
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
        extra = [p for p in self.digests if p not in self.ctx.files]
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


_PARALLEL_MIN_FILES = 1500
"""Below this many files to scan, starting worker processes costs more than it saves."""

_worker_ctx: ScanContext | None = None
_worker_scanners: dict[str, Scanner] = {}


def _init_worker(ctx: ScanContext) -> None:
    global _worker_ctx, _worker_scanners  # noqa: PLW0603 - per-process state of a pool worker
    _worker_ctx = ctx
    _worker_scanners = {s.name: s for s in _all_scanners()}


def _scan_with_ignores(
    scanner: Scanner, rel: str, abspath: Path, ctx: ScanContext
) -> tuple[FileFacts, dict[int, tuple[str, ...]]]:
    data = _read(abspath)
    result = scan_file(scanner, rel, abspath, ctx, data)
    return result, ignore_comments_in(data) if isinstance(data, bytes) else {}


def _scan_batch(
    batch: list[tuple[str, str, str]],
) -> list[tuple[str, FileFacts, dict[int, tuple[str, ...]]]]:
    """Worker side of :meth:`_Run.prescan`."""
    if _worker_ctx is None:  # pragma: no cover - the pool always runs the initializer
        msg = "scan worker used without its initializer"
        raise RuntimeError(msg)
    out = []
    for name, rel, location in batch:
        facts, ignores = _scan_with_ignores(
            _worker_scanners[name], rel, Path(location), _worker_ctx
        )
        out.append((rel, facts, ignores))
    return out


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


def _reported_by(check: Check, findings: Iterable[Finding]) -> list[Finding]:
    """``findings``, each of a rule ``check`` declares: a check reports nothing else."""
    out = list(findings)
    for f in out:
        if f.rule not in check.rules:
            msg = f"check {check.name!r} reported {f.rule}, not one of its rules {check.rules}"
            raise AssertionError(msg)
    return out


@dataclass(kw_only=True, slots=True)
class _Reached:
    """Files the audit reads because others point at them, beyond the ``-r`` targets."""

    reported: list[FileFacts] = field(default_factory=list)
    """Audited but not counted as scanned: the lock pip-compile writes from a ``.in``."""
    consulted: dict[str, FileFacts] = field(default_factory=dict)
    """Read for the cross-file checks only: the sources a requirements lock was compiled from
    that no rule claims, and what they include."""


def _scan_reached(root: Path, run: _Run, scanners: Sequence[Scanner], config: Config) -> _Reached:
    """Scan the files reached from others that discovery did not claim: ``-r``/``-c`` targets
    (audited), the ``.txt`` compiled from a ``.in`` (audited, not counted), a requirements
    lock's sources (read for lock sync), so that no cross-file check reads a file itself."""
    reached = _Reached()
    requirements = next((s for s in scanners if s.name == "requirements"), None)
    if requirements is None:
        return reached
    _scan_closure(
        root, run, requirements, [i.target for ff in run.facts.values() for i in ff.includes]
    )
    excludes = pathspec.GitIgnoreSpec.from_lines([*DEFAULT_EXCLUDES, *config.exclude])
    for ff in list(run.facts.values()):
        if ff.kind != "requirements" or ff.manifest is None or not ff.manifest.compiled:
            continue
        lock = ff.path[:-3] + ".txt"
        if lock not in run.facts and not excludes.match_file(lock) and _confined(root, lock):
            reached.reported.append(_aside(run, requirements, lock))
    locks = [*run.facts.values(), *reached.reported]
    sources = [s for ff in locks if ff.role is Role.LOCK for s in ff.compiled_from]
    pending = [s for s in sources if s.endswith((".in", ".txt"))]
    known = {ff.path for ff in reached.reported}
    while pending:
        target = pending.pop()
        if target in run.facts or target in known or target in reached.consulted:
            continue
        if not _confined(root, target) or not (root / target).is_file():
            continue
        scanned = reached.consulted[target] = _aside(run, requirements, target)
        pending.extend(i.target for i in scanned.includes)
    return reached


def _scan_closure(root: Path, run: _Run, scanner: Scanner, pending: list[str]) -> None:
    """Audit ``pending`` and what they include, as files of the audit."""
    while pending:
        target = pending.pop()
        if target in run.facts:
            continue
        if not _confined(root, target):
            continue  # never opened: a symlink out of the root, or a path that climbs out
        abspath = root / target
        if not abspath.is_file():
            continue  # the including file reports the missing target
        scanned = run.scan(scanner, target, abspath)
        pending.extend(inc.target for inc in scanned.includes)


def _aside(run: _Run, scanner: Scanner, rel: str) -> FileFacts:
    """Scan ``rel`` (cached like any file) without counting it among the files scanned."""
    facts = run.scan(scanner, rel, run.root / rel)
    del run.facts[rel]
    return facts


class _LockIndex:
    """Exact versions the locks resolve, by directory and by the manifests they compile."""

    def __init__(self, facts: dict[str, FileFacts]) -> None:
        self.by_dir: dict[str, list[tuple[str, dict[str, str]]]] = {}
        self.by_source: dict[str, list[tuple[str, dict[str, str]]]] = {}
        for ff in facts.values():
            if ff.role is not Role.LOCK or not ff.pins:
                continue
            pins: dict[str, str] = {}
            for pin in ff.pins:
                pins.setdefault(pin.name, pin.version)
            entry = (ff.path, pins)
            self.by_dir.setdefault(parent_dir(ff.path), []).append(entry)
            for source in ff.compiled_from:
                self.by_source.setdefault(source, []).append(entry)

    def version(self, path: str, name: str) -> str | None:
        """The version a lock beside ``path`` (or compiled from it) resolves for ``name``."""
        candidates: list[tuple[str, dict[str, str]]] = [
            *self.by_dir.get(parent_dir(path), []),
            *self.by_source.get(path, []),
        ]
        for lock_path, pins in candidates:
            if lock_path != path and name in pins:
                return pins[name]
        return None


def _with_lock_fix(f: Finding, locks: _LockIndex) -> Finding:
    """Suggest the version a lock beside the file already resolves, when the scanner had none."""
    if f.fix or f.rule not in _FIXABLE_FROM_LOCK or not f.subject:
        return f
    version = locks.version(f.location.path, f.subject)
    return f.with_fix(f"{f.subject}=={version}") if version else f


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
    data = _read(path)
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else ""
