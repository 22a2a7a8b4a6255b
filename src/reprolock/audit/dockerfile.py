"""Dockerfile audit: base images, ADD downloads, and the shell commands of every RUN line."""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import posixpath
import re
import shlex
import stat
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

from reprolock.audit import slotted
from reprolock.audit.budget import MAX_VALUE_CHARS, ExpansionBudget
from reprolock.audit.images import judge_image, python_of_image
from reprolock.audit.interface import (
    FileFacts,
    ImageRef,
    Include,
    Pin,
    PythonVersion,
    Role,
    ScanContext,
    Scanner,
    Section,
    SourceFile,
)
from reprolock.audit.shell import (
    Clone,
    Download,
    audit_shell,
    immutable_url,
    repo_file,
    shell_shebang,
)
from reprolock.audit.shell.installers import is_remote
from reprolock.audit.shell.vcs import clone_finding, entered
from reprolock.model import Finding, Location
from reprolock.rules import finding


def _words(text: str) -> frozenset[str]:
    """A set written as a space-separated string."""
    return frozenset(text.split())


# =============================================================================================
# Reading the file as BuildKit does
# =============================================================================================


@dataclass(frozen=True, kw_only=True, slots=True)
class Part:
    """One physical line of an instruction, its escape character and newline removed."""

    line: int
    """File line (1-based)."""
    column: int
    """File column where ``text`` starts."""
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class HereDoc:
    """A here-document attached to a RUN, COPY or ADD instruction."""

    delimiter: str
    strip_tabs: bool
    """``<<-``: leading tabs are removed from the body and the terminator."""
    body: tuple[Part, ...]
    end_line: int
    """Line of the terminator (or of the last line when it is missing)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Instruction:
    """One instruction with its continuation lines and here-documents."""

    keyword: str
    """Upper-cased: ``RUN``, ``FROM`` ..."""
    line: int
    """Line of the keyword."""
    parts: tuple[Part, ...]
    """The text after the keyword, one entry per physical line (comment lines dropped)."""
    text: str
    """The instruction's arguments as BuildKit joins them: :func:`joined` ``parts``."""
    heredocs: tuple[HereDoc, ...] = ()


def joined(parts: Sequence[Part]) -> str:
    """The texts of ``parts``, one after the other."""
    if len(parts) == 1:
        return parts[0].text  # most instructions: one line
    return "".join([p.text for p in parts])


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedDockerfile:
    """The instructions of a Dockerfile, and the problems that stopped parts of it."""

    instructions: tuple[Instruction, ...] = ()
    problems: tuple[tuple[str, int], ...] = ()
    """``(message, line)`` of each parse problem."""
    escape: str = "\\"


# Every line of every Dockerfile read makes a Part, every instruction an Instruction: made from
# their fields in order, without the frozen dataclasses' keyword __init__ (a test compares).
_PART: Callable[[int, int, str], Part] = slotted.builder(Part)
_INSTRUCTION: Callable[[str, int, tuple[Part, ...], str, tuple[HereDoc, ...]], Instruction] = (
    slotted.builder(Instruction)
)

_SECTION = slotted.constructor(Section)
_FILE_FACTS = slotted.constructor(FileFacts)

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC_MARKER = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_HEREDOC_INSTRUCTIONS = frozenset({"RUN", "COPY", "ADD"})
INSTRUCTIONS = _words(
    "FROM RUN CMD LABEL MAINTAINER EXPOSE ENV ADD COPY "
    "ENTRYPOINT VOLUME USER WORKDIR ARG ONBUILD STOPSIGNAL HEALTHCHECK SHELL"
)
"""Every instruction BuildKit knows."""


def parse_dockerfile(text: str) -> ParsedDockerfile:
    """Instructions as BuildKit reads them: parser directives, the active escape character,
    continuation lines (comment and empty lines inside them dropped) and here-documents."""
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.rstrip("\r") for line in lines]
    problems: list[tuple[str, int]] = []
    escape = "\\"
    index = 0
    seen: set[str] = set()
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index].strip())
        if match is None or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            break
        name, value = match.group(1).lower(), match.group(2)
        if name in seen:
            problems.append((f"only one {name} parser directive can be used", index + 1))
        seen.add(name)
        if name == "escape":
            if value in {"\\", "`"}:
                escape = value
            else:
                problems.append((f"invalid escape directive {value!r}: use \\ or `", index + 1))
        index += 1
    instructions: list[Instruction] = []
    count = len(lines)
    part, instruction = _PART, _INSTRUCTION
    while index < count:
        raw = lines[index]
        index += 1
        content = raw.lstrip()
        if not content or content[0] == "#":
            continue  # blank, or a comment
        number = index
        # the keyword, then its arguments after the blanks that follow it (str.split and
        # str.lstrip take the blanks a regular expression's \s takes: a test compares)
        words = content.split(None, 1)
        keyword = words[0]
        start = len(raw) - len(words[1]) if len(words) == 2 else len(raw)
        text = raw[start:]
        end = text.rstrip(" \t")
        more = end.endswith(escape)
        parts = [part(number, start + 1, end[:-1] if more else text)]
        while more and index < count:
            following = lines[index]
            index += 1
            content = following.lstrip()
            if not content or content[0] == "#":
                continue
            end = following.rstrip(" \t")
            more = end.endswith(escape)
            parts.append(part(index, 1, end[:-1] if more else following))
        upper = keyword.upper()
        arguments = parts[0].text if len(parts) == 1 else "".join([p.text for p in parts])
        heredocs: tuple[HereDoc, ...] = ()
        if "<<" in arguments and (
            upper in _HEREDOC_INSTRUCTIONS or (upper == "ONBUILD" and _onbuild_heredoc(parts))
        ):
            heredocs, index = _heredocs(arguments, lines, index, number, problems)
        instructions.append(instruction(upper, number, tuple(parts), arguments, heredocs))
    return ParsedDockerfile(
        instructions=tuple(instructions), problems=tuple(problems), escape=escape
    )


def _heredocs(
    arguments: str, lines: Sequence[str], index: int, number: int, problems: list[tuple[str, int]]
) -> tuple[tuple[HereDoc, ...], int]:
    """The here-documents ``arguments`` (of the instruction at line ``number``) opens, read
    from ``lines[index:]``, and the index of the line after them."""
    heredocs: list[HereDoc] = []
    for strip_tabs, delimiter in heredoc_markers(arguments):
        body: list[Part] = []
        end = None
        while index < len(lines):
            line = lines[index]
            index += 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                end = index
                break
            body.append(_PART(index, 1, line))
        if end is None:
            problems.append((f"here-document <<{delimiter} is not terminated", number))
        heredocs.append(
            HereDoc(
                delimiter=delimiter,
                strip_tabs=strip_tabs,
                body=tuple(body),
                end_line=end or len(lines),
            )
        )
    return tuple(heredocs), index


# Quotes, backslashes and unusual whitespace are where shlex and str.split differ.
_NEEDS_SHLEX = re.compile(r"['\"\\]|[^\S \t\r\n]")


def _split_words(text: str) -> list[str]:
    """``shlex.split(text, posix=True)``, without its per-character cost when nothing needs
    quoting rules (most instructions)."""
    return shlex.split(text, posix=True) if _NEEDS_SHLEX.search(text) else text.split()


def _onbuild_heredoc(parts: Sequence[Part]) -> bool:
    words = "".join(p.text for p in parts).split(None, 1)
    return bool(words) and words[0].upper() in _HEREDOC_INSTRUCTIONS


def heredoc_markers(text: str) -> list[tuple[bool, str]]:
    """``(strip_tabs, delimiter)`` of each here-document opened on a line, outside quotes."""
    out: list[tuple[bool, str]] = []
    if "<<" not in text:
        return out  # most lines: nothing to walk for
    quote = ""
    index = 0
    while index < len(text):
        ch = text[index]
        if quote:
            if ch == "\\" and quote == '"':
                index += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            index += 2
            continue
        elif text.startswith("<<", index) and not text.startswith("<<<", index):
            match = _HEREDOC_MARKER.match(text, index)
            if match is not None:
                out.append((match.group(1) == "-", match.group(3)))
                index = match.end()
                continue
            index += 2
            continue
        index += 1
    return out


# =============================================================================================
# Variables, images
# =============================================================================================

_VARIABLE = re.compile(
    r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)
_PREDEFINED_ARGS = (
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
)


def substitute(
    text: str, variables: Mapping[str, str | None], budget: ExpansionBudget | None = None
) -> tuple[str, list[str]]:
    """Dockerfile variable substitution; unknown variables stay as ``${NAME}`` and are listed.

    ``variables`` maps a declared name to its value, or to None when the value is decided by
    the build command (``ARG NAME`` with no default). A value that ``budget`` refuses (too
    long: each ``ARG`` may double the one before) stays ``${NAME}`` and is listed too.
    """
    if "$" not in text:
        return text, []  # most words: nothing to substitute (every form starts with a $)
    unresolved: list[str] = []

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        name = match.group(1) or match.group(4)
        op, word = match.group(2), match.group(3) or ""
        value = variables.get(name)
        if op in {":-", "-"}:
            if value:
                return _charged(name, value, budget, unresolved)
            inner, missing = substitute(word, variables, budget)
            unresolved.extend(missing)
            return inner
        if op in {":+", "+"}:
            if value is None and name in variables:
                unresolved.append(name)
                return "${" + name + "}"
            if not value:
                return ""
            inner, missing = substitute(word, variables, budget)
            unresolved.extend(missing)
            return inner
        if value is None:
            unresolved.append(name)
            return "${" + name + "}"
        return _charged(name, value, budget, unresolved)

    return _VARIABLE.sub(one, text), unresolved


def _charged(name: str, value: str, budget: ExpansionBudget | None, unresolved: list[str]) -> str:
    if budget is None or budget.value(value):
        return value
    unresolved.append(name)
    return "${" + name + "}"


def _windows_image(ref: str) -> bool:
    lower = ref.lower()
    return any(word in lower for word in ("windows", "servercore", "nanoserver"))


# =============================================================================================
# The scanner
# =============================================================================================


@dataclass(kw_only=True, slots=True)
class _Copy:
    """A ``COPY``/``ADD`` from the build context into the image."""

    sources: tuple[str, ...]
    dest: str
    """Absolute path in the image."""
    into_dir: bool


@dataclass(kw_only=True, slots=True)
class _Stage:
    """What a build stage has accumulated: its variables, files and shell."""

    name: str = ""
    args: dict[str, str | None] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)
    workdir: str = "/"
    copies: list[_Copy] = field(default_factory=list)
    downloads: list[Download] = field(default_factory=list)
    clones: list[Clone] = field(default_factory=list)
    """Repositories cloned at a moving ref and not used yet, by absolute path in the image."""
    posix: bool = True
    _view: ChainMap[str, str | None] | None = field(default=None, repr=False, compare=False)

    @property
    def variables(self) -> Mapping[str, str | None]:
        """What ``$NAME`` means in this stage (ENV wins over ARG, as in Docker); a view, not
        a copy: a stage of thousands of ARGs would otherwise be copied once per instruction.
        One view serves the stage throughout: ``env`` and ``args`` change in place."""
        if self._view is None:
            self._view = ChainMap(self.env, self.args)
        return self._view

    def inherit(self, name: str) -> _Stage:
        """A stage built ``FROM`` this one: ENV, files and shell carry over; ARGs do not."""
        return _Stage(
            name=name,
            env=dict(self.env),
            workdir=self.workdir,
            copies=list(self.copies),
            downloads=list(self.downloads),
            clones=list(self.clones),
            posix=self.posix,
        )


# Patterns read per instruction, compiled once (re's own cache is a look-up per call).
_FIRST_WORD = re.compile(r"\s*(\S+)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_MOUNT_FROM = re.compile(r"(?:^|,)from=([^,]+)")
_JSON_START = re.compile(r"^\s*\[\s*\"")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MARKER = re.compile(r"<<-?(['\"]?)[A-Za-z_][A-Za-z0-9_]*\1")
_GIT_URL = re.compile(r"^(?:https?|ssh)://")
_FLAG = re.compile(r"\s*--([A-Za-z][A-Za-z0-9-]*)(?:=(\"[^\"]*\"|'[^']*'|\S*))?")
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash"})
_EXEC_OPERATORS = frozenset(
    {"&&", "||", "|", ";", "&", ">", ">>", "<", "2>&1", "2>", "&>", "|&", "1>", ">&2"}
)


def _read_flags(text: str) -> tuple[dict[str, str], str, int]:
    """:meth:`_Audit.flags`, read flag by flag."""
    found: dict[str, str] = {}
    offset = 0
    while True:
        match = _FLAG.match(text, offset)
        if match is None:
            break
        found.setdefault(match.group(1).lower(), (match.group(2) or "").strip("'\""))
        offset = match.end()
    rest = text[offset:]
    skipped = len(rest) - len(rest.lstrip())
    return found, rest.lstrip(), offset + skipped


class _Audit:
    """Walks a Dockerfile's instructions, keeping stages, ARGs and copies in order."""

    def __init__(self, source: SourceFile, ctx: ScanContext) -> None:
        self.source = source
        self.ctx = ctx
        self.parent = source.parent
        self.findings: list[Finding] = []
        self.pins: list[Pin] = []
        self.includes: list[Include] = []
        self.indexes: list[str] = []
        self.images: list[ImageRef] = []
        self.pythons: list[PythonVersion] = []
        self.stage_heads: list[tuple[str, int, str, tuple[str, ...]]] = []
        """``(name, line, parent, labels)`` of each stage, one per ``FROM``; each ends where
        the next begins (:meth:`sections`)."""
        self.installs_python = False
        self.global_args: dict[str, str | None] = dict.fromkeys(_PREDEFINED_ARGS)
        self.stages: dict[str, _Stage] = {}
        self.stage_count = 0
        self.stage = _Stage()
        self.seen_from = False
        self.budget = ExpansionBudget(source.path)
        self.context_dirs: dict[str, bool] = {}
        """:meth:`_context_dir` of each copied source asked about (each stage that installs
        from a copy asks again)."""
        self.context_files: dict[str, str | None] = {}
        """:meth:`_context_file` of each context path asked about, as :attr:`context_dirs`."""
        self.over_budget: set[str] = set()
        """Variables unknown only because their value passed the budget."""

    # --- helpers -----------------------------------------------------------------------------

    def substitute(
        self, text: str, variables: Mapping[str, str | None], line: int, assigns: str = ""
    ) -> tuple[str, list[str]]:
        """:func:`substitute` within this file's budget; a refusal is noted at ``line``, and
        the variable it ``assigns`` remembered as unknown for that reason."""
        if "$" not in text:
            return text, []  # nothing to substitute, nothing charged to the budget
        refused = self.budget.refused
        value, missing = substitute(text, variables, self.budget)
        if assigns and (self.budget.refused != refused or self.over_budget.intersection(missing)):
            self.over_budget.add(assigns)
        if self.budget.refused != refused:
            self.budget.refuse(
                self.source.at(line),
                f"a variable's value passes {MAX_VALUE_CHARS // 1024} KiB or the file's "
                "expansion budget and is not expanded; what uses it is audited as written",
            )
        return value, missing

    def problem(self, message: str, line: int, column: int = 1) -> None:
        self.findings.append(finding("RP001", message, self.source.at(line, column)))

    def words(self, instruction: Instruction) -> list[str] | None:
        try:
            return _split_words(instruction.text)
        except ValueError as exc:
            self.problem(f"{instruction.keyword}: {exc}", instruction.line)
            return None

    @staticmethod
    def flags(text: str) -> tuple[dict[str, str], str, int]:
        """Leading ``--name=value`` flags, the rest of the text, and where the rest starts."""
        head = text.lstrip()
        if not head.startswith("--"):
            return {}, head, len(text) - len(head)  # no flags (most instructions)
        return _read_flags(text)

    def position(self, instruction: Instruction, offset: int) -> tuple[int, int]:
        """File line and column of ``offset`` in ``instruction.text``."""
        for part in instruction.parts:
            if offset <= len(part.text):
                return part.line, part.column + offset
            offset -= len(part.text)
        last = instruction.parts[-1]
        return last.line, last.column

    # --- instructions ------------------------------------------------------------------------

    def run(self, parsed: ParsedDockerfile) -> None:
        for message, line in parsed.problems:
            self.problem(message, line)
        for instruction in parsed.instructions:
            self.instruction(instruction)

    def sections(self, last_line: int) -> tuple[Section, ...]:
        """The stages as :class:`Section` objects, each ending where the next begins."""
        heads = self.stage_heads
        if not heads:
            return ()
        ends = [line - 1 for _, line, _, _ in heads[1:]] + [max(last_line, 1)]
        return tuple(
            _SECTION(
                kind="stage",
                name=name,
                start=line,
                end=max(end, line),
                parent=parent,
                labels=labels,
            )
            for (name, line, parent, labels), end in zip(heads, ends, strict=True)
        )

    def instruction(self, instruction: Instruction, *, onbuild: bool = False) -> None:
        keyword = instruction.keyword
        if keyword not in INSTRUCTIONS:
            written = instruction.keyword
            self.problem(f"unknown instruction {written}", instruction.line)
            return
        if not instruction.text.strip() and not instruction.heredocs:
            if keyword not in {"ONBUILD"}:
                self.problem(f"{keyword} needs arguments", instruction.line)
            return
        if keyword == "FROM":
            self.from_(instruction)
        elif keyword == "ARG":
            self.arg(instruction)
        elif keyword == "ENV":
            self.env(instruction)
        elif keyword in {"RUN", "CMD", "ENTRYPOINT"}:
            self.run_(instruction, onbuild=onbuild)
        elif keyword in {"COPY", "ADD"}:
            self.copy(instruction, onbuild=onbuild)
        elif keyword == "WORKDIR":
            value, _ = self.substitute(
                instruction.text.strip().strip("'\""), self.stage.variables, instruction.line
            )
            self.stage.workdir = _image_path(self.stage.workdir, value)
            clone = entered(self.stage.clones, self.stage.workdir)
            if clone is not None and not onbuild:
                self.stage.clones.remove(clone)
                found = clone_finding(
                    clone, "entered by WORKDIR", instruction.line, self.source.path
                )
                self.findings.append(found)
        elif keyword == "SHELL":
            self.shell(instruction)
        elif keyword == "ONBUILD":
            self.onbuild(instruction)

    def onbuild(self, instruction: Instruction) -> None:
        text = instruction.text
        match = _FIRST_WORD.match(text)
        if match is None:
            return
        inner = match.group(1).upper()
        if inner in {"ONBUILD", "FROM", "MAINTAINER"}:
            self.problem(f"ONBUILD cannot trigger {inner}", instruction.line)
            return
        skip = match.end()
        parts: list[Part] = []
        for part in instruction.parts:
            if skip >= len(part.text):
                skip -= len(part.text)
                continue
            parts.append(Part(line=part.line, column=part.column + skip, text=part.text[skip:]))
            skip = 0
        nested_parts = tuple(parts) or (Part(line=instruction.line, column=1, text=""),)
        nested = Instruction(
            keyword=inner,
            line=instruction.line,
            parts=nested_parts,
            text=joined(nested_parts),
            heredocs=instruction.heredocs,
        )
        self.instruction(nested, onbuild=True)

    def arg(self, instruction: Instruction) -> None:
        words = self.words(instruction)
        for word in words or ():
            name, eq, default = word.partition("=")
            if not _NAME.fullmatch(name):
                self.problem(f"ARG: invalid name {name!r}", instruction.line)
                continue
            if not self.seen_from:
                value, missing = (
                    self.substitute(default, self.global_args, instruction.line, name)
                    if eq
                    else ("", [])
                )
                self.global_args[name] = value if eq and not missing else None
                continue
            if eq:
                value, missing = self.substitute(
                    default, self.stage.variables, instruction.line, name
                )
                self.stage.args[name] = None if missing else value
            else:
                self.stage.args[name] = self.global_args.get(name)

    def env(self, instruction: Instruction) -> None:
        words = self.words(instruction)
        if not words:
            return
        pairs: list[tuple[str, str]] = []
        if "=" in words[0]:
            for word in words:
                name, _, value = word.partition("=")
                pairs.append((name, value))
        else:
            pairs.append((words[0], " ".join(words[1:])))
        for name, value in pairs:
            resolved, missing = self.substitute(value, self.stage.variables, instruction.line, name)
            self.stage.env[name] = None if missing else resolved

    def shell(self, instruction: Instruction) -> None:
        try:
            argv = json.loads(instruction.text)
        except ValueError:
            self.problem("SHELL must be a JSON array of strings", instruction.line)
            return
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            self.problem("SHELL must be a JSON array of strings", instruction.line)
            return
        program = argv[0].replace("\\", "/").rsplit("/", 1)[-1].lower().removesuffix(".exe")
        self.stage.posix = program in _SHELLS

    # --- FROM --------------------------------------------------------------------------------

    def from_(self, instruction: Instruction) -> None:
        self.seen_from = True
        flags, rest, offset = self.flags(instruction.text)
        words = rest.split()
        if not words:
            self.problem("FROM needs an image", instruction.line)
            return
        alias = ""
        if len(words) == 3 and words[1].lower() == "as":
            alias = words[2].lower()
        elif len(words) != 1:
            self.problem("FROM takes an image and optionally AS <name>", instruction.line)
        written = words[0]
        line, column = self.position(instruction, offset)
        refused = self.budget.refused
        resolved, missing = self.substitute(written, self.global_args, instruction.line)
        parent = self._stage_named(resolved, missing)
        self.stage_count += 1
        self._section(instruction.line, alias, parent, flags.get("platform", ""))
        if parent is not None:
            self.stage = parent.inherit(alias)
        else:
            self.stage = _Stage(name=alias, posix=not _windows_image(resolved))
            # An image name of megabytes is not judged: "has no default" would be false.
            if self.budget.refused == refused and not self.over_budget.intersection(missing):
                self.judge_image(written, resolved, missing, line, column, base=True)
        for key in (alias, str(self.stage_count - 1)):
            if key:
                self.stages[key] = self.stage
        del flags

    def _section(self, line: int, alias: str, parent: _Stage | None, platform: str) -> None:
        """The stage as a :class:`Section`; its end is set once the next stage begins."""
        name = alias or str(self.stage_count - 1)
        built_on = ""
        if parent is not None:
            built_on = parent.name or next(
                (key for key, stage in self.stages.items() if stage is parent), ""
            )
        labels: tuple[str, ...] = ()
        if platform:
            resolved, missing = self.substitute(platform, self.global_args, line)
            labels = () if missing else tuple(p.strip().lower() for p in resolved.split(","))
        self.stage_heads.append((name, line, built_on, labels))

    def _stage_named(self, resolved: str, missing: Sequence[str]) -> _Stage | None:
        key = resolved.lower()
        if not missing:
            return self.stages.get(key) if not key.isdigit() else None
        pattern = _BRACED.sub("*", key)
        if not pattern.strip("*"):
            return None  # nothing but variables: the build command decides
        for name, stage in self.stages.items():
            if not name.isdigit() and fnmatch.fnmatchcase(name, pattern):
                return stage
        return None

    def judge_image(
        self,
        written: str,
        resolved: str,
        missing: Sequence[str],
        line: int,
        column: int,
        *,
        base: bool,
    ) -> None:
        """RP301/RP302 for the image at ``line`` and ``column``, and for a ``base`` image, the
        image and the Python it implies as facts."""
        if not _pinned_image(resolved, written, tuple(missing)):
            location = self.source.at(line, column)
            self.findings.extend(
                judge_image(resolved, location, written=written, unresolved=missing)
            )
        if not base or resolved.lower() == "scratch" or "$" in resolved.partition("@")[0]:
            return  # no image, or one the build command decides
        line = max(line, 1)  # where a location puts it
        self.images.append(ImageRef(ref=resolved, line=line))
        python = _python_of_image(resolved)
        if python is not None:
            self.pythons.append(PythonVersion(value=python, line=line, origin="base image"))

    def judge_from_flag(self, value: str, instruction: Instruction) -> None:
        """``COPY --from=X``/``RUN --mount=...,from=X``: a stage, or an image pulled for it."""
        if not value or value.isdigit():
            return
        resolved, missing = (
            self.substitute(
                value, ChainMap(self.global_args, self.stage.env, self.stage.args), instruction.line
            )
            if "$" in value
            else (value, [])  # a stage's name (most often): nothing to look up variables in
        )
        if self._stage_named(resolved, missing) is not None:
            return
        self.judge_image(value, resolved, missing, instruction.line, 1, base=False)

    # --- COPY / ADD --------------------------------------------------------------------------

    def copy(self, instruction: Instruction, *, onbuild: bool) -> None:
        flags, rest, _ = self.flags(instruction.text)
        if "from" in flags:
            self.judge_from_flag(flags["from"], instruction)
        arguments = self._copy_arguments(rest, instruction)
        if arguments is None or len(arguments) < 2:
            if arguments is not None and not instruction.heredocs:
                self.problem(
                    f"{instruction.keyword} needs a source and a destination", instruction.line
                )
            return
        variables = self.stage.variables
        sources = [self.substitute(s, variables, instruction.line)[0] for s in arguments[:-1]]
        dest = self.substitute(arguments[-1], variables, instruction.line)[0]
        if instruction.keyword == "ADD":
            for source in sources:
                self.judge_add(source, flags.get("checksum", ""), instruction)
        if "from" in flags or onbuild:
            return
        local = [s for s in sources if "://" not in s and not s.startswith(("git@", "<<"))]
        if local:
            target = _image_path(self.stage.workdir, dest)
            self.stage.copies.append(
                _Copy(
                    sources=tuple(local),
                    dest=target,
                    into_dir=dest.endswith("/") or len(sources) > 1 or dest in {".", "./"},
                )
            )

    def _copy_arguments(self, rest: str, instruction: Instruction) -> list[str] | None:
        if rest.lstrip().startswith("["):
            try:
                value = json.loads(rest)
            except ValueError:
                value = None
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return [str(v) for v in value]
        try:
            return _split_words(rest)
        except ValueError as exc:
            self.problem(f"{instruction.keyword}: {exc}", instruction.line)
            return None

    def judge_add(self, source: str, checksum: str, instruction: Instruction) -> None:
        location = self.source.at(instruction.line)
        if _is_git_source(source):
            repo, ref = _git_ref(source)
            commit = ref if ref and _COMMIT.fullmatch(ref) else None
            if commit is None and _COMMIT.fullmatch(checksum):
                commit = checksum
            if commit is not None:
                return
            fix = f"ADD {repo}#<40-hex commit> <dest>"
            if ref:
                message = f"ADD {source}: {ref!r} is a movable git reference"
            else:
                message = f"ADD {source} clones the default branch with no revision"
            self.findings.append(finding("RP104", message, location, subject=repo, fix=fix))
            return
        if not is_remote(source):
            return
        if checksum or immutable_url(source):
            return
        message = f"ADD {source} downloads without a checksum"
        fix = f"ADD --checksum=sha256:<hex> {source} <dest>"
        self.findings.append(finding("RP105", message, location, subject=source, fix=fix))

    # --- RUN ---------------------------------------------------------------------------------

    def run_(self, instruction: Instruction, *, onbuild: bool) -> None:
        text = instruction.text
        offset = 0
        if instruction.keyword == "RUN":
            flags, _, offset = self.flags(text)
            mount = flags.get("mount")
            if mount:
                for match in _MOUNT_FROM.finditer(mount):
                    self.judge_from_flag(match.group(1), instruction)
        parts = _after(instruction.parts, offset)
        body = joined(parts)
        if body.lstrip().startswith("["):
            argv = _json_argv(body)
            if argv is not None:
                self._exec_form(argv, parts, instruction, onbuild=onbuild)
                return
            if _JSON_START.match(body) and body.rstrip().endswith("]"):
                self.problem(
                    f"{instruction.keyword} looks like exec form but is not valid JSON; "
                    "Docker runs it as a shell command",
                    instruction.line,
                )
        if instruction.heredocs and not _without_markers(body).strip():
            # RUN <<EOF ... EOF: BuildKit runs the here-document itself as the script.
            for doc in instruction.heredocs:
                script = "\n".join(p.text for p in doc.body)
                if shell_shebang(script) is False:
                    continue
                self._audit(
                    script, [p.line for p in doc.body] or [instruction.line], None, onbuild=onbuild
                )
            return
        if len(parts) == 1 and not instruction.heredocs:
            # one line (most RUN lines): the script is its text
            part = parts[0]
            self._audit(part.text, [part.line], [part.column], onbuild=onbuild)
            return
        # each line but the last keeps its continuation, as the shell reads it
        lines = [p.text + "\\" for p in parts]
        lines[-1] = parts[-1].text
        numbers = [p.line for p in parts]
        columns = [p.column for p in parts]
        for doc in instruction.heredocs:
            for part in doc.body:
                lines.append(part.text)
                numbers.append(part.line)
                columns.append(1)
            lines.append(doc.delimiter)
            numbers.append(doc.end_line)
            columns.append(1)
        self._audit("\n".join(lines), numbers, columns, onbuild=onbuild)

    def _exec_form(
        self,
        argv: list[tuple[str, int]],
        parts: Sequence[Part],
        instruction: Instruction,
        *,
        onbuild: bool,
    ) -> None:
        if not argv:
            return
        located = [(value, self.position_in(parts, offset)) for value, offset in argv]
        program = located[0][0].replace("\\", "/").rsplit("/", 1)[-1]
        if program in _SHELLS:
            for index, (value, _) in enumerate(located[1:], start=1):
                if value.startswith("-") and "c" in value[1:] and not value.startswith("--"):
                    if index + 1 < len(located):
                        script, (line, column) = located[index + 1]
                        count = script.count("\n") + 1
                        self._audit(
                            script,
                            [line + i for i in range(count)],
                            [column + 1] + [1] * (count - 1),
                            onbuild=onbuild,
                        )
                    return
        # Elements that are shell operators ("&&", "|") are read as the shell line the author
        # meant, as Scorecard does; Docker itself would pass them to the program as arguments.
        lines: list[int] = []
        texts: list[str] = []
        offsets: list[list[int]] = []
        for value, (line, column) in located:
            word = value if value in _EXEC_OPERATORS else shlex.quote(value)
            if not lines or lines[-1] != line:
                lines.append(line)
                texts.append("")
                offsets.append([])
            elif texts[-1]:
                texts[-1] += " "
                offsets[-1].append(column - 1)
            # every character of the element points at the element as written (inside its quote)
            texts[-1] += word
            offsets[-1].extend([column] * len(word))
        text = " \\\n".join(texts)
        self._audit(text, lines, [1] * len(lines), onbuild=onbuild, offsets=offsets)

    @staticmethod
    def position_in(parts: Sequence[Part], offset: int) -> tuple[int, int]:
        for part in parts:
            if offset < len(part.text):
                return part.line, part.column + offset
            offset -= len(part.text)
        return parts[-1].line, parts[-1].column

    def _audit(
        self,
        script: str,
        lines: Sequence[int],
        columns: Sequence[int] | None,
        *,
        onbuild: bool,
        offsets: Sequence[Sequence[int]] | None = None,
    ) -> None:
        audit = audit_shell(
            script,
            self.source,
            self.ctx,
            line_map=lines,
            column_map=columns,
            column_offsets=offsets,
            variables=self.stage.variables,
            locate=self.locate,
            downloaded=self.stage.downloads,
            cloned=[self._relative(c) for c in self.stage.clones],
            container=True,
            report_syntax=self.stage.posix,
            budget=self.budget,
        )
        self.findings.extend(audit.findings)
        self.pins.extend(audit.pins)
        self.includes.extend(audit.includes)
        self.indexes.extend(audit.indexes)
        self.installs_python |= audit.installs_python
        if not onbuild:
            self.stage.downloads = list(audit.downloads)
            self.stage.clones = [self._absolute(c) for c in audit.clones]

    def _absolute(self, clone: Clone) -> Clone:
        path = _image_path(self.stage.workdir, clone.path)
        return replace(clone, path=path)

    def _relative(self, clone: Clone) -> Clone:
        """A clone's path as a RUN in the current WORKDIR names it."""
        base = self.stage.workdir.rstrip("/") + "/"
        if clone.path.startswith(base):
            return replace(clone, path=clone.path[len(base) :])
        return clone

    # --- files named in RUN ------------------------------------------------------------------

    def locate(self, written: str) -> str | None:
        """The repository file a path in the image was copied from (``-r /app/req.txt``)."""
        if "$" in written or not written:
            return None
        path = _image_path(self.stage.workdir, written)
        for copy in reversed(self.stage.copies):
            for source in copy.sources:
                relative = self._copied(copy, source, path)
                if relative is not None:
                    found = self._context_file(relative)
                    if found is not None:
                        return found
        if not written.startswith("/"):
            return self._context_file(written)
        return None

    def _copied(self, copy: _Copy, source: str, path: str) -> str | None:
        clean, as_dir, as_file = _copy_candidates(source, copy.dest, copy.into_dir, path)
        if as_dir == as_file:
            return as_dir  # the same either way (most often: neither): no need to look
        is_dir = clean == "." or source.endswith("/") or self._context_dir(clean)
        return as_dir if is_dir else as_file

    def _context_dir(self, relative: str) -> bool:
        known = self.context_dirs.get(relative)
        if known is None:
            known = self.context_dirs[relative] = self._context_dir_asked(relative)
        return known

    def _context_dir_asked(self, relative: str) -> bool:
        for base in (self.parent, ""):
            candidate = posixpath.normpath(posixpath.join(base, relative)) if base else relative
            if candidate.startswith("../"):
                continue
            if candidate in self.ctx.files:
                continue  # discovered as a regular file: no need to ask the disk
            if _DIRECTORIES.is_dir(self.ctx, candidate):
                return True
        return False

    def _context_file(self, relative: str) -> str | None:
        if relative not in self.context_files:
            self.context_files[relative] = self._context_file_asked(relative)
        return self.context_files[relative]

    def _context_file_asked(self, relative: str) -> str | None:
        # The build context is usually the Dockerfile's directory, sometimes the repository
        # root (docker build -f docker/Dockerfile .): try both.
        for base in (self.parent, ""):
            candidate = posixpath.join(base, relative) if base else relative
            found = repo_file(self.ctx, candidate)
            if found is not None:
                return found
        return None


@functools.lru_cache(maxsize=4096)
def _image_path(directory: str, written: str) -> str:
    """Where ``written`` (a WORKDIR, a COPY destination, a file a RUN names) is in the image,
    from ``directory``: the Dockerfiles of a monorepo name the same few places."""
    return posixpath.normpath(posixpath.join(directory, written))


@functools.lru_cache(maxsize=1024)
def _pinned_image(resolved: str, written: str, missing: tuple[str, ...]) -> bool:
    """Whether :func:`judge_image` finds nothing in the reference, wherever it is written
    (what it finds depends on the text alone, the location apart): the Dockerfiles of a
    monorepo build on the same few images."""
    return not judge_image(resolved, _NOWHERE, written=written, unresolved=missing)


_NOWHERE = Location(path="", line=1, column=1)
_python_of_image = functools.lru_cache(maxsize=1024)(python_of_image)


@functools.lru_cache(maxsize=4096)
def _copy_candidates(
    source: str, dest: str, into_dir: bool, path: str
) -> tuple[str, str | None, str | None]:
    """``source`` normalised, and the context file at image ``path`` if it is a directory and
    if it is a file (or a pattern of files) copied to ``dest``. Text alone decides them, and the
    Dockerfiles of a monorepo copy the same names to the same places."""
    clean = posixpath.normpath(source)
    return clean, _copied_as_dir(dest, clean, path), _copied_as_file(dest, into_dir, clean, path)


def _copied_as_dir(dest: str, clean: str, path: str) -> str | None:
    """The context file at image ``path`` when the copied source ``clean`` is a directory."""
    prefix = dest.rstrip("/") + "/"
    if path.startswith(prefix) or dest == "/":
        tail = path[len(prefix) :] if dest != "/" else path.lstrip("/")
        return posixpath.normpath(posixpath.join(clean, tail))
    return None


def _copied_as_file(dest: str, into_dir: bool, clean: str, path: str) -> str | None:
    """The context file at image ``path`` when the copied source ``clean`` is a file (or a
    pattern of files)."""
    if into_dir:
        if posixpath.dirname(path) == dest.rstrip("/") or (
            dest == "/" and posixpath.dirname(path) == "/"
        ):
            name = posixpath.basename(path)
            if fnmatch.fnmatchcase(name, posixpath.basename(clean)):
                return posixpath.join(posixpath.dirname(clean), name)
        return None
    return clean if path == dest else None


class _Directories:
    """Whether a root-relative path is a directory, asked of the disk once per audit: the
    Dockerfiles of a monorepo ask about the same names at the root (``requirements.txt``)."""

    def __init__(self) -> None:
        self.ctx: ScanContext | None = None
        self.known: dict[str, bool] = {}

    def is_dir(self, ctx: ScanContext, relative: str) -> bool:
        if ctx is not self.ctx:
            self.ctx = ctx
            self.known = {}
        known = self.known.get(relative)
        if known is None:
            known = self.known[relative] = _is_dir(os.path.join(ctx.root, relative))
        return known


_DIRECTORIES = _Directories()


def _is_dir(path: str) -> bool:
    """Whether ``path`` is a directory, without building a Path (this runs per copied
    source). A path the disk cannot answer for (missing, a name too long, a symlink loop, no
    permission) is not a directory the build could copy from."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _after(parts: Sequence[Part], offset: int) -> list[Part]:
    """The parts from ``offset`` in the text they join to, without empty ones but the last."""
    if offset == 0:  # no flags (most RUN lines): the parts themselves
        last = len(parts) - 1
        return [p for i, p in enumerate(parts) if p.text or i == last]
    return _cut(parts, offset)


def _cut(parts: Sequence[Part], offset: int) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if offset >= len(part.text) and part is not parts[-1]:
            offset -= len(part.text)
            out.append(Part(line=part.line, column=part.column + len(part.text), text=""))
            continue
        out.append(Part(line=part.line, column=part.column + offset, text=part.text[offset:]))
        offset = 0
    return [p for p in out if p.text or p is out[-1]] or out


def _json_argv(text: str) -> list[tuple[str, int]] | None:
    """Elements of a JSON exec form with their offsets in ``text``, or None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    offsets = [m.start() for m in _JSON_STRING.finditer(text)]
    if len(offsets) != len(value):
        offsets = [0] * len(value)
    return [(str(v), o) for v, o in zip(value, offsets, strict=True)]


def _without_markers(text: str) -> str:
    return _MARKER.sub("", text)


def _is_git_source(source: str) -> bool:
    if source.startswith(("git@", "git://", "github.com/")):
        return True
    base = source.split("#", 1)[0].split("?", 1)[0]
    return bool(_GIT_URL.match(source)) and base.endswith(".git")


def _git_ref(source: str) -> tuple[str, str | None]:
    repo, _, fragment = source.partition("#")
    ref = fragment.split(":", 1)[0] or None
    base, _, query = repo.partition("?")
    if query:
        params = parse_qs(query)
        for key in ("commit", "ref", "tag", "branch"):
            if params.get(key):
                ref = params[key][0]
                break
        repo = base
    return repo, ref


# Extensions of files named after a Dockerfile that are not one (templates, docs, code).
_NOT_DOCKERFILES = _words(
    "j2 jinja jinja2 tmpl tpl template mustache erb in dockerignore md rst txt orig rej bak "
    "swp py sh json yml yaml toml cfg lock log"
)


class DockerfileScanner(Scanner):
    """``Dockerfile``, ``Dockerfile.*``, ``Dockerfile-*``, ``*.Dockerfile``, ``Containerfile``."""

    name = "dockerfile"

    def claims(self, relpath: str, filename: str) -> bool:
        lower = filename.lower()
        if lower in {"dockerfile", "containerfile"}:
            return True
        if lower.endswith((".dockerfile", ".containerfile")):
            return True
        # Dockerfile.gpu, Dockerfile-not-pinned: the capitalised name, so that dockerfile.py
        # (a module) is not read; templates and other files named after it are not either.
        if not filename.startswith(("Dockerfile", "Containerfile")):
            return False
        variant = filename.split("file", 1)[1]
        if not variant.startswith((".", "-", "_")):
            return False
        suffix = variant.rsplit(".", 1)[-1].lower() if "." in variant else ""
        return suffix not in _NOT_DOCKERFILES

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        audit = _Audit(source, ctx)
        audit.run(parse_dockerfile(source.text))
        note = audit.budget.note()
        if note is not None:
            audit.findings.append(note)
        return _FILE_FACTS(
            path=source.path,
            kind=self.name,
            role=Role.CONCRETE if audit.installs_python else Role.OTHER,
            findings=tuple(audit.findings),
            pins=tuple(audit.pins),
            includes=tuple(dict.fromkeys(audit.includes)),
            images=tuple(audit.images),
            pythons=tuple(audit.pythons),
            indexes=tuple(dict.fromkeys(audit.indexes)),
            sections=audit.sections(source.text.count("\n") + 1),
        )


def dockerfile_scanners() -> list[Scanner]:
    """The Dockerfile scanner."""
    return [DockerfileScanner()]
