"""Human output: findings grouped by file, colour only on a terminal."""

from __future__ import annotations

import io
import itertools

from rich.console import Console
from rich.text import Text

from reprolock.model import Report, Severity
from reprolock.report.common import display

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}

# Paths and messages quote audited files; an escape sequence in one must not reach the
# terminal (it could recolour, retitle or clear it), and a newline must not break the layout.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c != 0x09}


def _printable(text: str) -> str:
    return display(text).translate(_CONTROLS)


def render_text(report: Report, *, color: bool = False) -> str:
    """Findings grouped by file: ``path`` then ``  line:col  RP101 error  message``."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        width=10_000,
        highlight=False,
        soft_wrap=True,
    )
    for path, group in itertools.groupby(report.findings, key=lambda f: f.location.path):
        console.print(Text(_printable(path), style="bold underline"))
        for f in group:
            line = Text("  ")
            line.append(f"{f.location.line}:{f.location.column}".ljust(8), style="dim")
            line.append(f"{f.rule} ", style="bold")
            line.append(f.severity.value.ljust(8), style=_STYLE[f.severity])
            line.append(_printable(f.message))
            if f.fix:
                line.append(f"  fix: {_printable(f.fix)}", style="green")
            console.print(line)
        console.print()
    return buffer.getvalue()


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
