"""The suite's environment as an image: base-image facts, a deterministic build context, the build.

An environment image is tagged ``reprolock-env:<hash>`` where the hash covers the base image id,
the lock's normalised content for that base and :data:`FORMAT_VERSION`: an unchanged
environment is found by its tag and never rebuilt, and nothing is downloaded for it.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import inspect
import io
import json
import os
import re
import tarfile
import textwrap
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
from packaging.utils import canonicalize_name, parse_wheel_filename

from reprolock import __version__
from reprolock.errors import ReproError, UnansweredError
from reprolock.files import cache_dir
from reprolock.harness import runner, wheelhouse
from reprolock.harness.docker import (
    BUILD_DEADLINE_LABEL,
    SELF_STOP_GRACE,
    confined,
    daemon_errors,
    explain,
    managed_container,
    sigterm_as_interrupt,
)
from reprolock.harness.lockfile import Lock, LockedRequirement, ProbeError, TargetEnvironment
from reprolock.harness.progress import ProgressFn, silent
from reprolock.harness.untrusted import UntrustedInputError, load_json, read_json
from reprolock.report.replay import excerpt

FORMAT_VERSION = 1
"""Bump when the Dockerfile or the image layout changes: every environment is rebuilt."""
ENV_REPOSITORY = "reprolock-env"
VENV = "/opt/venv"
PYTHON = f"{VENV}/bin/python"
USER_ID = 10001
"""The unprivileged user the suite runs as (no such user exists in usual base images)."""
LABEL = "reprolock"
"""Prefix of every label reprolock puts on an image or a container."""

BUILD_MEMORY = 4 * 2**30
"""Memory (and memory plus swap) of each build step: pip installing wheels needs far less."""
BUILD_DEADLINE = 6 * 3600
"""Seconds after which a dangling image of an interrupted build may be removed by any
reprolock process (a build that takes longer is not expected)."""
BUILD_LABEL = f"{LABEL}.build"
"""A per-build id on every image of a build, intermediate ones included."""
PROBE_TIMEOUT = 120
PROBE_MEMORY = 512 * 2**20

_LOG_TAIL = 25
_LOG_LINE_CHARS = 1000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STEP = re.compile(r"^Step (\d+/\d+) : (\S+)")
_DIGEST_LENGTH = 32


class BuildError(ReproError):
    """The environment did not build: a wheel failed to install, say (the suite is broken)."""

    exit_code = 1

    def __init__(self, message: str, log: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.log = tuple(log)
        """The last lines of the build log."""

    @property
    def report(self) -> str:
        """The message and the build log's tail, as the replay report shows it (capped)."""
        if not self.log:
            return excerpt(str(self))
        return excerpt(str(self) + "\n" + "\n".join(self.log))


class BaseImageError(UnansweredError):
    """The base image is not available, or has no usable python3 (exit 3)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BaseImage:
    """The base image a suite's environment is built on, as found on this daemon."""

    reference: str
    """As configured: ``python:3.11-slim@sha256:...`` or a local tag."""
    id: str
    """The image id (``sha256:...``): what the environment is actually built from."""
    digest: str | None
    """The registry digest (``name@sha256:...``); None for an image made locally."""
    target: TargetEnvironment
    """Its Python and platform, which decide the wheels."""

    @property
    def pinned(self) -> bool:
        """Whether the reference names a digest rather than a mutable tag."""
        return "@sha256:" in self.reference

    def to_dict(self) -> dict[str, Any]:
        """As golden.json records it."""
        return {"reference": self.reference, "id": self.id, "digest": self.digest}


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvImage:
    """A built (or found) environment image of one lock on one base image."""

    tag: str
    """``reprolock-env:<hash>``."""
    id: str
    """The image id."""
    base: BaseImage
    """What it is built on."""
    lock: Lock
    """The lock it installs."""
    lock_digest: str
    """``lock.digest(base.target)``: the normalised requirements for this base."""
    requirements: tuple[LockedRequirement, ...]
    """What is installed: the lock's entries whose markers hold for the base."""
    built: bool
    """False when the tag already existed and was reused."""


def env_tag(base_id: str, lock_digest: str) -> str:
    """The content-addressed tag of an environment image."""
    key = json.dumps([base_id, lock_digest, FORMAT_VERSION]).encode()
    return f"{ENV_REPOSITORY}:{hashlib.sha256(key).hexdigest()[:_DIGEST_LENGTH]}"


# --- base image ----------------------------------------------------------------------------


def resolve_base_image(
    client: docker.DockerClient,
    reference: str,
    *,
    cache: Path | None = None,
    progress: ProgressFn = silent,
) -> BaseImage:
    """Find ``reference`` on the daemon (pulling it when absent) and read its target facts."""
    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        image = _pull(client, reference, progress)
    except docker.errors.APIError as exc:
        raise BaseImageError(f"base image {reference}: {explain(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise BaseImageError(f"base image {reference}: {explain(exc)}") from None
    image_id = str(image.id)
    digests = [str(d) for d in image.attrs.get("RepoDigests") or []]
    digest = None
    if "@sha256:" in reference:
        digest = reference
    elif digests:
        repository = _repository(reference)
        digest = next((d for d in digests if d.split("@")[0] == repository), digests[0])
    target = target_environment(client, image_id, cache=cache, progress=progress)
    return BaseImage(reference=reference, id=image_id, digest=digest, target=target)


def _repository(reference: str) -> str:
    """``python`` of ``python:3.11``; a registry port (``host:5000/name``) is not a tag."""
    name, sep, tag = reference.rpartition(":")
    return name if sep and "/" not in tag else reference


def _pull(client: docker.DockerClient, reference: str, progress: ProgressFn) -> Any:
    progress(f"pulling base image {reference}")
    try:
        return client.images.pull(reference)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise BaseImageError(
            f"base image {reference} is not on this Docker daemon and cannot be pulled: "
            f"{explain(exc)}"
        ) from None


def _facts_path(cache: Path, image_id: str) -> Path:
    return cache / "base-images" / f"v{FORMAT_VERSION}-{image_id.removeprefix('sha256:')}.json"


def target_environment(
    client: docker.DockerClient,
    image_id: str,
    *,
    cache: Path | None = None,
    progress: ProgressFn = silent,
) -> TargetEnvironment:
    """The base image's Python and platform, probed once and then cached by image id."""
    cache = cache or cache_dir()
    path = _facts_path(cache, image_id)
    try:
        cached = read_json(path, what="cached facts", follow_symlinks=False)
        return TargetEnvironment.from_probe(cached if isinstance(cached, dict) else {})
    except (UntrustedInputError, ProbeError):
        pass  # absent or unreadable: probe again
    progress(f"probing base image {image_id[:19]}")
    output = _probe(client, image_id)
    try:
        data = load_json(output, what="the probe's output")
    except UntrustedInputError as exc:
        tail = " ".join(output.split())[-300:]
        reason = "printed no JSON" if "not valid JSON" in str(exc) else f"printed {exc}"
        raise BaseImageError(
            f"base image {image_id[:19]}: the probe {reason}: {tail or 'nothing'}"
        ) from None
    try:
        target = TargetEnvironment.from_probe(data if isinstance(data, dict) else {})
    except ProbeError as exc:
        raise BaseImageError(f"base image {image_id[:19]}: {exc}") from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(target.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache costs one probe per run, nothing else
    return target


def probe_command() -> list[str]:
    """``python3``'s arguments in the probe container: the runner's deadline supervisor, proof
    that venv and ensurepip import (the build relies on them), then the text of
    :mod:`reprolock.harness.probe`, run as ``__main__`` under its own file name."""
    supervisor = textwrap.dedent(inspect.getsource(runner.supervise))
    bootstrap = (
        "from __future__ import annotations\n"
        f"{supervisor}\n"
        f"supervise({PROBE_TIMEOUT + SELF_STOP_GRACE})\n"
        "import sys, venv, ensurepip\n"
        "exec(compile(sys.argv[1], 'probe.py', 'exec'), {'__name__': '__main__'})\n"
    )
    probe = resources.files("reprolock.harness").joinpath("probe.py").read_text("utf-8")
    return ["-c", bootstrap, probe]


def _probe(client: docker.DockerClient, image_id: str) -> str:
    # The base image comes from the repository's config: its python3 is as untrusted as
    # a suite's entrypoint, and runs as confined.
    options = confined(
        memory=PROBE_MEMORY, pids=64, user=f"{USER_ID}:{USER_ID}", tmp_size=64 * 2**20
    )
    with (
        managed_container(
            client,
            image=image_id,
            command=probe_command(),
            entrypoint=["python3"],
            purpose="probe",
            deadline=PROBE_TIMEOUT + SELF_STOP_GRACE,
            environment={"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp"},  # noqa: S108
            **options,
        ) as container,
        daemon_errors("probing the base image"),
    ):
        container.start()
        try:
            status = container.wait(timeout=PROBE_TIMEOUT)
        except requests.exceptions.ConnectionError as exc:
            if "timed out" not in str(exc).lower():
                raise
            raise BaseImageError(
                f"base image {image_id[:19]}: the probe did not finish in {PROBE_TIMEOUT} s"
            ) from None
        output = container.logs(stdout=True, stderr=True, tail=200).decode("utf-8", "replace")
    if status.get("StatusCode") != 0:
        tail = " ".join(output.split())[-300:]
        raise BaseImageError(
            f"base image {image_id[:19]}: python3 with its venv module is needed, and the probe "
            f"failed: {tail or 'no output'}"
        )
    return output


# --- build context -------------------------------------------------------------------------


def dockerfile(base_id: str, labels: Mapping[str, str] | None = None) -> str:
    """The generated Dockerfile: a venv with exactly the locked wheels, installed offline.

    Plain Dockerfile syntax for the classic builder (no BuildKit mounts). The venv is made
    without pip, and pip runs from a throwaway venv against it (``--python``), so the suite's
    environment holds exactly the lock's distributions. ``labels`` come right after ``FROM``,
    so that every intermediate image of the build carries them.
    """
    user = f"reprolock:x:{USER_ID}:{USER_ID}::/tmp:/usr/sbin/nologin"
    group = f"reprolock:x:{USER_ID}:"
    label = ""
    if labels:
        label = "LABEL " + " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
        label += "\n"
    return f"""\
FROM {base_id}
{label}COPY wheels/ /wheels/
RUN set -eu; \\
    grep -q '^reprolock:' /etc/group || echo '{group}' >> /etc/group; \\
    grep -q '^reprolock:' /etc/passwd || echo '{user}' >> /etc/passwd; \\
    python3 -m venv --without-pip {VENV}; \\
    python3 -m venv /tmp/reprolock-pip; \\
    /tmp/reprolock-pip/bin/python -m pip --python {PYTHON} install \\
        --no-index --no-deps --require-hashes --only-binary=:all: \\
        --no-cache-dir --disable-pip-version-check --no-input \\
        --find-links /wheels -r /wheels/requirements.txt; \\
    rm -rf /tmp/reprolock-pip /wheels
USER {USER_ID}:{USER_ID}
WORKDIR /work
"""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def requirements_text(
    requirements: Sequence[LockedRequirement], wheels: Sequence[Path]
) -> tuple[str, dict[str, Path]]:
    """``name==version --hash=sha256:...`` lines for the wheels, and the wheels by file name.

    Each line carries the hash of the wheel actually shipped, so pip's ``--require-hashes``
    checks the very file the host verified against the lock.
    """
    by_name: dict[str, Path] = {}
    for path in wheels:
        by_name[canonicalize_name(parse_wheel_filename(path.name)[0])] = path
    lines = []
    shipped: dict[str, Path] = {}
    for req in sorted(requirements, key=lambda r: r.name):
        wheel = by_name.get(canonicalize_name(req.name))
        if wheel is None:
            raise BuildError(f"{req.source}: no wheel was fetched for {req.name}=={req.version}")
        lines.append(f"{req.name}=={req.version} --hash=sha256:{_sha256_file(wheel)}")
        shipped[wheel.name] = wheel
    return "".join(f"{line}\n" for line in lines), shipped


def _tar_info(name: str, size: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_context(
    base_id: str,
    requirements: Sequence[LockedRequirement],
    wheels: Sequence[Path],
    *,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """The build context as an uncompressed tar whose bytes depend only on its content."""
    text, shipped = requirements_text(requirements, wheels)
    files: dict[str, bytes | Path] = {
        "Dockerfile": dockerfile(base_id, labels).encode(),
        "wheels/requirements.txt": text.encode(),
    }
    for name, path in shipped.items():
        files[f"wheels/{name}"] = path
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = sorted([*files, "wheels"])
        for name in entries:
            if name == "wheels":
                tar.addfile(_tar_info(name, 0, directory=True))
                continue
            content = files[name]
            if isinstance(content, Path):
                with content.open("rb") as handle:
                    tar.addfile(_tar_info(name, content.stat().st_size), handle)
            else:
                tar.addfile(_tar_info(name, len(content)), io.BytesIO(content))
    return buffer.getvalue()


# --- build ---------------------------------------------------------------------------------


def find_image(client: docker.DockerClient, tag: str) -> str | None:
    """The id of the image tagged ``tag``, or None."""
    with daemon_errors(f"looking up {tag}"):
        try:
            return str(client.images.get(tag).id)
        except docker.errors.ImageNotFound:
            return None


def ensure_image(
    client: docker.DockerClient,
    lock: Lock,
    base: BaseImage,
    *,
    cache: Path | None = None,
    progress: ProgressFn = silent,
) -> EnvImage:
    """The environment image of ``lock`` on ``base``: found by its tag, or built.

    The tag is checked before anything is downloaded: an environment built once costs one
    image lookup afterwards. A failing build raises :class:`BuildError` with the log's tail.
    """
    requirements = tuple(lock.for_target(base.target))
    lock_digest = lock.digest(base.target)
    tag = env_tag(base.id, lock_digest)

    def image(image_id: str, *, built: bool) -> EnvImage:
        return EnvImage(
            tag=tag,
            id=image_id,
            base=base,
            lock=lock,
            lock_digest=lock_digest,
            requirements=requirements,
            built=built,
        )

    found = find_image(client, tag)
    if found is not None:
        return image(found, built=False)
    wheels = wheelhouse.fetch_wheels(requirements, base.target, cache=cache, progress=progress)
    progress(f"building {tag} ({len(requirements)} packages)")
    build_id = uuid.uuid4().hex
    # On every image of this build, so that an interrupted or failed build's leftovers are
    # found (and, past the deadline, reaped by any reprolock process).
    step_labels = {
        BUILD_LABEL: build_id,
        BUILD_DEADLINE_LABEL: str(int(time.time()) + BUILD_DEADLINE),
    }
    context = build_context(base.id, requirements, wheels, labels=step_labels)
    labels = {
        f"{LABEL}.format": str(FORMAT_VERSION),
        f"{LABEL}.version": __version__,
        f"{LABEL}.base-image": base.id,
        f"{LABEL}.lock-digest": lock_digest,
        # The finished image is kept: no deadline.
        BUILD_DEADLINE_LABEL: "",
    }
    image_id = _build(
        client,
        context,
        tag=tag,
        labels=labels,
        progress=progress,
        lock_path=lock.path,
        build_id=build_id,
    )
    return image(image_id, built=True)


def _stream_lines(chunks: Iterator[Any]) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` per build message: ``line``, ``error`` or ``id``."""
    for chunk in chunks:
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk:
            detail = chunk.get("errorDetail") or {}
            message = detail.get("message") if isinstance(detail, dict) else None
            yield "error", str(message or chunk["error"])
        elif "stream" in chunk:
            # The daemon colours a step's stderr with ANSI escapes; logs want the text.
            for line in _ANSI.sub("", str(chunk["stream"])).splitlines():
                if line.strip():
                    yield "line", line.rstrip()
        elif isinstance(chunk.get("aux"), dict) and "ID" in chunk["aux"]:
            yield "id", str(chunk["aux"]["ID"])


def _build(
    client: docker.DockerClient,
    context: bytes,
    *,
    tag: str,
    labels: Mapping[str, str],
    progress: ProgressFn,
    lock_path: Path,
    build_id: str,
) -> str:
    """Build and tag the image; a failed or interrupted build leaves no image behind.

    Ctrl-C and SIGTERM interrupt it like any failure: the stream is dropped (the daemon
    cancels the build) and the build's own intermediate images and step containers, found
    by their :data:`BUILD_LABEL`, are removed before the interrupt goes on.
    """
    log: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL)
    image_id: str | None = None
    error: str | None = None
    finished = False
    try:
        with sigterm_as_interrupt(), daemon_errors(f"building {tag}"):
            chunks = client.api.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                tag=tag,
                rm=True,
                forcerm=True,
                decode=True,
                pull=False,
                # The context holds every wheel: the build needs, and gets, no network.
                network_mode="none",
                labels=dict(labels),
                use_config_proxy=False,
                container_limits={"memory": BUILD_MEMORY, "memswap": BUILD_MEMORY},
            )
            try:
                # Read to the end even after an error (the daemon ends the stream right after
                # it): a stream left half-read keeps its connection open.
                for kind, text in _stream_lines(chunks):
                    if kind == "error":
                        error = error or text
                    elif kind == "id":
                        image_id = text
                    elif error is None:
                        log.append(text[:_LOG_LINE_CHARS])
                        step = _STEP.match(text)
                        if step:
                            progress(f"building {tag} (step {step.group(1)}: {step.group(2)[:40]})")
            finally:
                # Dropping the stream is what tells the daemon to cancel an unfinished build.
                chunks.close()
                del chunks
        finished = error is None
    finally:
        if not finished:
            _remove_build(client, build_id)
    if error is not None:
        raise BuildError(_build_failure(lock_path, error, log), log)
    found = find_image(client, tag)
    if found is None:
        raise BuildError(f"the build of {tag} reported success but left no image", log)
    return image_id if image_id == found else found


_SETTLE_POLLS = 10
_SETTLE_SECONDS = 0.3


def _remove_build(client: docker.DockerClient, build_id: str) -> None:
    """Remove what an unfinished build made: its step containers and untagged images.

    The daemon may still be finishing the step it was in when the stream dropped; the
    leftovers are looked for until two looks in a row find none. Only this build's own
    (by its id label); a tagged image is a finished build and is kept.
    """
    wanted: dict[str, str | list[str] | bool] = {"label": f"{BUILD_LABEL}={build_id}"}
    quiet = 0
    for _ in range(_SETTLE_POLLS):
        found = 0
        with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
            for container in client.containers.list(all=True, filters=wanted):
                found += 1
                with contextlib.suppress(docker.errors.APIError):
                    container.remove(force=True)
            images = client.images.list(all=True, filters=wanted)
            # Newest first: a child goes before its parent.
            for leftover in sorted(images, key=lambda i: str(i.attrs.get("Created")), reverse=True):
                if leftover.tags:
                    continue
                found += 1
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(str(leftover.id), force=True)
        quiet = quiet + 1 if found == 0 else 0
        if quiet == 2:
            return
        time.sleep(_SETTLE_SECONDS)


def _build_failure(lock_path: Path, error: str, log: Sequence[str]) -> str:
    # pip's own "ERROR: ..." line says which wheel failed and why; the daemon's line only
    # says the RUN step exited non-zero.
    pip_errors = [line.strip() for line in log if line.strip().startswith("ERROR:")]
    reason = pip_errors[-1] if pip_errors else " ".join(error.split())
    return f"the environment of {lock_path} did not install: {reason}"
