"""Walk the audited tree once, honouring excludes and .gitignore, and map files to scanners."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from reprolock import files
from reprolock.audit.aside import Failed, aside
from reprolock.audit.budget import over_limit
from reprolock.config import DEFAULT_EXCLUDES, Config
from reprolock.model import Finding, Location
from reprolock.rules import finding

if TYPE_CHECKING:
    # Only the types: a run answered from the cache imports no scanner and their interface,
    # and compiles no pattern (pathspec is imported when a directory must be listed).
    from pathspec import GitIgnoreSpec as _Spec

    from reprolock.audit.interface import Scanner


@dataclass(frozen=True, kw_only=True, slots=True)
class Discovered:
    """A file claimed by a scanner."""

    path: str
    """POSIX path relative to the root."""
    location: str
    """Absolute path as text (inside the root even when reached through a symlink)."""
    scanner: Scanner
    """The scanner that claimed it."""

    @property
    def abspath(self) -> Path:
        """Absolute path."""
        return Path(self.location)


MAX_GITIGNORE_BYTES = 1024 * 1024
"""A larger ``.gitignore`` is not read (noted): its patterns would be matched against every
path below it."""


def _read_gitignore(directory: Path, rel: str, notes: list[Finding]) -> tuple[bytes | None, str]:
    """What ``directory/.gitignore`` (root-relative ``rel``) holds, and a short digest of it
    (``-`` when it cannot be read, ``+`` when too large: noted).

    Read as git reads it: a regular file, never through a symlink (git refuses a symlinked
    ``.gitignore``), so a FIFO or a link to ``/dev/zero`` is no ``.gitignore`` at all.
    """
    try:
        data = files.read_bytes(
            directory / ".gitignore", limit=MAX_GITIGNORE_BYTES, follow_symlinks=False
        )
    except files.FileTooLargeError as exc:
        what = f".gitignore is {exc.size // 1024} KiB, over the {MAX_GITIGNORE_BYTES // 1024}"
        notes.append(over_limit(_at(rel), f"{what} KiB limit, and its patterns are not applied"))
        return None, "+"
    except OSError:
        return None, "-"
    return data, hashlib.sha256(data).hexdigest()[:16]


_SKIPS_LINES = "!"
"""Appended to a ``.gitignore``'s digest when some line of it is no pattern: a listing reused
with that digest parses the file again to give the same RP002 note, and one reused without it
parses nothing (see :class:`_Pending`)."""


def _spec_of_bytes(data: bytes) -> _Spec:
    """The patterns of a ``.gitignore`` already parsed once with its notes given."""
    return _parse_gitignore(data, "", [])[0]


def _parse_gitignore(data: bytes, rel: str, notes: list[Finding]) -> tuple[_Spec, bool]:
    """The patterns of a ``.gitignore``, and whether some line was skipped. A line that is no
    valid pattern is skipped with an RP002 note, as git skips it."""
    import pathspec  # noqa: PLC0415 - see _Pending

    lines = data.decode("utf-8", errors="replace").splitlines()
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines), False
    except (ValueError, re.error):
        pass  # some line is no pattern: find it, keep the others
    kept: list[str] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except (ValueError, re.error):
            bad.append((number, line))
            continue
        kept.append(line)
    if bad:
        number, line = bad[0]
        more = f" (and {len(bad) - 1} more lines)" if len(bad) > 1 else ""
        message = f".gitignore: {line[:200]!r} is not a valid pattern and is skipped{more}"
        notes.append(finding("RP002", message, _at(rel, number)))
    return pathspec.GitIgnoreSpec.from_lines(kept), bool(bad)


def _at(rel: str, line: int = 1) -> Location:
    return Location(path=rel, line=line, column=1)


def discover(
    root: Path,
    config: Config,
    scanners: Sequence[Scanner],
    notes: list[Finding] | None = None,
) -> list[Discovered]:
    """Every file under ``root`` that a scanner claims, sorted by path.

    Symlinks are followed only when their target stays inside the root, so an audit never
    reads outside the tree it was asked about and never loops. RP002 notes about
    ``.gitignore`` files (a bad pattern, too large) are appended to ``notes``.
    """
    return claim(walk(root, config, notes), scanners)


def walk(
    root: Path,
    config: Config,
    notes: list[Finding] | None = None,
    listings: Listings | None = None,
) -> list[Walked]:
    """Every file under ``root`` that excludes and ``.gitignore`` files keep, sorted by path,
    each as (root-relative POSIX path, absolute path). No file is opened but ``.gitignore``
    files; see :func:`discover` for symlinks and ``notes``. With ``listings``, a directory
    unchanged since they were made is not listed again (see :class:`Listings`)."""
    walked = list(_entries(root, config, notes if notes is not None else [], listings))
    walked.sort()
    return walked


def _entries(
    root: Path, config: Config, notes: list[Finding], listings: Listings | None
) -> Iterator[Walked]:
    """What :func:`walk` keeps, in the order it finds it."""
    # The defaults are plain directory names: a set look-up, not a pattern match per entry.
    exclude = config.exclude
    excludes = _Pending(lambda: _spec_of(exclude)) if exclude else None
    return _walk(root.resolve(), excludes, notes, listings)


def extension(filename: str) -> str:
    """What follows the last dot of ``filename``, in lower case; "" without a dot."""
    _, dot, after = filename.rpartition(".")
    return after.lower() if dot else ""


def claim(walked: Iterable[Walked], scanners: Sequence[Scanner]) -> list[Discovered]:
    """The files of ``walked`` a scanner claims (the first that does), in the same order."""
    found: list[Discovered] = []
    # by extension, the scanners that may claim a name of it, in their order
    offered: dict[str, list[Scanner]] = {}
    for rel, abspath in walked:
        name = rel.rsplit("/", 1)[-1]
        key = extension(name)
        candidates = offered.get(key)
        if candidates is None:
            candidates = offered[key] = [
                s for s in scanners if s.extensions is None or key in s.extensions
            ]
        for scanner in candidates:
            if scanner.claims(rel, name):
                found.append(Discovered(path=rel, location=abspath, scanner=scanner))
                break
    return found


_ASIDE_AFTER_FILES = 2000
"""A walk that has kept this many files goes on in a forked process (see :func:`walk_aside`);
one that ends before is over sooner than a fork pays for itself."""


def walk_aside(
    root: Path,
    config: Config,
    notes: list[Finding],
    listings: Listings | None,
    meanwhile: Callable[[], object],
) -> list[Walked]:
    """:func:`walk`, and ``meanwhile()``; on a large tree the walk goes on in a forked
    process while this one calls ``meanwhile``: the same answer, notes and listings, in the
    time of the longer of the two.

    A cold audit walks the tree (listing every directory, a tenth of its time on 1,000
    projects) and imports its scanners and checks (as long again), and neither needs the
    other. This process walks until it has kept :data:`_ASIDE_AFTER_FILES` files (a small
    tree is done by then, and forking would cost it more than it saves); the child forked
    then has the walk's state as it stands, goes on from there and sends back what it finds.
    Where the child cannot run (see :func:`reprolock.audit.aside.aside`), fails or has a note
    to give, this process goes on with the walk itself.
    """
    entries = _entries(root, config, notes, listings)
    walked = list(itertools.islice(entries, _ASIDE_AFTER_FILES))
    if len(walked) < _ASIDE_AFTER_FILES:
        meanwhile()
        walked.sort()
        return walked
    noted = len(notes)

    def work() -> tuple[list[Walked], tuple[dict[str, list[Any]], int] | None] | None:
        rest = list(entries)
        if len(notes) > noted:
            return None  # a note about a .gitignore (rare): the walk goes on here, which notes
        return rest, (listings.made, listings.listed) if listings is not None else None

    answer, _ = aside(work, meanwhile)
    if answer is None or isinstance(answer, Failed):
        walked.extend(entries)  # this process's walk, where the child's began
    else:
        rest, made = answer
        walked.extend(rest)
        if listings is not None and made is not None:
            listings.made, listings.listed = made
    walked.sort()
    return walked


Walked: TypeAlias = tuple[str, str]
"""(root-relative POSIX path, absolute path) of a file discovery kept."""


@dataclass(kw_only=True, slots=True)
class Listings:
    """What the last walk kept of each directory, reused while the directory is unchanged.

    A directory's entries cannot change without changing its mtime and ctime (an entry
    added, removed or renamed), so while its (mtime, inode, ctime) is what was recorded, and
    the ``.gitignore`` patterns in force are the same, the files and subdirectories the walk
    kept there are the same: one ``stat`` instead of listing it and matching every entry. A
    directory holding a symlink is always listed again (its target may change alone), and a
    directory changed within :data:`reprolock.audit.cache.RACY_NS` of the recording run is
    not trusted, as for files.
    """

    known: dict[str, Any] = field(default_factory=dict)
    """Root-relative directory prefix -> [mtime, inode, ctime, patterns key, .gitignore
    digest, files, subdirectories] (names joined by ``/``, which no name holds)."""
    trusted_before: int = 0
    """Recorded times at or after this (ns) are not trusted."""
    made: dict[str, list[Any]] = field(default_factory=dict)
    """The listings of this walk, reused or new: what the cache saves."""
    listed: int = 0
    """Directories this walk listed (not reused): none when nothing changed."""

    def reuse(self, prefix: str, stamp: tuple[int, int, int], patterns: str) -> list[Any] | None:
        """The recorded listing of ``prefix`` when it still holds, else None."""
        known = self.known.get(prefix)
        # one look per directory of a warm run, thousands of them: plain tests, no generators
        if type(known) is not list or len(known) != 7:
            return None
        if known[0] != stamp[0] or known[1] != stamp[1] or known[2] != stamp[2]:
            return None
        if known[3] != patterns or max(stamp[0], stamp[2]) >= self.trusted_before:
            return None
        if type(known[4]) is not str or type(known[5]) is not str or type(known[6]) is not str:
            return None
        # the names are joined into paths under the root: only names a listing can hold
        for names in (known[5], known[6]):
            if names and _UNLISTABLE.search(f"/{names}/") is not None:
                return None
        return known


_UNLISTABLE = re.compile(r"/\.{0,2}/|\x00")
"""An empty name, ``.``, ``..`` or a NUL: never in a directory's listing, so never reused (a
damaged or forged cache cannot lead the walk out of the root)."""


class _Matcher:
    """A gitignore spec compiled once into one expression when no pattern negates another
    (the common case): one search per path instead of one per pattern. A spec with
    negations keeps pathspec's ordered, last-match-wins evaluation."""

    __slots__ = ("_regex", "_spec")

    def __init__(self, spec: _Spec) -> None:
        self._spec = spec
        self._regex: re.Pattern[str] | None = None
        patterns = [p for p in spec.patterns if p.include is not None]
        if not all(p.include for p in patterns):
            return
        sources: list[str] = []
        flags: set[int] = set()
        for pattern in patterns:
            regex = getattr(pattern, "regex", None)
            if not isinstance(regex, re.Pattern):
                return
            # pathspec names a group to tell directory matches from file matches, which
            # only ranks an exclusion against an inclusion; with inclusions only, any match
            # includes. An alternation cannot repeat a group name, so the group goes.
            source = regex.pattern.replace(_DIR_GROUP, "(?:")
            if "(?P" in source:
                return
            sources.append(f"(?:{source})")
            flags.add(regex.flags)
        if len(flags) > 1:
            return
        self._regex = re.compile("|".join(sources) or "(?!)", flags.pop() if flags else 0)

    def match_file(self, path: str) -> bool:
        """pathspec's ``match_file`` for a root-relative POSIX path."""
        if self._regex is not None and not path.startswith(("/", "./")):
            return self._regex.search(path) is not None
        return bool(self._spec.match_file(path))


_DIR_GROUP = "(?P<ps_d>"


class _Pending:
    """Patterns compiled when a path is first matched against them.

    Only a directory listed anew matches its entries against the patterns in force: a warm
    run over an unchanged tree lists none, so it compiles no pattern and never imports
    pathspec (a tenth of that run's imports).
    """

    __slots__ = ("_make", "_matcher")

    def __init__(self, make: Callable[[], _Spec]) -> None:
        self._make: Callable[[], _Spec] | None = make
        self._matcher: _Matcher | None = None

    def match_file(self, path: str) -> bool:
        """pathspec's ``match_file`` for a root-relative POSIX path."""
        if self._matcher is None:
            assert self._make is not None  # noqa: S101 - set until the matcher is made
            self._matcher = _Matcher(self._make())
            self._make = None
        return self._matcher.match_file(path)


def _spec_of(lines: Iterable[str]) -> _Spec:
    import pathspec  # noqa: PLC0415 - see _Pending

    return pathspec.GitIgnoreSpec.from_lines(lines)


_Specs: TypeAlias = tuple[tuple[str, "_Matcher | _Pending"], ...]
"""The ``.gitignore`` patterns in force, each with the directory prefix it is relative to."""

_DEFAULT_DIRS = frozenset(p.rstrip("/") for p in DEFAULT_EXCLUDES if p.endswith("/"))


def _walk(
    root: Path, excludes: _Pending | None, notes: list[Finding], listings: Listings | None
) -> Iterator[tuple[str, str]]:
    """(root-relative path, absolute path) of every file kept, as strings: a large tree has
    tens of thousands of entries, and pathlib objects for each would dominate a warm run."""
    root_text = str(root)
    root_prefix = root_text.rstrip(os.sep) + os.sep
    # Each stack entry: (absolute dir, root-relative prefix, gitignore specs in force with the
    # directory each is relative to, a key of the .gitignore files those came from).
    seen_dirs: set[tuple[int, int]] = set()
    stack: list[tuple[str, str, _Specs, str]] = [(root_text, "", (), "")]
    while stack:
        directory, prefix, specs, patterns = stack.pop()
        try:
            st = os.stat(directory)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        stamp = (st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        known = listings.reuse(prefix, stamp, patterns) if listings is not None else None
        gitignore: tuple[bytes | None, str] | None = None
        if known is not None and known[4]:
            gitignore = _read_gitignore(Path(directory), f"{prefix}.gitignore", notes)
            if known[4] != gitignore[1] and known[4] != gitignore[1] + _SKIPS_LINES:
                known = None  # edited in place: the directory's times do not show it
        entries: list[os.DirEntry[str]] = []
        if known is None:
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            if gitignore is None and any(e.name == ".gitignore" for e in entries):
                gitignore = _read_gitignore(Path(directory), f"{prefix}.gitignore", notes)
        held = ""
        if gitignore is not None:
            data, held = gitignore
            if data is None:
                pass  # unreadable or too large: no patterns
            elif known is not None and known[4] == held:
                # every line was a pattern when it was listed: nothing to note, and the
                # patterns are compiled only if a directory below must be listed anew
                specs = (*specs, (prefix, _Pending(partial(_spec_of_bytes, data))))
            else:
                spec, skipped = _parse_gitignore(data, f"{prefix}.gitignore", notes)
                specs = (*specs, (prefix, _Matcher(spec)))
                held += _SKIPS_LINES if skipped else ""
        inner = f"{patterns}/{held}" if held else patterns
        if known is not None:
            assert listings is not None  # noqa: S101 - known comes from listings
            listings.made[prefix] = known
            base = directory if directory.endswith(os.sep) else directory + os.sep
            for name in known[5].split("/") if known[5] else ():
                yield f"{prefix}{name}", f"{base}{name}"
            for name in known[6].split("/") if known[6] else ():
                stack.append((f"{base}{name}", f"{prefix}{name}/", specs, inner))
            continue
        kept_files: list[str] = []
        kept_dirs: list[str] = []
        linked = False
        for entry in entries:
            name = entry.name
            rel = f"{prefix}{name}"
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                continue
            linked = linked or is_link
            if is_dir and name in _DEFAULT_DIRS:
                continue
            probe = f"{rel}/" if is_dir else rel
            if excludes is not None and excludes.match_file(probe):
                continue
            if specs and _ignored(probe, specs):
                continue
            if is_link:
                try:
                    target = os.path.realpath(entry.path, strict=True)
                except OSError:
                    continue
                if target != root_text and not target.startswith(root_prefix):
                    continue
            if is_dir:
                stack.append((entry.path, f"{rel}/", specs, inner))
                kept_dirs.append(name)
            elif entry.is_file(follow_symlinks=True):
                yield rel, entry.path
                kept_files.append(name)
        if listings is not None:
            listings.listed += 1
            if not linked:
                listings.made[prefix] = [
                    *stamp,
                    patterns,
                    held,
                    "/".join(kept_files),
                    "/".join(kept_dirs),
                ]


def _ignored(probe: str, specs: _Specs) -> bool:
    for base, spec in specs:
        if probe.startswith(base) and spec.match_file(probe[len(base) :]):
            return True
    return False
