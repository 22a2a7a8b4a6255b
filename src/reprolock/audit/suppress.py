"""Inline suppressions: ``# repro: ignore[RP101] reason`` on the line or the line above."""

from __future__ import annotations

import re

_IGNORE = re.compile(r"#\s*repro:\s*ignore\[([A-Za-z0-9,\s]*)\]", re.IGNORECASE)


def ignored_rules(line_text: str) -> set[str]:
    """Rule ids or prefixes named by an ignore comment on this line (empty set: none)."""
    match = _IGNORE.search(line_text)
    if not match:
        return set()
    return {part.strip().upper() for part in match.group(1).split(",") if part.strip()}


def is_suppressed(rule_id: str, line: int, lines: list[str]) -> bool:
    """True when line ``line`` (1-based) or the line above carries an ignore for ``rule_id``."""
    for index in (line - 1, line - 2):
        if 0 <= index < len(lines):
            for token in ignored_rules(lines[index]):
                if rule_id.startswith(token):
                    return True
    return False
