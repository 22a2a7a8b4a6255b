"""Every output format is handled: no dead ``Format`` member, no format that crashes."""

from __future__ import annotations

import pytest

from reprolock.report import Format, formatter, render
from reprolock.report.text import render_text, summary_line
from tests.report.samples import clean_report, nasty_report, sample_report


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_renders_every_kind_of_report(fmt: Format) -> None:
    for report in (sample_report(), clean_report(), nasty_report()):
        out = render(fmt, report)
        assert isinstance(out, str)
        assert out == render(fmt, report)  # deterministic
    assert render(fmt, sample_report()).endswith("\n")
    assert "RP101" in render(fmt, sample_report())


def test_each_format_has_its_own_renderer() -> None:
    renderers = {fmt: formatter(fmt) for fmt in Format}
    assert len(set(renderers.values())) == len(Format)
    assert {fmt.value for fmt in Format} == {"text", "json", "sarif", "github", "markdown"}


def test_text_groups_by_file() -> None:
    assert render_text(sample_report()) == (
        "environment.yml\n"
        "  1:1     RP703 note    no channels are listed\n"
        "\n"
        "serve/requirements.txt\n"
        "  3:1     RP101 error   numpy is not pinned  fix: numpy==1.26.4\n"
        "  7:5     RP103 warning scikit-learn==1.3.2 has no hash\n"
        "\n"
    )
    assert render_text(clean_report()) == ""


def test_text_never_passes_control_characters_through() -> None:
    out = render_text(nasty_report(), color=False)
    assert "\x1b" not in out
    assert "\r" not in out
    # The finding stays on one line: path line, finding line, blank line.
    assert out.count("\n") == 3
    assert "a|b\\x0d\\x0aline two:\\x0a`x`" in out


def test_text_colour_only_when_asked() -> None:
    assert "\x1b[" in render_text(sample_report(), color=True)
    assert "\x1b[" not in render_text(sample_report(), color=False)


def test_summary_line() -> None:
    assert summary_line(sample_report()) == (
        "12 files scanned, 3 findings (1 error, 1 warning, 1 note), 1 suppressed"
    )
    assert summary_line(clean_report()) == "4 files scanned, no findings"
