"""The Docker connection: client creation, one-line messages for daemon failures, and the
lifecycle of reprolock's containers (labels, deadlines, removal on every way out, the reaper)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.types import LogConfig

from reprolock.errors import UnansweredError

DEFAULT_HOST = "unix:///var/run/docker.sock"

RUN_LABEL = "reprolock.run"
"""Every container reprolock creates carries it (a run id)."""
DEADLINE_LABEL = "reprolock.deadline"
"""Unix time after which a container is a leftover that any reprolock process may remove."""
BUILD_DEADLINE_LABEL = "reprolock.build-deadline"
"""The same for the images of a build (the intermediate images of the classic builder)."""
SELF_STOP_GRACE = 5.0
"""Seconds past its timeout at which a container stops by itself (its supervisor): the
process that owns it normally stops it first, at the timeout."""
DEADLINE_SLACK = 15.0
"""Seconds between a container's own deadline and the reaper's: the process that owns it
stops it at its timeout and removes it within this margin."""
LOG_MAX_SIZE = "512k"
"""The daemon keeps at most two log files of this size per container (json-file driver)."""

# What a refused or missing daemon looks like in the SDK's nested exception text, and how a
# user would say it.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"FileNotFoundError|No such file or directory"), "no socket there"),
    (re.compile(r"PermissionError|Permission denied"), "permission denied on the socket"),
    (re.compile(r"Connection refused"), "connection refused"),
    (re.compile(r"timed out|Timeout", re.IGNORECASE), "the daemon did not answer in time"),
    (re.compile(r"Name or service not known|nodename nor servname"), "unknown host"),
)


class DockerUnavailableError(UnansweredError):
    """The Docker daemon cannot be reached, or it failed mid-way (exit 3)."""


def _host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


_NOT_SHARED = re.compile(r"bind source path does not exist|invalid mount config", re.IGNORECASE)
"""What a daemon says when a path reprolock mounts is not on its host."""


def _remote_hint(detail: str) -> str:
    """A hint for a mount the daemon cannot see: reprolock mounts this machine's files (the
    suite's source, its inputs, the run's output directory, the wheels), so a daemon on
    another host (``DOCKER_HOST=ssh://...``) needs them at the same paths there."""
    if not _NOT_SHARED.search(detail):
        return ""
    return (
        f" (the daemon at {_host()} cannot see this machine's files: a remote daemon needs the "
        "project, $TMPDIR and the reprolock cache at the same paths on its host; see "
        "docs/scale.md)"
    )


def explain(exc: BaseException) -> str:
    """A one-line reason for a Docker or transport failure."""
    text = " ".join(str(exc).split())
    for pattern, reason in _REASONS:
        if pattern.search(text):
            return reason
    return clip_words(text, 200) or type(exc).__name__


def clip_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a space, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = head.rfind(" ")
    return (head[:cut] if cut > limit // 2 else head).rstrip(" ,;:") + "…"


_BOOTSTRAP_API = "1.24"
"""Only for the unversioned ``/version`` call that tells the daemon's own API version."""


def _check_socket(host: str) -> None:
    # The SDK leaks the socket of a failed connect to a unix socket; trying it first, with
    # a socket that is always closed, gives the same answer without the leak.
    if not host.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(host.removeprefix("unix://"))


def connect() -> docker.DockerClient:
    """A client for the daemon named by ``DOCKER_HOST`` (default: the local socket):
    ``unix://``, ``tcp://`` (with ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``) or ``ssh://``.

    The API version is asked of the daemon by hand rather than by ``docker.from_env()``,
    whose failed negotiation leaves its connection open. Leftovers of killed processes past
    their deadline are removed first (:func:`reap_expired`).
    """
    probe: docker.DockerClient | None = None
    host = _host()
    # ssh://: the system's ssh client (its config, agent and known hosts), not paramiko,
    # which reprolock does not depend on.
    over_ssh = host.startswith("ssh://")
    try:
        _check_socket(host)
        probe = docker.DockerClient.from_env(version=_BOOTSTRAP_API, use_ssh_client=over_ssh)
        version = str(probe.api.version(api_version=False)["ApiVersion"])
        client = docker.DockerClient.from_env(version=version, use_ssh_client=over_ssh)
    except (
        docker.errors.DockerException,
        requests.exceptions.RequestException,
        OSError,
        KeyError,
    ) as exc:
        raise DockerUnavailableError(
            f"cannot reach the Docker daemon at {_host()}: {explain(exc)} "
            "(start dockerd, or set DOCKER_HOST)"
        ) from None
    finally:
        if probe is not None:
            probe.close()
    # Every harness command connects first: the place to clear what killed runs left behind
    # (quietly: a leftover is not this command's news).
    reap_expired(client)
    return client


@contextmanager
def daemon_errors(doing: str) -> Iterator[None]:
    """Turn a daemon or transport failure while ``doing`` something into exit 3, one line.

    Only for calls whose failure leaves the question unanswered; a container that runs and
    fails is the suite's result, handled by the caller.
    """
    try:
        yield
    # First: an APIError is also a requests HTTPError, but the daemon answered.
    except docker.errors.APIError as exc:
        detail = exc.explanation if isinstance(exc.explanation, str) else str(exc)
        raise DockerUnavailableError(
            f"the Docker daemon failed while {doing}: {' '.join(detail.split())}"
            + _remote_hint(detail)
        ) from None
    except requests.exceptions.RequestException as exc:
        raise DockerUnavailableError(
            f"lost the Docker daemon at {_host()} while {doing}: {explain(exc)}"
        ) from None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt meanwhile, so cleanup written for Ctrl-C runs for it too.

    CI cancels a job with SIGTERM. Only in the main thread (elsewhere it does nothing).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def confined(*, memory: int, pids: int, user: str, tmp_size: int) -> dict[str, Any]:
    """Container options that trust nothing inside: no network, an unprivileged user, a
    read-only root with a small ``/tmp``, no capabilities, memory (no swap), process and CPU
    limits. Callers add their mounts, environment and working directory."""
    return {
        "user": user,
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={tmp_size},mode=1777"},  # noqa: S108 - its own
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": memory,
        "memswap_limit": memory,
        "pids_limit": pids,
        "nano_cpus": 1_000_000_000,
    }


@contextmanager
def managed_container(
    client: docker.DockerClient,
    *,
    image: str,
    command: list[str],
    purpose: str,
    run_id: str | None = None,
    deadline: float | None = None,
    **options: Any,
) -> Iterator[Container]:
    """A created (not started) container that is removed on every way out, Ctrl-C included.

    Every container carries the labels ``reprolock.run=<id>`` and ``reprolock.purpose``, so a
    leftover from a killed process can be found (``docker ps -a --filter label=reprolock.run``).
    With ``deadline`` (seconds from now, the longest it may live) it also carries
    :data:`DEADLINE_LABEL`, :data:`DEADLINE_SLACK` later: past that, :func:`reap_expired`
    removes it even when this process was killed. Its log is capped (:data:`LOG_MAX_SIZE`)
    and ``docker stop`` kills it at once.
    """
    labels = {RUN_LABEL: run_id or uuid.uuid4().hex, "reprolock.purpose": purpose}
    if deadline is not None:
        labels[DEADLINE_LABEL] = str(int(time.time() + deadline + DEADLINE_SLACK) + 1)
    options.setdefault(
        "log_config",
        LogConfig(type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": "2"}),
    )
    options.setdefault("stop_signal", "SIGKILL")
    with sigterm_as_interrupt():
        with daemon_errors("creating a container"):
            container = client.containers.create(image, command, labels=labels, **options)
        try:
            yield container
        finally:
            _remove(container)


def _remove(container: Container) -> None:
    # A second Ctrl-C while removing must not leave the container behind.
    for _ in range(3):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            return
        except KeyboardInterrupt:
            continue
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            print(
                f"repro: warning: could not remove container {container.short_id}: {explain(exc)}",
                file=sys.stderr,
            )
            return
        return


def _expired(labels: dict[str, str] | None, key: str, now: float) -> bool:
    value = (labels or {}).get(key, "")
    return value.isdigit() and int(value) < now


_CONFLICT = 409
"""The daemon's answer to removing a container whose removal is already in progress."""
_REMOVAL_WAIT = 60
"""Seconds to wait for another process's removal of a container to finish."""


def reap_expired(client: docker.DockerClient, *, now: float | None = None) -> int:
    """Remove reprolock's leftovers past their deadline; how many containers were removed.

    Only containers labelled with a :data:`DEADLINE_LABEL` that has passed (the process that
    made each is gone or has failed to remove it; other reprolock processes' live containers
    have later deadlines), and dangling images of an interrupted build past their
    :data:`BUILD_DEADLINE_LABEL`. Nothing without those labels is ever touched. Best effort:
    a daemon error leaves the rest for the next command.
    """
    now = time.time() if now is None else now
    removed = 0
    try:
        # Sparse: a full listing inspects each container, and one removed meanwhile by another
        # process would abort the whole sweep with a 404.
        containers = client.containers.list(
            all=True, sparse=True, filters={"label": DEADLINE_LABEL}
        )
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        print(f"repro: warning: could not look for leftovers: {explain(exc)}", file=sys.stderr)
        return 0
    try:
        images = client.images.list(filters={"dangling": True, "label": BUILD_DEADLINE_LABEL})
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        # The SDK inspects each image it lists: one removed meanwhile by another process is a
        # 404 here, and must not keep the expired containers from going.
        print(
            f"repro: warning: could not look for leftover images: {explain(exc)}", file=sys.stderr
        )
        images = []
    for container in containers:
        if _expired(container.attrs.get("Labels") or {}, DEADLINE_LABEL, now):
            # Gone already, or being removed by its owner: either way not ours to report.
            with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
                try:
                    container.remove(force=True)
                    removed += 1
                except docker.errors.APIError as exc:
                    if exc.status_code != _CONFLICT:
                        raise
                    # Another process's reaper is removing it: gone when this returns too.
                    client.api.wait(str(container.id), timeout=_REMOVAL_WAIT, condition="removed")
    for image in images:
        if _expired(image.labels, BUILD_DEADLINE_LABEL, now):
            with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
                client.images.remove(str(image.id), noprune=False)
    return removed


@contextmanager
def docker_failures() -> Iterator[None]:
    """Any Docker or transport failure that escaped a narrower handler: exit 3, one line."""
    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerUnavailableError(
            f"Docker failed: {explain(exc)}{_remote_hint(str(exc))}"
        ) from None
