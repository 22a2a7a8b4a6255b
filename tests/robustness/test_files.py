"""Files that are not what their names say: huge, sparse, endless, blocking, badly named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import write_tree
from tests.robustness.budget import run_repro
from tests.robustness.test_budgets import MEMORY_MB, SECONDS, check


def _sparse(path: Path, size: int, head: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(head)
        handle.truncate(size)


def test_sparse_giant_files_are_skipped_before_reading(tmp_path: Path) -> None:
    """A 2 GiB data/train.json cost 2.1 GB to be "skipped", a 10 GiB requirements file
    10.5 GB and 64 s: the size is now checked on fstat before a byte is read."""
    _sparse(tmp_path / "data" / "train.json", 2 * 2**30, b'{"version": "latest"}')
    _sparse(tmp_path / "requirements.txt", 10 * 2**30, b"numpy\n")
    outcome, findings = check(tmp_path)
    assert outcome.exit_code == 0
    assert [(f["rule"], f["severity"], f["path"], f["message"]) for f in findings] == [
        (
            "RP002",
            "note",
            "data/train.json",
            "config: skipped: 2048 MiB is larger than the 32 MiB limit",
        ),
        (
            "RP002",
            "note",
            "requirements.txt",
            "requirements: skipped: 10240 MiB is larger than the 32 MiB limit",
        ),
    ]


def test_gitignore_linked_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    """RSS grew without end: git does not follow a symlinked .gitignore, and neither do we."""
    write_tree(tmp_path, {"requirements.txt": "numpy\n"})
    (tmp_path / ".gitignore").symlink_to("/dev/zero")
    outcome, findings = check(tmp_path)
    assert outcome.exit_code == 1
    assert [(f["rule"], f["path"]) for f in findings] == [("RP101", "requirements.txt")]


def test_fifo_gitignore_and_fifo_requirements_do_not_block(tmp_path: Path) -> None:
    """A FIFO .gitignore blocked forever: it is opened non-blocking and refused."""
    write_tree(tmp_path, {"sub/requirements.txt": "numpy\n"})
    os.mkfifo(tmp_path / ".gitignore")
    os.mkfifo(tmp_path / "requirements.txt")
    outcome, findings = check(tmp_path)
    assert outcome.exit_code == 1
    assert [(f["rule"], f["path"]) for f in findings] == [("RP101", "sub/requirements.txt")]


@pytest.mark.parametrize(
    ("pattern", "shown"),
    [("!", "'!'"), ("[z-a]", "'[z-a]'"), ("trailing\\", "'trailing\\\\\\\\'")],
)
def test_bad_gitignore_pattern_is_skipped_with_a_note(
    tmp_path: Path, pattern: str, shown: str
) -> None:
    write_tree(
        tmp_path,
        {
            ".gitignore": f"ignored/\n{pattern}\n",
            "ignored/requirements.txt": "numpy\n",
            "requirements.txt": "pandas\n",
        },
    )
    outcome, findings = check(tmp_path)
    assert outcome.exit_code == 1
    assert [(f["rule"], f["severity"], f["path"], f["line"]) for f in findings] == [
        ("RP002", "note", ".gitignore", 2),
        ("RP101", "error", "requirements.txt", 1),
    ]
    message = json.dumps(findings[0]["message"])
    assert message == f'".gitignore: {shown} is not a valid pattern and is skipped"'


_NAME = b"requirements-\xe9.txt"
_DIR = b"sub\xff"


def _non_utf8_tree(root: Path) -> None:
    os.makedirs(os.path.join(os.fsencode(root), _DIR))
    with open(os.path.join(os.fsencode(root), _NAME), "w", encoding="utf-8") as handle:
        handle.write("pandas\n")
    with open(os.path.join(os.fsencode(root), _DIR, b"requirements.txt"), "w") as handle:
        handle.write("numpy\n")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", ["requirements-\\xe9.txt", "sub\\xff/requirements.txt"]),
        ("json", ['"path": "requirements-\\\\xe9.txt"', '"path": "sub\\\\xff/requirements.txt"']),
        ("sarif", ['"uri": "requirements-%E9.txt"', '"uri": "sub%FF/requirements.txt"']),
        ("github", ["file=requirements-\\xe9.txt,", "file=sub\\xff/requirements.txt,"]),
        ("markdown", ["`requirements-\\xe9.txt:1`", "`sub\\xff/requirements.txt:1`"]),
    ],
)
def test_non_utf8_file_names_render_in_every_format(
    tmp_path: Path, fmt: str, expected: list[str]
) -> None:
    _non_utf8_tree(tmp_path)
    outcome = run_repro(
        ["check", "--no-cache", "--format", fmt, "."],
        cwd=tmp_path,
        seconds=SECONDS,
        memory_mb=MEMORY_MB,
    )
    assert (outcome.exit_code, outcome.stderr.splitlines()[-1]) == (
        1,
        "2 files scanned, 2 findings (2 error, 0 warning, 0 note)",
    )
    for text in expected:
        assert text in outcome.stdout


def test_non_utf8_file_names_in_the_baseline(tmp_path: Path) -> None:
    _non_utf8_tree(tmp_path)
    written = run_repro(
        ["check", "--no-cache", "--write-baseline", "baseline.json"],
        cwd=tmp_path,
        seconds=SECONDS,
        memory_mb=MEMORY_MB,
    )
    assert written.exit_code == 0, written.stderr
    again = run_repro(
        ["check", "--no-cache", "--baseline", "baseline.json"],
        cwd=tmp_path,
        seconds=SECONDS,
        memory_mb=MEMORY_MB,
    )
    assert again.exit_code == 0
    assert again.stderr.splitlines()[-1] == "2 files scanned, no findings, 2 suppressed"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("Pipfile.lock", "[" * 100_000 + "]" * 100_000, "RP001"),
        ("configs/model.json", '{"a":' * 50_000 + "1" + "}" * 50_000, None),
        ("poetry.lock", "x = " + "[" * 50_000 + "]" * 50_000 + "\n", "RP001"),
        ("configs/model.toml", "x = " + "[" * 50_000 + "]" * 50_000 + "\n", None),
        ("environment.yml", "dependencies: " + "[" * 20_000 + "]" * 20_000 + "\n", "RP001"),
        ("notebook.ipynb", "[" * 100_000 + "]" * 100_000, "RP001"),
    ],
)
def test_deep_nesting_in_scanned_files_stays_handled(
    tmp_path: Path, name: str, text: str, expected: str | None
) -> None:
    write_tree(tmp_path, {name: text})
    outcome, findings = check(tmp_path)
    assert outcome.exit_code == (1 if expected == "RP001" else 0)
    assert [f["rule"] for f in findings] == ([expected] if expected else [])


def test_a_symlink_loop_named_by_an_install_is_no_crash(tmp_path: Path) -> None:
    """``pip install -r a`` where ``a`` is a symlink to itself: the look-up of the file
    raised RuntimeError from ``Path.resolve`` (exit 4). pip finds no such file; neither do we."""
    (tmp_path / "a").symlink_to("a")
    write_tree(
        tmp_path,
        {
            "install.sh": "#!/bin/sh\npip install -r a\n",
            "Dockerfile": f"FROM python:3.11@sha256:{'0' * 64}\nRUN pip install -r a\n",
        },
    )
    outcome, findings = check(tmp_path)
    assert outcome.exit_code == 0
    assert findings == []
