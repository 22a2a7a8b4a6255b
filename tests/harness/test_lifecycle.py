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

from reprolock.harness import build, image
from reprolock.harness.build import BUILD_MEMORY
from reprolock.harness.docker import (
    DEADLINE_LABEL,
    DEADLINE_SLACK,
    RUN_LABEL,
    reap_expired,
)
from reprolock.harness.image import BuildError, ensure_image, resolve_base_image
from reprolock.harness.lockfile import read_lock
from reprolock.harness.replay import RUNNER_GRACE
from reprolock.harness.untrusted import remove_tree
from reprolock.report.replay import EXCERPT_CHARS
from tests.harness.conftest import BASE_IMAGE, LOCKS, Containers, suite_of, write_golden
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
        # The container stops itself at its own deadline (timeout + grace after it starts),
        # before the reaper's: the label is written at creation, which a loaded daemon may
        # leave seconds before the start, so the margin is the reaper's slack, not less.
        while container.attrs["State"]["Running"]:
            assert time.time() < deadline - DEADLINE_SLACK / 3, f"still running ({started})"
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


@pytest.fixture
def own_tag(monkeypatch: pytest.MonkeyPatch) -> str:
    """A tag of the test's own: the environment is built, not found, and built on nothing."""
    tag = f"reprolock-test-build:{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(image, "env_tag", lambda base_id, digest: tag)
    monkeypatch.setattr(build, "choose_parent", lambda *args, **kwargs: None)
    return tag


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_build_leaves_no_image_and_no_container(
    docker_client: docker.DockerClient,
    *,
    harness_cache: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
    own_tag: str,
    how: str,
) -> None:
    base = resolve_base_image(docker_client, BASE_IMAGE, cache=harness_cache)
    lock = read_lock(LOCKS / "sklearn-1.3.2.txt")
    seen: list[dict[str, Any]] = []

    def interrupted_wait(self: Container, **kwargs: Any) -> Any:
        # The install is under way in the build container.
        self.reload()
        seen.append(self.attrs)
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        raise KeyboardInterrupt

    monkeypatch.setattr(Container, "wait", interrupted_wait)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        ensure_image(docker_client, lock, base, cache=harness_cache)
    assert signal.getsignal(signal.SIGTERM) == before
    assert containers.purposes()[-1:] == ["build"]
    (attrs,) = seen
    assert attrs["State"]["Running"] is True
    assert attrs["HostConfig"]["Memory"] == BUILD_MEMORY
    assert attrs["HostConfig"]["NetworkMode"] == "none"
    # The fixture checks that the container is gone; no image was committed.
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(own_tag)
    assert list((harness_cache / "tmp").glob("build-*")) == []


def test_a_failed_build_leaves_no_image_and_no_container(
    docker_client: docker.DockerClient,
    *,
    harness_cache: Path,
    containers: Containers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own_tag: str,
) -> None:
    lock = read_lock(broken_lock(tmp_path))
    serve_broken_wheel(monkeypatch, tmp_path)
    base = resolve_base_image(docker_client, BASE_IMAGE, cache=harness_cache)
    with pytest.raises(BuildError):
        ensure_image(docker_client, lock, base, cache=harness_cache)
    assert containers.purposes()[-1:] == ["build"]
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(own_tag)


def test_a_build_error_report_is_capped_and_keeps_the_end() -> None:
    log = [f"line {i} " + "y" * 5000 for i in range(25)]
    report = BuildError("the environment of x.txt did not install: ERROR: boom", log).report
    assert report.startswith("the environment of x.txt did not install: ERROR: boom\n[...]\n")
    assert len(report) <= EXCERPT_CHARS + 100
    assert report.endswith("y" * 1000)
