"""Is a uv.lock in sync with its workspace? The question ``uv lock --check`` answers.

uv records each workspace project's requirements in ``[package.metadata]`` as it *lowered*
them: a requirement whose name has ``[tool.uv.sources]`` entries becomes one requirement per
source, each under the source's marker, plus one from the index under the negation of them
all; an index source keeps the version specifier, a git, URL, path or workspace source does
not. The declared requirements are lowered the same way here, then compared with the records
as uv compares them: same name, extras, origin (a git, URL or path requirement is not the
index's) and specifier, and markers that select the same environments.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.audit.interface import FileFacts
from reprolock.audit.locks import beside, member_manifest
from reprolock.formats.lock import Group, LockedProject, Recorded
from reprolock.formats.uv import UvProject, UvSource

Condition = tuple[tuple[str, bool], ...]
"""A conjunction of markers, each possibly negated: ``((marker, negated), ...)``; () holds
everywhere. PEP 508 has no ``not``, and lowering needs one."""

Drift = tuple[str, str, int, str]
"""(manifest path, what differs, line in the lock, subject)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Req:
    """A requirement reduced to what uv compares."""

    name: str
    extras: frozenset[str]
    specifier: frozenset[Specifier] | None
    """None: not compared (lowered to a git, URL or path source, or not readable here)."""
    when: Condition | None
    """Where it applies; None: not compared (a source chosen by extra or group)."""
    origin: str | None
    """Where uv takes it from (:attr:`~reprolock.formats.lock.Recorded.origin`): a git, URL or
    path requirement is not the index's of the same name; None: not compared."""
    text: str
    line: int = 1


def uv_drift(lock: FileFacts, facts: Mapping[str, FileFacts]) -> Iterator[Drift]:
    """What differs between a uv.lock and the projects of its workspace."""
    assert lock.lock is not None  # noqa: S101 - the caller passes locks only
    meta = lock.lock.meta
    python = meta.requires_python
    own = beside(lock.path, "pyproject.toml")
    seen_own = False
    for project in meta.projects:
        rel = member_manifest(lock.path, project.path)
        manifest = facts.get(rel) if rel is not None else None
        inputs = manifest.manifest.uv if manifest and manifest.manifest else None
        if manifest is None or inputs is None:
            continue
        seen_own = seen_own or manifest.path == own
        problem = _member_drift(inputs, project, python)
        if problem is not None:
            yield (manifest.path, problem[0], problem[1], project.name)
    manifest = facts.get(own)
    inputs = manifest.manifest.uv if manifest and manifest.manifest else None
    if manifest is None or inputs is None:
        return
    name = "pyproject.toml"
    if inputs.project and inputs.name and not seen_own:
        yield (name, f"project {inputs.name} is not in the lock", 1, inputs.name)
        return
    if not inputs.project:
        problem = _groups_drift(inputs, inputs.groups, meta.groups, python)
        if problem is not None:
            yield (name, problem[0], problem[1], name)
    declared = inputs.requires_python if inputs.project else None
    # a workspace lock records the intersection of its members' ranges
    if (
        len(meta.projects) <= 1
        and declared is not None
        and python is not None
        and not _same_python_range(declared, python)
    ):
        message = f"requires-python is {declared!r} there but {python!r} here"
        yield (name, message, meta.requires_python_line, name)


def _member_drift(
    inputs: UvProject, project: LockedProject, python: str | None
) -> tuple[str, int] | None:
    """What differs between a pyproject and its ``[package.metadata]`` in uv.lock."""
    if inputs.project:
        dynamic = set(inputs.dynamic)
        expected: list[_Req] = []
        if "dependencies" not in dynamic:
            expected += _lowered(inputs, inputs.dependencies)
        if "optional-dependencies" not in dynamic:
            for extra, texts in inputs.optional.items():
                expected += _lowered(inputs, texts, extra=extra)
        if not dynamic & {"dependencies", "optional-dependencies"}:
            missing, extra_req = _diff(expected, _recorded(project.requires_dist), python)
            if missing is not None:
                return f"{missing.text} is declared but not locked", project.requires_dist_line
            if extra_req is not None:
                msg = f"the lock records {extra_req.text}, which is no longer declared"
                return msg, extra_req.line
        provided = project.provides_extras
        declared_extras = tuple(sorted(inputs.optional))
        if (
            provided is not None
            and "optional-dependencies" not in dynamic
            and provided != declared_extras
        ):
            msg = (
                f"extras {list(declared_extras)} are declared but the lock provides "
                f"{list(provided)}"
            )
            return msg, project.provides_extras_line
    return _groups_drift(inputs, inputs.groups, project.requires_dev, python)


def _groups_drift(
    inputs: UvProject,
    declared: Mapping[str, Sequence[str]],
    locked: Sequence[Group],
    python: str | None,
) -> tuple[str, int] | None:
    expected = {g: _lowered(inputs, texts, group=g) for g, texts in declared.items()}
    expected = {g: reqs for g, reqs in expected.items() if reqs}
    lines = {g.name: g.line for g in locked}
    recorded = {g.name: _recorded(g.requirements) for g in locked}
    recorded = {g: reqs for g, reqs in recorded.items() if reqs}
    for group in sorted(set(expected) | set(recorded)):
        line = lines.get(group, 1)
        if group not in recorded:
            return f"dependency group {group} is declared but not locked", line
        if group not in expected:
            return f"the lock records dependency group {group}, which is no longer declared", line
        missing, extra_req = _diff(expected[group], recorded[group], python)
        if missing is not None:
            return f"{missing.text} (group {group}) is declared but not locked", line
        if extra_req is not None:
            msg = f"the lock records {extra_req.text} in group {group}, no longer declared"
            return msg, extra_req.line
    return None


# --- lowering, as uv does it --------------------------------------------------------------


def _lowered(
    inputs: UvProject, texts: Sequence[str], *, extra: str = "", group: str = ""
) -> list[_Req]:
    """The requirements uv records for ``texts`` (of ``extra`` or ``group``)."""
    out: list[_Req] = []
    for text in texts:
        req = _requirement(text)
        if req is None:
            continue  # the pyproject scan already reported it
        name = str(canonicalize_name(req.name))
        when: Condition = ((str(req.marker), False),) if req.marker is not None else ()
        if extra:
            when = (*when, (f"extra == '{extra}'", False))
        base = _Req(
            name=name,
            extras=frozenset(str(canonicalize_name(e)) for e in req.extras),
            specifier=None if req.url is not None or "${" in text else frozenset(req.specifier),
            when=when,
            origin=_direct_origin(req.url) if req.url is not None else None if "${" in text else "",
            text=text.strip(),
        )
        sources = [s for s in inputs.sources if s.name == name]
        out.extend(_through(base, sources, extra=extra, group=group))
    return out


@functools.lru_cache(maxsize=4096)
def _requirement(text: str) -> Requirement | None:
    """``text`` parsed (memoised: a monorepo's projects declare the same requirements); None
    when it is not a valid requirement. Callers only read the result."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def _through(base: _Req, sources: Sequence[UvSource], *, extra: str, group: str) -> list[_Req]:
    """``base`` lowered through the ``[tool.uv.sources]`` entries of its name."""
    if not sources:
        return [base]
    if any(s.extra or s.group for s in sources):
        # sources chosen by extra or group: compared by name and extras only
        applies = [s for s in sources if s.extra in ("", extra) and s.group in ("", group)]
        if not applies:
            return [base]
        return [
            _Req(
                name=base.name,
                extras=base.extras,
                specifier=None,
                when=None,
                origin=None,
                text=base.text,
            )
        ]
    out = [
        _Req(
            name=base.name,
            extras=base.extras,
            specifier=base.specifier if s.origin == "index" else None,
            when=(*(base.when or ()), (s.marker, False)) if s.marker else base.when,
            origin=s.origin,
            text=base.text,
        )
        for s in sources
    ]
    if all(s.marker for s in sources):
        # where no source's marker holds, the requirement comes from the index as written
        rest = tuple((s.marker, True) for s in sources if s.marker)
        out.append(
            _Req(
                name=base.name,
                extras=base.extras,
                specifier=base.specifier,
                when=(*(base.when or ()), *rest),
                origin=base.origin,
                text=base.text,
            )
        )
    return out


def _direct_origin(url: str) -> str:
    """The origin uv records for a ``name @ url`` requirement."""
    if url.startswith("git+"):
        return "git"
    return "path" if url.startswith("file:") else "url"


def _recorded(records: Sequence[Recorded]) -> list[_Req]:
    out = []
    for r in records:
        text = r.name + (f"[{','.join(r.extras)}]" if r.extras else "")
        text += r.specifier + (f" ; {r.marker}" if r.marker else "")
        out.append(
            _Req(
                name=r.name,
                extras=frozenset(r.extras),
                specifier=None if r.sourced else _specifier_set(r.specifier),
                when=((r.marker, False),) if r.marker else (),
                origin=r.origin,
                text=text,
                line=r.line,
            )
        )
    return out


@functools.lru_cache(maxsize=4096)
def _specifier_set(text: str) -> frozenset[Specifier] | None:
    try:
        return frozenset(SpecifierSet(text))
    except InvalidSpecifier:
        return None


# --- comparing -----------------------------------------------------------------------------


def _diff(
    expected: list[_Req], actual: list[_Req], python: str | None
) -> tuple[_Req | None, _Req | None]:
    """(first declared requirement missing from the lock, first locked one not declared).

    A declared requirement that never applies (a lowered remainder whose markers exclude
    every environment) is not looked for."""
    unique: dict[tuple[object, ...], _Req] = {}
    for e in expected:
        unique.setdefault((e.name, e.extras, e.specifier, e.when), e)
    remaining = list(actual)
    for e in unique.values():
        for a in remaining:
            if _same(e, a, python):
                remaining.remove(a)
                break
        else:
            if e.when is not None and _equivalent(e.when, ((_NEVER, False),), python):
                continue
            return e, None
    return None, (remaining[0] if remaining else None)


_NEVER = "python_version < '0'"


def _same(e: _Req, a: _Req, python: str | None) -> bool:
    if e.name != a.name or e.extras != a.extras:
        return False
    if e.origin is not None and a.origin is not None and e.origin != a.origin:
        return False
    if e.specifier is not None and a.specifier is not None and e.specifier != a.specifier:
        return False
    return e.when is None or a.when is None or _equivalent(e.when, a.when, python)


_MARKER_VARS = re.compile(
    r"\b(python_full_version|python_version|os_name|sys_platform|platform_release|"
    r"platform_system|platform_version|platform_machine|platform_python_implementation|"
    r"implementation_name|implementation_version|extra)\b"
)
_MARKER_LITERAL = re.compile(r"""(['"])(.*?)\1""")
_BASE_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.0",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_release": "6.0",
    "platform_system": "Linux",
    "platform_version": "1",
    "python_full_version": "3.11.0",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
    "sys_platform": "linux",
    "extra": "",
}
_MAX_SAMPLES = 20000
_PYTHONS = ("python_version", "python_full_version")


def _python_samples(literals: list[str], requires_python: str | None) -> list[str]:
    samples = {f"3.{minor}.0" for minor in range(16)} | {"2.7.18", "3.11.5"}
    for text in literals:
        try:
            release = Version(text.rstrip(".*")).release
        except InvalidVersion:
            continue
        major = release[0]
        minor = release[1] if len(release) > 1 else 0
        micro = release[2] if len(release) > 2 else 0
        for mi, mc in (
            (minor, 0),
            (minor, 1),
            (minor, micro),
            (minor, micro + 1),
            (minor + 1, 0),
            (max(minor - 1, 0), 0),
            (max(minor - 1, 0), 99),
        ):
            samples.add(f"{major}.{mi}.{mc}")
    ordered = sorted(samples, key=Version)
    if requires_python:
        try:
            allowed = SpecifierSet(requires_python)
        except InvalidSpecifier:
            return ordered
        kept = [v for v in ordered if allowed.contains(v, prereleases=True)]
        return kept or ordered
    return ordered


def _equivalent(a: Condition, b: Condition, requires_python: str | None) -> bool:
    """Whether two conditions select the same environments (within ``requires_python``).

    uv compares markers as canonical decision diagrams, so ``python_version >= '3.11'`` and
    ``python_full_version >= '3.11'`` are equal. Evaluating both on every boundary the markers
    mention reaches the same verdict for the comparisons markers can express. When a marker
    cannot be evaluated the two are taken as equal: no stale-lock finding on a guess.
    """
    if a == b:
        return True
    texts = [t for t, _ in (*a, *b)]
    try:
        conditions = [[(Marker(t), negated) for t, negated in c] for c in (a, b)]
    except InvalidMarker:
        return True
    variables = sorted(set(_MARKER_VARS.findall(" ".join(texts))))
    literals = [m.group(2) for t in texts for m in _MARKER_LITERAL.finditer(t)]
    axes: list[list[dict[str, str]]] = []
    if set(_PYTHONS) & set(variables):
        axes.append(
            [
                {"python_full_version": v, "python_version": ".".join(v.split(".")[:2])}
                for v in _python_samples(literals, requires_python)
            ]
        )
    for var in variables:
        if var in _PYTHONS:
            continue
        values = [*dict.fromkeys(literals), "0" if var.endswith(("version", "release")) else ""]
        axes.append([{var: v} for v in values])
    size = 1
    for axis in axes:
        size *= len(axis)
    if size > _MAX_SAMPLES:
        return True
    for combo in itertools.product(*axes):
        env = dict(_BASE_ENV)
        for part in combo:
            env.update(part)
        try:
            results = [all(m.evaluate(env) != neg for m, neg in c) for c in conditions]
        except (UndefinedComparison, UndefinedEnvironmentName, ValueError, TypeError):
            return True
        if results[0] != results[1]:
            return False
    return True


def _same_python_range(a: str, b: str) -> bool:
    try:
        sa, sb = SpecifierSet(a), SpecifierSet(b)
    except InvalidSpecifier:
        return True
    if sa == sb:
        return True
    literals = [m.group(0) for m in re.finditer(r"\d+(?:\.\d+)*", f"{a} {b}")]
    for version in _python_samples(literals, None):
        if sa.contains(version, prereleases=True) != sb.contains(version, prereleases=True):
            return False
    return True
