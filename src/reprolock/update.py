"""``repro update``: compile candidate locks with pip-tools, replay and bisect the suites, report.

For each lock of the project (every suite's ``lock``; with no suites, the pip-compile outputs
at the project's top level and one directory down), the source it was compiled from is found
(the sources its pip-compile header names, else a ``.in`` beside it, else pyproject.toml) and
compiled again by the host's pip-compile with the header's own flags plus ``--upgrade`` (or
one ``--upgrade-package`` per ``--package``) and ``--generate-hashes``, into a temporary file
seeded with the current lock's pins (so ``--upgrade-package`` keeps every other pin).
``CUSTOM_COMPILE_COMMAND`` keeps the lock's header as it was.

pip-compile never reads the repository: it runs in a sandbox directory holding checked copies
of the sources at the same relative paths (see :mod:`reprolock.piptools`), with wheels only
and no pip-tools config file; a source or header option that could build, fetch from
elsewhere, or leave the project skips the lock with the reason. The candidate is diffed
against the lock, every suite on it is replayed and, when it changed, bisected; the
Markdown report is written for a pull request body, the JSON for tools.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from reprolock.config import DEFAULT_EXCLUDES, Config, Suite, load_config
from reprolock.errors import UnansweredError, UsageError
from reprolock.files import (
    OutsideRootError,
    atomic_write_text,
    inside,
    is_inside,
    read_bytes,
    read_text,
)
from reprolock.formats.header import Header, parse_command
from reprolock.formats.header import read_header as formats_header
from reprolock.formats.read import IncludeOutsideError, load
from reprolock.formats.requirements import parse_requirements
from reprolock.harness.bisection import bisect
from reprolock.harness.docker import connect, docker_failures
from reprolock.harness.progress import Status as StatusLine
from reprolock.harness.replay import Session
from reprolock.lockdiff import diff_packages, read_packages
from reprolock.piptools import (
    NO_WHEEL_HINT,
    ONLY_BINARY,
    PipToolsMissing,
    UnsafeInputError,
    pip_compile_command,
    sandbox_pins,
    sandbox_pyproject,
    sandbox_requirements,
)
from reprolock.piptools import last_error as _last_error
from reprolock.report.update import (
    LockUpdate,
    SuiteUpdate,
    UpdateReport,
    UpdateStatus,
    render_markdown,
)

Progress = Callable[[str], None]

COMPILE_TIMEOUT = 900.0
"""Seconds one pip-compile run may take."""

_PROJECT_SOURCES = frozenset({"pyproject.toml", "setup.py", "setup.cfg"})
# The header options taken from a lock: they shape the output or the choice among wheels.
# Indexes, links, --pip-args, cache and config paths, build options are the host's business.
_HEADER_FLAGS = frozenset(
    {
        "--generate-hashes",
        "--allow-unsafe",
        "--no-allow-unsafe",
        "--strip-extras",
        "--no-strip-extras",
        "--all-extras",
        "--annotate",
        "--no-annotate",
        "--header",
        "--no-header",
        "--emit-index-url",
        "--no-emit-index-url",
        "--emit-trusted-host",
        "--no-emit-trusted-host",
        "--emit-find-links",
        "--no-emit-find-links",
        "--emit-options",
        "--no-emit-options",
        "--reuse-hashes",
        "--no-reuse-hashes",
        "--pre",
        # no effect where nothing is built
        "--build-isolation",
        "--no-build-isolation",
        "--no-config",
    }
)
_HEADER_VALUED = frozenset(
    {
        "--extra",
        "--unsafe-package",
        "--no-emit-package",
        "--annotation-style",
        "--newline",
        "--resolver",
        "--max-rounds",
    }
)
_HEADER_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,-]*$")
_SETUP_SOURCES = frozenset({"setup.py", "setup.cfg"})


class CompileError(UnansweredError):
    """pip-compile could not produce a candidate (exit 3); the message is its reason."""


# --------------------------------------------------------------------------------------------
# Where a lock comes from
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LockSource:
    """How a lock is compiled: where pip-compile runs, with what, from which sources."""

    lock: Path
    """The lock file."""
    cwd: Path
    """The directory pip-compile runs in (the header's paths are relative to it)."""
    sources: tuple[str, ...]
    """The input files, as pip-compile is given them (relative to :attr:`cwd`)."""
    options: tuple[str, ...]
    """The header's options, ``--output-file`` left out."""
    header: str
    """The command the lock's header shows, kept in the candidate's header."""
    python: str | None = None
    """The Python version the header says the lock was compiled with (``3.11``)."""
    found_by: str = "header"
    """``header``, ``.in beside the lock`` or ``pyproject.toml``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CompileHeader:
    """The command a lock's pip-compile header records."""

    command: str
    """The command line as written (pip-compile normalises it: long options, sorted)."""
    python: str | None
    """``3.11`` of "autogenerated by pip-compile with Python 3.11"."""
    options: tuple[str, ...]
    """Its options, ``--output-file`` left out."""
    sources: tuple[str, ...]
    """Its input files, relative to the directory it ran in."""
    output: str | None
    """Its ``--output-file``; None when it wrote the default."""
    pip_compile: bool
    """False for a ``CUSTOM_COMPILE_COMMAND`` (``make lock``): nothing to read from it."""


def read_header(text: str) -> CompileHeader | None:
    """The command in a pip-compile header (``#    pip-compile --generate-hashes ...``)."""
    header = _pip_compile_header(text.splitlines())
    if header is None or not header.command:
        return None
    command = parse_command(header.command)
    if command is None or command.tool != "pip-compile":
        return CompileHeader(
            command=header.command,
            python=header.python,
            options=(),
            sources=(),
            output=None,
            pip_compile=False,
        )
    return CompileHeader(
        command=header.command,
        python=header.python,
        options=command.options,
        sources=command.sources,
        output=command.output,
        pip_compile=True,
    )


def _pip_compile_header(lines: list[str]) -> Header | None:
    """A pip-compile (or pip-compile-multi) header; uv's and PDM's are not compiled again."""
    header = formats_header(lines)
    return header if header is not None and header.tool.startswith("pip-compile") else None


def _strip_suffix(path: Path, relative: str) -> Path | None:
    """The directory ``d`` with ``d / relative == path``, or None."""
    parts = PurePosixPath(os.path.normpath(relative)).parts
    if not parts or ".." in parts or PurePosixPath(relative).is_absolute():
        return None
    full = path.resolve().parts
    if tuple(full[-len(parts) :]) != parts:
        return None
    return Path(*full[: -len(parts)])


def _default_output(source: str) -> str:
    """pip-compile's output file when none is given: ``x.in`` -> ``x.txt``; a project file
    -> ``requirements.txt`` beside it."""
    path = PurePosixPath(source)
    if path.name in _PROJECT_SOURCES:
        return str(path.parent / "requirements.txt")
    return str(path.with_suffix(".txt"))


def find_source(lock: Path, project: Path) -> LockSource | str:
    """How ``lock`` was compiled; a sentence saying why not when that cannot be found."""
    try:
        text = read_text(lock)
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read it: {exc}"
    header = read_header(text)
    named: list[str] = []
    if header is not None and header.pip_compile:
        if header.output == "-":
            header = replace(header, output=None)
        if header.output is not None:
            cwd = _strip_suffix(lock, header.output)
        elif len(header.sources) == 1:
            cwd = _strip_suffix(lock, _default_output(header.sources[0]))
        elif lock.name == "requirements.txt":
            cwd = lock.resolve().parent
        else:
            cwd = None
        if cwd is not None and all((cwd / s).is_file() for s in header.sources):
            return LockSource(
                lock=lock,
                cwd=cwd,
                sources=header.sources,
                options=header.options,
                header=header.command,
                python=header.python,
            )
        named = list(header.sources)
    options = header.options if header is not None and header.pip_compile else ()
    python = header.python if header is not None else None
    beside = lock.with_suffix(".in")
    if beside.is_file() and lock.suffix == ".txt" and is_inside(project, beside):
        command = header.command if header is not None else None
        return LockSource(
            lock=lock,
            cwd=lock.resolve().parent,
            sources=(beside.name,),
            options=options or ("--generate-hashes",),
            header=command or _command_text(options, lock.name, (beside.name,)),
            python=python,
            found_by=".in beside the lock",
        )
    if named:
        return (
            f"its pip-compile header names {', '.join(named)}, which is not there, and there is "
            f"no {beside.name} beside it"
        )
    pyproject = project / "pyproject.toml"
    if _has_dependencies(pyproject):
        cwd = project.resolve()
        output = os.path.relpath(lock.resolve(), cwd)
        command = header.command if header is not None else None
        return LockSource(
            lock=lock,
            cwd=cwd,
            sources=("pyproject.toml",),
            options=options or ("--generate-hashes",),
            header=command or _command_text(options, output, ("pyproject.toml",)),
            python=python,
            found_by="pyproject.toml",
        )
    return f"no pip-compile header names its source, and there is no {beside.name} beside it"


def _has_dependencies(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(read_text(pyproject))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    project = data.get("project")
    return isinstance(project, dict) and bool(project.get("dependencies"))


def _command_text(options: Sequence[str], output: str, sources: Sequence[str]) -> str:
    opts = list(options) or ["--generate-hashes"]
    words = ["pip-compile", *opts, f"--output-file={output}", *sources]
    return " ".join(shlex.quote(word) for word in words)


@dataclass(frozen=True, kw_only=True, slots=True)
class LockTarget:
    """A lock ``repro update`` looks at, and the suites that use it."""

    path: Path
    """The lock file."""
    suites: tuple[Suite, ...] = ()
    """Suites whose ``lock`` it is."""


def _excluded(name: str, config: Config) -> bool:
    if name.startswith("."):
        return True
    patterns = {p.strip("/") for p in (*DEFAULT_EXCLUDES, *config.exclude)}
    return name in patterns


def discover_locks(project: Path, config: Config) -> list[LockTarget]:
    """The suites' locks (in config order); with no suites, every pip-compile output at the
    project's top level and one directory down."""
    if config.suites:
        by_path: dict[Path, list[Suite]] = {}
        for suite in config.suites.values():
            by_path.setdefault(suite.lock_path.resolve(), []).append(suite)
        return [LockTarget(path=path, suites=tuple(suites)) for path, suites in by_path.items()]
    found: list[Path] = []
    # A directory that is a symlink out of the project is not looked into: listing it would
    # already read outside the project.
    below = (
        p
        for p in project.iterdir()
        if p.is_dir() and not _excluded(p.name, config) and is_inside(project, p)
    )
    folders = [project, *sorted(below)]
    for folder in folders:
        for path in sorted(folder.glob("*.txt")):
            # A symlink out of the project is no lock of it: it would be written through.
            if is_inside(project, path) and path.is_file() and _compiled(path):
                found.append(path.resolve())
    return [LockTarget(path=path) for path in dict.fromkeys(found)]


def _include_outside(path: Path, project: Path) -> str | None:
    """Why a requirements lock's ``-r`` files lead outside the project (checked before the
    lock diff reads them), or None."""
    if not _requirements_file(path):
        return None
    try:
        load(path, root=project, includes=True)
    except IncludeOutsideError as exc:
        return str(exc)
    except UsageError:
        return None  # the lock diff says what else is wrong with it
    return None


def _requirements_file(path: Path) -> bool:
    """Whether ``path`` is a requirements-format lock (what pip-compile writes)."""
    return path.suffix.lower() not in {".lock", ".toml", ".yml", ".yaml", ".json"}


def _compiled(path: Path) -> bool:
    try:
        data = read_bytes(path)
    except OSError:
        return False
    head = data[:65536].decode("utf-8", errors="replace").splitlines()
    return _pip_compile_header(head) is not None


# --------------------------------------------------------------------------------------------
# Compiling the candidate
# --------------------------------------------------------------------------------------------


def _pip_compile(python: str | None, progress: Progress) -> list[str]:
    try:
        return pip_compile_command(python, progress, doing="compiling")
    except PipToolsMissing as exc:
        raise CompileError(str(exc)) from None


def upgrade_flags(packages: Sequence[str]) -> list[str]:
    """``--upgrade``, or one ``--upgrade-package=NAME`` per package."""
    if not packages:
        return ["--upgrade"]
    return [f"--upgrade-package={package}" for package in packages]


def compile_line(source: LockSource, packages: Sequence[str], project: Path, candidate: str) -> str:
    """The shell line, run from the project directory, that compiles ``source``'s lock again
    into ``candidate`` (relative to the project)."""
    cwd = os.path.relpath(source.cwd, project.resolve())
    target = os.path.relpath(project.resolve() / candidate, source.cwd)
    options = list(source.options)
    if "--generate-hashes" not in options:
        options.append("--generate-hashes")
    words = [
        "pip-compile",
        *options,
        *upgrade_flags(packages),
        f"--output-file={target}",
        *source.sources,
    ]
    command = " ".join(shlex.quote(word) for word in words)
    return command if cwd == "." else f"(cd {shlex.quote(cwd)} && {command})"


def compile_arguments(source: LockSource, packages: Sequence[str], output: Path) -> list[str]:
    """pip-compile's arguments (after the program) for a candidate of ``source`` in ``output``:
    no pip-tools config file, wheels only, the sources after ``--``."""
    options = list(source.options)
    if "--generate-hashes" not in options:
        options.append("--generate-hashes")
    return [
        "--quiet",
        "--no-config",
        ONLY_BINARY,
        *options,
        *upgrade_flags(packages),
        f"--output-file={output}",
        "--",
        *source.sources,
    ]


def header_option_problem(options: Sequence[str]) -> str | None:
    """Why the header's ``options`` are not passed to pip-compile, or None when they may be."""
    words = iter(options)
    for word in words:
        name, eq, value = word.partition("=")
        if name in {"-c", "--constraint"}:
            # the file itself is checked when the sandbox is made
            if not eq:
                next(words, None)
            continue
        if name in _HEADER_FLAGS and not eq:
            continue
        if name in _HEADER_VALUED and eq and _HEADER_VALUE.match(value):
            continue
        shown = word if len(word) <= 60 else word[:60] + "..."
        return (
            f"its pip-compile header has {shown}, which repro update does not take from the "
            "repository (indexes, links and pip options come from the host's pip configuration)"
        )
    return None


def _constraint_files(options: Sequence[str]) -> list[str]:
    out: list[str] = []
    words = iter(options)
    for word in words:
        name, eq, value = word.partition("=")
        if name in {"-c", "--constraint"}:
            out.append(value if eq else next(words, ""))
    return out


def _relative_to(path: Path, project: Path, what: str) -> str:
    """``path`` relative to the project (POSIX); :class:`UnsafeInputError` when outside."""
    try:
        resolved = inside(project, path, what=what)
    except OutsideRootError as exc:
        raise UnsafeInputError(str(exc)) from None
    return resolved.relative_to(project.resolve()).as_posix()


def _in_cwd(cwd: str, name: str) -> str:
    """``name`` (relative to ``cwd``, itself relative to the project) relative to the project;
    :class:`UnsafeInputError` when it is not a plain relative path that stays inside."""
    pure = PurePosixPath(name)
    joined = os.path.normpath(os.path.join(cwd, name))
    if pure.is_absolute() or "\\" in name or joined == ".." or joined.startswith("../"):
        raise UnsafeInputError(f"{name}: leads outside the project")
    return PurePosixPath(joined).as_posix()


def make_sandbox(source: LockSource, project: Path, sandbox: Path, seed: Path) -> Path:
    """Write checked copies of ``source``'s input files into ``sandbox`` (same paths relative
    to the project), and the lock's pins to ``seed``; returns the directory pip-compile runs
    in. Raises :class:`UnsafeInputError` when an input could make pip build or fetch code, or
    leads outside the project."""
    problem = header_option_problem(source.options)
    if problem is not None:
        raise UnsafeInputError(problem)
    cwd = _relative_to(source.cwd, project, "the directory pip-compile runs in")
    for name in source.sources:
        relative = _in_cwd(cwd, name)
        base = PurePosixPath(relative).name
        if name == "-" or base in _SETUP_SOURCES:
            raise UnsafeInputError(
                f"{relative}: compiling it runs the project's code; compile from a .in file "
                "or a pyproject.toml with static [project] dependencies"
            )
        if base == "pyproject.toml":
            sandbox_pyproject(project, relative, sandbox)
        else:
            sandbox_requirements(project, relative, sandbox, strict=True)
    for name in _constraint_files(source.options):
        sandbox_requirements(project, _in_cwd(cwd, name), sandbox, strict=True)
    lock = _relative_to(source.lock, project, "the lock")
    sandbox_pins(project, lock, seed)
    directory = sandbox / cwd
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def compile_candidate(
    source: LockSource,
    packages: Sequence[str],
    output: Path,
    *,
    project: Path,
    progress: Progress,
    timeout: float = COMPILE_TIMEOUT,
) -> None:
    """Write the candidate lock of ``source`` to ``output`` with the host's pip-compile (its pip
    configuration, index and certificates apply), run on checked copies of the sources in a
    sandbox next to ``output``. Raises :class:`UnsafeInputError` (nothing was run) or
    :class:`CompileError`."""
    with tempfile.TemporaryDirectory(prefix="sandbox-", dir=output.parent) as tmp:
        # --upgrade-package keeps the other pins of the output file it is given
        cwd = make_sandbox(source, project, Path(tmp), output)
        _run_pip_compile(source, packages, output, cwd=cwd, progress=progress, timeout=timeout)
    try:
        candidate = output.read_text(encoding="utf-8")
        current = read_text(source.lock)
    except (OSError, UnicodeDecodeError) as exc:
        raise CompileError(f"cannot read pip-compile's output: {exc}") from None
    kept = keep_hashes(_without_own_options(candidate, current), current)
    if kept != candidate:
        output.write_text(kept, encoding="utf-8")


def _without_own_options(candidate: str, current: str) -> str:
    """``candidate`` without the ``--only-binary :all:`` line pip-compile writes for
    :data:`~reprolock.piptools.ONLY_BINARY` (kept when the lock had it): the lock is what
    pip-compile writes without it."""
    option = "--only-binary :all:"
    if option in current.splitlines():
        return candidate
    rows = candidate.splitlines(keepends=True)
    out: list[str] = []
    skip_blank = False
    for row in rows:
        if row.rstrip() == option:
            skip_blank = True  # and the blank line that ends the options block
            continue
        if skip_blank and not row.strip():
            skip_blank = False
            continue
        skip_blank = False
        out.append(row)
    return "".join(out)


def keep_hashes(candidate: str, current: str) -> str:
    """``candidate`` with each package that keeps its version also keeping the hashes the
    ``current`` lock lists for it, as pip-compile's ``--reuse-hashes`` does without
    ``--upgrade``: wheels only are considered, so sdist hashes would otherwise be dropped
    (and read as "hash changed" on every package). Entries in another layout are left."""
    old: dict[tuple[str, str], set[str]] = {}
    for entry in parse_requirements(current).requirements:
        spec = entry.spec
        if spec.version is not None and spec.hashes:
            old.setdefault((spec.name, _normal(spec.version)), set()).update(spec.hashes)
    lines = candidate.splitlines(keepends=True)
    parsed = parse_requirements(candidate)
    for entry in reversed(parsed.requirements):
        spec = entry.spec
        if spec.version is None or not spec.hashes:
            continue
        merged = sorted(set(spec.hashes) | old.get((spec.name, _normal(spec.version)), set()))
        if merged == sorted(spec.hashes):
            continue
        block = _rehashed(lines, entry.line - 1, merged)
        if block is not None:
            start, end, new = block
            lines[start : end + 1] = new
    out = "".join(lines)
    check = parse_requirements(out)
    same = [(e.spec.name, e.spec.version) for e in check.requirements] == [
        (e.spec.name, e.spec.version) for e in parsed.requirements
    ]
    return out if same and not check.problems else candidate


def _normal(version: str) -> str:
    try:
        return str(Version(version))
    except ValueError:
        return version


_INLINE_COMMENT = re.compile(r"(\s+#.*)$")


def _rehashed(
    lines: list[str], start: int, hashes: Sequence[str]
) -> tuple[int, int, list[str]] | None:
    """``(start, end, new lines)`` of pip-compile's block at ``start`` (the requirement alone
    on its first line, one ``--hash`` per continuation line) with ``hashes``; None when the
    block is laid out otherwise."""
    first = lines[start].rstrip("\r\n")
    if not first.endswith(" \\") or "--hash" in first:
        return None
    end = start
    while lines[end].rstrip("\r\n").endswith("\\"):
        end += 1
        if end >= len(lines):
            return None
    body = [line.rstrip("\r\n").removesuffix("\\").strip() for line in lines[start + 1 : end + 1]]
    comment = ""
    match = _INLINE_COMMENT.search(body[-1]) if body else None
    if match:
        comment = "  " + match.group(1).strip()
        body[-1] = body[-1][: match.start()].strip()
    if not body or not all(b.startswith("--hash=") for b in body):
        return None
    eol = lines[start][len(first) :] or "\n"
    new = [first + eol]
    for index, digest in enumerate(hashes):
        last = index == len(hashes) - 1
        new.append(f"    --hash={digest}" + (comment + eol if last else " \\" + eol))
    return start, end, new


def _run_pip_compile(
    source: LockSource,
    packages: Sequence[str],
    output: Path,
    *,
    cwd: Path,
    progress: Progress,
    timeout: float,
) -> None:
    argv = [
        *_pip_compile(source.python, progress),
        *compile_arguments(source, packages, output),
    ]
    env = {**os.environ, "CUSTOM_COMPILE_COMMAND": source.header}
    try:
        # cwd: the sandbox, where the header's relative paths lead to the checked copies
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise CompileError(f"pip-compile took longer than {timeout:g}s") from None
    except OSError as exc:
        raise CompileError(f"cannot run pip-compile: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        reason = _last_error(proc.stderr or proc.stdout)
        hint = f" ({NO_WHEEL_HINT})" if any(m in reason for m in _NO_WHEEL) else ""
        raise CompileError(f"pip-compile failed: {reason}{hint}")


_NO_WHEEL = ("No matching distribution", "Could not find a version")


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class UpdateOptions:
    """``repro update``'s flags."""

    packages: tuple[str, ...] = ()
    """Upgrade only these (``NAME`` or ``NAME==VERSION``); empty: everything."""
    write: bool = False
    """Replace the locks when every suite behaves the same."""
    force: bool = False
    """With :attr:`write`: replace them whatever the suites say."""
    report: Path | None = None
    """Where the Markdown report also goes."""
    json: Path | None = None
    """Where the JSON report goes."""
    progress: Progress | None = None
    """Progress messages (default: a status line on stderr)."""
    frameworks: tuple[str, ...] = ()
    """Extra ML framework names for the diff (added to the config's)."""
    replay: bool = True
    """Replay and bisect the suites here; False (``--no-replay``): compile and diff only."""


def _package_names(packages: Sequence[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for package in packages:
        try:
            requirement = Requirement(package)
        except InvalidRequirement:
            raise UsageError(
                f"--package {package!r}: expected a package name, or NAME==VERSION"
            ) from None
        names[str(canonicalize_name(requirement.name))] = package
    return names


def _relative(path: Path, project: Path) -> str:
    try:
        return path.resolve().relative_to(project.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _candidate_name(path: Path, taken: set[str]) -> str:
    name = f"{path.stem}.candidate{path.suffix or '.txt'}"
    count = 2
    while name in taken:
        name = f"{path.stem}.candidate-{count}{path.suffix or '.txt'}"
        count += 1
    taken.add(name)
    return name


def update(
    project: Path,
    options: UpdateOptions,
    *,
    progress: Progress,
    warn: Progress,
    workdir: Path,
) -> UpdateReport:
    """Compile, diff, replay, bisect and (with ``--write``) write; the report says it all.

    Candidates are written under ``workdir`` and live as long as it does. Raises
    :class:`UsageError` for a bad ``--package`` or config, :class:`CompileError` when
    pip-compile fails.
    """
    config = load_config(project)
    targets = discover_locks(project, config)
    wanted = _package_names(options.packages)
    frameworks = (*config.frameworks, *options.frameworks)
    notes: list[str] = []
    locks: list[LockUpdate] = []
    taken: set[str] = set()
    if not targets:
        raise UsageError(
            f"{project}: no lock to update: configure a suite, or keep pip-compile outputs at "
            "the top level or one directory down"
        )
    contains: dict[Path, set[str]] = {}
    outside: dict[Path, str] = {}
    for target in targets:
        problem = _include_outside(target.path, project)
        if problem is not None:
            outside[target.path] = problem
            contains[target.path] = set()
            continue
        try:
            contains[target.path] = set(read_packages(target.path))
        except UsageError:
            contains[target.path] = set()
    missing = [raw for name, raw in wanted.items() if not any(name in c for c in contains.values())]
    if missing:
        shown = ", ".join(_relative(t.path, project) for t in targets)
        raise UsageError(f"--package {missing[0]}: not in any lock ({shown})")
    candidates: dict[Path, Path] = {}
    for target in targets:
        display = _relative(target.path, project)
        suites = tuple(s.name for s in target.suites)
        name = _candidate_name(target.path, taken)
        if not _requirements_file(target.path):
            locks.append(
                LockUpdate(
                    path=display,
                    candidate=name,
                    suites=suites,
                    skipped="pip-tools updates requirements locks only; update this one with "
                    "its own tool",
                )
            )
            continue
        if target.path in outside:
            locks.append(
                LockUpdate(
                    path=display, candidate=name, suites=suites, skipped=outside[target.path]
                )
            )
            continue
        own = [raw for key, raw in wanted.items() if key in contains[target.path]]
        if wanted and not own:
            locks.append(
                LockUpdate(
                    path=display,
                    candidate=name,
                    suites=suites,
                    skipped="none of the packages asked for is in it",
                )
            )
            continue
        source = find_source(target.path, project)
        if isinstance(source, str):
            locks.append(LockUpdate(path=display, candidate=name, suites=suites, skipped=source))
            continue
        output = workdir / f"{len(candidates)}-{name}"
        progress(f"compiling {display} with pip-compile ({', '.join(own) or '--upgrade'})")
        try:
            compile_candidate(source, own, output, project=project, progress=notes.append)
        except UnsafeInputError as exc:
            locks.append(LockUpdate(path=display, candidate=name, suites=suites, skipped=str(exc)))
            continue
        candidates[target.path] = output
        text = output.read_text(encoding="utf-8")
        new = read_packages(output)
        diff = diff_packages(
            read_packages(target.path),
            new,
            old_path=display,
            new_path=name,
            frameworks=frameworks,
        )
        hashed = all(all(h for h in p.hashes.values()) for p in new.values())
        locks.append(
            LockUpdate(
                path=display,
                candidate=name,
                sources=source.sources,
                found_by=source.found_by,
                command=compile_line(source, options.packages, project, name),
                diff=diff,
                candidate_text=text,
                suites=suites,
                hashed=hashed,
            )
        )
    if all(lock.skipped for lock in locks):
        reasons = "; ".join(f"{lock.path}: {lock.skipped}" for lock in locks)
        raise UsageError(f"no lock could be compiled: {reasons}")
    report = UpdateReport(
        packages=tuple(options.packages),
        locks=tuple(locks),
        configured_suites=len(config.suites),
        write=options.write,
        force=options.force,
        notes=tuple(dict.fromkeys(notes)),
        replayed=options.replay,
    )
    if report.status is UpdateStatus.UP_TO_DATE:
        return report
    to_replay = [
        (target, lock)
        for target, lock in zip(targets, locks, strict=True)
        if lock.changed and target.suites
    ]
    if to_replay and options.replay:
        replayed = _replay(to_replay, candidates, progress=progress, warn=warn)
        report = replace(report, suites=tuple(replayed))
    if options.write and (
        options.force or report.status in {UpdateStatus.SAFE, UpdateStatus.LOCK_ONLY}
    ):
        written = []
        for target, lock in zip(targets, report.locks, strict=True):
            if lock.changed and lock.candidate_text is not None:
                # through a symlinked lock or directory only to a place inside the project
                path = inside(project, target.path, what=f"--write {lock.path}")
                mode = stat.S_IMODE(path.stat().st_mode)
                atomic_write_text(path, lock.candidate_text, mode=mode)
                lock = replace(lock, written=True)  # noqa: PLW2901 - the written copy
            written.append(lock)
        report = replace(report, locks=tuple(written))
    return report


def _replay(
    work: Sequence[tuple[LockTarget, LockUpdate]],
    candidates: dict[Path, Path],
    *,
    progress: Progress,
    warn: Progress,
) -> list[SuiteUpdate]:

    out: list[SuiteUpdate] = []
    with ExitStack() as stack:
        try:
            stack.enter_context(docker_failures())
            client = stack.enter_context(closing(connect()))
        except UnansweredError as exc:
            return [
                SuiteUpdate(suite=suite.name, lock=lock.path, error=str(exc))
                for target, lock in work
                for suite in target.suites
            ]
        session = Session(client=client, progress=progress, warn=warn)
        for target, lock in work:
            candidate = candidates[target.path]
            for suite in target.suites:
                progress(f"replaying {suite.name} against the candidate of {lock.path}")
                try:
                    result = bisect(session, suite, candidate=candidate)
                except UnansweredError as exc:
                    out.append(SuiteUpdate(suite=suite.name, lock=lock.path, error=str(exc)))
                    continue
                replay = replace(result.replay, candidate_lock=lock.candidate)
                out.append(
                    SuiteUpdate(
                        suite=suite.name, lock=lock.path, bisect=replace(result, replay=replay)
                    )
                )
    return out


def _iter_outputs(options: UpdateOptions) -> Iterator[tuple[str, Path]]:
    if options.report is not None:
        yield "--report", options.report
    if options.json is not None:
        yield "--json", options.json


def run_update(project: Path, options: UpdateOptions) -> int:
    """``repro update``: the Markdown report on stdout (and ``--report``), JSON to ``--json``,
    the one-line summary on stderr; returns the exit code."""

    for flag, path in _iter_outputs(options):
        if path.is_dir():
            raise UsageError(f"{flag} {path}: is a directory")
    with StatusLine() as status, tempfile.TemporaryDirectory(prefix="repro-update-") as tmp:
        report = update(
            project,
            options,
            progress=options.progress or status,
            warn=status.log,
            workdir=Path(tmp),
        )
    markdown = render_markdown(report)
    for flag, path in _iter_outputs(options):
        text = markdown if flag == "--report" else json.dumps(report.to_dict(), indent=2) + "\n"
        try:
            atomic_write_text(path, text, mode=0o644)
        except OSError as exc:
            raise UsageError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None
    try:
        sys.stdout.write(markdown)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    for _suite, command in report.accept_commands():
        print(f"repro: next: {command}", file=sys.stderr)
    print(f"repro: {report.summary_line()}", file=sys.stderr)
    return report.exit_code


__all__ = [
    "CompileError",
    "CompileHeader",
    "LockSource",
    "LockTarget",
    "UpdateOptions",
    "compile_arguments",
    "compile_candidate",
    "compile_line",
    "discover_locks",
    "find_source",
    "header_option_problem",
    "keep_hashes",
    "make_sandbox",
    "read_header",
    "run_update",
    "update",
]
