"""Harness test fixtures: the Docker daemon (its absence fails them), projects, leftovers."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import numpy as np
import numpy.typing as npt
import pytest
from docker.models.containers import ContainerCollection
from docker.models.images import ImageCollection

from reprolock.cli import main
from reprolock.config import Suite, load_config
from reprolock.harness import runner
from reprolock.harness.replay import (
    GOLDEN_SCHEMA,
    Session,
    file_sha256,
    record,
    source_tree_sha256,
)
from tests.conftest import FIXTURES

PROJECT = FIXTURES / "projects" / "kmeans-segmenter"
DEMO = FIXTURES / "projects" / "update-demo"
"""The project of `repro update`; its upgraded lock is sklearn-1.4.2-joblib-threadpoolctl.txt."""
LOCKS = FIXTURES / "harness" / "locks"
DEFAULT_BASE_IMAGE = "reprolock-test/python:3.11-bookworm"
"""The base image the fixture projects' pyproject.toml files name."""
BASE_IMAGE = os.environ.get("REPROLOCK_TEST_BASE_IMAGE") or DEFAULT_BASE_IMAGE
"""The base image the harness tests use; scripts/test builds it under the same variable."""
RUN_LABEL = "reprolock.run"


@pytest.fixture(scope="session")
def harness_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One wheel and base-image cache for the session, never the user's own."""
    cache = tmp_path_factory.mktemp("reprolock-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPROLOCK_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="session")
def docker_client(harness_cache: Path) -> Iterator[docker.DockerClient]:
    """A live daemon with the local base image; without them the harness tests FAIL.

    They are the acceptance tests of the harness: a machine that cannot run them must not
    pass silently. `bash scripts/test` starts dockerd and builds the base image.
    """
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(
            f"the harness tests need a Docker daemon and none answered ({exc}); "
            "run `bash scripts/test`, which starts one",
            pytrace=False,
        )
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(
            f"the harness tests need the local base image {BASE_IMAGE}; "
            "run `bash scripts/test`, which builds it with debootstrap",
            pytrace=False,
        )
    yield client
    client.close()


@pytest.fixture(scope="session", autouse=True)
def _default_base_image_absent() -> Iterator[None]:
    """Under another tag (scripts/fresh-check), the default tag is absent, as on a fresh machine.

    A fixture project used without `copy_project` still names the default tag; this daemon may
    hold it from an earlier run, which would hide the test's reliance on it.
    """
    if BASE_IMAGE == DEFAULT_BASE_IMAGE:
        yield
        return
    original = ImageCollection.get

    def get(self: ImageCollection, name: str) -> Any:
        if name == DEFAULT_BASE_IMAGE:
            raise docker.errors.ImageNotFound(f"{name}: hidden while the tests use {BASE_IMAGE}")
        return original(self, name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ImageCollection, "get", get)
        yield


@dataclass
class Containers:
    """Containers created during one test, by id, with the labels they were given."""

    created: dict[str, Mapping[str, str]] = field(default_factory=dict)

    def purposes(self) -> list[str]:
        """The ``reprolock.purpose`` label of each container, in creation order."""
        return [labels.get("reprolock.purpose", "") for labels in self.created.values()]

    def runs(self) -> int:
        """Containers that ran a suite (the session's first test also probes the base image)."""
        return self.purposes().count("run")


@pytest.fixture
def containers(
    docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Containers]:
    """Spy on container creation; after the test, every container created must be gone."""
    record = Containers()
    original = ContainerCollection.create

    def spy(self: ContainerCollection, *args: Any, **kwargs: Any) -> Any:
        container = original(self, *args, **kwargs)
        record.created[container.id or ""] = dict(kwargs.get("labels") or {})
        return container

    monkeypatch.setattr(ContainerCollection, "create", spy)
    yield record
    left = []
    for container_id in record.created:
        try:
            docker_client.containers.get(container_id)
        except docker.errors.NotFound:
            continue
        left.append(container_id[:12])
    assert left == [], f"containers left behind: {left}"
    unlabelled = [cid[:12] for cid, labels in record.created.items() if RUN_LABEL not in labels]
    assert unlabelled == [], f"containers without the {RUN_LABEL} label: {unlabelled}"
    # Other processes' containers are theirs; ours must not be among the labelled ones. Sparse:
    # one of theirs may be gone before a full listing inspects it.
    labelled = docker_client.containers.list(all=True, filters={"label": RUN_LABEL}, sparse=True)
    assert not {c.id for c in labelled} & set(record.created)


def copy_project(source: Path, target: Path) -> Path:
    """A copy of a fixture project whose suites name BASE_IMAGE instead of the default tag."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    pyproject = target / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    default = f'base-image = "{DEFAULT_BASE_IMAGE}"'
    assert default in text, f"{source.name}/pyproject.toml names no {default}"
    pyproject.write_text(text.replace(default, f'base-image = "{BASE_IMAGE}"'), encoding="utf-8")
    return target


def tree_sha256(root: Path) -> str:
    """One digest of every file's path and bytes under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def kmeans(
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    harness_cache: Path,
) -> Iterator[Path]:
    """kmeans-segmenter on BASE_IMAGE with every golden recorded on this machine; read-only.

    The committed goldens hold one machine's CPU, BLAS kernel and base image id; anywhere else
    replay (rightly) runs a fresh baseline too, and a test would count other containers and
    take another path. Recorded here, every test compares with a golden of this machine on
    any machine; `test_the_committed_goldens_belong_to_their_projects` checks the committed
    ones. Tests that change the project take a copy (`project`).
    """
    root = copy_project(PROJECT, tmp_path_factory.mktemp("kmeans") / "kmeans-segmenter")
    session = Session(client=docker_client, cache=harness_cache)
    for suite in load_config(root).suites.values():
        record(session, suite, force=True)
    before = tree_sha256(root)
    yield root
    assert tree_sha256(root) == before, f"a test changed the shared project {root}"


@pytest.fixture
def project(tmp_path: Path, kmeans: Path) -> Path:
    """A private copy of kmeans-segmenter (goldens recorded on this machine included): its
    suites run in the daemon, so every test that takes it is a ``docker`` test."""
    target = tmp_path / "kmeans-segmenter"
    shutil.copytree(kmeans, target)
    return target


@pytest.fixture(scope="session")
def demo_template(
    tmp_path_factory: pytest.TempPathFactory,
    docker_client: docker.DockerClient,
    harness_cache: Path,
) -> Path:
    """update-demo with its golden recorded on this machine: the comparison is with the golden
    (no fresh baseline), so the report is the same on any machine."""
    root = copy_project(DEMO, tmp_path_factory.mktemp("update-demo") / "update-demo")
    session = Session(client=docker_client, cache=harness_cache)
    record(session, load_config(root).suites["segments"], force=True)
    return root


@pytest.fixture
def demo(tmp_path: Path, demo_template: Path) -> Path:
    """A private copy of update-demo (its golden recorded on this machine)."""
    root = tmp_path / "update-demo"
    shutil.copytree(demo_template, root)
    return root


@dataclass(frozen=True)
class Run:
    """One ``repro`` invocation: exit code and streams."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Repro = Any
"""The ``repro`` fixture: ``repro("replay", "--suite", "x", cwd=path) -> Run``."""


@pytest.fixture
def repro(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], harness_cache: Path
) -> Repro:
    """Run ``repro ARGS`` in a directory and capture its streams; never reprolock's traceback."""

    def run(*argv: str, cwd: Path) -> Run:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        # A traceback from the suite's own code (in the container) is part of a report;
        # one from reprolock is a bug.
        assert not re.search(r'File "[^"]*/reprolock/', captured.err), captured.err
        return Run(code=code, out=captured.out, err=captured.err)

    return run


FAILING_MODULE = '''\
"""Entrypoints that misbehave in every way a suite can."""

import os
import socket
import time

import numpy as np


def boom(inputs):
    raise RuntimeError("model weights are corrupt")


def sleepy(inputs):
    time.sleep(120)
    return {"y": inputs["X"]}


def hungry(inputs):
    blocks = [np.ones(64 * 2**20, dtype=np.uint8) for _ in range(8)]
    return {"n": np.asarray(len(blocks))}


def listy(inputs):
    return [[1], [2, 3]]


def fine(inputs):
    return {"total": inputs["X"].sum(axis=1)}


def inspect(inputs):
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=1).close()
        network = True
    except OSError:
        network = False
    return {
        "uid": np.asarray(os.getuid()),
        "environment": np.asarray(sorted(os.environ)),
        "cwd": np.asarray(os.getcwd()),
        "network": np.asarray(network),
        "work_writable": np.asarray(os.access("/work", os.W_OK)),
        "root_writable": np.asarray(os.access("/", os.W_OK)),
        "out_writable": np.asarray(os.access("/out", os.W_OK)),
        "threads": np.asarray(os.environ.get("OMP_NUM_THREADS", "")),
    }
'''

FAILING_SUITES: dict[str, dict[str, str]] = {
    "boom": {},
    "sleepy": {"timeout": "2"},
    "hungry": {"memory": '"64m"'},
    "listy": {},
    "fine": {},
    "inspect": {},
}
"""Suite name (= entrypoint function) -> TOML settings beyond the defaults."""


@pytest.fixture
def failing_project(tmp_path: Path) -> Path:
    """A project whose suites misbehave, on the segments lock (the same image)."""
    root = tmp_path / "failing"
    (root / "src").mkdir(parents=True)
    (root / "src" / "failing.py").write_text(FAILING_MODULE, encoding="utf-8")
    (root / "data").mkdir()
    np.savez(root / "data" / "inputs.npz", X=np.arange(12, dtype=np.float64).reshape(4, 3))
    # config paths stay inside the project: the lock is copied in
    (root / "locks").mkdir()
    shutil.copyfile(PROJECT / "locks" / "sklearn-1.3.2.txt", root / "locks" / "sklearn-1.3.2.txt")
    lock = "locks/sklearn-1.3.2.txt"
    tables = []
    for name, extra in FAILING_SUITES.items():
        settings = {"timeout": "120", **extra}
        lines = [
            f"[tool.repro.suites.{name}]",
            f'lock = "{lock}"',
            f'base-image = "{BASE_IMAGE}"',
            f'entrypoint = "failing:{name}"',
            'inputs = "data/inputs.npz"',
            'source = ["src"]',
            'pythonpath = ["src"]',
            *(f"{key} = {value}" for key, value in settings.items()),
        ]
        tables.append("\n".join(lines))
    (root / "pyproject.toml").write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    return root


def suite_of(root: Path, name: str) -> Suite:
    """The suite ``name`` of the project at ``root``."""
    return load_config(root).suites[name]


def write_golden(suite: Suite, outputs: Mapping[str, npt.NDArray[Any]]) -> None:
    """A golden by hand (for suites that cannot record one), matching source and inputs."""
    suite.golden_path.parent.mkdir(parents=True, exist_ok=True)
    runner.save_npz(str(suite.golden_path), outputs)
    meta = {
        "schema": GOLDEN_SCHEMA,
        "suite": suite.name,
        "golden_sha256": file_sha256(suite.golden_path),
        "source": {"paths": list(suite.source), "sha256": source_tree_sha256(suite)},
        "inputs": {"sha256": file_sha256(suite.inputs_path)},
        "noise": {},
        "machine": {},
        "base_image": {},
        "environment": {},
    }
    suite.golden_json_path.write_text(json.dumps(meta), encoding="utf-8")


def pyproject_with(root: Path, text: str) -> None:
    """Append TOML to the project's pyproject.toml."""
    path = root / "pyproject.toml"
    path.write_text(path.read_text(encoding="utf-8") + textwrap.dedent(text), encoding="utf-8")
