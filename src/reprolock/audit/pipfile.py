"""Placeholder: replaced by the real Pipfile scanners."""

from __future__ import annotations

from reprolock.audit.interface import Scanner


def pipfile_scanners() -> list[Scanner]:
    """The Pipfile and Pipfile.lock scanners."""
    return []
