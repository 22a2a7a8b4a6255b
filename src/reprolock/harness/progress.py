"""Progress on stderr: a live status line on a terminal, plain lines otherwise (CI logs)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console

ProgressFn = Callable[[str], None]
"""What the harness calls with each progress message (``"building reprolock-env:..."``)."""


def silent(message: str) -> None:
    """A progress sink that drops everything (library use, tests)."""


class Status:
    """A context manager showing progress messages on ``stream`` (default: stderr).

    On a terminal the latest message replaces the previous one in a rich live status; anywhere
    else each new message is printed once as ``repro: <message>``, so logs stay readable.
    """

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._status: Any = None
        self._last: str | None = None

    def __enter__(self) -> Status:
        if self._live:
            console = Console(file=self._stream)
            self._status = console.status("starting")
            self._status.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.__exit__(exc_type, exc, tb)
            self._status = None

    def __call__(self, message: str) -> None:
        """Show ``message``.

        A trailing parenthesised detail (``building X (step 3/9: RUN)``) only updates a live
        status: plain output prints a message again only when the part before it changes.
        """
        if self._status is not None:
            self._status.update(message)
            return
        head = message.split(" (", 1)[0]
        if head == self._last:
            return
        self._last = head
        print(f"repro: {message}", file=self._stream, flush=True)

    def log(self, message: str) -> None:
        """A line that stays (a warning, a finished step), above the live status if any."""
        if self._status is not None:
            self._status.console.print(f"repro: {message}", markup=False, highlight=False)
        else:
            print(f"repro: {message}", file=self._stream, flush=True)
