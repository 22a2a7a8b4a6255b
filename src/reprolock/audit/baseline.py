"""The baseline: the accepted-debt register of findings that are known and owned.

Each entry keeps the finding's fingerprint (stable across line moves), what it was about,
and who accepted it, why, and until when. An entry whose ``expires`` date has passed no
longer hides its finding.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprolock.errors import UsageError
from reprolock.files import atomic_write_text, read_text
from reprolock.model import Finding

SCHEMA = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class BaselineEntry:
    """One accepted finding."""

    fingerprint: str
    """:attr:`Finding.fingerprint` of the accepted finding."""
    rule: str
    """Rule id, for humans reading the file."""
    path: str
    """Root-relative path, for humans."""
    subject: str = ""
    """Subject, for humans."""
    reason: str = ""
    """Why the debt is accepted."""
    owner: str = ""
    """Who answers for it."""
    expires: dt.date | None = None
    """After this date the finding is reported again."""

    def active(self, today: dt.date) -> bool:
        """True while the entry still hides its finding."""
        return self.expires is None or today <= self.expires

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "path": self.path,
            "subject": self.subject,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat() if self.expires else None,
        }


def load_baseline(path: Path, display: str) -> dict[str, BaselineEntry]:
    """Entries by fingerprint. A missing file is an empty baseline; a malformed one exits 2."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{display}: cannot read baseline: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{display}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise UsageError(f'{display}: expected an object with an "entries" list')
    entries: dict[str, BaselineEntry] = {}
    for index, item in enumerate(data["entries"]):
        where = f"{display}: entries[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), str):
            raise UsageError(f"{where}: expected an object with a string fingerprint")
        expires_raw = item.get("expires")
        expires = None
        if expires_raw is not None:
            try:
                expires = dt.date.fromisoformat(str(expires_raw))
            except ValueError:
                raise UsageError(
                    f"{where}.expires: expected a date YYYY-MM-DD, got {expires_raw!r}"
                ) from None
        entry = BaselineEntry(
            fingerprint=item["fingerprint"],
            rule=str(item.get("rule", "")),
            path=str(item.get("path", "")),
            subject=str(item.get("subject", "")),
            reason=str(item.get("reason", "")),
            owner=str(item.get("owner", "")),
            expires=expires,
        )
        entries[entry.fingerprint] = entry
    return entries


def write_baseline(
    path: Path, findings: Iterable[Finding], previous: dict[str, BaselineEntry]
) -> int:
    """Write every finding as an entry, keeping reason/owner/expires of known ones.

    Returns the number of entries. The file is replaced atomically.
    """
    entries: dict[str, BaselineEntry] = {}
    for f in findings:
        old = previous.get(f.fingerprint)
        entries[f.fingerprint] = BaselineEntry(
            fingerprint=f.fingerprint,
            rule=f.rule,
            path=f.location.path,
            subject=f.subject,
            reason=old.reason if old else "",
            owner=old.owner if old else "",
            expires=old.expires if old else None,
        )
    ordered = sorted(entries.values(), key=lambda e: (e.path, e.rule, e.subject, e.fingerprint))
    payload = {"schema": SCHEMA, "entries": [e.to_dict() for e in ordered]}
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
    return len(ordered)
