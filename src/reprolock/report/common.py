"""Wording and escaping shared by the output formats: the fix sentence, and the one Markdown
escaper (literal text, code spans, fences, table cells) every Markdown report uses."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

from reprolock.model import Finding
from reprolock.rules import RULES

_NEWLINE = re.compile(r"\r\n|\r|\n")
# Characters with a meaning in GitHub-flavoured Markdown inline text: emphasis, code, links,
# raw HTML, entities, table cell separators, strikethrough and `$` math.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~$])")
_BACKTICKS = re.compile(r"`+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    # 0xDC80-0xDCFF is how Python holds an undecodable byte of a file name (surrogateescape).
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def display(text: str) -> str:
    """``text`` that every output can encode: a file name's undecodable byte (held as a lone
    surrogate) becomes ``\\xNN``, any other lone surrogate ``\\uNNNN``; the same in every
    format, so a path reads the same in text, JSON, SARIF, GitHub and Markdown."""
    if text.isascii():
        return text
    return _SURROGATE.sub(_escape_surrogate, text)


def uri_path(path: str) -> str:
    """``path`` percent-encoded for a URI from the bytes it names (an undecodable byte of a
    file name stays that byte: ``%FF``), with ``/`` kept."""
    return quote(
        path.encode("utf-8", "surrogateescape") if _bytes_only(path) else display(path), safe="/"
    )


def _bytes_only(path: str) -> bool:
    return all(0xDC80 <= ord(c) <= 0xDCFF for c in _SURROGATE.findall(path))


def fix_text(finding: Finding) -> str:
    """The concrete fix when one is known, else the rule's general fix hint ("" if none)."""
    if finding.fix:
        return display(finding.fix)
    rule = RULES.get(finding.rule)
    return rule.fix if rule else ""


def message_with_fix(finding: Finding) -> str:
    """The message followed by the fix, as one line of plain text for annotations."""
    message = display(finding.message).rstrip().rstrip(".")
    fix = fix_text(finding)
    return f"{message}. Fix: {fix}" if fix else message


def markdown_text(text: str) -> str:
    """``text`` as literal inline Markdown that stays inside one table cell."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _NEWLINE.sub("<br>", escaped)


def markdown_code(text: str) -> str:
    """``text`` as an inline code span that stays inside one table cell ("" for "")."""
    if not text:
        return ""
    # A GFM table splits cells on `|` even inside code spans; `\|` is the documented escape.
    body = markdown_cell(text)
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith(("`", " ")) or body.endswith(("`", " ")) else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def markdown_fence(text: str, info: str = "") -> str:
    """``text`` as a fenced code block whose fence no line of ``text`` can close."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}\n"


def markdown_cell(text: str) -> str:
    """Markdown ``text`` (written by reprolock, so already Markdown) kept inside one table cell
    or one line: ``|`` escaped, line breaks made spaces."""
    return _NEWLINE.sub(" ", text).replace("|", "\\|")


def markdown_row(cells: Iterable[str]) -> str:
    """A table row of cells already made safe (by :func:`markdown_text`, :func:`markdown_code`
    or :func:`markdown_cell`)."""
    return "| " + " | ".join(cells) + " |"
