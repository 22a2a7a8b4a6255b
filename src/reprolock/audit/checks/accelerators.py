"""Accelerator knowledge: CUDA versions as images, wheels and indexes name them, and the table
of framework builds shipped in ``reprolock/data/accelerators.toml`` (which CUDA the default
PyPI wheel of a release carries, which variants its own index offers, their index URLs)."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from packaging.version import InvalidVersion, Version

from reprolock.audit.images import repository_and_tag

DATA_FILE = "accelerators.toml"
"""The table's name inside the ``reprolock.data`` directory."""


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


def cuda_from_dotted(text: str) -> Cuda | None:
    """``12.1.1`` -> 12.1, ``12`` -> 12."""
    m = re.match(r"(\d+)(?:\.(\d+))?", text)
    if not m:
        return None
    return Cuda(major=int(m.group(1)), minor=int(m.group(2)) if m.group(2) else None)


def cuda_of_variant(variant: str) -> Cuda | None:
    """The CUDA of a variant label (``cu121`` -> 12.1); None for ``cpu``, ``rocm6.2``, ..."""
    m = re.fullmatch(r"cu(\d{2,3})", variant)
    return cuda_from_digits(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True, kw_only=True, slots=True)
class Line:
    """What the table says about one release line of one package."""

    package: str
    """Canonical name: ``torch``."""
    line: str
    """The release line matched: ``2.7`` (or a full version where one is listed apart)."""
    default: str
    """The build of the default Linux x86_64 wheel on PyPI: ``cu126``, ``cpu``, or ``none``
    (no accelerator code: every build is the same)."""
    variants: tuple[str, ...]
    """Variants the framework's own index offers: ``cu118``, ``cpu``, ``rocm6.3``, ``xpu``."""
    bundles_cuda: bool
    """Whether the wheel carries its CUDA runtime (torch) or needs it from the system."""
    index: str
    """Name of the index entry (``pytorch``, ``jax``), "" for none."""
    source: str
    """Where the facts come from (keys of ``[sources]``)."""

    @property
    def default_cuda(self) -> Cuda | None:
        """The CUDA of the default wheel, None for a CPU wheel or a package without variants."""
        return cuda_of_variant(self.default)


@dataclass(frozen=True, kw_only=True, slots=True)
class Index:
    """URL patterns of a framework's own index; ``{variant}`` stands for the variant."""

    index_url: str
    find_links: str
    all_variants: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Table:
    """The parsed ``accelerators.toml``."""

    lines: Mapping[str, tuple[Line, ...]]
    """Release lines by package, most specific first."""
    jaxlib: Line
    """jaxlib has no lines: every PyPI jaxlib is a CPU build."""
    tensorflow: Mapping[str, Cuda]
    """TensorFlow release line -> the CUDA it is built with."""
    ngc: Mapping[str, Cuda]
    """NGC container release (``24.01``) -> its CUDA."""
    indexes: Mapping[str, Index]
    """By name: ``pytorch``, ``jax``."""
    sources: Mapping[str, str]
    """Source key -> what it is."""


class TableError(Exception):
    """The shipped table is malformed (a packaging bug, caught by the test suite)."""


def _get(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind):
        raise TableError(f"{DATA_FILE}: {where}.{key}: expected {kind.__name__}")
    return value


def _pairs(table: Mapping[str, Any], key: str, where: str) -> list[tuple[str, str]]:
    value = _get(table, key, list, where)
    out: list[tuple[str, str]] = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(x, str) for x in item)
        ):
            raise TableError(f"{DATA_FILE}: {where}.{key}: expected [string, string] pairs")
        out.append((item[0], item[1]))
    return out


def _cuda(text: str, where: str) -> Cuda:
    found = cuda_from_dotted(text)
    if found is None or found.minor is None:
        raise TableError(f"{DATA_FILE}: {where}: {text!r} is not a CUDA version")
    return found


def _line_key(line: str) -> tuple[int, ...]:
    return tuple(int(x) for x in line.split("."))


def parse_table(data: Mapping[str, Any]) -> Table:
    """Validate and index the TOML document."""
    if data.get("schema") != 1:
        raise TableError(f"{DATA_FILE}: schema: expected 1")
    sources = _get(data, "sources", dict, "")
    packages = _get(data, "packages", dict, "")
    lines: dict[str, tuple[Line, ...]] = {}
    torch = _get(packages, "torch", dict, "packages")
    own: list[Line] = []
    for entry in _get(torch, "lines", list, "packages.torch"):
        variants = _get(entry, "variants", list, "packages.torch.lines")
        own.append(
            Line(
                package="torch",
                line=_get(entry, "line", str, "packages.torch.lines"),
                default=_get(entry, "default", str, "packages.torch.lines"),
                variants=tuple(str(v) for v in variants),
                bundles_cuda=bool(torch.get("bundles-cuda", True)),
                index=str(torch.get("index", "")),
                source=_get(entry, "source", str, "packages.torch.lines"),
            )
        )
    lines["torch"] = _ordered(own)
    by_torch = {line.line: line for line in own}
    for name in ("torchvision", "torchaudio"):
        spec = _get(packages, name, dict, "packages")
        followed: list[Line] = []
        for line, torch_line in _pairs(spec, "lines", f"packages.{name}"):
            base = by_torch.get(torch_line)
            if base is None:
                raise TableError(f"{DATA_FILE}: packages.{name}: no torch line {torch_line}")
            followed.append(
                Line(
                    package=name,
                    line=line,
                    default=base.default,
                    variants=base.variants,
                    bundles_cuda=base.bundles_cuda,
                    index=base.index,
                    source=_get(spec, "source", str, f"packages.{name}"),
                )
            )
        for line in spec.get("without-variants", []):
            followed.append(
                Line(
                    package=name,
                    line=str(line),
                    default="none",
                    variants=(),
                    bundles_cuda=False,
                    index="",
                    source=_get(spec, "source", str, f"packages.{name}"),
                )
            )
        lines[name] = _ordered(followed)
    jax = _get(packages, "jaxlib", dict, "packages")
    jaxlib = Line(
        package="jaxlib",
        line="",
        default=_get(jax, "default", str, "packages.jaxlib"),
        variants=(),
        bundles_cuda=True,
        index=str(jax.get("index", "")),
        source=_get(jax, "source", str, "packages.jaxlib"),
    )
    tf = _get(packages, "tensorflow", dict, "packages")
    tensorflow = {
        line: _cuda(cuda, f"packages.tensorflow {line}")
        for line, cuda in _pairs(tf, "cuda", "packages.tensorflow")
    }
    ngc_table = _get(_get(data, "images", dict, ""), "ngc", dict, "images")
    ngc = {r: _cuda(c, f"images.ngc {r}") for r, c in _pairs(ngc_table, "cuda", "images.ngc")}
    indexes = {
        name: Index(
            index_url=str(entry.get("index-url", "")),
            find_links=str(entry.get("find-links", "")),
            all_variants=str(entry.get("all-variants", "")),
        )
        for name, entry in _get(data, "indexes", dict, "").items()
    }
    known = set(sources)
    for found in (*[x for ls in lines.values() for x in ls], jaxlib):
        for key in (k.strip() for k in found.source.split(",")):
            if key not in known:
                raise TableError(f"{DATA_FILE}: {found.package} {found.line}: no source {key!r}")
    return Table(
        lines=lines,
        jaxlib=jaxlib,
        tensorflow=tensorflow,
        ngc=ngc,
        indexes=indexes,
        sources={str(k): str(v) for k, v in sources.items()},
    )


def _ordered(lines: Sequence[Line]) -> tuple[Line, ...]:
    """Most specific first (``0.4.1`` before ``0.4``), so the first prefix match wins."""
    return tuple(sorted(lines, key=lambda x: len(x.line.split(".")), reverse=True))


@functools.cache
def table() -> Table:
    """The shipped table, read once."""
    text = resources.files("reprolock").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return parse_table(tomllib.loads(text))


def release_line(name: str, version: str) -> Line | None:
    """The table's line for ``name==version`` (local part ignored), or None when not listed."""
    if name == "jaxlib":
        return table().jaxlib
    try:
        release = Version(version).release
    except InvalidVersion:
        return None
    for line in table().lines.get(name, ()):
        key = _line_key(line.line)
        if release[: len(key)] == key:
            return line
    return None


def index_variants(index: str = "pytorch") -> frozenset[str]:
    """Every variant any listed release line offers on ``index``: the variant directories that
    exist there (``https://download.pytorch.org/whl/cu123`` does not)."""
    return frozenset(
        v for lines in table().lines.values() for x in lines if x.index == index for v in x.variants
    )


def tensorflow_cuda(version: str) -> Cuda | None:
    """The CUDA TensorFlow ``version`` is built with, when the table has its line."""
    m = re.match(r"(\d+\.\d+)", version)
    return table().tensorflow.get(m.group(1)) if m else None


def index_url(line: Line, variant: str) -> str | None:
    """The index that serves ``variant`` wheels of ``line``'s package, when it has one."""
    index = table().indexes.get(line.index)
    if index is None or not index.index_url or variant not in line.variants:
        return None
    return index.index_url.replace("{variant}", variant)


# ---------------------------------------------------------------------------------------------
# CUDA named by images, wheels and indexes


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageCuda:
    """What an image says about CUDA: it is a CUDA image; its version, when known."""

    cuda: Cuda | None


@functools.lru_cache(maxsize=1024)
def image_cuda(ref: str) -> ImageCuda | None:
    """The CUDA of an image reference, or None when it is not a CUDA image (memoised: a
    monorepo's Dockerfiles share a few base images)."""
    name, tag = repository_and_tag(ref)
    if name == "nvidia/cuda" or name.endswith("/nvidia/cuda"):
        return ImageCuda(cuda=cuda_from_dotted(tag))
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
        return ImageCuda(cuda=tensorflow_cuda(tag))
    if name.startswith("nvcr.io/nvidia/") and "cpu" not in tag:
        release = re.match(r"(\d{2}\.\d{2})", tag)
        return ImageCuda(cuda=table().ngc.get(release.group(1)) if release else None)
    return None


_ROCM_IMAGE = re.compile(r"(?:^|/)(?:rocm/|.*rocm)")


@functools.lru_cache(maxsize=1024)
def image_accelerator(ref: str) -> str | None:
    """``cuda``, ``rocm``, ``xpu``, ``gaudi``, ``neuron`` for an image made for one; None."""
    if image_cuda(ref) is not None:
        return "cuda"
    name, tag = repository_and_tag(ref)
    text = f"{name}:{tag}"
    if "rocm" in text:
        return "rocm"
    if "habana" in text or "gaudi" in text:
        return "gaudi"
    if "neuron" in text:
        return "neuron"
    if "intel" in name and ("xpu" in text or "gpu" in text):
        return "xpu"
    return None


NVIDIA_WHEEL = re.compile(r"^nvidia-.+-cu(\d+)$")
JAX_PLUGIN = re.compile(r"^jax-cuda(\d+)-(?:plugin|pjrt)$")
_CUPY = re.compile(r"^cupy-cuda(\d+)(x?)$")
CONDA_CUDA = frozenset({"pytorch-cuda", "cudatoolkit", "cuda-version"})
_LOCAL_CUDA = re.compile(r"^(?:cu(\d{2,3})|cuda(\d+)(?:\.(\d+))?)(?:$|[._])")
PYTORCH_INDEX = re.compile(
    r"download\.pytorch\.org/whl/(?:nightly/|test/)?(cu\d+|cpu|rocm[\d.]+|xpu)(?:/|$|\s|[\"'])",
    re.I,
)
"""A PyTorch variant index or find-links page (``.../whl/cu121``, ``.../whl/cu111/...html``)."""
JAX_INDEX = re.compile(r"jax[-_]cuda\d*[-_]releases|jax-releases/jax_cuda", re.I)


def local_part(version: str) -> str:
    """The local version label: ``cu121`` of ``2.3.1+cu121``; "" for none."""
    return version.split("+", 1)[1] if "+" in version else ""


def public_version(version: str) -> str:
    """The version without its local part, normalised (``2.03.1+cu121`` -> ``2.3.1``)."""
    try:
        return Version(version).public
    except InvalidVersion:
        return version.split("+", 1)[0]


def local_cuda(version: str) -> Cuda | None:
    """The CUDA of a wheel's local version: ``+cu121`` -> 12.1, ``+cuda12.cudnn89`` -> 12."""
    m = _LOCAL_CUDA.match(local_part(version).lower())
    if not m:
        return None
    if m.group(1):
        return cuda_from_digits(m.group(1))
    digits, minor = m.group(2), m.group(3)
    if minor is None and len(digits) == 3:
        return cuda_from_digits(digits)  # old jaxlib: +cuda111
    return Cuda(major=int(digits), minor=int(minor) if minor else None)


def local_accelerator(version: str) -> str | None:
    """What a local version label names: ``cuda``, ``cpu``, ``rocm``, ``xpu``; None."""
    local = local_part(version).lower()
    if not local:
        return None
    if local_cuda(version) is not None:
        return "cuda"
    for kind in ("cpu", "rocm", "xpu"):
        if local.startswith(kind):
            return kind
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class WheelCuda:
    """A CUDA build a pin installs, and how the pin names it."""

    cuda: Cuda
    family: str
    """``local`` (``+cu121``), ``nvidia`` (``nvidia-*-cu12``, jax plugins, cupy), ``conda``."""


def pin_cuda(name: str, version: str) -> WheelCuda | None:
    """The CUDA build a pinned package names, if any."""
    found = local_cuda(version)
    if found is not None:
        return WheelCuda(cuda=found, family="local")
    for pattern in (NVIDIA_WHEEL, JAX_PLUGIN):
        m = pattern.match(name)
        if m:
            return WheelCuda(cuda=Cuda(major=int(m.group(1))), family="nvidia")
    m = _CUPY.match(name)
    if m:
        # cupy-cuda12x is any CUDA 12; cupy-cuda117 is exactly 11.7.
        exact = None if m.group(2) else cuda_from_digits(m.group(1))
        return WheelCuda(cuda=exact or Cuda(major=int(m.group(1)[:2])), family="nvidia")
    if name in CONDA_CUDA:
        found = cuda_from_dotted(version)
        if found is not None:
            return WheelCuda(cuda=found, family="conda")
    return None


def index_variant(url: str) -> str | None:
    """The variant a PyTorch index or find-links URL serves (``cu121``, ``cpu``, ``xpu``)."""
    m = PYTORCH_INDEX.search(url)
    return m.group(1).lower() if m else None


def index_cuda(url: str) -> Cuda | None:
    """The CUDA of a PyTorch variant index (``.../whl/cu121``), or None."""
    variant = index_variant(url)
    return cuda_of_variant(variant) if variant else None


def index_for(url: str, cuda: Cuda) -> str:
    """The same PyTorch index for another CUDA version (``.../whl/cu118`` -> ``.../cu121``)."""
    m = PYTORCH_INDEX.search(url)
    return url if m is None else url[: m.start(1)] + cuda.tag + url[m.end(1) :]
