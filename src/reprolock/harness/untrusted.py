"""What a container, a probe or a committed golden hands the host, read without trust.

Files are opened without following a final symlink (where the writer is a container), only
when they are regular files, with their size checked on ``fstat`` before anything is read;
JSON is bounded in size and depth; a directory a container wrote into is removed whatever
modes it left there. The ``.npz`` checks live in :mod:`reprolock.harness.runner`, which the
container runs too.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from reprolock.files import FileTooLargeError, NotRegularFileError, read_bytes

MAX_JSON_BYTES = 16 * 2**20
"""Largest ``result.json``, ``golden.json`` or probe output read."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted; what reprolock writes is 6 deep."""


class UntrustedInputError(ValueError):
    """A file or text refused: the message says why in one line, naming what it is."""


def refusal(exc: OSError) -> str:
    """Why a file could not be opened or read, in a few words."""
    if isinstance(exc, FileTooLargeError | NotRegularFileError):
        return exc.strerror or str(exc)
    if exc.errno == errno.ELOOP:
        return "a symbolic link (refused)"
    if exc.errno == errno.ENOENT:
        return "missing"
    return exc.strerror or type(exc).__name__


def json_depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests arrays and objects at most ``limit`` deep (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def load_json(data: bytes | str, *, what: str) -> Any:
    """JSON of at most :data:`MAX_JSON_BYTES` nested at most :data:`MAX_JSON_DEPTH` deep.

    Raises :class:`UntrustedInputError` with a one-line message naming ``what``.
    """
    if len(data) > MAX_JSON_BYTES:
        raise UntrustedInputError(
            f"{what}: {len(data)} bytes is larger than the {MAX_JSON_BYTES // 2**20} MiB limit"
        )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except RecursionError:
        value = None
        deep = True
    except ValueError as exc:
        # UnicodeDecodeError and JSONDecodeError are ValueErrors; keep the first line only.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UntrustedInputError(f"{what}: not valid JSON: {reason}") from None
    else:
        deep = not json_depth_ok(value)
    if deep:
        raise UntrustedInputError(f"{what}: nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def read_json(path: Path, *, what: str, follow_symlinks: bool) -> Any:
    """:func:`load_json` of a regular file, its size checked before it is read."""
    try:
        data = read_bytes(path, limit=MAX_JSON_BYTES, follow_symlinks=follow_symlinks)
    except OSError as exc:
        raise UntrustedInputError(f"{what}: {refusal(exc)}") from None
    return load_json(data, what=what)


def open_regular(path: Path, *, limit: int, follow_symlinks: bool) -> BinaryIO:
    """A regular file of at most ``limit`` bytes, open for reading (checked on ``fstat``).

    Opened non-blocking (a FIFO cannot hang the host) and, unless ``follow_symlinks``,
    without following a final symlink (``/dev/zero``, a host file). Raises the ``OSError``
    of the open, :class:`~reprolock.files.NotRegularFileError` or
    :class:`~reprolock.files.FileTooLargeError`; :func:`refusal` words them.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            raise FileTooLargeError(str(path), info.st_size, limit)
        return io.open(fd, "rb", closefd=True)  # noqa: UP020 - an fd, not a path
    except BaseException:
        os.close(fd)
        raise


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _names(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return [entry.name for entry in entries]


def _open_up(name: str, parent: int) -> int:
    """The directory ``name`` under ``parent``, made ours to empty first (``u+rwx``)."""
    # Whoever owns it can chmod it; the container that wrote it is gone, so the caller's
    # lstat still holds (no symlink swapped in). Not ours: emptying it may still work.
    with contextlib.suppress(OSError):
        os.chmod(name, 0o700, dir_fd=parent)
    return os.open(name, _DIRECTORY, dir_fd=parent)


def remove_tree(path: Path) -> str | None:
    """Remove ``path`` and all it holds, whatever modes were left; None, or why not.

    A container's user may leave read-only or unreadable directories, FIFOs, setuid files,
    symlinks to anywhere and trees thousands of levels deep: each directory is opened up
    (``u+rwx``) before it is emptied, symlinks are removed and never followed, and the walk
    keeps one descriptor and no recursion, whatever the depth.
    """
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return None
        # The parent is the caller's own directory (it may be reached through a symlink).
        top = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = _open_up(path.name, top)
        finally:
            os.close(top)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path}: {refusal(exc)}"
    # Each level: its name in the parent and the names still to remove in it.
    stack: list[tuple[str, list[str]]] = [("", [])]
    try:
        stack[0] = ("", _names(fd))
        while stack:
            name_in_parent, pending = stack[-1]
            if pending:
                name = pending.pop()
                if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    child = _open_up(name, fd)
                    os.close(fd)
                    fd = child
                    stack.append((name, _names(fd)))
                else:
                    os.unlink(name, dir_fd=fd)
                continue
            stack.pop()
            if not stack:
                break
            parent = os.open("..", _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(name_in_parent, dir_fd=fd)
        os.rmdir(path)
    except OSError as exc:
        name = os.fspath(exc.filename) if exc.filename is not None else str(path)
        what = "" if name == str(path) else f" ({name})"
        return f"{path}: cannot remove{what}: {refusal(exc)}"
    finally:
        os.close(fd)
    return None
