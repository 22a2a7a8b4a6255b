"""The scanning half of an audit: each file scanned (in worker processes when that pays), the
files others point at, the cross-file checks, lock-derived fixes.

:mod:`reprolock.audit.engine` imports this module only when a run scans something: a run
answered from the cache needs none of it, nor the scanners, checks and parsers it brings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

import pathspec

from reprolock.audit import transport
from reprolock.audit.engine import confined, read_file
from reprolock.audit.interface import (
    FileFacts,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
    parent_dir,
)
from reprolock.audit.suppress import ignore_comments_in
from reprolock.config import DEFAULT_EXCLUDES, Config
from reprolock.files import DecodeProblem, FileTooLargeError, decode_text
from reprolock.formats.spec import NEVER_OVERSIZED
from reprolock.model import Finding, Location, Severity
from reprolock.rules import finding
from reprolock.specs import oversized_number

if TYPE_CHECKING:
    from reprolock.audit.checks import Check
    from reprolock.audit.discover import Discovered
    from reprolock.audit.engine import _Run

# The worker pool's modules, the checks and the scanner registry load only when used.
# ruff: noqa: PLC0415


def scan_all(
    run: _Run,
    found: Sequence[Discovered],
    scanners: Sequence[Scanner],
    checks: Sequence[Check] | None,
    *,
    jobs: int | None,
    parallel: bool = True,
) -> list[Finding]:
    """Scan ``found`` (from the cache where ``run`` holds a valid entry), then what they
    reach, then cross-check: every raw finding of the run, before filters."""
    if parallel:
        todo = [d for d in found if not run.cached(d.path)]
        prescan(run, todo, jobs, while_waiting=_load_checks)
    for item in found:
        run.scan(item.scanner, item.path, item.location)
    ctx = run.ctx
    reached = _scan_reached(run.root, run, scanners, ctx.config)
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
    return [_with_lock_fix(f, locks) for f in raw]


def _load_checks() -> None:
    """Import the checks' modules (while this process would otherwise only wait for the
    workers' last batches: the checks run right after them)."""
    import reprolock.audit.checks  # noqa: F401


_FIXABLE_FROM_LOCK = frozenset({"RP101", "RP102"})


def scan_file(
    scanner: Scanner, rel: str, abspath: Path, ctx: ScanContext, data: bytes | OSError | None = None
) -> FileFacts:
    """Decode and scan one file (read here unless ``data`` is given); unreadable or
    unparsable files become RP001."""
    if data is None:
        data = read_file(abspath)
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


_VERSION = attrgetter("version")
_RAW = attrgetter("spec.raw")
_SPECIFIER = attrgetter("spec.specifier")
_VALUE = attrgetter("value")
_REF = attrgetter("ref")


def _all_short(facts: FileFacts) -> bool:
    """True when each text :func:`_readable_versions` reads is too short to hold a number
    :func:`oversized_number` refuses: lengths measured without a Python step per object."""
    declared = facts.declared
    longest_declared = (
        max(map(len, map(_RAW, declared))) + 1 + max(map(len, map(_SPECIFIER, declared)))
        if declared
        else 0
    )
    return (
        longest_declared <= NEVER_OVERSIZED
        and max(map(len, map(_VERSION, facts.pins)), default=0) <= NEVER_OVERSIZED
        and max(map(len, map(_VALUE, facts.pythons)), default=0) <= NEVER_OVERSIZED
        and max(map(len, map(_REF, facts.images)), default=0) <= NEVER_OVERSIZED
    )


def _readable_versions(facts: FileFacts) -> FileFacts:
    """``facts`` without versions no comparison can read (a number of thousands of digits:
    Python refuses to convert it, and pip fails on it too), each an RP001 at its line. Every
    cross-file check compares versions; this is the one gate they all pass through."""
    if not (facts.pins or facts.declared or facts.pythons or facts.images):
        return facts  # most files of a large tree: nothing versioned to read
    if _all_short(facts):
        return facts  # almost every other file: no text long enough to hold such a number
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


_BATCH_FILES = 50
"""About this many files go to a worker at a time. When this process finds no batch left to
take, it waits for the up to three a worker holds (the one it runs and two queued for it): at
100 files that wait was 2-3 times longer (measured on the bench trees), and twice as many
batches cost no CPU time that showed."""

_PARALLEL_MIN_FILES = 1500
"""Below this many files to scan, starting worker processes costs more than it saves."""

_worker_ctx: ScanContext | None = None
_worker_scanners: dict[str, Scanner] = {}


def _init_worker(ctx: ScanContext) -> None:
    global _worker_ctx, _worker_scanners  # noqa: PLW0603 - per-process state of a pool worker
    _worker_ctx = ctx
    from reprolock.audit.registry import all_scanners

    _worker_scanners = {s.name: s for s in all_scanners()}


def scan_with_ignores(
    scanner: Scanner, rel: str, abspath: Path, ctx: ScanContext
) -> tuple[FileFacts, dict[int, tuple[str, ...]]]:
    data = read_file(abspath)
    result = scan_file(scanner, rel, abspath, ctx, data)
    return result, ignore_comments_in(data) if isinstance(data, bytes) else {}


def _scan_batch(batch: list[tuple[str, str, str]]) -> bytes:
    """Worker side of :func:`prescan`: (path, facts, ignore comments) of each file, as
    :func:`reprolock.audit.transport.dumps` sends them."""
    if _worker_ctx is None:  # pragma: no cover - the pool always runs the initializer
        msg = "scan worker used without its initializer"
        raise RuntimeError(msg)
    out: list[tuple[str, FileFacts, dict[int, tuple[str, ...]]]] = []
    for name, rel, location in batch:
        facts, ignores = scan_with_ignores(_worker_scanners[name], rel, Path(location), _worker_ctx)
        out.append((rel, facts, ignores))
    return transport.dumps(out)


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
        if lock not in run.facts and not excludes.match_file(lock) and confined(root, lock):
            reached.reported.append(_aside(run, requirements, lock))
    locks = [*run.facts.values(), *reached.reported]
    sources = [s for ff in locks if ff.role is Role.LOCK for s in ff.compiled_from]
    pending = [s for s in sources if s.endswith((".in", ".txt"))]
    known = {ff.path for ff in reached.reported}
    while pending:
        target = pending.pop()
        if target in run.facts or target in known or target in reached.consulted:
            continue
        if not confined(root, target) or not (root / target).is_file():
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
        if not confined(root, target):
            continue  # never opened: a symlink out of the root, or a path that climbs out
        abspath = root / target
        if not abspath.is_file():
            continue  # the including file reports the missing target
        scanned = run.scan(scanner, target, str(abspath))
        pending.extend(inc.target for inc in scanned.includes)


def _aside(run: _Run, scanner: Scanner, rel: str) -> FileFacts:
    """Scan ``rel`` (cached like any file) without counting it among the files scanned."""
    facts = run.scan(scanner, rel, str(run.root / rel))
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


def prescan(
    run: _Run,
    todo: list[Discovered],
    jobs: int | None,
    *,
    while_waiting: Callable[[], None] | None = None,
) -> None:
    """Scan ``todo`` in several processes when that pays (a large tree, several CPUs): this
    one and worker processes. The results wait in ``run`` until :meth:`_Run.scan` asks for
    them. ``while_waiting`` is called once this process has no batch left to take, before it
    waits for the batches the workers hold."""
    processes = jobs if jobs is not None else min(os.cpu_count() or 1, 4)
    if processes < 2 or (jobs is None and len(todo) < _PARALLEL_MIN_FILES):
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        return  # workers must inherit the scanners' modules cheaply; spawn would not pay
    # Small batches: the last to finish is short (a few large batches left one process idle,
    # then busy alone), and this process takes its share a batch at a time.
    count = max(processes * 4, len(todo) // _BATCH_FILES)
    batches: list[list[tuple[str, str, str]]] = [[] for _ in range(count)]
    for index, item in enumerate(todo):
        batches[index % len(batches)].append((item.scanner.name, item.path, item.location))
    batches = [b for b in batches if b]
    by_name = {item.scanner.name: item.scanner for item in todo}
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(
        max_workers=processes - 1, mp_context=context, initializer=_init_worker, initargs=(run.ctx,)
    )
    try:
        futures = [pool.submit(_scan_batch, batch) for batch in batches]
        # This process would only wait for the workers and unpickle their results: it scans
        # too, taking batches from the far end of the queue while no worker has started them
        # (what it scans itself is never pickled), and unpickles finished results in between.
        taken = 0
        stolen = len(futures)
        while stolen > taken and futures[stolen - 1].cancel():
            stolen -= 1
            for name, rel, location in batches[stolen]:
                run.prescanned[rel] = scan_with_ignores(by_name[name], rel, Path(location), run.ctx)
            while taken < stolen and futures[taken].done():
                _take(run, futures[taken].result())
                taken += 1
        if while_waiting is not None:
            while_waiting()
        for future in futures[taken:stolen]:
            _take(run, future.result())
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    # Every result is in: the workers end while this process goes on to the checks (waiting
    # for them took a hundredth of a cold audit; the pool's thread reaps them).
    pool.shutdown(wait=False)


def _take(run: _Run, results: bytes) -> None:
    for rel, facts, ignores in transport.loads(results):
        run.prescanned[rel] = (facts, ignores)
