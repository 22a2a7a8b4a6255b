"""Which reader reads which lock file, and a lock file read from disk into a :class:`LockFile`.

Adding a lock format is a reader module and a line in :data:`READERS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from reprolock.errors import UsageError
from reprolock.files import decode_text, is_inside, read_bytes, read_text
from reprolock.formats import conda, pdm, pipfile, poetry, pylock, uv
from reprolock.formats.errors import ParseError, Problem, cut
from reprolock.formats.lock import EntryError, LockEntry, LockFile, LockMeta, Source, normal_version
from reprolock.formats.requirements import ParsedRequirements, parse_requirements, wheel_of
from reprolock.formats.spec import Spec, SpecKind

Reader = Callable[[str], LockFile]
"""A lock's text -> the lock (:class:`ParseError` when the file cannot be read at all)."""

READERS: tuple[tuple[re.Pattern[str], str, Reader], ...] = (
    (re.compile(r"^uv\.lock$"), "uv.lock", uv.read),
    (re.compile(r"^poetry\.lock$"), "poetry.lock", poetry.read),
    (re.compile(r"^pdm\.lock$"), "pdm.lock", pdm.read),
    (re.compile(r"^Pipfile\.lock$"), "Pipfile.lock", pipfile.read),
    (pylock.NAME, "pylock", pylock.read),
    (conda.UNIFIED_NAME, "conda-lock.yml", conda.read),
    (conda.EXPLICIT_NAME, "conda explicit", conda.read_explicit),
)
"""File name pattern, format, reader. Any other name is a requirements file."""


def lock_format(filename: str) -> str:
    """The format of a lock named ``filename`` (``requirements`` when no pattern matches)."""
    return next((fmt for pattern, fmt, _ in READERS if pattern.search(filename)), "requirements")


class LockError(UsageError):
    """A lock that cannot be read (exit 2); the message starts with ``path:line:``."""


class IncludeOutsideError(LockError):
    """A requirements lock's ``-r`` file leads outside the root it was read with."""


def requirements_lock(parsed: ParsedRequirements) -> LockFile:
    """A requirements file as a lock: one entry for each requirement line (a range has no
    version: it is for the caller to refuse), its problems, its compile header."""
    entries: list[LockEntry] = []
    problems = list(parsed.problems)
    for req in parsed.requirements:
        try:
            entries.append(requirement_entry(req.spec, req.line))
        except EntryError as exc:
            problems.append(Problem(message=str(exc), line=req.line))
    return LockFile(
        format="requirements",
        entries=tuple(entries),
        meta=LockMeta(header=parsed.header, includes=parsed.includes),
        problems=tuple(problems),
    )


def requirements_meta(parsed: ParsedRequirements) -> LockFile:
    """A requirements lock without its entries: its format and compile header, which is all
    the audit's checks read of it (its lines reach them as pins and declared requirements).
    Whoever needs the entries reads the file again with :func:`load`."""
    return LockFile(
        format="requirements", meta=LockMeta(header=parsed.header, includes=parsed.includes)
    )


_KINDS = {SpecKind.URL: Source.URL, SpecKind.VCS: Source.VCS, SpecKind.PATH: Source.PATH}


def requirement_entry(spec: Spec, line: int) -> LockEntry:
    """One requirement line as a lock entry."""
    version = spec.version if spec.kind is SpecKind.EXACT else None
    name = spec.name
    if spec.kind in (SpecKind.URL, SpecKind.PATH):
        wheel = wheel_of(spec)
        if wheel is not None and (not name or name == wheel[0]):
            name, version = wheel
    return LockEntry(
        name=name,
        version=normal_version(spec.label, version),
        source=_KINDS.get(spec.kind, Source.REGISTRY),
        hashes=spec.hashes,
        hashed=bool(spec.hashes),
        url=spec.url or "",
        reference=spec.url or spec.raw if spec.kind in _KINDS or spec.editable else "",
        ref=spec.vcs_ref or "",
        marker=spec.marker,
        line=line,
        text=spec.raw,
        editable=spec.editable,
    )


def read_lock_text(filename: str, text: str) -> LockFile:
    """The lock named ``filename`` read from ``text`` (:class:`ParseError` when unreadable)."""
    reader = next((r for pattern, _, r in READERS if pattern.search(filename)), None)
    if reader is not None:
        return reader(text)
    return requirements_lock(parse_requirements(text))


def load(path: Path, *, root: Path | None = None, includes: bool = False) -> LockFile:
    """The lock at ``path``, read from disk; :class:`LockError` naming the path (and the line)
    when it cannot be read or parsed. Entries its tool would refuse are the lock's problems.

    A poetry.lock old enough to keep its markers on dependency edges takes its graph's roots
    from the ``pyproject.toml`` beside it. With ``includes``, a requirements file's local
    ``-r`` files are read in (``-c`` constraints install nothing and are skipped), only inside
    ``root`` when given (:class:`IncludeOutsideError`, refused unread).
    """
    text = _text(path)
    if path.name == "poetry.lock":
        try:
            pyproject = read_text(path.parent / "pyproject.toml")
        except (OSError, UnicodeDecodeError):
            pyproject = None
        return _parsed(path, lambda t: poetry.read(t, pyproject=pyproject), text)
    if lock_format(path.name) != "requirements" or not includes:
        return _parsed(path, lambda t: read_lock_text(path.name, t), text)
    return _with_includes(path, text, seen={path.resolve()}, root=root, depth=0)


def _text(path: Path) -> str:
    """The lock's text: a regular file under the size limit (a FIFO or device is refused
    unread), UTF-8, BOM removed."""
    try:
        data = read_bytes(path)
    except OSError as exc:
        raise LockError(f"{path}: cannot read the lock: {exc.strerror or exc}") from None
    text = decode_text(data)
    if not isinstance(text, str):
        raise LockError(f"{path}:{text.line}: cannot read the lock: {text.message}")
    return text


def _parsed(path: Path, reader: Reader, text: str) -> LockFile:
    try:
        return reader(text)
    except ParseError as exc:
        raise LockError(f"{path}:{exc.line}: {exc.message}") from None
    except RecursionError:
        raise LockError(f"{path}:1: invalid TOML: nesting too deep to parse") from None


_INCLUDE_DEPTH = 32
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _with_includes(
    path: Path, text: str, *, seen: set[Path], root: Path | None, depth: int
) -> LockFile:
    """A requirements file with its ``-r`` files in place, entries in reading order."""
    parsed = parse_requirements(text)
    own = requirements_lock(parsed)
    errors = [p for p in own.problems if p.severity is None]
    if errors:
        raise LockError(f"{path}:{errors[0].line}: {errors[0].message}")
    items: list[tuple[int, LockFile]] = [
        (e.line, LockFile(format="requirements", entries=(e,))) for e in own.entries
    ]
    for include in parsed.includes:
        if not include.constraint:
            target, included = _include(
                path, include.line, include.path, root=root, seen=seen, depth=depth
            )
            nested = _with_includes(
                target, included, seen={*seen, target.resolve()}, root=root, depth=depth + 1
            )
            items.append((include.line, nested))
    items.sort(key=lambda item: item[0])
    return LockFile(
        format="requirements",
        entries=tuple(e for _, lock in items for e in lock.entries),
        meta=own.meta,
    )


def _include(
    path: Path, line: int, include: str, *, root: Path | None, seen: set[Path], depth: int
) -> tuple[Path, str]:
    """The file an ``-r`` line names, and its text."""
    if _URL.match(include) or "${" in include:
        raise LockError(f"{path}:{line}: -r {cut(include)}: only a local file can be read")
    target = path.parent / include.removeprefix("file:")
    if root is not None and not is_inside(root, target):
        where = Path(root).resolve()
        raise IncludeOutsideError(f"{path}:{line}: -r {cut(include)} leads outside {where}")
    if target.resolve() in seen or depth >= _INCLUDE_DEPTH:
        raise LockError(f"{path}:{line}: -r {cut(include)} leads to an include cycle")
    try:
        data = read_bytes(target)
    except OSError as exc:
        raise LockError(f"{path}:{line}: -r {cut(include)}: {exc.strerror or exc}") from None
    text = decode_text(data)
    if not isinstance(text, str):
        raise LockError(f"{target}:{text.line}: cannot read the lock: {text.message}")
    return target, text
