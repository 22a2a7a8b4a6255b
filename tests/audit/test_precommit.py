"""pre-commit configuration: hook repositories on tags (RP402), additional_dependencies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reprolock.audit.engine import run_audit
from reprolock.audit.interface import Role
from reprolock.audit.precommit import PreCommitScanner
from reprolock.config import load_config
from reprolock.model import Finding, Severity
from tests.conftest import write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]
COMMIT = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
CONFIG = ".pre-commit-config.yaml"


def _found(findings: list[Finding]) -> list[tuple[str, int, int, str, str]]:
    return [(f.rule, f.location.line, f.location.column, f.subject, f.message) for f in findings]


def test_hook_repositories_on_tags(audit: Audit) -> None:
    """openai/whisper ``.pre-commit-config.yaml``: every hook repository on a tag
    (``rev: v5.0.0``, ``rev: 25.1.0``); ``local`` and ``meta`` repositories name none, and a
    commit is fixed (issue 14 section 5)."""
    found = audit(
        {
            CONFIG: f"""
            repos:
              - repo: https://github.com/pre-commit/pre-commit-hooks
                rev: v5.0.0
                hooks:
                  - id: check-json
              - repo: https://github.com/psf/black
                rev: {COMMIT}  # 25.1.0
                hooks:
                  - id: black
              - repo: https://github.com/pycqa/flake8.git
                rev: 7.1.1
                hooks:
                  - id: flake8
              - repo: https://github.com/o/short
                rev: 3f2a1c9
                hooks: [{{id: x}}]
              - repo: local
                hooks:
                  - id: mine
                    entry: ./check.sh
                    language: script
              - repo: meta
                hooks:
                  - id: check-hooks-apply
            """
        }
    )
    assert _found(found) == [
        ("RP402", 3, 10, "https://github.com/pre-commit/pre-commit-hooks",
         "pre-commit hook repository https://github.com/pre-commit/pre-commit-hooks is at rev "
         "'v5.0.0', a branch or tag that can move"),
        ("RP402", 11, 10, "https://github.com/pycqa/flake8.git",
         "pre-commit hook repository https://github.com/pycqa/flake8.git is at rev '7.1.1', a "
         "branch or tag that can move"),
        ("RP402", 15, 10, "https://github.com/o/short",
         "pre-commit hook repository https://github.com/o/short is at rev '3f2a1c9', an "
         "abbreviated commit (name the full 40 hex digits)"),
    ]  # fmt: skip
    assert found[0].severity is Severity.WARNING
    assert (
        found[0].fix == "rev: <40-hex commit>  # v5.0.0 (pre-commit autoupdate --freeze writes it)"
    )


def test_additional_dependencies(audit: Audit) -> None:
    """Lightning-AI/pytorch-lightning ``.pre-commit-config.yaml``: ``additional_dependencies:
    [tomli]`` and a block list (``mdformat-gfm``, ``mdformat_frontmatter``) are installed
    into the hook's environment as written: RP101/RP102 (issue 14 section 5). A node or go
    hook's dependencies are not Python requirements."""
    found = audit(
        {
            CONFIG: f"""
            repos:
              - repo: https://github.com/codespell-project/codespell
                rev: {COMMIT}
                hooks:
                  - id: codespell
                    additional_dependencies: [tomli]
              - repo: https://github.com/executablebooks/mdformat
                rev: {COMMIT}
                hooks:
                  - id: mdformat
                    additional_dependencies:
                      - mdformat-gfm>=0.3
                      - mdformat_frontmatter==2.0.8
                      - "git+https://github.com/o/plugin@main"
              - repo: https://github.com/pre-commit/mirrors-prettier
                rev: {COMMIT}
                hooks:
                  - id: prettier
                    additional_dependencies: ["prettier@3.1.0", "@prettier/plugin-xml@3"]
              - repo: https://github.com/o/go-hooks
                rev: {COMMIT}
                hooks:
                  - id: lint
                    language: golang
                    additional_dependencies: [github.com/o/tool]
            """
        }
    )
    assert [(f.rule, f.location.line, f.subject, f.message) for f in found] == [
        ("RP101", 6, "tomli",
         "tomli is not pinned (additional_dependencies of the codespell hook)"),
        ("RP102", 12, "mdformat-gfm",
         "mdformat-gfm>=0.3 is a range, not an exact pin (additional_dependencies of the "
         "mdformat hook)"),
        ("RP104", 14, "git+https://github.com/o/plugin@main",
         "git+https://github.com/o/plugin@main is installed from VCS at 'main', a movable "
         "reference (additional_dependencies of the mdformat hook)"),
    ]  # fmt: skip


def test_facts_and_claims(tmp_path: Path) -> None:
    scanner = PreCommitScanner()
    assert scanner.claims(".pre-commit-config.yaml", ".pre-commit-config.yaml")
    assert scanner.claims("sub/.pre-commit-config.yml", ".pre-commit-config.yml")
    assert not scanner.claims(".pre-commit-hooks.yaml", ".pre-commit-hooks.yaml")
    write_tree(
        tmp_path,
        {
            CONFIG: f"""
            repos:
              - repo: https://github.com/o/r
                rev: {COMMIT}
                hooks:
                  - id: h
                    additional_dependencies: [attrs==23.2.0]
            """,
            "sub/.pre-commit-config.yaml": "repos: []\n",
        },
    )
    facts = run_audit(tmp_path, load_config(tmp_path)).facts
    assert facts[CONFIG].role is Role.CONCRETE
    assert [(p.name, p.version, p.line) for p in facts[CONFIG].pins] == [("attrs", "23.2.0", 6)]
    assert facts["sub/.pre-commit-config.yaml"].role is Role.OTHER


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("repos:\n  - repo: https://github.com/o/r\n    hooks: []\n", 2,
         "pre-commit: repository https://github.com/o/r has no rev:"),
        ("repos: {a: b}\n", 1, "pre-commit: repos must be a list"),
        ("repos:\n  - just a string\n", 2, "pre-commit: each entry of repos must be a mapping"),
        ("- a\n", 1, "expected a mapping at the top level"),
        ("repos: [\n", 2, "invalid YAML: did not find expected node content"),
    ],
)  # fmt: skip
def test_configs_pre_commit_refuses_are_rp001(
    audit: Audit, text: str, line: int, message: str
) -> None:
    found = [f for f in audit({CONFIG: text}) if f.rule == "RP001"]
    assert [(f.location.line, f.message.removeprefix("pre-commit: ")) for f in found] == [
        (line, message.removeprefix("pre-commit: "))
    ]


def test_anchored_hook_lists_are_judged_once(audit: Audit) -> None:
    deps = ", ".join(f"dep{i}" for i in range(3))
    text = "repos:\n" + "".join(
        f"  - repo: https://github.com/o/r{i}\n    rev: {COMMIT}\n"
        + ("    hooks: &h\n      - id: x\n" if i == 0 else "    hooks: *h\n")
        + (f"        additional_dependencies: [{deps}]\n" if i == 0 else "")
        for i in range(50)
    )
    found = audit({CONFIG: text})
    assert [(f.rule, f.location.line, f.subject) for f in found] == [
        ("RP101", 6, "dep0"),
        ("RP101", 6, "dep1"),
        ("RP101", 6, "dep2"),
    ]
