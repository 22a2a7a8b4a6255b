"""docs/robustness.md states every limit with the value the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reprolock import files
from reprolock.audit import budget, cache, discover, interface, pysource
from reprolock.audit.artifacts import dataref
from reprolock.harness import build, docker, image, runner, untrusted
from reprolock.report import replay as report

DOC = Path(__file__).resolve().parents[2] / "docs" / "robustness.md"


def _shown(value: int, *, size: bool) -> str:
    if size and value % 2**20 == 0:
        return f"{value // 2**20} MiB"
    if size and value % 1024 == 0:
        return f"{value // 1024} KiB"
    return f"{value:,}"


LIMITS = {
    "files.MAX_FILE_BYTES": (files.MAX_FILE_BYTES, True),
    "discover.MAX_GITIGNORE_BYTES": (discover.MAX_GITIGNORE_BYTES, True),
    "MAX_VALUE_CHARS": (budget.MAX_VALUE_CHARS, True),
    "MAX_EXPANDED_CHARS": (budget.MAX_EXPANDED_CHARS, True),
    "MAX_EXPANSIONS": (budget.MAX_EXPANSIONS, False),
    "MAX_SPLIT_WORDS": (budget.MAX_SPLIT_WORDS, False),
    "MAX_UNROLLED_COMMANDS": (budget.MAX_UNROLLED_COMMANDS, False),
    "MAX_NESTED_SCRIPTS": (budget.MAX_NESTED_SCRIPTS, False),
    "MAX_WHOLE_PARSE_CHARS": (pysource.MAX_WHOLE_PARSE_CHARS, True),
    "MAX_STATEMENT_CHARS": (pysource.MAX_STATEMENT_CHARS, True),
    "MAX_PARSED_CHARS": (pysource.MAX_PARSED_CHARS, True),
    "untrusted.MAX_JSON_BYTES": (untrusted.MAX_JSON_BYTES, True),
    "untrusted.MAX_JSON_DEPTH": (untrusted.MAX_JSON_DEPTH, False),
    "runner._MAX_DIRECTORY_BYTES": (runner._MAX_DIRECTORY_BYTES, True),
    "runner._MAX_NPY_HEADER": (runner._MAX_NPY_HEADER, True),
    "runner._DEFLATE_MAX_RATIO": (runner._DEFLATE_MAX_RATIO, False),
    "image.PROBE_TIMEOUT": (image.PROBE_TIMEOUT, False),
    "build.BUILD_MEMORY": (build.BUILD_MEMORY // 2**30, False),
    "build.BUILD_TIMEOUT": (build.BUILD_TIMEOUT // 60, False),
    "report.EXCERPT_CHARS": (report.EXCERPT_CHARS, False),
    "cache.MAX_CACHE_FILE": (cache.MAX_CACHE_FILE, True),
    "cache.RACY_NS": (cache.RACY_NS // 10**9, False),
    "interface.EXCERPT_CHARS": (interface.EXCERPT_CHARS, False),
    "dataref.MAX_CHAIN_CALLS": (dataref.MAX_CHAIN_CALLS, False),
}


def test_harness_limits_named_in_prose_match_the_code() -> None:
    text = DOC.read_text()
    assert f"and at most {runner.MAX_NPZ_MEMBERS:,} members" in text
    assert f"`{docker.LOG_MAX_SIZE}`, 2 files" in text
    assert f"`timeout` + {docker.SELF_STOP_GRACE:g} s" in text
    assert f"{docker.DEADLINE_SLACK:g} s after that" in text


@pytest.mark.parametrize("name", list(LIMITS))
def test_every_limit_is_documented_with_its_value(name: str) -> None:
    value, size = LIMITS[name]
    row = re.search(rf"^\| `{re.escape(name)}` \| ([^|]+) \|", DOC.read_text(), re.MULTILINE)
    assert row is not None, f"docs/robustness.md has no row for {name}"
    assert row.group(1).strip().startswith(_shown(value, size=size))


def test_every_budget_constant_is_in_the_table() -> None:
    names = {n for n in vars(budget) if n.startswith("MAX_")}
    names |= {n for n in vars(pysource) if n.startswith("MAX_")}
    assert names <= set(LIMITS)


def test_sections_left_for_other_limits_are_marked() -> None:
    text = DOC.read_text()
    for marker in ("harness-limits", "include-limits"):
        assert f"<!-- {marker}:" in text
        assert f"<!-- /{marker} -->" in text
