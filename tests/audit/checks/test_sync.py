"""RP202 for compiled requirements locks, judged requirement by requirement: each verdict once
per specifier and version, the message made only for the requirements that are stale."""

from __future__ import annotations

import pytest

from reprolock.audit.checks.sync import _admits, _unsatisfied
from reprolock.audit.checks.uv_sync import _requirement
from reprolock.audit.interface import Declared
from reprolock.formats.spec import Spec, classify


def _check(line: str, *locked: str, source: str = "req/a.in", lock: str = "req/a.txt") -> str:
    by_name: dict[str, list[Spec]] = {}
    for text in locked:
        spec = classify(text)
        by_name.setdefault(spec.name, []).append(spec)
    found = _unsatisfied(
        Declared(spec=classify(line), line=3, column=2),
        source=source,
        lock=lock,
        by_name=by_name,
        python="3.11",
        fix="pip-compile",
        markers={},
    )
    if found is None:
        return ""
    assert (found.rule, found.location.path, found.location.line) == ("RP202", source, 3)
    assert found.location.column == 2
    assert found.fix == "pip-compile"
    return found.message


@pytest.mark.parametrize(
    ("line", "locked", "message"),
    [
        (
            "numpy>=2",
            ("numpy==1.26.4",),
            "numpy>=2 in a.in is not satisfied by numpy==1.26.4 in a.txt",
        ),
        # one admitted version of several is enough
        ("numpy>=2", ("numpy==1.26.4", "numpy==2.1.3"), ""),
        ("Scikit_Learn[x]>=1.3", (), "Scikit_Learn[x]>=1.3 in a.in is missing from a.txt"),
        (
            "pkg @ https://example.com/pkg-1.0.tar.gz",
            ("pkg @ https://example.com/pkg-2.0.tar.gz",),
            "pkg in a.in is installed from https://example.com/pkg-1.0.tar.gz, "
            "but a.txt has another source",
        ),
        ("pkg @ https://example.com/pkg-1.0.tar.gz", (), "pkg in a.in is missing from a.txt"),
        ("numpy==1.26.4", ("numpy==1.26.4",), ""),
    ],
)
def test_each_requirement_against_the_lock(
    line: str, locked: tuple[str, ...], message: str
) -> None:
    assert _check(line, *locked) == message
    assert _check(line, *locked) == message  # the memoised verdicts answer the same


def test_a_lock_in_another_directory_is_named_by_its_path() -> None:
    message = _check("numpy>=2", "numpy==1.26.4", source="a.in", lock="req/a.txt")
    assert message == "numpy>=2 in a.in is not satisfied by numpy==1.26.4 in req/a.txt"


@pytest.mark.parametrize(
    ("specifier", "version", "admitted"),
    [
        (">=2", "2.1.3", True),
        (">=2", "1.26.4", False),
        ("<2,>=1.26", "1.26.4", True),
        (">=0.4", "0.4.31rc1", True),  # the lock chose a pre-release: it admits it
        ("=>2", "2.0", None),  # not a specifier
        (">=2", "not-a-version", True),  # not comparable: never called stale
    ],
)
def test_admits(specifier: str, version: str, admitted: bool | None) -> None:
    _admits.cache_clear()
    assert _admits(specifier, version) is admitted
    assert _admits(specifier, version) is admitted
    assert _admits.cache_info().hits == 1


def test_requirements_are_parsed_once_and_invalid_ones_skipped() -> None:
    _requirement.cache_clear()
    first = _requirement("numpy>=1.26 ; python_version >= '3.10'")
    assert first is not None
    assert str(first.specifier) == ">=1.26"
    assert _requirement("numpy>=1.26 ; python_version >= '3.10'") is first
    assert _requirement("numpy>=>1") is None
