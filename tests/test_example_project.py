"""The bundled example project, run through the real command, trips every rule of the audit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reprolock.cli import main
from reprolock.rules import RULES
from tests.conftest import FIXTURES

EXAMPLE = FIXTURES / "example-ml-project"


def test_example_trips_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {f["rule"] for f in report["findings"]} == set(RULES)


SNAPSHOT = Path(__file__).resolve().parent / "data" / "example-ml-project.txt"


def test_example_output_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    """The whole text report of the example monorepo: framework skew, a CUDA mismatch and an
    unpinned model revision among everything else. Regenerate with REPRO_UPDATE_SNAPSHOTS=1."""
    assert main(["check", str(EXAMPLE), "--color", "never"]) == 1
    out = capsys.readouterr().out
    if os.environ.get("REPRO_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(out, encoding="utf-8")
    assert out == SNAPSHOT.read_text(encoding="utf-8")
    for rule in ("RP501", "RP503", "RP601"):
        assert f" {rule} " in out
