"""Value types: severity order, subject normalisation, fingerprints, sort order, counts."""

from __future__ import annotations

import dataclasses
import re

import pytest

from reprolock.model import (
    Finding,
    Location,
    Report,
    Severity,
    compute_fingerprint,
    normalise_subject,
)


def _finding(**overrides: object) -> Finding:
    fields: dict[str, object] = {
        "rule": "RP101",
        "severity": Severity.ERROR,
        "message": "numpy is not pinned",
        "location": Location(path="serve/requirements.txt", line=3, column=1),
        "subject": "numpy",
    }
    fields.update(overrides)
    return Finding(**fields)  # type: ignore[arg-type]


def test_severity_rank_orders_error_highest() -> None:
    assert [s.rank for s in (Severity.NOTE, Severity.WARNING, Severity.ERROR)] == [1, 2, 3]
    assert {s.value for s in Severity} == {"error", "warning", "note"}


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("numpy", "numpy"),
        ("NumPy", "numpy"),
        ("scikit_learn", "scikit-learn"),
        ("Scikit.Learn", "scikit-learn"),
        ("a__b--c._d", "a-b-c-d"),
        ("  torch  ", "torch"),
        ("python:3.11-slim", "python:3-11-slim"),
    ],
)
def test_normalise_subject(raw: str, normal: str) -> None:
    assert normalise_subject(raw) == normal


def test_fingerprint_is_computed_and_looks_like_a_hash() -> None:
    fp = _finding().fingerprint
    assert re.fullmatch(r"[0-9a-f]{32}", fp)
    assert fp == compute_fingerprint(_finding())


@pytest.mark.parametrize(
    "change",
    [
        {"location": Location(path="serve/requirements.txt", line=40, column=9)},
        {"severity": Severity.NOTE},
        {"fix": "numpy==1.26.4"},
        {"message": "numpy has no version"},
        {"subject": "NumPy"},
    ],
)
def test_fingerprint_survives_line_moves_and_rewording(change: dict[str, object]) -> None:
    assert _finding(**change).fingerprint == _finding().fingerprint


@pytest.mark.parametrize(
    "change",
    [
        {"rule": "RP102"},
        {"location": Location(path="train/requirements.txt", line=3)},
        {"subject": "scipy"},
    ],
)
def test_fingerprint_changes_with_rule_path_or_subject(change: dict[str, object]) -> None:
    assert _finding(**change).fingerprint != _finding().fingerprint


def test_without_a_subject_the_message_identifies_the_finding() -> None:
    a = _finding(subject="", message="no channels are listed")
    b = _finding(subject="", message="defaults is mixed with conda-forge")
    assert a.fingerprint != b.fingerprint
    assert a.fingerprint == _finding(subject="", message="no channels are listed").fingerprint


def test_explicit_fingerprint_is_kept() -> None:
    assert _finding(fingerprint="given").fingerprint == "given"


def test_copies_keep_the_fingerprint() -> None:
    original = _finding(fingerprint="given")
    assert original.with_severity(Severity.NOTE).fingerprint == "given"
    assert original.with_severity(Severity.NOTE).severity is Severity.NOTE
    assert original.with_fix("numpy==2.0.0").fix == "numpy==2.0.0"
    assert original.with_fix("numpy==2.0.0").fingerprint == "given"


def test_findings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _finding().rule = "RP102"  # type: ignore[misc]


def test_sort_key_orders_by_path_line_column_rule_subject() -> None:
    def at(
        path: str, line: int, column: int = 1, rule: str = "RP101", subject: str = "a"
    ) -> Finding:
        return _finding(
            location=Location(path=path, line=line, column=column), rule=rule, subject=subject
        )

    expected = [
        at("a.txt", 9),
        at("b.txt", 2),
        at("b.txt", 10),
        at("b.txt", 10, 3),
        at("b.txt", 10, 3, "RP102"),
        at("b.txt", 10, 3, "RP102", "b"),
    ]
    shuffled = [expected[i] for i in (4, 2, 5, 0, 3, 1)]
    assert sorted(shuffled, key=lambda f: f.sort_key) == expected


def test_location_defaults_to_the_start_of_the_file() -> None:
    assert Location(path="x") == Location(path="x", line=1, column=1)


def test_report_counts_by_severity() -> None:
    findings = (
        _finding(),
        _finding(rule="RP102"),
        _finding(rule="RP103", severity=Severity.WARNING),
    )
    report = Report(root="/r", files_scanned=2, findings=findings)
    assert report.count(Severity.ERROR) == 2
    assert report.count(Severity.WARNING) == 1
    assert report.count(Severity.NOTE) == 0
    assert report.suppressed == 0
