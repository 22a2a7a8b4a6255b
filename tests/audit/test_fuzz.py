"""Random text fed to every scanner: only ScanError (which becomes RP001) may escape."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit.artifacts.ipython import transform_cell
from reprolock.audit.budget import MAX_EXPANDED_CHARS, ExpansionBudget
from reprolock.audit.devcontainer import strip_jsonc
from reprolock.audit.gitlab import GitLabScanner
from reprolock.audit.interface import ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.registry import all_scanners
from reprolock.audit.shell import make_recipes
from reprolock.audit.shell.make_expand import Expander
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
    "pre-commit": ".pre-commit-config.yaml",
    "gitlab-ci": ".gitlab-ci.yml",
    "devcontainer": ".devcontainer/devcontainer.json",
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
        "repos:\n", "- repo: ", "rev: ", "hooks:\n", "additional_dependencies: [",
        "include:\n", "local: ", "script:\n", "extends: ", "image: ", "services:\n",
        "!reference [", "//", "/*", "*/", '"features": {', '"postCreateCommand": ',
        '"build": {"dockerfile": ', ",]", ",}",
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
        # a finding elsewhere is in a file the scan read (a GitLab include, a Dockerfile)
        assert f.location.path == source.path or f.location.path in facts.consulted
        assert f.location.line >= 1
    list(scanner.cross_check({source.path: facts}, ctx))


def test_every_scanner_has_a_fuzz_name() -> None:
    assert set(_scanner_ids()) <= set(_NAMES), Path(__file__).name


# --- the readers of host languages and new file families -------------------------------------

_IPYTHON = st.sampled_from(
    ["!", "!!", "%", "%%", "?", "??", "pip install x", "x = ", "\\\n", "\n", "    ", "if a:\n",
     "elif b:\n", "else:\n", '"""', "'", '"', "(", ")", "#", "%%bash\n", "%%time\n", "/f ",
     ",f ", ";f ", "obj", ".attr", "%env A=B", "\t", "lambda: 0", "[", "]", "def f():\n"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.one_of(st.text(max_size=200), st.lists(_IPYTHON, max_size=40).map("".join)))
def test_ipython_cells_keep_their_lines(cell: str) -> None:
    """Whatever a cell holds, reading it never raises, its Python has as many lines as the
    cell, and each piece of IPython syntax starts on a line of the cell."""
    result = transform_cell(cell)
    if result.python:
        assert len(result.python) == len(textwrap.dedent(cell).split("\n"))
    for special in result.specials:
        assert 0 <= special.line < len(cell.split("\n"))


_MAKE = st.sampled_from(
    ["$(", "${", ")", "}", "$$", "$@", ",", " ", "if ", "foreach ", "call ", "dir ", "subst ",
     "patsubst ", "shell ", "A", "B", "%", ":", "=", ".c", "\t", "\n", "A = $(B) $(B)\n",
     "B = $(A)\n", "x:\n\t", "pip install ", "define X\n", "endef\n", "\\\n"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(_MAKE, max_size=60).map("".join))
def test_make_expansion_never_raises(text: str) -> None:
    budget = ExpansionBudget("Makefile")
    expander = Expander({"A": "$(B)$(B)", "B": "$(A) x", "P": "a b c"}, budget, lambda _n: None)
    value = expander.expand(text)
    assert len(value.text) <= MAX_EXPANDED_CHARS + len(text) * 64
    for recipe in make_recipes(text, ExpansionBudget("Makefile")):
        assert len(recipe.lines) == len(recipe.columns) == len(recipe.offsets)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(main=_TEXT, included=_TEXT)
def test_gitlab_pipelines_with_includes(
    main: str, included: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The root file and a file it includes both random: only ScanError escapes, and every
    finding is in the root file or in a file the scan says it read."""
    root = tmp_path_factory.mktemp("gl")
    (root / "ci.yml").write_text(included, encoding="utf-8")
    text = "include: ci.yml\n" + main
    (root / ".gitlab-ci.yml").write_text(text, encoding="utf-8")
    ctx = ScanContext(root=root, config=Config(), files=frozenset({".gitlab-ci.yml"}))
    source = SourceFile(path=".gitlab-ci.yml", abspath=root / ".gitlab-ci.yml", text=text)
    _scan(GitLabScanner(), source, ctx)


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(
            ['"', "//", "/*", "*/", "\n", ",", "}", "]", "{", "[", "a", "\\", " ", ":"]
        ),
        max_size=60,
    ).map("".join)
)
def test_jsonc_comments_are_blanked_in_place(text: str) -> None:
    stripped = strip_jsonc(text)
    assert len(stripped) == len(text)
    assert [i for i, c in enumerate(stripped) if c == "\n"] == [
        i for i, c in enumerate(text) if c == "\n"
    ]
