"""File helpers: root confinement, bounded reads, atomic writes, decoding of audited files.

Every path that came from a file or the config (an include, a lock beside a manifest, a
suite's paths, a baseline, a file ``repro fix`` edits) goes through :func:`inside` before it
is read or written, and every read of a file of the audited tree goes through
:func:`read_bytes`, which checks the size on ``fstat`` before reading and refuses anything
that is not a regular file (a FIFO, ``/dev/zero``).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from reprolock.errors import UsageError

MAX_FILE_BYTES = 32 * 1024 * 1024
"""Files larger than this are skipped with a note rather than read."""

_READ_CHUNK = 1024 * 1024


class OutsideRootError(UsageError):
    """A path taken from a file or the config leads outside the root it must stay in."""


def inside(root: Path, path: str | os.PathLike[str], *, what: str = "") -> Path:
    """``path`` (relative to ``root``, or absolute) with symlinks resolved, if it stays in ``root``.

    Raises :class:`OutsideRootError` (exit 2) when the resolved path is outside the resolved
    ``root``: an absolute path elsewhere, a ``..`` that climbs out, or a symlink (anywhere on
    the way) that points out. The message names ``what`` (e.g. ``pyproject.toml:
    [tool.repro.suites.x] lock``) and the path as written, never anything read from it.
    """
    base = Path(root).resolve()
    raw = Path(os.fspath(path))
    label = f"{what}: " if what else ""
    try:
        resolved = (base / raw).resolve()
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else "symlink loop"
        msg = f"{label}{os.fspath(path)!s} is not a usable path: {detail}"
        raise UsageError(msg) from None
    if resolved != base and not resolved.is_relative_to(base):
        msg = f"{label}{os.fspath(path)!s} leads outside {base}"
        raise OutsideRootError(msg)
    return resolved


def is_inside(root: Path, path: str | os.PathLike[str]) -> bool:
    """True when :func:`inside` would accept ``path`` (inside the root, and a usable path)."""
    try:
        inside(root, path)
    except UsageError:
        return False
    return True


def named_path(path: str | os.PathLike[str], *, within: tuple[Path, ...], what: str) -> Path:
    """A path named on the command line: anywhere the user says, except one that lies inside
    one of ``within`` as written but leads out of it through a symlink.

    ``repro diff /tmp/old.lock uv.lock`` may read ``/tmp``; but a CI job that passes the
    locks a pull request changed must not read ``~/.git-credentials`` because the PR made
    ``requirements.txt`` a link to it. Raises :class:`OutsideRootError` (exit 2).
    """
    written = Path(os.path.abspath(os.fspath(path)))
    for base in within:
        lexical = Path(os.path.abspath(base))
        if written == lexical or written.is_relative_to(lexical):
            inside(lexical, written, what=what)
    return Path(path)


class UnreadableFileError(OSError):
    """A file that :func:`read_bytes` refuses: not a regular file, or larger than its limit."""


class NotRegularFileError(UnreadableFileError):
    """A FIFO, a device, a socket or a directory where a regular file was expected."""


class FileTooLargeError(UnreadableFileError):
    """A file larger than the limit it was read with (checked before reading)."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, _size_message(size, limit), path)
        self.size = size
        self.limit = limit


def _size_message(size: int, limit: int) -> str:
    if limit >= 2**20:
        return f"{size // 2**20} MiB is larger than the {limit // 2**20} MiB limit"
    return f"{size} bytes is larger than the {limit} byte limit"


def read_bytes(
    path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES, follow_symlinks: bool = True
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    The file is opened non-blocking (a FIFO cannot hang the caller) and without following a
    final symlink when ``follow_symlinks`` is false; its type and size are checked on
    ``fstat`` before anything is read, and reading stops past ``limit`` should the file grow
    meanwhile. Raises :class:`NotRegularFileError`, :class:`FileTooLargeError` or the
    :class:`OSError` of the open.
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    fd = os.open(name, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file", name)
        if info.st_size > limit:
            raise FileTooLargeError(name, info.st_size, limit)
        chunks: list[bytes] = []
        total = 0
        if info.st_size < _READ_CHUNK:
            # One byte more than fstat counts is asked for: a regular file reads short only at
            # its end, so getting exactly that count is all of it (the usual case, and the read
            # that would return nothing is spared: a tenth of reading a small file).
            chunk = os.read(fd, info.st_size + 1)
            if len(chunk) == info.st_size:
                return chunk
            chunks.append(chunk)  # it grew or shrank meanwhile: read on to its end
            total = len(chunk)
            if total > limit:
                raise FileTooLargeError(name, total, limit)
        while True:
            chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FileTooLargeError(name, total, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(
    path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES, follow_symlinks: bool = True
) -> str:
    """:func:`read_bytes` decoded as UTF-8 (BOM removed); raises :class:`UnicodeDecodeError`."""
    data = read_bytes(path, limit=limit, follow_symlinks=follow_symlinks)
    return data.decode("utf-8").removeprefix("\ufeff")


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


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    current = os.umask(0o022)
    os.umask(current)
    return current


def _mode_for(path: Path, mode: int | None) -> int:
    """The permission bits a rewritten ``path`` gets: ``mode``, else the replaced file's own,
    else what a new file gets under the umask (as ``open`` would create it)."""
    if mode is not None:
        return mode
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half.

    A temporary file in the same directory is written, flushed to disk and renamed over
    ``path``; on any failure (Ctrl-C included) it is removed. The new file keeps the mode of
    the file it replaces, or gets the umask's mode when new, unless ``mode`` is given.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    bits = _mode_for(path, mode)
    # imported here: a warm audit writes nothing (tempfile and shutil: 4 ms of its 60 ms)
    import tempfile  # noqa: PLC0415

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), bits)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """:func:`atomic_write_bytes` of ``text`` as UTF-8 with ``\\n`` line ends as written."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


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
