"""The replay report: what a replay found, as JSON (stable schema), text and Markdown."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reprolock.harness.compare import Comparison, OutputComparison, Verdict, worst

SCHEMA = 1
"""Version of the JSON report; bumped only for an incompatible change."""
EXCERPT_CHARS = 4096
"""Most characters of a container's or a build's error carried in a report."""
_HEADLINE_CHARS = 300


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to about ``limit`` characters: its first line (the headline, itself cut to
    a few hundred) and as much of its end (where it failed) as fits, marked ``[...]``."""
    if len(text) <= limit:
        return text
    headline, _, rest = text.partition("\n")
    if len(headline) > _HEADLINE_CHARS:
        headline = headline[:_HEADLINE_CHARS] + " [...]"
    room = max(0, limit - len(headline))
    tail = rest[-room:] if room else ""
    if len(tail) < len(rest):
        # Start the tail at a line boundary when one is near; a line of megabytes has none.
        cut = tail.find("\n")
        if 0 <= cut < 200:
            tail = tail[cut + 1 :]
        return f"{headline}\n[...]\n{tail}" if tail else headline
    return f"{headline}\n{tail}" if tail else headline


class ReportFormat(enum.Enum):
    """Formats of ``repro replay --format``."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


class Baseline(enum.Enum):
    """What the candidate's outputs were compared with."""

    GOLDEN = "golden"
    """The stored golden outputs."""
    FRESH = "fresh-baseline"
    """The suite's own lock, run here and now (another machine recorded the golden)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LockChange:
    """One package that differs between the suite's lock and the candidate."""

    name: str
    """Canonical package name."""
    old: str | None
    """Version in the suite's lock; None when the candidate adds the package."""
    new: str | None
    """Version in the candidate; None when the candidate drops the package."""

    def to_dict(self) -> dict[str, str | None]:
        """The ``lock_diff`` entry of the JSON report."""
        return {"name": self.name, "old": self.old, "new": self.new}

    def __str__(self) -> str:
        return f"{self.name} {self.old or '(absent)'} -> {self.new or '(absent)'}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplayReport:
    """The outcome of replaying one suite against a candidate lock."""

    suite: str
    """The suite's name."""
    verdict: Verdict
    """The candidate's verdict (against :attr:`baseline`)."""
    attributable: bool
    """True when the source tree and the inputs are those the golden was recorded with."""
    candidate_lock: str
    """The candidate lock as given (a display path)."""
    image: str | None = None
    """The candidate's environment image tag; None when it did not build."""
    lock_diff: tuple[LockChange, ...] = ()
    """Packages that differ between the suite's lock and the candidate."""
    comparison: Comparison | None = None
    """Per-output comparison; None when the candidate is broken."""
    baseline: Baseline = Baseline.GOLDEN
    """What the candidate was compared with."""
    golden_reproduces: bool | None = None
    """Whether the suite's own lock reproduces the golden here; None when not measured."""
    golden_comparison: Comparison | None = None
    """The fresh baseline against the golden, when a fresh baseline ran."""
    machine_matches_golden: bool | None = None
    """Whether this machine's CPU, BLAS and base image match the golden's; None if unknown."""
    error: str | None = None
    """Why the candidate is broken: the install log or the container's error."""
    notes: tuple[str, ...] = ()
    """Anything the reader must know to trust the verdict (attribution, machine)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of one suite (DESIGN.md: "Machine-readable output")."""
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "suite": self.suite,
            "verdict": self.verdict.value,
            "attributable": self.attributable,
            "lock_diff": [change.to_dict() for change in self.lock_diff],
            "outputs": _outputs(self.comparison),
            "compared_with": self.baseline.value,
            "golden_reproduces": self.golden_reproduces,
            "machine_matches_golden": self.machine_matches_golden,
            "candidate": {"lock": self.candidate_lock, "image": self.image},
            "error": self.error,
            "notes": list(self.notes),
        }
        if self.golden_comparison is not None:
            data["golden_outputs"] = _outputs(self.golden_comparison)
        return data


def _outputs(comparison: Comparison | None) -> dict[str, Any]:
    if comparison is None:
        return {}
    return {out.name: out.to_dict() for out in comparison.outputs}


def overall(reports: Sequence[ReplayReport]) -> Verdict:
    """The worst verdict of several suites."""
    return worst(report.verdict for report in reports)


def render(fmt: ReportFormat, reports: Sequence[ReplayReport], *, single: bool) -> str:
    """The report in ``fmt``; ``single`` gives JSON the one-suite shape of DESIGN.md."""
    if fmt is ReportFormat.JSON:
        return render_json(reports, single=single)
    if fmt is ReportFormat.MARKDOWN:
        return render_markdown(reports)
    return render_text(reports)


def render_json(reports: Sequence[ReplayReport], *, single: bool) -> str:
    """One suite's object when ``single``; else ``{"schema", "verdict", "suites": [...]}``."""
    if single:
        (report,) = reports
        data: dict[str, Any] = report.to_dict()
    else:
        data = {
            "schema": SCHEMA,
            "verdict": overall(reports).value,
            "suites": [report.to_dict() for report in reports],
        }
    return json.dumps(data, indent=2) + "\n"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}"


def _percent(part: int, total: int) -> str:
    if not total:
        return "0%"
    share = 100 * part / total
    return f"{share:.1f}%" if share >= 0.1 or not part else "<0.1%"


def describe_output(out: OutputComparison) -> str:
    """One line on one output: ``changed: 41 of 300 differ (13.7%), 41 label flips``."""
    parts = [out.verdict.value]
    if out.verdict is not Verdict.IDENTICAL and out.total:
        parts.append(
            f"{out.mismatches} of {out.total} differ ({_percent(out.mismatches, out.total)})"
        )
    if out.label_flips:
        parts.append(f"{out.label_flips} label flip{'' if out.label_flips == 1 else 's'}")
    if out.max_abs:
        parts.append(f"max abs {_number(out.max_abs)}")
    if out.max_rel:
        parts.append(f"max rel {_number(out.max_rel)}")
    if out.max_ulp:
        parts.append(f"max ULP {out.max_ulp}")
    text = parts[0] + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")
    if out.notes:
        text += "; " + "; ".join(out.notes)
    return text


def _indent(text: str, prefix: str) -> str:
    return "".join(f"{prefix}{line}\n" for line in text.splitlines())


def render_text(reports: Sequence[ReplayReport]) -> str:
    """The human report: per suite its verdict, lock changes, outputs and notes."""
    blocks = []
    for report in reports:
        lines = [f"{report.suite}: {report.verdict.value}"]
        lines.append(f"  candidate: {report.candidate_lock}")
        if report.lock_diff:
            lines.append("  lock changes: " + ", ".join(str(c) for c in report.lock_diff))
        else:
            lines.append("  lock changes: none")
        if report.error:
            lines.append("  error:")
            lines.append(_indent(report.error, "    ").rstrip("\n"))
        if report.comparison is not None:
            lines.append(f"  compared with: {_baseline_text(report.baseline)}")
            width = max((len(o.name) for o in report.comparison.outputs), default=0)
            for out in report.comparison.outputs:
                lines.append(f"    {out.name:<{width}}  {describe_output(out)}")
        if report.golden_comparison is not None:
            reproduces = "yes" if report.golden_reproduces else "no"
            lines.append(f"  the suite's own lock reproduces the golden here: {reproduces}")
            width = max((len(o.name) for o in report.golden_comparison.outputs), default=0)
            for out in report.golden_comparison.outputs:
                lines.append(f"    {out.name:<{width}}  {describe_output(out)}")
        lines.append(f"  attributable: {'yes' if report.attributable else 'no'}")
        lines.extend(f"  note: {note}" for note in report.notes)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _baseline_text(baseline: Baseline) -> str:
    if baseline is Baseline.FRESH:
        return "the suite's own lock, run on this machine"
    return "the golden outputs"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(reports: Sequence[ReplayReport]) -> str:
    """A Markdown section per suite, for a pull-request comment or a job summary."""
    out = ["## reprolock replay", ""]
    for report in reports:
        out.append(f"### `{report.suite}`: **{report.verdict.value}**")
        out.append("")
        attributable = "yes" if report.attributable else "no"
        out.append(f"Candidate: `{report.candidate_lock}`; attributable: {attributable}.")
        out.append("")
        if report.lock_diff:
            out.extend(["| package | old | new |", "|---|---|---|"])
            out.extend(f"| {c.name} | {c.old or '—'} | {c.new or '—'} |" for c in report.lock_diff)
            out.append("")
        if report.error:
            out.extend(["```text", report.error.rstrip("\n"), "```", ""])
        for title, comparison in (
            (f"Compared with {_baseline_text(report.baseline)}", report.comparison),
            ("The suite's own lock against the golden, on this machine", report.golden_comparison),
        ):
            if comparison is None:
                continue
            out.extend([f"{title}:", ""])
            out.append("| output | verdict | mismatches | max abs | max rel | max ULP | flips |")
            out.append("|---|---|---|---|---|---|---|")
            for o in comparison.outputs:
                cells = [
                    f"`{o.name}`",
                    o.verdict.value,
                    f"{o.mismatches}/{o.total}",
                    _number(o.max_abs),
                    _number(o.max_rel),
                    "-" if o.max_ulp is None else str(o.max_ulp),
                    "-" if o.label_flips is None else str(o.label_flips),
                ]
                out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
            out.append("")
            notes = [f"`{o.name}`: {'; '.join(o.notes)}" for o in comparison.outputs if o.notes]
            out.extend(f"- {_cell(n)}" for n in notes)
            if notes:
                out.append("")
        out.extend(f"> {_cell(note)}" for note in report.notes)
        if report.notes:
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def summary_line(reports: Sequence[ReplayReport]) -> str:
    """The one-line stderr summary: ``segments: changed; pickled: broken``."""
    return "; ".join(f"{r.suite}: {r.verdict.value}" for r in reports)
