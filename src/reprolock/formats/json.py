"""JSON with positions: the line of every key and scalar of a document ``json`` has accepted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
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
