"""What a reader reports: a parse error at a position, and how a message quotes the file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from packaging.requirements import InvalidRequirement, Requirement

from reprolock.model import Severity


class ParseError(ValueError):
    """A file could not be read at all; ``line`` and ``column`` say where its reader stopped."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """A part of a file its tool would reject (or silently misread); reading went on."""

    message: str
    """One short sentence."""
    line: int
    """The line."""
    column: int = 1
    """The column."""
    severity: Severity | None = None
    """None: the rule's default (error)."""


EXCERPT_CHARS = 40
"""The most of a file's text a message quotes."""


def redact_url(url: str) -> str:
    """The URL with any user name or token replaced, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def excerpt(token: str, limit: int = EXCERPT_CHARS) -> str:
    """``token`` quoted for a message, cut to ``limit`` characters.

    A message about a file names the offending token, never a whole line: the line may hold
    a password or a token, and messages travel to annotations, SARIF and PR comments.
    """
    if len(token) <= limit:
        return repr(token)
    return repr(token[:limit]) + "..."


ENTRY_CHARS = 80
"""The most of one lock entry a message repeats as written."""


def cut(text: str, limit: int = ENTRY_CHARS) -> str:
    """An entry as written (``numpy>=1.26``) when short, else its first ``limit`` characters
    and its length: a message names an entry, it never echoes a whole hostile one."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def requirement_excerpt(text: str) -> str:
    """An unparsable requirement for a message: ``'text'`` when it is one short word, else
    ``at 'word'`` naming the word where parsing fails (packaging puts a caret under it)."""
    words = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
    if len(words) == 1 and words[0][1] == text:
        return excerpt(text)
    word = words[0][1] if words else text
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        marks = str(exc).splitlines()
        # the message, the requirement indented by 4, then "~~~^" with the caret under the place
        if words and len(marks) >= 3 and marks[1] == f"    {text}" and "^" in marks[2]:
            at = marks[2].index("^") - 4
            # the word at that place, or the first one after it
            word = next((w for start, w in words if at < start + len(w)), words[-1][1])
    return f"at {excerpt(word)}"


_TOKEN_CHARS = 60


def token(value: object) -> str:
    """``value`` as a lock reader's message quotes it: ``repr``, cut after 60 characters."""
    if isinstance(value, str) and len(value) > _TOKEN_CHARS:
        return f"{value[:_TOKEN_CHARS]!r}... ({len(value)} characters)"
    return repr(value)
