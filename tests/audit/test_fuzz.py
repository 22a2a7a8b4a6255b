"""Random text fed to every scanner: only ScanError (which becomes RP001) may escape."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit.interface import ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.registry import all_scanners
from reprolock.config import Config

# One representative file name per scanner, so each is fed the text it would claim.
_NAMES = {
    "requirements": "requirements.txt",
    "pyproject": "pyproject.toml",
    "poetry.lock": "poetry.lock",
    "uv.lock": "uv.lock",
    "pdm.lock": "pdm.lock",
    "pylock": "pylock.toml",
    "Pipfile": "Pipfile",
    "Pipfile.lock": "Pipfile.lock",
    "conda": "environment.yml",
    "dockerfile": "Dockerfile",
    "workflow": ".github/workflows/ci.yml",
    "action": "action.yml",
    "shell": "install.sh",
    "makefile": "Makefile",
    "python-version": ".python-version",
    "frameworks": "requirements.txt",
    "dvc": "dvc.yaml",
    "python": "train.py",
    "notebook": "explore.ipynb",
    "config": "config.yaml",
}

# Fragments that reach deep into each grammar, mixed with arbitrary text.
_FRAGMENTS = st.sampled_from(
    [
        "numpy", "==1.26.4", ">=1", " @ ", "git+https://h/r@", "#egg=x", "--hash=sha256:",
        "-r ", "-c ", "-e ", "\\\n", "; python_version<'3.9'", "[extra]", "${VAR}",
        "[project]\n", "dependencies = [", "\"", "]\n", "[[package]]\n", "name = ", "version = ",
        "[tool.poetry.dependencies]\n", "content-hash = ", "{", "}", "\n", "  - ", "pip:\n",
        "channels:\n", "dependencies:\n", "\t", ":", "'", "=", "*", "[packages]\n",
        '"_meta": ', '"default": ', "files = [", "hash = ", "metadata", "&a ", "*a", "---\n",
    ]
)  # fmt: skip
_TEXT = st.one_of(st.text(max_size=400), st.lists(_FRAGMENTS, max_size=60).map("".join))


def _scanner_ids() -> list[str]:
    return [s.name for s in all_scanners()]


@pytest.mark.parametrize("name", _scanner_ids())
def test_scanner_survives_random_text(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    scanner = next(s for s in all_scanners() if s.name == name)
    root = tmp_path_factory.mktemp("fuzz")
    filename = _NAMES.get(name)
    assert filename is not None, f"add a file name for scanner {name!r} to _NAMES"
    ctx = ScanContext(root=root, config=Config(), files=frozenset({filename}))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=_TEXT)
    def run(text: str) -> None:
        path = root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        source = SourceFile(path=filename, abspath=path, text=text)
        _scan(scanner, source, ctx)

    run()


def _scan(scanner: Scanner, source: SourceFile, ctx: ScanContext) -> None:
    try:
        facts = scanner.scan(source, ctx)
    except ScanError:
        return
    for f in facts.findings:
        assert f.location.path == source.path
        assert f.location.line >= 1
    list(scanner.cross_check({source.path: facts}, ctx))


def test_every_scanner_has_a_fuzz_name() -> None:
    assert set(_scanner_ids()) <= set(_NAMES), Path(__file__).name
