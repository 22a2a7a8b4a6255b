"""``repro diff``: a package-level diff of two locks, in any supported formats (mixed too)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.errors import UsageError
from reprolock.files import OutsideRootError, decode_text, inside, is_inside, read_bytes
from reprolock.formats.lock import LockEntry, Source, sha256_hashes
from reprolock.formats.read import load, lock_format
from reprolock.formats.requirements import parse_requirements
from reprolock.report.diff import RENDERERS, ChangeKind, LockDiff, PackageChange

FORMATS = tuple(RENDERERS)
"""Values of ``repro diff --format``."""

# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedRef:
    """One thing a lock installs for a name: a version from the index, or a direct reference."""

    version: Version | str
    """The version (a :class:`Version`, so ``1.0`` equals ``1.0.0``); the text when invalid."""
    url: str | None = None

    def __str__(self) -> str:
        if self.url is None:
            return str(self.version)
        return f"{self.version} ({self.url})" if str(self.version) else self.url


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedPackage:
    """Everything one lock holds for one name (a universal lock may hold several versions)."""

    hashes: Mapping[LockedRef, frozenset[str]] = field(default_factory=dict)
    """Each locked reference and the sha256 hashes recorded for it (empty when none)."""


_SUPPORTED = "requirements files, uv.lock, poetry.lock, pylock.toml, pdm.lock, Pipfile.lock"


def read_packages(path: Path, *, root: Path | None = None) -> dict[str, LockedPackage]:
    """The packages of the lock at ``path`` by canonical name; :class:`UsageError` (exit 2)
    naming the path (and the line) when it cannot be read.

    A requirements file's ``-r`` files are read in, but only inside ``root`` (default: the
    lock's own directory) once symlinks are resolved: an include that leads elsewhere is
    refused before anything is read from it.
    """
    if lock_format(path.name).startswith("conda"):
        raise UsageError(
            f"{path}: a conda lock; repro diff compares Python package locks ({_SUPPORTED})"
        )
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give the lock file itself")
    if lock_format(path.name) == "requirements":
        _check_includes(path, root if root is not None else path.parent)
    lock = load(path, includes=True)
    for problem in lock.problems:
        if problem.severity is None:
            raise UsageError(f"{path}:{problem.line}: {problem.message}")
    found: dict[str, dict[LockedRef, set[str]]] = {}
    for entry in lock.entries:
        if entry.source is Source.PROJECT or (entry.text and not entry.name):
            continue  # the project's own code; an unnamed local project (-e .)
        if entry.source is Source.REGISTRY and not entry.version:
            what = entry.text or entry.name
            raise UsageError(f"{path}:{entry.line}: {what} is not an exact pin")
        refs = found.setdefault(entry.name, {})
        refs.setdefault(_ref(entry), set()).update(sha256_hashes(entry.hashes))
    return {
        name: LockedPackage(hashes={ref: frozenset(h) for ref, h in refs.items()})
        for name, refs in found.items()
    }


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _check_includes(lock: Path, root: Path) -> None:
    """Refuse (exit 2) a ``-r`` chain of ``lock`` that leaves ``root`` or reaches a file that
    is not a regular file, naming the include as written, before the lock reader follows it.

    Each file is read once (a chain of n includes costs n reads); cycles and anything
    the reader refuses on its own (URLs, ``${VAR}``) are left to it.
    """
    seen: set[Path] = set()
    pending = [lock]
    while pending:
        path = pending.pop()
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            text = decode_text(read_bytes(path))
        except OSError:
            continue  # the reader names the file and why
        if not isinstance(text, str):
            continue
        for include in parse_requirements(text).includes:
            written = include.path
            if include.constraint or _URL.match(written) or "${" in written:
                continue
            target = path.parent / written.removeprefix("file:")
            where = f"{path}:{include.line}: -r {written}"
            try:
                resolved = inside(root, target)
            except OutsideRootError:
                outside = root.resolve()
                raise UsageError(f"{where} leads outside {outside}; it was not read") from None
            except UsageError:
                # a symlink loop, a name too long: nothing to read, and nothing the reader can
                raise UsageError(f"{where}: not a usable path; it was not read") from None
            except (OSError, RuntimeError, ValueError):
                continue  # a NUL byte: the reader reports it
            if resolved.exists() and not resolved.is_file():
                raise UsageError(f"{where}: not a regular file; it was not read")
            pending.append(target)


def _ref(entry: LockEntry) -> LockedRef:
    version: Version | str = entry.version
    with contextlib.suppress(InvalidVersion):
        version = Version(entry.version)
    url = entry.reference if entry.source is not Source.REGISTRY else None
    return LockedRef(version=version, url=url)


# --------------------------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------------------------


def diff_packages(
    old: Mapping[str, LockedPackage],
    new: Mapping[str, LockedPackage],
    *,
    old_path: str,
    new_path: str,
    frameworks: Iterable[str] = (),
) -> LockDiff:
    """Compare two locks read by :func:`read_packages`."""
    ml = {str(canonicalize_name(name)) for name in frameworks}
    changes: list[PackageChange] = []
    for name in sorted(set(old) | set(new)):
        change = _compare(name, old.get(name), new.get(name), framework=name in ml)
        if change is not None:
            changes.append(change)
    notes = [
        f"{path} records no hashes: artifacts were compared by version only"
        for path, packages in ((old_path, old), (new_path, new))
        if packages and not any(h for p in packages.values() for h in p.hashes.values())
    ]
    return LockDiff(old=old_path, new=new_path, changes=tuple(changes), notes=tuple(notes))


def _show(package: LockedPackage) -> str:
    return ", ".join(str(ref) for ref in sorted(package.hashes, key=_ref_key))


def _ref_key(ref: LockedRef) -> tuple[int, Version, str]:
    if isinstance(ref.version, Version):
        return (0, ref.version, ref.url or "")
    return (1, Version("0"), f"{ref.version} {ref.url or ''}")


def _compare(
    name: str, old: LockedPackage | None, new: LockedPackage | None, *, framework: bool
) -> PackageChange | None:
    if old is None and new is None:  # pragma: no cover - the name came from one of them
        return None
    if old is None:
        assert new is not None  # noqa: S101 - narrowed above
        return PackageChange(
            name=name, kind=ChangeKind.ADDED, old=None, new=_show(new), framework=framework
        )
    if new is None:
        return PackageChange(
            name=name, kind=ChangeKind.REMOVED, old=_show(old), new=None, framework=framework
        )
    if set(old.hashes) == set(new.hashes):
        added: set[str] = set()
        removed: set[str] = set()
        for ref, before in old.hashes.items():
            after = new.hashes[ref]
            if before and after:  # a lock without hashes says nothing about artifacts
                added |= after - before
                removed |= before - after
        if not added and not removed:
            return None
        return PackageChange(
            name=name,
            kind=ChangeKind.HASH_CHANGED,
            old=_show(old),
            new=_show(new),
            framework=framework,
            hashes_added=tuple(sorted(added)),
            hashes_removed=tuple(sorted(removed)),
        )
    return PackageChange(
        name=name,
        kind=_direction(set(old.hashes), set(new.hashes)),
        old=_show(old),
        new=_show(new),
        framework=framework,
    )


def _direction(old: set[LockedRef], new: set[LockedRef]) -> ChangeKind:
    """Upgraded or downgraded when each lock holds one version from the index; anything else
    (a direct reference, several versions for different markers) is just changed."""
    if len(old) != 1 or len(new) != 1:
        return ChangeKind.CHANGED
    (before,), (after,) = old, new
    if before.url is not None or after.url is not None:
        return ChangeKind.CHANGED
    if not isinstance(before.version, Version) or not isinstance(after.version, Version):
        return ChangeKind.CHANGED
    return ChangeKind.UPGRADED if after.version > before.version else ChangeKind.DOWNGRADED


def _include_root(lock: Path, project: Path | None) -> Path:
    if project is not None:
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            if is_inside(project, lock):
                return project
    return lock.parent


def run_diff(
    old: Path, new: Path, fmt: str, frameworks: Sequence[str], *, project: Path | None = None
) -> tuple[str, int]:
    """``repro diff OLD NEW``: the rendered report and the exit code.

    As ``diff(1)``: 0 when the locks install the same packages at the same versions with the
    same hashes, 1 when they differ. An unreadable or unsupported lock raises
    :class:`UsageError` (exit 2) whose message starts with ``path:line:``. A lock inside
    ``project`` may include files anywhere in it; any other lock only files in its own
    directory and below.
    """
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise UsageError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    diff = diff_packages(
        read_packages(old, root=_include_root(old, project)),
        read_packages(new, root=_include_root(new, project)),
        old_path=str(old),
        new_path=str(new),
        frameworks=frameworks,
    )
    return renderer(diff), 1 if diff.changes else 0


__all__ = [
    "FORMATS",
    "ChangeKind",
    "LockDiff",
    "PackageChange",
    "diff_packages",
    "read_packages",
    "run_diff",
]
