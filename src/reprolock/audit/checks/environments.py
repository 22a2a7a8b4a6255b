"""Environments: the sets of packages a repository installs together, which RP501-RP504 judge.

An **environment** is one set of packages installed together: a lock, a concrete requirements
file with everything it includes (``-r``), a Dockerfile build stage with what it installs (its
parent stages' packages too), a CI job (its matrix cells are alternatives of one another), a
conda environment, a script. A file that another environment installs is part of that
environment, not one of its own: only *top-level* environments are judged, so a Dockerfile
never "skews" against the requirements file it installs, and that file is judged on the
Dockerfile's platform.

Each environment has

- a **purpose**: serving, training, pipeline, batch (the ones that build or serve a model, and
  must agree), or test, docs, example, benchmark, dev, ci, other. It comes from the path
  (``serving/``, ``tests/``, ``requirements-docs.txt``, ``benchmarks/``), else from what the
  environment installs (a root ``Dockerfile`` that ``uv sync``-s ``server/uv.lock`` serves),
  and config can set it (``[tool.repro.environments.NAME] purpose``);
- a **platform**: OS, accelerator (CUDA x.y, ROCm, XPU, Gaudi, Neuron, TPU, CPU, Apple) from
  the image, the CI runner, the variant tokens of the path, and the packages pinned;
- **variant tokens**: the words of its path that name a platform or backend (``cu118``,
  ``cpu``, ``rocm``, ``windows``, ``py310``, ``gaudi``, the directory under ``backends/``).
  Environments whose tokens differ are **alternatives**: one of them is picked at install time,
  so they never have to agree. Versions inside one environment may differ too (a lock split by
  markers into forks, a CI matrix): an environment agrees with another when they share one.

This module reads :class:`~reprolock.audit.interface.FileFacts` in one place,
:func:`read_facts`; everything else works on what it returns.
"""

from __future__ import annotations

import enum
import functools
import posixpath
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import cast

import pathspec

from reprolock.audit import slotted
from reprolock.audit.checks.accelerators import (
    Cuda,
    image_accelerator,
    image_cuda,
    index_variant,
    local_accelerator,
    pin_cuda,
)
from reprolock.audit.conda import KIND_ENVIRONMENT, KIND_EXPLICIT, KIND_LOCK
from reprolock.audit.interface import FileFacts, Pin, PythonVersion, Role, Section
from reprolock.config import Config, EnvironmentGroup, Profile
from reprolock.files import read_bytes

# =============================================================================================
# Reading facts (the one adapter between scanners' FileFacts and the environment model)


@dataclass(frozen=True, kw_only=True, slots=True)
class Package:
    """An exact version a file installs."""

    name: str
    """Canonical project name."""
    version: str
    """The exact version as written (``2.3.1+cu121``)."""
    path: str
    """The file that pins it."""
    line: int
    """Its line there."""
    hashed: bool = False
    """Whether the pin carries hashes (they name the exact wheel files: the variant)."""
    conda: bool = False
    """A conda package (its variant lives in a build string the pin does not carry)."""

    @property
    def where(self) -> str:
        """``path:line`` for messages."""
        return f"{self.path}:{self.line}"


Statement = PythonVersion
"""A Python version a file states: the scanners' own statement (value, line, origin), read as
it is (a monorepo states thousands)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Recipe:
    """What the environment model needs of one file."""

    path: str
    kind: str
    """The scanner's format name: ``requirements``, ``dockerfile``, ``workflow``, ``uv.lock``..."""
    installs: bool
    """The file installs packages (a concrete environment or a lock)."""
    lock: bool
    """The file is a lock."""
    packages: tuple[Package, ...] = ()
    includes: tuple[tuple[str, int], ...] = ()
    """``(target path, line)`` of each file it installs."""
    images: tuple[tuple[str, int], ...] = ()
    """``(reference, line)`` of each image it builds from or runs."""
    pythons: tuple[Statement, ...] = ()
    indexes: tuple[str, ...] = ()
    """Index URLs the file names."""
    sections: tuple[Section, ...] = ()


_CONDA_KINDS = frozenset({KIND_ENVIRONMENT, KIND_LOCK, KIND_EXPLICIT})


def read_facts(facts: Mapping[str, FileFacts]) -> dict[str, Recipe]:
    """Every file's facts as the environment model reads them, by path."""
    return {path: _recipe(ff) for path, ff in facts.items()}


def _recipe(ff: FileFacts) -> Recipe:
    path = ff.path
    if not ff.pins:
        packages: tuple[Package, ...] = ()
    elif ff.kind in _CONDA_KINDS:
        # Only the pip: entries of an environment.yml are PyPI wheels.
        pip_lines = {(d.line, d.spec.name) for d in ff.declared if d.group == "pip"}
        packages = tuple(_package(p, path, (p.line, p.name) not in pip_lines) for p in ff.pins)
    else:
        packages = tuple([_package(p, path, False) for p in ff.pins])
    role = ff.role
    return _new_recipe(
        path=path,
        kind=ff.kind,
        installs=role is Role.CONCRETE or role is Role.LOCK,
        lock=role is Role.LOCK,
        packages=packages,
        includes=tuple([(i.target, i.line) for i in ff.includes]) if ff.includes else (),
        images=tuple([(i.ref, i.line) for i in ff.images]) if ff.images else (),
        pythons=ff.pythons,
        indexes=ff.indexes,
        sections=ff.sections,
    )


# The model makes one recipe per file of the repository and one package per pin (tens of
# thousands in a monorepo), where the frozen dataclasses' keyword __init__ costs three times this.
_new_recipe = slotted.constructor(Recipe)
_new_package = slotted.constructor(Package)


def _package(pin: Pin, path: str, conda: bool) -> Package:
    """The :class:`Package` of one pin."""
    return _new_package(
        name=pin.name,
        version=pin.version,
        path=path,
        line=pin.line if pin.line > 1 else 1,
        hashed=pin.hashed,
        conda=conda,
    )


# =============================================================================================
# Purposes, variant tokens


def _set(text: str) -> frozenset[str]:
    """A set of words written as one space-separated string."""
    return frozenset(text.split())


class Purpose(enum.Enum):
    """What an environment is for."""

    SERVING = "serving"
    TRAINING = "training"
    PIPELINE = "pipeline"
    BATCH = "batch"
    TEST = "test"
    DOCS = "docs"
    EXAMPLE = "example"
    BENCHMARK = "benchmark"
    DEV = "dev"
    CI = "ci"
    OTHER = "other"


MODEL_PURPOSES = frozenset({Purpose.SERVING, Purpose.TRAINING, Purpose.PIPELINE, Purpose.BATCH})
"""Environments that build or serve a model: by default, these must agree (RP501)."""

_WORDS: dict[Purpose, frozenset[str]] = {
    Purpose.TEST: _set(
        "test tests testing testdata e2e integration-tests integration_tests conftest tox "
        "pytest unittest unittests"
    ),
    Purpose.DOCS: _set("docs doc documentation sphinx mkdocs readthedocs rtd"),
    Purpose.EXAMPLE: _set(
        "example examples tutorial tutorials demo demos sample samples notebooks cookbook "
        "recipes playground"
    ),
    Purpose.BENCHMARK: _set(
        "benchmark benchmarks bench benches perf load_tests load-tests loadtest locust"
    ),
    Purpose.DEV: _set("dev devel develop developer lint linters typing precommit"),
    Purpose.SERVING: _set(
        "serving serve server servers inference deploy deployment predict predictor endpoint"
    ),
    Purpose.TRAINING: _set("train training trainer finetune finetuning fine-tune fine_tune"),
    Purpose.PIPELINE: _set("pipeline pipelines dvc etl featurize airflow dags"),
    Purpose.BATCH: _set("batch scoring"),
}
# A test, docs, example, benchmark or dev word anywhere wins: a test of the server is a test.
_AUXILIARY = (Purpose.TEST, Purpose.DOCS, Purpose.EXAMPLE, Purpose.BENCHMARK, Purpose.DEV)
_CI_DIRS = frozenset({".github", ".gitlab", ".circleci", ".buildkite", ".azure-pipelines", "ci"})
_SPLIT = re.compile(r"[-_.]+")


def _parts(path: str) -> tuple[str, ...]:
    """``PurePosixPath(path).parts``, without its parsing cost for the normalised relative
    paths facts carry (this runs once per environment member)."""
    parts = path.split("/")
    if "" in parts or "." in parts:
        return PurePosixPath(path).parts  # a root, "//" or "." component: its own rules
    return tuple(parts)


def _words(path: str) -> list[tuple[str, ...]]:
    """Each directory and the file name of ``path``, lower-cased: the whole component, then
    its words (``requirements-test.txt`` -> ``requirements``, ``test``, ``txt``)."""
    return [_component_words(part) for part in _parts(path.lower())]


@functools.lru_cache(maxsize=16384)
def _component_words(part: str) -> tuple[str, ...]:
    """:func:`_words` of one component, split once: a directory's name recurs in the path of
    every file below it (most of the model's time went to splitting the same names again)."""
    return (part, *(w for w in _SPLIT.split(part) if w and w != part))


def _first_purpose(purposes: Iterable[Purpose]) -> dict[str, Purpose]:
    """Word -> the first of ``purposes`` whose words hold it."""
    out: dict[str, Purpose] = {}
    for purpose in purposes:
        for word in _WORDS[purpose]:
            out.setdefault(word, purpose)
    return out


_AUXILIARY_WORD = _first_purpose(_AUXILIARY)
# The model purposes' words are disjoint, so which purpose is asked first does not matter;
# within a component the first word that names one decides.
_MODEL_WORD = _first_purpose((Purpose.SERVING, Purpose.TRAINING, Purpose.PIPELINE, Purpose.BATCH))


@functools.lru_cache(maxsize=8192)
def purpose_of_path(path: str) -> tuple[Purpose, str]:
    """The purpose ``path`` states, and the word that says so (OTHER, "" when none)."""
    parts = _words(path)
    # Whole directory names first (``load_tests`` is a benchmark, not a test), then words.
    for words in parts:
        found = _AUXILIARY_WORD.get(words[0])
        if found is not None:
            return found, words[0]
    for words in parts:
        for word in words[1:]:
            found = _AUXILIARY_WORD.get(word)
            if found is not None:
                return found, word
    if parts and parts[0][0] in _CI_DIRS:
        return Purpose.CI, parts[0][0]
    for words in reversed(parts):  # the deepest directory or the name decides
        for word in words:
            found = _MODEL_WORD.get(word)
            if found is not None:
                return found, word
    return Purpose.OTHER, ""


_VARIANT_WORDS = _set(
    "cpu gpu cuda rocm amd hip xpu intel ipex gaudi hpu habana neuron neuronx inf1 inf2 "
    "inferentia trainium trn1 tpu xla mps metal apple mac macos osx darwin windows win win32 "
    "win64 linux aarch64 arm64 arm x86 x86_64 amd64 graviton jetson llamacpp trtllm tensorrt "
    "vllm onnx openvino cpp"
)
_VARIANT_PATTERN = re.compile(r"^(?:cu\d{2,3}|cuda\d+|rocm\d+|py3\d{0,2}|py\d{2,3}|python3\d+)$")
_BACKEND_DIRS = frozenset({"backends", "backend", "platforms", "accelerators", "variants"})


@functools.lru_cache(maxsize=8192)
def variant_tokens(path: str) -> frozenset[str]:
    """The words of ``path`` that name a platform, accelerator, backend or Python:
    environments whose tokens differ are alternatives of one another (and a directory under
    ``backends/``, but not a file there)."""
    parts = _parts(path.lower())
    if not parts or len(parts) > _MEMO_DEPTH:
        return _tokens_of_parts(parts)
    return _directory_tokens(parts[:-1]) | _component_tokens(parts[-1])


_MEMO_DEPTH = 32
"""Paths deeper than this are read whole, not directory by directory (that recurses)."""


def _tokens_of_parts(parts: Sequence[str]) -> frozenset[str]:
    """:func:`variant_tokens` of a path's components, read one by one."""
    found: set[str] = set()
    for index, part in enumerate(parts):
        if index > 0 and parts[index - 1] in _BACKEND_DIRS and index < len(parts) - 1:
            found.add(part)
        for word in _SPLIT.split(part):
            if word in _VARIANT_WORDS or _VARIANT_PATTERN.match(word):
                found.add(word)
    return frozenset(found)


@functools.lru_cache(maxsize=8192)
def _directory_tokens(parts: tuple[str, ...]) -> frozenset[str]:
    """:func:`variant_tokens` of a directory's components, worked out once per directory: its
    parent's, its name's words, and its name when its parent is a backends directory."""
    if not parts:
        return frozenset()
    name = parts[-1]
    found = _directory_tokens(parts[:-1]) | _component_tokens(name)
    if len(parts) > 1 and parts[-2] in _BACKEND_DIRS:
        found |= {name}
    return found


@functools.lru_cache(maxsize=16384)
def _component_tokens(part: str) -> frozenset[str]:
    """The words of one path component that name a platform, accelerator or Python."""
    return frozenset(
        word
        for word in _SPLIT.split(part)
        if word in _VARIANT_WORDS or _VARIANT_PATTERN.match(word)
    )


# =============================================================================================
# Platforms


class Accelerator(enum.Enum):
    """The kind of hardware an environment's frameworks run on."""

    CUDA = "CUDA"
    ROCM = "ROCm"
    XPU = "XPU"
    GAUDI = "Gaudi"
    NEURON = "Neuron"
    TPU = "TPU"
    CPU = "CPU"
    APPLE = "Apple"
    UNKNOWN = "unknown"


_TOKEN_ACCELERATORS: dict[str, Accelerator] = {
    **dict.fromkeys(("cuda", "gpu", "nvidia", "tensorrt", "trtllm"), Accelerator.CUDA),
    **dict.fromkeys(("rocm", "amd", "hip"), Accelerator.ROCM),
    **dict.fromkeys(("xpu", "intel", "ipex"), Accelerator.XPU),
    **dict.fromkeys(("gaudi", "hpu", "habana"), Accelerator.GAUDI),
    **dict.fromkeys(
        ("neuron", "neuronx", "inf1", "inf2", "inferentia", "trainium", "trn1"),
        Accelerator.NEURON,
    ),
    **dict.fromkeys(("tpu", "xla"), Accelerator.TPU),
    "cpu": Accelerator.CPU,
    **dict.fromkeys(("mps", "metal", "apple"), Accelerator.APPLE),
}
_TOKEN_OS: dict[str, str] = {
    **dict.fromkeys(("windows", "win", "win32", "win64"), "windows"),
    **dict.fromkeys(("mac", "macos", "osx", "darwin", "mps", "metal", "apple"), "macos"),
    "linux": "linux",
}
_IMAGE_ACCELERATORS = {
    "cuda": Accelerator.CUDA,
    "rocm": Accelerator.ROCM,
    "xpu": Accelerator.XPU,
    "gaudi": Accelerator.GAUDI,
    "neuron": Accelerator.NEURON,
}
# GitHub-hosted runner labels: no GPU, and the OS they name.
_HOSTED = re.compile(r"^(ubuntu|macos|windows)-(?:latest|\d[\w.-]*)$")
_GPU_LABEL = re.compile(r"gpu|cuda|nvidia|\b(?:a10g?|a100|h100|l4|t4|v100|g4dn|g5|p3|p4d)\b")


@dataclass(frozen=True, kw_only=True, slots=True)
class Platform:
    """Where an environment runs, as far as the repository says."""

    os: str = ""
    """``linux``, ``windows``, ``macos``; "" when nothing says (containers run Linux)."""
    accelerator: Accelerator = Accelerator.UNKNOWN
    cuda: Cuda | None = None
    """The CUDA version, when the accelerator is CUDA and something names it."""
    evidence: str = ""
    """What says so, for messages: ``the image nvidia/cuda:12.1.1-... (Dockerfile:1)``."""

    @property
    def label(self) -> str:
        """``CUDA 12.1``, ``CUDA``, ``ROCm``, ``CPU`` ..."""
        if self.accelerator is Accelerator.CUDA and self.cuda is not None:
            return f"CUDA {self.cuda.label}"
        return self.accelerator.value


_NOWHERE = Platform()
"""The platform of an environment nothing says anything about (most of them): one shared
value, it is immutable."""


def platform_of_tokens(tokens: Iterable[str], evidence: str) -> Platform | None:
    """The platform variant tokens of a path name (``cu118`` + ``linux``), or None."""
    os = ""
    accelerator: Accelerator | None = None
    cuda: Cuda | None = None
    for token in sorted(tokens):
        os = _TOKEN_OS.get(token, os)
        m = re.fullmatch(r"cu(\d{2,3})|cuda(\d+)", token)
        if m:
            accelerator = Accelerator.CUDA
            if m.group(1):
                digits = m.group(1)
                cuda = Cuda(major=int(digits[:-1]), minor=int(digits[-1]))
            continue
        if token.startswith("rocm"):
            accelerator = Accelerator.ROCM
            continue
        found = _TOKEN_ACCELERATORS.get(token)
        if found is not None and accelerator in (None, Accelerator.CUDA):
            accelerator = found if accelerator is None else accelerator
    if accelerator is None and not os:
        return None
    return Platform(
        os=os, accelerator=accelerator or Accelerator.UNKNOWN, cuda=cuda, evidence=evidence
    )


def platform_of_image(ref: str, where: str) -> Platform | None:
    """The platform an image gives what runs in it, or None when it says nothing."""
    found = image_cuda(ref)
    evidence = f"the image {ref.split('@', 1)[0]} ({where})"
    if found is not None:
        return Platform(
            os="linux", accelerator=Accelerator.CUDA, cuda=found.cuda, evidence=evidence
        )
    kind = image_accelerator(ref)
    if kind is not None:
        return Platform(os="linux", accelerator=_IMAGE_ACCELERATORS[kind], evidence=evidence)
    if any(w in ref.lower() for w in ("windows", "servercore", "nanoserver")):
        return Platform(os="windows", evidence=evidence)
    return None


def platform_of_runner(labels: Sequence[str], where: str) -> Platform | None:
    """The platform a CI job's ``runs-on`` labels give (every label of every matrix cell)."""
    if not labels:
        return None
    evidence = f"runs-on {', '.join(labels)} ({where})"
    oses = set()
    gpu = False
    hosted = True
    for label in labels:
        m = _HOSTED.match(label)
        if m:
            oses.add(m.group(1).replace("ubuntu", "linux"))
            continue
        hosted = False
        gpu = gpu or bool(_GPU_LABEL.search(label))
        for word in _SPLIT.split(label):
            if word in ("linux", "ubuntu"):
                oses.add("linux")
            elif word in ("windows", "win"):
                oses.add("windows")
            elif word in ("macos", "osx", "mac"):
                oses.add("macos")
    os = oses.pop() if len(oses) == 1 else ""
    if gpu:
        return Platform(os=os or "linux", accelerator=Accelerator.CUDA, evidence=evidence)
    if hosted:
        # GitHub-hosted runners of these labels have no GPU.
        return Platform(os=os, accelerator=Accelerator.CPU, evidence=evidence)
    return Platform(os=os, evidence=evidence) if os else None


def _merged(first: Platform | None, then: Platform | None) -> Platform | None:
    """``first`` where it says something, ``then`` for the rest."""
    if first is None:
        return then
    if then is None:
        return first
    if first.accelerator is Accelerator.UNKNOWN:
        return Platform(
            os=first.os or then.os,
            accelerator=then.accelerator,
            cuda=then.cuda,
            evidence=then.evidence,
        )
    if first.accelerator is then.accelerator and first.cuda is None and then.cuda is not None:
        return Platform(
            os=first.os or then.os,
            accelerator=first.accelerator,
            cuda=then.cuda,
            evidence=then.evidence,
        )
    return Platform(
        os=first.os or then.os,
        accelerator=first.accelerator,
        cuda=first.cuda,
        evidence=first.evidence,
    )


# =============================================================================================
# Environments


@dataclass(frozen=True, kw_only=True, slots=True)
class Environment:
    """One set of packages installed together."""

    path: str
    """The file that defines it."""
    section: Section | None
    """Its Dockerfile stage or CI job, if it is one."""
    members: tuple[str, ...]
    """The file itself, then every file it installs, transitively, in include order."""
    packages: tuple[Package, ...]
    """What it pins: its own (its parent stages' too), then its members'."""
    images: tuple[tuple[str, str], ...]
    """``(reference, path:line)`` of the images it is built on (nearest first)."""
    pythons: tuple[Statement, ...]
    """Python versions its own lines state (a base image, a CI matrix)."""
    purpose: Purpose
    purpose_why: str
    """What decided the purpose: ``path 'serving/'``, ``installs server/uv.lock``, config."""
    platform: Platform
    tokens: frozenset[str]
    """Variant tokens of its path: environments whose tokens differ are alternatives."""

    @property
    def name(self) -> str:
        """``Dockerfile [stage base]``, ``.github/workflows/ci.yml [job test]``, a path."""
        if self.section is None:
            return self.path
        return f"{self.path} [{self.section.kind} {self.section.name}]"


def _closure(start: Sequence[str], recipes: Mapping[str, Recipe]) -> tuple[str, ...]:
    order: dict[str, None] = {}
    pending = deque(start)
    while pending:
        path = pending.popleft()
        if path in order or path not in recipes:
            continue
        order[path] = None
        pending.extend(target for target, _ in recipes[path].includes)
    return tuple(order)


def _top_level(recipes: Mapping[str, Recipe]) -> set[str]:
    """Paths of the installing files no other installing file installs (an environment inside
    another is part of it; in an include cycle both stay).

    Decided on the include graph's strongly connected components, so that a chain of n
    includes costs O(n) rather than one closure per file: a candidate stays unless a candidate
    in another component reaches its component. A file that includes nothing and that nothing
    includes (most of a large tree) is its own environment, without a walk.
    """
    # Only files that include something have an entry (most files include nothing).
    targets: dict[str, list[str]] = {}
    for path, recipe in recipes.items():
        if recipe.includes:
            found = [t for t, _ in recipe.includes if t in recipes]
            if found:
                targets[path] = found
    included = {t for ts in targets.values() for t in ts}
    top = {p for p, r in recipes.items() if r.installs and p not in included and p not in targets}
    components = _components(targets, [*targets, *(p for p in included if p not in targets)])
    component_of = {path: index for index, members in enumerate(components) for path in members}
    covered = [False] * len(components)
    # Sources first: every component that reaches this one has been seen, so whether it is
    # covered is known when it is met.
    for index in reversed(range(len(components))):
        members = components[index]
        installing = [p for p in members if recipes[p].installs]
        if installing and not covered[index]:
            top.update(installing)
        if installing or covered[index]:
            for p in members:
                for t in targets.get(p, ()):
                    if component_of[t] != index:
                        covered[component_of[t]] = True
    return top


def _components(targets: Mapping[str, Sequence[str]], nodes: Iterable[str]) -> list[list[str]]:
    """Strongly connected components of the include graph from ``nodes`` (Tarjan, without
    recursion), sinks first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    work: list[tuple[str, Iterator[str]]] = []

    def enter(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        work.append((node, iter(targets.get(node, ()))))

    for start in sorted(nodes):
        if start in index:
            continue
        enter(start)
        while work:
            node, successors = work[-1]
            following = next(successors, None)
            if following is not None:
                if following not in index:
                    enter(following)
                elif following in on_stack:
                    low[node] = min(low[node], index[following])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


def _in(section: Section | None, line: int) -> bool:
    return section is None or section.start <= line <= section.end


@dataclass(frozen=True, kw_only=True, slots=True)
class _Part:
    """What a file, or one section of it with its parent stages, installs itself."""

    packages: tuple[Package, ...]
    includes: tuple[tuple[str, int], ...]
    images: tuple[tuple[str, int], ...]
    pythons: tuple[Statement, ...]


def _part(recipe: Recipe, section: Section | None) -> _Part:
    if section is None:
        # The whole file: every line is in it, nothing to filter (most files have no sections).
        return _Part(
            packages=recipe.packages,
            includes=recipe.includes,
            images=recipe.images,
            pythons=recipe.pythons,
        )
    return _section_part(recipe, section)


def _section_part(recipe: Recipe, section: Section | None) -> _Part:
    """:func:`_part` by the general rule: the lines of ``section`` and its parent stages."""
    chain: list[Section | None] = [section]
    by_name = {s.name: s for s in recipe.sections if s.kind == "stage"}
    seen: set[str] = set()
    current = section
    while current is not None and current.parent and current.parent not in seen:
        seen.add(current.parent)
        current = by_name.get(current.parent)
        if current is not None:
            chain.append(current)
    return _Part(
        packages=tuple(p for s in chain for p in recipe.packages if _in(s, p.line)),
        includes=tuple(i for s in chain for i in recipe.includes if _in(s, i[1])),
        images=tuple(i for s in chain for i in recipe.images if _in(s, i[1])),
        pythons=tuple(p for p in recipe.pythons if _in(section, p.line)),
    )


class Model:
    """The environments of one repository, built once per audit and shared by RP501-RP504."""

    def __init__(self, facts: Mapping[str, FileFacts], config: Config, root: Path | None) -> None:
        self.recipes = read_facts(facts)
        self.config = config
        self.lines = Lines(root)
        self.groups = _Groups(config)
        self._inherited_memo: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}
        self._file_wide: dict[str, list[str]] = {}
        self._kinds: dict[str, frozenset[str]] = {}
        self.every, self.environments = self._build()
        """Every installing file's environments; the top-level ones (those no other environment
        installs), which RP502-RP504 judge on their own platform."""

    # --- building ----------------------------------------------------------------------------

    def _build(self) -> tuple[list[Environment], list[Environment]]:
        """The top-level environments, and every environment RP501 may group (those, and the
        installed files whose own path or config gives them a place in a group)."""
        top = _top_level(self.recipes)
        every: list[Environment] = []
        for path, recipe in sorted(self.recipes.items()):
            if not recipe.installs:
                continue
            if path not in top and not self._groupable(path):
                continue  # its closure is not walked: a long include chain stays linear
            sections: list[Section | None] = list(recipe.sections) or [None]
            for section in sections:
                env = self._environment(recipe, section)
                if env is not None:
                    every.append(env)
        return every, [e for e in every if e.path in top]

    def _groupable(self, path: str) -> bool:
        """Whether an installed file may be a voice of its own in a group that must agree."""
        return purpose_of_path(path)[0] in MODEL_PURPOSES or self.groups.mentions(path)

    def _environment(self, recipe: Recipe, section: Section | None) -> Environment | None:
        part = _part(recipe, section)
        members = (recipe.path, *_closure([t for t, _ in part.includes], self.recipes))
        members = tuple(dict.fromkeys(members))
        packages = [*part.packages]
        kinds = self._kinds_of(recipe.path) if section is None else _package_kinds(part.packages)
        for member in members[1:]:
            packages.extend(self.recipes[member].packages)
            kinds |= self._kinds_of(member)
        if not packages and not part.includes:
            return None
        purpose, why = self._purpose(recipe, section, members)
        images = tuple((ref, f"{recipe.path}:{line}") for ref, line in part.images)
        return Environment(
            path=recipe.path,
            section=section,
            members=members,
            packages=tuple(packages),
            images=images,
            pythons=part.pythons,
            purpose=purpose,
            purpose_why=why,
            platform=self._platform(recipe, section, images, kinds),
            tokens=variant_tokens(recipe.path),
        )

    def _kinds_of(self, path: str) -> frozenset[str]:
        """:func:`_package_kinds` of a file's pins, once per file (a file installed by many
        environments is asked about by each)."""
        known = self._kinds.get(path)
        if known is None:
            known = self._kinds[path] = _package_kinds(self.recipes[path].packages)
        return known

    def _purpose(
        self, recipe: Recipe, section: Section | None, members: Sequence[str]
    ) -> tuple[Purpose, str]:
        configured = self.groups.purpose(recipe.path)
        if configured is not None:
            return configured
        purpose, word = purpose_of_path(recipe.path)
        if purpose is Purpose.CI:
            # A CI job that trains or runs a pipeline says so in its name or its workflow's.
            names = [section.name if section is not None else "", recipe.path]
            for name in (n for n in names if n):
                words = {w for group in _words(name) for w in group}
                for candidate in (Purpose.TRAINING, Purpose.PIPELINE, Purpose.BATCH):
                    if _WORDS[candidate] & words:
                        return candidate, f"a CI job or workflow named {name!r}"
            return Purpose.CI, f"a CI workflow ({word}/)"
        if purpose is not Purpose.OTHER:
            return purpose, f"path word {word!r}"
        for member in members[1:]:
            found, word = purpose_of_path(member)
            if found is not Purpose.OTHER:
                return found, f"installs {member} (path word {word!r})"
        return Purpose.OTHER, "nothing in its path or what it installs names one"

    def _platform(
        self,
        recipe: Recipe,
        section: Section | None,
        images: Sequence[tuple[str, str]],
        kinds: frozenset[str],
    ) -> Platform:
        found: Platform | None = None
        for ref, where in images:
            found = platform_of_image(ref, where)
            if found is not None:
                break
        if section is not None and section.kind == "job":
            where = f"{recipe.path}:{section.start}"
            found = _merged(found, platform_of_runner(section.labels, where))
        if section is not None:
            # A stage or job named for its platform (``FROM ... AS cpu``, job ``test-rocm``).
            named = platform_of_tokens(
                variant_tokens(section.name), f"{section.kind} {section.name}"
            )
            found = _merged(named, found)
        if section is not None and section.kind == "stage":
            for label in section.labels:
                if label.startswith("windows"):
                    found = _merged(found, Platform(os="windows", evidence=f"--platform {label}"))
        found = _merged(found, platform_of_tokens(variant_tokens(recipe.path), recipe.path))
        found = _merged(found, _platform_of_kinds(kinds))
        if found is None:
            return _NOWHERE
        return found

    def _inherited(self, env: Environment) -> dict[str, tuple[str, ...]]:
        """For each member, the index URLs that the commands or files installing it name
        (worked out when a rule first asks: it reads the files' text)."""
        key = (env.path, env.section.name if env.section is not None else "")
        known = self._inherited_memo.get(key)
        if known is not None:
            return known
        inherited: dict[str, list[str]] = {env.path: []}
        for member in env.members:  # include order: every includer comes before what it includes
            if member not in inherited:
                continue
            includer = self.recipes[member]
            for target, line in includer.includes:
                if member == env.path and not _in(env.section, line):
                    continue
                urls = [*self.scoped(includer, line), *inherited[member]]
                inherited.setdefault(target, []).extend(urls)
        found = {path: tuple(dict.fromkeys(urls)) for path, urls in inherited.items()}
        self._inherited_memo[key] = found
        return found

    # --- what rules ask ----------------------------------------------------------------------

    def scoped(self, recipe: Recipe, line: int) -> list[str]:
        """The index and find-links URLs that apply to what ``recipe``'s ``line`` installs:
        in a requirements file or an environment.yml every one (pip reads options file-wide);
        elsewhere those its command names (a ``RUN`` or ``run:`` with its continuation lines)."""
        text = self.lines.get(recipe.path)
        if recipe.kind in _FILE_WIDE_OPTIONS:
            known = self._file_wide.get(recipe.path)
            if known is None:
                urls = list(recipe.indexes)
                if text:
                    urls.extend(_urls(" ".join(t for t in text if not t.lstrip().startswith("#"))))
                known = self._file_wide[recipe.path] = list(dict.fromkeys(urls))
            return known
        if not text:
            return list(recipe.indexes)
        command = command_text(text, line)
        return list(dict.fromkeys([u for u in recipe.indexes if u in command] + _urls(command)))

    def indexes_for(self, env: Environment, package: Package) -> tuple[str, ...]:
        """The URLs ``package`` is installed from in ``env``: its own command's or file's, and
        those passed down by what installs its file."""
        recipe = self.recipes[package.path]
        return (*self.scoped(recipe, package.line), *self._inherited(env).get(package.path, ()))

    def platform_for(self, env: Environment, package: Package) -> Platform:
        """The platform ``package`` is installed for: what its own file's name says (a
        ``requirements_rocm.txt`` installed by a CUDA image is still ROCm's), else ``env``'s."""
        if package.path == env.path:
            return env.platform
        own = platform_of_tokens(variant_tokens(package.path), package.path)
        merged = _merged(own, env.platform)
        return merged if merged is not None else env.platform

    def is_library(self) -> bool:
        """Whether RP501 treats the repository as a library: ``profile = "library"``, or
        (profile not set) a repository that publishes a package and deploys nothing."""
        if self.config.profile_set:
            return self.config.profile is Profile.LIBRARY
        publishes = (
            any(
                r.kind == "pyproject" and not posixpath.dirname(r.path)
                for r in self.recipes.values()
            )
            or "setup.py" in self.recipes
        )  # a setup.py at the root
        deploys = any(e.purpose in MODEL_PURPOSES for e in self.environments)
        return publishes and not deploys


_FILE_WIDE_OPTIONS = frozenset({"requirements", KIND_ENVIRONMENT})
_URL = re.compile(r"https?://[^\s'\"\\]+")


def _urls(text: str) -> list[str]:
    """PyTorch and jax variant index or find-links URLs in ``text`` (facts record index URLs,
    not ``-f`` pages, which select a variant just as well)."""
    return [
        u
        for u in dict.fromkeys(m.group(0) for m in _URL.finditer(text))
        if index_variant(u) is not None or "jax" in u
    ]


def _package_kinds(packages: Iterable[Package]) -> frozenset[str]:
    """The accelerator kinds ``packages`` name (see :func:`_package_kind`)."""
    kinds = {_package_kind(p.name, p.version) for p in packages}
    kinds.discard(None)
    return frozenset(cast("set[str]", kinds))


@functools.lru_cache(maxsize=16384)
def _package_kind(name: str, version: str) -> str | None:
    """What one pin says of the platform: a ``+cpu`` / ``+rocm`` / ``+xpu`` local version,
    CUDA wheels, Gaudi or Neuron packages; None for nothing (most pins). Memoised: the same
    pins recur in every environment that installs them."""
    if pin_cuda(name, version) is not None:
        return "cuda"
    kind = local_accelerator(version)
    if kind is not None:
        return kind
    if name in ("habana-torch-plugin", "optimum-habana"):
        return "gaudi"
    if name.startswith(("torch-neuron", "neuronx-")):
        return "neuron"
    return None


_KIND_ACCELERATORS = {
    "cuda": Accelerator.CUDA,
    "cpu": Accelerator.CPU,
    "rocm": Accelerator.ROCM,
    "xpu": Accelerator.XPU,
    "gaudi": Accelerator.GAUDI,
    "neuron": Accelerator.NEURON,
}


@functools.lru_cache(maxsize=64)
def _platform_of_kinds(kinds: frozenset[str]) -> Platform | None:
    """What the pins say (their :func:`_package_kinds`). Only when all of them agree: a file
    of alternatives (markers) says nothing."""
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    return Platform(accelerator=_KIND_ACCELERATORS[kind], evidence="its pinned wheels")


class Lines:
    """File lines read on demand, once each (None when unreadable or without a root).

    Index scoping needs the text of the command around a pin, which facts do not carry; this is
    the only text the environment checks read, and only of files the audit scanned."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.cache: dict[str, list[str] | None] = {}

    def get(self, path: str) -> list[str] | None:
        """The lines of root-relative ``path``."""
        if self.root is None:
            return None
        if path not in self.cache:
            try:
                text = read_bytes(self.root / path).decode("utf-8", errors="replace")
            except OSError:
                self.cache[path] = None
            else:
                self.cache[path] = text.splitlines()
        return self.cache[path]


def command_text(lines: Sequence[str], line: int) -> str:
    """The logical command around 1-based ``line``: backslash continuations joined."""
    if not lines:
        return ""
    start = end = min(max(line, 1), len(lines)) - 1
    while start > 0 and lines[start - 1].rstrip().endswith("\\"):
        start -= 1
    while end < len(lines) - 1 and lines[end].rstrip().endswith("\\"):
        end += 1
    return "\n".join(lines[start : end + 1])


# =============================================================================================
# Groups of environments that must agree (RP501)


_Spec = pathspec.GitIgnoreSpec


class _Groups:
    """``[tool.repro.environments]`` compiled: which paths each group takes or leaves out."""

    def __init__(self, config: Config) -> None:
        self.tables: list[
            tuple[EnvironmentGroup, pathspec.GitIgnoreSpec, pathspec.GitIgnoreSpec]
        ] = [
            (
                group,
                pathspec.GitIgnoreSpec.from_lines(group.members),
                pathspec.GitIgnoreSpec.from_lines(group.exclude),
            )
            for group in config.environments.values()
        ]

    def purpose(self, path: str) -> tuple[Purpose, str] | None:
        """The purpose config gives ``path``, if any."""
        for group, members, exclude in self.tables:
            if group.purpose and members.match_file(path) and not exclude.match_file(path):
                return Purpose(group.purpose), f"[tool.repro.environments.{group.name}] purpose"
        return None

    def mentions(self, path: str) -> bool:
        """Whether a configured table takes ``path`` as a member."""
        return any(members.match_file(path) for _, members, _ in self.tables)

    def named(self) -> list[tuple[str, _Spec, _Spec]]:
        """The groups config names, except ``default``."""
        return [(g.name, m, x) for g, m, x in self.tables if g.name != DEFAULT_GROUP]

    def default(self) -> tuple[_Spec, _Spec] | None:
        """The ``default`` table's additions and removals; None when it is not configured."""
        for group, members, exclude in self.tables:
            if group.name == DEFAULT_GROUP:
                return members, exclude
        return None


DEFAULT_GROUP = "default"
"""The built-in group (the model purposes); its table in config adds and removes paths."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    """Environments that must agree, and why."""

    name: str
    why: str
    """For messages: ``both build or serve the model (training, serving, pipeline, batch)``."""
    members: tuple[Environment, ...]


def agreement_groups(model: Model) -> list[Group]:
    """The groups RP501 compares within. A file is in a group by its own purpose or path even
    when another environment installs it (a lock that CI syncs is still the server's), unless
    another member of the group installs it: then it is part of that member. Each group is
    split by variant tokens: alternatives never have to agree. A library's CI jobs are in none."""
    library = model.is_library()
    envs = [
        e
        for e in model.every
        if not (library and e.section is not None and e.section.kind == "job")
    ]
    groups: list[Group] = []
    named = model.groups.named()
    for name, members, exclude in named:
        chosen = [e for e in envs if members.match_file(e.path) and not exclude.match_file(e.path)]
        why = f"[tool.repro.environments.{name}] says they must agree"
        groups.extend(_split(name, why, _outermost(chosen)))
    default = model.groups.default()
    if named and default is None:
        return groups
    add, remove = default if default is not None else (None, None)
    chosen = [
        e
        for e in envs
        if (e.purpose in MODEL_PURPOSES or (add is not None and add.match_file(e.path)))
        and not (remove is not None and remove.match_file(e.path))
    ]
    why = "the model's training, serving, pipeline and batch environments must agree"
    groups.extend(_split(DEFAULT_GROUP, why, _outermost(chosen)))
    return groups


def _outermost(envs: Sequence[Environment]) -> list[Environment]:
    """``envs`` without those another of them installs (they are part of it); of two that
    install each other, both stay."""
    installers: dict[str, set[str]] = {}
    members: dict[str, set[str]] = {}
    for e in envs:
        members.setdefault(e.path, set()).update(e.members)
    for e in envs:
        for member in e.members[1:]:
            installers.setdefault(member, set()).add(e.path)
    return [
        e
        for e in envs
        if not any(
            other != e.path and other not in members[e.path] for other in installers.get(e.path, ())
        )
    ]


def _split(name: str, why: str, envs: Sequence[Environment]) -> list[Group]:
    by_tokens: dict[frozenset[str], list[Environment]] = {}
    for env in envs:
        by_tokens.setdefault(env.tokens, []).append(env)
    return [
        Group(name=name, why=why, members=tuple(members))
        for _, members in sorted(by_tokens.items(), key=lambda kv: sorted(kv[0]))
        if len({e.path for e in members}) > 1
    ]
