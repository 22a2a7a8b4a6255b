"""Cross-file checks: rules about relations between files, judged from every file's facts.

A check does not parse files. It sees the :class:`~reprolock.audit.interface.FileFacts` the
scanners returned (in worker processes, or from the cache) and the
:class:`~reprolock.audit.interface.ScanContext`, so what a scanner learned once is all any
check needs; the one exception is the environment checks reading back the command line
around a pin, to see which index options apply to it (facts list a file's index URLs, not
where each applies). Each check is a small object naming the rule ids it may report, registered
in the tuple of :func:`all_checks` (the way deptry registers its violation finders):
adding a cross-file rule is a module here, a class, and a line in that tuple.
"""

from __future__ import annotations

from reprolock.audit.checks.coverage import LockCoverageCheck
from reprolock.audit.checks.frameworks import FrameworkCheck
from reprolock.audit.checks.interface import Check
from reprolock.audit.checks.sync import LockSyncCheck

__all__ = ["Check", "all_checks"]


def all_checks() -> tuple[Check, ...]:
    """Fresh instances of every cross-file check, in the order they run."""
    return (LockCoverageCheck(), LockSyncCheck(), FrameworkCheck())
