"""Shared test helpers: build a tree from a dict, audit it, run the real CLI."""

from __future__ import annotations

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
