"""Builds: the in-container installer, the verification of the venv, builds on a parent image."""

from __future__ import annotations

import ast
import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from reprolock.harness import build, installer, wheelhouse
from reprolock.harness.build import (
    DEPTH_LABEL,
    INSTALLED_LABEL,
    PARENT_LABEL,
    InstallError,
    Wheel,
    installed_label,
    parse_installed,
    plan_on,
    requirements_lines,
    verify,
)
from reprolock.harness.image import (
    FORMAT_VERSION,
    PYTHON,
    BaseImage,
    BuildError,
    ensure_image,
    env_tag,
    resolve_base_image,
)
from reprolock.harness.lockfile import Lock, read_lock
from tests.harness.conftest import BASE_IMAGE, LOCKS, Containers

INSTALLER = Path(installer.__file__)


def _wheel(name: str, version: str, sha: str, path: Path | None = None) -> Wheel:
    return Wheel(name=name, version=version, sha256=sha * 64, path=path or Path(f"/{name}.whl"))


# --- the installer -------------------------------------------------------------------------


def test_the_installer_is_python_3_8_and_imports_only_the_standard_library() -> None:
    tree = ast.parse(INSTALLER.read_text(encoding="utf-8"), feature_version=(3, 8))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("numpy/__init__.py", "numpy/__init__.py"),
        ("numpy.libs/libopenblas.so", "numpy.libs/libopenblas.so"),
        ("threadpoolctl.py", "threadpoolctl.py"),
        ("numpy-1.26.4.dist-info/METADATA", None),
        ("numpy-1.26.4.dist-info/RECORD", None),
        ("numpy/__pycache__/x.cpython-311.pyc", None),
        ("numpy/x.pyc", None),
        ("../../../bin/f2py", None),
        ("pkg-1.0.data/scripts/tool", None),
        ("pkg-1.0.data/purelib/pkg/mod.py", "pkg/mod.py"),
        ("pkg-1.0.data/platlib/pkg/ext.so", "pkg/ext.so"),
    ],
)
def test_the_record_digest_keeps_what_lands_in_site_packages(path: str, kept: str | None) -> None:
    assert installer.record_kept(path) == kept


def test_the_record_digest_ignores_order_and_unhashed_rows() -> None:
    a = "b/x.py,sha256=BB,2\na/y.py,sha256=AA,1\na-1.dist-info/RECORD,,\n"
    b = "a/y.py,sha256=AA,1\na-1.dist-info/INSTALLER,sha256=CC,3\nb/x.py,sha256=BB,2\n"
    assert installer.record_digest(a) == installer.record_digest(b)
    assert installer.record_digest(a) != installer.record_digest("a/y.py,sha256=AB,1\n")
    expected = hashlib.sha256(b"a/y.py,sha256=AA\nb/x.py,sha256=BB").hexdigest()
    assert installer.record_digest(a) == expected


def test_a_wheels_record_digest_is_read_from_its_own_dist_info(tmp_path: Path) -> None:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        archive.writestr("vendored-2.0.dist-info/RECORD", "other.py,sha256=ZZ,1\n")
        archive.writestr(
            "pkg-1.0.dist-info/RECORD",
            "pkg/__init__.py,sha256=AA,0\npkg-1.0.data/purelib/pkg/m.py,sha256=BB,1\n",
        )
    assert wheelhouse.wheel_record_digest(wheel) == installer.record_digest(
        "pkg/m.py,sha256=BB,1\npkg/__init__.py,sha256=AA,0\n"
    )


# --- plans and labels ----------------------------------------------------------------------


def test_a_plan_on_a_parent_installs_and_removes_only_what_differs() -> None:
    wheels = [
        _wheel("joblib", "1.6.0", "a"),
        _wheel("numpy", "1.26.4", "b"),
        _wheel("new", "1", "c"),
    ]
    installed = {
        "joblib": ("1.6.0", "a" * 64),  # kept
        "numpy": ("1.26.4", "f" * 64),  # same version, another wheel: reinstalled
        "gone": ("2.0", "d" * 64),  # not in the lock: removed
    }
    remove, install = plan_on(installed, wheels)
    assert remove == ("gone", "numpy")
    assert [w.name for w in install] == ["numpy", "new"]


def test_the_installed_label_round_trips_and_refuses_other_shapes() -> None:
    wheels = [_wheel("numpy", "1.26.4", "b"), _wheel("joblib", "1.6.0", "a")]
    text = installed_label(wheels)
    assert text == json.dumps(
        {"joblib": ["1.6.0", "a" * 64], "numpy": ["1.26.4", "b" * 64]}, separators=(",", ":")
    )
    assert parse_installed(text) == {"joblib": ("1.6.0", "a" * 64), "numpy": ("1.26.4", "b" * 64)}
    for bad in (None, "", "[1]", "{", '{"a": "1.0"}', '{"a": ["1.0"]}', '{"a": [1, "x"]}'):
        assert parse_installed(bad) is None


def test_requirements_lines_carry_the_hash_of_the_shipped_wheel() -> None:
    text = requirements_lines([_wheel("joblib", "1.6.0", "a"), _wheel("numpy", "1.26.4", "b")])
    assert text == (
        f"joblib==1.6.0 --hash=sha256:{'a' * 64}\nnumpy==1.26.4 --hash=sha256:{'b' * 64}\n"
    )


# --- verification --------------------------------------------------------------------------


def _record_wheel(directory: Path, name: str, version: str, record: str) -> Path:
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/RECORD", record)
    return path


def test_verify_accepts_exactly_the_wheels(tmp_path: Path) -> None:
    record = "a/x.py,sha256=AA,1\n"
    wheel = _wheel("a", "1.0", "a", _record_wheel(tmp_path, "a", "1.0", record))
    listing = {
        "installed": [
            {"name": "a", "version": "1.0", "record": installer.record_digest(record)},
        ],
        "strays": [],
    }
    verify(listing, [wheel], [])


def test_verify_names_every_difference(tmp_path: Path) -> None:
    a = _wheel("a", "1.0", "a", _record_wheel(tmp_path, "a", "1.0", "a/x.py,sha256=AA,1\n"))
    b = _wheel("b", "2.0", "b", _record_wheel(tmp_path, "b", "2.0", "b/x.py,sha256=BB,1\n"))
    c = _wheel("c", "3.0", "c", _record_wheel(tmp_path, "c", "3.0", "c/x.py,sha256=CC,1\n"))
    listing = {
        "installed": [
            {"name": "a", "version": "1.0", "record": "not the wheel's"},
            {"name": "b", "version": "2.1", "record": ""},
            {"name": "extra", "version": "9", "record": ""},
        ],
        "strays": ["leftover"],
    }
    with pytest.raises(InstallError) as info:
        verify(listing, [a, b, c], ["log line"])
    assert str(info.value) == (
        "the venv does not hold the lock: extra 9 is installed but not locked; "
        "a 1.0: the installed files are not a-1.0-py3-none-any.whl's; "
        "b is installed at 2.1, locked at 2.0; c 3.0 is locked but not installed; "
        "site-packages holds files of no installed distribution: ['leftover']"
    )
    assert info.value.log == ("log line",)


# --- against the daemon --------------------------------------------------------------------


def _base(client: docker.DockerClient, cache: Path) -> BaseImage:
    return resolve_base_image(client, BASE_IMAGE, cache=cache)


def _in_image(client: docker.DockerClient, image_id: str, code: str) -> Any:
    output = client.containers.run(
        image_id,
        [PYTHON, "-c", code],
        remove=True,
        network_mode="none",
        labels={"reprolock.run": "test", "reprolock.purpose": "test"},
    )
    return json.loads(output)


_INSTALLED = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted(d.metadata['Name'].lower() + '==' + d.version "
    "for d in m.distributions())))"
)


def test_a_cold_build_labels_its_image_and_blanks_the_build_containers_labels(
    docker_client: docker.DockerClient, harness_cache: Path, containers: Containers
) -> None:
    lock = read_lock(LOCKS / "sklearn-1.3.2.txt")
    base = _base(docker_client, harness_cache)
    env = ensure_image(docker_client, lock, base, cache=harness_cache)
    attrs = docker_client.images.get(env.tag).attrs
    labels = attrs["Config"]["Labels"]
    wanted = {r.name: [r.version] for r in lock.for_target(base.target)}
    installed = json.loads(labels[INSTALLED_LABEL])
    assert {name: pair[:1] for name, pair in installed.items()} == wanted
    for req in lock.for_target(base.target):
        assert f"sha256:{installed[req.name][1]}" in req.hashes
    assert labels["reprolock.format"] == str(FORMAT_VERSION)
    assert labels["reprolock.lock-digest"] == lock.digest(base.target)
    # A container made from the image inherits no run id and no deadline of the build's.
    for key in ("reprolock.run", "reprolock.deadline", "reprolock.purpose"):
        assert labels[key] == ""
    if env.built:  # the session may have built it in an earlier test
        assert (labels[PARENT_LABEL], labels[DEPTH_LABEL]) == ("", "1")
    assert attrs["Config"]["User"] == "10001:10001"
    assert attrs["Config"]["WorkingDir"] == "/work"
    assert attrs["Config"]["Cmd"] == [PYTHON]


def _without(lock: Lock, name: str, base: BaseImage) -> Lock:
    return Lock(
        path=Path(f"{lock.path.name} without {name}"),
        format="requirements",
        requirements=tuple(r for r in lock.for_target(base.target) if r.name != name),
    )


def test_a_lock_a_few_packages_away_installs_only_those_on_the_built_image(
    docker_client: docker.DockerClient,
    harness_cache: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = _base(docker_client, harness_cache)
    first = ensure_image(
        docker_client, read_lock(LOCKS / "sklearn-1.3.2.txt"), base, cache=harness_cache
    )
    bump = read_lock(LOCKS / "sklearn-1.3.2-threadpoolctl-bump.txt")
    plans: list[build.Parent | None] = []
    original = build.build_image

    def spy(*args: Any, **kwargs: Any) -> str:
        plans.append(kwargs.get("parent"))
        return original(*args, **kwargs)

    monkeypatch.setattr(build, "build_image", spy)
    tag = env_tag(base.id, bump.digest(base.target))
    if docker_client.images.list(name=tag):
        docker_client.images.remove(tag)  # built by an earlier test of this session
    env = ensure_image(docker_client, bump, base, cache=harness_cache)
    (parent,) = plans
    # Built on the sklearn-1.3.2 environment (or on another as close: the daemon is shared).
    assert parent is not None
    assert [w.name for w in parent.install] == ["threadpoolctl"]
    assert set(parent.remove) <= {"threadpoolctl"}
    assert parent.tag == first.tag or parent.remove == ()
    # Whatever path built it, the tag is the lock's; the image is the parent plus one layer.
    assert (env.tag, env.parent, env.built) == (tag, parent.tag, True)
    layers = docker_client.images.get(env.tag).attrs["RootFS"]["Layers"]
    assert layers[:-1] == docker_client.images.get(parent.tag).attrs["RootFS"]["Layers"]
    labels = docker_client.images.get(env.tag).labels
    assert (labels[PARENT_LABEL], labels[DEPTH_LABEL]) == (parent.tag, str(parent.depth + 1))
    expected = sorted(r.pin for r in bump.for_target(base.target))
    assert _in_image(docker_client, env.id, _INSTALLED) == expected


def test_a_package_removed_on_top_of_a_parent_cannot_be_imported(
    docker_client: docker.DockerClient, harness_cache: Path, containers: Containers
) -> None:
    base = _base(docker_client, harness_cache)
    lock = read_lock(LOCKS / "sklearn-1.3.2.txt")
    first = ensure_image(docker_client, lock, base, cache=harness_cache)
    env = ensure_image(
        docker_client, _without(lock, "threadpoolctl", base), base, cache=harness_cache
    )
    if env.built:
        assert env.parent == first.tag
    probe = (
        "import importlib.util, json, os, sys; "
        "site = [p for p in sys.path if p.endswith('site-packages')][0]; "
        "print(json.dumps([importlib.util.find_spec('threadpoolctl') is None, "
        "sorted(e for e in os.listdir(site) if 'threadpoolctl' in e)]))"
    )
    assert _in_image(docker_client, env.id, probe) == [True, []]


def test_a_venv_that_does_not_match_its_wheels_is_not_committed(
    docker_client: docker.DockerClient,
    harness_cache: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = f"reprolock-test-build:{hashlib.sha256(str(id(monkeypatch)).encode()).hexdigest()[:12]}"
    monkeypatch.setattr("reprolock.harness.image.env_tag", lambda base_id, digest: tag)
    monkeypatch.setattr(build, "choose_parent", lambda *args, **kwargs: None)
    real = wheelhouse.wheel_record_digest
    monkeypatch.setattr(
        wheelhouse,
        "wheel_record_digest",
        lambda wheel: "0" * 64 if wheel.name.startswith("joblib") else real(wheel),
    )
    base = _base(docker_client, harness_cache)
    lock = read_lock(LOCKS / "sklearn-1.3.2.txt")
    with pytest.raises(BuildError) as info:
        ensure_image(docker_client, lock, base, cache=harness_cache)
    assert str(info.value) == (
        f"the environment of {lock.path} did not install: the venv does not hold the lock: "
        "joblib 1.6.0: the installed files are not joblib-1.6.0-py3-none-any.whl's"
    )
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(tag)


def test_only_reprolocks_own_environment_images_are_parents(
    docker_client: docker.DockerClient, harness_cache: Path, containers: Containers
) -> None:
    base = _base(docker_client, harness_cache)
    lock = read_lock(LOCKS / "sklearn-1.3.2.txt")
    ensure_image(docker_client, lock, base, cache=harness_cache)
    wheels = build.wheels_for(
        lock.for_target(base.target),
        wheelhouse.fetch_wheels(lock.for_target(base.target), base.target, cache=harness_cache),
    )
    parent = build.choose_parent(
        docker_client, base_id=base.id, format_version=FORMAT_VERSION, wheels=wheels
    )
    # Its own environment needs nothing installed: a parent that costs nothing.
    assert parent is not None
    assert (parent.remove, parent.install) == ((), ())
    assert docker_client.images.get(parent.tag).labels["reprolock.base-image"] == base.id
    other = build.choose_parent(
        docker_client, base_id="sha256:" + "0" * 64, format_version=FORMAT_VERSION, wheels=wheels
    )
    assert other is None
