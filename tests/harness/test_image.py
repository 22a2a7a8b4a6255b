"""Environment images: base-image facts, content-addressed tags, reuse, failures."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import ContainerCollection

from reprolock.errors import UnansweredError
from reprolock.harness import build, image, wheelhouse
from reprolock.harness.image import (
    FORMAT_VERSION,
    BaseImage,
    BaseImageError,
    BuildError,
    ensure_image,
    env_tag,
    resolve_base_image,
)
from reprolock.harness.lockfile import read_lock
from tests.harness.conftest import BASE_IMAGE, LOCKS, PROJECT, Containers

BASE_ID = "sha256:" + "ab" * 32


# --- tags ----------------------------------------------------------------------------------


def test_tag_is_a_hash_of_base_lock_and_format(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = env_tag(BASE_ID, "d" * 64)
    assert tag.startswith("reprolock-env:")
    assert len(tag.split(":")[1]) == 32
    assert env_tag(BASE_ID, "d" * 64) == tag
    assert env_tag(BASE_ID, "e" * 64) != tag
    assert env_tag("sha256:" + "cd" * 32, "d" * 64) != tag
    monkeypatch.setattr(image, "FORMAT_VERSION", FORMAT_VERSION + 1)
    assert env_tag(BASE_ID, "d" * 64) != tag


# --- against the daemon --------------------------------------------------------------------


def _base(client: docker.DockerClient, cache: Path) -> BaseImage:
    return resolve_base_image(client, BASE_IMAGE, cache=cache)


def test_base_image_facts_are_probed_once_and_cached_by_image_id(
    docker_client: docker.DockerClient,
    tmp_path: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = _base(docker_client, tmp_path)
    assert base.id == docker_client.images.get(BASE_IMAGE).id
    assert base.digest is None  # made with docker import: no registry digest
    assert not base.pinned
    assert base.target.python_version == "3.11"
    assert base.target.platform_tags[0].startswith("cp311-cp311-")
    assert containers.purposes() == ["probe"]
    cached = tmp_path / "base-images" / f"v{FORMAT_VERSION}-{base.id.removeprefix('sha256:')}.json"
    assert json.loads(cached.read_text())["python_full_version"] == base.target.python_full_version

    def refuse(self: ContainerCollection, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the cached facts must be used")

    monkeypatch.setattr(ContainerCollection, "create", refuse)
    assert _base(docker_client, tmp_path) == base


def test_missing_base_image_is_unanswered(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    with pytest.raises(BaseImageError) as info:
        resolve_base_image(docker_client, "reprolock-test/no-such-image:1", cache=tmp_path)
    assert str(info.value).startswith(
        "base image reprolock-test/no-such-image:1 is not on this Docker daemon and cannot be "
        "pulled: "
    )
    assert isinstance(info.value, UnansweredError)
    assert info.value.exit_code == 3


def test_an_existing_environment_is_reused_without_download_or_build(
    docker_client: docker.DockerClient,
    harness_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lock = read_lock(PROJECT / "locks" / "sklearn-1.3.2.txt")
    base = _base(docker_client, harness_cache)
    first = ensure_image(docker_client, lock, base, cache=harness_cache)

    calls: list[str] = []

    def no_fetch(*args: Any, **kwargs: Any) -> Any:
        calls.append("fetch")
        raise AssertionError("nothing may be downloaded for an existing environment")

    def no_build(*args: Any, **kwargs: Any) -> Any:
        calls.append("build")
        raise AssertionError("nothing may be built for an existing environment")

    monkeypatch.setattr(wheelhouse, "fetch_wheels", no_fetch)
    monkeypatch.setattr(build, "build_image", no_build)
    again = ensure_image(docker_client, lock, base, cache=harness_cache)
    assert calls == []
    assert not again.built
    assert (again.tag, again.id) == (first.tag, first.id)
    assert again.tag == env_tag(base.id, lock.digest(base.target))
    labels = docker_client.images.get(again.tag).labels
    assert labels["reprolock.lock-digest"] == lock.digest(base.target)
    assert labels["reprolock.base-image"] == base.id
    assert labels["reprolock.format"] == str(FORMAT_VERSION)


def _broken_wheel(directory: Path) -> Path:
    # A zip named like a wheel with no metadata: pip refuses to install it.
    path = directory / "brokenpkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("brokenpkg/__init__.py", "")
    return path


def broken_lock(directory: Path) -> Path:
    """A lock pinning a wheel that cannot install, and that wheel (served by a fake fetch)."""
    wheel = _broken_wheel(directory)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = directory / "broken.txt"
    lock.write_text(f"brokenpkg==1.0 --hash=sha256:{digest}\n", encoding="utf-8")
    return lock


def serve_broken_wheel(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Make fetch_wheels hand out the broken wheel instead of downloading (uv still comes
    from the wheel cache)."""
    original = wheelhouse.fetch_wheels

    def fetch(reqs: Any, target: Any, **kwargs: Any) -> list[Path]:
        if [r.name for r in reqs] == ["uv"]:
            return original(reqs, target, **kwargs)
        return [directory / "brokenpkg-1.0-py3-none-any.whl"]

    monkeypatch.setattr(wheelhouse, "fetch_wheels", fetch)


def test_a_wheel_that_does_not_install_is_a_build_error_with_the_log(
    docker_client: docker.DockerClient,
    harness_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lock = read_lock(broken_lock(tmp_path))
    serve_broken_wheel(monkeypatch, tmp_path)
    base = _base(docker_client, harness_cache)
    with pytest.raises(BuildError) as info:
        ensure_image(docker_client, lock, base, cache=harness_cache)
    message = str(info.value)
    assert message == (
        f"the environment of {lock.path} did not install: error: Failed to download "
        "`brokenpkg==1.0`; cause: The wheel is invalid: Missing .dist-info directory"
    )
    assert info.value.exit_code == 1
    assert any("brokenpkg" in line for line in info.value.log)
    assert info.value.report.startswith(message + "\n")
    tag = env_tag(base.id, lock.digest(base.target))
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(tag)


def test_the_environment_holds_exactly_the_locked_distributions(
    docker_client: docker.DockerClient, harness_cache: Path, containers: Containers
) -> None:
    lock = read_lock(LOCKS / "sklearn-1.3.2.txt")
    base = _base(docker_client, harness_cache)
    env = ensure_image(docker_client, lock, base, cache=harness_cache)
    output = docker_client.containers.run(
        env.id,
        [
            image.PYTHON,
            "-c",
            "import importlib.metadata as m, json; "
            "print(json.dumps(sorted(d.metadata['Name'].lower() + '==' + d.version "
            "for d in m.distributions())))",
        ],
        remove=True,
        network_mode="none",
        labels={"reprolock.run": "test", "reprolock.purpose": "test"},
    )
    installed = json.loads(output)
    assert installed == sorted(req.pin for req in env.requirements)
    assert "pip" not in {pin.split("==")[0] for pin in installed}
