"""The interface of a cross-file check (see :mod:`reprolock.audit.checks`)."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import ClassVar

from reprolock.audit.interface import FileFacts, ScanContext
from reprolock.model import Finding


class Check(abc.ABC):
    """One family of cross-file rules."""

    name: ClassVar[str]
    """Short name, for messages and tests."""
    rules: ClassVar[tuple[str, ...]]
    """The rule ids this check may report; it reports no other."""

    @abc.abstractmethod
    def run(self, facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterable[Finding]:
        """Findings about relations between the files described by ``facts`` (path -> facts)."""
