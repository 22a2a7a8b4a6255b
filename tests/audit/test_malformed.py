"""Malformed inputs: each gets RP001 (or exit 2 for the root config) with file and line,
and never hides findings in other files."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprolock.cli import main
from tests.conftest import audit_tree, write_tree

# A healthy neighbour whose finding must survive every broken file.
_NEIGHBOUR = {"other/requirements.txt": "numpy\n"}
_NEIGHBOUR_HIT = ("RP101", "other/requirements.txt", 1)

_CASES: list[tuple[str, dict[str, str | bytes], list[tuple[str, int]], str]] = [
    (
        "broken-toml",
        {"svc/pyproject.toml": '[project]\nname = "svc"\ndependencies = ["numpy"\n[tool.x]\n'},
        [("svc/pyproject.toml", 4)],
        "",
    ),
    (
        "yaml-with-tabs",
        {"env/environment.yml": "name: x\ndependencies:\n\t- numpy\n"},
        [("env/environment.yml", 3)],
        "",
    ),
    (
        "binary-requirements",
        {"requirements.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"},
        [("requirements.txt", 3)],
        "binary",
    ),
    (
        "r-cycle",
        {
            "requirements.txt": "-r requirements-base.txt\n",
            "requirements-base.txt": "-r requirements.txt\n",
        },
        [("requirements-base.txt", 1), ("requirements.txt", 1)],
        "cycle",
    ),
    (
        "missing-r-target",
        {"requirements.txt": "six==1.16.0\n-r nowhere.txt\n"},
        [("requirements.txt", 2)],
        "",
    ),
    (
        "invalid-pep508",
        {"requirements.txt": "six==1.16.0\nnumpy===\n"},
        [("requirements.txt", 2)],
        "",
    ),
    (
        "huge-line",
        {"requirements.txt": "six==1.16.0\n" + "numpy" + "@" * 1_000_000 + "\n"},
        [("requirements.txt", 2)],
        "",
    ),
    (
        "non-utf8",
        {"requirements.txt": b"six==1.16.0\nnump\xff\xfey==1.0\n"},
        [("requirements.txt", 2)],
        "UTF-8",
    ),
    (
        "broken-json-lock",
        {"app/Pipfile.lock": '{\n  "_meta": {\n    "hash": {,\n'},
        [("app/Pipfile.lock", 3)],
        "",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected", "words"),
    [pytest.param(files, expected, words, id=name) for name, files, expected, words in _CASES],
)
def test_malformed_file_is_rp001_and_hides_nothing(
    tmp_path: Path, files: dict[str, str | bytes], expected: list[tuple[str, int]], words: str
) -> None:
    write_tree(tmp_path, {**files, **_NEIGHBOUR})
    findings = audit_tree(tmp_path)
    broken = [f for f in findings if f.rule == "RP001"]
    assert [(f.location.path, f.location.line) for f in broken] == expected
    assert all(words in f.message for f in broken)
    assert _NEIGHBOUR_HIT in [(f.rule, f.location.path, f.location.line) for f in findings]


def test_broken_root_config_is_exit_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, {"pyproject.toml": "[tool.repro]\nprofile = \n"})
    assert main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("repro: error: pyproject.toml: invalid TOML")
    assert "line 2" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_oversized_file_is_skipped_with_a_note(tmp_path: Path) -> None:
    from reprolock import files

    write_tree(tmp_path, {"requirements.txt": "numpy\n" * 10, **_NEIGHBOUR})
    original = files.MAX_FILE_BYTES
    files.MAX_FILE_BYTES = 20
    try:
        findings = audit_tree(tmp_path)
    finally:
        files.MAX_FILE_BYTES = original
    skipped = [f for f in findings if f.location.path == "requirements.txt"]
    assert [(f.rule, f.severity.value, f.message) for f in skipped] == [
        ("RP002", "note", "requirements: skipped: 60 bytes is larger than the 20 byte limit")
    ]
