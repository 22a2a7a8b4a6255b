"""The second ML stack: JAX/jaxlib CPU wheels (~100 MB each) in real containers.

Two bumps of the fixture project fixtures/projects/jax-features: 0.4.38 -> 0.5.0 changes the
random features every prediction draws from ``PRNGKey(0)`` (``jax_threefry_partitionable``
became the default), so the labels move; 0.5.0 -> 0.5.3 only moves the last bits of the
probabilities, within the suite's tolerance, which the report names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from reprolock.config import load_config
from reprolock.harness.lockfile import TargetEnvironment, read_lock
from reprolock.harness.replay import (
    Session,
    file_sha256,
    load_golden,
    machine_fingerprint,
    record,
    source_tree_sha256,
)
from tests.conftest import FIXTURES
from tests.harness.conftest import DEFAULT_BASE_IMAGE, Repro, copy_project, tree_sha256

JAX_PROJECT = FIXTURES / "projects" / "jax-features"


@pytest.fixture(scope="session")
def jax_project(
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    harness_cache: Path,
) -> Iterator[Path]:
    """The project on the tests' base image with its goldens recorded on this machine, once a
    session (its environments are built once and shared); read-only."""
    root = copy_project(JAX_PROJECT, tmp_path_factory.mktemp("jax") / "jax-features")
    session = Session(client=docker_client, cache=harness_cache)
    for suite in load_config(root).suites.values():
        record(session, suite, force=True)
    before = tree_sha256(root)
    yield root
    assert tree_sha256(root) == before, f"a test changed the shared project {root}"


@pytest.mark.parametrize("suite", ["rff", "rff-retrained"])
def test_the_committed_jax_goldens_belong_to_their_project(suite: str) -> None:
    config = load_config(JAX_PROJECT).suites[suite]
    golden = load_golden(config)
    meta = golden.meta
    probe = FIXTURES / "harness" / "targets" / "python-3.11-bookworm.json"
    target = TargetEnvironment.from_probe(json.loads(probe.read_text(encoding="utf-8")))
    assert (meta["suite"], meta["entrypoint"]) == (suite, config.entrypoint)
    assert meta["source"] == {"paths": list(config.source), "sha256": source_tree_sha256(config)}
    assert meta["inputs"]["sha256"] == file_sha256(config.inputs_path)
    assert meta["lock"]["sha256"] == read_lock(config.lock_path).digest(target)
    assert meta["base_image"]["reference"] == config.base_image == DEFAULT_BASE_IMAGE
    assert meta["machine"] == machine_fingerprint(meta["environment"])
    assert meta["outputs"] == {
        "labels": {"dtype": "int64", "shape": [300]},
        "proba": {"dtype": "float32", "shape": [300, 3]},
    }


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
    assert (report["compared_with"], report["machine_matches_golden"]) == ("golden", True)


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
    assert 0 < proba["moved"] <= 900
    assert (
        f"    proba   within-tolerance (rtol 1e-05, atol 1e-07): {proba['moved']} moved, "
        "0 outside tolerance" in text.out
    )
