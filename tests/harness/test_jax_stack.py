"""The second ML stack: JAX/jaxlib CPU wheels (~100 MB each) in real containers.

Two bumps of the fixture project fixtures/projects/jax-features: 0.4.38 -> 0.5.0 changes the
random features every prediction draws from ``PRNGKey(0)`` (``jax_threefry_partitionable``
became the default), so the labels move; 0.5.0 -> 0.5.3 only moves the last bits of the
probabilities, within the suite's tolerance, which the report names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import docker
import pytest

from tests.conftest import FIXTURES
from tests.harness.conftest import Repro

JAX_PROJECT = FIXTURES / "projects" / "jax-features"


@pytest.fixture(scope="session")
def jax_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the project for the session: its images are built once and shared."""
    target = tmp_path_factory.mktemp("jax") / "jax-features"
    shutil.copytree(JAX_PROJECT, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_a_jax_bump_that_changes_the_prng_is_changed(
    repro: Repro, jax_project: Path, docker_client: docker.DockerClient
) -> None:
    run = repro(
        "replay", "--suite", "rff", "--lock", "locks/jax-0.5.0.txt", "--format", "json",
        cwd=jax_project,
    )  # fmt: skip
    report = run.json()
    assert (run.code, report["verdict"]) == (1, "changed")
    assert report["lock_diff"] == [
        {"name": "jax", "old": "0.4.38", "new": "0.5.0"},
        {"name": "jaxlib", "old": "0.4.38", "new": "0.5.0"},
    ]
    labels = report["outputs"]["labels"]
    assert (labels["verdict"], labels["label_flips"], labels["total"]) == ("changed", 239, 300)
    assert report["outputs"]["proba"]["verdict"] == "changed"
    assert report["attributable"] is True


def test_a_jax_bump_that_moves_low_bits_is_within_tolerance_and_says_which(
    repro: Repro, jax_project: Path, docker_client: docker.DockerClient
) -> None:
    run = repro(
        "replay", "--suite", "rff-retrained", "--lock", "locks/jax-0.5.3.txt", "--format", "json",
        cwd=jax_project,
    )  # fmt: skip
    report = run.json()
    assert (run.code, report["verdict"]) == (0, "within-tolerance")
    proba = report["outputs"]["proba"]
    assert proba["verdict"] == "within-tolerance"
    assert proba["tolerance"] == {"rtol": 1e-5, "atol": 1e-7, "max_label_flip_rate": 0.0}
    assert 0 < proba["max_rel"] <= 1e-5
    assert (proba["mismatches"], proba["label_flips"]) == (0, 0)
    assert report["outputs"]["labels"]["verdict"] == "identical"
    text = repro(
        "replay", "--suite", "rff-retrained", "--lock", "locks/jax-0.5.3.txt", cwd=jax_project
    )
    assert text.code == 0
    assert (
        "    proba   within-tolerance (rtol 1e-05, atol 1e-07): 0 of 900 differ (0.0%)" in text.out
    )
