"""Inline suppressions: ``# repro: ignore[RP101] reason`` on the line or the line above."""

from __future__ import annotations

import re

_IGNORE = re.compile(r"#\s*repro:\s*ignore\[([A-Za-z0-9,\s]*)\]", re.IGNORECASE)
_IGNORE_BYTES = re.compile(rb"#\s*repro:\s*ignore\[", re.IGNORECASE)


def ignored_rules(line_text: str) -> set[str]:
    """Rule ids or prefixes named by an ignore comment on this line (empty set: none)."""
    match = _IGNORE.search(line_text)
    if not match:
        return set()
    return {part.strip().upper() for part in match.group(1).split(",") if part.strip()}


def ignore_comments(text: str) -> dict[int, tuple[str, ...]]:
    """Every ignore comment of a file: 1-based line -> rule ids or prefixes it names."""
    if _IGNORE.search(text) is None:
        return {}
    found: dict[int, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        rules = ignored_rules(line)
        if rules:
            found[number] = tuple(sorted(rules))
    return found


def ignore_comments_in(data: bytes) -> dict[int, tuple[str, ...]]:
    """:func:`ignore_comments` of a file's bytes, decoding only files that have a comment."""
    if _IGNORE_BYTES.search(data) is None:
        return {}
    return ignore_comments(data.decode("utf-8", errors="replace"))


def suppressed_by(rule_id: str, line: int, ignores: dict[int, tuple[str, ...]]) -> bool:
    """True when ``ignores`` (from :func:`ignore_comments`) hides ``rule_id`` at ``line``:
    a comment on the line itself or on the line above."""
    for number in (line, line - 1):
        for token in ignores.get(number, ()):
            if rule_id.startswith(token):
                return True
    return False
