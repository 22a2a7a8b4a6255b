"""Shell text audit: installers and remote scripts in scripts, Makefiles, RUN lines and CI steps."""

from __future__ import annotations

import bisect
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from reprolock.audit.budget import (
    MAX_NESTED_SCRIPTS,
    MAX_SPLIT_WORDS,
    MAX_UNROLLED_COMMANDS,
    MAX_VALUE_CHARS,
    ExpansionBudget,
)
from reprolock.audit.conda import inexact_conda_finding, parse_conda_spec
from reprolock.audit.interface import (
    FileFacts,
    Include,
    Pin,
    Role,
    ScanContext,
    Scanner,
    SourceFile,
)
from reprolock.files import read_text
from reprolock.model import Finding, Location
from reprolock.rules import finding
from reprolock.specs import Spec, SpecKind, classify, judge_concrete


def _words(text: str) -> frozenset[str]:
    """A set written as a space-separated string (option tables are long)."""
    return frozenset(text.split())


# =============================================================================================
# Public results
# =============================================================================================


@dataclass(frozen=True, kw_only=True, slots=True)
class Download:
    """A file a command saved from the network and nothing has checked yet."""

    path: str
    """Where it was saved, normalised (``./x.sh`` becomes ``x.sh``)."""
    url: str
    """What was downloaded ("" when the command named no URL)."""
    line: int
    """File line of the download."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ShellAudit:
    """What :func:`audit_shell` found in a piece of shell text."""

    findings: tuple[Finding, ...] = ()
    """Findings about the commands."""
    pins: tuple[Pin, ...] = ()
    """Exact Python pins installed by the commands."""
    includes: tuple[Include, ...] = ()
    """``pip install -r FILE`` / ``-c FILE`` with FILE in the repository (root-relative)."""
    indexes: tuple[str, ...] = ()
    """``--index-url`` / ``--extra-index-url`` / ``-i`` values used."""
    installs_python: bool = False
    """True when some command installs Python packages (pip, uv, conda, poetry ...)."""
    downloads: tuple[Download, ...] = ()
    """Files downloaded and not yet checked when the text ends (a later Dockerfile ``RUN`` or
    CI step that runs one is still reported: pass them back in as ``downloaded``)."""


Locator = Callable[[str], "str | None"]
"""Maps a file argument as written (``requirements.txt``, ``/app/req.txt``) to a root-relative
path of a file in the repository, or None when it is not one."""


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
    ``variables`` are known before the text runs (Dockerfile ``ARG``/``ENV``); None marks a
    variable whose value is decided at run time. ``locate`` resolves ``-r FILE`` arguments
    (default: relative to ``source``'s directory, then to the root). ``container`` says the
    text runs in an image build, where absolute and relative paths name the image's files.
    ``report_syntax`` False (PowerShell or cmd text) reports no shell syntax errors.
    ``budget`` bounds variable expansion and loop unrolling; pass the file's own when it holds
    several pieces of shell text (one RP002 note per file, and its caller adds it). Without
    one, the text gets its own budget and its note is among the findings returned.
    """
    geometry = _Geometry(
        first_line=first_line,
        line_map=line_map,
        column_map=column_map,
        column_offsets=column_offsets,
    )
    analyzer = _Analyzer(
        source=source,
        ctx=ctx,
        geometry=geometry,
        variables=dict(variables or {}),
        locate=locate or _default_locator(source, ctx),
        downloaded=downloaded,
        container=container,
        budget=budget if budget is not None else ExpansionBudget(),
    )
    errors: list[_Problem] = []
    parsed = _parse(script, errors)
    analyzer.run(parsed)
    if report_syntax and errors:
        first = errors[0]
        loc = geometry.location(source, first.line, first.column)
        analyzer.findings.append(finding("RP001", f"shell syntax: {first.message}", loc))
    if budget is None:
        note = analyzer.budget.note()
        if note is not None:
            analyzer.findings.append(note)
    return analyzer.result()


# =============================================================================================
# Syntax tree
# =============================================================================================


@dataclass(frozen=True, kw_only=True, slots=True)
class _Problem:
    message: str
    line: int
    column: int


class _HereDoc:
    """A here-document body, filled in when the reader reaches the end of its line."""

    __slots__ = ("body", "column", "delimiter", "line", "quoted")

    def __init__(self, delimiter: str, quoted: bool) -> None:
        self.delimiter = delimiter
        self.quoted = quoted
        self.body = ""
        self.line = 0
        self.column = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class _Word:
    raw: str
    """As written, quotes included."""
    text: str
    """Quotes removed; expansions kept as written (``$X``, ``$(cmd)``)."""
    line: int
    """Script line (0-based) where the word starts."""
    column: int
    """Column (1-based) in that script line."""
    quoted: bool = False
    dynamic: bool = False
    """Contains an expansion outside single quotes."""
    subs: tuple[_Script, ...] = ()
    """Command and process substitutions inside the word."""
    procsub: str = ""
    """``<`` or ``>`` when the whole word is a process substitution."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Redirect:
    op: str
    target: _Word | None
    heredoc: _HereDoc | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Command:
    line: int
    words: tuple[_Word, ...] = ()
    assigns: tuple[_Word, ...] = ()
    redirects: tuple[_Redirect, ...] = ()
    bodies: tuple[_Script, ...] = ()
    """For compound commands (if, loops, case, groups, subshells): the lists inside."""
    loop_vars: tuple[str, ...] = ()
    loop_values: tuple[_Word, ...] = ()
    """The words a ``for NAME in WORDS`` loop runs over."""
    """Variables a ``for``/``select`` loop assigns."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Pipeline:
    commands: tuple[_Command, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Script:
    pipelines: tuple[_Pipeline, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class _Token:
    kind: str  # "word", "op", "nl", "eof"
    value: str
    start: int
    word: _Word | None = None


_MAX_DEPTH = 48
_MAX_LOOP = 32
_METACHARS = frozenset(" \t\n;&|<>()")
# Longest first, so that `;;` is read before `;` and `<<-` before `<<`.
# fmt: off
_OPERATORS = (
    ";;&", "&>>", "<<<", "<<-", "&&", "||", ";;", ";&", "|&", "&>", "<<", "<&", "<>", ">>", ">&",
    ">|", ";", "&", "|", "<", ">", "(", ")",
)
# fmt: on
_REDIRECTS = frozenset({"<", ">", ">>", "<<", "<<-", "<<<", "<&", ">&", "<>", ">|", "&>", "&>>"})
_CASE_ENDS = frozenset({";;", ";&", ";;&"})
_RESERVED = _words("if then elif else fi while until for select do done case esac { } function [[")
_CLOSERS = frozenset({"then", "elif", "else", "fi", "do", "done", "esac", "}"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_ARRAY_START = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=$")
_IO_NUMBER = re.compile(r"\d+(?=[<>])")
# Every operator starts with one of these; a word cannot.
_OPERATOR_STARTS = frozenset(op[0] for op in _OPERATORS)
# Runs of characters that stand for themselves, read at once rather than one by one.
_PLAIN_RUN = re.compile(r"[^ \t\n;&|<>()\\'\"$`]+")
_PLAIN_DOUBLE_RUN = re.compile(r'[^"\\$`]+')
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _TooDeep(Exception):
    """Nesting beyond what any real script uses; the rest of the text is not read."""


class _Reader:
    """A recursive-descent reader for the POSIX shell grammar (with the bash forms CI and
    Dockerfiles use), far enough to find every simple command with its words, pipes,
    redirections, here-documents and substitutions."""

    def __init__(
        self, text: str, errors: list[_Problem], *, line_base: int, col_base: int, depth: int
    ) -> None:
        self.text = text
        self.pos = 0
        self.errors = errors
        self.line_base = line_base
        self.col_base = col_base
        self.depth = depth
        self.pending: list[tuple[_HereDoc, bool, int]] = []
        self.buffer: _Token | None = None
        self.starts = [0]
        newline = text.find("\n")
        while newline >= 0:
            self.starts.append(newline + 1)
            newline = text.find("\n", newline + 1)

    # --- positions ---------------------------------------------------------------------------

    def line_of(self, offset: int) -> int:
        return self.line_base + bisect.bisect_right(self.starts, offset) - 1

    def column_of(self, offset: int) -> int:
        index = bisect.bisect_right(self.starts, offset) - 1
        column = offset - self.starts[index] + 1
        return column + self.col_base - 1 if index == 0 else column

    def error(self, message: str, offset: int) -> None:
        self.errors.append(
            _Problem(message=message, line=self.line_of(offset), column=self.column_of(offset))
        )

    def enter(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _TooDeep

    # --- tokens ------------------------------------------------------------------------------

    def peek(self) -> _Token:
        if self.buffer is None:
            self.buffer = self._lex()
        return self.buffer

    def next(self) -> _Token:
        token = self.peek()
        self.buffer = None
        return token

    def _skip_blanks(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t\r":
                self.pos += 1
            elif ch == "\\" and text.startswith("\n", self.pos + 1):
                self.pos += 2
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            else:
                return

    def _lex(self) -> _Token:
        self._skip_blanks()
        text = self.text
        start = self.pos
        if start >= len(text):
            if self.pending:
                doc, _, offset = self.pending[0]
                self.error(f"here-document <<{doc.delimiter} is not terminated", offset)
                self.pending.clear()
            return _Token(kind="eof", value="", start=start)
        ch = text[start]
        if ch == "\n":
            self.pos += 1
            if self.pending:
                self._read_heredocs()
            return _Token(kind="nl", value="\n", start=start)
        if text.startswith(("<(", ">("), start):
            word = self._read_word()
            return _Token(kind="word", value=word.text, start=start, word=word)
        io = _IO_NUMBER.match(text, start)
        if io is not None:
            self.pos = io.end()
            for op in _OPERATORS:
                if text.startswith(op, self.pos) and op in _REDIRECTS:
                    self.pos += len(op)
                    return _Token(kind="op", value=op, start=start)
            self.pos = start
        if ch in _OPERATOR_STARTS:
            for op in _OPERATORS:
                if text.startswith(op, start):
                    self.pos += len(op)
                    return _Token(kind="op", value=op, start=start)
        word = self._read_word()
        return _Token(kind="word", value=word.text, start=start, word=word)

    def _read_heredocs(self) -> None:
        text, n = self.text, len(self.text)
        for doc, strip_tabs, offset in self.pending:
            body_start = self.pos
            lines: list[str] = []
            found = False
            while self.pos < n:
                end = text.find("\n", self.pos)
                end = n if end < 0 else end
                line = text[self.pos : end].rstrip("\r")
                self.pos = min(end + 1, n)
                if (line.lstrip("\t") if strip_tabs else line) == doc.delimiter:
                    found = True
                    break
                lines.append(line)
            doc.body = "\n".join(lines)
            doc.line = self.line_of(body_start)
            doc.column = self.column_of(body_start)
            if not found:
                self.error(f"here-document <<{doc.delimiter} is not terminated", offset)
        self.pending.clear()

    # --- words -------------------------------------------------------------------------------

    def _read_word(self) -> _Word:
        text, n = self.text, len(self.text)
        start = self.pos
        line, column = self.line_of(start), self.column_of(start)
        if text.startswith(("<(", ">("), start):
            self.pos += 2
            script = self.nested(")", start)
            raw = text[start : self.pos]
            return _Word(
                raw=raw,
                text=raw,
                line=line,
                column=column,
                dynamic=True,
                subs=(script,),
                procsub=text[start],
            )
        parts: list[str] = []
        subs: list[_Script] = []
        quoted = dynamic = False
        while self.pos < n:
            ch = text[self.pos]
            if ch in _METACHARS:
                if ch == "(" and not quoted and _ARRAY_START.match("".join(parts)):
                    begin = self.pos
                    self._skip_parens(begin)
                    parts.append(text[begin : self.pos])
                    continue
                break
            if ch == "\\":
                if self.pos + 1 >= n:
                    self.pos += 1
                    break
                follower = text[self.pos + 1]
                self.pos += 2
                if follower != "\n":
                    parts.append(follower)
                    quoted = True
            elif ch == "'":
                end = text.find("'", self.pos + 1)
                quoted = True
                if end < 0:
                    self.error("unterminated single quote", self.pos)
                    parts.append(text[self.pos + 1 :])
                    self.pos = n
                    break
                parts.append(text[self.pos + 1 : end])
                self.pos = end + 1
            elif ch == '"':
                quoted = True
                self.pos += 1
                dynamic |= self._read_double(parts, subs)
            elif ch == "$":
                dynamic |= self._read_dollar(parts, subs, in_double=False)
            elif ch == "`":
                self._read_backtick(parts, subs)
                dynamic = True
            else:
                run = _PLAIN_RUN.match(text, self.pos)
                end = run.end() if run is not None else self.pos + 1
                parts.append(text[self.pos : end])
                self.pos = end
        return _Word(
            raw=text[start : self.pos],
            text="".join(parts),
            line=line,
            column=column,
            quoted=quoted,
            dynamic=dynamic,
            subs=tuple(subs),
        )

    def _read_double(self, parts: list[str], subs: list[_Script]) -> bool:
        text, n = self.text, len(self.text)
        opened = self.pos - 1
        dynamic = False
        while self.pos < n:
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return dynamic
            if ch == "\\" and self.pos + 1 < n:
                follower = text[self.pos + 1]
                if follower in '$`"\\':
                    parts.append(follower)
                elif follower != "\n":
                    parts.append("\\" + follower)
                self.pos += 2
            elif ch == "$":
                dynamic |= self._read_dollar(parts, subs, in_double=True)
            elif ch == "`":
                self._read_backtick(parts, subs)
                dynamic = True
            else:
                run = _PLAIN_DOUBLE_RUN.match(text, self.pos)
                end = run.end() if run is not None else self.pos + 1
                parts.append(text[self.pos : end])
                self.pos = end
        self.error("unterminated double quote", opened)
        return dynamic

    def _read_dollar(self, parts: list[str], subs: list[_Script], *, in_double: bool) -> bool:
        text, n = self.text, len(self.text)
        start = self.pos
        follower = text[start + 1] if start + 1 < n else ""
        if follower == "'" and not in_double:
            self.pos += 2
            out: list[str] = []
            while self.pos < n and text[self.pos] != "'":
                if text[self.pos] == "\\" and self.pos + 1 < n:
                    out.append({"n": "\n", "t": "\t"}.get(text[self.pos + 1], text[self.pos + 1]))
                    self.pos += 2
                else:
                    out.append(text[self.pos])
                    self.pos += 1
            if self.pos >= n:
                self.error("unterminated $'...' quote", start)
            self.pos = min(self.pos + 1, n)
            parts.append("".join(out))
            return False
        if follower == '"' and not in_double:
            self.pos += 2
            return self._read_double(parts, subs)
        if text.startswith("((", start + 1):
            self._skip_parens(start + 1)
            parts.append(text[start : self.pos])
            return True
        if follower == "(":
            self.pos += 2
            subs.append(self.nested(")", start))
            parts.append(text[start : self.pos])
            return True
        if follower == "{":
            self._skip_braces(start + 1)
            parts.append(text[start : self.pos])
            return True
        name = _NAME.match(text, start + 1)
        if name is not None:
            self.pos = name.end()
            parts.append(text[start : self.pos])
            return True
        if follower and follower in "0123456789@*#?$!-":
            self.pos += 2
            parts.append(text[start : self.pos])
            return True
        self.pos += 1
        parts.append("$")
        return False

    def _read_backtick(self, parts: list[str], subs: list[_Script]) -> None:
        text, n = self.text, len(self.text)
        start = self.pos
        self.pos += 1
        inner: list[str] = []
        while self.pos < n and text[self.pos] != "`":
            if text[self.pos] == "\\" and self.pos + 1 < n and text[self.pos + 1] in "`\\$":
                inner.append(text[self.pos + 1])
                self.pos += 2
            else:
                inner.append(text[self.pos])
                self.pos += 1
        if self.pos >= n:
            self.error("unterminated backquote", start)
        self.pos = min(self.pos + 1, n)
        parts.append(text[start : self.pos])
        reader = _Reader(
            "".join(inner),
            self.errors,
            line_base=self.line_of(start),
            col_base=self.column_of(start) + 1,
            depth=self.depth + 1,
        )
        if reader.depth > _MAX_DEPTH:
            raise _TooDeep
        subs.append(reader.parse())

    def _skip_parens(self, start: int) -> None:
        """Move past the balanced parentheses opening at ``start`` (arithmetic, arrays)."""
        text, n = self.text, len(self.text)
        depth = 0
        index = start
        while index < n:
            ch = text[index]
            if ch == "\\":
                index += 2
                continue
            if ch in "'\"":
                end = text.find(ch, index + 1)
                index = n if end < 0 else end + 1
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    self.pos = index + 1
                    return
            index += 1
        self.error("unterminated parenthesis", start)
        self.pos = n

    def _skip_braces(self, start: int) -> None:
        text, n = self.text, len(self.text)
        depth = 0
        index = start
        while index < n:
            ch = text[index]
            if ch == "\\":
                index += 2
                continue
            if ch == "'" and depth > 0:
                end = text.find("'", index + 1)
                index = n if end < 0 else end + 1
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    self.pos = index + 1
                    return
            index += 1
        self.error("unterminated ${", start - 1)
        self.pos = n

    def nested(self, closer: str, start: int) -> _Script:
        """The list inside ``$(``/``<(`` up to its ``)``, read with this reader."""
        saved = self.buffer
        self.buffer = None
        self.enter()
        pipelines = self.parse_list(frozenset({closer}))
        token = self.next()
        if token.kind != "op" or token.value != closer:
            self.error(f"unterminated {self.text[start : start + 2]}", start)
        self.depth -= 1
        self.buffer = saved
        return _Script(pipelines=tuple(pipelines))

    # --- grammar -----------------------------------------------------------------------------

    def parse(self) -> _Script:
        pipelines = self.parse_list(frozenset())
        return _Script(pipelines=tuple(pipelines))

    def _reserved(self, token: _Token, words: frozenset[str] = _RESERVED) -> bool:
        word = token.word
        return (
            token.kind == "word"
            and word is not None
            and not word.quoted
            and word.raw == word.text
            and word.text in words
        )

    def parse_list(self, stops: frozenset[str]) -> list[_Pipeline]:
        self.enter()
        pipelines: list[_Pipeline] = []
        while True:
            token = self.peek()
            if token.kind == "eof":
                break
            if token.kind == "nl" or (token.kind == "op" and token.value in {";", "&"}):
                self.next()
                continue
            if token.kind == "op" and token.value in stops:
                break
            if self._reserved(token) and token.value in stops:
                break
            if token.kind == "op" and token.value not in _REDIRECTS and token.value != "(":
                self.error(f"unexpected {token.value!r}", token.start)
                self.next()
                continue
            pipeline = self._pipeline(stops)
            if pipeline is not None:
                pipelines.append(pipeline)
            token = self.peek()
            if token.kind == "op" and token.value in {"&&", "||"}:
                self.next()
                while self.peek().kind == "nl":
                    self.next()
                after = self.peek()
                if after.kind == "eof" or (after.kind == "op" and after.value in stops):
                    self.error(f"{token.value} is not followed by a command", token.start)
        self.depth -= 1
        return pipelines

    def _pipeline(self, stops: frozenset[str]) -> _Pipeline | None:
        commands: list[_Command] = []
        while True:
            command = self._command(stops)
            if command is not None:
                commands.append(command)
            token = self.peek()
            if token.kind == "op" and token.value in {"|", "|&"}:
                self.next()
                while self.peek().kind == "nl":
                    self.next()
                continue
            break
        return _Pipeline(commands=tuple(commands)) if commands else None

    def _command(self, stops: frozenset[str]) -> _Command | None:
        token = self.peek()
        line = self.line_of(token.start)
        if token.kind == "op" and token.value == "(":
            if self.text.startswith("((", token.start):
                self.buffer = None
                self._skip_parens(token.start)
                return _Command(line=line, redirects=self._redirects())
            self.next()
            body = self.parse_list(frozenset({")"}))
            closing = self.next()
            if closing.kind != "op" or closing.value != ")":
                self.error("unterminated subshell (", token.start)
            return _Command(line=line, bodies=(_Script(pipelines=tuple(body)),), redirects=())
        if self._reserved(token):
            keyword = token.value
            if keyword in _CLOSERS:
                self.error(f"unexpected {keyword!r}", token.start)
                self.next()
                return None
            self.next()
            self.enter()
            try:
                return self._compound(keyword, token, line, stops)
            finally:
                self.depth -= 1
        return self._simple(stops)

    def _expect(self, word: str, opener: _Token) -> bool:
        token = self.peek()
        if self._reserved(token, frozenset({word})):
            self.next()
            return True
        where = "end of text" if token.kind == "eof" else repr(token.value)
        self.error(f"{opener.value} without {word} (found {where})", opener.start)
        return False

    def _compound(self, keyword: str, opener: _Token, line: int, stops: frozenset[str]) -> _Command:
        bodies: list[_Script] = []
        loop_vars: list[str] = []
        loop_values: list[_Word] = []

        def body(until: frozenset[str]) -> None:
            bodies.append(_Script(pipelines=tuple(self.parse_list(until))))

        if keyword == "if":
            body(frozenset({"then"}))
            if self._expect("then", opener):
                body(frozenset({"elif", "else", "fi"}))
                while self._reserved(self.peek(), frozenset({"elif"})):
                    self.next()
                    body(frozenset({"then"}))
                    if not self._expect("then", opener):
                        break
                    body(frozenset({"elif", "else", "fi"}))
                if self._reserved(self.peek(), frozenset({"else"})):
                    self.next()
                    body(frozenset({"fi"}))
                self._expect("fi", opener)
        elif keyword in {"while", "until"}:
            body(frozenset({"do"}))
            if self._expect("do", opener):
                body(frozenset({"done"}))
                self._expect("done", opener)
        elif keyword in {"for", "select"}:
            self._skip_blanks()
            if self.text.startswith("((", self.pos):
                self._skip_parens(self.pos)
            else:
                name = self.next()
                if name.kind == "word":
                    loop_vars.append(name.value)
                while self.peek().kind == "nl":
                    self.next()
                head = self.peek()
                if head.kind == "word" and head.value == "in" and not self._reserved(head):
                    self.next()
                    while self.peek().kind == "word":
                        word = self.next().word
                        if word is not None:
                            loop_values.append(word)
            if self.peek().kind == "op" and self.peek().value == ";":
                self.next()
            while self.peek().kind == "nl":
                self.next()
            if self._reserved(self.peek(), frozenset({"{"})):
                brace = self.next()
                body(frozenset({"}"}))
                self._expect("}", brace)
            elif self._expect("do", opener):
                body(frozenset({"done"}))
                self._expect("done", opener)
        elif keyword == "case":
            self.next()  # the word
            while self.peek().kind == "nl":
                self.next()
            head = self.peek()
            if head.kind == "word" and head.value == "in":
                self.next()
                self._case_items(opener, bodies)
            else:
                self.error("case without in", opener.start)
        elif keyword == "{":
            body(frozenset({"}"}))
            self._expect("}", opener)
        elif keyword == "function":
            self.next()  # the name
            if self.peek().kind == "op" and self.peek().value == "(":
                self.next()
                if self.peek().kind == "op" and self.peek().value == ")":
                    self.next()
            while self.peek().kind == "nl":
                self.next()
            inner = self._command(stops)
            if inner is not None:
                bodies.append(_Script(pipelines=(_Pipeline(commands=(inner,)),)))
        elif keyword == "[[":
            while True:
                token = self.peek()
                if token.kind == "eof":
                    self.error("[[ without ]]", opener.start)
                    break
                self.next()
                if token.kind == "word" and token.value == "]]":
                    break
        return _Command(
            line=line,
            bodies=tuple(bodies),
            redirects=self._redirects(),
            loop_vars=tuple(loop_vars),
            loop_values=tuple(loop_values),
        )

    def _case_items(self, opener: _Token, bodies: list[_Script]) -> None:
        ends = frozenset({"esac", *_CASE_ENDS})
        while True:
            while self.peek().kind == "nl":
                self.next()
            token = self.peek()
            if self._reserved(token, frozenset({"esac"})):
                self.next()
                return
            if token.kind == "eof":
                self.error("case without esac", opener.start)
                return
            if token.kind == "op" and token.value == "(":
                self.next()
            while True:
                token = self.next()
                if token.kind == "op" and token.value == ")":
                    break
                if token.kind in {"eof", "nl"}:
                    self.error("case pattern without )", token.start)
                    return
            bodies.append(_Script(pipelines=tuple(self.parse_list(ends))))
            token = self.peek()
            if token.kind == "op" and token.value in _CASE_ENDS:
                self.next()

    def _redirects(self) -> tuple[_Redirect, ...]:
        out: list[_Redirect] = []
        while self.peek().kind == "op" and self.peek().value in _REDIRECTS:
            out.append(self._redirect(self.next()))
        return tuple(out)

    def _redirect(self, op: _Token) -> _Redirect:
        target = self.peek()
        if target.kind != "word" or target.word is None:
            self.error(f"{op.value} is not followed by a file name", op.start)
            return _Redirect(op=op.value, target=None)
        self.next()
        if op.value in {"<<", "<<-"}:
            doc = _HereDoc(target.word.text, target.word.quoted)
            self.pending.append((doc, op.value == "<<-", op.start))
            return _Redirect(op=op.value, target=target.word, heredoc=doc)
        return _Redirect(op=op.value, target=target.word)

    def _simple(self, stops: frozenset[str]) -> _Command | None:
        start = self.peek()
        line = self.line_of(start.start)
        words: list[_Word] = []
        assigns: list[_Word] = []
        redirects: list[_Redirect] = []
        while True:
            token = self.peek()
            if token.kind == "word" and token.word is not None:
                self.next()
                word = token.word
                if not words and _ASSIGNMENT.match(word.raw):
                    assigns.append(word)
                    continue
                words.append(word)
                if len(words) == 1 and not assigns and self._function_parens():
                    while self.peek().kind == "nl":
                        self.next()
                    inner = self._command(stops)
                    bodies = (_Script(pipelines=(_Pipeline(commands=(inner,)),)),) if inner else ()
                    return _Command(line=line, bodies=bodies)
                continue
            if token.kind == "op" and token.value in _REDIRECTS:
                self.next()
                redirects.append(self._redirect(token))
                continue
            break
        if not words and not assigns and not redirects:
            return None
        return _Command(
            line=line, words=tuple(words), assigns=tuple(assigns), redirects=tuple(redirects)
        )

    def _function_parens(self) -> bool:
        """After a command's first word: ``()`` makes it a function definition."""
        token = self.peek()
        if token.kind != "op" or token.value != "(":
            return False
        match = re.compile(r"\(\s*\)").match(self.text, token.start)
        if match is None:
            return False
        self.buffer = None
        self.pos = match.end()
        return True


def _parse(text: str, errors: list[_Problem], *, line_base: int = 0, col_base: int = 1) -> _Script:
    reader = _Reader(text, errors, line_base=line_base, col_base=col_base, depth=0)
    try:
        return reader.parse()
    except _TooDeep:
        errors.append(_Problem(message="nesting too deep to read", line=line_base, column=col_base))
        return _Script()


# =============================================================================================
# Geometry: script lines to file lines
# =============================================================================================


@dataclass(frozen=True, kw_only=True, slots=True)
class _Geometry:
    first_line: int
    line_map: Sequence[int] | None
    column_map: Sequence[int] | None
    column_offsets: Sequence[Sequence[int]] | None = None

    def line(self, index: int) -> int:
        if self.line_map is not None and self.line_map:
            if 0 <= index < len(self.line_map):
                return self.line_map[index]
            return self.line_map[-1]
        return self.first_line + max(index, 0)

    def column(self, index: int, column: int) -> int:
        if self.column_offsets is not None and 0 <= index < len(self.column_offsets):
            offsets = self.column_offsets[index]
            if offsets:
                column = offsets[min(column - 1, len(offsets) - 1)] + 1
        if self.column_map is not None and 0 <= index < len(self.column_map):
            return self.column_map[index] + column - 1
        return column

    def location(self, source: SourceFile, index: int, column: int = 1) -> Location:
        return source.at(self.line(index), self.column(index, column))


# =============================================================================================
# Analysis
# =============================================================================================


@dataclass(frozen=True, kw_only=True, slots=True)
class _Arg:
    """A word after the variables known at that point were substituted."""

    text: str
    word: _Word
    dynamic: bool
    """Still contains an expansion whose value is not known."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Fetch:
    """A download command's output."""

    url: str
    line: int
    column: int
    output: str | None
    """File it writes; None when it writes to standard output."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Outcome:
    """What a command hands on to the next one in its pipeline."""

    fetch: _Fetch | None = None
    text: str | None = None
    """Literal text written by ``echo``/``printf`` (for ``| sha256sum -c``)."""
    passthrough: bool = False
    """``tee`` and friends: the upstream's output flows on."""


_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh", "busybox"})
_SCRIPT_INTERPRETERS = frozenset({"perl", "ruby", "node", "php", "lua", "tclsh"})
_PIP = re.compile(r"^pip(?:\d+(?:\.\d+)?)?$")
_PYTHON = re.compile(r"^(?:python|pypy)(?:\d+(?:\.\d+)?)?[mtw]?$|^py$")
_VAR_ONLY = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")
_EXPANSION = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+=?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)
_DYNAMIC = re.compile(r"\$[{(A-Za-z_0-9@*#?!$-]|`")
_HEX40 = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_CREDENTIALS = re.compile(r"//[^/@\s]+@")
_WHEEL = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._]*)-([^-]+)(?:-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_CHECKSUMS = frozenset(
    {"sha256sum", "sha512sum", "sha384sum", "sha224sum", "sha1sum", "md5sum", "b2sum", "shasum"}
)
_VERIFIERS = frozenset({"gpgv", "minisign", "cosign", "slsa-verifier", "signify"})
_GIT_HOSTS = _words(
    "raw.githubusercontent.com github.com gist.githubusercontent.com gitlab.com "
    "bitbucket.org cdn.jsdelivr.net"
)


class _Analyzer:
    """Walks the syntax tree in execution order and judges each command."""

    def __init__(
        self,
        *,
        source: SourceFile,
        ctx: ScanContext,
        geometry: _Geometry,
        variables: dict[str, str | None],
        locate: Locator,
        downloaded: Sequence[Download],
        container: bool,
        budget: ExpansionBudget,
    ) -> None:
        self.source = source
        self.budget = budget
        self.current: _Command | None = None
        """The command being analysed (where an RP002 note goes)."""
        self.script_depth = 0
        self._sizes: dict[int, int] = {}
        self.ctx = ctx
        self.geometry = geometry
        self.vars = variables
        self.locate = locate
        self.container = container
        self.findings: list[Finding] = []
        self.pins: list[Pin] = []
        self.includes: list[Include] = []
        self.indexes: list[str] = []
        self.installs_python = False
        self.downloads: list[Download] = list(downloaded)
        self.substitution_depth = 0
        self.redirects: tuple[_Redirect, ...] = ()
        self.judge = ctx.judge_context(source, hash_capable=False)

    def result(self) -> ShellAudit:
        return ShellAudit(
            findings=tuple(sorted(dict.fromkeys(self.findings), key=lambda f: f.sort_key)),
            pins=tuple(dict.fromkeys(self.pins)),
            includes=tuple(dict.fromkeys(self.includes)),
            indexes=tuple(dict.fromkeys(self.indexes)),
            installs_python=self.installs_python,
            downloads=tuple(self.downloads),
        )

    # --- locations ---------------------------------------------------------------------------

    def at(self, word: _Word) -> Location:
        return self.geometry.location(self.source, word.line, word.column)

    def line_of(self, word: _Word) -> int:
        return self.geometry.line(word.line)

    # --- walking -----------------------------------------------------------------------------

    def run(self, script: _Script) -> None:
        for pipeline in script.pipelines:
            outcomes: list[_Outcome] = []
            last = len(pipeline.commands) - 1
            for position, command in enumerate(pipeline.commands):
                outcomes.append(self.command(command, outcomes, onward=position < last))

    def run_text(self, text: str, anchor: _Word) -> None:
        """Audit a string that a shell runs as a script (``sh -c``, ``su -c``, ``eval``)."""
        if self.script_depth >= MAX_NESTED_SCRIPTS:
            # `A='eval "$A"'; eval "$A"` runs itself for ever; no real script nests this deep.
            self.budget.refuse(
                self.at(anchor),
                f"scripts run by scripts nest over {MAX_NESTED_SCRIPTS} deep; the deeper ones are "
                "not audited",
            )
            return
        errors: list[_Problem] = []
        script = _parse(text, errors, line_base=anchor.line, col_base=anchor.column)
        self.script_depth += 1
        try:
            self.run(script)
        finally:
            self.script_depth -= 1

    def command(self, command: _Command, upstream: list[_Outcome], *, onward: bool) -> _Outcome:
        self.current = command
        for word in (*command.assigns, *command.words):
            self._substitutions(word)
        for redirect in command.redirects:
            if redirect.target is not None:
                self._substitutions(redirect.target)
        if command.bodies:
            for word in command.loop_values:
                self._substitutions(word)
            values = self.expand(command.loop_values)
            static = values and not any(v.dynamic for v in values)
            if (
                len(command.loop_vars) == 1
                and static
                and len(values) <= _MAX_LOOP
                and self._unroll(command, len(values))
            ):
                # `for p in numpy pandas; do pip install $p; done`: once per value
                for value in values:
                    self.vars[command.loop_vars[0]] = value.text
                    for body in command.bodies:
                        self.run(body)
            for name in command.loop_vars:
                self.vars[name] = None
            for body in command.bodies:
                self.run(body)
            return _Outcome()
        if not command.words:
            self._assign(command.assigns)
            return _Outcome()
        args = self.expand(command.words)
        env = list(command.assigns)
        args = self._strip_prefixes(args, env)
        self._env_options(env)
        if not args:
            return _Outcome()
        return self.dispatch(args, command, upstream, onward=onward)

    def _unroll(self, loop: _Command, times: int) -> bool:
        """Whether the budget allows auditing ``loop``'s body ``times`` more times: nested
        loops of literal values would otherwise multiply (32 values, 4 deep: a million)."""
        if self.budget.unroll(times * sum(self._size(body) for body in loop.bodies)):
            return True
        self.budget.refuse(
            self.here(),
            f"unrolling for loops passes {MAX_UNROLLED_COMMANDS} commands; from here each loop "
            "body is audited once, its variable unknown",
        )
        return False

    def here(self) -> Location:
        command = self.current
        if command is None:
            return self.geometry.location(self.source, 0)
        if command.words:
            return self.at(command.words[0])
        return self.geometry.location(self.source, command.line)

    def _size(self, script: _Script) -> int:
        """Commands in ``script``, nested bodies and substitutions included (memoised: nested
        loops ask about the same bodies again)."""
        known = self._sizes.get(id(script))
        if known is not None:
            return known
        total = 0
        for pipeline in script.pipelines:
            for command in pipeline.commands:
                total += 1 + sum(self._size(body) for body in command.bodies)
                for word in (*command.assigns, *command.words, *command.loop_values):
                    total += sum(self._size(sub) for sub in word.subs)
        self._sizes[id(script)] = total
        return total

    def _substitutions(self, word: _Word) -> None:
        if not word.subs:
            return
        self.substitution_depth += 1
        try:
            for sub in word.subs:
                self.run(sub)
        finally:
            self.substitution_depth -= 1

    # --- variables ---------------------------------------------------------------------------

    def substitute(self, text: str) -> tuple[str, bool]:
        """``text`` with known variables replaced; True when expansions remain."""

        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(4)
            op, word = match.group(2), match.group(3) or ""
            value = self.vars.get(name)
            if op in {":-", "-"} and value is None and name not in self.vars:
                return word if not _DYNAMIC.search(word) else match.group(0)
            if op in {":+", "+"}:
                return word if value is not None else match.group(0)
            if value is None:
                return "${" + name + "}"
            if not self.budget.value(value):
                self._over_budget(name)
                return "${" + name + "}"  # too large to carry on: decided at run time
            return value

        out = _EXPANSION.sub(one, text)
        return out, bool(_DYNAMIC.search(out))

    def _over_budget(self, name: str) -> None:
        self.budget.refuse(
            self.here(),
            f"${name} passes {MAX_VALUE_CHARS // 1024} KiB or the file's expansion budget and is "
            "not expanded; commands using it are audited as written",
        )

    def expand(self, words: Sequence[_Word]) -> list[_Arg]:
        args: list[_Arg] = []
        for word in words:
            if not word.dynamic:
                args.append(_Arg(text=word.text, word=word, dynamic=False))
                continue
            text, dynamic = self.substitute(word.text)
            if not word.quoted and not dynamic and text != word.text:
                parts = text.split()
                if len(parts) > 1:
                    if self.budget.split(len(parts)):
                        args.extend(_Arg(text=part, word=word, dynamic=False) for part in parts)
                        continue
                    self.budget.refuse(
                        self.here(),
                        f"expansions split into over {MAX_SPLIT_WORDS} words; from here an "
                        "expansion that splits is audited as unknown",
                    )
                    text, dynamic = word.text, True
            args.append(_Arg(text=text, word=word, dynamic=dynamic))
        return args

    def _assign(self, assigns: Sequence[_Word]) -> None:
        for word in assigns:
            written, _, value = word.text.partition("=")
            name = written.rstrip("+")
            if "[" in name:
                continue
            text, dynamic = self.substitute(value) if word.dynamic else (value, False)
            if written.endswith("+"):
                before = self.vars.get(name, "")
                text = text if dynamic or before is None else before + text
                dynamic = dynamic or before is None
            if not dynamic and len(text) > MAX_VALUE_CHARS:
                self._over_budget(name)  # `A+=x` a million times: quadratic copying
                dynamic = True
            self.vars[name] = None if dynamic else text
        self._env_options(list(assigns))

    def _env_options(self, assigns: Sequence[_Word]) -> None:
        """``PIP_EXTRA_INDEX_URL=...`` and friends configure pip as the options do."""
        for word in assigns:
            name, _, value = word.text.partition("=")
            value, _ = self.substitute(value)
            if not value:
                continue
            if name == "PIP_EXTRA_INDEX_URL":
                for url in value.split():
                    self._index_option("--extra-index-url", url, word)
            elif name in {"PIP_TRUSTED_HOST", "UV_INSECURE_HOST"}:
                for host in value.split():
                    self._index_option("--trusted-host", host, word)
            elif name in {"PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX"}:
                self.indexes.append(_redact(value))

    # --- prefixes ----------------------------------------------------------------------------

    def _strip_prefixes(self, args: list[_Arg], env: list[_Word]) -> list[_Arg]:
        for _ in range(32):
            if not args:
                return args
            name = _command_name(args[0])
            rest = args[1:]
            if name in {"sudo", "doas"}:
                rest = _skip_options(rest, "ugCDhprtTU" if name == "sudo" else "uC", set())
            elif name == "env":
                rest = _skip_options(rest, "uCS", {"--unset", "--chdir", "--split-string"})
            elif name == "time":
                rest = _skip_options(rest, "fo", {"--format", "--output"})
            elif name == "exec":
                rest = _skip_options(rest, "a", set())
            elif name == "nice":
                rest = _skip_options(rest, "n", {"--adjustment"})
            elif name == "ionice":
                rest = _skip_options(rest, "cnpP", {"--class", "--classdata", "--pid"})
            elif name == "stdbuf":
                rest = _skip_options(rest, "ioe", {"--input", "--output", "--error"})
            elif name == "xargs":
                rest = _skip_options(
                    rest,
                    "aEeIiLlnPsd",
                    {"--arg-file", "--delimiter", "--max-args", "--max-procs", "--replace"},
                )
            elif name == "timeout":
                rest = _skip_options(rest, "sk", {"--signal", "--kill-after"})[1:]
            elif name in {"gosu", "su-exec", "chpst", "setpriv"}:
                rest = rest[1:]
            elif name in {
                "nohup",
                "builtin",
                "eatmydata",
                "fakeroot",
                "setsid",
                "chronic",
                "unbuffer",
                "travis_retry",
                "!",
                "noglob",
            }:
                pass
            elif name == "command":
                if rest and rest[0].text in {"-v", "-V"}:
                    return []
                rest = _skip_options(rest, "", set())
            elif name in {"conda", "mamba", "micromamba"} and _sub(rest) == "run":
                rest = _skip_options(
                    rest[1:], "np", {"--name", "--prefix", "--cwd", "--root-prefix", "--env"}
                )
            elif (
                name in {"poetry", "pipenv", "pdm", "hatch", "rye", "pixi"} and _sub(rest) == "run"
            ):
                rest = _skip_options(rest[1:], "e", {"--environment", "--directory"})
            elif name == "uv" and _sub(rest) == "run":
                rest = self._uv_run(rest[1:])
            else:
                return args
            leading = 0
            while leading < len(rest) and _ASSIGNMENT.match(rest[leading].text):
                env.append(rest[leading].word)
                leading += 1
            args = rest[leading:]
        return args

    # --- dispatch ----------------------------------------------------------------------------

    def dispatch(
        self, args: list[_Arg], command: _Command, upstream: list[_Outcome], *, onward: bool = False
    ) -> _Outcome:
        name = _command_name(args[0])
        rest = args[1:]
        self.redirects = command.redirects
        if name in _SHELLS:
            if name == "busybox":
                if not rest or _command_name(rest[0]) not in {"sh", "ash"}:
                    return _Outcome()
                rest = rest[1:]
            self._shell(rest, command, upstream)
        elif _PYTHON.match(name):
            self._python(rest, command, upstream)
        elif name in _SCRIPT_INTERPRETERS:
            self._interpreter(rest, command, upstream, {"-e", "-E", "-c", "-r"})
        elif _PIP.match(name):
            self._pip(rest, "pip")
        elif name == "uv":
            self._uv(rest)
        elif name == "uvx":
            self._tool_run(rest)
        elif name == "pipx":
            self._pipx(rest)
        elif name in {"poetry", "pdm"}:
            self._project_add(rest, name)
        elif name == "pipenv":
            self._pipenv(rest)
        elif name == "pip-sync":
            self._pip_sync(rest)
        elif name in {"conda", "mamba", "micromamba"}:
            self._conda(rest)
        elif name in {"apt-get", "apt", "aptitude"}:
            self._os_packages(rest, name, "install", _APT_VALUE, _apt_versioned)
        elif name == "apk":
            self._os_packages(rest, name, "add", _APK_VALUE, _apk_versioned)
        elif name in {"yum", "dnf", "microdnf", "tdnf", "zypper"}:
            self._os_packages(rest, name, "install", _RPM_VALUE, _rpm_versioned)
        elif name in {"curl", "wget", "aws", "gsutil", "gcloud"}:
            fetch = _fetch(name, rest, command, self)
            if fetch is not None:
                if fetch.output is not None:
                    self._record_download(fetch)
                return _Outcome(fetch=fetch)
        elif name == "tee":
            fetched = next((o.fetch for o in reversed(upstream) if o.fetch), None)
            if fetched is not None:
                for arg in rest:
                    if not arg.text.startswith("-"):
                        self._record_download(replace(fetched, output=arg.text))
            return _Outcome(passthrough=True)
        elif name in {"echo", "printf"}:
            return _Outcome(text=" ".join(a.text for a in rest))
        elif name in _CHECKSUMS:
            self._checksum(rest, command, upstream, onward=onward)
        elif name in _VERIFIERS or (name == "gpg" and any(a.text == "--verify" for a in rest)):
            self._verified([a.text for a in rest])
        elif name in {"source", "."}:
            if rest:
                self._run_file(rest[0])
        elif name == "eval":
            self._eval(rest)
        elif name in {"su", "runuser"}:
            self._su(rest, command, upstream)
        elif name in {"export", "declare", "typeset", "readonly", "local"}:
            self._assign([a.word for a in rest if _ASSIGNMENT.match(a.word.text)])
        elif name == "unset":
            for arg in rest:
                self.vars.pop(arg.text, None)
        elif name == "read":
            for arg in rest:
                if _NAME.fullmatch(arg.text):
                    self.vars[arg.text] = None
        elif "/" in args[0].text or self._on_path(args[0].text):
            self._executed(args[0])
        return _Outcome()

    def _on_path(self, name: str) -> bool:
        """A bare command name that resolves to a file downloaded into a ``PATH`` directory."""
        return any(
            posixpath.dirname(d.path) in _PATH_DIRS and posixpath.basename(d.path) == name
            for d in self.downloads
        )

    # --- shells and interpreters -------------------------------------------------------------

    def _shell(self, rest: list[_Arg], command: _Command, upstream: list[_Outcome]) -> None:
        command_mode = stdin_mode = False
        index = 0
        while index < len(rest):
            text = rest[index].text
            if text == "--":
                index += 1
                break
            if text in {"-o", "+o", "-O", "+O", "--rcfile", "--init-file"}:
                index += 2
                continue
            if text.startswith("--"):
                index += 1
                continue
            if len(text) > 1 and text[0] in "-+" and text != "-":
                flags = text[1:]
                command_mode |= text[0] == "-" and "c" in flags
                stdin_mode |= "s" in flags
                index += 2 if flags.endswith("o") else 1
                continue
            break
        operands = rest[index:]
        if command_mode:
            if operands:
                self._run_string(operands[0])
            return
        if operands and not stdin_mode and operands[0].text not in {"-", "/dev/stdin"}:
            self._run_file(operands[0])
            return
        self._reads_stdin(command, upstream, script=True)

    def _python(self, rest: list[_Arg], command: _Command, upstream: list[_Outcome]) -> None:
        index = 0
        while index < len(rest):
            text = rest[index].text
            if text == "-m" or (text.startswith("-m") and len(text) > 2 and "=" not in text):
                module = (
                    text[2:]
                    if len(text) > 2
                    else (rest[index + 1].text if index + 1 < len(rest) else "")
                )
                after = rest[index + (1 if len(text) > 2 else 2) :]
                if module == "pip":
                    self._pip(after, "pip")
                elif module == "uv":
                    self._uv(after)
                elif module == "pipx":
                    self._pipx(after)
                elif module in {"conda", "mamba"}:
                    self._conda(after)
                return
            if text == "-c" or text.startswith("-c"):
                return
            if text in {"-W", "-X", "-Q"}:
                index += 2
                continue
            if text == "-" or not text.startswith("-") or text == "--":
                break
            index += 1
        operands = rest[index:]
        if operands and operands[0].text == "--":
            operands = operands[1:]
        if operands and operands[0].text != "-":
            self._run_file(operands[0])
            return
        self._reads_stdin(command, upstream, script=False)

    def _interpreter(
        self, rest: list[_Arg], command: _Command, upstream: list[_Outcome], inline: set[str]
    ) -> None:
        for arg in rest:
            if arg.text in inline:
                return
            if arg.text == "-":
                break
            if not arg.text.startswith("-"):
                self._run_file(arg)
                return
        self._reads_stdin(command, upstream, script=False)

    def _reads_stdin(self, command: _Command, upstream: list[_Outcome], *, script: bool) -> None:
        """The interpreter runs whatever its standard input holds."""
        for redirect in command.redirects:
            if redirect.heredoc is not None and script:
                doc = redirect.heredoc
                errors: list[_Problem] = []
                self.run(_parse(doc.body, errors, line_base=doc.line, col_base=doc.column))
                return
            if redirect.op == "<" and redirect.target is not None:
                self._run_file(_Arg(text=redirect.target.text, word=redirect.target, dynamic=False))
                return
            if redirect.op == "<<<" and redirect.target is not None:
                fetch = self._fetch_in(redirect.target)
                if fetch is not None:
                    self._remote_script(fetch)
                return
        for outcome in upstream:
            if outcome.fetch is not None:
                self._remote_script(outcome.fetch)
                return

    def _run_string(self, arg: _Arg) -> None:
        fetch = self._fetch_in(arg.word)
        if fetch is not None:
            self._remote_script(fetch)
            return
        if not arg.dynamic:
            self.run_text(arg.text, arg.word)

    def _eval(self, rest: list[_Arg]) -> None:
        for arg in rest:
            fetch = self._fetch_in(arg.word)
            if fetch is not None:
                self._remote_script(fetch)
                return
        if rest and not any(a.dynamic for a in rest):
            self.run_text(" ".join(a.text for a in rest), rest[0].word)

    def _su(self, rest: list[_Arg], command: _Command, upstream: list[_Outcome]) -> None:
        for index, arg in enumerate(rest):
            text = arg.text
            if text in {"-c", "--command"} and index + 1 < len(rest):
                self._run_string(rest[index + 1])
                return
            if text.startswith("--command="):
                self._run_string(replace(arg, text=text.split("=", 1)[1]))
                return
            if text == "--" and index + 1 < len(rest):
                self.dispatch(rest[index + 1 :], command, upstream)
                return

    def _run_file(self, arg: _Arg) -> None:
        """The interpreter runs the file ``arg`` names (or a process substitution)."""
        if arg.word.procsub == "<":
            fetch = self._fetch_in(arg.word)
            if fetch is not None:
                self._remote_script(fetch)
            return
        self._executed(arg)

    def _fetch_in(self, word: _Word) -> _Fetch | None:
        """A download to standard output inside ``$(...)``/``<(...)`` of ``word``."""
        for sub in word.subs:
            for pipeline in sub.pipelines:
                for cmd in pipeline.commands:
                    fetch = self._peek_fetch(cmd)
                    if fetch is not None and fetch.output is None:
                        return fetch
        return None

    def _peek_fetch(self, command: _Command) -> _Fetch | None:
        if not command.words:
            return None
        args = self._strip_prefixes(self.expand(command.words), [])
        if not args:
            return None
        name = _command_name(args[0])
        if name not in {"curl", "wget", "aws", "gsutil", "gcloud"}:
            return None
        return _fetch(name, args[1:], command, self)

    # --- remote scripts ----------------------------------------------------------------------

    def _record_download(self, fetch: _Fetch) -> None:
        if fetch.output is None:
            return
        path = _norm_path(fetch.output)
        self.downloads = [d for d in self.downloads if d.path != path]
        self.downloads.append(Download(path=path, url=fetch.url, line=fetch.line))

    def _remote_script(self, fetch: _Fetch) -> None:
        if immutable_url(fetch.url):
            return
        subject = fetch.url or "remote script"
        message = f"remote script {fetch.url or '(no URL)'} runs without a hash check"
        location = self.source.at(fetch.line, fetch.column)
        self.findings.append(finding("RP105", message, location, subject=subject, fix=_SCRIPT_FIX))

    def _matching_download(self, text: str) -> Download | None:
        path = _norm_path(text)
        for download in reversed(self.downloads):
            if _same_file(download.path, path):
                return download
        return None

    def _executed(self, arg: _Arg) -> None:
        download = self._matching_download(arg.text)
        if download is None:
            return
        self.downloads.remove(download)
        if immutable_url(download.url):
            return
        where = download.url or download.path
        message = f"remote script {where} runs without a hash check"
        if download.line != self.line_of(arg.word):
            message = (
                f"remote script {where} (downloaded on line {download.line}) runs without "
                "a hash check"
            )
        self.findings.append(
            finding("RP105", message, self.at(arg.word), subject=where, fix=_SCRIPT_FIX)
        )

    def _checksum(
        self, rest: list[_Arg], command: _Command, upstream: list[_Outcome], *, onward: bool
    ) -> None:
        check = any(
            a.text == "--check" or (a.text[:1] == "-" and a.text[1:2] != "-" and "c" in a.text)
            for a in rest
        )
        operands = [a.text for a in rest if not a.text.startswith("-")]
        if check:
            listed: list[str] = []
            texts = [o.text for o in upstream if o.text]
            texts.extend(
                r.heredoc.body if r.heredoc else r.target.text
                for r in command.redirects
                if r.op in {"<<<", "<<", "<<-"} and r.target is not None
            )
            for text in texts:
                listed.extend(m.group(1) for m in _CHECKSUM_LINE.finditer(text))
            self._verified(listed)
        elif self.substitution_depth > 0 or onward:
            # `[ "$(sha256sum f | cut -d' ' -f1)" = "$SUM" ]`, `sha256sum f | grep -q $SUM`
            self._verified(operands, everything=False)

    def _verified(self, names: Sequence[str], *, everything: bool = True) -> None:
        """The files ``names`` are checked; when none of them is a download, a check whose list
        cannot be read (``sha256sum -c SUMS``) is taken to cover every download."""
        matched = [
            d for d in self.downloads if any(_same_file(d.path, _norm_path(n)) for n in names)
        ]
        if matched:
            self.downloads = [d for d in self.downloads if d not in matched]
        elif everything:
            self.downloads = []

    # --- Python installers -------------------------------------------------------------------

    def _pip(self, rest: list[_Arg], tool: str) -> None:
        """``pip``/``uv pip`` with everything after the program name."""
        parsed = _parse_pip(rest, uv=tool == "uv")
        if parsed.subcommand == "config":
            self._pip_config(parsed)
            return
        if parsed.subcommand not in {"install", "download", "wheel", "sync"}:
            return
        if tool == "uv" and parsed.subcommand == "sync":
            for arg in parsed.positional:
                self._requirement_file(arg, constraint=False)
            self.installs_python = True
            return
        for option, value in parsed.options:
            self._pip_option(option, value, tool, parsed)
        constraints: dict[str, str] = {}
        for arg in parsed.requirements:
            self._requirement_file(arg, constraint=False)
        for arg in parsed.constraints:
            target = self._requirement_file(arg, constraint=True)
            if target is not None:
                constraints.update(_exact_pins(self.ctx.root / target))
        if parsed.requirements or parsed.specs:
            self.installs_python = True
        local_only = parsed.no_index and not any(
            _is_remote(v.text) for o, v in parsed.options if o == "--find-links"
        )
        for arg, editable in parsed.specs:
            self._pip_spec(
                arg,
                editable=editable,
                hashes=tool in {"pip", "uv"},
                constraints=constraints,
                local_only=local_only,
            )

    def _pip_config(self, parsed: _PipArgs) -> None:
        words = parsed.positional
        if len(words) >= 3 and words[0].text == "set":
            key = words[1].text.split(".")[-1]
            if key in {"extra-index-url", "trusted-host"}:
                for value in words[2].text.split():
                    self._index_option(f"--{key}", value, words[2].word)
            elif key == "index-url":
                self.indexes.append(_redact(words[2].text))

    def _pip_option(self, option: str, value: _Arg, tool: str, parsed: _PipArgs) -> None:
        if option in {"--index-url", "--default-index"}:
            self.indexes.append(_redact(value.text))
        elif option in {"--extra-index-url", "--index"}:
            url = (
                value.text.split("=", 1)[1]
                if option == "--index" and "=" in value.text
                else value.text
            )
            self.indexes.append(_redact(url))
            # uv searches its indexes in order and stops at the first that has the package,
            # which is what stops dependency confusion; only its unsafe strategies do not.
            if tool != "uv" or parsed.unsafe_index_strategy:
                self._index_option("--extra-index-url", url, value.word)
        elif option in {"--trusted-host", "--allow-insecure-host"}:
            self._index_option("--trusted-host", value.text, value.word)

    def _index_option(self, option: str, value: str, word: _Word) -> None:
        location = self.at(word)
        if option == "--trusted-host":
            message = f"--trusted-host {value} turns off TLS verification for that host"
            fix = f"serve {value} over HTTPS and drop --trusted-host"
            self.findings.append(finding("RP107", message, location, subject=value, fix=fix))
            return
        shown = _redact(value)
        message = f"--extra-index-url {shown} lets a public package shadow a private one"
        fix = "use a single --index-url that proxies both sources"
        self.findings.append(finding("RP107", message, location, subject=shown, fix=fix))

    def _requirement_file(self, arg: _Arg, *, constraint: bool) -> str | None:
        """``-r FILE``/``-c FILE``: the file is audited itself when it is in the repository."""
        self.installs_python |= not constraint
        if arg.dynamic or arg.word.procsub:
            return None
        if _is_remote(arg.text):
            if not immutable_url(arg.text):
                kind = "constraints" if constraint else "requirements"
                message = f"{kind} file {arg.text} is downloaded at install time without a hash"
                fix = "commit the file to the repository and install from it"
                self.findings.append(
                    finding("RP105", message, self.at(arg.word), subject=arg.text, fix=fix)
                )
            return None
        download = self._matching_download(arg.text)
        if download is not None:
            self.downloads.remove(download)
            if not immutable_url(download.url):
                where = download.url or download.path
                message = f"requirements file {arg.text} is downloaded from {where} without a hash"
                fix = "commit the file to the repository and install from it"
                self.findings.append(
                    finding("RP105", message, self.at(arg.word), subject=where, fix=fix)
                )
            return None
        target = self.locate(arg.text)
        if target is None:
            # Not in the repository (written by an earlier step, or in another checkout):
            # nothing here says what it holds, so there is nothing to judge.
            return None
        self.includes.append(
            Include(target=target, line=self.line_of(arg.word), constraint=constraint)
        )
        return target

    def _pip_spec(
        self,
        arg: _Arg,
        *,
        editable: bool,
        hashes: bool,
        constraints: Mapping[str, str],
        local_only: bool,
    ) -> None:
        location = self.at(arg.word)
        download = self._matching_download(arg.text) if not _is_remote(arg.text) else None
        if download is not None:
            self.downloads.remove(download)
            if not immutable_url(download.url):
                where = download.url or download.path
                message = (
                    f"{arg.text} is downloaded from {where} and installed without a hash check"
                )
                fix = "check the download with sha256sum -c before installing it"
                self.findings.append(finding("RP105", message, location, subject=where, fix=fix))
            return
        text = _normalise_vars(arg.text)
        if arg.dynamic and _dynamic_name(text):
            # The whole requirement comes from a variable set at run time: nothing in the
            # file says what is installed, so it is not judged.
            return
        try:
            spec = classify(text, editable=editable)
        except ValueError:
            return  # pip rejects it too; nothing gets installed
        self.installs_python = True
        before = len(self.findings)
        self._judge(spec, location, hashes=hashes, constraints=constraints, local_only=local_only)
        swallowed = self._swallowed_by_redirect(arg.word)
        if swallowed:
            for index in range(before, len(self.findings)):
                found = self.findings[index]
                if found.rule in {"RP101", "RP102"}:
                    message = (
                        f"{found.message}: the shell reads {swallowed} as a redirection, "
                        "so quote the requirement"
                    )
                    self.findings[index] = replace(found, message=message)

    def _swallowed_by_redirect(self, word: _Word) -> str:
        """``numpy>=1.2`` unquoted is ``numpy`` with its output sent to a file ``=1.2``."""
        for redirect in self.redirects:
            target = redirect.target
            if (
                redirect.op in {">", ">>", "<"}
                and target is not None
                and target.line == word.line
                and target.column == word.column + len(word.raw) + len(redirect.op)
            ):
                return redirect.op + target.raw
        return ""

    def _judge(
        self,
        spec: Spec,
        location: Location,
        *,
        hashes: bool,
        constraints: Mapping[str, str] | None = None,
        local_only: bool = False,
    ) -> None:
        self._wheel_pin(spec, location)
        if spec.kind is SpecKind.PATH and (
            self.container or spec.url is None or spec.url.startswith(("/", "~", "$"))
        ):
            # Inside an image build every path names the image's files; an absolute path in
            # a script names something the script itself put there. Neither can be judged.
            return
        pinned = (constraints or {}).get(spec.name) if spec.name else None
        if (
            pinned is not None
            and spec.kind in {SpecKind.UNPINNED, SpecKind.RANGE}
            and _admits(spec.specifier, pinned)
        ):
            self.pins.append(Pin(name=spec.name, version=pinned, line=location.line))
            return
        if spec.kind is SpecKind.EXACT and spec.version is not None:
            self.pins.append(Pin(name=spec.name, version=spec.version, line=location.line))
        if local_only and spec.kind in {SpecKind.UNPINNED, SpecKind.RANGE, SpecKind.EXACT}:
            return  # --no-index: only files the build itself provided can be installed
        self.findings.extend(judge_concrete(spec, location, self.judge))
        if (
            spec.kind is SpecKind.EXACT
            and spec.version is not None
            and hashes
            and self.ctx.config.require_hashes
        ):
            message = (
                f"{spec.label}=={spec.version} is installed without a hash "
                "(pip takes hashes only from a requirements file)"
            )
            self.findings.append(
                finding(
                    "RP103",
                    message,
                    location,
                    subject=spec.name,
                    fix="install from a hashed requirements file with --require-hashes",
                )
            )

    def _wheel_pin(self, spec: Spec, location: Location) -> None:
        if spec.url is None or spec.kind not in {SpecKind.URL, SpecKind.PATH}:
            return
        match = _WHEEL.match(PurePosixPath(urlsplit(spec.url).path).name)
        if match is not None:
            self.pins.append(
                Pin(
                    name=canonicalize_name(match.group(1)),
                    version=match.group(2),
                    line=location.line,
                    hashed=bool(spec.hashes),
                )
            )

    def _judge_text(self, arg: _Arg, text: str, *, hashes: bool = False) -> None:
        """Judge a requirement written in a tool's own syntax, already turned into PEP 508."""
        if arg.dynamic and _dynamic_name(_normalise_vars(text)):
            return
        try:
            spec = classify(_normalise_vars(text))
        except ValueError:
            return
        self.installs_python = True
        self._judge(spec, self.at(arg.word), hashes=hashes)

    def _uv(self, rest: list[_Arg]) -> None:
        rest = _skip_options(rest, "", _UV_GLOBAL_VALUE)
        sub = _sub(rest)
        if sub == "pip":
            self._pip(rest[1:], "uv")
        elif sub == "add":
            self._project_add(rest, "uv")
        elif sub == "tool" and _sub(rest[1:]) in {"install", "run"}:
            self._tool_run(rest[2:])
        elif sub == "sync":
            self.installs_python = True

    def _uv_run(self, rest: list[_Arg]) -> list[_Arg]:
        """``uv run [options] command``: ``--with`` requirements are installed on the fly."""
        index = 0
        while index < len(rest):
            text = rest[index].text
            if text == "--":
                return rest[index + 1 :]
            if not text.startswith("-"):
                return rest[index:]
            option, eq, value = text.partition("=")
            if option in {"--with", "-w", "--with-editable"}:
                value_arg = _option_value(rest, index, eq, value)
                if value_arg is not None:
                    for part in value_arg.text.split(","):
                        self._judge_text(value_arg, _at_version(part.strip()))
                index += 1 if eq else 2
                continue
            if option in _UV_RUN_VALUE and not eq:
                index += 2
                continue
            index += 1
        return []

    def _tool_run(self, rest: list[_Arg]) -> None:
        """``uvx``/``uv tool run``/``uv tool install``: the first operand (or ``--from``)."""
        index = 0
        judged_from = False
        while index < len(rest):
            text = rest[index].text
            option, eq, value = text.partition("=")
            if option in {"--from", "--with", "-w"}:
                value_arg = _option_value(rest, index, eq, value)
                if value_arg is not None:
                    self._judge_text(value_arg, _at_version(value_arg.text))
                    judged_from |= option == "--from"
                index += 1 if eq else 2
                continue
            if text.startswith("-"):
                index += 1 if eq or option not in _UV_TOOL_VALUE else 2
                continue
            if not judged_from:
                self._judge_text(rest[index], _at_version(text))
            return

    def _pipx(self, rest: list[_Arg]) -> None:
        sub = _sub(rest)
        if sub not in {"install", "run", "inject"}:
            return
        operands: list[_Arg] = []
        spec_option: _Arg | None = None
        index = 1
        while index < len(rest):
            text = rest[index].text
            option, eq, value = text.partition("=")
            if option == "--spec":
                spec_option = _option_value(rest, index, eq, value)
                index += 1 if eq else 2
                continue
            if option in {"--index-url", "-i"}:
                target = _option_value(rest, index, eq, value)
                if target is not None:
                    self.indexes.append(_redact(target.text))
                index += 1 if eq else 2
                continue
            if text.startswith("-"):
                index += 1 if eq or option not in _PIPX_VALUE else 2
                continue
            operands.append(rest[index])
            if sub == "run":
                break
            index += 1
        if spec_option is not None:
            self._judge_text(spec_option, spec_option.text)
            return
        if sub == "inject":
            operands = operands[1:]
        for arg in operands:
            self._judge_text(arg, arg.text)

    def _project_add(self, rest: list[_Arg], tool: str) -> None:
        """``poetry add``/``uv add``/``pdm add``: resolves and locks at build time."""
        if _sub(rest) == "self":
            rest = rest[1:]
        if _sub(rest) != "add":
            if _sub(rest) in {"install", "sync"}:
                self.installs_python = True
            return
        for arg in self._project_operands(rest, _ADD_VALUE):
            self._judge_text(arg, _poetry_spec(arg.text) if tool == "poetry" else arg.text)

    def _pipenv(self, rest: list[_Arg]) -> None:
        if _sub(rest) not in {"install", "sync"}:
            return
        self.installs_python = True
        for arg in self._project_operands(rest, _PIPENV_VALUE):
            self._judge_text(arg, arg.text)

    def _project_operands(self, rest: list[_Arg], value_options: frozenset[str]) -> Iterator[_Arg]:
        """The package operands after a subcommand (``add``, ``install``), in order; a
        ``-r FILE`` on the way is read as a requirements file."""
        index = 1
        while index < len(rest):
            text = rest[index].text
            option, eq, _ = text.partition("=")
            if text.startswith("-"):
                if option in {"-r", "--requirements"} and not eq and index + 1 < len(rest):
                    self._requirement_file(rest[index + 1], constraint=False)
                    index += 2
                    continue
                index += 1 if eq or option not in value_options else 2
                continue
            yield rest[index]
            index += 1

    def _pip_sync(self, rest: list[_Arg]) -> None:
        self.installs_python = True
        for arg in rest:
            if not arg.text.startswith("-"):
                self._requirement_file(arg, constraint=False)

    def _conda(self, rest: list[_Arg]) -> None:
        rest = _skip_options(rest, "", {"--rc-file", "-r", "--root-prefix"})
        sub = _sub(rest)
        if sub not in {"install", "create", "update", "upgrade"}:
            return
        index = 1
        while index < len(rest):
            arg = rest[index]
            text = arg.text
            option, eq, _ = text.partition("=")
            if text.startswith("-"):
                index += 1 if eq or option not in _CONDA_VALUE else 2
                if option in {"--file", "-f"}:
                    self.installs_python = True
                continue
            index += 1
            if arg.dynamic:
                continue
            try:
                spec = parse_conda_spec(text)
            except ValueError:
                continue
            self.installs_python = True
            location = self.at(arg.word)
            if spec.kind is SpecKind.EXACT and spec.version is not None:
                self.pins.append(Pin(name=spec.pin_name, version=spec.version, line=location.line))
            else:
                self.findings.append(inexact_conda_finding(spec, location))

    # --- OS packages -------------------------------------------------------------------------

    def _os_packages(
        self,
        rest: list[_Arg],
        tool: str,
        verb: str,
        value_options: frozenset[str],
        versioned: Callable[[str], bool],
    ) -> None:
        index = 0
        seen_verb = False
        unversioned: list[_Arg] = []
        while index < len(rest):
            arg = rest[index]
            text = arg.text
            index += 1
            if text.startswith("-"):
                option, eq, _ = text.partition("=")
                if not eq and (
                    option in value_options or (len(option) == 2 and option in value_options)
                ):
                    index += 1
                continue
            if not seen_verb:
                if text not in {verb, "in"} and not (
                    tool in {"yum", "dnf"} and text == "reinstall"
                ):
                    return
                seen_verb = True
                continue
            if arg.dynamic or _is_remote(text) or text.startswith(("/", "./", "../", "@")):
                continue
            if text.endswith((".deb", ".rpm", ".apk")) or versioned(text):
                continue
            unversioned.append(arg)
        if not unversioned:
            return
        names = [a.text for a in unversioned]
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        example = names[0]
        separator = "-" if tool in {"yum", "dnf", "microdnf", "tdnf"} else "="
        message = f"{tool} {verb} {shown} without versions"
        fix = f"pin each package ({example}{separator}<version>), or accept this with a baseline"
        self.findings.append(
            finding(
                "RP304",
                message,
                self.at(unversioned[0].word),
                subject=f"{tool}: {' '.join(sorted(names))}",
                fix=fix,
            )
        )


# --- helpers for the analyzer ------------------------------------------------------------------

_SCRIPT_FIX = (
    "download it to a file, check it with sha256sum -c against a known hash, then run it "
    "(or fetch it from a URL that names a commit)"
)
_PATH_DIRS = _words("/usr/local/bin /usr/local/sbin /usr/bin /usr/sbin /bin /sbin")
_CHECKSUM_LINE = re.compile(r"(?m)^\s*\S+\s+\*?(\S+)\s*$")


def _command_name(arg: _Arg) -> str:
    text = arg.text
    base = text.rstrip("/").rsplit("/", 1)[-1]
    if base.lower().endswith(".exe"):
        base = base[:-4]
    if "$" in base or "`" in base:
        match = _VAR_ONLY.match(base) or re.search(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?\s*$", base)
        if match is None:
            return ""
        var = match.group(1).lower()
        if re.fullmatch(r"pip\d*(?:_(?:cmd|bin|exe|command))?", var):
            return "pip"
        if re.fullmatch(r"(?:python|py)\d*(?:_(?:cmd|bin|exe|interpreter|command))?", var):
            return "python"
        return ""
    return base


def _sub(rest: Sequence[_Arg]) -> str:
    return rest[0].text if rest else ""


def _option_value(rest: Sequence[_Arg], index: int, eq: str, value: str) -> _Arg | None:
    """The value of the option ``rest[index]``: what follows its ``=``, else the next word."""
    if eq:
        return replace(rest[index], text=value)
    return rest[index + 1] if index + 1 < len(rest) else None


def _skip_options(
    rest: list[_Arg], short_values: str, long_values: set[str] | frozenset[str]
) -> list[_Arg]:
    """``rest`` after the leading options (and ``--``) of a wrapper command."""
    index = 0
    while index < len(rest):
        text = rest[index].text
        if text == "--":
            return rest[index + 1 :]
        if not text.startswith("-") or text == "-":
            break
        if text.startswith("--"):
            option, eq, _ = text.partition("=")
            index += 2 if option in long_values and not eq else 1
            continue
        if len(text) == 2 and text[1] in short_values:
            index += 2
            continue
        if text[1:].isdigit():  # nice -10
            index += 1
            continue
        index += 1
    return rest[index:]


def _norm_path(text: str) -> str:
    path = text.strip()
    while path.startswith("./"):
        path = path[2:]
    if path:
        path = posixpath.normpath(path)
    return path


def _same_file(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    if "/" not in a or "/" not in b:
        return posixpath.basename(a) == posixpath.basename(b)
    return False


def _is_remote(text: str) -> bool:
    return bool(re.match(r"^(?:https?|ftp)://", text, re.IGNORECASE))


def immutable_url(url: str) -> bool:
    """True for a URL that names a commit on a git host (its bytes cannot change)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if (parts.hostname or "") not in _GIT_HOSTS:
        return False
    for segment in parts.path.split("/"):
        ref = segment.rsplit("@", 1)[-1]
        if _HEX40.match(ref.lower()):
            return True
    return False


def _redact(url: str) -> str:
    return _CREDENTIALS.sub("//***@", url)


def _normalise_vars(text: str) -> str:
    """``$NAME`` as ``${NAME}``, the form the spec classifier understands."""
    return re.sub(r"\$([A-Za-z_][A-Za-z0-9_]*)", r"${\1}", text)


def _dynamic_name(text: str) -> bool:
    """True when a requirement's name (not only its version) comes from an expansion."""
    head = re.split(r"[<>=!~;\[@ ]", text, maxsplit=1)[0]
    return "$" in head or "`" in head or head == ""


def _admits(specifier: str, version: str) -> bool:
    if not specifier:
        return True
    try:
        return SpecifierSet(specifier).contains(version, prereleases=True)
    except (InvalidSpecifier, ValueError):
        return False


def _exact_pins(path: Path) -> dict[str, str]:
    """Exact pins of a constraints file (``-c``), read as pip reads it."""
    from reprolock.audit.requirements import parse_requirements  # noqa: PLC0415 - cycle-free lazy

    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError):
        return {}
    pins: dict[str, str] = {}
    for entry in parse_requirements(text).requirements:
        spec = entry.spec
        if spec.kind is SpecKind.EXACT and spec.name and spec.version is not None:
            pins[spec.name] = spec.version
    return pins


def _at_version(text: str) -> str:
    """uv's ``tool@1.2.3`` as ``tool==1.2.3`` (``@latest`` is no pin at all)."""
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)@([^/:@\s]+)", text)
    if match is None:
        return text
    name, version = match.groups()
    return name if version == "latest" else f"{name}=={version}"


def _poetry_spec(text: str) -> str:
    """Poetry's ``name@constraint`` as PEP 508 as far as exactness is concerned."""
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)@(.+)", text)
    if match is None or "://" in text:
        return text
    name, constraint = match.groups()
    constraint = constraint.strip()
    if constraint in {"latest", "*"}:
        return name
    if re.fullmatch(r"\d[\w.+!-]*", constraint):
        return f"{name}=={constraint}"
    if constraint.startswith(("^", "~")) and not constraint.startswith("~="):
        return f"{name}>={constraint.lstrip('^~')}"
    return f"{name}{constraint}"


_CONDA_VALUE = _words(
    "-c --channel -n --name -p --prefix --file -f --repodata-fn --platform --subdir "
    "--solver --experimental-solver --clone --revision -r --root-prefix "
    "--channel-priority --rc-file"
)
_APT_VALUE = frozenset(
    {"-o", "--option", "-t", "--target-release", "--default-release", "-c", "--config-file", "-a"}
)
_APK_VALUE = _words(
    "-X --repository -t --virtual --repositories-file -p --root --arch --cache-dir --keys-dir"
)
_RPM_VALUE = _words(
    "--enablerepo --disablerepo --setopt --releasever -c --config --installroot --repo "
    "--repoid --exclude -x --repofrompath --forcearch -R --repo-id"
)
_PIPENV_VALUE = frozenset({"--python", "--pypi-mirror", "-i", "--index"})
_ADD_VALUE = _words(
    "-G --group -E --extras --extra --optional --source --python -p --platform --markers "
    "-m --marker -C --directory -P --project --index --default-index --package --script "
    "--branch --tag --rev --bounds -L --lockfile -c --constraints"
)
_PIPX_VALUE = frozenset({"--python", "--pip-args", "--suffix", "--global", "--index-url", "-i"})
_UV_GLOBAL_VALUE = frozenset(
    {"--cache-dir", "--directory", "--project", "--config-file", "--color", "--python", "-p"}
)
_UV_RUN_VALUE = _words(
    "--python -p --directory --project --package --extra --group --env-file --index "
    "--default-index --index-url --extra-index-url --with-requirements --only-group "
    "--no-group --config-file"
)
_UV_TOOL_VALUE = _words(
    "--python -p --index --default-index --index-url --extra-index-url "
    "--with-requirements --constraints --overrides -c"
)


def _apt_versioned(text: str) -> bool:
    return "=" in text


def _apk_versioned(text: str) -> bool:
    return any(ch in text for ch in "=<>~")


def _rpm_versioned(text: str) -> bool:
    if any(ch in text for ch in "=<>"):
        return True
    parts = text.split("-")
    return len(parts) > 1 and parts[-1][:1].isdigit()


# --- pip command lines -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _PipArgs:
    subcommand: str = ""
    specs: tuple[tuple[_Arg, bool], ...] = ()
    requirements: tuple[_Arg, ...] = ()
    constraints: tuple[_Arg, ...] = ()
    options: tuple[tuple[str, _Arg], ...] = ()
    positional: tuple[_Arg, ...] = ()
    no_index: bool = False
    unsafe_index_strategy: bool = False


# Options of pip install/download/wheel (and pip's general options) that take a value.
_PIP_VALUE = _words(
    "--requirement --constraint --editable --index-url --extra-index-url --find-links "
    "--trusted-host --target --platform --python-version --implementation --abi --root "
    "--prefix --src --upgrade-strategy --config-settings --global-option --install-option "
    "--build-option --no-binary --only-binary --progress-bar --root-user-action --report "
    "--dest --wheel-dir --log --log-file --proxy --retries --timeout --exists-action --cert "
    "--client-cert --cache-dir --python --keyring-provider --use-feature --use-deprecated "
    "--group --build --build-dir"
)
# pip's flags, so that an abbreviation is only expanded when optparse would (--pre is a flag,
# not the start of --prefix).
_PIP_FLAGS = _words(
    "--pre --user --upgrade --no-deps --force-reinstall --ignore-installed --no-index "
    "--require-hashes --no-cache-dir --quiet --verbose --no-build-isolation --compile "
    "--no-compile --prefer-binary --dry-run --break-system-packages --isolated --no-input "
    "--disable-pip-version-check --no-color --no-clean --ignore-requires-python "
    "--no-warn-conflicts --no-warn-script-location --use-pep517 --no-use-pep517 "
    "--check-build-dependencies --require-virtualenv --no-python-version-warning"
)
# uv pip's options that take a value, beyond pip's.
_UV_VALUE = _PIP_VALUE | _words(
    "--requirements --constraints --destination-directory --index --default-index "
    "--index-strategy --resolution --prerelease --extra --override --overrides "
    "--exclude-newer --link-mode --reinstall-package --upgrade-package "
    "--no-build-isolation-package --config-file --python-platform --refresh-package "
    "--directory --project --torch-backend --allow-insecure-host --no-binary-package "
    "--only-binary-package --build-constraint --build-constraints --excludes "
    "--fork-strategy --color"
)
_PIP_SHORT_LONG = {
    "r": "--requirement",
    "c": "--constraint",
    "e": "--editable",
    "i": "--index-url",
    "f": "--find-links",
    "t": "--target",
    "C": "--config-settings",
    "d": "--dest",
    "w": "--wheel-dir",
    "b": "--build",
}
_UV_SHORT_LONG = {**_PIP_SHORT_LONG, "p": "--python", "P": "--upgrade-package"}
_PIP_ALIASES = {
    "--requirements": "--requirement",
    "--constraints": "--constraint",
    "--destination-directory": "--dest",
    "--allow-insecure-host": "--trusted-host",
}
_PIP_KNOWN = tuple(sorted(_PIP_VALUE | _PIP_FLAGS))


def _long_option(written: str, *, uv: bool) -> str:
    """The option ``written`` names: uv takes exact names, pip's optparse unique prefixes."""
    if uv or written in _PIP_VALUE or written in _PIP_FLAGS:
        return _PIP_ALIASES.get(written, written)
    matches = [name for name in _PIP_KNOWN if name.startswith(written)]
    return matches[0] if len(matches) == 1 else written


def _parse_pip(rest: Sequence[_Arg], *, uv: bool) -> _PipArgs:
    shorts = _UV_SHORT_LONG if uv else _PIP_SHORT_LONG
    subcommand = ""
    specs: list[tuple[_Arg, bool]] = []
    requirements: list[_Arg] = []
    constraints: list[_Arg] = []
    options: list[tuple[str, _Arg]] = []
    positional: list[_Arg] = []
    no_index = unsafe = False
    only_positional = False

    def take(option: str, value: _Arg) -> None:
        nonlocal unsafe
        if option == "--requirement":
            requirements.append(value)
        elif option == "--constraint":
            constraints.append(value)
        elif option == "--editable":
            specs.append((value, True))
        elif option == "--index-strategy":
            unsafe = value.text.startswith("unsafe")
        else:
            options.append((option, value))

    index = 0
    while index < len(rest):
        arg = rest[index]
        text = arg.text
        index += 1
        if only_positional or not text.startswith("-") or text == "-":
            if not subcommand:
                subcommand = text
            elif subcommand in {"install", "download", "wheel"}:
                specs.append((arg, False))
            else:
                positional.append(arg)
            continue
        if text == "--":
            only_positional = True
            continue
        if text.startswith("--"):
            written, eq, value = text.partition("=")
            option = _long_option(written, uv=uv)
            if option == "--no-index":
                no_index = True
            if option in (_UV_VALUE if uv else _PIP_VALUE):
                if eq:
                    take(option, replace(arg, text=value))
                elif index < len(rest):
                    take(option, rest[index])
                    index += 1
            continue
        # a cluster of short options: -qr requirements.txt, -Ur req.txt, -ihttps://...
        for position in range(1, len(text)):
            letter = text[position]
            if letter in shorts:
                attached = text[position + 1 :]
                if attached:
                    take(shorts[letter], replace(arg, text=attached))
                elif index < len(rest):
                    take(shorts[letter], rest[index])
                    index += 1
                break
    return _PipArgs(
        subcommand=subcommand,
        specs=tuple(specs),
        requirements=tuple(requirements),
        constraints=tuple(constraints),
        options=tuple(options),
        positional=tuple(positional),
        no_index=no_index,
        unsafe_index_strategy=unsafe,
    )


# --- downloads -------------------------------------------------------------------------------

_CURL_SHORT_VALUE = frozenset("AbcCdDeEFHKmoPQrtTuUwxXyYz")
_CURL_LONG_VALUE = _words(
    "--output --user-agent --cookie --cookie-jar --continue-at --data --data-ascii "
    "--data-binary --data-raw --data-urlencode --dump-header --referer --cert --form "
    "--form-string --header --config --max-time --quote --range --upload-file --user "
    "--proxy-user --write-out --proxy --request --speed-limit --speed-time --time-cond "
    "--retry --retry-delay --retry-max-time --connect-timeout --output-dir --cacert "
    "--capath --key --proto --proto-redir --resolve --max-filesize --limit-rate "
    "--interface --netrc-file --oauth2-bearer --json --variable --tls-max --max-redirs "
    "--connect-to --unix-socket --pinnedpubkey --url --ciphers --dns-servers "
    "--expect100-timeout --keepalive-time --local-port --happy-eyeballs-timeout-ms"
)
_WGET_SHORT_VALUE = frozenset("OoaPtTwUeiBlARDQXI")
_WGET_LONG_VALUE = _words(
    "--output-document --output-file --append-output --directory-prefix --tries --timeout "
    "--wait --user-agent --execute --input-file --base --level --accept --reject "
    "--domains --header --user --password --post-data --post-file --referer "
    "--load-cookies --save-cookies --ca-certificate --certificate --private-key --quota "
    "--limit-rate --method --body-data --body-file --http-user --http-password "
    "--dns-timeout --connect-timeout --read-timeout --waitretry --bind-address --progress "
    "--ca-directory"
)


def _options_and_operands(
    rest: Sequence[_Arg], short_values: frozenset[str], long_values: frozenset[str]
) -> tuple[list[tuple[str, _Arg]], list[_Arg]]:
    """Options (``-o`` as ``o``, ``--output`` as itself) with values, and operands."""
    options: list[tuple[str, _Arg]] = []
    operands: list[_Arg] = []
    index = 0
    while index < len(rest):
        arg = rest[index]
        text = arg.text
        index += 1
        if text == "--":
            operands.extend(rest[index:])
            break
        if text.startswith("--"):
            written, eq, value = text.partition("=")
            if written in long_values:
                if eq:
                    options.append((written, replace(arg, text=value)))
                elif index < len(rest):
                    options.append((written, rest[index]))
                    index += 1
            else:
                options.append((written, replace(arg, text="")))
            continue
        if text.startswith("-") and len(text) > 1:
            for position in range(1, len(text)):
                letter = text[position]
                if letter in short_values:
                    attached = text[position + 1 :]
                    if attached:
                        options.append((letter, replace(arg, text=attached)))
                    elif index < len(rest):
                        options.append((letter, rest[index]))
                        index += 1
                    break
                options.append((letter, replace(arg, text="")))
            continue
        operands.append(arg)
    return options, operands


def _url_basename(url: str) -> str:
    try:
        path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    except ValueError:
        return ""
    return path.rstrip("/").rsplit("/", 1)[-1] if path.rstrip("/") else ""


def _fetch(name: str, rest: list[_Arg], command: _Command, analyzer: _Analyzer) -> _Fetch | None:
    """The download ``name rest...`` performs, or None when it is not one."""
    redirect_out = next(
        (
            r.target.text
            for r in command.redirects
            if r.op in {">", ">>", ">|", "&>", "&>>"} and r.target is not None
        ),
        None,
    )
    if redirect_out in {"/dev/null", "/dev/stderr"}:
        redirect_out = None
    if name == "curl":
        options, operands = _options_and_operands(rest, _CURL_SHORT_VALUE, _CURL_LONG_VALUE)
        flags = {o for o, _ in options}
        if flags & {"--version", "V", "--help", "h"}:
            return None
        urls = [*operands] + [v for o, v in options if o == "--url"]
        url = urls[0] if urls else None
        output: str | None = next((v.text for o, v in options if o in {"o", "--output"}), None)
        if output == "-":
            output = None
        if output is None and flags & {"O", "--remote-name", "--remote-name-all"} and url:
            output = _url_basename(url.text)
        directory = next((v.text for o, v in options if o == "--output-dir"), None)
        if output and directory and not output.startswith("/"):
            output = f"{directory.rstrip('/')}/{output}"
        output = output or redirect_out
    elif name == "wget":
        options, operands = _options_and_operands(rest, _WGET_SHORT_VALUE, _WGET_LONG_VALUE)
        flags = {o for o, _ in options}
        if flags & {"--version", "V", "--help", "h", "--spider"}:
            return None
        candidates = [a for a in operands if a.text != "-"]
        url = next(
            (a for a in candidates if "://" in a.text), candidates[0] if candidates else None
        )
        document = next((v.text for o, v in options if o in {"O", "--output-document"}), None)
        if document is not None:
            output = None if document == "-" else document
        else:
            base = _url_basename(url.text) if url else ""
            base = base or "index.html"
            prefix = next((v.text for o, v in options if o in {"P", "--directory-prefix"}), None)
            output = f"{prefix.rstrip('/')}/{base}" if prefix else base
            output = redirect_out or output
    elif name in {"aws", "gsutil", "gcloud"}:
        operands = [a for a in rest if not a.text.startswith("-")]
        sources = [a for a in operands if a.text.startswith(("s3://", "gs://"))]
        if not sources:
            return None
        url = sources[0]
        after = operands[operands.index(url) + 1 :]
        if not after:
            return None
        target = after[-1].text
        output = (
            f"{target.rstrip('/')}/{_url_basename(url.text)}"
            if target.endswith("/") or target == "."
            else target
        )
    else:
        return None
    line = analyzer.line_of(url.word) if url else analyzer.geometry.line(command.line)
    column = analyzer.at(url.word).column if url else 1
    return _Fetch(url=url.text if url else "", line=line, column=column, output=output)


# =============================================================================================
# Locating files named on a command line
# =============================================================================================


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
    try:
        absolute = (ctx.root / path).resolve()
        absolute.relative_to(ctx.root.resolve())
    except (OSError, ValueError):
        return None
    return path if absolute.is_file() else None


# =============================================================================================
# Scanners: shell scripts and Makefiles
# =============================================================================================

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
        audit = audit_shell(source.text, source, ctx)
        return _facts(source, self.name, audit)


class MakefileScanner(Scanner):
    """``Makefile``, ``GNUmakefile``, ``*.mk``: each recipe line is a shell command line."""

    name = "makefile"

    def claims(self, relpath: str, filename: str) -> bool:
        return filename in {"Makefile", "makefile", "GNUmakefile"} or filename.endswith(".mk")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        findings: list[Finding] = []
        pins: list[Pin] = []
        includes: list[Include] = []
        indexes: list[str] = []
        installs = False
        budget = ExpansionBudget(source.path)
        for recipe in make_recipes(source.text, budget):
            audit = audit_shell(
                recipe.text,
                source,
                ctx,
                line_map=recipe.lines,
                column_map=recipe.columns,
                column_offsets=recipe.offsets,
                budget=budget,
            )
            findings.extend(audit.findings)
            pins.extend(audit.pins)
            includes.extend(audit.includes)
            indexes.extend(audit.indexes)
            installs |= audit.installs_python
        note = budget.note()
        if note is not None:
            findings.append(note)
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.CONCRETE if installs else Role.OTHER,
            findings=tuple(findings),
            pins=tuple(pins),
            includes=tuple(dict.fromkeys(includes)),
            indexes=tuple(dict.fromkeys(indexes)),
        )


def _facts(source: SourceFile, kind: str, audit: ShellAudit) -> FileFacts:
    return FileFacts(
        path=source.path,
        kind=kind,
        role=Role.CONCRETE if audit.installs_python else Role.OTHER,
        findings=audit.findings,
        pins=audit.pins,
        includes=audit.includes,
        indexes=audit.indexes,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class MakeRecipe:
    """One recipe command line (with its continuations) as the shell receives it."""

    text: str
    lines: tuple[int, ...]
    """File line of each line of ``text``."""
    columns: tuple[int, ...]
    """File column where each line of ``text`` starts."""
    offsets: tuple[tuple[int, ...], ...]
    """For each line of ``text``: where each character was written (make variables expand)."""


_MAKE_ASSIGN = re.compile(
    r"^(?:export\s+|override\s+|private\s+)*([A-Za-z_][A-Za-z0-9_.-]*)\s*(::=|:::=|:=|\?=|\+=|!=|=)\s*(.*)$"
)
_MAKE_RULE = re.compile(r"^[^\s#=:][^=]*?(?<!:):(?!=)")
_MAKE_DIRECTIVE = re.compile(
    r"^\s*(?:ifeq|ifneq|ifdef|ifndef|else|endif|include|-include|sinclude|vpath|export|unexport)\b"
)
_MAKE_REF = re.compile(r"\$\$|\$\(([^()$]*)\)|\$\{([^{}$]*)\}|\$(.)")


def make_recipes(text: str, budget: ExpansionBudget | None = None) -> Iterator[MakeRecipe]:
    """Recipe command lines of a Makefile, make variables expanded where they are simple and
    within ``budget`` (a reference past it is left to the shell as an unknown variable)."""
    budget = budget if budget is not None else ExpansionBudget()
    lines = text.split("\n")
    variables: dict[str, str | None] = {}
    in_rule = False
    in_define = False
    index = 0
    while index < len(lines):
        raw = lines[index].rstrip("\r")
        number = index + 1
        index += 1
        if in_define:
            in_define = raw.strip() != "endef"
            continue
        if raw.startswith("\t") and in_rule:
            parts = [(number, raw[1:], 2)]
            while parts[-1][1].endswith("\\") and index < len(lines):
                following = lines[index].rstrip("\r")
                index += 1
                body = following[1:] if following.startswith("\t") else following
                parts.append((index, body, 2 if following.startswith("\t") else 1))
            yield _recipe(parts, variables, budget)
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        # a logical make line (definitions and rules join at a backslash too)
        while raw.endswith("\\") and index < len(lines):
            raw = raw[:-1] + " " + lines[index].rstrip("\r").lstrip()
            index += 1
        stripped = raw.strip()
        if stripped.startswith("define ") or stripped == "define":
            in_define = True
            continue
        if _MAKE_DIRECTIVE.match(stripped) and not _MAKE_ASSIGN.match(
            stripped.removeprefix("export ").strip()
        ):
            continue
        assignment = _MAKE_ASSIGN.match(stripped)
        if assignment is not None and not _MAKE_RULE.match(stripped.split("=", 1)[0] + "="):
            name, op, value = assignment.groups()
            value = _strip_make_comment(value)
            if op == "?=" and name in variables:
                continue
            if op == "+=":
                before = variables.get(name)
                variables[name] = (
                    None
                    if before is None and name in variables
                    else f"{before or ''} {value}".strip()
                )
            elif op == "!=":
                variables[name] = None
            else:
                variables[name] = value
            continue
        if _MAKE_RULE.match(stripped):
            in_rule = True
            after = stripped.partition(":")[2]
            if ";" in after and "=" not in after.split(";", 1)[0]:
                inline = after.split(";", 1)[1]
                column = raw.find(";") + 2
                yield _recipe([(number, inline, column)], variables, budget)
            continue
        in_rule = False


def _strip_make_comment(value: str) -> str:
    match = re.search(r"(?<!\\)#", value)
    return (value[: match.start()] if match else value).strip()


def _recipe(
    parts: list[tuple[int, str, int]],
    variables: Mapping[str, str | None],
    budget: ExpansionBudget,
) -> MakeRecipe:
    _, first_text, first_column = parts[0]
    stripped = first_text.lstrip(" \t")
    column = first_column + len(first_text) - len(stripped)
    while stripped[:1] in {"@", "-", "+"} and stripped:
        stripped = stripped[1:]
        column += 1
    texts = [stripped, *(text for _, text, _ in parts[1:])]
    lines = tuple(number for number, _, _ in parts)
    columns = (column, *(col for _, _, col in parts[1:]))
    expanded = [
        _expand_tracked(t, variables, _MakeExpansion(budget, line))
        for t, line in zip(texts, lines, strict=True)
    ]
    return MakeRecipe(
        text="\n".join(text for text, _ in expanded),
        lines=lines,
        columns=columns,
        offsets=tuple(offsets for _, offsets in expanded),
    )


@dataclass(frozen=True, slots=True)
class _MakeExpansion:
    budget: ExpansionBudget
    line: int
    """File line of the recipe line being expanded (for the RP002 note)."""

    def refuse(self, name: str) -> None:
        where = Location(path=self.budget.path, line=self.line, column=1)
        self.budget.refuse(
            where,
            f"$({name}) passes {MAX_VALUE_CHARS // 1024} KiB or the file's expansion budget and "
            "is not expanded; recipes using it are audited as written",
        )


def _expand_tracked(
    text: str, variables: Mapping[str, str | None], expansion: _MakeExpansion
) -> tuple[str, tuple[int, ...]]:
    """``text`` with make references expanded, and where each character came from."""
    out: list[str] = []
    offsets: list[int] = []
    position = 0
    for match in _MAKE_REF.finditer(text):
        out.append(text[position : match.start()])
        offsets.extend(range(position, match.start()))
        value = _expand_make(match.group(0), variables, expansion)
        out.append(value)
        offsets.extend([match.start()] * len(value))
        position = match.end()
    out.append(text[position:])
    offsets.extend(range(position, len(text)))
    return "".join(out), tuple(offsets)


def _expand_make(
    text: str, variables: Mapping[str, str | None], expansion: _MakeExpansion, depth: int = 0
) -> str:
    budget = expansion.budget

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if name is None:
            name = match.group(3)
        name = name.strip()
        value = variables.get(name)
        if value is not None and depth < 8 and " " not in name:
            # Charged as it goes: `A2 = $(A1) $(A1)`, ten references a level, eight levels
            # deep, is 10**8 expansions; once the budget is spent every reference stops here.
            if budget.would_fit(len(value)):
                expanded = _expand_make(value, variables, expansion, depth + 1)
                if budget.value(expanded):
                    return expanded
            expansion.refuse(name)
        safe = re.sub(r"[^A-Za-z0-9_]", "_", name) or "MAKE"
        return "${" + safe + "}"

    return _MAKE_REF.sub(one, text)


def shell_scanners() -> list[Scanner]:
    """The shell-script and Makefile scanners."""
    return [ShellScriptScanner(), MakefileScanner()]
