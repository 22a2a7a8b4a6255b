"""RP501-RP504 as a check: framework skew, CUDA variants and mismatches, Python drift."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reprolock.audit import frameworks
from reprolock.audit.checks.interface import Check
from reprolock.audit.interface import FileFacts, ScanContext
from reprolock.model import Finding


class FrameworkCheck(Check):
    """The ML cross-file rules over every environment of the repository."""

    name = "frameworks"
    rules = ("RP501", "RP502", "RP503", "RP504")

    def run(self, facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterable[Finding]:
        return frameworks.cross_check(facts, ctx)
