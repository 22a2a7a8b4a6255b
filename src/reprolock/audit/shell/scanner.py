"""Auditing shell text wherever it is written (:func:`audit_shell`), and the scanner of shell
script files."""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reprolock.audit import slotted
from reprolock.audit.budget import ExpansionBudget
from reprolock.audit.interface import (
    FileFacts,
    Include,
    Pin,
    Role,
    ScanContext,
    Scanner,
    SourceFile,
)
from reprolock.audit.shell import fetch, installers, models, vcs
from reprolock.audit.shell.analyzer import (
    BUILTINS,
    TEXT_GEOMETRY,
    WRAPPERS,
    Analyzer,
    Clone,
    Commands,
    Download,
    Geometry,
    Locator,
    ShellAudit,
    TextGeometry,
    Unplaced,
    ask,
)
from reprolock.audit.shell.syntax import Problem, Script, parse
from reprolock.files import is_inside
from reprolock.model import Finding
from reprolock.rules import finding

COMMANDS = Commands(
    handlers={
        **BUILTINS,
        **fetch.HANDLERS,
        **installers.HANDLERS,
        **models.HANDLERS,
        **vcs.HANDLERS,
    },
    wrappers={**WRAPPERS, **installers.WRAPPERS},
    fallback=fetch.run_program,
    environment=installers.environment,
    observers=(vcs.observe,),
)
"""Every program the analyzer knows."""


# One of each per piece of shell text audited (every RUN line, CI step, recipe): made without
# the frozen dataclasses' keyword __init__ (what it makes is equal: a test compares).
_GEOMETRY = slotted.constructor(Geometry)
_SHELL_AUDIT = slotted.constructor(ShellAudit)


class ShellCollector:
    """What a scanner of a file with shell text in it (a workflow, a GitLab pipeline) keeps of
    each piece: findings through its own :meth:`add`, the installs as facts of the file."""

    pins: dict[Pin, None]
    includes: dict[Include, None]
    indexes: dict[str, None]
    installs: bool

    def add(self, found: Finding) -> None:
        raise NotImplementedError

    def merge(self, audit: ShellAudit, *, findings: bool = True) -> None:
        """Keep ``audit``'s installs as facts, and its findings unless ``findings`` is False
        (a caller that reports them its own way)."""
        if findings:
            for found in audit.findings:
                self.add(found)
        for pin in audit.pins:
            self.pins.setdefault(pin, None)
        for include in audit.includes:
            self.includes.setdefault(include, None)
        for index in audit.indexes:
            self.indexes.setdefault(index, None)
        self.installs |= audit.installs_python


def audit_shell(
    script: str,
    source: SourceFile,
    ctx: ScanContext,
    *,
    first_line: int = 1,
    line_map: Sequence[int] | None = None,
    column_map: Sequence[int] | None = None,
    column_offsets: Sequence[Sequence[int]] | None = None,
    variables: Mapping[str, str | None] | None = None,
    locate: Locator | None = None,
    downloaded: Sequence[Download] = (),
    cloned: Sequence[Clone] = (),
    container: bool = False,
    report_syntax: bool = True,
    budget: ExpansionBudget | None = None,
) -> ShellAudit:
    """Audit shell text embedded in ``source``. Line i (0-based) of ``script`` is file line
    ``line_map[i]`` when given, else ``first_line + i``.

    ``column_map[i]`` is the file column where script line i starts (default 1);
    ``column_offsets[i][c]``, when given, is the 0-based offset from ``column_map[i]`` where
    character c of script line i was written (for text rewritten before the shell sees it:
    make variables, exec-form JSON).
    ``cloned`` are repositories cloned at a moving ref by earlier text (as ``downloaded``).
    ``variables`` are known before the text runs (Dockerfile ``ARG``/``ENV``); None marks a
    variable whose value is decided at run time. ``locate`` resolves ``-r FILE`` arguments
    (default: relative to ``source``'s directory, then to the root). ``container`` says the
    text runs in an image build, where absolute and relative paths name the image's files.
    ``report_syntax`` False (PowerShell or cmd text) reports no shell syntax errors.
    ``budget`` bounds variable expansion and loop unrolling; pass the file's own when it holds
    several pieces of shell text (one RP002 note per file, and its caller adds it). Without
    one, the text gets its own budget and its note is among the findings returned.
    """
    # The audit's require_hashes decides whether an exact pin is reported (RP103): the one
    # setting an analysis may read and still be placed in other files (of this audit).
    key = (script, container, ctx.config.require_hashes)
    known = _OWN.get(key) if placing and not downloaded and not cloned else _NOT_OWN
    if isinstance(known, _Placeable) and known.unplaced is not None:
        # Nothing of it is placed in a file: no finding, pin, question or syntax note.
        _OWN_HITS[0] += 1
        return known.unplaced
    geometry = _GEOMETRY(
        first_line=first_line,
        line_map=line_map,
        column_map=column_map,
        column_offsets=column_offsets,
    )
    own_budget = budget if budget is not None else ExpansionBudget()
    tree, problems = _parsed(script) if len(script) <= _MEMO_CHARS else _parse(script)
    findings, pins, rest = _analyse(
        tree,
        source,
        ctx,
        geometry,
        key=key,
        known=known,
        problems=problems,
        variables=variables,
        locate=locate,
        downloaded=downloaded,
        cloned=cloned,
        container=container,
        budget=own_budget,
    )
    if report_syntax and problems:
        # The shell is the judge of shell text, not this reader: what it cannot follow is a
        # note, and reading went on past it (RP001 is for a file its own tool rejects).
        first = problems[0]
        loc = geometry.location(source, first.line, first.column)
        message = f"shell text not understood: {first.message}; the rest is audited"
        findings.append(finding("RP002", message, loc))
    if budget is None:
        note = own_budget.note()
        if note is not None:
            findings.append(note)
    # Most texts find nothing or one thing: nothing to sort or repeat (hashing a finding
    # hashes its location).
    return _SHELL_AUDIT(
        findings=tuple(sorted(dict.fromkeys(findings), key=_sort_key))
        if len(findings) > 1
        else tuple(findings),
        pins=tuple(dict.fromkeys(pins)) if len(pins) > 1 else tuple(pins),
        includes=rest.includes,
        indexes=rest.indexes,
        installs_python=rest.installs_python,
        downloads=rest.downloads,
        clones=rest.clones,
    )


def _sort_key(found: Finding) -> tuple[str, int, int, str, str]:
    return found.sort_key


def _analyse(
    tree: Script,
    source: SourceFile,
    ctx: ScanContext,
    geometry: Geometry,
    *,
    key: tuple[str, bool, bool],
    known: _Placeable | _Mark | None,
    problems: Sequence[Problem],
    variables: Mapping[str, str | None] | None,
    locate: Locator | None,
    downloaded: Sequence[Download],
    cloned: Sequence[Clone],
    container: bool,
    budget: ExpansionBudget,
) -> tuple[list[Finding], list[Pin], ShellAudit]:
    """The analyzer's findings and pins (in the order found, before the file's own notes) and
    the rest of its result; from :data:`_OWN` when the text was analysed before and its
    analysis read nothing but the text (``known``: what :data:`_OWN` holds under ``key``,
    :data:`_NOT_OWN` when the text is not to be placed)."""
    locator = locate or _default_locator(source, ctx)
    if known is _SEEN:
        # The second time a text comes: analysed once more in its own positions, to be placed
        # in this file and every later one.
        known = _placeable(tree, source, ctx, locator, container, clean=not problems) or _NOT_OWN
        _remember(key, known)
    if isinstance(known, _Placeable):
        placed = known.placed(geometry, source, ctx, locator)
        if placed is not None:
            _OWN_HITS[0] += 1
            return placed
    analyzer = Analyzer(
        source=source,
        ctx=ctx,
        geometry=geometry,
        variables=variables if variables is not None else {},
        locate=locator,
        downloaded=downloaded,
        cloned=cloned,
        container=container,
        budget=budget,
        commands=COMMANDS,
    )
    analyzer.run(tree)
    if known is None:
        _remember(key, _SEEN if analyzer.own else _NOT_OWN)
    rest = _SHELL_AUDIT(
        includes=tuple(dict.fromkeys(analyzer.includes)),
        indexes=tuple(dict.fromkeys(analyzer.indexes)),
        installs_python=analyzer.installs_python,
        downloads=tuple(analyzer.downloads),
        clones=tuple(analyzer.clones),
    )
    return analyzer.findings, analyzer.pins, rest


@dataclass(frozen=True, kw_only=True, slots=True)
class _Placeable:
    """An analysis that read nothing but its text and the answers of its questions
    (:meth:`Analyzer.repository_file`), in the text's own positions."""

    findings: tuple[Finding, ...]
    pins: tuple[Pin, ...]
    questions: tuple[tuple[str, bool, bool], ...]
    """``(written, discovered, answered)``: each question, and whether a file answered it."""
    includes: tuple[tuple[int, int, bool], ...]
    """``(question, line, constraint)``: each include, by the question that found its file."""
    indexes: tuple[str, ...]
    installs_python: bool
    unplaced: ShellAudit | None = None
    """The audit of the text in any file, when nothing in it is placed there (no finding, pin
    or question, and the shell read it without a problem)."""

    def placed(
        self, geometry: Geometry, source: SourceFile, ctx: ScanContext, locate: Locator
    ) -> tuple[list[Finding], list[Pin], ShellAudit] | None:
        """The analysis in ``source`` at ``geometry``; None when a question is answered there
        where it was not (or the other way), which takes the analysis another way."""
        answers: list[str | None] = []
        for written, discovered, answered in self.questions:
            target = ask(locate, ctx, written, discovered=discovered)
            if (target is not None) != answered:
                return None
            answers.append(target)
        if answers and not _distinct(answers):
            return None
        place = TextGeometry.place
        # Built afresh rather than by dataclasses.replace (which looks up every field by name):
        # the fingerprint names the file.
        findings = [
            Finding(
                rule=f.rule,
                severity=f.severity,
                message=f.message,
                location=place(f.location, geometry, source),
                subject=f.subject,
                fix=f.fix,
            )
            for f in self.findings
        ]
        pins = [
            Pin(name=p.name, version=p.version, line=geometry.line(p.line - 1), hashed=p.hashed)
            for p in self.pins
        ]
        includes = [
            Include(target=str(answers[question]), line=geometry.line(line - 1), constraint=c)
            for question, line, c in self.includes
        ]
        rest = _SHELL_AUDIT(
            includes=tuple(dict.fromkeys(includes)),
            indexes=self.indexes,
            installs_python=self.installs_python,
        )
        return findings, pins, rest


def _distinct(answers: Sequence[str | None]) -> bool:
    """No two questions found the same file (an include names its question by its file)."""
    found = [a for a in answers if a is not None]
    return len(set(found)) == len(found)


def _placeable(
    tree: Script,
    source: SourceFile,
    ctx: ScanContext,
    locate: Locator,
    container: bool,
    *,
    clean: bool,
) -> _Placeable | None:
    analyzer = Analyzer(
        source=source,
        ctx=ctx,
        geometry=TEXT_GEOMETRY,
        variables={},
        locate=locate,
        downloaded=(),
        cloned=(),
        container=container,
        budget=ExpansionBudget(),
        commands=COMMANDS,
    )
    try:
        analyzer.run(tree)
    except Unplaced:
        return None
    answers = [answer for _, _, answer in analyzer.looked_up]
    if not analyzer.own or not _distinct(answers):
        return None
    includes = []
    for include in analyzer.includes:
        if include.target not in answers:  # pragma: no cover - every include is an answer
            return None
        includes.append((answers.index(include.target), include.line, include.constraint))
    indexes = tuple(dict.fromkeys(analyzer.indexes))
    unplaced = None
    if clean and not analyzer.findings and not analyzer.pins and not analyzer.looked_up:
        unplaced = ShellAudit(indexes=indexes, installs_python=analyzer.installs_python)
    return _Placeable(
        findings=tuple(analyzer.findings),
        pins=tuple(analyzer.pins),
        questions=tuple((w, d, a is not None) for w, d, a in analyzer.looked_up),
        includes=tuple(includes),
        indexes=indexes,
        installs_python=analyzer.installs_python,
        unplaced=unplaced,
    )


class _Mark:
    """What :data:`_OWN` knows of a text besides its analysis."""


_SEEN = _Mark()
"""Analysed once, reading nothing but the text."""
_NOT_OWN = _Mark()
"""Its analysis reads the file's variables, files or budget."""
_OWN: dict[tuple[str, bool, bool], _Placeable | _Mark] = {}
"""By text, ``container`` and the audit's ``require_hashes``. Only a text that comes again is
analysed in its own positions (a second time); most text in a hand-written file comes once."""
_OWN_HITS = [0]
"""Analyses placed from :data:`_OWN` (for tests)."""
placing = True
"""False: every text is analysed in its file (tests compare the two ways)."""
_OWN_MAX = 16384


def _remember(key: tuple[str, bool, bool], value: _Placeable | _Mark) -> None:
    if len(_OWN) >= _OWN_MAX:
        _OWN.clear()
    _OWN[key] = value


# RUN lines, CI steps and recipes repeat across a monorepo's Dockerfiles and workflows
# (``apt-get update && ...``, ``pip install --no-deps .``): each text is read once. A tree is
# never changed once read, and its positions are the text's own (``Geometry`` places them in
# the file), so one tree serves every file the text is in.
_MEMO_CHARS = 4096


def _parse(script: str) -> tuple[Script, tuple[Problem, ...]]:
    errors: list[Problem] = []
    tree = parse(script, errors)
    return tree, tuple(errors)


_parsed = functools.lru_cache(maxsize=2048)(_parse)


def _default_locator(source: SourceFile, ctx: ScanContext) -> Locator:
    """Relative to the file's directory, then to the root (a script usually runs from either)."""

    def locate(written: str) -> str | None:
        if written.startswith(("/", "~", "$")):
            return None
        bases = [source.parent, ""] if source.parent else [""]
        for base in bases:
            found = repo_file(ctx, posixpath.join(base, written) if base else written)
            if found is not None:
                return found
        return None

    return locate


def repo_file(ctx: ScanContext, relative: str) -> str | None:
    """``relative`` normalised, when it names a file inside the audited root."""
    path = posixpath.normpath(relative)
    if path.startswith(("../", "/")) or path in {"..", "."}:
        return None
    if path in ctx.files:
        return path
    if not os.path.lexists(os.path.join(ctx.root, path)):
        # Most paths a command names are not files here (written by an earlier step, in
        # another checkout): nothing to resolve. Nothing that is not there is a file either.
        return None
    if not is_inside(ctx.root, path):  # outside through a symlink, a loop, a name too long
        return None
    try:
        return path if (ctx.root / path).is_file() else None
    except (OSError, ValueError):
        return None


_SCRIPT_DIRS = frozenset({"scripts", "script", "bin", "ci", ".ci", "tools", "hack"})
_SCRIPT_NAMES = ("script-", "install", "setup", "entrypoint", "build")
_SHEBANG_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh"})


def shell_shebang(text: str) -> bool | None:
    """True for a shell shebang, False for another interpreter's, None when there is none."""
    first = text.split("\n", 1)[0].strip()
    if not first.startswith("#!"):
        return None
    parts = first[2:].split()
    if not parts:
        return False
    program = parts[0].rsplit("/", 1)[-1]
    if program == "env":
        rest = [p for p in parts[1:] if not p.startswith("-")]
        program = rest[0].rsplit("/", 1)[-1] if rest else ""
    return program in _SHEBANG_SHELLS


class ShellScriptScanner(Scanner):
    """``*.sh``, ``*.bash`` and extension-less scripts whose shebang names a POSIX shell."""

    name = "shell"
    extensions = frozenset({"sh", "bash", ""})

    def claims(self, relpath: str, filename: str) -> bool:
        lower = filename.lower()
        if lower.endswith((".sh", ".bash")):
            return True
        if "." in filename:
            return False
        directories = relpath.split("/")[:-1]
        return any(d in _SCRIPT_DIRS for d in directories) or lower.startswith(_SCRIPT_NAMES)

    def tentative(self, relpath: str) -> bool:
        # An extension-less file is claimed for its directory or name; only its shebang says
        # whether it is a shell script (a compiled binary under bin/ is not).
        return not relpath.lower().endswith((".sh", ".bash"))

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        shebang = shell_shebang(source.text)
        by_extension = source.name.lower().endswith((".sh", ".bash"))
        if shebang is False or (shebang is None and not by_extension):
            return FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        return shell_facts(source, self.name, [audit_shell(source.text, source, ctx)])


def shell_facts(
    source: SourceFile, kind: str, audits: Sequence[ShellAudit], notes: Sequence[Finding] = ()
) -> FileFacts:
    """The facts of a file made of pieces of shell text (a script, Makefile recipes)."""
    return FileFacts(
        path=source.path,
        kind=kind,
        role=Role.CONCRETE if any(a.installs_python for a in audits) else Role.OTHER,
        findings=(*(f for a in audits for f in a.findings), *notes),
        pins=tuple(p for a in audits for p in a.pins),
        includes=tuple(dict.fromkeys(i for a in audits for i in a.includes)),
        indexes=tuple(dict.fromkeys(x for a in audits for x in a.indexes)),
    )
