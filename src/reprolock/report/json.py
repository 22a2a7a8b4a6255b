"""The stable JSON report (schema 1), read by other tools and the update bot."""

from __future__ import annotations

import json
from typing import Any

from reprolock.model import Finding, Report, Severity

SCHEMA = 1


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """One finding in the JSON schema's field order."""
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "path": f.location.path,
        "line": f.location.line,
        "column": f.location.column,
        "subject": f.subject,
        "message": f.message,
        "fix": f.fix,
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
    """The JSON report, indented, with a trailing newline."""
    return json.dumps(report_to_dict(report), indent=2) + "\n"
