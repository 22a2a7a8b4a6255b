"""The cross-file checks registry: every check names its rules, and reports only those."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from reprolock.audit.checks import Check, all_checks
from reprolock.audit.engine import run_audit
from reprolock.audit.interface import FileFacts, ScanContext
from reprolock.config import load_config
from reprolock.model import Finding, Location
from reprolock.rules import RULES, finding
from tests.conftest import write_tree


def test_every_check_declares_known_rules_and_no_rule_has_two_checks() -> None:
    seen: dict[str, str] = {}
    for check in all_checks():
        assert check.rules, check.name
        for rule in check.rules:
            assert rule in RULES, (check.name, rule)
            assert rule not in seen, f"{rule} in {seen.get(rule)} and {check.name}"
            seen[rule] = check.name
    assert {"RP501", "RP502", "RP503", "RP504"} <= set(seen)


class _Counting(Check):
    name = "counting"
    rules = ("RP201",)

    def __init__(self) -> None:
        self.seen: list[str] = []

    def run(self, facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterable[Finding]:
        self.seen = sorted(facts)
        return [finding("RP201", "from the check", Location(path=p)) for p in self.seen]


def test_a_check_sees_every_files_facts_and_its_findings_are_reported(tmp_path: Path) -> None:
    write_tree(tmp_path, {"requirements.txt": "numpy==1.26.4\n", "a/Dockerfile": "FROM scratch\n"})
    check = _Counting()
    report = run_audit(tmp_path, load_config(tmp_path), checks=[check]).report
    assert check.seen == ["a/Dockerfile", "requirements.txt"]
    assert [
        (f.rule, f.location.path) for f in report.findings if f.message == "from the check"
    ] == [
        ("RP201", "a/Dockerfile"),
        ("RP201", "requirements.txt"),
    ]


class _Stray(_Counting):
    name = "stray"
    rules = ("RP501",)


def test_a_check_reporting_a_rule_it_does_not_declare_is_a_bug(tmp_path: Path) -> None:
    write_tree(tmp_path, {"requirements.txt": "numpy==1.26.4\n"})
    with pytest.raises(AssertionError, match="check 'stray' reported RP201"):
        run_audit(tmp_path, load_config(tmp_path), checks=[_Stray()])
