"""The replay report: verdicts, per-output comparisons and what a replay found, as JSON (stable
schema), text and Markdown. The harness fills it; nothing here runs anything."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reprolock.report.common import markdown_cell, markdown_code, markdown_fence, markdown_row

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


class Verdict(enum.Enum):
    """How a candidate's outputs relate to the golden ones; ordered from best to worst."""

    IDENTICAL = "identical"
    WITHIN_TOLERANCE = "within-tolerance"
    CHANGED = "changed"
    BROKEN = "broken"

    @property
    def rank(self) -> int:
        """A number that grows as the verdict gets worse: identical 0 ... broken 3."""
        return _RANK[self]


_RANK = {
    Verdict.IDENTICAL: 0,
    Verdict.WITHIN_TOLERANCE: 1,
    Verdict.CHANGED: 2,
    Verdict.BROKEN: 3,
}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst of ``verdicts``; ``identical`` when there are none."""
    return max(verdicts, key=lambda v: v.rank, default=Verdict.IDENTICAL)


@dataclass(frozen=True, kw_only=True, slots=True)
class Difference:
    """One element among those furthest outside tolerance."""

    index: tuple[int, ...]
    """Its index in the output (one number per axis)."""
    golden: float | int | str
    """The reference's value (the golden, or a fresh baseline)."""
    new: float | int | str
    """The candidate's value."""

    def to_dict(self) -> dict[str, Any]:
        """``{"index": [...], "golden": ..., "new": ...}`` (JSON-safe)."""
        return {
            "index": list(self.index),
            "golden": _json_value(self.golden),
            "new": _json_value(self.new),
        }

    def __str__(self) -> str:
        where = ", ".join(str(i) for i in self.index)
        return f"[{where}] {_value(self.golden)} -> {_value(self.new)}"


@dataclass(frozen=True, kw_only=True, slots=True)
class OutputComparison:
    """The comparison of one named output."""

    name: str
    """The output's name (the key in the ``.npz``)."""
    verdict: Verdict
    """``identical``, ``within-tolerance`` or ``changed``."""
    mismatches: int
    """Elements outside tolerance (exact outputs: differing elements)."""
    total: int
    """Elements compared: the golden output's size (an extra output's own size)."""
    max_abs: float | None = None
    """Largest ``|a-g|`` over finite pairs."""
    max_rel: float | None = None
    """Largest ``|a-g|/|g|`` over finite pairs with ``g != 0``."""
    max_ulp: int | None = None
    """Largest distance in units in the last place (same-dtype float16/32/64 only)."""
    label_flips: int | None = None
    """Differing labels (exact outputs) or rows whose argmax moved (2-D float outputs)."""
    notes: tuple[str, ...] = ()
    """Why it changed beyond the numbers: missing, extra, shape, dtype, NaN/inf pattern."""
    rtol: float | None = None
    """The relative tolerance it was compared with (None for an output only one run has)."""
    atol: float | None = None
    """The absolute tolerance it was compared with."""
    max_label_flip_rate: float | None = None
    """The label flip rate it was allowed."""
    moved: int | None = None
    """Elements whose bits changed, within tolerance or not (float outputs of one dtype)."""
    top: tuple[Difference, ...] = ()
    """The elements furthest outside tolerance, largest difference first (at most five)."""
    passing_atol: float | None = None
    """The smallest ``atol`` with which every finite element would pass, at the same rtol."""

    @property
    def tolerance(self) -> str:
        """``rtol 1e-05, atol 1e-07`` (and the allowed flip rate when there is one)."""
        if self.rtol is None:
            return ""
        text = f"rtol {self.rtol:g}, atol {self.atol or 0:g}"
        if self.max_label_flip_rate:
            text += f", max label flip rate {self.max_label_flip_rate:g}"
        return text

    @property
    def label_flip_rate(self) -> float | None:
        """``label_flips / total``; None when there are no label flips to rate."""
        if self.label_flips is None or not self.total:
            return None
        return self.label_flips / self.total

    def to_dict(self) -> dict[str, Any]:
        """The entry of the replay report's ``outputs`` mapping (JSON-safe)."""
        return {
            "verdict": self.verdict.value,
            "mismatches": self.mismatches,
            "total": self.total,
            "max_abs": _json_float(self.max_abs),
            "max_rel": _json_float(self.max_rel),
            "max_ulp": self.max_ulp,
            "label_flips": self.label_flips,
            "notes": list(self.notes),
            "tolerance": None
            if self.rtol is None
            else {
                "rtol": self.rtol,
                "atol": self.atol,
                "max_label_flip_rate": self.max_label_flip_rate,
            },
            "moved": self.moved,
            "top": [difference.to_dict() for difference in self.top],
            "passing_atol": _json_float(self.passing_atol),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Comparison:
    """The comparison of a whole run: the worst output verdict and every output's details."""

    verdict: Verdict
    """Worst of the outputs' verdicts (``identical`` when both runs have no outputs)."""
    outputs: tuple[OutputComparison, ...]
    """One entry per output name in either run, sorted by name."""

    def to_dict(self) -> dict[str, Any]:
        """``verdict`` and the ``outputs`` mapping of the replay report."""
        return {
            "verdict": self.verdict.value,
            "outputs": {out.name: out.to_dict() for out in self.outputs},
        }


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

    def moved(self, arrow: str = "->") -> str:
        """``1.3.2 -> 1.4.2``; ``1.0 (another wheel)`` when a wheel changed under one version."""
        if self.old is not None and self.old == self.new:
            return f"{self.old} (another wheel)"
        return f"{self.old or '(absent)'} {arrow} {self.new or '(absent)'}"

    def __str__(self) -> str:
        return f"{self.name} {self.moved()}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Machine:
    """Where a candidate ran: what makes float results machine-dependent, and the images.

    A report carries it so that reports from several runners (a CI matrix) can be told apart
    when they are merged: the same verdict on two CPUs is two facts, not one.
    """

    cpu_model: str | None = None
    """The CPU model the container saw."""
    cpu_flags_sha256: str | None = None
    """sha256 of the sorted CPU flags, one per line (they pick the BLAS kernel)."""
    blas: tuple[tuple[str, str], ...] = ()
    """``(internal API, architecture)`` of each BLAS or OpenMP library loaded, sorted."""
    base_image_id: str | None = None
    """The base image's id on the daemon that ran it."""
    image_id: str | None = None
    """The environment image's id."""

    def to_dict(self) -> dict[str, Any]:
        """The ``machine`` object of the JSON report."""
        return {
            "cpu_model": self.cpu_model,
            "cpu_flags_sha256": self.cpu_flags_sha256,
            "blas": [list(pair) for pair in self.blas],
            "base_image_id": self.base_image_id,
            "image_id": self.image_id,
        }

    def describe(self) -> str:
        """``Intel(R) Xeon(R) ... (openblas Haswell)``: the CPU and its BLAS kernels."""
        kernels = ", ".join(f"{api} {arch}".strip() for api, arch in self.blas if api != "openmp")
        return f"{self.cpu_model or 'unknown CPU'} ({kernels or 'no BLAS information'})"


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
    """Whether this machine's CPU model, CPU flags and base image match the golden's; None if
    unknown. The BLAS kernel is the environment's (a note says when the candidate's differs)."""
    error: str | None = None
    """Why the candidate is broken: the install log or the container's error."""
    notes: tuple[str, ...] = ()
    """Anything the reader must know to trust the verdict (attribution, machine)."""
    machine: Machine | None = None
    """Where the candidate ran; None when nothing ran."""

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
            "machine": None if self.machine is None else self.machine.to_dict(),
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
    """One line on one output: ``changed: 41 of 300 differ (13.7%), 41 label flips``; a
    verdict within tolerance names the tolerance and how many elements moved; a changed one
    the ``atol`` that would pass. The largest differences are :func:`describe_top`'s."""
    parts = [out.verdict.value]
    if out.verdict is Verdict.WITHIN_TOLERANCE and out.tolerance:
        parts[0] += f" ({out.tolerance})"
    if out.verdict is Verdict.WITHIN_TOLERANCE and out.moved is not None:
        parts.append(f"{out.moved} moved, {out.mismatches} outside tolerance")
    elif out.verdict is not Verdict.IDENTICAL and out.total:
        parts.append(
            f"{out.mismatches} of {out.total} differ ({_percent(out.mismatches, out.total)})"
        )
    if out.label_flips:
        parts.append(f"{out.label_flips} label flip{'' if out.label_flips == 1 else 's'}")
    if out.max_abs:
        parts.append(f"max abs {_number(out.max_abs)}")
    if out.max_rel:
        parts.append(f"max rel {_number(out.max_rel)}")
    if out.verdict is Verdict.CHANGED and not out.notes:
        if out.passing_atol is not None:
            parts.append(f"would pass with atol >= {_number(out.passing_atol)}")
        elif out.moved is None and out.label_flips and out.total:
            parts.append(
                f"would pass with max-label-flip-rate >= {_number(out.label_flips / out.total)}"
            )
    text = parts[0] + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")
    if out.notes:
        text += "; " + "; ".join(out.notes)
    return text


def describe_top(out: OutputComparison) -> str | None:
    """``largest differences (index: golden -> new): [12, 3] 0.51 -> 0.48, ...``, or None."""
    if not out.top:
        return None
    return "largest differences (index: golden -> new): " + ", ".join(str(d) for d in out.top)


def _indent(text: str, prefix: str) -> str:
    return "".join(f"{prefix}{line}\n" for line in text.splitlines())


def render_text(reports: Sequence[ReplayReport]) -> str:
    """The human report: per suite its verdict, lock changes, outputs and notes."""
    blocks = []
    for report in reports:
        lines = [f"{report.suite}: {report.verdict.value}"]
        lines.append(f"  candidate: {report.candidate_lock}")
        changes = ", ".join(str(c) for c in report.lock_diff) or "none"
        lines.append(f"  lock changes: {changes}")
        if report.error:
            lines.append("  error:")
            lines.append(_indent(report.error, "    ").rstrip("\n"))
        if report.comparison is not None:
            lines.append(f"  compared with: {_baseline_text(report.baseline)}")
            lines += _outputs_text(report.comparison)
        if report.golden_comparison is not None:
            reproduces = "yes" if report.golden_reproduces else "no"
            lines.append(f"  the suite's own lock reproduces the golden here: {reproduces}")
            lines += _outputs_text(report.golden_comparison)
        lines.append(f"  attributable: {'yes' if report.attributable else 'no'}")
        lines.extend(f"  note: {note}" for note in report.notes)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def _outputs_text(comparison: Comparison) -> list[str]:
    width = max((len(o.name) for o in comparison.outputs), default=0)
    lines = []
    for out in comparison.outputs:
        lines.append(f"    {out.name:<{width}}  {describe_output(out)}")
        top = describe_top(out)
        if top is not None:
            lines.append(f"    {'':<{width}}  {top}")
    return lines


def _baseline_text(baseline: Baseline) -> str:
    if baseline is Baseline.FRESH:
        return "the suite's own lock, run on this machine"
    return "the golden outputs"


def render_markdown(reports: Sequence[ReplayReport]) -> str:
    """A Markdown section per suite, for a pull-request comment or a job summary."""
    out = ["## reprolock replay", ""]
    for report in reports:
        out.append(f"### {markdown_code(report.suite)}: **{report.verdict.value}**")
        out.append("")
        attributable = "yes" if report.attributable else "no"
        candidate = markdown_code(report.candidate_lock)
        out.append(f"Candidate: {candidate}; attributable: {attributable}.")
        out.append("")
        if report.lock_diff:
            out.extend(["| package | old | new |", "|---|---|---|"])
            out.extend(markdown_row((c.name, c.old or "—", c.new or "—")) for c in report.lock_diff)
            out.append("")
        if report.error:
            out.extend([markdown_fence(report.error.rstrip("\n"), "text").rstrip("\n"), ""])
        for title, comparison in (
            (f"Compared with {_baseline_text(report.baseline)}", report.comparison),
            ("The suite's own lock against the golden, on this machine", report.golden_comparison),
        ):
            if comparison is not None:
                out.extend([f"{title}:", "", *_outputs_markdown(comparison)])
        out.extend(f"> {markdown_cell(note)}" for note in report.notes)
        if report.notes:
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _outputs_markdown(comparison: Comparison) -> list[str]:
    out = [
        "| output | verdict | mismatches | max abs | max rel | max ULP | flips |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in comparison.outputs:
        cells = (
            markdown_code(o.name),
            o.verdict.value
            + (
                f" ({o.tolerance})" if o.verdict is Verdict.WITHIN_TOLERANCE and o.tolerance else ""
            ),
            f"{o.mismatches}/{o.total}",
            _number(o.max_abs),
            _number(o.max_rel),
            "-" if o.max_ulp is None else str(o.max_ulp),
            "-" if o.label_flips is None else str(o.label_flips),
        )
        out.append(markdown_row(cells))
    out.append("")
    noted = [o for o in comparison.outputs if o.notes or o.top]
    for o in noted:
        said = [*o.notes, *([describe_top(o) or ""] if o.top else [])]
        if o.verdict is Verdict.CHANGED and o.passing_atol is not None and not o.notes:
            said.append(f"would pass with atol >= {_number(o.passing_atol)}")
        out.append(f"- {markdown_code(o.name)}: {markdown_cell('; '.join(said))}")
    return [*out, ""] if noted else out


def summary_line(reports: Sequence[ReplayReport]) -> str:
    """The one-line stderr summary: ``segments: changed; pickled: broken``."""
    return "; ".join(f"{r.suite}: {r.verdict.value}" for r in reports)


def _value(value: float | int | str) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _json_value(value: float | int | str) -> float | int | str | None:
    return _json_float(value) if isinstance(value, float) else value


def _json_float(value: float | None) -> float | str | None:
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)
