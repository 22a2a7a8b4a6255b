"""Run-to-run noise: an output that moves between two runs fails to record unless accepted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reprolock.harness.replay import RecordError, repeatability
from tests.harness.conftest import LOCKS, PROJECT, Containers, Repro, pyproject_with, suite_of

NOISY_MODULE = '''\
"""k-means distances with an unseeded jitter of 2**-10: exact in float64, so every difference
between two runs is 0 or exactly 2**-10."""

import numpy as np
from sklearn.cluster import KMeans

STEP = 2.0**-10


def predict(inputs):
    distances = KMeans(n_clusters=6, random_state=0).fit(inputs["X"]).transform(inputs["X"])
    grid = np.round(distances / STEP) * STEP
    jitter = np.random.default_rng().integers(0, 2, size=grid.shape) * STEP
    return {"scores": grid + jitter, "steady": grid}
'''

NOISY_SUITE = """
[tool.repro.suites.noisy]
lock = "locks/sklearn-1.3.2.txt"
base-image = "{base}"
entrypoint = "noisy:predict"
inputs = "data/inputs.npz"
source = ["noisy"]
pythonpath = ["noisy"]
rtol = 1e-9
timeout = 300
memory = "1g"
"""


def _noisy_project(project: Path) -> Path:
    (project / "noisy").mkdir()
    (project / "noisy" / "noisy.py").write_text(NOISY_MODULE, encoding="utf-8")
    base = suite_of(project, "segments").base_image
    pyproject_with(project, NOISY_SUITE.replace("{base}", base))
    return project


def test_an_unseeded_output_fails_to_record_and_accepted_noise_still_catches_a_move(
    repro: Repro, project: Path, containers: Containers
) -> None:
    root = _noisy_project(project)
    golden = root / "golden" / "noisy"

    refused = repro("golden", "record", "--suite", "noisy", cwd=root)
    assert refused.code == 1
    assert refused.err.splitlines()[-1] == (
        "repro: error: suite noisy: nothing recorded: output scores differs between the two "
        'runs (max abs 0.000977): set a seed, or allow noise for it with `noise = "accept"` in '
        "[tool.repro.suites.noisy.outputs.scores]"
    )
    assert not golden.exists()

    pyproject_with(root, '\n[tool.repro.suites.noisy.outputs.scores]\nnoise = "accept"\n')
    recorded = repro("golden", "record", "--suite", "noisy", cwd=root)
    assert recorded.code == 0, recorded.err
    assert recorded.err.splitlines()[-1] == (
        "repro: recorded noisy: golden/noisy/golden.npz and golden.json "
        "(accepted run-to-run noise, max abs: scores 0.000977)"
    )

    again = repro("replay", "--suite", "noisy", "--format", "json", cwd=root)
    assert again.code == 0, again.out
    outputs = again.json()["outputs"]
    assert (outputs["scores"]["verdict"], outputs["steady"]["verdict"]) == (
        "within-tolerance",
        "identical",
    )
    assert outputs["scores"]["max_abs"] == 2.0**-10

    # scikit-learn 1.4 moves the k-means centres: far beyond the accepted 2**-10.
    candidate = str(LOCKS / "sklearn-1.4.2.txt")
    moved = repro("replay", "--suite", "noisy", "--lock", candidate, "--format", "json", cwd=root)
    assert moved.code == 1
    scores = moved.json()["outputs"]["scores"]
    assert scores["verdict"] == "changed"
    assert scores["max_abs"] > 100 * 2.0**-10
    assert containers.runs() == 6


def test_a_suite_whose_outputs_repeat_records_as_before() -> None:
    suite = suite_of(PROJECT, "segments")
    labels = np.arange(10)
    repeat = repeatability(suite, {"labels": labels}, {"labels": labels.copy()}, {})
    assert repeat.verdict.value == "identical"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            "",
            "suite segments: nothing recorded: output labels differs between the two runs (3 of "
            "200 elements): set a seed, or allow it with `max-label-flip-rate = 0.02` in "
            "[tool.repro.suites.segments.outputs.labels]; output scores differs between the two "
            'runs (max abs 0.5): set a seed, or allow noise for it with `noise = "accept"` in '
            "[tool.repro.suites.segments.outputs.scores]",
        ),
        # accepting noise widens float outputs only; labels need their own flip rate
        (
            '[tool.repro.suites.segments.outputs.labels]\nnoise = "accept"\n'
            '[tool.repro.suites.segments.outputs.scores]\nnoise = "accept"\n',
            "suite segments: nothing recorded: output labels differs between the two runs (3 of "
            "200 elements): set a seed, or allow it with `max-label-flip-rate = 0.02` in "
            "[tool.repro.suites.segments.outputs.labels]",
        ),
    ],
)
def test_every_output_that_moves_between_runs_is_named(
    tmp_path: Path, config: str, message: str
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        "[tool.repro.suites.segments]\n"
        'lock = "l.txt"\nbase-image = "b"\nentrypoint = "m:f"\ninputs = "i.npz"\n' + config,
        encoding="utf-8",
    )
    suite = suite_of(root, "segments")
    labels = np.zeros(200, dtype=np.int64)
    moved = labels.copy()
    moved[:3] = 1
    scores = np.linspace(0, 1, 5)
    first = {"labels": labels, "scores": scores, "same": scores}
    again = {"labels": moved, "scores": scores + np.array([0, 0, 0.5, 0, 0]), "same": scores}
    with pytest.raises(RecordError) as info:
        repeatability(suite, first, again, {"scores": 0.5, "same": 0.0})
    assert str(info.value) == message
    assert info.value.exit_code == 1


def test_accepted_noise_lets_a_flip_rate_through(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        "[tool.repro.suites.s]\n"
        'lock = "l.txt"\nbase-image = "b"\nentrypoint = "m:f"\ninputs = "i.npz"\n'
        "[tool.repro.suites.s.outputs.labels]\nmax-label-flip-rate = 0.015\n",
        encoding="utf-8",
    )
    labels = np.zeros(200, dtype=np.int64)
    moved = labels.copy()
    moved[:3] = 1
    repeat = repeatability(suite_of(root, "s"), {"labels": labels}, {"labels": moved}, {})
    assert repeat.verdict.value == "within-tolerance"
