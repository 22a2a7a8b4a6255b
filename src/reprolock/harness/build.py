"""Build an environment image: a container installs the wheels with uv, the host verifies, commits.

No build context and no Dockerfile: the verified wheels (hard links into the wheel cache), a
pinned uv binary and :mod:`reprolock.harness.installer` are mounted read-only into a container
of the base image, which installs them offline into the venv; the host checks what is installed
against the wheels (name, version, and the digest of each wheel's RECORD), and only then commits
the container as the environment's tag. A lock that differs from an environment already built on
the same base by a few packages is built on top of that image: the packages that differ are
removed and installed, nothing else (:func:`choose_parent`).

An interrupted build leaves nothing: the container is removed on every way out (and by the
reaper past its deadline), and no image exists before the commit, which tags it at once.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
from docker.types import Mount
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.errors import UnansweredError
from reprolock.harness import installer, wheelhouse
from reprolock.harness.docker import (
    BUILD_DEADLINE_LABEL,
    DEADLINE_LABEL,
    RUN_LABEL,
    SELF_STOP_GRACE,
    daemon_errors,
    managed_container,
)
from reprolock.harness.lockfile import LockedRequirement, TargetEnvironment
from reprolock.harness.progress import ProgressFn, silent

UV_VERSION = "0.13.8"
UV_WHEELS: Mapping[str, tuple[str, str]] = {
    "x86_64": (
        "musllinux_1_1_x86_64",
        "29451c60f5e8b07403e0a175d5229efc36b0289b34143ff4aaa499a5dd52553a",
    ),
    "aarch64": (
        "musllinux_1_1_aarch64",
        "0b3e8b1a4f5e405e31e2ff33de8af4744831e9f7338539671efbd8c3c94e791d",
    ),
}
"""uv's statically linked (musl) wheels by machine, pinned by sha256: they run in any base image."""

LABEL = "reprolock"
INSTALLED_LABEL = f"{LABEL}.installed"
"""JSON ``{name: [version, wheel sha256]}`` of what the image's venv holds."""
PARENT_LABEL = f"{LABEL}.parent"
"""The environment image it was built on ("" for one built on the base image)."""
DEPTH_LABEL = f"{LABEL}.depth"
"""Layers above the base image (1 for one built on the base image)."""

MAX_DEPTH = 12
"""An image this many builds above its base is not built on again: a chain of incremental
builds stays far below overlayfs's layer limit, and removed packages do not pile up."""
BUILD_TIMEOUT = 1800
"""Seconds one build may take."""
BUILD_MEMORY = 4 * 2**30
"""Memory (and memory plus swap) of the build container."""
BUILD_PIDS = 1024
BUILD_TMP = 1024 * 2**20
MOUNT = "/reprolock"
_LOG_TAIL = 25
_LOG_LINE_CHARS = 1000
_LISTING_CHARS = 4 * 2**20


class InstallError(Exception):
    """The wheels did not install, or the venv does not hold exactly them; the log's tail."""

    def __init__(self, message: str, log: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.log = tuple(log)


class ToolError(UnansweredError):
    """The pinned uv cannot be had for this machine (exit 3)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Wheel:
    """One wheel to install: the requirement it satisfies and the verified file."""

    name: str
    """Canonical name."""
    version: str
    """The locked version."""
    sha256: str
    """Hex sha256 of the file (checked against the lock)."""
    path: Path
    """The file in the wheel cache."""

    @property
    def size(self) -> int:
        """Bytes on disk (0 when it went missing: then it is never a reason to reuse)."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Parent:
    """An environment image to build on, and what must change in it."""

    tag: str
    id: str
    depth: int
    remove: tuple[str, ...]
    """Distributions to uninstall (not in the lock, or at another version or wheel)."""
    install: tuple[Wheel, ...]
    """Wheels to install on top."""


def wheels_for(
    requirements: Sequence[LockedRequirement], paths: Sequence[Path]
) -> tuple[Wheel, ...]:
    """Pair each requirement with its fetched wheel (in the same order) and the wheel's hash."""
    out = []
    for req, path in zip(requirements, paths, strict=True):
        # The wheel cache is content-addressed and fetch_wheels has just checked the file.
        named = path.parent.name
        known = f"sha256:{named}" in req.hashes and len(named) == 64
        digest = named if known else wheelhouse.file_sha256(path)
        out.append(
            Wheel(
                name=str(canonicalize_name(req.name)), version=req.version, sha256=digest, path=path
            )
        )
    return tuple(sorted(out, key=lambda w: w.name))


def installed_label(wheels: Iterable[Wheel]) -> str:
    """The :data:`INSTALLED_LABEL` value: compact, sorted, stable."""
    data = {w.name: [w.version, w.sha256] for w in sorted(wheels, key=lambda w: w.name)}
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def parse_installed(value: str | None) -> dict[str, tuple[str, str]] | None:
    """An :data:`INSTALLED_LABEL` read back; None when absent or not of that shape."""
    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    out: dict[str, tuple[str, str]] = {}
    for name, pair in data.items():
        if not (
            isinstance(name, str)
            and isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, str) for x in pair)
        ):
            return None
        out[name] = (pair[0], pair[1])
    return out


# --- choosing what to build on ------------------------------------------------------------


def plan_on(
    installed: Mapping[str, tuple[str, str]], wheels: Sequence[Wheel]
) -> tuple[tuple[str, ...], tuple[Wheel, ...]]:
    """What to uninstall from, and install on, a venv holding ``installed`` to get ``wheels``."""
    wanted = {w.name: w for w in wheels}
    install = tuple(w for w in wheels if installed.get(w.name) != (w.version, w.sha256))
    remove = tuple(
        sorted(
            name
            for name, held in installed.items()
            if name not in wanted or held != (wanted[name].version, wanted[name].sha256)
        )
    )
    return remove, install


def choose_parent(
    client: docker.DockerClient, *, base_id: str, format_version: int, wheels: Sequence[Wheel]
) -> Parent | None:
    """The environment image on ``base_id`` that needs the fewest bytes of wheels installed to
    become ``wheels``' environment, when that is fewer than a build from the base image needs.

    Only reprolock's own tagged environment images of this format are candidates (by their
    labels); ties go to fewer removals, then a shallower image, then the tag.
    """
    filters = {"label": [f"{LABEL}.base-image={base_id}", f"{LABEL}.format={format_version}"]}
    with daemon_errors("listing environment images"):
        candidates = client.images.list(filters=filters)
    cold = sum(w.size for w in wheels)
    best: tuple[tuple[int, int, int, str], Parent] | None = None
    for image in candidates:
        labels = image.labels or {}
        installed = parse_installed(labels.get(INSTALLED_LABEL))
        depth = labels.get(DEPTH_LABEL, "")
        tags = sorted(str(t) for t in image.tags)
        if installed is None or not depth.isdigit() or int(depth) >= MAX_DEPTH or not tags:
            continue
        remove, install = plan_on(installed, wheels)
        cost = sum(w.size for w in install)
        if cost >= cold:
            continue
        key = (cost, len(remove), int(depth), tags[0])
        if best is None or key < best[0]:
            parent = Parent(
                tag=tags[0],
                id=str(image.id),
                depth=int(depth),
                remove=remove,
                install=install,
            )
            best = (key, parent)
    return best[1] if best else None


# --- uv --------------------------------------------------------------------------------------


def uv_binary(target: TargetEnvironment, *, cache: Path, progress: ProgressFn = silent) -> Path:
    """The pinned uv for the target's machine: its wheel fetched and hash-checked like any
    locked wheel, the binary unpacked once into ``cache/tools`` and checked against the
    wheel's RECORD on every use."""
    machine = target.platform_machine
    if machine not in UV_WHEELS:
        raise ToolError(
            f"the harness installs with uv {UV_VERSION}, which has no pinned build for "
            f"{machine} (pinned: {', '.join(sorted(UV_WHEELS))})"
        )
    platform, sha256 = UV_WHEELS[machine]
    requirement = LockedRequirement(
        name="uv",
        version=UV_VERSION,
        hashes=(f"sha256:{sha256}",),
        marker=None,
        source=f"reprolock's pinned uv {UV_VERSION}",
    )
    tool_target = TargetEnvironment(
        python_version=target.python_version,
        python_full_version=target.python_full_version,
        implementation_name="cpython",
        platform_machine=machine,
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        platform_tags=(f"py3-none-{platform}",),
    )
    (wheel,) = wheelhouse.fetch_wheels([requirement], tool_target, cache=cache, progress=progress)
    member = f"uv-{UV_VERSION}.data/scripts/uv"
    expected = _record_hash(wheel, member)
    binary = cache / "tools" / f"uv-{sha256}" / "uv"
    if binary.is_file() and _urlsafe_sha256(binary) == expected:
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    staging = binary.with_name(f".uv.{os.getpid()}.tmp")
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(member) as src,
            staging.open("wb") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        staging.chmod(0o755)
        if _urlsafe_sha256(staging) != expected:
            raise ToolError(f"{wheel.name}: {member} does not match the wheel's RECORD")
        os.replace(staging, binary)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ToolError(f"cannot unpack uv from {wheel.name}: {exc}") from None
    finally:
        staging.unlink(missing_ok=True)
    return binary


def _record_hash(wheel: Path, member: str) -> str:
    try:
        with zipfile.ZipFile(wheel) as archive:
            record = archive.read(f"uv-{UV_VERSION}.dist-info/RECORD").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ToolError(f"{wheel.name}: no readable RECORD: {exc}") from None
    for row in csv.reader(io.StringIO(record)):
        if row and row[0] == member and len(row) > 1 and row[1].startswith("sha256="):
            return row[1].removeprefix("sha256=")
    raise ToolError(f"{wheel.name}: {member} is not in the wheel's RECORD")


def _urlsafe_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


# --- the build -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildSpec:
    """Everything one build needs."""

    base_id: str
    """The base image id."""
    venv: str
    """The venv's path in the image."""
    user: int
    """The unprivileged user the suite runs as (added to /etc/passwd by a build on the base)."""
    python: str
    """The venv's python (the image's Cmd)."""
    workdir: str
    """The image's working directory."""
    tag: str
    """The tag to commit as."""
    labels: Mapping[str, str]
    """Labels of the finished image (build and run labels are blanked on top)."""


def _link(source: Path, target: Path, mode: int) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    target.chmod(mode)


def _stage(
    staging: Path, wheels: Sequence[Wheel], uv: Path, plan: Mapping[str, Any], requirements: str
) -> None:
    """The mounted folder: wheels (hard links into the cache), requirements, plan, uv, driver."""
    (staging / "wheels").mkdir()
    for wheel in wheels:
        _link(wheel.path, staging / "wheels" / wheel.path.name, 0o644)
    _link(uv, staging / "uv", 0o755)
    (staging / "requirements.txt").write_text(requirements, encoding="utf-8")
    (staging / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    driver = resources.files("reprolock.harness").joinpath("installer.py").read_text("utf-8")
    (staging / "installer.py").write_text(driver, encoding="utf-8")
    # Read by root in the container, which has no capability to bypass modes.
    for path in (staging, staging / "wheels"):
        path.chmod(0o755)
    for name in ("requirements.txt", "plan.json", "installer.py"):
        (staging / name).chmod(0o644)


def requirements_lines(wheels: Sequence[Wheel]) -> str:
    """``name==version --hash=sha256:...`` per wheel: uv checks the very file the host checked."""
    return "".join(f"{w.name}=={w.version} --hash=sha256:{w.sha256}\n" for w in wheels)


def build_image(
    client: docker.DockerClient,
    spec: BuildSpec,
    wheels: Sequence[Wheel],
    *,
    uv: Path,
    cache: Path,
    parent: Parent | None = None,
    progress: ProgressFn = silent,
) -> str:
    """Build ``wheels``' environment (on ``parent`` when given) and commit it as ``spec.tag``.

    Raises :class:`InstallError` when the install fails or the venv does not hold exactly the
    wheels (nothing is committed then).
    """
    install = parent.install if parent else tuple(wheels)
    remove = parent.remove if parent else ()
    plan = {
        "timeout": BUILD_TIMEOUT,
        "venv": spec.venv,
        "user": spec.user,
        "create": parent is None,
        "remove": list(remove),
        "install": [w.name for w in install],
        "uv": f"{MOUNT}/uv",
        "wheels": f"{MOUNT}/wheels",
        "requirements": f"{MOUNT}/requirements.txt",
    }
    labels = {
        **spec.labels,
        INSTALLED_LABEL: installed_label(wheels),
        PARENT_LABEL: parent.tag if parent else "",
        DEPTH_LABEL: str(parent.depth + 1 if parent else 1),
    }
    root = cache / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        _stage(staging, install, uv, plan, requirements_lines(install))
        return _build_in(client, spec, staging=staging, parent=parent, wheels=wheels, labels=labels)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_in(
    client: docker.DockerClient,
    spec: BuildSpec,
    *,
    staging: Path,
    parent: Parent | None,
    wheels: Sequence[Wheel],
    labels: Mapping[str, str],
) -> str:
    options: dict[str, Any] = {
        # Root, to write the venv and /etc/passwd, with no capability beyond a file owner's.
        "user": "0:0",
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": BUILD_MEMORY,
        "memswap_limit": BUILD_MEMORY,
        "pids_limit": BUILD_PIDS,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={BUILD_TMP},mode=1777"},  # noqa: S108
        "mounts": [Mount(MOUNT, str(staging), type="bind", read_only=True)],
        "entrypoint": ["python3"],
        "working_dir": "/",
    }
    with managed_container(
        client,
        image=parent.id if parent else spec.base_id,
        command=["-B", "-I", f"{MOUNT}/installer.py", f"{MOUNT}/plan.json"],
        purpose="build",
        deadline=BUILD_TIMEOUT + SELF_STOP_GRACE,
        **options,
    ) as container:
        with daemon_errors("starting the build container"):
            container.start()
        try:
            status = container.wait(timeout=BUILD_TIMEOUT + SELF_STOP_GRACE)
        except requests.exceptions.ConnectionError as exc:
            if "timed out" not in str(exc).lower():
                raise
            raise InstallError(f"the install did not finish in {BUILD_TIMEOUT} s") from None
        with daemon_errors("reading the build container"):
            out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            both = container.logs(stdout=True, stderr=True, tail=_LOG_TAIL * 4)
        log = [
            line.rstrip()[:_LOG_LINE_CHARS]
            for line in both.decode("utf-8", "replace").splitlines()
            if line.strip() and not line.startswith(installer.MARK)
        ][-_LOG_TAIL:]
        if status.get("StatusCode") != 0:
            raise InstallError(_failure(log, int(status.get("StatusCode") or -1)), log)
        verify(_listing(out, log), wheels, log)
        return _commit(client, container, spec, labels)


def _failure(log: Sequence[str], code: int) -> str:
    # uv's own "error: ..." lines (and what follows them) say which wheel failed and why.
    for index, line in enumerate(log):
        if line.lower().startswith("error:"):
            causes = []
            for more in log[index + 1 :]:
                if not more[:1].isspace():
                    break
                causes.append(more.strip())
            return "; ".join([line.strip(), *causes])[:_LOG_LINE_CHARS]
    if log:
        return log[-1]
    return f"the installer exited {code}"


def _listing(out: str, log: Sequence[str]) -> dict[str, Any]:
    lines = [line for line in out.splitlines() if line.startswith(installer.MARK)]
    if len(lines) != 1 or len(lines[0]) > _LISTING_CHARS:
        raise InstallError("the installer printed no listing of the venv", log)
    try:
        data = json.loads(lines[0].removeprefix(installer.MARK))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InstallError("the installer's listing of the venv is not a JSON object", log)
    return data


def verify(listing: Mapping[str, Any], wheels: Sequence[Wheel], log: Sequence[str]) -> None:
    """The venv holds exactly ``wheels``: the same names, versions, and each distribution's
    RECORD that of its wheel; nothing else in site-packages."""
    problems: list[str] = []
    found: dict[str, tuple[str, str]] = {}
    for entry in listing.get("installed") or []:
        if isinstance(entry, dict):
            found[str(entry.get("name"))] = (str(entry.get("version")), str(entry.get("record")))
    wanted = {w.name: w for w in wheels}
    for name in sorted(set(found) - set(wanted)):
        problems.append(f"{name} {found[name][0]} is installed but not locked")
    for name, wheel in sorted(wanted.items()):
        if name not in found:
            problems.append(f"{name} {wheel.version} is locked but not installed")
            continue
        version, record = found[name]
        if not _same_version(version, wheel.version):
            problems.append(f"{name} is installed at {version}, locked at {wheel.version}")
        elif record != wheelhouse.wheel_record_digest(wheel.path):
            problems.append(f"{name} {version}: the installed files are not {wheel.path.name}'s")
    strays = [str(s) for s in listing.get("strays") or []]
    if strays:
        problems.append(f"site-packages holds files of no installed distribution: {strays[:5]}")
    if problems:
        raise InstallError("the venv does not hold the lock: " + "; ".join(problems[:5]), log)


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _commit(
    client: docker.DockerClient, container: Any, spec: BuildSpec, labels: Mapping[str, str]
) -> str:
    """Commit the build container as ``spec.tag``.

    The daemon merges a commit's config with the container's: the labels the container was
    created with (its run id, its deadline) are blanked, or every container of the image would
    inherit them; ``Cmd`` and ``Entrypoint`` are set for the same reason.
    """
    repository, _, tag = spec.tag.rpartition(":")
    conf = {
        "User": f"{spec.user}:{spec.user}",
        "WorkingDir": spec.workdir,
        "Cmd": [spec.python],
        "Entrypoint": [],
        "Labels": {
            **labels,
            RUN_LABEL: "",
            DEADLINE_LABEL: "",
            f"{LABEL}.purpose": "",
            BUILD_DEADLINE_LABEL: "",
        },
    }
    with daemon_errors(f"committing {spec.tag}"):
        image = container.commit(repository=repository, tag=tag, conf=conf, pause=False)
    return str(image.id)
