"""SARIF 2.1.0 output: schema-valid, every rule described, results GitHub can place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from reprolock.model import Finding, Location, Report, Severity
from reprolock.report.sarif import render_sarif
from reprolock.rules import RULES
from tests.report.samples import clean_report, nasty_report, sample_report

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "sarif" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def _log(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render_sarif(report))
    return data


@pytest.mark.parametrize("make", [sample_report, clean_report, nasty_report])
def test_validates_against_the_sarif_schema(
    validator: jsonschema.Draft4Validator, make: Any
) -> None:
    errors = [e.message for e in validator.iter_errors(_log(make()))]
    assert errors == []


def test_log_envelope(report: Report) -> None:
    log = _log(report)
    assert log["$schema"].endswith("/sarif-schema-2.1.0.json")
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("reprolock", "0.1.0")
    assert driver["informationUri"].startswith("https://")
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///repo/"
    assert run["properties"] == {"filesScanned": 12, "suppressed": 1}


def test_relative_root_has_no_base_uri() -> None:
    # An absolute URI is required there; a relative root can only be described.
    base = _log(nasty_report())["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]
    assert "uri" not in base
    assert base["description"]["text"]


def test_every_rule_is_described_in_catalogue_order(report: Report) -> None:
    rules = _log(report)["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    for described in rules:
        rule = RULES[described["id"]]
        assert described["name"] == rule.name
        assert described["shortDescription"]["text"] == rule.summary
        assert rule.rationale in described["fullDescription"]["text"]
        # GitHub truncates longer descriptions.
        assert len(described["shortDescription"]["text"]) <= 1024
        assert len(described["fullDescription"]["text"]) <= 1000
        assert described["defaultConfiguration"]["level"] == rule.severity.value
        assert "reproducibility" in described["properties"]["tags"]
        for help_text in (described["help"]["text"], described["help"]["markdown"]):
            assert rule.rationale in help_text
            assert rule.fix in help_text
            for example_line in (*rule.bad.splitlines(), *rule.good.splitlines()):
                assert example_line in help_text


def test_help_markdown_fences_the_examples() -> None:
    rules = _log(clean_report())["runs"][0]["tool"]["driver"]["rules"]
    rp101 = next(r for r in rules if r["id"] == "RP101")
    assert "```\nnumpy\n```" in rp101["help"]["markdown"]
    assert "Flagged:\n    numpy\n" in rp101["help"]["text"]


def test_result_shape(report: Report) -> None:
    results = _log(report)["runs"][0]["results"]
    rp101 = results[1]
    assert rp101 == {
        "ruleId": "RP101",
        "ruleIndex": list(RULES).index("RP101"),
        "level": "error",
        "message": {"text": "numpy is not pinned. Fix: numpy==1.26.4"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "serve/requirements.txt", "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": 3, "startColumn": 1},
                }
            }
        ],
        "partialFingerprints": {"reprolockFingerprint/v1": report.findings[1].fingerprint},
        "properties": {"subject": "numpy", "fix": "numpy==1.26.4"},
    }


def test_levels_rule_indexes_and_fingerprints_follow_the_findings(report: Report) -> None:
    log = _log(report)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    results = log["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("RP703", "note"),
        ("RP101", "error"),
        ("RP103", "warning"),
    ]
    for result, found in zip(results, report.findings, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"] == {"reprolockFingerprint/v1": found.fingerprint}
    assert results[2]["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 7,
        "startColumn": 5,
    }


def test_message_without_a_concrete_fix_carries_the_rule_hint(report: Report) -> None:
    text = _log(report)["runs"][0]["results"][2]["message"]["text"]
    assert text == f"scikit-learn==1.3.2 has no hash. Fix: {RULES['RP103'].fix}"


def test_severity_override_changes_the_result_level_not_the_rule_default() -> None:
    found = Finding(
        rule="RP101",
        severity=Severity.NOTE,
        message="numpy is not pinned",
        location=Location(path="requirements.txt"),
        subject="numpy",
    )
    log = _log(Report(root="/r", files_scanned=1, findings=(found,)))
    run = log["runs"][0]
    assert run["results"][0]["level"] == "note"
    rp101 = run["tool"]["driver"]["rules"][run["results"][0]["ruleIndex"]]
    assert rp101["defaultConfiguration"]["level"] == "error"


def test_uri_is_relative_posix_and_percent_encoded() -> None:
    location = _log(nasty_report())["runs"][0]["results"][0]["locations"][0]
    uri = location["physicalLocation"]["artifactLocation"]["uri"]
    # A space is not allowed in a URI, `:` in the first segment would read as a scheme and
    # `%` as an escape.
    assert uri == "we%20ird/a%2Cb%3Ac%25.txt"


def test_unknown_rule_id_is_rendered_without_an_index() -> None:
    found = Finding(
        rule="RP999",
        severity=Severity.WARNING,
        message="from a newer catalogue",
        location=Location(path="x.txt"),
    )
    result = _log(Report(root="/r", files_scanned=1, findings=(found,)))["runs"][0]["results"][0]
    assert result["ruleId"] == "RP999"
    assert "ruleIndex" not in result


def test_output_is_deterministic() -> None:
    assert render_sarif(sample_report()) == render_sarif(sample_report())
    assert render_sarif(sample_report()).endswith("}\n")
