"""The one judgement of what "pinned" means, over the requirements :mod:`reprolock.formats.spec`
classifies (re-exported here).

Every scanner that finds a Python requirement (a requirements line, a pyproject entry, a
``pip install`` argument, an ``environment.yml`` ``pip:`` entry) turns it into a
:class:`Spec` here and asks :func:`judge_concrete` for the findings. Scanners find specs;
they do not re-implement the judgement.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from reprolock.formats.lock import LockEntry, Source
from reprolock.formats.spec import (
    Spec,
    SpecError,
    SpecKind,
    classify,
    looks_like_url_or_path,
    oversized_number,
    vcs_revision,
)
from reprolock.model import Finding, Location, Severity
from reprolock.rules import finding

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def local_path(spec: Spec, base_dir: Path) -> Path | None:
    """The filesystem path a PATH spec points at, resolved against ``base_dir``."""
    if spec.kind is not SpecKind.PATH or spec.url is None:
        return None
    text = spec.url.split("#", 1)[0]
    if text.startswith("file:"):
        parts = urlsplit(text)
        text = unquote(parts.path) if parts.netloc in {"", "localhost"} else parts.path
        if parts.netloc not in {"", "localhost"}:
            return None
    text = _ENV_VAR.sub("", text)
    path = Path(os.path.expanduser(text))  # Path.expanduser raises for an unknown ~user
    if not path.is_absolute():
        path = base_dir / path
    return Path(_normpath(path))


def _normpath(path: Path) -> str:
    import os.path  # noqa: PLC0415 - only needed for path specs

    return os.path.normpath(path)


def is_within(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or below it (lexically, after normalisation)."""
    try:
        Path(_normpath(path)).relative_to(_normpath(root))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, kw_only=True, slots=True)
class JudgeContext:
    """What :func:`judge_concrete` needs to know about the place a spec came from."""

    root: Path
    """Absolute audited root."""
    base_dir: Path
    """Absolute directory relative paths in the spec are resolved against."""
    require_hashes: bool
    """Whether exact pins need hashes (RP103)."""
    partial_hashing: bool = False
    """True when other requirements of the same file carry hashes: pip then requires them all."""
    hash_capable: bool = True
    """False where the format has no way to attach a hash (e.g. an ``environment.yml`` entry)."""


def sound(spec: Spec) -> bool:
    """True when :func:`judge_concrete` finds nothing in ``spec`` wherever it stands: an exact
    pin with hashes, as every line of a hashed lock is. A caller may pass over such a spec."""
    return spec.kind is SpecKind.EXACT and bool(spec.hashes)


def judge_concrete(spec: Spec, location: Location, ctx: JudgeContext) -> list[Finding]:
    """Findings for a spec that is installed as written (a concrete environment)."""
    label = spec.label
    subject = spec.name or label
    out: list[Finding] = []
    if spec.kind is SpecKind.UNPINNED:
        out.append(finding("RP101", f"{label} is not pinned", location, subject=subject))
    elif spec.kind is SpecKind.RANGE:
        if spec.env_vars:
            names = ", ".join(f"${{{v}}}" for v in spec.env_vars)
            msg = f"{label}{spec.specifier}: the version comes from {names} at install time"
        elif all(part.strip().startswith("!=") for part in spec.specifier.split(",")):
            msg = f"{label}{spec.specifier} only excludes versions; it is not an exact pin"
        else:
            msg = f"{label}{spec.specifier} is a range, not an exact pin"
        out.append(finding("RP102", msg, location, subject=subject))
    elif spec.kind is SpecKind.EXACT:
        if ctx.hash_capable and not spec.hashes and (ctx.require_hashes or ctx.partial_hashing):
            if ctx.partial_hashing:
                msg = (
                    f"{label}=={spec.version} has no hash, but other requirements in this "
                    "file do: pip refuses to install the file"
                )
                out.append(
                    finding("RP103", msg, location, subject=subject, severity=Severity.ERROR)
                )
            else:
                msg = f"{label}=={spec.version} has no hash"
                out.append(finding("RP103", msg, location, subject=subject))
    elif spec.kind is SpecKind.VCS:
        if spec.vcs_ref is None:
            msg = f"{label} is installed from {spec.url} with no revision"
            out.append(finding("RP104", msg, location, subject=subject))
        elif not spec.immutable_ref:
            msg = f"{label} is installed from VCS at {spec.vcs_ref!r}, a movable reference"
            out.append(finding("RP104", msg, location, subject=subject))
    elif spec.kind is SpecKind.URL:
        if not spec.hashes:
            msg = f"{label} is downloaded from {spec.url} without a hash"
            out.append(finding("RP105", msg, location, subject=subject))
    elif spec.kind is SpecKind.PATH:
        target = local_path(spec, ctx.base_dir)
        if target is None or not is_within(target, ctx.root):
            what = "editable install" if spec.editable else "local path"
            msg = f"{what} {spec.url} is outside the repository"
            out.append(finding("RP106", msg, location, subject=subject))
    return out


_MANIFEST_RULES = frozenset({"RP104", "RP105", "RP106"})


_JUDGED_IN_A_MANIFEST = frozenset({SpecKind.VCS, SpecKind.URL, SpecKind.PATH})
"""The kinds :func:`judge_manifest` can find fault with (RP104-RP106): a range or a bare name
is what a manifest declares, and judging it would only build findings to drop."""


def judge_manifest(spec: Spec, location: Location, ctx: JudgeContext) -> list[Finding]:
    """Findings for a spec in a manifest: ranges are intended there, so only what makes the
    lock itself irreproducible counts (a VCS reference that moves, a URL without a hash, a path
    outside the repository)."""
    if spec.kind not in _JUDGED_IN_A_MANIFEST:
        return []
    return [f for f in judge_concrete(spec, location, ctx) if f.rule in _MANIFEST_RULES]


_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


def _is_commit(ref: str) -> bool:
    return bool(_COMMIT.match(ref.strip().lower()))


def locked_sound(entry: LockEntry) -> bool:
    """True when :func:`judge_locked` finds nothing in ``entry`` wherever it stands: a hashed
    registry or URL package, as most of a lock's are. A caller may pass over such an entry."""
    return entry.hashed and (entry.source is Source.REGISTRY or entry.source is Source.URL)


def judge_locked(
    entry: LockEntry, location: Location, ctx: JudgeContext, *, lock: str, fix: str | None = None
) -> list[Finding]:
    """Findings for an entry of a lock (named ``lock`` in messages; ``fix`` regenerates its
    hashes): a VCS entry not at a full commit (RP104), a URL without a hash (RP105), a path
    outside the repository (RP106), an index package without a hash (RP203)."""
    name = entry.name
    where = entry.url
    if entry.source is Source.VCS:
        out = []
        if not (_is_commit(entry.commit) or (not entry.commit and _is_commit(entry.ref))):
            if entry.ref and not _is_commit(entry.ref):
                msg = f"{name} is locked from {where} at {entry.ref!r}, a movable reference"
            else:
                msg = f"{name} is locked from {where} without a full commit id"
            out.append(finding("RP104", msg, location, subject=name))
        if "://" not in where and not _SCP_LIKE.match(where):  # a local checkout
            out.extend(_outside(entry, location, ctx))
        return out
    if entry.source in (Source.PATH, Source.PROJECT):
        return _outside(entry, location, ctx)
    if entry.hashed:
        return []
    if entry.source is Source.URL:
        msg = f"{name} is locked from {where} without a hash"
        return [finding("RP105", msg, location, subject=name)]
    if entry.manager:  # a conda lock names a package the conda way
        label = f"{name} {entry.version}" + (f" ({entry.platform})" if entry.platform else "")
    else:
        label = entry.pin if entry.version else name
    return [finding("RP203", f"{label} has no hash in {lock}", location, subject=name, fix=fix)]


def _outside(entry: LockEntry, location: Location, ctx: JudgeContext) -> list[Finding]:
    spec = Spec(raw=entry.url, name="", kind=SpecKind.PATH, url=entry.url)
    resolved = local_path(spec, ctx.base_dir)
    if resolved is not None and is_within(resolved, ctx.root):
        return []
    msg = f"{entry.name} is locked from the local path {entry.url}, outside the repository"
    return [finding("RP106", msg, location, subject=entry.name)]


__all__ = [
    "JudgeContext",
    "Spec",
    "SpecError",
    "SpecKind",
    "classify",
    "is_within",
    "judge_concrete",
    "judge_locked",
    "judge_manifest",
    "local_path",
    "locked_sound",
    "looks_like_url_or_path",
    "oversized_number",
    "sound",
    "vcs_revision",
]
