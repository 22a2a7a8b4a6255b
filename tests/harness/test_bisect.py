"""`repro bisect`: grouping by Requires-Dist, ddmin, the mix check, and real bisects in Docker."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import docker
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from reprolock.harness.bisection import (
    GraphEdge,
    classify,
    ddmin,
    group_updates,
    requires_dist,
    unmet,
)
from reprolock.harness.docker import managed_container
from reprolock.harness.image import ensure_image, resolve_base_image
from reprolock.harness.lockfile import Lock, read_lock
from reprolock.harness.wheelhouse import fetch_wheels
from reprolock.report.bisect import (
    BisectReport,
    Group,
    Outcome,
    Status,
    Step,
    StepKind,
    budget,
    render_bisect,
    summary,
)
from reprolock.report.replay import SCHEMA, LockChange, ReplayReport, ReportFormat, Verdict
from tests.harness.conftest import BASE_IMAGE, LOCKS, PROJECT, Containers, Repro

MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "6.1.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.11.2",
    "python_version": "3.11",
    "sys_platform": "linux",
}


def change(name: str, old: str | None, new: str | None) -> LockChange:
    return LockChange(name=name, old=old, new=new)


def requires(**table: Sequence[str]) -> dict[tuple[str, str], list[Requirement]]:
    """``requires(**{"scikit-learn==1.4.2": ["joblib>=1.2"]})``: Requires-Dist by pin."""
    out: dict[tuple[str, str], list[Requirement]] = {}
    for pin, lines in table.items():
        name, version = pin.split("==")
        out[(name, version)] = [Requirement(line) for line in lines]
    return out


def names(groups: Iterable[Group]) -> list[tuple[str, ...]]:
    return [group.names for group in groups]


# --- grouping (synthetic Requires-Dist, no Docker) ------------------------------------------


def test_independent_updates_are_groups_of_one() -> None:
    changes = [
        change("scikit-learn", "1.3.2", "1.4.2"),
        change("joblib", "1.6.0", "1.5.3"),
        change("threadpoolctl", "3.8.0", "3.5.0"),
    ]
    deps = requires(
        **{
            "scikit-learn==1.3.2": ["joblib>=1.1.1", "threadpoolctl>=2.0.0", "numpy>=1.17.3"],
            "scikit-learn==1.4.2": ["joblib>=1.2.0", "threadpoolctl>=2.0.0", "numpy>=1.19.5"],
            "joblib==1.6.0": ["cloudpickle>=3"],
        }
    )
    groups = group_updates(changes, deps, MARKERS)
    assert names(groups) == [("joblib",), ("scikit-learn",), ("threadpoolctl",)]
    assert all(group.reasons == () for group in groups)


def test_a_new_version_needing_a_new_dependency_ties_them() -> None:
    changes = [change("scikit-learn", "1.3.2", "1.5.0"), change("joblib", "1.1.1", "1.4.2")]
    deps = requires(**{"scikit-learn==1.5.0": ["joblib>=1.2.0"]})
    (group,) = group_updates(changes, deps, MARKERS)
    assert group.names == ("joblib", "scikit-learn")
    assert group.reasons == (
        "scikit-learn 1.5.0 requires joblib>=1.2.0; the suite's lock has joblib 1.1.1",
    )


def test_an_old_version_capping_a_dependency_ties_them() -> None:
    # scipy stays at its old version unless it moves with numpy: the old one caps numpy.
    changes = [change("numpy", "1.26.4", "2.0.0"), change("scipy", "1.11.4", "1.14.0")]
    deps = requires(
        **{"scipy==1.11.4": ["numpy<1.28.0,>=1.21.6"], "scipy==1.14.0": ["numpy>=1.23.5"]}
    )
    (group,) = group_updates(changes, deps, MARKERS)
    assert group.names == ("numpy", "scipy")
    assert group.reasons == (
        "scipy 1.11.4 requires numpy<1.28.0,>=1.21.6; the candidate has numpy 2.0.0",
    )


def test_added_and_removed_packages_follow_what_needs_them() -> None:
    changes = [
        change("joblib", "1.5.3", "1.6.0"),
        change("cloudpickle", None, "3.1.3"),  # new in the candidate, for joblib 1.6
        change("loky", "3.4.1", None),  # the old joblib needed it
        change("rich", "13.7.0", "13.9.0"),
    ]
    deps = requires(**{"joblib==1.6.0": ["cloudpickle>=3"], "joblib==1.5.3": ["loky>=3"]})
    groups = group_updates(changes, deps, MARKERS)
    assert names(groups) == [("cloudpickle", "joblib", "loky"), ("rich",)]
    assert set(groups[0].reasons) == {
        "joblib 1.6.0 requires cloudpickle>=3; the suite's lock has no cloudpickle",
        "joblib 1.5.3 requires loky>=3; the candidate has no loky",
    }


def test_ties_are_transitive() -> None:
    changes = [change("a", "1", "2"), change("b", "1", "2"), change("c", "1", "2")]
    deps = requires(**{"a==2": ["b>=2"], "b==2": ["c>=2"]})
    (group,) = group_updates(changes, deps, MARKERS)
    assert group.names == ("a", "b", "c")
    assert len(group.reasons) == 2


@pytest.mark.parametrize(
    ("line", "tied"),
    [
        ("b>=2; python_version < '3.8'", False),  # not for this Python
        ("b>=2; sys_platform == 'win32'", False),
        ("b>=2; extra == 'tests'", False),  # extras are not installed
        ("b>=2; python_version >= '3.11'", True),
        ("b>=1", False),  # the old b satisfies it
        ("bb>=2", False),  # another package
        ("B>=2", True),  # names are canonical
        ("b>=2rc1", True),
    ],
)
def test_markers_extras_and_names_are_evaluated_for_the_target(line: str, tied: bool) -> None:
    changes = [change("a", "1", "2"), change("b", "1", "2")]
    groups = group_updates(changes, requires(**{"a==2": [line]}), MARKERS)
    assert len(groups) == (1 if tied else 2)


def test_prereleases_count_as_satisfying() -> None:
    changes = [change("a", "1", "2"), change("b", "3.0rc1", "3.0")]
    groups = group_updates(changes, requires(**{"a==2": ["b>=2"]}), MARKERS)
    assert names(groups) == [("a",), ("b",)]


def test_unchanged_packages_never_join_a_group() -> None:
    changes = [change("a", "1", "2")]
    deps = requires(**{"a==2": ["numpy>=2"], "a==1": ["numpy<2"]})
    assert names(group_updates(changes, deps, MARKERS)) == [("a",)]


def test_the_lock_graph_ties_what_metadata_does_not_say() -> None:
    changes = [change("a", "1", "2"), change("b", "1", "2"), change("c", "1", None)]
    new_edges = [GraphEdge(name="a", version="2", on="b", on_version="2")]
    old_edges = [GraphEdge(name="a", version="1", on="c")]
    groups = group_updates(changes, {}, MARKERS, old_edges=old_edges, new_edges=new_edges)
    assert names(groups) == [("a", "b", "c")]
    assert set(groups[0].reasons) == {
        "the lock's graph has a 2 depend on b 2; the suite's lock has b 1",
        "the lock's graph has a 1 depend on c; the candidate has no c",
    }
    # An edge the other side satisfies ties nothing.
    loose = [GraphEdge(name="a", version="2", on="b")]
    assert len(group_updates(changes, {}, MARKERS, new_edges=loose)) == 3


def test_every_mix_of_whole_groups_is_consistent() -> None:
    """The property the grouping exists for, checked exhaustively on a tangled example."""
    changes = [
        change("torch", "2.2.0", "2.3.0"),
        change("triton", "2.2.0", "2.3.0"),
        change("numpy", "1.26.4", "2.0.0"),
        change("scipy", "1.11.4", "1.14.0"),
        change("pandas", "2.1.0", "2.2.2"),
        change("tzdata", None, "2024.1"),
        change("rich", "13.7.0", "13.9.0"),
    ]
    deps = requires(
        **{
            "torch==2.2.0": ["triton==2.2.0; platform_system == 'Linux'"],
            "torch==2.3.0": ["triton==2.3.0; platform_system == 'Linux'", "numpy"],
            "scipy==1.11.4": ["numpy<1.28.0,>=1.21.6"],
            "scipy==1.14.0": ["numpy>=1.23.5"],
            "pandas==2.1.0": ["numpy>=1.23.2"],
            "pandas==2.2.2": ["numpy>=1.23.2", "tzdata>=2022.7"],
        }
    )
    groups = group_updates(changes, deps, MARKERS)
    assert names(groups) == [
        ("numpy", "scipy"),
        ("pandas", "tzdata"),
        ("rich",),
        ("torch", "triton"),
    ]
    old = {c.name: c.old for c in changes if c.old}
    new = {c.name: c.new for c in changes if c.new}
    problems = unmet(old, deps, MARKERS) | unmet(new, deps, MARKERS)
    assert problems == set()
    for size in range(len(groups) + 1):
        for chosen in itertools.combinations(groups, size):
            mix = dict(old)
            for group in chosen:
                for c in group.changes:
                    if c.new is None:
                        mix.pop(c.name, None)
                    else:
                        mix[c.name] = c.new
            assert unmet(mix, deps, MARKERS) == set(), [str(g) for g in chosen]


def test_unmet_is_pip_check() -> None:
    deps = requires(**{"a==2": ["b>=2", "c", "d; extra == 'x'", "e; sys_platform == 'win32'"]})
    assert unmet({"a": "2", "b": "1"}, deps, MARKERS) == {
        "a 2 requires b>=2, but b 1 is",
        "a 2 requires c, which is not installed",
    }
    assert unmet({"a": "2", "b": "2", "c": "0.1"}, deps, MARKERS) == set()
    assert unmet({"a": "1", "b": "1"}, deps, MARKERS) == set()  # no metadata, no judgement


# --- ddmin with a fake oracle ----------------------------------------------------------------


class Oracle:
    """Reproduces when ``rule(moved)`` says so; records every subset tested."""

    def __init__(self, rule: Callable[[frozenset[int]], Outcome]) -> None:
        self.rule = rule
        self.asked: list[tuple[int, ...]] = []

    def __call__(self, subset: tuple[int, ...]) -> Outcome:
        assert subset not in self.asked, f"{subset} tested twice"
        assert subset == tuple(sorted(subset))
        self.asked.append(subset)
        return self.rule(frozenset(subset))


def culprit(*needed: int) -> Callable[[frozenset[int]], Outcome]:
    def rule(moved: frozenset[int]) -> Outcome:
        return Outcome.REPRODUCES if set(needed) <= moved else Outcome.PASSES

    return rule


@pytest.mark.parametrize("count", range(1, 18))
def test_a_single_culprit_is_found_within_two_tests_per_halving(count: int) -> None:
    for guilty in range(count):
        oracle = Oracle(culprit(guilty))
        result = ddmin(count, oracle)
        assert result.culprits == (guilty,)
        assert result.minimal
        assert result.tests == len(oracle.asked)
        # budget() adds the candidate and a fresh baseline to the search's own tests
        halvings = math.ceil(math.log2(count)) if count > 1 else 0
        assert result.tests <= 2 * halvings == budget(count) - 2
        assert () not in oracle.asked
        assert tuple(range(count)) not in oracle.asked


def test_the_budget_formula() -> None:
    assert [budget(k) for k in (0, 1, 2, 3, 4, 5, 8, 9, 16, 17)] == [
        2,
        2,
        4,
        6,
        6,
        8,
        8,
        10,
        10,
        12,
    ]


def test_two_culprits_that_only_reproduce_together() -> None:
    oracle = Oracle(culprit(1, 6))
    result = ddmin(8, oracle)
    assert result.culprits == (1, 6)
    assert result.minimal
    # 1-minimal: each one alone was tested and does not reproduce
    assert (1,) in oracle.asked or (6,) in oracle.asked


def test_three_culprits_together() -> None:
    result = ddmin(10, Oracle(culprit(0, 4, 9)))
    assert (result.culprits, result.minimal) == ((0, 4, 9), True)


def test_everything_together_is_the_answer_when_nothing_smaller_reproduces() -> None:
    result = ddmin(4, Oracle(culprit(0, 1, 2, 3)))
    assert result.culprits == (0, 1, 2, 3)
    assert result.minimal


def test_a_single_group_needs_no_test() -> None:
    oracle = Oracle(culprit(0))
    assert ddmin(1, oracle).culprits == (0,)
    assert oracle.asked == []


def test_untestable_mixes_count_as_not_reproducing_and_leave_minimality_open() -> None:
    # Group 2 is the culprit, but any mix moving 2 without 3 is untestable (a requirement
    # the grouping could not see); ddmin settles on {2, 3} and says it could not prove more.
    def rule(moved: frozenset[int]) -> Outcome:
        if 2 in moved and 3 not in moved:
            return Outcome.UNTESTABLE
        return Outcome.REPRODUCES if 2 in moved else Outcome.PASSES

    oracle = Oracle(rule)
    result = ddmin(6, oracle)
    assert result.culprits == (2, 3)
    assert result.minimal is False


def test_a_different_change_is_not_the_change() -> None:
    # Group 0 changes the outputs in another way than the candidate: not a culprit.
    def rule(moved: frozenset[int]) -> Outcome:
        if {0, 3} <= moved:
            return Outcome.REPRODUCES
        return Outcome.DIFFERS if moved & {0, 3} else Outcome.PASSES

    result = ddmin(5, Oracle(rule))
    assert (result.culprits, result.minimal) == ((0, 3), True)


@pytest.mark.parametrize(
    ("verdict", "candidate_broken", "like_candidate", "build_failed", "outcome"),
    [
        (Verdict.IDENTICAL, False, False, False, Outcome.PASSES),
        (Verdict.WITHIN_TOLERANCE, False, False, False, Outcome.PASSES),
        (Verdict.CHANGED, False, True, False, Outcome.REPRODUCES),
        (Verdict.CHANGED, False, False, False, Outcome.DIFFERS),  # another change
        (Verdict.BROKEN, False, False, False, Outcome.DIFFERS),  # fails where the candidate runs
        (Verdict.BROKEN, False, False, True, Outcome.UNTESTABLE),  # does not even install
        (Verdict.BROKEN, True, False, False, Outcome.REPRODUCES),
        (Verdict.BROKEN, True, False, True, Outcome.REPRODUCES),
        (Verdict.CHANGED, True, False, False, Outcome.DIFFERS),
        (Verdict.IDENTICAL, True, False, False, Outcome.PASSES),
    ],
)
def test_what_a_mix_says_about_the_change(
    verdict: Verdict,
    candidate_broken: bool,
    like_candidate: bool,
    build_failed: bool,
    outcome: Outcome,
) -> None:
    assert (
        classify(
            verdict,
            candidate_broken=candidate_broken,
            like_candidate=like_candidate,
            build_failed=build_failed,
        )
        is outcome
    )


# --- the report --------------------------------------------------------------------------


def _report() -> BisectReport:
    changes = (change("joblib", "1.6.0", "1.5.3"), change("scikit-learn", "1.3.2", "1.4.2"))
    replay = ReplayReport(
        suite="segments",
        verdict=Verdict.CHANGED,
        attributable=True,
        candidate_lock="candidate.txt",
        image="reprolock-env:abc",
        lock_diff=changes,
    )

    def step(number: int, kind: StepKind, moved: Sequence[LockChange], **rest: object) -> Step:
        fields: dict[str, object] = {
            "outcome": Outcome.REPRODUCES,
            "verdict": Verdict.CHANGED,
            "image": "reprolock-env:abc",
            "reused": True,
            "seconds": 1.25,
        }
        fields.update(rest)
        return Step(number=number, kind=kind, moved=tuple(moved), **fields)  # type: ignore[arg-type]

    return BisectReport(
        replay=replay,
        status=Status.CULPRITS,
        culprits=(changes[1],),
        groups=(Group(changes=changes[:1]), Group(changes=changes[1:])),
        steps=(
            step(1, StepKind.CANDIDATE, changes),
            step(
                2,
                StepKind.MIX,
                changes[:1],
                outcome=Outcome.PASSES,
                verdict=Verdict.IDENTICAL,
                reused=False,
                seconds=14.0,
            ),
            step(
                3,
                StepKind.MIX,
                changes[1:],
                outcome=Outcome.UNTESTABLE,
                verdict=None,
                image=None,
                reused=None,
                seconds=0.0,
                detail="a 2 requires b>=2, but b 1 is",
            ),
        ),
    )


def test_json_is_the_replay_schema_plus_culprits_and_steps() -> None:
    data = json.loads(render_bisect(ReportFormat.JSON, _report()))
    assert list(data)[:6] == ["schema", "suite", "verdict", "attributable", "lock_diff", "outputs"]
    assert data["schema"] == SCHEMA
    assert data["culprits"] == ["scikit-learn"]
    assert data["bisect"] == {
        "status": "culprits",
        "reason": None,
        "minimal": True,
        "groups": [
            {"packages": [{"name": "joblib", "old": "1.6.0", "new": "1.5.3"}], "reasons": []},
            {"packages": [{"name": "scikit-learn", "old": "1.3.2", "new": "1.4.2"}], "reasons": []},
        ],
        "environments": 2,
        "built": 1,
        "reused": 1,
        "budget": 4,
    }
    assert data["steps"][1] == {
        "step": 2,
        "kind": "mix",
        "moved": [{"name": "joblib", "old": "1.6.0", "new": "1.5.3"}],
        "outcome": "passes",
        "verdict": "identical",
        "image": "reprolock-env:abc",
        "reused": False,
        "seconds": 14.0,
        "detail": None,
    }
    assert data["steps"][2]["outcome"] == "untestable"
    assert data["steps"][2]["reused"] is None


def test_text_report_names_the_culprit_and_every_step() -> None:
    text = render_bisect(ReportFormat.TEXT, _report())
    assert "  culprit: scikit-learn 1.3.2 -> 1.4.2\n" in text
    assert "  bisect: 2 groups, 2 environments, 1 built (budget 4)\n" in text
    rows = [
        line.split() for line in text.splitlines() if line.startswith("    ") and "|" not in line
    ]
    assert ["step", "moved", "outcome", "verdict", "environment", "seconds"] in rows
    assert ["1", "candidate", "(all", "2)", "reproduces", "changed", "reused", "1.2"] in rows
    assert ["2", "joblib", "passes", "identical", "built", "14.0"] in rows
    assert ["3", "scikit-learn", "untestable", "-", "not", "built", "0.0"] in rows
    assert "    step 3: a 2 requires b>=2, but b 1 is\n" in text
    assert summary(_report()) == (
        "segments: changed; culprit: scikit-learn 1.3.2 -> 1.4.2 (2 environments, 1 built)"
    )


def test_markdown_report_has_the_steps_table() -> None:
    text = render_bisect(ReportFormat.MARKDOWN, _report())
    assert text.startswith("## reprolock bisect\n")
    assert "Culprit in `segments`: **scikit-learn** 1.3.2 → 1.4.2.\n" in text
    assert "| 2 | joblib | passes | identical | built | 14.0 |\n" in text
    assert "| 3 | scikit-learn | untestable | — | not built | 0.0 |\n" in text


# --- real bisects, in Docker -------------------------------------------------------------


def test_bisect_names_scikit_learn_within_the_build_budget(
    repro: Repro, kmeans: Path, containers: Containers
) -> None:
    candidate = LOCKS / "sklearn-1.4.2-joblib-threadpoolctl.txt"
    run = repro(
        "bisect", "--suite", "segments", "--lock", str(candidate), "--format", "json", cwd=kmeans
    )
    assert run.code == 1, run.err
    report = run.json()
    assert report["schema"] == SCHEMA
    assert (report["suite"], report["verdict"], report["attributable"]) == (
        "segments",
        "changed",
        True,
    )
    assert report["lock_diff"] == [
        {"name": "joblib", "old": "1.6.0", "new": "1.5.3"},
        {"name": "scikit-learn", "old": "1.3.2", "new": "1.4.2"},
        {"name": "threadpoolctl", "old": "3.8.0", "new": "3.5.0"},
    ]
    assert report["culprits"] == ["scikit-learn"]
    assert report["culprit_updates"] == [{"name": "scikit-learn", "old": "1.3.2", "new": "1.4.2"}]
    bisect = report["bisect"]
    # Nothing in the three wheels' Requires-Dist ties them: three groups of one.
    groups = [[p["name"] for p in g["packages"]] for g in bisect["groups"]]
    assert groups == [["joblib"], ["scikit-learn"], ["threadpoolctl"]]
    k = len(groups)
    steps = report["steps"]
    assert bisect["environments"] == len([s for s in steps if s["reused"] is not None])
    assert bisect["environments"] <= 2 * math.ceil(math.log2(k)) + 2 == bisect["budget"] == 6
    assert (bisect["status"], bisect["minimal"]) == ("culprits", True)
    assert steps[0]["kind"] == "candidate"
    assert steps[0]["outcome"] == "reproduces"
    mixes = [s for s in steps if s["kind"] == "mix"]
    assert mixes, "the search tested mixed environments"
    for step in mixes:
        moved = {c["name"] for c in step["moved"]}
        assert step["outcome"] == ("reproduces" if "scikit-learn" in moved else "passes")
        assert step["image"].startswith("reprolock-env:")
        assert step["seconds"] >= 0
    # The mix moving scikit-learn alone is sklearn-1.4.2.txt's environment: one image.
    alone = [s for s in mixes if [c["name"] for c in s["moved"]] == ["scikit-learn"]]
    assert alone
    assert containers.runs() == bisect["environments"]
    assert run.err.splitlines()[-1].startswith(
        "repro: segments: changed; culprit: scikit-learn 1.3.2 -> 1.4.2 ("
    )

    # Again: every environment is found by its lock digest, nothing is built.
    again = repro("bisect", "--suite", "segments", "--lock", str(candidate), cwd=kmeans)
    assert again.code == 1
    assert "  culprit: scikit-learn 1.3.2 -> 1.4.2\n" in again.out
    assert f"{bisect['environments']} environments, 0 built (budget 6)" in again.out


def test_bisect_against_a_fresh_baseline_on_another_machine(
    repro: Repro, project: Path, containers: Containers
) -> None:
    golden_json = project / "golden" / "segments" / "golden.json"
    meta = json.loads(golden_json.read_text())
    meta["machine"]["cpu_model"] = "Some Other CPU"
    golden_json.write_text(json.dumps(meta))
    candidate = LOCKS / "sklearn-1.4.2-joblib-threadpoolctl.txt"
    run = repro(
        "bisect", "--suite", "segments", "--lock", str(candidate), "--format", "json", cwd=project
    )
    assert run.code == 1, run.err
    report = run.json()
    assert report["compared_with"] == "fresh-baseline"
    assert report["machine_matches_golden"] is False
    assert report["golden_reproduces"] is True
    assert report["culprits"] == ["scikit-learn"]
    kinds = [s["kind"] for s in report["steps"]]
    assert kinds[:2] == ["candidate", "baseline"]
    assert report["steps"][1]["moved"] == []
    assert report["bisect"]["environments"] <= report["bisect"]["budget"] == 6


def test_a_candidate_that_changes_nothing_has_nothing_to_bisect(
    repro: Repro, kmeans: Path, containers: Containers
) -> None:
    candidate = LOCKS / "sklearn-1.3.2-threadpoolctl-bump.txt"
    run = repro("bisect", "--suite", "segments", "--lock", str(candidate), cwd=kmeans)
    assert run.code == 0, run.err
    assert run.out.startswith("segments: identical\n")
    assert "  lock changes: threadpoolctl 3.8.0 -> 3.5.0\n" in run.out
    assert "  bisect: nothing to bisect (the candidate is identical)\n" in run.out
    assert run.err.splitlines()[-1] == "repro: segments: identical; nothing to bisect"
    assert containers.runs() == 1
    data = repro(
        "bisect", "--suite", "segments", "--lock", str(candidate), "--format", "json", cwd=kmeans
    ).json()
    assert (data["culprits"], data["bisect"]["status"]) == ([], "nothing-to-bisect")
    assert [s["kind"] for s in data["steps"]] == ["candidate"]


def test_a_golden_on_another_base_image_is_bisected_against_a_fresh_baseline(
    repro: Repro, project: Path, containers: Containers
) -> None:
    # A golden committed from another machine, whose debootstrapped base image has another id:
    # the candidate is compared with the suite's own lock run here, one more container.
    golden_json = project / "golden" / "segments" / "golden.json"
    meta = json.loads(golden_json.read_text())
    meta["base_image"]["id"] = "sha256:" + "0" * 64
    golden_json.write_text(json.dumps(meta))
    candidate = LOCKS / "sklearn-1.3.2-threadpoolctl-bump.txt"
    run = repro(
        "bisect", "--suite", "segments", "--lock", str(candidate), "--format", "json", cwd=project
    )
    assert run.code == 0, run.err
    data = run.json()
    assert (data["verdict"], data["culprits"], data["bisect"]["status"]) == (
        "identical",
        [],
        "nothing-to-bisect",
    )
    assert (data["compared_with"], data["machine_matches_golden"]) == ("fresh-baseline", False)
    assert data["golden_reproduces"] is True
    assert data["notes"][0].endswith("; the base image id changed too")
    assert [s["kind"] for s in data["steps"]] == ["candidate", "baseline"]
    assert containers.runs() == 2


def test_the_suites_own_lock_as_candidate_has_nothing_to_bisect(
    repro: Repro, kmeans: Path, containers: Containers
) -> None:
    run = repro("bisect", "--suite", "segments", "--lock", "locks/sklearn-1.3.2.txt", cwd=kmeans)
    assert run.code == 0
    assert "nothing to bisect" in run.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bisect", "--lock", "x.txt"], "the following arguments are required: --suite"),
        (["bisect", "--suite", "segments"], "the following arguments are required: --lock"),
        (["bisect", "--suite", "segments", "--lock", "nope.txt"], "--lock nope.txt: no such file"),
        (
            ["bisect", "--suite", "nope", "--lock", "locks/sklearn-1.3.2.txt"],
            "--suite nope: no such suite (configured: segments, pickled)",
        ),
    ],
)
def test_bisect_usage_errors_exit_2(repro: Repro, argv: list[str], message: str) -> None:
    run = repro(*argv, cwd=PROJECT)
    assert run.code == 2
    assert message in run.err


# --- the host's check is pip check -------------------------------------------------------

_PIP_CHECK = (
    "python3 -m venv /tmp/pip && /tmp/pip/bin/python -m pip --python /opt/venv/bin/python check"
)
_PIP_PROBLEM = re.compile(r"^(\S+) (\S+) (?:requires|has requirement) ([A-Za-z0-9._-]+)")
_HOST_PROBLEM = re.compile(r"^(\S+) (\S+) requires ([A-Za-z0-9._-]+)")


def _pip_check(client: docker.DockerClient, image_id: str) -> tuple[int, str]:
    """pip's own ``pip check`` of the image's venv, from a throwaway pip (the venv has none)."""
    with managed_container(
        client,
        image=image_id,
        command=["sh", "-c", _PIP_CHECK],
        purpose="pip-check",
        network_mode="none",
        environment={"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    ) as container:
        container.start()
        status = container.wait(timeout=120)
        output = container.logs(stdout=True, stderr=True).decode()
    return int(status["StatusCode"]), output


def _pairs(pattern: re.Pattern[str], lines: Iterable[str]) -> set[tuple[str, str, str]]:
    found = set()
    for line in lines:
        match = pattern.match(line.strip())
        if match:
            name, version, dependency = match.groups()
            found.add((str(canonicalize_name(name)), version, str(canonicalize_name(dependency))))
    return found


def test_the_host_check_of_a_mix_agrees_with_pip_check_in_its_image(
    docker_client: docker.DockerClient, harness_cache: Path, containers: Containers
) -> None:
    base = resolve_base_image(docker_client, BASE_IMAGE, cache=harness_cache)
    lock = read_lock(LOCKS / "sklearn-1.3.2.txt")
    selected = lock.for_target(base.target)
    wheels = fetch_wheels(selected, base.target, cache=harness_cache)
    deps = {(r.name, r.version): requires_dist(w) for r, w in zip(selected, wheels, strict=True)}
    # scikit-learn without threadpoolctl: the kind of mix the grouping exists to prevent
    broken = Lock(
        path=Path("sklearn-1.3.2 without threadpoolctl"),
        format="requirements",
        requirements=tuple(r for r in selected if r.name != "threadpoolctl"),
    )
    markers = base.target.markers()
    for each, expected in ((lock, set()), (broken, {("scikit-learn", "1.3.2", "threadpoolctl")})):
        installed = {r.name: r.version for r in each.for_target(base.target)}
        host = unmet(installed, deps, markers)
        env = ensure_image(docker_client, each, base, cache=harness_cache)
        code, output = _pip_check(docker_client, env.id)
        assert _pairs(_HOST_PROBLEM, host) == expected
        assert _pairs(_PIP_PROBLEM, output.splitlines()) == expected, output
        assert (code == 0) == (not expected), output
