"""``repro cache info`` and ``repro cache prune`` as text (JSON is their ``to_dict()``)."""

from __future__ import annotations

from reprolock.harness.cache import CacheInfo, PruneResult, human


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
