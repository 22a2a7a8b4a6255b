"""The text report: built as plain strings, byte for byte what rich renders for the same lines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprolock.model import Finding, Location, Report, Severity
from reprolock.report.common import display
from reprolock.report.text import (
    _CONTROLS,
    _finding_line,
    _path_line,
    _printable,
    _Rich,
    render_text,
)
from tests.report.samples import clean_report, nasty_report, sample_report


def _report(*findings: Finding) -> Report:
    return Report(root="/r", files_scanned=1, findings=findings, suppressed=0, version="0")


def _finding(path: str, message: str, fix: str | None, severity: Severity) -> Finding:
    return Finding(
        rule="RP101",
        severity=severity,
        message=message,
        location=Location(path=path, line=12, column=3),
        subject="x",
        fix=fix,
    )


def _with_rich(report: Report, *, color: bool) -> str:
    """The report as rich renders every line: what render_text printed before."""
    rich = _Rich(color=color)
    out = []
    groups: dict[str, list[Finding]] = {}
    for f in report.findings:
        groups.setdefault(f.location.path, []).append(f)
    for path, group in groups.items():
        out.append(rich.line(_path_line(path)))
        out.extend(rich.line(_finding_line(f)) for f in group)
        out.append("\n")
    return "".join(out)


_ODD = _report(
    _finding("a/é ü.txt", "naïve — “quoted” 日本語 \u200b", "pkg==1 \u00a0x", Severity.ERROR),
    _finding("a/é ü.txt", "", None, Severity.WARNING),
    _finding("b\udcff.txt", "bad \udce9 byte \ud800", "f\udcfe", Severity.NOTE),
    _finding("tab\tpath/x", "a\tb 日本\tc", "fix\twith tab", Severity.ERROR),
)


@pytest.mark.parametrize("color", [False, True])
@pytest.mark.parametrize(
    "report",
    [sample_report(), clean_report(), nasty_report(), _ODD],
    ids=["sample", "clean", "nasty", "odd"],
)
def test_text_is_what_rich_renders(report: Report, *, color: bool) -> None:
    assert render_text(report, color=color) == _with_rich(report, color=color)


def test_colour_codes_are_rich_ones() -> None:
    out = render_text(sample_report(), color=True)
    assert out.startswith("\x1b[1;4menvironment.yml\x1b[0m\n  \x1b[2m1:1     \x1b[0m\x1b[1mRP703 ")
    assert (
        "\x1b[1;31merror   \x1b[0mnumpy is not pinned\x1b[32m  fix: numpy==1.26.4\x1b[0m\n" in out
    )


def test_non_utf8_path_is_escaped() -> None:
    out = render_text(_ODD)
    assert "b\\xff.txt\n" in out
    assert "bad \\xe9 byte \\ud800  fix: f\\xfe\n" in out
    out.encode("utf-8")  # every character can be written


def test_lines_without_tabs_never_reach_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich costs ~100 us a line (5 s for 50k findings); plain lines must be built as strings.

    Checked by construction rather than by a clock: the shared machines make timings noisy."""
    created: list[bool] = []
    real = _Rich.__init__

    def counting(self: _Rich, *, color: bool) -> None:
        created.append(color)
        real(self, color=color)

    monkeypatch.setattr(_Rich, "__init__", counting)
    many = _report(
        *(
            _finding("requirements.txt", f"pkg{i} is not pinned", None, Severity.ERROR)
            for i in range(2_000)
        )
    )
    assert render_text(many).count("is not pinned") == 2_000
    assert created == []
    render_text(_ODD)  # the tab line needs rich's width-aware tab expansion
    assert created == [False]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a.txt", "b/c.txt", "d\tx.txt", "é.txt"]),
            st.text(max_size=30),
            st.one_of(st.none(), st.text(max_size=12)),
            st.sampled_from(list(Severity)),
        ),
        max_size=6,
    )
)
def test_a_file_block_built_at_once_is_what_rich_renders(
    rows: list[tuple[str, str, str | None, Severity]],
) -> None:
    ordered = sorted(rows, key=lambda row: row[0])
    report = _report(*(_finding(*row) for row in ordered))
    assert render_text(report) == _with_rich(report, color=False)


@settings(max_examples=300)
@given(st.text())
def test_printable_text_is_escaped_as_by_the_table_alone(text: str) -> None:
    assert _printable(text) == display(text).translate(_CONTROLS)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("plain é text", "plain é text"), ("a\x1b[2Jb", "a\\x1b[2Jb"), ("c\x85d\te", "c\\x85d\te")],
)
def test_printable_escapes_only_controls(text: str, shown: str) -> None:
    assert _printable(text) == shown
