"""Shell syntax: a lexer and a recursive-descent parser for the POSIX shell grammar (with the
bash forms CI and Dockerfiles use), far enough to find every simple command with its words,
pipes, redirections, here-documents and substitutions.

The docstring of each ``_parse_*``/``_read_*`` method gives the part of the grammar it reads,
in an EBNF-like notation: ``{ x }`` repeats, ``[ x ]`` is optional, ``x*`` any number, quoted
text is literal, upper-case names are tokens. Reading never fails: a problem is recorded and
reading goes on.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from reprolock.audit import slotted


def word_set(text: str) -> frozenset[str]:
    """A set written as a space-separated string (option tables are long)."""
    return frozenset(text.split())


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """Something the shell itself would reject, where it starts."""

    message: str
    line: int
    """Script line (0-based)."""
    column: int
    """Column (1-based)."""


class HereDoc:
    """A here-document body, filled in when the reader reaches the end of its line."""

    __slots__ = ("body", "column", "delimiter", "line", "quoted")

    def __init__(self, delimiter: str, quoted: bool) -> None:
        self.delimiter = delimiter
        self.quoted = quoted
        self.body = ""
        self.line = 0
        self.column = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Word:
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
    subs: tuple[Script, ...] = ()
    """Command and process substitutions inside the word."""
    procsub: str = ""
    """``<`` or ``>`` when the whole word is a process substitution."""


_WORD_FIELDS = ("raw", "text", "line", "column", "quoted", "dynamic", "subs", "procsub")
_WORD: Callable[[str, str, int, int, bool, bool, tuple[Script, ...], str], Word] = slotted.builder(
    Word
)


def plain_word(raw: str, line: int, column: int) -> Word:
    """``Word(raw=raw, text=raw, line=line, column=column)``, from every field in order
    (:func:`slotted.builder`): most words are plain text, one per word of every script read,
    and the frozen dataclass's keyword ``__init__`` costs five times this (a test compares the
    two)."""
    return _WORD(raw, raw, line, column, False, False, (), "")


@dataclass(frozen=True, kw_only=True, slots=True)
class Redirect:
    op: str
    target: Word | None
    heredoc: HereDoc | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    line: int
    words: tuple[Word, ...] = ()
    assigns: tuple[Word, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    bodies: tuple[Script, ...] = ()
    """For compound commands (if, loops, case, groups, subshells): the lists inside."""
    loop_vars: tuple[str, ...] = ()
    """Variables a ``for``/``select`` loop assigns."""
    loop_values: tuple[Word, ...] = ()
    """The words a ``for NAME in WORDS`` loop runs over."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Pipeline:
    commands: tuple[Command, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Script:
    pipelines: tuple[Pipeline, ...] = ()


def parse(text: str, errors: list[Problem], *, line_base: int = 0, col_base: int = 1) -> Script:
    """The syntax tree of ``text``; what the shell would reject is appended to ``errors``.
    ``line_base``/``col_base`` place ``text`` inside a larger script (a here-document body,
    an ``sh -c`` string)."""
    plain = _plain_command(text, line_base, col_base)
    if plain is not None:
        return plain
    parser = _Parser(text, errors, line_base=line_base, col_base=col_base, depth=0)
    try:
        return parser.parse()
    except _TooDeep:
        errors.append(Problem(message="nesting too deep to read", line=line_base, column=col_base))
        return Script()


# The tree is made of these, one per command, pipeline, list, redirection and word that is not
# plain text: made without the frozen dataclasses' keyword __init__ (a test compares).
_COMMAND = slotted.constructor(Command)
_PIPELINE = slotted.constructor(Pipeline)
_SCRIPT = slotted.constructor(Script)
_REDIRECT = slotted.constructor(Redirect)
_WORD_OF = slotted.constructor(Word)


def _plain_command(text: str, line_base: int, col_base: int) -> Script | None:
    """The tree of a text that is one command of plain words (``python -m app``, ``pip install
    --no-deps .``: many a Dockerfile CMD, RUN line or CI step), on one line or continued over
    several with backslash-newlines, built without the lexer and parser; None for any other text
    (the parser reads it). Its first word must be neither an assignment nor a reserved word: the
    parser reads those another way."""
    if _PLAIN_LINE.match(text) is None:
        return _plain_list(text, line_base, col_base) if "&&" in text or "||" in text else None
    words: list[Word] = []
    for number, line in enumerate(text.split("\n")):
        column = col_base if number == 0 else 1
        start = 0
        # the line holds words, spaces and tabs, and a backslash (a continuation) after one
        for raw in line.split():
            if raw != "\\":
                start = line.find(raw, start)
                words.append(plain_word(raw, line_base + number, start + column))
                start += len(raw)
    first = words[0].raw
    if first in _RESERVED or ASSIGNMENT.match(first):
        return None
    command = _COMMAND(line=line_base, words=tuple(words))
    return _SCRIPT(pipelines=(_PIPELINE(commands=(command,)),))


def _plain_list(text: str, line_base: int, col_base: int) -> Script | None:
    """:func:`_plain_command` of commands of plain words joined by ``&&`` and ``||``
    (``apt-get update && apt-get install -y ... && rm -rf ...``): one pipeline each, as the
    parser reads an and-or list."""
    if _PLAIN_LIST.match(text) is None:
        return None
    commands: list[list[Word]] = [[]]
    for number, line in enumerate(text.split("\n")):
        column = col_base if number == 0 else 1
        for m in _LIST_TOKENS.finditer(line):
            token = m.group()
            if token in {"&&", "||"}:
                commands.append([])
            else:
                commands[-1].append(plain_word(token, line_base + number, m.start() + column))
    pipelines = []
    for words in commands:
        first = words[0]
        if first.raw in _RESERVED or ASSIGNMENT.match(first.raw):
            return None
        command = _COMMAND(line=first.line, words=tuple(words))
        pipelines.append(_PIPELINE(commands=(command,)))
    return _SCRIPT(pipelines=tuple(pipelines))


@dataclass(frozen=True, kw_only=True, slots=True)
class _Token:
    kind: str  # "word", "op", "nl", "eof"
    value: str
    start: int
    word: Word | None = None


_TOKEN: Callable[[str, str, int, Word | None], _Token] = slotted.builder(_Token)


def _token(kind: str, value: str, start: int, word: Word | None = None) -> _Token:
    """``_Token(kind=kind, ...)``, from every field in order (one per token read: see
    :func:`plain_word`)."""
    return _TOKEN(kind, value, start, word)


_MAX_DEPTH = 48
_METACHARS = frozenset(" \t\n;&|<>()")
# Longest first, so that `;;` is read before `;` and `<<-` before `<<`.
# fmt: off
_OPERATORS = (
    ";;&", "&>>", "<<<", "<<-", "&&", "||", ";;", ";&", "|&", "&>", "<<", "<&", "<>", ">>", ">&",
    ">|", ";", "&", "|", "<", ">", "(", ")",
)
# fmt: on
REDIRECTS = frozenset({"<", ">", ">>", "<<", "<<-", "<<<", "<&", ">&", "<>", ">|", "&>", "&>>"})
_CASE_ENDS = frozenset({";;", ";&", ";;&"})
_RESERVED = word_set(
    "if then elif else fi while until for select do done case esac { } function [["
)
_CLOSERS = frozenset({"then", "elif", "else", "fi", "do", "done", "esac", "}"})
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
"""A word that assigns a variable (``NAME=``, ``NAME+=``, ``NAME[i]=``)."""
_ARRAY_START = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=$")
_IO_NUMBER = re.compile(r"\d+(?=[<>])")
# Every operator starts with one of these; a word cannot.
_OPERATOR_STARTS = frozenset(op[0] for op in _OPERATORS)
# Runs of characters that stand for themselves, read at once rather than one by one.
_PLAIN_RUN = re.compile(r"[^ \t\n;&|<>()\\'\"$`]+")
_SKIPPED = r"(?:[ \t\r]|\\\n)*+(?:#[^\n]*+)?+"  # possessive: a comment is never taken apart
_BLANKS = re.compile(_SKIPPED)
"""What separates tokens: blanks, backslash-newlines, and a comment up to its newline."""
_PLAIN_TOKEN = re.compile(
    _SKIPPED + r"([^ \t\r\n;&|<>()\\'\"$`#][^ \t\n;&|<>()\\'\"$`]*)(?=[ \t\n;&|)]|\Z)"
)
"""What separates tokens, then a plain word that ends at a blank, at ``;&|)`` or at the end
(``<``/``>`` may make it a file descriptor); no quote, expansion or escape."""
_PLAIN_OPERATOR = re.compile(_SKIPPED + r"(\n|&&|\|\||;;&|;;|;&|\|&|;|\||&(?!>))")
"""What separates tokens, then a newline or an operator that is not a redirection (the
longest: ``;;&`` before ``;;``, ``&>`` is a redirection)."""
_PLAIN_DOUBLE_RUN = re.compile(r'[^"\\$`]+')
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A shell variable name."""
_FUNCTION_PARENS = re.compile(r"\(\s*\)")
_PLAIN_WORD = r"[^\s;&|<>()\\'\"$`#][^\s;&|<>()\\'\"$`]*+"
_PLAIN_GAP = r"[ \t]++(?:\\\n[ \t]*+)*+"
_PLAIN_LINE = re.compile(
    rf"[ \t]*+{_PLAIN_WORD}(?:{_PLAIN_GAP}{_PLAIN_WORD})*+(?:{_PLAIN_GAP})?+\n*+\Z"
)
"""Words of plain text (as :data:`_PLAIN_TOKEN` reads them, no blank inside them but spaces
and tabs between them) and nothing else, backslash-newlines after a blank and newlines at the
end apart: one simple command."""
_PLAIN_COMMAND = rf"{_PLAIN_WORD}(?:{_PLAIN_GAP}{_PLAIN_WORD})*+"
_PLAIN_LIST = re.compile(
    rf"[ \t]*+{_PLAIN_COMMAND}"
    rf"(?:(?:{_PLAIN_GAP})?+(?:&&|\|\|)(?:[ \t\n]|\\\n)*+{_PLAIN_COMMAND})*+"
    rf"(?:{_PLAIN_GAP})?+\n*+\Z"
)
"""Commands as :data:`_PLAIN_LINE` reads one, joined by ``&&`` or ``||`` (after a word or a
blank, and followed by blanks, backslash-newlines or newlines: the parser skips them)."""
_LIST_TOKENS = re.compile(r"&&|\|\||[^ \t\\&|]+")
_NEWLINE = re.compile("\n")


class _TooDeep(Exception):
    """Nesting beyond what any real script uses; the rest of the text is not read."""


class _Lexer:
    """token = NEWLINE | OPERATOR | IO_NUMBER REDIRECT_OP | WORD | EOF, one at a time on demand
    (the parser tells reserved words by position; here-document bodies start at the next
    NEWLINE). Blanks, backslash-newlines and comments separate tokens."""

    def __init__(
        self, text: str, errors: list[Problem], *, line_base: int, col_base: int, depth: int
    ) -> None:
        self.text = text
        self.pos = 0
        self.errors = errors
        self.line_base = line_base
        self.col_base = col_base
        self.depth = depth
        self.pending: list[tuple[HereDoc, bool, int]] = []
        self.buffer: _Token | None = None
        self.starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]

    # --- what the parser provides ------------------------------------------------------------

    def substitution(self, closer: str, start: int) -> Script:
        """The list inside ``$(``/``<(``/``>(`` up to ``closer``, read from this text."""
        raise NotImplementedError

    def backquoted(self, text: str, start: int) -> Script:
        """The list inside a backquoted substitution (``text``, unescaped) at ``start``."""
        raise NotImplementedError

    # --- positions ---------------------------------------------------------------------------

    def line_of(self, offset: int) -> int:
        return self.line_base + bisect.bisect_right(self.starts, offset) - 1

    def column_of(self, offset: int) -> int:
        return self.position(offset)[1]

    def position(self, offset: int) -> tuple[int, int]:
        """:meth:`line_of` and :meth:`column_of` at once."""
        index = bisect.bisect_right(self.starts, offset) - 1
        column = offset - self.starts[index] + 1
        return self.line_base + index, column + self.col_base - 1 if index == 0 else column

    def error(self, message: str, offset: int) -> None:
        self.errors.append(
            Problem(message=message, line=self.line_of(offset), column=self.column_of(offset))
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

    def skip_newlines(self) -> None:
        while self.peek().kind == "nl":
            self.next()

    def at_op(self, *values: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.value in values

    def skip_blanks(self) -> None:
        self.pos = _BLANKS.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def _lex(self) -> _Token:
        plain = _PLAIN_TOKEN.match(self.text, self.pos)
        if plain is not None:
            # Most tokens: blanks, then a word of plain text up to a blank or an operator that
            # cannot make it a file descriptor (what _read_word's own fast path reads).
            start = plain.start(1)
            self.pos = plain.end()
            raw = plain.group(1)
            line, column = self.position(start)
            return _token("word", raw, start, plain_word(raw, line, column))
        plain = _PLAIN_OPERATOR.match(self.text, self.pos)
        if plain is not None:
            value = plain.group(1)
            if value != "\n" or not self.pending:  # here-document bodies start at a newline
                start = plain.start(1)
                self.pos = plain.end()
                return _token("nl" if value == "\n" else "op", value, start)
        return self._lex_any()

    def _lex_any(self) -> _Token:
        self.skip_blanks()
        text = self.text
        start = self.pos
        if start >= len(text):
            if self.pending:
                doc, _, offset = self.pending[0]
                self.error(f"here-document <<{doc.delimiter} is not terminated", offset)
                self.pending.clear()
            return _token("eof", "", start)
        ch = text[start]
        if ch == "\n":
            self.pos += 1
            if self.pending:
                self._read_heredocs()
            return _token("nl", "\n", start)
        if not text.startswith(("<(", ">("), start):
            operator = self._operator(start)
            if operator is not None:
                return operator
        word = self._read_word()
        return _token("word", word.text, start, word)

    def _operator(self, start: int) -> _Token | None:
        """IO_NUMBER REDIRECT_OP (``2>``, ``2>&1``) | OPERATOR (the longest at ``start``)"""
        text = self.text
        io = _IO_NUMBER.match(text, start) if text[start].isdigit() else None
        if io is not None:
            for op in _OPERATORS:
                if text.startswith(op, io.end()) and op in REDIRECTS:
                    self.pos = io.end() + len(op)
                    return _token("op", op, start)
        if text[start] in _OPERATOR_STARTS:
            for op in _OPERATORS:
                if text.startswith(op, start):
                    self.pos += len(op)
                    return _token("op", op, start)
        return None

    def _read_heredocs(self) -> None:
        """heredoc_body = { LINE } DELIMITER_LINE, for each here-document opened on the line
        just ended, in order."""
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

    def _read_word(self) -> Word:
        """word  = ("<(" | ">(") list ")" | { piece }
        piece = PLAIN | "\\" CHAR | "'" TEXT "'" | '"' double | dollar | backquoted
              | NAME "=(" ... ")"                                   (an array assignment)"""
        text, n = self.text, len(self.text)
        start = self.pos
        line, column = self.position(start)
        if text.startswith(("<(", ">("), start):
            self.pos += 2
            script = self.substitution(")", start)
            raw = text[start : self.pos]
            return _WORD_OF(
                raw=raw,
                text=raw,
                line=line,
                column=column,
                dynamic=True,
                subs=(script,),
                procsub=text[start],
            )
        plain = _PLAIN_RUN.match(text, start)
        if plain is not None:
            end = plain.end()
            if end >= n or (text[end] in _METACHARS and text[end] != "("):
                # Most words: plain text up to a blank or an operator, read at once.
                self.pos = end
                return plain_word(text[start:end], line, column)
        parts: list[str] = []
        subs: list[Script] = []
        quoted = dynamic = False
        while self.pos < n:
            ch = text[self.pos]
            if ch in _METACHARS:
                if ch == "(" and not quoted and _ARRAY_START.match("".join(parts)):
                    begin = self.pos
                    self.skip_balanced(begin)
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
                quoted = True
                if not self._read_single(parts):
                    break
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
        return _WORD_OF(
            raw=text[start : self.pos],
            text="".join(parts),
            line=line,
            column=column,
            quoted=quoted,
            dynamic=dynamic,
            subs=tuple(subs),
        )

    def _read_single(self, parts: list[str]) -> bool:
        """ "'" TEXT "'"; False when the quote is not closed (the text ends the word)."""
        text = self.text
        end = text.find("'", self.pos + 1)
        if end < 0:
            self.error("unterminated single quote", self.pos)
            parts.append(text[self.pos + 1 :])
            self.pos = len(text)
            return False
        parts.append(text[self.pos + 1 : end])
        self.pos = end + 1
        return True

    def _read_double(self, parts: list[str], subs: list[Script]) -> bool:
        """double = { PLAIN | "\\" CHAR | dollar | backquoted } '"'  (after the opening quote);
        True when it expands."""
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

    def _read_dollar(self, parts: list[str], subs: list[Script], *, in_double: bool) -> bool:
        """dollar = "$'" ANSI_C "'" | '$"' double | "$((" ... "))" | "$(" list ")"
        | "${" ... "}" | "$" NAME | "$" SPECIAL | "$"; True when it expands."""
        text, n = self.text, len(self.text)
        start = self.pos
        follower = text[start + 1] if start + 1 < n else ""
        if follower == "'" and not in_double:
            self._read_ansi_c(parts)
            return False
        if follower == '"' and not in_double:
            self.pos += 2
            return self._read_double(parts, subs)
        if text.startswith("((", start + 1):
            self.skip_balanced(start + 1)
        elif follower == "(":
            self.pos += 2
            subs.append(self.substitution(")", start))
        elif follower == "{":
            self.skip_balanced(start + 1, braces=True)
        elif (name := NAME.match(text, start + 1)) is not None:
            self.pos = name.end()
        elif follower and follower in "0123456789@*#?$!-":
            self.pos += 2
        else:
            self.pos += 1
            parts.append("$")
            return False
        parts.append(text[start : self.pos])
        return True

    def _read_ansi_c(self, parts: list[str]) -> None:
        """``$'...'`` with its ``\\n`` and ``\\t`` escapes."""
        text, n = self.text, len(self.text)
        start = self.pos
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

    def _read_backtick(self, parts: list[str], subs: list[Script]) -> None:
        """backquoted = "`" { CHAR | "\\`" | "\\\\" | "\\$" } "`", its inside read as a list."""
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
        subs.append(self.backquoted("".join(inner), start))

    def skip_balanced(self, start: int, *, braces: bool = False) -> None:
        """Move past the balanced parentheses (arithmetic, arrays) or ``${...}`` braces opening
        at ``start``; brackets in quotes do not count."""
        opener, closer, quotes = ("{", "}", "'") if braces else ("(", ")", "'\"")
        text, n = self.text, len(self.text)
        depth = 0
        index = start
        while index < n:
            ch = text[index]
            if ch == "\\":
                index += 2
                continue
            if ch in quotes:
                end = text.find(ch, index + 1)
                index = n if end < 0 else end + 1
                continue
            if ch == opener:
                depth += 1
            elif ch == closer:
                depth -= 1
                if depth == 0:
                    self.pos = index + 1
                    return
            index += 1
        if braces:
            self.error("unterminated ${", start - 1)
        else:
            self.error("unterminated parenthesis", start)
        self.pos = n


@dataclass(kw_only=True, slots=True)
class _Clause:
    """What a compound command collects while it is read."""

    bodies: list[Script] = field(default_factory=list)
    loop_vars: list[str] = field(default_factory=list)
    loop_values: list[Word] = field(default_factory=list)


class _Parser(_Lexer):
    """The grammar, top-down. ``stops`` are the words or operators that end the list being
    read (``fi`` for the body of an ``if``, ``)`` for a subshell)."""

    def parse(self) -> Script:
        """script = list EOF"""
        return _SCRIPT(pipelines=tuple(self._parse_list(frozenset())))

    def substitution(self, closer: str, start: int) -> Script:
        saved = self.buffer
        self.buffer = None
        self.enter()
        pipelines = self._parse_list(frozenset({closer}))
        token = self.next()
        if token.kind != "op" or token.value != closer:
            self.error(f"unterminated {self.text[start : start + 2]}", start)
        self.depth -= 1
        self.buffer = saved
        return _SCRIPT(pipelines=tuple(pipelines))

    def backquoted(self, text: str, start: int) -> Script:
        parser = _Parser(
            text,
            self.errors,
            line_base=self.line_of(start),
            col_base=self.column_of(start) + 1,
            depth=self.depth + 1,
        )
        if parser.depth > _MAX_DEPTH:
            raise _TooDeep
        return parser.parse()

    def _reserved(self, token: _Token, reserved: frozenset[str] = _RESERVED) -> bool:
        """An unquoted word in command position that the grammar reserves."""
        word = token.word
        return (
            token.kind == "word"
            and word is not None
            and not word.quoted
            and word.raw == word.text
            and word.text in reserved
        )

    def _at_reserved(self, word: str) -> bool:
        return self._reserved(self.peek(), frozenset({word}))

    def _parse_list(self, stops: frozenset[str]) -> list[Pipeline]:
        """list = { NEWLINE | ";" | "&" | pipeline [ ("&&" | "||") NEWLINE* ] } (up to a stop)"""
        self.enter()
        pipelines: list[Pipeline] = []
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
            if token.kind == "op" and token.value not in REDIRECTS and token.value != "(":
                self.error(f"unexpected {token.value!r}", token.start)
                self.next()
                continue
            pipeline = self._parse_pipeline(stops)
            if pipeline is not None:
                pipelines.append(pipeline)
            self._parse_and_or(stops)
        self.depth -= 1
        return pipelines

    def _parse_and_or(self, stops: frozenset[str]) -> None:
        """[ ("&&" | "||") NEWLINE* ], which a command must follow"""
        token = self.peek()
        if token.kind == "op" and token.value in {"&&", "||"}:
            self.next()
            self.skip_newlines()
            after = self.peek()
            if after.kind == "eof" or (after.kind == "op" and after.value in stops):
                self.error(f"{token.value} is not followed by a command", token.start)

    def _parse_pipeline(self, stops: frozenset[str]) -> Pipeline | None:
        """pipeline = command { ("|" | "|&") NEWLINE* command }"""
        commands: list[Command] = []
        while True:
            command = self._parse_command(stops)
            if command is not None:
                commands.append(command)
            if not self.at_op("|", "|&"):
                break
            self.next()
            self.skip_newlines()
        return _PIPELINE(commands=tuple(commands)) if commands else None

    def _parse_command(self, stops: frozenset[str]) -> Command | None:
        """command = "((" ARITHMETIC "))" redirect* | "(" list ")" | compound | simple"""
        token = self.peek()
        line = self.line_of(token.start)
        if self.at_op("("):
            if self.text.startswith("((", token.start):
                self.buffer = None
                self.skip_balanced(token.start)
                return _COMMAND(line=line, redirects=self._parse_redirects())
            self.next()
            body = self._parse_list(frozenset({")"}))
            closing = self.next()
            if closing.kind != "op" or closing.value != ")":
                self.error("unterminated subshell (", token.start)
            return _COMMAND(line=line, bodies=(_SCRIPT(pipelines=tuple(body)),), redirects=())
        if self._reserved(token):
            if token.value in _CLOSERS:
                self.error(f"unexpected {token.value!r}", token.start)
                self.next()
                return None
            self.next()
            self.enter()
            try:
                return self._parse_compound(token, line, stops)
            finally:
                self.depth -= 1
        return self._parse_simple(stops)

    def _expect(self, word: str, opener: _Token) -> bool:
        if self._at_reserved(word):
            self.next()
            return True
        token = self.peek()
        where = "end of text" if token.kind == "eof" else repr(token.value)
        self.error(f"{opener.value} without {word} (found {where})", opener.start)
        return False

    def _body(self, clause: _Clause, *until: str) -> None:
        clause.bodies.append(_SCRIPT(pipelines=tuple(self._parse_list(frozenset(until)))))

    def _parse_compound(self, opener: _Token, line: int, stops: frozenset[str]) -> Command:
        """compound = (if | while | for | case | group | function | test) redirect*"""
        clause = _Clause()
        keyword = opener.value
        if keyword == "if":
            self._parse_if(opener, clause)
        elif keyword in {"while", "until"}:
            self._parse_while(opener, clause)
        elif keyword in {"for", "select"}:
            self._parse_for(opener, clause)
        elif keyword == "case":
            self._parse_case(opener, clause)
        elif keyword == "{":
            self._body(clause, "}")
            self._expect("}", opener)
        elif keyword == "function":
            self._parse_function(clause, stops)
        elif keyword == "[[":
            self._parse_test(opener)
        return _COMMAND(
            line=line,
            bodies=tuple(clause.bodies),
            redirects=self._parse_redirects(),
            loop_vars=tuple(clause.loop_vars),
            loop_values=tuple(clause.loop_values),
        )

    def _parse_if(self, opener: _Token, clause: _Clause) -> None:
        """if = "if" list "then" list { "elif" list "then" list } [ "else" list ] "fi\""""
        self._body(clause, "then")
        if not self._expect("then", opener):
            return
        self._body(clause, "elif", "else", "fi")
        while self._at_reserved("elif"):
            self.next()
            self._body(clause, "then")
            if not self._expect("then", opener):
                break
            self._body(clause, "elif", "else", "fi")
        if self._at_reserved("else"):
            self.next()
            self._body(clause, "fi")
        self._expect("fi", opener)

    def _parse_while(self, opener: _Token, clause: _Clause) -> None:
        """while = ("while" | "until") list "do" list "done\""""
        self._body(clause, "do")
        if self._expect("do", opener):
            self._body(clause, "done")
            self._expect("done", opener)

    def _parse_for(self, opener: _Token, clause: _Clause) -> None:
        """for = ("for" | "select") ( "((" ARITHMETIC "))" | NAME [ NEWLINE* "in" WORD* ] )
        [ ";" ] NEWLINE* ( "{" list "}" | "do" list "done" )"""
        self.skip_blanks()
        if self.text.startswith("((", self.pos):
            self.skip_balanced(self.pos)
        else:
            name = self.next()
            if name.kind == "word":
                clause.loop_vars.append(name.value)
            self.skip_newlines()
            head = self.peek()
            if head.kind == "word" and head.value == "in" and not self._reserved(head):
                self.next()
                while self.peek().kind == "word":
                    word = self.next().word
                    if word is not None:
                        clause.loop_values.append(word)
        if self.at_op(";"):
            self.next()
        self.skip_newlines()
        if self._at_reserved("{"):
            brace = self.next()
            self._body(clause, "}")
            self._expect("}", brace)
        elif self._expect("do", opener):
            self._body(clause, "done")
            self._expect("done", opener)

    def _parse_case(self, opener: _Token, clause: _Clause) -> None:
        """case      = "case" WORD NEWLINE* "in" case_item* "esac"
        case_item = NEWLINE* [ "(" ] PATTERN_TOKEN* ")" list [ ";;" | ";&" | ";;&" ]"""
        self.next()  # the word
        self.skip_newlines()
        head = self.peek()
        if head.kind != "word" or head.value != "in":
            self.error("case without in", opener.start)
            return
        self.next()
        ends = frozenset({"esac", *_CASE_ENDS})
        while True:
            self.skip_newlines()
            token = self.peek()
            if self._at_reserved("esac"):
                self.next()
                return
            if token.kind == "eof":
                self.error("case without esac", opener.start)
                return
            if not self._parse_pattern():
                return
            clause.bodies.append(_SCRIPT(pipelines=tuple(self._parse_list(ends))))
            if self.at_op(*_CASE_ENDS):
                self.next()

    def _parse_pattern(self) -> bool:
        """[ "(" ] PATTERN_TOKEN* ")"; False when the line ends first."""
        if self.at_op("("):
            self.next()
        while True:
            token = self.next()
            if token.kind == "op" and token.value == ")":
                return True
            if token.kind in {"eof", "nl"}:
                self.error("case pattern without )", token.start)
                return False

    def _parse_function(self, clause: _Clause, stops: frozenset[str]) -> None:
        """function = "function" NAME [ "(" ")" ] NEWLINE* command"""
        self.next()  # the name
        if self.at_op("("):
            self.next()
            if self.at_op(")"):
                self.next()
        self.skip_newlines()
        inner = self._parse_command(stops)
        if inner is not None:
            clause.bodies.append(_SCRIPT(pipelines=(_PIPELINE(commands=(inner,)),)))

    def _parse_test(self, opener: _Token) -> None:
        """test = "[[" TOKEN* "]]" (its operands run nothing)"""
        while True:
            token = self.peek()
            if token.kind == "eof":
                self.error("[[ without ]]", opener.start)
                return
            self.next()
            if token.kind == "word" and token.value == "]]":
                return

    def _parse_redirects(self) -> tuple[Redirect, ...]:
        """redirect*"""
        out: list[Redirect] = []
        while self.at_op(*REDIRECTS):
            out.append(self._parse_redirect(self.next()))
        return tuple(out)

    def _parse_redirect(self, op: _Token) -> Redirect:
        """redirect = REDIRECT_OP WORD (``<<``/``<<-`` open a here-document)"""
        target = self.peek()
        if target.kind != "word" or target.word is None:
            self.error(f"{op.value} is not followed by a file name", op.start)
            return _REDIRECT(op=op.value, target=None)
        self.next()
        if op.value in {"<<", "<<-"}:
            doc = HereDoc(target.word.text, target.word.quoted)
            self.pending.append((doc, op.value == "<<-", op.start))
            return _REDIRECT(op=op.value, target=target.word, heredoc=doc)
        return _REDIRECT(op=op.value, target=target.word)

    def _parse_simple(self, stops: frozenset[str]) -> Command | None:
        """simple   = { ASSIGNMENT } { WORD | redirect }      (redirects anywhere)
        | WORD "(" ")" NEWLINE* command          (a function definition)"""
        line = self.line_of(self.peek().start)
        words: list[Word] = []
        assigns: list[Word] = []
        redirects: list[Redirect] = []
        while True:
            token = self.buffer  # peek() and next(), inline: this loop reads most tokens
            if token is None:
                token = self._lex()
            self.buffer = token
            word = token.word
            if word is not None:  # a word token
                self.buffer = None
                if not words and ASSIGNMENT.match(word.raw):
                    assigns.append(word)
                    continue
                words.append(word)
                if len(words) == 1 and not assigns and self._function_parens():
                    self.skip_newlines()
                    inner = self._parse_command(stops)
                    bodies = (_SCRIPT(pipelines=(_PIPELINE(commands=(inner,)),)),) if inner else ()
                    return _COMMAND(line=line, bodies=bodies)
                continue
            if token.kind == "op" and token.value in REDIRECTS:
                self.next()
                redirects.append(self._parse_redirect(token))
                continue
            break
        if not words and not assigns and not redirects:
            return None
        return _COMMAND(
            line=line, words=tuple(words), assigns=tuple(assigns), redirects=tuple(redirects)
        )

    def _function_parens(self) -> bool:
        """After a command's first word: ``()`` makes it a function definition."""
        if not self.at_op("("):
            return False
        match = _FUNCTION_PARENS.match(self.text, self.peek().start)
        if match is None:
            return False
        self.buffer = None
        self.pos = match.end()
        return True
