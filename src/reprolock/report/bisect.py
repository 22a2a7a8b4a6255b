"""The bisect report: which package updates reproduce a candidate's change, every environment
tested, as JSON (the replay schema plus culprits and steps), text and Markdown."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any

from reprolock.report.common import markdown_cell, markdown_code, markdown_row
from reprolock.report.replay import (
    LockChange,
    ReplayReport,
    ReportFormat,
    Verdict,
    render_markdown,
    render_text,
)


class Outcome(enum.Enum):
    """What one tested environment says about the change being searched for."""

    REPRODUCES = "reproduces"
    """Behaves like the candidate (its outputs, or its breakage)."""
    PASSES = "passes"
    """Behaves like the suite's own lock."""
    DIFFERS = "differs"
    """Changed, but not the way the candidate did (another change, or broken instead)."""
    UNTESTABLE = "untestable"
    """Not a consistent environment: a requirement is unmet, or it does not install."""


class Status(enum.Enum):
    """How a bisect ended."""

    CULPRITS = "culprits"
    """The candidate changes behaviour and the culprits were found (exit 1)."""
    NOTHING = "nothing-to-bisect"
    """The candidate behaves like the suite's lock (exit 0)."""
    UNANSWERED = "unanswered"
    """The question could not be answered: no reference run, no package moved (exit 3)."""
    TESTED = "mixes-tested"
    """Some mixes of a fanned-out bisect were tested (``repro replay --mix``); their outcomes
    are for ``repro merge`` to combine (exit 1: the candidate changes behaviour)."""
    INTERACTION = "interaction"
    """Merged mixes: no group of updates reproduces the change alone; the sequential bisect
    goes on from what the mixes found (exit 1)."""

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this outcome."""
        return {Status.NOTHING: 0, Status.UNANSWERED: 3}.get(self, 1)


def budget(groups: int) -> int:
    """Environments a single-culprit bisect of ``groups`` groups tests at most: the candidate,
    a fresh baseline, and two per halving."""
    if groups <= 1:
        return 2
    return 2 * math.ceil(math.log2(groups)) + 2


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    """Package updates that move together in every mixed environment."""

    changes: tuple[LockChange, ...]
    """The updates, sorted by name."""
    reasons: tuple[str, ...] = ()
    """Why they cannot move apart (one sentence per requirement that ties them)."""

    @property
    def names(self) -> tuple[str, ...]:
        """The packages of the group."""
        return tuple(change.name for change in self.changes)

    def to_dict(self) -> dict[str, Any]:
        """The entry of the JSON report's ``groups`` list."""
        return {
            "packages": [change.to_dict() for change in self.changes],
            "reasons": list(self.reasons),
        }

    def __str__(self) -> str:
        return ", ".join(self.names)


class StepKind(enum.Enum):
    """What an environment of a bisect was."""

    CANDIDATE = "candidate"
    BASELINE = "baseline"
    MIX = "mix"
    KNOWN = "known"
    """A mix another process tested (a job of the matrix): its outcome is reused."""


class MixKind(enum.Enum):
    """The mixes of a fanned-out bisect's first round."""

    ONLY = "only"
    """The suite's lock with one group of updates moved."""
    WITHOUT = "without"
    """The candidate with one group of updates moved back: every group but one."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One environment the bisect tested."""

    number: int
    """1-based, in the order tested."""
    kind: StepKind
    """The candidate, the suite's own lock (a fresh baseline), or a mix."""
    moved: tuple[LockChange, ...]
    """The updates applied on top of the suite's lock."""
    outcome: Outcome
    """What the environment says about the change."""
    verdict: Verdict | None
    """Its verdict against the reference; None when it was not run."""
    image: str | None
    """The environment's image tag; None when nothing was built."""
    reused: bool | None
    """Whether the image existed already; None when no image was looked for."""
    seconds: float
    """Wall time of the step (build and run)."""
    detail: str | None = None
    """Why it is untestable or broken (unmet requirements, the first line of an error)."""

    def to_dict(self) -> dict[str, Any]:
        """The entry of the JSON report's ``steps`` list."""
        return {
            "step": self.number,
            "kind": self.kind.value,
            "moved": [change.to_dict() for change in self.moved],
            "outcome": self.outcome.value,
            "verdict": None if self.verdict is None else self.verdict.value,
            "image": self.image,
            "reused": self.reused,
            "seconds": round(self.seconds, 1),
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class MixResult:
    """One mix of a fanned-out bisect and what it showed."""

    id: str
    """``only-scikit-learn-1a2b3c``: the kind, the group's first package, a digest of what
    moves (so a job that computed other groups than its plan cannot take it for another)."""
    kind: MixKind
    """One group moved, or all but one."""
    group: int
    """The index of the group it is about, in :attr:`BisectReport.groups`."""
    step: Step
    """The environment tested (its updates, outcome, verdict, image, time)."""
    job: str | None = None
    """The matrix job that tested it, once merged."""

    def to_dict(self) -> dict[str, Any]:
        """The entry of the JSON report's ``mixes`` list."""
        step = self.step.to_dict()
        del step["step"], step["kind"]
        return {
            "id": self.id,
            "kind": self.kind.value,
            "group": self.group,
            **step,
            "job": self.job,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class BisectReport:
    """The outcome of bisecting one suite's change between its lock and a candidate."""

    replay: ReplayReport
    """The candidate against the reference, as ``repro replay`` reports it."""
    status: Status
    """Culprits found, nothing to bisect, or unanswered."""
    culprits: tuple[LockChange, ...] = ()
    """The updates that reproduce the change together (sorted by name)."""
    groups: tuple[Group, ...] = ()
    """The groups of updates the search moved as units."""
    steps: tuple[Step, ...] = ()
    """Every environment tested, in order."""
    minimal: bool = True
    """False when untestable mixes kept the search from proving no culprit can be dropped."""
    reason: str | None = None
    """Why the bisect is unanswered, or why there is nothing to bisect."""
    mixes: tuple[MixResult, ...] = ()
    """The fanned-out mixes tested (``repro replay --mix``, and their merge)."""

    @property
    def environments(self) -> int:
        """Environments set up (found or built) for the steps: the count the budget limits."""
        return sum(1 for step in self.steps if step.reused is not None)

    @property
    def built(self) -> int:
        """Environments actually built (not found by their tag)."""
        return sum(1 for step in self.steps if step.reused is False)

    @property
    def budget(self) -> int:
        """The single-culprit bound on :attr:`environments`: ``2*ceil(log2 k)+2``."""
        return budget(len(self.groups))

    @property
    def exit_code(self) -> int:
        """0 nothing to bisect, 1 culprits, 3 unanswered."""
        return self.status.exit_code

    def to_dict(self) -> dict[str, Any]:
        """The replay report's JSON plus ``culprits``, ``steps`` and the bisect's bookkeeping."""
        data = self.replay.to_dict()
        data["culprits"] = [change.name for change in self.culprits]
        data["culprit_updates"] = [change.to_dict() for change in self.culprits]
        data["bisect"] = {
            "status": self.status.value,
            "reason": self.reason,
            "minimal": self.minimal,
            "groups": [group.to_dict() for group in self.groups],
            "environments": self.environments,
            "built": self.built,
            "reused": self.environments - self.built,
            "budget": self.budget if self.groups else None,
        }
        data["steps"] = [step.to_dict() for step in self.steps]
        if self.mixes:
            data["mixes"] = [mix.to_dict() for mix in self.mixes]
        return data


def _moved_text(step: Step, total: int) -> str:
    if step.kind is StepKind.CANDIDATE:
        return f"candidate (all {total})"
    if step.kind is StepKind.BASELINE:
        return "the suite's lock (none)"
    return ", ".join(change.name for change in step.moved)


def _environment_text(step: Step) -> str:
    if step.kind is StepKind.KNOWN:
        return "matrix job"
    if step.reused is None:
        return "not built"
    return "reused" if step.reused else "built"


def summary(report: BisectReport) -> str:
    """One line: ``segments: changed; culprit: scikit-learn 1.3.2 -> 1.4.2 (4 environments)``."""
    head = f"{report.replay.suite}: {report.replay.verdict.value}"
    if report.status is Status.CULPRITS:
        noun = "culprit" if len(report.culprits) == 1 else "culprits"
        found = ", ".join(str(c) for c in report.culprits)
        return f"{head}; {noun}: {found} ({_count(report)})"
    if report.status is Status.NOTHING:
        return f"{head}; nothing to bisect"
    if report.status is Status.TESTED:
        outcomes = ", ".join(f"{mix.id} {mix.step.outcome.value}" for mix in report.mixes)
        return f"{head}; {outcomes}"
    if report.status is Status.INTERACTION:
        return f"{head}; no group reproduces it alone: {report.reason}"
    return f"{head}; unanswered: {report.reason}"


def _bound(report: BisectReport) -> str:
    """What the count is measured against: the sequential search's budget, or the one round
    of mixes a fanned-out bisect ran in parallel."""
    if report.mixes and report.status is not Status.TESTED:
        jobs = len({mix.job for mix in report.mixes})
        return f"{len(report.mixes)} mixes in one round of {jobs} job{'s' if jobs != 1 else ''}"
    return f"budget {report.budget}"


def _count(report: BisectReport) -> str:
    noun = "environment" if report.environments == 1 else "environments"
    return f"{report.environments} {noun}, {report.built} built"


def render_bisect_text(report: BisectReport) -> str:
    """The replay report's text, then the culprits and every step."""
    lines = [render_text([report.replay]).rstrip("\n")]
    if report.status is Status.NOTHING:
        lines.append(f"  bisect: nothing to bisect ({report.reason})")
        return "\n".join(lines) + "\n"
    if report.status is Status.UNANSWERED:
        lines.append(f"  bisect: unanswered: {report.reason}")
    if report.status is Status.INTERACTION:
        lines.append(f"  bisect: no group of updates reproduces the change alone: {report.reason}")
    for mix in report.mixes:
        by = f" (job {mix.job})" if mix.job else ""
        lines.append(f"  mix {mix.id}: {mix.step.outcome.value}{by}")
    for change in report.culprits:
        lines.append(f"  culprit: {change}")
    if report.status is Status.CULPRITS and report.reason:
        lines.append(f"  note: {report.reason}")
    if not report.minimal:
        lines.append("  note: untestable mixes left open whether a smaller set reproduces it")
    if report.groups:
        lines.append(
            f"  bisect: {len(report.groups)} group{'s' if len(report.groups) != 1 else ''}, "
            f"{_count(report)} ({_bound(report)})"
        )
        for group in report.groups:
            if len(group.changes) > 1:
                lines.append(f"    moved together: {group}: {'; '.join(group.reasons)}")
    if report.steps:
        rows = [("step", "moved", "outcome", "verdict", "environment", "seconds")]
        total = sum(len(g.changes) for g in report.groups) or len(report.replay.lock_diff)
        for step in report.steps:
            rows.append(
                (
                    str(step.number),
                    _moved_text(step, total),
                    step.outcome.value,
                    "-" if step.verdict is None else step.verdict.value,
                    _environment_text(step),
                    f"{step.seconds:.1f}",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
            lines.append("    " + "  ".join(cells).rstrip())
        for step in report.steps:
            if step.detail:
                lines.append(f"    step {step.number}: {step.detail}")
    return "\n".join(lines) + "\n"


def render_bisect_markdown(report: BisectReport, *, heading: str = "###") -> str:
    """The bisect's own Markdown: culprits, groups and the steps table (no replay part)."""
    suite = markdown_code(report.replay.suite)
    reason = markdown_cell(report.reason or "")
    if report.status is Status.NOTHING:
        return f"Nothing to bisect in {suite}: {reason}.\n"
    out: list[str] = []
    if report.status is Status.UNANSWERED:
        out += [f"The bisect of {suite} was not answered: {reason}.", ""]
    if report.status is Status.INTERACTION:
        out += [f"No group of updates reproduces the change of {suite} alone: {reason}.", ""]
    if report.culprits:
        noun = "Culprit" if len(report.culprits) == 1 else "Culprits"
        found = ", ".join(f"**{c.name}** {c.moved('→')}" for c in report.culprits)
        out.append(f"{noun} in {suite}: {found}.")
        if report.status is Status.CULPRITS and report.reason:
            out += ["", f"> {reason}."]
        if not report.minimal:
            out += [
                "",
                "> Some mixes were untestable: a smaller set of updates may reproduce it too.",
            ]
        out.append("")
    if report.mixes:
        out += _mixes_markdown(report)
    if report.groups:
        plural = "s" if len(report.groups) != 1 else ""
        out += [
            f"{heading} Bisect of {suite}: {len(report.groups)} group{plural} of updates, "
            f"{_count(report)} ({_bound(report)})",
            "",
        ]
        tied = [g for g in report.groups if len(g.changes) > 1]
        out += [f"- moved together: {g} ({markdown_cell('; '.join(g.reasons))})" for g in tied]
        out += [""] if tied else []
    if report.steps:
        out += _steps_markdown(report)
    return "\n".join(out).rstrip("\n") + "\n"


def _steps_markdown(report: BisectReport) -> list[str]:
    total = sum(len(g.changes) for g in report.groups) or len(report.replay.lock_diff)
    out = [
        "| step | moved | outcome | verdict | environment | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for step in report.steps:
        cells = (
            str(step.number),
            _moved_text(step, total),
            step.outcome.value,
            "—" if step.verdict is None else step.verdict.value,
            _environment_text(step),
            f"{step.seconds:.1f}",
        )
        out.append(markdown_row(markdown_cell(cell) for cell in cells))
    out.append("")
    detailed = [step for step in report.steps if step.detail]
    out += [f"- step {step.number}: {markdown_cell(step.detail or '')}" for step in detailed]
    return [*out, ""] if detailed else out


def _mixes_markdown(report: BisectReport) -> list[str]:
    out = ["| mix | moved | outcome | verdict | job |", "|---|---|---|---|---|"]
    for mix in report.mixes:
        moved = ", ".join(change.name for change in mix.step.moved)
        cells = (
            markdown_code(mix.id),
            markdown_cell(moved),
            mix.step.outcome.value,
            "—" if mix.step.verdict is None else mix.step.verdict.value,
            markdown_code(mix.job) if mix.job else "—",
        )
        out.append(markdown_row(cells))
    return [*out, ""]


def render_bisect(fmt: ReportFormat, report: BisectReport) -> str:
    """The report in ``fmt``: JSON (the replay schema plus culprits and steps), text, Markdown."""
    if fmt is ReportFormat.JSON:
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt is ReportFormat.MARKDOWN:
        replay = render_markdown([report.replay]).replace(
            "## reprolock replay", "## reprolock bisect", 1
        )
        return replay + "\n" + render_bisect_markdown(report, heading="####")
    return render_bisect_text(report)
