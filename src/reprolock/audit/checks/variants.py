"""RP502 accelerator variant unpinned: a GPU framework whose build the pin leaves to chance, in an
environment that runs on CUDA.

Judged per environment, on the platform of the pin's own file (a ``requirements_rocm.txt`` is
ROCm's wherever it is installed) or else of the environment (its image, its CI runner, the
variant tokens of its path, the wheels it pins). Not judged: a pin whose variant is chosen (a
local version ``+cu121``/``+cpu``, hashes, a PyTorch variant index or ``-f`` page on its
command or in its file, conda's ``pytorch-cuda``), conda packages, and any environment that is
not known to run on CUDA on Linux (a macOS or Windows job, a GitHub-hosted runner, a ROCm,
XPU, Gaudi, Neuron or CPU stack, or nothing saying at all).

What is reported comes from the table of builds (:mod:`accelerators`):

- torch, torchvision, torchaudio: the build the default PyPI wheel of that release carries. It
  is reported when it is a CPU build, when its CUDA major is not the environment's, or when a
  sibling in the environment (``torchvision==0.18.1+cu118``) names another CUDA major. A release
  line the table does not know, or one with no variants (torchaudio before 0.10), is not judged.
- jaxlib: every PyPI jaxlib is a CPU build; the CUDA ones are the jax-cudaNN plugins.
- tensorflow: the PyPI wheel needs CUDA libraries from the image or ``tensorflow[and-cuda]``.

A fix names a wheel only when the table lists its variant (for jaxlib it is the jax CUDA
index), else there is none.
"""

from __future__ import annotations

from reprolock.audit.checks.accelerators import (
    CONDA_CUDA,
    JAX_INDEX,
    JAX_PLUGIN,
    NVIDIA_WHEEL,
    Cuda,
    Line,
    cuda_of_variant,
    image_cuda,
    index_variant,
    local_part,
    pin_cuda,
    public_version,
    release_line,
    table,
)
from reprolock.audit.checks.environments import Accelerator, Environment, Model, Package
from reprolock.model import Finding, Location
from reprolock.rules import finding

TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio"})
GPU_FRAMEWORKS = TORCH_FAMILY | {"jaxlib", "tensorflow"}


def variant_unpinned(model: Model) -> list[Finding]:
    """RP502 for every environment that runs on CUDA."""
    out: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    for env in model.environments:
        for package in env.packages:
            if package.name not in GPU_FRAMEWORKS or package.conda:
                continue
            key = (package.path, package.line, package.name)
            if key in seen:
                continue
            if local_part(package.version) or package.hashed:
                continue
            found = _judge(model, env, package)
            if found is not None:
                seen.add(key)
                out.append(found)
    return out


def _judge(model: Model, env: Environment, package: Package) -> Finding | None:
    platform = model.platform_for(env, package)
    if platform.accelerator is not Accelerator.CUDA or platform.os not in ("", "linux"):
        return None
    names = {p.name for p in env.packages}
    urls = model.indexes_for(env, package)
    if package.name in TORCH_FAMILY:
        if any(index_variant(u) for u in urls) or names & CONDA_CUDA:
            return None
        return _torch(env, package, platform.cuda, platform.evidence)
    if package.name == "jaxlib":
        if any(JAX_PLUGIN.match(n) for n in names) or any(JAX_INDEX.search(u) for u in urls):
            return None
        problem = (
            "every jaxlib wheel on PyPI is a CPU build (CUDA comes from the jax-cudaNN plugins), "
            f"but the environment runs on CUDA ({platform.evidence})"
        )
        return _finding(package, problem, table().indexes["jax"].find_links or None)
    # tensorflow: one wheel, whose CUDA libraries come from the image or the nvidia wheels.
    if any(NVIDIA_WHEEL.match(n) for n in names) or any(image_cuda(r) for r, _ in env.images):
        return None
    problem = (
        "the tensorflow wheel needs CUDA libraries, which neither a CUDA image nor "
        f"nvidia-*-cuNN wheels give the environment, though it runs on CUDA ({platform.evidence})"
    )
    version = public_version(package.version)
    release = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
    fix = f"tensorflow[and-cuda]=={version}" if release >= (2, 14) else None
    return _finding(package, problem, fix)


def _torch(env: Environment, package: Package, cuda: Cuda | None, evidence: str) -> Finding | None:
    version = public_version(package.version)
    line = release_line(package.name, version)
    if line is None or line.default == "none" or not line.variants:
        return None  # a release the table does not know, or one with nothing to choose
    default = line.default_cuda
    described = f"the default Linux wheel of {package.name} {version} on PyPI is " + (
        f"the CUDA {default.label} build" if default else "a CPU build"
    )
    target = cuda
    if default is None:
        problem = f"{described}, but the environment runs on CUDA ({evidence})"
    elif cuda is not None and cuda.major != default.major:
        problem = f"{described}, but the environment has CUDA {cuda.label} ({evidence})"
    else:
        sibling = _sibling(env, package, default)
        if sibling is None:
            return None
        wheel = pin_cuda(sibling.name, sibling.version)
        assert wheel is not None  # noqa: S101 - _sibling returns CUDA wheels only
        target = cuda or wheel.cuda
        problem = (
            f"{described}, but {sibling.name}=={sibling.version} ({sibling.where}) in the same "
            f"environment is a CUDA {wheel.cuda.label} build"
        )
    return _finding(package, problem, _fix(line, package.name, version, target))


def _sibling(env: Environment, package: Package, default: Cuda) -> Package | None:
    """A torch-family pin of the environment with an explicit CUDA of another major."""
    for other in env.packages:
        if other.name not in TORCH_FAMILY or other.name == package.name:
            continue
        wheel = pin_cuda(other.name, other.version)
        if wheel is not None and wheel.family == "local" and wheel.cuda.major != default.major:
            return other
    return None


def _fix(line: Line, name: str, version: str, cuda: Cuda | None) -> str | None:
    """``name==version+cuXYZ`` for the variant the table lists that serves ``cuda`` (the same,
    else the newest of the same major that is not newer); None when it lists none."""
    if cuda is None:
        return None
    candidates: list[tuple[int, str]] = []
    for variant in line.variants:
        found = cuda_of_variant(variant)
        if found is None or found.major != cuda.major or found.minor is None:
            continue
        if cuda.minor is None or found.minor <= cuda.minor:
            candidates.append((found.minor, variant))
    if not candidates:
        return None
    return f"{name}=={version}+{max(candidates)[1]}"


def _finding(package: Package, problem: str, fix: str | None) -> Finding:
    message = f"{package.name}=={package.version} has no variant: {problem}"
    location = Location(path=package.path, line=package.line)
    return finding("RP502", message, location, subject=package.name, fix=fix)
