"""GitHub Actions: action and reusable-workflow pins, images, toolchains, run: installs."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit import workflows
from reprolock.audit.engine import run_audit
from reprolock.audit.images import judge_image
from reprolock.audit.interface import (
    FileFacts,
    ImageRef,
    Include,
    PythonVersion,
    Role,
    ScanContext,
    ScanError,
    SourceFile,
)
from reprolock.audit.workflows import (
    _EXPRESSION,
    ActionScanner,
    WorkflowScanner,
    _Offsets,
    _substitute,
    _substituted_text,
    is_floating_version,
)
from reprolock.config import Config, load_config
from reprolock.model import Finding, Location
from tests.conftest import FIXTURES, audit_tree, hits, write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

WF = ".github/workflows/ci.yml"
SHA = "11bd71901bbe5b1630ceea73d27597364c9af683"
DIGEST = "sha256:" + "4a" * 32


def _facts(tmp_path: Path, files: dict[str, str | bytes]) -> dict[str, FileFacts]:
    write_tree(tmp_path, files)
    return run_audit(tmp_path, load_config(tmp_path)).facts


def _rules(findings: list[Finding], *rules: str) -> list[tuple[str, str, int]]:
    return [h for h in hits(findings) if h[0] in rules]


# --- claims ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "claimed"),
    [
        (".github/workflows/ci.yml", True),
        (".github/workflows/release.yaml", True),
        (".github/workflows/nested/deploy.yml", True),
        ("services/api/.github/workflows/ci.yml", True),
        (".github/workflows/README.md", False),
        (".github/dependabot.yml", False),
        ("workflows/ci.yml", False),
        ("my.github/workflows/ci.yml", False),
    ],
)
def test_workflow_claims(relpath: str, claimed: bool) -> None:
    assert WorkflowScanner().claims(relpath, relpath.rsplit("/", 1)[-1]) is claimed


@pytest.mark.parametrize(
    ("relpath", "claimed"),
    [
        ("action.yml", True),
        ("action.yaml", True),
        (".github/actions/setup/action.yml", True),
        ("tools/lint/action.yaml", True),
        ("actions.yml", False),
        ("action.yml.bak", False),
    ],
)
def test_action_claims(relpath: str, claimed: bool) -> None:
    assert ActionScanner().claims(relpath, relpath.rsplit("/", 1)[-1]) is claimed


# --- RP401: step and job uses ---------------------------------------------------------------


def test_step_uses_on_a_tag_branch_or_short_sha_is_rp401(audit: Audit) -> None:
    found = audit(
        {
            WF: f"""
            on: push
            jobs:
              test:
                runs-on: ubuntu-22.04
                steps:
                  - uses: actions/checkout@v4
                  - uses: actions/cache@main
                  - uses: org/tool/sub/path@1a2b3c4
                  - uses: org/no-ref
                  - uses: org/expr@${{{{ inputs.ref }}}}
                  - uses: actions/checkout@{SHA} # v4.2.2
                  - uses: actions/checkout@{SHA.upper()}
                  - uses: ./.github/actions/local
                  - uses: ./local/action
            """
        }
    )
    assert hits(found) == [
        ("RP401", WF, 6),
        ("RP401", WF, 7),
        ("RP401", WF, 8),
        ("RP401", WF, 9),
        ("RP401", WF, 10),
    ]
    first = found[0]
    assert first.subject == "actions/checkout"
    assert first.message == "action actions/checkout@v4 is not pinned to a full commit SHA"
    assert first.fix == "actions/checkout@<40-hex commit> # v4"
    assert first.location.column == 15
    assert found[2].subject == "org/tool/sub/path"
    assert found[3].fix == "org/no-ref@<40-hex commit>"
    assert "no ref" in found[3].message
    assert "expression" in found[4].message


def test_reusable_workflow_uses_at_job_level(audit: Audit) -> None:
    found = audit(
        {
            WF: f"""
            on: push
            jobs:
              a:
                uses: org/shared/.github/workflows/build.yml@v1.2.0
              b:
                uses: org/shared/.github/workflows/build.yml@{SHA}
              c:
                uses: ./.github/workflows/local.yml
            """
        }
    )
    assert hits(found) == [("RP401", WF, 4)]
    assert found[0].message.startswith("reusable workflow org/shared/.github/workflows/build.yml@")
    assert found[0].fix == "org/shared/.github/workflows/build.yml@<40-hex commit> # v1.2.0"


def test_docker_actions_are_judged_as_images(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: f"""
        on: push
        jobs:
          lint:
            runs-on: ubuntu-22.04
            steps:
              - uses: docker://alpine:3.19
              - uses: docker://alpine
              - uses: docker://alpine:latest
              - uses: docker://rhysd/actionlint@latest
              - uses: docker://alpine:3.19@{DIGEST}
              - uses: docker://ghcr.io/org/img@{DIGEST}
        """
    }
    facts = _facts(tmp_path, files)[WF]
    assert [(f.rule, f.location.line) for f in facts.findings] == [
        ("RP301", 6),
        ("RP302", 7),
        ("RP302", 8),
        ("RP301", 9),  # `@latest` is not a digest, the same as in a FROM line
    ]
    assert [f.subject for f in facts.findings] == ["alpine", "alpine", "alpine", "rhysd/actionlint"]
    assert facts.findings[0].message == "alpine:3.19 is not pinned by digest"
    assert facts.findings[0].fix == (
        "alpine:3.19@sha256:<digest> (docker buildx imagetools inspect alpine:3.19 shows it)"
    )
    assert (
        facts.findings[3].message == "rhysd/actionlint@latest: latest is not a valid sha256 digest"
    )
    assert facts.findings[1].fix == "alpine:<version>@sha256:<digest>"
    assert [(i.ref, i.line) for i in facts.images] == [
        ("alpine:3.19", 6),
        ("alpine", 7),
        ("alpine:latest", 8),
        ("rhysd/actionlint@latest", 9),
        (f"alpine:3.19@{DIGEST}", 10),
        (f"ghcr.io/org/img@{DIGEST}", 11),
    ]


@pytest.mark.parametrize(
    ("ref", "rule"),
    [
        ("python:3.11-slim", "RP301"),
        ("localhost:5000/team/img:1.0", "RP301"),
        ("localhost:5000/team/img", "RP302"),
        ("python", "RP302"),
        ("python:latest", "RP302"),
        ("python:3.11@sha256:short", "RP301"),
        (f"python:3.11@{DIGEST}", None),
        (f"python@{DIGEST}", None),
        ("${{ matrix.image }}", None),
        ("scratch", None),
        ("", None),
    ],
)
def test_judge_image(ref: str, rule: str | None) -> None:
    found = judge_image(ref, Location(path="x", line=3))
    assert [f.rule for f in found] == ([rule] if rule else [])
    assert all(f.location.line == 3 for f in found)


@pytest.mark.parametrize(
    ("ref", "rule"),
    [
        ("ubuntu:rolling", "RP302"),
        ("pytorch/torchserve-nightly:latest-gpu", "RP302"),
        ("pytorch/torchserve:latest-cpu", "RP302"),
        ("lukemathwalker/cargo-chef:latest-rust-1.85.1", "RP302"),
        ("alpine:edge", "RP302"),
        ("org/app:nightly", "RP302"),
        ("org/app:main", "RP302"),
        ("org/app:dev", "RP302"),
        ("debian:stable-slim", "RP302"),
        ("node:lts-alpine", "RP302"),
        ("tensorflow/tensorflow:2.16.1-gpu", "RP301"),
        ("nvidia/cuda:12.1.0-devel-ubuntu22.04", "RP301"),
        ("org/app:nightly-2024-06-01", "RP301"),
        ("org/app:dev-3f2a1c9", "RP301"),
        (f"ubuntu:rolling@{DIGEST}", None),
    ],
)
def test_floating_tags_are_as_mutable_as_latest(ref: str, rule: str | None) -> None:
    """pytorch/serve ``docker/Dockerfile`` (``ubuntu:rolling``), ``docker/Dockerfile.vllm``
    (``pytorch/torchserve-nightly:latest-gpu``), huggingface/text-generation-inference
    ``Dockerfile`` (``lukemathwalker/cargo-chef:latest-rust-1.85.1``): RP302, not RP301; a
    word such as ``devel`` after a version is a flavour, a date or commit names one build."""
    found = judge_image(ref, Location(path="x", line=3))
    assert [f.rule for f in found] == ([rule] if rule else [])
    if rule == "RP302":
        assert found[0].message.startswith(f"{ref} uses the floating tag ")


# --- container and services -----------------------------------------------------------------


def test_container_and_services_images(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: f"""
        on: push
        jobs:
          a:
            runs-on: ubuntu-22.04
            container: python:3.11-slim
            services:
              db:
                image: postgres
              cache:
                image: redis:7@{DIGEST}
            steps:
              - run: echo hi
          b:
            runs-on: ubuntu-22.04
            container:
              image: nvidia/cuda:12.1.1-runtime-ubuntu22.04
              options: --gpus all
          c:
            runs-on: ubuntu-22.04
            strategy:
              matrix:
                image: ["python:3.11", "python:3.12@{DIGEST}"]
            container: ${{{{ matrix.image }}}}
          d:
            runs-on: ubuntu-22.04
            container:
              image: ${{{{ fromJSON(needs.setup.outputs.image) }}}}
        """
    }
    facts = _facts(tmp_path, files)[WF]
    assert [(f.rule, f.location.line, f.subject) for f in facts.findings] == [
        ("RP301", 5, "python"),
        ("RP302", 8, "postgres"),
        ("RP301", 16, "nvidia/cuda"),
        ("RP301", 22, "python"),
    ]
    assert facts.images == (
        ImageRef(ref="python:3.11-slim", line=5),
        ImageRef(ref="postgres", line=8),
        ImageRef(ref=f"redis:7@{DIGEST}", line=10),
        ImageRef(ref="nvidia/cuda:12.1.1-runtime-ubuntu22.04", line=16),
        ImageRef(ref="python:3.11", line=22),
        ImageRef(ref=f"python:3.12@{DIGEST}", line=22),
    )
    # The job's own container names the Python its steps run; a service's image does not.
    assert [(p.value, p.line, p.origin) for p in facts.pythons] == [
        ("3.11", 5, "ci"),
        ("3.11", 22, "ci"),
        ("3.12", 22, "ci"),
    ]
    assert facts.role is Role.OTHER
    assert facts.kind == "workflow"


# --- RP403: toolchains ----------------------------------------------------------------------


def _setup(action: str, key: str, value: str) -> str:
    return f"""
    on: push
    jobs:
      t:
        runs-on: ubuntu-22.04
        steps:
          - uses: {action}@{SHA}
            with:
              {key}: {value}
    """


@pytest.mark.parametrize(
    ("action", "key", "value", "flagged"),
    [
        ("actions/setup-python", "python-version", "3.x", True),
        ("actions/setup-python", "python-version", "'*'", True),
        ("actions/setup-python", "python-version", "latest", True),
        ("actions/setup-python", "python-version", "'>=3.10'", True),
        ("actions/setup-python", "python-version", "3", True),
        ("actions/setup-python", "python-version", "pypy3", True),
        ("actions/setup-python", "python-version", "'3.11'", False),
        ("actions/setup-python", "python-version", "3.11.7", False),
        ("actions/setup-python", "python-version", "3.11.x", False),
        ("actions/setup-python", "python-version", "pypy3.10", False),
        ("actions/setup-python", "python-version", "3.13t", False),
        ("actions/setup-python", "python-version-file", ".python-version", False),
        ("actions/setup-node", "node-version", "latest", True),
        ("actions/setup-node", "node-version", "lts/*", True),
        ("actions/setup-node", "node-version", "x", True),
        ("actions/setup-node", "node-version", "20", False),
        ("actions/setup-node", "node-version", "20.x", False),
        ("actions/setup-go", "go-version", "1.x", True),
        ("actions/setup-go", "go-version", "stable", True),
        ("actions/setup-go", "go-version", "'1.22'", False),
        ("actions/setup-java", "java-version", "'*'", True),
        ("actions/setup-java", "java-version", "17", False),
        ("conda-incubator/setup-miniconda", "python-version", "3.x", True),
        ("some/other-action", "python-version", "3.x", False),
    ],
)
def test_floating_toolchains(
    audit: Audit, action: str, key: str, value: str, flagged: bool
) -> None:
    found = [f for f in audit({WF: _setup(action, key, value)}) if f.location.line == 8]
    assert hits(found) == ([("RP403", WF, 8)] if flagged else [])
    if flagged:
        assert found[0].severity.value == "note"
        assert found[0].message.startswith(f"{key} ")


@pytest.mark.parametrize(
    ("step", "files", "message"),
    [
        ("uses: astral-sh/setup-uv@{sha}", {},
         "astral-sh/setup-uv with no version or version-file input installs the newest uv"),
        ("uses: astral-sh/setup-uv@{sha}\n  with: {{enable-cache: true}}", {},
         "astral-sh/setup-uv with no version or version-file input installs the newest uv"),
        ("uses: astral-sh/setup-uv@{sha}\n  with: {{version: 0.5.1}}", {}, None),
        ("uses: astral-sh/setup-uv@{sha}", {"uv.toml": "required-version = '0.5.1'\n"}, None),
        ("uses: conda-incubator/setup-miniconda@{sha}", {},
         "conda-incubator/setup-miniconda with no miniconda-version or miniforge-version input "
         "installs whichever conda the runner image bundles"),
        ("uses: conda-incubator/setup-miniconda@{sha}\n  with: {{miniforge-version: 24.3.0-0}}",
         {}, None),
        ("uses: actions/setup-python@{sha}", {},
         "actions/setup-python with no python-version or python-version-file input installs "
         "whichever Python the runner image has on its PATH"),
        ("uses: actions/setup-python@{sha}", {".python-version": "3.11\n"}, None),
        ("uses: iterative/setup-dvc@{sha}", {},
         "iterative/setup-dvc with no version input installs the newest DVC"),
        ("uses: iterative/setup-cml@{sha}", {},
         "iterative/setup-cml with no version input installs the newest CML"),
        ("uses: actions/setup-node@{sha}", {}, None),
    ],
)  # fmt: skip
def test_setup_actions_without_a_version_input(
    audit: Audit, step: str, files: dict[str, str], message: str | None
) -> None:
    """EleutherAI/lm-evaluation-harness ``.github/workflows/unit_tests.yml`` (``setup-uv``
    with no ``version``), openai/whisper ``.github/workflows/test.yml`` (``setup-miniconda``
    with no ``miniconda-version``): the tool floats (issue 14 section 4)."""
    body = textwrap.indent(step.format(sha=SHA), " " * 10).lstrip()
    workflow = f"""
    on: push
    jobs:
      t:
        runs-on: ubuntu-22.04
        steps:
          - {body}
    """
    found = audit({WF: workflow, **files})
    assert [(f.rule, f.location.line, f.message) for f in found] == (
        [("RP403", 6, message)] if message else []
    )


def test_is_floating_version_edge_cases() -> None:
    assert is_floating_version("python", "3.X")
    assert is_floating_version("python", "^3.11")
    assert is_floating_version("python", ">=3.10, <3.13")
    assert not is_floating_version("python", "")
    assert not is_floating_version("python", "3.12-dev")
    assert not is_floating_version("python", "something-else")
    assert not is_floating_version("go", "1.21.5")


def test_unquoted_three_ten_is_the_number_three_point_one(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: f"""
        on: push
        jobs:
          t:
            runs-on: ubuntu-22.04
            steps:
              - uses: actions/setup-python@{SHA}
                with:
                  python-version: 3.10
              - uses: actions/setup-go@{SHA}
                with:
                  go-version: 1.20
              - uses: actions/setup-python@{SHA}
                with:
                  python-version: 3.8
        """
    }
    facts = _facts(tmp_path, files)[WF]
    assert [(f.rule, f.location.line, f.subject) for f in facts.findings] == [
        ("RP403", 8, "python"),
        ("RP403", 11, "go"),
    ]
    assert facts.findings[0].message == "python-version 3.10 is read by YAML as the number 3.1"
    assert facts.findings[0].fix == "'3.10'"
    assert facts.findings[1].message == "go-version 1.20 is read by YAML as the number 1.2"
    # What the author meant is what RP504 compares.
    assert facts.pythons == (
        PythonVersion(value="3.10", line=8, origin="ci"),
        PythonVersion(value="3.8", line=14, origin="ci"),
    )


def test_matrix_values_are_resolved_at_their_own_lines(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: f"""
        on: push
        jobs:
          t:
            runs-on: ubuntu-22.04
            strategy:
              matrix:
                os: [ubuntu-22.04]
                python-version:
                  - "3.11"
                  - 3.x
                  - 3.10
                include:
                  - python-version: "3.12.4"
                  - python-version: latest
                    os: macos-14
            steps:
              - uses: actions/setup-python@{SHA}
                with:
                  python-version: ${{{{ matrix.python-version }}}}
          unresolvable:
            runs-on: ubuntu-22.04
            strategy:
              matrix: ${{{{ fromJSON(needs.plan.outputs.matrix) }}}}
            steps:
              - uses: actions/setup-python@{SHA}
                with:
                  python-version: ${{{{ matrix.python }}}}
              - uses: actions/setup-python@{SHA}
                with:
                  python-version: ${{{{ matrix.python }}}}-dev
        """
    }
    facts = _facts(tmp_path, files)[WF]
    assert [(f.rule, f.location.line, f.message) for f in facts.findings] == [
        ("RP403", 10, "python-version 3.x floats to whichever release is newest"),
        ("RP403", 11, "python-version 3.10 is read by YAML as the number 3.1"),
        ("RP403", 14, "python-version latest floats to whichever release is newest"),
    ]
    assert [(p.value, p.line) for p in facts.pythons] == [("3.11", 9), ("3.10", 11), ("3.12.4", 13)]
    assert all(p.origin == "ci" for p in facts.pythons)


def test_env_and_input_defaults_are_resolved(audit: Audit) -> None:
    found = audit(
        {
            WF: f"""
            name: reusable
            on:
              workflow_call:
                inputs:
                  python-version:
                    type: string
                    default: "3.x"
            env:
              NODE: latest
            jobs:
              t:
                runs-on: ubuntu-22.04
                steps:
                  - uses: actions/setup-python@{SHA}
                    with:
                      python-version: ${{{{ inputs.python-version }}}}
                  - uses: actions/setup-node@{SHA}
                    with:
                      node-version: ${{{{ env.node }}}}
            """
        }
    )
    # The finding sits on the value that floats, wherever the expression leads.
    assert hits(found) == [("RP403", WF, 7), ("RP403", WF, 9)]


def test_multi_line_python_version_input(audit: Audit) -> None:
    found = audit(
        {
            WF: f"""
            on: push
            jobs:
              t:
                runs-on: ubuntu-22.04
                steps:
                  - uses: actions/setup-python@{SHA}
                    with:
                      python-version: |
                        3.11
                        3.x
            """
        }
    )
    assert hits(found) == [("RP403", WF, 10)]


# --- YAML: on:, anchors, aliases, merge keys ------------------------------------------------


def test_on_key_and_boolean_lookalikes_do_not_confuse_the_reader(audit: Audit) -> None:
    # YAML 1.1 reads `on` (and `yes`, `off`) as booleans; the workflow still parses.
    found = audit(
        {
            WF: """
            on:
              push:
                branches: [main]
            yes: true
            off: [1]
            jobs:
              t:
                runs-on: ubuntu-22.04
                steps:
                  - uses: actions/checkout@v4
            """
        }
    )
    assert hits(found) == [("RP401", WF, 10)]


def test_anchors_aliases_and_merge_keys(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: f"""
        on: push
        x-defaults: &defaults
          runs-on: ubuntu-22.04
          container: python:3.11-slim
          steps:
            - uses: &checkout actions/checkout@v4
            - run: &install pip install numpy
        jobs:
          a:
            <<: *defaults
          b:
            <<: [*defaults]
            container: python:3.12-slim@{DIGEST}
          c:
            runs-on: ubuntu-22.04
            steps:
              - uses: *checkout
              - run: *install
              - uses: actions/setup-python@{SHA}
                with: &py
                  python-version: 3.x
              - uses: actions/setup-python@{SHA}
                with: *py
        """
    }
    facts = _facts(tmp_path, files)[WF]
    # Every alias points at one node: one finding at the anchored text, however often used.
    assert sorted((f.rule, f.location.line) for f in facts.findings) == [
        ("RP101", 7),
        ("RP301", 4),
        ("RP401", 6),
        ("RP403", 21),
    ]


def test_recursive_merge_and_alias_do_not_loop(audit: Audit) -> None:
    found = audit(
        {
            WF: """
            on: push
            jobs:
              a: &a
                <<: *a
                runs-on: ubuntu-22.04
                steps: &s
                  - uses: actions/checkout@v4
                  - *s
            """
        }
    )
    assert _rules(found, "RP401") == [("RP401", WF, 7)]


# --- malformed files ------------------------------------------------------------------------


def test_invalid_yaml_is_rp001_at_the_problem_line(audit: Audit) -> None:
    found = audit(
        {
            WF: """
            on: push
            jobs:
              t:
                steps:
            \t- run: echo
            """,
            "requirements.txt": "numpy\n",
        }
    )
    assert hits(found) == [("RP001", WF, 5), ("RP101", "requirements.txt", 1)]
    assert found[0].message.startswith("workflow: invalid YAML")


def test_not_a_mapping_at_the_top(audit: Audit) -> None:
    found = audit({WF: "- uses: actions/checkout@v4\n", ".github/workflows/empty.yml": ""})
    assert hits(found) == [("RP001", WF, 1)]
    assert "mapping" in found[0].message


def test_partly_bad_workflow_reports_rp001_and_keeps_going(audit: Audit) -> None:
    found = audit(
        {
            WF: """
            on: push
            jobs:
              bad-job: just a string
              bad-steps:
                runs-on: ubuntu-22.04
                steps:
                  uses: actions/checkout@v4
              bad-items:
                runs-on: ubuntu-22.04
                steps:
                  - just a string
                  - uses: {not: a string}
                  - run: [not, a, string]
                  - uses: actions/checkout@v4
              empty:
            """,
            ".github/workflows/jobs-list.yml": """
            on: push
            jobs:
              - uses: actions/checkout@v4
            """,
        }
    )
    assert hits(found) == [
        ("RP001", ".github/workflows/ci.yml", 3),
        ("RP001", ".github/workflows/ci.yml", 7),
        ("RP001", ".github/workflows/ci.yml", 11),
        ("RP001", ".github/workflows/ci.yml", 12),
        ("RP001", ".github/workflows/ci.yml", 13),
        ("RP401", ".github/workflows/ci.yml", 14),
        ("RP001", ".github/workflows/jobs-list.yml", 3),
    ]


def test_yaml_files_under_workflows_without_jobs_are_quiet(audit: Audit) -> None:
    found = audit({".github/workflows/labels.yml": "bug:\n  color: red\n"})
    assert found == []


# --- run: steps -----------------------------------------------------------------------------


def test_run_block_scalar_lines_map_to_the_file(audit: Audit) -> None:
    found = audit(
        {
            WF: """
            on: push
            jobs:
              t:
                runs-on: ubuntu-22.04
                steps:
                  - name: literal
                    run: |
                      echo start

                      pip install numpy
                  - name: folded
                    run: >
                      echo one &&
                      echo two

                      pip install pandas
                  - run: pip install scipy
                  - run: "pip install torch"
                  - run: pip install
                      polars
                  - name: keep-indicator
                    run: |2-
                        # indented by two more
                        pip install xgboost
            """
        }
    )
    assert _rules(found, "RP101") == [
        ("RP101", WF, 10),
        ("RP101", WF, 16),
        ("RP101", WF, 17),
        ("RP101", WF, 18),
        ("RP101", WF, 19),
        ("RP101", WF, 24),
    ]
    assert [f.subject for f in _subjects(found)] == [
        "numpy",
        "pandas",
        "scipy",
        "torch",
        "polars",
        "xgboost",
    ]


def _subjects(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.rule == "RP101"]


def test_run_step_shells(audit: Audit) -> None:
    found = audit(
        {
            WF: """
            on: push
            defaults:
              run:
                shell: cmd
            jobs:
              windows:
                runs-on: windows-2022
                steps:
                  - run: pip install a
              posix-job:
                runs-on: ubuntu-22.04
                defaults:
                  run:
                    shell: bash
                steps:
                  - run: pip install b
                  - run: pip install c
                    shell: pwsh
                  - run: pip install d
                    shell: python
                  - run: pip install e
                    shell: bash -el {0}
                  - run: pip install f
                    shell: /usr/bin/sh -e {0}
            """
        }
    )
    # PowerShell and cmd text is still read for installers (pip reads the same there);
    # a python step is Python, not shell.
    assert [(f.rule, f.location.line, f.subject) for f in found] == [
        ("RP101", 9, "a"),
        ("RP101", 16, "b"),
        ("RP101", 17, "c"),
        ("RP101", 21, "e"),
        ("RP101", 23, "f"),
    ]


def test_run_expressions_resolve_to_matrix_values(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: """
        on: push
        env:
          NUMPY: "1.26.4"
        jobs:
          t:
            runs-on: ubuntu-22.04
            strategy:
              matrix:
                torch: ["2.2.2", "2.3.1"]
            steps:
              - run: |
                  echo "${{ github.sha }}"
                  pip install "torch==${{ matrix.torch }}" numpy==${{ env.NUMPY }}
              - run: pip install "sklearn-x==${{ inputs.version }}"
        """
    }
    facts = _facts(tmp_path, files)[WF]
    assert sorted((p.name, p.version, p.line) for p in facts.pins) == [
        ("numpy", "1.26.4", 13),
        ("torch", "2.2.2", 13),
        ("torch", "2.3.1", 13),
    ]
    unresolved = [f for f in facts.findings if f.rule == "RP102"]
    assert [(f.location.line, f.subject) for f in unresolved] == [(14, "sklearn-x")]
    assert "${INPUTS_VERSION}" in unresolved[0].message
    assert facts.role is Role.CONCRETE


def test_matrix_expansion_reports_each_problem_once_where_it_is_written(audit: Audit) -> None:
    """openai/whisper ``.github/workflows/test.yml`` line 78: values of different lengths
    used to shift columns (RP103 at two columns, RP107 at four). One finding per problem, at
    the column as written, naming the values it holds for (issue 14 section 2)."""
    found = audit(
        {
            WF: f"""
            on: push
            jobs:
              whisper:
                runs-on: ubuntu-latest
                strategy:
                  matrix:
                    include:
                      - pytorch-version: 1.10.1
                        numpy-requirement: "'numpy<2'"
                      - pytorch-version: 2.5.1
                        numpy-requirement: "'numpy'"
                steps:
                  - uses: actions/checkout@{SHA}
                  - run: pip3 install ${{{{ matrix.numpy-requirement }}}} torch==${{{{ matrix.pytorch-version }}}}+cpu --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
            """  # noqa: E501
        }
    )
    script = (
        "pip3 install ${{ matrix.numpy-requirement }} torch==${{ matrix.pytorch-version }}+cpu "
        "--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple"
    )
    column = 14  # where `run: ` puts the script; then each finding where its text is written
    assert [(f.rule, f.location.line, f.location.column, f.message) for f in found] == [
        ("RP101", 14, column + script.index("${{"),
         "numpy is not pinned (for matrix.numpy-requirement: 'numpy')"),
        ("RP102", 14, column + script.index("${{"),
         "numpy<2 is a range, not an exact pin (for matrix.numpy-requirement: 'numpy<2')"),
        ("RP103", 14, column + script.index("torch"),
         "torch==1.10.1+cpu is installed without a hash (pip takes hashes only from a "
         "requirements file) (for matrix.pytorch-version: 1.10.1, 2.5.1)"),
        ("RP107", 14, column + script.index("https://pypi.org"),
         "--extra-index-url https://pypi.org/simple lets a public package shadow a private one"),
    ]  # fmt: skip


def test_role_is_other_without_python_installs(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: f"""
        on: push
        jobs:
          t:
            runs-on: ubuntu-22.04
            steps:
              - uses: actions/checkout@{SHA}
              - run: make test
        """
    }
    facts = _facts(tmp_path, files)[WF]
    assert facts.role is Role.OTHER
    assert facts.findings == ()


# --- action metadata ------------------------------------------------------------------------


def test_composite_action_steps(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "tools/setup/action.yml": f"""
        name: setup
        inputs:
          python-version:
            default: "3"
        runs:
          using: composite
          steps:
            - uses: actions/setup-python@v5
              with:
                python-version: ${{{{ inputs.python-version }}}}
            - uses: actions/cache@{SHA}
            - uses: ./tools/other
            - shell: bash
              run: |
                pip install numpy
        """
    }
    facts = _facts(tmp_path, files)["tools/setup/action.yml"]
    assert facts.kind == "action"
    assert facts.role is Role.CONCRETE
    assert sorted((f.location.line, f.rule) for f in facts.findings) == [
        (4, "RP403"),
        (8, "RP401"),
        (15, "RP101"),
    ]


def test_docker_action_image(audit: Audit) -> None:
    found = audit(
        {
            "a/action.yml": "runs:\n  using: docker\n  image: docker://python:3.11-slim\n",
            "b/action.yaml": "runs:\n  using: 'docker'\n  image: Dockerfile\n",
            "c/action.yml": f"runs:\n  using: docker\n  image: docker://python@{DIGEST}\n",
            "d/action.yml": "runs:\n  using: node20\n  main: dist/index.js\n",
        }
    )
    assert hits(found) == [("RP301", "a/action.yml", 3)]


def test_action_named_file_that_is_not_an_action(audit: Audit) -> None:
    files: dict[str, str | bytes] = {
        "ansible/action.yml": "- name: something else\n  debug: {}\n",
        "x/action.yml": "name: no runs here\n",
        "y/action.yml": "runs: [\n",
    }
    assert hits(audit(files)) == [("RP001", "y/action.yml", 2)]


# --- a real-looking project -----------------------------------------------------------------


def test_ml_project_fixture(tmp_path: Path) -> None:
    root = tmp_path / "ml-project"
    shutil.copytree(FIXTURES / "workflows" / "ml-project", root)
    # Cross-file rules (RP5xx) belong to other scanners; RP103 depends on hash policy.
    found = [f for f in audit_tree(root) if f.rule[:3] != "RP5" and f.rule != "RP103"]
    lint = ".github/actions/lint/action.yml"
    setup = ".github/actions/setup-env/action.yml"
    train = ".github/workflows/train.yml"
    assert hits(found) == [
        ("RP301", lint, 5),
        ("RP403", setup, 6),
        ("RP401", setup, 10),
        # `pip install scikit-learn>=1.3` unquoted: the shell redirects to a file "=1.3".
        ("RP101", setup, 19),
        ("RP403", train, 22),
        ("RP403", train, 24),
        ("RP401", train, 27),
        ("RP401", train, 28),
        ("RP101", train, 33),
        ("RP101", train, 34),
        ("RP301", train, 41),
        ("RP302", train, 44),
        ("RP301", train, 50),
        ("RP101", train, 56),
        ("RP401", train, 60),
    ]
    facts = run_audit(root, load_config(root)).facts[train]
    assert facts.role is Role.CONCRETE
    assert {(p.name, p.version) for p in facts.pins} >= {("numpy", "1.26.4"), ("torch", "2.3.1")}
    assert [(p.value, p.line) for p in facts.pythons] == [("3.10", 22), ("3.11", 22)]
    assert [i.ref for i in facts.images] == [
        "pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime",
        "ghcr.io/mlflow/mlflow",
        "postgres:16@sha256:4aea012537edfad80f98d870a36e6b90b4c09b27be7f4b4759d72db863baeebb",
        "ghcr.io/astral-sh/ruff:0.4.8",
    ]


def test_pinned_fixture_is_clean() -> None:
    root = FIXTURES / "workflows" / "pinned"
    assert audit_tree(root) == []
    facts = run_audit(root, load_config(root)).facts[".github/workflows/ci.yml"]
    assert [(p.value, p.line) for p in facts.pythons] == [("3.11", 10), ("3.11", 13), ("3.12", 13)]
    assert facts.role is Role.CONCRETE


# --- robustness -----------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "on:\n", "jobs:\n", "  t:\n", "    steps:\n", "      - uses: ", "actions/checkout@v4",
        "docker://alpine", "      - run: |\n", "        pip install numpy\n", "    container: ",
        "    services:\n", "      db:\n        image: ", "python:3.11", "    strategy:\n",
        "      matrix:\n", "        python-version: [3.10, 3.x]\n", "        include:\n",
        "          - python-version: ", "${{ matrix.python-version }}", "${{ env.X }}",
        "      - uses: actions/setup-python@v5\n        with:\n          python-version: ",
        "runs:\n", "  using: composite\n", "  using: docker\n", "  image: ", "  steps:\n",
        "<<: *a\n", "&a ", "*a", "{", "}", "[", "]", "\t", "'", '"', "\n", ": ", "- ", ">\n",
        "    defaults:\n      run:\n        shell: ", "bash", "pwsh", "---\n", "${{", "}}",
    ]
)  # fmt: skip
_TEXT = st.one_of(st.text(max_size=300), st.lists(_FRAGMENTS, max_size=50).map("".join))


@pytest.mark.parametrize("scanner", [WorkflowScanner(), ActionScanner()], ids=lambda s: s.name)
def test_random_text_raises_nothing_but_scan_error(
    scanner: WorkflowScanner | ActionScanner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    name = "action.yml" if scanner.name == "action" else "ci.yml"
    ctx = ScanContext(root=root, config=Config(), files=frozenset({name}))

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=_TEXT)
    def run(text: str) -> None:
        source = SourceFile(path=name, abspath=root / name, text=text)
        try:
            facts = scanner.scan(source, ctx)
        except ScanError as exc:
            error_line = exc.line
        else:
            error_line = 1
            lines = [f.location.line for f in facts.findings]
            assert all(f.location.path == name for f in facts.findings)
            assert all(line >= 1 for line in lines)
        assert error_line >= 1

    run()


# --- run: steps and the shell audit's context -------------------------------------------------


def test_env_values_are_shell_variables(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: """
        on: push
        env:
          TORCH: "2.3.1"
        jobs:
          t:
            runs-on: ubuntu-22.04
            strategy:
              matrix:
                numpy: ["1.26.4"]
            env:
              NUMPY: ${{ matrix.numpy }}
              SCIPY: ${{ secrets.SCIPY_VERSION }}
            steps:
              - run: |
                  pip install "torch==$TORCH" "numpy==${NUMPY}"
                  pip install "scipy==$SCIPY"
              - env:
                  TORCH: 2.2.2
                run: pip install "torch==$TORCH"
        """
    }
    facts = _facts(tmp_path, files)[WF]
    assert sorted((p.name, p.version, p.line) for p in facts.pins) == [
        ("numpy", "1.26.4", 15),
        ("torch", "2.2.2", 19),
        ("torch", "2.3.1", 15),
    ]
    assert [(f.rule, f.location.line, f.subject) for f in facts.findings if f.rule != "RP103"] == [
        ("RP102", 16, "scipy")
    ]


def test_requirement_files_are_found_from_the_working_directory(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        WF: """
        on: push
        jobs:
          t:
            runs-on: ubuntu-22.04
            defaults:
              run:
                working-directory: svc
            steps:
              - run: pip install --require-hashes -r requirements.txt
              - working-directory: ./other
                run: pip install -r requirements.txt
              - working-directory: .
                run: pip install -c constraints.txt
        """,
        "svc/requirements.txt": "numpy\n",
        "other/requirements.txt": "pandas==2.2.2 --hash=sha256:" + "ab" * 32 + "\n",
        "constraints.txt": "numpy==1.26.4 --hash=sha256:" + "cd" * 32 + "\n",
    }
    facts = _facts(tmp_path, files)
    assert facts[WF].includes == (
        Include(target="svc/requirements.txt", line=9),
        Include(target="other/requirements.txt", line=11),
        Include(target="constraints.txt", line=13, constraint=True),
    )
    assert facts[WF].role is Role.CONCRETE
    assert hits(audit_tree(tmp_path)) == [("RP101", "svc/requirements.txt", 1)]


def test_downloads_carry_across_the_steps_of_one_job(audit: Audit) -> None:
    found = audit(
        {
            WF: """
            on: push
            jobs:
              a:
                runs-on: ubuntu-22.04
                steps:
                  - run: curl -fsSL https://example.com/install.sh -o /tmp/install.sh
                  - run: echo unrelated
                  - run: bash /tmp/install.sh
              b:
                runs-on: ubuntu-22.04
                steps:
                  - run: bash /tmp/install.sh
            """
        }
    )
    assert hits(found) == [("RP105", WF, 8)]


def test_run_findings_carry_the_column_of_the_word(audit: Audit) -> None:
    found = audit(
        {
            WF: """
            on: push
            jobs:
              t:
                runs-on: ubuntu-22.04
                steps:
                  - run: |
                      pip install numpy
                  - run: pip install pandas
                  - run: 'pip install scipy'
            """
        }
    )
    assert [(f.location.line, f.location.column, f.subject) for f in found] == [
        (7, 23, "numpy"),
        (8, 26, "pandas"),
        (9, 27, "scipy"),
    ]


def test_windows_runners_default_to_powershell(audit: Audit) -> None:
    script = """
                steps:
                  - run: |
                      if ($IsWindows) { Write-Host "hi" }
                      pip install numpy
    """
    found = audit(
        {
            ".github/workflows/win.yml": f"""
            on: push
            jobs:
              win:
                runs-on: windows-2022{script}""",
            ".github/workflows/matrix.yml": f"""
            on: push
            jobs:
              any:
                strategy:
                  matrix:
                    os: [ubuntu-22.04, windows-2022]
                runs-on: ${{{{ matrix.os }}}}{script}""",
            ".github/workflows/linux.yml": f"""
            on: push
            jobs:
              linux:
                runs-on: [self-hosted, linux]{script}""",
        }
    )
    # PowerShell text is read for installers only; as bash, the `{ ... }` is a syntax error.
    assert hits(found) == [
        ("RP002", ".github/workflows/linux.yml", 7),
        ("RP101", ".github/workflows/linux.yml", 8),
        ("RP101", ".github/workflows/matrix.yml", 11),
        ("RP101", ".github/workflows/win.yml", 8),
    ]


def _substitute_by_character(
    script: str, table: dict[str, str]
) -> tuple[str, tuple[tuple[int, ...], ...]]:
    """What ``_substitute`` returns, worked out one character at a time."""
    text = ""
    lines: list[list[int]] = [[]]
    column = 0

    def literal(part: str) -> None:
        nonlocal text, column
        for char in part:
            text += char
            if char == "\n":
                lines.append([])
                column = 0
            else:
                lines[-1].append(column)
                column += 1

    position = 0
    for match in _EXPRESSION.finditer(script):
        literal(script[position : match.start()])
        written = match.group(0)
        text += table[written]
        lines[-1].extend([column] * len(table[written]))
        breaks = written.count("\n")
        for _ in range(breaks):
            text += "\n"
            lines.append([])
        column = len(written) - written.rfind("\n") - 1 if breaks else column + len(written)
        position = match.end()
    literal(script[position:])
    return text, tuple(tuple(line) for line in lines)


@settings(max_examples=300)
@given(
    pieces=st.lists(
        st.sampled_from(
            [
                "pip install ",
                "x",
                "\n",
                "  ",
                "${{ matrix.p }}",
                "${{ a\n b }}",
                "${{ env.E }}",
                "é",
            ]
        )
    ),
    values=st.tuples(st.sampled_from(["", "v", "ab c"]), st.sampled_from(["w", "\n", "xyz"])),
)
def test_substituted_text_keeps_where_each_character_was_written(
    pieces: list[str], values: tuple[str, str]
) -> None:
    script = "".join(pieces)
    table = dict.fromkeys(dict.fromkeys(m.group(0) for m in _EXPRESSION.finditer(script)), "")
    for index, expr in enumerate(table):
        table[expr] = values[index % 2]
    assert _substitute(script, table) == _substitute_by_character(script, table)
    text, offsets = _substitute(script, table)
    assert _substituted_text(script, table) == text
    lazy = _Offsets(script, table)
    assert (len(lazy), tuple(lazy), lazy[-1], tuple(lazy[:1])) == (
        len(offsets),
        offsets,
        offsets[-1],
        offsets[:1],
    )


def test_where_substituted_characters_were_written_is_worked_out_only_for_a_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = workflows._substitute

    def counted(script: str, table: dict[str, str]) -> tuple[str, tuple[tuple[int, ...], ...]]:
        calls.append(script)
        return real(script, table)

    monkeypatch.setattr(workflows, "_substitute", counted)
    text = (
        "on: push\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    strategy:\n      matrix:\n"
        "        p: [a, b]\n    steps:\n"
        "      - run: python -m pytest projects/${{ matrix.p }}/tests\n"
        "      - run: pip install ${{ matrix.p }}\n"
    )
    source = SourceFile(path=WF, abspath=tmp_path / WF, text=text)
    ctx = ScanContext(root=tmp_path, config=Config(), files=frozenset({WF}))
    facts = WorkflowScanner().scan(source, ctx)
    found = [(f.rule, f.location.line, f.location.column) for f in facts.findings]
    # the pytest step reports nothing: only the install's variants place a column
    assert found == [("RP101", 10, 26), ("RP101", 10, 26)]
    assert calls == ["pip install ${{ matrix.p }}"] * 2
