"""``repro diff``: a package-level diff of two locks, in any supported formats (mixed too)."""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.audit.interface import ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.locks import PdmLockScanner
from reprolock.audit.pipfile import PipfileLockScanner
from reprolock.config import Config
from reprolock.errors import UsageError
from reprolock.files import decode_text
from reprolock.harness.lockfile import LockedRequirement, read_lock

FORMATS = ("text", "json", "markdown")
"""Values of ``repro diff --format``."""

SCHEMA = 1
"""Version of the JSON document; bumped when a key changes meaning."""


class ChangeKind(enum.Enum):
    """How one package differs between the old and the new lock."""

    ADDED = "added"
    REMOVED = "removed"
    UPGRADED = "upgraded"
    DOWNGRADED = "downgraded"
    CHANGED = "changed"
    """Neither an upgrade nor a downgrade: a direct reference moved, or the set of versions a
    multi-version lock (uv forks per marker) holds changed both ways."""
    HASH_CHANGED = "hash-changed"
    """Same version, different artifact hashes: a file replaced on the index, or a lock that
    was tampered with. Only judged when both locks record hashes for the package."""


_ORDER = tuple(ChangeKind)


@dataclass(frozen=True, kw_only=True, slots=True)
class PackageChange:
    """One package that differs between the two locks."""

    name: str
    """Canonical project name."""
    kind: ChangeKind
    """What changed."""
    old: str | None
    """The old version(s) (``1.2.0``; ``1.1.0, 1.2.0`` for several; a URL for a direct
    reference); None when the package was added."""
    new: str | None
    """The new version(s); None when the package was removed."""
    framework: bool
    """Whether the package is one of the configured ML frameworks."""
    hashes_added: tuple[str, ...] = ()
    """For :attr:`ChangeKind.HASH_CHANGED`: hashes only the new lock has."""
    hashes_removed: tuple[str, ...] = ()
    """For :attr:`ChangeKind.HASH_CHANGED`: hashes only the old lock has."""

    def to_dict(self) -> dict[str, Any]:
        """The entry of the JSON document's ``changes`` list."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind.value,
            "old": self.old,
            "new": self.new,
            "framework": self.framework,
        }
        if self.kind is ChangeKind.HASH_CHANGED:
            out["hashes"] = {"added": list(self.hashes_added), "removed": list(self.hashes_removed)}
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class LockDiff:
    """The changes between two locks, sorted by package name."""

    old: str
    """The old lock's path, as given."""
    new: str
    """The new lock's path, as given."""
    changes: tuple[PackageChange, ...] = ()
    """Changed packages; unchanged ones are left out."""
    notes: tuple[str, ...] = ()
    """What the diff could not judge, e.g. a lock that records no hashes."""

    @property
    def summary(self) -> dict[str, int]:
        """``total``, one count per kind (every kind present, in a fixed order), and
        ``frameworks``: how many changes touch an ML framework."""
        out = {"total": len(self.changes)}
        for kind in _ORDER:
            out[kind.value] = sum(1 for c in self.changes if c.kind is kind)
        out["frameworks"] = sum(1 for c in self.changes if c.framework)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {
            "schema": SCHEMA,
            "old": self.old,
            "new": self.new,
            "changes": [c.to_dict() for c in self.changes],
            "summary": self.summary,
            "notes": list(self.notes),
        }


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


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _counts(diff: LockDiff) -> str:
    """``3 changes: 1 added, 2 upgraded``."""
    summary = diff.summary
    total = summary["total"]
    parts = [f"{summary[k.value]} {k.value}" for k in _ORDER if summary[k.value]]
    noun = "change" if total == 1 else "changes"
    return f"{total} {noun}: {', '.join(parts)}"


def _hash_note(change: PackageChange) -> str:
    removed, added = len(change.hashes_removed), len(change.hashes_added)
    parts = []
    if removed:
        parts.append(f"{removed} hash{'es' if removed > 1 else ''} removed")
    if added:
        parts.append(f"{added} added")
    return ", ".join(parts)


def render_text(diff: LockDiff) -> str:
    """An aligned table; ML frameworks marked ``*``, hash-only changes in capitals."""
    notes = "".join(f"note: {note}\n" for note in diff.notes)
    if not diff.changes:
        return f"no package changes between {diff.old} and {diff.new}\n{notes}"
    rows = [("package", "old", "new", "change")]
    for c in diff.changes:
        change = c.kind.value
        if c.kind is ChangeKind.HASH_CHANGED:
            change = f"HASH CHANGED, same version ({_hash_note(c)})"
        rows.append((c.name + (" *" if c.framework else ""), c.old or "-", c.new or "-", change))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    lines.append("")
    footer = _counts(diff)
    frameworks = diff.summary["frameworks"]
    if frameworks:
        footer += f"; {frameworks} to an ML framework (*)"
    lines.append(footer)
    if diff.summary[ChangeKind.HASH_CHANGED.value]:
        lines.append(
            "HASH CHANGED: the same version now has other artifacts; check the index before "
            "trusting the new lock"
        )
    return f"{diff.old} -> {diff.new}\n\n" + "\n".join(lines) + "\n" + notes


def render_json(diff: LockDiff) -> str:
    """The JSON document (``schema`` 1)."""
    return json.dumps(diff.to_dict(), indent=2) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def render_markdown(diff: LockDiff) -> str:
    """A section for a pull-request body: summary line and a table."""
    title = "### Lock changes\n\n"
    where = f"`{_md(diff.old)}` → `{_md(diff.new)}`"
    notes = "".join(f"\n_Note: {_md(note)}._\n" for note in diff.notes)
    if not diff.changes:
        return f"{title}No package changes between {where}.\n{notes}"
    frameworks = diff.summary["frameworks"]
    touch = f", {frameworks} to an ML framework" if frameworks else ""
    lines = [f"{where}: {_counts(diff)}{touch}.", ""]
    lines += ["| Package | Old | New | Change |", "|---|---|---|---|"]
    for c in diff.changes:
        name = f"**{_md(c.name)}** (ML framework)" if c.framework else _md(c.name)
        change = c.kind.value
        if c.kind is ChangeKind.HASH_CHANGED:
            change = f":warning: **hash changed, same version** ({_hash_note(c)})"
        lines.append(f"| {name} | {_md(c.old or '—')} | {_md(c.new or '—')} | {change} |")
    if diff.summary[ChangeKind.HASH_CHANGED.value]:
        lines += [
            "",
            "> [!WARNING]",
            "> A package kept its version but its artifacts' hashes changed: a file was "
            "replaced on the index, or the lock was edited. Check before merging.",
        ]
    return title + "\n".join(lines) + "\n" + notes


_RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}


def run_diff(old: Path, new: Path, fmt: str, frameworks: Sequence[str]) -> tuple[str, int]:
    """``repro diff OLD NEW``: the rendered report and the exit code.

    As ``diff(1)``: 0 when the locks install the same packages at the same versions with the
    same hashes, 1 when they differ. An unreadable or unsupported lock raises
    :class:`UsageError` (exit 2) whose message starts with ``path:line:``.
    """
    renderer = _RENDERERS.get(fmt)
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
    "render_json",
    "render_markdown",
    "render_text",
    "run_diff",
]
