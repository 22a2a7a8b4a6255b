"""IPython's input syntax in a notebook cell, read by IPython's own rules (those of
``IPython.core.inputtransformer2`` in IPython 7 to 9), without IPython.

A cell is first dedented as a whole; a cell whose first non-blank line starts with ``%%`` is a
cell magic (its body is Python only for the magics that run it as Python). Otherwise Python's
tokenizer splits the cell into logical lines, and a logical line is IPython syntax when

- its first token is an escape: ``!cmd`` / ``!!cmd`` (system shell), ``%magic args``,
  ``?obj`` / ``??obj`` (help), ``,f a b`` / ``;f a b`` / ``/f a b`` (auto-call);
- an ``=`` outside brackets is followed by ``%name`` (``x = %magic``) or ``!`` (``x = !cmd``);
- its last token before the line end is ``?`` (``obj?``, ``%magic??``).

Escaped lines run on over lines ending in a backslash, joined with a space. Each such line is
replaced by Python that takes as many lines (``pass``, or ``x = None`` for an assignment), so
the cell parses with its line numbers intact, and the command is kept for the shell reader.
Text inside strings, brackets and comments is never taken for IPython syntax, because the
tokenizer, not a pattern, says where logical lines start. Each line is tokenized once.

The rules are IPython's; IPython itself is not a dependency, because importing its
transformer imports all of IPython (a dozen packages, one compiled). The cases in
``tests/audit/test_artifacts.py::test_ipython_transformation_rules`` are what IPython 9.19.1's
``TransformerManager.transform_cell`` makes of each cell.
"""

from __future__ import annotations

import re
import textwrap
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass

_ESCAPES = frozenset({"!", "?", "%", ",", ";", "/"})
_HELP_END = re.compile(r"(%{0,2}(?!\d)[\w*]+(\.(?!\d)[\w*]+|\[-?[0-9]+\])*)(\?\??)$")
_CELL_HELP = re.compile(r"%%\w+\?")
_SKIPPED_TOKENS = frozenset({tokenize.INDENT, tokenize.DEDENT})
_LINE_END = frozenset({tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER})

PYTHON_CELL_MAGICS = frozenset(
    {"time", "timeit", "capture", "prun", "debug", "memit", "snakeviz", "tensorflow_version"}
)
"""Cell magics whose body IPython runs as Python (after transforming it the same way)."""
SHELL_CELL_MAGICS = frozenset({"bash", "sh", "zsh", "system", "!"})
"""Cell magics whose body a POSIX shell runs (``%%script bash`` too)."""
SHELL_LINE_MAGICS = frozenset({"sx", "system"})
"""Line magics whose arguments a shell runs."""
INSTALLER_MAGICS = frozenset({"pip", "conda", "mamba", "micromamba", "uv"})
"""Line magics that run the installer of their name in the kernel's environment."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Special:
    """A piece of IPython syntax in a cell."""

    kind: str
    """``shell`` (``!``, ``!!``, ``x = !``), ``magic`` (``%``), ``cell`` (``%%``), ``help``
    or ``autocall``."""
    name: str
    """The magic's name (``pip``, ``env``, ``bash``); "" for the others."""
    args: tuple[str, ...]
    """The text after the escape and name, one entry per physical line: every line but the
    last ends in `` \\`` so that a shell joins them as IPython does, with a space. For a cell
    magic: its first line's arguments, then the body's lines."""
    line: int
    """0-based cell line where it starts."""

    def shell(self) -> tuple[str, ...] | None:
        """The lines a POSIX shell runs for this syntax, or None when it runs none."""
        if self.kind == "shell" or (self.kind == "magic" and self.name in SHELL_LINE_MAGICS):
            return self.args
        if self.kind == "magic" and self.name in INSTALLER_MAGICS:
            return (f"{self.name} {self.args[0]}", *self.args[1:])
        if self.kind == "magic" and self.name == "env":
            return _env(self.args)
        if self.kind == "magic" and self.name == "cd":
            return (f"cd {self.args[0]}", *self.args[1:])
        if self.kind == "cell":
            first = self.args[0].split()
            shell = self.name in SHELL_CELL_MAGICS or (
                self.name == "script"
                and bool(first)
                and first[0].rsplit("/", 1)[-1] in {"bash", "sh", "zsh"}
            )
            return ("", *self.args[1:]) if shell else None
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Cell:
    """A cell as Python, and the IPython syntax taken out of it."""

    python: tuple[str, ...]
    """The cell's lines with IPython syntax replaced (as many lines as the cell); empty when
    the cell is not Python at all (a cell magic such as ``%%html``)."""
    specials: tuple[Special, ...]
    """The IPython syntax found, in order."""


def transform_cell(text: str) -> Cell:
    """Read one cell (``\\n`` line ends) as IPython does."""
    lines = textwrap.dedent(text).split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%") and not _CELL_HELP.match(lines[first]):
        name, _, args = lines[first][2:].rstrip().partition(" ")
        magic = Special(kind="cell", name=name, args=(args, *lines[first + 1 :]), line=first)
        if name not in PYTHON_CELL_MAGICS:
            return Cell(python=(), specials=(magic,))
        body = transform_cell("\n".join(lines[first + 1 :]))
        if not body.python:  # the body is itself a cell magic that is not Python
            return Cell(python=(), specials=(magic, *_moved(body, first + 1)))
        padding = ("",) * (first + 1)
        return Cell(python=(*padding, *body.python), specials=(magic, *_moved(body, first + 1)))
    if not _may_hold_syntax(lines):
        return Cell(python=tuple(lines), specials=())
    python = list(lines)
    specials: list[Special] = []
    index = 0
    while index < len(lines):
        tokens, last = _logical_line(lines, index)
        found = _special(lines, index, tokens)
        if found is None:
            index = last + 1
            continue
        special, replacement, end = found
        specials.append(special)
        python[index] = replacement
        for blank in range(index + 1, end + 1):
            python[blank] = ""
        index = end + 1
    return Cell(python=tuple(python), specials=tuple(specials))


def _moved(cell: Cell, offset: int) -> Iterator[Special]:
    for special in cell.specials:
        yield Special(
            kind=special.kind, name=special.name, args=special.args, line=special.line + offset
        )


def _may_hold_syntax(lines: list[str]) -> bool:
    """False when no line could hold IPython syntax: most cells are plain Python, and are
    not tokenized twice (the parser reads them anyway)."""
    for line in lines:
        if any(char in line for char in "!%?"):
            return True
        stripped = line.lstrip()
        if stripped[:1] in {",", ";", "/"}:
            return True
    return False


def _logical_line(
    lines: list[str], start: int, *, whole: bool = False
) -> tuple[list[tokenize.TokenInfo], int]:
    """The tokens of the logical line starting at ``lines[start]`` (INDENT/DEDENT left out),
    and the index of its last line; unless ``whole``, reading stops at an escape that starts
    the line. A fresh tokenizer reads from ``start`` on: a logical line start is where
    Python's own reading would be at that point, so nothing carries over."""
    if not whole:
        escape = _escape_token(lines[start])
        if escape is not None:
            return [escape], start
    position = start

    def readline() -> str:
        nonlocal position
        if position >= len(lines):
            return ""
        position += 1
        return lines[position - 1] + "\n"

    tokens: list[tokenize.TokenInfo] = []
    depth = 0
    try:
        for token in tokenize.generate_tokens(readline):
            if token.type in _SKIPPED_TOKENS:
                continue
            tokens.append(token)
            if len(tokens) == 1 and token.string in _ESCAPES and not whole:
                break  # an escaped line runs to its end whatever follows
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth = max(depth - 1, 0)
            if token.type in _LINE_END and (token.type != tokenize.NL or depth == 0):
                break
    except (tokenize.TokenError, SyntaxError):
        # an unterminated string or bracket: the logical line runs to where reading stopped
        return tokens, max(position - 1, start)
    last = start + tokens[-1].end[0] - 1 if tokens else start
    return tokens, min(max(last, start), len(lines) - 1)


_OPERATORS_FROM_ESCAPES = frozenset({"!=", "%=", "//", "/="})
"""Operators that start with an escape character, which the tokenizer reads whole."""


def _escape_token(line: str) -> tokenize.TokenInfo | None:
    """The first token of ``line`` when it is an escape (``!``, ``%``...), read without the
    tokenizer: a fresh tokenizer passes over the blanks it takes for indentation, then reads
    the escape as a token of its own, unless it starts a longer operator. Its type (``!`` is
    an error token before Python 3.12, an operator since) is read by no one; the rest is what
    the tokenizer gives."""
    text = line.lstrip(" \t\f")
    char = text[:1]
    if char not in _ESCAPES or text[:2] in _OPERATORS_FROM_ESCAPES:
        return None
    column = len(line) - len(text)
    return tokenize.TokenInfo(tokenize.OP, char, (1, column), (1, column + 1), line + "\n")


def _continued(lines: list[str], start: int) -> int:
    """The last line of an escaped line continued with backslashes."""
    end = start
    while end + 1 < len(lines) and lines[end].endswith("\\"):
        end += 1
    return end


def _pieces(lines: list[str], start: int, column: int, end: int) -> tuple[str, ...]:
    """The text from ``column`` of ``lines[start]`` to the end of ``lines[end]``, one entry per
    line, each continued line's backslash turned into `` \\`` (IPython joins with a space)."""
    parts = [lines[start][column:], *lines[start + 1 : end + 1]]
    return (*(p.rstrip()[:-1] + " \\" for p in parts[:-1]), parts[-1].rstrip())


def _special(
    lines: list[str], start: int, tokens: list[tokenize.TokenInfo]
) -> tuple[Special, str, int] | None:
    """The IPython syntax of the logical line at ``start``: what it is, the Python that
    replaces its first line, and its last line; None for a line of Python."""
    if not tokens:
        return None
    head = tokens[0]
    if head.string in _ESCAPES:
        row, column = head.start
        at = start + row - 1
        end = _continued(lines, at)
        indent = lines[at][:column]
        help_line = _help(lines, at, column, end)
        if help_line is not None:
            return help_line, indent + "pass", end
        text = _pieces(lines, at, column, end)
        return _escaped(text, at), indent + "pass", end
    assigned = _assignment(tokens)
    if assigned is not None:
        token, kind = assigned
        row, column = token.start
        at = start + row - 1
        end = _continued(lines, at)
        text = _pieces(lines, at, column + 1, end)
        if kind == "magic":
            name, _, args = text[0].partition(" ")
            special = Special(kind="magic", name=name, args=(args, *text[1:]), line=at)
        else:
            special = Special(kind="shell", name="", args=text, line=at)
        return special, lines[at][:column] + "None", end
    return _help_end(lines, start, tokens)


def _escaped(text: tuple[str, ...], line: int) -> Special:
    first = text[0]
    if first.startswith("!!"):
        return Special(kind="shell", name="", args=(first[2:], *text[1:]), line=line)
    if first.startswith("!"):
        return Special(kind="shell", name="", args=(first[1:], *text[1:]), line=line)
    if first.startswith("%"):
        name, _, args = first[1:].partition(" ")
        return Special(kind="magic", name=name, args=(args, *text[1:]), line=line)
    if first.startswith("?"):
        return Special(kind="help", name="", args=text, line=line)
    return Special(kind="autocall", name="", args=text, line=line)


def _help(lines: list[str], at: int, column: int, end: int) -> Special | None:
    """An escaped line that is a help request (``%magic?``): IPython tries help first, when
    the line's last token is ``?`` (not in a comment) and what precedes it names something."""
    if not lines[end].rstrip().endswith("?"):
        return None
    tokens, _ = _logical_line(lines, at, whole=True)
    if len(tokens) < 3 or tokens[-2].string != "?" or tokens[-1].type not in _LINE_END:
        return None
    content = " ".join(lines[at : end + 1])[column:].rstrip()
    if _HELP_END.search(content) is None:
        return None
    return Special(kind="help", name="", args=(content,), line=at)


def _assignment(tokens: list[tokenize.TokenInfo]) -> tuple[tokenize.TokenInfo, str] | None:
    """``x = %magic`` or ``x = !cmd``: the ``%``/``!`` token and which it is."""
    depth = 0
    for index, token in enumerate(tokens):
        text = token.string
        if text == "=" and depth == 0:
            following = [t for t in tokens[index + 1 :] if t.string.strip()]
            if not following or token.line.strip().startswith("="):
                return None
            if (
                following[0].string == "%"
                and len(following) > 1
                and following[1].type == tokenize.NAME
            ):
                return following[0], "magic"
            if following[0].string == "!":
                return following[0], "shell"
            return None
        if text in {"(", "[", "{"} and token.type == tokenize.OP:
            depth += 1
        elif text in {")", "]", "}"} and token.type == tokenize.OP and depth > 0:
            depth -= 1
    return None


def _help_end(
    lines: list[str], start: int, tokens: list[tokenize.TokenInfo]
) -> tuple[Special, str, int] | None:
    """``obj?`` / ``obj.attr??``: the last token before the line's end is ``?``."""
    if len(tokens) < 3 or tokens[-2].string != "?" or tokens[-1].type not in _LINE_END:
        return None
    first_row, column = tokens[0].start
    q_row = tokens[-2].start[0]
    at, end = start + first_row - 1, start + q_row - 1
    content = "".join(lines[at : end + 1])[column:].rstrip()
    if _HELP_END.search(content) is None:
        return None
    return Special(kind="help", name="", args=(content,), line=at), lines[at][:column] + "pass", end


def _env(args: tuple[str, ...]) -> tuple[str, ...] | None:
    """``%env NAME=value`` / ``%env NAME value`` as the ``export`` that has the same effect."""
    text = " ".join(a.removesuffix(" \\") for a in args).strip()
    if not text:
        return None
    name, eq, value = text.partition("=")
    if not eq:
        name, _, value = text.partition(" ")
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return None
    return (f"export {name}={value.strip()}",)
