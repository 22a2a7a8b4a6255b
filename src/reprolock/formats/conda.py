"""conda locks: the unified ``conda-lock.yml`` and explicit ``conda-<platform>.lock`` files.

conda packages carry conda's own names and versions (``_libgcc_mutex``, ``1.1.1w``), which
are not PEP 508/440: they are checked against conda's own rules, and the entries installed by
pip as Python packages are.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import yaml

from reprolock.formats import yaml as _yaml
from reprolock.formats.errors import ParseError, Problem, excerpt, token
from reprolock.formats.lock import (
    EntryError,
    LockEntry,
    LockFile,
    LockMeta,
    Source,
    canonical_name,
    normal_version,
)
from reprolock.formats.spec import SpecKind, classify

UNIFIED_NAME = re.compile(r"(?:^|\.)conda-lock\.ya?ml$", re.IGNORECASE)
"""File names of conda-lock's unified lock."""
EXPLICIT_NAME = re.compile(r"^conda-.+\.lock$", re.IGNORECASE)
"""File names of an explicit lock."""
_VCS = ("git+", "hg+", "svn+", "bzr+")
_ARCHIVE = re.compile(r"\.(?:conda|tar\.bz2)$")
_CONDA_NAME = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$", re.IGNORECASE)
"""A conda package name (conda-build refuses anything else)."""
_CONDA_VERSION = re.compile(r"^[0-9a-z_.+!]+$", re.IGNORECASE)
"""A conda version: the characters conda's ``VersionOrder`` accepts (``-`` ends it)."""


def _conda_name(name: str) -> str:
    if not _CONDA_NAME.match(name):
        raise EntryError(f"invalid package name {token(name)}")
    return name.lower()


def _conda_version(name: str, version: str) -> str:
    if not _CONDA_VERSION.match(version):
        raise EntryError(f"{name} has an invalid version {token(version)}")
    return version


def read(text: str) -> LockFile:
    """Read a conda-lock.yml; :class:`~reprolock.formats.errors.ParseError` when it is not a
    YAML mapping with ``package`` and ``metadata``."""
    root = _yaml.compose(text)
    top = _yaml.mapping(root)
    if "package" not in top or "metadata" not in top:
        raise ParseError("expected a conda-lock file (package: and metadata:)")
    return read_unified(top)


def read_unified(top: dict[str, tuple[yaml.Node, yaml.Node]]) -> LockFile:
    """A conda-lock.yml from its top-level mapping (as :func:`_yaml.mapping` gives it)."""
    metadata = _yaml.mapping(top["metadata"][1])
    packages = top["package"][1]
    if not isinstance(packages, yaml.SequenceNode):
        raise ParseError("package: must be a list of locked packages", _yaml.node_line(packages))
    entries: list[LockEntry] = []
    problems: list[Problem] = []
    for item in _yaml.unique(packages.value):
        fields = {k: v for k, (_, v) in _yaml.mapping(item).items()}
        line = _yaml.node_line(item)
        name = _yaml.scalar(fields.get("name"))
        version = _yaml.scalar(fields.get("version"))
        if not name or not version:
            problems.append(
                Problem(message="a locked package needs a name and a version", line=line)
            )
            continue
        manager = _yaml.scalar(fields.get("manager")) or "conda"
        url = _yaml.scalar(fields.get("url")) or ""
        hashes = [
            f"{_yaml.scalar(k)}:{_yaml.scalar(v)}"
            for k, v in _yaml.mapping(fields.get("hash")).values()
            if _yaml.scalar(v)
        ]
        vcs = url.startswith(_VCS)
        try:
            entry = LockEntry(
                name=canonical_name(name) if manager == "pip" else _conda_name(name),
                version=normal_version(name, version)
                if manager == "pip"
                else _conda_version(name, version),
                source=Source.VCS if vcs else Source.REGISTRY,
                hashes=tuple(hashes),
                hashed=bool(hashes),
                url=url,
                reference=url,
                ref=_vcs_ref(url) if vcs else "",
                line=line,
                platform=_yaml.scalar(fields.get("platform")) or "?",
                manager=manager,
            )
        except EntryError as exc:
            problems.append(Problem(message=str(exc), line=line))
            continue
        entries.append(entry)
    sources = _yaml.sequence_items(metadata.get("sources", (None, None))[1])
    channels: list[str] = []
    for channel in _yaml.sequence_items(metadata.get("channels", (None, None))[1]):
        found = _yaml.scalar(_yaml.mapping(channel).get("url", (None, None))[1])
        found = found or _yaml.scalar(channel)
        if found:
            channels.append(found)
    meta = LockMeta(
        channels=tuple(channels),
        sources=tuple(s for s in map(_yaml.scalar, sources) if s),
    )
    return LockFile(
        format="conda-lock.yml", entries=tuple(entries), meta=meta, problems=tuple(problems)
    )


def _vcs_ref(url: str) -> str:
    try:
        spec = classify(url)
    except ValueError:
        return ""
    return spec.vcs_ref or ""


def read_explicit(text: str) -> LockFile:
    """An explicit lock (``conda-lock --kind explicit``, ``conda list --explicit --md5``): one
    package URL a line, ``# pip`` lines for what pip installs."""
    entries: list[LockEntry] = []
    problems: list[Problem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("# pip "):
            entry = _explicit_pip(line[len("# pip ") :], number)
            if entry is not None:
                entries.append(entry)
            continue
        if not line or line.startswith("#") or line == "@EXPLICIT":
            continue
        package = _explicit_package(line)
        if package is None:
            problems.append(Problem(message=f"not a package URL: {excerpt(line)}", line=number))
            continue
        name, version, hashed = package
        try:
            name, version = _conda_name(name), _conda_version(name, version)
        except EntryError as exc:
            problems.append(Problem(message=str(exc), line=number))
            continue
        entries.append(
            LockEntry(name=name, version=version, hashed=hashed, line=number, manager="conda")
        )
    return LockFile(format="conda explicit", entries=tuple(entries), problems=tuple(problems))


def _explicit_pip(text: str, line: int) -> LockEntry | None:
    hashes = tuple(re.findall(r"--hash[=\s]\s*(\S+)", text))
    requirement = text.split(" --hash", 1)[0].strip()
    try:
        spec = classify(requirement, hashes=hashes)
    except ValueError:
        return None  # a comment after all
    version = spec.version
    if version is None and spec.kind is SpecKind.URL and spec.url:
        version = _wheel_version(spec.url)
    if spec.kind not in {SpecKind.EXACT, SpecKind.URL, SpecKind.VCS}:
        return None  # no version to lock
    # a wheel URL is what conda-lock writes for a pip package: an artifact like any other
    source = Source.VCS if spec.kind is SpecKind.VCS else Source.REGISTRY
    return LockEntry(
        name=spec.name,
        version=version or "",
        source=source,
        hashes=spec.hashes,
        hashed=bool(spec.hashes),
        url=spec.url or "",
        reference=spec.url or "",
        ref=spec.vcs_ref or "",
        line=line,
        manager="pip",
    )


def _explicit_package(line: str) -> tuple[str, str, bool] | None:
    """(name, version, hashed) of an explicit-lock URL line, or None."""
    url, _, fragment = line.partition("#")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not _ARCHIVE.search(parts.path):
        return None
    filename = _ARCHIVE.sub("", unquote(PurePosixPath(parts.path).name))
    pieces = filename.rsplit("-", 2)
    if len(pieces) != 3:
        return None
    digest = fragment.strip().split(":", 1)[-1].split("=", 1)[-1]
    hashed = bool(re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", digest))
    return pieces[0], pieces[1], hashed


def _wheel_version(url: str) -> str | None:
    try:
        name = PurePosixPath(urlsplit(url).path).name
    except ValueError:
        return None
    if name.endswith(".whl"):
        pieces = name.split("-")
        return pieces[1] if len(pieces) >= 3 else None
    match = re.match(r"^.+?-(\d[^-]*)\.(?:tar\.gz|zip)$", name)
    return match.group(1) if match else None
