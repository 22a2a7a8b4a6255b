"""``repro fix``: write exact pins (and hashes) in place where the audit found none."""

from __future__ import annotations

import difflib
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.audit.baseline import load_baseline
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.audit.frameworks import PYTHON_VERSION_FILE
from reprolock.audit.interface import FileFacts, Role
from reprolock.audit.workflows import KIND_ACTION, KIND_WORKFLOW
from reprolock.config import Config, load_config
from reprolock.errors import ReproError, UnansweredError, UsageError
from reprolock.files import atomic_write_text, decode_text, inside, is_inside, read_bytes
from reprolock.formats.lock import Source
from reprolock.formats.read import load, lock_format
from reprolock.formats.requirements import ParsedRequirements, ReqEntry, parse_requirements
from reprolock.model import Finding
from reprolock.piptools import (
    ONLY_BINARY,
    PipToolsMissing,
    UnsafeInputError,
    include_target,
    kept_option,
    last_error,
    pip_compile_command,
    safe_line,
    sandbox_requirements,
)
from reprolock.specs import Spec, SpecError, SpecKind, classify

Progress = Callable[[str], None]

FIXED_RULES = frozenset({"RP101", "RP102", "RP103"})
"""The rules ``repro fix`` repairs."""

_SHELL_KINDS = frozenset({"dockerfile", "shell", "makefile", KIND_WORKFLOW, KIND_ACTION})
_COMMAND_LINE_HASH = (
    "a command line cannot carry hashes: install from a hashed requirements file "
    "(pip install --require-hashes -r FILE)"
)


class ResolveError(UnansweredError):
    """pip-compile could not resolve a requirement (the message is its reason). ``repro fix``
    reports the finding as not fixed; the class is exit 3 only should it ever escape."""


# --------------------------------------------------------------------------------------------
# Resolution: pip-tools, for the project's Python
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolved:
    """An exact version and the sha256 hashes of all its artifacts, as pip-compile wrote them."""

    version: str
    """The version pip-compile chose."""
    hashes: tuple[str, ...] = ()
    """``sha256:<hex>`` of every artifact of that version on the configured indexes."""
    marker: str | None = None
    """The marker pip-compile kept on the entry (a requirement's own)."""
    via: tuple[str, ...] = ()
    """The packages that depend on it (pip-compile's ``# via``; input files left out)."""


class Resolver(Protocol):
    """Resolves requirement lines to exact versions with hashes (pip-compile, or a stand-in)."""

    def resolve(
        self,
        lines: Sequence[str],
        *,
        options: Sequence[str] = (),
        constraints: Sequence[str] = (),
        python: str | None = None,
    ) -> dict[str, Resolved]:
        """Every package the lines install (dependencies included), by canonical name.

        ``options`` are requirements-file option lines (``--index-url URL``, ``-r PATH``);
        ``constraints`` are pins the resolution must follow. Raises :class:`ResolveError`.
        """


class PipCompile:
    """``pip-compile --generate-hashes`` on a temporary ``.in``, with the host's pip config.

    It runs under the interpreter the project targets when one with pip-tools is on PATH
    (``python3.10 -m piptools``), else under this one, and says so through ``progress``; in a
    temporary directory, with wheels only (:data:`~reprolock.piptools.ONLY_BINARY`): nothing
    is built to learn its dependencies, so a package with no wheel is not resolved.
    """

    def __init__(self, *, progress: Progress | None = None, timeout: float = 600.0) -> None:
        self.progress = progress
        self.timeout = timeout
        self._commands: dict[str, list[str]] = {}

    def resolve(
        self,
        lines: Sequence[str],
        *,
        options: Sequence[str] = (),
        constraints: Sequence[str] = (),
        python: str | None = None,
    ) -> dict[str, Resolved]:
        unsafe = next((line for line in (*lines, *constraints) if not safe_line(line)), None)
        if unsafe is not None:
            raise ResolveError(f"{unsafe[:60]!r} cannot be passed to pip-compile as written")
        command = self._command(python)
        with tempfile.TemporaryDirectory(prefix="repro-fix-") as tmp:
            source = Path(tmp) / "fix.in"
            output = Path(tmp) / "fix.txt"
            head = list(options)
            if constraints:
                pinned = Path(tmp) / "constraints.txt"
                pinned.write_text("".join(f"{line}\n" for line in constraints), "utf-8")
                head.append(f"-c {pinned.name}")
            source.write_text("".join(f"{line}\n" for line in (*head, *lines)), "utf-8")
            argv = [
                *command,
                "--quiet",
                "--no-config",
                "--generate-hashes",
                "--allow-unsafe",
                "--strip-extras",
                "--no-header",
                "--annotation-style=split",
                "--no-emit-options",
                ONLY_BINARY,
                f"--output-file={output}",
                "--",
                str(source),
            ]
            try:
                # cwd: the temporary directory, never the repository
                proc = subprocess.run(
                    argv,
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ResolveError(f"pip-compile took longer than {self.timeout:g}s") from None
            except OSError as exc:
                raise ResolveError(f"cannot run pip-compile: {exc.strerror or exc}") from None
            if proc.returncode != 0 or not output.is_file():
                raise ResolveError(last_error(proc.stderr or proc.stdout))
            text = output.read_text(encoding="utf-8")
        return read_compiled(text)

    def _command(self, python: str | None) -> list[str]:
        key = python or ""
        if key not in self._commands:
            self._commands[key] = self._find(python)
        return self._commands[key]

    def _find(self, python: str | None) -> list[str]:
        try:
            return pip_compile_command(python, self._say, doing="resolving")
        except PipToolsMissing as exc:
            raise ResolveError(str(exc)) from None

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


def read_compiled(text: str) -> dict[str, Resolved]:
    """pip-compile's output (``--generate-hashes``, split annotations) by canonical name."""
    parsed = parse_requirements(text)
    lines = text.splitlines()
    starts = [e.line for e in parsed.requirements] + [len(lines) + 1]
    resolved: dict[str, Resolved] = {}
    for entry, following in zip(parsed.requirements, starts[1:], strict=True):
        spec = entry.spec
        if spec.kind is not SpecKind.EXACT or not spec.name or spec.version is None:
            continue
        via: list[str] = []
        for raw in lines[entry.line : following - 1]:
            body = raw.strip()
            if not body.startswith("#"):
                continue
            item = body[1:].strip()
            item = item[4:].strip() if item.startswith("via ") or item == "via" else item
            if item and not item.startswith(("-r ", "-c ")) and " " not in item:
                via.append(str(canonicalize_name(item)))
        hashes = tuple(sorted({h for h in spec.hashes if h.startswith("sha256:")}))
        resolved[spec.name] = Resolved(
            version=spec.version, hashes=hashes, marker=spec.marker, via=tuple(via)
        )
    return resolved


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Unfixed:
    """A finding ``repro fix`` left as it was, and why."""

    finding: Finding
    """The finding, as ``repro check`` reports it."""
    reason: str
    """Why it was left, one short clause."""

    def __str__(self) -> str:
        f = self.finding
        return (
            f"{f.location.path}:{f.location.line}: {f.rule} {f.message}: not fixed: {self.reason}"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class FileFix:
    """One file's new text."""

    path: str
    """POSIX path relative to the root."""
    before: str
    """The text as read (a BOM removed; line endings as in the file)."""
    after: str
    """The text to write."""
    fixed: tuple[Finding, ...]
    """The findings the new text repairs."""

    def diff(self) -> str:
        """A unified diff that ``git apply`` and ``patch -p1`` accept."""
        return unified_diff(self.path, self.before, self.after)


@dataclass(frozen=True, kw_only=True, slots=True)
class FixResult:
    """What ``repro fix`` changed (or would change) and what it could not."""

    files: tuple[FileFix, ...] = ()
    """Files with new text, in path order."""
    unfixed: tuple[Unfixed, ...] = ()
    """Findings left as they were, and why."""
    failing: tuple[Unfixed, ...] = ()
    """Unfixed findings at or above the config's ``fail-on``: they make the exit code 1."""

    @property
    def fixed(self) -> int:
        """How many findings the edits repair."""
        return sum(len(f.fixed) for f in self.files)

    def diff(self) -> str:
        """Every file's unified diff, in path order."""
        return "".join(f.diff() for f in self.files)

    @property
    def exit_code(self) -> int:
        """0 when nothing at or above ``fail-on`` is left unfixed, else 1."""
        return 1 if self.failing else 0


def unified_diff(path: str, before: str, after: str) -> str:
    """``--- a/PATH``/``+++ b/PATH`` diff, with the no-newline marker where needed."""
    out: list[str] = []
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class _Need:
    """One finding to repair: the requirement as written and what it becomes (filled in as
    the versions and hashes are worked out, hence not frozen)."""

    finding: Finding
    spec: Spec
    version: str | None = None
    """The exact version, once known (the lock's, the line's own, or resolved)."""
    hashes: tuple[str, ...] | None = None
    """The hashes to write; None when the entry gets none."""
    want_hashes: bool = False
    origin: str = ""
    """Where the version came from, for progress messages."""


def plan_fix(
    root: Path,
    *,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
) -> FixResult:
    """Audit ``root`` and compute the edits for every RP101/RP102/RP103 finding it reports
    (inline ignores and the config's baseline are honoured); nothing is written."""
    root = root.resolve()
    config = load_config(root)
    baseline = {}
    if config.baseline:
        baseline = load_baseline(root / config.baseline, config.baseline)
    audit = run_audit(root, config, AuditOptions(select=FIXED_RULES, baseline=baseline))
    resolver = resolver or PipCompile(progress=progress)
    by_path: dict[str, list[Finding]] = {}
    for f in audit.report.findings:
        by_path.setdefault(f.location.path, []).append(f)
    files: list[FileFix] = []
    unfixed: list[Unfixed] = []
    locks = _Locks(root, audit.facts)
    # pip-compile reads checked copies of the -r/-c files, made here, never the files
    with tempfile.TemporaryDirectory(prefix="repro-fix-includes-") as sandbox:
        for path in sorted(by_path):
            editor = _editor_for(
                path,
                facts=audit.facts.get(path),
                findings=by_path[path],
                root=root,
                config=config,
                everything=audit.facts,
                sandbox=Path(sandbox),
            )
            if isinstance(editor, str):
                unfixed.extend(Unfixed(finding=f, reason=editor) for f in by_path[path])
                continue
            fix, left = editor.run(resolver, locks, progress)
            unfixed.extend(left)
            if fix is not None:
                files.append(fix)
    failing = tuple(u for u in unfixed if config.fail_on.fails(u.finding.severity))
    return FixResult(files=tuple(files), unfixed=tuple(unfixed), failing=failing)


def run_fix(
    root: Path,
    *,
    dry_run: bool,
    progress: Progress | None = None,
    resolver: Resolver | None = None,
) -> tuple[str, int]:
    """``repro fix [PATH] [--dry-run]``: the unified diff of every edit, and the exit code.

    Each edited file is replaced atomically, keeping its mode; ``dry_run`` writes nothing.
    Progress, what was left unfixed and why, and a summary go to ``progress``. Exit code 0
    when every RP101/RP102/RP103 finding at or above ``fail-on`` was (or would be) fixed,
    or there was nothing to fix; 1 when some could not be.
    """
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory (give the root of the tree to fix)")
    result = plan_fix(root, resolver=resolver, progress=progress)
    if not dry_run:
        # every target checked before anything is written: a symlinked file or directory
        # that leads out of the tree stops the run with nothing changed
        targets = [(inside(root, fix.path, what=fix.path), fix) for fix in result.files]
        for target, fix in targets:
            _write(target, fix.after)
    if progress is not None:
        for item in result.unfixed:
            progress(str(item))
        verb = "would fix" if dry_run else "fixed"
        files = len(result.files)
        summary = f"{verb} {result.fixed} finding{'s' if result.fixed != 1 else ''} in {files} "
        summary += f"file{'s' if files != 1 else ''}"
        if result.unfixed:
            summary += f"; {len(result.unfixed)} not fixed"
        progress(summary)
    return result.diff(), result.exit_code


def _write(target: Path, text: str) -> None:
    """Replace ``target`` (resolved, inside the root: a symlink stays a symlink and its target
    is edited), keeping its mode and BOM."""
    try:
        data = read_bytes(target)
        mode = target.stat().st_mode & 0o7777
    except OSError as exc:
        raise UsageError(f"{target}: cannot read: {exc.strerror or exc}") from None
    bom = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
    try:
        atomic_write_text(target, bom + text, mode=mode)
    except OSError as exc:
        raise UsageError(f"{target}: cannot write: {exc.strerror or exc}") from None


class _Locks:
    """The pins of the locks beside a file (or compiled from it): the same locks the audit
    takes its fix suggestions from, used as constraints so that dependencies follow them too."""

    def __init__(self, root: Path, facts: Mapping[str, FileFacts]) -> None:
        self.root = root
        self.facts = facts
        self._read: dict[str, tuple[str, ...]] = {}

    def constraints(self, path: str) -> list[str]:
        directory = PurePosixPath(path).parent
        out: dict[str, None] = {}
        for lock in sorted(self.facts.values(), key=lambda ff: ff.path):
            if lock.role is not Role.LOCK or lock.path == path:
                continue
            if PurePosixPath(lock.path).parent != directory and path not in lock.compiled_from:
                continue
            out.update(dict.fromkeys(self._pins(lock.path)))
        return list(out)

    def _pins(self, path: str) -> tuple[str, ...]:
        cached = self._read.get(path)
        if cached is None:
            cached = self._read[path] = _registry_pins(self.root, path)
        return cached


def _registry_pins(root: Path, path: str) -> tuple[str, ...]:
    """``name==version ; marker`` of every index package of the lock at ``path``; none when it
    cannot be read in full (the audit reports what is wrong with it)."""
    if lock_format(PurePosixPath(path).name).startswith("conda"):
        return ()
    try:
        lock = load(root / path, root=root, includes=True)
    except ReproError:
        return ()
    entries = [e for e in lock.entries if e.source is Source.REGISTRY]
    if any(p.severity is None for p in lock.problems) or not all(e.version for e in entries):
        return ()
    return tuple(f"{e.pin} ; {e.marker}" if e.marker else e.pin for e in entries)


def _version_key(version: str) -> Version | str:
    try:
        return Version(version)
    except InvalidVersion:
        return version


def _editor_for(
    path: str,
    *,
    facts: FileFacts | None,
    findings: Sequence[Finding],
    root: Path,
    config: Config,
    everything: Mapping[str, FileFacts],
    sandbox: Path,
) -> _Editor | str:
    """The editor for a file, or why the file is not edited."""
    if facts is None:
        return "the file was not scanned"
    if facts.kind == "requirements":
        if facts.role is not Role.CONCRETE:
            return "only requirements files that are installed as written are edited"
        if "constraint" in PurePosixPath(path).name.lower():
            return (
                "hashes in a constraints file turn on pip's hash-checking mode without checking "
                "anything (pypa/pip#12956); hash the requirements that install these packages"
            )
        return _RequirementsEditor(
            path=path,
            findings=findings,
            root=root,
            config=config,
            facts=everything,
            sandbox=sandbox,
        )
    if facts.kind in _SHELL_KINDS:
        return _ShellEditor(
            path=path,
            findings=findings,
            root=root,
            config=config,
            facts=everything,
            sandbox=sandbox,
        )
    return f"repro fix edits requirements files and install commands, not {facts.kind} files"


# --------------------------------------------------------------------------------------------
# Editors
# --------------------------------------------------------------------------------------------

_LOCK_FIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;=<>!~,]+)$")
_NAME_EXTRAS = re.compile(r"\s*[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\s*\[[^\]]*\])?")


def pin_requirement(text: str, version: str) -> str | None:
    """``text`` (a PEP 508 requirement as written) with its version part replaced by
    ``==version``; name, extras, marker and spacing kept. None for a direct reference."""
    match = _NAME_EXTRAS.match(text)
    if match is None:
        return None
    head, rest = text[: match.end()], text[match.end() :]
    if rest.lstrip().startswith("@"):
        return None
    semi = rest.find(";")
    if semi < 0:
        return f"{head}=={version}"
    before = rest[:semi]
    gap = before[len(before.rstrip()) :]
    return f"{head}=={version}{gap}{rest[semi:]}"


def _admits(spec: Spec, version: str) -> bool:
    if not spec.specifier:
        return True
    try:
        return SpecifierSet(spec.specifier).contains(version, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def _same_pin(written: Spec, original: Spec, version: str) -> bool:
    """The rewritten requirement installs what the original asked for, at ``version``."""
    return (
        written.kind is SpecKind.EXACT
        and written.name == original.name
        and written.extras == original.extras
        and written.marker == original.marker
        and written.version is not None
        and _version_key(written.version) == _version_key(version)
    )


def _requirement_line(spec: Spec, version: str | None, *, marker: bool) -> str:
    """A line for pip-compile's input: the requirement, at ``version`` when it is known."""
    extras = f"[{','.join(spec.extras)}]" if spec.extras else ""
    text = f"{spec.name}{extras}" + (f"=={version}" if version is not None else spec.specifier)
    return f"{text} ; {spec.marker}" if marker and spec.marker else text


class _Editor:
    """What both editors share: choosing versions, asking the resolver, reporting."""

    def __init__(
        self,
        *,
        path: str,
        findings: Sequence[Finding],
        root: Path,
        config: Config,
        facts: Mapping[str, FileFacts],
        sandbox: Path,
    ) -> None:
        self.path = path
        self.findings = findings
        self.root = root
        self.config = config
        self.facts = facts
        self.sandbox = sandbox
        self.unfixed: list[Unfixed] = []

    def run(
        self, resolver: Resolver, locks: _Locks, progress: Progress | None
    ) -> tuple[FileFix | None, list[Unfixed]]:
        """The file's new text (None when unchanged) and the findings left unfixed."""
        raise NotImplementedError

    def skip(self, finding: Finding, reason: str) -> None:
        self.unfixed.append(Unfixed(finding=finding, reason=reason))

    def read(self) -> str | None:
        if not is_inside(self.root, self.path):
            for f in self.findings:
                self.skip(f, f"leads outside {self.root}")
            return None
        try:
            data = read_bytes(self.root / self.path)
        except OSError as exc:
            for f in self.findings:
                self.skip(f, f"cannot read: {exc.strerror or exc}")
            return None
        text = decode_text(data)
        if not isinstance(text, str):
            for f in self.findings:
                self.skip(f, text.message)
            return None
        return text

    def python(self) -> str | None:
        """The Python the file's environment runs: its own statement (a base image tag, a
        lock header), else the nearest ``.python-version`` above it."""
        own = self.facts.get(self.path)
        candidates = list(own.pythons) if own is not None else []
        here = PurePosixPath(self.path).parent
        files = [
            ff
            for ff in self.facts.values()
            if PurePosixPath(ff.path).name == PYTHON_VERSION_FILE
            and (PurePosixPath(ff.path).parent in (here, *here.parents))
        ]
        files.sort(key=lambda ff: len(PurePosixPath(ff.path).parts), reverse=True)
        candidates += [p for ff in files for p in ff.pythons]
        for stated in candidates:
            if re.fullmatch(r"3\.\d+(?:\.\d+)?", stated.value):
                return stated.value
        return None

    def choose_versions(self, needs: Sequence[_Need]) -> None:
        """The lock's version where the audit found one that the line admits."""
        for need in needs:
            if need.version is not None or not need.finding.fix:
                continue
            match = _LOCK_FIX.match(need.finding.fix)
            if match is None or canonicalize_name(match.group(1)) != need.spec.name:
                continue
            if _admits(need.spec, match.group(2)):
                need.version = match.group(2)
                need.origin = "the lock"

    def resolve(
        self,
        needs: Sequence[_Need],
        resolver: Resolver,
        *,
        context: Sequence[str] = (),
        options: Sequence[str] = (),
        constraints: Sequence[str] = (),
        progress: Progress | None,
    ) -> tuple[list[_Need], dict[str, Resolved] | None]:
        """Fill in versions and hashes with one pip-compile run over ``context`` and the
        needs (following the locks' ``constraints``, then without them); whatever that run
        misses is resolved alone. Returns the needs met, and the whole run's packages (None
        when there was no such run)."""
        pending = [n for n in needs if n.version is None or n.want_hashes]
        whole: dict[str, Resolved] | None = None
        if pending:
            python = self.python()
            if progress is not None:
                names = ", ".join(sorted({n.spec.name for n in pending}))
                progress(f"{self.path}: resolving {names} with pip-compile")
            lines = [
                *context,
                *(_requirement_line(n.spec, n.version, marker=True) for n in pending),
            ]
            for pins in (constraints, ()) if constraints else ((),):
                try:
                    whole = resolver.resolve(
                        lines, options=options, constraints=pins, python=python
                    )
                    break
                except ResolveError:
                    continue
            for need in pending:
                try:
                    self._take(need, whole)
                except ResolveError:
                    # missing from the run (its marker is false for this Python), or no run
                    line = _requirement_line(need.spec, need.version, marker=False)
                    try:
                        self._take(need, resolver.resolve([line], options=options, python=python))
                    except ResolveError as exc:
                        self.skip(need.finding, f"pip-compile: {exc}")
        met = [n for n in needs if n.version is not None and not self._skipped(n)]
        return met, whole

    def _skipped(self, need: _Need) -> bool:
        return any(u.finding is need.finding for u in self.unfixed)

    @staticmethod
    def _take(need: _Need, found: Mapping[str, Resolved] | None) -> None:
        got = found.get(need.spec.name) if found is not None else None
        if got is None:
            raise ResolveError(f"{need.spec.name} is not in pip-compile's output")
        if need.version is None:
            if not _admits(need.spec, got.version):
                raise ResolveError(f"{need.spec.name}=={got.version} is outside {need.spec.raw}")
        elif _version_key(got.version) != _version_key(need.version):
            raise ResolveError(f"{need.spec.name}=={need.version} resolved to {got.version}")
        if need.want_hashes and not got.hashes:
            raise ResolveError(f"pip-compile gave no sha256 hash for {need.spec.name}")
        if need.version is None:
            need.version = got.version
            need.origin = need.origin or "pip-compile"
        if need.want_hashes:
            need.hashes = got.hashes

    def result(self, before: str, after: str, fixed: Sequence[Finding]) -> FileFix | None:
        if after == before or not fixed:
            return None
        return FileFix(path=self.path, before=before, after=after, fixed=tuple(fixed))


# --- requirements files ---------------------------------------------------------------------


def _eol(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def _body(line: str) -> str:
    return line[: len(line) - len(_eol(line))]


def _comment_at(text: str) -> int:
    """Where pip's ``(^|\\s+)#`` starts a comment, or -1."""
    index = text.find("#")
    while index >= 0:
        if index == 0 or text[index - 1].isspace():
            return index
        index = text.find("#", index + 1)
    return -1


def _requirement_end(content: str) -> int:
    """End of the requirement in a line's content: pip's options start at the first word
    beginning with ``-``."""
    offset = 0
    for word in content.split(" "):
        if word.startswith("-") and content[:offset].strip():
            return len(content[:offset].rstrip())
        offset += len(word) + 1
    return len(content.rstrip())


def _hashed_entry(
    indent: str,
    requirement: str,
    hashes: Sequence[str],
    eol: str,
    *,
    tail: str = "",
    last_eol: str | None = None,
) -> list[str]:
    """``requirement \\`` and one ``--hash=`` per line, as pip-compile writes them; ``tail``
    (a comment) ends the last line, which ends with ``last_eol`` (default ``eol``)."""
    end = eol if last_eol is None else last_eol
    if not hashes:
        return [indent + requirement + tail + end]
    out = [indent + requirement + " \\" + eol]
    for position, digest in enumerate(hashes):
        final = position == len(hashes) - 1
        out.append(f"{indent}    --hash={digest}" + (tail + end if final else " \\" + eol))
    return out


_HASH_WORD = re.compile(r"^--hash(?:=|$)")
_DEPENDENCIES_HEADER = (
    "# Dependencies of the requirements above, pinned and hashed by `repro fix`: with hashes,",
    "# pip installs only packages listed with theirs.",
)


class _RequirementsEditor(_Editor):
    """Line-level edits of a requirements file: comments, markers, extras, options, line
    endings and continuation lines kept; hashes written pip-compile's way.

    With hashes, pip installs nothing that is not listed with its own hashes, dependencies
    included: the file's requirements are resolved together (following a sibling lock), and
    dependencies the file does not list are appended, pinned and hashed.
    """

    def run(
        self, resolver: Resolver, locks: _Locks, progress: Progress | None
    ) -> tuple[FileFix | None, list[Unfixed]]:
        text = self.read()
        if text is None:
            return None, self.unfixed
        parsed = parse_requirements(text)
        entries = {e.line: e for e in parsed.requirements}
        hashing = self._hashing(parsed.requirements)
        needs = self._needs(entries, hashing)
        self.choose_versions(needs)
        fixing = {n.finding.location.line for n in needs}
        context = [
            _requirement_line(e.spec, e.spec.version, marker=True)
            for e in parsed.requirements
            if e.line not in fixing
            and e.spec.name
            and e.spec.kind in (SpecKind.EXACT, SpecKind.RANGE, SpecKind.UNPINNED)
            and not e.spec.env_vars
        ]
        ready, whole = self.resolve(
            needs,
            resolver,
            context=context,
            options=self._options(parsed, progress),
            constraints=locks.constraints(self.path),
            progress=progress,
        )
        appended: list[str] = []
        if hashing is True and needs:
            ready, appended = self._complete(parsed.requirements, ready, whole, text)
        lines = text.splitlines(keepends=True)
        fixed: list[Finding] = []
        for need in sorted(ready, key=lambda n: n.finding.location.line, reverse=True):
            entry = entries[need.finding.location.line]
            replaced = self._edit(lines, entry, need)
            if isinstance(replaced, str):
                self.skip(need.finding, replaced)
                continue
            fixed.append(need.finding)
            if progress is not None:
                hashes = f" with {len(need.hashes)} hashes" if need.hashes else ""
                progress(
                    f"{self.path}:{entry.line}: {need.spec.name}=={need.version}{hashes} "
                    f"(from {need.origin})"
                )
        if fixed and appended:
            if lines and not _eol(lines[-1]):
                lines[-1] += _file_eol(lines)
            lines += appended
        return self.result(text, "".join(lines), fixed), self.unfixed

    def _needs(self, entries: Mapping[int, ReqEntry], hashing: bool | str) -> list[_Need]:
        needs: list[_Need] = []
        for f in self.findings:
            entry = entries.get(f.location.line)
            if entry is None or entry.spec.name != f.subject or not entry.spec.name:
                self.skip(f, "the requirement is not on the reported line")
                continue
            spec = entry.spec
            if spec.env_vars:
                names = ", ".join(f"${{{v}}}" for v in spec.env_vars)
                self.skip(f, f"the version comes from {names}; set it where the variable is set")
                continue
            if spec.kind not in (SpecKind.EXACT, SpecKind.RANGE, SpecKind.UNPINNED):
                self.skip(f, f"{spec.kind.value} requirements are not pinned by version")
                continue
            if f.rule == "RP103" and isinstance(hashing, str):
                self.skip(f, hashing)
                continue
            version = spec.version if spec.kind is SpecKind.EXACT else None
            needs.append(
                _Need(
                    finding=f,
                    spec=spec,
                    version=version,
                    want_hashes=hashing is True,
                    origin="the line" if version else "",
                )
            )
        return needs

    def _options(self, parsed: ParsedRequirements, progress: Progress | None) -> list[str]:
        """The file's release options (``--pre``) and its ``-r``/``-c`` files, as checked
        copies, for pip-compile's input. Index and link options are left to the host's pip
        configuration; what an included file has besides named requirements is left out."""
        out = [kept for o in parsed.options if (kept := kept_option(o)) is not None]
        for include in parsed.includes:
            flag = "-c" if include.constraint else "-r"
            target = include_target(self.path, include.path)
            if target is None or not (self.root / target).is_file():
                continue
            try:
                sandbox_requirements(self.root, target, self.sandbox, strict=False)
            except UnsafeInputError as exc:
                if progress is not None:
                    progress(f"{self.path}:{include.line}: {flag} {include.path} left out: {exc}")
                continue
            out.append(f"{flag} {self.sandbox / target}")
        return out

    def _complete(
        self,
        entries: Sequence[ReqEntry],
        ready: list[_Need],
        whole: Mapping[str, Resolved] | None,
        text: str,
    ) -> tuple[list[_Need], list[str]]:
        """Hashes for every requirement and every dependency, or for none: pip refuses a
        file where some requirements have hashes and others (or their dependencies) do not."""
        reason = self._incomplete(entries, ready, whole)
        if reason is not None:
            kept: list[_Need] = []
            for need in ready:
                need.hashes = None
                if need.finding.rule == "RP103":
                    self.skip(need.finding, reason)
                else:
                    kept.append(need)
            return kept, []
        assert whole is not None  # noqa: S101 - _incomplete checked it
        listed = {e.spec.name for e in entries} | self._included_names()
        missing = sorted(name for name in whole if name not in listed)
        if not missing:
            return ready, []
        eol = _file_eol(text.splitlines(keepends=True))
        out = [eol, *(line + eol for line in _DEPENDENCIES_HEADER)]
        for name in missing:
            got = whole[name]
            requirement = f"{name}=={got.version}" + (f" ; {got.marker}" if got.marker else "")
            out += _hashed_entry("", requirement, got.hashes, eol)
            if got.via:
                out.append(f"    # via {', '.join(got.via)}{eol}")
        return ready, out

    def _incomplete(
        self,
        entries: Sequence[ReqEntry],
        ready: Sequence[_Need],
        whole: Mapping[str, Resolved] | None,
    ) -> str | None:
        if whole is None:
            return "pip-compile could not resolve the file's requirements together"
        hashed = {n.finding.location.line for n in ready if n.hashes}
        for e in entries:
            if e.line not in hashed and not (e.spec.hashes and e.spec.kind is SpecKind.EXACT):
                return (
                    f"line {e.line} ({e.spec.label}) gets no hash, and pip refuses a file "
                    "where only some requirements have hashes"
                )
        for name, got in whole.items():
            if not got.hashes:
                return f"pip-compile gave no hash for the dependency {name}"
        return None

    def _included_names(self) -> set[str]:
        """Names listed in the files this one includes with ``-r`` (recursively)."""
        names: set[str] = set()
        seen: set[Path] = set()
        pending = [(self.root / self.path).resolve()]
        while pending:
            current = pending.pop()
            if current in seen or not is_inside(self.root, current):
                continue
            seen.add(current)
            try:
                text = read_bytes(current).decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            parsed = parse_requirements(text)
            if current != (self.root / self.path).resolve():
                names.update(e.spec.name for e in parsed.requirements if e.spec.name)
            pending += [
                (current.parent / i.path).resolve()
                for i in parsed.includes
                if not i.constraint and "://" not in i.path
            ]
        return names

    def _hashing(self, entries: Sequence[ReqEntry]) -> bool | str:
        """True when entries get hashes; False when not wanted; else why they cannot have them.

        Once one entry has a hash pip checks every requirement of the install, and it cannot
        check a VCS checkout, a local directory or an unhashed URL.
        """
        wanted = self.config.require_hashes or any(e.spec.hashes for e in entries)
        if not wanted:
            return False
        for e in entries:
            spec = e.spec
            if (
                spec.editable
                or spec.kind in (SpecKind.VCS, SpecKind.PATH)
                or (spec.kind is SpecKind.URL and not spec.hashes)
            ):
                return (
                    f"line {e.line} installs {spec.label} from {spec.url or spec.raw}, which "
                    "pip's hash-checking mode cannot verify; hashes on other lines would "
                    "make pip refuse the file"
                )
        return True

    def _edit(self, lines: list[str], entry: ReqEntry, need: _Need) -> str | None:
        """Replace the entry in ``lines``; None on success, else why not."""
        assert need.version is not None  # noqa: S101 - only ready needs are edited
        start = entry.line - 1
        end = start
        while end + 1 < len(lines) and _body(lines[end]).endswith("\\"):
            end += 1
            if _body(lines[end]).lstrip().startswith("#"):
                break  # pip ends a continuation at a comment line
        physical = lines[start : end + 1]
        has_hashes = bool(entry.spec.hashes)
        if len(physical) == 1 and not has_hashes and need.hashes is None:
            new = self._inline(physical[0], need.version)
        else:
            new = self._rebuild(physical, need.version, need.hashes, _file_eol(lines))
        if new is None:
            return "cannot rewrite this line safely"
        check = parse_requirements("".join(new))
        if len(check.requirements) != 1 or check.problems:
            return "the rewritten line does not parse"
        written = check.requirements[0].spec
        if not _same_pin(written, entry.spec, need.version):
            return "the rewritten line would change what is installed"
        if need.hashes is not None and set(written.hashes) != set(need.hashes):
            return "the rewritten hashes do not read back"
        lines[start : end + 1] = new
        return None

    @staticmethod
    def _inline(line: str, version: str) -> list[str] | None:
        body = _body(line)
        cut = _comment_at(body)
        content = body if cut < 0 else body[:cut]
        indent = len(content) - len(content.lstrip())
        end = _requirement_end(content)
        pinned = pin_requirement(content[indent:end], version)
        if pinned is None:
            return None
        return [content[:indent] + pinned + body[end:] + _eol(line)]

    @staticmethod
    def _rebuild(
        physical: Sequence[str], version: str, hashes: tuple[str, ...] | None, eol: str
    ) -> list[str] | None:
        parts: list[str] = []
        trailing: list[str] = []
        comment = ""
        for index, line in enumerate(physical):
            body = _body(line)
            if index and body.lstrip().startswith("#"):
                trailing.append(line)
                continue
            if body.endswith("\\"):
                body = body[:-1]
            else:
                cut = _comment_at(body)
                if cut >= 0:
                    comment = body[cut:].strip()
                    body = body[:cut]
            parts.append(body)
        content = "".join(parts)
        indent = content[: len(content) - len(content.lstrip())]
        end = _requirement_end(content)
        pinned = pin_requirement(content[len(indent) : end].strip(), version)
        if pinned is None:
            return None
        words = content[end:].split()
        kept: list[str] = []
        index = 0
        while index < len(words):
            word = words[index]
            index += 1
            if _HASH_WORD.match(word):
                index += word == "--hash"  # "--hash VALUE" takes the next word too
                continue
            kept.append(word)
        requirement = pinned + "".join(f" {w}" for w in kept)
        last_eol = _eol(physical[-1]) if not trailing else eol
        tail = f"  {comment}" if comment else ""
        out = _hashed_entry(indent, requirement, hashes or (), eol, tail=tail, last_eol=last_eol)
        return out + trailing


def _file_eol(lines: Sequence[str]) -> str:
    """The line ending the file uses (``\\n`` when it has none yet)."""
    return next((e for e in map(_eol, lines) if e), "\n")


# --- install commands (Dockerfile RUN, scripts, workflow run:) ------------------------------

_UNQUOTED_STOP = frozenset(" \t;&|()<>'\"\\`$")
_SAFE_UNQUOTED = re.compile(r"^[A-Za-z0-9._\-\[\],=+!~]+$")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Word:
    start: int
    end: int
    quote: str
    text: str
    """The requirement as the installer sees it (quotes removed)."""


def _word_at(line: str, index: int) -> _Word | None:
    """The shell word starting at ``index``: one quoted string or a plain run, with an
    unquoted ``>=1.2`` the shell would take for a redirection joined to it."""
    if index >= len(line):
        return None
    quote = line[index] if line[index] in "'\"" else ""
    if not quote and index > 0 and line[index - 1] in "'\"":
        quote = line[index - 1]  # a location inside the quotes (exec-form JSON elements)
        index -= 1
    if quote:
        close = index + 1
        while close < len(line) and line[close] != quote:
            if quote == '"' and line[close] in "\\$`":
                return None
            close += 1
        if close >= len(line):
            return None
        end = close + 1
        if end < len(line) and line[end] not in " \t;&|),]":
            return None
        return _Word(start=index, end=end, quote=quote, text=line[index + 1 : close])
    end = index
    while end < len(line) and line[end] not in _UNQUOTED_STOP:
        end += 1
    if end < len(line) and line[end] in "<>":
        end += 1
        while end < len(line) and line[end] not in " \t;&|()'\"\\`$":
            end += 1
    elif end < len(line) and line[end] in "'\"\\`$":
        return None
    if end == index:
        return None
    return _Word(start=index, end=end, quote="", text=line[index:end])


class _ShellEditor(_Editor):
    """Exact pins in place of the package words of install commands. Hashes cannot go on a
    command line, so RP103 there is left for a hashed requirements file."""

    def run(
        self, resolver: Resolver, locks: _Locks, progress: Progress | None
    ) -> tuple[FileFix | None, list[Unfixed]]:
        text = self.read()
        if text is None:
            return None, self.unfixed
        lines = re.split(r"(?<=\n)", text)
        needs: list[_Need] = []
        words: dict[int, _Word] = {}
        for f in self.findings:
            if f.rule == "RP103":
                self.skip(f, _COMMAND_LINE_HASH)
                continue
            line_index = f.location.line - 1
            line = lines[line_index] if 0 <= line_index < len(lines) else ""
            word = _word_at(_body(line), f.location.column - 1)
            spec = self._spec(word)
            if word is None or spec is None or spec.name != f.subject:
                self.skip(f, "the requirement is not a plain word at the reported place")
                continue
            if spec.env_vars or spec.kind not in (SpecKind.RANGE, SpecKind.UNPINNED):
                self.skip(f, "the requirement is not a version range")
                continue
            needs.append(_Need(finding=f, spec=spec))
            words[id(f)] = word
        self.choose_versions(needs)
        ready, _ = self.resolve(
            needs, resolver, constraints=locks.constraints(self.path), progress=progress
        )
        fixed: list[Finding] = []
        order = sorted(
            ready, key=lambda n: (n.finding.location.line, n.finding.location.column), reverse=True
        )
        for need in order:
            assert need.version is not None  # noqa: S101 - only ready needs are edited
            word = words[id(need.finding)]
            index = need.finding.location.line - 1
            line = lines[index]
            new = self._pinned(word, need)
            if new is None:
                self.skip(need.finding, "cannot write the pin without quoting it")
                continue
            lines[index] = line[: word.start] + new + line[word.end :]
            fixed.append(need.finding)
            if progress is not None:
                progress(
                    f"{self.path}:{index + 1}: {need.spec.name}=={need.version} "
                    f"(from {need.origin})"
                )
        return self.result(text, "".join(lines), fixed), self.unfixed

    @staticmethod
    def _spec(word: _Word | None) -> Spec | None:
        if word is None:
            return None
        try:
            return classify(word.text)
        except SpecError:
            return None

    @staticmethod
    def _pinned(word: _Word, need: _Need) -> str | None:
        assert need.version is not None  # noqa: S101 - only ready needs are edited
        pinned = pin_requirement(word.text, need.version)
        if pinned is None:
            return None
        try:
            written = classify(pinned)
        except SpecError:
            return None
        if not _same_pin(written, need.spec, need.version):
            return None
        if not word.quote:
            return pinned if _SAFE_UNQUOTED.match(pinned) else None
        if word.quote in pinned or (word.quote == '"' and any(c in pinned for c in "\\$`")):
            return None
        return f"{word.quote}{pinned}{word.quote}"


__all__ = [
    "FIXED_RULES",
    "FileFix",
    "FixResult",
    "PipCompile",
    "ResolveError",
    "Resolved",
    "Resolver",
    "Unfixed",
    "pin_requirement",
    "plan_fix",
    "run_fix",
    "unified_diff",
]
