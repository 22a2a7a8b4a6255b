"""``repro cache info`` and ``repro cache prune``: their data, JSON (``to_dict()``) and text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = 1
"""Version of ``repro cache info|prune --format json``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """How many things, and how many bytes."""

    count: int = 0
    bytes: int = 0

    def plus(self, size: int) -> Usage:
        return Usage(count=self.count + 1, bytes=self.bytes + size)

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "bytes": self.bytes}


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheInfo:
    """``repro cache info``."""

    root: Path
    """The cache directory."""
    wheels: Usage
    """Wheel files in ``wheels/``."""
    audit: Usage
    """Files in ``audit/``."""
    other: Usage
    """Base-image facts, tools, leftovers in ``tmp/``."""
    images: Usage | None
    """reprolock's images (bytes: what removing all of them would free); None without Docker."""
    images_total: int | None = None
    """Their sizes added up, shared layers counted in each (what ``docker images`` shows)."""
    docker_problem: str | None = None
    """Why the images were not counted."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "root": str(self.root),
            "wheels": self.wheels.to_dict(),
            "images": None if self.images is None else self.images.to_dict(),
            "images_total_bytes": self.images_total,
            "audit": self.audit.to_dict(),
            "other": self.other.to_dict(),
            "docker": self.docker_problem,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Item:
    """One thing the prune removes or keeps."""

    kind: str
    """``wheel``, ``image``, ``audit`` or ``tmp``."""
    name: str
    """A path relative to the cache, or an image's tag (its short id when untagged)."""
    bytes: int
    """Bytes it frees (for an image: its own layers, when the daemon tells)."""
    reason: str = ""
    """Why it is kept, or why its removal failed."""
    ref: str = ""
    """The image id, or the absolute path."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "bytes": self.bytes}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class PrunePlan:
    """What a prune removes and what it keeps on purpose."""

    older_than_days: float
    remove: tuple[Item, ...]
    keep: tuple[Item, ...]
    """Images that are old enough but stay: in use, built on by a kept image, a golden's."""
    docker_problem: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PruneResult:
    """What a prune did."""

    plan: PrunePlan
    dry_run: bool
    removed: tuple[Item, ...]
    failed: tuple[Item, ...] = ()

    @property
    def freed(self) -> int:
        return sum(i.bytes for i in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "dry_run": self.dry_run,
            "older_than_days": self.plan.older_than_days,
            "removed": [i.to_dict() for i in self.removed],
            "kept": [i.to_dict() for i in self.plan.keep],
            "failed": [i.to_dict() for i in self.failed],
            "freed_bytes": self.freed,
            "docker": self.plan.docker_problem,
        }


def human(size: int) -> str:
    """``1.2 GB``: decimal units, as docker prints them."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover - the loop always returns


def render_info(info: CacheInfo) -> str:
    """A table of the cache: what, how many, how large."""
    rows = [
        ("wheels", f"{info.wheels.count}", human(info.wheels.bytes)),
        ("audit cache", f"{info.audit.count} files", human(info.audit.bytes)),
        ("other", f"{info.other.count} files", human(info.other.bytes)),
    ]
    if info.images is None:
        rows.insert(1, ("images", "?", info.docker_problem or "no Docker daemon"))
    else:
        size = human(info.images.bytes)
        if info.images_total is not None:
            size += f" ({human(info.images_total)} with shared layers)"
        rows.insert(1, ("images", f"{info.images.count}", size))
    width = max(len(r[0]) for r in rows)
    count = max(len(r[1]) for r in rows)
    lines = [f"cache: {info.root}"]
    lines += [f"  {a.ljust(width)}  {b.rjust(count)}  {c}" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def render_prune(result: PruneResult) -> str:
    """What was (or, with --dry-run, would be) removed, what stayed and why."""
    verb = "would remove" if result.dry_run else "removed"
    lines = []
    for item in result.removed:
        lines.append(f"{verb} {item.kind} {item.name} ({human(item.bytes)})")
    for item in result.failed:
        lines.append(f"could not remove {item.kind} {item.name}: {item.reason}")
    for item in result.plan.keep:
        lines.append(f"kept {item.kind} {item.name}: {item.reason}")
    return "".join(f"{line}\n" for line in lines)


def prune_summary(result: PruneResult) -> str:
    """The one-line summary for stderr."""
    counts: dict[str, int] = {}
    for item in result.removed:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    what = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(counts.items()))
    verb = "would free" if result.dry_run else "freed"
    return f"{verb} {human(result.freed)}" + (f" ({what})" if what else " (nothing to remove)")
