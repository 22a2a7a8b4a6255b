"""JSON with positions: the line of keys and values of a document ``json`` has accepted."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

JsonPath = tuple[str | int, ...]
"""Object keys, and array items by index, from the root."""

_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"|[{}\[\],:]|[^\s{}\[\],:"]++')


@dataclass(kw_only=True, slots=True)
class _Frame:
    is_object: bool
    key: str | int
    expect_key: bool


def _walk(text: str) -> Iterator[tuple[JsonPath, str, int, bool]]:
    """(path, raw lexeme, line, is it a key) for every object key and scalar, in order.

    A key's path ends with the key. ``json`` reports no positions; this walks lexemes only, so
    it is linear in the text and indifferent to formatting. The text must be valid JSON.
    """
    stack: list[_Frame] = []
    line = 1
    last = 0
    for match in _TOKEN.finditer(text):
        lexeme = match.group(0)
        start = match.start()
        line += text.count("\n", last, start)
        last = start
        top = stack[-1] if stack else None
        if lexeme in {"{", "["}:
            stack.append(_Frame(is_object=lexeme == "{", key=0, expect_key=lexeme == "{"))
        elif lexeme in {"}", "]"}:
            if stack:
                stack.pop()
        elif lexeme == ",":
            if top is not None:
                if top.is_object:
                    top.expect_key = True
                elif isinstance(top.key, int):
                    top.key += 1
        elif lexeme == ":":
            if top is not None:
                top.expect_key = False
        elif top is not None and top.is_object and top.expect_key:
            top.key = str(json.loads(lexeme))
            yield tuple(frame.key for frame in stack), lexeme, line, True
        else:
            yield tuple(frame.key for frame in stack), lexeme, line, False


def json_scalars(text: str) -> Iterator[tuple[JsonPath, str, int]]:
    """Every scalar of a valid JSON document: (path, raw lexeme, line)."""
    for path, lexeme, line, is_key in _walk(text):
        if not is_key:
            yield path, lexeme, line


def json_key_lines(text: str, max_depth: int = 4) -> dict[JsonPath, int]:
    """1-based line of each object key of a valid JSON document, by its path, up to
    ``max_depth`` keys and indexes deep."""
    out: dict[JsonPath, int] = {}
    for path, _lexeme, line, is_key in _walk(text):
        if is_key and len(path) <= max_depth:
            out.setdefault(path, line)
    return out


# set by JSONDecoder.__init__, absent from the stubs
_SCAN: Callable[[str, int], tuple[object, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner behind ``json.loads``: one value from an index, and the index after it."""
_SPACE = re.compile(r"[ \t\n\r]*")
# One match past the separators around a member, rather than one per blank run: a container is
# read member by member in Python.
_AFTER_KEY = re.compile(r"[ \t\n\r]*:[ \t\n\r]*")
_AFTER_VALUE = re.compile(r"[ \t\n\r]*(?:(,)[ \t\n\r]*)?")


class _NotJson(Exception):
    """The text is not a JSON document: :meth:`ValueLines.loads` lets ``json.loads`` say why."""


def _space(text: str, index: int) -> int:
    """The index of the first character at or after ``index`` that is not JSON whitespace."""
    match = _SPACE.match(text, index)
    return match.end() if match is not None else index


class ValueLines:
    """The line of a value of a valid JSON document, found by its path when asked.

    Only the containers on the way to a value asked for, and the containers directly in them,
    are read in Python, one member at a time; every other value is passed over by the
    scanner ``json.loads`` itself uses. Reading a container's containers while passing over
    them costs no more than passing over them whole, and the next step of a path (a
    notebook's ``cells``, then the cell) is then known without reading it again. A notebook's
    outputs cost what decoding them costs, and a document nobody asks about costs nothing. A
    key given twice leads to its last value, as in ``json.loads``.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._offsets: dict[JsonPath, int | None] = {(): _space(text, 0)}
        self._children: dict[JsonPath, dict[str | int, int]] = {}
        self._counted = (0, 1)
        """The last offset a line was counted to, and its line."""

    @classmethod
    def loads(cls, text: str) -> tuple[Any, ValueLines]:
        """``json.loads(text)``, and the lines of ``text`` with its root already read: the
        document is decoded once for both (its root and the containers directly in it are
        read member by member, as a first question would read them). Raises what
        ``json.loads`` raises: whatever the reading meets that is not JSON is left to it."""
        lines = cls(text)
        try:
            value, end = lines._read((), _space(text, 0), inner=True)
            if _space(text, end) != len(text):
                raise _NotJson
        except (_NotJson, ValueError, StopIteration, IndexError, RecursionError):
            return json.loads(text), cls(text)
        return value, lines

    def line(self, path: JsonPath) -> int | None:
        """1-based line where the value at ``path`` starts; None when there is none."""
        offset = self._offset(path)
        if offset is None:
            return None
        start, line = self._counted
        if offset < start:
            start, line = 0, 1
        line += self._text.count("\n", start, offset)
        self._counted = (offset, line)
        return line

    def _offset(self, path: JsonPath) -> int | None:
        if path in self._offsets:
            return self._offsets[path]
        parent = self._offset(path[:-1])
        found = None if parent is None else self._members(path[:-1], parent).get(path[-1])
        self._offsets[path] = found
        return found

    def _members(self, path: JsonPath, offset: int) -> dict[str | int, int]:
        """Where each member of the container at ``path`` starts, by key or index."""
        known = self._children.get(path)
        if known is None:
            self._read(path, offset, inner=True)
            known = self._children[path]
        return known

    def _read(self, path: JsonPath, index: int, *, inner: bool) -> tuple[Any, int]:
        """Record where each member of the container at ``path`` (starting at ``index``)
        starts, and with ``inner`` those of the containers among them too; the container's
        value and the index after it. A scalar there has no members. Raises :class:`_NotJson`
        (or what the scanner raises) where the text is not JSON."""
        text = self._text
        out: dict[str | int, int] = {}
        self._children[path] = out
        opening = text[index]
        if opening not in "{[":
            return _SCAN(text, index)
        closing = "}" if opening == "{" else "]"
        index = _space(text, index + 1)
        value: Any = {} if opening == "{" else []
        position = 0
        after_key = _AFTER_KEY.match
        after_value = _AFTER_VALUE.match
        while text[index] != closing:
            member: str | int
            if opening == "{":
                if text[index] != '"':
                    raise _NotJson
                key, index = _SCAN(text, index)
                found = after_key(text, index)
                if found is None:
                    raise _NotJson
                index = found.end()
                member = str(key)
                # A key given again: what was read of the value before is not its value.
                self._children.pop((*path, member), None)
            else:
                member = position
                position += 1
            out[member] = index
            if inner and text[index] in "{[":
                item, index = self._read((*path, member), index, inner=False)
            else:
                item, index = _SCAN(text, index)
            if opening == "{":
                value[member] = item
            else:
                value.append(item)
            separator = after_value(text, index)
            index = separator.end()  # type: ignore[union-attr]  # always matches
            # A comma before the end, or none between two members, is not JSON.
            if (separator.lastindex is None) is (text[index] != closing):  # type: ignore[union-attr]
                raise _NotJson
        return value, index + 1
