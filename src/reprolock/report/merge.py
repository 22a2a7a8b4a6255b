"""The report of ``repro merge``: the reports of a matrix's jobs as one verdict, with every
suite's table, every bisect's mixes and culprits, and what each job ran on; text, JSON and
Markdown."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reprolock.report.bisect import BisectReport, Status, render_bisect_markdown, summary
from reprolock.report.bisect import render_bisect_text as _bisect_text
from reprolock.report.common import markdown_cell, markdown_code, markdown_row
from reprolock.report.replay import (
    SCHEMA,
    Machine,
    ReplayReport,
    ReportFormat,
    Verdict,
    render_markdown,
    render_text,
    worst,
)
from reprolock.report.replay import summary_line as replay_summary

_BAD = frozenset({Verdict.CHANGED, Verdict.BROKEN})


class JobState(enum.Enum):
    """What became of one job's report."""

    MERGED = "merged"
    """Read, checked and merged."""
    MISSING = "missing"
    """The plan names the job, but no report of it was given."""
    UNREADABLE = "unreadable"
    """Given, but not a report that can be trusted (why is in :attr:`JobResult.error`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class JobResult:
    """One job of the matrix as the merge saw it."""

    id: str
    """The job's id (from the plan, else from the report's file name)."""
    report: str
    """The report file, as given (or as the plan names it)."""
    state: JobState
    """Merged, missing or unreadable."""
    suites: tuple[str, ...] = ()
    """The suites its report holds (the plan's, when it has none)."""
    lock: str = ""
    """Its candidate lock (``""``: each suite's own)."""
    mixes: tuple[str, ...] = ()
    """The mixes it tested."""
    machines: tuple[Machine, ...] = ()
    """Where its candidates ran (one per suite it replayed)."""
    error: str | None = None
    """Why it is missing or unreadable, in one line."""

    def to_dict(self) -> dict[str, Any]:
        """The entry of the merged JSON's ``jobs`` list."""
        return {
            "id": self.id,
            "report": self.report,
            "state": self.state.value,
            "suites": list(self.suites),
            "lock": self.lock,
            "mixes": list(self.mixes),
            "machines": [machine.to_dict() for machine in self.machines],
            "error": self.error,
        }

    def describe(self) -> str:
        """``segments-1a2b3c4d (suite segments, lock new.txt)``."""
        what = f"suite{'s' if len(self.suites) != 1 else ''} {', '.join(self.suites) or '?'}"
        if self.lock:
            what += f", lock {self.lock}"
        if self.mixes:
            what += f", mix{'es' if len(self.mixes) != 1 else ''} {', '.join(self.mixes)}"
        return f"{self.id} ({what})"


@dataclass(frozen=True, kw_only=True, slots=True)
class MergedReport:
    """Every job's report as one answer."""

    replays: tuple[ReplayReport, ...] = ()
    """Suite replays, in job order (within a job, in its order)."""
    bisects: tuple[BisectReport, ...] = ()
    """One per (suite, candidate) whose mixes were tested, their outcomes combined."""
    jobs: tuple[JobResult, ...] = ()
    """Every job, merged or not."""

    @property
    def unanswered(self) -> tuple[JobResult, ...]:
        """Jobs whose report is missing or unreadable."""
        return tuple(job for job in self.jobs if job.state is not JobState.MERGED)

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of every suite replayed and every candidate bisected."""
        return worst([r.verdict for r in self.replays] + [b.replay.verdict for b in self.bisects])

    @property
    def exit_code(self) -> int:
        """As one ``repro replay`` (or ``repro bisect``) over the same work: 3 when a job's
        report is missing or unreadable or a bisect is unanswered, else 1 for a change or
        breakage, else 0."""
        if self.unanswered or any(b.status is Status.UNANSWERED for b in self.bisects):
            return 3
        if any(r.verdict in _BAD for r in self.replays):
            return 1
        return max((b.exit_code for b in self.bisects), default=0)

    def to_dict(self) -> dict[str, Any]:
        """The merged JSON: ``repro replay``'s multi-suite shape, the bisects, the jobs."""
        return {
            "schema": SCHEMA,
            "verdict": self.verdict.value,
            "answered": not self.unanswered
            and not any(b.status is Status.UNANSWERED for b in self.bisects),
            "exit_code": self.exit_code,
            "suites": [report.to_dict() for report in self.replays],
            "bisects": [report.to_dict() for report in self.bisects],
            "jobs": [job.to_dict() for job in self.jobs],
        }


def summary_line(merged: MergedReport) -> str:
    """The stderr line: what was merged, each suite's verdict, what is missing."""
    merged_jobs = len(merged.jobs) - len(merged.unanswered)
    parts = [f"merged {merged_jobs} of {len(merged.jobs)} job reports"]
    if merged.replays:
        parts.append(replay_summary(merged.replays))
    parts += [summary(report) for report in merged.bisects]
    parts += [f"job {job.id}: {job.state.value} ({job.error})" for job in merged.unanswered]
    return "; ".join(parts)


def render_merged(fmt: ReportFormat, merged: MergedReport) -> str:
    """The merged report in ``fmt``."""
    if fmt is ReportFormat.JSON:
        return json.dumps(merged.to_dict(), indent=2) + "\n"
    if fmt is ReportFormat.MARKDOWN:
        return render_merged_markdown(merged)
    return render_merged_text(merged)


def render_merged_text(merged: MergedReport) -> str:
    """Each suite as ``repro replay`` shows it, each bisect as ``repro bisect`` does, then
    the jobs and where each ran."""
    blocks = []
    if merged.replays:
        blocks.append(render_text(merged.replays))
    blocks += [_bisect_text(report) for report in merged.bisects]
    lines = [f"verdict: {merged.verdict.value}"]
    lines += [
        f"not answered: job {job.describe()}: {job.state.value}: {job.error}"
        for job in merged.unanswered
    ]
    lines.append(f"jobs: {len(merged.jobs)}")
    rows = [
        (job.id, job.state.value, "; ".join(dict.fromkeys(m.describe() for m in job.machines)))
        for job in merged.jobs
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(2)]
    for name, state, where in rows:
        lines.append(f"  {name:<{widths[0]}}  {state:<{widths[1]}}  {where or '-'}".rstrip())
    blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_merged_markdown(merged: MergedReport) -> str:
    """For a pull-request comment or a run summary: the verdict, what is missing, every
    suite's section, every bisect's culprits and mixes, and a table of the jobs."""
    jobs = len(merged.jobs)
    out = [
        "## reprolock merge",
        "",
        f"**{merged.verdict.value}** over {jobs} job{'s' if jobs != 1 else ''}.",
        "",
    ]
    for job in merged.unanswered:
        out.append(
            f"> **Not answered**: job {markdown_code(job.id)} "
            f"({markdown_cell(', '.join(job.suites))}): {job.state.value}: "
            f"{markdown_cell(job.error or '')}"
        )
    if merged.unanswered:
        out.append("")
    if merged.replays:
        body = render_markdown(merged.replays).removeprefix("## reprolock replay\n\n")
        out += [body.rstrip("\n"), ""]
    for report in merged.bisects:
        out += [render_markdown([report.replay]).removeprefix("## reprolock replay\n\n").rstrip()]
        out += ["", render_bisect_markdown(report, heading="####").rstrip("\n"), ""]
    out += _jobs_markdown(merged.jobs)
    return "\n".join(out).rstrip("\n") + "\n"


def _jobs_markdown(jobs: Sequence[JobResult]) -> list[str]:
    out = ["### Jobs", "", "| job | suites | state | machine |", "|---|---|---|---|"]
    for job in jobs:
        where = "; ".join(dict.fromkeys(m.describe() for m in job.machines)) or "—"
        cells = (
            markdown_code(job.id),
            markdown_cell(", ".join(job.suites)) or "—",
            job.state.value,
            markdown_cell(where),
        )
        out.append(markdown_row(cells))
    return [*out, ""]


__all__ = [
    "JobResult",
    "JobState",
    "MergedReport",
    "render_merged",
    "render_merged_markdown",
    "render_merged_text",
    "summary_line",
]
