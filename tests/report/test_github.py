"""GitHub Actions annotations: exact command lines and the runner's escaping rules."""

from __future__ import annotations

import pytest

from reprolock.model import Report
from reprolock.report.github import escape_data, escape_property, render_github
from reprolock.rules import RULES
from tests.report.samples import NASTY_FIX, NASTY_MESSAGE, clean_report, nasty_report


def test_one_annotation_per_finding_in_report_order(report: Report) -> None:
    assert render_github(report).splitlines() == [
        "::notice file=environment.yml,line=1,col=1,title=RP703 conda-channels"
        f"::no channels are listed. Fix: {RULES['RP703'].fix}",
        "::error file=serve/requirements.txt,line=3,col=1,title=RP101 unpinned-requirement"
        "::numpy is not pinned. Fix: numpy==1.26.4",
        "::warning file=serve/requirements.txt,line=7,col=5,title=RP103 missing-hash"
        f"::scikit-learn==1.3.2 has no hash. Fix: {RULES['RP103'].fix}",
    ]
    assert render_github(report).endswith("\n")


def test_clean_report_prints_nothing() -> None:
    assert render_github(clean_report()) == ""


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("%0A is not a newline", "%250A is not a newline", "%250A is not a newline"),
        ("a\nb", "a%0Ab", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
        ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
    ],
)
def test_escaping(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_nasty_finding_stays_one_command() -> None:
    out = render_github(nasty_report())
    assert out.count("\n") == 1
    assert out == (
        "::error file=we ird/a%2Cb%3Ac%25.txt,line=2,col=3,title=RP101 unpinned-requirement::"
        + escape_data(NASTY_MESSAGE)
        + ". Fix: "
        + escape_data(NASTY_FIX)
        + "\n"
    )
    assert "%0D%0Aline two:%0A`x`" in out
    assert "Fix: pkg==1|2 `tick`%0Anext" in out


def test_message_cannot_start_a_command_of_its_own() -> None:
    from reprolock.model import Finding, Location, Severity

    found = Finding(
        rule="RP101",
        severity=Severity.WARNING,
        message="x\n::add-mask::secret\n::stop-commands::t",
        location=Location(path="requirements.txt"),
        fix="y",
    )
    lines = render_github(Report(root="/r", files_scanned=1, findings=(found,))).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("::warning file=requirements.txt,")
