"""Hand-built reports for the format tests, independent of any scanner."""

from __future__ import annotations

from reprolock.model import Finding, Location, Report, Severity


def sample_report() -> Report:
    """Three findings, one of each severity, sorted as the engine sorts them."""
    return Report(
        root="/repo",
        files_scanned=12,
        suppressed=1,
        version="0.1.0",
        findings=(
            Finding(
                rule="RP703",
                severity=Severity.NOTE,
                message="no channels are listed",
                location=Location(path="environment.yml"),
            ),
            Finding(
                rule="RP101",
                severity=Severity.ERROR,
                message="numpy is not pinned",
                location=Location(path="serve/requirements.txt", line=3),
                subject="numpy",
                fix="numpy==1.26.4",
            ),
            Finding(
                rule="RP103",
                severity=Severity.WARNING,
                message="scikit-learn==1.3.2 has no hash",
                location=Location(path="serve/requirements.txt", line=7, column=5),
                subject="scikit-learn",
            ),
        ),
    )


NASTY_MESSAGE = "50% of a|b\r\nline two:\n`x` <b>*y*</b> [l](u) &amp; ${V} ~~z~~ \\ end"
NASTY_PATH = "we ird/a,b:c%.txt"
NASTY_FIX = "pkg==1|2 `tick`\nnext"


def nasty_report() -> Report:
    """A finding whose path, message and fix contain every character a format must escape."""
    return Report(
        root="relative/root",
        files_scanned=1,
        findings=(
            Finding(
                rule="RP101",
                severity=Severity.ERROR,
                message=NASTY_MESSAGE,
                location=Location(path=NASTY_PATH, line=2, column=3),
                subject="pkg",
                fix=NASTY_FIX,
            ),
        ),
    )


def clean_report() -> Report:
    """No findings."""
    return Report(root="/repo", files_scanned=4, findings=(), version="0.1.0")
