"""Markdown for pull-request comments and job summaries: counts, then a table of findings."""

from __future__ import annotations

from reprolock.model import Finding, Report, Severity
from reprolock.report.common import display, markdown_code, markdown_row, markdown_text
from reprolock.rules import RULES

HEADING = "## reprolock"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _summary(report: Report) -> str:
    files = _plural(report.files_scanned, "file")
    suppressed = f"; {report.suppressed} suppressed" if report.suppressed else ""
    if not report.findings:
        return f"**No findings** in {files} scanned{suppressed}."
    counts = ", ".join(
        _plural(report.count(s), s.value) for s in (Severity.ERROR, Severity.WARNING, Severity.NOTE)
    )
    total = _plural(len(report.findings), "finding")
    return f"**{total}** ({counts}) in {files} scanned{suppressed}."


def _row(f: Finding) -> str:
    # Text from audited files is escaped: it cannot split the row, inject HTML or links,
    # or turn into math.
    rule = RULES.get(f.rule)
    rule_cell = f"{f.rule} {markdown_text(rule.name)}" if rule else markdown_text(f.rule)
    return markdown_row(
        (
            f.severity.value,
            rule_cell,
            markdown_code(f"{display(f.location.path)}:{f.location.line}"),
            markdown_text(display(f.message)),
            markdown_code(display(f.fix or "")),
        )
    )


def _rule_notes(findings: tuple[Finding, ...]) -> list[str]:
    seen = {f.rule for f in findings}
    lines = ["<details>", "<summary>About these rules</summary>", ""]
    for rule in RULES.values():
        if rule.id in seen:
            lines.append(f"- **{rule.id} {rule.name}**: {rule.summary}. Fix: {rule.fix}")
    lines += ["", "Run `repro rules ID` for the rationale and an example.", "", "</details>"]
    return lines


def render_markdown(report: Report) -> str:
    """The Markdown report, ending with a newline."""
    lines = [HEADING, "", _summary(report)]
    if report.findings:
        # Errors first: the rows a reviewer must act on lead, and the order is still total.
        ordered = sorted(report.findings, key=lambda f: (-f.severity.rank, f.sort_key))
        lines += [
            "",
            "| Severity | Rule | Location | Message | Fix |",
            "| --- | --- | --- | --- | --- |",
            *(_row(f) for f in ordered),
            "",
            *_rule_notes(report.findings),
        ]
    return "\n".join(lines) + "\n"
