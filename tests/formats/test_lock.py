"""Normalised versions and markers: the same answers and errors, cached or not."""

from __future__ import annotations

import dataclasses

import pytest

from reprolock.formats import lock
from reprolock.formats.lock import (
    EntryError,
    LockEntry,
    Source,
    entry_at,
    normal_marker,
    normal_version,
)


def test_a_version_is_normalised_alike_from_the_cache() -> None:
    assert [normal_version("a", " 1.0.0RC1 ") for _ in range(2)] == ["1.0.0rc1", "1.0.0rc1"]


@pytest.mark.parametrize("repeat", [1, 2])
def test_an_invalid_version_is_refused_each_time(repeat: int) -> None:
    for _ in range(repeat):
        with pytest.raises(EntryError, match=r"^a==x has an invalid version 'not-a-version'$"):
            normal_version("a==x", "not-a-version")


@pytest.mark.parametrize("repeat", [1, 2])
def test_an_invalid_marker_is_refused_each_time_with_its_reason(repeat: int) -> None:
    for _ in range(repeat):
        with pytest.raises(EntryError) as raised:
            normal_marker("a==1", "python_version <")
        assert str(raised.value).startswith("a==1 has an invalid marker: Expected ")


def test_a_marker_is_normalised_alike_from_the_cache() -> None:
    marker = "python_version<'3.11' and sys_platform=='linux'"
    expected = 'python_version < "3.11" and sys_platform == "linux"'
    assert [normal_marker("a", marker) for _ in range(2)] == [expected, expected]


def test_a_long_version_or_marker_is_read_but_not_kept() -> None:
    version = "1." * 400 + "0"
    marker = " or ".join(["python_version > '3'"] * 40)
    assert len(version) > lock._CACHED
    assert len(marker) > lock._CACHED
    lock._pep440.cache_clear()
    lock._pep508_marker.cache_clear()
    assert normal_version("a", version) == version
    assert normal_marker("a", marker) == " or ".join(['python_version > "3"'] * 40)
    assert lock._pep440.cache_info().currsize == 0
    assert lock._pep508_marker.cache_info().currsize == 0
    with pytest.raises(EntryError):
        normal_version("a", version + "x")


def test_an_entry_placed_at_a_line_keeps_every_other_field() -> None:
    values = {
        "name": "pkg",
        "version": "1.0",
        "source": Source.VCS,
        "hashes": ("sha256:aa",),
        "hashed": True,
        "url": "https://x/pkg",
        "reference": "git+https://x/pkg@abc",
        "ref": "main",
        "commit": "abc",
        "marker": "python_version >= '3.11'",
        "line": 3,
        "platform": "linux-64",
        "manager": "conda",
        "text": "pkg==1.0",
        "editable": True,
    }
    # every field set to a value not its default: a field added later fails here until set
    assert set(values) == {f.name for f in dataclasses.fields(LockEntry)}
    entry = LockEntry(**values)  # type: ignore[arg-type]
    assert all(getattr(entry, f.name) != f.default for f in dataclasses.fields(LockEntry))
    assert entry_at(entry, 7) == dataclasses.replace(entry, line=7)
