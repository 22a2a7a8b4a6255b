"""Conformance: OpenSSF Scorecard's workflow fixtures (fixtures/scorecard/.github/workflows).

Scorecard counts an action as unpinned when its ref is not a full commit SHA, including a
``docker://`` action without a valid digest. reprolock reports the first as RP401 and the
second with the image rules (RP301/RP302), so "unpinned" is any of the three on a ``uses:``.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from reprolock.audit.engine import AuditResult, run_audit
from reprolock.config import load_config
from tests.conftest import FIXTURES

ROOT = FIXTURES / "scorecard"
WORKFLOWS = ROOT / ".github" / "workflows"
_UNPINNED_RULES = ("RP401", "RP301", "RP302")


@cache
def _result() -> AuditResult:
    return run_audit(ROOT, load_config(ROOT))


def _unpinned_lines(name: str) -> list[int]:
    path = f".github/workflows/{name}"
    return sorted(
        f.location.line
        for f in _result().unbaselined
        if f.location.path == path and f.rule in _UNPINNED_RULES
    )


# Scorecard's own counts (EXPECTED.md), with the lines of the actions it counts.
_SCORECARD: dict[str, list[int]] = {
    "workflow-not-pinned.yaml": [38, 79],
    "workflow-pinned.yaml": [],
    "workflow-local-action.yaml": [],
    "github-workflow-empty.yaml": [],
    "github-workflow-comments.yaml": [],
    "workflow-mix-pinned-and-non-pinned-github.yaml": [46],
    "workflow-mix-pinned-and-non-pinned-non-github.yaml": [41],
    "workflow-mix-github-and-non-github-not-pinned.yaml": [31, 36],
    "github-workflow-unknown-os.yaml": [20, 40],
    "workflow-anchor.yaml": [24],
}

# The other fixtures of the directory, counted by reading them (not in EXPECTED.md).
_OTHERS: dict[str, list[int]] = {
    "airflows-codeql.yaml": [42, 77, 86, 100, 106],
    "github-hadolint-workflow.yaml": [25],
    "github-pysa-workflow.yaml": [15, 18],
    "github-qodana-workflow.yaml": [18, 23],
    "github-workflow-job-uses.yaml": [30],
    "github-workflow-multiple-unpinned-uses.yaml": [22, 24],
    "github-workflow-snyk.yaml": [13, 14],
    "workflow-non-github-pinned.yaml": [],
    "workflow-mix-github-and-non-github-pinned.yaml": [],
    "github-workflow-matrix-expression.yaml": [],
    "github-workflow-curl-default.yaml": [],
    "github-workflow-curl-no-default.yaml": [],
    "github-workflow-download-lines.yaml": [],
    "github-workflow-wget-across-steps.yaml": [],
    "github-workflow-pkg-managers.yaml": [],
}


@pytest.mark.parametrize(("name", "lines"), sorted(_SCORECARD.items()))
def test_unpinned_actions_match_scorecard(name: str, lines: list[int]) -> None:
    assert _unpinned_lines(name) == lines


@pytest.mark.parametrize(("name", "lines"), sorted(_OTHERS.items()))
def test_unpinned_actions_in_the_other_fixtures(name: str, lines: list[int]) -> None:
    assert _unpinned_lines(name) == lines


def test_every_fixture_is_accounted_for_and_parses() -> None:
    names = {p.name for p in WORKFLOWS.iterdir()}
    assert names == set(_SCORECARD) | set(_OTHERS)
    scanned = {p for p in _result().facts if p.startswith(".github/workflows/")}
    assert scanned == {f".github/workflows/{n}" for n in names}
    broken = [
        f
        for f in _result().unbaselined
        if f.rule == "RP001" and f.location.path.startswith(".github/")
    ]
    assert broken == []


def test_docker_action_on_a_non_digest_is_an_image_finding() -> None:
    path = ".github/workflows/workflow-not-pinned.yaml"
    found = [
        (f.rule, f.location.line, f.subject)
        for f in _result().unbaselined
        if f.location.path == path and f.rule in _UNPINNED_RULES
    ]
    assert found == [
        ("RP301", 38, "rhysd/actionlint"),
        ("RP401", 79, "github/codeql-action/analyze"),
    ]


def test_anchor_and_alias_give_one_finding_at_the_anchor() -> None:
    path = ".github/workflows/workflow-anchor.yaml"
    found = [f for f in _result().unbaselined if f.location.path == path]
    assert [(f.rule, f.location.line, f.subject) for f in found] == [
        ("RP401", 24, "actions/upload-artifact")
    ]


def test_python_version_and_images_become_facts() -> None:
    facts = _result().facts[".github/workflows/github-workflow-unknown-os.yaml"]
    assert [(p.value, p.line, p.origin) for p in facts.pythons] == [
        ("3.8", 22, "ci"),
        ("3.8", 42, "ci"),
    ]
    not_pinned = _result().facts[".github/workflows/workflow-not-pinned.yaml"]
    assert [(i.ref, i.line) for i in not_pinned.images] == [("rhysd/actionlint@latest", 38)]


# --- github-workflow-pkg-managers.yaml: Python installs in run: steps --------------------------

_PKG = ".github/workflows/github-workflow-pkg-managers.yaml"
_PY_INSTALL = re.compile(r"^\s*run: .*\bpip3? install\b|^\s*run: .*-m pip install\b")


def _python_install_lines() -> list[int]:
    text = (ROOT / _PKG).read_text(encoding="utf-8")
    return [n for n, line in enumerate(text.splitlines(), 1) if _PY_INSTALL.search(line)]


# Every Python install Scorecard counts in this file, and the rules reprolock reports for it.
_FLAGGED: dict[int, set[str]] = {
    88: {"RP101"},  # pip install somepkg
    90: {"RP103"},  # pip3 install somepkg==1.2.3 (exact, no hash: a warning, not "unpinned")
    92: {"RP101"},  # /bin/pip3 install -X -H somepkg
    104: {"RP104"},  # -e git+https://...repo.git (no revision)
    106: {"RP104"},
    108: {"RP104"},  # @v1.0: a tag moves
    110: {"RP104"},
    128: {"RP104"},  # -e . git+https://...repo.git
    134: {"RP101", "RP102", "RP103"},  # somepkg, some-ther==1.2.3, somebla<3.4.5
    136: {"RP102"},  # 'some-pkg>1.2.3' (bla1.whl: see 142)
    138: {"RP102"},
    140: {"RP102"},
    146: {"RP103"},  # 'some-pkg==1.2.3'
    148: {"RP102"},
    150: {"RP104"},
}

# Python installs Scorecard counts that reprolock deliberately does not report, and why.
_NOT_FLAGGED: dict[int, str] = {
    80: "pip install with nothing to install: pip exits with an error, installs nothing",
    82: "pip3 install with nothing to install",
    84: "-r any_file: judged by auditing the file, which is not in the repository",
    86: "-r bla-requirements.txt: not in the repository",
    144: "-r file: not in the repository",
    154: "-r bla-requirements.txt --require-hashes: hashes required; file not in the repository",
    94: "-e .: the repository itself",
    96: "-e .: the repository itself",
    98: "hg+...@<40-hex>: an immutable revision",
    100: "svn+...@<40-hex>: an immutable revision",
    102: "bzr+...@<40-hex>: an immutable revision",
    112: "git+...@<40-hex commit>",
    114: "git+...@<40-hex commit>",
    116: "git+...@<40-hex commit>",
    118: "git+http://...@<40-hex commit>",
    120: "git+ssh://...@<40-hex commit>",
    122: "git+git://...@<40-hex commit>",
    124: "git://...@<40-hex commit>: not a pip VCS URL (no git+); names a commit anyway",
    126: "git+...@<40-hex commit>",
    130: "-e . and git+...@<40-hex commit>",
    142: "bla3.whl: a local wheel that is not in the repository (built by an earlier step)",
    152: "git+...@<40-hex commit>",
}


def test_python_installs_are_all_accounted_for() -> None:
    lines = _python_install_lines()
    assert len(lines) == 37
    assert sorted([*_FLAGGED, *_NOT_FLAGGED]) == lines


def test_python_installs_in_run_steps() -> None:
    found: dict[int, set[str]] = {}
    for f in _result().unbaselined:
        if f.location.path == _PKG:
            found.setdefault(f.location.line, set()).add(f.rule)
    assert found == _FLAGGED
    assert _result().facts[_PKG].role.value == "concrete"
