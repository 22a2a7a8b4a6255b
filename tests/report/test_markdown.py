"""Markdown for PR comments and job summaries: exact snapshots and escaping."""

from __future__ import annotations

import re

import pytest

from reprolock.model import Report
from reprolock.report.common import (
    markdown_cell,
    markdown_code,
    markdown_fence,
    markdown_row,
    markdown_text,
)
from reprolock.report.markdown import render_markdown
from tests.report.samples import clean_report, nasty_report

EXPECTED = """\
## reprolock

**3 findings** (1 error, 1 warning, 1 note) in 12 files scanned; 1 suppressed.

| Severity | Rule | Location | Message | Fix |
| --- | --- | --- | --- | --- |
| error | RP101 unpinned-requirement | `serve/requirements.txt:3` | numpy is not pinned | \
`numpy==1.26.4` |
| warning | RP103 missing-hash | `serve/requirements.txt:7` | scikit-learn==1.3.2 has no hash |  |
| note | RP703 conda-channels | `environment.yml:1` | no channels are listed |  |

<details>
<summary>About these rules</summary>

- **RP101 unpinned-requirement**: A requirement in a concrete environment has no version \
constraint. Fix: Pin the exact version, ideally the one your lock already resolves.
- **RP103 missing-hash**: An exact pin has no hash. Fix: Compile with \
`pip-compile --generate-hashes` or `uv pip compile --generate-hashes`.
- **RP703 conda-channels**: conda channels are unspecified or mixed. Fix: List one channel \
family explicitly (e.g. only conda-forge) and add `nodefaults`.

Run `repro rules ID` for the rationale and an example.

</details>
"""

CLEAN = """\
## reprolock

**No findings** in 4 files scanned.
"""


def test_snapshot(report: Report) -> None:
    # Errors first, then warnings, then notes; within a severity, by path and line.
    assert render_markdown(report) == EXPECTED


def test_clean_snapshot() -> None:
    assert render_markdown(clean_report()) == CLEAN


def test_clean_with_suppressed_findings() -> None:
    base = clean_report()
    report = Report(root=base.root, files_scanned=1, findings=(), suppressed=2)
    assert "**No findings** in 1 file scanned; 2 suppressed." in render_markdown(report)


def _cells(row: str) -> list[str]:
    # Split on pipes that are not escaped, as a GFM table does.
    inner = row.strip()
    assert inner.startswith("|")
    assert inner.endswith("|")
    return re.split(r"(?<!\\)\|", inner[1:-1])


def test_nasty_finding_stays_in_one_row_of_five_cells() -> None:
    out = render_markdown(nasty_report())
    rows = [line for line in out.splitlines() if line.startswith("| error")]
    assert len(rows) == 1
    cells = [c.strip() for c in _cells(rows[0])]
    assert cells == [
        "error",
        "RP101 unpinned-requirement",
        "`we ird/a,b:c%.txt:2`",
        r"50% of a\|b<br>line two:<br>\`x\` \<b\>\*y\*\</b\> \[l\](u) \&amp; \${V} "
        r"\~\~z\~\~ \\ end",
        "``pkg==1\\|2 `tick` next``",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("numpy is not pinned", "numpy is not pinned"),
        ("a|b", r"a\|b"),
        ("one\ntwo\r\nthree\rfour", "one<br>two<br>three<br>four"),
        ("<img src=x>", r"\<img src=x\>"),
        ("typing_extensions", r"typing\_extensions"),
        ("${A} and ${B}", r"\${A} and \${B}"),
        ("&lt;", r"\&lt;"),
    ],
)
def test_markdown_text(raw: str, expected: str) -> None:
    assert markdown_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ""),
        ("numpy==1.26.4", "`numpy==1.26.4`"),
        ("a|b", r"`a\|b`"),
        ("a`b", "``a`b``"),
        ("`a`", "`` `a` ``"),
        ("a``b", "```a``b```"),
        (" lead", "`  lead `"),
        ("two\nlines", "`two lines`"),
    ],
)
def test_markdown_code(raw: str, expected: str) -> None:
    assert markdown_code(raw) == expected


def test_markdown_fence_outlasts_backticks_in_the_text() -> None:
    assert markdown_fence("x\n") == "```\nx\n```\n"
    assert markdown_fence("```\ny") == "````\n```\ny\n````\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("the lock is the golden's", "the lock is the golden's"),
        ("run `repro golden record`", "run `repro golden record`"),  # Markdown stays Markdown
        ("a|b", r"a\|b"),
        ("one\ntwo\r\nthree", "one two three"),
    ],
)
def test_markdown_cell(raw: str, expected: str) -> None:
    assert markdown_cell(raw) == expected


def test_markdown_row_joins_cells_made_safe_by_the_escaper() -> None:
    cells = (markdown_code("a|b"), markdown_text("x_y"), markdown_cell("p|q"))
    assert markdown_row(cells) == r"| `a\|b` | x\_y | p\|q |"
