"""Shared test helpers: build a tree from a dict, audit it, run the real CLI."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.config import load_config
from reprolock.model import Finding

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Create ``files`` (path -> text, dedented, or bytes) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


def audit_tree(root: Path, options: AuditOptions | None = None) -> list[Finding]:
    """Audit ``root`` with its own config; findings sorted."""
    return list(run_audit(root, load_config(root), options).report.findings)


def hits(findings: list[Finding]) -> list[tuple[str, str, int]]:
    """``(rule, path, line)`` of each finding, for exact assertions."""
    return [(f.rule, f.location.path, f.location.line) for f in findings]


@pytest.fixture
def audit(tmp_path: Path) -> Callable[[dict[str, str | bytes]], list[Finding]]:
    """Write a tree and audit it: ``audit({"requirements.txt": "numpy\\n"})``."""

    def run(files: dict[str, str | bytes]) -> list[Finding]:
        write_tree(tmp_path, files)
        return audit_tree(tmp_path)

    return run


@pytest.fixture(autouse=True)
def _private_cache_dir(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every test gets its own reprolock cache, never the user's; harness tests share theirs
    (``harness_cache``) so that wheels and base-image facts are fetched once a session."""
    if "harness_cache" in request.fixturenames or request.node.path.parent.name == "harness":
        return
    monkeypatch.setenv("REPROLOCK_CACHE_DIR", str(tmp_path_factory.mktemp("repro-cache")))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what a test needs from its fixtures; markers select tests, they never skip one.

    ``docker``: it asks for ``docker_client`` (directly or through another fixture).
    ``network``: it asks for ``harness_cache``, the session's wheel cache that builds and
    harness commands fill from PyPI; tests that run pip or pip-compile otherwise carry the
    mark themselves.
    """
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "docker_client" in fixtures:
            item.add_marker(pytest.mark.docker)
        if "harness_cache" in fixtures:
            item.add_marker(pytest.mark.network)


@pytest.fixture(autouse=True)
def _unmarked_tests_reach_no_daemon_and_no_index(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that needs the daemon or PyPI without its marker fails on every machine, so that
    ``-m "not docker"`` or ``-m "not network"`` never runs a test that needs what it leaves out."""
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    if request.node.get_closest_marker("network") is None:
        for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no machine-wide mirror either
        monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
        monkeypatch.setenv("PIP_RETRIES", "0")
