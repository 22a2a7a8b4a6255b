"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` a finding."""

from __future__ import annotations

from reprolock.model import Finding, Report, Severity
from reprolock.report.common import display, message_with_fix
from reprolock.rules import RULES

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "notice"}


# Escaping as the Actions runner decodes it: no file content can end a property early or
# start a workflow command on a line of its own.
def escape_data(text: str) -> str:
    """Escape the message part of a workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (``file=``, ``title=`` ...) of a workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding, path_prefix: str = "") -> str:
    """One workflow command line, without the newline; ``file=`` is relative to the checkout."""
    rule = RULES.get(finding.rule)
    title = f"{finding.rule} {rule.name}" if rule else finding.rule
    loc = finding.location
    props = ",".join(
        (
            f"file={escape_property(display(path_prefix + loc.path))}",
            f"line={max(loc.line, 1)}",
            f"col={max(loc.column, 1)}",
            f"title={escape_property(title)}",
        )
    )
    return f"::{_COMMAND[finding.severity]} {props}::{escape_data(message_with_fix(finding))}"


def render_github(report: Report) -> str:
    """Every finding as an annotation, in report order ("" when there are none)."""
    return "".join(annotation(f, report.path_prefix) + "\n" for f in report.findings)
