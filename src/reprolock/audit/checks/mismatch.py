"""RP503 CUDA mismatch: a wheel or index whose CUDA the environment's image does not have.

Judged per environment that is built on a CUDA image of known version (a Dockerfile stage, its
parent stages' image included; a CI job's container): every CUDA build it installs, itself or
through what it installs (``-r`` files, and the lock that ``uv sync``, ``poetry install``,
``pdm sync`` or ``pipenv sync`` installs), must match one of those images.

The major version always has to match: a wheel built for another CUDA major needs another
driver, and torch's extension builder refuses to compile against it. The minor has to match
only in a ``devel`` image, where code is compiled against the image's toolkit (torch's
extension builder warns on a minor mismatch); a runtime or base image only provides the
driver's libraries, and CUDA's minor version compatibility runs a 12.8 wheel where 12.4 is
installed. ``+cuXYZ`` wheels and PyTorch variant indexes are compared that way;
``nvidia-*-cuNN`` and jax plugin wheels, and tensorflow releases (through the table of the CUDA
each is built with), by the major. Wheels pinned without a variant are RP502's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from reprolock.audit.checks.accelerators import (
    Cuda,
    image_cuda,
    index_cuda,
    index_for,
    index_variants,
    pin_cuda,
    public_version,
    release_line,
    tensorflow_cuda,
)
from reprolock.audit.checks.environments import Environment, Model, Package, command_text
from reprolock.model import Finding, Location
from reprolock.rules import finding


@dataclass(frozen=True, kw_only=True, slots=True)
class _Images:
    """The CUDA images of one environment, as RP503 compares against them."""

    cudas: tuple[tuple[Cuda, bool], ...]
    """Each image's CUDA, and whether it is a devel image (the minor counts there)."""
    where: str
    """The first CUDA image and its place, for messages."""
    has: Cuda
    """Its CUDA version."""

    def matches(self, cuda: Cuda) -> bool:
        return any(cuda.agrees(c) if devel else cuda.major == c.major for c, devel in self.cudas)

    def mismatch(self, what: str) -> str:
        return f"{what}, but {self.where} has CUDA {self.has.label}"


def _images(env: Environment) -> _Images | None:
    found = [
        (ref, where, cuda.cuda)
        for ref, where in env.images
        if (cuda := image_cuda(ref)) is not None and cuda.cuda is not None
    ]
    if not found:
        return None
    ref, where, has = found[0]
    assert has is not None  # noqa: S101 - filtered above
    cudas = tuple((c, "devel" in r.lower()) for r, _, c in found if c is not None)
    return _Images(cudas=cudas, where=f"the image {ref.split('@', 1)[0]} ({where})", has=has)


def cuda_mismatch(model: Model) -> list[Finding]:
    """RP503 for every environment on a CUDA image of known version."""
    out: list[Finding] = []
    for env in model.environments:
        images = _images(env)
        if images is None:
            continue
        out.extend(_wheels(env.packages, images))
        out.extend(_indexes(model, env, images))
    return out


def _wheels(packages: Sequence[Package], images: _Images) -> Iterator[Finding]:
    nvidia: dict[tuple[str, int], list[Package]] = {}
    has_nvidia = False
    for package in packages:
        wheel = pin_cuda(package.name, package.version)
        if wheel is None:
            continue
        has_nvidia = has_nvidia or wheel.family == "nvidia"
        if images.matches(wheel.cuda):
            continue
        if wheel.family == "nvidia":
            nvidia.setdefault((package.path, wheel.cuda.major), []).append(package)
            continue
        message = images.mismatch(
            f"{package.name}=={package.version} is a CUDA {wheel.cuda.label} build"
        )
        fix: str | None
        if wheel.family == "local":
            fix = _variant_fix(package, images.has)
        else:
            fix = f"{package.name}=={images.has.label}"
        at = Location(path=package.path, line=package.line)
        yield finding("RP503", message, at, subject=package.name, fix=fix)
    for (_, major), group in nvidia.items():
        first = group[0]
        what = first.name
        if len(group) > 1:
            what += f" and {len(group) - 1} more CUDA {major} wheels"
        message = images.mismatch(f"{what} are CUDA {major} builds")
        at = Location(path=first.path, line=first.line)
        fix = _renamed_for(first.name, images.has.major)
        yield finding("RP503", message, at, subject=first.name, fix=fix)
    if has_nvidia:
        return  # tensorflow[and-cuda]: its CUDA libraries are the nvidia wheels judged above
    for package in packages:
        if package.name != "tensorflow" or "+" in package.version:
            continue
        needs = tensorflow_cuda(package.version)
        # Major only: TensorFlow loads any CUDA runtime of its build's major version.
        if needs is None or any(needs.major == c.major for c, _ in images.cudas):
            continue
        message = images.mismatch(f"tensorflow=={package.version} is built for CUDA {needs.label}")
        at = Location(path=package.path, line=package.line)
        yield finding("RP503", message, at, subject="tensorflow")


def _variant_fix(package: Package, cuda: Cuda) -> str | None:
    """The same release for the image's CUDA, when the table lists that wheel."""
    version = public_version(package.version)
    line = release_line(package.name, version)
    if line is None or cuda.tag not in line.variants:
        return None
    return f"{package.name}=={version}+{cuda.tag}"


def _renamed_for(name: str, major: int) -> str:
    """``nvidia-cublas-cu11`` -> ``nvidia-cublas-cu12``; ``jax-cuda11-plugin`` -> ``-cuda12-``."""
    if name.startswith("nvidia-"):
        return re.sub(r"cu\d+$", f"cu{major}", name)
    return re.sub(r"cuda\d+", f"cuda{major}", name, count=1)


def _indexes(model: Model, env: Environment, images: _Images) -> Iterator[Finding]:
    """Variant indexes the environment installs from, each at the line that names it."""
    seen: set[tuple[str, str]] = set()
    for member in env.members:
        recipe = model.recipes[member]
        if recipe.lock or recipe.kind == "pyproject":
            continue  # a lock's own pins name the variant it installs; judged as wheels
        lines = model.lines.get(member) or []
        own = member == env.path and env.section is not None
        for number, text in enumerate(lines, start=1):
            if text.lstrip().startswith("#"):
                continue  # a comment installs nothing
            if (
                own
                and env.section is not None
                and not (env.section.start <= number <= env.section.end)
            ):
                continue
            for url in _index_urls(text, recipe.indexes):
                cuda = index_cuda(url)
                if cuda is None or images.matches(cuda) or (member, url) in seen:
                    continue
                if own and url not in command_text(lines, number):
                    continue
                seen.add((member, url))
                message = images.mismatch(f"index {url} serves CUDA {cuda.label} wheels")
                at = Location(path=member, line=number)
                # The same index for the image's CUDA, when such an index exists.
                fix = index_for(url, images.has) if images.has.tag in index_variants() else None
                yield finding("RP503", message, at, subject=url, fix=fix)


_URL = re.compile(r"https?://[^\s'\"\\]+")


def _index_urls(text: str, known: Sequence[str]) -> list[str]:
    """The index URLs facts recorded that appear on this line, and PyTorch variant pages."""
    urls = [u for u in known if u in text]
    for m in _URL.finditer(text):
        url = m.group(0)
        if url not in urls and index_cuda(url) is not None and not url.endswith(_ARCHIVES):
            urls.append(url)
    return urls


_ARCHIVES = (".whl", ".tar.gz", ".zip")
"""A file on the index is a direct URL, not an index: its wheel is judged as a pin."""
