"""Run the audit: discover, scan each file, cross-check, then filter and sort findings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from reprolock import __version__
from reprolock.audit.baseline import BaselineEntry
from reprolock.audit.cache import AuditCache, CachedFile, digest, shape_digest, tree_digest
from reprolock.audit.discover import discover
from reprolock.audit.interface import (
    FileFacts,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
)
from reprolock.audit.registry import all_scanners
from reprolock.audit.suppress import is_suppressed
from reprolock.config import Config
from reprolock.files import DecodeProblem, decode_text
from reprolock.model import Finding, Location, Report, Severity
from reprolock.rules import finding

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
    """Where to keep the audit cache (see :mod:`reprolock.audit.cache`); None: no cache."""


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
        return scanner.scan(source, ctx)
    except ScanError as exc:
        return _broken(rel, scanner, exc.message, exc.line, column=exc.column)
    except RecursionError:
        return _broken(rel, scanner, "nesting too deep to parse", 1)


def _read(path: Path) -> bytes | OSError:
    try:
        return path.read_bytes()
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
) -> FileFacts:
    loc = Location(path=rel, line=max(line, 1), column=max(column, 1))
    found = finding("RP001", f"{scanner.name}: {message}", loc, severity=severity)
    return FileFacts(path=rel, kind=scanner.name, role=Role.OTHER, findings=(found,))


def run_audit(
    root: Path,
    config: Config,
    options: AuditOptions | None = None,
    *,
    scanners: Sequence[Scanner] | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Audit the tree at ``root``."""
    options = options or AuditOptions()
    root = root.resolve()
    scanners = list(scanners) if scanners is not None else all_scanners()
    found = discover(root, config, scanners)
    if progress:
        progress(f"scanning {len(found)} files")
    ctx = ScanContext(root=root, config=config, files=frozenset(d.path for d in found))
    run = _Run(
        root, ctx, AuditCache(options.cache_dir, root, config) if options.cache_dir else None
    )
    for item in found:
        run.scan(item.scanner, item.path, item.abspath)
    _scan_includes(root, run, scanners)
    facts = run.facts

    tree = tree_digest(run.shape, run.digests)
    cached = run.cache.findings(tree) if run.cache is not None else None
    if cached is not None:
        raw = list(cached)
    else:
        raw = [f for ff in facts.values() for f in ff.findings]
        for scanner in scanners:
            raw.extend(scanner.cross_check(facts, ctx))
        locks = _LockIndex(facts)
        raw = [_with_lock_fix(f, locks) for f in raw]
        if run.cache is not None:
            run.cache.save(shape=run.shape, files=run.entries, tree=tree, findings=raw)

    kept, inline_ignored = _filter(raw, config, options, root)
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
        files_scanned=len(facts),
        findings=tuple(reported),
        suppressed=inline_ignored + baselined,
        version=__version__,
    )
    return AuditResult(
        report=report, unbaselined=tuple(sorted(kept, key=lambda f: f.sort_key)), facts=facts
    )


class _Run:
    """The files of one audit: their digests, facts, and the cache entries to save."""

    def __init__(self, root: Path, ctx: ScanContext, cache: AuditCache | None) -> None:
        self.root = root
        self.ctx = ctx
        self.cache = cache
        self.shape = shape_digest(ctx.files)
        self.digests: dict[str, str] = {}
        self.facts: dict[str, FileFacts] = {}
        self.entries: dict[str, CachedFile] = {}

    def digest_of(self, rel: str) -> str:
        """The content digest of a root-relative file ("" when unreadable), memoised."""
        known = self.digests.get(rel)
        if known is None:
            data = _read(self.root / rel)
            known = digest(data) if isinstance(data, bytes) else ""
            self.digests[rel] = known
        return known

    def scan(self, scanner: Scanner, rel: str, abspath: Path) -> FileFacts:
        """Facts of one file: from the cache when its inputs are unchanged, else scanned."""
        data = _read(abspath)
        file_digest = digest(data) if isinstance(data, bytes) else ""
        self.digests[rel] = file_digest
        result = None
        if self.cache is not None and file_digest:
            result = self.cache.facts(self.shape, rel, file_digest, _Digests(self))
        if result is None:
            result = scan_file(scanner, rel, abspath, self.ctx, data)
        if file_digest:
            deps = tuple((inc.target, self.digest_of(inc.target)) for inc in result.includes)
            self.entries[rel] = CachedFile(digest=file_digest, deps=deps, facts=result)
        self.facts[rel] = result
        return result


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


def _scan_includes(root: Path, run: _Run, scanners: Sequence[Scanner]) -> None:
    """Audit files reached by ``-r``/``-c`` that discovery did not claim (``base.txt`` ...)."""
    by_name = {s.name: s for s in scanners}
    requirements = by_name.get("requirements")
    if requirements is None:
        return
    pending = [inc.target for ff in run.facts.values() for inc in ff.includes]
    while pending:
        target = pending.pop()
        if target in run.facts:
            continue
        abspath = root / target
        if not abspath.is_file():
            continue  # the including file reports the missing target
        scanned = run.scan(requirements, target, abspath)
        pending.extend(inc.target for inc in scanned.includes)


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
            self.by_dir.setdefault(str(PurePosixPath(ff.path).parent), []).append(entry)
            for source in ff.compiled_from:
                self.by_source.setdefault(source, []).append(entry)

    def version(self, path: str, name: str) -> str | None:
        """The version a lock beside ``path`` (or compiled from it) resolves for ``name``."""
        candidates: list[tuple[str, dict[str, str]]] = [
            *self.by_dir.get(str(PurePosixPath(path).parent), []),
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
    raw: list[Finding], config: Config, options: AuditOptions, root: Path
) -> tuple[list[Finding], int]:
    """Findings left after rule selection, severity overrides and inline ignores, and how many
    inline ignores hid (rules deselected or turned off are not "suppressed": never raised)."""
    kept: list[Finding] = []
    ignored = 0
    lines_cache: dict[str, list[str]] = {}
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
        lines = lines_cache.get(f.location.path)
        if lines is None:
            lines = _read_lines(root / f.location.path)
            lines_cache[f.location.path] = lines
        if is_suppressed(f.rule, f.location.line, lines):
            ignored += 1
            continue
        kept.append(f)
    return kept, ignored


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
