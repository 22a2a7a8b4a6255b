"""Facts for the environment checks' tests: files as scanners would describe them."""

from __future__ import annotations

from pathlib import Path

from reprolock.audit.checks.environments import Model
from reprolock.audit.checks.frameworks import FrameworkCheck
from reprolock.audit.interface import (
    Declared,
    FileFacts,
    ImageRef,
    Include,
    Pin,
    PythonVersion,
    Role,
    ScanContext,
    Section,
)
from reprolock.config import BUILTIN_FRAMEWORKS, Config, EnvironmentGroup, Profile
from reprolock.model import Finding

CUDA_121 = "nvidia/cuda:12.1.1-cudnn8-runtime-ubuntu22.04"


def pin(name: str, version: str, line: int = 1, *, hashed: bool = False) -> Pin:
    return Pin(name=name, version=version, line=line, hashed=hashed)


def facts(
    path: str,
    *pins: Pin,
    role: Role = Role.CONCRETE,
    kind: str = "requirements",
    includes: tuple[str | tuple[str, int], ...] = (),
    images: tuple[tuple[str, int], ...] = (),
    indexes: tuple[str, ...] = (),
    pythons: tuple[tuple[str, int, str], ...] = (),
    declared: tuple[Declared, ...] = (),
    sections: tuple[Section, ...] = (),
) -> FileFacts:
    return FileFacts(
        path=path,
        kind=kind,
        role=role,
        pins=pins,
        includes=tuple(
            Include(target=t, line=1) if isinstance(t, str) else Include(target=t[0], line=t[1])
            for t in includes
        ),
        images=tuple(ImageRef(ref=r, line=n) for r, n in images),
        indexes=indexes,
        pythons=tuple(PythonVersion(value=v, line=n, origin=o) for v, n, o in pythons),
        declared=declared,
        sections=sections,
    )


def stage(name: str, start: int, end: int, parent: str = "") -> Section:
    return Section(kind="stage", name=name, start=start, end=end, parent=parent)


def job(name: str, start: int, end: int, *labels: str, matrix: tuple[str, ...] = ()) -> Section:
    return Section(kind="job", name=name, start=start, end=end, labels=labels, matrix=matrix)


def dockerfile(path: str, *pins: Pin, image: str = CUDA_121, **kw: object) -> FileFacts:
    """A one-stage Dockerfile on ``image`` (line 1) whose pins are on later lines."""
    last = max([p.line for p in pins] + [99])
    return facts(
        path,
        *pins,
        kind="dockerfile",
        images=((image, 1),),
        sections=(stage("0", 1, last),),
        **kw,  # type: ignore[arg-type]
    )


def config(
    *groups: EnvironmentGroup,
    frameworks: tuple[str, ...] = (),
    profile: Profile | None = None,
) -> Config:
    return Config(
        frameworks=(*BUILTIN_FRAMEWORKS, *frameworks),
        environments={g.name: g for g in groups},
        profile=profile or Profile.APPLICATION,
        profile_set=profile is not None,
    )


def model(*files: FileFacts, cfg: Config | None = None, root: Path | None = None) -> Model:
    return Model({f.path: f for f in files}, cfg or config(), root)


def check(
    *files: FileFacts, cfg: Config | None = None, root: Path = Path("/nonexistent")
) -> list[Finding]:
    found = FrameworkCheck().run(
        {f.path: f for f in files}, ScanContext(root=root, config=cfg or config())
    )
    return sorted(found, key=lambda f: f.sort_key)


def rule_hits(findings: list[Finding], prefix: str = "RP5") -> list[tuple[str, str, int]]:
    return [
        (f.rule, f.location.path, f.location.line) for f in findings if f.rule.startswith(prefix)
    ]


def only(findings: list[Finding], rule: str) -> Finding:
    picked = [f for f in findings if f.rule == rule]
    assert len(picked) == 1, [(f.rule, f.location.path, f.location.line) for f in findings]
    return picked[0]
