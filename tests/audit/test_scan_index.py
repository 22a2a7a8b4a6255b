"""The scan context's directory index, and scanners that share work across files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest

from reprolock.audit.interface import ScanContext, SourceFile, files_by_dir, parent_dir
from reprolock.config import Config
from reprolock.model import Finding
from tests.conftest import hits

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

_FILES = frozenset({"a/b/x.txt", "a/y.txt", "a/b/c/z.lock", "top.toml"})


def test_names_in_derives_the_index_from_files() -> None:
    ctx = ScanContext(root=Path("/r"), config=Config(), files=_FILES)
    assert ctx.names_in("a") == {"y.txt"}
    assert ctx.names_in("a/b") == {"x.txt"}
    assert ctx.names_in("a/b/c") == {"z.lock"}
    assert ctx.names_in("") == {"top.toml"}
    assert ctx.names_in("elsewhere") == frozenset()


def test_names_in_uses_a_precomputed_index() -> None:
    ctx = ScanContext(
        root=Path("/r"), config=Config(), files=_FILES, by_dir={"a": frozenset({"q.txt"})}
    )
    assert ctx.names_in("a") == {"q.txt"}
    assert ctx.names_in("a/b") == frozenset()


def test_files_by_dir_groups_every_file_once() -> None:
    grouped = files_by_dir(_FILES)
    assert sorted((d, sorted(n)) for d, n in grouped.items()) == [
        ("", ["top.toml"]),
        ("a", ["y.txt"]),
        ("a/b", ["x.txt"]),
        ("a/b/c", ["z.lock"]),
    ]


@pytest.mark.parametrize("path", ["x", "a/x", "a/b/c/x.y", ".github/workflows/ci.yml"])
def test_parent_dir_is_pathlib_parent_for_discovered_paths(path: str) -> None:
    parent = str(PurePosixPath(path).parent)
    assert parent_dir(path) == ("" if parent == "." else parent)


@pytest.mark.parametrize("path", ["x", "a/x", "a/b/c/x.y", ".github/workflows/ci.yml", "a/.env"])
def test_a_source_files_name_and_parent_are_pathlibs(path: str) -> None:
    source = SourceFile(path=path, abspath=Path("/r") / path, text="")
    parent = str(PurePosixPath(path).parent)
    assert (source.name, source.parent) == (
        PurePosixPath(path).name,
        "" if parent == "." else parent,
    )


def test_a_line_repeated_across_files_is_reported_at_each_files_line(audit: Audit) -> None:
    bad = "numpy==1.26.4 --hash=sha256:abc\n"
    found = audit(
        {
            "one/requirements.txt": bad,
            "two/requirements.txt": "# a comment first\n\n" + bad,
            "three/requirements.txt": "pandas==2.2.2\n" + bad,
        }
    )
    assert [h for h in hits(found) if h[0] == "RP001"] == [
        ("RP001", "one/requirements.txt", 1),
        ("RP001", "three/requirements.txt", 2),
        ("RP001", "two/requirements.txt", 3),
    ]


def test_a_conda_lock_beside_an_environment_makes_it_a_manifest(audit: Audit) -> None:
    env = "name: x\ndependencies:\n  - numpy>=1.26\n"
    found = audit(
        {
            "locked/environment.yml": env,
            "locked/conda-lock.yml": "version: 1\nmetadata: {}\npackage: []\n",
            "unlocked/environment.yml": env,
            "unlocked/sub/conda-lock.yml": "version: 1\nmetadata: {}\npackage: []\n",
        }
    )
    # Only the lock in its own directory counts: the unlocked file is installed as written.
    assert [h for h in hits(found) if h[0] != "RP703"] == [
        ("RP202", "locked/environment.yml", 3),
        ("RP701", "unlocked/environment.yml", 3),
    ]
