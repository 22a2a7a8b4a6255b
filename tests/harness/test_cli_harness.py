"""`repro golden record` and `repro replay` end to end, on real containers; suite config."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import docker
import numpy as np
import pytest
from docker.models.containers import Container
from docker.models.images import ImageCollection

from reprolock.config import OutputTolerance, Suite, load_config
from reprolock.errors import ConfigError
from reprolock.harness import wheelhouse
from reprolock.harness.lockfile import TargetEnvironment, read_lock
from reprolock.harness.replay import (
    file_sha256,
    load_golden,
    machine_fingerprint,
    source_tree_sha256,
)
from reprolock.report.replay import SCHEMA
from tests.conftest import FIXTURES
from tests.harness.conftest import (
    BASE_IMAGE,
    DEFAULT_BASE_IMAGE,
    LOCKS,
    PROJECT,
    Containers,
    Repro,
    suite_of,
    write_golden,
)
from tests.harness.test_image import broken_lock, serve_broken_wheel

# --- the acceptance scenarios --------------------------------------------------------------


def test_sklearn_1_4_changes_the_segments(
    repro: Repro, kmeans: Path, containers: Containers
) -> None:
    candidate = LOCKS / "sklearn-1.4.2.txt"
    run = repro(
        "replay", "--suite", "segments", "--lock", str(candidate), "--format", "json", cwd=kmeans
    )
    assert run.code == 1
    report = run.json()
    assert report["schema"] == SCHEMA
    assert (report["suite"], report["verdict"], report["attributable"]) == (
        "segments",
        "changed",
        True,
    )
    assert report["lock_diff"] == [{"name": "scikit-learn", "old": "1.3.2", "new": "1.4.2"}]
    labels = report["outputs"]["labels"]
    assert labels["verdict"] == "changed"
    assert labels["total"] == 300
    assert labels["label_flips"] == labels["mismatches"] > 0
    assert report["outputs"]["inertia"]["verdict"] == "changed"
    assert report["error"] is None
    assert run.err.splitlines()[-1] == "repro: segments: changed"


def test_a_threadpoolctl_bump_is_identical(
    repro: Repro, kmeans: Path, containers: Containers
) -> None:
    candidate = LOCKS / "sklearn-1.3.2-threadpoolctl-bump.txt"
    run = repro("replay", "--suite", "segments", "--lock", str(candidate), cwd=kmeans)
    assert run.code == 0
    assert run.out.startswith("segments: identical\n")
    assert "  lock changes: threadpoolctl 3.8.0 -> 3.5.0\n" in run.out
    assert re.search(r"^    labels +identical$", run.out, re.M)
    assert "  attributable: yes\n" in run.out


def test_the_1_2_pickle_breaks_under_1_3(
    repro: Repro, kmeans: Path, containers: Containers
) -> None:
    run = repro("replay", "--suite", "pickled", "--lock", "locks/sklearn-1.3.2.txt", cwd=kmeans)
    assert run.code == 1
    assert run.out.startswith("pickled: broken\n")
    assert "  lock changes: scikit-learn 1.2.2 -> 1.3.2\n" in run.out
    assert "segmenter.pickled:predict raised ValueError: node array from the pickle has an " in (
        run.out
    )
    assert 'File "/work/src/segmenter/pickled.py"' in run.out
    assert run.err.splitlines()[-1] == "repro: pickled: broken"


def test_edited_source_is_reported_not_attributable(
    repro: Repro, project: Path, containers: Containers
) -> None:
    model = project / "src" / "segmenter" / "model.py"
    model.write_text(model.read_text().replace("random_state=0", "random_state=1"))
    run = repro("replay", "--suite", "segments", "--format", "json", cwd=project)
    report = run.json()
    assert report["attributable"] is False
    assert report["notes"][0].startswith(
        "not attributable: the entrypoint source changed since the golden was recorded"
    )
    assert (run.code, report["verdict"]) == (1, "changed")


def test_an_unchanged_lock_builds_and_downloads_nothing(
    repro: Repro, kmeans: Path, containers: Containers, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert repro("replay", "--suite", "segments", cwd=kmeans).code == 0  # the image exists now
    calls: list[str] = []

    def forbidden(what: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(what)
            raise AssertionError(f"{what} must not happen for an unchanged lock")

        return call

    monkeypatch.setattr(wheelhouse, "fetch_wheels", forbidden("download"))
    monkeypatch.setattr(docker.APIClient, "build", forbidden("build"))
    monkeypatch.setattr(ImageCollection, "pull", forbidden("pull"))
    containers.created.clear()
    run = repro("replay", "--suite", "segments", "--format", "json", cwd=kmeans)
    assert (run.code, calls) == (0, [])
    # The golden was recorded on this machine: the same lock reproduces it bit for bit.
    assert (run.json()["machine_matches_golden"], run.json()["verdict"]) == (True, "identical")
    # One container: the run itself (the base image's facts come from the cache).
    assert containers.runs() == 1
    assert "downloading" not in run.err
    assert "building" not in run.err


def test_every_suite_without_suite_flag(repro: Repro, kmeans: Path, containers: Containers) -> None:
    run = repro("replay", "--format", "json", cwd=kmeans)
    assert run.code == 0
    report = run.json()
    assert report["schema"] == SCHEMA
    assert [s["suite"] for s in report["suites"]] == ["segments", "pickled"]
    for suite in report["suites"]:
        assert suite["golden_reproduces"] is True
        assert suite["compared_with"] == "golden"
        assert (suite["machine_matches_golden"], suite["verdict"]) == (True, "identical")
        assert suite["outputs"]["labels"]["verdict"] == "identical"
    assert report["verdict"] == "identical"


def test_markdown_report(repro: Repro, kmeans: Path, containers: Containers) -> None:
    candidate = LOCKS / "sklearn-1.4.2.txt"
    run = repro(
        "replay",
        "--suite",
        "segments",
        "--lock",
        str(candidate),
        "--format",
        "markdown",
        cwd=kmeans,
    )
    assert run.code == 1
    assert run.out.startswith("## reprolock replay\n\n### `segments`: **changed**\n")
    assert "| scikit-learn | 1.3.2 | 1.4.2 |" in run.out
    assert re.search(r"^\| `labels` \| changed \| \d+/300 \|", run.out, re.M)


def test_fresh_baseline_reports_both_comparisons(
    repro: Repro, kmeans: Path, containers: Containers
) -> None:
    candidate = LOCKS / "sklearn-1.4.2.txt"
    run = repro(
        "replay",
        "--suite",
        "segments",
        "--lock",
        str(candidate),
        "--fresh-baseline",
        "--format",
        "json",
        cwd=kmeans,
    )
    report = run.json()
    assert (run.code, report["verdict"], report["compared_with"]) == (
        1,
        "changed",
        "fresh-baseline",
    )
    assert report["golden_reproduces"] is True
    assert report["golden_outputs"]["labels"]["verdict"] == "identical"
    assert containers.runs() == 2


@pytest.mark.parametrize(
    ("fixture", "suite"),
    [
        ("kmeans-segmenter", "segments"),
        ("kmeans-segmenter", "pickled"),
        ("update-demo", "segments"),
    ],
)
def test_the_committed_goldens_belong_to_their_projects(fixture: str, suite: str) -> None:
    """The Docker tests replay goldens recorded on the machine that runs them (`kmeans`); the
    committed ones, which the README's example replays, must still be those of their project's
    source, inputs, lock and entrypoint, whichever machine recorded them."""
    config = load_config(FIXTURES / "projects" / fixture).suites[suite]
    golden = load_golden(config)  # golden.npz is the one golden.json names by sha256
    meta = golden.meta
    probe = FIXTURES / "harness" / "targets" / "python-3.11-bookworm.json"
    target = TargetEnvironment.from_probe(json.loads(probe.read_text(encoding="utf-8")))
    assert (meta["suite"], meta["entrypoint"]) == (suite, config.entrypoint)
    assert meta["source"] == {"paths": list(config.source), "sha256": source_tree_sha256(config)}
    assert meta["inputs"]["sha256"] == file_sha256(config.inputs_path)
    assert meta["lock"]["sha256"] == read_lock(config.lock_path).digest(target)
    assert meta["base_image"]["reference"] == config.base_image == DEFAULT_BASE_IMAGE
    assert meta["machine"] == machine_fingerprint(meta["environment"])
    assert meta["outputs"] == {
        name: {"dtype": str(array.dtype), "shape": list(array.shape)}
        for name, array in sorted(golden.outputs.items())
    }


# --- failure paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suite", "error"),
    [
        ("boom", "failing:boom raised RuntimeError: model weights are corrupt"),
        ("sleepy", "timed out after 2 s"),
        ("hungry", "memory limit 64m exceeded"),
        ("listy", "the entrypoint's result cannot be made an array: setting an array element"),
    ],
)
def test_a_failing_entrypoint_is_broken_and_leaves_no_container(
    repro: Repro, failing_project: Path, containers: Containers, suite: str, error: str
) -> None:
    write_golden(suite_of(failing_project, suite), {"y": np.zeros(4)})
    run = repro("replay", "--suite", suite, "--format", "json", cwd=failing_project)
    assert run.code == 1
    report = run.json()
    assert report["verdict"] == "broken"
    assert report["error"].startswith(error)
    assert report["outputs"] == {}
    assert containers.purposes()[-1] == "run"
    text = repro("replay", "--suite", suite, cwd=failing_project)
    assert text.code == 1
    assert f"  error:\n    {error}" in text.out


def test_the_timeout_is_enforced_promptly(
    repro: Repro, failing_project: Path, containers: Containers
) -> None:
    write_golden(suite_of(failing_project, "sleepy"), {"y": np.zeros(4)})
    start = time.monotonic()
    assert repro("replay", "--suite", "sleepy", cwd=failing_project).code == 1
    assert time.monotonic() - start < 30  # the entrypoint sleeps 120 s


def test_record_of_a_broken_suite_exits_1(
    repro: Repro, failing_project: Path, containers: Containers
) -> None:
    run = repro("golden", "record", "--suite", "boom", cwd=failing_project)
    assert run.code == 1
    assert (
        "repro: error: suite boom is broken: failing:boom raised RuntimeError: model weights "
        "are corrupt\nTraceback (most recent call last):\n"
    ) in run.err
    assert not (failing_project / "golden").exists()


def test_no_daemon_is_exit_3_in_one_line(
    repro: Repro, monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    for argv in (["replay"], ["golden", "record", "--force"]):
        run = repro(*argv, cwd=project)
        assert run.code == 3
        assert run.out == ""
        assert run.err == (
            "repro: error: cannot reach the Docker daemon at unix:///nonexistent: no socket "
            "there (start dockerd, or set DOCKER_HOST)\n"
        )


def test_a_wheel_hash_mismatch_is_exit_3(
    repro: Repro, project: Path, tmp_path: Path, containers: Containers
) -> None:
    lock = (LOCKS / "sklearn-1.3.2-threadpoolctl-bump.txt").read_text()
    # threadpoolctl's wheel is the one hash the lock lists for it: make it a wrong one.
    tp = lock[lock.index("threadpoolctl==") :]
    good = re.findall(r"--hash=sha256:([0-9a-f]{64})", tp)
    bad = lock
    for digest in good:
        bad = bad.replace(digest, hashlib.sha256(digest.encode()).hexdigest())
    candidate = tmp_path / "tampered.txt"
    candidate.write_text(bad)
    run = repro("replay", "--suite", "segments", "--lock", str(candidate), cwd=project)
    assert run.code == 3
    assert run.out == ""
    last = run.err.splitlines()[-1]
    assert last.startswith("repro: error: ")
    assert "threadpoolctl" in last
    assert "sha256" in last
    assert containers.runs() == 0


def test_a_candidate_that_does_not_install_is_broken_exit_1(
    repro: Repro,
    project: Path,
    tmp_path: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    candidate = broken_lock(tmp_path)
    serve_broken_wheel(monkeypatch, tmp_path)
    run = repro("replay", "--suite", "segments", "--lock", str(candidate), cwd=project)
    assert run.code == 1
    assert "segments: broken\n" in run.out
    assert "did not install: error: " in run.out
    assert "brokenpkg==1.0" in run.out
    assert "cause: The wheel is invalid: Missing .dist-info directory" in run.out


def test_a_missing_golden_is_exit_3_in_one_line(repro: Repro, project: Path) -> None:
    (project / "golden" / "segments" / "golden.npz").unlink()
    run = repro("replay", "--suite", "segments", cwd=project)
    assert run.code == 3
    assert run.err.splitlines()[-1] == (
        "repro: error: golden/segments/golden.npz: no golden recorded for suite segments "
        "(run `repro golden record --suite segments`)"
    )


def test_a_missing_base_image_is_exit_3(repro: Repro, project: Path) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(BASE_IMAGE, "reprolock-test/no-such-image:1")
    )
    run = repro("replay", "--suite", "segments", cwd=project)
    assert run.code == 3
    assert run.err.splitlines()[-1].startswith(
        "repro: error: base image reprolock-test/no-such-image:1 is not on this Docker daemon"
    )


def test_record_refuses_to_overwrite_without_force(repro: Repro, project: Path) -> None:
    before = (project / "golden" / "segments" / "golden.json").read_bytes()
    run = repro("golden", "record", cwd=project)
    assert run.code == 2
    assert run.err == (
        "repro: error: golden/segments/golden.npz already exists; pass --force to record over it\n"
    )
    assert (project / "golden" / "segments" / "golden.json").read_bytes() == before


def test_record_with_force_then_replay(repro: Repro, project: Path, containers: Containers) -> None:
    run = repro("golden", "record", "--suite", "segments", "--force", cwd=project)
    assert run.code == 0
    assert "repro: recorded segments: golden/segments/golden.npz and golden.json" in run.err
    # The test base image is docker-imported: no registry digest, so its id is the advice.
    (warning,) = [line for line in run.err.splitlines() if "warning:" in line]
    assert warning.startswith(
        f"repro: warning: suite segments: base image {BASE_IMAGE} is a tag; its image id "
    )
    assert warning.endswith(" pins it)")
    assert 'base-image = "sha256:' in warning
    assert containers.runs() == 2
    assert repro("replay", "--suite", "segments", cwd=project).code == 0


def test_an_interrupted_replay_exits_130_and_leaves_nothing(
    repro: Repro,
    kmeans: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: docker.DockerClient,
) -> None:
    # Probe the base image first, so that the interrupt lands in the suite's run, whatever
    # tests ran before this one.
    from reprolock.harness.image import resolve_base_image

    resolve_base_image(docker_client, BASE_IMAGE)

    def wait(self: Container, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Container, "wait", wait)
    run = repro("replay", "--suite", "segments", cwd=kmeans)
    assert (run.code, run.err.splitlines()[-1]) == (130, "repro: interrupted")
    assert containers.runs() == 1


# --- usage errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "--suite", "no"], "--suite no: no such suite (configured: segments, pickled)"),
        (["replay", "--lock", "missing.txt"], "--lock missing.txt: no such file"),
        (["golden", "record", "--suite", "nope"], "--suite nope: no such suite (configured: "),
        (["replay", "--project", "nowhere"], "--project nowhere: not a directory"),
    ],
)
def test_usage_errors_exit_2(repro: Repro, argv: list[str], message: str) -> None:
    run = repro(*argv, cwd=PROJECT)
    assert run.code == 2
    assert run.err.startswith(f"repro: error: {message}")
    assert len(run.err.splitlines()) == 1


def test_no_suites_is_a_usage_error(repro: Repro, tmp_path: Path) -> None:
    (tmp_path / "repro.toml").write_text('fail-on = "error"\n')
    run = repro("replay", cwd=tmp_path)
    assert run.code == 2
    assert run.err.startswith("repro: error: no suites configured: add a [tool.repro.suites.NAME]")


def test_project_flag(repro: Repro, tmp_path: Path) -> None:
    run = repro("golden", "record", "--project", str(PROJECT), cwd=tmp_path)
    assert run.code == 2
    assert "golden.npz already exists" in run.err


# --- suite configuration -------------------------------------------------------------------

MINIMAL = """\
[tool.repro.suites.churn]
lock = "requirements.txt"
base-image = "python:3.11-slim@sha256:{digest}"
entrypoint = "churn.model:predict"
inputs = "golden/churn/inputs.npz"
""".replace("{digest}", "a" * 64)


def test_a_minimal_suite_gets_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(MINIMAL)
    suite = load_config(tmp_path).suites["churn"]
    assert suite == Suite(
        name="churn",
        base_dir=tmp_path,
        lock="requirements.txt",
        base_image="python:3.11-slim@sha256:" + "a" * 64,
        entrypoint="churn.model:predict",
        inputs="golden/churn/inputs.npz",
        golden="golden/churn/golden.npz",
        config_file="pyproject.toml",
        table="[tool.repro.suites.churn]",
    )
    assert suite.output_table("proba") == "[tool.repro.suites.churn.outputs.proba]"
    assert (suite.rtol, suite.atol, suite.max_label_flip_rate) == (1e-7, 0.0, 0.0)
    assert (suite.timeout, suite.memory, suite.memory_bytes) == (600.0, "2g", 2 * 2**30)
    assert (suite.max_output, suite.max_output_bytes) == ("1g", 2**30)
    assert suite.golden_json_path == tmp_path / "golden" / "churn" / "golden.json"
    assert suite.lock_path == tmp_path / "requirements.txt"


def test_every_suite_key_in_repro_toml(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "repro.toml").write_text(
        textwrap.dedent(
            """\
            [suites.churn]
            lock = "locks/prod.txt"
            base-image = "local/python:3.11"
            entrypoint = "churn.model:predict"
            inputs = "data/in.npz"
            golden = "golden/churn.npz"
            source = ["src", "models/model.pkl"]
            pythonpath = ["src"]
            rtol = 1e-5
            atol = 0
            max-label-flip-rate = 0.01
            timeout = 30
            memory = "512m"
            max-output = "64m"

            [suites.churn.outputs.proba]
            atol = 1e-6

            [suites.churn.outputs.labels]
            max-label-flip-rate = 0.05

            [suites.churn.outputs.scores]
            noise = "accept"
            """
        )
    )
    suite = load_config(tmp_path / "sub").suites["churn"]
    assert suite.lock_path == tmp_path / "sub" / "locks" / "prod.txt"
    assert suite.golden_json_path.name == "churn.json"
    assert suite.source == ("src", "models/model.pkl")
    assert (suite.rtol, suite.atol, suite.max_label_flip_rate) == (1e-5, 0.0, 0.01)
    assert (suite.timeout, suite.memory_bytes) == (30.0, 512 * 2**20)
    assert suite.max_output_bytes == 64 * 2**20
    assert suite.outputs == {
        "proba": OutputTolerance(atol=1e-6),
        "labels": OutputTolerance(max_label_flip_rate=0.05),
        "scores": OutputTolerance(accept_noise=True),
    }
    assert (suite.config_file, suite.where) == ("repro.toml", "[suites.churn]")
    assert suite.output_table("scores") == "[suites.churn.outputs.scores]"


_W = "pyproject.toml: [tool.repro.suites.churn]"
_O = "pyproject.toml: [tool.repro.suites.churn.outputs"
_SIZE = "expected a size of at least 6m such as 512m or 2g"
_INSIDE = "expected a relative path inside the project"
_SUITE_KEYS = (
    "atol, base-image, entrypoint, golden, inputs, lock, max-label-flip-rate, max-output, memory, "
    "outputs, pythonpath, rtol, source, timeout"
)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('rtol = "tight"', f'{_W} rtol: expected a number >= 0, got "tight"'),
        ("atol = -1", f"{_W} atol: expected a number >= 0, got -1"),
        ("rtol = true", f"{_W} rtol: expected a number >= 0, got true"),
        (
            "max-label-flip-rate = 2",
            f"{_W} max-label-flip-rate: expected a number from 0 to 1, got 2",
        ),
        ("timeout = 0", f"{_W} timeout: expected seconds > 0, got 0"),
        ('timeout = "10m"', f'{_W} timeout: expected seconds > 0, got "10m"'),
        ('memory = "lots"', f'{_W} memory: {_SIZE}, got "lots"'),
        ('memory = "1m"', f'{_W} memory: {_SIZE}, got "1m"'),
        ('max-output = "big"', f'{_W} max-output: expected a size such as 256m or 1g, got "big"'),
        ("max-output = 1024", f"{_W} max-output: expected a size such as 256m or 1g, got 1024"),
        ('max-output = "0"', f'{_W} max-output: expected a size such as 256m or 1g, got "0"'),
        ('source = "src"', f'{_W} source: expected a list of strings, got "src"'),
        ('source = ["../shared"]', f'{_W} source: {_INSIDE}, got "../shared"'),
        ('pythonpath = ["/abs"]', f'{_W} pythonpath: {_INSIDE}, got "/abs"'),
        (
            'golden = "golden.json"',
            f'{_W} golden: expected a path ending in .npz, got "golden.json"',
        ),
        ("colour = 1", f"{_W} colour: unknown key (known: {_SUITE_KEYS})"),
        ("outputs = 1", f"{_O}]: expected a table, got 1"),
        (
            "outputs.proba.rtoll = 1",
            f"{_O}.proba] rtoll: unknown key (known: atol, max-label-flip-rate, noise, rtol)",
        ),
        (
            "outputs.proba.noise = true",
            f'{_O}.proba] noise: expected "accept" or "fail", got true',
        ),
        ("outputs.proba.atol = -0.5", f"{_O}.proba] atol: expected a number >= 0, got -0.5"),
    ],
)
def test_bad_suite_values_name_the_key_path(tmp_path: Path, extra: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(MINIMAL + extra + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[tool.repro]\nsuites = ["a"]\n',
            "pyproject.toml: [tool.repro.suites]: expected a table of suites, got an array",
        ),
        (
            '[tool.repro.suites]\nchurn = "x"\n',
            'pyproject.toml: [tool.repro.suites.churn]: expected a table, got "x"',
        ),
        (
            '[tool.repro.suites."a b"]\nlock = "x"\n',
            "pyproject.toml: [tool.repro.suites.a b]: a suite name takes letters, digits, '.', "
            "'_' and '-' only",
        ),
        (
            MINIMAL.replace('lock = "requirements.txt"\n', ""),
            "pyproject.toml: [tool.repro.suites.churn] lock: missing (every suite needs lock, "
            "base-image, entrypoint and inputs)",
        ),
        (
            MINIMAL.replace('"churn.model:predict"', '"churn.model.predict"'),
            "pyproject.toml: [tool.repro.suites.churn] entrypoint: expected module:function, "
            'e.g. churn.model:predict, got "churn.model.predict"',
        ),
        (
            MINIMAL.replace('lock = "requirements.txt"', 'lock = ""'),
            'pyproject.toml: [tool.repro.suites.churn] lock: expected a path, got ""',
        ),
    ],
)
def test_bad_suite_tables(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(table)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == message


def test_a_bad_suite_exits_2_through_the_cli(repro: Repro, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(MINIMAL + 'rtol = "tight"\n')
    run = repro("replay", cwd=tmp_path)
    expected = f'repro: error: {_W} rtol: expected a number >= 0, got "tight"\n'
    assert (run.code, run.err) == (2, expected)
