"""RP202 as a check: a lock out of sync with the manifest it was made from.

One "in sync?" function per lock format, each comparing what the lock recorded
(:attr:`FileFacts.lock`) with what its manifest says now (:attr:`FileFacts.manifest`,
:attr:`FileFacts.declared`), the way the lock's own tool decides to lock again.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import PurePosixPath

from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from reprolock.audit.checks.interface import Check
from reprolock.audit.checks.uv_sync import uv_drift
from reprolock.audit.conda import conda_version_admits, parse_conda_spec
from reprolock.audit.interface import Declared, FileFacts, Role, ScanContext, parent_dir
from reprolock.audit.locks import beside
from reprolock.formats.errors import redact_url
from reprolock.formats.spec import Spec, SpecKind
from reprolock.model import Finding, Location
from reprolock.rules import finding

SyncCheck = Callable[[FileFacts, Mapping[str, FileFacts]], Iterable[Finding]]
"""(a lock's facts, every file's facts) -> its RP202 findings."""


class LockSyncCheck(Check):
    """Each lock against the manifest it was made from."""

    name = "lock sync"
    rules = ("RP202",)

    def run(self, facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterable[Finding]:
        out: list[Finding] = []
        requirements: list[tuple[Finding, str]] = []
        markers: dict[tuple[str, str], str] = {}
        for lock in facts.values():
            if lock.role is not Role.LOCK or lock.lock is None:
                continue
            if lock.lock.format == "requirements":
                requirements.extend(_requirements(lock, facts, markers))
                continue
            in_sync = _BY_FORMAT.get(lock.lock.format)
            if in_sync is not None:
                out.extend(in_sync(lock, facts))
        return [*out, *_one_per_line(requirements)]


def stale(
    lock: FileFacts, manifest: str, message: str, *, line: int, subject: str, fix: str
) -> Finding:
    """RP202 at ``line`` of ``lock``: it is out of sync with ``manifest`` for ``message``."""
    text = f"{PurePosixPath(lock.path).name} is out of sync with {manifest}: {message}"
    return finding(
        "RP202", text, Location(path=lock.path, line=max(line, 1)), subject=subject, fix=fix
    )


def _version(text: str) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _poetry(lock: FileFacts, facts: Mapping[str, FileFacts]) -> Iterator[Finding]:
    """poetry.lock: its content-hash against the pyproject's, for the Poetry that wrote it."""
    assert lock.lock is not None  # noqa: S101 - LockSyncCheck passes locks only
    meta = lock.lock.meta
    manifest = facts.get(beside(lock.path, "pyproject.toml"))
    inputs = manifest.manifest if manifest is not None else None
    if manifest is None or inputs is None or not meta.content_hash or not inputs.poetry_hash:
        return
    accepted = {inputs.poetry_hash}
    generator = _version(meta.generator)
    # Poetry < 2.3 left [dependency-groups] out of the hash, and Poetry >= 2.3 still
    # accepts such a lock when its header names the older version.
    if generator is None or generator < Version("2.3"):
        accepted.add(inputs.poetry_hash_pre_2_3)
    if meta.content_hash in accepted:
        return
    fix = (
        "poetry lock --no-update"
        if generator is not None and generator < Version("2")
        else "poetry lock"
    )
    name = PurePosixPath(manifest.path).name
    message = "its content-hash does not match the current dependencies"
    yield stale(lock, name, message, line=meta.content_hash_line, subject=name, fix=fix)


def _pdm(lock: FileFacts, facts: Mapping[str, FileFacts]) -> Iterator[Finding]:
    """pdm.lock: its content_hash against the pyproject's, for every PDM era."""
    assert lock.lock is not None  # noqa: S101 - LockSyncCheck passes locks only
    meta = lock.lock.meta
    manifest = facts.get(beside(lock.path, "pyproject.toml"))
    inputs = manifest.manifest if manifest is not None else None
    if manifest is None or inputs is None or not meta.content_hash or not inputs.pdm_hashes:
        return
    algo, _, digest = meta.content_hash.partition(":")
    if algo != "sha256" or not digest or digest in inputs.pdm_hashes:
        return  # only sha256 is computed; other algorithms are not judged
    name = PurePosixPath(manifest.path).name
    message = "its content_hash does not match the current dependencies"
    yield stale(lock, name, message, line=meta.content_hash_line, subject=name, fix="pdm lock")


def _pipenv(lock: FileFacts, facts: Mapping[str, FileFacts]) -> Iterator[Finding]:
    """Pipfile.lock: its ``_meta.hash`` against the Pipfile's, for every pipenv era."""
    assert lock.lock is not None  # noqa: S101 - LockSyncCheck passes locks only
    manifest = facts.get(beside(lock.path, "Pipfile"))
    if manifest is None or manifest.kind != "Pipfile" or manifest.role is not Role.MANIFEST:
        return
    computed = manifest.manifest.pipenv_hashes if manifest.manifest is not None else ()
    if not computed:
        return
    recorded = lock.lock.meta.content_hash
    line = lock.lock.meta.content_hash_line
    if not recorded:
        msg, line = "Pipfile.lock records no hash of its Pipfile", 1
    elif recorded.lower() not in computed:
        msg = "Pipfile.lock is out of sync with Pipfile (_meta.hash does not match)"
    else:
        return
    yield finding("RP202", msg, Location(path=lock.path, line=line), fix="pipenv lock")


def _conda(lock: FileFacts, facts: Mapping[str, FileFacts]) -> Iterator[Finding]:
    """A conda lock: every dependency of its environment file is locked at a version its spec
    admits, from the same channels.

    conda-lock's ``metadata.content_hash`` hashes the parsed specification together with
    conda-lock's built-in virtual-package repodata and a PyPI-to-conda name mapping it
    downloads (``conda_lock/content_hash.py``): an independent reimplementation would have to
    ship both, and would still reject locks from other conda-lock releases. So the check is
    semantic instead.
    """
    envs = {p: ff for p, ff in facts.items() if ff.kind == "environment.yml"}
    sources = [p for p in lock.compiled_from if p in envs]
    if not lock.compiled_from:
        here = parent_dir(lock.path)
        near = [p for p in envs if parent_dir(p) == here]
        sources = near if len(near) == 1 else []
    for env_path in sources:
        yield from _conda_env(envs[env_path], lock)


def _conda_env(env: FileFacts, lock: FileFacts) -> Iterator[Finding]:
    lock_name = PurePosixPath(lock.path).name
    env_name = PurePosixPath(env.path).name
    by_name: dict[str, list[str]] = defaultdict(list)
    for pin in lock.pins:
        by_name[pin.name].append(pin.version)
    admits: Callable[[str, str], bool | None]
    for item in env.declared:
        spec = item.spec
        location = Location(path=env.path, line=item.line)
        if item.group == "pip":
            if spec.kind not in {SpecKind.EXACT, SpecKind.RANGE, SpecKind.UNPINNED}:
                continue  # a URL or path: the lock may name it differently
            name, constraint = spec.name, spec.specifier
            admits = _pip_admits
        else:
            try:
                conda = parse_conda_spec(spec.raw)
            except ValueError:
                continue
            name, constraint = conda.pin_name, conda.version or ""
            admits = conda_version_admits
        subject = spec.name if item.group == "pip" else spec.display_name
        versions = by_name.get(name)
        if not versions:
            msg = f"{spec.raw} from {env_name} is missing from {lock_name}"
            yield finding("RP202", msg, location, subject=subject)
            continue
        if constraint and all(admits(constraint, v) is False for v in versions):
            locked = ", ".join(sorted(set(versions)))
            msg = f"{spec.raw} from {env_name} is not satisfied by {lock_name} ({locked})"
            yield finding("RP202", msg, location, subject=subject)
    channels = env.manifest.channels if env.manifest is not None else ()
    locked_channels = lock.lock.meta.channels if lock.lock is not None else ()
    wanted = [c.rstrip("/") for c in channels if c != "nodefaults"]
    if wanted and locked_channels and wanted != [c.rstrip("/") for c in locked_channels]:
        line = env.manifest.channels_line if env.manifest is not None else 1
        msg = f"channels of {env_name} differ from those {lock_name} was solved with"
        yield finding("RP202", msg, Location(path=env.path, line=line), subject="channels")


def _pip_admits(constraint: str, version: str) -> bool | None:
    try:
        return SpecifierSet(constraint).contains(version, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return None


def _uv(lock: FileFacts, facts: Mapping[str, FileFacts]) -> Iterator[Finding]:
    """uv.lock: what it records of each workspace project against the project now."""
    for manifest, message, line, subject in uv_drift(lock, facts):
        yield stale(lock, manifest, message, line=line, subject=subject, fix="uv lock")


_BY_FORMAT: dict[str, SyncCheck] = {
    "poetry.lock": _poetry,
    "pdm.lock": _pdm,
    "Pipfile.lock": _pipenv,
    "uv.lock": _uv,
    "conda-lock.yml": _conda,
    "conda explicit": _conda,
}


# --------------------------------------------------------------------------------------------
# A compiled requirements lock against its .in (and the files those include)


def _requirements(
    lock: FileFacts, facts: Mapping[str, FileFacts], markers: dict[tuple[str, str], str]
) -> Iterator[tuple[Finding, str]]:
    """Every requirement of the sources a lock was compiled from (and of what they include with
    ``-r``) that the lock does not satisfy, with the lock's path."""
    assert lock.lock is not None  # noqa: S101 - LockSyncCheck passes locks only
    sources = [s for s in lock.compiled_from if s.endswith((".in", ".txt"))]
    if not sources:
        return
    by_name: dict[str, list[Spec]] = {}
    for item in lock.declared:
        if item.spec.name:
            by_name.setdefault(item.spec.name, []).append(item.spec)
    header = lock.lock.meta.header
    python = header.python if header is not None else None
    fix = _recompile_command(lock, sources[0])
    seen: set[str] = set()
    queue = list(sources)
    while queue:
        source = queue.pop(0)
        if source in seen:
            continue
        seen.add(source)
        ff = facts.get(source)
        if ff is None or ff.kind != "requirements":
            continue
        for req in ff.declared:
            found = _unsatisfied(
                req,
                source=source,
                lock=lock.path,
                by_name=by_name,
                python=python,
                fix=fix,
                markers=markers,
            )
            if found is not None:
                yield found, lock.path
        queue.extend(i.target for i in ff.includes if not i.constraint and i.target in facts)


def _one_per_line(found: list[tuple[Finding, str]]) -> list[Finding]:
    """One finding per source line, naming every lock it is stale in (base.in compiled into
    dev.txt and prod.txt), so that its fingerprint stays unique."""
    by_line: dict[tuple[str, int], list[tuple[Finding, str]]] = {}
    for f, lock in found:
        by_line.setdefault((f.location.path, f.location.line), []).append((f, lock))
    out: list[Finding] = []
    for entries in by_line.values():
        first, _ = entries[0]
        if len(entries) > 1:
            others = ", ".join(lock for _, lock in entries[1:])
            fixes = " && ".join(dict.fromkeys(f.fix or "" for f, _ in entries))
            first = replace(first, message=f"{first.message} (also stale: {others})", fix=fixes)
        out.append(first)
    return out


def _recompile_command(lock: FileFacts, source: str) -> str:
    header = lock.lock.meta.header if lock.lock is not None else None
    if header is not None and header.command:
        return header.command
    hashes = bool(lock.pins) and all(p.hashed for p in lock.pins)
    generate = " --generate-hashes" if hashes else ""
    return f"pip-compile{generate} --output-file={lock.path} {source}"


def _unsatisfied(
    req: Declared,
    *,
    source: str,
    lock: str,
    by_name: Mapping[str, list[Spec]],
    python: str | None,
    fix: str,
    markers: dict[tuple[str, str], str],
) -> Finding | None:
    spec = req.spec
    if not spec.name:
        return None
    if _marker_state(spec.marker, python, markers) != "always":
        # never true for this lock's Python, or true only on some platforms: a lock
        # compiled elsewhere may rightly leave the entry out or pin another version
        return None
    locked = by_name.get(spec.name)
    if not locked:
        return _stale_requirement(req, source, lock, fix, lambda name: f"is missing from {name}")
    if spec.kind in (SpecKind.URL, SpecKind.VCS):
        wanted = _location_key(spec)
        have = [_location_key(s) for s in locked if s.kind is spec.kind]
        if have and wanted not in have:
            url = redact_url(spec.url or "")
            return _stale_requirement(
                req,
                source,
                lock,
                fix,
                lambda name: f"is installed from {url}, but {name} has another source",
                specifier=False,
            )
        return None
    if spec.kind not in (SpecKind.EXACT, SpecKind.RANGE) or spec.env_vars:
        return None
    versions = [s.version for s in locked if s.kind is SpecKind.EXACT and s.version]
    if not versions:
        return None
    for version in versions:
        admitted = _admits(spec.specifier, version)
        if admitted is None or admitted:
            return None  # None: a specifier pip rejects too; nothing to compare
    first = f"{spec.name}=={versions[0]}"
    return _stale_requirement(
        req, source, lock, fix, lambda name: f"is not satisfied by {first} in {name}"
    )


def _stale_requirement(
    req: Declared,
    source: str,
    lock: str,
    fix: str,
    why: Callable[[str], str],
    *,
    specifier: bool = True,
) -> Finding:
    """RP202 at ``req`` of ``source``: ``why`` given the lock's name as the message shows it.
    Names and the place are made here, only for the few requirements that are stale."""
    spec = req.spec
    source_name, lock_name = source.rsplit("/", 1)[-1], lock.rsplit("/", 1)[-1]
    if source.rpartition("/")[0] != lock.rpartition("/")[0]:
        lock_name = lock
    extras = f"[{','.join(spec.extras)}]" if spec.extras else ""
    label = f"{spec.display_name or spec.name}{extras}"
    written = f"{label}{spec.specifier}" if specifier else label
    message = f"{written} in {source_name} {why(lock_name)}"
    loc = Location(path=source, line=req.line, column=req.column)
    return finding("RP202", message, loc, subject=spec.name, fix=fix)


@functools.lru_cache(maxsize=16384)
def _admits(specifier: str, version: str) -> bool | None:
    """Whether ``specifier`` admits ``version``; None when it is not a valid specifier.
    Memoised: a monorepo's sources repeat the same requirements against the same pins."""
    wanted = _specifier_set(specifier)
    return None if wanted is None else _satisfies(wanted, version)


@functools.lru_cache(maxsize=4096)
def _specifier_set(text: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(text)
    except ValueError:
        return None


def _satisfies(specifier: SpecifierSet, version: str) -> bool:
    try:
        return specifier.contains(Version(version), prereleases=True)
    except (InvalidVersion, ValueError):
        return True  # not a version we can compare: do not claim the lock is stale


def _location_key(spec: Spec) -> str:
    """A direct reference without its fragment and, for VCS, without the revision.

    uv resolves a branch to a commit when it locks, so only the repository is compared.
    """
    url = (spec.url or "").split("#", 1)[0].strip()
    if spec.kind is SpecKind.VCS and "@" in url.split("://", 1)[-1].split("/", 1)[-1]:
        url = url.rsplit("@", 1)[0]
    return url.rstrip("/")


_PLATFORMS = (
    ("linux", "Linux", "posix", "x86_64"),
    ("linux", "Linux", "posix", "aarch64"),
    ("darwin", "Darwin", "posix", "arm64"),
    ("darwin", "Darwin", "posix", "x86_64"),
    ("win32", "Windows", "nt", "AMD64"),
)
_PYTHON_MINORS = tuple(f"3.{minor}" for minor in range(8, 15))


def _environments(python: str | None) -> list[dict[str, str]]:
    """Marker environments of every CPython 3 a lock may target (one minor when known)."""
    return [
        {
            "implementation_name": "cpython",
            "implementation_version": f"{minor}.{patch}",
            "os_name": os_name,
            "platform_machine": machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": system,
            "platform_version": "",
            "python_full_version": f"{minor}.{patch}",
            "python_version": minor,
            "sys_platform": sys_platform,
        }
        for minor in ((python,) if python else _PYTHON_MINORS)
        for patch in ("0", "30")
        for sys_platform, system, os_name, machine in _PLATFORMS
    ]


def _marker_state(marker: str | None, python: str | None, cache: dict[tuple[str, str], str]) -> str:
    """``always``, ``never`` or ``sometimes`` over the CPython 3 environments."""
    if marker is None:
        return "always"
    key = (marker, python or "")
    cached = cache.get(key)
    if cached is not None:
        return cached
    state = "sometimes"
    if "platform_release" not in marker and "platform_version" not in marker:
        try:
            parsed = Marker(marker)
            results = {parsed.evaluate(env) for env in _environments(python)}
        except ValueError:
            results = {True, False}
        if results == {True}:
            state = "always"
        elif results == {False}:
            state = "never"
    cache[key] = state
    return state
