"""DOCKER_HOST: the harness works on the daemon it names, here a second local dockerd on its own
unix socket, data root and exec root (started and removed by the fixture: it FAILS, never skips,
when it cannot start one); ssh:// goes through the system's ssh client; a daemon that cannot see
this machine's files says so."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import docker
import docker.errors
import pytest
import requests
from docker.models.containers import ContainerCollection

from reprolock.harness import docker as harness_docker
from reprolock.harness.docker import DockerUnavailableError, connect, daemon_errors
from tests.harness.conftest import BASE_IMAGE, Repro

START_SECONDS = 90


def _fail(message: str, log: Path | None = None) -> NoReturn:
    tail = ""
    if log is not None and log.is_file():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    pytest.fail(f"second dockerd: {message}{tail}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def _unmount_under(root: Path) -> None:
    """What a daemon killed mid-way may leave mounted (overlay layers, netns): deepest first."""
    with open("/proc/mounts", encoding="utf-8") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{root}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


@pytest.fixture(scope="module")
def second_daemon(docker_client: docker.DockerClient) -> Iterator[str]:
    """``unix://...``: a dockerd of its own, with the tests' base image loaded into it."""
    dockerd, cli = shutil.which("dockerd"), shutil.which("docker")
    if dockerd is None or cli is None:
        _fail("dockerd and docker must be installed (scripts/test installs docker.io)")
    if os.geteuid() != 0:
        _fail("starting a dockerd needs root (scripts/test and CI run as root)")
    # Short: containerd's socket lives under the exec root, and a unix socket path has 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="rl-d2-", dir="/tmp"))
    host = f"unix://{root}/docker.sock"
    log = root / "dockerd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                dockerd,
                "--data-root",
                str(root / "data"),
                "--exec-root",
                str(root / "exec"),
                "--pidfile",
                str(root / "dockerd.pid"),
                "--host",
                host,
                "--iptables=false",
                "--ip-masq=false",
                "--bridge=none",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                _fail(f"exited with status {process.returncode}", log)
            try:
                # A plain connect first: the SDK leaks the socket of a refused one.
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.connect(str(root / "docker.sock"))
                with contextlib.closing(docker.DockerClient(base_url=host)) as client:
                    client.ping()
                break
            except (docker.errors.DockerException, OSError):
                if time.monotonic() > deadline:
                    _fail(f"no answer on {host} within {START_SECONDS} s", log)
                time.sleep(0.5)
        # The same image id there as here: goldens recorded on the first daemon stay this
        # machine's (same CPU, same BLAS, same base image id).
        save = subprocess.Popen([cli, "save", BASE_IMAGE], stdout=subprocess.PIPE)
        loaded = subprocess.run(
            [cli, "--host", host, "load", "--quiet"],
            stdin=save.stdout,
            capture_output=True,
            check=False,
        )
        assert save.stdout is not None
        save.stdout.close()
        if save.wait() != 0 or loaded.returncode != 0:
            _fail(f"could not load {BASE_IMAGE}: {loaded.stderr.decode(errors='replace')}", log)
        yield host
    finally:
        _stop(process)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _created_on(host: str, since: float) -> set[str]:
    with contextlib.closing(docker.DockerClient(base_url=host)) as client:
        events = client.events(
            since=int(since),
            until=int(time.time()) + 1,
            filters={"type": "container", "event": "create"},
            decode=True,
        )
        return {str(event["id"]) for event in events}


def test_replay_builds_and_runs_on_the_daemon_docker_host_names(
    repro: Repro,
    kmeans: Path,
    second_daemon: str,
    docker_client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[str] = []
    original = ContainerCollection.create

    def spy(self: ContainerCollection, *args: Any, **kwargs: Any) -> Any:
        container = original(self, *args, **kwargs)
        created.append(str(container.id))
        return container

    monkeypatch.setattr(ContainerCollection, "create", spy)
    monkeypatch.setenv("DOCKER_HOST", second_daemon)
    started = time.time()
    run = repro("replay", "--suite", "segments", "--format", "json", cwd=kmeans)
    assert run.code == 0, run.err
    report = run.json()
    # The environment was built there from nothing but the base image, and reproduces the
    # golden the first daemon recorded, compared directly: same machine, same base image id.
    assert (report["verdict"], report["compared_with"]) == ("identical", "golden")
    assert report["machine_matches_golden"] is True
    tag = report["candidate"]["image"]
    assert "repro: building " + tag in run.err
    with contextlib.closing(docker.DockerClient(base_url=second_daemon)) as second:
        image = second.images.get(tag)
        assert report["machine"]["image_id"] == image.id
        assert report["machine"]["base_image_id"] == second.images.get(BASE_IMAGE).id
        left = second.containers.list(all=True, filters={"label": "reprolock.run"})
    assert created, "the replay created its containers through the SDK"
    assert set(created) <= _created_on(second_daemon, started - 1)
    assert left == []
    for container_id in created:
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(container_id)


def test_ssh_hosts_use_the_system_ssh_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # reprolock does not depend on paramiko: ssh:// must go through `ssh` (its config, agent,
    # known hosts), which the SDK does with use_ssh_client.
    seen: list[dict[str, Any]] = []

    def from_env(**kwargs: Any) -> Any:
        seen.append(kwargs)
        raise docker.errors.DockerException("ssh: connect to host build-box port 22: refused")

    monkeypatch.setattr(docker.DockerClient, "from_env", staticmethod(from_env))
    monkeypatch.setenv("DOCKER_HOST", "ssh://ci@build-box")
    with pytest.raises(DockerUnavailableError) as caught:
        connect()
    assert seen == [{"version": "1.24", "use_ssh_client": True}]
    assert str(caught.value) == (
        "cannot reach the Docker daemon at ssh://ci@build-box: ssh: connect to host build-box "
        "port 22: refused (start dockerd, or set DOCKER_HOST)"
    )


def test_unix_and_tcp_hosts_use_the_sdk_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def from_env(**kwargs: Any) -> Any:
        seen.append(kwargs)
        raise docker.errors.DockerException("Connection refused")

    monkeypatch.setattr(docker.DockerClient, "from_env", staticmethod(from_env))
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    with pytest.raises(DockerUnavailableError) as caught:
        connect()
    assert str(caught.value) == (
        "cannot reach the Docker daemon at tcp://127.0.0.1:9: connection refused "
        "(start dockerd, or set DOCKER_HOST)"
    )
    assert seen == [{"version": "1.24", "use_ssh_client": False}]


def test_a_daemon_that_cannot_see_the_mounts_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "ssh://ci@build-box")
    response = requests.Response()
    response.status_code, response.reason, response.url = 400, "Bad Request", "http+docker://x"
    error = docker.errors.APIError(
        "400 Client Error",
        response=response,
        explanation='invalid mount config for type "bind": bind source path does not exist: '
        "/tmp/reprolock-run-x/out",
    )
    with pytest.raises(DockerUnavailableError) as caught, daemon_errors("creating a container"):
        raise error
    assert str(caught.value) == (
        "the Docker daemon failed while creating a container: invalid mount config for type "
        '"bind": bind source path does not exist: /tmp/reprolock-run-x/out (the daemon at '
        "ssh://ci@build-box cannot see this machine's files: a remote daemon needs the project, "
        "$TMPDIR and the reprolock cache at the same paths on its host; see docs/scale.md)"
    )
    other = docker.errors.APIError("500", explanation="no space left on device")
    with pytest.raises(DockerUnavailableError) as plain, daemon_errors("building"):
        raise other
    assert str(plain.value) == "the Docker daemon failed while building: no space left on device"
    assert harness_docker.DEFAULT_HOST == "unix:///var/run/docker.sock"


def test_an_image_removed_while_listing_does_not_keep_expired_containers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Another process removed a dangling image between the daemon's list and the SDK's
    # inspect of it: the expired containers still go.
    removed: list[str] = []

    class Container:
        def __init__(self, name: str, deadline: str) -> None:
            # A sparse listing: the labels are at the top of the attributes, not under Config.
            self.name = name
            self.attrs = {"Labels": {harness_docker.DEADLINE_LABEL: deadline}}

        def remove(self, *, force: bool) -> None:
            removed.append(self.name)

    class Containers:
        def list(self, **kwargs: Any) -> list[Container]:
            # Sparse, so that a container removed meanwhile cannot fail the listing.
            assert kwargs["sparse"] is True
            return [Container("old", "100"), Container("live", "10000")]

    class Images:
        def list(self, **kwargs: Any) -> list[Any]:
            raise docker.errors.NotFound("404 Client Error: no such image: sha256:6fdaa784")

    class Client:
        containers = Containers()
        images = Images()

    count = harness_docker.reap_expired(Client(), now=1000.0)  # type: ignore[arg-type]
    assert (count, removed) == (1, ["old"])
    assert capsys.readouterr().err == (
        "repro: warning: could not look for leftover images: 404 Client Error: no such image: "
        "sha256:6fdaa784\n"
    )


def test_a_container_another_reaper_is_removing_is_waited_for() -> None:
    # Every harness command of every process reaps: two may remove one container at once,
    # and the second gets 409 Conflict; it returns once the container is gone all the same.
    calls: list[tuple[str, str]] = []

    class Container:
        def __init__(self) -> None:
            self.id = "c1"
            self.attrs = {"Labels": {harness_docker.DEADLINE_LABEL: "100"}}

        def remove(self, *, force: bool) -> None:
            calls.append(("remove", self.id))
            response = requests.Response()
            response.status_code = 409
            raise docker.errors.APIError("409 Client Error", response=response)

    class Api:
        def wait(self, container: str, *, timeout: int, condition: str) -> None:
            calls.append((f"wait {condition} {timeout}", container))

    class Client:
        api = Api()

        class containers:
            @staticmethod
            def list(**kwargs: Any) -> list[Container]:
                return [Container()]

        class images:
            @staticmethod
            def list(**kwargs: Any) -> list[Any]:
                return []

    assert harness_docker.reap_expired(Client(), now=1000.0) == 0  # type: ignore[arg-type]
    assert calls == [("remove", "c1"), ("wait removed 60", "c1")]
