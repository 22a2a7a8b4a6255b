"""Notebooks: the Python checks over the code cells, located in the ``.ipynb`` JSON, and
``!pip install`` lines audited as shell."""

from __future__ import annotations

import ast
import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any

from reprolock.audit._json import json_scalars
from reprolock.audit.artifacts.python import (
    Analysis,
    mentions_artifacts,
    skipped_note,
    syntax_position,
)
from reprolock.audit.artifacts.references import located
from reprolock.audit.budget import over_limit
from reprolock.audit.interface import FileFacts, Role, ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.pysource import parse_bounded
from reprolock.audit.shell import ShellAudit, audit_shell
from reprolock.model import Finding, Location, Severity
from reprolock.rules import finding

KIND_NOTEBOOK = "notebook"

# Cell magics whose body is Python; any other %% magic makes the cell another language.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit", "snakeviz"})
_ASSIGN_MAGIC = re.compile(r"^\s*[\w.,\s]+=\s*[!%]")
_INSTALL = re.compile(r"\b(?:pip3?|conda|mamba|micromamba|uv)\b.*\binstall\b")


@dataclass(kw_only=True, slots=True)
class _NotebookSource:
    python: list[str] = field(default_factory=list)
    """Python lines of all code cells, magics blanked."""
    json_lines: list[int] = field(default_factory=list)
    """For each Python line, its line in the .ipynb file."""
    cells: list[tuple[int, int, int]] = field(default_factory=list)
    """(cell index, first Python line, line count) for each code cell kept."""
    shell: list[tuple[str, int]] = field(default_factory=list)
    """``!``/``%`` lines that install packages, with their .ipynb line."""


def _source_pieces(data: dict[str, Any], text: str) -> dict[int, list[tuple[str, int]]]:
    """For each cell, its source pieces with the .ipynb line each piece is on."""
    lines: dict[tuple[int, int], int] = {}
    for path, _token, line in json_scalars(text):
        if (
            len(path) >= 3
            and path[0] == "cells"
            and path[2] == "source"
            and isinstance(path[1], int)
        ):
            piece = path[3] if len(path) == 4 and isinstance(path[3], int) else -1
            lines[(path[1], piece)] = line
    out: dict[int, list[tuple[str, int]]] = {}
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source")
        if isinstance(source, str):
            out[index] = [(source, lines.get((index, -1), 1))]
        elif isinstance(source, list) and all(isinstance(s, str) for s in source):
            out[index] = [(s, lines.get((index, j), 1)) for j, s in enumerate(source)]
    return out


def _notebook_python(pieces: dict[int, list[tuple[str, int]]]) -> _NotebookSource:
    nb = _NotebookSource()
    for index, cell_pieces in pieces.items():
        # Python ends lines at \r too; split the way the compiler will count.
        cell_pieces = [  # noqa: PLW2901
            (piece.replace("\r\n", "\n").replace("\r", "\n"), line) for piece, line in cell_pieces
        ]
        text = "".join(piece for piece, _line in cell_pieces)
        if not text.strip():
            continue
        starts: list[int] = []
        offset = 0
        for piece, _line in cell_pieces:
            starts.append(offset)
            offset += len(piece)
        raw_lines = text.split("\n")
        if len(raw_lines) > 1 and raw_lines[-1] == "":
            raw_lines.pop()
        lines: list[tuple[str, int]] = []
        offset = 0
        for raw in raw_lines:
            # The piece a line starts in; empty pieces share an offset with the next one.
            piece_index = max(bisect.bisect_right(starts, offset) - 1, 0)
            lines.append((raw, cell_pieces[piece_index][1]))
            offset += len(raw) + 1
        first = lines[0][0].strip()
        if first.startswith("%%"):
            magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
            if magic not in _PYTHON_CELL_MAGICS:
                continue
            lines[0] = ("", lines[0][1])
        start = len(nb.python) + 1
        for line, json_line in lines:
            stripped = line.strip()
            if (
                stripped.startswith(("!", "%"))
                or _ASSIGN_MAGIC.match(line)
                or (stripped.endswith("?") and not stripped.startswith("#"))
            ):
                if _INSTALL.search(stripped):
                    nb.shell.append((stripped.lstrip("!%"), json_line))
                line = ""  # noqa: PLW2901 - IPython syntax, blanked to keep line numbers
            nb.python.append(line)
            nb.json_lines.append(json_line)
        nb.cells.append((index, start, len(lines)))
    return nb


class NotebookScanner(Scanner):
    """``*.ipynb``: the Python scanner's checks over the code cells, located in the JSON."""

    name = KIND_NOTEBOOK

    def claims(self, relpath: str, filename: str) -> bool:
        return filename.endswith(".ipynb")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        facts = FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        try:
            data = json.loads(source.text)
        except json.JSONDecodeError as exc:
            raise ScanError(f"invalid notebook JSON: {exc.msg}", exc.lineno, exc.colno) from None
        except RecursionError:
            raise ScanError("invalid notebook JSON: nesting too deep", 1) from None
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            return facts
        mentions = mentions_artifacts(source.text)
        if not _python_kernel(data) or not (mentions or "install" in source.text):
            return facts
        nb = _notebook_python(_source_pieces(data, source.text))
        findings: list[Finding] = []
        shell = ShellAudit()
        if nb.shell:
            # `!pip install x` / `%pip install x` install into the kernel as written.
            script = "\n".join(text for text, _line in nb.shell)
            line_map = [line for _text, line in nb.shell]
            shell = audit_shell(script, source, ctx, line_map=line_map)
            findings.extend(shell.findings)
        if mentions:
            findings.extend(self._code(source, ctx, nb))
        installs = bool(shell.pins or shell.findings or shell.includes)
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
            cell_text = "\n".join(nb.python[start - 1 : start - 1 + count]) + "\n"
            try:
                parsed = parse_bounded(cell_text, source.path, mentions_artifacts)
            except (SyntaxError, ValueError) as exc:
                line, _column, message = syntax_position(exc, cell_text)
                json_line = nb.json_lines[min(start - 1 + line - 1, len(nb.json_lines) - 1)]
                # A scratch cell that does not parse is common in notebooks: it is noted,
                # and the other cells are still audited.
                msg = f"notebook cell {index + 1} is not valid Python and was skipped: {message}"
                findings.append(finding("RP001", msg, source.at(json_line), severity=Severity.NOTE))
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


def _python_kernel(data: dict[str, Any]) -> bool:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return True
    for section, key in (("kernelspec", "language"), ("language_info", "name")):
        block = metadata.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            return str(block[key]).lower().startswith("python")
    return True
