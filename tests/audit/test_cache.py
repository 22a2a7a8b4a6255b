"""The audit cache: reused only while every input is unchanged, never a stale result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reprolock.audit import engine
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.cli import main
from reprolock.config import Config, load_config
from reprolock.model import Finding
from tests.conftest import hits, write_tree

_TREE: dict[str, str | bytes] = {
    "requirements.txt": "-r base.txt\nnumpy\n",
    "base.txt": "pandas>=2\n",
    "svc/requirements.txt": "scipy\n",
}


class _Counter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.scanned: list[str] = []
        original = engine.scan_file

        def counting(*args: object, **kwargs: object) -> object:
            self.scanned.append(str(args[1]))
            return original(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(engine, "scan_file", counting)


def _audit(root: Path, cache: Path, config: Config | None = None) -> list[Finding]:
    options = AuditOptions(cache_dir=cache)
    return list(run_audit(root, config or load_config(root), options).report.findings)


def test_warm_run_scans_nothing_and_reports_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    counter = _Counter(monkeypatch)
    warm = _audit(root, cache)
    assert counter.scanned == []
    assert warm == cold
    assert hits(warm) == [
        ("RP102", "base.txt", 1),
        ("RP101", "requirements.txt", 2),
        ("RP101", "svc/requirements.txt", 1),
    ]


def test_a_changed_file_is_rescanned_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    _audit(root, cache)
    (root / "svc" / "requirements.txt").write_text("scipy==1.11.4\n", encoding="utf-8")
    counter = _Counter(monkeypatch)
    findings = _audit(root, cache)
    assert counter.scanned == ["svc/requirements.txt"]
    assert ("RP103", "svc/requirements.txt", 1) in hits(findings)
    assert ("RP101", "svc/requirements.txt", 1) not in hits(findings)


def test_a_changed_include_rescans_the_file_that_includes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    _audit(root, cache)
    (root / "base.txt").write_text("pandas==2.2.2\n", encoding="utf-8")
    counter = _Counter(monkeypatch)
    findings = _audit(root, cache)
    assert sorted(counter.scanned) == ["base.txt", "requirements.txt"]
    assert ("RP102", "base.txt", 1) not in hits(findings)


def test_a_new_file_or_another_config_invalidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    _audit(root, cache)
    write_tree(root, {"other/requirements.txt": "six\n"})
    counter = _Counter(monkeypatch)
    assert ("RP101", "other/requirements.txt", 1) in hits(_audit(root, cache))
    assert len(counter.scanned) == 4
    counter.scanned.clear()
    relaxed = _audit(root, cache, Config(require_hashes=False))
    assert len(counter.scanned) == 4
    assert relaxed == _audit(root, tmp_path / "fresh", Config(require_hashes=False))


def test_a_damaged_cache_is_ignored_and_rewritten(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    cache_files = sorted((cache / "audit").iterdir())
    assert [p.name.split(".", 1)[1] for p in cache_files] == ["files.pickle", "run.pickle"]
    for cache_file in cache_files:
        cache_file.write_bytes(b"not a pickle")
    assert _audit(root, cache) == cold
    assert all(p.read_bytes() != b"not a pickle" for p in cache_files)


def test_no_cache_flag_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    monkeypatch.setenv("REPROLOCK_CACHE_DIR", str(cache))
    assert main(["check", str(root), "--no-cache"]) == 1
    assert not cache.exists()
    assert main(["check", str(root)]) == 1
    assert len(list((cache / "audit").iterdir())) == 2
    capsys.readouterr()


def test_a_touched_but_unchanged_file_is_not_rescanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    target = root / "svc" / "requirements.txt"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    counter = _Counter(monkeypatch)
    assert _audit(root, cache) == cold
    assert counter.scanned == []


def test_inline_ignores_apply_to_cached_findings(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"requirements.txt": "numpy  # repro: ignore[RP101]\n"})
    cache = tmp_path / "cache"
    assert _audit(root, cache) == []
    assert _audit(root, cache) == []
    (root / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    assert hits(_audit(root, cache)) == [("RP101", "requirements.txt", 1)]


def test_parallel_scan_gives_the_same_report(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {**_TREE, "Dockerfile": "FROM python:3.11\n"})
    config = load_config(root)
    serial = run_audit(root, config, AuditOptions(jobs=1)).report
    parallel = run_audit(root, config, AuditOptions(jobs=2)).report
    cached = run_audit(root, config, AuditOptions(jobs=2, cache_dir=tmp_path / "c")).report
    assert parallel == serial
    assert cached == serial
    assert hits(list(serial.findings))[:2] == [
        ("RP301", "Dockerfile", 1),
        ("RP102", "base.txt", 1),
    ]


def test_ignore_comments_come_from_the_scan_not_a_second_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path, {"requirements.txt": "numpy  # repro: ignore[RP101] ok\n\nscipy\n"})
    rereads: list[Path] = []

    def read_text(path: Path) -> str:
        rereads.append(path)
        return ""

    monkeypatch.setattr(engine, "_read_text", read_text)
    report = run_audit(root, load_config(root), AuditOptions()).report
    assert hits(list(report.findings)) == [("RP101", "requirements.txt", 3)]
    assert report.suppressed == 1
    assert rereads == []
