"""The ``.python-version`` scanner: the Python a project says it runs (read by RP504).

The ML cross-file rules themselves (RP501-RP504) are :mod:`reprolock.audit.checks`.
"""

from __future__ import annotations

from reprolock.audit.interface import (
    FileFacts,
    PythonVersion,
    Role,
    ScanContext,
    Scanner,
    SourceFile,
)

PYTHON_VERSION_FILE = ".python-version"


class PythonVersionScanner(Scanner):
    """``.python-version`` (pyenv, uv): one version per line or word; ``#`` lines are comments."""

    name = "python-version"
    extensions = frozenset({"python-version"})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename == PYTHON_VERSION_FILE

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        pythons: list[PythonVersion] = []
        for number, raw in enumerate(source.text.splitlines(), start=1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            for word in text.split():
                pythons.append(PythonVersion(value=word, line=number, origin=PYTHON_VERSION_FILE))
        return FileFacts(path=source.path, kind=self.name, role=Role.OTHER, pythons=tuple(pythons))


def framework_scanners() -> list[Scanner]:
    """The ``.python-version`` scanner (the cross-file rules are
    :class:`reprolock.audit.checks.frameworks.FrameworkCheck`)."""
    return [PythonVersionScanner()]
