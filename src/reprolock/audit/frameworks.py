"""Cross-file ML checks: framework skew (RP501), CUDA variants (RP502, RP503), Python drift (RP504).

Everything here works on the :class:`FileFacts` other scanners produced. This module reads
``.python-version`` itself, and looks up the line of an index URL (facts carry none) for
RP503.

**Environments.** A file whose role is CONCRETE or LOCK is an environment when it installs at
least one exact pin, counting the pins of the files it includes (``-r``/``-c``, transitively):
a Dockerfile that runs ``pip install -r requirements.txt`` carries that file's versions. An
environment included by another environment is part of it, not a separate voice: only
*top-level* environments are compared, so a Dockerfile never "skews" against the file it
installs. Manifests (``requirements.in``, ``pyproject.toml``) are never environments.

**RP501** compares public versions (``2.3.1+cu121`` and ``2.3.1+cpu`` are the same version):
a CPU serving image next to a GPU training image is a deliberate deployment, and the variant
is what RP502/RP503 judge. Versions within one environment may differ (environment markers);
an environment agrees with another when they share a version. The reference version is the
one the most top-level environments use, ties going to the environment whose path sorts
first; every environment without it is reported once per framework, at its pin.

**RP502**, when anything in the repository targets CUDA (a CUDA image, a ``+cuXYZ`` wheel, an
``nvidia-*-cuNN`` / ``jax-cudaNN-*`` / ``cupy-cudaNN`` pin, a conda ``pytorch-cuda`` /
``cudatoolkit`` / ``cuda-version`` pin, a CUDA wheel index). A pin's variant is pinned when:

- any framework: the version carries a local part (``+cu121``, ``+cpu``,
  ``+cuda12.cudnn89``), or the pin is hashed (the hashes name the exact wheel files, so the
  installer refuses another variant instead of drifting);
- torch, torchvision, torchaudio: it is installed from a variant index
  (``download.pytorch.org/whl/cu121``, ``.../cpu``), or the environment pins conda's
  ``pytorch-cuda`` / ``cudatoolkit`` / ``cuda-version``. An index applies to what the command
  naming it installs (a ``RUN`` or ``run:`` with its continuation lines, including the files
  it ``-r``-installs); in a requirements file or ``environment.yml`` ``pip:`` list, to the
  whole file and what it includes, as pip reads it;
- jaxlib (PyPI jaxlib is CPU-only): the environment pins ``jax-cudaNN-plugin`` or
  ``-pjrt`` (what ``jax[cuda12]`` resolves to), or it is installed from the jax CUDA index;
- tensorflow (one wheel; the CUDA libraries come from elsewhere): the environment pins
  ``nvidia-*-cuNN`` wheels (what ``tensorflow[and-cuda]`` resolves to) or runs on a CUDA image.

conda environments and locks are not judged by RP502: conda variants live in build strings
(``pytorch=2.3.1=py3.11_cuda12.1*``) that pins do not carry; ``pip:`` entries of an
``environment.yml`` are judged.

**RP503**, per file that names images (a Dockerfile, a workflow job container): every CUDA
wheel the file installs, itself or through included files, must match one of its CUDA images
of known version. ``+cuXYZ`` wheels and CUDA index URLs compare major.minor (torch's own
extension builder warns on a minor mismatch); ``nvidia-*-cuNN`` and jax plugin wheels, and
tensorflow versions (through TensorFlow's tested-build table), compare the major version.

**RP504** collects the Python versions files state. *Shipping* statements are
``.python-version`` (its first version; further lines are extra pyenv interpreters), base
images and conda ``python=``. Reported: a shipping minor version that disagrees with the
majority (most statements; ties go to the version ``requires-python`` admits, then to path
order), at the minority statement; a shipping version that the nearest ``requires-python``
(same or closest ancestor directory, else the only one in the repository) does not admit (at
the shipping statement, where the environment is built); CI versions of which none is
shipped (at each CI statement). Minor versions are compared: ``3.11.7`` and ``3.11`` agree.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version

from reprolock.audit.conda import KIND_ENVIRONMENT, KIND_EXPLICIT, KIND_LOCK
from reprolock.audit.images import repository_and_tag, split_image
from reprolock.audit.interface import (
    FileFacts,
    Include,
    Pin,
    PythonVersion,
    Role,
    ScanContext,
    Scanner,
    SourceFile,
    parent_dir,
)
from reprolock.files import read_bytes
from reprolock.model import Finding, Location
from reprolock.rules import finding

PYTHON_VERSION_FILE = ".python-version"

# ---------------------------------------------------------------------------------------------
# .python-version


class PythonVersionScanner(Scanner):
    """``.python-version`` (pyenv, uv): one version per line or word; ``#`` lines are comments."""

    name = "python-version"

    def claims(self, relpath: str, filename: str) -> bool:
        return filename == PYTHON_VERSION_FILE

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        pythons: list[PythonVersion] = []
        for number, raw in enumerate(source.text.splitlines(), start=1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            for word in text.split():
                pythons.append(PythonVersion(value=word, line=number, origin=PYTHON_VERSION_FILE))
        return FileFacts(path=source.path, kind=self.name, role=Role.OTHER, pythons=tuple(pythons))


def framework_scanners() -> list[Scanner]:
    """The ``.python-version`` scanner (the cross-file rules are
    :class:`reprolock.audit.checks.frameworks.FrameworkCheck`)."""
    return [PythonVersionScanner()]


def cross_check(facts: Mapping[str, FileFacts], ctx: ScanContext) -> list[Finding]:
    """Every RP501-RP504 finding for the repository described by ``facts``."""
    envs = environments(facts, ctx.root)
    out: list[Finding] = []
    out.extend(framework_skew(envs, ctx.config.frameworks))
    target = cuda_target(facts)
    if target is not None:
        out.extend(variant_unpinned(envs, target, ctx.root))
    out.extend(cuda_mismatch(facts, ctx.root))
    out.extend(python_drift(facts))
    return _dedupe(out)


def _dedupe(found: Iterable[Finding]) -> list[Finding]:
    """One finding per rule, place and subject: shared included files are reached twice."""
    seen: set[tuple[str, str, int, str]] = set()
    out: list[Finding] = []
    for f in found:
        key = (f.rule, f.location.path, f.location.line, f.subject)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# ---------------------------------------------------------------------------------------------
# Environments


@dataclass(frozen=True, kw_only=True, slots=True)
class Placed:
    """A pin and the file that holds it."""

    pin: Pin
    path: str

    @property
    def where(self) -> str:
        """``path:line`` for messages."""
        return f"{self.path}:{self.pin.line}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Environment:
    """A top-level environment: a file and everything it includes."""

    members: tuple[FileFacts, ...]
    """The file itself, then every file it includes, transitively, in include order."""
    pins: tuple[Placed, ...]
    """The pins of every member."""
    inherited: tuple[tuple[str, tuple[str, ...]], ...]
    """``(member path, index URLs)`` the including command or file passes to each member."""

    @property
    def path(self) -> str:
        """The environment's own file."""
        return self.members[0].path

    @property
    def paths(self) -> tuple[str, ...]:
        """Paths of the members."""
        return tuple(m.path for m in self.members)

    def member(self, path: str) -> FileFacts:
        """The facts of the member at ``path``."""
        return next(m for m in self.members if m.path == path)

    def indexes_for(self, placed: Placed, lines: _Lines) -> tuple[str, ...]:
        """The index URLs a pin is installed from: those its installing command names (any in
        the file, for requirements-style files), and those passed down by its includers."""
        member = self.member(placed.path)
        inherited = next((urls for path, urls in self.inherited if path == placed.path), ())
        return (*_scoped(member, placed.pin.line, member.indexes, lines), *inherited)


def _closure(start: FileFacts, facts: Mapping[str, FileFacts]) -> tuple[str, ...]:
    order: dict[str, None] = {}
    pending = deque([start.path])
    while pending:
        path = pending.popleft()
        if path in order:
            continue
        order[path] = None
        ff = facts.get(path)
        if ff is not None:
            pending.extend(inc.target for inc in ff.includes if inc.target in facts)
    return tuple(order)


def environments(facts: Mapping[str, FileFacts], root: Path | None = None) -> list[Environment]:
    """The top-level environments of the repository, in path order.

    ``root`` lets index URLs be scoped to the command that installs an included file; without
    it every index of an including file applies to everything it includes.
    """
    lines = _Lines(root)
    out: list[Environment] = []
    for path in _top_level(facts):
        members = tuple(facts[m] for m in _closure(facts[path], facts))
        pins = tuple(Placed(pin=p, path=m.path) for m in members for p in m.pins)
        inherited = _inherited_indexes(members, lines)
        out.append(Environment(members=members, pins=pins, inherited=inherited))
    return out


def _top_level(facts: Mapping[str, FileFacts]) -> list[str]:
    """Paths, sorted, of the concrete files and locks whose include closure pins something and
    that no other such file includes (an environment inside another is part of it; in an
    include cycle both stay).

    Decided on the graph of strongly connected components, so that a chain of n includes
    costs O(n) rather than one closure per file: a candidate stays unless a candidate in
    another component reaches its component. A file that includes nothing and that nothing
    includes (most of a large tree) is its own environment, without a walk.
    """
    concrete = (Role.CONCRETE, Role.LOCK)
    included = {inc.target for ff in facts.values() for inc in ff.includes}
    alone = {
        path
        for path, ff in facts.items()
        if path not in included and not any(inc.target in facts for inc in ff.includes)
    }
    top = [p for p in alone if facts[p].role in concrete and facts[p].pins]
    components = _components(facts, [p for p in facts if p not in alone])
    component_of = {path: index for index, members in enumerate(components) for path in members}
    successors = [
        {
            component_of[inc.target]
            for path in members
            for inc in facts[path].includes
            if inc.target in facts and component_of[inc.target] != index
        }
        for index, members in enumerate(components)
    ]
    # components come sinks first: what a component reaches is known before it
    pinned: list[bool] = []
    for index, members in enumerate(components):
        own = any(facts[path].pins for path in members)
        pinned.append(own or any(pinned[s] for s in successors[index]))
    candidate = [
        pinned[index] and any(facts[p].role in concrete for p in members)
        for index, members in enumerate(components)
    ]
    covered = [False] * len(components)
    for index in reversed(range(len(components))):  # sources first
        if covered[index] or candidate[index]:
            for s in successors[index]:
                covered[s] = True
    top.extend(
        path
        for index, members in enumerate(components)
        if candidate[index] and not covered[index]
        for path in members
        if facts[path].role in concrete
    )
    return sorted(top)


def _components(facts: Mapping[str, FileFacts], nodes: Iterable[str]) -> list[list[str]]:
    """Strongly connected components of the include graph from ``nodes`` (Tarjan), sinks
    first."""
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
        targets = [inc.target for inc in facts[node].includes if inc.target in facts]
        work.append((node, iter(targets)))

    for start in sorted(nodes):
        if start in index:
            continue
        enter(start)
        while work:
            node, successors = work[-1]
            nxt = next(successors, None)
            if nxt is not None:
                if nxt not in index:
                    enter(nxt)
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
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


# Files whose options apply to the whole file, as pip reads a requirements file; in any other
# file (a Dockerfile, a workflow, a script) an index applies to the command that names it.
_FILE_WIDE_OPTIONS = frozenset({"requirements", KIND_ENVIRONMENT})


class _Lines:
    """File lines read on demand, once each (None when unreadable or without a root)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.cache: dict[str, list[str] | None] = {}

    def get(self, path: str) -> list[str] | None:
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


def _command_text(lines: list[str], line: int) -> str:
    """The logical command around 1-based ``line``: backslash continuations joined."""
    start = end = min(max(line, 1), len(lines)) - 1
    while start > 0 and lines[start - 1].rstrip().endswith("\\"):
        start -= 1
    while end < len(lines) - 1 and lines[end].rstrip().endswith("\\"):
        end += 1
    return "\n".join(lines[start : end + 1])


def _scoped(facts: FileFacts, line: int, urls: Sequence[str], lines: _Lines) -> list[str]:
    """The ``urls`` of ``facts`` that apply to what its ``line`` installs."""
    text = lines.get(facts.path)
    if facts.kind in _FILE_WIDE_OPTIONS or not text:
        return list(urls)
    command = _command_text(text, line)
    return [url for url in urls if url in command]


def _inherited_indexes(
    members: Sequence[FileFacts], lines: _Lines
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """For each member, the index URLs the commands or files that include it pass down."""
    position = {member.path: number for number, member in enumerate(members)}
    incoming: dict[str, list[tuple[FileFacts, Include]]] = {}
    for includer in members:
        for include in includer.includes:
            if include.target in position:
                incoming.setdefault(include.target, []).append((includer, include))
    inherited: dict[str, list[str]] = {}
    for number, member in enumerate(members):
        # include order: an includer counts once it has been placed before this member
        urls: list[str] = []
        for includer, include in incoming.get(member.path, ()):
            if position[includer.path] >= number:
                continue
            own = _scoped(includer, include.line, includer.indexes, lines)
            urls.extend([*own, *inherited[includer.path]])
        inherited[member.path] = list(dict.fromkeys(urls))
    return tuple((path, tuple(urls)) for path, urls in inherited.items())


# ---------------------------------------------------------------------------------------------
# RP501 framework skew


def public_version(version: str) -> str:
    """The version without its local part, normalised (``2.03.1+cu121`` -> ``2.3.1``)."""
    try:
        return Version(version).public
    except InvalidVersion:
        return version.split("+", 1)[0]


@functools.lru_cache(maxsize=4096)
def _version_key(version: str) -> str:
    """What makes two versions the same release: ``1.3.2``, ``1.3.2.0`` and ``1.3.2+cpu``."""
    return canonicalize_version(public_version(version), strip_trailing_zero=True)


def _local(version: str) -> str:
    return version.split("+", 1)[1] if "+" in version else ""


def framework_skew(envs: Sequence[Environment], frameworks: Iterable[str]) -> list[Finding]:
    """RP501: a framework pinned to different public versions in two top-level environments."""
    out: list[Finding] = []
    names = list(dict.fromkeys(canonicalize_name(f) for f in frameworks))
    wanted = set(names)
    by_name: list[dict[str, list[Placed]]] = []
    for env in envs:
        grouped: dict[str, list[Placed]] = {}
        # Pins in the environment's own file come first: that is where a fix goes.
        for placed in sorted(env.pins, key=lambda p: p.path != env.path):
            if placed.pin.name in wanted:
                grouped.setdefault(placed.pin.name, []).append(placed)
        by_name.append(grouped)
    for name in names:
        using: list[tuple[Environment, dict[str, Placed]]] = []
        for env, grouped in zip(envs, by_name, strict=True):
            versions: dict[str, Placed] = {}
            for placed in grouped.get(name, ()):
                versions.setdefault(_version_key(placed.pin.version), placed)
            if versions:
                using.append((env, versions))
        count: dict[str, int] = {}
        first: dict[str, int] = {}
        # Each version's first placement in environment order: what a message quotes.
        first_placed: dict[str, Placed] = {}
        for index, (_, versions) in enumerate(using):
            for version, placed in versions.items():
                count[version] = count.get(version, 0) + 1
                if version not in first:
                    first[version] = index
                    first_placed[version] = placed
        if len(first) < 2:
            continue
        # Ties left (two versions of one environment) go to the one met first: max() keeps
        # the first of equal keys, and ``first`` is in placement order, never hash order.
        reference = max(first, key=lambda v: (count[v], -first[v]))
        for env, versions in using:
            if reference not in versions:
                out.append(_skew_finding(name, env, versions, first_placed, reference))
    return out


def _skew_finding(
    name: str,
    env: Environment,
    versions: dict[str, Placed],
    first_placed: dict[str, Placed],
    reference: str,
) -> Finding:
    here = next(iter(versions.values()))
    # The other environments' versions: none of this environment's own can be among them.
    elsewhere = {v: placed for v, placed in first_placed.items() if v not in versions}
    ordered = [reference, *(v for v in elsewhere if v != reference)]
    shown = [
        f"{public_version(elsewhere[v].pin.version)} in {elsewhere[v].where}" for v in ordered[:3]
    ]
    if len(ordered) > 3:
        shown.append(f"{len(ordered) - 3} more")
    message = f"{name}=={public_version(here.pin.version)} here, but {' and '.join(shown)}"
    if here.path != env.path:
        message += f" (installed by {env.path})"
    local = _local(here.pin.version)
    fix = f"{name}=={public_version(elsewhere[reference].pin.version)}"
    if local:
        fix += f"+{local}"
    location = Location(path=here.path, line=max(here.pin.line, 1))
    return finding("RP501", message, location, subject=name, fix=fix)


# ---------------------------------------------------------------------------------------------
# CUDA versions


@dataclass(frozen=True, kw_only=True, slots=True)
class Cuda:
    """A CUDA version as far as it is known: always the major, sometimes the minor."""

    major: int
    minor: int | None = None

    @property
    def label(self) -> str:
        """``12.1``, or ``12`` when the minor is unknown."""
        return f"{self.major}" if self.minor is None else f"{self.major}.{self.minor}"

    def agrees(self, other: Cuda) -> bool:
        """Same major, and the same minor where both are known."""
        if self.major != other.major:
            return False
        return self.minor is None or other.minor is None or self.minor == other.minor

    @property
    def tag(self) -> str:
        """The wheel tag: ``cu121`` (``cu12`` when the minor is unknown)."""
        return f"cu{self.major}{'' if self.minor is None else self.minor}"


def cuda_from_digits(digits: str) -> Cuda | None:
    """``121`` -> 12.1, ``118`` -> 11.8, ``92`` -> 9.2 (the digits of ``cu121``)."""
    if len(digits) == 3:
        return Cuda(major=int(digits[:2]), minor=int(digits[2]))
    if len(digits) == 2:
        return Cuda(major=int(digits[0]), minor=int(digits[1]))
    return None


def _cuda_from_dotted(text: str) -> Cuda | None:
    m = re.match(r"(\d+)(?:\.(\d+))?", text)
    if not m:
        return None
    return Cuda(major=int(m.group(1)), minor=int(m.group(2)) if m.group(2) else None)


# TensorFlow's tested GPU build configurations (tensorflow.org/install/source#gpu): the CUDA
# each release was built and tested with, and the CUDA its `-gpu` Docker images carry.
TENSORFLOW_CUDA: dict[str, Cuda] = {
    "2.18": Cuda(major=12, minor=5),
    "2.17": Cuda(major=12, minor=3),
    "2.16": Cuda(major=12, minor=3),
    "2.15": Cuda(major=12, minor=2),
    "2.14": Cuda(major=11, minor=8),
    "2.13": Cuda(major=11, minor=8),
    "2.12": Cuda(major=11, minor=8),
    "2.11": Cuda(major=11, minor=2),
    "2.10": Cuda(major=11, minor=2),
    "2.9": Cuda(major=11, minor=2),
    "2.8": Cuda(major=11, minor=2),
    "2.7": Cuda(major=11, minor=2),
    "2.6": Cuda(major=11, minor=2),
    "2.5": Cuda(major=11, minor=2),
    "2.4": Cuda(major=11, minor=0),
    "2.3": Cuda(major=10, minor=1),
    "2.2": Cuda(major=10, minor=1),
    "2.1": Cuda(major=10, minor=1),
    "2.0": Cuda(major=10, minor=0),
}

# NGC container releases (nvcr.io/nvidia/<framework>:YY.MM-...) and the CUDA they are based
# on, from NVIDIA's release notes ("Release 24.01 is based on CUDA 12.3.2"). Every framework
# container of one monthly release shares the base. Months not listed are treated as CUDA of
# unknown version rather than guessed.
NGC_CUDA: dict[str, Cuda] = {
    "20.08": Cuda(major=11, minor=0),
    "20.10": Cuda(major=11, minor=1),
    "20.12": Cuda(major=11, minor=1),
    "21.02": Cuda(major=11, minor=2),
    "21.03": Cuda(major=11, minor=2),
    "21.04": Cuda(major=11, minor=3),
    "22.01": Cuda(major=11, minor=6),
    "22.03": Cuda(major=11, minor=6),
    "22.05": Cuda(major=11, minor=7),
    "22.08": Cuda(major=11, minor=7),
    "22.10": Cuda(major=11, minor=8),
    "22.11": Cuda(major=11, minor=8),
    "22.12": Cuda(major=11, minor=8),
    "23.03": Cuda(major=12, minor=1),
    "23.04": Cuda(major=12, minor=1),
    "23.05": Cuda(major=12, minor=1),
    "23.06": Cuda(major=12, minor=1),
    "23.07": Cuda(major=12, minor=1),
    "23.08": Cuda(major=12, minor=2),
    "23.09": Cuda(major=12, minor=2),
    "23.10": Cuda(major=12, minor=2),
    "23.11": Cuda(major=12, minor=3),
    "23.12": Cuda(major=12, minor=3),
    "24.01": Cuda(major=12, minor=3),
    "24.03": Cuda(major=12, minor=4),
    "24.04": Cuda(major=12, minor=4),
    "24.05": Cuda(major=12, minor=4),
    "24.06": Cuda(major=12, minor=5),
    "24.07": Cuda(major=12, minor=5),
    "24.08": Cuda(major=12, minor=6),
    "24.10": Cuda(major=12, minor=6),
    "25.03": Cuda(major=12, minor=8),
    "25.04": Cuda(major=12, minor=9),
    "25.06": Cuda(major=12, minor=9),
    "25.08": Cuda(major=13, minor=0),
}


def _shown(ref: str) -> str:
    """An image reference for messages: the digest is noise there, the location names it."""
    return ref.split("@", 1)[0]


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageCuda:
    """What an image says about CUDA: it is a CUDA image; its version, when known."""

    cuda: Cuda | None


def image_cuda(ref: str) -> ImageCuda | None:
    """The CUDA of an image reference, or None when it is not a CUDA image."""
    name, tag = repository_and_tag(ref)
    if name == "nvidia/cuda" or name.endswith("/nvidia/cuda"):
        return ImageCuda(cuda=_cuda_from_dotted(tag))
    m = re.search(r"(?:^|[-_.])cuda(\d+)(?:\.(\d+))?", tag)
    if m:
        minor = int(m.group(2)) if m.group(2) else None
        return ImageCuda(cuda=Cuda(major=int(m.group(1)), minor=minor))
    m = re.search(r"(?:^|[-_.])cu(\d{2,3})(?:$|[-_.])", tag)
    if m:
        return ImageCuda(cuda=cuda_from_digits(m.group(1)))
    if name == "pytorch/pytorch":
        return ImageCuda(cuda=None)  # every pytorch/pytorch image is a CUDA build
    if name == "tensorflow/tensorflow":
        if "gpu" not in tag:
            return None
        release = re.match(r"(\d+\.\d+)", tag)
        return ImageCuda(cuda=TENSORFLOW_CUDA.get(release.group(1)) if release else None)
    if name.startswith("nvcr.io/nvidia/") and "cpu" not in tag:
        release = re.match(r"(\d{2}\.\d{2})", tag)
        return ImageCuda(cuda=NGC_CUDA.get(release.group(1)) if release else None)
    return None


_NVIDIA_WHEEL = re.compile(r"^nvidia-.+-cu(\d+)$")
_JAX_PLUGIN = re.compile(r"^jax-cuda(\d+)-(?:plugin|pjrt)$")
_CUPY = re.compile(r"^cupy-cuda(\d+)(x?)$")
_CONDA_CUDA = frozenset({"pytorch-cuda", "cudatoolkit", "cuda-version"})
_LOCAL_CUDA = re.compile(r"^(?:cu(\d{2,3})|cuda(\d+)(?:\.(\d+))?)(?:$|[._])")
_TORCH_INDEX = re.compile(
    r"download\.pytorch\.org/whl/(?:nightly/|test/)?(cu\d+|cpu|rocm[\d.]+)(?:/|$)", re.I
)
_JAX_INDEX = re.compile(r"jax[-_]cuda\d*[-_]releases|jax-releases/jax_cuda", re.I)


def local_cuda(version: str) -> Cuda | None:
    """The CUDA of a wheel's local version: ``+cu121`` -> 12.1, ``+cuda12.cudnn89`` -> 12."""
    local = _local(version).lower()
    m = _LOCAL_CUDA.match(local)
    if not m:
        return None
    if m.group(1):
        return cuda_from_digits(m.group(1))
    digits, minor = m.group(2), m.group(3)
    if minor is None and len(digits) == 3:
        return cuda_from_digits(digits)  # old jaxlib: +cuda111
    return Cuda(major=int(digits), minor=int(minor) if minor else None)


@dataclass(frozen=True, kw_only=True, slots=True)
class WheelCuda:
    """A CUDA build a pin installs, and how the pin names it."""

    cuda: Cuda
    family: str
    """``local`` (``+cu121``), ``nvidia`` (``nvidia-*-cu12``, jax plugins, cupy), ``conda``."""


def pin_cuda(pin: Pin) -> WheelCuda | None:
    """The CUDA build a pin names, if any."""
    found = local_cuda(pin.version)
    if found is not None:
        return WheelCuda(cuda=found, family="local")
    for pattern in (_NVIDIA_WHEEL, _JAX_PLUGIN):
        m = pattern.match(pin.name)
        if m:
            return WheelCuda(cuda=Cuda(major=int(m.group(1))), family="nvidia")
    m = _CUPY.match(pin.name)
    if m:
        # cupy-cuda12x is any CUDA 12; cupy-cuda117 is exactly 11.7.
        exact = None if m.group(2) else cuda_from_digits(m.group(1))
        return WheelCuda(cuda=exact or Cuda(major=int(m.group(1)[:2])), family="nvidia")
    if pin.name in _CONDA_CUDA:
        found = _cuda_from_dotted(pin.version)
        if found is not None:
            return WheelCuda(cuda=found, family="conda")
    return None


def index_cuda(url: str) -> Cuda | None:
    """The CUDA of a PyTorch variant index (``.../whl/cu121``), or None."""
    m = _TORCH_INDEX.search(url)
    if m and m.group(1).lower().startswith("cu"):
        return cuda_from_digits(m.group(1)[2:])
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CudaSignal:
    """Why the repository targets CUDA: the first signal found, for messages and fixes."""

    description: str
    """E.g. ``nvidia/cuda:12.1.1-runtime-ubuntu22.04 (Dockerfile:1)``."""
    cuda: Cuda | None
    """The one CUDA version every versioned wheel or index signal names, if they agree."""
    image_cudas: tuple[Cuda, ...]
    """CUDA versions of CUDA images, in path order."""


def cuda_target(facts: Mapping[str, FileFacts]) -> CudaSignal | None:
    """Whether (and why) the repository targets CUDA; None when nothing does."""
    descriptions: list[str] = []
    wheels: list[Cuda] = []
    images: list[Cuda] = []
    for path in sorted(facts):
        ff = facts[path]
        for image in ff.images:
            found = image_cuda(image.ref)
            if found is not None:
                descriptions.append(f"{_shown(image.ref)} ({path}:{image.line})")
                if found.cuda is not None:
                    images.append(found.cuda)
        for pin in ff.pins:
            wheel = pin_cuda(pin)
            if wheel is not None:
                descriptions.append(f"{pin.name}=={pin.version} ({path}:{pin.line})")
                if wheel.family != "nvidia" or wheel.cuda.minor is not None:
                    wheels.append(wheel.cuda)
        for url in ff.indexes:
            if index_cuda(url) is not None or _JAX_INDEX.search(url):
                descriptions.append(f"{url} ({path})")
                cuda = index_cuda(url)
                if cuda is not None:
                    wheels.append(cuda)
    if not descriptions:
        return None
    versions = {c for c in wheels if c.minor is not None}
    return CudaSignal(
        description=descriptions[0],
        cuda=versions.pop() if len(versions) == 1 else None,
        image_cudas=tuple(images),
    )


# ---------------------------------------------------------------------------------------------
# RP502 accelerator variant unpinned

_TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio"})
_GPU_FRAMEWORKS = _TORCH_FAMILY | {"jaxlib", "tensorflow"}
_CONDA_KINDS = frozenset({KIND_ENVIRONMENT, KIND_LOCK, KIND_EXPLICIT})


def _judged_by_rp502(placed: Placed, facts: FileFacts) -> bool:
    if facts.kind not in _CONDA_KINDS:
        return True
    if facts.kind != KIND_ENVIRONMENT:
        return False
    # Only the pip: entries of an environment.yml are PyPI wheels.
    return any(
        d.group == "pip" and d.line == placed.pin.line and d.spec.name == placed.pin.name
        for d in facts.declared
    )


def _variant_pinned(placed: Placed, env: Environment, lines: _Lines) -> bool:
    pin = placed.pin
    if _local(pin.version) or pin.hashed:
        return True
    names = {p.pin.name for p in env.pins}
    indexes = env.indexes_for(placed, lines)
    if pin.name in _TORCH_FAMILY:
        return any(_TORCH_INDEX.search(url) for url in indexes) or bool(names & _CONDA_CUDA)
    if pin.name == "jaxlib":
        return any(_JAX_PLUGIN.match(n) for n in names) or any(
            _JAX_INDEX.search(url) for url in indexes
        )
    # tensorflow
    if any(_NVIDIA_WHEEL.match(n) for n in names):
        return True
    return any(image_cuda(image.ref) is not None for m in env.members for image in m.images)


def _env_cuda(env: Environment, target: CudaSignal) -> Cuda | None:
    """The CUDA version a fix should name for this environment, when there is one answer.

    Images come before wheels: an image states the CUDA stack a deployment runs on, while a
    wheel may itself be the mistake (RP503).
    """
    own = {
        found.cuda
        for m in env.members
        for image in m.images
        if (found := image_cuda(image.ref)) is not None and found.cuda is not None
    }
    wheels = {
        w.cuda for p in env.pins if (w := pin_cuda(p.pin)) is not None and w.cuda.minor is not None
    }
    images = {c for c in target.image_cudas if c.minor is not None}
    for candidates in (own, wheels, images):
        if len(candidates) == 1:
            return next(iter(candidates))
    return target.cuda


def variant_unpinned(
    envs: Sequence[Environment], target: CudaSignal, root: Path | None = None
) -> list[Finding]:
    """RP502: GPU frameworks pinned without a variant in a repository that targets CUDA."""
    lines = _Lines(root)
    out: list[Finding] = []
    for env in envs:
        for placed in env.pins:
            name = placed.pin.name
            if name not in _GPU_FRAMEWORKS or not _judged_by_rp502(placed, env.member(placed.path)):
                continue
            if _variant_pinned(placed, env, lines):
                continue
            cuda = _env_cuda(env, target)
            version = placed.pin.version
            fix: str | None
            if name in _TORCH_FAMILY:
                how = "no +cuXYZ variant and no variant index"
                fix = f"{name}=={version}+{cuda.tag}" if cuda and cuda.minor is not None else None
            elif name == "jaxlib":
                how = "no +cuda variant and no jax-cudaNN-plugin"
                fix = f"jax[cuda{cuda.major}]=={version}" if cuda else None
            else:
                how = "no nvidia-*-cuNN wheels and no CUDA image"
                fix = f"tensorflow[and-cuda]=={version}"
            message = (
                f"{name}=={version} has {how}, but the repository targets CUDA: "
                f"{target.description}"
            )
            location = Location(path=placed.path, line=max(placed.pin.line, 1))
            out.append(finding("RP502", message, location, subject=name, fix=fix))
    return out


# ---------------------------------------------------------------------------------------------
# RP503 CUDA mismatch


def cuda_mismatch(facts: Mapping[str, FileFacts], root: Path) -> list[Finding]:
    """RP503: a wheel or index whose CUDA no CUDA image of the same file matches."""
    out: list[Finding] = []
    for path in sorted(facts):
        ff = facts[path]
        images = [
            (image, found.cuda)
            for image in ff.images
            if (found := image_cuda(image.ref)) is not None and found.cuda is not None
        ]
        if not images:
            continue
        members = [facts[m] for m in _closure(ff, facts)]
        pins = [Placed(pin=p, path=m.path) for m in members for p in m.pins]
        image, first_cuda = images[0]
        where = f"the image {_shown(image.ref)} ({path}:{image.line})"
        judged = _Judged(cudas=tuple(c for _, c in images), where=where, has=first_cuda)
        out.extend(_wheel_mismatches(pins, judged))
        for member in members:
            for url in member.indexes:
                cuda = index_cuda(url)
                if cuda is None or judged.matches(cuda):
                    continue
                line = _line_of(root / member.path, url)
                at = (
                    Location(path=member.path, line=line)
                    if line is not None
                    else Location(path=path, line=max(image.line, 1))
                )
                message = judged.mismatch(f"index {url} serves CUDA {cuda.label} wheels")
                fixed = _index_for(url, judged.has)
                out.append(finding("RP503", message, at, subject=url, fix=fixed))
    return out


@dataclass(frozen=True, kw_only=True, slots=True)
class _Judged:
    """The CUDA images of one file, as RP503 compares against them."""

    cudas: tuple[Cuda, ...]
    where: str
    """The first CUDA image, for messages."""
    has: Cuda
    """Its CUDA version."""

    def matches(self, cuda: Cuda) -> bool:
        return any(cuda.agrees(c) for c in self.cudas)

    def mismatch(self, what: str) -> str:
        return f"{what}, but {self.where} has CUDA {self.has.label}"


def _index_for(url: str, cuda: Cuda) -> str:
    """The same PyTorch index for another CUDA version (``.../whl/cu118`` -> ``.../cu121``)."""
    m = _TORCH_INDEX.search(url)
    return url if m is None else url[: m.start(1)] + cuda.tag + url[m.end(1) :]


def _renamed_for(name: str, major: int) -> str:
    """``nvidia-cublas-cu11`` -> ``nvidia-cublas-cu12``; ``jax-cuda11-plugin`` -> ``-cuda12-``."""
    if name.startswith("nvidia-"):
        return re.sub(r"cu\d+$", f"cu{major}", name)
    return re.sub(r"cuda\d+", f"cuda{major}", name, count=1)


def _wheel_mismatches(pins: Sequence[Placed], judged: _Judged) -> Iterator[Finding]:
    nvidia: dict[tuple[str, int], list[Placed]] = {}
    has_nvidia = False
    for placed in pins:
        pin = placed.pin
        wheel = pin_cuda(pin)
        if wheel is None:
            continue
        has_nvidia = has_nvidia or wheel.family == "nvidia"
        if judged.matches(wheel.cuda):
            continue
        if wheel.family == "nvidia":
            nvidia.setdefault((placed.path, wheel.cuda.major), []).append(placed)
            continue
        message = judged.mismatch(f"{pin.name}=={pin.version} is a CUDA {wheel.cuda.label} build")
        if wheel.family == "local":
            fix = f"{pin.name}=={public_version(pin.version)}+{judged.has.tag}"
        else:
            fix = f"{pin.name}=={judged.has.label}"
        at = Location(path=placed.path, line=max(pin.line, 1))
        yield finding("RP503", message, at, subject=pin.name, fix=fix)
    for (_, major), group in nvidia.items():
        first = group[0]
        what = first.pin.name
        if len(group) > 1:
            what += f" and {len(group) - 1} more CUDA {major} wheels"
        message = judged.mismatch(f"{what} are CUDA {major} builds")
        at = Location(path=first.path, line=max(first.pin.line, 1))
        fix = _renamed_for(first.pin.name, judged.has.major)
        yield finding("RP503", message, at, subject=first.pin.name, fix=fix)
    if has_nvidia:
        return  # tensorflow[and-cuda]: its CUDA libraries are the nvidia wheels judged above
    for placed in pins:
        pin = placed.pin
        if pin.name != "tensorflow" or _local(pin.version):
            continue
        release = re.match(r"(\d+\.\d+)", pin.version)
        needs = TENSORFLOW_CUDA.get(release.group(1)) if release else None
        # Major only: TensorFlow loads any CUDA runtime of its build's major version.
        if needs is None or any(needs.major == c.major for c in judged.cudas):
            continue
        message = judged.mismatch(f"tensorflow=={pin.version} is built for CUDA {needs.label}")
        at = Location(path=placed.path, line=max(pin.line, 1))
        yield finding("RP503", message, at, subject="tensorflow")


def _line_of(path: Path, needle: str) -> int | None:
    """The first line of ``path`` containing ``needle`` (index URLs carry no line in facts)."""
    try:
        text = read_bytes(path).decode("utf-8", errors="replace")
    except OSError:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


# ---------------------------------------------------------------------------------------------
# RP504 Python version drift

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
    """A Python version stated somewhere."""

    path: str
    python: PythonVersion
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


def _statements(facts: Mapping[str, FileFacts]) -> tuple[list[Statement], list[Statement]]:
    """Shipping and CI statements with a recognisable minor version, in path and line order."""
    shipping: list[Statement] = []
    ci: list[Statement] = []
    for path in sorted(facts):
        first_pyenv = True
        for python in sorted(facts[path].pythons, key=lambda p: p.line):
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


def python_drift(facts: Mapping[str, FileFacts]) -> list[Finding]:
    """RP504: shipping versions that disagree, that requires-python rejects, or that CI skips."""
    shipping, ci = _statements(facts)
    if not shipping:
        return []
    requires = _Applicable(_requires(facts))
    majority = _majority(shipping, requires)
    out: list[Finding] = []
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
        fix = _shipping_fix(s, _label(majority), facts)
        out.append(finding("RP504", message, s.location, subject=s.subject, fix=fix))
    out.extend(_not_admitted(facts, shipping, requires, majority))
    out.extend(_ci_drift(shipping, ci, majority))
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


def _shipping_fix(s: Statement, version: str, facts: Mapping[str, FileFacts]) -> str:
    origin = s.python.origin
    if origin == PYTHON_VERSION_FILE:
        return version
    if origin == "conda":
        return f"python={version}"
    for image in facts[s.path].images:
        if image.line != s.python.line:
            continue
        _, tag = repository_and_tag(image.ref)
        m = re.match(r"\d+\.\d+(?:\.\d+)?", tag)
        if m:
            return f"FROM {split_image(image.ref).name}:{version}{tag[m.end() :]}"
    return f"Python {version}"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Requires:
    path: str
    line: int
    text: str
    spec: SpecifierSet


def _requires(facts: Mapping[str, FileFacts]) -> list[_Requires]:
    found: list[_Requires] = []
    for path in sorted(facts):
        for python in facts[path].pythons:
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
        for r in requires:
            self.by_dir.setdefault(parent_dir(r.path), r)
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
    facts: Mapping[str, FileFacts],
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
        fix = _shipping_fix(s, _label(good[0]), facts) if good else None
        yield finding("RP504", message, s.location, subject=s.subject, fix=fix)


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
