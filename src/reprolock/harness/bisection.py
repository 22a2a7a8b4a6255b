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
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reprolock.config import Suite
from reprolock.errors import UsageError
from reprolock.harness import wheelhouse
from reprolock.harness.image import BaseImage, BuildError
from reprolock.harness.lockfile import Lock, LockedRequirement, read_lock
from reprolock.harness.replay import (
    Reference,
    RunResult,
    Session,
    Setup,
    choose_reference,
    comparer,
    machine_matches,
    machine_of,
    run_suite,
    set_up,
)
from reprolock.report.bisect import (
    BisectReport,
    Group,
    MixKind,
    MixResult,
    Outcome,
    Status,
    Step,
    StepKind,
)
from reprolock.report.replay import LockChange, ReplayReport, Verdict

Array = Any
"""An ndarray (the runs' outputs), as replay.py handles them."""

_OK = frozenset({Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE})


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


def ddmin(
    count: int,
    test: Callable[[tuple[int, ...]], Outcome],
    *,
    learned: Mapping[tuple[int, ...], Outcome] | None = None,
) -> Minimised:
    """Zeller and Hildebrandt's ddmin over the indexes ``0..count-1``, with complements.

    The full set is known to reproduce and the empty set known to pass; neither is tested.
    ``test`` gets a sorted tuple of indexes and is called at most once per subset. Anything
    but :attr:`Outcome.REPRODUCES` counts as "does not reproduce". With one culprit among
    ``count`` groups, each halving costs at most two tests.

    ``learned`` holds outcomes found elsewhere (a matrix of mixes): they are never tested
    again, and the search starts from the smallest subset among them known to reproduce.
    """
    everything = tuple(range(count))
    known: dict[tuple[int, ...], Outcome] = {
        **(learned or {}),
        everything: Outcome.REPRODUCES,
        (): Outcome.PASSES,
    }
    calls = 0

    def outcome(subset: Sequence[int]) -> Outcome:
        nonlocal calls
        key = tuple(sorted(subset))
        if key not in known:
            calls += 1
            known[key] = test(key)
        return known[key]

    # The smallest subset known to reproduce (the full set, unless outcomes were learned).
    reproducing = sorted(
        (len(key), key) for key, seen in known.items() if seen is Outcome.REPRODUCES
    )
    current = list(reproducing[0][1])
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

    @property
    def outputs(self) -> Mapping[str, Array] | None:
        return None if self.run is None else self.run.outputs

    @property
    def facts(self) -> Mapping[str, Any]:
        return {} if self.run is None else self.run.facts


@dataclass(frozen=True, kw_only=True, slots=True)
class _Mixes:
    """What testing a mix needs: the groups, the updates by name and the wheels' metadata."""

    groups: tuple[Group, ...]
    updates: Mapping[str, _Update]
    baseline: tuple[LockedRequirement, ...]
    """The suite's lock for the target: what a mix starts from."""
    requires: Requires
    markers: Mapping[str, str]
    known: frozenset[str]
    """Unmet requirements the suite's lock or the candidate has already: no mix's fault."""

    def lock(self, subset: Iterable[int], label: str) -> Lock:
        """The suite's lock with the updates of the groups ``subset`` applied: what a step of
        the search and a job of the matrix (``repro replay --mix``) both build."""
        moving = [self.updates[c.name] for index in subset for c in self.groups[index].changes]
        return _mixed_lock(self.baseline, moving, label)


def _outcome(verdict: Verdict | None) -> Outcome:
    return Outcome.PASSES if verdict in _OK else Outcome.REPRODUCES


class _Bisector:
    """One bisect: the suite, the reference outputs, the candidate's, and the steps so far."""

    def __init__(self, session: Session, suite: Suite, setup: Setup) -> None:
        self.session = session
        self.suite = suite
        self.setup = setup
        self.steps: list[Step] = []
        self.compare = comparer(suite, setup.golden)
        self.reference: Mapping[str, Array] = setup.golden.outputs
        self.candidate: Mapping[str, Array] | None = None

    def environment(self, lock: Lock, label: str) -> _Run:
        """Find or build ``lock``'s image and run the suite in it once."""
        started = time.monotonic()
        try:
            env = self.session.ensure_image(lock, self.setup.base)
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

    def record(
        self,
        kind: StepKind,
        moved: Sequence[LockChange],
        outcome: Outcome,
        verdict: Verdict | None,
        ran: _Run,
    ) -> None:
        self.steps.append(
            Step(
                number=len(self.steps) + 1,
                kind=kind,
                moved=tuple(moved),
                outcome=outcome,
                verdict=verdict,
                image=ran.image,
                reused=ran.reused,
                seconds=ran.seconds,
                detail=_first_line(ran.error),
            )
        )

    def finish(self, replay: ReplayReport, status: Status, **fields: Any) -> BisectReport:
        return BisectReport(replay=replay, status=status, steps=tuple(self.steps), **fields)

    def measure(self, fresh_baseline: bool) -> ReplayReport | BisectReport:
        """Run the candidate and compare it as ``repro replay`` does (:func:`choose_reference`):
        the replay part of the report, or an unanswered bisect when the suite's own lock, needed
        as the reference, does not run here. The candidate is step 1, a fresh baseline step 2."""
        setup, everything = self.setup, self.setup.report.lock_diff
        self.session.progress(f"bisect {self.suite.name}: running the candidate")
        cand = self.environment(setup.candidate, " with the candidate")
        self.candidate = cand.outputs
        report = dataclasses.replace(
            setup.report,
            image=cand.image,
            error=cand.error,
            machine=machine_of(
                cand.facts,
                base_id=setup.base.id,
                image_id=None if cand.run is None else cand.run.env.id,
            ),
        )
        reference = choose_reference(
            setup.golden.meta,
            setup.base.id,
            cand.facts,
            same_lock=setup.same_lock,
            fresh_baseline=fresh_baseline,
            attributable=report.attributable,
        )
        if not reference.fresh:
            comparison = (
                None if cand.outputs is None else self.compare(self.reference, cand.outputs)
            )
            report = reference.conclude(report, comparison)
            self.record(
                StepKind.CANDIDATE, everything, _outcome(report.verdict), report.verdict, cand
            )
            return report
        return self.against_fresh(report, reference, cand)

    def against_fresh(
        self, report: ReplayReport, reference: Reference, cand: _Run
    ) -> ReplayReport | BisectReport:
        """Run the suite's own lock here and make it the reference (see :meth:`measure`)."""
        setup, everything = self.setup, self.setup.report.lock_diff
        self.session.progress(f"bisect {self.suite.name}: running the suite's own lock")
        fresh = self.environment(setup.baseline, " with its own lock")
        if reference.same_machine is None:
            seen = machine_matches(setup.golden.meta, setup.base.id, fresh.facts)
            reference = dataclasses.replace(reference, same_machine=seen)
        if fresh.outputs is None:
            verdict = Verdict.BROKEN if cand.outputs is None else None
            self.record(StepKind.CANDIDATE, everything, _outcome(verdict), verdict, cand)
            self.record(StepKind.BASELINE, (), Outcome.PASSES, None, fresh)
            why = _first_line(fresh.error) or "it did not run"
            unanswered = dataclasses.replace(
                report,
                verdict=Verdict.BROKEN if cand.outputs is None else Verdict.CHANGED,
                machine_matches_golden=reference.same_machine,
                notes=(*report.notes, *reference.notes),
            )
            reason = (
                f"the suite's own lock does not run here ({why}): nothing to compare mixes with"
            )
            return self.finish(unanswered, Status.UNANSWERED, reason=reason)
        self.reference = fresh.outputs
        golden = self.compare(setup.golden.outputs, fresh.outputs)
        comparison = None if cand.outputs is None else self.compare(fresh.outputs, cand.outputs)
        verdict = Verdict.BROKEN if comparison is None else comparison.verdict
        self.record(StepKind.CANDIDATE, everything, _outcome(verdict), verdict, cand)
        self.record(StepKind.BASELINE, (), Outcome.PASSES, golden.verdict, fresh)
        notes = [] if report.attributable else [_DEPENDENCIES_ALONE]
        return reference.conclude(report, comparison, golden, notes=notes)

    def learn(
        self, groups: Sequence[Group], learned: Sequence[MixResult]
    ) -> dict[tuple[int, ...], Outcome]:
        """The subsets of ``groups`` whose outcome ``learned`` holds, each recorded as a step;
        a mix that moves anything but whole groups of these (its job saw other groups) is left
        out, with a warning."""
        owner = {(c.name, c.old, c.new): index for index, g in enumerate(groups) for c in g.changes}
        known: dict[tuple[int, ...], Outcome] = {}
        for mix in learned:
            moved = {(c.name, c.old, c.new) for c in mix.step.moved}
            subset = tuple(sorted({owner.get(change, -1) for change in moved}))
            whole = {(c.name, c.old, c.new) for i in subset if i >= 0 for c in groups[i].changes}
            if not subset or -1 in subset or whole != moved:
                self.session.warn(
                    f"warning: bisect {self.suite.name}: mix {mix.id} does not move whole groups "
                    "of this bisect (its job grouped the updates otherwise): not reused"
                )
                continue
            if subset in known:
                continue
            known[subset] = mix.step.outcome
            by = f"job {mix.job}" if mix.job else "another process"
            self.steps.append(
                dataclasses.replace(
                    mix.step,
                    number=len(self.steps) + 1,
                    kind=StepKind.KNOWN,
                    reused=None,
                    detail=f"tested by {by} ({mix.id})",
                )
            )
        return known

    def try_mix(self, mixes: _Mixes, subset: tuple[int, ...]) -> Outcome:
        """Test the suite's lock with the updates of the groups ``subset`` applied (ddmin's
        test): untestable when a requirement would be unmet, else build, run and classify."""
        moving = [mixes.updates[c.name] for index in subset for c in mixes.groups[index].changes]
        moved = tuple(u.change for u in moving)
        names = ", ".join(u.name for u in moving)
        self.session.progress(
            f"bisect {self.suite.name}: step {len(self.steps) + 1}, moving {names}"
        )
        started = time.monotonic()
        mix = mixes.lock(subset, f"{self.suite.lock} + {names}")
        installed = {req.name: req.version for req in mix.requirements}
        problems = sorted(unmet(installed, mixes.requires, mixes.markers) - mixes.known)
        if problems:
            seconds = time.monotonic() - started
            skipped = _Run(
                image=None, reused=None, run=None, error="; ".join(problems), seconds=seconds
            )
            self.record(StepKind.MIX, moved, Outcome.UNTESTABLE, None, skipped)
            return Outcome.UNTESTABLE
        ran = self.environment(mix, f" moving {names}")
        outputs = ran.outputs
        verdict = (
            Verdict.BROKEN if outputs is None else self.compare(self.reference, outputs).verdict
        )
        like = (
            outputs is not None
            and self.candidate is not None
            and self.compare(self.candidate, outputs).verdict in _OK
        )
        outcome = classify(
            verdict,
            candidate_broken=self.candidate is None,
            like_candidate=like,
            build_failed=ran.build_failed,
        )
        self.record(StepKind.MIX, moved, outcome, verdict, ran)
        return outcome


_DEPENDENCIES_ALONE = (
    "compared with a fresh run of the suite's own lock, so the change found is the "
    "dependencies' alone"
)


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


def _mixes(session: Session, old: Lock, new: Lock, base: BaseImage) -> _Mixes | None:
    """The groups of updates between the suite's lock ``old`` and the candidate ``new`` to
    search; None when the candidate installs the same wheels."""
    target = base.target
    baseline, candidate = old.for_target(target), new.for_target(target)
    updates, requires = _updates(session, baseline, candidate, base)
    if not updates:
        return None
    markers = target.markers()
    groups = group_updates(
        [u.change for u in updates],
        requires,
        markers,
        old_edges=_graph_edges(old, baseline),
        new_edges=_graph_edges(new, candidate),
    )
    known = set[str]()
    for side in (baseline, candidate):
        known |= unmet({req.name: req.version for req in side}, requires, markers)
    return _Mixes(
        groups=groups,
        updates={u.name: u for u in updates},
        baseline=baseline,
        requires=requires,
        markers=markers,
        known=frozenset(known),
    )


def bisect(
    session: Session,
    suite: Suite,
    *,
    candidate: Path,
    fresh_baseline: bool = False,
    learned: Sequence[MixResult] = (),
) -> BisectReport:
    """Find the smallest set of the candidate's package updates that reproduces its change.

    The candidate runs first and is compared as ``repro replay`` compares it: with the golden,
    or with a fresh run of the suite's own lock when this machine differs from the golden's,
    when the source or inputs changed since recording, or with ``fresh_baseline``. Raises
    only for an unanswered question outside the search (no daemon, no golden, a failed
    download); a reference that cannot run gives an :attr:`Status.UNANSWERED` report.

    ``learned``: mixes other processes tested (the jobs of a fanned-out first round, from
    ``repro merge``). Each is matched to this bisect's groups by the updates it moved; its
    outcome is taken as it is, never tested again, and recorded as a :attr:`StepKind.KNOWN`
    step. Outcomes carry across machines: each job judged its mix against a reference and a
    candidate it ran on its own machine.
    """
    setup = set_up(session, suite, candidate, warn_tag=True)
    work = _Bisector(session, suite, setup)
    report = work.measure(fresh_baseline)
    if isinstance(report, BisectReport):
        return report
    if report.verdict in _OK:
        return work.finish(
            report, Status.NOTHING, reason=f"the candidate is {report.verdict.value}"
        )
    if setup.same_lock:
        return work.finish(report, Status.UNANSWERED, reason=_SAME_LOCK)
    mixes = _mixes(session, setup.baseline, setup.candidate, setup.base)
    if mixes is None:
        return work.finish(report, Status.UNANSWERED, reason=_SAME_WHEELS)
    known = work.learn(mixes.groups, learned)
    found = ddmin(len(mixes.groups), functools.partial(work.try_mix, mixes), learned=known)
    culprits = [c for index in found.culprits for c in mixes.groups[index].changes]
    return work.finish(
        report,
        Status.CULPRITS,
        culprits=tuple(sorted(culprits, key=lambda c: c.name)),
        groups=mixes.groups,
        minimal=found.minimal,
    )


# --------------------------------------------------------------------------------------------
# Fan-out: the first round of a bisect as independent mixes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Mix:
    """A mix of a fanned-out bisect's first round."""

    id: str
    """Stable: kind, the group's first package, a digest of what moves."""
    kind: MixKind
    """One group moved, or all but one."""
    group: int
    """The group it is about."""
    subset: tuple[int, ...]
    """The groups it moves, sorted."""
    moved: tuple[LockChange, ...]
    """The updates it moves."""


_ID_PACKAGE_CHARS = 30


def mix_id(kind: MixKind, first: str, moved: Sequence[LockChange]) -> str:
    """``only-scikit-learn-1a2b3c``: readable, and bound to exactly the updates moved."""
    text = "".join(f"{c.name} {c.old or '-'} {c.new or '-'}\n" for c in moved)
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{kind.value}-{first[:_ID_PACKAGE_CHARS]}-{digest}"


def fan_out(groups: Sequence[Group]) -> tuple[Mix, ...]:
    """Every group moved alone, then every group but one: ``2k`` mixes for ``k`` groups, fewer
    when two coincide (``k = 2``: moving one is keeping back the other) or one is empty
    (``k = 1``: all but the only group is the suite's own lock).

    One round of them names a single culprit (the one group that reproduces alone) and shows
    which groups an interaction needs (those without which nothing reproduces).
    """
    everything = tuple(range(len(groups)))
    mixes: list[Mix] = []
    seen: set[tuple[int, ...]] = set()
    for kind in (MixKind.ONLY, MixKind.WITHOUT):
        for index, group in enumerate(groups):
            if kind is MixKind.ONLY:
                subset: tuple[int, ...] = (index,)
            else:
                subset = everything[:index] + everything[index + 1 :]
            if not subset or subset in seen:
                continue
            seen.add(subset)
            moved = tuple(change for i in subset for change in groups[i].changes)
            mixes.append(
                Mix(
                    id=mix_id(kind, group.names[0], moved),
                    kind=kind,
                    group=index,
                    subset=subset,
                    moved=moved,
                )
            )
    return tuple(mixes)


@dataclass(frozen=True, kw_only=True, slots=True)
class MixPlan:
    """The groups of a candidate's updates for one suite, and the first round's mixes."""

    groups: tuple[Group, ...]
    """The groups (sorted by their first package)."""
    mixes: tuple[Mix, ...]
    """:func:`fan_out` of them; empty when there is nothing to bisect."""
    reason: str | None = None
    """Why there are no mixes."""


def plan_mixes(session: Session, suite: Suite, candidate: Path) -> MixPlan:
    """The mixes of bisecting ``suite`` against ``candidate``. Nothing is built or run, but the
    base image is probed (its platform picks the wheels) and the updated wheels are fetched
    (their ``Requires-Dist`` ties updates into groups)."""
    baseline, new = read_lock(suite.lock_path), read_lock(candidate)
    base = session.base_image(suite, warn_tag=False)
    if baseline.digest(base.target) == new.digest(base.target):
        return MixPlan(groups=(), mixes=(), reason=_SAME_LOCK)
    mixes = _mixes(session, baseline, new, base)
    if mixes is None:
        return MixPlan(groups=(), mixes=(), reason=_SAME_WHEELS)
    return MixPlan(groups=mixes.groups, mixes=fan_out(mixes.groups))


def choose_mixes(mixes: Sequence[Mix], ids: Sequence[str], *, suite: str) -> list[Mix]:
    """The mixes named by ``ids`` (``--mix``), in the order given, each once; a name that is
    not one of ``mixes`` is a usage error listing them."""
    by_id = {mix.id: mix for mix in mixes}
    for name in ids:
        if name not in by_id:
            known = ", ".join(by_id) or "none: nothing to bisect"
            raise UsageError(
                f"--mix {name}: not a mix of suite {suite} and this candidate (its mixes: {known})"
            )
    return [by_id[name] for name in dict.fromkeys(ids)]


def run_mixes(
    session: Session,
    suite: Suite,
    *,
    candidate: Path,
    ids: Sequence[str],
    fresh_baseline: bool = False,
) -> BisectReport:
    """``repro replay --mix``: run the candidate as ``repro bisect`` does (and the suite's own
    lock where the golden is another machine's), then each mix named in ``ids``.

    Each mix is judged here, against this machine's reference and candidate, so the outcomes
    of jobs on different runners can be merged. Nothing is tested when the candidate behaves
    like the suite's lock. An id that is not a mix of this suite and candidate (a plan made
    with other groups) is a usage error, raised before anything is built.
    """
    setup = set_up(session, suite, candidate, warn_tag=True)
    mixes = (
        None if setup.same_lock else _mixes(session, setup.baseline, setup.candidate, setup.base)
    )
    groups = () if mixes is None else mixes.groups
    chosen = choose_mixes(fan_out(groups), ids, suite=suite.name)
    work = _Bisector(session, suite, setup)
    report = work.measure(fresh_baseline)
    if isinstance(report, BisectReport):
        return dataclasses.replace(report, groups=groups)
    if mixes is None or report.verdict in _OK:
        return work.finish(
            report, Status.NOTHING, reason=f"the candidate is {report.verdict.value}", groups=groups
        )
    results = []
    for mix in chosen:
        work.try_mix(mixes, mix.subset)
        results.append(MixResult(id=mix.id, kind=mix.kind, group=mix.group, step=work.steps[-1]))
    return work.finish(report, Status.TESTED, groups=groups, mixes=tuple(results))


_SAME_LOCK = "the candidate installs exactly the suite's own lock: no package update to blame"
_SAME_WHEELS = (
    "the candidate installs the same wheels as the suite's own lock: no package update to blame"
)


__all__ = [
    "GraphEdge",
    "Minimised",
    "Mix",
    "MixPlan",
    "bisect",
    "choose_mixes",
    "classify",
    "ddmin",
    "fan_out",
    "group_updates",
    "mix_id",
    "plan_mixes",
    "requires_dist",
    "run_mixes",
    "unmet",
]
