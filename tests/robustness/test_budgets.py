"""Adversarial inputs of a few hundred bytes to a few MB, each audited by the real command in a
child process under a time and memory budget (``RLIMIT_AS``, a wall-clock timeout): a
regression fails its test instead of taking the machine down.

The budgets are twice what an idle machine needs at most (under 5 s, under 300 MB), since the
suite shares its cores; before the fixes each of these took minutes or gigabytes (measured
figures in the docstrings of :mod:`tests.robustness.inputs` and in docs/robustness.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.robustness import inputs
from tests.robustness.budget import Outcome, run_repro

SECONDS = 10.0
MEMORY_MB = 300


@dataclass(frozen=True, kw_only=True)
class Case:
    build: Callable[[], dict[str, str]]
    exit_code: int
    """1 when literal findings remain, 0 when only notes do."""
    notes: tuple[tuple[str, str, int], ...]
    """Every RP001/RP002 finding: (rule, path, line)."""
    seconds: float = SECONDS


CASES = {
    "dockerfile ARG doubling x40": Case(
        build=inputs.dockerfile_arg_doubling, exit_code=0, notes=(("RP002", "Dockerfile", 20),)
    ),
    "dockerfile ARG doubling into RUN": Case(
        build=inputs.dockerfile_arg_to_run, exit_code=1, notes=(("RP002", "Dockerfile", 17),)
    ),
    "dockerfile ENV doubling": Case(
        build=inputs.dockerfile_env_doubling, exit_code=0, notes=(("RP002", "Dockerfile", 20),)
    ),
    "dockerfile 40,000 ARGs in one stage": Case(
        build=lambda: inputs.dockerfile_many_args(40_000), exit_code=0, notes=()
    ),
    'shell A="$A $A" x40': Case(
        build=inputs.shell_doubling, exit_code=0, notes=(("RP002", "install.sh", 15),)
    ),
    "shell nested loops 32**12": Case(
        build=inputs.shell_nested_loops, exit_code=1, notes=(("RP002", "install.sh", 13),)
    ),
    "shell 9,000-word value installed 40 times": Case(
        build=inputs.shell_wide_values, exit_code=0, notes=(("RP002", "install.sh", 3),)
    ),
    "make doubling x40": Case(build=inputs.makefile_doubling, exit_code=0, notes=()),
    "make ten references a level, eight levels": Case(
        build=inputs.makefile_wide, exit_code=0, notes=(("RP002", "Makefile", 12),)
    ),
    "workflow 1,000 aliases of a 300-line step": Case(
        build=inputs.workflow_step_aliases, exit_code=1, notes=()
    ),
    "workflow 300 aliases of a job": Case(build=inputs.workflow_job_aliases, exit_code=1, notes=()),
    "workflow matrix 64**6": Case(build=inputs.workflow_matrix, exit_code=1, notes=()),
    "workflow matrix values naming matrix values, 100**5": Case(
        build=inputs.workflow_matrix_references,
        exit_code=1,
        notes=(("RP002", ".github/workflows/ci.yml", 9),),
    ),
    "environment.yml 2,000 aliases of a 500-entry pip list": Case(
        build=inputs.environment_pip_aliases, exit_code=1, notes=()
    ),
    "environment.yml billion laughs": Case(
        build=inputs.environment_laughs, exit_code=1, notes=(("RP001", "environment.yml", 11),)
    ),
    "config billion laughs of mappings": Case(build=inputs.config_laughs, exit_code=0, notes=()),
    "python 5 MB literal": Case(build=inputs.python_big_literal, exit_code=0, notes=()),
    "python 30 MB literal": Case(
        build=lambda: inputs.python_big_literal(30), exit_code=0, notes=()
    ),
    "python nested 6,100 deep": Case(
        build=inputs.python_deep_nesting, exit_code=0, notes=(("RP002", "train.py", 2),)
    ),
    "notebook 5 MB literal": Case(build=inputs.notebook_big_literal, exit_code=0, notes=()),
    "notebook over the file size limit": Case(
        build=lambda: inputs.notebook_big_literal(33),
        exit_code=0,
        notes=(("RP002", "explore.ipynb", 1),),
    ),
    "requirements 75,000 unpinned lines": Case(
        build=inputs.requirements_unpinned, exit_code=1, notes=(), seconds=20.0
    ),
    "version of 5,000 digits": Case(
        build=inputs.huge_version,
        exit_code=1,
        notes=(("RP001", "requirements.txt", 1), ("RP001", "uv.lock", 4)),
    ),
}


def check(root: Path, *, seconds: float = SECONDS) -> tuple[Outcome, list[dict[str, object]]]:
    """``repro check --format json`` of ``root`` within the budget; its findings."""
    outcome = run_repro(
        ["check", "--no-cache", "--format", "json", "."],
        cwd=root,
        seconds=seconds,
        memory_mb=MEMORY_MB,
    )
    assert not outcome.timed_out, f"over {seconds} s"
    assert "Traceback" not in outcome.stderr
    assert outcome.peak_mb < MEMORY_MB, f"{outcome.peak_mb:.0f} MB"
    findings: list[dict[str, object]] = json.loads(outcome.stdout)["findings"]
    return outcome, findings


@pytest.mark.parametrize("name", list(CASES))
def test_adversarial_input_stays_within_budget(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    inputs.write(tmp_path, case.build())
    outcome, findings = check(tmp_path, seconds=case.seconds)
    assert outcome.exit_code == case.exit_code, outcome.stderr
    notes = [(f["rule"], f["path"], f["line"]) for f in findings if f["rule"] in {"RP001", "RP002"}]
    assert notes == list(case.notes)
