"""Human output: findings grouped by file, colour only on a terminal."""

from __future__ import annotations

import io
import itertools

from reprolock.model import Finding, Report, Severity
from reprolock.report.common import display

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}

# The SGR codes rich writes for the styles above, so that the common case is plain string
# building: rich costs ~100 us a line, most of a large report's time.
_SGR = {
    "bold underline": "1;4",
    "dim": "2",
    "bold": "1",
    "bold red": "1;31",
    "yellow": "33",
    "cyan": "36",
    "green": "32",
}

# Paths and messages quote audited files; an escape sequence in one must not reach the
# terminal (it could recolour, retitle or clear it), and a newline must not break the layout.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c != 0x09}


def _printable(text: str) -> str:
    shown = display(text)
    # Every character _CONTROLS names is unprintable (Unicode Cc), so text that is all
    # printable has nothing to escape: the common case, without a table look-up per character.
    return shown if shown.isprintable() else shown.translate(_CONTROLS)


def render_text(report: Report, *, color: bool = False) -> str:
    """Findings grouped by file: ``path`` then ``  line:col  RP101 error  message``."""
    out: list[str] = []
    rich: _Rich | None = None
    for path, grouped in itertools.groupby(report.findings, key=lambda f: f.location.path):
        group = list(grouped)
        plain = None if color else _plain_group(path, group)
        if plain is not None:
            out.append(plain)
            continue
        for pieces in (_path_line(path), *(_finding_line(f) for f in group)):
            if any("\t" in text for text, _style in pieces):
                # rich expands tabs by display width (wide characters count twice): rare
                # enough to leave to it, exactly as it always did.
                rich = rich or _Rich(color=color)
                out.append(rich.line(pieces))
            else:
                out.append(_line(pieces, color=color))
        out.append("\n")
    return "".join(out)


def _plain_group(path: str, findings: list[Finding]) -> str | None:
    """A file's block without colour as one string (the pieces of :func:`_finding_line`
    joined at once, not line by line: a large report is thousands of lines); None when a tab
    needs rich."""
    lines = [_printable(path), "\n"]
    for f in findings:
        lines.extend([text for text, _style in _finding_line(f)])
        lines.append("\n")
    lines.append("\n")
    text = "".join(lines)
    return None if "\t" in text else text


_Pieces = tuple[tuple[str, str], ...]
"""A line as (text, style) pieces; style "" is plain."""


def _path_line(path: str) -> _Pieces:
    return ((_printable(path), "bold underline"),)


def _finding_line(f: Finding) -> _Pieces:
    pieces = [
        ("  ", ""),
        (f"{f.location.line}:{f.location.column}".ljust(8), "dim"),
        (f"{f.rule} ", "bold"),
        (f.severity.value.ljust(8), _STYLE[f.severity]),
        (_printable(f.message), ""),
    ]
    if f.fix:
        pieces.append((f"  fix: {_printable(f.fix)}", "green"))
    return tuple(pieces)


def _line(pieces: _Pieces, *, color: bool) -> str:
    if not color:
        return "".join(text for text, _style in pieces) + "\n"
    parts = [
        f"\x1b[{_SGR[style]}m{text}\x1b[0m" if style and text else text for text, style in pieces
    ]
    return "".join(parts) + "\n"


class _Rich:
    """rich's rendering of a line, for the lines plain string building does not cover."""

    # rich is imported here, for the rare line that needs it: importing it costs more than a
    # whole report served from the audit cache.
    def __init__(self, *, color: bool) -> None:
        from rich.console import Console  # noqa: PLC0415

        self.buffer = io.StringIO()
        self.console = Console(
            file=self.buffer,
            force_terminal=color,
            no_color=not color,
            width=10_000,
            highlight=False,
            soft_wrap=True,
        )

    def line(self, pieces: _Pieces) -> str:
        from rich.text import Text  # noqa: PLC0415

        text = Text()
        for piece, style in pieces:
            text.append(piece, style=style or None)
        self.buffer.seek(0)
        self.buffer.truncate()
        self.console.print(text)
        return self.buffer.getvalue()


def summary_line(report: Report) -> str:
    """The one-line summary printed on stderr."""
    errors = report.count(Severity.ERROR)
    warnings = report.count(Severity.WARNING)
    notes = report.count(Severity.NOTE)
    total = len(report.findings)
    noun = "file" if report.files_scanned == 1 else "files"
    head = f"{report.files_scanned} {noun} scanned, "
    if total == 0:
        head += "no findings"
    else:
        head += f"{total} finding{'s' if total != 1 else ''} "
        head += f"({errors} error, {warnings} warning, {notes} note)"
    if report.suppressed:
        head += f", {report.suppressed} suppressed"
    return head
