"""The scanners, in the order they are offered each file (the first that claims it wins)."""

from __future__ import annotations

from reprolock.audit.conda import CondaScanner
from reprolock.audit.interface import Scanner
from reprolock.audit.locks import lock_scanners
from reprolock.audit.pipfile import pipfile_scanners
from reprolock.audit.pyproject import PyprojectScanner
from reprolock.audit.requirements import RequirementsScanner


def all_scanners() -> list[Scanner]:
    """Fresh instances of every scanner."""
    return [
        PyprojectScanner(),
        *lock_scanners(),
        *pipfile_scanners(),
        CondaScanner(),
        RequirementsScanner(),
    ]


def scanner_named(name: str) -> Scanner:
    """The scanner with this :attr:`Scanner.name`."""
    for scanner in all_scanners():
        if scanner.name == name:
            return scanner
    raise KeyError(name)
