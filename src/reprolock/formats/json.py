"""JSON with positions: the line of keys and values of a document ``json`` has accepted."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


class _Any:
    """Stands in the pattern of :func:`json_value_lines` for every array index."""


ANY_INDEX = _Any()
"""In a :func:`json_value_lines` pattern: any index of an array."""

JsonPattern = tuple[str | _Any, ...]
"""Object keys, and :data:`ANY_INDEX` for array items, from the root."""

# set by JSONDecoder.__init__, absent from the stubs
_SCAN: Callable[[str, int], tuple[object, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner behind ``json.loads``: one value from an index, and the index after it."""
_SPACE = re.compile(r"[ \t\n\r]*")


def _space(text: str, index: int) -> int:
    """The index of the first character at or after ``index`` that is not JSON whitespace."""
    match = _SPACE.match(text, index)
    return match.end() if match is not None else index


class _Lines:
    """1-based lines of offsets asked for in increasing order, newlines counted once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def at(self, offset: int) -> int:
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


def json_value_lines(text: str, pattern: JsonPattern) -> dict[JsonPath, int]:
    """1-based line of each value of a valid JSON document whose path is ``pattern`` or a
    prefix of it (``("cells", ANY_INDEX, "source")``: the line of ``cells``, of each cell and of
    each cell's ``source``).

    Only the containers on the pattern are walked in Python; every other value is passed over
    by the scanner ``json.loads`` itself uses, so a notebook's outputs cost what decoding them
    costs. A key given twice keeps its last line, as ``json.loads`` keeps its last value.
    """
    out: dict[JsonPath, int] = {}
    lines = _Lines(text)

    def value(path: JsonPath, index: int) -> int:
        out[path] = lines.at(index)
        depth = len(path)
        opening = text[index]
        if depth < len(pattern) and opening in "{[":
            wanted = pattern[depth]
            if opening == "{" and isinstance(wanted, str):
                return members(path, index, wanted)
            if opening == "[" and isinstance(wanted, _Any):
                return items(path, index)
        return _SCAN(text, index)[1]

    def members(path: JsonPath, index: int, wanted: str) -> int:
        index = _space(text, index + 1)
        while text[index] != "}":
            key, index = _SCAN(text, index)
            index = _space(text, _space(text, index) + 1)  # past the colon
            index = value((*path, wanted), index) if key == wanted else _SCAN(text, index)[1]
            index = _space(text, index)
            if text[index] == ",":
                index = _space(text, index + 1)
        return index + 1

    def items(path: JsonPath, index: int) -> int:
        index = _space(text, index + 1)
        position = 0
        while text[index] != "]":
            index = value((*path, position), index)
            position += 1
            index = _space(text, index)
            if text[index] == ",":
                index = _space(text, index + 1)
        return index + 1

    value((), _space(text, 0))
    return out
