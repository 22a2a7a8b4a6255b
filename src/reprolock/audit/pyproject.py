"""Placeholder: replaced by the real pyproject scanner."""

from __future__ import annotations

from reprolock.audit.interface import FileFacts, Role, ScanContext, Scanner, SourceFile


class PyprojectScanner(Scanner):
    """Placeholder."""

    name = "pyproject"

    def claims(self, relpath: str, filename: str) -> bool:
        return False

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        return FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
