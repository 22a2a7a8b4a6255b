"""The Docker connection: client creation and one-line messages for daemon failures."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container

from reprolock.errors import UnansweredError

DEFAULT_HOST = "unix:///var/run/docker.sock"

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


def explain(exc: BaseException) -> str:
    """A one-line reason for a Docker or transport failure."""
    text = " ".join(str(exc).split())
    for pattern, reason in _REASONS:
        if pattern.search(text):
            return reason
    return text[:200] or type(exc).__name__


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
    """A client for the daemon named by ``DOCKER_HOST`` (default: the local socket).

    The API version is asked of the daemon by hand rather than by ``docker.from_env()``,
    whose failed negotiation leaves its connection open.
    """
    probe: docker.DockerClient | None = None
    try:
        _check_socket(_host())
        probe = docker.DockerClient.from_env(version=_BOOTSTRAP_API)
        version = str(probe.api.version(api_version=False)["ApiVersion"])
        return docker.DockerClient.from_env(version=version)
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


@contextmanager
def daemon_errors(doing: str) -> Iterator[None]:
    """Turn a daemon or transport failure while ``doing`` something into exit 3, one line.

    Only for calls whose failure leaves the question unanswered; a container that runs and
    fails is the suite's result, handled by the caller.
    """
    try:
        yield
    except requests.exceptions.RequestException as exc:
        raise DockerUnavailableError(
            f"lost the Docker daemon at {_host()} while {doing}: {explain(exc)}"
        ) from None
    except docker.errors.APIError as exc:
        detail = exc.explanation if isinstance(exc.explanation, str) else str(exc)
        raise DockerUnavailableError(
            f"the Docker daemon failed while {doing}: {' '.join(detail.split())}"
        ) from None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    # CI cancels a job with SIGTERM: treat it as Ctrl-C so the cleanup below still runs.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def managed_container(
    client: docker.DockerClient,
    *,
    image: str,
    command: list[str],
    purpose: str,
    run_id: str | None = None,
    **options: Any,
) -> Iterator[Container]:
    """A created (not started) container that is removed on every way out, Ctrl-C included.

    Every container carries the labels ``reprolock.run=<id>`` and ``reprolock.purpose``, so a
    leftover from a killed process can be found (``docker ps -a --filter label=reprolock.run``).
    """
    labels = {"reprolock.run": run_id or uuid.uuid4().hex, "reprolock.purpose": purpose}
    with _sigterm_as_interrupt():
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


@contextmanager
def docker_failures() -> Iterator[None]:
    """Any Docker or transport failure that escaped a narrower handler: exit 3, one line."""
    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerUnavailableError(f"Docker failed: {explain(exc)}") from None
