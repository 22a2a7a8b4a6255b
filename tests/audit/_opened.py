"""Which files the process opens: an audit hook on ``open`` (``open()`` and ``os.open``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_RECORDING: list[list[str]] = []


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _RECORDING and args and isinstance(args[0], str | Path):
        _RECORDING[-1].append(str(args[0]))


sys.addaudithook(_hook)  # hooks cannot be removed; it records only inside opened_files()


@contextmanager
def opened_files() -> Iterator[list[str]]:
    """Every path opened inside the ``with`` block."""
    found: list[str] = []
    _RECORDING.append(found)
    try:
        yield found
    finally:
        _RECORDING.pop()
