"""``repro merge``: the JSON reports of a matrix's jobs, read as untrusted input, as one answer.

A report is an artifact another job uploaded: it is read only if it is a regular file (never
through a symlink), within :data:`~reprolock.harness.untrusted.MAX_JSON_BYTES`, nested within
the JSON depth limit, and every field the merge uses is checked for its type and range; the
first problem refuses the whole report with one line naming the file and the key path. A
refused or missing report leaves its job's question unanswered (exit 3), never a pass.

Replays merge by putting their suites side by side (the worst verdict wins, as in one
``repro replay``); the mixes of a fanned-out bisect merge per suite and candidate into one
bisect: the culprit is the one group whose update reproduces the change alone.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from reprolock.errors import UnansweredError, UsageError
from reprolock.harness.untrusted import UntrustedInputError, read_json
from reprolock.report.bisect import (
    BisectReport,
    Group,
    MixKind,
    MixResult,
    Outcome,
    Status,
    Step,
    StepKind,
)
from reprolock.report.merge import JobResult, JobState, MergedReport
from reprolock.report.replay import (
    SCHEMA,
    Baseline,
    Comparison,
    Difference,
    LockChange,
    Machine,
    OutputComparison,
    ReplayReport,
    Verdict,
    worst,
)

MAX_REPORTS = 4096
"""Most report files one merge reads (GitHub's matrix holds at most 256 jobs)."""
REPORT_PREFIX = "report-"
"""A job's report is ``report-<job id>.json`` (``repro plan`` names it so)."""

_SUITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$")
_MIX_ID = re.compile(r"^(only|without)-[a-z0-9][a-z0-9._-]{0,99}-[0-9a-f]{6}$")
_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SHORT = 1000
"""Longest one-line string (a lock path, an image tag, a note) accepted from a report."""
_LONG = 64 * 1024
"""Longest free text (an error's excerpt) accepted from a report."""

T = TypeVar("T")


class ReportError(UnansweredError):
    """A job's report is missing, unreadable, or not a report (exit 3): the job's question is
    unanswered. The message names the file and the key path."""


# --------------------------------------------------------------------------------------------
# Typed reading of untrusted JSON
# --------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """One field of a report is wrong; the message is ``key.path: what``."""


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


@dataclass(frozen=True, slots=True)
class _Node:
    """A JSON value and where it is (``suites[0].outputs.labels``)."""

    value: Any
    path: str

    def fail(self, expected: str) -> _Invalid:
        return _Invalid(f"{self.path or '(top)'}: expected {expected}, got {_show(self.value)}")

    def key(self, name: str, *, required: bool = True) -> _Node:
        data = self.object()
        path = f"{self.path}.{name}" if self.path else name
        if name not in data:
            if required:
                raise _Invalid(f"{path}: missing")
            return _Node(None, path)
        return _Node(data[name], path)

    def object(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.fail("an object")
        return self.value

    def items(self) -> Iterator[tuple[str, _Node]]:
        for name, value in self.object().items():
            yield name, _Node(value, f"{self.path}.{name}" if self.path else name)

    def list(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self.fail("an array")
        return [_Node(item, f"{self.path}[{i}]") for i, item in enumerate(self.value)]

    def text(self, *, limit: int = _SHORT, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(self.value, str):
            raise self.fail("a string")
        if len(self.value) > limit:
            raise _Invalid(f"{self.path}: longer than {limit} characters")
        if pattern is not None and not pattern.match(self.value):
            raise self.fail("a name")
        # A report is shown on terminals and in logs: no escape sequences from another job.
        return _CONTROL.sub("\ufffd", self.value)

    def optional_text(self, *, limit: int = _SHORT) -> str | None:
        return None if self.value is None else self.text(limit=limit)

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail("true or false")
        return self.value

    def optional_boolean(self) -> bool | None:
        return None if self.value is None else self.boolean()

    def integer(self, *, minimum: int = 0) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail("an integer")
        if self.value < minimum:
            raise _Invalid(f"{self.path}: expected an integer >= {minimum}, got {self.value}")
        return self.value

    def optional_integer(self) -> int | None:
        return None if self.value is None else self.integer()

    def number(self) -> float | None:
        """A float as the reports write it: a number, null, or ``"nan"``/``"inf"``/``"-inf"``."""
        if self.value is None:
            return None
        if isinstance(self.value, str) and self.value in {"nan", "inf", "-inf"}:
            return float(self.value)
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.fail("a number")
        return float(self.value)

    def choice(self, kind: type[T]) -> T:
        names = [member.value for member in kind]  # type: ignore[attr-defined]
        if not isinstance(self.value, str) or self.value not in names:
            raise self.fail(f"one of {', '.join(names)}")
        return kind(self.value)  # type: ignore[call-arg]

    def many(self, read: Callable[[_Node], T]) -> tuple[T, ...]:
        return tuple(read(item) for item in self.list())


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


def _change(node: _Node) -> LockChange:
    old, new = node.key("old").optional_text(), node.key("new").optional_text()
    if old is None and new is None:
        raise _Invalid(f"{node.path}: neither old nor new")
    return LockChange(name=node.key("name").text(pattern=_PACKAGE), old=old, new=new)


def _output(name: str, node: _Node) -> OutputComparison:
    if len(name) > _SHORT:
        raise _Invalid(f"{node.path}: an output name longer than {_SHORT} characters")
    verdict = node.key("verdict").choice(Verdict)
    if verdict is Verdict.BROKEN:
        raise _Invalid(f"{node.key('verdict').path}: an output is never broken")
    flips = node.key("label_flips", required=False)
    ulp = node.key("max_ulp", required=False)
    tolerance = node.key("tolerance", required=False)
    bounds = None if tolerance.value is None else tolerance
    return OutputComparison(
        name=_CONTROL.sub("\ufffd", name),
        verdict=verdict,
        mismatches=node.key("mismatches").integer(),
        total=node.key("total").integer(),
        max_abs=node.key("max_abs", required=False).number(),
        max_rel=node.key("max_rel", required=False).number(),
        max_ulp=ulp.optional_integer(),
        label_flips=flips.optional_integer(),
        notes=node.key("notes", required=False).many(_note) if "notes" in node.object() else (),
        rtol=None if bounds is None else _bound(bounds.key("rtol")),
        atol=None if bounds is None else _bound(bounds.key("atol")),
        max_label_flip_rate=None
        if bounds is None
        else _bound(bounds.key("max_label_flip_rate", required=False)),
        moved=node.key("moved", required=False).optional_integer(),
        top=node.key("top", required=False).many(_difference) if "top" in node.object() else (),
        passing_atol=node.key("passing_atol", required=False).number(),
    )


def _difference(node: _Node) -> Difference:
    """One of an output's largest differences: its index and both values."""
    index = tuple(item.integer() for item in node.key("index").list())
    return Difference(index=index, golden=_value(node.key("golden")), new=_value(node.key("new")))


def _value(node: _Node) -> float | int | str:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise node.fail("a number or a string")
    return _CONTROL.sub("\ufffd", value[:_SHORT]) if isinstance(value, str) else value


def _bound(node: _Node) -> float | None:
    """A tolerance: a finite number >= 0, or null."""
    value = node.number()
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise node.fail("a finite number >= 0")
    return value


def _note(node: _Node) -> str:
    return node.text()


def _comparison(node: _Node, verdict: Verdict | None) -> Comparison | None:
    """The ``outputs`` mapping as a comparison; its worst output must be ``verdict`` (when
    given): a report whose headline contradicts its own table is refused."""
    outputs = tuple(sorted((_output(name, item) for name, item in node.items()), key=_by_name))
    if verdict is Verdict.BROKEN:
        if outputs:
            raise _Invalid(f"{node.path}: a broken candidate has no outputs")
        return None
    found = worst(output.verdict for output in outputs)
    if verdict is not None and found is not verdict:
        raise _Invalid(
            f"{node.path}: the outputs' worst verdict is {found.value}, "
            f"the report says {verdict.value}"
        )
    return Comparison(verdict=found, outputs=outputs)


def _by_name(output: OutputComparison) -> str:
    return output.name


def _machine(node: _Node) -> Machine | None:
    if node.value is None:
        return None
    blas = []
    for pair in node.key("blas").list():
        api, arch = pair.list() if len(pair.list()) == 2 else (None, None)
        if api is None or arch is None:
            raise pair.fail("[api, architecture]")
        blas.append((api.text(), arch.text()))
    return Machine(
        cpu_model=node.key("cpu_model").optional_text(),
        cpu_flags_sha256=node.key("cpu_flags_sha256").optional_text(),
        blas=tuple(blas),
        base_image_id=node.key("base_image_id").optional_text(),
        image_id=node.key("image_id").optional_text(),
    )


def read_replay(node: _Node) -> ReplayReport:
    """One suite's replay report (the replay part of a bisect's too)."""
    if node.key("schema").value != SCHEMA:
        raise node.key("schema").fail(f"schema {SCHEMA}")
    verdict = node.key("verdict").choice(Verdict)
    candidate = node.key("candidate")
    golden = node.key("golden_outputs", required=False)
    return ReplayReport(
        suite=node.key("suite").text(pattern=_SUITE),
        verdict=verdict,
        attributable=node.key("attributable").boolean(),
        candidate_lock=candidate.key("lock").text(),
        image=candidate.key("image").optional_text(),
        lock_diff=node.key("lock_diff").many(_change),
        comparison=_comparison(node.key("outputs"), verdict),
        baseline=node.key("compared_with").choice(Baseline),
        golden_reproduces=node.key("golden_reproduces").optional_boolean(),
        golden_comparison=None if golden.value is None else _comparison(golden, None),
        machine_matches_golden=node.key("machine_matches_golden").optional_boolean(),
        error=node.key("error").optional_text(limit=_LONG),
        notes=node.key("notes").many(_note),
        machine=_machine(node.key("machine", required=False)),
    )


def _group(node: _Node) -> Group:
    return Group(
        changes=node.key("packages").many(_change), reasons=node.key("reasons").many(_note)
    )


def _step(node: _Node, *, number: int | None = None, kind: StepKind | None = None) -> Step:
    seconds = node.key("seconds").number()
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise node.key("seconds").fail("a number of seconds >= 0")
    verdict = node.key("verdict")
    return Step(
        number=node.key("step").integer(minimum=1) if number is None else number,
        kind=node.key("kind").choice(StepKind) if kind is None else kind,
        moved=node.key("moved").many(_change),
        outcome=node.key("outcome").choice(Outcome),
        verdict=None if verdict.value is None else verdict.choice(Verdict),
        image=node.key("image").optional_text(),
        reused=node.key("reused").optional_boolean(),
        seconds=seconds,
        detail=node.key("detail").optional_text(limit=_LONG),
    )


def _mix(node: _Node, groups: Sequence[Group]) -> MixResult:
    group = node.key("group").integer()
    if group >= len(groups):
        raise _Invalid(f"{node.key('group').path}: no group {group} (the report has {len(groups)})")
    job = node.key("job", required=False)
    return MixResult(
        id=node.key("id").text(pattern=_MIX_ID),
        kind=node.key("kind").choice(MixKind),
        group=group,
        step=_step(node, number=1, kind=StepKind.MIX),
        job=None if job.value is None else job.text(pattern=_JOB_ID),
    )


def read_bisect(node: _Node) -> BisectReport:
    """A bisect report: ``repro replay --mix``'s, or a merged one (``repro merge``'s
    ``bisects``)."""
    replay = read_replay(node)
    bisect = node.key("bisect")
    groups = bisect.key("groups").many(_group)
    mixes = node.key("mixes", required=False)
    by_name = {change.name: change for group in groups for change in group.changes}
    culprits = []
    for item in node.key("culprits").list():
        name = item.text(pattern=_PACKAGE)
        if name not in by_name:
            raise _Invalid(f"{item.path}: {name} is in no group of the report")
        culprits.append(by_name[name])
    return BisectReport(
        replay=replay,
        status=bisect.key("status").choice(Status),
        culprits=tuple(culprits),
        groups=groups,
        steps=node.key("steps").many(_step),
        minimal=bisect.key("minimal").boolean(),
        reason=bisect.key("reason").optional_text(),
        mixes=() if mixes.value is None else mixes.many(lambda m: _mix(m, groups)),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class JobReport:
    """What one job's report holds."""

    replays: tuple[ReplayReport, ...] = ()
    """Suites replayed (``repro replay`` without ``--mix``)."""
    bisect: BisectReport | None = None
    """The mixes it tested (``repro replay --mix``)."""

    @property
    def suites(self) -> tuple[str, ...]:
        if self.bisect is not None:
            return (self.bisect.replay.suite,)
        return tuple(report.suite for report in self.replays)

    @property
    def lock(self) -> str:
        replays = [self.bisect.replay] if self.bisect is not None else self.replays
        return replays[0].candidate_lock if replays else ""

    @property
    def machines(self) -> tuple[Machine, ...]:
        replays = [self.bisect.replay] if self.bisect is not None else self.replays
        return tuple(r.machine for r in replays if r.machine is not None)


def parse_report(data: Any) -> JobReport:
    """A job's report: one suite's replay, several suites' (``{"suites": [...]}``), or the
    mixes ``repro replay --mix`` tested. Raises :class:`_Invalid`."""
    top = _Node(data, "")
    top.object()
    if "suite" not in top.object():
        if top.key("schema").value != SCHEMA:
            raise top.key("schema").fail(f"schema {SCHEMA}")
        replays = top.key("suites").many(read_replay)
        if not replays:
            raise _Invalid("suites: empty")
        stated = top.key("verdict").choice(Verdict)
        if stated is not worst(r.verdict for r in replays):
            raise _Invalid("verdict: not the worst of the suites' verdicts")
        return JobReport(replays=replays)
    if "bisect" not in top.object():
        return JobReport(replays=(read_replay(top),))
    bisect = read_bisect(top)
    if bisect.status not in {Status.TESTED, Status.NOTHING, Status.UNANSWERED}:
        raise _Invalid(
            f"bisect.status: {bisect.status.value}: a report of `repro bisect`, not of a "
            "`repro replay` job (merge takes those)"
        )
    if bisect.status is Status.TESTED and not bisect.mixes:
        raise _Invalid("mixes: missing (the report says mixes were tested)")
    return JobReport(bisect=bisect)


# --------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedJob:
    """One job as the plan (``repro plan``'s output) names it."""

    id: str
    suites: tuple[str, ...]
    lock: str
    mixes: tuple[str, ...] = ()

    @property
    def report(self) -> str:
        return f"{REPORT_PREFIX}{self.id}.json"


def _comma(node: _Node, pattern: re.Pattern[str]) -> tuple[str, ...]:
    text = node.text()
    if text == "":
        return ()
    names = tuple(text.split(","))
    for name in names:
        if not pattern.match(name):
            raise node.fail(f"a comma list of names, not {name[:40]!r}")
    return names


def read_plan(path: Path) -> list[PlannedJob]:
    """The jobs of ``repro plan``'s output (``--format github`` or ``json``). Raises
    :class:`UsageError`: the plan is this workflow's own output, so a bad one is a bad input."""
    what = str(path)
    try:
        data = read_json(path, what=what, follow_symlinks=False)
        top = _Node(data, "")
        entries = top.key("include").list() if "include" in top.object() else top.key("jobs").list()
        jobs = []
        for entry in entries:
            suites = _comma(entry.key("suite"), _SUITE)
            if not suites:
                raise entry.key("suite").fail("at least one suite")
            mix = entry.key("mix", required=False)
            jobs.append(
                PlannedJob(
                    id=entry.key("id").text(pattern=_JOB_ID),
                    suites=suites,
                    lock=entry.key("lock").text(),
                    mixes=() if mix.value is None else _comma(mix, _MIX_ID),
                )
            )
    except UntrustedInputError as exc:
        raise UsageError(f"--plan {exc}") from None
    except _Invalid as exc:
        raise UsageError(f"--plan {what}: {exc}") from None
    ids = [job.id for job in jobs]
    duplicate = next((job_id for job_id in ids if ids.count(job_id) > 1), None)
    if duplicate is not None:
        raise UsageError(f"--plan {what}: job {duplicate} appears twice")
    return jobs


# --------------------------------------------------------------------------------------------
# Merging
# --------------------------------------------------------------------------------------------


def report_files(paths: Sequence[Path]) -> list[Path]:
    """The report files named, a directory standing for its ``report-*.json`` files."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            found = sorted(
                entry
                for entry in path.iterdir()
                if entry.name.startswith(REPORT_PREFIX) and entry.name.endswith(".json")
            )
            files += found
        else:
            files.append(path)
        if len(files) > MAX_REPORTS:
            raise UsageError(f"more than {MAX_REPORTS} reports: merge them in parts")
    return files


def job_of(path: Path) -> str:
    """The job id a report's file name gives: ``report-<id>.json``, else its stem."""
    name = path.name
    if name.startswith(REPORT_PREFIX) and name.endswith(".json"):
        return name[len(REPORT_PREFIX) : -len(".json")]
    return path.stem


def load_report(path: Path) -> JobReport:
    """One job's report file, read and checked; raises :class:`ReportError`."""
    try:
        data = read_json(path, what=str(path), follow_symlinks=False)
    except UntrustedInputError as exc:
        raise ReportError(str(exc)) from None
    try:
        return parse_report(data)
    except _Invalid as exc:
        raise ReportError(f"{path}: {exc}") from None


def _check_planned(job: PlannedJob, found: JobReport) -> str | None:
    """Why ``found`` is not the report of the planned ``job``, or None."""
    if found.suites != job.suites:
        return f"holds suites {', '.join(found.suites)}, the plan says {', '.join(job.suites)}"
    if job.lock and os.path.normpath(found.lock) != os.path.normpath(job.lock):
        return f"replayed {found.lock}, the plan says {job.lock}"
    if found.bisect is not None and found.bisect.status is Status.TESTED:
        tested = tuple(mix.id for mix in found.bisect.mixes)
        if tested != job.mixes:
            return f"tested mixes {', '.join(tested)}, the plan says {', '.join(job.mixes)}"
    if found.bisect is None and job.mixes:
        return "is a replay report; the plan has the job test mixes"
    return None


def merge(paths: Sequence[Path], plan: Sequence[PlannedJob] | None = None) -> MergedReport:
    """Read the reports at ``paths`` (files, or directories of ``report-*.json``) and merge
    them. With ``plan``, every planned job must have its report (``report-<id>.json``) and
    nothing else may be given. A missing or unreadable report is a job left unanswered in the
    result (exit 3); a report given twice or outside the plan is a usage error."""
    files = report_files(paths)
    by_job: dict[str, Path] = {}
    for path in files:
        job_id = job_of(path)
        if job_id in by_job:
            raise UsageError(f"{path}: job {job_id} already has a report ({by_job[job_id]})")
        by_job[job_id] = path
    planned = {job.id: job for job in plan} if plan is not None else None
    if planned is not None:
        stray = [path for job_id, path in by_job.items() if job_id not in planned]
        if stray:
            raise UsageError(f"{stray[0]}: no job {job_of(stray[0])} in the plan")
    order = list(planned) if planned is not None else list(by_job)
    jobs: list[JobResult] = []
    merged: list[tuple[str, JobReport]] = []
    for job_id in order:
        job = planned.get(job_id) if planned is not None else None
        given = by_job.get(job_id)
        suites = job.suites if job is not None else ()
        lock = job.lock if job is not None else ""
        mixes = job.mixes if job is not None else ()
        if given is None:
            name = job.report if job is not None else f"{REPORT_PREFIX}{job_id}.json"
            jobs.append(
                JobResult(
                    id=job_id,
                    report=name,
                    state=JobState.MISSING,
                    suites=suites,
                    lock=lock,
                    mixes=mixes,
                    error=f"no report {name}: the job failed, or its artifact was not kept",
                )
            )
            continue
        try:
            found = load_report(given)
        except ReportError as exc:
            jobs.append(
                JobResult(
                    id=job_id,
                    report=str(given),
                    state=JobState.UNREADABLE,
                    suites=suites,
                    lock=lock,
                    mixes=mixes,
                    error=str(exc),
                )
            )
            continue
        problem = None if job is None else _check_planned(job, found)
        if problem is not None:
            # Not this job's report: the job is described as planned, nothing of it is kept.
            jobs.append(
                JobResult(
                    id=job_id,
                    report=str(given),
                    state=JobState.UNREADABLE,
                    suites=suites,
                    lock=lock,
                    mixes=mixes,
                    error=f"{given}: {problem}",
                )
            )
            continue
        jobs.append(
            JobResult(
                id=job_id,
                report=str(given),
                state=JobState.MERGED,
                suites=found.suites,
                lock=found.lock,
                mixes=() if found.bisect is None else tuple(m.id for m in found.bisect.mixes),
                machines=found.machines,
            )
        )
        merged.append((job_id, found))
    replays = _replays(merged)
    bisects = _bisects(merged)
    return MergedReport(replays=tuple(replays), bisects=tuple(bisects), jobs=tuple(jobs))


def _replays(reports: Sequence[tuple[str, JobReport]]) -> list[ReplayReport]:
    out: list[ReplayReport] = []
    seen: dict[tuple[str, str], str] = {}
    for job_id, found in reports:
        for replay in found.replays:
            key = (replay.suite, os.path.normpath(replay.candidate_lock))
            if key in seen:
                raise UsageError(
                    f"suite {replay.suite} with {replay.candidate_lock} is in the reports of "
                    f"both job {seen[key]} and job {job_id}"
                )
            seen[key] = job_id
            out.append(replay)
    return out


def _bisects(reports: Sequence[tuple[str, JobReport]]) -> list[BisectReport]:
    groups: dict[tuple[str, str], list[tuple[str, BisectReport]]] = {}
    for job_id, found in reports:
        if found.bisect is not None:
            key = (found.bisect.replay.suite, os.path.normpath(found.bisect.replay.candidate_lock))
            groups.setdefault(key, []).append((job_id, found.bisect))
    return [combine_mixes(members) for members in groups.values()]


def combine_mixes(reports: Sequence[tuple[str, BisectReport]]) -> BisectReport:
    """The mixes one suite's jobs tested, as one bisect report.

    The culprit is the group whose update alone reproduces the candidate's change (the first,
    if several do). When none does, the change needs several groups together: the status is
    :attr:`Status.INTERACTION` and ``repro bisect --known`` goes on from these mixes. Jobs
    that grouped the updates differently, or saw the candidate differently (one changed, one
    not: their machines differ), leave it unanswered.
    """
    first_job, first = reports[0]
    for job_id, report in reports[1:]:
        if report.groups != first.groups and report.groups and first.groups:
            return _unanswered(
                first,
                f"jobs {first_job} and {job_id} grouped the updates differently "
                "(their base images or wheels differ)",
            )
    for job_id, report in reports:
        if report.status is Status.UNANSWERED:
            return _unanswered(report, f"job {job_id}: {report.reason}")
    verdicts = {report.replay.verdict for _, report in reports}
    if len(verdicts) > 1:
        seen = "; ".join(f"job {job_id}: {r.replay.verdict.value}" for job_id, r in reports)
        return _unanswered(first, f"the jobs disagree on the candidate ({seen})")
    if first.status is Status.NOTHING:
        return BisectReport(
            replay=first.replay,
            status=Status.NOTHING,
            groups=first.groups,
            steps=first.steps[:2],
            reason=first.reason,
        )
    mixes = sorted(
        (
            MixResult(id=m.id, kind=m.kind, group=m.group, step=m.step, job=job_id)
            for job_id, report in reports
            for m in report.mixes
        ),
        key=lambda m: (m.kind is MixKind.WITHOUT, m.group, m.id),
    )
    unique: dict[str, MixResult] = {}
    for mix in mixes:
        unique.setdefault(mix.id, mix)
    tested = list(unique.values())
    groups = next((r.groups for _, r in reports if r.groups), first.groups)
    lead = [s for s in first.steps if s.kind in {StepKind.CANDIDATE, StepKind.BASELINE}]
    steps = [*lead]
    for mix in tested:
        steps.append(
            Step(
                number=len(steps) + 1,
                kind=StepKind.MIX,
                moved=mix.step.moved,
                outcome=mix.step.outcome,
                verdict=mix.step.verdict,
                image=mix.step.image,
                reused=mix.step.reused,
                seconds=mix.step.seconds,
                detail=mix.step.detail,
            )
        )
    alone = [
        mix for mix in tested if mix.kind is MixKind.ONLY and mix.step.outcome is Outcome.REPRODUCES
    ]
    fields: dict[str, Any] = {
        "replay": first.replay,
        "groups": groups,
        "steps": tuple(steps),
        "mixes": tuple(tested),
    }
    if alone:
        culprit = groups[alone[0].group]
        others = ", ".join(str(groups[m.group]) for m in alone[1:])
        return BisectReport(
            status=Status.CULPRITS,
            culprits=tuple(sorted(culprit.changes, key=lambda c: c.name)),
            reason=f"{others} also reproduce{'s' if len(alone) == 2 else ''} it alone"
            if others
            else None,
            **fields,
        )
    return BisectReport(status=Status.INTERACTION, reason=_interaction(groups, tested), **fields)


def _interaction(groups: Sequence[Group], tested: Sequence[MixResult]) -> str:
    needed = [
        str(groups[mix.group])
        for mix in tested
        if mix.kind is MixKind.WITHOUT and mix.step.outcome is not Outcome.REPRODUCES
    ]
    untestable = [
        str(groups[mix.group])
        for mix in tested
        if mix.kind is MixKind.ONLY and mix.step.outcome is Outcome.UNTESTABLE
    ]
    text = "the change needs several groups together"
    if needed:
        text += f"; without any one of {'; '.join(needed)} it does not reproduce"
    if untestable:
        text += f" ({'; '.join(untestable)} could not be tested alone)"
    return text + "; `repro bisect --known` goes on from these mixes"


def _unanswered(report: BisectReport, reason: str) -> BisectReport:
    return BisectReport(
        replay=report.replay,
        status=Status.UNANSWERED,
        groups=report.groups,
        steps=report.steps[:2],
        reason=reason,
    )


def learned_mixes(path: Path, *, suite: str, lock: str) -> tuple[MixResult, ...]:
    """The mixes a merged report (``repro merge --format json``) holds for ``suite`` and the
    candidate ``lock``, for ``repro bisect --known``. Raises :class:`UsageError`."""
    what = f"--known {path}"
    try:
        data = read_json(path, what=what, follow_symlinks=False)
        top = _Node(data, "")
        if top.key("schema").value != SCHEMA:
            raise top.key("schema").fail(f"schema {SCHEMA}")
        for entry in top.key("bisects").list():
            report = read_bisect(entry)
            same_lock = os.path.normpath(report.replay.candidate_lock) == os.path.normpath(lock)
            if report.replay.suite == suite and same_lock:
                return report.mixes
    except UntrustedInputError as exc:
        raise UsageError(str(exc)) from None
    except _Invalid as exc:
        raise UsageError(f"{what}: {exc}") from None
    raise UsageError(f"{what}: no bisect of suite {suite} with {lock} in it")


__all__ = [
    "MAX_REPORTS",
    "JobReport",
    "PlannedJob",
    "ReportError",
    "combine_mixes",
    "job_of",
    "learned_mixes",
    "load_report",
    "merge",
    "parse_report",
    "read_bisect",
    "read_plan",
    "read_replay",
    "report_files",
]
