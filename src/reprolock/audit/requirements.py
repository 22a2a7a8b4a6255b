"""The requirements-file scanner: pip requirements files, pip-compile/uv locks, .in sources."""

from __future__ import annotations

import contextlib
import functools
import os
import posixpath
import re
import stat
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from reprolock.audit import slotted
from reprolock.audit.interface import (
    Declared,
    FileFacts,
    Include,
    Manifest,
    Pin,
    PythonVersion,
    Role,
    ScanContext,
    Scanner,
    SourceFile,
    parent_dir,
)
from reprolock.errors import UsageError
from reprolock.files import DecodeProblem, OutsideRootError, decode_text, inside, read_bytes
from reprolock.formats.errors import redact_url
from reprolock.formats.header import Header, parse_command
from reprolock.formats.read import requirements_meta
from reprolock.formats.requirements import (
    IncludeEntry,
    OptionEntry,
    ParsedRequirements,
    parse_requirements,
    via_sources,
    wheel_of,
)
from reprolock.model import Finding, Location, Severity
from reprolock.rules import finding
from reprolock.specs import (
    JudgeContext,
    Spec,
    SpecKind,
    judge_concrete,
    sound,
)

# --------------------------------------------------------------------------------------------
# Which files are requirements files
# --------------------------------------------------------------------------------------------

_REQUIREMENT_DIRS = frozenset({"requirements", "reqs"})
_PROSE_PREFIXES = (
    "readme",
    "license",
    "licence",
    "changelog",
    "changes",
    "history",
    "notes",
    "authors",
    "contributing",
    "copying",
)
# Autoconf/CMake-style templates share the .in suffix; they are never pip input.
_TEMPLATE_IN = frozenset(
    {"manifest.in", "makefile.in", "gnumakefile.in", "configure.in", "doxyfile.in", "config.in"}
)


def _strict_name(relpath: str) -> bool:
    """True for names that say "requirements" whatever their content."""
    parts = relpath.lower().rsplit("/", 2)
    stem = parts[-1].rpartition(".")[0]
    parent = parts[-2] if len(parts) > 1 else ""
    return "requirement" in stem or "constraint" in stem or parent in _REQUIREMENT_DIRS


# --------------------------------------------------------------------------------------------
# Reading a requirements file the way pip does
# --------------------------------------------------------------------------------------------


_SOURCE_SUFFIXES = (".in", ".txt", ".toml", ".cfg", ".py")
_PIP_COMPILE_DEFAULTS = ("requirements.in", "setup.py", "pyproject.toml", "setup.cfg")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Memo:
    text: str
    stamp: tuple[int, int, int, int] | None
    """The file's stamp when it was read from disk here; None: not known."""
    parsed: ParsedRequirements


@dataclass(frozen=True, kw_only=True, slots=True)
class _Target:
    """Where an include line points."""

    entry: IncludeEntry
    kind: str
    """``local`` (inside the root), ``outside``, ``remote`` or ``unknown`` (``${VAR}``)."""
    rel: str = ""
    """Root-relative POSIX path for ``local``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _ConstraintPin:
    version: str
    hashes: tuple[str, ...]


_Near = tuple[int, _ConstraintPin] | None
"""(include depth, pin) of the nearest exact pin of a name below a file, or None."""


def _deeper(found: _Near) -> _Near:
    return None if found is None else (found[0] + 1, found[1])


_REMOTE = re.compile(r"^(?:https?):", re.IGNORECASE)
_FILE_URL = re.compile(r"^file:", re.IGNORECASE)
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


_HASH_HINT = "add --hash=sha256:<digest> (pip-compile --generate-hashes writes them)"


def _with_generate_hashes(command: str) -> str:
    """The recorded compile command, asking for hashes; a generic hint for other tools."""
    for head in ("uv pip compile", "pip-compile"):
        if command == head or command.startswith(f"{head} "):
            if "--generate-hashes" in command:
                return command
            return f"{head} --generate-hashes{command[len(head) :]}"
    return _HASH_HINT


def _header_pythons(header: Header | None) -> tuple[PythonVersion, ...]:
    """The Python a lock was compiled for, as its header states it."""
    python = header.target_python if header is not None else None
    if header is None or python is None:
        return ()
    return (PythonVersion(value=python, line=header.line, origin=header.tool),)


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    """What identifies one version of a regular file without reading it; None if there is none.

    The change time is part of it: ``touch -d`` can restore size and mtime, never ctime."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


def _on_disk(root: Path, rel: str) -> Path | None:
    """``rel`` with symlinks resolved, when it stays inside ``root``; None otherwise."""
    try:
        return inside(root, rel)
    except (UsageError, OSError, RuntimeError, ValueError):
        # outside the root, a symlink loop, a name too long, a NUL byte in the name
        return None


def _exact_pins(parsed: ParsedRequirements) -> dict[str, _ConstraintPin]:
    """The first exact pin of each name in a file, in file order."""
    pins: dict[str, _ConstraintPin] = {}
    for req in parsed.requirements:
        spec = req.spec
        if spec.kind is SpecKind.EXACT and spec.name and spec.version is not None:
            pins.setdefault(spec.name, _ConstraintPin(version=spec.version, hashes=spec.hashes))
    return pins


class RequirementsScanner(Scanner):
    """pip requirements files: concrete installs, compiled locks and ``.in`` manifests.

    One instance serves one audit: the include graph it learns (each file's targets, its exact
    pins, which files reach a cycle) is kept for the whole audit, so a chain of includes is
    read and resolved once, not once per file that reaches it.
    """

    name = "requirements"
    extensions = frozenset({"txt", "in"})

    def __init__(self) -> None:
        self._memo: dict[str, _Memo] = {}
        self._markers: dict[tuple[str, str], str] = {}
        self._edges_of: dict[str, tuple[_Target, ...]] = {}
        self._pins_of: dict[str, dict[str, _ConstraintPin]] = {}
        self._cyclic: dict[str, bool] = {}
        self._in_cycle: set[str] = set()
        self._cycles: dict[str, list[str] | None] = {}
        self._near: dict[tuple[str, str, bool | None], tuple[_Near, _Near]] = {}
        self._reads: set[str] | None = None

    # ---- discovery -------------------------------------------------------------------------

    def claims(self, relpath: str, filename: str) -> bool:
        lower = filename.lower()
        stem, dot, ext = lower.rpartition(".")
        if not dot or not stem or ext not in {"txt", "in"} or stem.startswith(_PROSE_PREFIXES):
            return False
        if _strict_name(relpath):
            return True
        # Any other single-suffix .in may be a pip-compile source; scan() decides from its
        # siblings and content, and stays silent for templates.
        return ext == "in" and lower not in _TEMPLATE_IN and "." not in stem

    # ---- reading, once ---------------------------------------------------------------------

    def _parse_text(self, abspath: Path, text: str) -> ParsedRequirements:
        key = os.path.normpath(str(abspath))
        memo = self._memo.get(key)
        if memo is not None and memo.text == text:
            return memo.parsed
        parsed = parse_requirements(text)
        # Kept for an includer, which reads the file again and compares texts before taking
        # this parse: most files are included by none, and a stamp would cost each a stat.
        self._memo[key] = _Memo(text=text, stamp=None, parsed=parsed)
        return parsed

    def _record(self, rel: str) -> None:
        if self._reads is not None:
            self._reads.add(rel)

    def _parse_path(self, ctx: ScanContext, rel: str) -> ParsedRequirements | None:
        """The parse of the file at root-relative ``rel``; None when it cannot be read as text
        or lies outside the root (through a symlink): such a file is never opened."""
        self._record(rel)
        key = os.path.normpath(str(ctx.root / rel))
        # discovery never yields a path that leaves the root; anything else is resolved
        path = ctx.root / rel if rel in ctx.files else _on_disk(ctx.root, rel)
        if path is None:
            return None
        stamp = _stamp(path)
        if stamp is None:
            return None
        memo = self._memo.get(key)
        if memo is not None and memo.stamp == stamp:
            return memo.parsed
        try:
            data = read_bytes(path)
        except (OSError, ValueError):
            return None
        decoded = decode_text(data)
        if isinstance(decoded, DecodeProblem):
            return None
        if memo is not None and memo.text == decoded:
            self._memo[key] = replace(memo, stamp=stamp)
            return memo.parsed
        parsed = parse_requirements(decoded)
        self._memo[key] = _Memo(text=decoded, stamp=stamp, parsed=parsed)
        return parsed

    def _exists(self, ctx: ScanContext, rel: str) -> bool:
        """True when ``rel`` is a file inside the root (a symlink out of it does not exist)."""
        self._record(rel)
        if rel in ctx.files:
            return True
        try:
            if not os.path.isfile(ctx.root / rel):
                return False  # most names asked about (a lock's .in) are simply not there
        except ValueError:
            return False
        # it exists: it counts only if it is still inside the root once links are resolved
        return _on_disk(ctx.root, rel) is not None

    # ---- includes --------------------------------------------------------------------------

    @staticmethod
    def _resolve(entry: IncludeEntry, including: str, root: Path) -> _Target:
        raw = entry.path
        if _REMOTE.match(raw):
            return _Target(entry=entry, kind="remote")
        if "${" in raw:
            return _Target(entry=entry, kind="unknown")
        path = raw
        if _FILE_URL.match(raw):
            try:
                path = unquote(urlsplit(raw).path)
            except ValueError:
                return _Target(entry=entry, kind="unknown")
        parent = posixpath.dirname(including)
        if path.startswith("/"):
            try:
                rel = Path(os.path.normpath(path)).relative_to(root).as_posix()
            except ValueError:
                return _Target(entry=entry, kind="outside")
        else:
            rel = posixpath.normpath(posixpath.join(parent, path))
        if rel == ".." or rel.startswith(("../", "/")):
            return _Target(entry=entry, kind="outside")
        try:
            inside(root, rel)
        except OutsideRootError:
            return _Target(entry=entry, kind="escapes", rel=rel)
        except (UsageError, OSError, RuntimeError, ValueError):
            pass  # a symlink loop or a NUL byte: pip finds no such file, and so do we
        return _Target(entry=entry, kind="local", rel=rel)

    def _edges(self, rel: str, ctx: ScanContext) -> tuple[_Target, ...]:
        """Local include targets of the file at ``rel`` that exist (memoised for the audit)."""
        self._record(rel)
        known = self._edges_of.get(rel)
        if known is not None:
            return known
        parsed = self._parse_path(ctx, rel)
        targets: list[_Target] = []
        if parsed is not None:
            for entry in parsed.includes:
                target = self._resolve(entry, rel, ctx.root)
                if target.kind == "local" and self._exists(ctx, target.rel):
                    targets.append(target)
        self._edges_of[rel] = found = tuple(targets)
        return found

    def _pins(self, rel: str, ctx: ScanContext) -> dict[str, _ConstraintPin]:
        known = self._pins_of.get(rel)
        if known is None:
            parsed = self._parse_path(ctx, rel)
            known = self._pins_of[rel] = _exact_pins(parsed) if parsed is not None else {}
        return known

    def _reaches_cycle(self, start: str, ctx: ScanContext) -> bool:
        """Whether an include cycle is reachable from ``start``.

        Tarjan's algorithm over the memoised include graph: each strongly connected component
        is finished once, after every component it reaches, so the answer for every file of
        the audit costs one walk of the graph in all.
        """
        if start in self._cyclic:
            return self._cyclic[start]
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        work: list[tuple[str, Iterator[str]]] = []

        def enter(node: str) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            on_stack.add(node)
            work.append((node, iter([t.rel for t in self._edges(node, ctx)])))

        enter(start)
        while work:
            node, successors = work[-1]
            nxt = next(successors, None)
            if nxt is not None:
                if nxt in self._cyclic:
                    continue  # a component finished earlier
                if nxt not in index:
                    enter(nxt)
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] != index[node]:
                continue
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            members = set(component)
            looped = len(component) > 1 or any(t.rel == node for t in self._edges(node, ctx))
            if looped:
                self._in_cycle.update(members)
            cyclic = looped or any(
                self._cyclic[t.rel]
                for member in component
                for t in self._edges(member, ctx)
                if t.rel not in members
            )
            for member in component:
                self._cyclic[member] = cyclic
        return self._cyclic[start]

    def _cycle(self, start: str, first: str, ctx: ScanContext) -> list[str] | None:
        """An include cycle reachable through the edge ``start -> first``, as a path: the first
        a depth-first walk in include order meets."""
        if start == first:
            return [start, start]
        if not self._reaches_cycle(first, ctx):
            return None
        if start in self._in_cycle:
            return self._walk([start], first, ctx)
        # start is on no cycle, so no walk below it comes back to it
        return self._cycle_from(first, ctx)

    def _cycle_from(self, rel: str, ctx: ScanContext) -> list[str] | None:
        """The cycle a depth-first walk from ``rel`` meets first, memoised.

        For a file on no cycle it is the first found below its targets, in include order
        (a target whose walk found none has no cycle below it to meet later), so each file is
        walked once however many files include it.
        """
        memo = self._cycles
        stack = [rel]
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            if not self._reaches_cycle(node, ctx):
                memo[node] = None
            elif node in self._in_cycle:
                memo[node] = self._walk([], node, ctx)
            else:
                targets = [t.rel for t in self._edges(node, ctx)]
                missing = [t for t in targets if t not in memo]
                if missing:
                    stack.extend(missing)
                    continue
                memo[node] = next((memo[t] for t in targets if memo[t] is not None), None)
            stack.pop()
        return memo[rel]

    def _walk(self, stack: list[str], first: str, ctx: ScanContext) -> list[str] | None:
        """Depth-first from ``first`` below ``stack``: the first path back onto the stack."""
        stack = list(stack)
        on_stack = set(stack)
        bottom = len(stack)
        done: set[str] = set()
        pending: list[Iterator[str]] = [iter([first])]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                pending.pop()
                if len(stack) > bottom:
                    node = stack.pop()
                    on_stack.discard(node)
                    done.add(node)
                continue
            if nxt in on_stack:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt in done:
                continue
            stack.append(nxt)
            on_stack.add(nxt)
            pending.append(iter([t.rel for t in self._edges(nxt, ctx)]))
        return None

    def _nearest(self, rel: str, name: str, ctx: ScanContext) -> tuple[_Near, _Near]:
        """The exact pin of ``name`` that pip's reading of ``rel``'s includes meets first, as
        (depth, pin): in any included file (a fix to suggest), and in a file reached through
        ``-c`` (a constraint that applies). As in pip, a file reached through ``-c`` holds
        constraints and one reached through ``-r`` requirements, whatever included the includer.

        "First" is breadth-first order: the least depth, then the earliest include line. For a
        file on no cycle that is the best of its targets' answers (each one deeper), so answers
        are memoised per file and name and a chain of includes costs one walk; from a file on a
        cycle, and for ``rel`` itself when it is on one, the includes are read breadth-first.
        """
        self._reaches_cycle(rel, ctx)  # sorts rel and everything below into _in_cycle or not
        if rel in self._in_cycle:
            return self._breadth_first(rel, None, name, ctx)
        memo = self._near
        stack = [rel]
        while stack:
            node = stack[-1]
            if (node, name, None) in memo:
                stack.pop()
                continue
            targets = self._edges(node, ctx)
            below: list[tuple[_Near, _Near]] = []
            missing: list[str] = []
            for target in targets:
                flag = target.entry.constraint if target.rel in self._in_cycle else None
                key = (target.rel, name, flag)
                if key not in memo and flag is not None:
                    memo[key] = self._breadth_first(target.rel, flag, name, ctx)
                if key in memo:
                    below.append(memo[key])
                else:
                    missing.append(target.rel)
            if missing:
                stack.extend(missing)
                continue
            any_pin: _Near = None
            constraint: _Near = None
            for target, (below_any, below_constraint) in zip(targets, below, strict=True):
                pin = self._pins(target.rel, ctx).get(name)
                found = (1, pin) if pin is not None else _deeper(below_any)
                if found is not None and (any_pin is None or found[0] < any_pin[0]):
                    any_pin = found
                if pin is not None and target.entry.constraint:
                    found = (1, pin)
                else:
                    found = _deeper(below_constraint)
                if found is not None and (constraint is None or found[0] < constraint[0]):
                    constraint = found
            memo[(node, name, None)] = (any_pin, constraint)
            stack.pop()
        return memo[(rel, name, None)]

    def _breadth_first(
        self, rel: str, entry: bool | None, name: str, ctx: ScanContext
    ) -> tuple[_Near, _Near]:
        """:meth:`_nearest` by reading breadth-first from ``rel``.

        ``entry`` None: ``rel`` is the file being scanned and is never counted. Otherwise
        ``rel`` was reached through ``-c`` (True) or ``-r`` (False): only that reading of it is
        left out, and a cycle may lead back to it through the other.
        """
        any_pin: _Near = None
        constraint: _Near = None
        seen: set[tuple[str, bool]] = {(rel, bool(entry))}
        queue: deque[tuple[str, int]] = deque([(rel, 0)])
        while queue and constraint is None:
            node, depth = queue.popleft()
            for target in self._edges(node, ctx):
                state = (target.rel, target.entry.constraint)
                if state in seen or (entry is None and target.rel == rel):
                    continue
                seen.add(state)
                queue.append((target.rel, depth + 1))
                pin = self._pins(target.rel, ctx).get(name)
                if pin is None:
                    continue
                if any_pin is None:
                    any_pin = (depth + 1, pin)
                if target.entry.constraint and constraint is None:
                    constraint = (depth + 1, pin)
        return any_pin, constraint

    def _include_findings(
        self, source: SourceFile, parsed: ParsedRequirements, ctx: ScanContext, role: Role
    ) -> tuple[list[Include], list[Finding]]:
        includes: list[Include] = []
        found: list[Finding] = []
        targets = [self._resolve(entry, source.path, ctx.root) for entry in parsed.includes]
        present = [t.kind == "local" and self._exists(ctx, t.rel) for t in targets]
        # from the text in hand, not from disk again
        self._edges_of[source.path] = tuple(t for t, ok in zip(targets, present, strict=True) if ok)
        for target, exists in zip(targets, present, strict=True):
            entry = target.entry
            option = "-c" if entry.constraint else "-r"
            loc = source.at(entry.line, entry.column)
            concrete = role is not Role.MANIFEST
            if target.kind == "remote":
                if concrete:
                    url = redact_url(entry.path)
                    message = f"{option} {url} fetches a requirements file that can change"
                    found.append(finding("RP105", message, loc, subject=url))
                continue
            if target.kind == "outside":
                if concrete:
                    message = f"{option} {entry.path} is outside the repository"
                    found.append(finding("RP106", message, loc, subject=entry.path))
                continue
            if target.kind == "escapes":
                # never opened; recorded so that re-pointing the link is a change the cache sees
                self._record(target.rel)
                message = (
                    f"{option} {entry.path} leads outside the repository through a symlink; "
                    "it was not read"
                )
                found.append(finding("RP001", message, loc, subject=target.rel))
                continue
            if target.kind != "local":
                continue
            includes.append(
                Include(target=target.rel, line=entry.line, constraint=entry.constraint)
            )
            if not exists:
                message = f"{option} {entry.path}: no such file ({target.rel})"
                found.append(finding("RP001", message, loc, subject=target.rel))
                continue
            with self._covered_by_includes():
                cycle = self._cycle(source.path, target.rel, ctx)
            if cycle is not None:
                message = f"{option} {entry.path} leads to an include cycle: {' -> '.join(cycle)}"
                found.append(finding("RP001", message, loc, subject=target.rel))
        return includes, found

    # ---- roles -----------------------------------------------------------------------------

    def _sibling(self, source: SourceFile, name: str) -> str:
        parent = parent_dir(source.path)
        return f"{parent}/{name}" if parent else name

    def _resolve_sources(
        self, source: SourceFile, names: Iterable[str], ctx: ScanContext, base: str | None
    ) -> list[str]:
        """Root-relative paths of files named relative to an unknown working directory.

        The directory is ``base`` when the command's output path tells it, else the lock's
        own directory or the nearest ancestor where the file exists.
        """
        lock_dir = parent_dir(source.path)
        bases: list[str] = [] if base is None else [base]
        current = lock_dir
        while True:
            bases.append(current)
            if not current:
                break
            current = posixpath.dirname(current)
        out: list[str] = []
        for name in names:
            if name.startswith("/"):
                try:
                    rel = Path(os.path.normpath(name)).relative_to(ctx.root).as_posix()
                except ValueError:
                    continue
                out.append(rel)
                continue
            # the first candidate that exists, else the first (the nearest stops the search)
            chosen = None
            for candidate in (posixpath.normpath(posixpath.join(b, name)) for b in bases):
                if candidate == ".." or candidate.startswith("../"):
                    continue
                if self._exists(ctx, candidate):
                    chosen = candidate
                    break
                chosen = chosen or candidate
            if chosen is not None and chosen not in out:
                out.append(chosen)
        return out

    def _header_sources(self, source: SourceFile, header: Header, ctx: ScanContext) -> list[str]:
        if header.tool == "pdm":
            return self._resolve_sources(source, ["pyproject.toml"], ctx, None)[:1]
        command = _parse_command(header.command)
        if command is None:
            return []
        if command.tool == "uv-export":
            return self._resolve_sources(source, ["pyproject.toml"], ctx, None)[:1]
        names = [s for s in command.sources if s != "-" and s.endswith(_SOURCE_SUFFIXES)]
        output = command.output
        if command.tool == "pip-compile" and not names:
            # pip-compile with no source takes the first of these in its working directory
            cwd = self._output_base(source.path, output or "requirements.txt")
            cwd = parent_dir(source.path) if cwd is None else cwd
            for default in _PIP_COMPILE_DEFAULTS:
                rel = posixpath.join(cwd, default) if cwd else default
                if self._exists(ctx, rel):
                    return [rel]
            return []
        if command.tool == "pip-compile" and output is None and names:
            first = names[0]
            output = (
                first[:-3] + ".txt"
                if first.endswith(".in")
                else posixpath.join(posixpath.dirname(first), "requirements.txt")
            )
        base = self._output_base(source.path, output) if output else None
        return self._resolve_sources(source, names, ctx, base)

    @staticmethod
    def _output_base(lock: str, output: str) -> str | None:
        """The working directory a command ran in, from the output path it wrote ``lock`` to."""
        out = posixpath.normpath(output)
        if out.startswith(("/", "../")) or out == "..":
            return None
        lock_parts, out_parts = lock.split("/"), out.split("/")
        if len(out_parts) > len(lock_parts) or lock_parts[-len(out_parts) :] != out_parts:
            return None
        return "/".join(lock_parts[: len(lock_parts) - len(out_parts)])

    def _lock_sources(
        self, source: SourceFile, parsed: ParsedRequirements, ctx: ScanContext
    ) -> tuple[str, ...] | None:
        """What a compiled lock was compiled from; None when the file is not a lock."""
        stem = source.name.rpartition(".")[0]
        same_stem = self._sibling(source, f"{stem}.in")
        fallback: tuple[str, ...] | None = (same_stem,) if self._exists(ctx, same_stem) else None
        via = via_sources(source.text) if fallback is None else ()
        if via:
            named = [
                p
                for p in self._resolve_sources(source, via, ctx, None)
                if p.endswith(".in") and self._exists(ctx, p)
            ]
            fallback = tuple(named) if named else None
        if parsed.header is not None:
            sources = self._header_sources(source, parsed.header, ctx)
            return tuple(sources) if sources else (fallback or ())
        return fallback

    # ---- scanning --------------------------------------------------------------------------

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        # Every line of a requirements file stands alone, so a bad line is an RP001 of its
        # own and never stops the file (no ScanError).
        self._reads = set()
        try:
            parsed = self._parse_text(source.abspath, source.text)
            if source.name.lower().endswith(".in"):
                facts = self._scan_manifest(source, parsed, ctx)
            else:
                compiled_from = self._lock_sources(source, parsed, ctx)
                facts = self._scan_installed(source, parsed, ctx, compiled_from)
        finally:
            self._reads = None
        return facts

    def _consulted(self, source: SourceFile, includes: Iterable[Include]) -> tuple[str, ...]:
        """What the scan under way read or looked for besides its file and its includes."""
        if not self._reads:
            return ()
        own = {source.path, *(inc.target for inc in includes)}
        return tuple(sorted(p for p in self._reads if p not in own))

    @contextlib.contextmanager
    def _covered_by_includes(self) -> Iterator[None]:
        """Reads past a file's own includes, during a scan the engine caches: each include
        target is audited too and its cache entry lists its own includes, so listing the
        whole closure here would only make every entry as large as the graph."""
        saved, self._reads = self._reads, None
        try:
            yield
        finally:
            self._reads = saved

    def _problem_findings(self, source: SourceFile, parsed: ParsedRequirements) -> list[Finding]:
        return [
            finding("RP001", p.message, source.at(p.line, p.column), severity=p.severity)
            for p in parsed.problems
        ]

    def _scan_manifest(
        self, source: SourceFile, parsed: ParsedRequirements, ctx: ScanContext
    ) -> FileFacts:
        stem = source.name[:-3]
        declared = _declared(parsed)
        compiled = self._exists(ctx, self._sibling(source, f"{stem}.txt"))
        looks_like_pip = not parsed.problems and (
            bool(parsed.includes or parsed.options)
            or any(
                r.spec.specifier or r.spec.url or r.spec.extras or r.spec.marker
                for r in parsed.requirements
            )
        )
        if not (_strict_name(source.path) or compiled or looks_like_pip):
            # An .in we cannot tell from a template: keep what it declares for a lock whose
            # header names it, but report nothing about it.
            return FileFacts(
                path=source.path,
                kind=self.name,
                role=Role.OTHER,
                declared=() if parsed.problems else declared,
                consulted=self._consulted(source, ()),
            )
        includes, include_findings = self._include_findings(source, parsed, ctx, Role.MANIFEST)
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.MANIFEST,
            findings=(*self._problem_findings(source, parsed), *include_findings),
            declared=declared,
            includes=tuple(includes),
            manifest=Manifest(compiled=compiled),
            consulted=self._consulted(source, includes),
        )

    def _scan_installed(
        self,
        source: SourceFile,
        parsed: ParsedRequirements,
        ctx: ScanContext,
        compiled_from: tuple[str, ...] | None,
    ) -> FileFacts:
        role = Role.CONCRETE if compiled_from is None else Role.LOCK
        includes, found = self._include_findings(source, parsed, ctx, role)
        found[:0] = self._problem_findings(source, parsed)
        found.extend(self._option_findings(source, parsed, ctx))
        constraints: dict[str, _ConstraintPin] = {}
        # one pass: the names an include may pin, this file's own exact pins, its hashed lines
        wanted: set[str] = set()
        own: dict[str, str] = {}
        hashed = 0
        for req in parsed.requirements:
            spec = req.spec
            if spec.hashes:
                hashed += 1
            if not spec.name:
                continue
            if spec.kind is not SpecKind.EXACT:
                wanted.add(spec.name)
            elif spec.version is not None:
                own.setdefault(spec.name, spec.version)
        included: dict[str, str] = {}
        if parsed.includes:
            with self._covered_by_includes():
                for name in sorted(wanted):
                    any_pin, constraint = self._nearest(source.path, name, ctx)
                    if any_pin is not None:
                        included[name] = any_pin[1].version
                    if constraint is not None:
                        constraints[name] = constraint[1]
        known = {**own, **included}

        partial = 0 < hashed < len(parsed.requirements)
        require_option = any(o.name == "--require-hashes" for o in parsed.options)
        # --no-require-hashes (newer pips) stops hashes on some lines from requiring them all
        no_require = any(o.name == "--no-require-hashes" for o in parsed.options)
        partial = partial and not no_require
        hash_mode = partial or require_option
        # made when a line is judged: none is in a hashed lock
        contexts: tuple[JudgeContext, JudgeContext] | None = None
        is_lock = role is Role.LOCK
        constraints_file = "constraint" in source.name.lower()
        command = parsed.header.command if parsed.header is not None else ""

        pins: list[Pin] = []
        # Judged at the file, placed at the line only when something is found: most lines of a
        # lock are found nothing in (a finding's fingerprint does not depend on its line).
        anywhere = source.at(1)
        for req in parsed.requirements:
            spec = req.spec
            if sound(spec) and spec.name and spec.version is not None:
                # most lines of a hashed lock: no constraint applies to an exact pin
                pins.append(
                    _new_pin(name=spec.name, version=spec.version, line=req.line, hashed=True)
                )
                continue
            effective, pinned_by_constraint = self._effective(spec, constraints)
            if contexts is None:
                judge = ctx.judge_context(source, partial_hashing=hash_mode)
                contexts = (judge, replace(judge, require_hashes=False))
            context, no_hash_judge = contexts
            if is_lock and not hash_mode:
                context = no_hash_judge
            elif pinned_by_constraint and not effective.hashes and not hash_mode:
                context = no_hash_judge  # the constraints file reports its own missing hash
            for f in judge_concrete(effective, anywhere, context):
                if constraints_file and f.rule in {"RP101", "RP102"}:
                    continue  # a constraint only limits what the including file installs
                f = replace(f, location=source.at(req.line, req.column))  # noqa: PLW2901
                found.append(
                    self._with_fix(f, spec, known, require_option and not partial, command)
                )
            if (
                is_lock
                and not hash_mode
                and ctx.config.require_hashes
                and effective.kind is SpecKind.EXACT
                and not effective.hashes
            ):
                message = f"{effective.label}=={effective.version} has no hash in this lock"
                fix = _with_generate_hashes(command)
                loc = source.at(req.line, req.column)
                found.append(finding("RP203", message, loc, subject=spec.name, fix=fix))
            pin = self._pin(effective, req.line)
            if pin is not None:
                pins.append(pin)

        indexes = tuple(
            dict.fromkeys(
                redact_url(o.value)
                for o in parsed.options
                if o.name in {"--index-url", "--extra-index-url"} and o.value
            )
        )
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=role,
            findings=tuple(found),
            pins=tuple(pins),
            includes=tuple(includes),
            compiled_from=compiled_from or (),
            declared=_declared(parsed),
            lock=requirements_meta(parsed) if role is Role.LOCK else None,
            indexes=indexes,
            pythons=_header_pythons(parsed.header),
            consulted=self._consulted(source, includes),
        )

    @staticmethod
    def _effective(spec: Spec, constraints: Mapping[str, _ConstraintPin]) -> tuple[Spec, bool]:
        """What pip installs for ``spec`` once included constraint files apply."""
        if spec.kind not in (SpecKind.UNPINNED, SpecKind.RANGE) or not spec.name:
            return spec, False
        pin = constraints.get(spec.name)
        if pin is None:
            return spec, False
        if spec.specifier and not spec.env_vars:
            try:
                if not SpecifierSet(spec.specifier).contains(pin.version, prereleases=True):
                    return spec, False  # pip cannot satisfy both; judge the line as written
            except ValueError:
                return spec, False
        pinned = replace(
            spec,
            kind=SpecKind.EXACT,
            version=pin.version,
            specifier=f"=={pin.version}",
            hashes=tuple(dict.fromkeys((*spec.hashes, *pin.hashes))),
            env_vars=(),
        )
        return pinned, True

    @staticmethod
    def _pin(spec: Spec, line: int) -> Pin | None:
        if spec.kind is SpecKind.EXACT and spec.name and spec.version is not None:
            return Pin(name=spec.name, version=spec.version, line=line, hashed=bool(spec.hashes))
        if spec.kind in (SpecKind.URL, SpecKind.PATH):
            wheel = wheel_of(spec)
            if wheel is not None and (not spec.name or spec.name == wheel[0]):
                return Pin(name=wheel[0], version=wheel[1], line=line, hashed=bool(spec.hashes))
        return None

    @staticmethod
    def _with_fix(
        f: Finding, spec: Spec, known: Mapping[str, str], require_option: bool, command: str
    ) -> Finding:
        if f.rule in {"RP101", "RP102"} and spec.name in known:
            version = known[spec.name]
            if spec.specifier and not spec.env_vars:
                try:
                    if not _satisfies(SpecifierSet(spec.specifier), version):
                        return f  # never suggest a version the line itself rules out
                except ValueError:
                    return f
            extras = f"[{','.join(spec.extras)}]" if spec.extras else ""
            return f.with_fix(f"{spec.display_name or spec.name}{extras}=={version}")
        if f.rule == "RP103":
            if require_option and f.severity is Severity.ERROR:
                message = (
                    f"{spec.label}=={spec.version} has no hash, but the file sets "
                    "--require-hashes: pip refuses to install it"
                )
                f = replace(f, message=message)
            return f.with_fix(_with_generate_hashes(command))
        return f

    def _option_findings(
        self, source: SourceFile, parsed: ParsedRequirements, ctx: ScanContext
    ) -> list[Finding]:
        found: list[Finding] = []
        for option in parsed.options:
            loc = source.at(option.line, option.column)
            value = option.value or ""
            if option.name == "--extra-index-url":
                url = redact_url(value)
                message = f"--extra-index-url {url} lets a public package shadow a private one"
                fix = "use a single --index-url that proxies both sources"
                found.append(finding("RP107", message, loc, subject=url, fix=fix))
            elif option.name == "--trusted-host":
                message = f"--trusted-host {value} turns off TLS verification for that host"
                fix = f"serve {value} over HTTPS and drop --trusted-host"
                found.append(finding("RP107", message, loc, subject=value, fix=fix))
            elif option.name in {"--index-url", "--find-links"} and value:
                found.extend(self._location_option(source, option, value, loc, ctx))
        return found

    def _location_option(
        self, source: SourceFile, option: OptionEntry, value: str, loc: Location, ctx: ScanContext
    ) -> list[Finding]:
        try:
            parts = urlsplit(value)
        except ValueError:
            return []
        scheme = parts.scheme.lower()
        if scheme == "http" and (parts.hostname or "") not in _LOCAL_HOSTS:
            url = redact_url(value)
            message = f"{option.name} {url} is plain HTTP: anyone on the path can swap packages"
            return [finding("RP107", message, loc, subject=url, fix="use https://")]
        if option.name != "--find-links" or "${" in value or (scheme and scheme != "file"):
            return []
        path = unquote(parts.path) if scheme == "file" else value
        base = (ctx.root / source.path).parent
        target = Path(os.path.normpath(base / path))
        try:
            target.relative_to(ctx.root)
        except ValueError:
            message = f"--find-links {value} is outside the repository"
            return [finding("RP106", message, loc, subject=value)]
        return []


_new_pin = slotted.constructor(Pin)
_new_declared = slotted.constructor(Declared)
"""``Pin(...)`` and ``Declared(...)`` without a frozen ``__init__``: one of each per line of a
lock."""


def _declared(parsed: ParsedRequirements) -> tuple[Declared, ...]:
    """The requirement lines, for lock sync: their hashes are the file's own business."""
    return tuple(
        _new_declared(
            spec=r.spec if not r.spec.hashes else r.unhashed or replace(r.spec, hashes=()),
            line=r.line,
            column=r.column,
        )
        for r in parsed.requirements
    )


_parse_command = functools.lru_cache(maxsize=256)(parse_command)
"""The compile commands of a monorepo's lock headers are a handful, each in many files."""


def _satisfies(specifier: SpecifierSet, version: str) -> bool:
    try:
        return specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # not a version we can compare: do not claim the lock is stale
