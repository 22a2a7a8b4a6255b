"""The bundled example project, run through the real command, trips every rule of the audit."""

from __future__ import annotations

import json

import pytest

from reprolock.cli import main
from reprolock.rules import RULES
from tests.conftest import FIXTURES

EXAMPLE = FIXTURES / "example-ml-project"


def test_example_trips_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {f["rule"] for f in report["findings"]} == set(RULES)
