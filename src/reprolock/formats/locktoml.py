"""Machine-written TOML locks read line by line, with ``tomllib`` behind for anything else.

uv, Poetry, PDM and pylock writers emit a narrow subset of TOML: ``key = value`` lines,
``[table]`` and ``[[array.of.tables]]`` headers, one-line values, and arrays with one item
per line. :func:`read_lines` reads exactly that subset, and with it every key's line, far
quicker than ``tomllib`` and :func:`~reprolock.formats.toml.locate` together. On anything
else (an escape but ``\\"`` and ``\\\\``, a multi-line string, a float, a dotted key, a
duplicate, a syntax error) it gives up, and :func:`load_lock_toml` asks
:func:`~reprolock.formats.toml.load_toml`, so errors, their messages and their lines are
``tomllib``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from reprolock.formats.toml import TomlDocument, TomlPath, load_toml

# Every pattern below is linear: character classes under possessive quantifiers, no
# alternation that can match the same text two ways.
_UNEXPECTED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters TOML refuses (tab and newline aside), and ``\\r``: left to tomllib."""
_ONE_KEY = r"[ \t]*+(?:([A-Za-z0-9_-]++)|\"([^\"\\]*+)\"|'([^']*+)')[ \t]*+"
"""A bare, basic (no escape) or literal key: groups 1, 2, 3."""
_KEY = re.compile(_ONE_KEY)
_ASSIGN = re.compile(_ONE_KEY + r"=[ \t]*+")
_HEADER = re.compile(r"[ \t]*+(\[\[?+)([^\[\]\"'#]*+)(\]\]?+)[ \t]*+(?:#.*+)?")
_BARE = re.compile(r"[A-Za-z0-9_-]++")
_BASIC = re.compile(r'"((?:[^"\\]++|\\["\\])*+)"')
"""A basic string whose only escapes are ``\\"`` and ``\\\\`` (Poetry writes markers so)."""
_ESCAPED = re.compile(r'\\(["\\])')
_LITERAL = re.compile(r"'([^']*+)'")
_INTEGER = re.compile(r"[+-]?+(?:0|[1-9](?:_?+[0-9])*+)(?![0-9_.eExob:-])")
"""A decimal integer not followed by what would make it a float, date or other base."""
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_PAIR = r'([A-Za-z0-9_-]++)[ \t]*+=[ \t]*+(?:"([^"\\]*+)"|([+-]?+(?:0|[1-9][0-9]*+)))'
_FLAT_PAIR = re.compile(_PAIR)
_FLAT = rf"\{{[ \t]*+{_PAIR}(?:[ \t]*+,[ \t]*+{_PAIR})*+[ \t]*+\}}"
_FLAT_TABLE = re.compile(_FLAT)
"""An inline table of bare keys and plain strings or integers: most lines of a lock."""
_FLAT_ITEM = re.compile(rf"[ \t]*+(?P<table>{_FLAT})[ \t]*+(?P<comma>,?+)[ \t]*+")
_SPACE = re.compile(r"[ \t]*+")
_TAIL = re.compile(r"[ \t]*+(?:#.*+)?")
_ITEM_END = re.compile(r"[ \t]*+,?+[ \t]*+")

_MAX_DEPTH = 4
"""Brackets a one-line value may nest: :func:`~reprolock.formats.toml.locate` records the
items of a deeper one, which this reader does not."""


class _GiveUp(Exception):
    """The text is outside the subset: read it with tomllib."""


def load_lock_toml(text: str) -> TomlDocument:
    """``load_toml(text, compact=True)``, through the line reader when the text allows."""
    doc = read_lines(text)
    return doc if doc is not None else load_toml(text, compact=True)


def read_lines(text: str) -> TomlDocument | None:
    """The document ``load_toml(text, compact=True)`` gives, or None outside the subset."""
    if _UNEXPECTED.search(text):
        return None
    try:
        return _Reader(text.split("\n")).run()
    except (_GiveUp, ValueError):  # ValueError: an integer int() refuses, a day no month has
        return None


class _Lines(Mapping[TomlPath, int]):
    """The lines of keys and headers, and of the items of arrays written one item a line,
    counted from the array's first item only when asked: a lock holds thousands."""

    def __init__(self, keys: dict[TomlPath, int], items: dict[TomlPath, tuple[int, int]]):
        self._keys = keys
        self._arrays = items
        """Path of each array written over lines: line of its first item, and item count."""

    def __getitem__(self, path: TomlPath) -> int:
        found = self._keys.get(path)
        if found is not None:
            return found
        index = path[-1] if path else None
        array = self._arrays.get(path[:-1])
        if array is not None and isinstance(index, int) and 0 <= index < array[1]:
            return array[0] + index
        raise KeyError(path)

    def __iter__(self) -> Iterator[TomlPath]:
        yield from self._keys
        for path, (_, count) in self._arrays.items():
            for index in range(count):
                yield (*path, index)

    def __len__(self) -> int:
        return len(self._keys) + sum(count for _, count in self._arrays.values())


class _Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.data: dict[str, Any] = {}
        self.out: dict[TomlPath, int] = {}
        # Which dicts and lists headers made (a value written inline may not be extended by
        # a header), and which tables a header declared (none may be declared twice).
        self.headed: set[int] = set()
        self.declared: set[int] = set()
        self.arrays: set[int] = set()
        self.items: dict[TomlPath, tuple[int, int]] = {}

    def run(self) -> TomlDocument:
        table = self.data
        path: TomlPath = ()
        lines = self.lines
        n = 0
        while n < len(lines):
            text = lines[n]
            n += 1
            stripped = text.lstrip(" \t")
            if not stripped or stripped[0] == "#":
                continue
            if stripped[0] == "[":
                table, path = self._header(text, n)
                continue
            m = _ASSIGN.match(text)
            if m is None:
                raise _GiveUp
            key = m.group(1) or m.group(2) or m.group(3) or ""
            if key in table:
                raise _GiveUp
            here = (*path, key)
            self.out[here] = n
            start = m.end()
            if text.startswith("[", start) and _TAIL.fullmatch(text, start + 1):
                items, after = self._array(lines, n)
                table[key] = items
                if items:
                    self.items[here] = (n + 1, len(items))
                n = after
                continue
            value, end = _value(text, start, 1)
            if _TAIL.fullmatch(text, end) is None:
                raise _GiveUp
            table[key] = value
        return TomlDocument(data=self.data, lines=_Lines(self.out, self.items))

    def _header(self, text: str, line: int) -> tuple[dict[str, Any], TomlPath]:
        m = _HEADER.fullmatch(text)
        if m is None or len(m.group(1)) != len(m.group(3)):
            raise _GiveUp
        keys = [key.strip(" \t") for key in m.group(2).split(".")]
        if not all(_BARE.fullmatch(key) for key in keys):
            raise _GiveUp
        table = self.data
        path: list[str | int] = []
        for key in keys[:-1]:
            table = self._descend(table, key, path)
        last = keys[-1]
        found = table.get(last)
        if len(m.group(1)) == 2:
            if found is None:
                found = table[last] = []
                self.arrays.add(id(found))
            elif not (isinstance(found, list) and id(found) in self.arrays):
                raise _GiveUp
            new: dict[str, Any] = {}
            found.append(new)
            self.headed.add(id(new))
            self.declared.add(id(new))
            path += [last, len(found) - 1]
            table = new
        else:
            if found is None:
                found = table[last] = {}
                self.headed.add(id(found))
            elif (
                not isinstance(found, dict)
                or id(found) not in self.headed
                or id(found) in self.declared
            ):
                raise _GiveUp
            self.declared.add(id(found))
            path.append(last)
            table = found
        resolved = tuple(path)
        for size in range(1, len(resolved) + 1):
            self.out.setdefault(resolved[:size], line)
        return table, resolved

    def _descend(self, table: dict[str, Any], key: str, path: list[str | int]) -> dict[str, Any]:
        found = table.get(key)
        path.append(key)
        if found is None:
            found = table[key] = {}
            self.headed.add(id(found))
            return found
        if isinstance(found, list) and id(found) in self.arrays:
            path.append(len(found) - 1)
            last: dict[str, Any] = found[-1]
            return last
        if isinstance(found, dict) and id(found) in self.headed:
            return found
        raise _GiveUp

    def _array(self, lines: list[str], n: int) -> tuple[list[Any], int]:
        """An array opened at the end of line ``n``: one item per line, ``]`` alone closing;
        the items and the line after the array."""
        items: list[Any] = []
        closing = False  # an item without a comma must be the last
        while n < len(lines):
            text = lines[n]
            n += 1
            flat = _FLAT_ITEM.fullmatch(text)
            if flat is not None and not closing:
                items.append(_flat_table(text, flat.start("table"), flat.end("table")))
                closing = not flat.group("comma")
                continue
            start = _SPACE.match(text).end()  # type: ignore[union-attr]  # never fails
            if text.startswith("]", start):
                if _TAIL.fullmatch(text, start + 1) is None:
                    raise _GiveUp
                return items, n
            if closing:
                raise _GiveUp
            value, end = _value(text, start, 1)
            comma = _ITEM_END.fullmatch(text, end)
            if comma is None:
                raise _GiveUp
            closing = "," not in comma.group(0)
            items.append(value)
        raise _GiveUp


def _value(text: str, i: int, depth: int) -> tuple[Any, int]:
    """The one-line value starting at ``text[i]`` and the index just past it."""
    c = text[i : i + 1]
    if c == '"':
        if text.startswith('"""', i):
            raise _GiveUp
        m = _BASIC.match(text, i)
        if m is None:
            raise _GiveUp
        body = m.group(1)
        return (_ESCAPED.sub(r"\1", body) if "\\" in body else body), m.end()
    if c == "'":
        if text.startswith("'''", i):
            raise _GiveUp
        m = _LITERAL.match(text, i)
        if m is None:
            raise _GiveUp
        return m.group(1), m.end()
    if c == "{":
        return _inline_table(text, i + 1, depth)
    if c == "[":
        return _inline_array(text, i + 1, depth)
    if text.startswith("true", i):
        return True, _word_end(text, i + 4)
    if text.startswith("false", i):
        return False, _word_end(text, i + 5)
    m = _INTEGER.match(text, i)
    if m is not None:
        return int(m.group(0)), m.end()
    m = _DATETIME.match(text, i)
    if m is not None:
        year, month, day, hour, minute, second = map(int, m.groups())
        when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        return when, _word_end(text, m.end())
    raise _GiveUp


def _word_end(text: str, i: int) -> int:
    """``i``, when a bare value ends there (``truex`` or ``...Zq`` is no value)."""
    if i < len(text) and (text[i].isalnum() or text[i] in "_-.:+"):
        raise _GiveUp
    return i


def _flat_table(text: str, start: int, end: int) -> dict[str, Any]:
    """The inline table ``_FLAT_TABLE`` matched between ``start`` and ``end``."""
    pairs = _FLAT_PAIR.findall(text, start, end)
    out = {key: int(number) if number else string for key, string, number in pairs}
    if len(out) != len(pairs):
        raise _GiveUp  # a duplicate key
    return out


def _inline_table(text: str, i: int, depth: int) -> tuple[dict[str, Any], int]:
    if depth > _MAX_DEPTH:
        raise _GiveUp
    out: dict[str, Any]
    flat = _FLAT_TABLE.match(text, i - 1)
    if flat is not None:
        return _flat_table(text, i, flat.end()), flat.end()
    out = {}
    i = _SPACE.match(text, i).end()  # type: ignore[union-attr]  # never fails
    if text.startswith("}", i):
        return out, i + 1
    while True:
        m = _KEY.match(text, i)
        if m is None or not text.startswith("=", m.end()):
            raise _GiveUp
        key = m.group(1) or m.group(2) or m.group(3) or ""
        if key in out:
            raise _GiveUp
        i = _SPACE.match(text, m.end() + 1).end()  # type: ignore[union-attr]  # never fails
        out[key], i = _value(text, i, depth + 1)
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]  # never fails
        c = text[i : i + 1]
        if c == "}":
            return out, i + 1
        if c != ",":
            raise _GiveUp
        i += 1


def _inline_array(text: str, i: int, depth: int) -> tuple[list[Any], int]:
    if depth > _MAX_DEPTH:
        raise _GiveUp
    out: list[Any] = []
    while True:
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]  # never fails
        if text.startswith("]", i):
            return out, i + 1
        value, i = _value(text, i, depth + 1)
        out.append(value)
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]  # never fails
        c = text[i : i + 1]
        if c == "]":
            return out, i + 1
        if c != ",":
            raise _GiveUp
        i += 1
