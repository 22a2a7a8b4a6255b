"""``repro diff``: a package-level diff of two locks, in any supported formats (mixed too)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.audit.interface import ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.locks import PdmLockScanner
from reprolock.audit.pipfile import PipfileLockScanner
from reprolock.audit.requirements import parse_requirements
from reprolock.config import Config
from reprolock.errors import UsageError
from reprolock.files import OutsideRootError, decode_text, inside, is_inside, read_bytes
from reprolock.harness.lockfile import LockedRequirement, read_lock
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


# pdm.lock and Pipfile.lock are not readable by the harness; the audit scanners already parse
# them, and their pins (name, version, line) are all a diff of versions needs.
_SCANNED: dict[str, type[Scanner]] = {
    "pdm.lock": PdmLockScanner,
    "pipfile.lock": PipfileLockScanner,
}


_CONDA_LOCKS = frozenset({"conda-lock.yml", "conda-lock.yaml"})
_SUPPORTED = "requirements files, uv.lock, poetry.lock, pylock.toml, pdm.lock, Pipfile.lock"


def read_packages(path: Path, *, root: Path | None = None) -> dict[str, LockedPackage]:
    """The packages of the lock at ``path`` by canonical name; :class:`UsageError` (exit 2)
    naming the path (and the line) when it cannot be read.

    A requirements file's ``-r`` files are read in, but only inside ``root`` (default: the
    lock's own directory) once symlinks are resolved: an include that leads elsewhere is
    refused before anything is read from it.
    """
    scanner = _SCANNED.get(path.name.lower())
    if path.name.lower() in _CONDA_LOCKS:
        raise UsageError(
            f"{path}: a conda lock; repro diff compares Python package locks ({_SUPPORTED})"
        )
    if scanner is not None:
        requirements = _scanned_requirements(path, scanner())
    else:
        if path.is_dir():
            raise UsageError(f"{path}: is a directory; give the lock file itself")
        if _is_requirements_file(path):
            _check_includes(path, root if root is not None else path.parent)
        requirements = read_lock(path, strict=False).requirements
    found: dict[str, dict[LockedRef, set[str]]] = {}
    for req in requirements:
        refs = found.setdefault(req.name, {})
        refs.setdefault(_ref(req), set()).update(req.hashes)
    return {
        name: LockedPackage(hashes={ref: frozenset(h) for ref, h in refs.items()})
        for name, refs in found.items()
    }


_TOML_LOCKS = re.compile(r"^(?:uv|poetry)\.lock$|^pylock(?:\.[^.]+)?\.toml$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _is_requirements_file(path: Path) -> bool:
    """What :func:`read_lock` reads as a requirements file (anything but a TOML lock)."""
    return not _TOML_LOCKS.match(path.name.lower())


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


def _ref(req: LockedRequirement) -> LockedRef:
    version: Version | str = req.version
    with contextlib.suppress(InvalidVersion):
        version = Version(req.version)
    return LockedRef(version=version, url=req.url)


def _scanned_requirements(path: Path, scanner: Scanner) -> tuple[LockedRequirement, ...]:
    try:
        data = read_bytes(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the lock: {exc.strerror or exc}") from None
    text = decode_text(data)
    if not isinstance(text, str):
        raise UsageError(f"{path}:{text.line}: cannot read the lock: {text.message}")
    root = path.resolve().parent
    source = SourceFile(path=path.name, abspath=path.resolve(), text=text)
    ctx = ScanContext(root=root, config=Config(), files=frozenset({path.name}))
    try:
        facts = scanner.scan(source, ctx)
    except ScanError as exc:
        raise UsageError(f"{path}:{exc.line}: {exc.message}") from None
    for f in facts.findings:
        if f.rule == "RP001":
            raise UsageError(f"{path}:{f.location.line}: {f.message}")
    return tuple(
        LockedRequirement(
            name=pin.name,
            version=pin.version,
            hashes=(),
            marker=None,
            source=f"{path}:{pin.line}",
        )
        for pin in facts.pins
    )


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
