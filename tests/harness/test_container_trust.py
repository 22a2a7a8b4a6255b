"""The host trusts nothing a container hands it: /out, the probe, the logs, the goldens."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import numpy as np
import pytest
from docker.models.containers import Container, ContainerCollection

from reprolock.harness import docker as harness_docker
from reprolock.harness import image, replay, runner, untrusted
from reprolock.harness.docker import DEADLINE_LABEL, DEADLINE_SLACK
from reprolock.harness.image import PROBE_MEMORY, PROBE_TIMEOUT, ensure_image, resolve_base_image
from reprolock.harness.lockfile import read_lock
from reprolock.harness.replay import RUNNER_GRACE, Session, run_suite
from reprolock.report.replay import EXCERPT_CHARS
from tests.harness.conftest import (
    BASE_IMAGE,
    PROJECT,
    Containers,
    Repro,
    suite_of,
    write_golden,
)
from tests.harness.npz_bombs import deflate_bomb
from tests.robustness.budget import PEAK_KIB

HOSTILE_MODULE = '''\
"""Entrypoints that attack the host through what they leave in /out."""

import json
import os
import shutil
import stat
import sys

import numpy as np

HOST_FILE = {host_file!r}


def _claim_success():
    with open("/out/result.json", "w") as handle:
        json.dump({{"status": "ok", "outputs": {{}}, "warnings": [], "facts": {{}}}}, handle)


def zero_result(inputs):
    os.symlink("/dev/zero", "/out/result.json")
    os._exit(0)


def fifo_result(inputs):
    os.mkfifo("/out/result.json")
    os._exit(0)


def deep_result(inputs):
    with open("/out/result.json", "w") as handle:
        handle.write("[" * 100000 + "]" * 100000)
    os._exit(0)


def host_outputs(inputs):
    _claim_success()
    os.symlink(HOST_FILE, "/out/outputs.npz")
    os._exit(0)


def bomb_outputs(inputs):
    _claim_success()
    shutil.copy("/work/src/bomb.npz", "/out/outputs.npz")
    os._exit(0)


def big_outputs(inputs):
    return {{"y": np.zeros(2**18)}}


def chatty(inputs):
    sys.stdout.write("x" * 20_000_000)
    sys.stdout.flush()
    os._exit(3)


def litter(inputs):
    with open("/out/setuid", "w") as handle:
        handle.write("#!/bin/sh\\n")
    os.chmod("/out/setuid", 0o6755)
    os.mkdir("/out/locked")
    with open("/out/locked/file", "w") as handle:
        handle.write("x")
    os.chmod("/out/locked", 0o500)
    os.makedirs("/out/hidden/sub")
    os.chmod("/out/hidden", 0)
    os.mkfifo("/out/fifo")
    os.chdir("/out")
    for _ in range(3000):
        os.mkdir("d")
        os.chdir("d")
    os.chmod(".", 0o500)
    return {{"y": inputs["X"]}}
'''

HOSTILE_SUITES: dict[str, dict[str, str]] = {
    "zero_result": {},
    "fifo_result": {},
    "deep_result": {},
    "host_outputs": {},
    "bomb_outputs": {},
    "big_outputs": {"max-output": '"1m"'},
    "chatty": {},
    "litter": {},
}


@pytest.fixture
def hostile_project(tmp_path: Path) -> Path:
    """A project whose entrypoints attack the host, on the segments lock (the same image)."""
    root = tmp_path / "hostile"
    (root / "src").mkdir(parents=True)
    secret = tmp_path / "host-secret.npz"
    np.savez(secret, secret=np.arange(3))
    module = HOSTILE_MODULE.format(host_file=str(secret))
    (root / "src" / "hostile.py").write_text(module, encoding="utf-8")
    deflate_bomb(root / "src" / "bomb.npz", mib=8)
    (root / "data").mkdir()
    np.savez(root / "data" / "inputs.npz", X=np.arange(12, dtype=np.float64).reshape(4, 3))
    # config paths stay inside the project: the lock is copied in
    (root / "locks").mkdir()
    shutil.copyfile(PROJECT / "locks" / "sklearn-1.3.2.txt", root / "locks" / "sklearn-1.3.2.txt")
    lock = "locks/sklearn-1.3.2.txt"
    tables = []
    for name, extra in HOSTILE_SUITES.items():
        lines = [
            f"[tool.repro.suites.{name}]",
            f'lock = "{lock}"',
            f'base-image = "{BASE_IMAGE}"',
            f'entrypoint = "hostile:{name}"',
            'inputs = "data/inputs.npz"',
            'source = ["src"]',
            'pythonpath = ["src"]',
            "timeout = 120",
            *(f"{key} = {value}" for key, value in extra.items()),
        ]
        tables.append("\n".join(lines))
    (root / "pyproject.toml").write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def session(docker_client: docker.DockerClient, harness_cache: Path) -> Session:
    return Session(client=docker_client, cache=harness_cache)


def _env(session: Session, lock: Path) -> Any:
    base = resolve_base_image(session.client, BASE_IMAGE, cache=session.cache)
    return ensure_image(session.client, read_lock(lock), base, cache=session.cache)


def _run(session: Session, project: Path, name: str) -> replay.RunResult:
    suite = suite_of(project, name)
    return run_suite(session, suite, _env(session, suite.lock_path))


# --- /out ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suite", "error"),
    [
        ("zero_result", "refused the run's output: /out/result.json: a symbolic link (refused)"),
        ("fifo_result", "refused the run's output: /out/result.json: not a regular file"),
        (
            "deep_result",
            "refused the run's output: /out/result.json: nested more than 64 levels deep",
        ),
        ("host_outputs", "refused the run's output: /out/outputs.npz: a symbolic link (refused)"),
        (
            "bomb_outputs",
            "refused the run's output: /out/outputs.npz declares 7.8 GiB of arrays, over its "
            "1.0 GiB limit",
        ),
        (
            "big_outputs",
            "refused the run's output: /out/outputs.npz is 2.0 MiB, over the suite's max-output "
            "(1m)",
        ),
    ],
)
def test_what_a_run_leaves_in_out_is_read_without_trust(
    session: Session, hostile_project: Path, containers: Containers, suite: str, error: str
) -> None:
    started = time.monotonic()
    run = _run(session, hostile_project, suite)
    assert (run.outputs, run.error) == (None, error)
    assert time.monotonic() - started < 60  # a FIFO does not hang the host


def test_a_host_file_is_never_recorded_as_the_golden(
    repro: Repro, hostile_project: Path, containers: Containers
) -> None:
    run = repro("golden", "record", "--suite", "host_outputs", cwd=hostile_project)
    assert run.code == 1
    assert run.err.splitlines()[-1] == (
        "repro: error: suite host_outputs is broken: refused the run's output: "
        "/out/outputs.npz: a symbolic link (refused)"
    )
    assert not (hostile_project / "golden").exists()


def test_a_deep_result_is_broken_in_the_report_not_changed(
    repro: Repro, hostile_project: Path, containers: Containers
) -> None:
    write_golden(suite_of(hostile_project, "deep_result"), {"y": np.zeros(4)})
    run = repro("replay", "--suite", "deep_result", "--format", "json", cwd=hostile_project)
    assert run.code == 1
    assert (run.json()["verdict"], run.json()["error"]) == (
        "broken",
        "refused the run's output: /out/result.json: nested more than 64 levels deep",
    )


def test_what_a_run_leaves_behind_is_plain_and_removed_whoever_the_host_is(
    session: Session,
    hostile_project: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}
    removed: list[Path] = []
    original = untrusted.remove_tree

    def inspect_then_remove(work: Path) -> str | None:
        out = work / "out"
        removed.append(work)
        seen["work_mode"] = stat.S_IMODE(work.stat().st_mode)
        seen["setuid"] = stat.S_IMODE((out / "setuid").stat().st_mode)
        seen["locked"] = stat.S_IMODE((out / "locked").stat().st_mode)
        # A host user that is neither root nor the container's user (the docker group's
        # member) owns the directories it made and must be able to empty them.
        for path in (work, out):
            os.chown(path, 4242, 4242)
        done = subprocess.run(
            ["rm", "-rf", "--", str(out)],
            user=4242,
            group=4242,
            extra_groups=[],
            capture_output=True,
            check=False,
        )
        seen["rm"] = (done.returncode, done.stderr[-300:])
        return original(work)

    monkeypatch.setattr(replay, "remove_tree", inspect_then_remove)
    run = _run(session, hostile_project, "litter")
    assert run.error is None
    assert seen == {"work_mode": 0o700, "setuid": 0o644, "locked": 0o777, "rm": (0, b"")}
    assert len(removed) == 1
    assert not removed[0].exists()


def test_a_run_that_cannot_be_cleaned_up_warns_in_one_line(
    docker_client: docker.DockerClient,
    harness_cache: Path,
    hostile_project: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warnings: list[str] = []
    works: list[Path] = []

    def refuse(work: Path) -> str:
        works.append(work)
        return f"{work}: cannot remove (out): Permission denied"

    monkeypatch.setattr(replay, "remove_tree", refuse)
    session = Session(client=docker_client, cache=harness_cache, warn=warnings.append)
    try:
        run = _run(session, hostile_project, "big_outputs")
        assert run.error is not None
        assert warnings == [
            f"warning: could not remove the run's temporary files: {works[0]}: cannot remove "
            "(out): Permission denied"
        ]
    finally:
        for work in works:
            untrusted.remove_tree(work)


def test_a_container_printing_without_end_keeps_a_small_log_and_a_short_excerpt(
    session: Session,
    hostile_project: Path,
    containers: Containers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes: list[int] = []
    original = harness_docker._remove

    def measure_then_remove(container: Container) -> None:
        container.reload()
        log = Path(container.attrs["LogPath"])
        sizes.append(sum(p.stat().st_size for p in log.parent.glob(log.name + "*")))
        original(container)

    monkeypatch.setattr(harness_docker, "_remove", measure_then_remove)
    run = _run(session, hostile_project, "chatty")
    assert run.error is not None
    assert run.error.startswith("the run exited with status 3 and no result:\n")
    assert len(run.error) <= EXCERPT_CHARS + 20
    assert run.error.endswith("x" * 1000)
    # 20 MB printed; the daemon keeps two files of 512 KiB (JSON-wrapped: a little more).
    assert sizes[0] < 1.5 * 2**20


# --- the probe and the run container -------------------------------------------------------


def test_the_probe_and_the_run_are_confined_and_carry_a_deadline(
    session: Session,
    hostile_project: Path,
    containers: Containers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[dict[str, Any]] = []
    original = ContainerCollection.create

    def spy(self: ContainerCollection, *args: Any, **kwargs: Any) -> Any:
        created.append({**kwargs, "command": args[1], "at": time.time()})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ContainerCollection, "create", spy)
    # A fresh cache: the base image is probed again.
    base = resolve_base_image(session.client, BASE_IMAGE, cache=tmp_path)
    suite = suite_of(hostile_project, "big_outputs")
    run_suite(session, suite, ensure_image(session.client, read_lock(suite.lock_path), base))
    probe, run = created
    assert probe["labels"]["reprolock.purpose"] == "probe"
    assert run["labels"]["reprolock.purpose"] == "run"
    for options, memory, life in (
        (probe, PROBE_MEMORY, PROBE_TIMEOUT + RUNNER_GRACE),
        (run, suite.memory_bytes, suite.timeout + RUNNER_GRACE),
    ):
        assert options["network_mode"] == "none"
        assert options["user"] == "10001:10001"
        assert options["read_only"] is True
        assert options["cap_drop"] == ["ALL"]
        assert options["security_opt"] == ["no-new-privileges"]
        assert (options["mem_limit"], options["memswap_limit"]) == (memory, memory)
        assert options["pids_limit"] > 0
        assert options["log_config"].config == {"max-size": "512k", "max-file": "2"}
        deadline = int(options["labels"][DEADLINE_LABEL])
        assert -1 <= deadline - (options["at"] + life + DEADLINE_SLACK) <= 2
    assert probe["entrypoint"] == ["python3"]
    assert run["entrypoint"] == [image.PYTHON]
    assert "supervise(125.0)" in probe["command"][1]
    assert run["command"][run["command"].index("--deadline") + 1] == "125.000"


# --- goldens -------------------------------------------------------------------------------


def test_a_deep_golden_json_is_unreadable_exit_3(repro: Repro, project: Path) -> None:
    suite = suite_of(project, "segments")
    suite.golden_json_path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    run = repro("replay", "--suite", "segments", cwd=project)
    assert run.code == 3
    assert run.err == (
        "repro: error: golden/segments/golden.json: unreadable golden: nested more than 64 "
        "levels deep\n"
    )


def _golden_bomb(project: Path) -> None:
    suite = suite_of(project, "segments")
    deflate_bomb(suite.golden_path, mib=18)
    meta = json.loads(suite.golden_json_path.read_text(encoding="utf-8"))
    meta["golden_sha256"] = replay.file_sha256(suite.golden_path)
    suite.golden_json_path.write_text(json.dumps(meta), encoding="utf-8")


_LIMITED_REPLAY = (
    PEAK_KIB
    + """\
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
from reprolock.cli import main
code = main(["replay", "--suite", "segments"])
print(peak_kib())
sys.exit(code)
"""
)


@pytest.fixture
def bomb_project(project: Path) -> Iterator[Path]:
    _golden_bomb(project)
    yield project
    shutil.rmtree(project / "golden", ignore_errors=True)


def test_an_18_mb_deflate_bomb_golden_is_refused_in_little_memory(
    bomb_project: Path, harness_cache: Path
) -> None:
    assert (bomb_project / "golden" / "segments" / "golden.npz").stat().st_size > 18 * 10**6
    done = subprocess.run(
        [sys.executable, "-c", _LIMITED_REPLAY],
        cwd=bomb_project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "REPROLOCK_CACHE_DIR": str(harness_cache)},
    )
    assert (done.returncode, done.stderr) == (
        3,
        "repro: error: golden/segments/golden.npz: unreadable golden: golden.npz declares "
        "17.6 GiB of arrays, over its 1.0 GiB limit\n",
    )
    peak_kib = int(done.stdout)
    assert peak_kib < 300 * 1024


def test_the_probe_script_runs_under_its_supervisor(tmp_path: Path) -> None:
    """The probe's Python: the supervisor's source stands alone and hands over to the probe."""
    flag, bootstrap, source = image.probe_command()
    done = subprocess.run(
        [sys.executable, flag, bootstrap.replace("supervise(125.0)", "supervise(30)"), source],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["implementation_name"] == "cpython"


def test_the_supervisor_stops_a_run_at_its_deadline(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """\
        import os, sys, time
        sys.path.insert(0, {where!r})
        import runner
        runner.supervise(1.0, {out!r})
        time.sleep(60)
        """
    ).format(where=str(Path(runner.__file__).parent), out=str(tmp_path))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=30)
    assert done.returncode == 124
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("source", ["src"], "source is not an object"),
        ("environment", "linux", "environment is not an object"),
        ("noise", {"labels": "loud"}, "noise of labels is not a number"),
        ("noise", {"labels": True}, "noise of labels is not a number"),
    ],
)
def test_a_golden_json_of_the_wrong_shape_is_unreadable(
    project: Path, field: str, value: Any, message: str
) -> None:
    suite = suite_of(project, "segments")
    meta = json.loads(suite.golden_json_path.read_text(encoding="utf-8"))
    meta[field] = value
    suite.golden_json_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(replay.GoldenError) as info:
        replay.load_golden(suite)
    assert str(info.value).endswith(
        f"golden.json: unreadable golden: {message} (record it again with "
        "`repro golden record --suite segments --force`)"
    )


def test_facts_of_the_wrong_shape_count_as_absent() -> None:
    assert replay.machine_fingerprint({"cpu": [1], "blas": "openblas"}) == {
        "cpu_model": None,
        "cpu_flags": [],
        "blas": [],
    }
    odd = {"cpu": {"model": "x", "flags": ["b", 1, "a"]}, "blas": [1, {"internal_api": "mkl"}]}
    assert replay.machine_fingerprint(odd) == {
        "cpu_model": "x",
        "cpu_flags": ["1", "a", "b"],
        "blas": [["mkl", ""]],
    }
