"""What reprolock keeps, and how it is bounded: the wheel cache, its own images, the audit cache.

:func:`survey` measures it (``repro cache info``); :func:`plan_prune` decides what an age limit
removes and :func:`apply_prune` removes it (``repro cache prune``). Images are reprolock's own
only, found by their labels (:data:`OWN_IMAGE_LABELS`); an image that a container uses stays,
and so does every image another kept image is built on. :func:`lock_key` is a key of the wheels
a lock needs, for CI caches of the wheel directory.

Last use: a wheel's mtime is set each time a build takes it from the cache
(:func:`reprolock.harness.wheelhouse.cached_wheel`); an environment image's last use is recorded
under ``usage/images/`` each time it is found or built (:func:`touch_image`), and otherwise is
its creation time.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from reprolock.config import Suite
from reprolock.harness import build
from reprolock.harness.docker import explain
from reprolock.harness.lockfile import Lock, LockError, read_lock
from reprolock.harness.untrusted import UntrustedInputError, read_json
from reprolock.report.cache import (
    CacheInfo,
    Item,
    PrunePlan,
    PruneResult,
    Usage,
    human,
)

DAY = 86400.0
OWN_IMAGE_LABELS = ("reprolock.format", "reprolock.build")
"""An image with either label is reprolock's: an environment (``reprolock.format``), or a step
of an interrupted build of reprolock before 0.2 (``reprolock.build``)."""
STALE_TMP = DAY
"""Seconds after which a leftover of ``tmp/`` (a killed download or build) is removed."""
_HEX = re.compile(r"^[0-9a-f]{64}$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True, kw_only=True, slots=True)
class Keep:
    """What ``--keep-goldens`` protects: the goldens' wheels and environment images."""

    wheel_hashes: frozenset[str] = frozenset()
    """Hex sha256 of every file a golden suite's lock allows."""
    images: frozenset[str] = frozenset()
    """Tags and ids of the goldens' environment images."""
    reasons: Mapping[str, str] = field(default_factory=dict)
    """Tag or id -> the suite that keeps it."""


# --- last use ------------------------------------------------------------------------------


def _usage_path(root: Path, tag: str) -> Path:
    return root / "usage" / "images" / hashlib.sha256(tag.encode()).hexdigest()


def touch_image(root: Path, tag: str) -> None:
    """Record that the image ``tag`` was used now (best effort: a read-only cache skips it)."""
    path = _usage_path(root, tag)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tag + "\n", encoding="utf-8")


def _image_used(root: Path, tag: str) -> float | None:
    try:
        return _usage_path(root, tag).stat().st_mtime
    except OSError:
        return None


def _created(attrs: Mapping[str, Any]) -> float:
    text = str(attrs.get("Created") or "")
    try:
        return datetime.datetime.fromisoformat(_FRACTION.sub(r"\1", text)).timestamp()
    except ValueError:
        return 0.0


# --- the files -----------------------------------------------------------------------------


def _files(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _wheel_hash(root: Path, path: Path) -> str | None:
    """The hex sha256 a wheel is filed under (``wheels/sha256/ab/<hex>/<file>``)."""
    parts = path.relative_to(root).parts
    if len(parts) == 5 and parts[:2] == ("wheels", "sha256") and _HEX.match(parts[3]):
        return parts[3]
    return None


def _pinned_tool_hashes() -> frozenset[str]:
    return frozenset(sha for _, sha in build.UV_WHEELS.values())


# --- images --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Image:
    id: str
    tags: tuple[str, ...]
    parent: str
    created: float
    size: int
    unique: int


def _own_images(client: docker.DockerClient) -> list[_Image]:
    """reprolock's images: found by label, sized by the daemon's disk usage report."""
    unique: dict[str, int] = {}
    with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
        for entry in client.df().get("Images") or []:
            shared = int(entry.get("SharedSize") or 0)
            unique[str(entry.get("Id"))] = max(int(entry.get("Size") or 0) - max(shared, 0), 0)
    seen: dict[str, _Image] = {}
    for label in OWN_IMAGE_LABELS:
        for image in client.images.list(all=True, filters={"label": label}):
            attrs = image.attrs
            image_id = str(image.id)
            seen[image_id] = _Image(
                id=image_id,
                tags=tuple(sorted(str(t) for t in image.tags)),
                parent=str(attrs.get("Parent") or ""),
                created=_created(attrs),
                size=int(attrs.get("Size") or 0),
                unique=unique.get(image_id, 0),
            )
    return sorted(seen.values(), key=lambda i: (i.tags, i.id))


def _images_in_use(client: docker.DockerClient) -> dict[str, str]:
    """Image id -> a container that uses it (any state: docker refuses to remove those)."""
    used: dict[str, str] = {}
    for container in client.api.containers(all=True):
        image_id = str(container.get("ImageID") or "")
        name = (container.get("Names") or ["?"])[0].lstrip("/")
        state = str(container.get("State") or "")
        used.setdefault(image_id, f"used by the {state} container {name}")
    return used


# --- info ----------------------------------------------------------------------------------


def survey(root: Path, client: docker.DockerClient | None, problem: str | None = None) -> CacheInfo:
    """Count and size what the cache directory and the daemon hold of reprolock's."""
    wheels, audit, other = Usage(), Usage(), Usage()
    for path in _files(root):
        top = path.relative_to(root).parts[0]
        if top == "wheels" and path.suffix == ".whl":
            wheels = wheels.plus(_size(path))
        elif top == "audit":
            audit = audit.plus(_size(path))
        else:
            other = other.plus(_size(path))
    images: Usage | None = None
    total: int | None = None
    if client is not None:
        try:
            found = _own_images(client)
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            problem = f"cannot list images: {explain(exc)}"
        else:
            images = Usage(count=len(found), bytes=sum(i.unique for i in found))
            total = sum(i.size for i in found)
    return CacheInfo(
        root=root,
        wheels=wheels,
        audit=audit,
        other=other,
        images=images,
        images_total=total,
        docker_problem=problem,
    )


# --- goldens -------------------------------------------------------------------------------


def lock_hashes(lock: Lock) -> frozenset[str]:
    """Hex sha256 of every file any entry of ``lock`` allows (whatever the target)."""
    return frozenset(h.removeprefix("sha256:") for r in lock.requirements for h in r.hashes)


def lock_key(lock: Lock) -> str:
    """A key of the wheels ``lock`` can need: its pins and their hashes, and the pinned uv.

    Equal for two locks that allow the same files, whatever their format or order: a CI cache
    of the wheel directory keyed on it is downloaded again only when the lock changed.
    """
    lines = sorted(f"{r.pin} {' '.join(sorted(r.hashes))}" for r in lock.requirements)
    lines.append(f"uv=={build.UV_VERSION} {' '.join(sorted(_pinned_tool_hashes()))}")
    return hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()


WHEELS_KEY_PREFIX = "reprolock-wheels-"
"""What :func:`wheels_key` starts with: a CI cache's ``restore-keys`` prefix."""


def wheels_key(locks: Iterable[Lock]) -> str:
    """``repro cache key``: ``reprolock-wheels-<hex>`` over the :func:`lock_key` of every lock a
    job can install from (its suites' locks and its candidate), in any order, each once."""
    keys = sorted({lock_key(lock) for lock in locks})
    if not keys:
        raise ValueError("wheels_key needs at least one lock")
    combined = keys[0] if len(keys) == 1 else hashlib.sha256("\n".join(keys).encode()).hexdigest()
    return f"{WHEELS_KEY_PREFIX}{combined}"


def golden_keep(suites: Iterable[Suite]) -> Keep:
    """The wheels and images of every suite that has a golden: its lock's files, and the
    environment image its golden.json names."""
    hashes: set[str] = set()
    images: set[str] = set()
    reasons: dict[str, str] = {}
    for suite in suites:
        if not suite.golden_json_path.is_file():
            continue
        with contextlib.suppress(LockError, OSError):
            hashes |= lock_hashes(read_lock(suite.lock_path))
        try:
            meta = read_json(suite.golden_json_path, what="golden.json", follow_symlinks=False)
        except UntrustedInputError:
            continue
        image = meta.get("image") if isinstance(meta, dict) else None
        if isinstance(image, dict):
            for key in ("tag", "id"):
                value = image.get(key)
                if isinstance(value, str) and value:
                    images.add(value)
                    reasons[value] = f"the environment of the golden of suite {suite.name}"
    return Keep(wheel_hashes=frozenset(hashes), images=frozenset(images), reasons=reasons)


# --- prune ---------------------------------------------------------------------------------


def plan_prune(
    root: Path,
    client: docker.DockerClient | None,
    *,
    older_than_days: float,
    keep: Keep = Keep(),
    now: float | None = None,
    problem: str | None = None,
) -> PrunePlan:
    """What a prune with this age limit removes: wheels and audit-cache files not used for
    ``older_than_days``, reprolock's images not used for as long (unless kept), leftovers."""
    now = time.time() if now is None else now
    cutoff = now - older_than_days * DAY
    remove: list[Item] = []
    tools = _pinned_tool_hashes()
    for path in _files(root / "wheels"):
        digest = _wheel_hash(root, path)
        if digest in tools or digest in keep.wheel_hashes or _mtime(path) >= cutoff:
            continue
        remove.append(_file_item("wheel", root, path))
    for path in _files(root / "audit"):
        if _mtime(path) < cutoff:
            remove.append(_file_item("audit", root, path))
    tmp = root / "tmp"
    if tmp.is_dir():
        for entry in sorted(tmp.iterdir()):
            if _mtime(entry) < now - STALE_TMP:
                size = sum(_size(p) for p in _files(entry)) if entry.is_dir() else _size(entry)
                remove.append(
                    Item(
                        kind="tmp",
                        name=entry.relative_to(root).as_posix(),
                        bytes=size,
                        ref=str(entry),
                    )
                )
    kept: list[Item] = []
    if client is not None:
        try:
            images, keep_images = _plan_images(root, client, cutoff, keep)
        except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
            problem = f"cannot list images: {explain(exc)}"
        else:
            remove += images
            kept += keep_images
    return PrunePlan(
        older_than_days=older_than_days,
        remove=tuple(remove),
        keep=tuple(kept),
        docker_problem=problem,
    )


def _file_item(kind: str, root: Path, path: Path) -> Item:
    return Item(kind=kind, name=path.relative_to(root).as_posix(), bytes=_size(path), ref=str(path))


def _plan_images(
    root: Path, client: docker.DockerClient, cutoff: float, keep: Keep
) -> tuple[list[Item], list[Item]]:
    images = _own_images(client)
    used = _images_in_use(client)
    by_id = {i.id: i for i in images}
    reasons: dict[str, str] = {}
    for image in images:
        last = max([image.created, *(_image_used(root, t) or 0.0 for t in image.tags)])
        kept_by = [
            keep.reasons.get(ref, "a golden's")
            for ref in (image.id, *image.tags)
            if ref in keep.images
        ]
        if image.id in used:
            reasons[image.id] = used[image.id]
        elif kept_by:
            reasons[image.id] = f"kept: {kept_by[0]}"
        elif last >= cutoff:
            reasons[image.id] = ""  # recent: not listed
    # An image another kept image is built on stays: its layers are not freed anyway.
    for image_id in list(reasons):
        child = by_id[image_id]
        parent = by_id.get(child.parent)
        while parent is not None and parent.id not in reasons:
            reasons[parent.id] = f"built on by {_name(child)}"
            child, parent = parent, by_id.get(parent.parent)
    remove = [
        Item(kind="image", name=_name(i), bytes=i.unique, ref=i.id)
        for i in _children_first(images, by_id)
        if i.id not in reasons
    ]
    keep_items = [
        Item(kind="image", name=_name(i), bytes=i.unique, reason=reasons[i.id], ref=i.id)
        for i in images
        if reasons.get(i.id)
    ]
    return remove, keep_items


def _name(image: _Image) -> str:
    return image.tags[0] if image.tags else image.id.removeprefix("sha256:")[:12]


def _children_first(images: Sequence[_Image], by_id: Mapping[str, _Image]) -> list[_Image]:
    def depth(image: _Image) -> int:
        count = 0
        parent = by_id.get(image.parent)
        while parent is not None and count < len(by_id):
            count += 1
            parent = by_id.get(parent.parent)
        return count

    return sorted(images, key=lambda i: (-depth(i), _name(i)))


def apply_prune(
    root: Path, client: docker.DockerClient | None, plan: PrunePlan, *, dry_run: bool = False
) -> PruneResult:
    """Remove what ``plan`` lists (nothing with ``dry_run``); a removal that fails is reported,
    not raised (another process may be using the image or the file)."""
    if dry_run:
        return PruneResult(plan=plan, dry_run=True, removed=plan.remove)
    removed: list[Item] = []
    failed: list[Item] = []
    for item in plan.remove:
        problem = _remove_image(client, item) if item.kind == "image" else _remove_path(root, item)
        if problem is None:
            removed.append(item)
        else:
            failed.append(
                Item(kind=item.kind, name=item.name, bytes=0, reason=problem, ref=item.ref)
            )
    _drop_empty_dirs(root / "wheels")
    return PruneResult(plan=plan, dry_run=False, removed=tuple(removed), failed=tuple(failed))


def _remove_path(root: Path, item: Item) -> str | None:
    path = Path(item.ref)
    try:
        path.relative_to(root)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except (OSError, ValueError) as exc:
        return str(exc)
    return None


def _remove_image(client: docker.DockerClient | None, item: Item) -> str | None:
    if client is None:
        return "no Docker daemon"
    try:
        # Never forced: an image that a container started meanwhile stays.
        client.images.remove(item.ref, force=False, noprune=False)
    except docker.errors.ImageNotFound:
        return None  # gone already
    except docker.errors.APIError as exc:
        detail = exc.explanation if isinstance(exc.explanation, str) else str(exc)
        return " ".join(detail.split())[:200]
    except requests.exceptions.RequestException as exc:
        return explain(exc)
    return None


def _drop_empty_dirs(folder: Path) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()


__all__ = [
    "OWN_IMAGE_LABELS",
    "WHEELS_KEY_PREFIX",
    "CacheInfo",
    "Item",
    "Keep",
    "PrunePlan",
    "PruneResult",
    "Usage",
    "apply_prune",
    "golden_keep",
    "human",
    "lock_hashes",
    "lock_key",
    "plan_prune",
    "survey",
    "touch_image",
    "wheels_key",
]
