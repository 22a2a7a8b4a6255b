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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reprolock.config import Suite
from reprolock.harness import wheelhouse
from reprolock.harness.image import BaseImage, BuildError
from reprolock.harness.lockfile import Lock, LockedRequirement
from reprolock.harness.replay import (
    Reference,
    RunResult,
    Session,
    Setup,
    choose_reference,
    comparer,
    machine_matches,
    run_suite,
    set_up,
)
from reprolock.report.bisect import BisectReport, Group, Outcome, Status, Step, StepKind
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
        report = dataclasses.replace(setup.report, image=cand.image, error=cand.error)
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
        mix = _mixed_lock(mixes.baseline, moving, f"{self.suite.lock} + {names}")
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


def _mixes(session: Session, setup: Setup) -> _Mixes | None:
    """The groups of updates to search; None when the candidate installs the same wheels."""
    target = setup.base.target
    baseline, candidate = setup.baseline.for_target(target), setup.candidate.for_target(target)
    updates, requires = _updates(session, baseline, candidate, setup.base)
    if not updates:
        return None
    markers = target.markers()
    groups = group_updates(
        [u.change for u in updates],
        requires,
        markers,
        old_edges=_graph_edges(setup.baseline, baseline),
        new_edges=_graph_edges(setup.candidate, candidate),
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
) -> BisectReport:
    """Find the smallest set of the candidate's package updates that reproduces its change.

    The candidate runs first and is compared as ``repro replay`` compares it: with the golden,
    or with a fresh run of the suite's own lock when this machine differs from the golden's,
    when the source or inputs changed since recording, or with ``fresh_baseline``. Raises
    only for an unanswered question outside the search (no daemon, no golden, a failed
    download); a reference that cannot run gives an :attr:`Status.UNANSWERED` report.
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
    mixes = _mixes(session, setup)
    if mixes is None:
        return work.finish(report, Status.UNANSWERED, reason=_SAME_WHEELS)
    found = ddmin(len(mixes.groups), functools.partial(work.try_mix, mixes))
    culprits = [c for index in found.culprits for c in mixes.groups[index].changes]
    return work.finish(
        report,
        Status.CULPRITS,
        culprits=tuple(sorted(culprits, key=lambda c: c.name)),
        groups=mixes.groups,
        minimal=found.minimal,
    )


_SAME_LOCK = "the candidate installs exactly the suite's own lock: no package update to blame"
_SAME_WHEELS = (
    "the candidate installs the same wheels as the suite's own lock: no package update to blame"
)


__all__ = [
    "GraphEdge",
    "Minimised",
    "bisect",
    "classify",
    "ddmin",
    "group_updates",
    "requires_dist",
    "unmet",
]
