"""TOML locks and pyproject files read line by line, with ``tomllib`` behind for anything else.

uv, Poetry, PDM and pylock writers emit a narrow subset of TOML, and most pyproject.toml
files keep to a little more: ``key = value`` and dotted ``a.b = value`` lines, ``[table]`` and
``[[array.of.tables]]`` headers, one-line values, and arrays over lines (with comments and
blank lines between items, and arrays over lines among them). :func:`read_lines` reads
exactly that subset, and with it every key's line, far quicker than ``tomllib`` and
:func:`~reprolock.formats.toml.locate` together. On anything else (an escape but ``\\"`` and
``\\\\``, a multi-line string, ``inf``/``nan``, a local date, an array over lines inside
an inline table, a duplicate, a syntax error) it gives up, and :func:`load_compact_toml` asks
:func:`~reprolock.formats.toml.load_toml`, so errors, their messages and their lines are
``tomllib``'s.

Locks read with ``shared=True`` take each block of lines under a header (up to the next line
starting with ``[``: a uv or Poetry package) from a cache by its text: the locks of a
monorepo hold the same packages, and such a block reads alike wherever it stands.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reprolock.formats.toml import TomlDocument, TomlPath, load_toml

# Every pattern below is linear: character classes under possessive quantifiers, no
# alternation that can match the same text two ways.
_UNEXPECTED = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])
"""Control characters TOML refuses (tab and newline aside), and ``\\r``: left to tomllib.
Looked for in the UTF-8 bytes (where they stand only for themselves) by ``bytes.translate``,
a third of the time a regex search over the text takes."""
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
_FLOAT = re.compile(
    r"[+-]?+(?:0|[1-9](?:_?+[0-9])*+)"
    r"(?:\.[0-9](?:_?+[0-9])*+(?:[eE][+-]?+[0-9](?:_?+[0-9])*+)?+|[eE][+-]?+[0-9](?:_?+[0-9])*+)"
    r"(?![0-9A-Za-z_.:+-])"
)
"""A decimal float (a fraction, an exponent or both; no ``inf`` or ``nan``)."""
_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_PAIR = r'([A-Za-z0-9_-]++)[ \t]*+=[ \t]*+(?:"([^"\\]*+)"|([+-]?+(?:0|[1-9][0-9]*+)))'
_FLAT_PAIR = re.compile(_PAIR)
_FLAT = rf"\{{[ \t]*+{_PAIR}(?:[ \t]*+,[ \t]*+{_PAIR})*+[ \t]*+\}}"
_FLAT_TABLE = re.compile(_FLAT)
"""An inline table of bare keys and plain strings or integers: most lines of a lock."""
_PLAIN_LINE = re.compile(
    r'[ \t]*+([A-Za-z0-9_-]++)[ \t]*+=[ \t]*+(?:"([^"\\]*+)"|(true|false))[ \t]*+(?:#.*+)?'
)
"""``key = "string"`` or a boolean, on a line of its own: most lines outside arrays."""
_FEW = 4
"""Pairs :data:`_FEW_TABLE` captures: a wheel, an sdist or a dependency of a lock has fewer."""


def _few_pairs(count: int) -> str:
    more = ""
    for _ in range(count - 1):
        more = rf"(?:[ \t]*+,[ \t]*+{_PAIR}{more})?+"
    return rf"\{{[ \t]*+{_PAIR}{more}[ \t]*+\}}"


_FEW_TABLE = re.compile(_few_pairs(_FEW))
"""A flat inline table of at most :data:`_FEW` pairs, each pair's key, string and integer
captured in one pass (:data:`_FLAT_TABLE` and a ``findall`` read every character twice)."""
_FEW_ITEM = re.compile(rf"[ \t]*+{_few_pairs(_FEW)}[ \t]*+(,?+)[ \t]*+")
"""A line of an array holding one such table, and the comma after it (the last group)."""
_FEW_LINE = re.compile(
    rf"[ \t]*+([A-Za-z0-9_-]++)[ \t]*+=[ \t]*+{_few_pairs(_FEW)}[ \t]*+(?:#.*+)?"
)
"""``key = { ... }``, such a table on a line of its own (the first group is the key)."""
_SPACE = re.compile(r"[ \t]*+")
_TAIL = re.compile(r"[ \t]*+(?:#.*+)?")
_ITEM_END = re.compile(r"[ \t]*+,?+[ \t]*+")

_MAX_DEPTH = 4
"""Brackets a one-line value may nest: :func:`~reprolock.formats.toml.locate` records the
items of a deeper one, which this reader does not."""


_MAX_NESTING = 8
"""Arrays over lines an array over lines may nest (each is read by a call of its own)."""
_LONGEST_REREAD = 4000
"""Longest line on which an array that does not close is read again, item by item: a hostile
line of nested open arrays would otherwise be read once per level."""


class _GiveUp(Exception):
    """The text is outside the subset: read it with tomllib."""


class _LineEnded(_GiveUp):
    """An array read as a one-line value met the end of its line, or a comment: it may go on
    over the next lines."""


def load_compact_toml(text: str, *, shared: bool = False) -> TomlDocument:
    """``load_toml(text, compact=True)``, through the line reader when the text allows.

    ``shared``: the lines under a header that start no line with ``[`` (a lock's package)
    are read once per process (see :func:`_block`), and their tables and arrays are the same
    objects in every document read so: for callers that never change a document.
    """
    doc = read_lines(text, shared=shared)
    return doc if doc is not None else load_toml(text, compact=True)


def read_lines(text: str, *, shared: bool = False) -> TomlDocument | None:
    """The document ``load_toml(text, compact=True)`` gives, or None outside the subset
    (``shared``: see :func:`load_compact_toml`)."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded.translate(None, _UNEXPECTED)) != len(encoded):
        return None
    try:
        return _Reader(text.split("\n"), text, shared=shared).run()
    except (_GiveUp, ValueError):  # ValueError: an integer int() refuses, a day no month has
        return None


def blocks_of(doc: TomlDocument, *path: str | int) -> tuple[object, ...] | None:
    """What the table at ``path`` was read from, when it was read from the cache of blocks:
    the block of lines under its header, then each sub-table's key and block (each of them
    read from the cache too, none with tables of its own under a header); None otherwise.

    Two tables with equal answers hold equal values (the blocks are compared by identity,
    and kept while the answer is): a reader may keep what it made of one for the other.
    """
    lines = doc.lines
    return lines.filled.get(tuple(path)) if isinstance(lines, _Lines) else None


class _Lines(Mapping[TomlPath, int]):
    """The lines of keys and headers, and of the items of arrays written over lines, kept per
    array and made into paths only when asked: a lock holds thousands."""

    def __init__(
        self,
        keys: dict[TomlPath, int],
        items: dict[TomlPath, list[int]],
        blocks: dict[TomlPath, tuple[int, _Block]],
        filled: dict[TomlPath, tuple[object, ...]],
    ):
        self._keys = keys
        self._arrays = items
        """Path of each array written over lines: the line of each of its items."""
        self._blocks = blocks
        """Path of each table read from the cache of blocks: its header's line, its block."""
        self.filled = filled
        """See :func:`blocks_of`."""

    def get(self, path: TomlPath, default: Any = None) -> Any:
        # Mapping.get goes through __getitem__ and a KeyError: TomlDocument.line asks once
        # per key and per ancestor it walks up through.
        found = self._keys.get(path)
        if found is not None:
            return found
        index = path[-1] if path else None
        array = self._arrays.get(path[:-1])
        if array is not None and isinstance(index, int) and 0 <= index < len(array):
            return array[index]
        if self._blocks:
            for size in range(len(path) - 1, 0, -1):
                placed = self._blocks.get(path[:size])
                if placed is not None:
                    line = placed[1].line(path[size:])
                    return default if line is None else placed[0] + line
        return default

    def __getitem__(self, path: TomlPath) -> int:
        found: int | None = self.get(path)
        if found is None:
            raise KeyError(path)
        return found

    def __iter__(self) -> Iterator[TomlPath]:
        yield from self._keys
        for path, where in self._arrays.items():
            for index in range(len(where)):
                yield (*path, index)
        for path, (_, block) in self._blocks.items():
            for rel in block.keys:
                yield (*path, *rel)
            for rel, lines in block.items.items():
                for index in range(len(lines)):
                    yield (*path, *rel, index)

    def __len__(self) -> int:
        return (
            len(self._keys)
            + sum(len(where) for where in self._arrays.values())
            + sum(
                len(block.keys) + sum(len(where) for where in block.items.values())
                for _, block in self._blocks.values()
            )
        )


class _Reader:
    def __init__(
        self, lines: list[str], text: str, *, block: bool = False, shared: bool = False
    ) -> None:
        self.lines = lines
        self.text = text
        self.shared = shared
        """Tables read from the cache of blocks are not copied (see
        :func:`load_compact_toml`)."""
        self.blocks: dict[TomlPath, tuple[int, _Block]] = {}
        self.filled: dict[TomlPath, tuple[object, ...]] = {}
        self.block = block
        """Reading one block of lines after a header (see :func:`_block`): a header in it
        gives up."""
        self.brackets: tuple[list[int], list[int]] | None = None
        """Index and offset in the text of each line starting with ``[``, when first asked."""
        self.bracket = 0
        """Where in :attr:`brackets` the next such line after the current one is."""
        self.data: dict[str, Any] = {}
        self.out: dict[TomlPath, int] = {}
        # Which dicts and lists headers made (a value written inline may not be extended by
        # a header), and which tables a header declared (none may be declared twice).
        self.headed: set[int] = set()
        self.declared: set[int] = set()
        self.arrays: set[int] = set()
        self.dotted: set[int] = set()
        """Tables made by dotted keys (``a.b = 1``): the only ones a dotted key may extend."""
        self.items: dict[TomlPath, list[int]] = {}

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
                if self.block:
                    raise _GiveUp
                table, path = self._header(text, n)
                if self.shared:
                    n = self._from_cache(
                        table, path, n, len(text) if text[0] == "[" and not table else -1
                    )
                continue
            plain = _PLAIN_LINE.fullmatch(text)
            if plain is not None:
                key, string, boolean = plain.groups()
                if key in table:
                    raise _GiveUp
                self.out[(*path, key)] = n
                table[key] = string if string is not None else boolean == "true"
                continue
            few = _few_line(text) if len(text) <= _LINE_CACHED else _few_line.__wrapped__(text)
            if few is not None:
                key, value = few
                if key in table:
                    raise _GiveUp
                self.out[(*path, key)] = n
                table[key] = value.copy()  # the cached table stays as read
                continue
            m = _ASSIGN.match(text)
            if m is not None:
                key = m.group(1) or m.group(2) or m.group(3) or ""
                target, here, start = table, (*path, key), m.end()
            else:
                keys, start = _dotted_key(text)
                target = self._dotted(table, keys[:-1])
                key, here = keys[-1], (*path, *keys)
                for size in range(len(path) + 1, len(here)):
                    self.out.setdefault(here[:size], n)
            if key in target:
                raise _GiveUp
            self.out[here] = n
            if text.startswith("[", start):
                if _TAIL.fullmatch(text, start + 1) is None:
                    try:
                        value, end = _value(text, start, 1)
                    except _LineEnded:
                        if len(text) > _LONGEST_REREAD:
                            raise
                        # an array going on over the next lines
                    else:
                        if _TAIL.fullmatch(text, end) is None:
                            raise _GiveUp
                        target[key] = value
                        continue
                items, text, end, n = self._array(here, text, start + 1, n)
                if _TAIL.fullmatch(text, end) is None:
                    raise _GiveUp
                target[key] = items
                continue
            value, end = _value(text, start, 1)
            if _TAIL.fullmatch(text, end) is None:
                raise _GiveUp
            target[key] = value
        return TomlDocument(
            data=self.data, lines=_Lines(self.out, self.items, self.blocks, self.filled)
        )

    def _from_cache(self, table: dict[str, Any], path: TomlPath, n: int, header: int) -> int:
        """Fill ``table`` (made by the header line ``n``, just read, ``header`` characters
        long; -1 when the table is not empty or the line does not start with ``[``) with the
        lines up to the next line starting with ``[``, from :func:`_block`; the number of the
        line to go on from (``n`` when the block is not to be had so). Keeps :attr:`filled`
        (see :func:`blocks_of`)."""
        block = None
        if header >= 0:
            if self.brackets is None:
                self.brackets = _bracket_lines(self.text)
            numbers, offsets = self.brackets
            at = self.bracket
            while at < len(numbers) and numbers[at] < n:
                at += 1
            self.bracket = at
            # numbers[at - 1] is this header's line (index n - 1): it starts with "["
            start = offsets[at - 1] + header + 1
            end = offsets[at] - 1 if at < len(numbers) else len(self.text)
            if start < end and end - start <= _BLOCK_CACHED:
                block = _block(self.text[start:end])
        filled = self.filled
        if filled:
            parent = filled.get(path[:-1])
            for size in range(1, len(path)):
                filled.pop(path[:size], None)
            if parent is not None and block is not None and isinstance(path[-1], str):
                filled[path[:-1]] = (*parent, path[-1], block)
        if block is None:
            return n
        filled[path] = (block,)
        self.blocks[path] = (n, block)
        table.update(block.data)  # shared: never changed (see load_compact_toml)
        return numbers[at] if at < len(numbers) else len(self.lines)

    def _dotted(self, table: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        """The table a dotted key's leading ``keys`` name in ``table``, made as needed: only
        tables dotted keys made may be extended so (TOML refuses the rest)."""
        for key in keys:
            found = table.get(key)
            if found is None:
                found = table[key] = {}
                self.dotted.add(id(found))
            elif not (isinstance(found, dict) and id(found) in self.dotted):
                raise _GiveUp
            table = found
        return table

    def _header(self, text: str, line: int) -> tuple[dict[str, Any], TomlPath]:
        aot, keys = _header_keys(text) if len(text) <= _HEADER_CACHED else _parse_header(text)
        table = self.data
        path: list[str | int] = []
        for key in keys[:-1]:
            table = self._descend(table, key, path)
        last = keys[-1]
        found = table.get(last)
        if aot:
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

    def _array(
        self, here: TomlPath, text: str, i: int, n: int, nesting: int = 1
    ) -> tuple[list[Any], str, int, int]:
        """The array at ``here`` whose ``[`` ends before ``text[i]`` on line ``n`` and which
        goes on over the next lines: its items (one-line values, or arrays going on over lines
        in turn; comments and blank lines between them), and where it ends: the text of the
        line closing it, the index past its ``]``, and the number of the line after."""
        lines = self.lines
        items: list[Any] = []
        where: list[int] = []
        want_item = True  # after "[" or ","
        while True:
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]  # never fails
            if i >= len(text) or text[i] == "#":
                # Most lines of a lock: one inline table of plain pairs and a comma.
                while want_item and n < len(lines):
                    line = lines[n]
                    item = (
                        _few_item(line)
                        if len(line) <= _LINE_CACHED
                        else _few_item.__wrapped__(line)
                    )
                    if item is None:
                        break
                    n += 1
                    read, want_item = item
                    items.append(read.copy())  # the cached table stays as read
                    where.append(n)
                if n >= len(lines):
                    raise _GiveUp
                text = lines[n]
                n += 1
                i = 0
                continue
            c = text[i]
            if c == "]":
                if items:
                    self.items[here] = where
                return items, text, i + 1, n
            if c == ",":
                if want_item:
                    raise _GiveUp
                want_item = True
                i += 1
                continue
            if not want_item:
                raise _GiveUp
            where.append(n)
            try:
                value, i = _value(text, i, 1)
            except _LineEnded:
                if c != "[" or nesting >= _MAX_NESTING or len(text) > _LONGEST_REREAD:
                    raise
                inner = (*here, len(items))
                value, text, i, n = self._array(inner, text, i + 1, n, nesting + 1)
            items.append(value)
            want_item = False


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class _Block:
    """The lines after a header up to the next line starting with ``[``, read alone: its
    table, how each value is copied into a document, and the lines of its keys and of the
    items of its arrays over lines, counted from the header's line. Compared by identity."""

    data: dict[str, Any]
    keys: dict[TomlPath, int]
    items: dict[TomlPath, tuple[int, ...]]

    def line(self, rel: TomlPath) -> int | None:
        """The line of ``rel`` (a path in the block's table) counted from the header's."""
        found = self.keys.get(rel)
        if found is not None:
            return found
        where = self.items.get(rel[:-1])
        index = rel[-1]
        if where is not None and isinstance(index, int) and 0 <= index < len(where):
            return where[index]
        return None


_BLOCK_CACHED = 20_000
"""Longest block (in characters) kept read: a hostile file's long ones are read in place
(the package of a lock with most wheels, torch's, takes some 12,000)."""


@functools.lru_cache(maxsize=1024)
def _block(text: str) -> _Block | None:
    """The block ``text`` read into an empty table, None when it is not to be read alone (a
    header in it, an array going on past it, anything outside the subset); it is then read
    in place, where the document's own rules decide.

    Remembered: the locks of a repository hold the same packages (a version, its files and
    hashes, its dependencies) in many projects; a block of lines reads the same wherever
    its header put it, into a table its header just made.
    """
    reader = _Reader(text.split("\n"), text, block=True)
    try:
        doc = reader.run()
    except (_GiveUp, ValueError):
        return None
    return _Block(
        data=doc.data,
        keys=reader.out,
        items={path: tuple(where) for path, where in reader.items.items()},
    )


def _bracket_lines(text: str) -> tuple[list[int], list[int]]:
    """The index of each line of ``text`` that starts with ``[``, and its offset."""
    numbers: list[int] = []
    offsets: list[int] = []
    if text.startswith("["):
        numbers.append(0)
        offsets.append(0)
    line = last = 0
    at = text.find("\n[")
    while at != -1:
        line += text.count("\n", last, at + 1)
        last = at + 1
        numbers.append(line)
        offsets.append(last)
        at = text.find("\n[", last)
    return numbers, offsets


_HEADER_CACHED = 200
"""Longest header line kept parsed: a lock repeats a few headers thousands of times, and
pyproject files the same few; a hostile file's long ones are parsed each time."""


@functools.lru_cache(maxsize=512)
def _header_keys(text: str) -> tuple[bool, tuple[str, ...]]:
    """:func:`_parse_header`, remembered."""
    return _parse_header(text)


def _parse_header(text: str) -> tuple[bool, tuple[str, ...]]:
    """Whether the header line ``text`` opens an array of tables, and its keys."""
    m = _HEADER.fullmatch(text)
    if m is None or len(m.group(1)) != len(m.group(3)):
        raise _GiveUp
    keys = tuple(key.strip(" \t") for key in m.group(2).split("."))
    if not all(_BARE.fullmatch(key) for key in keys):
        raise _GiveUp
    return len(m.group(1)) == 2, keys


def _dotted_key(text: str) -> tuple[tuple[str, ...], int]:
    """The parts of the dotted key ``a.b = `` that starts ``text``, and the index past ``=``
    and the spaces after it."""
    keys: list[str] = []
    i = 0
    while True:
        m = _KEY.match(text, i)
        if m is None:
            raise _GiveUp
        keys.append(m.group(1) or m.group(2) or m.group(3) or "")
        i = m.end()
        if text.startswith(".", i):
            i += 1
            continue
        if not text.startswith("=", i) or len(keys) < 2:
            raise _GiveUp
        return tuple(keys), _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]


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
    m = _FLOAT.match(text, i)
    if m is not None:
        return float(m.group(0).replace("_", "")), m.end()
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


_LINE_CACHED = 1000
"""Longest line whose table is kept read (a hostile lock may hold huge distinct ones)."""


@functools.lru_cache(maxsize=4096)
def _few_item(line: str) -> tuple[dict[str, Any], bool] | None:
    """The table on ``line``, an item of an array over lines (see :data:`_FEW_ITEM`), and
    whether a comma follows it; None when the line is no such item.

    Remembered: the locks of a repository share most of their files' lines (the same version
    of a package, its wheels and hashes, locked by many projects), and the table of a line is
    most of a lock's reading. Callers copy the table before putting it in a document.
    """
    few = _FEW_ITEM.fullmatch(line)
    if few is None:
        return None
    captured = few.groups()
    return _few_table(captured), bool(captured[-1])


@functools.lru_cache(maxsize=4096)
def _few_line(line: str) -> tuple[str, dict[str, Any]] | None:
    """The key and the table of ``key = { ... }`` on ``line`` (see :data:`_FEW_LINE`), None
    when the line is no such pair; remembered, as :func:`_few_item` (an sdist's line, a
    package's source)."""
    few = _FEW_LINE.fullmatch(line)
    if few is None:
        return None
    captured = few.groups()
    return str(captured[0]), _few_table(captured[1:])


def _few_table(captured: tuple[str | None, ...]) -> dict[str, Any]:
    """The table :data:`_FEW_TABLE` matched, from its groups (key, string, integer per pair).

    Unrolled: this runs for most lines of a lock.
    """
    k1, s1, n1, k2, s2, n2, k3, s3, n3, k4, s4, n4 = captured[:12]
    out: dict[str, Any] = {k1: s1 if n1 is None else int(n1)}  # type: ignore[dict-item]
    if k2 is None:
        return out
    out[k2] = s2 if n2 is None else int(n2)
    if k3 is not None:
        out[k3] = s3 if n3 is None else int(n3)
        if k4 is not None:
            out[k4] = s4 if n4 is None else int(n4)
    if len(out) != 2 + (k3 is not None) + (k4 is not None):
        raise _GiveUp  # a duplicate key
    return out


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
    few = _FEW_TABLE.match(text, i - 1)
    if few is not None:
        return _few_table(few.groups()), few.end()
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
        if i >= len(text) or text[i] == "#":
            raise _LineEnded
        value, i = _value(text, i, depth + 1)
        out.append(value)
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]  # never fails
        c = text[i : i + 1]
        if c == "]":
            return out, i + 1
        if c in ("", "#"):
            raise _LineEnded
        if c != ",":
            raise _GiveUp
        i += 1
