"""RP201 as a check: a manifest whose resolution no lock records (``application`` profile)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import PurePosixPath

from reprolock.audit.checks.interface import Check
from reprolock.audit.interface import FileFacts, Role, ScanContext, parent_dir
from reprolock.config import Profile
from reprolock.formats.pylock import NAME as PYLOCK_NAME
from reprolock.model import Finding, Location
from reprolock.rules import finding

_PYPROJECT_LOCKS = frozenset({"poetry.lock", "uv.lock", "pdm.lock"})


class LockCoverageCheck(Check):
    """Every manifest has a lock: a requirements ``.in``; in an application, a pyproject.toml
    with runtime dependencies and a Pipfile too."""

    name = "lock coverage"
    rules = ("RP201",)

    def run(self, facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterable[Finding]:
        covered = {p for ff in facts.values() if ff.role is Role.LOCK for p in ff.compiled_from}
        found = list(_requirements_sources(facts, ctx, covered))
        if ctx.config.profile is Profile.APPLICATION:
            found += [*_pyprojects(facts, ctx, covered), *_pipfiles(facts, ctx)]
        return found


def _pyprojects(
    facts: Mapping[str, FileFacts], ctx: ScanContext, covered: set[str]
) -> Iterator[Finding]:
    for ff in facts.values():
        if ff.kind != "pyproject" or ff.manifest is None or not ff.manifest.runtime_line:
            continue
        names = ctx.names_in(parent_dir(ff.path))
        if ff.path in covered or any(n in _PYPROJECT_LOCKS or PYLOCK_NAME.match(n) for n in names):
            continue
        msg = f"{ff.path} declares dependencies but no lock file records their resolution"
        yield finding(
            "RP201",
            msg,
            Location(path=ff.path, line=ff.manifest.runtime_line),
            subject=ff.path,
            fix=ff.manifest.lock_command,
        )


def _pipfiles(facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterator[Finding]:
    for ff in facts.values():
        if ff.kind != "Pipfile" or ff.role is not Role.MANIFEST or not ff.declared:
            continue
        lock = f"{parent_dir(ff.path)}/Pipfile.lock".lstrip("/")
        if lock not in facts and lock not in ctx.files:
            loc = Location(path=ff.path, line=1)
            yield finding("RP201", "Pipfile has no Pipfile.lock beside it", loc, fix="pipenv lock")


def _requirements_sources(
    facts: Mapping[str, FileFacts], ctx: ScanContext, covered: set[str]
) -> Iterator[Finding]:
    manifests = [
        ff
        for ff in facts.values()
        if ff.kind == "requirements" and ff.role is Role.MANIFEST and ff.path.endswith(".in")
    ]
    covered = covered | {ff.path for ff in manifests if ff.manifest and ff.manifest.compiled}
    # whatever a compiled .in includes is compiled with it
    queue = sorted(covered)
    while queue:
        node = facts.get(queue.pop())
        for include in node.includes if node is not None else ():
            if include.target in facts and include.target not in covered:
                covered.add(include.target)
                queue.append(include.target)
    for ff in manifests:
        if ff.path in covered or not ff.declared:
            continue
        name = PurePosixPath(ff.path).name
        lock = ff.path[:-3] + ".txt"
        generate = " --generate-hashes" if ctx.config.require_hashes else ""
        message = f"{name} has no compiled lock: no {PurePosixPath(lock).name} beside it"
        fix = f"pip-compile{generate} --output-file={lock} {ff.path}"
        loc = Location(path=ff.path, line=1, column=1)
        yield finding("RP201", message, loc, subject=ff.path, fix=fix)
