"""Shell text audit: installers and remote scripts in scripts, Makefiles, RUN lines and CI steps.

:mod:`.syntax` reads shell text into a tree, :mod:`.analyzer` walks it keeping variables,
and the handlers of :mod:`.installers` and :mod:`.fetch` judge each command;
:mod:`.scanner` and :mod:`.make` are the file scanners.
"""

from __future__ import annotations

from reprolock.audit.interface import Scanner
from reprolock.audit.shell.analyzer import Clone, Download, ShellAudit
from reprolock.audit.shell.fetch import immutable_url
from reprolock.audit.shell.make import MakefileScanner, make_recipes
from reprolock.audit.shell.scanner import (
    ShellCollector,
    ShellScriptScanner,
    audit_shell,
    repo_file,
    shell_shebang,
)

__all__ = [
    "Clone",
    "Download",
    "MakefileScanner",
    "ShellAudit",
    "ShellCollector",
    "ShellScriptScanner",
    "audit_shell",
    "immutable_url",
    "make_recipes",
    "repo_file",
    "shell_scanners",
    "shell_shebang",
]


def shell_scanners() -> list[Scanner]:
    """The shell-script and Makefile scanners."""
    return [ShellScriptScanner(), MakefileScanner()]
