"""RP504 Python drift: shipped versions, requires-python, and what CI jobs run and install."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reprolock.audit.checks.python_drift import python_minor
from reprolock.audit.interface import FileFacts, Role
from reprolock.model import Finding, Severity
from tests.audit.checks.helpers import check, facts, job, only, rule_hits

Audit = Callable[[dict[str, str | bytes]], list[Finding]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3.11", (3, 11)),
        ("3.11.7", (3, 11)),
        ("3.13-dev", (3, 13)),
        ("3.13t", (3, 13)),
        ("3.12.0rc1", (3, 12)),
        ("cpython-3.12.3", (3, 12)),
        ("3.x", None),
        ("pypy3.10", None),
        ("system", None),
        (">=3.10", None),
    ],
)
def test_python_minor(value: str, expected: tuple[int, int] | None) -> None:
    assert python_minor(value) == expected


def stated(
    path: str, *pythons: tuple[str, int, str], images: tuple[tuple[str, int], ...] = ()
) -> FileFacts:
    return facts(path, role=Role.OTHER, kind="x", pythons=pythons, images=images)


def test_shipping_versions_that_disagree_are_reported_at_the_minority() -> None:
    found = check(
        stated(".python-version", ("3.12", 1, ".python-version")),
        stated(
            "Dockerfile",
            ("3.11", 1, "base image"),
            images=(("python:3.11-slim@sha256:" + "b" * 64, 1),),
        ),
        stated("environment.yml", ("3.11", 4, "conda")),
    )
    assert rule_hits(found) == [("RP504", ".python-version", 1)]
    f = found[0]
    assert f.message == (
        "Python 3.12 here (.python-version), but 3.11 in Dockerfile:1 (base image), "
        "environment.yml:4 (conda)"
    )
    assert (f.fix, f.subject, f.severity) == ("3.11", "python 3.12", Severity.WARNING)


def test_a_base_image_minority_gets_an_image_fix() -> None:
    found = check(
        stated(".python-version", ("3.11.9", 1, ".python-version")),
        stated("environment.yml", ("3.11", 4, "conda")),
        stated(
            "serve/Dockerfile",
            ("3.10", 3, "base image"),
            images=(("python:3.10-slim-bookworm", 3),),
        ),
    )
    assert rule_hits(found) == [("RP504", "serve/Dockerfile", 3)]
    assert found[0].fix == "FROM python:3.11-slim-bookworm"


def test_patch_versions_agree_and_further_pyenv_versions_are_not_shipped() -> None:
    assert (
        check(
            stated(
                ".python-version", ("3.11.7", 1, ".python-version"), ("3.12", 2, ".python-version")
            ),
            stated("Dockerfile", ("3.11", 1, "base image")),
            stated("environment.yml", ("3.11.9", 4, "conda")),
        )
        == []
    )


def test_a_shipping_version_requires_python_rejects() -> None:
    found = check(
        stated("pyproject.toml", (">=3.12", 7, "requires-python")),
        stated("Dockerfile", ("3.11", 1, "base image"), images=(("python:3.11-slim", 1),)),
    )
    assert rule_hits(found) == [("RP504", "Dockerfile", 1)]
    assert found[0].message == (
        "Python 3.11 (base image) is not admitted by requires-python '>=3.12' (pyproject.toml:7)"
    )
    assert found[0].fix is None  # no shipped version satisfies it


def test_minor_statements_are_admitted_when_some_release_of_the_minor_is() -> None:
    requires = stated("pyproject.toml", (">=3.11.4,<3.13", 3, "requires-python"))
    assert check(requires, stated(".python-version", ("3.11", 1, ".python-version"))) == []
    found = check(requires, stated(".python-version", ("3.11.2", 1, ".python-version")))
    assert rule_hits(found) == [("RP504", ".python-version", 1)]


def test_the_nearest_requires_python_applies() -> None:
    root = stated("pyproject.toml", (">=3.10", 5, "requires-python"))
    serving = stated("serving/pyproject.toml", (">=3.12", 5, "requires-python"))
    found = check(
        root,
        serving,
        stated("training/Dockerfile", ("3.11", 1, "base image")),
        stated("serving/Dockerfile", ("3.11", 1, "base image")),
    )
    assert rule_hits(found) == [("RP504", "serving/Dockerfile", 1)]
    lone = check(serving, stated("docker/Dockerfile", ("3.11", 1, "base image")))
    assert rule_hits(lone) == [("RP504", "docker/Dockerfile", 1)]


def test_ci_that_tests_no_shipped_version() -> None:
    ship = stated("Dockerfile", ("3.11", 1, "base image"))
    found = check(ship, stated(".github/workflows/ci.yml", ("3.12", 20, "ci"), ("3.13", 20, "ci")))
    assert rule_hits(found) == [("RP504", ".github/workflows/ci.yml", 20)] * 2
    assert found[0].message == (
        "CI tests Python 3.12, but the project ships 3.11 (Dockerfile:1 (base image)) "
        "and CI tests no shipped version"
    )
    assert (
        check(ship, stated(".github/workflows/ci.yml", ("3.11", 20, "ci"), ("3.12", 20, "ci")))
        == []
    )
    assert check(stated(".github/workflows/ci.yml", ("3.12", 20, "ci"))) == []


def test_a_ci_job_python_the_installed_project_does_not_admit() -> None:
    """A CI job on 3.9 that installs a project requiring >=3.10: an error in waiting."""
    project = stated("pyproject.toml", (">=3.10", 6, "requires-python"))
    ci = facts(
        ".github/workflows/ci.yml",
        kind="workflow",
        includes=(("pyproject.toml", 18),),
        pythons=(("3.9", 9, "ci"), ("3.10", 9, "ci"), ("3.8", 30, "ci")),
        sections=(job("test", 4, 20, "ubuntu-latest"), job("lint", 21, 35, "ubuntu-latest")),
    )
    found = check(project, ci)
    # The lint job installs nothing of the project: its 3.8 is not judged against it.
    assert rule_hits(found) == [("RP504", ".github/workflows/ci.yml", 9)]
    f = found[0]
    assert f.message == (
        "CI job test runs Python 3.9, but it installs the project whose requires-python is "
        "'>=3.10' (pyproject.toml:6)"
    )
    assert (f.subject, f.fix) == ("python 3.9", "python-version: '3.10'")


def test_through_the_audit_a_job_that_pip_installs_the_project(audit: Audit) -> None:
    found = audit(
        {
            "pyproject.toml": (
                '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.10"\n'
            ),
            ".github/workflows/ci.yml": (
                "name: ci\n"
                "on: push\n"
                "jobs:\n"
                "  test:\n"
                "    runs-on: ubuntu-latest\n"
                "    strategy:\n"
                "      matrix:\n"
                "        python: ['3.9', '3.12']\n"
                "    steps:\n"
                "      - uses: actions/setup-python@0a5c61591373683505ea898e09a3ea4f39ef2b9c\n"
                "        with:\n"
                "          python-version: ${{ matrix.python }}\n"
                "      - run: pip install -e '.[test]'\n"
                "  sync:\n"
                "    runs-on: ubuntu-latest\n"
                "    steps:\n"
                "      - uses: actions/setup-python@0a5c61591373683505ea898e09a3ea4f39ef2b9c\n"
                "        with:\n"
                "          python-version: '3.8'\n"
                "      - run: uv sync\n"
            ),
            "uv.lock": 'version = 1\nrequires-python = ">=3.10"\n',
        }
    )
    assert rule_hits(found) == [
        ("RP504", ".github/workflows/ci.yml", 8),
        ("RP504", ".github/workflows/ci.yml", 19),
    ]
    assert [f.subject for f in found if f.rule == "RP504"] == ["python 3.9", "python 3.8"]


def test_a_floating_ci_version_says_nothing() -> None:
    project = stated("pyproject.toml", (">=3.10", 6, "requires-python"))
    ci = facts(
        ".github/workflows/ci.yml",
        kind="workflow",
        includes=(("pyproject.toml", 18),),
        pythons=(("3.x", 9, "ci"),),
        sections=(job("test", 4, 20, "ubuntu-latest"),),
    )
    assert check(project, ci) == []


def test_only_rp504_for_a_ci_statement_judged_both_ways() -> None:
    ship = stated("Dockerfile", ("3.11", 1, "base image"))
    project = stated("pyproject.toml", (">=3.10", 6, "requires-python"))
    ci = facts(
        ".github/workflows/ci.yml",
        kind="workflow",
        includes=(("pyproject.toml", 18),),
        pythons=(("3.9", 9, "ci"),),
        sections=(job("test", 4, 20, "ubuntu-latest"),),
    )
    found = check(ship, project, ci)
    assert only(found, "RP504").message.startswith("CI job test runs Python 3.9")
