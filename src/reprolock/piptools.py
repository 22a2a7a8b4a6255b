"""pip-compile for ``repro fix`` and ``repro update``: finding it, and what it may be given.

pip-compile resolves by asking pip, and pip builds whatever has no wheel: an sdist from the
index, a local directory, ``-e .``, a VCS checkout; its requirements-file parser also takes
``--no-binary``, ``--find-links`` and ``-r`` from the files it reads. So pip-compile never
reads a file of the audited repository: :func:`sandbox_requirements` and
:func:`sandbox_pyproject` write copies made only of what was checked here (named
requirements, rebuilt by ``packaging``; a few resolution options; ``-r``/``-c`` to other such
copies), every run gets :data:`ONLY_BINARY`, and the interpreter never puts its working
directory on ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import json
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reprolock.errors import UnansweredError, UsageError
from reprolock.files import decode_text, is_inside, read_bytes
from reprolock.formats.requirements import OptionEntry, parse_requirements
from reprolock.specs import Spec, SpecKind

ONLY_BINARY = "--pip-args=--only-binary=:all:"
"""pip-compile's option that keeps pip to wheels: nothing is built to learn its metadata."""

NO_WHEEL_HINT = "repro resolves wheels only: a package with no wheel for the Python is not resolved"
"""Said with pip-compile's failures, which are most often a package that has only an sdist."""


class PipToolsMissing(UnansweredError):
    """No pip-compile could be found (exit 3)."""


class UnsafeInputError(UsageError):
    """A file pip-compile would have to read holds something that could build or fetch code,
    or leads outside the project. The message is ``path:line: what``, never the file's text
    beyond the offending token."""


# --------------------------------------------------------------------------------------------
# Finding pip-compile
# --------------------------------------------------------------------------------------------


def safe_path_flag(version: str) -> str:
    """``-P`` (3.11+), else ``-I``: either keeps the working directory off ``sys.path``, so a
    ``piptools.py`` or ``click.py`` there is never imported."""
    major, _, minor = version.partition(".")
    try:
        modern = (int(major), int(minor)) >= (3, 11)
    except ValueError:
        modern = False
    return "-P" if modern else "-I"


def pip_compile_command(python: str | None, say: Callable[[str], None], *, doing: str) -> list[str]:
    """pip-compile under ``pythonX.Y`` when the target is another Python and one with pip-tools
    is on PATH, else under this interpreter (said through ``say``), else from PATH.

    ``doing`` names the work in that message ("resolving", "compiling")."""
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    wanted = ".".join(python.split(".")[:2]) if python else current
    if wanted != current:
        exe = shutil.which(f"python{wanted}")
        if exe is not None and has_piptools(exe, wanted):
            return [exe, safe_path_flag(wanted), "-m", "piptools", "compile"]
        say(
            f"{doing} with Python {current}: the project targets {wanted}, and no "
            f"python{wanted} with pip-tools is on PATH (check the versions chosen)"
        )
    if importlib.util.find_spec("piptools") is not None:
        return [sys.executable, "-P", "-m", "piptools", "compile"]
    exe = shutil.which("pip-compile")
    if exe is not None:
        return [exe]  # a console script: sys.path[0] is its own bin directory
    raise PipToolsMissing("pip-tools is not installed (pip install pip-tools)")


def has_piptools(python: str, version: str) -> bool:
    """True when ``python`` (Python ``version``) can import pip-tools."""
    try:
        proc = subprocess.run(
            [python, safe_path_flag(version), "-c", "import piptools"],
            capture_output=True,
            timeout=60,
            check=False,
            cwd=tempfile.gettempdir(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


_EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*([A-Za-z_]\w*(?:Error|Exception|NotFound|Impossible)): (.+)$"
)


def last_error(output: str) -> str:
    """Why pip-compile failed: its last ``ERROR:`` line, else the exception that ended its
    traceback (``DistributionNotFound: No matching distribution found for six>=999``)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1][:300]
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line)
        if match:
            return f"{match.group(1)}: {match.group(2)}"[:300]
    lines = [line for line in lines if not line.startswith("WARNING:")] or lines
    return (lines or ["no output"])[-1][:300]


# --------------------------------------------------------------------------------------------
# What pip-compile may read
# --------------------------------------------------------------------------------------------

# Options that choose among wheels; everything else (indexes, links, --no-binary, -e, build
# settings) is not taken from the repository.
_KEPT_OPTIONS = frozenset({"--pre", "--prefer-binary", "--only-binary"})
# Not ":none:": pip clears its --only-binary set on it, ours included.
_ONLY_BINARY_VALUE = re.compile(
    r"^(?::all:|[A-Za-z0-9][A-Za-z0-9._-]*(?:,[A-Za-z0-9][A-Za-z0-9._-]*)*)$"
)
_NAMED = (SpecKind.EXACT, SpecKind.RANGE, SpecKind.UNPINNED)
_MAX_FILES = 256
_BUILT = "pip-compile would build it; repro resolves named requirements from wheels only"
_WHERE_FROM = (
    "set indexes and links in the host's pip configuration (pip.conf, PIP_INDEX_URL, "
    "PIP_EXTRA_INDEX_URL)"
)


def safe_line(text: str) -> bool:
    """True when pip's requirements-file parser reads ``text`` as written: no word it would
    take for an option (``-...``) or a comment (``#...``), no ``${VAR}`` it would expand, no
    line break or continuation."""
    if "${" in text or any(ord(c) < 32 or c == "\x7f" for c in text) or text.endswith("\\"):
        return False
    return not any(word.startswith(("-", "#")) for word in text.split(" ")[1:])


def named_requirement(spec: Spec) -> str | None:
    """``spec`` as a requirement line rebuilt by ``packaging`` (``name[extras]specifier;
    marker``), or None when it is not a plain named requirement pip resolves from wheels."""
    if spec.kind not in _NAMED or spec.editable or spec.env_vars or not spec.name:
        return None
    try:
        req = Requirement(spec.raw)
    except InvalidRequirement:
        return None
    if req.url:
        return None
    line = str(req)
    return line if safe_line(line) else None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Pending:
    relative: str
    """The file, relative to the root (POSIX)."""
    label: str
    """How messages name it."""


def sandbox_requirements(
    root: Path, relative: str, sandbox: Path, *, strict: bool, label: str | None = None
) -> list[str]:
    """Copy the requirements file ``relative`` (to ``root``) and its ``-r``/``-c`` files into
    ``sandbox`` at the same relative places, each rebuilt from what was checked here; returns
    the copies written, relative to ``sandbox``.

    Kept: named requirements (with their hashes), the options in :data:`_KEPT_OPTIONS`,
    ``-r``/``-c`` to files inside ``root``. ``strict``: anything else (a URL, a path, ``-e``,
    ``--find-links``, an index, a file outside ``root``) raises :class:`UnsafeInputError`, so
    that the compiled lock is the one the files ask for; not ``strict``: it is left out.
    """
    written: list[str] = []
    pending = [_Pending(relative=relative, label=label or relative)]
    seen: set[str] = set()
    while pending:
        item = pending.pop()
        if item.relative in seen:
            continue
        seen.add(item.relative)
        if len(seen) > _MAX_FILES:
            raise UnsafeInputError(f"{label or relative}: more than {_MAX_FILES} -r/-c files")
        lines, includes = _sanitised(root, item, strict=strict)
        target = sandbox / item.relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        written.append(item.relative)
        pending.extend(includes)
    return written


def sandbox_pins(root: Path, relative: str, target: Path) -> None:
    """Write to ``target`` the named requirements (with their hashes) of the requirements
    file ``relative``, nothing else: what pip-compile reads back from its output file to
    keep the other pins under ``--upgrade-package``."""
    lines, _ = _sanitised(root, _Pending(relative=relative, label=relative), strict=False)
    kept = [line for line in lines if not line.startswith("-")]
    target.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def _read(root: Path, relative: str, label: str) -> str:
    path = root / relative
    if not is_inside(root, path):
        raise UnsafeInputError(f"{label}: leads outside {root.resolve()}")
    try:
        data = read_bytes(path)
    except OSError as exc:
        raise UnsafeInputError(f"{label}: cannot read: {exc.strerror or exc}") from None
    text = decode_text(data)
    if not isinstance(text, str):
        raise UnsafeInputError(f"{label}:{text.line}: cannot read: {text.message}")
    return text


def _sanitised(root: Path, item: _Pending, *, strict: bool) -> tuple[list[str], list[_Pending]]:
    """The checked lines of one file, and the files it includes."""
    parsed = parse_requirements(_read(root, item.relative, item.label))
    lines: list[tuple[int, str]] = []
    includes: list[_Pending] = []

    def refuse(line: int, why: str) -> None:
        if strict:
            raise UnsafeInputError(f"{item.label}:{line}: {why}")

    for problem in parsed.problems:
        if problem.severity is None:
            refuse(problem.line, "pip would reject this line")
    for entry in parsed.requirements:
        text = named_requirement(entry.spec)
        if text is None:
            refuse(entry.line, f"{_describe(entry.spec)}: {_BUILT}")
            continue
        hashes = "".join(f" --hash={h}" for h in entry.spec.hashes)
        lines.append((entry.line, text + hashes))
    for option in parsed.options:
        kept = kept_option(option)
        if kept is None:
            refuse(option.line, f"{option.name} is not taken from the repository: {_WHERE_FROM}")
            continue
        lines.append((option.line, kept))
    for include in parsed.includes:
        flag = "-c" if include.constraint else "-r"
        target = include_target(item.relative, include.path)
        if target is None or not is_inside(root, root / target):
            refuse(include.line, f"{flag} {include.path} leads outside the project")
            continue
        lines.append((include.line, f"{flag} {include.path}"))
        includes.append(_Pending(relative=target, label=target))
    return [text for _, text in sorted(lines)], includes


def _describe(spec: Spec) -> str:
    shown = spec.raw if len(spec.raw) <= 60 else spec.raw[:60] + "..."
    if spec.editable:
        return f"-e {shown} is an editable install"
    if spec.kind in (SpecKind.URL, SpecKind.VCS, SpecKind.PATH):
        return f"{shown} is a {spec.kind.value} requirement"
    return f"{shown} is not a plain named requirement"


def kept_option(option: OptionEntry) -> str | None:
    """The option line pip-compile is given for ``option`` of a repository file, or None when
    it is not passed on (only options that choose among wheels are)."""
    if option.name not in _KEPT_OPTIONS:
        return None
    if option.value is None:
        return option.name
    if not _ONLY_BINARY_VALUE.match(option.value):
        return None
    return f"{option.name} {option.value}"


def include_target(including: str, written: str) -> str | None:
    """The root-relative POSIX path of ``-r written`` in ``including``; None when it is not a
    plain relative path that stays below the root (a URL, ``${VAR}``, absolute, ``..`` out)."""
    if "${" in written or ":" in written or "\\" in written or not safe_line(f"x {written}"):
        return None
    if PurePosixPath(written).is_absolute():
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(including), written))
    if joined == ".." or joined.startswith(("../", "/")):
        return None
    return joined


# --- pyproject.toml ---------------------------------------------------------------------------

_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def sandbox_pyproject(root: Path, relative: str, sandbox: Path) -> None:
    """Write to ``sandbox / relative`` a pyproject.toml holding only the ``[project]`` name,
    dependencies and optional dependencies of ``root / relative``: pip-tools reads those
    statically and never runs a build backend. Raises :class:`UnsafeInputError` when the
    project's dependencies are not static (``dynamic``), or one is a direct reference or the
    project itself (pip-compile would build the project to resolve it)."""
    text = _read(root, relative, relative)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UnsafeInputError(f"{relative}: invalid TOML: {exc}") from None
    except RecursionError:
        raise UnsafeInputError(f"{relative}: invalid TOML: nesting too deep to parse") from None
    project = data.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        raise UnsafeInputError(
            f"{relative}: no [project] name: pip-compile would run the build backend"
        )
    name = project["name"]
    if not _PROJECT_NAME.match(name):
        raise UnsafeInputError(f"{relative}: [project] name {name[:60]!r} is not a PEP 508 name")
    dynamic = project.get("dynamic", [])
    if isinstance(dynamic, list) and {"dependencies", "optional-dependencies"} & set(dynamic):
        raise UnsafeInputError(
            f"{relative}: [project] dependencies are dynamic: pip-compile would run the build "
            "backend"
        )
    out = ["[project]", f"name = {json.dumps(name)}"]
    deps = list(_requirements(relative, name, "dependencies", project.get("dependencies", [])))
    out.append(f"dependencies = [{', '.join(json.dumps(d) for d in deps)}]")
    optional = project.get("optional-dependencies", {})
    if not isinstance(optional, dict):
        raise UnsafeInputError(f"{relative}: [project] optional-dependencies is not a table")
    if optional:
        out.append("[project.optional-dependencies]")
    for extra, values in optional.items():
        where = f"optional-dependencies.{extra}"
        items = list(_requirements(relative, name, where, values))
        out.append(f"{json.dumps(extra)} = [{', '.join(json.dumps(d) for d in items)}]")
    target = sandbox / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out) + "\n", encoding="utf-8")


def _requirements(relative: str, project: str, where: str, values: object) -> Iterator[str]:
    if not isinstance(values, list):
        raise UnsafeInputError(f"{relative}: [project] {where} is not an array")
    for value in values:
        shown = f"{value[:60]!r}" if isinstance(value, str) else repr(type(value).__name__)
        try:
            req = Requirement(value) if isinstance(value, str) else None
        except InvalidRequirement:
            req = None
        if req is None:
            raise UnsafeInputError(f"{relative}: [project] {where}: invalid requirement {shown}")
        if req.url:
            raise UnsafeInputError(
                f"{relative}: [project] {where}: {shown} is a direct reference: {_BUILT}"
            )
        if canonicalize_name(req.name) == canonicalize_name(project):
            raise UnsafeInputError(
                f"{relative}: [project] {where}: {shown} names the project itself: pip-compile "
                "would build the project"
            )
        text = str(req)
        if not safe_line(text):
            raise UnsafeInputError(f"{relative}: [project] {where}: {shown} cannot be passed on")
        yield text


__all__ = [
    "NO_WHEEL_HINT",
    "ONLY_BINARY",
    "PipToolsMissing",
    "UnsafeInputError",
    "has_piptools",
    "include_target",
    "kept_option",
    "last_error",
    "named_requirement",
    "pip_compile_command",
    "safe_line",
    "safe_path_flag",
    "sandbox_pins",
    "sandbox_pyproject",
    "sandbox_requirements",
]
