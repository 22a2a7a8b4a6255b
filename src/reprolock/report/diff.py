"""The lock diff of ``repro diff``: package changes between two locks, as text, JSON and
Markdown (a section of a pull-request body)."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reprolock.report.common import markdown_code, markdown_row, markdown_text

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


def render_markdown(diff: LockDiff) -> str:
    """A section for a pull-request body: summary line and a table."""
    title = "### Lock changes\n\n"
    where = f"{markdown_code(diff.old)} → {markdown_code(diff.new)}"
    notes = "".join(f"\n_Note: {markdown_text(note)}._\n" for note in diff.notes)
    if not diff.changes:
        return f"{title}No package changes between {where}.\n{notes}"
    frameworks = diff.summary["frameworks"]
    touch = f", {frameworks} to an ML framework" if frameworks else ""
    lines = [f"{where}: {_counts(diff)}{touch}.", ""]
    lines += ["| Package | Old | New | Change |", "|---|---|---|---|"]
    for c in diff.changes:
        name = markdown_text(c.name)
        name = f"**{name}** (ML framework)" if c.framework else name
        change = c.kind.value
        if c.kind is ChangeKind.HASH_CHANGED:
            change = f":warning: **hash changed, same version** ({_hash_note(c)})"
        old, new = markdown_text(c.old or "—"), markdown_text(c.new or "—")
        lines.append(markdown_row((name, old, new, change)))
    if diff.summary[ChangeKind.HASH_CHANGED.value]:
        lines += [
            "",
            "> [!WARNING]",
            "> A package kept its version but its artifacts' hashes changed: a file was "
            "replaced on the index, or the lock was edited. Check before merging.",
        ]
    return title + "\n".join(lines) + "\n" + notes


RENDERERS: Mapping[str, Callable[[LockDiff], str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
}
"""Each ``repro diff --format`` and its renderer."""
