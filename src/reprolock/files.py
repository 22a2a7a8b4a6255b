"""File helpers: atomic writes and decoding of audited files."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 32 * 1024 * 1024
"""Files larger than this are skipped with a note rather than read."""


def cache_dir() -> Path:
    """Where reprolock caches: ``$REPROLOCK_CACHE_DIR``, else ``$XDG_CACHE_HOME/reprolock``,
    else ``~/.cache/reprolock``."""
    explicit = os.environ.get("REPROLOCK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "reprolock"
    return Path.home() / ".cache" / "reprolock"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half.

    ``mode`` sets the permission bits of the new file (``repro fix`` keeps an edited file's
    own); without it the file is created private to the user, as :func:`tempfile.mkstemp` does.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodeProblem:
    """Why a file's bytes are not text we can audit."""

    message: str
    """One line, e.g. ``binary content (NUL byte)``."""
    line: int = 1
    """Line of the first offending byte."""
    skipped: bool = False
    """True when the file was skipped on purpose (too large) rather than broken."""


def decode_text(data: bytes) -> str | DecodeProblem:
    """UTF-8 text of an audited file (BOM removed), or why it is not text."""
    if len(data) > MAX_FILE_BYTES:
        size = len(data) // (1024 * 1024)
        return DecodeProblem(
            message=f"skipped: {size} MiB is larger than the {MAX_FILE_BYTES // 2**20} MiB limit",
            skipped=True,
        )
    nul = data.find(b"\0", 0, 8192)
    if nul >= 0:
        return DecodeProblem(
            message="binary content (NUL byte)", line=data.count(b"\n", 0, nul) + 1
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return DecodeProblem(
            message=f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded", line=line
        )
    return text.removeprefix("\ufeff")
