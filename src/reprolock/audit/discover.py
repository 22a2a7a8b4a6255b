"""Walk the audited tree once, honouring excludes and .gitignore, and map files to scanners."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import pathspec

from reprolock.audit.interface import Scanner
from reprolock.config import DEFAULT_EXCLUDES, Config

_Spec: TypeAlias = pathspec.GitIgnoreSpec


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


def _gitignore(directory: Path) -> _Spec | None:
    try:
        text = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


def discover(root: Path, config: Config, scanners: Sequence[Scanner]) -> list[Discovered]:
    """Every file under ``root`` that a scanner claims, sorted by path.

    Symlinks are followed only when their target stays inside the root, so an audit never
    reads outside the tree it was asked about and never loops.
    """
    root = root.resolve()
    # The defaults are plain directory names: a set look-up, not a pattern match per entry.
    excludes = pathspec.GitIgnoreSpec.from_lines(config.exclude) if config.exclude else None
    found: list[Discovered] = []
    for rel, abspath in _walk(root, excludes):
        name = rel.rsplit("/", 1)[-1]
        for scanner in scanners:
            if scanner.claims(rel, name):
                found.append(Discovered(path=rel, location=abspath, scanner=scanner))
                break
    found.sort(key=lambda d: d.path)
    return found


_DEFAULT_DIRS = frozenset(p.rstrip("/") for p in DEFAULT_EXCLUDES if p.endswith("/"))


def _walk(root: Path, excludes: _Spec | None) -> Iterator[tuple[str, str]]:
    """(root-relative path, absolute path) of every file kept, as strings: a large tree has
    tens of thousands of entries, and pathlib objects for each would dominate a warm run."""
    root_text = str(root)
    root_prefix = root_text.rstrip(os.sep) + os.sep
    # Each stack entry: (absolute dir, root-relative prefix, gitignore specs in force with the
    # directory each is relative to).
    seen_dirs: set[tuple[int, int]] = set()
    stack: list[tuple[str, str, tuple[tuple[str, _Spec], ...]]] = [(root_text, "", ())]
    while stack:
        directory, prefix, specs = stack.pop()
        try:
            st = os.stat(directory)
            entries = list(os.scandir(directory))
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        if any(e.name == ".gitignore" for e in entries):
            own = _gitignore(Path(directory))
            if own is not None:
                specs = (*specs, (prefix, own))
        for entry in entries:
            name = entry.name
            rel = f"{prefix}{name}"
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                continue
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
                stack.append((entry.path, f"{rel}/", specs))
            elif entry.is_file(follow_symlinks=True):
                yield rel, entry.path


def _ignored(probe: str, specs: tuple[tuple[str, _Spec], ...]) -> bool:
    for base, spec in specs:
        if probe.startswith(base) and spec.match_file(probe[len(base) :]):
            return True
    return False
