"""TOML with positions (``tomllib`` gives none): the error's line, and every key's and item's."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reprolock.audit.interface import ScanError, SourceFile

TomlPath = tuple[str | int, ...]
"""A key path into a TOML document: table keys, and array (of tables) items by index."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TomlDocument:
    """A parsed TOML file and the line of every key and array item in it."""

    data: dict[str, Any]
    """The document as ``tomllib`` returns it."""
    lines: Mapping[TomlPath, int] = field(default_factory=dict)
    """Line of each key path (array items by index, arrays of tables by element index)."""

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


def load_toml(source: SourceFile) -> TomlDocument:
    """Parse ``source`` as TOML; a syntax error becomes :class:`ScanError` at its line."""
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as exc:
        message, line, column = _decode_error(exc, source.text)
        raise ScanError(f"invalid TOML: {message}", line, column) from None
    return TomlDocument(data=data, lines=locate(source.text))


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


class _Locator:
    """A position-recording walk over a document ``tomllib`` has already accepted."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.out: dict[TomlPath, int] = {}
        self.aot: dict[TomlPath, int] = {}

    def _advance(self, n: int) -> None:
        self.line += self.s.count("\n", self.i, self.i + n)
        self.i += n

    def _skip_blank(self, *, newlines: bool) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self._advance(1)
            elif c == "#":
                end = s.find("\n", self.i)
                self._advance((len(s) if end < 0 else end) - self.i)
            else:
                return

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
                self._advance(2 if aot else 1)
                keys = self._key()
                self._skip_blank(newlines=False)
                self._advance(2 if aot else 1)
                table = self._resolve(keys, aot=aot)
                for n in range(1, len(table) + 1):
                    self.out.setdefault(table[:n], line)
            else:
                keys = self._key()
                self._skip_blank(newlines=False)
                self._advance(1)  # "="
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
                self._advance(end + 1 - self.i)
            elif c == "'":
                end = s.index("'", self.i + 1)
                parts.append(s[self.i + 1 : end])
                self._advance(end + 1 - self.i)
            else:
                m = _BARE_KEY.match(s, self.i)
                if m is None:
                    raise ValueError("unexpected character in key")
                parts.append(m.group(0))
                self._advance(m.end() - self.i)
            self._skip_blank(newlines=False)
            if self.i < len(s) and s[self.i] == ".":
                self._advance(1)
                continue
            return tuple(parts)

    def _basic_end(self, j: int) -> int:
        s = self.s
        while s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        return j

    def _multiline_end(self, j: int, quote: str) -> int:
        s = self.s
        delim = quote * 3
        while True:
            if quote == '"' and s[j] == "\\":
                j += 2
                continue
            if s.startswith(delim, j):
                # up to two quotes may sit right before the closing delimiter
                extra = 0
                while extra < 2 and j + 3 + extra < len(s) and s[j + 3 + extra] == quote:
                    extra += 1
                return j + 3 + extra
            j += 1

    def _value(self, path: TomlPath) -> None:
        s = self.s
        c = s[self.i]
        if s.startswith('"""', self.i):
            self._advance(self._multiline_end(self.i + 3, '"') - self.i)
        elif s.startswith("'''", self.i):
            self._advance(self._multiline_end(self.i + 3, "'") - self.i)
        elif c == '"':
            self._advance(self._basic_end(self.i + 1) + 1 - self.i)
        elif c == "'":
            self._advance(s.index("'", self.i + 1) + 1 - self.i)
        elif c == "[":
            self._advance(1)
            index = 0
            while True:
                self._skip_blank(newlines=True)
                if s[self.i] == "]":
                    self._advance(1)
                    return
                item = (*path, index)
                self.out[item] = self.line
                self._value(item)
                index += 1
                self._skip_blank(newlines=True)
                if s[self.i] == ",":
                    self._advance(1)
        elif c == "{":
            self._advance(1)
            while True:
                self._skip_blank(newlines=True)
                if s[self.i] == "}":
                    self._advance(1)
                    return
                line = self.line
                keys = self._key()
                self._skip_blank(newlines=False)
                self._advance(1)  # "="
                self._assign(path, keys, line)
                self._skip_blank(newlines=True)
                if s[self.i] == ",":
                    self._advance(1)
        else:
            j = self.i
            while j < len(s) and s[j] not in ",]}\n#":
                j += 1
            self._advance(j - self.i)


def locate(text: str) -> dict[TomlPath, int]:
    """Line of every key path in ``text`` (valid TOML); partial if the walk gets lost."""
    locator = _Locator(text)
    try:
        return locator.run()
    except (IndexError, ValueError):
        # Only reachable on input tomllib rejected; keep what was located so far.
        return locator.out
