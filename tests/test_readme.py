"""The README's rule table and quick start stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from reprolock.rules import RULES

README = Path(__file__).resolve().parent.parent / "README.md"


def test_rule_table_matches_the_catalogue() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- rules-table")[1].split("<!-- /rules-table -->")[0]
    rows = re.findall(r"^\| (RP\d{3}) \| (\w+) \| (.+?) \|$", block, flags=re.MULTILINE)
    expected = [(r.id, r.severity.value, r.summary) for r in RULES.values()]
    assert rows == expected


def test_quick_start_names_the_bundled_example() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"repro check (fixtures/[\w./-]+)", text)
    assert match is not None
    assert (README.parent / match.group(1)).is_dir()
    assert "bash scripts/test" in text
