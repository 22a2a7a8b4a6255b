"""The engine's own behaviour: what an audit leaves behind in the process that ran it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from reprolock.audit import scanning
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.config import Config
from tests.conftest import write_tree


def test_an_audit_collects_rarely_and_leaves_the_collector_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", {"requirements.txt": "numpy\n"})
    during: list[tuple[tuple[int, int, int], int]] = []
    original = scanning.scan_file

    def observed(*args: object, **kwargs: object) -> object:
        during.append((gc.get_threshold(), gc.get_freeze_count()))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scanning, "scan_file", observed)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        report = run_audit(root, Config(), AuditOptions(jobs=1)).report
        assert [f.rule for f in report.findings] == ["RP101"]
        [(threshold, frozen)] = during
        assert threshold == (100_000, 50, 100)
        assert frozen > 0  # what existed before the audit is out of the collector's sight
        assert gc.get_threshold() == (700, 10, 10)
        assert gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*before)
