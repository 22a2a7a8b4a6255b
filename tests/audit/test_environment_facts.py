"""What scanners tell the environment checks: Dockerfile stages and CI jobs as sections, and
the lock or project that an install command installs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprolock.audit.engine import run_audit
from reprolock.audit.interface import FileFacts, Include, Section
from reprolock.config import load_config
from tests.conftest import write_tree


def _facts(root: Path, files: dict[str, str | bytes], path: str) -> FileFacts:
    write_tree(root, files)
    return run_audit(root, load_config(root)).facts[path]


def test_dockerfile_stages(tmp_path: Path) -> None:
    text = (
        "ARG BASE=nvidia/cuda:12.1.1-runtime-ubuntu22.04\n"  # 1
        "FROM ${BASE} AS base\n"  # 2
        "RUN pip install torch==2.3.1\n"  # 3
        "\n"
        "FROM base AS app\n"  # 5
        "RUN pip install numpy==1.26.4\n"
        "FROM --platform=linux/arm64 python:3.11-slim\n"  # 7
        "COPY --from=app /x /x\n"  # 8
    )
    facts = _facts(tmp_path, {"Dockerfile": text}, "Dockerfile")
    assert facts.sections == (
        Section(kind="stage", name="base", start=2, end=4),
        Section(kind="stage", name="app", start=5, end=6, parent="base"),
        Section(kind="stage", name="2", start=7, end=9, labels=("linux/arm64",)),
    )


def test_workflow_jobs(tmp_path: Path) -> None:
    text = (
        "on: push\n"  # 1
        "jobs:\n"
        "  test:\n"  # 3
        "    runs-on: ${{ matrix.os }}\n"
        "    strategy:\n"
        "      matrix:\n"
        "        os: [ubuntu-latest, macos-14]\n"
        "        torch: ['2.2.2', '2.3.1']\n"
        "    steps:\n"
        "      - run: pip install torch==${{ matrix.torch }}\n"  # 10
        "\n"
        "  gpu:\n"  # 12
        "    runs-on: [self-hosted, Linux, gpu]\n"
        "    container: nvidia/cuda:12.1.1-runtime-ubuntu22.04\n"
        "    steps:\n"
        "      - run: pip install torch==2.3.1\n"  # 16
    )
    facts = _facts(tmp_path, {".github/workflows/ci.yml": text}, ".github/workflows/ci.yml")
    assert facts.sections == (
        Section(
            kind="job",
            name="test",
            start=3,
            end=11,
            labels=("ubuntu-latest", "macos-14"),
            matrix=("os", "torch"),
        ),
        Section(kind="job", name="gpu", start=12, end=16, labels=("self-hosted", "linux", "gpu")),
    )


@pytest.mark.parametrize(
    ("run", "installed"),
    [
        ("cd server && uv sync --frozen", ["server/pyproject.toml", "server/uv.lock"]),
        ("uv sync --project server --locked", ["server/pyproject.toml", "server/uv.lock"]),
        ("uv --directory server sync", ["server/pyproject.toml", "server/uv.lock"]),
        ("cd server && poetry install --no-root", ["server/poetry.lock", "server/pyproject.toml"]),
        ("poetry -C server install", ["server/poetry.lock", "server/pyproject.toml"]),
        ("cd server && pdm sync", ["server/pdm.lock", "server/pyproject.toml"]),
        ("cd server && pipenv sync", ["server/Pipfile.lock"]),
        ("pip install -e './server[gpu]'", ["server/pyproject.toml"]),
        ("cd server && pip install .", ["server/pyproject.toml"]),
        ("cd $DIR && uv sync", []),
        ("uv sync", []),  # no uv.lock at the root
        ("cd elsewhere && uv sync", []),
    ],
)
def test_project_installs_are_includes(tmp_path: Path, run: str, installed: list[str]) -> None:
    files: dict[str, str | bytes] = {
        "server/pyproject.toml": '[project]\nname = "s"\nversion = "1"\n',
        "server/uv.lock": 'version = 1\nrequires-python = ">=3.10"\n',
        "server/poetry.lock": '[metadata]\nlock-version = "2.0"\ncontent-hash = "x"\n',
        "server/pdm.lock": '[metadata]\nlock_version = "4.4"\ncontent_hash = "x"\n',
        "server/Pipfile.lock": (
            '{"_meta": {"hash": {"sha256": "x"}}, "default": {}, "develop": {}}\n'
        ),
        "install.sh": f"#!/bin/sh\n{run}\n",
    }
    facts = _facts(tmp_path, files, "install.sh")
    assert sorted(i.target for i in facts.includes) == installed
    assert all(i.line == 2 for i in facts.includes)


def test_a_dockerfile_installs_the_lock_it_copied(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "Dockerfile": (
            "FROM python:3.11-slim\n"
            "WORKDIR /usr/src\n"
            "COPY server server\n"
            "RUN cd server && \\\n"
            "    uv sync --frozen --no-install-project\n"
        ),
        "server/pyproject.toml": '[project]\nname = "s"\nversion = "1"\n',
        "server/uv.lock": 'version = 1\nrequires-python = ">=3.10"\n',
    }
    facts = _facts(tmp_path, files, "Dockerfile")
    assert facts.includes == (
        Include(target="server/uv.lock", line=5),
        Include(target="server/pyproject.toml", line=5),
    )


def test_an_excluded_lock_is_never_installed(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        "pyproject.toml": '[tool.repro]\nexclude = ["vendored/"]\n',
        "vendored/uv.lock": "version = 1\n",
        "install.sh": "#!/bin/sh\ncd vendored && uv sync\n",
    }
    assert _facts(tmp_path, files, "install.sh").includes == ()
