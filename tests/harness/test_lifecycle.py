"""Containers and images never outlive their purpose: deadlines, the reaper, interrupted builds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import numpy as np
import pytest
from docker.models.containers import Container

from reprolock.harness import image
from reprolock.harness.docker import (
    BUILD_DEADLINE_LABEL,
    DEADLINE_LABEL,
    DEADLINE_SLACK,
    RUN_LABEL,
    reap_expired,
)
from reprolock.harness.image import (
    BUILD_LABEL,
    BUILD_MEMORY,
    BuildError,
    ensure_image,
    resolve_base_image,
)
from reprolock.harness.lockfile import read_lock
from reprolock.harness.replay import RUNNER_GRACE
from reprolock.harness.untrusted import remove_tree
from reprolock.report.replay import EXCERPT_CHARS
from tests.harness.conftest import BASE_IMAGE, LOCKS, suite_of, write_golden
from tests.harness.test_image import broken_lock, serve_broken_wheel

# --- the reaper ----------------------------------------------------------------------------


@pytest.fixture
def sleepers(docker_client: docker.DockerClient) -> Iterator[dict[str, Container]]:
    """Containers of every kind the reaper must tell apart, removed afterwards whatever it did."""
    now = int(time.time())
    kinds = {
        "expired": {DEADLINE_LABEL: str(now - 5)},
        "alive": {DEADLINE_LABEL: str(now + 3600)},
        "no deadline": {},
        "odd deadline": {DEADLINE_LABEL: "soon"},
    }
    made: dict[str, Container] = {}
    for kind, extra in kinds.items():
        made[kind] = docker_client.containers.create(
            BASE_IMAGE,
            ["sleep", "60"],
            labels={RUN_LABEL: f"test-{uuid.uuid4().hex}", **extra},
            network_mode="none",
        )
        made[kind].start()
    yield made
    for container in made.values():
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def _exists(client: docker.DockerClient, container: Container) -> bool:
    try:
        client.containers.get(container.id or "")
    except docker.errors.NotFound:
        return False
    return True


def test_the_reaper_removes_only_containers_past_their_deadline(
    docker_client: docker.DockerClient, sleepers: dict[str, Container]
) -> None:
    reap_expired(docker_client)
    # Other processes share the daemon: only our own containers are looked at here.
    assert {kind: _exists(docker_client, c) for kind, c in sleepers.items()} == {
        "expired": False,
        "alive": True,
        "no deadline": True,
        "odd deadline": True,
    }


def test_a_killed_replay_leaves_no_container_past_its_deadline(
    docker_client: docker.DockerClient, failing_project: Path, harness_cache: Path
) -> None:
    suite = suite_of(failing_project, "sleepy")  # sleeps 120 s, timeout 2 s
    write_golden(suite, {"y": np.zeros(1)})
    repro = Path(sys.executable).with_name("repro")
    proc = subprocess.Popen(
        [str(repro), "replay", "--suite", "sleepy"],
        cwd=failing_project,
        env={**os.environ, "REPROLOCK_CACHE_DIR": str(harness_cache)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    container = None
    try:
        container = _wait_for_run(docker_client, failing_project)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        container.reload()
        deadline = int(container.labels[DEADLINE_LABEL])
        started = container.attrs["State"]["StartedAt"]
        # The container stops itself at its own deadline, well before the reaper's.
        while container.attrs["State"]["Running"]:
            assert time.time() < deadline - DEADLINE_SLACK + 5, f"still running ({started})"
            time.sleep(0.5)
            container.reload()
        assert container.attrs["State"]["ExitCode"] == 124
        # Past its deadline, any reprolock command removes it.
        time.sleep(max(0.0, deadline - time.time() + 1))
        reap_expired(docker_client)
        assert not _exists(docker_client, container)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if container is not None:
            # The killed process could not remove its temporary directory either.
            for mount in container.attrs.get("Mounts") or []:
                if mount.get("Destination") == "/out":
                    remove_tree(Path(mount["Source"]).parent)
            if _exists(docker_client, container):
                container.remove(force=True)


def _wait_for_run(client: docker.DockerClient, project: Path) -> Container:
    """The run container whose mounts come from ``project``, once it runs."""
    limit = time.monotonic() + 120
    while time.monotonic() < limit:
        for container in client.containers.list(
            filters={"label": "reprolock.purpose=run"}, sparse=True
        ):
            sources = [m.get("Source", "") for m in container.attrs.get("Mounts") or []]
            if any(source.startswith(str(project)) for source in sources):
                return container
        time.sleep(0.2)
    raise AssertionError("the replay never started its container")


def test_the_run_deadline_label_and_the_runner_agree(failing_project: Path) -> None:
    from reprolock.harness.replay import _command

    suite = suite_of(failing_project, "sleepy")
    command = _command(suite)
    assert command[command.index("--deadline") + 1] == f"{suite.timeout + RUNNER_GRACE:.3f}"


# --- builds --------------------------------------------------------------------------------


def _leftovers(client: docker.DockerClient, build_id: str) -> tuple[list[str], list[str]]:
    wanted: dict[str, Any] = {"label": f"{BUILD_LABEL}={build_id}"}
    images = [str(i.id) for i in client.images.list(all=True, filters=wanted)]
    containers = [str(c.id) for c in client.containers.list(all=True, filters=wanted, sparse=True)]
    return images, containers


class _Build:
    """Spies on a build: its id, the options given to the daemon, its step containers."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.build_id = ""
        self.options: dict[str, Any] = {}
        self.step_memory: list[int] = []
        original_context = image.build_context
        original_build = docker.APIClient.build

        def context(*args: Any, **kwargs: Any) -> bytes:
            self.build_id = kwargs["labels"][BUILD_LABEL]
            return original_context(*args, **kwargs)

        def build(client: docker.APIClient, **kwargs: Any) -> Any:
            self.options = kwargs
            return original_build(client, **kwargs)

        monkeypatch.setattr(image, "build_context", context)
        monkeypatch.setattr(docker.APIClient, "build", build)
        # A tag of its own: the environment is built, not found.
        tag = f"reprolock-test-build:{uuid.uuid4().hex[:12]}"
        self.tag = tag
        monkeypatch.setattr(image, "env_tag", lambda base_id, digest: tag)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_build_leaves_no_image_and_no_container(
    docker_client: docker.DockerClient,
    harness_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    spy = _Build(monkeypatch)
    base = resolve_base_image(docker_client, BASE_IMAGE, cache=harness_cache)
    lock = read_lock(LOCKS / "sklearn-1.3.2.txt")

    def interrupt_at_install(message: str) -> None:
        if "RUN" not in message:
            return
        # The install is under way: its step container runs, under the build's memory limit.
        for _ in range(50):
            _, steps = _leftovers(docker_client, spy.build_id)
            if steps:
                step = docker_client.containers.get(steps[0])
                spy.step_memory.append(step.attrs["HostConfig"]["Memory"])
                break
            time.sleep(0.1)
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        ensure_image(docker_client, lock, base, cache=harness_cache, progress=interrupt_at_install)
    assert signal.getsignal(signal.SIGTERM) == before
    assert spy.build_id
    assert spy.step_memory == [BUILD_MEMORY]
    assert spy.options["container_limits"] == {"memory": BUILD_MEMORY, "memswap": BUILD_MEMORY}
    assert _leftovers(docker_client, spy.build_id) == ([], [])
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(spy.tag)


def test_a_failed_build_leaves_no_intermediate_image(
    docker_client: docker.DockerClient,
    harness_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = _Build(monkeypatch)
    lock = read_lock(broken_lock(tmp_path))
    serve_broken_wheel(monkeypatch, tmp_path)
    base = resolve_base_image(docker_client, BASE_IMAGE, cache=harness_cache)
    with pytest.raises(BuildError):
        ensure_image(docker_client, lock, base, cache=harness_cache)
    assert spy.build_id
    assert _leftovers(docker_client, spy.build_id) == ([], [])
    # The finished image would carry no deadline: it is kept.
    assert spy.options["labels"][BUILD_DEADLINE_LABEL] == ""


def test_the_dockerfile_labels_every_step_of_the_build() -> None:
    text = image.dockerfile("sha256:" + "ab" * 32, {BUILD_LABEL: "b1", BUILD_DEADLINE_LABEL: "9"})
    lines = text.splitlines()
    assert lines[:2] == [
        "FROM sha256:" + "ab" * 32,
        f'LABEL {BUILD_LABEL}="b1" {BUILD_DEADLINE_LABEL}="9"',
    ]


def test_a_build_error_report_is_capped_and_keeps_the_end() -> None:
    log = [f"line {i} " + "y" * 5000 for i in range(25)]
    report = BuildError("the environment of x.txt did not install: ERROR: boom", log).report
    assert report.startswith("the environment of x.txt did not install: ERROR: boom\n[...]\n")
    assert len(report) <= EXCERPT_CHARS + 100
    assert report.endswith("y" * 1000)
