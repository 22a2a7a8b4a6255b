"""RP501 framework skew: one ML framework at different versions in environments that must agree.

Compared are only the environments of one group (:func:`agreement_groups`): by default those
that build or serve the model (training, serving, pipeline, batch), never alternatives of one
another, and never test, docs, example, benchmark, dev or CI environments; config names other
groups. Within a group each file is one voice: the stages of one Dockerfile, the jobs of one
workflow, the forks of one lock are parts of one thing, and a file agrees with another when
they share a version. Public versions are compared (``2.3.1+cu121`` and ``2.3.1+cpu`` are the
same release; the variant is RP502's and RP503's business). The reference version is the one
most files of the group use, ties going to a training environment's (the model was trained with
it), then to the file whose path sorts first; every file without it is reported once per
framework, at its pin.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name, canonicalize_version

from reprolock.audit.checks.accelerators import local_part, public_version, release_line
from reprolock.audit.checks.environments import (
    Environment,
    Group,
    Model,
    Package,
    Purpose,
    agreement_groups,
)
from reprolock.model import Finding, Location
from reprolock.rules import finding


@functools.lru_cache(maxsize=4096)
def version_key(version: str) -> str:
    """What makes two versions the same release: ``1.3.2``, ``1.3.2.0`` and ``1.3.2+cpu``."""
    return canonicalize_version(public_version(version), strip_trailing_zero=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Voice:
    """One file of a group: its environments, and the versions of one framework they pin."""

    versions: dict[str, tuple[Package, Environment]]
    """Version key -> the first pin of it (pins in the file's own lines first), and the
    environment it was found in."""


def framework_skew(model: Model, frameworks: Iterable[str]) -> list[Finding]:
    """RP501 over every group of environments that must agree."""
    names = list(dict.fromkeys(canonicalize_name(f) for f in frameworks))
    out: list[Finding] = []
    for group in agreement_groups(model):
        for name in names:
            out.extend(_skew(group, name))
    return out


def _voices(group: Group, name: str) -> list[_Voice]:
    by_path: dict[str, list[Environment]] = {}
    for env in group.members:
        by_path.setdefault(env.path, []).append(env)
    voices: list[_Voice] = []
    for path in sorted(by_path):
        pins = [(p, env) for env in by_path[path] for p in env.packages if p.name == name]
        # Pins in the environment's own file come first: that is where a fix goes.
        pins.sort(key=lambda pe: pe[0].path != path)
        versions: dict[str, tuple[Package, Environment]] = {}
        for pin, env in pins:
            versions.setdefault(version_key(pin.version), (pin, env))
        if versions:
            voices.append(_Voice(versions=versions))
    return voices


def _skew(group: Group, name: str) -> list[Finding]:
    voices = _voices(group, name)
    count: dict[str, int] = {}
    first: dict[str, tuple[int, Package, Environment]] = {}
    for index, voice in enumerate(voices):
        for version, (pin, env) in voice.versions.items():
            count[version] = count.get(version, 0) + 1
            first.setdefault(version, (index, pin, env))
    if len(first) < 2:
        return []
    # On a tie, training's version wins (the model was trained with it: serving follows);
    # ties left (two versions of one file) go to the one met first: max() keeps the first of
    # equal keys, and ``first`` is in placement order, never hash order.
    trained = {
        v
        for voice in voices
        for v, (_, env) in voice.versions.items()
        if env.purpose is Purpose.TRAINING
    }
    reference = max(first, key=lambda v: (count[v], v in trained, -first[v][0]))
    return [
        _finding(name, group, voice, first, reference)
        for voice in voices
        if reference not in voice.versions
    ]


def _described(pin: Package, env: Environment) -> str:
    """``(serving)``, or ``(Dockerfile [stage 1], serving)`` where the pin's file is not the
    whole environment."""
    if pin.path == env.path and env.section is None:
        return f"({env.purpose.value})"
    return f"({env.name}, {env.purpose.value})"


def _finding(
    name: str,
    group: Group,
    voice: _Voice,
    first: dict[str, tuple[int, Package, Environment]],
    reference: str,
) -> Finding:
    here, env = next(iter(voice.versions.values()))
    # The other files' versions: none of this file's own can be among them.
    elsewhere = [v for v in first if v not in voice.versions]
    ordered = [reference, *(v for v in elsewhere if v != reference)]
    shown = [
        f"{public_version(first[v][1].version)} at {first[v][1].where} "
        f"{_described(first[v][1], first[v][2])}"
        for v in ordered[:2]
    ]
    if len(ordered) > 2:
        shown.append(f"{len(ordered) - 2} more")
    # Forks of a lock, cells of a matrix: every version this file pins.
    own = " / ".join(public_version(p.version) for p, _ in voice.versions.values())
    message = f"{name}=={own} here {_described(here, env)}, but {' and '.join(shown)}: {group.why}"
    location = Location(path=here.path, line=here.line)
    return finding("RP501", message, location, subject=name, fix=_fix(name, here, first, reference))


def _fix(
    name: str, here: Package, first: dict[str, tuple[int, Package, Environment]], reference: str
) -> str | None:
    version = public_version(first[reference][1].version)
    local = local_part(here.version)
    if not local:
        return f"{name}=={version}"
    # Keep the pin's variant, but only as a wheel the table says exists.
    line = release_line(name, version)
    if line is not None and local in line.variants:
        return f"{name}=={version}+{local}"
    return None
