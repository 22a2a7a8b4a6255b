"""conda scanner: environment files, conda-lock.yml locks and explicit ``conda-*.lock`` files."""

from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from reprolock.audit.interface import (
    Declared,
    FileFacts,
    Include,
    Manifest,
    Pin,
    PythonVersion,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
    parent_dir,
)
from reprolock.audit.locks import lock_facts
from reprolock.formats import yaml as _yaml
from reprolock.formats.conda import EXPLICIT_NAME, UNIFIED_NAME, read_explicit, read_unified
from reprolock.formats.lock import LockEntry
from reprolock.model import Finding, Location
from reprolock.rules import finding
from reprolock.specs import (
    JudgeContext,
    Spec,
    SpecKind,
    classify,
    judge_concrete,
    judge_manifest,
)

KIND_ENVIRONMENT = "environment.yml"
KIND_LOCK = "conda-lock.yml"
KIND_EXPLICIT = "conda explicit lock"

_ENV_NAME = re.compile(r"^(?:environment|conda)[\w.-]*\.ya?ml$", re.IGNORECASE)
# env.yml is often a conda environment, but the name is generic: such files are read only
# when their content is one, and never reported as broken.
_MAYBE_ENV_NAME = re.compile(r"^env(?:[-_.][\w.-]*)?\.ya?ml$", re.IGNORECASE)
_NOT_ENV_NAME = re.compile(r"^conda[-_]build[-_]config\.ya?ml$", re.IGNORECASE)

# conda names for ML frameworks whose PyPI name differs: pins carry the PyPI name so that
# cross-file checks (framework skew) see conda and pip installs of the same project.
_CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-xgboost-gpu": "xgboost",
}

_DEFAULTS_FAMILY = frozenset(
    {"defaults", "main", "free", "r", "msys2", "anaconda", "pkgs/main", "pkgs/r", "pkgs/free"}
)
# Vendor channels built against `defaults` and meant to be used with it.
_DEFAULTS_COMPANIONS = frozenset({"pytorch", "pytorch-nightly", "nvidia", "intel"})


# --- conda MatchSpec ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class CondaSpec:
    """A conda package spec (MatchSpec string) as far as pinning is concerned."""

    raw: str
    """The text as written."""
    name: str
    """Package name, lower-cased."""
    channel: str | None = None
    """``conda-forge`` in ``conda-forge::numpy``."""
    version: str | None = None
    """conda version spec after conda's own translation (``=1.26`` becomes ``1.26*``)."""
    build: str | None = None
    """Build string or pattern."""
    kind: SpecKind = SpecKind.UNPINNED
    """EXACT, RANGE (ranges, wildcards and fuzzy matches) or UNPINNED."""
    fuzzy: bool = False
    """True for conda's single-``=`` fuzzy match (``numpy=1.26`` means ``1.26.*``)."""

    @property
    def pin_name(self) -> str:
        """The canonical project name used for pins and cross-file checks."""
        return canonicalize_name(_CONDA_TO_PYPI.get(self.name, self.name))


_BRACKETS = re.compile(r"\[([^\]]*)\]\s*$")
_BRACKET_ITEM = re.compile(r"(\w+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^,\]]+)")
_NAME_REST = re.compile(r"^([^\s=<>!~]+)(.*)$")
_AROUND_OPERATORS = re.compile(r"\s*([<>=!~,|])\s*")
_PLAIN_VERSION = re.compile(r"^[0-9A-Za-z_.+]+(?:![0-9A-Za-z_.+]+)?$")


def parse_conda_spec(text: str) -> CondaSpec:
    """Parse a conda MatchSpec string; ``ValueError`` when it is not one.

    Exactness follows conda's ``MatchSpec`` parser (conda/models/match_spec.py,
    ``_parse_spec_str``): a version after a single ``=`` with no build is rewritten to
    ``version*``, so ``numpy=1.26`` and also ``numpy=1.26.4`` are fuzzy (``1.26.4`` admits
    ``1.26.4.1``, and the build floats); ``==1.26.4``, ``=1.26.4=<build>`` and the
    space-separated ``numpy 1.26.4 [build]`` name one version exactly. Wildcards (``1.26.*``),
    operators, ``,`` (and) and ``|`` (or) are ranges.
    """
    raw = text.strip()
    spec = raw
    bracket: dict[str, str] = {}
    match = _BRACKETS.search(spec)
    if match:
        for key, value in _BRACKET_ITEM.findall(match.group(1)):
            bracket[key.lower()] = value.strip().strip("'\"")
        spec = spec[: match.start()].strip()
    channel = None
    if "::" in spec:
        channel, spec = spec.rsplit("::", 1)
    parts = _NAME_REST.match(spec)
    if not parts or not parts.group(1) or "[" in parts.group(1):
        raise ValueError(f"not a conda package spec: {raw!r}")
    name = parts.group(1).lower()
    rest = _AROUND_OPERATORS.sub(r"\1", parts.group(2).strip())
    version, build, fuzzy = _version_and_build(rest, raw)
    version = bracket.get("version", version)
    build = bracket.get("build", build)
    channel = bracket.get("channel", channel)
    return CondaSpec(
        raw=raw,
        name=name,
        channel=channel,
        version=version or None,
        build=build,
        kind=_version_kind(version),
        fuzzy=fuzzy and "version" not in bracket,
    )


_LISTED_CACHED = 120
"""Longest spec :func:`_parse_listed` remembers (a hostile file may list huge distinct ones)."""


def _parse_listed(text: str) -> CondaSpec:
    """:func:`parse_conda_spec`, remembered for short specs: environment files of one
    repository list the same few specs over and over."""
    return _parse_remembered(text) if len(text) <= _LISTED_CACHED else parse_conda_spec(text)


@functools.lru_cache(maxsize=2048)
def _parse_remembered(text: str) -> CondaSpec:
    return parse_conda_spec(text)


def _version_and_build(rest: str, raw: str) -> tuple[str | None, str | None, bool]:
    if not rest:
        return None, None, False
    tokens = rest.split()
    if len(tokens) > 2:
        raise ValueError(f"not a conda package spec: {raw!r}")
    if len(tokens) == 2:
        return tokens[0], tokens[1], False
    token = tokens[0]
    if token.startswith("=="):
        version, _, build = token[2:].partition("=")
        return version, build or None, False
    if token.startswith("="):
        body = token[1:]
        if any(c in body for c in ",|"):
            return token, None, False  # conda keeps "=1.1|1.3" as is: a fuzzy first term
        version, sep, build = body.partition("=")
        if sep:
            return version, build or None, False
        if version.endswith("*"):
            return version, None, False
        return f"{version}*", None, True
    if token[0] in "<>!~":
        return token, None, False
    version, _, build = token.partition("=")
    return version, build or None, False


def _version_kind(version: str | None) -> SpecKind:
    if not version or version == "*":
        return SpecKind.UNPINNED
    if _PLAIN_VERSION.match(version):
        return SpecKind.EXACT
    return SpecKind.RANGE


def conda_version_admits(spec: str, version: str) -> bool | None:
    """Whether a conda version spec admits ``version``; None when that cannot be decided.

    Supports ``,`` (and, binding tighter) and ``|`` (or), the comparison operators, ``==``,
    ``!=``, ``~=``, and ``*`` prefixes. Versions that are not PEP 440 (``1.1.1w``) are left
    undecided rather than guessed at.
    """
    try:
        candidate = Version(version)
    except InvalidVersion:
        return None
    undecided = False
    for alternative in spec.split("|"):
        results = [_term_admits(term.strip(), candidate) for term in alternative.split(",")]
        if all(r is True for r in results):
            return True
        if not any(r is False for r in results):
            undecided = True
    return None if undecided else False


_TERM = re.compile(r"^(==|!=|>=|<=|~=|>|<|=)?\s*(.+)$")


def _term_admits(term: str, candidate: Version) -> bool | None:
    match = _TERM.match(term)
    if not match:
        return None
    op, text = match.group(1) or "", match.group(2)
    if text == "*":
        return True
    prefix = text.endswith("*") or op == "="
    text = text.rstrip("*").rstrip(".")
    try:
        target = Version(text)
    except InvalidVersion:
        return None
    if prefix and op in {"", "=", "==", "!="}:
        head = candidate.release[: len(target.release)]
        same = head == target.release
        return not same if op == "!=" else same
    if op == "~=":
        return candidate >= target and (
            candidate.release[: len(target.release) - 1] == target.release[:-1]
        )
    compare = {
        "": candidate == target,
        "==": candidate == target,
        "!=": candidate != target,
        ">=": candidate >= target,
        "<=": candidate <= target,
        ">": candidate > target,
        "<": candidate < target,
    }
    return compare.get(op)


# --- the scanner ---------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class _Collected:
    findings: list[Finding] = field(default_factory=list)
    pins: dict[tuple[str, str], Pin] = field(default_factory=dict)
    declared: list[Declared] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    pythons: list[PythonVersion] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)

    def pin(self, name: str, version: str, line: int, *, hashed: bool) -> None:
        self.pins.setdefault(
            (name, version), Pin(name=name, version=version, line=line, hashed=hashed)
        )


class CondaScanner(Scanner):
    """conda environment files, conda-lock.yml locks and explicit conda-lock files.

    One scanner claims the whole family and dispatches on content: a YAML document with
    ``package`` and ``metadata`` is a conda-lock lock, anything else with ``dependencies`` or
    ``channels`` is an environment file.
    """

    name = "conda"
    extensions = frozenset({"yml", "yaml", "lock"})

    def claims(self, relpath: str, filename: str) -> bool:
        if relpath.startswith(".github/workflows/") or "/.github/workflows/" in relpath:
            return False  # `conda.yml` there is a GitHub workflow
        if _NOT_ENV_NAME.match(filename):
            return False
        return bool(
            _ENV_NAME.match(filename)
            or _MAYBE_ENV_NAME.match(filename)
            or UNIFIED_NAME.search(filename)
            or EXPLICIT_NAME.match(filename)
        )

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        name = source.name
        if EXPLICIT_NAME.match(name):
            return self._scan_explicit(source, ctx)
        sure = not _MAYBE_ENV_NAME.match(name)
        try:
            root = _yaml.compose(source.text)
        except ScanError:
            if sure:
                raise
            return FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        top = _yaml.mapping(root)
        if root is not None and not isinstance(root, yaml.MappingNode) and sure:
            raise ScanError("expected a mapping at the top level", _yaml.node_line(root))
        if "package" in top and "metadata" in top:
            return self._scan_lock(source, ctx, top)
        if "dependencies" in top or "channels" in top:
            return self._scan_environment(source, ctx, top)
        return FileFacts(path=source.path, kind=self.name, role=Role.OTHER)

    # environment.yml

    def _scan_environment(
        self, source: SourceFile, ctx: ScanContext, top: dict[str, tuple[yaml.Node, yaml.Node]]
    ) -> FileFacts:
        locked = _lock_beside(source, ctx)
        role = Role.MANIFEST if locked else Role.CONCRETE
        out = _Collected()
        judge_ctx = ctx.judge_context(source, hash_capable=False)
        prefixes: list[str] = []
        deps = top.get("dependencies")
        empty = deps is None or (
            isinstance(deps[1], yaml.ScalarNode) and _yaml.scalar(deps[1]) is None
        )
        if deps is not None and not empty and not isinstance(deps[1], yaml.SequenceNode):
            msg = "dependencies must be a list"
            out.findings.append(finding("RP001", msg, source.at(_yaml.node_line(deps[1]))))
        # An anchored entry or pip: list is judged once, where it is written: two thousand
        # aliases of a 500-entry pip list must not cost a million judgements.
        judged: set[int] = set()
        for item in _yaml.unique(_yaml.sequence_items(deps[1] if deps else None), judged):
            line = _yaml.node_line(item)
            if isinstance(item, yaml.MappingNode):
                for key, value in _yaml.mapping(item).values():
                    if key.value == "pip" and id(value) not in judged:
                        judged.add(id(value))
                        self._pip_entries(source, value, role, judge_ctx, out)
                continue
            text = _yaml.scalar(item)
            if text is None:
                msg = "a dependency must be a package spec or a pip: list"
                out.findings.append(finding("RP001", msg, source.at(line)))
                continue
            try:
                spec = _parse_listed(text)
            except ValueError as exc:
                out.findings.append(finding("RP001", str(exc), source.at(line)))
                continue
            if spec.channel:
                prefixes.append(spec.channel)
            if spec.name.startswith("__"):
                continue  # a virtual package (__glibc, __cuda): a constraint on the host
            if spec.name == "python":
                stated = _python_version(spec)
                if stated:
                    out.pythons.append(PythonVersion(value=stated, line=line, origin="conda"))
            out.declared.append(Declared(spec=_as_spec(spec), line=line))
            if role is Role.MANIFEST:
                continue
            if spec.kind is SpecKind.EXACT and spec.version is not None:
                out.pin(spec.pin_name, spec.version, line, hashed=False)
            else:
                out.findings.append(inexact_conda_finding(spec, source.at(line)))
        channels_entry = top.get("channels")
        channels = map(
            _yaml.scalar, _yaml.sequence_items(channels_entry[1] if channels_entry else None)
        )
        named = [c for c in channels if c]
        channels_line = _yaml.node_line(channels_entry[0]) if channels_entry else 1
        out.findings.extend(_channel_findings(named, prefixes, source.at(channels_line)))
        return FileFacts(
            path=source.path,
            kind=KIND_ENVIRONMENT,
            role=role,
            findings=tuple(out.findings),
            pins=tuple(out.pins.values()) if role is Role.CONCRETE else (),
            declared=tuple(out.declared),
            includes=tuple(out.includes),
            manifest=Manifest(channels=tuple(named), channels_line=channels_line),
            pythons=tuple(out.pythons),
            indexes=tuple(out.indexes),
        )

    def _pip_entries(
        self,
        source: SourceFile,
        node: yaml.Node,
        role: Role,
        judge_ctx: JudgeContext,
        out: _Collected,
    ) -> None:
        concrete = role is Role.CONCRETE
        for item in _yaml.unique(_yaml.sequence_items(node)):
            line = _yaml.node_line(item)
            text = _yaml.scalar(item)
            if text is None:
                msg = "a pip: entry must be a requirement string"
                out.findings.append(finding("RP001", msg, source.at(line)))
                continue
            location = source.at(line)
            option = re.match(r"^(-{1,2}[A-Za-z][\w-]*)(?:\s*=\s*|\s+|$)(.*)$", text.strip())
            if option:
                flag, value = option.group(1), option.group(2).strip()
                if flag in {"-i", "--index-url", "--extra-index-url"} and value:
                    out.indexes.append(value)
                if flag in {"--extra-index-url", "--trusted-host"}:
                    if concrete and value:
                        out.findings.append(_index_finding(flag, value, location))
                    continue
                spec = self._pip_option(source, flag, value, line, out)
                if spec is None:
                    continue
            else:
                hashes = tuple(re.findall(r"--hash[=\s]\s*(\S+)", text))
                requirement = re.split(r"\s+--?[A-Za-z]", text.strip(), maxsplit=1)[0]
                try:
                    spec = classify(requirement, hashes=hashes)
                except ValueError as exc:  # SpecError, or a URL urllib rejects
                    msg = f"pip: {requirement}: {exc}"
                    out.findings.append(finding("RP001", msg, location, subject=requirement))
                    continue
            out.declared.append(Declared(spec=spec, line=line, group="pip"))
            judge = judge_concrete if concrete else judge_manifest
            out.findings.extend(judge(spec, location, judge_ctx))
            if concrete and spec.kind is SpecKind.EXACT and spec.version is not None:
                out.pin(spec.name, spec.version, line, hashed=bool(spec.hashes))

    def _pip_option(
        self, source: SourceFile, option: str, value: str, line: int, out: _Collected
    ) -> Spec | None:
        """The spec of an ``-e`` line; records ``-r``/``-c`` as includes; None for other options."""
        if option in {"-r", "--requirement", "-c", "--constraint"} and value:
            target = _relative_to_root(source, value)
            if target is not None:
                constraint = option in {"-c", "--constraint"}
                out.includes.append(Include(target=target, line=line, constraint=constraint))
            return None
        if option in {"-e", "--editable"} and value:
            try:
                return classify(value, editable=True)
            except ValueError:
                return None
        return None

    # conda locks

    def _scan_lock(
        self, source: SourceFile, ctx: ScanContext, top: dict[str, tuple[yaml.Node, yaml.Node]]
    ) -> FileFacts:
        lock = read_unified(top)
        sources = (_relative_to_root(source, s) for s in lock.meta.sources)
        return lock_facts(
            source,
            ctx,
            lock,
            kind=KIND_LOCK,
            compiled_from=tuple(s for s in sources if s),
            pin_name=_pin_name,
        )

    def _scan_explicit(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        lock = read_explicit(source.text)
        return lock_facts(source, ctx, lock, kind=KIND_EXPLICIT, pin_name=_pin_name)


def _pin_name(entry: LockEntry) -> str:
    """A conda package under its PyPI name, so that cross-file checks see conda and pip installs
    of the same project."""
    if entry.manager == "pip":
        return entry.name
    return canonicalize_name(_CONDA_TO_PYPI.get(entry.name, entry.name))


def _as_spec(spec: CondaSpec) -> Spec:
    """The conda spec as a :class:`Spec` for ``declared`` (its ``raw`` keeps conda syntax)."""
    return Spec(
        raw=spec.raw,
        name=spec.pin_name,
        kind=spec.kind,
        display_name=spec.name,
        specifier=spec.version or "",
        version=spec.version if spec.kind is SpecKind.EXACT else None,
    )


def inexact_conda_finding(spec: CondaSpec, location: Location) -> Finding:
    """RP701 for a conda spec that is not an exact pin: unpinned, fuzzy, wildcard or range."""
    fix = None
    if spec.kind is SpecKind.UNPINNED:
        msg = f"{spec.name} is not pinned"
    elif spec.fuzzy and spec.version:
        base = spec.version.rstrip("*")
        if spec.name == "python":
            msg = f"{spec.raw} is a fuzzy match in conda: any Python {base}.* can be installed"
        else:
            msg = f"{spec.raw} is a fuzzy match in conda ({base}.*), not an exact pin"
        if base.count(".") >= 2:
            prefix = f"{spec.channel}::" if spec.channel else ""
            fix = f"{prefix}{spec.name}=={base}"
    elif spec.version and "*" in spec.version and not re.search(r"[<>!~,|]", spec.version):
        msg = f"{spec.raw} is a wildcard, not an exact pin"
    else:
        msg = f"{spec.raw} is a range, not an exact pin"
    return finding("RP701", msg, location, subject=spec.name, fix=fix)


def _channel_findings(
    channels: list[str], prefixes: list[str], location: Location
) -> list[Finding]:
    if not channels:
        msg = "no channels: the user's .condarc decides where packages come from"
        return [
            finding(
                "RP703",
                msg,
                location,
                subject="channels",
                fix="channels: [conda-forge, nodefaults]",
            )
        ]
    used = [c for c in (*channels, *prefixes) if c != "nodefaults"]
    defaults = [c for c in used if _channel_key(c) in _DEFAULTS_FAMILY]
    others = [
        c
        for c in used
        if _channel_key(c) not in _DEFAULTS_FAMILY and _channel_key(c) not in _DEFAULTS_COMPANIONS
    ]
    if defaults and others:
        msg = f"channels mix {defaults[0]} with {others[0]}: their builds are not binary-compatible"
        return [finding("RP703", msg, location, subject="channels")]
    return []


def _channel_key(channel: str) -> str:
    """``defaults``, ``conda-forge`` ... for a channel name or URL."""
    text = channel.strip().rstrip("/").lower()
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:
            return text
        path = parts.path.strip("/")
        if parts.netloc.endswith(("repo.anaconda.com", "repo.continuum.io")):
            return "defaults"
        text = path.split("/", 1)[0] if parts.netloc.endswith("anaconda.org") else path
    return text


def _python_version(spec: CondaSpec) -> str | None:
    """The Python version a ``python`` spec ships (``3.11`` for ``python=3.11``), or None for
    a range or no version."""
    m = re.fullmatch(r"(\d+\.\d+(?:\.\d+)*)(?:\.?\*)?", spec.version or "")
    return m.group(1) if m else None


def _lock_beside(source: SourceFile, ctx: ScanContext) -> bool:
    """True when a conda-lock file sits in the same directory as ``source``."""
    return any(
        UNIFIED_NAME.search(name) or EXPLICIT_NAME.match(name)
        for name in ctx.names_in(parent_dir(source.path))
    )


def _relative_to_root(source: SourceFile, path: str) -> str | None:
    if posixpath.isabs(path):
        return None
    target = posixpath.normpath(posixpath.join(source.parent or ".", path))
    return None if target.startswith("../") or target == ".." else target


def _index_finding(option: str, value: str, location: Location) -> Finding:
    # Same wording as the requirements scanner: the pip: list is a requirements file.
    if option == "--trusted-host":
        msg = f"--trusted-host {value} turns off TLS verification for that host"
        fix = f"serve {value} over HTTPS and drop --trusted-host"
    else:
        value = _CREDENTIALS.sub("//***@", value)  # never copy a token into a report
        msg = f"--extra-index-url {value} lets a public package shadow a private one"
        fix = "use a single --index-url that proxies both sources"
    return finding("RP107", msg, location, subject=value, fix=fix)


_CREDENTIALS = re.compile(r"//[^/@\s]+@")
