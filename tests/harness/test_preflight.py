"""Mistakes in a suite's config caught on the host, before anything is built: exit 2."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from reprolock.config import load_config
from reprolock.harness import image as images
from reprolock.harness.docker import clip_words
from reprolock.harness.image import BaseImage
from reprolock.harness.replay import (
    Session,
    sandbox_hint,
    source_tree_sha256,
    traceback_excerpt,
)
from tests.harness.conftest import BASE_IMAGE, PROJECT, Containers, Repro

MODEL = '''\
"""A churn model."""

import numpy as np


def predict(inputs):
    return {"proba": inputs["X"][:, :2], "labels": np.zeros(len(inputs["X"]), dtype=int)}


def _helper():
    pass
'''

SUITE = {
    "lock": '"locks/prod.txt"',
    "base-image": f'"{BASE_IMAGE}"',
    "entrypoint": '"churnmodel.model:predict"',
    "inputs": '"data/inputs.npz"',
    "source": '["src"]',
    "pythonpath": '["src"]',
}


def _project(root: Path, extra: str = "", **settings: str) -> Path:
    """A new user's project: a src layout, a pip-compile lock, inputs; a config from
    ``settings`` (TOML values) over :data:`SUITE`."""
    (root / "src" / "churnmodel").mkdir(parents=True)
    (root / "src" / "churnmodel" / "__init__.py").write_text("")
    (root / "src" / "churnmodel" / "model.py").write_text(MODEL)
    (root / "models").mkdir()
    (root / "data").mkdir()
    np.savez(root / "data" / "inputs.npz", X=np.ones((5, 3)), ids=np.arange(5))
    (root / "data" / "inputs.csv").write_text("a,b\n1,2\n")
    (root / "locks").mkdir()
    shutil.copyfile(PROJECT / "locks" / "sklearn-1.3.2.txt", root / "locks" / "prod.txt")
    table = {**SUITE, **settings}
    lines = [f"{key} = {value}" for key, value in table.items() if value]
    (root / "pyproject.toml").write_text(
        "[tool.repro.suites.churn]\n" + "\n".join(lines) + "\n" + textwrap.dedent(extra)
    )
    return root


_S = "suite churn: entrypoint"
_T = "[tool.repro.suites.churn]"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"pythonpath": ""},
            f"{_S} churnmodel.model:predict: churnmodel is at src/churnmodel but src is not on "
            f'pythonpath; add pythonpath = ["src"] to {_T}',
        ),
        (
            {"source": '["models"]'},
            f"{_S} churnmodel.model:predict: churnmodel.model is at src/churnmodel/model.py but "
            f"src/churnmodel is not in source (mounted: models); add it to source in {_T}",
        ),
        (
            {"entrypoint": '"churnmodel.modle:predict"'},
            f"{_S} churnmodel.modle:predict: no module churnmodel.modle in the suite's source "
            "(looked in /work/src, /work for churnmodel/modle.py or churnmodel/modle/__init__.py); "
            f"did you mean churnmodel.model? check its spelling, source and pythonpath in {_T}",
        ),
        (
            {"entrypoint": '"churn.model:predict"'},
            f"{_S} churn.model:predict: no module churn.model in the suite's source (looked in "
            "/work/src, /work for churn/model.py or churn/model/__init__.py); check its "
            f"spelling, source and pythonpath in {_T}",
        ),
        (
            {"entrypoint": '"churnmodel.model:predit"'},
            f"{_S} churnmodel.model:predit: src/churnmodel/model.py has no predit (functions "
            "there: _helper, predict)",
        ),
        (
            {"inputs": '"data/inputs.csv"'},
            "suite churn: inputs data/inputs.csv is not a zip archive; the inputs must be an .npz "
            "of named arrays, as numpy.savez(path, X=...) writes",
        ),
        ({"inputs": '"data/none.npz"'}, "suite churn: inputs data/none.npz: no such file"),
    ],
)
def test_a_mistake_in_the_suite_exits_2_before_anything_runs(
    repro: Repro, tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    root = _project(tmp_path / "p", **settings)
    # No daemon is reachable here (the test is not a docker test): none is needed to say it.
    for argv in (["replay"], ["golden", "record"], ["bisect", "--suite", "churn", "--lock", "x"]):
        if argv[0] == "bisect":
            (root / "x").write_text("")
        run = repro(*argv, cwd=root)
        assert (run.code, run.err) == (2, f"repro: error: {message}\n"), argv
    check = repro("golden", "check", cwd=root)
    assert check.code == 2
    assert f"\n  error: {message}\n" in check.out
    assert check.out.startswith("churn: 1 problem\n")
    assert check.err.splitlines() == [
        "repro: config: pyproject.toml",
        "repro: error: 1 problem in the config",
    ]


def test_an_outputs_table_must_name_a_recorded_output(repro: Repro, tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "[tool.repro.suites.churn.outputs.probs]\natol = 1e-6\n")
    (root / "golden" / "churn").mkdir(parents=True)
    meta: dict[str, dict[str, object]] = {"outputs": {"proba": {}, "labels": {}, "calib": {}}}
    (root / "golden" / "churn" / "golden.json").write_text(json.dumps(meta))
    run = repro("replay", cwd=root)
    assert (run.code, run.err) == (
        2,
        "repro: error: suite churn: [tool.repro.suites.churn.outputs.probs]: no such output "
        "(recorded: calib, labels, proba)\n",
    )


def test_a_module_of_an_installed_distribution_is_not_looked_for_in_source(
    repro: Repro, tmp_path: Path
) -> None:
    root = _project(tmp_path / "p", entrypoint='"joblib.parallel:cpu_count"')
    run = repro("golden", "check", cwd=root)
    # Everything on the host is right; the base image needs the daemon this test lacks.
    assert run.code == 3
    assert run.out == (
        "churn: ok\n"
        "  entrypoint joblib.parallel:cpu_count: joblib is installed by the lock\n"
        "  inputs data/inputs.npz: X (float64, 5x3), ids (int64, 5)\n"
    )
    assert run.err.splitlines()[-1].startswith("repro: error: base images not checked: ")


def test_the_config_is_found_upward_and_named(repro: Repro, tmp_path: Path) -> None:
    root = _project(tmp_path / "repo")
    (root / ".git").mkdir()
    deep = root / "src" / "churnmodel"
    run = repro("replay", "--suite", "churn", cwd=deep)
    assert run.err.splitlines()[0] == "repro: config: ../../pyproject.toml"
    assert run.code == 3  # past the checks: no daemon in this test
    # The search stops at the repository's top: a config above it is another project's.
    (tmp_path / "repro.toml").write_text("[suites.other]\n")
    inner = tmp_path / "repo" / "tools"
    inner.mkdir()
    (root / "pyproject.toml").rename(root / "elsewhere.toml")
    run = repro("replay", cwd=inner)
    assert (run.code, run.err) == (
        2,
        "repro: error: no suites configured: add a [tool.repro.suites.NAME] table "
        "(see README: Compatibility harness)\n",
    )


def test_a_base_image_typo_suggests_the_local_tags(
    repro: Repro, tmp_path: Path, containers: Containers
) -> None:
    typo = BASE_IMAGE[:-2] + BASE_IMAGE[-1]
    root = _project(tmp_path / "p", **{"base-image": f'"{typo}"'})
    run = repro("golden", "check", cwd=root)
    assert run.code == 2
    (line,) = [line for line in run.out.splitlines() if line.startswith("  error: ")]
    prefix = f"  error: suite churn: base image {typo} is not on this Docker daemon; local images "
    assert line.startswith(prefix + "with a similar name: ")
    assert BASE_IMAGE in line.removeprefix(prefix).split(": ", 1)[1].split(", ")
    assert containers.created == {}


def test_an_error_is_never_cut_mid_word() -> None:
    text = "pull access denied for reprolock-test/python, repository does not exist " * 5
    clipped = clip_words(text, 100)
    assert clipped == (
        "pull access denied for reprolock-test/python, repository does not exist pull access "
        "denied for…"
    )
    assert clip_words("short", 100) == "short"


def test_os_litter_is_not_part_of_the_source_tree(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    suite = load_config(root).suites["churn"]
    before = source_tree_sha256(suite)
    for litter in (".DS_Store", "churnmodel/.DS_Store", "churnmodel/._model.py", "Thumbs.db"):
        (root / "src" / litter).write_bytes(b"\0\1")
    assert source_tree_sha256(suite) == before
    (root / "src" / "churnmodel" / "extra.py").write_text("")
    assert source_tree_sha256(suite) != before


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (
            "OSError: [Errno 30] Read-only file system: 'model.cache'",
            "(the run's file system is read-only but for /tmp and /out: write scratch files "
            "to /tmp)",
        ),
        (
            "urllib.error.URLError: <urlopen error [Errno -3] Temporary failure in name "
            "resolution>",
            "(the run has no network: ship models and data in the suite's source or inputs)",
        ),
        ("ValueError: bad shape", None),
    ],
)
def test_errors_from_the_sandbox_say_so(error: str, hint: str | None) -> None:
    assert sandbox_hint(error) == hint


def test_record_help_lists_records_own_exit_codes(repro: Repro, tmp_path: Path) -> None:
    run = repro("golden", "record", "--help", cwd=tmp_path)
    assert run.code == 0
    assert (
        "  1  not recorded: the environment does not install, the entrypoint fails, or two runs\n"
        "     differ beyond the tolerance\n" in run.out
    )
    assert "identical, or within tolerance" not in run.out


@pytest.mark.parametrize(
    ("reference", "digest", "warning"),
    [
        (
            "local/python:3.11",
            None,
            "warning: suite churn: base image local/python:3.11 is a tag; its image id "
            'sha256:000000000000 is recorded (base-image = "sha256:' + "0" * 64 + '" pins it)',
        ),
        (
            "python:3.11-slim",
            "python@sha256:" + "1" * 64,
            "warning: suite churn: base image python:3.11-slim is a tag; its image id "
            'sha256:000000000000 is recorded ("python@sha256:' + "1" * 64 + '" pins it)',
        ),
        ("sha256:" + "0" * 64, None, None),  # an image id is as immutable as a digest
    ],
)
def test_a_tag_is_warned_about_once_with_advice_that_fits_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    reference: str,
    digest: str | None,
    warning: str | None,
) -> None:
    root = _project(tmp_path / "p", **{"base-image": f'"{reference}"'})
    suite = load_config(root).suites["churn"]

    def resolve(client: object, name: str, **_: object) -> BaseImage:
        return BaseImage(reference=name, id="sha256:" + "0" * 64, digest=digest, target=None)  # type: ignore[arg-type]

    monkeypatch.setattr(images, "resolve_base_image", resolve)
    said: list[str] = []
    session = Session(client=None, warn=said.append)  # type: ignore[arg-type]
    session.base_image(suite)
    session.base_image(suite)
    assert said == ([] if warning is None else [warning])


def test_a_cut_traceback_keeps_the_projects_own_frames() -> None:
    library = [
        f'  File "/opt/venv/lib/python3.11/site-packages/sklearn/m{n}.py", line {n}, in f{n}\n'
        f"    call_{n}()"
        for n in range(10)
    ]
    trace = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "/work/src/churnmodel/model.py", line 7, in predict',
            "    return forest.predict_proba(inputs['X'])",
            *library,
            "ValueError: X has 3 features, but RandomForestClassifier is expecting 4",
        ]
    )
    assert traceback_excerpt(trace, 5).splitlines() == [
        "Traceback (most recent call last):",
        '  File "/work/src/churnmodel/model.py", line 7, in predict',
        "    return forest.predict_proba(inputs['X'])",
        "...",
        *trace.splitlines()[-5:],
    ]
    assert traceback_excerpt("short\ntrace", 5) == "short\ntrace"
