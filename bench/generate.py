"""Deterministic generator of synthetic ML monorepos for the audit benchmark.

``python bench/generate.py OUT --projects N --seed S`` writes ``OUT/projects/NNNN-name/`` for
each project (about 12 files: a ``requirements.in`` and its pip-compile lock with hashes, a
pyproject, a Poetry or uv lock in some, a Dockerfile, a conda environment in some, a setup
script in some, Python sources and tests, configs, a README) and one GitHub workflow per ten
projects under ``OUT/.github/workflows/``. The same seed gives a byte-identical tree, and
project ``i`` is the same whatever N is, so a larger tree contains the smaller one's projects.

Two shapes (``--shape``): ``lock-heavy`` (the default, above: a TOML lock in 45% of the
projects) and ``python-heavy`` (more Python modules, a notebook and CSV data per project, a
TOML lock in 10%, a conda environment in 15%, no setup script): the same number of files
at about the same N, but most of the bytes in code and data rather than in locks. A benchmark
that only one shape passes is tuned to that shape.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

MARKER = ".bench-tree"
"""Written at the root of every generated tree; ``--force`` only ever deletes such a tree."""
GENERATOR_VERSION = 1
"""Bump when the output changes, so cached trees (bench/run.py) are regenerated."""
SHAPES = ("lock-heavy", "python-heavy")
"""``--shape`` choices; the first is the default (and the tree every earlier run measured)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Package:
    """A distribution of the synthetic index: its releases, its dependencies, its files."""

    name: str
    versions: tuple[str, ...]
    deps: tuple[str, ...] = ()
    files: int = 2
    """Distribution files per release: one hash each in a pip-compile lock."""
    summary: str = ""


def _pkg(
    name: str, versions: str, deps: str = "", files: int = 2, summary: str = ""
) -> tuple[str, Package]:
    return name, Package(
        name=name,
        versions=tuple(versions.split()),
        deps=tuple(deps.split()),
        files=files,
        summary=summary or f"The {name} package",
    )


# A small, self-consistent slice of the ML ecosystem: real names and plausible releases, so the
# locks look like pip-compile output (binary packages carry many hashes, pure ones two).
INDEX: dict[str, Package] = dict(
    [
        _pkg("numpy", "1.26.4 2.0.2 2.1.3", files=24, summary="Fundamental package for arrays"),
        _pkg("scipy", "1.11.4 1.13.1 1.14.1", "numpy", 20, "Fundamental algorithms"),
        _pkg("pandas", "2.1.4 2.2.3", "numpy python-dateutil pytz tzdata", 18, "Data analysis"),
        _pkg("python-dateutil", "2.9.0.post0", "six"),
        _pkg("six", "1.16.0 1.17.0"),
        _pkg("pytz", "2024.1 2024.2"),
        _pkg("tzdata", "2024.1 2024.2"),
        _pkg("scikit-learn", "1.3.2 1.4.2 1.5.2", "numpy scipy joblib threadpoolctl", 16),
        _pkg("joblib", "1.3.2 1.4.2"),
        _pkg("threadpoolctl", "3.2.0 3.5.0"),
        _pkg(
            "torch",
            "2.2.2 2.3.1 2.4.1",
            "filelock typing-extensions sympy networkx jinja2 fsspec",
            9,
        ),
        _pkg("filelock", "3.13.4 3.16.1"),
        _pkg("typing-extensions", "4.11.0 4.12.2"),
        _pkg("sympy", "1.12 1.13.3", "mpmath"),
        _pkg("mpmath", "1.3.0"),
        _pkg("networkx", "3.2.1 3.3"),
        _pkg("jinja2", "3.1.3 3.1.4", "markupsafe"),
        _pkg("markupsafe", "2.1.5", files=30),
        _pkg("fsspec", "2024.3.1 2024.6.1"),
        _pkg(
            "transformers",
            "4.40.2 4.44.2",
            "filelock huggingface-hub numpy packaging pyyaml regex requests safetensors "
            "tokenizers tqdm",
        ),
        _pkg(
            "huggingface-hub",
            "0.23.4 0.24.7",
            "filelock fsspec packaging pyyaml requests tqdm typing-extensions",
        ),
        _pkg("packaging", "24.0 24.1"),
        _pkg("pyyaml", "6.0.1 6.0.2", files=30),
        _pkg("regex", "2024.5.15 2024.9.11", files=30),
        _pkg("requests", "2.31.0 2.32.3", "certifi charset-normalizer idna urllib3"),
        _pkg("certifi", "2024.7.4 2024.8.30"),
        _pkg("charset-normalizer", "3.3.2", files=30),
        _pkg("idna", "3.7 3.10"),
        _pkg("urllib3", "2.2.2 2.2.3"),
        _pkg("safetensors", "0.4.3 0.4.5", files=20),
        _pkg("tokenizers", "0.19.1 0.20.0", "huggingface-hub", 20),
        _pkg("tqdm", "4.66.4 4.66.5"),
        _pkg("fastapi", "0.111.1 0.115.0", "pydantic starlette typing-extensions"),
        _pkg("starlette", "0.37.2 0.38.6", "anyio"),
        _pkg("anyio", "4.4.0 4.6.0", "idna sniffio"),
        _pkg("sniffio", "1.3.1"),
        _pkg("pydantic", "2.7.4 2.9.2", "annotated-types pydantic-core typing-extensions"),
        _pkg("pydantic-core", "2.18.4 2.23.4", "typing-extensions", 40),
        _pkg("annotated-types", "0.7.0"),
        _pkg("uvicorn", "0.30.1 0.30.6", "click h11"),
        _pkg("click", "8.1.7"),
        _pkg("h11", "0.14.0"),
        _pkg("pyarrow", "16.1.0 17.0.0", "numpy", 20),
        _pkg(
            "datasets",
            "2.20.0 3.0.1",
            "filelock numpy pyarrow dill pandas requests tqdm xxhash multiprocess fsspec "
            "aiohttp huggingface-hub packaging pyyaml",
        ),
        _pkg("dill", "0.3.8"),
        _pkg("multiprocess", "0.70.16", "dill", 8),
        _pkg("xxhash", "3.4.1 3.5.0", files=30),
        _pkg("aiohttp", "3.9.5 3.10.5", "aiosignal attrs frozenlist multidict yarl", 30),
        _pkg("aiosignal", "1.3.1", "frozenlist"),
        _pkg("attrs", "23.2.0 24.2.0"),
        _pkg("frozenlist", "1.4.1", files=30),
        _pkg("multidict", "6.0.5 6.1.0", files=30),
        _pkg("yarl", "1.9.4 1.11.1", "idna multidict", 30),
        _pkg(
            "matplotlib",
            "3.8.4 3.9.2",
            "contourpy cycler fonttools kiwisolver numpy packaging pillow pyparsing "
            "python-dateutil",
            20,
        ),
        _pkg("contourpy", "1.2.1 1.3.0", "numpy", 20),
        _pkg("cycler", "0.12.1"),
        _pkg("fonttools", "4.53.1 4.54.1", files=20),
        _pkg("kiwisolver", "1.4.5 1.4.7", files=20),
        _pkg("pillow", "10.4.0 11.0.0", files=30),
        _pkg("pyparsing", "3.1.2 3.1.4"),
        _pkg("lightgbm", "4.3.0 4.5.0", "numpy scipy", 4),
        _pkg("xgboost", "2.0.3 2.1.1", "numpy scipy", 4),
        _pkg(
            "sentence-transformers",
            "3.0.1 3.1.1",
            "transformers torch tqdm scikit-learn scipy huggingface-hub pillow",
        ),
        _pkg("mlflow-skinny", "2.14.3 2.16.2", "click packaging pyyaml requests"),
    ]
)

# What each kind of project depends on directly (a few of these, plus some common helpers).
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "nlp": (("transformers", "torch", "datasets", "fastapi", "uvicorn", "tokenizers"), "torch"),
    "tabular": (("pandas", "scikit-learn", "numpy", "lightgbm", "xgboost", "matplotlib"), "sk"),
    "vision": (("torch", "pillow", "numpy", "matplotlib", "safetensors"), "torch"),
    "embeddings": (("sentence-transformers", "numpy", "fastapi", "uvicorn", "pydantic"), "st"),
}
COMMON = ("pyyaml", "requests", "tqdm", "click", "mlflow-skinny")

ADJECTIVES = (
    "amber", "brisk", "cobalt", "dapper", "eager", "fabled", "gentle", "hazel", "ivory",
    "jolly", "keen", "lunar", "mellow", "nimble", "opal", "plucky", "quiet", "rapid",
    "silver", "tidal", "umber", "vivid", "woven", "young", "zesty",
)  # fmt: skip
NOUNS = (
    "churn", "ranker", "tagger", "segmenter", "forecaster", "captioner", "detector",
    "embedder", "scorer", "router", "parser", "clusterer", "summariser", "matcher",
    "recommender", "classifier", "translator", "denoiser", "tracker", "estimator",
)  # fmt: skip
HF_MODELS = (
    "bert-base-uncased", "distilbert-base-uncased", "roberta-base", "google/flan-t5-small",
    "sentence-transformers/all-MiniLM-L6-v2", "microsoft/deberta-v3-small", "gpt2",
    "facebook/bart-base", "google/vit-base-patch16-224", "openai/clip-vit-base-patch32",
)  # fmt: skip
PYTHON_IMAGES = ("3.11.9-slim-bookworm", "3.11.10-slim-bookworm", "3.12.6-slim-bookworm")
APT_PACKAGES = (
    ("libgomp1", "12.2.0-14"), ("curl", "7.88.1-10+deb12u7"), ("git", "1:2.39.5-0+deb12u1"),
    ("libglib2.0-0", "2.74.6-2+deb12u3"), ("ca-certificates", "20230311"),
    ("build-essential", "12.9"), ("libsndfile1", "1.2.0-1"),
)  # fmt: skip
ACTIONS = (
    ("actions/checkout", "v4.2.2"),
    ("actions/setup-python", "v5.3.0"),
    ("actions/cache", "v4.1.2"),
    ("actions/upload-artifact", "v4.4.3"),
)


def digest(*parts: object) -> str:
    """A deterministic 64-hex fake sha256 (stands in for a real file's digest)."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def project_rng(seed: int, index: int) -> random.Random:
    """Project ``index``'s own generator: independent of N and of the other projects."""
    return random.Random(int(digest("bench", seed, index)[:16], 16))  # noqa: S311 - not a secret


def _major_minor(version: str) -> tuple[int, int]:
    parts = version.split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Project:
    """One project of the monorepo, as chosen by its generator."""

    index: int
    dirname: str
    package: str
    kind: str
    direct: tuple[str, ...]
    specs: dict[str, str]
    """Direct dependency -> its specifier in the manifests ('' for a bare name)."""
    pins: dict[str, str]
    """Every package of the closure -> the version the locks resolve."""
    lock_tool: str
    """"pip-compile" only, or also "poetry" or "uv"."""
    python: str
    """The Python minor version the project targets."""


def _closure(direct: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    stack = list(direct)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen[name] = None
        stack.extend(INDEX[name].deps)
    return sorted(seen)


def _spec(rng: random.Random, version: str) -> str:
    major, minor = _major_minor(version)
    style = rng.random()
    if style < 0.45:
        return f">={major}.{minor}"
    if style < 0.75:
        return f">={major}.{minor},<{major + 1}"
    if style < 0.9:
        return f"~={major}.{minor}"
    return ""


def choose_project(seed: int, index: int) -> Project:
    """Everything random about project ``index``, decided up front."""
    rng = project_rng(seed, index)
    kind = rng.choice(sorted(KINDS))
    pool, _ = KINDS[kind]
    direct = sorted({*rng.sample(pool, rng.randint(3, len(pool))), *rng.sample(COMMON, 2)})
    pins = {name: rng.choice(INDEX[name].versions) for name in _closure(direct)}
    specs = {name: _spec(rng, pins[name]) for name in direct}
    if rng.random() < 0.04:
        # Drift: the manifest moved on and the lock was not recompiled (RP202 in real repos).
        name = rng.choice(direct)
        major, minor = _major_minor(pins[name])
        specs[name] = f">={major}.{minor + 1}"
    roll = rng.random()
    lock_tool = "poetry" if roll < 0.2 else "uv" if roll < 0.45 else "pip-compile"
    adjective, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
    return Project(
        index=index,
        dirname=f"{index:04d}-{adjective}-{noun}",
        package=f"{adjective}_{noun}_{index}",
        kind=kind,
        direct=tuple(direct),
        specs=specs,
        pins=pins,
        lock_tool=lock_tool,
        python=rng.choice(("3.11", "3.11", "3.12")),
    )


# ---------------------------------------------------------------------------------------------
# File writers: each returns the file's text.


def requirements_in(project: Project) -> str:
    lines = [
        f"# Runtime dependencies of {project.package}.",
        "# Compile with: pip-compile --generate-hashes --output-file=requirements.txt "
        "requirements.in",
    ]
    lines += [f"{name}{project.specs[name]}" for name in project.direct]
    return "\n".join(lines) + "\n"


def _parents(project: Project) -> dict[str, list[str]]:
    parents: dict[str, list[str]] = {name: [] for name in project.pins}
    for name in project.pins:
        for dep in INDEX[name].deps:
            parents[dep].append(name)
    return parents


def requirements_txt(project: Project) -> str:
    """pip-compile's output, hashes and ``# via`` annotations included."""
    out = [
        "#",
        f"# This file is autogenerated by pip-compile with Python {project.python}",
        "# by the following command:",
        "#",
        "#    pip-compile --generate-hashes --output-file=requirements.txt requirements.in",
        "#",
    ]
    parents = _parents(project)
    for name, version in sorted(project.pins.items()):
        hashes = sorted(digest(name, version, i) for i in range(INDEX[name].files))
        out.append(f"{name}=={version} \\")
        out += [f"    --hash=sha256:{h} \\" for h in hashes[:-1]]
        out.append(f"    --hash=sha256:{hashes[-1]}")
        via = (["-r requirements.in"] if name in project.direct else []) + sorted(parents[name])
        if len(via) == 1:
            out.append(f"    # via {via[0]}")
        else:
            out.append("    # via")
            out += [f"    #   {v}" for v in via]
    return "\n".join(out) + "\n"


def _toml_list(items: Sequence[str], indent: str = "    ") -> str:
    if not items:
        return "[]"
    return "[\n" + "".join(f'{indent}"{item}",\n' for item in items) + "]"


def _dependency_strings(project: Project) -> list[str]:
    return [f"{name}{project.specs[name]}" for name in project.direct]


def _optional(project: Project) -> dict[str, list[str]]:
    return {"dev": ["pytest>=8", "ruff>=0.5"]}


def pyproject_toml(project: Project, rng: random.Random) -> str:
    backend = rng.random()
    if project.lock_tool == "poetry":
        requires, build_backend = "poetry-core>=2.0.0,<3.0.0", "poetry.core.masonry.api"
    elif backend < 0.8:
        requires, build_backend = "hatchling==1.25.0", "hatchling.build"
    else:
        requires, build_backend = "setuptools>=69", "setuptools.build_meta"
    optional = _optional(project)
    parts = [
        "[build-system]",
        f'requires = ["{requires}"]',
        f'build-backend = "{build_backend}"',
        "",
        "[project]",
        f'name = "{project.package.replace("_", "-")}"',
        f'version = "0.{project.index % 7}.{project.index % 13}"',
        f'description = "{project.kind.capitalize()} service: {project.dirname[5:]}."',
        'readme = "README.md"',
        f'requires-python = ">={project.python}"',
        f"dependencies = {_toml_list(_dependency_strings(project))}",
        "",
        "[project.optional-dependencies]",
        *(f"{group} = {json.dumps(items)}" for group, items in optional.items()),
        "",
    ]
    if project.lock_tool == "poetry":
        parts += ["[tool.poetry]", "package-mode = false", ""]
    parts += [
        "[tool.ruff]",
        "line-length = 100",
        "",
        "[tool.pytest.ini_options]",
        'testpaths = ["tests"]',
        "",
    ]
    return "\n".join(parts)


def poetry_content_hash(project: Project) -> str:
    """Poetry's content-hash of the pyproject above: sorted JSON of the relevant keys."""
    relevant = {
        "project": {
            "dependencies": _dependency_strings(project),
            "optional-dependencies": _optional(project),
            "requires-python": f">={project.python}",
        },
        "tool": {"poetry": {}},
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def _wheel_names(name: str, version: str, count: int) -> list[str]:
    stem = name.replace("-", "_")
    if count <= 2:
        return [f"{stem}-{version}-py3-none-any.whl", f"{stem}-{version}.tar.gz"][:count]
    tags = [
        f"cp{py}-cp{py}-{plat}"
        for py in ("310", "311", "312", "313")
        for plat in (
            "manylinux_2_17_x86_64.manylinux2014_x86_64",
            "manylinux_2_17_aarch64.manylinux2014_aarch64",
            "macosx_11_0_arm64",
            "macosx_10_9_x86_64",
            "musllinux_1_1_x86_64",
            "musllinux_1_1_aarch64",
            "win_amd64",
            "win32",
        )
    ]
    wheels = [f"{stem}-{version}-{t}.whl" for t in tags]
    return [f"{stem}-{version}.tar.gz", *wheels[: count - 1]]


def poetry_lock(project: Project) -> str:
    out = [
        "# This file is automatically @generated by Poetry 2.1.3 and should not be changed by "
        "hand.",
        "",
    ]
    for name, version in sorted(project.pins.items()):
        pkg = INDEX[name]
        files = _wheel_names(name, version, pkg.files)
        out += [
            "[[package]]",
            f'name = "{name}"',
            f'version = "{version}"',
            f'description = "{pkg.summary}"',
            "optional = false",
            'python-versions = ">=3.9"',
            'groups = ["main"]',
            "files = [",
            *(
                f'    {{file = "{f}", hash = "sha256:{digest(name, version, i)}"}},'
                for i, f in enumerate(files)
            ),
            "]",
            "",
        ]
        if pkg.deps:
            out.append("[package.dependencies]")
            out += [f'{dep} = ">={project.pins[dep].split(".")[0]}"' for dep in pkg.deps]
            out.append("")
    out += [
        "[extras]",
        "dev = []",
        "",
        "[metadata]",
        'lock-version = "2.1"',
        f'python-versions = ">={project.python}"',
        f'content-hash = "{poetry_content_hash(project)}"',
        "",
    ]
    return "\n".join(out)


def uv_lock(project: Project) -> str:
    registry = 'source = { registry = "https://pypi.org/simple" }'
    own = project.package.replace("_", "-")
    packages: list[tuple[str, list[str]]] = []
    for name, version in project.pins.items():
        pkg = INDEX[name]
        files = _wheel_names(name, version, pkg.files)
        lines = [
            "[[package]]",
            f'name = "{name}"',
            f'version = "{version}"',
            registry,
        ]
        if pkg.deps:
            lines.append("dependencies = [")
            lines += [f'    {{ name = "{dep}" }},' for dep in sorted(pkg.deps)]
            lines.append("]")
        sdists = [f for f in files if f.endswith(".tar.gz")]
        wheels = [f for f in files if f.endswith(".whl")]
        url = "https://files.pythonhosted.org/packages"
        for i, f in enumerate(sdists):
            h = digest(name, version, i)
            lines.append(
                f'sdist = {{ url = "{url}/{h[:2]}/{h[2:4]}/{h[4:]}/{f}", hash = "sha256:{h}", '
                f"size = {int(h[:5], 16) + 1000} }}"
            )
        if wheels:
            lines.append("wheels = [")
            for i, f in enumerate(wheels, start=len(sdists)):
                h = digest(name, version, i)
                lines.append(
                    f'    {{ url = "{url}/{h[:2]}/{h[2:4]}/{h[4:]}/{f}", hash = "sha256:{h}", '
                    f"size = {int(h[:6], 16) + 1000} }},"
                )
            lines.append("]")
        packages.append((name, lines))
    requires = []
    for name in project.direct:
        spec = project.specs[name]
        requires.append(
            f'    {{ name = "{name}", specifier = "{spec}" }},'
            if spec
            else f'    {{ name = "{name}" }},'
        )
    own_lines = [
        "[[package]]",
        f'name = "{own}"',
        f'version = "0.{project.index % 7}.{project.index % 13}"',
        'source = { editable = "." }',
        "dependencies = [",
        *(f'    {{ name = "{name}" }},' for name in project.direct),
        "]",
        "",
        "[package.optional-dependencies]",
        "dev = []",
        "",
        "[package.metadata]",
        "requires-dist = [",
        *requires,
        '    { name = "pytest", marker = "extra == \'dev\'", specifier = ">=8" },',
        '    { name = "ruff", marker = "extra == \'dev\'", specifier = ">=0.5" },',
        "]",
        'provides-extras = ["dev"]',
    ]
    packages.append((own, own_lines))
    out = ["version = 1", "revision = 2", f'requires-python = ">={project.python}"', ""]
    for _, lines in sorted(packages):
        out += [*lines, ""]
    return "\n".join(out)


def dockerfile(project: Project, rng: random.Random) -> str:
    tag = f"{project.python}{rng.choice(PYTHON_IMAGES)[4:]}"
    roll = rng.random()
    if roll < 0.8:
        base = f"python:{tag}@sha256:{digest('image', tag)}"
    elif roll < 0.92:
        base = f"python:{project.python}-slim"
    else:
        base = "python:latest"
    apt = rng.sample(APT_PACKAGES, rng.randint(1, 3))
    pinned_apt = rng.random() < 0.7
    apt_lines = [f"        {n}={v} \\" if pinned_apt else f"        {n} \\" for n, v in apt]
    multi = rng.random() < 0.4
    lines = ["# syntax=docker/dockerfile:1.7", f"ARG PYTHON_VERSION={project.python}"]
    lines.append(f"FROM {base} AS {'builder' if multi else 'runtime'}")
    lines += [
        "ENV PYTHONDONTWRITEBYTECODE=1 \\",
        "    PYTHONUNBUFFERED=1 \\",
        "    PIP_NO_CACHE_DIR=1 \\",
        "    PIP_DISABLE_PIP_VERSION_CHECK=1",
        "RUN apt-get update \\",
        "    && apt-get install -y --no-install-recommends \\",
        *apt_lines,
        "    && rm -rf /var/lib/apt/lists/*",
        "WORKDIR /app",
        "COPY requirements.txt ./",
    ]
    if multi:
        lines += [
            "RUN pip wheel --wheel-dir /wheels --require-hashes -r requirements.txt",
            "",
            f"FROM {base}",
            "COPY --from=builder /wheels /wheels",
            "COPY requirements.txt ./",
            "RUN pip install --no-index --find-links=/wheels --require-hashes -r requirements.txt",
        ]
    else:
        lines.append("RUN pip install --require-hashes -r requirements.txt")
    if rng.random() < 0.15:
        lines.append(f"RUN pip install gunicorn{'==22.0.0' if rng.random() < 0.5 else ''}")
    lines += [
        "COPY src/ ./src/",
        "RUN pip install --no-deps .",
        "RUN useradd --uid 10001 --no-create-home app",
        "USER 10001",
        "EXPOSE 8080",
        f'CMD ["python", "-m", "{project.package}.serve"]',
    ]
    return "\n".join(lines) + "\n"


def environment_yml(project: Project, rng: random.Random) -> str:
    exact = rng.random() < 0.75
    conda = [n for n in ("numpy", "scipy", "pandas", "scikit-learn") if n in project.pins]
    lines = [
        f"name: {project.package}",
        "channels:",
        "  - conda-forge",
        "  - nodefaults" if rng.random() < 0.8 else "  - defaults",
        "dependencies:",
        f"  - python={project.python}.9" if exact else f"  - python={project.python}",
    ]
    for name in conda:
        version = project.pins[name]
        lines.append(f"  - {name}={version}" if exact else f"  - {name}>={version}")
    lines += ["  - pip=24.2", "  - pip:", "      - -r requirements.txt"]
    return "\n".join(lines) + "\n"


def setup_script(project: Project, rng: random.Random) -> str:
    extra = (
        "pip install pre-commit==3.8.0"
        if rng.random() < 0.6
        else "pip install --upgrade pre-commit"
    )
    return (
        "#!/usr/bin/env bash\n"
        f"# Create the development environment of {project.package}.\n"
        "set -euo pipefail\n"
        'cd "$(dirname "$0")/.."\n'
        "\n"
        'VENV="${VENV:-.venv}"\n'
        'python3 -m venv "$VENV"\n'
        '. "$VENV/bin/activate"\n'
        "python -m pip install --require-hashes --no-deps -r requirements.txt\n"
        "python -m pip install --no-deps -e .\n"
        f"{extra}\n"
        'echo "environment ready in $VENV"\n'
    )


def _function_block(rng: random.Random, name: str, lines: int) -> list[str]:
    body = [f"def {name}(values: list[float], scale: float = 1.0) -> list[float]:"]
    body.append(f'    """Step {name} of the pipeline."""')
    body.append("    result = []")
    for i in range(lines):
        op = rng.choice(("+", "-", "*"))
        body.append(f"    offset_{i} = {rng.randint(1, 99)} {op} scale")
    body += [
        "    for value in values:",
        "        result.append(value * scale + offset_0)",
        "    return result",
        "",
        "",
    ]
    return body


def model_py(project: Project, rng: random.Random) -> str:
    roll = rng.random()
    hub = ""
    imports = ["from __future__ import annotations", "", "import math", "from pathlib import Path"]
    if project.kind in {"nlp", "embeddings"} and roll < 0.5:
        model = rng.choice(HF_MODELS)
        pinned = rng.random() < 0.7
        revision = f', revision="{digest("rev", model)[:40]}"' if pinned else ""
        imports.append("from transformers import AutoModel, AutoTokenizer")
        hub = (
            "def load_backbone(cache_dir: Path | None = None):\n"
            '    """The pretrained backbone and its tokenizer."""\n'
            f'    tokenizer = AutoTokenizer.from_pretrained("{model}"{revision})\n'
            f'    model = AutoModel.from_pretrained("{model}"{revision}, cache_dir=cache_dir)\n'
            "    return tokenizer, model\n\n\n"
        )
    elif project.kind == "vision" and roll < 0.3:
        imports.append("import torch")
        hub = (
            "def load_backbone():\n"
            '    """A torchvision backbone from the hub."""\n'
            '    return torch.hub.load("pytorch/vision:v0.18.1", "resnet18", weights=None)\n\n\n'
        )
    body = [*imports, "", f'WEIGHTS = Path(__file__).with_name("{project.package}.bin")', "", ""]
    for i in range(rng.randint(3, 7)):
        body += _function_block(rng, f"transform_{i}", rng.randint(2, 8))
    body.append(hub)
    body += [
        "class Model:",
        f'    """The {project.kind} model of {project.package}."""',
        "",
        "    def __init__(self, width: int = 64) -> None:",
        "        self.width = width",
        "        self.weights = [math.sin(i) for i in range(width)]",
        "",
        "    def predict(self, values: list[float]) -> list[float]:",
        "        scaled = transform_0(values, scale=1 / self.width)",
        "        return [v * w for v, w in zip(scaled, self.weights, strict=False)]",
        "",
    ]
    return "\n".join(body)


def train_py(project: Project, rng: random.Random) -> str:
    body = [
        f'"""Train {project.package} from the command line."""',
        "",
        "from __future__ import annotations",
        "",
        "import argparse",
        "import json",
        "import random",
        "from pathlib import Path",
        "",
        f"from {project.package}.model import Model",
        "",
        "",
    ]
    for i in range(rng.randint(2, 5)):
        body += _function_block(rng, f"augment_{i}", rng.randint(2, 6))
    body += [
        "def main() -> None:",
        "    parser = argparse.ArgumentParser(description=__doc__)",
        '    parser.add_argument("--epochs", type=int, default=10)',
        '    parser.add_argument("--config", type=Path, default=Path("configs/train.yaml"))',
        "    args = parser.parse_args()",
        "    random.seed(0)",
        "    model = Model()",
        "    for epoch in range(args.epochs):",
        "        batch = [random.random() for _ in range(model.width)]",
        "        loss = sum(model.predict(augment_0(batch)))",
        '        print(json.dumps({"epoch": epoch, "loss": loss}))',
        "",
        "",
        'if __name__ == "__main__":',
        "    main()",
        "",
    ]
    return "\n".join(body)


def model_tests(project: Project) -> str:
    return (
        f'"""Tests of {project.package}.model."""\n\n'
        f"from {project.package}.model import Model, transform_0\n\n\n"
        "def test_predict_keeps_length() -> None:\n"
        "    model = Model(width=8)\n"
        "    assert len(model.predict([1.0] * 8)) == 8\n\n\n"
        "def test_transform_scales() -> None:\n"
        "    assert transform_0([0.0], scale=2.0)[0] == transform_0([0.0], scale=2.0)[0]\n"
    )


def train_yaml(project: Project, rng: random.Random) -> str:
    data_version = "latest" if rng.random() < 0.05 else f"v{rng.randint(1, 9)}"
    return (
        f"# Training configuration of {project.package}.\n"
        "model:\n"
        f"  width: {rng.choice((64, 128, 256))}\n"
        f"  dropout: {rng.choice((0.0, 0.1, 0.2))}\n"
        "optimizer:\n"
        "  name: adamw\n"
        f"  lr: {rng.choice(('1.0e-3', '3.0e-4', '5.0e-5'))}\n"
        "  weight_decay: 0.01\n"
        "data:\n"
        f"  train: s3://ml-data/{project.dirname[5:]}/{data_version}/train.parquet\n"
        f"  valid: s3://ml-data/{project.dirname[5:]}/{data_version}/valid.parquet\n"
        f"  batch_size: {rng.choice((16, 32, 64))}\n"
        "trainer:\n"
        f"  epochs: {rng.randint(3, 40)}\n"
        "  seed: 1234\n"
    )


def model_json(project: Project, rng: random.Random) -> str:
    config = {
        "architecture": project.kind,
        "hidden_size": rng.choice((256, 512, 768)),
        "num_layers": rng.randint(2, 12),
        "labels": [f"label_{i}" for i in range(rng.randint(2, 6))],
        "threshold": rng.choice((0.3, 0.5, 0.7)),
    }
    return json.dumps(config, indent=2) + "\n"


def readme(project: Project) -> str:
    return (
        f"# {project.package}\n\n"
        f"A {project.kind} project of the monorepo.\n\n"
        "```\n"
        "bash scripts/setup_env.sh\n"
        f"python -m {project.package}.train --epochs 3\n"
        "```\n"
    )


def project_files(seed: int, index: int, shape: str = SHAPES[0]) -> Iterator[tuple[str, str]]:
    """``(path, text)`` of every file of project ``index``, paths relative to the tree."""
    if shape == "python-heavy":
        yield from python_heavy_files(seed, index)
        return
    project = choose_project(seed, index)
    # A second stream for the file contents, so the choices above stay stable when a writer
    # changes how many numbers it draws.
    rng = random.Random(int(digest("files", seed, index)[:16], 16))  # noqa: S311
    base = f"projects/{project.dirname}"
    src = f"{base}/src/{project.package}"
    yield f"{base}/README.md", readme(project)
    yield f"{base}/requirements.in", requirements_in(project)
    yield f"{base}/requirements.txt", requirements_txt(project)
    yield f"{base}/pyproject.toml", pyproject_toml(project, rng)
    if project.lock_tool == "poetry":
        yield f"{base}/poetry.lock", poetry_lock(project)
    elif project.lock_tool == "uv":
        yield f"{base}/uv.lock", uv_lock(project)
    yield f"{base}/Dockerfile", dockerfile(project, rng)
    if rng.random() < 0.35:
        yield f"{base}/environment.yml", environment_yml(project, rng)
    if rng.random() < 0.4:
        yield f"{base}/scripts/setup_env.sh", setup_script(project, rng)
    yield f"{src}/__init__.py", f'"""{project.package}."""\n\n__version__ = "0.1.0"\n'
    yield f"{src}/model.py", model_py(project, rng)
    yield f"{src}/train.py", train_py(project, rng)
    yield f"{base}/tests/test_model.py", model_tests(project)
    yield f"{base}/configs/train.yaml", train_yaml(project, rng)
    if rng.random() < 0.5:
        yield f"{base}/configs/model.json", model_json(project, rng)


# ---------------------------------------------------------------------------------------------
# The python-heavy shape: more code, a notebook and CSV data per project, few TOML locks.


def python_heavy_project(seed: int, index: int) -> Project:
    """Project ``index`` of the python-heavy shape: the lock-heavy choice of packages, with a
    Poetry lock in 4% and a uv lock in 6% (a stream of its own, so the rest stays put)."""
    project = choose_project(seed, index)
    roll = random.Random(int(digest("python-heavy", seed, index)[:16], 16)).random()  # noqa: S311
    lock_tool = "poetry" if roll < 0.04 else "uv" if roll < 0.1 else "pip-compile"
    return replace(project, lock_tool=lock_tool)


def module_py(project: Project, rng: random.Random, name: str) -> str:
    body = [
        f'"""{name.capitalize()} helpers of {project.package}."""',
        "",
        "from __future__ import annotations",
        "",
        "import csv",
        "import math",
        "from collections.abc import Iterable",
        "from pathlib import Path",
        "",
        "",
    ]
    for i in range(rng.randint(4, 9)):
        body += _function_block(rng, f"{name}_{i}", rng.randint(3, 10))
    body += [
        "def read_rows(path: Path) -> Iterable[dict[str, str]]:",
        '    """Rows of a CSV file of the project\'s data folder."""',
        '    with path.open(newline="", encoding="utf-8") as handle:',
        "        yield from csv.DictReader(handle)",
        "",
        "",
        "def norm(values: Iterable[float]) -> float:",
        "    return math.sqrt(sum(v * v for v in values))",
        "",
    ]
    return "\n".join(body)


def notebook(project: Project, rng: random.Random) -> str:
    """An exploration notebook: install cell (pinned or not), code, and stored outputs."""
    first = sorted(project.direct)[0]
    install = (
        f"%pip install {first}=={project.pins[first]}"
        if rng.random() < 0.7
        else f"%pip install {first}"
    )
    code = [
        f"from {project.package}.model import Model\n",
        "import csv\n",
        "from pathlib import Path\n",
        "\n",
        'rows = list(csv.DictReader(Path("../data/train.csv").open()))\n',
        "model = Model(width=8)\n",
        "len(rows), model.predict([1.0] * 8)[:3]",
    ]
    cells: list[dict[str, object]] = [
        {"cell_type": "markdown", "metadata": {}, "source": [f"# Exploring {project.package}\n"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "outputs": [],
            "source": [install],
        },
        {
            "cell_type": "code",
            "execution_count": 2,
            "metadata": {},
            "outputs": [
                {
                    "data": {"text/plain": [f"({rng.randint(100, 900)}, [0.0, 0.1, 0.2])"]},
                    "execution_count": 2,
                    "metadata": {},
                    "output_type": "execute_result",
                }
            ],
            "source": code,
        },
    ]
    for i in range(rng.randint(2, 6)):
        lines = _function_block(rng, f"explore_{i}", rng.randint(2, 6))
        cells.append(
            {
                "cell_type": "code",
                "execution_count": 3 + i,
                "metadata": {},
                "outputs": [
                    {
                        "name": "stdout",
                        "output_type": "stream",
                        "text": [f"{rng.random():.6f}\n" for _ in range(rng.randint(5, 30))],
                    }
                ],
                "source": [line + "\n" for line in lines],
            }
        )
    document = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": f"{project.python}.9"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1) + "\n"


def data_csv(rng: random.Random, rows: int) -> str:
    lines = ["id,feature_a,feature_b,feature_c,text,label"]
    for i in range(rows):
        lines.append(
            f"{i},{rng.random():.6f},{rng.gauss(0, 1):.6f},{rng.randint(0, 1000)},"
            f"sample {rng.randint(0, 99999)},{rng.choice(('yes', 'no'))}"
        )
    return "\n".join(lines) + "\n"


def python_heavy_files(seed: int, index: int) -> Iterator[tuple[str, str]]:
    """``(path, text)`` of every file of project ``index`` of the python-heavy shape."""
    project = python_heavy_project(seed, index)
    rng = random.Random(int(digest("python-heavy-files", seed, index)[:16], 16))  # noqa: S311
    base = f"projects/{project.dirname}"
    src = f"{base}/src/{project.package}"
    yield f"{base}/requirements.in", requirements_in(project)
    yield f"{base}/requirements.txt", requirements_txt(project)
    yield f"{base}/pyproject.toml", pyproject_toml(project, rng)
    if project.lock_tool == "poetry":
        yield f"{base}/poetry.lock", poetry_lock(project)
    elif project.lock_tool == "uv":
        yield f"{base}/uv.lock", uv_lock(project)
    yield f"{base}/Dockerfile", dockerfile(project, rng)
    if rng.random() < 0.15:
        yield f"{base}/environment.yml", environment_yml(project, rng)
    yield f"{src}/__init__.py", f'"""{project.package}."""\n\n__version__ = "0.1.0"\n'
    yield f"{src}/model.py", model_py(project, rng)
    yield f"{src}/train.py", train_py(project, rng)
    yield f"{src}/features.py", module_py(project, rng, "features")
    yield f"{base}/tests/test_model.py", model_tests(project)
    yield f"{base}/notebooks/explore.ipynb", notebook(project, rng)
    yield f"{base}/data/train.csv", data_csv(rng, rng.randint(150, 600))
    yield f"{base}/configs/train.yaml", train_yaml(project, rng)


def workflow(seed: int, group: int, members: Sequence[Project]) -> str:
    rng = random.Random(int(digest("workflow", seed, group)[:16], 16))  # noqa: S311
    uses = []
    for action, version in ACTIONS[:2]:
        if rng.random() < 0.85:
            uses.append(f"{action}@{digest('action', action, version)[:40]} # {version}")
        else:
            uses.append(f"{action}@{version.split('.')[0]}")
    python = members[0].python if members else "3.11"
    names = ", ".join(p.dirname for p in members)
    paths = "".join(f'      - "projects/{p.dirname}/**"\n' for p in members)
    return (
        f"name: group-{group:03d}\n"
        "on:\n"
        "  push:\n"
        "    branches: [main]\n"
        "    paths:\n"
        f"{paths}"
        "  pull_request:\n"
        "    paths:\n"
        f"{paths}"
        "permissions:\n"
        "  contents: read\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-24.04\n"
        "    timeout-minutes: 30\n"
        "    strategy:\n"
        "      fail-fast: false\n"
        "      matrix:\n"
        f"        project: [{names}]\n"
        "    steps:\n"
        f"      - uses: {uses[0]}\n"
        "        with:\n"
        "          persist-credentials: false\n"
        f"      - uses: {uses[1]}\n"
        "        with:\n"
        f'          python-version: "{python}"\n'
        "      - name: Install the locked environment\n"
        "        run: |\n"
        "          python -m pip install --require-hashes --no-deps \\\n"
        "            -r projects/${{ matrix.project }}/requirements.txt\n"
        "      - name: Test\n"
        "        run: python -m pytest projects/${{ matrix.project }}/tests\n"
    )


def tree_files(projects: int, seed: int, shape: str = SHAPES[0]) -> Iterator[tuple[str, str]]:
    """Every ``(path, text)`` of the tree, in a fixed order."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r} (one of {', '.join(SHAPES)})")
    yield ".gitignore", ".venv/\n__pycache__/\n*.pyc\n.mypy_cache/\n"
    of_shape = "" if shape == SHAPES[0] else f", shape {shape}"
    yield (
        "README.md",
        f"# Synthetic ML monorepo\n\n{projects} projects, generated by bench/generate.py "
        f"(seed {seed}{of_shape}).\n",
    )
    for index in range(projects):
        yield from project_files(seed, index, shape)
    chosen = python_heavy_project if shape == "python-heavy" else choose_project
    for group in range((projects + 9) // 10):
        members = [chosen(seed, i) for i in range(group * 10, min(projects, group * 10 + 10))]
        yield f".github/workflows/group-{group:03d}.yml", workflow(seed, group, members)


def generate(
    out: Path, *, projects: int, seed: int, force: bool = False, shape: str = SHAPES[0]
) -> int:
    """Write the tree under ``out``; returns the number of files written."""
    if out.exists() and any(out.iterdir()):
        if not force:
            raise SystemExit(f"{out} is not empty (pass --force to replace a generated tree)")
        if not (out / MARKER).is_file():
            raise SystemExit(f"{out} was not made by bench/generate.py; refusing to delete it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    made: set[Path] = set()
    for rel, text in tree_files(projects, seed, shape):
        path = out / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        if rel.endswith(".sh"):
            path.chmod(0o755)
        count += 1
    stamp: dict[str, object] = {
        "generator": GENERATOR_VERSION,
        "projects": projects,
        "seed": seed,
        "files": count,
    }
    if shape != SHAPES[0]:
        stamp["shape"] = shape
    (out / MARKER).write_text(json.dumps(stamp, sort_keys=True) + "\n", encoding="utf-8")
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write the tree into")
    parser.add_argument("--projects", type=int, default=10, metavar="N")
    parser.add_argument("--seed", type=int, default=0, metavar="S")
    parser.add_argument(
        "--shape", choices=SHAPES, default=SHAPES[0],
        help="lock-heavy (default): many TOML locks; python-heavy: more code, notebooks, CSV",
    )  # fmt: skip
    parser.add_argument(
        "--force", action="store_true", help="replace a tree this script generated before"
    )
    args = parser.parse_args(argv)
    if args.projects < 1:
        parser.error("--projects must be at least 1")
    count = generate(
        args.out, projects=args.projects, seed=args.seed, force=args.force, shape=args.shape
    )
    print(f"wrote {count} files for {args.projects} projects under {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
