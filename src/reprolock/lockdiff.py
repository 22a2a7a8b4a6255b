"""``repro diff``: a package-level diff of two locks, in any supported formats (mixed too)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.audit.interface import ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.locks import PdmLockScanner
from reprolock.audit.pipfile import PipfileLockScanner
from reprolock.config import Config
from reprolock.errors import UsageError
from reprolock.files import decode_text
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


def read_packages(path: Path) -> dict[str, LockedPackage]:
    """The packages of the lock at ``path`` by canonical name; :class:`UsageError` (exit 2)
    naming the path (and the line) when it cannot be read."""
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
        requirements = read_lock(path, strict=False).requirements
    found: dict[str, dict[LockedRef, set[str]]] = {}
    for req in requirements:
        refs = found.setdefault(req.name, {})
        refs.setdefault(_ref(req), set()).update(req.hashes)
    return {
        name: LockedPackage(hashes={ref: frozenset(h) for ref, h in refs.items()})
        for name, refs in found.items()
    }


def _ref(req: LockedRequirement) -> LockedRef:
    version: Version | str = req.version
    with contextlib.suppress(InvalidVersion):
        version = Version(req.version)
    return LockedRef(version=version, url=req.url)


def _scanned_requirements(path: Path, scanner: Scanner) -> tuple[LockedRequirement, ...]:
    try:
        data = path.read_bytes()
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


def run_diff(old: Path, new: Path, fmt: str, frameworks: Sequence[str]) -> tuple[str, int]:
    """``repro diff OLD NEW``: the rendered report and the exit code.

    As ``diff(1)``: 0 when the locks install the same packages at the same versions with the
    same hashes, 1 when they differ. An unreadable or unsupported lock raises
    :class:`UsageError` (exit 2) whose message starts with ``path:line:``.
    """
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise UsageError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")
    diff = diff_packages(
        read_packages(old),
        read_packages(new),
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
