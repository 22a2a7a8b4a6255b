"""The stable JSON report: DESIGN.md's schema, field names, types and order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from reprolock.model import Report
from reprolock.report.json import render_json
from tests.report.samples import clean_report, nasty_report, sample_report

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "report.schema.json"

# The example of DESIGN.md ("Machine-readable output"), verbatim but for the fingerprint.
DESIGN_EXAMPLE = {
    "schema": 1,
    "tool": {"name": "reprolock", "version": "0.1.0"},
    "summary": {"files_scanned": 12, "findings": 3, "error": 2, "warning": 1, "note": 0},
    "findings": [
        {
            "rule": "RP101",
            "severity": "error",
            "path": "serve/requirements.txt",
            "line": 3,
            "column": 1,
            "subject": "numpy",
            "message": "numpy is not pinned",
            "fix": "numpy==1.26.4",
            "fingerprint": "3f5b09e801b5c6e1a0e762b68eba9d5d",
        }
    ],
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _errors(validator: jsonschema.Draft202012Validator, data: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(data)]


def test_design_example_matches_the_schema(validator: jsonschema.Draft202012Validator) -> None:
    assert _errors(validator, DESIGN_EXAMPLE) == []


@pytest.mark.parametrize("make", [sample_report, clean_report, nasty_report])
def test_output_matches_the_schema(validator: jsonschema.Draft202012Validator, make: Any) -> None:
    assert _errors(validator, json.loads(render_json(make()))) == []


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(schema=2), "1 was expected"),
        (lambda d: d["summary"].pop("note"), "'note' is a required property"),
        (lambda d: d["findings"][0].update(line="3"), "'3' is not of type 'integer'"),
        (lambda d: d["findings"][0].update(line=0), "0 is less than the minimum of 1"),
        (lambda d: d["findings"][0].update(severity="fatal"), "'fatal' is not one of"),
        (lambda d: d["findings"][0].update(path="/abs/requirements.txt"), "does not match"),
        (lambda d: d["findings"][0].update(path="serve\\requirements.txt"), "does not match"),
        (lambda d: d["findings"][0].update(rule="X1"), "does not match"),
        (lambda d: d["findings"][0].pop("fix"), "'fix' is a required property"),
        (lambda d: d["findings"][0].update(extra=1), "Additional properties are not allowed"),
    ],
)
def test_schema_rejects_drift(
    validator: jsonschema.Draft202012Validator, mutate: Any, fragment: str
) -> None:
    data = json.loads(json.dumps(DESIGN_EXAMPLE))
    mutate(data)
    errors = _errors(validator, data)
    assert any(fragment in e for e in errors), errors


def test_field_names_and_order(report: Report) -> None:
    data = json.loads(render_json(report))
    assert list(data) == ["schema", "tool", "summary", "findings"]
    assert list(data["summary"]) == [
        "files_scanned",
        "findings",
        "error",
        "warning",
        "note",
        "suppressed",
    ]
    assert list(data["findings"][0]) == list(DESIGN_EXAMPLE["findings"][0])  # type: ignore[index]
    assert data["summary"] == {
        "files_scanned": 12,
        "findings": 3,
        "error": 1,
        "warning": 1,
        "note": 1,
        "suppressed": 1,
    }


def test_findings_keep_the_report_order_and_values(report: Report) -> None:
    findings = json.loads(render_json(report))["findings"]
    assert [(f["path"], f["line"], f["column"], f["rule"]) for f in findings] == [
        ("environment.yml", 1, 1, "RP703"),
        ("serve/requirements.txt", 3, 1, "RP101"),
        ("serve/requirements.txt", 7, 5, "RP103"),
    ]
    assert findings[1] == {
        "rule": "RP101",
        "severity": "error",
        "path": "serve/requirements.txt",
        "line": 3,
        "column": 1,
        "subject": "numpy",
        "message": "numpy is not pinned",
        "fix": "numpy==1.26.4",
        "fingerprint": report.findings[1].fingerprint,
    }
    assert findings[0]["fix"] is None
    assert findings[0]["subject"] == ""
