"""Notebooks: the Python checks over the code cells, located in the ``.ipynb`` JSON, and what
IPython hands a shell (``!cmd``, ``%pip``, ``%%bash``) audited as shell text. Cells are read by
IPython's own rules (:mod:`.ipython`)."""

from __future__ import annotations

import ast
import bisect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from reprolock.audit.artifacts.ipython import transform_cell
from reprolock.audit.artifacts.python import (
    Analysis,
    mentions_artifacts,
    skipped_note,
    syntax_position,
)
from reprolock.audit.artifacts.references import located
from reprolock.audit.budget import ExpansionBudget, over_limit
from reprolock.audit.interface import (
    FileFacts,
    Include,
    Pin,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
)
from reprolock.audit.pysource import Parsed, parse_bounded
from reprolock.audit.shell import Download, ShellAudit, audit_shell
from reprolock.formats.json import JsonPath, ValueLines
from reprolock.model import Finding, Location
from reprolock.rules import finding

KIND_NOTEBOOK = "notebook"

_MAX_RECOVERIES = 8
"""Statements of one cell skipped one by one before the cell is given up."""
_STATEMENT_HEAD = re.compile(r"^[^\s#)\]}]")


_Piece = tuple[int, int]
"""A piece of cell source: (cell index, index in the ``source`` list, or -1 for a string)."""


class _LineMap(Sequence[int]):
    """The .ipynb line of each line of something read from cells, found when asked for: most
    notebooks report nothing, and then no position is looked for at all."""

    def __init__(self, lines: ValueLines, pieces: Sequence[_Piece]) -> None:
        self._lines = lines
        self._pieces = pieces

    def __len__(self) -> int:
        return len(self._pieces)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        if isinstance(index, slice):
            return _LineMap(self._lines, self._pieces[index])
        cell, piece = self._pieces[index]
        path: JsonPath = ("cells", cell, "source")
        if piece >= 0:
            path = (*path, piece)
        return self._lines.line(path) or 1


@dataclass(frozen=True, kw_only=True, slots=True)
class _Command:
    """IPython syntax that a shell runs (``!cmd``, ``%pip``, ``%%bash``), or ``%env``."""

    lines: tuple[str, ...]
    """The shell text, one entry per cell line."""
    json_lines: Sequence[int]
    """The .ipynb line of each."""
    env: bool = False
    """``%env``: an ``export`` whose variable later commands see."""


@dataclass(kw_only=True, slots=True)
class _NotebookSource:
    lines: ValueLines
    """Where in the .ipynb file each piece of cell source is."""
    python: list[str] = field(default_factory=list)
    """Python lines of all code cells, IPython syntax replaced by Python of as many lines."""
    pieces: list[_Piece] = field(default_factory=list)
    """For each Python line, the piece of cell source it starts in."""
    cells: list[tuple[int, int, int]] = field(default_factory=list)
    """(cell index, first Python line, line count) for each code cell kept."""
    commands: list[_Command] = field(default_factory=list)
    """What a shell runs, in notebook order."""

    @property
    def json_lines(self) -> _LineMap:
        """For each Python line, its line in the .ipynb file."""
        return _LineMap(self.lines, self.pieces)


def _code_sources(data: dict[str, Any]) -> dict[int, str | list[str]]:
    """For each code cell whose source is text, that source: a string, or a list of strings
    (each a piece of the cell, as Jupyter writes one per line)."""
    out: dict[int, str | list[str]] = {}
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source")
        if isinstance(source, str) or (
            isinstance(source, list) and all(isinstance(s, str) for s in source)
        ):
            out[index] = source
    return out


def _source_pieces(index: int, source: str | list[str]) -> list[tuple[str, _Piece]]:
    """A code cell's source pieces, each with where it is."""
    if isinstance(source, str):
        return [(source, (index, -1))]
    return [(s, (index, j)) for j, s in enumerate(source)]


def _cell_lines(cell_pieces: list[tuple[str, _Piece]]) -> list[tuple[str, _Piece]]:
    """The cell's lines, each with the piece it starts in."""
    # Python ends lines at \r too; split the way the compiler will count.
    cell_pieces = [
        (piece.replace("\r\n", "\n").replace("\r", "\n"), where) for piece, where in cell_pieces
    ]
    text = "".join(piece for piece, _where in cell_pieces)
    starts: list[int] = []
    offset = 0
    for piece, _where in cell_pieces:
        starts.append(offset)
        offset += len(piece)
    raw_lines = text.split("\n")
    if len(raw_lines) > 1 and raw_lines[-1] == "":
        raw_lines.pop()
    lines: list[tuple[str, _Piece]] = []
    offset = 0
    for raw in raw_lines:
        # The piece a line starts in; empty pieces share an offset with the next one.
        piece_index = max(bisect.bisect_right(starts, offset) - 1, 0)
        lines.append((raw, cell_pieces[piece_index][1]))
        offset += len(raw) + 1
    return lines


_LATER_LINE_ESCAPE = re.compile(r"[\r\n]\s*[,;/]")
_FIRST_LINE_ESCAPE = re.compile(r"\s*[,;/]")


def _may_hold_syntax(raw: str) -> bool:
    """False when a cell's raw text (lines end at \\r or \\n) holds no IPython syntax: no
    ``!%?`` anywhere and no line starting with ``,;/`` (ipython's own test, on the raw text).
    Three plain searches and two anchored patterns: a pattern that starts with an alternation
    is tried at every character, four times the cost over a notebook's cells."""
    return (
        "!" in raw
        or "%" in raw
        or "?" in raw
        or _FIRST_LINE_ESCAPE.match(raw) is not None
        or _LATER_LINE_ESCAPE.search(raw) is not None
    )


def _notebook_python(
    sources: dict[int, str | list[str]], lines_of: ValueLines, *, python: bool
) -> _NotebookSource:
    """The cells read as IPython reads them; without ``python``, only what a shell runs (the
    Python lines are left out, and cells that hold no IPython syntax are not read)."""
    nb = _NotebookSource(lines=lines_of)
    for index, source in sources.items():
        raw = source if isinstance(source, str) else "".join(source)
        if not raw.strip():
            continue
        if not python and not _may_hold_syntax(raw):
            continue
        lines = _cell_lines(_source_pieces(index, source))
        cell = transform_cell("\n".join(text for text, _line in lines))
        where = [piece for _text, piece in lines]
        for special in cell.specials:
            shell = special.shell()
            if shell is None:
                continue
            at = [where[min(special.line + i, len(where) - 1)] for i in range(len(shell))]
            env = special.kind == "magic" and special.name == "env"
            nb.commands.append(_Command(lines=shell, json_lines=_LineMap(lines_of, at), env=env))
        if not cell.python:
            continue  # a cell magic whose body is not Python (%%bash, %%html, %%writefile)
        start = len(nb.python) + 1
        nb.python.extend(cell.python)
        nb.pieces.extend(where)
        nb.cells.append((index, start, len(cell.python)))
    return nb


def _statement_around(lines: list[str], line: int) -> tuple[int, int]:
    """The 0-based first and last line of the top-level statement holding 0-based ``line``:
    from the nearest line above that starts at column 0, to the line before the next one."""
    first = line
    while first > 0 and not _STATEMENT_HEAD.match(lines[first]):
        first -= 1
    last = line + 1
    while last < len(lines) and not _STATEMENT_HEAD.match(lines[last]):
        last += 1
    return first, last - 1


def _parse_cell(lines: list[str], path: str) -> tuple[Parsed | None, tuple[int, str] | None]:
    """The cell's statements that are Python, and the first that is not (its 1-based line and
    the parser's message). A statement that does not parse is left out and the cell read
    again, so one bad statement does not hide the model a later one loads."""
    current = list(lines)
    problem: tuple[int, str] | None = None
    for _ in range(_MAX_RECOVERIES + 1):
        text = "\n".join(current) + "\n"
        try:
            return parse_bounded(text, path, mentions_artifacts), problem
        except (SyntaxError, ValueError) as exc:
            line, _column, message = syntax_position(exc, text)
            bad = min(max(line - 1, 0), len(current) - 1)
            if problem is None:
                problem = (bad + 1, message)
            first, last = _statement_around(current, bad)
            if not any(current[first : last + 1]):
                break  # nothing left to leave out: the cell is given up
            current[first : last + 1] = [""] * (last - first + 1)
    return None, problem


class NotebookScanner(Scanner):
    """``*.ipynb``: the Python scanner's checks over the code cells, located in the JSON, and
    what IPython hands a shell (``!cmd``, ``%pip``, ``%%bash``) audited as shell text."""

    name = KIND_NOTEBOOK
    extensions = frozenset({"ipynb"})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename.endswith(".ipynb")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        facts = FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        mentions = mentions_artifacts(source.text)
        # A notebook read further may need lines: then one decode serves the data and them.
        read_further = mentions or _RUNS_SHELL.search(source.text) is not None
        try:
            if read_further:
                data, lines = ValueLines.loads(source.text)
            else:
                data, lines = json.loads(source.text), None
        except json.JSONDecodeError as exc:
            raise ScanError(f"invalid notebook JSON: {exc.msg}", exc.lineno, exc.colno) from None
        except RecursionError:
            raise ScanError("invalid notebook JSON: nesting too deep", 1) from None
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            return facts
        if lines is None or not _python_kernel(data):
            return facts
        nb = _notebook_python(_code_sources(data), lines, python=mentions)
        findings: list[Finding] = []
        shell = _shell(source, ctx, nb.commands)
        findings.extend(shell.findings)
        if mentions:
            findings.extend(self._code(source, ctx, nb))
        installs = bool(shell.pins or shell.findings or shell.includes or shell.installs_python)
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.CONCRETE if installs else Role.OTHER,
            findings=tuple(findings),
            pins=shell.pins,
            includes=shell.includes,
            indexes=shell.indexes,
        )

    @staticmethod
    def _code(source: SourceFile, ctx: ScanContext, nb: _NotebookSource) -> list[Finding]:
        findings: list[Finding] = []
        body: list[ast.stmt] = []
        for index, start, count in nb.cells:
            parsed, problem = _parse_cell(nb.python[start - 1 : start - 1 + count], source.path)
            if problem is not None:
                line, message = problem
                json_line = nb.json_lines[min(start - 1 + line - 1, len(nb.json_lines) - 1)]
                # A scratch cell that does not parse is common in notebooks, and Jupyter
                # accepts the file: a note, with the cell's other statements still audited.
                msg = (
                    f"notebook cell {index + 1}: a statement is not valid Python and is "
                    f"skipped: {message}"
                )
                findings.append(finding("RP002", msg, source.at(json_line)))
            if parsed is None:
                continue
            tree = parsed.tree
            ast.increment_lineno(tree, start - 1)
            body.extend(tree.body)

            def cell_line(line: int, start: int = start) -> Location:
                index = min(start - 1 + line - 1, len(nb.json_lines) - 1)
                return source.at(nb.json_lines[index])

            findings.extend(skipped_note(parsed.skipped, cell_line, f"notebook cell {index + 1}"))
        module = ast.Module(body=body, type_ignores=[])
        try:
            analysis = Analysis(module, lines=nb.python, parent_dir=source.parent, files=ctx.files)
            hits = analysis.run()
        except RecursionError:
            note = over_limit(source.at(1), "notebook: nested too deep to analyse; not audited")
            return [*findings, note]
        findings.extend(located(hits, source, nb.json_lines))
        return findings


# Notebook text that may hand something to a shell: `!`, `%pip`, `%%bash`... (a cheap test
# before any cell is read: most notebooks of a large repository run nothing).
_RUNS_SHELL = re.compile(r'"\s*(?:!|%|[\w.]+\s*=\s*!)|\\n\s*(?:!|%)|install')


def _shell(source: SourceFile, ctx: ScanContext, commands: list[_Command]) -> ShellAudit:
    """Each command as IPython runs it: a shell of its own (a variable set by one ``!`` line
    is gone in the next), with what ``%env`` exported, and the files earlier ones downloaded."""
    budget = ExpansionBudget(source.path)
    env: dict[str, str | None] = {}
    downloads: tuple[Download, ...] = ()
    findings: list[Finding] = []
    pins: list[Pin] = []
    includes: list[Include] = []
    indexes: list[str] = []
    installs = False
    for command in commands:
        audit = audit_shell(
            "\n".join(command.lines),
            source,
            ctx,
            line_map=command.json_lines,
            variables={**env},
            downloaded=downloads,
            budget=budget,
        )
        if command.env:
            name, _, value = command.lines[0].removeprefix("export ").partition("=")
            env[name] = value.strip("'\"") or None
        downloads = audit.downloads
        findings.extend(audit.findings)
        pins.extend(audit.pins)
        includes.extend(audit.includes)
        indexes.extend(audit.indexes)
        installs |= audit.installs_python
    note = budget.note()
    if note is not None:
        findings.append(note)
    return ShellAudit(
        findings=tuple(findings),
        pins=tuple(dict.fromkeys(pins)),
        includes=tuple(dict.fromkeys(includes)),
        indexes=tuple(dict.fromkeys(indexes)),
        installs_python=installs,
        downloads=downloads,
    )


def _python_kernel(data: dict[str, Any]) -> bool:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return True
    for section, key in (("kernelspec", "language"), ("language_info", "name")):
        block = metadata.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            return str(block[key]).lower().startswith("python")
    return True
