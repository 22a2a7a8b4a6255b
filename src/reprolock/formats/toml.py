"""TOML with positions (``tomllib`` gives none): the error's line, and every key's and item's."""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reprolock.formats.errors import ParseError

TomlPath = tuple[str | int, ...]
"""A key path into a TOML document: table keys, and array (of tables) items by index."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TomlDocument:
    """A parsed TOML file and the line of every key and array item in it."""

    data: dict[str, Any]
    """The document as ``tomllib`` returns it."""
    lines: Mapping[TomlPath, int] = field(default_factory=dict)
    """Line of each key path (array items by index, arrays of tables by element index); a
    compact document leaves out paths inside a value written on one line."""

    def line(self, *path: str | int) -> int:
        """The line of ``path``, or of its nearest located ancestor (1 when none is)."""
        key: TomlPath = tuple(path)
        while key:
            found = self.lines.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return 1


_DECODE_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_DECODE_END = re.compile(r"\s*\(at end of document\)\s*$")


def load_toml(text: str, *, compact: bool = False) -> TomlDocument:
    """Parse ``text`` as TOML; a syntax error becomes :class:`ParseError` at its line.

    ``compact``: locate as :func:`locate` does with it, for callers that only ask
    :meth:`TomlDocument.line` (never ``lines`` itself).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line, column = _decode_error(exc, text)
        raise ParseError(f"invalid TOML: {message}", line, column) from None
    except ValueError:
        # int() refuses more digits than sys.get_int_max_str_digits(), and tomllib lets it out
        line = _long_number_line(text)
        raise ParseError("invalid TOML: an integer with too many digits", line, 1) from None
    return TomlDocument(data=data, lines=locate(text, compact=compact))


def _long_number_line(text: str) -> int:
    """The line of the first run of digits ``int()`` refuses (1 when none is found)."""
    limit = sys.get_int_max_str_digits()
    for run in re.finditer(r"[0-9_]++", text):
        if limit and len(run.group(0).replace("_", "")) > limit:
            return text.count("\n", 0, run.start()) + 1
    return 1


def _decode_error(exc: tomllib.TOMLDecodeError, text: str) -> tuple[str, int, int]:
    """The message without its position, and the 1-based line and column of a TOML error."""
    # Python 3.14 adds lineno/colno; 3.11-3.13 only put "(at line N, column M)" in the message.
    raw = str(exc.args[0]) if exc.args else str(exc)
    lineno = getattr(exc, "lineno", None)
    colno = getattr(exc, "colno", None)
    msg = getattr(exc, "msg", None)
    if isinstance(lineno, int) and isinstance(colno, int):
        return (str(msg) if msg else _DECODE_POSITION.sub("", raw)), lineno, colno
    m = _DECODE_POSITION.search(raw)
    if m:
        return raw[: m.start()], int(m.group(1)), int(m.group(2))
    m = _DECODE_END.search(raw)
    if m:
        # The last line, counted as tomllib counts (by "\n" only: U+2028 and the like may
        # stand in strings and comments).
        last = text.count("\n") + (0 if text.endswith("\n") else 1)
        return f"{raw[: m.start()]} at end of file", max(last, 1), 1
    return raw, 1, 1


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    '"': '"',
    "\\": "\\",
}


def _unescape(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        code = m.group(1) or m.group(2) or m.group(3)
        if code:
            return chr(int(code, 16))
        return _SIMPLE_ESCAPES.get(m.group(4), m.group(4))

    return _ESCAPE.sub(repl, text)


# Runs the walk steps over with one regex each instead of a character at a time.
_BLANK = re.compile(r"(?:[ \t\r]++|#[^\n]*+)*+")
_BLANK_NEWLINES = re.compile(r"(?:[ \t\r\n]++|#[^\n]*+)*+")
_BASIC_BODY = re.compile(r'(?:[^"\\]++|\\.)*+', re.DOTALL)
_MULTILINE_BASIC = re.compile(r'(?:[^"\\]++|\\.|"(?!""))*+""""{0,2}', re.DOTALL)
_MULTILINE_LITERAL = re.compile(r"(?:[^']++|'(?!''))*+'''" + r"'{0,2}")
_SCALAR = re.compile(r"[^,\]}\n#]*+")


def _one_line_value(depth: int) -> re.Pattern[str]:
    """An array or inline table that closes on the line it opens, nested up to ``depth``.

    A string opening a multi-line one (three quotes) does not match, nor does a comment:
    such a value is walked in full.
    """
    string = r'"(?!"")(?:[^"\\\n]++|\\.)*+"' + r"|'(?!'')[^'\n]*+'"
    other = r"""[^"'\[\]{}\n#]++"""
    level = rf"[\[{{](?:{string}|{other})*+[\]}}]"
    for _ in range(depth):
        level = rf"[\[{{](?:{string}|{other}|{level})*+[\]}}]"
    return re.compile(level)


_ONE_LINE_VALUE = _one_line_value(3)


class _Locator:
    """A position-recording walk over a document ``tomllib`` has already accepted.

    ``compact`` leaves out the paths inside an array or inline table written on one line:
    they all sit on the line of the value, which :meth:`TomlDocument.line` answers for them
    (the nearest located ancestor), and lock files hold thousands of such values.
    """

    def __init__(self, text: str, *, compact: bool = False) -> None:
        self.s = text
        self.i = 0
        self.compact = compact
        self.out: dict[TomlPath, int] = {}
        self.aot: dict[TomlPath, int] = {}
        # Lines are counted on demand from the last position asked about: the walk only
        # moves forward, so the text is counted once.
        self._counted = 0
        self._line = 1

    @property
    def line(self) -> int:
        """The line of the current position."""
        self._line += self.s.count("\n", self._counted, self.i)
        self._counted = self.i
        return self._line

    def _skip_blank(self, *, newlines: bool) -> None:
        pattern = _BLANK_NEWLINES if newlines else _BLANK
        self.i = pattern.match(self.s, self.i).end()  # type: ignore[union-attr]  # never fails

    def run(self) -> dict[TomlPath, int]:
        table: TomlPath = ()
        s = self.s
        while True:
            self._skip_blank(newlines=True)
            if self.i >= len(s):
                return self.out
            line = self.line
            if s[self.i] == "[":
                aot = s.startswith("[[", self.i)
                self.i += 2 if aot else 1
                keys = self._key()
                self._skip_blank(newlines=False)
                self.i += 2 if aot else 1
                table = self._resolve(keys, aot=aot)
                for n in range(1, len(table) + 1):
                    self.out.setdefault(table[:n], line)
            else:
                keys = self._key()
                self._skip_blank(newlines=False)
                self.i += 1  # "="
                self._assign(table, keys, line)

    def _resolve(self, keys: tuple[str, ...], *, aot: bool) -> TomlPath:
        path: list[str | int] = []
        for n, key in enumerate(keys):
            path.append(key)
            here = tuple(path)
            if aot and n == len(keys) - 1:
                count = self.aot.get(here, 0)
                self.aot[here] = count + 1
                path.append(count)
            elif here in self.aot:
                path.append(self.aot[here] - 1)
        return tuple(path)

    def _assign(self, base: TomlPath, keys: tuple[str, ...], line: int) -> None:
        for n in range(1, len(keys)):
            self.out.setdefault(base + keys[:n], line)
        path = base + keys
        self.out[path] = line
        self._skip_blank(newlines=False)
        self._value(path)

    def _key(self) -> tuple[str, ...]:
        s = self.s
        parts: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            c = s[self.i]
            if c == '"':
                end = self._basic_end(self.i + 1)
                parts.append(_unescape(s[self.i + 1 : end]))
                self.i = end + 1
            elif c == "'":
                end = s.index("'", self.i + 1)
                parts.append(s[self.i + 1 : end])
                self.i = end + 1
            else:
                m = _BARE_KEY.match(s, self.i)
                if m is None:
                    raise ValueError("unexpected character in key")
                parts.append(m.group(0))
                self.i = m.end()
            self._skip_blank(newlines=False)
            if self.i < len(s) and s[self.i] == ".":
                self.i += 1
                continue
            return tuple(parts)

    def _basic_end(self, j: int) -> int:
        """Index of the quote closing a basic string whose body starts at ``j``."""
        end = _BASIC_BODY.match(self.s, j).end()  # type: ignore[union-attr]  # never fails
        if end >= len(self.s) or self.s[end] != '"':
            raise IndexError("unterminated string")
        return end

    def _multiline_end(self, j: int, quote: str) -> int:
        """Index just past a multi-line string whose body starts at ``j``; up to two quotes
        may sit right before the closing delimiter."""
        pattern = _MULTILINE_BASIC if quote == '"' else _MULTILINE_LITERAL
        m = pattern.match(self.s, j)
        if m is None:
            raise IndexError("unterminated string")
        return m.end()

    def _value(self, path: TomlPath) -> None:
        s = self.s
        c = s[self.i]
        if s.startswith('"""', self.i):
            self.i = self._multiline_end(self.i + 3, '"')
        elif s.startswith("'''", self.i):
            self.i = self._multiline_end(self.i + 3, "'")
        elif c == '"':
            self.i = self._basic_end(self.i + 1) + 1
        elif c == "'":
            self.i = s.index("'", self.i + 1) + 1
        elif c in "[{" and self.compact and (m := _ONE_LINE_VALUE.match(s, self.i)):
            self.i = m.end()
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self._skip_blank(newlines=True)
                if s[self.i] == "]":
                    self.i += 1
                    return
                item = (*path, index)
                self.out[item] = self.line
                self._value(item)
                index += 1
                self._skip_blank(newlines=True)
                if s[self.i] == ",":
                    self.i += 1
        elif c == "{":
            self.i += 1
            while True:
                self._skip_blank(newlines=True)
                if s[self.i] == "}":
                    self.i += 1
                    return
                line = self.line
                keys = self._key()
                self._skip_blank(newlines=False)
                self.i += 1  # "="
                self._assign(path, keys, line)
                self._skip_blank(newlines=True)
                if s[self.i] == ",":
                    self.i += 1
        else:
            self.i = _SCALAR.match(s, self.i).end()  # type: ignore[union-attr]  # never fails


def locate(text: str, *, compact: bool = False) -> dict[TomlPath, int]:
    """Line of every key path in ``text`` (valid TOML); partial if the walk gets lost.

    ``compact``: not the paths inside an array or inline table written on one line (see
    :class:`_Locator`); :meth:`TomlDocument.line` answers every path as it would with all.
    """
    locator = _Locator(text, compact=compact)
    try:
        return locator.run()
    except (IndexError, ValueError):
        # Only reachable on input tomllib rejected; keep what was located so far.
        return locator.out
