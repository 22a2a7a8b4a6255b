"""Python source to ``ast`` within bounds: a data file in ``.py`` clothing must not cost GBs.

CPython's AST of a literal costs a hundred bytes or more per character of source, and its
parser gives up on deep nesting with a ``MemoryError``. A file up to
:data:`MAX_WHOLE_PARSE_CHARS` is parsed whole. A larger one is cut at its top-level
statements (a line that starts at column 0 with a name, a keyword or a decorator), and only
those that can matter are parsed: statements up to :data:`MAX_STATEMENT_CHARS`, in file
order, up to :data:`MAX_PARSED_CHARS` in all. A larger statement, or one past the total, is
skipped; when it could hold a model or dataset call the caller notes it under RP002.
"""

from __future__ import annotations

import ast
import itertools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

MAX_WHOLE_PARSE_CHARS = 1024 * 1024
"""Source up to this size is parsed whole."""

MAX_STATEMENT_CHARS = 64 * 1024
"""In a larger file, a top-level statement larger than this is not parsed."""

MAX_PARSED_CHARS = 1024 * 1024
"""In a larger file, the statements parsed add up to at most this."""

_MAX_MERGES = 8
"""A statement that does not parse alone is retried with up to this many that follow (the
cut fell inside a string or brackets)."""

_STATEMENT_START = re.compile(r"^(?=[A-Za-z_@])", re.MULTILINE)


class TooDeepError(Exception):
    """The parser gave up on nesting (CPython raises ``MemoryError`` past ~6000 levels)."""


def parse_python(text: str, filename: str) -> ast.Module:
    """``ast`` only: the source is never compiled to bytecode or run. SyntaxWarnings (invalid
    escapes) are the audited project's business, not noise for our users. Raises
    ``SyntaxError``/``ValueError`` for invalid source, :class:`TooDeepError` for nesting the
    parser cannot hold."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = compile(
                text,
                filename,
                "exec",
                flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                dont_inherit=True,
            )
        except (MemoryError, RecursionError):
            raise TooDeepError from None
    return cast(ast.Module, tree)


@dataclass(frozen=True, kw_only=True, slots=True)
class Skipped:
    """A part of the source that was not parsed."""

    line: int
    """Where it starts."""
    reason: str
    """Why, as a clause: ``a statement of 5 MiB is over the 64 KiB limit``."""
    relevant: bool
    """True when its text could hold something judged (so it deserves a note)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Parsed:
    """What :func:`parse_bounded` could read."""

    tree: ast.Module
    """The statements parsed, with their own line numbers."""
    skipped: tuple[Skipped, ...] = ()
    """What was not, in file order."""


@dataclass(kw_only=True, slots=True)
class _Chunk:
    line: int
    text: str
    keep: bool = True
    notes: list[Skipped] = field(default_factory=list)


def parse_bounded(text: str, filename: str, relevant: Callable[[str], bool]) -> Parsed:
    """Parse ``text`` within the limits above. ``relevant`` says whether a piece of source
    could hold anything judged. Raises ``SyntaxError``/``ValueError`` for a file parsed whole
    that is not valid Python; a file too deep for the parser, or too large, comes back with
    the statements that could be read and the others listed as skipped."""
    if len(text) <= MAX_WHOLE_PARSE_CHARS:
        try:
            return Parsed(tree=parse_python(text, filename))
        except TooDeepError:
            pass  # read it statement by statement: one deep expression costs only itself
    return _parse_statements(text, filename, relevant)


def _parse_statements(text: str, filename: str, relevant: Callable[[str], bool]) -> Parsed:
    # The compiler ends lines at \r too: count lines the way it does.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    chunks = _chunks(text)
    budget = MAX_PARSED_CHARS
    for chunk in chunks:
        size = len(chunk.text)
        if size > MAX_STATEMENT_CHARS:
            chunk.keep = False
            reason = f"a statement of {_size(size)} is over the {_size(MAX_STATEMENT_CHARS)} limit"
        elif size > budget:
            chunk.keep = False
            reason = f"statements past the first {_size(MAX_PARSED_CHARS)} are not parsed"
        else:
            budget -= size
            continue
        chunk.notes.append(Skipped(line=chunk.line, reason=reason, relevant=relevant(chunk.text)))
    kept = "".join(c.text if c.keep else "\n" * c.text.count("\n") for c in chunks)
    try:
        tree = parse_python(kept, filename)
    except (SyntaxError, ValueError, TooDeepError):
        tree = _one_by_one(chunks, filename, relevant)
    skipped = tuple(note for chunk in chunks for note in chunk.notes)
    return Parsed(tree=tree, skipped=skipped)


def _chunks(text: str) -> list[_Chunk]:
    starts = [m.start() for m in _STATEMENT_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(text))
    chunks: list[_Chunk] = []
    line = 1
    for begin, end in itertools.pairwise(starts):
        piece = text[begin:end]
        chunks.append(_Chunk(line=line, text=piece))
        line += piece.count("\n")
    return chunks


def _one_by_one(chunks: list[_Chunk], filename: str, relevant: Callable[[str], bool]) -> ast.Module:
    """Each kept statement parsed alone (joined with those after it while the cut fell inside
    a string or brackets); what still does not parse is skipped."""
    body: list[ast.stmt] = []
    index = 0
    while index < len(chunks):
        chunk = chunks[index]
        index += 1
        if not chunk.keep:
            continue
        text = chunk.text
        tree: ast.Module | None = None
        problem = "it does not parse"
        for extra in range(_MAX_MERGES + 1):
            try:
                tree = parse_python(text, filename)
                index += extra
                break
            except (SyntaxError, ValueError):
                pass
            except TooDeepError:
                problem = "it is nested too deep for Python's parser"
                break
            following = index + extra
            if following >= len(chunks) or not chunks[following].keep:
                break
            text += chunks[following].text
            if len(text) > MAX_STATEMENT_CHARS:
                break
        if tree is None:
            # A nesting the parser cannot hold is noted wherever it is: no real code has it.
            deep = problem != "it does not parse"
            chunk.notes.append(
                Skipped(line=chunk.line, reason=problem, relevant=deep or relevant(chunk.text))
            )
            continue
        ast.increment_lineno(tree, chunk.line - 1)
        body.extend(tree.body)
    return ast.Module(body=body, type_ignores=[])


def _size(chars: int) -> str:
    if chars >= 2**20:
        return f"{chars / 2**20:.1f} MiB"
    return f"{chars // 1024} KiB"
