"""`repro golden init`: a suite table guessed from the project, and a script for its inputs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reprolock.config import load_config
from tests.harness.conftest import PROJECT, Repro


def _new_project(root: Path) -> Path:
    (root / "src" / "churnmodel").mkdir(parents=True)
    (root / "src" / "churnmodel" / "__init__.py").write_text("")
    (root / "src" / "churnmodel" / "model.py").write_text(
        "def predict(inputs):\n    return inputs['X'].sum(axis=1)\n"
    )
    (root / "tests").mkdir()
    (root / "tests" / "__init__.py").write_text("")
    shutil.copyfile(PROJECT / "locks" / "sklearn-1.3.2.txt", root / "requirements.txt")
    (root / "pyproject.toml").write_text('[project]\nname = "churn"\n')
    return root


def test_init_guesses_the_suite_and_the_result_passes_the_checks(
    repro: Repro, tmp_path: Path
) -> None:
    root = _new_project(tmp_path / "churn")
    run = repro("golden", "init", "churn", cwd=root)
    assert run.code == 0, run.err
    # No daemon in this test: the base image is a placeholder tag, said so.
    assert run.err.startswith("repro: warning: local images not listed: ")
    assert run.err.splitlines()[1:] == [
        "repro: guessed src layout: src/churnmodel",
        "repro: guessed lock requirements.txt: read as a lock",
        "repro: guessed base image python:3.11-slim: no local image with Python; pin one by digest",
        "repro: added suite churn to pyproject.toml",
        "repro: wrote golden/churn/make_inputs.py; next: python golden/churn/make_inputs.py, "
        "repro golden check",
    ]
    suite = load_config(root).suites["churn"]
    assert (suite.lock, suite.base_image, suite.entrypoint) == (
        "requirements.txt",
        "python:3.11-slim",
        "churnmodel.model:predict",
    )
    assert (suite.inputs, suite.source, suite.pythonpath) == (
        "golden/churn/inputs.npz",
        ("src",),
        ("src",),
    )
    subprocess.run(
        [sys.executable, root / "golden" / "churn" / "make_inputs.py"], cwd=tmp_path, check=True
    )
    check = repro("golden", "check", cwd=root)
    assert check.out == (
        "churn: ok\n"
        "  entrypoint churnmodel.model:predict: src/churnmodel/model.py\n"
        "  inputs golden/churn/inputs.npz: X (float64, 200x4)\n"
    )
    assert check.code == 3  # only the base image is left unchecked: no daemon here


def test_init_writes_to_repro_toml_when_there_is_one(repro: Repro, tmp_path: Path) -> None:
    root = _new_project(tmp_path / "churn")
    (root / "repro.toml").write_text('fail-on = "warning"\n')
    assert repro("golden", "init", "churn", cwd=root).code == 0
    text = (root / "repro.toml").read_text()
    assert text.startswith('fail-on = "warning"\n\n# Suite churn, written by `repro golden init`')
    assert "\n[suites.churn]\n" in text
    assert load_config(root).suites["churn"].entrypoint == "churnmodel.model:predict"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("churn", "repro: error: suite churn is already configured; pick another name\n"),
        (
            "../x",
            "repro: error: '../x': a suite name takes letters, digits, '.', '_' and '-' only\n",
        ),
    ],
)
def test_init_refuses_a_taken_or_bad_name(
    repro: Repro, tmp_path: Path, name: str, message: str
) -> None:
    root = _new_project(tmp_path / "churn")
    assert repro("golden", "init", "churn", cwd=root).code == 0
    before = (root / "pyproject.toml").read_text()
    run = repro("golden", "init", name, cwd=root)
    assert (run.code, run.err.splitlines()[-1] + "\n") == (2, message)
    assert (root / "pyproject.toml").read_text() == before


def test_init_writes_nothing_through_a_golden_directory_linked_out_of_the_project(
    repro: Repro, tmp_path: Path
) -> None:
    root = _new_project(tmp_path / "churn")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "golden").symlink_to(outside)
    before = (root / "pyproject.toml").read_text()
    run = repro("golden", "init", "churn", cwd=root)
    assert run.code == 2
    assert run.err.splitlines()[-1] == (
        "repro: error: repro golden init: golden/churn/make_inputs.py leads outside "
        f"{root.resolve()}"
    )
    assert (root / "pyproject.toml").read_text() == before
    assert list(outside.iterdir()) == []
