"""The stable JSON report (schema 1), read by other tools and the update bot."""

from __future__ import annotations

import json
from typing import Any

from reprolock.model import Finding, Report, Severity
from reprolock.report.common import display

SCHEMA = 1


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """One finding in the JSON schema's field order."""
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "path": display(f.location.path),
        "line": f.location.line,
        "column": f.location.column,
        "subject": display(f.subject),
        "message": display(f.message),
        "fix": display(f.fix) if f.fix is not None else None,
        "fingerprint": f.fingerprint,
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    """The whole report as plain data."""
    return {
        "schema": SCHEMA,
        "tool": {"name": "reprolock", "version": report.version},
        "summary": {
            "files_scanned": report.files_scanned,
            "findings": len(report.findings),
            "error": report.count(Severity.ERROR),
            "warning": report.count(Severity.WARNING),
            "note": report.count(Severity.NOTE),
            "suppressed": report.suppressed,
        },
        "findings": [finding_to_dict(f) for f in report.findings],
    }


def render_json(report: Report) -> str:
    """The JSON report, indented, one finding per line, with a trailing newline.

    Each finding is encoded on its own line by the C encoder (json uses it only without
    ``indent``): a report of thousands of findings renders several times faster than with
    ``indent=2`` throughout, and stays readable and diffable line by line."""
    data = report_to_dict(report)
    findings = data.pop("findings")
    head = json.dumps(data, indent=2)
    if not findings:
        return head[:-2] + ',\n  "findings": []\n}\n'
    rows = ",\n".join(f"    {json.dumps(f)}" for f in findings)
    return f'{head[:-2]},\n  "findings": [\n{rows}\n  ]\n}}\n'
