"""`repro plan`: the work as matrix jobs with stable ids, packed within --max-jobs; a bisect's
first round as "move one group only" and "all but one" mixes; `--mix` rebuilds the same lock.
No Docker: the base image probe and the wheels' metadata are faked where a bisect needs them."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from reprolock.config import load_config
from reprolock.errors import UsageError
from reprolock.harness import bisection, plan, wheelhouse
from reprolock.harness import docker as harness_docker
from reprolock.harness.bisection import Mix, choose_mixes, fan_out, mix_id, plan_mixes
from reprolock.harness.image import BaseImage
from reprolock.harness.lockfile import LockedRequirement, TargetEnvironment, read_lock
from reprolock.harness.plan import PlanKind, Work, job_id, make_plan, pack
from reprolock.harness.replay import Session
from reprolock.report.bisect import Group, MixKind
from reprolock.report.replay import LockChange
from tests.conftest import FIXTURES
from tests.harness.conftest import LOCKS, PROJECT, Repro

PROBE = FIXTURES / "harness" / "targets" / "python-3.11-bookworm.json"
SUITES = [("alpha", "a"), ("beta", "a"), ("gamma", "b"), ("delta", "b"), ("epsilon", "a")]


def target() -> TargetEnvironment:
    return TargetEnvironment.from_probe(json.loads(PROBE.read_text(encoding="utf-8")))


def make_project(root: Path, suites: Sequence[tuple[str, str]] = SUITES) -> Path:
    """Suites on two locks (a: sklearn 1.3.2, b: 1.2.2) and a candidate new.txt (1.4.2)."""
    (root / "locks").mkdir(parents=True)
    shutil.copy(LOCKS / "sklearn-1.3.2.txt", root / "locks" / "a.txt")
    shutil.copy(LOCKS / "sklearn-1.2.2.txt", root / "locks" / "b.txt")
    shutil.copy(LOCKS / "sklearn-1.4.2.txt", root / "new.txt")
    text = "".join(
        f'[tool.repro.suites.{name}]\nlock = "locks/{lock}.txt"\nbase-image = "img:1"\n'
        f'entrypoint = "m:f"\ninputs = "in.npz"\ngolden = "g/{name}.npz"\n\n'
        for name, lock in suites
    )
    (root / "pyproject.toml").write_text(text, encoding="utf-8")
    return root


def digest(*lines: str) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:8]


# --- ids, formats -----------------------------------------------------------------------------


def test_github_matrix_is_one_line_with_stable_ids(repro: Repro, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    run = repro("plan", "--format", "github", cwd=root)
    assert run.code == 0, run.err
    ids = [f"{name}-{digest('replay', '', name, '')}" for name, _ in SUITES]
    assert ids[0] == "alpha-f1c30871"
    assert run.out == (
        '{"include":['
        + ",".join(
            f'{{"id":"{job}","suite":"{name}","lock":""}}'
            for job, (name, _) in zip(ids, SUITES, strict=True)
        )
        + "]}\n"
    )
    assert run.err == "repro: 5 jobs for 5 suite replays\n"


def test_ids_do_not_depend_on_the_run_or_the_checkout(repro: Repro, tmp_path: Path) -> None:
    # Another runner checks out elsewhere: the plan's ids and paths are those of the work.
    one = make_project(tmp_path / "one")
    other = make_project(tmp_path / "elsewhere" / "deeper")
    first = repro("plan", "--format", "json", "--lock", "new.txt", cwd=one)
    again = repro("plan", "--format", "json", "--lock", "new.txt", cwd=one)
    moved = repro("plan", "--format", "json", "--lock", "new.txt", cwd=other)
    assert first.code == again.code == moved.code == 0
    assert first.out == again.out == moved.out
    assert [job["id"] for job in first.json()["jobs"]][:2] == [
        f"alpha-{digest('replay', 'new.txt', 'alpha', '')}",
        f"beta-{digest('replay', 'new.txt', 'beta', '')}",
    ]
    assert job_id(PlanKind.REPLAY, ["alpha"], "new.txt", []) == "alpha-f03020e0"


def test_json_plan_names_each_jobs_command_and_report(repro: Repro, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", SUITES[:1])
    run = repro("plan", "--lock", "new.txt", cwd=root)
    assert run.code == 0, run.err
    assert run.json() == {
        "schema": 1,
        "kind": "replay",
        "project": ".",
        "units": 1,
        "jobs": [
            {
                "id": "alpha-f03020e0",
                "suite": "alpha",
                "lock": "new.txt",
                "suites": ["alpha"],
                "mixes": [],
                "report": "report-alpha-f03020e0.json",
                "cost": 5.0,
                "argv": [
                    "repro",
                    "replay",
                    "--suite",
                    "alpha",
                    "--lock",
                    "new.txt",
                    "--format",
                    "json",
                    "--output",
                    "json=report-alpha-f03020e0.json",
                ],
            }
        ],
        "notes": [],
    }
    assert run.err == "repro: 1 job for 1 suite replay\n"


def test_project_and_candidates_are_passed_on_relative_to_where_plan_ran(
    repro: Repro, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "p", SUITES[:3])
    candidates = tmp_path / "p" / "cand" / "locks"
    candidates.mkdir(parents=True)
    shutil.copy(LOCKS / "sklearn-1.4.2.txt", candidates / "a.txt")
    run = repro("plan", "--project", "p", "--candidates", "p/cand", cwd=tmp_path)
    assert run.code == 0, run.err
    jobs = run.json()["jobs"]
    assert [(job["suite"], job["lock"]) for job in jobs] == [
        ("alpha", "p/cand/locks/a.txt"),
        ("beta", "p/cand/locks/a.txt"),
    ]
    assert jobs[0]["argv"][:6] == ["repro", "replay", "--project", "p", "--suite", "alpha"]
    assert run.json()["notes"] == ["suite gamma: no candidate p/cand/locks/b.txt: left out"]
    assert run.err == (
        "repro: note: suite gamma: no candidate p/cand/locks/b.txt: left out\n"
        "repro: 2 jobs for 2 suite replays\n"
    )
    assert root.is_dir()


# --- packing ------------------------------------------------------------------------------------


def test_max_jobs_packs_suites_that_share_an_environment(repro: Repro, tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    run = repro("plan", "--format", "github", "--max-jobs", "2", cwd=root)
    assert run.code == 0, run.err
    a = f"alpha+2-{digest('replay', '', 'alpha,beta,epsilon', '')}"
    b = f"gamma+1-{digest('replay', '', 'gamma,delta', '')}"
    assert run.out == (
        f'{{"include":[{{"id":"{a}","suite":"alpha,beta,epsilon","lock":""}},'
        f'{{"id":"{b}","suite":"gamma,delta","lock":""}}]}}\n'
    )
    assert run.err == "repro: 2 jobs for 5 suite replays (packed)\n"
    # One job runs one candidate: two candidates need two jobs at least.
    two = repro("plan", "--lock", "new.txt", "--lock", "locks/b.txt", "--max-jobs", "2", cwd=root)
    assert [(job["suite"], job["lock"]) for job in two.json()["jobs"]] == [
        ("alpha,beta,gamma,delta,epsilon", "new.txt"),
        ("alpha,beta,gamma,delta,epsilon", "locks/b.txt"),
    ]
    one = repro("plan", "--lock", "new.txt", "--lock", "locks/b.txt", "--max-jobs", "1", cwd=root)
    assert (one.code, one.out) == (2, "")
    assert one.err == (
        "repro: error: --max-jobs 1: the work needs at least 2 jobs (one job runs one "
        "candidate lock, and one suite's mixes)\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-jobs", "0"], "--max-jobs 0: expected a number >= 1"),
        (
            ["--format", "github", "--max-jobs", "257"],
            "--max-jobs 257: GitHub runs at most 256 jobs per matrix",
        ),
        (["--bisect"], "--bisect needs --lock or --candidates: a bisect is of a candidate"),
        (
            ["--lock", "new.txt", "--candidates", "locks"],
            "--lock and --candidates are exclusive: name candidates one way",
        ),
        (["--lock", "nope.txt"], "--lock nope.txt: no such file"),
        (["--suite", "zeta"], None),
    ],
)
def test_plan_usage_errors_exit_2(
    repro: Repro, tmp_path: Path, argv: list[str], message: str | None
) -> None:
    root = make_project(tmp_path / "p")
    run = repro("plan", *argv, cwd=root)
    assert (run.code, run.out) == (2, "")
    if message is not None:
        assert run.err == f"repro: error: {message}\n"
    else:
        assert run.err.startswith("repro: error: ")
        assert "zeta" in run.err


def test_pack_takes_the_cheapest_union_first() -> None:
    def work(suite: str, env: str, lock: str = "") -> Work:
        return Work(suite=suite, lock=lock, environments=frozenset({env}))

    works = [work("s1", "x"), work("s2", "y"), work("s3", "x"), work("s4", "z", "other")]
    assert [[w.suite for w in job] for job in pack(works, 4)] == [["s1"], ["s2"], ["s3"], ["s4"]]
    # s1 and s3 share their build: together they cost 4 + 2, any other pair 8 + 2.
    assert [[w.suite for w in job] for job in pack(works, 3)] == [["s1", "s3"], ["s2"], ["s4"]]
    assert [[w.suite for w in job] for job in pack(works, 2)] == [["s1", "s2", "s3"], ["s4"]]
    with pytest.raises(UsageError, match=r"^--max-jobs 1: the work needs at least 2 jobs"):
        pack(works, 1)
    made = make_plan(PlanKind.REPLAY, works, max_jobs=2)
    assert [(job.suites, job.lock, job.cost) for job in made.jobs] == [
        (("s1", "s2", "s3"), "", 2 * plan.BUILD_COST + 3),
        (("s4",), "other", plan.BUILD_COST + 1),
    ]
    assert made.summary() == "2 jobs for 4 suite replays (packed)"


def test_200_suites_fit_githubs_matrix() -> None:
    works = [
        Work(suite=f"s{i:03d}", lock="", environments=frozenset({f"lock{i % 7}"}))
        for i in range(300)
    ]
    made = make_plan(PlanKind.REPLAY, works, max_jobs=plan.GITHUB_MAX_JOBS)
    assert len(made.jobs) == plan.GITHUB_MAX_JOBS
    assert sorted(s for job in made.jobs for s in job.suites) == [w.suite for w in works]
    assert len({job.id for job in made.jobs}) == plan.GITHUB_MAX_JOBS


# --- a bisect's first round -----------------------------------------------------------------


def group(*changes: tuple[str, str | None, str | None]) -> Group:
    return Group(changes=tuple(LockChange(name=n, old=o, new=w) for n, o, w in changes))


GROUPS = (
    group(("joblib", "1.6.0", "1.5.3")),
    group(("scikit-learn", "1.3.2", "1.4.2")),
    group(("threadpoolctl", "3.8.0", "3.5.0")),
)


def mix_summary(mixes: Sequence[Mix]) -> list[tuple[str, str, int, tuple[int, ...], list[str]]]:
    return [(m.id, m.kind.value, m.group, m.subset, [c.name for c in m.moved]) for m in mixes]


def test_fan_out_is_each_group_alone_then_all_but_one() -> None:
    mixes = fan_out(GROUPS)
    assert [(m.kind.value, m.group, m.subset) for m in mixes] == [
        ("only", 0, (0,)),
        ("only", 1, (1,)),
        ("only", 2, (2,)),
        ("without", 0, (1, 2)),
        ("without", 1, (0, 2)),
        ("without", 2, (0, 1)),
    ]
    sklearn = "scikit-learn 1.3.2 1.4.2\n"
    assert mixes[1].id == (f"only-scikit-learn-{hashlib.sha256(sklearn.encode()).hexdigest()[:6]}")
    assert mixes[1].id == mix_id(MixKind.ONLY, "scikit-learn", GROUPS[1].changes)
    # k = 2: moving one group is keeping back the other; k = 1: "all but one" moves nothing.
    assert [(m.kind.value, m.subset) for m in fan_out(GROUPS[:2])] == [
        ("only", (0,)),
        ("only", (1,)),
    ]
    assert [(m.kind.value, m.subset) for m in fan_out(GROUPS[:1])] == [("only", (0,))]
    assert fan_out(()) == ()


def test_a_mix_id_is_bound_to_what_it_moves() -> None:
    other = group(("scikit-learn", "1.3.2", "1.5.0"))
    assert fan_out([other])[0].id != fan_out([GROUPS[1]])[0].id
    assert fan_out([other])[0].id.startswith("only-scikit-learn-")


@pytest.fixture
def fake_probe_and_metadata(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The base image is the probe fixture's; wheels are not fetched, and no wheel requires
    another (the three updates of sklearn-1.4.2-joblib-threadpoolctl are three groups, as
    their real Requires-Dist make them: test_bisect.py)."""
    fetched: list[str] = []

    def base_image(self: Session, suite: Any, *, warn_tag: bool = True) -> BaseImage:
        return BaseImage(reference="img:1", id="sha256:" + "1" * 64, digest=None, target=target())

    def fetch(reqs: Sequence[LockedRequirement], *args: Any, **kwargs: Any) -> list[Path]:
        fetched.extend(req.pin for req in reqs)
        return [Path(f"/nowhere/{req.name}-{req.version}.whl") for req in reqs]

    def requires(wheel: Path) -> list[Requirement]:
        return []

    class Client:
        def close(self) -> None:
            pass

    monkeypatch.setattr(Session, "base_image", base_image)
    monkeypatch.setattr(wheelhouse, "fetch_wheels", fetch)
    monkeypatch.setattr(bisection, "requires_dist", requires)
    monkeypatch.setattr(harness_docker, "connect", Client)
    return fetched


CANDIDATE = LOCKS / "sklearn-1.4.2-joblib-threadpoolctl.txt"


def test_plan_bisect_emits_the_k_one_group_mixes_and_all_but_one(
    repro: Repro, tmp_path: Path, fake_probe_and_metadata: list[str]
) -> None:
    root = shutil.copytree(PROJECT, tmp_path / "kmeans")
    shutil.copy(CANDIDATE, root / "candidate.txt")
    run = repro("plan", "--bisect", "--suite", "segments", "--lock", "candidate.txt", cwd=root)
    assert run.code == 0, run.err
    data = run.json()
    expected = fan_out(GROUPS)
    assert (data["kind"], data["units"], data["notes"]) == ("bisect", 6, [])
    assert [(job["suite"], job["lock"], job["mix"]) for job in data["jobs"]] == [
        ("segments", "candidate.txt", mix.id) for mix in expected
    ]
    assert [job["id"] for job in data["jobs"]] == [
        f"segments-{mix.id.rsplit('-', 1)[0]}-"
        + digest("bisect", "candidate.txt", "segments", mix.id)
        for mix in expected
    ]
    assert data["jobs"][0]["argv"] == [
        "repro",
        "replay",
        "--suite",
        "segments",
        "--lock",
        "candidate.txt",
        "--mix",
        expected[0].id,
        "--format",
        "json",
        "--output",
        f"json=report-{data['jobs'][0]['id']}.json",
    ]
    assert run.err.endswith("repro: 6 jobs for 6 mixes\n")
    # Requires-Dist of both sides of every update ties groups: those wheels are read.
    assert sorted(set(fake_probe_and_metadata)) == [
        "joblib==1.5.3",
        "joblib==1.6.0",
        "scikit-learn==1.3.2",
        "scikit-learn==1.4.2",
        "threadpoolctl==3.5.0",
        "threadpoolctl==3.8.0",
    ]
    # Packed: one suite's mixes share its candidate's build.
    packed = repro(
        "plan", "--bisect", "--suite", "segments", "--lock", "candidate.txt", "--max-jobs",
        "2", "--format", "github", cwd=root,
    )  # fmt: skip
    include = json.loads(packed.out)["include"]
    assert len(include) == 2
    assert [m for entry in include for m in entry["mix"].split(",")] == [m.id for m in expected]
    assert {(entry["suite"], entry["lock"]) for entry in include} == {("segments", "candidate.txt")}
    # The suite's own lock has nothing to bisect: a note, an empty matrix.
    same = repro(
        "plan", "--bisect", "--suite", "segments", "--lock", "locks/sklearn-1.3.2.txt",
        "--format", "github", cwd=root,
    )  # fmt: skip
    assert (same.code, same.out) == (0, '{"include":[]}\n')
    assert same.err.endswith(
        "repro: note: suite segments with locks/sklearn-1.3.2.txt: the candidate installs "
        "exactly the suite's own lock: no package update to blame\n"
        "repro: 0 jobs for 0 mixes\n"
    )


def test_a_mix_rebuilds_the_lock_the_sequential_bisect_tests(
    tmp_path: Path, fake_probe_and_metadata: list[str]
) -> None:
    # The plan ran on one machine; the job rebuilds the mix from the suite's lock, the
    # candidate and the groups, and names it by id only.
    suite = load_config(PROJECT).suites["segments"]
    session = Session(client=None, cache=tmp_path)  # type: ignore[arg-type]
    planned = plan_mixes(session, suite, CANDIDATE)
    assert [g.names for g in planned.groups] == [g.names for g in GROUPS]
    base = session.base_image(suite)
    mixes = bisection._mixes(session, read_lock(suite.lock_path), read_lock(CANDIDATE), base)
    assert mixes is not None
    assert mixes.groups == planned.groups
    only_sklearn = planned.mixes[1].id
    (chosen,) = choose_mixes(fan_out(mixes.groups), [only_sklearn], suite="segments")
    rebuilt = mixes.lock(chosen.subset, "job")
    # The suite's lock with scikit-learn moved alone is exactly sklearn-1.4.2.txt's environment.
    expected = read_lock(LOCKS / "sklearn-1.4.2.txt").for_target(base.target)
    assert [(r.pin, r.hashes) for r in rebuilt.requirements] == [
        (r.pin, r.hashes) for r in expected
    ]
    assert rebuilt.digest(base.target) == read_lock(LOCKS / "sklearn-1.4.2.txt").digest(base.target)
    # "All but scikit-learn" is the candidate with scikit-learn held back.
    (without,) = choose_mixes(planned.mixes, [planned.mixes[4].id], suite="segments")
    held = {r.name: r.version for r in mixes.lock(without.subset, "job").requirements}
    assert (held["scikit-learn"], held["joblib"], held["threadpoolctl"]) == (
        "1.3.2",
        "1.5.3",
        "3.5.0",
    )


def test_an_unknown_mix_id_is_a_usage_error_naming_it_and_the_known_ones() -> None:
    mixes = fan_out(GROUPS)
    with pytest.raises(UsageError) as caught:
        choose_mixes(mixes, [mixes[0].id, "only-numpy-abcdef"], suite="segments")
    assert str(caught.value) == (
        "--mix only-numpy-abcdef: not a mix of suite segments and this candidate (its mixes: "
        + ", ".join(m.id for m in mixes)
        + ")"
    )
    with pytest.raises(UsageError) as none:
        choose_mixes((), ["only-numpy-abcdef"], suite="segments")
    assert str(none.value) == (
        "--mix only-numpy-abcdef: not a mix of suite segments and this candidate (its mixes: "
        "none: nothing to bisect)"
    )
    assert [m.id for m in choose_mixes(mixes, [mixes[2].id, mixes[0].id, mixes[2].id], suite="s")]
    assert choose_mixes(mixes, [mixes[2].id, mixes[0].id, mixes[2].id], suite="s") == [
        mixes[2],
        mixes[0],
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--mix", "only-x-abcdef"],
            "--mix needs --lock: a mix moves some of the candidate's updates",
        ),
        (
            ["--mix", "only-x-abcdef", "--lock", "locks/sklearn-1.2.2.txt"],
            "--mix needs exactly one --suite: a mix belongs to one suite's bisect",
        ),
        (
            ["--mix", "only-x-abcdef,", "--suite", "segments", "--lock", "c.txt"],
            "--mix 'only-x-abcdef,': expected a name or a comma list of names",
        ),
    ],
)
def test_replay_mix_usage_errors_exit_2(
    repro: Repro, tmp_path: Path, argv: list[str], message: str
) -> None:
    root = shutil.copytree(PROJECT, tmp_path / "kmeans")
    (root / "c.txt").write_text((LOCKS / "sklearn-1.4.2.txt").read_text())
    run = repro("replay", *argv, cwd=root)
    assert (run.code, run.out, run.err) == (2, "", f"repro: error: {message}\n")
