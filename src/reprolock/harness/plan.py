"""``repro plan``: the work of a replay, or of a bisect's first round, as independent jobs.

The engine that runs them is the user's CI (a GitHub Actions matrix, or any other): each job is
one ``repro replay`` process, and ``repro merge`` combines their reports. A job's id is a
function of what it does (its suites, its candidate lock, its mixes) and nothing else, so the
same work has the same id in every run and on every machine.

When there are more units of work than ``--max-jobs``, the cheapest job is merged with the
partner that makes the cheapest union, again and again: small suites end up together, and a
job that already builds an environment takes the other suites on it first (their build is
free there). Cost is counted in runs: :data:`BUILD_COST` per environment a job must build
and one per run.
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reprolock.errors import UsageError
from reprolock.harness import GITHUB_MAX_JOBS

SCHEMA = 1
"""Version of ``repro plan --format json``."""
BUILD_COST = 4.0
"""What building one environment costs, in runs of a small suite (docs/scale.md: measured)."""
RUN_COST = 1.0
"""What one run of a suite costs."""

_SLUG = re.compile(r"[^A-Za-z0-9._+-]+")
_SLUG_CHARS = 40


class PlanKind(enum.Enum):
    """What the jobs of a plan do."""

    REPLAY = "replay"
    """Replay suites against a candidate lock (or their own)."""
    BISECT = "bisect"
    """Test the "move one group only" and "all but one" mixes of a bisect."""


class PlanFormat(enum.Enum):
    """Formats of ``repro plan --format``."""

    GITHUB = "github"
    """``{"include": [...]}`` on one line, for ``strategy.matrix: ${{ fromJSON(...) }}``."""
    JSON = "json"
    """The jobs with the command each runs, for other engines."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Work:
    """One unit of work before packing: one suite replayed, or one mix of a bisect tested."""

    suite: str
    """The suite."""
    lock: str
    """The candidate lock as the job names it (a path relative to where the jobs run);
    ``""``: the suite's own lock."""
    mix: str | None = None
    """The mix id (bisect plans only)."""
    environments: frozenset[str]
    """Keys of the environments it needs (a lock on a base image): one build each per job."""
    runs: int = 1
    """Containers it runs, at most."""

    @property
    def packs_with(self) -> tuple[str, ...]:
        """What another unit must share to go into the same job: one ``repro replay`` takes
        one ``--lock``, and a job's mixes are mixes of one suite."""
        return (self.lock,) if self.mix is None else (self.lock, self.suite)


def job_cost(works: Iterable[Work]) -> float:
    """The cost of one job doing ``works``: each environment built once, every run."""
    environments: set[str] = set()
    runs = 0
    for work in works:
        environments |= work.environments
        runs += work.runs
    return BUILD_COST * len(environments) + RUN_COST * runs


@dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """One job of the matrix."""

    id: str
    """Stable: a function of the suites, the lock and the mixes only."""
    suites: tuple[str, ...]
    """The suites it replays (one, for a bisect's mixes), in config order."""
    lock: str
    """The candidate lock, or ``""`` for each suite's own."""
    mixes: tuple[str, ...] = ()
    """The mixes it tests (bisect plans only)."""
    cost: float = 0.0
    """Its estimated cost, in runs (:func:`job_cost`)."""

    @property
    def report(self) -> str:
        """The report file the job writes, and ``repro merge`` looks for."""
        return f"report-{self.id}.json"

    def matrix_entry(self) -> dict[str, str]:
        """The job as an entry of ``include``: ``suite`` and ``mix`` are comma lists."""
        entry = {"id": self.id, "suite": ",".join(self.suites), "lock": self.lock}
        if self.mixes:
            entry["mix"] = ",".join(self.mixes)
        return entry

    def argv(self, project: str = ".") -> list[str]:
        """The command the job runs (from the directory ``repro plan`` ran in)."""
        argv = ["repro", "replay"]
        if project != ".":
            argv += ["--project", project]
        argv += ["--suite", ",".join(self.suites)]
        if self.lock:
            argv += ["--lock", self.lock]
        if self.mixes:
            argv += ["--mix", ",".join(self.mixes)]
        return [*argv, "--format", "json", "--output", f"json={self.report}"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """Every job of one round, in a stable order."""

    kind: PlanKind
    """Replays, or a bisect's mixes."""
    jobs: tuple[Job, ...]
    """The jobs."""
    units: int
    """Units of work before packing (suites x locks, or mixes)."""
    project: str = "."
    """``--project`` as given: every job passes it on."""
    notes: tuple[str, ...] = ()
    """Why some work is absent (a suite with no candidate, nothing to bisect)."""

    def github(self) -> str:
        """The matrix, on one line (a ``$GITHUB_OUTPUT`` value is one line)."""
        include = [job.matrix_entry() for job in self.jobs]
        return json.dumps({"include": include}, separators=(",", ":")) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """``repro plan --format json``."""
        return {
            "schema": SCHEMA,
            "kind": self.kind.value,
            "project": self.project,
            "units": self.units,
            "jobs": [
                {
                    **job.matrix_entry(),
                    "suites": list(job.suites),
                    "mixes": list(job.mixes),
                    "report": job.report,
                    "cost": job.cost,
                    "argv": job.argv(self.project),
                }
                for job in self.jobs
            ],
            "notes": list(self.notes),
        }

    def render(self, fmt: PlanFormat) -> str:
        """The plan in ``fmt``."""
        if fmt is PlanFormat.GITHUB:
            return self.github()
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def summary(self) -> str:
        """One line for stderr: ``2 jobs for 5 suite replays (packed)``."""
        if self.kind is PlanKind.BISECT:
            what = "mix" if self.units == 1 else "mixes"
        else:
            what = "suite replay" if self.units == 1 else "suite replays"
        jobs = len(self.jobs)
        text = f"{jobs} job{'s' if jobs != 1 else ''} for {self.units} {what}"
        if jobs < self.units:
            text += " (packed)"
        return text


def _slug(text: str) -> str:
    return _SLUG.sub("-", text).strip("-")[:_SLUG_CHARS] or "job"


def job_id(kind: PlanKind, suites: Sequence[str], lock: str, mixes: Sequence[str]) -> str:
    """``segments-1a2b3c4d``, ``segments+2-...``, ``segments-only-scikit-learn-...``: readable,
    and stable (the digest covers everything the job does)."""
    content = "\n".join([kind.value, lock, ",".join(suites), ",".join(mixes)])
    digest = hashlib.sha256(content.encode()).hexdigest()[:8]
    head = suites[0] + (f"+{len(suites) - 1}" if len(suites) > 1 else "")
    if mixes:
        head += f"-{mixes[0].rsplit('-', 1)[0]}" + (f"+{len(mixes) - 1}" if len(mixes) > 1 else "")
    return f"{_slug(head)}-{digest}"


def pack(works: Sequence[Work], max_jobs: int) -> list[list[Work]]:
    """``works`` in at most ``max_jobs`` jobs (one each when they fit), in their given order.

    Greedy: the cheapest job joins the partner (one it may share a job with) that makes the
    cheapest union, until the count fits. Raises :class:`UsageError` when even one job per
    candidate lock (per suite and lock, for mixes) is more than ``max_jobs``.
    """
    if max_jobs < 1:
        raise UsageError(f"--max-jobs {max_jobs}: expected a number >= 1")
    keys = {work.packs_with for work in works}
    if len(keys) > max_jobs:
        raise UsageError(
            f"--max-jobs {max_jobs}: the work needs at least {len(keys)} jobs "
            "(one job runs one candidate lock, and one suite's mixes)"
        )
    # A job is the sorted list of its units' indexes, known by its first index.
    jobs: dict[int, list[int]] = {index: [index] for index in range(len(works))}

    def cost(members: Iterable[int]) -> float:
        return job_cost(works[i] for i in members)

    heap = [(cost(members), first) for first, members in jobs.items()]
    heapq.heapify(heap)
    while len(jobs) > max_jobs:
        price, first = heapq.heappop(heap)
        members = jobs.get(first)
        if members is None or price != cost(members):
            continue  # merged away, or an entry from before its last merge
        key = works[first].packs_with
        partners = [
            (cost([*members, *other]), other_first)
            for other_first, other in jobs.items()
            if other_first != first and works[other_first].packs_with == key
        ]
        if not partners:
            continue  # alone with its key: it stays a job of its own
        _, partner = min(partners)
        merged = sorted([*jobs.pop(first), *jobs.pop(partner)])
        jobs[merged[0]] = merged
        heapq.heappush(heap, (cost(merged), merged[0]))
    return [[works[i] for i in jobs[first]] for first in sorted(jobs)]


def make_plan(
    kind: PlanKind,
    works: Sequence[Work],
    *,
    max_jobs: int,
    project: str = ".",
    notes: Sequence[str] = (),
) -> Plan:
    """Pack ``works`` into jobs and give each its id."""
    jobs = []
    for members in pack(works, max_jobs):
        suites = tuple(dict.fromkeys(work.suite for work in members))
        mixes = tuple(work.mix for work in members if work.mix is not None)
        lock = members[0].lock
        jobs.append(
            Job(
                id=job_id(kind, suites, lock, mixes),
                suites=suites,
                lock=lock,
                mixes=mixes,
                cost=job_cost(members),
            )
        )
    return Plan(kind=kind, jobs=tuple(jobs), units=len(works), project=project, notes=tuple(notes))


__all__ = [
    "BUILD_COST",
    "GITHUB_MAX_JOBS",
    "Job",
    "Plan",
    "PlanFormat",
    "PlanKind",
    "Work",
    "job_cost",
    "job_id",
    "make_plan",
    "pack",
]
