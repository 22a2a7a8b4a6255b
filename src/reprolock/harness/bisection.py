"""``repro bisect``: which package update(s) of a candidate lock cause a suite's behaviour change.

The candidate's package updates are first put into groups that must move together: a group
is what keeps every mixed environment (the suite's lock with some updates applied) a
consistent one, judged from each wheel's ``Requires-Dist`` (both versions, read from the
wheel cache) and from the lock's own dependency graph where it has one. Delta debugging
(ddmin, with complements) then looks for the smallest set of groups whose mixed environment
behaves like the candidate. Each step is one mixed lock held in memory: its image tag comes
from the lock digest, so a mix built before is reused, and its wheels come from the cache,
so a new mix costs one install.

A mix is checked for consistency on the host before anything is built, as ``pip check``
would judge it inside the image: the image installs exactly these wheels with ``--no-deps``,
and the requirements' markers are evaluated for the probed base image. A mix with an unmet
requirement that neither the suite's lock nor the candidate has is *untestable*: it is
recorded as a step, costs no build, and counts as "does not reproduce" for the search.

(Not ``bisect.py``: runner.py, run as a script from this directory, would import it in place
of the standard library's ``bisect``.)
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reprolock.config import Suite
from reprolock.harness import image as images
from reprolock.harness import wheelhouse
from reprolock.harness.compare import Comparison, Verdict, compare
from reprolock.harness.image import BaseImage, BuildError
from reprolock.harness.lockfile import Lock, LockedRequirement, read_lock
from reprolock.harness.replay import (
    RunResult,
    Session,
    _attribution,
    _describe_machine,
    display,
    load_golden,
    lock_diff,
    machine_fingerprint,
    run_suite,
    tolerances,
)
from reprolock.harness.report import (
    Baseline,
    LockChange,
    ReplayReport,
    ReportFormat,
    render_markdown,
    render_text,
)

Array = Any
"""An ndarray (the runs' outputs), as replay.py handles them."""

_OK = frozenset({Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE})


class Outcome(enum.Enum):
    """What one tested environment says about the change being searched for."""

    REPRODUCES = "reproduces"
    """Behaves like the candidate (its outputs, or its breakage)."""
    PASSES = "passes"
    """Behaves like the suite's own lock."""
    DIFFERS = "differs"
    """Changed, but not the way the candidate did (another change, or broken instead)."""
    UNTESTABLE = "untestable"
    """Not a consistent environment: a requirement is unmet, or it does not install."""


class Status(enum.Enum):
    """How a bisect ended."""

    CULPRITS = "culprits"
    """The candidate changes behaviour and the culprits were found (exit 1)."""
    NOTHING = "nothing-to-bisect"
    """The candidate behaves like the suite's lock (exit 0)."""
    UNANSWERED = "unanswered"
    """The question could not be answered: no reference run, no package moved (exit 3)."""

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this outcome."""
        return {Status.CULPRITS: 1, Status.NOTHING: 0, Status.UNANSWERED: 3}[self]


def budget(groups: int) -> int:
    """Environments a single-culprit bisect of ``groups`` groups tests at most: the candidate,
    a fresh baseline, and two per halving."""
    if groups <= 1:
        return 2
    return 2 * math.ceil(math.log2(groups)) + 2


# --------------------------------------------------------------------------------------------
# Delta debugging
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Minimised:
    """The result of :func:`ddmin`."""

    culprits: tuple[int, ...]
    """Indexes of the groups whose update reproduces the change, sorted."""
    minimal: bool
    """True when every subset one group smaller was tested and does not reproduce (1-minimal);
    False when an untestable mix left that open."""
    tests: int
    """Calls made to the test function."""


def ddmin(count: int, test: Callable[[tuple[int, ...]], Outcome]) -> Minimised:
    """Zeller and Hildebrandt's ddmin over the indexes ``0..count-1``, with complements.

    The full set is known to reproduce and the empty set known to pass; neither is tested.
    ``test`` gets a sorted tuple of indexes and is called at most once per subset. Anything
    but :attr:`Outcome.REPRODUCES` counts as "does not reproduce". With one culprit among
    ``count`` groups, each halving costs at most two tests.
    """
    everything = tuple(range(count))
    known: dict[tuple[int, ...], Outcome] = {everything: Outcome.REPRODUCES, (): Outcome.PASSES}
    calls = 0

    def outcome(subset: Sequence[int]) -> Outcome:
        nonlocal calls
        key = tuple(sorted(subset))
        if key not in known:
            calls += 1
            known[key] = test(key)
        return known[key]

    current = list(everything)
    granularity = 2
    while len(current) > 1:
        chunks = _split(current, granularity)
        reduced: list[int] | None = None
        for chunk in chunks:
            if outcome(chunk) is Outcome.REPRODUCES:
                reduced, granularity = chunk, 2
                break
        if reduced is None:
            for chunk in chunks:
                rest = [index for index in current if index not in chunk]
                if outcome(rest) is Outcome.REPRODUCES:
                    reduced, granularity = rest, max(granularity - 1, 2)
                    break
        if reduced is not None:
            current = reduced
            continue
        if granularity >= len(current):
            break
        granularity = min(granularity * 2, len(current))
    resolved = {Outcome.PASSES, Outcome.DIFFERS}
    minimal = all(known.get(tuple(i for i in current if i != left)) in resolved for left in current)
    return Minimised(culprits=tuple(current), minimal=minimal, tests=calls)


def _split(items: Sequence[int], parts: int) -> list[list[int]]:
    """``items`` in ``parts`` contiguous chunks, the larger ones first."""
    out: list[list[int]] = []
    start = 0
    for index in range(parts):
        size = (len(items) - start + parts - index - 1) // (parts - index)
        out.append(list(items[start : start + size]))
        start += size
    return [chunk for chunk in out if chunk]


def classify(
    verdict: Verdict, *, candidate_broken: bool, like_candidate: bool, build_failed: bool = False
) -> Outcome:
    """What a mix's ``verdict`` (against the reference) says about the candidate's change.

    A broken mix reproduces a broken candidate; against a candidate that runs, a mix that does
    not install is untestable and one that fails at run time is another change. A mix that
    changed reproduces only when its outputs are the candidate's (``like_candidate``): a
    culprit must cause *this* change, not some change.
    """
    if verdict is Verdict.BROKEN:
        if candidate_broken:
            return Outcome.REPRODUCES
        return Outcome.UNTESTABLE if build_failed else Outcome.DIFFERS
    if verdict in _OK:
        return Outcome.PASSES
    if candidate_broken:
        return Outcome.DIFFERS
    return Outcome.REPRODUCES if like_candidate else Outcome.DIFFERS


# --------------------------------------------------------------------------------------------
# Groups of updates that must move together
# --------------------------------------------------------------------------------------------

Requires = Mapping[tuple[str, str], Sequence[Requirement]]
"""``(canonical name, version) -> Requires-Dist`` of that distribution."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GraphEdge:
    """A dependency recorded by a graph-shaped lock: ``name==version`` depends on ``on``."""

    name: str
    version: str
    on: str
    on_version: str | None = None
    """The version the lock ties the edge to, when it names one."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    """Package updates that move together in every mixed environment."""

    changes: tuple[LockChange, ...]
    """The updates, sorted by name."""
    reasons: tuple[str, ...] = ()
    """Why they cannot move apart (one sentence per requirement that ties them)."""

    @property
    def names(self) -> tuple[str, ...]:
        """The packages of the group."""
        return tuple(change.name for change in self.changes)

    def to_dict(self) -> dict[str, Any]:
        """The entry of the JSON report's ``groups`` list."""
        return {
            "packages": [change.to_dict() for change in self.changes],
            "reasons": list(self.reasons),
        }

    def __str__(self) -> str:
        return ", ".join(self.names)


def applies(requirement: Requirement, markers: Mapping[str, str]) -> bool:
    """Whether a ``Requires-Dist`` entry applies on the target (no extra selected), as pip
    check judges it; a marker that cannot be evaluated counts as applying."""
    if requirement.marker is None:
        return True
    try:
        return requirement.marker.evaluate({**markers, "extra": ""})
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return True


def _satisfied(requirement: Requirement, version: str | None) -> bool:
    if version is None:
        return False
    return requirement.specifier.contains(version, prereleases=True)


def _where(side: str) -> str:
    return "the suite's lock" if side == "old" else "the candidate"


def group_updates(
    changes: Sequence[LockChange],
    requires: Requires,
    markers: Mapping[str, str],
    *,
    old_edges: Iterable[GraphEdge] = (),
    new_edges: Iterable[GraphEdge] = (),
) -> tuple[Group, ...]:
    """Partition ``changes`` into groups such that every mix of whole groups is consistent.

    Two updates are tied when one package's version on one side (``old``: the suite's lock,
    ``new``: the candidate) requires the other in a way the other's version on the *other*
    side does not satisfy (or the other is absent there): e.g. scikit-learn 1.4.2 requires
    joblib>=1.2.0 and the suite's lock has joblib 1.1.1. A lock graph edge ties them when its
    target is absent, or not the version the edge names, on the other side. Requirements are
    pairwise, so pairwise consistency of whole groups is consistency of every mix.
    Groups come sorted by their first package name.
    """
    by_name = {change.name: change for change in changes}
    parent = {name: name for name in by_name}
    reasons: dict[str, list[str]] = {name: [] for name in by_name}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def tie(a: str, b: str, reason: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            ra, rb = sorted((ra, rb))
            parent[rb] = ra
            reasons[ra].extend(reasons.pop(rb))
        if reason not in reasons[ra]:
            reasons[ra].append(reason)

    for change in changes:
        for side, other in (("old", "new"), ("new", "old")):
            version = getattr(change, side)
            if version is None:
                continue
            for requirement in requires.get((change.name, version), ()):
                target = str(canonicalize_name(requirement.name))
                dependency = by_name.get(target)
                if dependency is None or target == change.name:
                    continue
                if not applies(requirement, markers):
                    continue
                there = getattr(dependency, other)
                if _satisfied(requirement, there):
                    continue
                found = f"has {target} {there}" if there is not None else f"has no {target}"
                tie(
                    change.name,
                    target,
                    f"{change.name} {version} requires {requirement}; {_where(other)} {found}",
                )
    for side, other, edges in (("old", "new", old_edges), ("new", "old", new_edges)):
        for edge in edges:
            updated = by_name.get(edge.name)
            dependency = by_name.get(edge.on)
            if updated is None or dependency is None or getattr(updated, side) != edge.version:
                continue
            there = getattr(dependency, other)
            if there is not None and (edge.on_version is None or edge.on_version == there):
                continue
            wanted = f"{edge.on} {edge.on_version}" if edge.on_version else edge.on
            found = f"has {edge.on} {there}" if there is not None else f"has no {edge.on}"
            tie(
                edge.name,
                edge.on,
                f"the lock's graph has {edge.name} {edge.version} depend on {wanted}; "
                f"{_where(other)} {found}",
            )
    members: dict[str, list[LockChange]] = {}
    for name in sorted(by_name):
        members.setdefault(root(name), []).append(by_name[name])
    return tuple(
        Group(changes=tuple(members[key]), reasons=tuple(reasons.get(key, ())))
        for key in sorted(members, key=lambda k: members[k][0].name)
    )


def unmet(installed: Mapping[str, str], requires: Requires, markers: Mapping[str, str]) -> set[str]:
    """``pip check`` over the distributions ``requires`` knows: every unmet requirement of an
    installed ``name -> version``, as a sentence. Distributions without metadata are skipped."""
    problems: set[str] = set()
    for name, version in installed.items():
        for requirement in requires.get((name, version), ()):
            if not applies(requirement, markers):
                continue
            target = str(canonicalize_name(requirement.name))
            there = installed.get(target)
            if there is None:
                problems.add(f"{name} {version} requires {requirement}, which is not installed")
            elif not _satisfied(requirement, there):
                problems.add(f"{name} {version} requires {requirement}, but {target} {there} is")
    return problems


# --------------------------------------------------------------------------------------------
# Steps and the report
# --------------------------------------------------------------------------------------------


class StepKind(enum.Enum):
    """What an environment of a bisect was."""

    CANDIDATE = "candidate"
    BASELINE = "baseline"
    MIX = "mix"


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One environment the bisect tested."""

    number: int
    """1-based, in the order tested."""
    kind: StepKind
    """The candidate, the suite's own lock (a fresh baseline), or a mix."""
    moved: tuple[LockChange, ...]
    """The updates applied on top of the suite's lock."""
    outcome: Outcome
    """What the environment says about the change."""
    verdict: Verdict | None
    """Its verdict against the reference; None when it was not run."""
    image: str | None
    """The environment's image tag; None when nothing was built."""
    reused: bool | None
    """Whether the image existed already; None when no image was looked for."""
    seconds: float
    """Wall time of the step (build and run)."""
    detail: str | None = None
    """Why it is untestable or broken (unmet requirements, the first line of an error)."""

    def to_dict(self) -> dict[str, Any]:
        """The entry of the JSON report's ``steps`` list."""
        return {
            "step": self.number,
            "kind": self.kind.value,
            "moved": [change.to_dict() for change in self.moved],
            "outcome": self.outcome.value,
            "verdict": None if self.verdict is None else self.verdict.value,
            "image": self.image,
            "reused": self.reused,
            "seconds": round(self.seconds, 1),
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class BisectReport:
    """The outcome of bisecting one suite's change between its lock and a candidate."""

    replay: ReplayReport
    """The candidate against the reference, as ``repro replay`` reports it."""
    status: Status
    """Culprits found, nothing to bisect, or unanswered."""
    culprits: tuple[LockChange, ...] = ()
    """The updates that reproduce the change together (sorted by name)."""
    groups: tuple[Group, ...] = ()
    """The groups of updates the search moved as units."""
    steps: tuple[Step, ...] = ()
    """Every environment tested, in order."""
    minimal: bool = True
    """False when untestable mixes kept the search from proving no culprit can be dropped."""
    reason: str | None = None
    """Why the bisect is unanswered, or why there is nothing to bisect."""

    @property
    def environments(self) -> int:
        """Environments set up (found or built) for the steps: the count the budget limits."""
        return sum(1 for step in self.steps if step.reused is not None)

    @property
    def built(self) -> int:
        """Environments actually built (not found by their tag)."""
        return sum(1 for step in self.steps if step.reused is False)

    @property
    def budget(self) -> int:
        """The single-culprit bound on :attr:`environments`: ``2*ceil(log2 k)+2``."""
        return budget(len(self.groups))

    @property
    def exit_code(self) -> int:
        """0 nothing to bisect, 1 culprits, 3 unanswered."""
        return self.status.exit_code

    def to_dict(self) -> dict[str, Any]:
        """The replay report's JSON plus ``culprits``, ``steps`` and the bisect's bookkeeping."""
        data = self.replay.to_dict()
        data["culprits"] = [change.name for change in self.culprits]
        data["culprit_updates"] = [change.to_dict() for change in self.culprits]
        data["bisect"] = {
            "status": self.status.value,
            "reason": self.reason,
            "minimal": self.minimal,
            "groups": [group.to_dict() for group in self.groups],
            "environments": self.environments,
            "built": self.built,
            "reused": self.environments - self.built,
            "budget": self.budget if self.groups else None,
        }
        data["steps"] = [step.to_dict() for step in self.steps]
        return data


def describe(change: LockChange, *, arrow: str = "->") -> str:
    """``scikit-learn 1.3.2 -> 1.4.2``; a wheel swapped under one version says so."""
    if change.old is not None and change.old == change.new:
        return f"{change.name} {change.old} (another wheel)"
    return f"{change.name} {change.old or '(absent)'} {arrow} {change.new or '(absent)'}"


def _moved_text(step: Step, total: int) -> str:
    if step.kind is StepKind.CANDIDATE:
        return f"candidate (all {total})"
    if step.kind is StepKind.BASELINE:
        return "the suite's lock (none)"
    return ", ".join(change.name for change in step.moved)


def _environment_text(step: Step) -> str:
    if step.reused is None:
        return "not built"
    return "reused" if step.reused else "built"


def summary(report: BisectReport) -> str:
    """One line: ``segments: changed; culprit: scikit-learn 1.3.2 -> 1.4.2 (4 environments)``."""
    head = f"{report.replay.suite}: {report.replay.verdict.value}"
    if report.status is Status.CULPRITS:
        noun = "culprit" if len(report.culprits) == 1 else "culprits"
        found = ", ".join(describe(c) for c in report.culprits)
        return f"{head}; {noun}: {found} ({_count(report)})"
    if report.status is Status.NOTHING:
        return f"{head}; nothing to bisect"
    return f"{head}; unanswered: {report.reason}"


def _count(report: BisectReport) -> str:
    noun = "environment" if report.environments == 1 else "environments"
    return f"{report.environments} {noun}, {report.built} built"


def render_bisect_text(report: BisectReport) -> str:
    """The replay report's text, then the culprits and every step."""
    lines = [render_text([report.replay]).rstrip("\n")]
    if report.status is Status.NOTHING:
        lines.append(f"  bisect: nothing to bisect ({report.reason})")
        return "\n".join(lines) + "\n"
    if report.status is Status.UNANSWERED:
        lines.append(f"  bisect: unanswered: {report.reason}")
    for change in report.culprits:
        lines.append(f"  culprit: {describe(change)}")
    if not report.minimal:
        lines.append("  note: untestable mixes left open whether a smaller set reproduces it")
    if report.groups:
        lines.append(
            f"  bisect: {len(report.groups)} group{'s' if len(report.groups) != 1 else ''}, "
            f"{_count(report)} (budget {report.budget})"
        )
        for group in report.groups:
            if len(group.changes) > 1:
                lines.append(f"    moved together: {group}: {'; '.join(group.reasons)}")
    if report.steps:
        rows = [("step", "moved", "outcome", "verdict", "environment", "seconds")]
        total = sum(len(g.changes) for g in report.groups) or len(report.replay.lock_diff)
        for step in report.steps:
            rows.append(
                (
                    str(step.number),
                    _moved_text(step, total),
                    step.outcome.value,
                    "-" if step.verdict is None else step.verdict.value,
                    _environment_text(step),
                    f"{step.seconds:.1f}",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
            lines.append("    " + "  ".join(cells).rstrip())
        for step in report.steps:
            if step.detail:
                lines.append(f"    step {step.number}: {step.detail}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_bisect_markdown(report: BisectReport, *, heading: str = "###") -> str:
    """The bisect's own Markdown: culprits, groups and the steps table (no replay part)."""
    out: list[str] = []
    suite = report.replay.suite
    if report.status is Status.NOTHING:
        out.append(f"Nothing to bisect in `{suite}`: {report.reason}.")
        return "\n".join(out) + "\n"
    if report.status is Status.UNANSWERED:
        out.append(f"The bisect of `{suite}` was not answered: {_cell(report.reason or '')}.")
        out.append("")
    if report.culprits:
        noun = "Culprit" if len(report.culprits) == 1 else "Culprits"
        found = ", ".join(
            f"**{c.name}** {describe(c, arrow='→').removeprefix(c.name).strip()}"
            for c in report.culprits
        )
        out.append(f"{noun} in `{suite}`: {found}.")
        if not report.minimal:
            out.append("")
            out.append(
                "> Some mixes were untestable: a smaller set of updates may reproduce it too."
            )
        out.append("")
    if report.groups:
        out.append(
            f"{heading} Bisect of `{suite}`: {len(report.groups)} group"
            f"{'s' if len(report.groups) != 1 else ''} of updates, {_count(report)} "
            f"(budget {report.budget})"
        )
        out.append("")
        tied = [g for g in report.groups if len(g.changes) > 1]
        for group in tied:
            out.append(f"- moved together: {group} ({_cell('; '.join(group.reasons))})")
        if tied:
            out.append("")
    if report.steps:
        total = sum(len(g.changes) for g in report.groups) or len(report.replay.lock_diff)
        out.append("| step | moved | outcome | verdict | environment | seconds |")
        out.append("|---|---|---|---|---|---|")
        for step in report.steps:
            cells = [
                str(step.number),
                _moved_text(step, total),
                step.outcome.value,
                "—" if step.verdict is None else step.verdict.value,
                _environment_text(step),
                f"{step.seconds:.1f}",
            ]
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
        for step in report.steps:
            if step.detail:
                out.append(f"- step {step.number}: {_cell(step.detail)}")
        if any(step.detail for step in report.steps):
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def render_bisect(fmt: ReportFormat, report: BisectReport) -> str:
    """The report in ``fmt``: JSON (the replay schema plus culprits and steps), text, Markdown."""
    if fmt is ReportFormat.JSON:
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt is ReportFormat.MARKDOWN:
        replay = render_markdown([report.replay]).replace(
            "## reprolock replay", "## reprolock bisect", 1
        )
        return replay + "\n" + render_bisect_markdown(report, heading="####")
    return render_bisect_text(report)


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Update:
    """One package that differs between the suite's lock and the candidate, for ``base``."""

    name: str
    old: LockedRequirement | None
    new: LockedRequirement | None

    @property
    def change(self) -> LockChange:
        return LockChange(
            name=self.name,
            old=None if self.old is None else self.old.version,
            new=None if self.new is None else self.new.version,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class _Run:
    """A tested environment: its image (if any), its run (if any), how long it took."""

    image: str | None
    reused: bool | None
    run: RunResult | None
    error: str | None
    seconds: float
    build_failed: bool = False


class _Bisector:
    """One bisect: the suite, its locks, the reference outputs and the steps so far."""

    def __init__(self, session: Session, suite: Suite, base: BaseImage) -> None:
        self.session = session
        self.suite = suite
        self.base = base
        self.steps: list[Step] = []
        default, per_output = tolerances(suite)
        self.default = default
        self.per_output = per_output
        self.noise: Mapping[str, float] = {}

    def compare(self, reference: Mapping[str, Array], outputs: Mapping[str, Array]) -> Comparison:
        return compare(
            reference, outputs, default=self.default, per_output=self.per_output, noise=self.noise
        )

    def environment(self, lock: Lock, label: str) -> _Run:
        """Find or build ``lock``'s image and run the suite in it once."""
        started = time.monotonic()
        try:
            env = images.ensure_image(
                self.session.client,
                lock,
                self.base,
                cache=self.session.cache,
                progress=self.session.progress,
            )
        except BuildError as exc:
            return _Run(
                image=None,
                reused=False,
                run=None,
                error=exc.report,
                seconds=time.monotonic() - started,
                build_failed=True,
            )
        run = run_suite(self.session, self.suite, env, label=label)
        return _Run(
            image=env.tag,
            reused=not env.built,
            run=run,
            error=run.error,
            seconds=time.monotonic() - started,
        )

    def record(self, kind: StepKind, moved: Sequence[LockChange], **fields: Any) -> Step:
        step = Step(number=len(self.steps) + 1, kind=kind, moved=tuple(moved), **fields)
        self.steps.append(step)
        return step


def _first_line(text: str | None) -> str | None:
    if not text:
        return None
    return text.strip().splitlines()[0]


def _mixed_lock(
    baseline: Sequence[LockedRequirement], updates: Iterable[_Update], label: str
) -> Lock:
    """The suite's lock (for the target) with ``updates`` applied: a lock held in memory."""
    chosen = {req.name: req for req in baseline}
    for update in updates:
        if update.new is None:
            chosen.pop(update.name, None)
        else:
            chosen[update.name] = update.new
    requirements = tuple(dataclasses.replace(chosen[name], marker=None) for name in sorted(chosen))
    return Lock(path=Path(label), format="requirements", requirements=requirements)


def _graph_edges(lock: Lock, selected: Sequence[LockedRequirement]) -> list[GraphEdge]:
    if lock.graph is None:
        return []
    wanted = {(req.name, req.version) for req in selected}
    edges = []
    for index, _, edge in lock.graph.edges:
        source = lock.requirements[index]
        if (source.name, source.version) in wanted:
            edges.append(
                GraphEdge(
                    name=source.name, version=source.version, on=edge.name, on_version=edge.version
                )
            )
    return edges


def requires_dist(wheel: Path) -> list[Requirement]:
    """A wheel's ``Requires-Dist`` entries (unparsable ones are skipped, as pip check does)."""
    metadata = wheelhouse.read_wheel_metadata(wheel)
    out = []
    for text in metadata.get_all("Requires-Dist") or []:
        try:
            out.append(Requirement(str(text)))
        except InvalidRequirement:
            continue  # pip check skips what it cannot parse as well
    return out


def _updates(
    session: Session,
    baseline: Sequence[LockedRequirement],
    candidate: Sequence[LockedRequirement],
    base: BaseImage,
) -> tuple[list[_Update], dict[tuple[str, str], list[Requirement]]]:
    """The packages that differ (version, presence, or the wheel actually installed) and the
    ``Requires-Dist`` of both sides of each, read from the cached wheels."""
    before = {req.name: req for req in baseline}
    after = {req.name: req for req in candidate}
    updates: list[_Update] = []
    hash_only: list[_Update] = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is not None and new is not None and old.version == new.version:
            if set(old.hashes) != set(new.hashes):
                hash_only.append(_Update(name=name, old=old, new=new))
            continue
        updates.append(_Update(name=name, old=old, new=new))
    wanted = [req for u in (*updates, *hash_only) for req in (u.old, u.new) if req is not None]
    if wanted:
        session.progress(f"reading the metadata of {len(wanted)} wheels")
    wheels = wheelhouse.fetch_wheels(
        wanted, base.target, cache=session.cache, progress=session.progress
    )
    by_req = dict(zip(((r.name, r.version, r.hashes) for r in wanted), wheels, strict=True))
    requires: dict[tuple[str, str], list[Requirement]] = {}
    for req in wanted:
        requires[(req.name, req.version)] = requires_dist(
            by_req[(req.name, req.version, req.hashes)]
        )
    for update in hash_only:
        assert update.old is not None  # noqa: S101 - hash_only holds both sides
        assert update.new is not None  # noqa: S101
        old_wheel = by_req[(update.name, update.old.version, update.old.hashes)]
        new_wheel = by_req[(update.name, update.new.version, update.new.hashes)]
        # Only a different file is a different environment: a lock listing more (or fewer)
        # platforms' hashes installs the same wheel here.
        if wheelhouse.file_sha256(old_wheel) != wheelhouse.file_sha256(new_wheel):
            updates.append(update)
    updates.sort(key=lambda u: u.name)
    return updates, requires


def bisect(
    session: Session,
    suite: Suite,
    *,
    candidate: Path,
    fresh_baseline: bool = False,
) -> BisectReport:
    """Find the smallest set of the candidate's package updates that reproduces its change.

    The candidate runs first and is compared as ``repro replay`` compares it: with the golden,
    or with a fresh run of the suite's own lock when this machine differs from the golden's,
    when the source or inputs changed since recording, or with ``fresh_baseline``. Raises
    only for an unanswered question outside the search (no daemon, no golden, a failed
    download); a reference that cannot run gives an :attr:`Status.UNANSWERED` report.
    """
    golden = load_golden(suite)
    baseline_lock = read_lock(suite.lock_path)
    candidate_lock = read_lock(candidate)
    attributable, notes = _attribution(suite, golden, suite.inputs_path)
    base = images.resolve_base_image(
        session.client, suite.base_image, cache=session.cache, progress=session.progress
    )
    if not base.pinned:
        session.warn(
            f"warning: suite {suite.name}: base image {suite.base_image} is a tag, not "
            f"name@sha256:<digest>; its image id {base.id[:19]} is recorded"
        )
    work = _Bisector(session, suite, base)
    work.noise = golden.meta.get("noise") or {}
    baseline_reqs = baseline_lock.for_target(base.target)
    candidate_reqs = candidate_lock.for_target(base.target)
    report = ReplayReport(
        suite=suite.name,
        verdict=Verdict.BROKEN,
        attributable=attributable,
        candidate_lock=display(candidate),
        lock_diff=lock_diff(baseline_lock, candidate_lock, base),
        notes=tuple(notes),
    )
    same_lock = baseline_lock.digest(base.target) == candidate_lock.digest(base.target)
    everything = list(report.lock_diff)

    session.progress(f"bisect {suite.name}: running the candidate")
    cand = work.environment(candidate_lock, " with the candidate")
    cand_outputs = cand.run.outputs if cand.run is not None else None
    facts = cand.run.facts if cand.run is not None else {}
    report = dataclasses.replace(report, image=cand.image, error=cand.error)
    golden_base = (golden.meta.get("base_image") or {}).get("id")
    same_machine: bool | None = None
    if facts:
        same_machine = (
            machine_fingerprint(facts) == golden.meta.get("machine") and golden_base == base.id
        )
    notes = list(report.notes)
    if same_machine is False:
        notes.append(
            f"this machine differs from the golden's: {_describe_machine(facts)} here, "
            f"{_describe_machine(golden.meta.get('environment') or {})} when recorded"
            + ("" if golden_base == base.id else "; the base image id changed too")
        )
    need_fresh = (fresh_baseline or not attributable or same_machine is not True) and not same_lock
    reference: Mapping[str, Array] = golden.outputs
    if need_fresh:
        session.progress(f"bisect {suite.name}: running the suite's own lock")
        fresh = work.environment(baseline_lock, " with its own lock")
        fresh_outputs = fresh.run.outputs if fresh.run is not None else None
        if same_machine is None and fresh.run is not None and fresh.run.facts:
            same_machine = (
                machine_fingerprint(fresh.run.facts) == golden.meta.get("machine")
                and golden_base == base.id
            )
        golden_cmp = None if fresh_outputs is None else work.compare(golden.outputs, fresh_outputs)
        # The candidate is step 1 whatever happens next; the baseline's step follows.
        cand_verdict = (
            Verdict.BROKEN
            if cand_outputs is None
            else (work.compare(fresh_outputs, cand_outputs).verdict if fresh_outputs else None)
        )
        work.record(
            StepKind.CANDIDATE,
            everything,
            outcome=Outcome.PASSES if cand_verdict in _OK else Outcome.REPRODUCES,
            verdict=cand_verdict,
            image=cand.image,
            reused=cand.reused,
            seconds=cand.seconds,
            detail=_first_line(cand.error),
        )
        work.record(
            StepKind.BASELINE,
            (),
            outcome=Outcome.PASSES,
            verdict=None if golden_cmp is None else golden_cmp.verdict,
            image=fresh.image,
            reused=fresh.reused,
            seconds=fresh.seconds,
            detail=_first_line(fresh.error),
        )
        if fresh_outputs is None:
            why = _first_line(fresh.error) or "it did not run"
            reason = (
                f"the suite's own lock does not run here ({why}): nothing to compare mixes with"
            )
            report = dataclasses.replace(
                report,
                verdict=Verdict.BROKEN if cand_outputs is None else Verdict.CHANGED,
                machine_matches_golden=same_machine,
                notes=tuple(notes),
            )
            return BisectReport(
                replay=report, status=Status.UNANSWERED, steps=tuple(work.steps), reason=reason
            )
        reference = fresh_outputs
        if not attributable:
            notes.append(
                "compared with a fresh run of the suite's own lock, so the change found is the "
                "dependencies' alone"
            )
        comparison = None if cand_outputs is None else work.compare(reference, cand_outputs)
        report = dataclasses.replace(
            report,
            verdict=Verdict.BROKEN if comparison is None else comparison.verdict,
            comparison=comparison,
            baseline=Baseline.FRESH,
            golden_comparison=golden_cmp,
            golden_reproduces=None if golden_cmp is None else golden_cmp.verdict in _OK,
            machine_matches_golden=same_machine,
            notes=tuple(notes),
        )
    else:
        comparison = None if cand_outputs is None else work.compare(reference, cand_outputs)
        verdict = Verdict.BROKEN if comparison is None else comparison.verdict
        if same_lock and verdict not in _OK and same_machine is False:
            notes.append("the lock is the golden's: the difference comes from the machine")
        report = dataclasses.replace(
            report,
            verdict=verdict,
            comparison=comparison,
            baseline=Baseline.GOLDEN,
            golden_reproduces=(verdict in _OK) if same_lock else None,
            machine_matches_golden=same_machine,
            notes=tuple(notes),
        )
        work.record(
            StepKind.CANDIDATE,
            everything,
            outcome=Outcome.PASSES if verdict in _OK else Outcome.REPRODUCES,
            verdict=verdict,
            image=cand.image,
            reused=cand.reused,
            seconds=cand.seconds,
            detail=_first_line(cand.error),
        )

    if report.verdict in _OK:
        return BisectReport(
            replay=report,
            status=Status.NOTHING,
            steps=tuple(work.steps),
            reason=f"the candidate is {report.verdict.value}",
        )
    if same_lock:
        return BisectReport(
            replay=report,
            status=Status.UNANSWERED,
            steps=tuple(work.steps),
            reason="the candidate installs exactly the suite's own lock: no package update to "
            "blame",
        )

    updates, requires = _updates(session, baseline_reqs, candidate_reqs, base)
    if not updates:
        return BisectReport(
            replay=report,
            status=Status.UNANSWERED,
            steps=tuple(work.steps),
            reason="the candidate installs the same wheels as the suite's own lock: no package "
            "update to blame",
        )
    changes = [u.change for u in updates]
    markers = base.target.markers()
    groups = group_updates(
        changes,
        requires,
        markers,
        old_edges=_graph_edges(baseline_lock, baseline_reqs),
        new_edges=_graph_edges(candidate_lock, candidate_reqs),
    )
    by_name = {u.name: u for u in updates}
    installed_old = {req.name: req.version for req in baseline_reqs}
    installed_new = {req.name: req.version for req in candidate_reqs}
    known_problems = unmet(installed_old, requires, markers) | unmet(
        installed_new, requires, markers
    )

    def test(subset: tuple[int, ...]) -> Outcome:
        moving = [by_name[change.name] for index in subset for change in groups[index].changes]
        moved = tuple(u.change for u in moving)
        names = ", ".join(u.name for u in moving)
        session.progress(f"bisect {suite.name}: step {len(work.steps) + 1}, moving {names}")
        started = time.monotonic()
        mix = _mixed_lock(baseline_reqs, moving, f"{suite.lock} + {names}")
        installed = {req.name: req.version for req in mix.requirements}
        problems = sorted(unmet(installed, requires, markers) - known_problems)
        if problems:
            work.record(
                StepKind.MIX,
                moved,
                outcome=Outcome.UNTESTABLE,
                verdict=None,
                image=None,
                reused=None,
                seconds=time.monotonic() - started,
                detail="; ".join(problems),
            )
            return Outcome.UNTESTABLE
        ran = work.environment(mix, f" moving {names}")
        outputs = ran.run.outputs if ran.run is not None else None
        verdict = Verdict.BROKEN if outputs is None else work.compare(reference, outputs).verdict
        like = (
            outputs is not None
            and cand_outputs is not None
            and work.compare(cand_outputs, outputs).verdict in _OK
        )
        outcome = classify(
            verdict,
            candidate_broken=cand_outputs is None,
            like_candidate=like,
            build_failed=ran.build_failed,
        )
        work.record(
            StepKind.MIX,
            moved,
            outcome=outcome,
            verdict=verdict,
            image=ran.image,
            reused=ran.reused,
            seconds=ran.seconds,
            detail=_first_line(ran.error),
        )
        return outcome

    found = ddmin(len(groups), test)
    culprits = tuple(
        sorted(
            (change for index in found.culprits for change in groups[index].changes),
            key=lambda c: c.name,
        )
    )
    return BisectReport(
        replay=report,
        status=Status.CULPRITS,
        culprits=culprits,
        groups=groups,
        steps=tuple(work.steps),
        minimal=found.minimal,
    )


__all__ = [
    "BisectReport",
    "GraphEdge",
    "Group",
    "Minimised",
    "Outcome",
    "Status",
    "Step",
    "StepKind",
    "bisect",
    "budget",
    "classify",
    "ddmin",
    "describe",
    "group_updates",
    "render_bisect",
    "render_bisect_markdown",
    "requires_dist",
    "summary",
    "unmet",
]
