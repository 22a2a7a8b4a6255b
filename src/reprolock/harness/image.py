"""The suite's environment as an image: base-image facts, a deterministic build context, the build.

An environment image is tagged ``reprolock-env:<hash>`` where the hash covers the base image id,
the lock's normalised content for that base and :data:`FORMAT_VERSION`: an unchanged
environment is found by its tag and never rebuilt, and nothing is downloaded for it.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from reprolock import __version__
from reprolock.errors import ReproError, UnansweredError
from reprolock.files import cache_dir
from reprolock.harness import build, runner, wheelhouse
from reprolock.harness import cache as usage
from reprolock.harness.docker import (
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

FORMAT_VERSION = 2
"""Bump when the image layout or the way it is built changes: every environment is rebuilt."""
ENV_REPOSITORY = "reprolock-env"
VENV = "/opt/venv"
PYTHON = f"{VENV}/bin/python"
WORKDIR = "/work"
USER_ID = 10001
"""The unprivileged user the suite runs as (no such user exists in usual base images)."""
LABEL = "reprolock"
"""Prefix of every label reprolock puts on an image or a container."""

PROBE_TIMEOUT = 120
PROBE_MEMORY = 512 * 2**20

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
        """Whether the reference names a digest or an image id rather than a mutable tag."""
        return "@sha256:" in self.reference or self.reference.startswith("sha256:")

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
    parent: str | None = None
    """The environment image it was built on (a build of a few packages), if any."""


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
        close = close_tags(client, reference)
        hint = f"; local images with a similar name: {', '.join(close)}" if close else ""
        raise BaseImageError(
            f"base image {reference} is not on this Docker daemon and cannot be pulled: "
            f"{explain(exc)}{hint}"
        ) from None


def close_tags(client: docker.DockerClient, reference: str) -> list[str]:
    """Tags of local images whose name is close to ``reference`` (a typo), best first."""
    try:
        tags = [str(tag) for image in client.images.list() for tag in image.tags or ()]
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return []
    return difflib.get_close_matches(reference, sorted(set(tags)), n=3, cutoff=0.75)


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
    image lookup afterwards. A build starts from the environment image on the same base that
    needs the fewest wheels installed (:func:`reprolock.harness.build.choose_parent`), or from
    the base image; whichever it starts from, the tag is the same and the venv is verified to
    hold exactly the lock's wheels before the image is committed. A failing build raises
    :class:`BuildError` with the log's tail.
    """
    requirements = tuple(lock.for_target(base.target))
    lock_digest = lock.digest(base.target)
    tag = env_tag(base.id, lock_digest)

    def image(image_id: str, *, built: bool, parent: str | None = None) -> EnvImage:
        return EnvImage(
            tag=tag,
            id=image_id,
            base=base,
            lock=lock,
            lock_digest=lock_digest,
            requirements=requirements,
            built=built,
            parent=parent,
        )

    root = cache if cache is not None else cache_dir()
    found = find_image(client, tag)
    if found is not None:
        usage.touch_image(root, tag)
        return image(found, built=False)
    paths = wheelhouse.fetch_wheels(requirements, base.target, cache=root, progress=progress)
    wheels = build.wheels_for(requirements, paths)
    uv = build.uv_binary(base.target, cache=root, progress=progress)
    parent = build.choose_parent(
        client, base_id=base.id, format_version=FORMAT_VERSION, wheels=wheels
    )
    if parent is None:
        progress(f"building {tag} ({len(wheels)} packages)")
    else:
        progress(
            f"building {tag} on {parent.tag} ({len(parent.install)} of {len(wheels)} packages "
            f"to install, {len(parent.remove)} to remove)"
        )
    spec = build.BuildSpec(
        base_id=base.id,
        venv=VENV,
        user=USER_ID,
        python=PYTHON,
        workdir=WORKDIR,
        tag=tag,
        labels={
            f"{LABEL}.format": str(FORMAT_VERSION),
            f"{LABEL}.version": __version__,
            f"{LABEL}.base-image": base.id,
            f"{LABEL}.lock-digest": lock_digest,
        },
    )
    try:
        with sigterm_as_interrupt():
            image_id = build.build_image(
                client, spec, wheels, uv=uv, cache=root, parent=parent, progress=progress
            )
    except build.InstallError as exc:
        raise BuildError(
            f"the environment of {lock.path} did not install: {exc}", exc.log
        ) from None
    usage.touch_image(root, tag)
    return image(image_id, built=True, parent=parent.tag if parent else None)
