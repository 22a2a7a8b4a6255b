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
    abspath: Path
    """Absolute path (inside the root even when reached through a symlink)."""
    scanner: Scanner
    """The scanner that claimed it."""


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
    excludes = pathspec.GitIgnoreSpec.from_lines([*DEFAULT_EXCLUDES, *config.exclude])
    found: list[Discovered] = []
    for rel, abspath in _walk(root, excludes):
        name = rel.rsplit("/", 1)[-1]
        for scanner in scanners:
            if scanner.claims(rel, name):
                found.append(Discovered(path=rel, abspath=abspath, scanner=scanner))
                break
    found.sort(key=lambda d: d.path)
    return found


def _walk(root: Path, excludes: _Spec) -> Iterator[tuple[str, Path]]:
    # Each stack entry: (absolute dir, root-relative prefix, gitignore specs in force with the
    # directory each is relative to).
    seen_dirs: set[tuple[int, int]] = set()
    root_ignore = _gitignore(root)
    base_specs: tuple[tuple[str, _Spec], ...] = (("", root_ignore),) if root_ignore else ()
    stack: list[tuple[Path, str, tuple[tuple[str, _Spec], ...]]] = [(root, "", base_specs)]
    while stack:
        directory, prefix, specs = stack.pop()
        try:
            st = directory.stat()
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                continue
            probe = f"{rel}/" if is_dir else rel
            if excludes.match_file(probe) or _ignored(probe, specs):
                continue
            path = Path(entry.path)
            if is_link:
                try:
                    target = path.resolve(strict=True)
                    target.relative_to(root)
                except (OSError, ValueError):
                    continue
            if is_dir:
                child_specs = specs
                child_ignore = _gitignore(path)
                if child_ignore is not None:
                    child_specs = (*specs, (f"{rel}/", child_ignore))
                stack.append((path, f"{rel}/", child_specs))
            elif entry.is_file(follow_symlinks=True):
                yield rel, path


def _ignored(probe: str, specs: tuple[tuple[str, _Spec], ...]) -> bool:
    for base, spec in specs:
        if probe.startswith(base) and spec.match_file(probe[len(base) :]):
            return True
    return False
