"""Frozen value types shared by every scanner and every output format."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, replace


class Severity(enum.Enum):
    """How bad a finding is; ordered so that ``ERROR`` is the highest."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        """A number that grows with severity: note 1, warning 2, error 3."""
        return _RANK[self]


_RANK = {Severity.NOTE: 1, Severity.WARNING: 2, Severity.ERROR: 3}


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Location:
    """A place in a file of the audited tree."""

    path: str
    """POSIX path relative to the audited root."""
    line: int = 1
    """1-based line number; 1 for findings about a whole file."""
    column: int = 1
    """1-based column."""


def normalise_subject(subject: str) -> str:
    """The subject as used in fingerprints: case-folded, ``_``/``.`` runs folded to ``-``."""
    out = []
    prev_dash = False
    for ch in subject.strip().lower():
        if ch in "-_.":
            if not prev_dash:
                out.append("-")
            prev_dash = True
        else:
            out.append(ch)
            prev_dash = False
    return "".join(out)


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One problem found by the audit."""

    rule: str
    """Rule id, e.g. ``RP101``."""
    severity: Severity
    """Severity after config overrides."""
    message: str
    """One sentence, no trailing period needed."""
    location: Location
    """Where the problem is."""
    subject: str = ""
    """The package, image, action, model or dataset concerned."""
    fix: str | None = None
    """A concrete replacement where one is known, e.g. ``numpy==1.26.4``."""
    fingerprint: str = field(default="")
    """Stable across line moves: a hash of rule, path and normalised subject."""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", compute_fingerprint(self))

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Deterministic order: path, line, column, rule, subject."""
        loc = self.location
        return (loc.path, loc.line, loc.column, self.rule, self.subject)

    def with_severity(self, severity: Severity) -> Finding:
        """A copy with another severity (the fingerprint does not depend on it)."""
        return replace(self, severity=severity)

    def with_fix(self, fix: str | None) -> Finding:
        """A copy with another fix suggestion."""
        return replace(self, fix=fix)


def compute_fingerprint(finding: Finding) -> str:
    """The baseline and SARIF fingerprint of a finding.

    The subject is normalised and the line is left out, so moving a line or changing the
    case of a package name does not make an accepted finding new again. Findings with no
    subject fall back to the message, which names what they are about.
    """
    subject = normalise_subject(finding.subject) if finding.subject else finding.message
    raw = "\0".join((finding.rule, finding.location.path, subject))
    # surrogatepass: a path with a byte that is not UTF-8 (held as a lone surrogate) still
    # has a fingerprint, the same on every run.
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """The result of one audit, as handed to every output format."""

    root: str
    """The audited root as given on the command line."""
    files_scanned: int
    """Number of files a scanner looked at."""
    findings: tuple[Finding, ...]
    """Reported findings, sorted by :attr:`Finding.sort_key`."""
    suppressed: int = 0
    """Findings hidden by inline ignores or the baseline."""
    version: str = ""
    """reprolock version that produced the report."""
    path_prefix: str = ""
    """POSIX path of the audited root relative to the directory reprolock ran in (``""`` or
    ending in ``/``). Formats read by a code host (SARIF, GitHub annotations) put it before
    each path, because the host resolves paths against the repository checkout."""

    def host_path(self, path: str) -> str:
        """``path`` as a code host resolves it: relative to the working directory."""
        return f"{self.path_prefix}{path}"

    def count(self, severity: Severity) -> int:
        """How many reported findings have this severity."""
        return sum(1 for f in self.findings if f.severity is severity)
