"""reprolock's own repository: it passes its own audit, and its CI and lock are pinned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reprolock.cli import main

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
DEV_LOCK = REPO_ROOT / "requirements" / "dev.txt"

_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<value>.*)$")
_PINNED = re.compile(
    r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@(?P<sha>[0-9a-f]{40})"
    r"\s+#\s*(?P<version>v\d+\.\d+\.\d+)\s*$"
)
_REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)==(?P<version>\S+)")


def _uses_lines() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")]):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = _USES.match(line)
            if match:
                found.append((path.name, number, match.group("value").strip()))
    return found


def test_repository_passes_its_own_audit(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(REPO_ROOT), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    findings = [f"{f['path']}:{f['line']}: {f['rule']} {f['message']}" for f in report["findings"]]
    assert findings == []
    assert code == 0
    # An audit that recognised nothing would pass vacuously: at least the manifest and the lock.
    assert report["summary"]["files_scanned"] >= 2


def test_every_workflow_action_is_pinned_to_a_commit_with_its_release() -> None:
    uses = _uses_lines()
    assert uses, "no `uses:` found under .github/workflows"
    unpinned = [
        f"{name}:{line}: {value}"
        for name, line, value in uses
        # A local action is versioned with the repository itself.
        if not value.startswith("./") and not _PINNED.match(value)
    ]
    assert unpinned == []


def test_dev_lock_is_fully_hashed_and_names_no_index() -> None:
    text = DEV_LOCK.read_text(encoding="utf-8")
    assert "by the following command:" in text
    assert re.search(r"^#\s+pip-compile .*--generate-hashes.* pyproject\.toml$", text, re.M)
    # Joining continuation lines gives one logical line per requirement, as pip reads it.
    logical = [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]
    options = [line for line in logical if line.startswith("-")]
    assert options == [], "machine-local index or find-links options leaked into the lock"
    entries = [line for line in logical if not line.startswith("#")]
    names = set()
    for entry in entries:
        match = _REQUIREMENT.match(entry)
        assert match, f"not an exact pin: {entry}"
        assert "--hash=sha256:" in entry, f"no hash: {match.group('name')}"
        names.add(match.group("name").lower())
    # The build backend is locked so the project installs with --no-build-isolation.
    assert {"hatchling", "editables", "pytest", "mypy", "ruff"} <= names
