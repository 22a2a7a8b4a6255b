"""Runs, goldens and replays: the runner, the container's limits, record, attribution, baselines."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import numpy as np
import pytest
from docker.models.containers import Container

from reprolock.errors import UsageError
from reprolock.harness import runner
from reprolock.harness.compare import Tolerance, compare
from reprolock.harness.image import ensure_image, env_tag, resolve_base_image
from reprolock.harness.lockfile import read_lock
from reprolock.harness.replay import (
    GOLDEN_SCHEMA,
    RUN_ENVIRONMENT,
    GoldenError,
    RecordError,
    Reference,
    Session,
    choose_reference,
    kernel_change,
    load_golden,
    machine_fingerprint,
    machine_matches,
    record,
    replay,
    run_suite,
    source_tree_sha256,
)
from reprolock.report.replay import (
    Baseline,
    Comparison,
    LockChange,
    ReplayReport,
    ReportFormat,
    Verdict,
    render,
    summary_line,
)
from tests.harness.conftest import BASE_IMAGE, LOCKS, Containers, suite_of
from tests.harness.test_image import broken_lock, serve_broken_wheel

# --- the runner, on the host's Python ------------------------------------------------------


def _run_runner(
    tmp_path: Path, body: str, entrypoint: str = "model:predict", **arrays: Any
) -> tuple[int, dict[str, Any], Path]:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "model.py").write_text(body, encoding="utf-8")
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **(arrays or {"X": np.arange(6.0).reshape(3, 2)}))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            runner.__file__,
            "--entrypoint",
            entrypoint,
            "--inputs",
            str(inputs),
            "--out",
            str(out),
            "--pythonpath",
            str(tmp_path / "src"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, json.loads((out / runner.RESULT).read_text()), out


def test_runner_writes_outputs_and_facts(tmp_path: Path) -> None:
    body = (
        "import numpy as np\n"
        "def predict(inputs):\n"
        "    return {'y': inputs['X'] * 2, 'n': np.int64(3)}\n"
    )
    code, result, out = _run_runner(tmp_path, body)
    assert code == 0
    assert result["status"] == "ok"
    assert result["outputs"] == {
        "y": {"dtype": "float64", "shape": [3, 2]},
        "n": {"dtype": "int64", "shape": []},
    }
    with np.load(out / runner.OUTPUTS, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["y"], np.arange(6.0).reshape(3, 2) * 2)
    facts = result["facts"]
    assert facts["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"name": "numpy", "version": np.__version__} in facts["distributions"]
    assert facts["cpu"]["model"]
    assert isinstance(facts["cpu"]["flags"], list)


PANDAS_LIKE = """\
import numpy as np


class Series:  # what the runner sees of pandas: values behind to_numpy()
    def __init__(self, values):
        self.values = values

    def to_numpy(self):
        return np.array(self.values, dtype=object)


class DataFrame(Series):
    columns = ("score", "segment")

    def items(self):
        return iter([("score", Series([0.5, 0.25])), ("segment", Series(["a", "bb"]))])


def predict(inputs):
    return {
        "proba": [0.5, 0.25],
        "count": 3,
        "ok": np.bool_(True),
        "names": Series(["x", "yy"]),
        "table": DataFrame([]),
    }


def several(inputs):
    return inputs["X"], 2.0


def frame(inputs):
    return DataFrame([])
"""


@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [
        (
            "model:predict",
            {
                "count": ("int64", []),
                "names": ("<U2", [2]),
                "ok": ("bool", []),
                "proba": ("float64", [2]),
                "table.score": ("float64", [2]),
                "table.segment": ("<U2", [2]),
            },
        ),
        ("model:several", {"output_0": ("float64", [3, 2]), "output_1": ("float64", [])}),
        ("model:frame", {"score": ("float64", [2]), "segment": ("<U2", [2])}),
    ],
)
def test_lists_tuples_scalars_and_frames_become_arrays(
    tmp_path: Path, entrypoint: str, expected: dict[str, tuple[str, list[int]]]
) -> None:
    code, result, _ = _run_runner(tmp_path, PANDAS_LIKE, entrypoint)
    assert code == 0, result
    shapes = {name: (o["dtype"], o["shape"]) for name, o in result["outputs"].items()}
    assert shapes == expected


def test_a_lone_array_is_stored_as_output(tmp_path: Path) -> None:
    code, result, _ = _run_runner(tmp_path, "def predict(inputs):\n    return inputs['X']\n")
    assert (code, list(result["outputs"])) == (0, [runner.SINGLE_OUTPUT])


@pytest.mark.parametrize(
    ("body", "stage", "error"),
    [
        (
            "def predict(inputs):\n    raise KeyError('weights')\n",
            "call",
            "model:predict raised KeyError: 'weights'",
        ),
        (
            "def predict(inputs):\n    return [[1], [2, 3]]\n",
            "outputs",
            "the entrypoint's result cannot be made an array: setting an array element",
        ),
        (
            "def predict(inputs):\n    return {'y': object()}\n",
            "outputs",
            "output y is of type object; expected an ndarray, a list, a scalar or a pandas Series",
        ),
        (
            "def predict(inputs):\n    return None\n",
            "outputs",
            "the entrypoint returned None; expected an ndarray or a dict of ndarrays",
        ),
        (
            "def predict(inputs):\n    return {'y': 1, 'z': [None, 1]}\n",
            "outputs",
            "output z has dtype object; only numeric, bool and string arrays can be compared",
        ),
        (
            "import numpy as np\ndef predict(inputs):\n    return {'y': np.array([None])}\n",
            "outputs",
            "output y has dtype object; only numeric, bool and string arrays can be compared",
        ),
        ("def other(inputs):\n    pass\n", "import", "model has no function predict"),
        ("import no_such_module\n", "import", "cannot import model: ModuleNotFoundError: "),
    ],
)
def test_runner_failures_are_reported_as_json(
    tmp_path: Path, body: str, stage: str, error: str
) -> None:
    code, result, out = _run_runner(tmp_path, body)
    assert code == 1
    assert (result["status"], result["stage"]) == ("error", stage)
    assert result["error"].startswith(error)
    assert "facts" in result
    assert not (out / runner.OUTPUTS).exists()


def test_runner_traceback_starts_in_the_project(tmp_path: Path) -> None:
    _, result, _ = _run_runner(tmp_path, "def predict(inputs):\n    return 1 / 0\n")
    trace = result["traceback"]
    assert "model.py" in trace
    assert "runner.py" not in trace
    assert trace.rstrip().endswith("ZeroDivisionError: division by zero")


def test_runner_never_unpickles_inputs(tmp_path: Path) -> None:
    code, result, _ = _run_runner(
        tmp_path, "def predict(inputs):\n    return inputs['X']\n", X=np.array([{"a": 1}])
    )
    assert (code, result["stage"]) == (1, "inputs")
    assert "allow_pickle=False" in result["error"]


# --- fingerprints --------------------------------------------------------------------------


def test_source_tree_hash_covers_paths_and_contents_not_bytecode(project: Path) -> None:
    suite = suite_of(project, "segments")
    before = source_tree_sha256(suite)
    cache = project / "src" / "segmenter" / "__pycache__"
    cache.mkdir()
    (cache / "model.cpython-311.pyc").write_bytes(b"\0")
    assert source_tree_sha256(suite) == before
    (project / "src" / "segmenter" / "model.py").rename(project / "src" / "segmenter" / "m.py")
    renamed = source_tree_sha256(suite)
    assert renamed != before
    path = project / "src" / "segmenter" / "m.py"
    path.write_text(path.read_text() + "# edited\n")
    assert source_tree_sha256(suite) not in {before, renamed}


def test_machine_fingerprint_survives_json() -> None:
    facts = {
        "cpu": {"model": "Xeon", "flags": ["sse2", "avx2"]},
        "blas": [
            {"internal_api": "openblas", "architecture": "Haswell", "version": "0.3.21"},
            {"internal_api": "openmp", "version": None},
        ],
    }
    fingerprint = machine_fingerprint(facts)
    assert fingerprint == {
        "cpu_model": "Xeon",
        "cpu_flags": ["avx2", "sse2"],
        "blas": [["openblas", "Haswell"], ["openmp", ""]],
    }
    assert json.loads(json.dumps(fingerprint)) == fingerprint


# --- the reference: golden or fresh baseline ----------------------------------------------

FACTS = {
    "cpu": {"model": "Xeon", "flags": ["avx2"]},
    "blas": [{"internal_api": "openblas", "architecture": "Haswell"}],
}
GOLDEN_META = {
    "machine": machine_fingerprint(FACTS),
    "base_image": {"id": "sha256:base"},
    "environment": FACTS,
}
EPYC = {**FACTS, "cpu": {"model": "EPYC", "flags": ["avx2"]}}
MACHINE_NOTE = "this machine differs from the golden's: EPYC here, Xeon when recorded"
# Another numpy or scipy ships another OpenBLAS, which names the same CPU's kernel differently.
NEW_OPENBLAS = {**FACTS, "blas": [{"internal_api": "openblas", "architecture": "Cooperlake"}]}
NO_AVX512 = {**FACTS, "cpu": {"model": "Xeon", "flags": ["avx2", "avx512f"]}}


@pytest.mark.parametrize(
    ("facts", "base", "options", "expected"),
    [
        (FACTS, "sha256:base", {}, (False, True, ())),
        (FACTS, "sha256:base", {"fresh_baseline": True}, (True, True, ())),
        (FACTS, "sha256:base", {"attributable": False}, (True, True, ())),
        (EPYC, "sha256:base", {}, (True, False, (MACHINE_NOTE,))),
        (
            FACTS,
            "sha256:other",
            {},
            (
                True,
                False,
                (
                    "this machine differs from the golden's: Xeon here and when recorded; "
                    "the base image id changed too",
                ),
            ),
        ),
        ({}, "sha256:base", {}, (True, None, ())),  # the candidate did not run: unknown
        (NEW_OPENBLAS, "sha256:base", {}, (False, True, ())),  # the same machine
        (
            NO_AVX512,
            "sha256:base",
            {},
            (True, False, ("this machine differs from the golden's: Xeon, with other CPU flags",)),
        ),
        (
            EPYC,
            "sha256:other",
            {},
            (True, False, (MACHINE_NOTE + "; the base image id changed too",)),
        ),
        # the candidate is the suite's own lock: a fresh run of it would be the candidate's
        (
            EPYC,
            "sha256:base",
            {"same_lock": True, "fresh_baseline": True},
            (False, False, (MACHINE_NOTE,)),
        ),
    ],
)
def test_choose_reference(
    facts: dict[str, Any],
    base: str,
    options: dict[str, bool],
    expected: tuple[bool, bool | None, tuple[str, ...]],
) -> None:
    chosen = choose_reference(GOLDEN_META, base, facts, **{"same_lock": False, **options})
    assert (chosen.fresh, chosen.same_machine, chosen.notes) == expected


def test_a_kernel_change_is_a_property_of_the_candidate() -> None:
    assert kernel_change(FACTS, NEW_OPENBLAS) == (
        "the candidate's BLAS kernel is openblas Cooperlake (openblas Haswell with the golden's "
        "lock on this machine): its packages ship another BLAS build, which may move the last "
        "bits"
    )
    assert kernel_change(FACTS, FACTS) is None
    assert kernel_change(FACTS, {}) is None  # the candidate did not run
    assert kernel_change({"blas": None}, NEW_OPENBLAS) is None  # no threadpoolctl at record


def test_a_golden_of_an_older_version_with_blas_in_its_machine_still_matches() -> None:
    old = {**GOLDEN_META, "machine": {**machine_fingerprint(FACTS), "blas": [["mkl", "x"]]}}
    assert machine_matches(old, "sha256:base", NEW_OPENBLAS) is True
    assert machine_matches({**old, "machine": "junk"}, "sha256:base", FACTS) is False


def _report(notes: tuple[str, ...] = ()) -> ReplayReport:
    return ReplayReport(
        suite="s", verdict=Verdict.BROKEN, attributable=True, candidate_lock="c.txt", notes=notes
    )


def _comparison(verdict: Verdict) -> Comparison:
    return Comparison(verdict=verdict, outputs=())


def test_compared_with_the_golden_on_the_golden_lock_the_machine_is_blamed() -> None:
    chosen = Reference(fresh=False, same_machine=False, same_lock=True, notes=("machine",))
    done = chosen.conclude(_report(("attribution",)), _comparison(Verdict.CHANGED), notes=["extra"])
    assert (done.verdict, done.baseline, done.golden_reproduces) == (
        Verdict.CHANGED,
        Baseline.GOLDEN,
        False,
    )
    assert done.machine_matches_golden is False
    assert done.notes == (
        "attribution",
        "machine",
        "extra",
        "the lock is the golden's: the difference comes from the machine",
    )
    other_lock = dataclasses.replace(chosen, same_lock=False)
    done = other_lock.conclude(_report(), None)
    assert (done.verdict, done.golden_reproduces, done.notes) == (
        Verdict.BROKEN,
        None,
        ("machine",),
    )


def test_compared_with_a_fresh_baseline_the_report_says_if_the_golden_reproduces() -> None:
    chosen = Reference(fresh=True, same_machine=None, same_lock=False)
    golden = _comparison(Verdict.CHANGED)
    done = chosen.conclude(_report(), _comparison(Verdict.IDENTICAL), golden, notes=["n"])
    assert (done.verdict, done.baseline, done.golden_comparison) == (
        Verdict.IDENTICAL,
        Baseline.FRESH,
        golden,
    )
    assert (done.golden_reproduces, done.machine_matches_golden, done.notes) == (
        False,
        None,
        ("n",),
    )
    assert chosen.conclude(_report(), None, golden).verdict is Verdict.BROKEN


# --- runs in containers --------------------------------------------------------------------


@pytest.fixture
def session(docker_client: docker.DockerClient, harness_cache: Path) -> Session:
    return Session(client=docker_client, cache=harness_cache)


def _env(session: Session, lock: Path) -> Any:
    base = resolve_base_image(session.client, BASE_IMAGE)
    return ensure_image(session.client, read_lock(lock), base, cache=session.cache)


def test_the_run_is_unprivileged_offline_read_only_and_hermetic(
    session: Session,
    failing_project: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPROLOCK_TEST_SECRET", "must-not-leak")
    suite = suite_of(failing_project, "inspect")
    run = run_suite(session, suite, _env(session, suite.lock_path))
    assert run.error is None
    assert run.outputs is not None
    out = {name: value.item() if value.ndim == 0 else value for name, value in run.outputs.items()}
    assert out["uid"] == 10001
    assert out["cwd"] == "/work"
    assert out["network"] is False
    assert (out["work_writable"], out["root_writable"], out["out_writable"]) == (
        False,
        False,
        True,
    )
    assert out["threads"] == "1"
    # Docker adds PATH and HOSTNAME, Python's C-locale coercion (PEP 538) LC_CTYPE; nothing
    # of the host's passes through.
    assert "REPROLOCK_TEST_SECRET" not in set(out["environment"])
    assert set(out["environment"]) - {"PATH", "HOSTNAME", "LC_CTYPE"} == set(RUN_ENVIRONMENT)
    assert containers.purposes()[-1] == "run"
    assert run.facts["distributions"]
    assert run.facts["blas"]


def _interrupting(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    def wait(self: Container, **kwargs: Any) -> Any:
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        raise KeyboardInterrupt

    monkeypatch.setattr(Container, "wait", wait)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_run_removes_its_container(
    session: Session,
    failing_project: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    suite = suite_of(failing_project, "fine")
    env = _env(session, suite.lock_path)
    _interrupting(monkeypatch, how)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        run_suite(session, suite, env)
    assert containers.runs() == 1  # and the fixture checks it is gone
    assert signal.getsignal(signal.SIGTERM) == before


# --- goldens -------------------------------------------------------------------------------


def test_record_writes_the_golden_pair_with_every_fact(
    session: Session, project: Path, containers: Containers
) -> None:
    suite = suite_of(project, "segments")
    with pytest.raises(UsageError, match=r"golden\.npz already exists; pass --force"):
        record(session, suite)
    outcome = record(session, suite, force=True)
    assert containers.runs() == 2
    assert outcome.deterministic
    assert outcome.noise == {"centers": 0.0, "inertia": 0.0}
    meta = json.loads(suite.golden_json_path.read_text())
    assert meta["schema"] == GOLDEN_SCHEMA
    lock = read_lock(suite.lock_path)
    base = resolve_base_image(session.client, suite.base_image, cache=session.cache)
    assert meta["lock"]["sha256"] == lock.digest(base.target)
    assert meta["lock"]["path"] == "locks/sklearn-1.3.2.txt"
    assert meta["image"] == {
        "tag": env_tag(base.id, lock.digest(base.target)),
        "id": session.client.images.get(meta["image"]["tag"]).id,
    }
    assert meta["base_image"] == {"reference": suite.base_image, "id": base.id, "digest": None}
    assert meta["inputs"]["path"] == "data/inputs.npz"
    assert meta["source"] == {"paths": ["src"], "sha256": source_tree_sha256(suite)}
    assert meta["entrypoint"] == "segmenter.model:predict"
    env = meta["environment"]
    assert env["python"] == base.target.python_full_version
    assert {"name": "scikit-learn", "version": "1.3.2"} in env["distributions"]
    assert env["cpu"]["model"]
    assert env["cpu"]["flags"]
    assert {lib["internal_api"] for lib in env["blas"]} >= {"openblas"}
    assert meta["machine"] == machine_fingerprint(env)
    assert meta["outputs"]["labels"] == {"dtype": "int64", "shape": [300]}
    assert meta["noise"] == outcome.noise
    assert meta["reprolock_version"]
    assert meta["created"].endswith("+00:00")
    # The pair is tied: golden.npz's own hash is in golden.json.
    golden = load_golden(suite)
    assert sorted(golden.outputs) == ["centers", "inertia", "labels"]
    assert not list(suite.golden_path.parent.glob("*.tmp"))


def test_record_of_a_broken_suite_writes_nothing(
    session: Session, failing_project: Path, containers: Containers
) -> None:
    suite = suite_of(failing_project, "boom")
    with pytest.raises(RecordError, match=r"^suite boom is broken: failing:boom raised Runtime"):
        record(session, suite)
    assert RecordError("x").exit_code == 1
    assert not suite.golden_path.exists()
    assert not suite.golden_json_path.exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("npz", r"golden\.npz: does not match golden\.json \(sha256 differs\); record it again"),
        ("json", r"golden\.json: unreadable golden: "),
        ("schema", r"golden\.json: not a golden\.json of schema 1 "),
        ("missing", r"golden\.npz: no golden recorded for suite segments \(run `repro golden"),
    ],
)
def test_a_damaged_golden_is_unanswered(project: Path, damage: str, message: str) -> None:
    suite = suite_of(project, "segments")
    if damage == "npz":
        np.savez(suite.golden_path, labels=np.zeros(300, dtype=np.int64))
    elif damage == "json":
        suite.golden_json_path.write_text("{", encoding="utf-8")
    elif damage == "schema":
        suite.golden_json_path.write_text('{"schema": 99}', encoding="utf-8")
    else:
        suite.golden_path.unlink()
    with pytest.raises(GoldenError, match=message) as info:
        load_golden(suite)
    assert info.value.exit_code == 3


# --- replay --------------------------------------------------------------------------------


def test_replay_of_the_suites_own_lock_reproduces_the_golden(
    session: Session, project: Path, containers: Containers
) -> None:
    report = replay(session, suite_of(project, "segments"))
    # On another CPU than the golden's, float outputs may move within tolerance.
    allowed = {Verdict.IDENTICAL}
    if not report.machine_matches_golden:
        allowed.add(Verdict.WITHIN_TOLERANCE)
    assert report.verdict in allowed
    assert report.baseline is Baseline.GOLDEN
    assert report.attributable
    assert report.lock_diff == ()
    assert report.golden_reproduces is True
    assert containers.runs() == 1


def test_edited_source_is_not_attributable(
    session: Session, project: Path, containers: Containers
) -> None:
    model = project / "src" / "segmenter" / "model.py"
    model.write_text(model.read_text() + "\n# tuned later\n")
    report = replay(session, suite_of(project, "segments"))
    assert not report.attributable
    assert report.notes[0].startswith(
        "not attributable: the entrypoint source changed since the golden was recorded"
    )
    assert report.comparison is not None
    labels = {o.name: o for o in report.comparison.outputs}["labels"]
    assert labels.verdict is Verdict.IDENTICAL  # a comment changes nothing
    assert report.to_dict()["attributable"] is False


def test_another_machine_compares_with_a_fresh_baseline(
    session: Session, project: Path, containers: Containers
) -> None:
    suite = suite_of(project, "segments")
    meta = json.loads(suite.golden_json_path.read_text())
    meta["machine"]["cpu_model"] = "Some Other CPU"
    meta["environment"]["cpu"]["model"] = "Some Other CPU"
    suite.golden_json_path.write_text(json.dumps(meta))
    candidate = LOCKS / "sklearn-1.3.2-threadpoolctl-bump.txt"
    report = replay(session, suite, candidate=candidate)
    assert report.baseline is Baseline.FRESH
    assert report.machine_matches_golden is False
    assert report.golden_reproduces is True
    assert report.golden_comparison is not None
    assert report.verdict is Verdict.IDENTICAL
    assert report.notes[0].startswith("this machine differs from the golden's: ")
    assert "Some Other CPU" in report.notes[0]
    assert containers.runs() == 2


def test_a_candidate_that_does_not_install_is_broken(
    session: Session,
    project: Path,
    tmp_path: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    candidate = broken_lock(tmp_path)
    serve_broken_wheel(monkeypatch, tmp_path)
    report = replay(session, suite_of(project, "segments"), candidate=candidate)
    assert report.verdict is Verdict.BROKEN
    assert report.error is not None
    assert "did not install: error: " in report.error
    assert "brokenpkg==1.0" in report.error
    assert "cause: The wheel is invalid: Missing .dist-info directory" in report.error
    assert report.comparison is None
    assert report.image is None
    assert containers.runs() == 0
    assert {c.name for c in report.lock_diff} >= {"brokenpkg", "scikit-learn"}


# --- report rendering ----------------------------------------------------------------------


def _reports() -> list[ReplayReport]:
    golden = {"labels": np.array([0, 1, 1, 2]), "score": np.array([0.5, 0.25])}
    candidate = {"labels": np.array([0, 1, 2, 2]), "score": np.array([0.5, 0.25])}
    comparison = compare(golden, candidate, default=Tolerance())
    changed = ReplayReport(
        suite="segments",
        verdict=comparison.verdict,
        attributable=True,
        candidate_lock="candidate.txt",
        image="reprolock-env:abc",
        lock_diff=(LockChange(name="scikit-learn", old="1.3.2", new="1.4.2"),),
        comparison=comparison,
    )
    broken = ReplayReport(
        suite="pickled",
        verdict=Verdict.BROKEN,
        attributable=False,
        candidate_lock="candidate.txt",
        error="segmenter.pickled:predict raised ValueError: incompatible dtype\nTraceback ...",
        notes=("not attributable: the inputs changed since the golden was recorded",),
    )
    return [changed, broken]


@pytest.mark.parametrize("fmt", list(ReportFormat))
def test_every_report_format_renders_every_part(fmt: ReportFormat) -> None:
    text = render(fmt, _reports(), single=False)
    for part in ("segments", "pickled", "scikit-learn", "1.4.2", "incompatible dtype", "labels"):
        assert part in text
    if fmt is ReportFormat.JSON:
        data = json.loads(text)
        assert data["verdict"] == "broken"
        assert data["suites"][0]["outputs"]["labels"]["label_flips"] == 1
        assert data["suites"][1]["error"].startswith("segmenter.pickled:predict raised")


def test_single_suite_json_is_the_design_shape() -> None:
    data = json.loads(render(ReportFormat.JSON, _reports()[:1], single=True))
    assert list(data)[:6] == ["schema", "suite", "verdict", "attributable", "lock_diff", "outputs"]
    assert data["lock_diff"] == [{"name": "scikit-learn", "old": "1.3.2", "new": "1.4.2"}]
    assert data["outputs"]["labels"]["mismatches"] == 1
    assert summary_line(_reports()) == "segments: changed; pickled: broken"


def test_text_report_lines() -> None:
    text = render(ReportFormat.TEXT, _reports(), single=False)
    assert text.splitlines()[:7] == [
        "segments: changed",
        "  candidate: candidate.txt",
        "  lock changes: scikit-learn 1.3.2 -> 1.4.2",
        "  compared with: the golden outputs",
        "    labels  changed: 1 of 4 differ (25.0%), 1 label flip, max abs 1, max rel 1, would "
        "pass with max-label-flip-rate >= 0.25",
        "            largest differences (index: golden -> new): [2] 1 -> 2",
        "    score   identical",
    ]
    assert "  error:\n    segmenter.pickled:predict raised ValueError" in text
    assert "  note: not attributable: the inputs changed" in text
