"""`repro merge`: job reports as one verdict (the worst, every suite's table, each job's
machine), a missing, unreadable or foreign report as an unanswered job (exit 3, named), the
mixes of a fanned-out bisect as its culprit; `repro bisect --known` reads what they found.
No Docker: the reports are written as `repro replay --output json=...` writes them."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reprolock.errors import UsageError
from reprolock.harness.bisection import ddmin, fan_out
from reprolock.harness.merge import learned_mixes
from reprolock.report.bisect import (
    BisectReport,
    Group,
    MixKind,
    MixResult,
    Outcome,
    Status,
    Step,
    StepKind,
    render_bisect,
)
from reprolock.report.replay import (
    Comparison,
    LockChange,
    Machine,
    OutputComparison,
    ReplayReport,
    ReportFormat,
    Verdict,
    render_json,
    render_text,
)
from tests.harness.conftest import LOCKS, PROJECT, Repro

ONE = Machine(
    cpu_model="CPU One",
    cpu_flags_sha256="a" * 64,
    blas=(("blas", "Haswell"), ("openmp", "")),
    base_image_id="sha256:" + "b" * 64,
    image_id="sha256:" + "c" * 64,
)
TWO = Machine(
    cpu_model="CPU Two",
    cpu_flags_sha256="d" * 64,
    blas=(("blas", "SkylakeX"),),
    base_image_id="sha256:" + "b" * 64,
    image_id="sha256:" + "e" * 64,
)
SKLEARN = LockChange(name="scikit-learn", old="1.3.2", new="1.4.2")
JOBLIB = LockChange(name="joblib", old="1.6.0", new="1.5.3")
THREADPOOLCTL = LockChange(name="threadpoolctl", old="3.8.0", new="3.5.0")


def replay(suite: str, verdict: Verdict, machine: Machine = ONE) -> ReplayReport:
    comparison = None
    if verdict is not Verdict.BROKEN:
        mismatches = {Verdict.IDENTICAL: 0, Verdict.WITHIN_TOLERANCE: 0}.get(verdict, 3)
        output = OutputComparison(
            name="labels",
            verdict=verdict,
            mismatches=mismatches,
            total=10,
            max_abs=None if verdict is Verdict.IDENTICAL else 2.5e-12,
            label_flips=mismatches,
            rtol=1e-9,
            atol=0.0,
        )
        comparison = Comparison(verdict=verdict, outputs=(output,))
    return ReplayReport(
        suite=suite,
        verdict=verdict,
        attributable=True,
        candidate_lock="new.txt",
        image="reprolock-env:0123",
        lock_diff=(SKLEARN,),
        comparison=comparison,
        machine_matches_golden=True,
        error="ImportError: no module named sklearn" if verdict is Verdict.BROKEN else None,
        machine=machine,
    )


def write(folder: Path, job: str, reports: Sequence[ReplayReport]) -> Path:
    """As `repro replay --suite ... --output json=report-<job>.json` writes it."""
    path = folder / f"report-{job}.json"
    path.write_text(render_json(reports, single=len(reports) == 1), encoding="utf-8")
    return path


def write_plan(folder: Path, jobs: Sequence[tuple[str, str, str]]) -> Path:
    """`repro plan --format github`: (id, suites, lock) per job."""
    include = [{"id": i, "suite": s, "lock": lock} for i, s, lock in jobs]
    path = folder / "plan.json"
    path.write_text(json.dumps({"include": include}), encoding="utf-8")
    return path


# --- replays ----------------------------------------------------------------------------------


def test_merged_replays_are_one_replays_report_with_each_jobs_machine(
    repro: Repro, tmp_path: Path
) -> None:
    segments = replay("segments", Verdict.IDENTICAL, ONE)
    pickled = replay("pickled", Verdict.CHANGED, TWO)
    churn = replay("churn", Verdict.WITHIN_TOLERANCE, TWO)
    write(tmp_path, "segments-1", [segments])
    write(tmp_path, "pickled-2", [pickled, churn])  # a packed job: two suites
    plan = write_plan(
        tmp_path,
        [("segments-1", "segments", "new.txt"), ("pickled-2", "pickled,churn", "new.txt")],
    )
    run = repro("merge", "--plan", str(plan), ".", cwd=tmp_path)
    assert run.code == 1, run.err
    # Each suite exactly as one `repro replay` over the same suites shows it, then the jobs.
    assert run.out == render_text([segments, pickled, churn]) + (
        "\n"
        "verdict: changed\n"
        "jobs: 2\n"
        "  segments-1  merged  CPU One (blas Haswell)\n"
        "  pickled-2   merged  CPU Two (blas SkylakeX)\n"
    )
    assert "labels  within-tolerance (rtol 1e-09, atol 0)" in run.out
    assert run.err == (
        "repro: merged 2 of 2 job reports; segments: identical; pickled: changed; "
        "churn: within-tolerance\n"
    )
    data = repro("merge", "--plan", str(plan), ".", "--format", "json", cwd=tmp_path).json()
    assert (data["verdict"], data["answered"], data["exit_code"]) == ("changed", True, 1)
    # Every suite's JSON as its job wrote it, machine facts and tolerances included.
    assert data["suites"] == [segments.to_dict(), pickled.to_dict(), churn.to_dict()]
    assert data["bisects"] == []
    assert data["jobs"] == [
        {
            "id": "segments-1",
            "report": "report-segments-1.json",
            "state": "merged",
            "suites": ["segments"],
            "lock": "new.txt",
            "mixes": [],
            "machines": [ONE.to_dict()],
            "error": None,
        },
        {
            "id": "pickled-2",
            "report": "report-pickled-2.json",
            "state": "merged",
            "suites": ["pickled", "churn"],
            "lock": "new.txt",
            "mixes": [],
            "machines": [TWO.to_dict(), TWO.to_dict()],
            "error": None,
        },
    ]


@pytest.mark.parametrize(
    ("verdicts", "code", "verdict"),
    [
        ([Verdict.IDENTICAL, Verdict.IDENTICAL], 0, "identical"),
        ([Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE], 0, "within-tolerance"),
        ([Verdict.CHANGED, Verdict.IDENTICAL], 1, "changed"),
        ([Verdict.CHANGED, Verdict.BROKEN], 1, "broken"),
    ],
)
def test_the_worst_verdict_and_the_exit_code_of_one_replay(
    repro: Repro, tmp_path: Path, verdicts: list[Verdict], code: int, verdict: str
) -> None:
    for index, each in enumerate(verdicts):
        write(tmp_path, f"s{index}-x", [replay(f"s{index}", each)])
    run = repro("merge", ".", cwd=tmp_path)
    assert run.code == code, run.err
    assert f"\nverdict: {verdict}\n" in run.out


def test_markdown_for_the_pull_request_comment(repro: Repro, tmp_path: Path) -> None:
    write(tmp_path, "segments-1", [replay("segments", Verdict.CHANGED, ONE)])
    write_plan(tmp_path, [("segments-1", "segments", ""), ("pickled-2", "pickled", "")])
    run = repro(
        "merge", "--plan", "plan.json", ".", "--format", "markdown",
        "--output", "json=merged.json", cwd=tmp_path,
    )  # fmt: skip
    assert run.code == 3
    assert run.out == (
        "## reprolock merge\n"
        "\n"
        "**changed** over 2 jobs.\n"
        "\n"
        "> **Not answered**: job `pickled-2` (pickled): missing: no report "
        "report-pickled-2.json: the job failed, or its artifact was not kept\n"
        "\n"
        "### `segments`: **changed**\n"
        "\n"
        "Candidate: `new.txt`; attributable: yes.\n"
        "\n"
        "| package | old | new |\n"
        "|---|---|---|\n"
        "| scikit-learn | 1.3.2 | 1.4.2 |\n"
        "\n"
        "Compared with the golden outputs:\n"
        "\n"
        "| output | verdict | mismatches | max abs | max rel | max ULP | flips |\n"
        "|---|---|---|---|---|---|---|\n"
        "| `labels` | changed | 3/10 | 2.5e-12 | - | - | 3 |\n"
        "\n"
        "### Jobs\n"
        "\n"
        "| job | suites | state | machine |\n"
        "|---|---|---|---|\n"
        "| `segments-1` | segments | merged | CPU One (blas Haswell) |\n"
        "| `pickled-2` | pickled | missing | — |\n"
    )
    written = json.loads((tmp_path / "merged.json").read_text())
    assert (written["verdict"], written["answered"], written["exit_code"]) == ("changed", False, 3)


# --- unanswered jobs ----------------------------------------------------------------------------


def test_a_missing_report_is_unanswered_never_a_pass(repro: Repro, tmp_path: Path) -> None:
    write(tmp_path, "segments-1", [replay("segments", Verdict.IDENTICAL)])
    plan = write_plan(
        tmp_path, [("segments-1", "segments", "new.txt"), ("pickled-2", "pickled", "new.txt")]
    )
    run = repro("merge", "--plan", str(plan), "report-segments-1.json", cwd=tmp_path)
    assert run.code == 3
    missing = "no report report-pickled-2.json: the job failed, or its artifact was not kept"
    assert run.out.endswith(
        "verdict: identical\n"
        f"not answered: job pickled-2 (suite pickled, lock new.txt): missing: {missing}\n"
        "jobs: 2\n"
        "  segments-1  merged   CPU One (blas Haswell)\n"
        "  pickled-2   missing  -\n"
    )
    assert run.err == (
        "repro: merged 1 of 2 job reports; segments: identical; "
        f"job pickled-2: missing ({missing})\n"
    )
    data = repro("merge", "--plan", str(plan), ".", "--format", "json", cwd=tmp_path).json()
    assert (data["answered"], data["exit_code"]) == (False, 3)
    assert data["jobs"][1] == {
        "id": "pickled-2",
        "report": "report-pickled-2.json",
        "state": "missing",
        "suites": ["pickled"],
        "lock": "new.txt",
        "mixes": [],
        "machines": [],
        "error": missing,
    }


def _replay_dict(**changes: Any) -> dict[str, Any]:
    data = replay("pickled", Verdict.CHANGED).to_dict()
    data.update(changes)
    return data


def _bisect_culprits() -> dict[str, Any]:
    report = BisectReport(
        replay=replay("pickled", Verdict.CHANGED),
        status=Status.CULPRITS,
        culprits=(SKLEARN,),
        groups=(Group(changes=(SKLEARN,)),),
    )
    return json.loads(render_bisect(ReportFormat.JSON, report))  # type: ignore[no-any-return]


BAD_REPORTS: list[tuple[str, Any, str]] = [
    ("not json", "{", "report-pickled-2.json: not valid JSON: "),
    ("a list", [], "report-pickled-2.json: (top): expected an object, got an array"),
    ("foreign", {"hello": 1}, "report-pickled-2.json: schema: missing"),
    (
        "other schema",
        _replay_dict(schema=99),
        "report-pickled-2.json: schema: expected schema 1, got a number",
    ),
    (
        "bad verdict",
        _replay_dict(verdict="fine"),
        "report-pickled-2.json: verdict: expected one of identical, within-tolerance, changed, "
        "broken, got the string 'fine'",
    ),
    (
        "headline contradicts the table",
        _replay_dict(verdict="identical"),
        "report-pickled-2.json: outputs: the outputs' worst verdict is changed, the report says "
        "identical",
    ),
    (
        "a repro bisect report",
        _bisect_culprits(),
        "report-pickled-2.json: bisect.status: culprits: a report of `repro bisect`, not of a "
        "`repro replay` job (merge takes those)",
    ),
    (
        "another suite",
        replay("segments", Verdict.IDENTICAL).to_dict(),
        "report-pickled-2.json: holds suites segments, the plan says pickled",
    ),
    (
        "another candidate",
        _replay_dict(candidate={"lock": "other.txt", "image": None}),
        "report-pickled-2.json: replayed other.txt, the plan says new.txt",
    ),
]


@pytest.mark.parametrize(("content", "message"), [(c, m) for _, c, m in BAD_REPORTS], ids=[
    name for name, _, _ in BAD_REPORTS
])  # fmt: skip
def test_an_unreadable_or_foreign_report_is_unanswered_and_named(
    repro: Repro, tmp_path: Path, content: Any, message: str
) -> None:
    write(tmp_path, "segments-1", [replay("segments", Verdict.IDENTICAL)])
    text = content if isinstance(content, str) else json.dumps(content)
    (tmp_path / "report-pickled-2.json").write_text(text, encoding="utf-8")
    plan = write_plan(
        tmp_path, [("segments-1", "segments", "new.txt"), ("pickled-2", "pickled", "new.txt")]
    )
    run = repro("merge", "--plan", str(plan), ".", cwd=tmp_path)
    assert run.code == 3, run.err
    line = next(line for line in run.out.splitlines() if line.startswith("not answered: "))
    assert line.startswith(
        f"not answered: job pickled-2 (suite pickled, lock new.txt): unreadable: {message}"
    )
    assert run.err.startswith(
        "repro: merged 1 of 2 job reports; segments: identical; job pickled-2"
    )


def test_a_symlinked_or_special_report_is_not_followed(repro: Repro, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    outside.write_text(json.dumps(replay("pickled", Verdict.IDENTICAL).to_dict()))
    reports = tmp_path / "reports"
    reports.mkdir()
    write(reports, "segments-1", [replay("segments", Verdict.IDENTICAL)])
    (reports / "report-pickled-2.json").symlink_to(outside)
    os.mkfifo(reports / "report-churn-3.json")
    run = repro("merge", "reports", cwd=tmp_path)
    assert run.code == 3
    states = [line.split()[:2] for line in run.out.split("jobs: 3\n")[1].splitlines()]
    assert states == [
        ["churn-3", "unreadable"],
        ["pickled-2", "unreadable"],
        ["segments-1", "merged"],
    ]
    assert "job churn-3: unreadable (reports/report-churn-3.json: not a regular file)" in run.err
    assert (
        "job pickled-2: unreadable (reports/report-pickled-2.json: a symbolic link (refused))"
        in run.err
    )


def test_usage_errors_exit_2(repro: Repro, tmp_path: Path) -> None:
    write(tmp_path, "segments-1", [replay("segments", Verdict.IDENTICAL)])
    plan = write_plan(tmp_path, [("pickled-2", "pickled", "")])
    cases = [
        ((), "nothing to merge: name the reports (files or directories), or --plan"),
        (("--plan", "nope.json"), "--plan nope.json: no such file"),
        (("--plan", str(plan), "."), "report-segments-1.json: no job segments-1 in the plan"),
        (
            ("report-segments-1.json", "./report-segments-1.json"),
            "report-segments-1.json: job segments-1 already has a report (report-segments-1.json)",
        ),
    ]
    for argv, message in cases:
        run = repro("merge", *argv, cwd=tmp_path)
        assert (run.code, run.out, run.err) == (2, "", f"repro: error: {message}\n"), argv


# --- the mixes of a fanned-out bisect ---------------------------------------------------------


GROUPS = (Group(changes=(JOBLIB,)), Group(changes=(SKLEARN,)), Group(changes=(THREADPOOLCTL,)))
MIXES = fan_out(GROUPS)


def mix_job(folder: Path, job: str, indexes: Sequence[int], outcomes: Sequence[Outcome]) -> str:
    """The report of `repro replay --mix ...` for the mixes ``indexes`` of MIXES."""
    candidate = Step(
        number=1,
        kind=StepKind.CANDIDATE,
        moved=(JOBLIB, SKLEARN, THREADPOOLCTL),
        outcome=Outcome.REPRODUCES,
        verdict=Verdict.CHANGED,
        image="reprolock-env:cand",
        reused=True,
        seconds=3.0,
    )
    results: list[MixResult] = []
    for index, outcome in zip(indexes, outcomes, strict=True):
        mix = MIXES[index]
        step = Step(
            number=len(results) + 2,
            kind=StepKind.MIX,
            moved=mix.moved,
            outcome=outcome,
            verdict=Verdict.CHANGED if outcome is Outcome.REPRODUCES else Verdict.IDENTICAL,
            image=f"reprolock-env:{index}",
            reused=False,
            seconds=9.0,
        )
        results.append(MixResult(id=mix.id, kind=mix.kind, group=mix.group, step=step))
    lead = replay("segments", Verdict.CHANGED)
    report = BisectReport(
        replay=ReplayReport(**{**_fields(lead), "lock_diff": (JOBLIB, SKLEARN, THREADPOOLCTL)}),
        status=Status.TESTED,
        groups=GROUPS,
        steps=(candidate, *(r.step for r in results)),
        mixes=tuple(results),
    )
    (folder / f"report-{job}.json").write_text(render_bisect(ReportFormat.JSON, report))
    return ",".join(MIXES[i].id for i in indexes)


def _fields(report: ReplayReport) -> dict[str, Any]:
    return {name: getattr(report, name) for name in ReplayReport.__slots__}


def bisect_plan(folder: Path, jobs: Sequence[tuple[str, str]]) -> Path:
    include = [{"id": i, "suite": "segments", "lock": "new.txt", "mix": m} for i, m in jobs]
    path = folder / "plan.json"
    path.write_text(json.dumps({"include": include}), encoding="utf-8")
    return path


P, R = Outcome.PASSES, Outcome.REPRODUCES


def test_one_round_of_mixes_names_the_single_culprit(repro: Repro, tmp_path: Path) -> None:
    first = mix_job(tmp_path, "m1", [0, 1, 2], [P, R, P])
    second = mix_job(tmp_path, "m2", [3, 4, 5], [R, P, R])
    plan = bisect_plan(tmp_path, [("m1", first), ("m2", second)])
    run = repro("merge", "--plan", str(plan), ".", cwd=tmp_path)
    assert run.code == 1, run.err
    assert "  culprit: scikit-learn 1.3.2 -> 1.4.2\n" in run.out
    assert f"  mix {MIXES[1].id}: reproduces (job m1)\n" in run.out
    assert f"  mix {MIXES[4].id}: passes (job m2)\n" in run.out
    assert "(6 mixes in one round of 2 jobs)" in run.out
    assert run.err == (
        "repro: merged 2 of 2 job reports; segments: changed; culprit: scikit-learn "
        "1.3.2 -> 1.4.2 (7 environments, 6 built)\n"
    )
    merged = repro("merge", "--plan", str(plan), ".", "--format", "json", cwd=tmp_path).json()
    (bisect,) = merged["bisects"]
    assert (bisect["culprits"], bisect["bisect"]["status"]) == (["scikit-learn"], "culprits")
    assert [(m["id"], m["outcome"], m["job"]) for m in bisect["mixes"]] == [
        (MIXES[0].id, "passes", "m1"),
        (MIXES[1].id, "reproduces", "m1"),
        (MIXES[2].id, "passes", "m1"),
        (MIXES[3].id, "reproduces", "m2"),
        (MIXES[4].id, "passes", "m2"),
        (MIXES[5].id, "reproduces", "m2"),
    ]
    # `repro bisect --known` takes what the round learned.
    (tmp_path / "merged.json").write_text(json.dumps(merged))
    learned = learned_mixes(tmp_path / "merged.json", suite="segments", lock="./new.txt")
    assert [(m.id, m.kind, m.group, m.step.outcome, m.job) for m in learned] == [
        (MIXES[0].id, MixKind.ONLY, 0, P, "m1"),
        (MIXES[1].id, MixKind.ONLY, 1, R, "m1"),
        (MIXES[2].id, MixKind.ONLY, 2, P, "m1"),
        (MIXES[3].id, MixKind.WITHOUT, 0, R, "m2"),
        (MIXES[4].id, MixKind.WITHOUT, 1, P, "m2"),
        (MIXES[5].id, MixKind.WITHOUT, 2, R, "m2"),
    ]
    with pytest.raises(UsageError) as other:
        learned_mixes(tmp_path / "merged.json", suite="pickled", lock="new.txt")
    assert str(other.value) == (
        f"--known {tmp_path / 'merged.json'}: no bisect of suite pickled with new.txt in it"
    )


def test_no_group_alone_is_an_interaction_for_the_sequential_bisect(
    repro: Repro, tmp_path: Path
) -> None:
    first = mix_job(tmp_path, "m1", [0, 1, 2], [P, P, P])
    second = mix_job(tmp_path, "m2", [3, 4, 5], [P, R, P])
    plan = bisect_plan(tmp_path, [("m1", first), ("m2", second)])
    run = repro("merge", "--plan", str(plan), ".", cwd=tmp_path)
    assert run.code == 1, run.err
    reason = (
        "the change needs several groups together; without any one of joblib; threadpoolctl it "
        "does not reproduce; `repro bisect --known` goes on from these mixes"
    )
    assert f"  bisect: no group of updates reproduces the change alone: {reason}\n" in run.out
    assert "culprit" not in run.out
    merged = repro("merge", "--plan", str(plan), ".", "--format", "json", cwd=tmp_path).json()
    assert merged["bisects"][0]["bisect"]["status"] == "interaction"
    # The sequential search starts from the smallest set known to reproduce, and tests no
    # subset again: here {joblib, threadpoolctl} (without scikit-learn) is the answer.
    (tmp_path / "merged.json").write_text(json.dumps(merged))
    learned = learned_mixes(tmp_path / "merged.json", suite="segments", lock="new.txt")
    known = {
        tuple(sorted({GROUPS.index(Group(changes=(c,))) for c in m.step.moved})): m.step.outcome
        for m in learned
    }
    tested: list[tuple[int, ...]] = []

    def test(subset: tuple[int, ...]) -> Outcome:
        tested.append(subset)
        return R if set(subset) >= {0, 2} else P

    found = ddmin(3, test, learned=known)
    assert (found.culprits, tested) == ((0, 2), [])


def test_jobs_that_disagree_on_the_candidate_leave_the_bisect_unanswered(
    repro: Repro, tmp_path: Path
) -> None:
    first = mix_job(tmp_path, "m1", [0, 1, 2], [P, R, P])
    data = json.loads((tmp_path / "report-m1.json").read_text())
    second = mix_job(tmp_path, "m2", [3, 4, 5], [R, P, R])
    other = json.loads((tmp_path / "report-m2.json").read_text())
    other["bisect"]["groups"] = data["bisect"]["groups"][:2]
    other["mixes"] = []
    other["bisect"]["status"] = "nothing-to-bisect"
    other["verdict"] = "identical"
    other["outputs"]["labels"]["verdict"] = "identical"
    (tmp_path / "report-m2.json").write_text(json.dumps(other))
    plan = bisect_plan(tmp_path, [("m1", first), ("m2", second)])
    run = repro("merge", "--plan", str(plan), ".", cwd=tmp_path)
    assert run.code == 3, run.err
    assert (
        "  bisect: unanswered: jobs m1 and m2 grouped the updates differently (their base "
        "images or wheels differ)\n"
    ) in run.out


def test_bisect_known_refuses_a_file_without_this_bisect_before_any_work(
    repro: Repro, tmp_path: Path
) -> None:
    root = shutil.copytree(PROJECT, tmp_path / "kmeans")
    shutil.copy(LOCKS / "sklearn-1.4.2.txt", root / "new.txt")
    first = mix_job(tmp_path, "m1", [0, 1, 2], [P, R, P])
    plan = bisect_plan(tmp_path, [("m1", first)])
    merged = repro("merge", "--plan", str(plan), str(tmp_path / "report-m1.json"), cwd=tmp_path)
    assert merged.code == 1, merged.err
    (root / "merged.json").write_text(
        repro("merge", str(tmp_path / "report-m1.json"), "--format", "json", cwd=tmp_path).out
    )
    (root / "replay.json").write_text(json.dumps(replay("segments", Verdict.CHANGED).to_dict()))
    errors = []
    for known in ("nope.json", "merged.json", "replay.json"):
        run = repro("bisect", "--suite", "pickled", "--lock", "new.txt", "--known", known, cwd=root)
        assert (run.code, run.out) == (2, ""), run.err
        errors.append(run.err)
    assert errors == [
        "repro: error: --known nope.json: missing\n",
        "repro: error: --known merged.json: no bisect of suite pickled with new.txt in it\n",
        "repro: error: --known replay.json: bisects: missing\n",
    ]
