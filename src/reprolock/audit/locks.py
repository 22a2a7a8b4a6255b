"""Placeholder: replaced by the real lock scanners."""

from __future__ import annotations

from reprolock.audit.interface import Scanner


def lock_scanners() -> list[Scanner]:
    """Every lock-file scanner."""
    return []
