"""RP504 Python version drift: requires-python, .python-version, images, conda and CI disagree.

*Shipping* statements are ``.python-version`` (its first version; further lines are extra pyenv
interpreters), base images and conda ``python=``. Reported:

- a shipping minor version that disagrees with the majority (most statements; ties go to the
  version ``requires-python`` admits, then to path order), at the minority statement;
- a shipping version that the nearest ``requires-python`` (same or closest ancestor directory,
  else the only one in the repository) does not admit, at the shipping statement;
- a CI job's Python that the ``requires-python`` of a project the job installs (``pip install
  .``, ``uv sync``, ``poetry install``) does not admit, at the CI statement: the job tests
  something that cannot be installed there;
- CI versions of which none is shipped, at each CI statement.

Minor versions are compared: ``3.11.7`` and ``3.11`` agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from reprolock.audit.checks.environments import Model, Recipe
from reprolock.audit.checks.environments import Statement as Stated
from reprolock.audit.frameworks import PYTHON_VERSION_FILE
from reprolock.audit.images import repository_and_tag, split_image
from reprolock.audit.interface import parent_dir
from reprolock.model import Finding, Location
from reprolock.rules import finding

SHIPPING_ORIGINS = frozenset({PYTHON_VERSION_FILE, "base image", "conda"})
CI_ORIGIN = "ci"
REQUIRES_ORIGIN = "requires-python"

_MINOR = re.compile(r"^(?:cpython-?|python-?)?(\d+)\.(\d+)(?=$|[.\-+a-z])", re.I)


def python_minor(value: str) -> tuple[int, int] | None:
    """``(3, 11)`` for ``3.11``, ``3.11.7``, ``3.13-dev``, ``cpython-3.12``; None otherwise."""
    m = _MINOR.match(value.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True, kw_only=True, slots=True)
class Statement:
    """A Python version stated somewhere, with a recognisable minor version."""

    path: str
    python: Stated
    minor: tuple[int, int]

    @property
    def label(self) -> str:
        """``3.11``."""
        return f"{self.minor[0]}.{self.minor[1]}"

    @property
    def where(self) -> str:
        """``Dockerfile:1 (base image)``."""
        return f"{self.path}:{self.python.line} ({self.python.origin})"

    @property
    def subject(self) -> str:
        """``python 3.11``: the fingerprint tells statements of one file apart."""
        return f"python {self.python.value}"

    @property
    def location(self) -> Location:
        """Where the statement is."""
        return Location(path=self.path, line=max(self.python.line, 1))


def _statements(recipes: Mapping[str, Recipe]) -> tuple[list[Statement], list[Statement]]:
    """Shipping and CI statements with a recognisable minor version, in path and line order."""
    shipping: list[Statement] = []
    ci: list[Statement] = []
    for path in sorted(recipes):
        first_pyenv = True
        for python in sorted(recipes[path].pythons, key=lambda p: p.line):
            minor = python_minor(python.value)
            if python.origin == PYTHON_VERSION_FILE:
                if not first_pyenv:
                    continue  # further pyenv versions are extra interpreters, not the project's
                first_pyenv = False
            if minor is None:
                continue
            statement = Statement(path=path, python=python, minor=minor)
            if python.origin in SHIPPING_ORIGINS:
                shipping.append(statement)
            elif python.origin == CI_ORIGIN:
                ci.append(statement)
    return shipping, ci


def python_drift(model: Model) -> list[Finding]:
    """RP504 over the repository's Python statements and its CI jobs."""
    shipping, ci = _statements(model.recipes)
    requires = _Applicable(_requires(model.recipes))
    out: list[Finding] = list(_ci_not_admitted(model, requires))
    judged = {(f.location.path, f.location.line, f.subject) for f in out}
    if not shipping:
        return out
    majority = _majority(shipping, requires)
    agreeing = [s for s in shipping if s.minor == majority]
    places = ", ".join(a.where for a in agreeing[:3])
    if len(agreeing) > 3:
        places += f" and {len(agreeing) - 3} more"
    for s in shipping:
        if s.minor == majority:
            continue
        message = (
            f"Python {s.python.value} here ({s.python.origin}), but {_label(majority)} in {places}"
        )
        fix = _shipping_fix(s, _label(majority), model.recipes)
        out.append(finding("RP504", message, s.location, subject=s.subject, fix=fix))
    out.extend(_not_admitted(model.recipes, shipping, requires, majority))
    out.extend(
        f
        for f in _ci_drift(shipping, ci, majority)
        if (f.location.path, f.location.line, f.subject) not in judged
    )
    return out


def _admitted(s: Statement, requires: _Applicable) -> bool:
    applies = requires.nearest(s.path)
    return applies is None or requires.admits(applies, s.python.value, s.minor)


def _majority(shipping: Sequence[Statement], requires: _Applicable) -> tuple[int, int]:
    """The reference minor: most statements, then admitted by requires-python, then the one
    stated first in path order."""
    order = list(dict.fromkeys(s.minor for s in shipping))

    def rank(minor: tuple[int, int]) -> tuple[int, bool, int]:
        stating = [s for s in shipping if s.minor == minor]
        admitted = all(_admitted(s, requires) for s in stating)
        return len(stating), admitted, -order.index(minor)

    return max(order, key=rank)


def _label(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def _shipping_fix(s: Statement, version: str, recipes: Mapping[str, Recipe]) -> str:
    origin = s.python.origin
    if origin == PYTHON_VERSION_FILE:
        return version
    if origin == "conda":
        return f"python={version}"
    for ref, line in recipes[s.path].images:
        if line != s.python.line:
            continue
        _, tag = repository_and_tag(ref)
        m = re.match(r"\d+\.\d+(?:\.\d+)?", tag)
        if m:
            return f"FROM {split_image(ref).name}:{version}{tag[m.end() :]}"
    return f"Python {version}"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Requires:
    path: str
    line: int
    text: str
    spec: SpecifierSet


def _requires(recipes: Mapping[str, Recipe]) -> list[_Requires]:
    found: list[_Requires] = []
    for path in sorted(recipes):
        for python in recipes[path].pythons:
            if python.origin != REQUIRES_ORIGIN:
                continue
            try:
                spec = SpecifierSet(python.value)
            except InvalidSpecifier:
                continue
            found.append(_Requires(path=path, line=python.line, text=python.value, spec=spec))
    return found


class _Applicable:
    """The ``requires-python`` statements of a repository, indexed by directory once, and
    their verdicts memoised: every shipping statement asks, several times."""

    def __init__(self, requires: Sequence[_Requires]) -> None:
        self.requires = requires
        self.by_dir: dict[str, _Requires] = {}
        self.by_path: dict[str, _Requires] = {}
        for r in requires:
            self.by_dir.setdefault(parent_dir(r.path), r)
            self.by_path.setdefault(r.path, r)
        self.verdicts: dict[tuple[str, str, tuple[int, int]], bool] = {}

    def nearest(self, path: str) -> _Requires | None:
        """The statement in the closest directory at or above ``path``'s."""
        if not self.requires:
            return None
        directory = parent_dir(path)
        while True:
            found = self.by_dir.get(directory)
            if found is not None:
                return found
            if not directory:
                break
            directory = parent_dir(directory)
        # No ancestor states one: the repository's only requires-python applies, if any.
        return self.requires[0] if len(self.by_dir) == 1 else None

    def admits(self, applies: _Requires, value: str, minor: tuple[int, int]) -> bool:
        """:func:`admits` for ``applies``; one verdict per specifier text and version."""
        key = (applies.text, value, minor)
        verdict = self.verdicts.get(key)
        if verdict is None:
            verdict = self.verdicts[key] = admits(applies.spec, value, minor)
        return verdict


def admits(spec: SpecifierSet, value: str, minor: tuple[int, int]) -> bool:
    """Whether ``spec`` admits the stated version: exactly for ``3.11.7``; for ``3.11``,
    whether any 3.11 release could satisfy it."""
    try:
        exact = Version(value.strip())
    except InvalidVersion:
        exact = None
    if exact is not None and len(exact.release) >= 3:
        return spec.contains(exact, prereleases=True)
    return any(
        spec.contains(Version(f"{minor[0]}.{minor[1]}.{patch}"), prereleases=True)
        for patch in range(64)
    )


def _not_admitted(
    recipes: Mapping[str, Recipe],
    shipping: Sequence[Statement],
    requires: _Applicable,
    majority: tuple[int, int],
) -> Iterator[Finding]:
    minors = dict.fromkeys(x.minor for x in shipping)
    for s in shipping:
        applies = requires.nearest(s.path)
        if applies is None or requires.admits(applies, s.python.value, s.minor):
            continue
        message = (
            f"Python {s.python.value} ({s.python.origin}) is not admitted by requires-python "
            f"{applies.text!r} ({applies.path}:{applies.line})"
        )
        good = [m for m in minors if requires.admits(applies, "", m)]
        if majority in good:
            good.insert(0, majority)
        fix = _shipping_fix(s, _label(good[0]), recipes) if good else None
        yield finding("RP504", message, s.location, subject=s.subject, fix=fix)


def _ci_not_admitted(model: Model, requires: _Applicable) -> Iterator[Finding]:
    """CI jobs whose Python a project they install does not admit."""
    seen: set[tuple[str, int, str]] = set()
    for env in model.environments:
        if env.section is None or env.section.kind != "job":
            continue
        installed = [requires.by_path[m] for m in env.members[1:] if m in requires.by_path]
        if not installed:
            continue
        for python in env.pythons:
            minor = python_minor(python.value)
            if python.origin != CI_ORIGIN or minor is None:
                continue
            statement = Statement(path=env.path, python=python, minor=minor)
            for applies in installed:
                key = (env.path, python.line, statement.subject)
                if key in seen or requires.admits(applies, python.value, minor):
                    continue
                seen.add(key)
                message = (
                    f"CI job {env.section.name} runs Python {python.value}, but it installs "
                    f"{parent_dir(applies.path) or 'the project'} whose requires-python is "
                    f"{applies.text!r} ({applies.path}:{applies.line})"
                )
                fix = _admitted_minor(applies, requires)
                yield finding(
                    "RP504",
                    message,
                    statement.location,
                    subject=statement.subject,
                    fix=f"python-version: '{fix}'" if fix else None,
                )


def _admitted_minor(applies: _Requires, requires: _Applicable) -> str | None:
    """The oldest Python 3 minor release ``applies`` admits (what a CI job should test)."""
    for minor in range(6, 20):
        if requires.admits(applies, "", (3, minor)):
            return f"3.{minor}"
    return None


def _ci_drift(
    shipping: Sequence[Statement], ci: Sequence[Statement], majority: tuple[int, int]
) -> Iterator[Finding]:
    if not ci:
        return
    shipped = {s.minor for s in shipping}
    if shipped & {c.minor for c in ci}:
        return
    first = next(s for s in shipping if s.minor == majority)
    for c in ci:
        message = (
            f"CI tests Python {c.python.value}, but the project ships {_label(majority)} "
            f"({first.where}) and CI tests no shipped version"
        )
        yield finding(
            "RP504",
            message,
            c.location,
            subject=c.subject,
            fix=f"python-version: '{_label(majority)}'",
        )
