"""The report of ``repro update``: what happened to each lock and suite, as the pull request's
Markdown body and as JSON."""

from __future__ import annotations

import enum
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reprolock.report.bisect import BisectReport, Status, render_bisect_markdown
from reprolock.report.common import markdown_cell, markdown_code, markdown_fence, markdown_row
from reprolock.report.diff import LockDiff
from reprolock.report.diff import render_markdown as render_diff_markdown
from reprolock.report.replay import Comparison, Verdict, worst

SCHEMA = 1
"""Version of the JSON report."""


class UpdateStatus(enum.Enum):
    """The answer of ``repro update``."""

    SAFE = "safe"
    """Every suite on an updated lock is identical or within tolerance (exit 0)."""
    CHANGED = "behaviour-change"
    """A suite changed or broke (exit 1)."""
    LOCK_ONLY = "lock-only"
    """Locks changed, but no suite uses them (exit 0)."""
    UP_TO_DATE = "up-to-date"
    """pip-compile found nothing to upgrade (exit 0)."""
    UNANSWERED = "unanswered"
    """A suite could not be replayed (exit 3)."""
    NOT_REPLAYED = "not-replayed"
    """Locks its suites use changed, and ``--no-replay`` left them to a CI matrix (exit 0:
    ``repro merge`` of the matrix's reports gives the verdict)."""

    @property
    def exit_code(self) -> int:
        """The CLI's exit code."""
        return {UpdateStatus.CHANGED: 1, UpdateStatus.UNANSWERED: 3}.get(self, 0)


@dataclass(frozen=True, kw_only=True, slots=True)
class LockUpdate:
    """What happened to one lock."""

    path: str
    """The lock, relative to the project."""
    candidate: str
    """The candidate's name in the report's commands (``model.candidate.txt``)."""
    sources: tuple[str, ...] = ()
    """pip-compile's input files (relative to where it runs); empty when none was found."""
    found_by: str | None = None
    """How the sources were found (``header``, ``.in beside the lock``, ``pyproject.toml``)."""
    command: str | None = None
    """The shell line, run from the project directory, that compiles the candidate again."""
    diff: LockDiff | None = None
    """The candidate against the lock; None when no candidate was compiled."""
    candidate_text: str | None = None
    """The candidate lock's text."""
    suites: tuple[str, ...] = ()
    """The suites that use the lock."""
    written: bool = False
    """Whether the lock was replaced by the candidate."""
    skipped: str | None = None
    """Why the lock was not compiled (no source found, none of ``--package`` in it)."""
    hashed: bool = True
    """Whether every package of the candidate has hashes."""

    @property
    def changed(self) -> bool:
        """Whether the candidate differs from the lock."""
        return self.diff is not None and bool(self.diff.changes)


@dataclass(frozen=True, kw_only=True, slots=True)
class SuiteUpdate:
    """One suite replayed (and bisected) against its lock's candidate."""

    suite: str
    """The suite's name."""
    lock: str
    """Its lock, relative to the project."""
    bisect: BisectReport | None = None
    """The replay and bisect; None when the suite could not be replayed."""
    error: str | None = None
    """Why it could not be replayed (no golden, no daemon)."""

    @property
    def answered(self) -> bool:
        """Whether the suite has a verdict that can be trusted."""

        return self.bisect is not None and self.bisect.status is not Status.UNANSWERED

    @property
    def changed(self) -> bool:
        """Whether the candidate changed or broke the suite."""

        return (
            self.answered
            and self.bisect is not None
            and (self.bisect.replay.verdict in {Verdict.CHANGED, Verdict.BROKEN})
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class UpdateReport:
    """Everything ``repro update`` found."""

    packages: tuple[str, ...] = ()
    """``--package`` values; empty: everything was upgraded."""
    locks: tuple[LockUpdate, ...] = ()
    """Every lock looked at."""
    suites: tuple[SuiteUpdate, ...] = ()
    """Every suite replayed."""
    configured_suites: int = 0
    """How many suites the config has."""
    write: bool = False
    """Whether ``--write`` was given."""
    force: bool = False
    """Whether ``--force`` was given."""
    notes: tuple[str, ...] = ()
    """Anything the reader must know (another Python compiled, a lock skipped)."""
    replayed: bool = True
    """False with ``--no-replay``: the suites were left to a CI matrix."""

    def accept_commands(self) -> list[tuple[str, str]]:
        """``(suite, command)`` for each suite whose lock was written although its behaviour
        changed: its golden still holds the old outputs until it is recorded again."""
        written = {lock.path for lock in self.locks if lock.written}
        return [
            (suite.suite, f"repro golden record --suite {suite.suite} --force")
            for suite in self.suites
            if suite.changed and suite.lock in written
        ]

    @property
    def status(self) -> UpdateStatus:
        """The answer, from the locks and suites."""
        if not any(lock.changed for lock in self.locks):
            return UpdateStatus.UP_TO_DATE
        if not self.replayed and any(lock.changed and lock.suites for lock in self.locks):
            return UpdateStatus.NOT_REPLAYED
        if any(suite.changed for suite in self.suites):
            return UpdateStatus.CHANGED
        if any(not suite.answered for suite in self.suites):
            return UpdateStatus.UNANSWERED
        if not self.suites:
            return UpdateStatus.LOCK_ONLY
        return UpdateStatus.SAFE

    @property
    def exit_code(self) -> int:
        """0 safe, lock-only or up to date; 1 behaviour change; 3 unanswered."""
        return self.status.exit_code

    def headline(self) -> str:
        """The verdict in one sentence (Markdown), first in the report."""
        status = self.status
        if status is UpdateStatus.UP_TO_DATE:
            what = "the locks are" if len(self.locks) > 1 else "the lock is"
            return (
                f"**Already up to date**: pip-compile found nothing to upgrade; {what} unchanged."
            )
        if status is UpdateStatus.CHANGED:
            parts = []
            for suite in self.suites:
                if not suite.changed or suite.bisect is None:
                    continue
                verdict = suite.bisect.replay.verdict.value
                change = "behaviour change" if verdict == "changed" else "breakage"
                culprits = suite.bisect.culprits
                cause = ""
                if culprits:
                    names = " and ".join(c.name for c in culprits)
                    together = " together" if len(culprits) > 1 else ""
                    moves = ", ".join(c.moved("→") for c in culprits)
                    cause = f" caused by {names}{together}** ({moves})"
                parts.append(f"{change} in suite {markdown_code(suite.suite)}{cause or '**'}")
            text = "; **".join(parts)
            return f"**{text[:1].upper()}{text[1:]}."
        if status is UpdateStatus.UNANSWERED:
            missing = [s for s in self.suites if not s.answered]
            names = ", ".join(markdown_code(s.suite) for s in missing)
            return f"**Not answered**: suite {names} could not be replayed; see below."
        if status is UpdateStatus.NOT_REPLAYED:
            names = ", ".join(
                markdown_code(name)
                for name in dict.fromkeys(
                    n for lock in self.locks if lock.changed for n in lock.suites
                )
            )
            return (
                f"**Not replayed here**: the updated locks are compiled; suite {names} is left "
                "to the replay matrix (`repro plan`, `repro merge`)."
            )
        if status is UpdateStatus.LOCK_ONLY:
            if self.configured_suites:
                return (
                    "**Lock-only update**: no golden suite uses the updated locks, so no "
                    "behaviour was replayed."
                )
            return (
                "**Lock-only update**: no golden suites are configured, so no behaviour was "
                "replayed."
            )
        verdicts = ", ".join(
            f"{markdown_code(s.suite)} {s.bisect.replay.verdict.value}"
            for s in self.suites
            if s.bisect
        )
        return f"**Safe update**: every suite behaves the same ({verdicts})."

    def summary_line(self) -> str:
        """The one-line stderr summary (plain text)."""
        return self.headline().replace("**", "").replace("`", "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""

        verdicts = [s.bisect.replay.verdict for s in self.suites if s.answered and s.bisect]
        return {
            "schema": SCHEMA,
            "status": self.status.value,
            "summary": self.summary_line(),
            "verdict": worst(verdicts).value if verdicts else None,
            "packages": list(self.packages),
            "locks": [_lock_dict(lock) for lock in self.locks],
            "suites": [_suite_dict(suite) for suite in self.suites],
            "written": [lock.path for lock in self.locks if lock.written],
            "notes": list(self.notes),
        }


def _lock_dict(lock: LockUpdate) -> dict[str, Any]:
    return {
        "path": lock.path,
        "candidate": lock.candidate,
        "sources": list(lock.sources),
        "found_by": lock.found_by,
        "command": lock.command,
        "changes": [] if lock.diff is None else [c.to_dict() for c in lock.diff.changes],
        "summary": None if lock.diff is None else lock.diff.summary,
        "hashed": lock.hashed,
        "suites": list(lock.suites),
        "written": lock.written,
        "skipped": lock.skipped,
    }


def _suite_dict(suite: SuiteUpdate) -> dict[str, Any]:
    if suite.bisect is None:
        return {
            "schema": SCHEMA,
            "suite": suite.suite,
            "lock": suite.lock,
            "verdict": None,
            "error": suite.error,
            "culprits": [],
        }
    data = suite.bisect.to_dict()
    data["lock"] = suite.lock
    return data


def _upgrade_text(packages: Sequence[str]) -> str:
    if not packages:
        return "every package (`pip-compile --upgrade`)"
    names = ", ".join(markdown_code(p) for p in packages)
    return f"{names} only (`pip-compile --upgrade-package`)"


def render_markdown(report: UpdateReport) -> str:
    """The pull-request body: verdict, lock changes, suites, culprits, how to reproduce."""
    out = ["## reprolock update", "", report.headline(), ""]
    out.append(f"Upgraded: {_upgrade_text(report.packages)}.")
    written = [lock.path for lock in report.locks if lock.written]
    changed = [lock for lock in report.locks if lock.changed]
    if written:
        forced = " (`--force`)" if report.force and report.status is UpdateStatus.CHANGED else ""
        out.append(f"Written{forced}: {', '.join(markdown_code(p) for p in written)}.")
        out.extend(
            f"The golden of {markdown_code(suite)} still holds the old behaviour; accept the new "
            f"one with `{command}`."
            for suite, command in report.accept_commands()
        )
    elif report.write and changed:
        why = {
            UpdateStatus.CHANGED: "behaviour changed (`--force` writes anyway)",
            UpdateStatus.UNANSWERED: "a suite was not answered (`--force` writes anyway)",
        }.get(report.status, "")
        if why:
            out.append(f"Not written: {why}.")
    out.append("")
    out.extend(f"> {markdown_cell(note)}" for note in report.notes)
    if report.notes:
        out.append("")
    if report.status is UpdateStatus.UP_TO_DATE:
        for lock in report.locks:
            if lock.skipped:
                out.append(
                    f"- {markdown_code(lock.path)}: not compiled: {markdown_cell(lock.skipped)}"
                )
        return "\n".join(out).rstrip("\n") + "\n"

    out += ["### Lock changes", ""]
    for lock in report.locks:
        if lock.skipped:
            out += [f"{markdown_code(lock.path)}: not compiled: {markdown_cell(lock.skipped)}.", ""]
            continue
        if lock.diff is None:
            continue
        body = render_diff_markdown(lock.diff).removeprefix("### Lock changes\n\n")
        out += [body.rstrip("\n"), ""]
        if not lock.hashed:
            out += ["> [!WARNING]", "> The candidate has packages without hashes.", ""]

    out += ["### Suites", ""]
    if not report.suites and not report.replayed:
        out.append("Not replayed here (`--no-replay`): the replay matrix gives their verdicts.")
        out.append("")
    elif not report.suites:
        if report.configured_suites:
            out.append("No golden suite uses an updated lock: nothing was replayed.")
        else:
            out.append(
                "No golden suites are configured (`[tool.repro.suites.NAME]`): the update is "
                "checked by the lock diff alone."
            )
        out.append("")
    else:
        out += _suites_table(report)
    culprits = [s for s in report.suites if s.bisect is not None and s.bisect.culprits]
    if culprits:
        out += ["### Culprits", ""]
        for suite in culprits:
            assert suite.bisect is not None  # noqa: S101 - filtered above
            out += [render_bisect_markdown(suite.bisect, heading="####").rstrip("\n"), ""]
    out += _reproduce(report)
    return "\n".join(out).rstrip("\n") + "\n"


def _suites_table(report: UpdateReport) -> list[str]:
    out = [
        "| suite | lock | verdict | compared with | culprits |",
        "|---|---|---|---|---|",
    ]
    details: list[str] = []
    for suite in report.suites:
        name, lock = markdown_code(suite.suite), markdown_code(suite.lock)
        if suite.bisect is None:
            out.append(markdown_row((name, lock, "not answered", "—", "—")))
            details += [f"{name}: {markdown_cell(suite.error or 'not answered')}.", ""]
            continue
        replay = suite.bisect.replay
        culprits = ", ".join(c.name for c in suite.bisect.culprits) or "—"
        compared = "golden" if replay.baseline.value == "golden" else "fresh baseline"
        verdict = replay.verdict.value
        if not suite.answered:
            verdict = f"{verdict} (not answered)"
        out.append(markdown_row((name, lock, f"**{verdict}**", compared, culprits)))
        if replay.comparison is not None:
            details += [f"{name}, per output:", "", *_outputs_table(replay.comparison)]
        if replay.error:
            fence = markdown_fence(replay.error.rstrip("\n"), "text")
            details += [f"{name}:", "", fence.rstrip("\n"), ""]
        if suite.bisect.reason and not suite.answered:
            details += [f"{name}: {markdown_cell(suite.bisect.reason)}.", ""]
        details += [f"> {name}: {markdown_cell(note)}" for note in replay.notes]
        if replay.notes:
            details.append("")
    return [*out, "", *details]


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _outputs_table(comparison: Comparison) -> list[str]:
    """Per output: verdict, mismatches, largest errors and label flips."""
    out = [
        "| output | verdict | mismatches | max abs | max rel | flips | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in comparison.outputs:
        cells = (
            markdown_code(o.name),
            o.verdict.value if o.verdict is Verdict.IDENTICAL else f"**{o.verdict.value}**",
            f"{o.mismatches}/{o.total}",
            _number(o.max_abs),
            _number(o.max_rel),
            "—" if o.label_flips is None else str(o.label_flips),
            markdown_cell("; ".join(o.notes)) or "—",
        )
        out.append(markdown_row(cells))
    return [*out, ""]


def _reproduce(report: UpdateReport) -> list[str]:
    out = ["### Reproduce locally", ""]
    out.append(
        "From the project directory, with the locks as they were before this update. "
        "pip-compile uses your pip configuration and the index as it is when you run it: a "
        "release since this report can give another candidate."
    )
    out += ["", "```sh"]
    for lock in report.locks:
        line = lock.command
        if line is None or not lock.changed:
            continue
        if report.packages:
            # --upgrade-package keeps every other pin of the file it writes over
            out.append(f"cp {shlex.quote(lock.path)} {shlex.quote(lock.candidate)}")
        out.append(line)
        out.append(f"repro diff {shlex.quote(lock.path)} {shlex.quote(lock.candidate)}")
        for suite in report.suites:
            if suite.lock != lock.path:
                continue
            out.append(
                f"repro replay --suite {shlex.quote(suite.suite)} --lock "
                f"{shlex.quote(lock.candidate)}"
            )
            if suite.changed:
                out.append(
                    f"repro bisect --suite {shlex.quote(suite.suite)} --lock "
                    f"{shlex.quote(lock.candidate)}"
                )
    flags = "".join(f" --package {shlex.quote(p)}" for p in report.packages)
    out += ["```", "", f"Or all of it at once: `repro update{flags}`.", ""]
    return out
