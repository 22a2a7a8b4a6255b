"""GitLab CI: images, services, installs in scripts, local includes, remote includes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reprolock.audit.engine import run_audit
from reprolock.audit.gitlab import MAX_INCLUDED_FILES, GitLabScanner
from reprolock.audit.interface import Role
from reprolock.config import load_config
from reprolock.model import Finding
from tests.conftest import write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]
CI = ".gitlab-ci.yml"
COMMIT = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
NO_HASHES = {"repro.toml": "require-hashes = false\n"}


def _found(findings: list[Finding]) -> list[tuple[str, str, int, str]]:
    """Findings of the rules this scanner reports (cross-file RP5xx checks left out)."""
    return [
        (f.rule, f.location.path, f.location.line, f.subject)
        for f in findings
        if not f.rule.startswith("RP5")
    ]


def test_the_python_template_shape(audit: Audit) -> None:
    """gitlab-org/gitlab ``lib/gitlab/ci/templates/Python.gitlab-ci.yml``, the file most
    Python projects on GitLab start from: ``image: python:latest``, a ``before_script`` that
    installs virtualenv, jobs that ``pip install`` their tools (issue 14 section 5)."""
    found = audit(
        {
            CI: """
            image: python:latest
            variables:
              PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"
            before_script:
              - python --version ; pip --version
              - pip install virtualenv
              - virtualenv venv
              - source venv/bin/activate
            test:
              script:
                - pip install ruff tox
                - tox -e py311
            run:
              script:
                - pip install .
                - pip install -r requirements.txt
            pages:
              script:
                - pip install sphinx==7.3.7 sphinx-rtd-theme
              artifacts:
                paths: [public]
            """,
            "requirements.txt": "attrs==23.2.0\n",
            **NO_HASHES,
        }
    )
    assert _found(found) == [
        ("RP302", CI, 1, "python"),
        ("RP101", CI, 6, "virtualenv"),
        ("RP101", CI, 11, "ruff"),
        ("RP101", CI, 11, "tox"),
        ("RP101", CI, 19, "sphinx-rtd-theme"),
    ]
    assert found[2].location.column == 19


def test_images_services_and_variables(audit: Audit) -> None:
    found = audit(
        {
            CI: f"""
            variables:
              BASE: nvidia/cuda:12.1.1-runtime-ubuntu22.04
              TORCH: "2.3.1"
            default:
              image: $BASE
              services: [postgres:16]
            train:
              image:
                name: python:3.11@sha256:{"a" * 64}
                entrypoint: [""]
              services:
                - name: redis:latest
                  alias: cache
              variables:
                EXTRA: https://download.pytorch.org/whl/cu121
              script:
                - pip install --extra-index-url $EXTRA torch==$TORCH
            """,
            **NO_HASHES,
        }
    )
    assert _found(found) == [
        ("RP301", CI, 5, "nvidia/cuda"),
        ("RP301", CI, 6, "postgres"),
        ("RP302", CI, 12, "redis"),
        ("RP107", CI, 17, "https://download.pytorch.org/whl/cu121"),
    ]


def test_local_includes_are_followed_and_reported_where_written(tmp_path: Path) -> None:
    """``include:`` of files in the repository (a string, ``local:``, a glob) are merged into
    the pipeline as GitLab does; what they say is reported at their own lines, and the audit
    cache knows the root file depends on them."""
    write_tree(
        tmp_path,
        {
            CI: """
            include:
              - /ci/base.yml
              - local: ci/jobs/*.yml
            test:
              extends: .python
              script:
                - pip install -r $REQS
            """,
            "ci/base.yml": """
            .python:
              image: python:3.11
              variables:
                REQS: requirements.txt
            """,
            "ci/jobs/lint.yml": """
            lint:
              script: pip install ruff
            """,
            "requirements.txt": "attrs\n",
            **NO_HASHES,
        },
    )
    result = run_audit(tmp_path, load_config(tmp_path))
    assert _found(list(result.report.findings)) == [
        ("RP301", "ci/base.yml", 2, "python"),
        ("RP101", "ci/jobs/lint.yml", 2, "ruff"),
        ("RP101", "requirements.txt", 1, "attrs"),
    ]
    facts = result.facts[CI]
    assert facts.consulted == ("ci/base.yml", "ci/jobs/lint.yml")
    assert [i.target for i in facts.includes] == ["requirements.txt"]
    assert facts.role is Role.CONCRETE


def test_includes_from_elsewhere(audit: Audit) -> None:
    found = audit(
        {
            CI: f"""
            include:
              - project: my-group/ci-templates
                ref: v1.2.0
                file: /python.yml
              - project: my-group/ci-templates
                file: /other.yml
              - project: my-group/ci-templates
                ref: {COMMIT}
                file: /pinned.yml
              - remote: https://example.com/ci/common.yml
              - remote: https://example.com/ci/checked.yml
                integrity: sha256-L8N7ko8xV0gZ3qvEqF2vYb2Ycmq3QGX9dHwhN4Xrx7k=
              - https://example.com/ci/plain.yml
              - template: Auto-DevOps.gitlab-ci.yml
              - component: gitlab.com/org/components/lint@1.0.0
              - component: gitlab.com/org/components/sast@{COMMIT}
            """
        }
    )
    assert [(f.rule, f.location.line, f.message) for f in found] == [
        ("RP402", 3, "include: project my-group/ci-templates is taken at 'v1.2.0', a branch or "
         "tag that can move"),
        ("RP402", 5, "include: project my-group/ci-templates is taken at its default branch"),
        ("RP105", 10, "include: remote https://example.com/ci/common.yml is fetched on every "
         "pipeline without an integrity hash"),
        ("RP105", 13, "include: remote https://example.com/ci/plain.yml is fetched on every "
         "pipeline without an integrity hash"),
        ("RP402", 15, "include: component gitlab.com/org/components/lint is taken at '1.0.0', "
         "a branch or tag that can move"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({CI: "test:\n  script: {a: b}\n"},
         [("RP001", CI, 2, "gitlab-ci: script must be a string or a list of strings")]),
        ({CI: "include: ../outside.yml\n"},
         [("RP001", CI, 1, "gitlab-ci: include ../outside.yml is outside the repository")]),
        ({CI: "include: missing.yml\n"},
         [("RP001", CI, 1, "gitlab-ci: include missing.yml cannot be read")]),
        ({CI: "include: bad.yml\n", "bad.yml": "a: [\n"},
         [("RP001", "bad.yml", 2, "gitlab-ci: invalid YAML: did not find expected node content")]),
        ({CI: "- a\n"}, [("RP001", CI, 1, "gitlab-ci: expected a mapping at the top level")]),
    ],
)  # fmt: skip
def test_pipelines_gitlab_refuses_are_rp001(
    audit: Audit, files: dict[str, str | bytes], expected: list[tuple[str, str, int, str]]
) -> None:
    found = [f for f in audit(files) if f.rule == "RP001"]
    assert [(f.rule, f.location.path, f.location.line, f.message) for f in found] == expected


def test_a_symlinked_include_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yml"
    outside.write_text("job:\n  script: pip install x\n", encoding="utf-8")
    root = tmp_path / "repo"
    write_tree(root, {CI: "include: ci.yml\n"})
    (root / "ci.yml").symlink_to(outside)
    found = list(run_audit(root, load_config(root)).report.findings)
    assert [(f.rule, f.location.path, f.message) for f in found] == [
        ("RP001", CI, "gitlab-ci: include ci.yml is outside the repository")
    ]


def test_include_count_is_bounded(audit: Audit) -> None:
    files: dict[str, str | bytes] = {CI: "include: ci/f0.yml\n"}
    for index in range(MAX_INCLUDED_FILES + 5):
        files[f"ci/f{index}.yml"] = f"include: ci/f{index + 1}.yml\njob{index}:\n  script: ls\n"
    found = audit(files)
    assert [(f.rule, f.severity.value) for f in found] == [("RP002", "note")]
    assert "includes past 64 files or 16 levels are not followed" in found[0].message


def test_an_included_pipeline_is_judged_where_it_is_scanned(audit: Audit) -> None:
    found = audit(
        {
            CI: "include: sub/.gitlab-ci.yml\n",
            "sub/.gitlab-ci.yml": "job:\n  script: pip install tox\n",
        }
    )
    assert _found(found) == [("RP101", "sub/.gitlab-ci.yml", 2, "tox")]


def test_spec_header_and_inputs(audit: Audit) -> None:
    found = audit(
        {
            CI: """
            spec:
              inputs:
                python: {default: "3.11"}
            ---
            test:
              image: python:$[[ inputs.python ]]
              script:
                - pip install "tox==$[[ inputs.tox ]]" pytest
            """
        }
    )
    assert _found(found) == [("RP102", CI, 8, "tox"), ("RP101", CI, 8, "pytest")]


def test_anchors_and_references_are_judged_once(audit: Audit) -> None:
    jobs = "".join(
        f"job{i}:\n  <<: *base\n  script:\n    - !reference [.setup, script]\n" for i in range(40)
    )
    found = audit(
        {
            CI: ".setup: &base\n  image: python:3.11\n  script:\n    - pip install tox\n" + jobs,
            **NO_HASHES,
        }
    )
    assert _found(found) == [("RP301", CI, 2, "python"), ("RP101", CI, 4, "tox")]


def test_claims() -> None:
    scanner = GitLabScanner()
    assert scanner.claims(".gitlab-ci.yml", ".gitlab-ci.yml")
    assert scanner.claims("svc/.gitlab-ci.yml", ".gitlab-ci.yml")
    assert not scanner.claims(".gitlab/ci/build.yml", "build.yml")
