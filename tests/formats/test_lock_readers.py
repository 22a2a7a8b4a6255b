"""uv.lock and poetry.lock entries: what the readers build per package, and their messages."""

from __future__ import annotations

import pytest

from reprolock.formats import lock, poetry, uv
from reprolock.formats.errors import Problem
from reprolock.formats.lock import DependencyEdge
from reprolock.formats.locktoml import load_compact_toml

_UV = """version = 1
[[package]]
name = "A_b"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
resolution-markers = ["python_version <"]
sdist = { url = "https://x/a.tar.gz", hash = "sha256:aa" }
"""
_POETRY = """[[package]]
name = "A_b"
version = "1.0"
markers = "python_version <"
files = []
[metadata]
lock-version = "2.1"
"""
_WHY = "has an invalid marker: Expected a marker variable or quoted string"


@pytest.mark.parametrize(
    ("text", "label"),
    [(_UV, "A_b==1.0"), (_UV.replace('version = "1.0"\n', ""), "a-b")],
    ids=["versioned", "unversioned"],
)
def test_an_invalid_uv_marker_names_the_package_as_written(text: str, label: str) -> None:
    assert uv.read(text).problems == (Problem(message=f"{label} {_WHY}", line=3),)


@pytest.mark.parametrize(
    ("text", "label"),
    [(_POETRY, "A_b==1.0"), (_POETRY.replace('version = "1.0"\n', ""), "a-b")],
    ids=["versioned", "unversioned"],
)
def test_an_invalid_poetry_marker_names_the_package_as_written(text: str, label: str) -> None:
    assert poetry.read(text).problems == (Problem(message=f"{label} {_WHY}", line=2),)


def test_uv_artifacts_count_the_sdist_and_each_wheel_table() -> None:
    text = _UV.replace('resolution-markers = ["python_version <"]\n', "")
    text += 'wheels = [\n    { url = "https://x/a.whl", hash = "sha256:bb" },\n    "x",\n]\n'
    (entry,) = uv.read(text).entries
    assert (entry.hashes, entry.hashed) == (("sha256:aa", "sha256:bb"), True)
    unhashed = text.replace(', hash = "sha256:bb"', "")
    (entry,) = uv.read(unhashed).entries
    assert (entry.hashes, entry.hashed) == (("sha256:aa",), False)


def test_poetry_files_count_each_table() -> None:
    text = _POETRY.replace('markers = "python_version <"\n', "").replace(
        "files = []", 'files = [{file = "a.whl", hash = "sha256:aa"}, "x", {file = "a.tar.gz"}]'
    )
    (entry,) = poetry.read(text).entries
    assert (entry.hashes, entry.hashed) == (("sha256:aa",), False)


def test_uv_names_are_canonicalised_once_per_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def counting(name: object) -> str:
        seen.append(name)
        return lock.canonical_name(name)

    monkeypatch.setattr(uv, "canonical_name", counting)
    text = "version = 1\n"
    for name in ("a", "b"):
        text += (
            f'[[package]]\nname = "{name}"\nversion = "1"\n'
            'source = { registry = "https://pypi.org/simple" }\n'
            'dependencies = [\n    { name = "Six" },\n    { name = "six", extra = ["Socks"] },\n]\n'
        )
    read = uv.read(text)
    assert sorted(map(str, seen)) == ["Six", "a", "b", "six"]
    assert [e.name for e in read.entries] == ["a", "b"]
    assert read.graph is None  # no project: no graph
    reader = uv._Reader(load_compact_toml(text))
    reader.read()
    assert [edge for _, _, edge in reader.edges] == [
        DependencyEdge(name="six"),
        DependencyEdge(name="six", extras=("socks",)),
    ] * 2


def test_an_invalid_uv_dependency_name_is_refused_each_time() -> None:
    text = (
        'version = 1\n[[package]]\nname = "a"\nversion = "1"\n'
        'dependencies = [\n    { name = "-x" },\n]\n'
        '[[package]]\nname = "b"\nversion = "1"\n'
        'dependencies = [\n    { name = "-x" },\n]\n'
    )
    assert uv.read(text).problems == (
        Problem(message="invalid package name '-x'", line=6),
        Problem(message="invalid package name '-x'", line=12),
    )
