"""The matrix played locally, in Docker: `repro plan`, every job its own `repro` process (two at
a time, as two runners would), `repro merge` of their reports; the same verdicts, culprits and
exit code as one process over the same work. The wheel cache and images the session built are
reused (a runner restoring `repro cache key`'s cache), so only what is new is built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker

from tests.harness.conftest import LOCKS, Containers, Repro

CANDIDATE = LOCKS / "sklearn-1.4.2-joblib-threadpoolctl.txt"
"""update-demo's upgraded lock: scikit-learn 1.3.2 -> 1.4.2 (the change), joblib and
threadpoolctl to their bounds (no change)."""
PARALLEL = 2


def _repro() -> list[str]:
    return [sys.executable, "-m", "reprolock"]


def play(jobs: Sequence[Sequence[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Run every job's ``repro ...`` as its own process, ``PARALLEL`` at a time."""
    done: list[subprocess.CompletedProcess[str]] = []
    pending = list(jobs)
    while pending:
        batch, pending = pending[:PARALLEL], pending[PARALLEL:]
        processes = [
            (
                argv,
                subprocess.Popen(
                    [*_repro(), *argv],
                    cwd=cwd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=os.environ.copy(),
                ),
            )
            for argv in batch
        ]
        for argv, process in processes:
            out, err = process.communicate(timeout=1800)
            done.append(subprocess.CompletedProcess(list(argv), process.returncode, out, err))
    return done


def workflow_argv(entry: dict[str, str]) -> list[str]:
    """What a matrix job of the workflows runs for one ``include`` entry of the plan."""
    argv = ["replay", "--suite", entry["suite"], "--lock", entry["lock"]]
    if entry.get("mix"):
        argv += ["--mix", entry["mix"]]
    return [*argv, "--format", "json", "--output", f"json=report-{entry['id']}.json"]


def _suites(data: dict[str, Any]) -> list[dict[str, Any]]:
    suites: list[dict[str, Any]] = data.get("suites", [data])
    return suites


def test_a_replay_matrix_merges_to_what_one_replay_says(
    repro: Repro, project: Path, docker_client: docker.DockerClient
) -> None:
    (project / "candidate.txt").write_text(CANDIDATE.read_text())
    planned = repro("plan", "--lock", "candidate.txt", "--format", "github", cwd=project)
    assert planned.code == 0, planned.err
    (project / "plan.json").write_text(planned.out)
    include = json.loads(planned.out)["include"]
    assert [(entry["suite"], entry["lock"]) for entry in include] == [
        ("segments", "candidate.txt"),
        ("pickled", "candidate.txt"),
    ]
    jobs = play([workflow_argv(entry) for entry in include], project)
    for job in jobs:
        assert job.returncode in {0, 1}, job.stderr
        assert not job.stderr.count("Traceback"), job.stderr

    one = repro("replay", "--lock", "candidate.txt", "--format", "json", cwd=project)
    merged = repro("merge", "--plan", "plan.json", ".", "--format", "json", cwd=project)
    assert one.code in {0, 1}, one.err
    assert merged.code == one.code, merged.err
    single, data = one.json(), merged.json()
    assert (data["verdict"], data["answered"]) == (single["verdict"], True)
    # Each suite's report as one process gives it: same verdicts, same tables, same images.
    assert data["suites"] == _suites(single)
    assert [suite["verdict"] for suite in data["suites"]] == ["changed", "broken"]
    assert [job["state"] for job in data["jobs"]] == ["merged", "merged"]
    for job in data["jobs"]:
        (machine,) = job["machines"]
        assert machine["base_image_id"] == single["suites"][0]["machine"]["base_image_id"]
    text = repro("merge", "--plan", "plan.json", ".", cwd=project)
    assert text.code == one.code
    assert text.out.startswith(
        repro("replay", "--lock", "candidate.txt", cwd=project).out.rstrip("\n")
    )


def test_one_matrix_round_names_the_single_culprit_of_the_update_demo(
    repro: Repro, demo: Path, containers: Containers
) -> None:
    (demo / "candidate.txt").write_text(CANDIDATE.read_text())
    started = time.monotonic()
    planned = repro(
        "plan", "--bisect", "--suite", "segments", "--lock", "candidate.txt", "--max-jobs",
        str(PARALLEL), cwd=demo,
    )  # fmt: skip
    assert planned.code == 0, planned.err
    plan = planned.json()
    (demo / "plan.json").write_text(planned.out)
    assert (plan["kind"], plan["units"], len(plan["jobs"])) == ("bisect", 6, PARALLEL)
    mixes = [mix for job in plan["jobs"] for mix in job["mixes"]]
    assert [mix.split("-")[0] + "-" + mix.split("-")[1] for mix in mixes] == [
        "only-joblib",
        "only-scikit",
        "only-threadpoolctl",
        "without-joblib",
        "without-scikit",
        "without-threadpoolctl",
    ]
    jobs = play([job["argv"][1:] for job in plan["jobs"]], demo)
    for job in jobs:
        assert job.returncode == 1, job.stderr  # the candidate changes the segments
    round_seconds = time.monotonic() - started

    merged = repro("merge", "--plan", "plan.json", ".", "--format", "json", cwd=demo)
    assert merged.code == 1, merged.err
    (bisect,) = merged.json()["bisects"]
    assert bisect["culprits"] == ["scikit-learn"]
    assert bisect["culprit_updates"] == [{"name": "scikit-learn", "old": "1.3.2", "new": "1.4.2"}]
    assert bisect["bisect"]["status"] == "culprits"
    assert [(mix["id"].split("-")[0], mix["outcome"]) for mix in bisect["mixes"]] == [
        ("only", "passes"),
        ("only", "reproduces"),
        ("only", "passes"),
        ("without", "reproduces"),
        ("without", "passes"),
        ("without", "reproduces"),
    ]
    (demo / "merged.json").write_text(merged.out)
    text = repro("merge", "--plan", "plan.json", ".", cwd=demo)
    assert "  culprit: scikit-learn 1.3.2 -> 1.4.2\n" in text.out
    assert f"(6 mixes in one round of {PARALLEL} jobs)" in text.out

    # One process, sequentially: the same culprit and exit code, every mix already built.
    started = time.monotonic()
    one = repro("bisect", "--suite", "segments", "--lock", "candidate.txt", "--format", "json",
                cwd=demo)  # fmt: skip
    sequential_seconds = time.monotonic() - started
    assert one.code == merged.code == 1, one.err
    single = one.json()
    assert (single["culprits"], single["culprit_updates"]) == (
        bisect["culprits"],
        bisect["culprit_updates"],
    )
    assert single["bisect"]["built"] == 0
    # From what the round learned, nothing is left to test.
    known = repro("bisect", "--suite", "segments", "--lock", "candidate.txt", "--known",
                  "merged.json", "--format", "json", cwd=demo)  # fmt: skip
    assert known.code == 1, known.err
    report = known.json()
    assert report["culprits"] == ["scikit-learn"]
    assert [step["kind"] for step in report["steps"]] == ["candidate"] + ["known"] * 6
    # A mix this candidate does not have is refused before anything is built.
    wrong = repro("replay", "--suite", "segments", "--lock", "candidate.txt", "--mix",
                  "only-numpy-abcdef", cwd=demo)  # fmt: skip
    assert (wrong.code, wrong.out) == (2, "")
    assert wrong.err.splitlines()[-1].startswith(
        "repro: error: --mix only-numpy-abcdef: not a mix of suite segments and this candidate "
        "(its mixes: only-joblib-"
    )
    print(f"one matrix round: {round_seconds:.1f} s; sequential bisect after it: "
          f"{sequential_seconds:.1f} s")  # fmt: skip
