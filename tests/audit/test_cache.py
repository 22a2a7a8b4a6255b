"""The audit cache: reused only while every input is unchanged, never a stale result."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock import __version__
from reprolock.audit import aside as aside_module
from reprolock.audit import cache as cache_module
from reprolock.audit import discover, engine, scanning
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.cli import main
from reprolock.config import Config, load_config
from reprolock.errors import ConfigError
from reprolock.model import Finding
from tests.audit._opened import opened_files
from tests.conftest import FIXTURES, hits, write_tree

_TREE: dict[str, str | bytes] = {
    "requirements.txt": "-r base.txt\nnumpy\n",
    "base.txt": "pandas>=2\n",
    "svc/requirements.txt": "scipy\n",
}


class _Counter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.scanned: list[str] = []
        original = scanning.scan_file

        def counting(*args: object, **kwargs: object) -> object:
            self.scanned.append(str(args[1]))
            return original(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(scanning, "scan_file", counting)


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
    assert [p.name.split(".", 1)[1] for p in cache_files] == ["files.json", "run.json"]
    for cache_file in cache_files:
        cache_file.write_bytes(b"not a cache file")
    assert _audit(root, cache) == cold
    assert all(p.read_bytes() != b"not a cache file" for p in cache_files)


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


# --- plain data, in a directory only the user can write ---------------------------------------


def _cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "audit").iterdir())


def _body(path: Path) -> tuple[bytes, bytes]:
    header, _, body = path.read_bytes().partition(b"\n")
    return header, body


def test_cache_files_are_json_with_a_digest_and_private_modes(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    _audit(root, cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE((cache / "audit").stat().st_mode) == 0o700
    for path in _cache_files(cache):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        header, body = _body(path)
        magic, version, encoding, checksum = header.split(b" ")
        assert (magic, version) == (b"reprolock-audit-cache", str(cache_module.FORMAT).encode())
        assert checksum.decode() == hashlib.sha256(body).hexdigest()
        # The run record, all a warm run of an unchanged tree reads, is not compressed.
        run_record = path.name.endswith(".run.json")
        assert encoding == (b"raw" if run_record else b"zlib")
        text = body if run_record else zlib.decompress(body)
        if run_record:
            assert json.loads(text)["version"] == __version__
        else:  # a JSON head line, then one line per file: "path", digest, deps, scan
            head, *lines = text.decode("ascii").splitlines()
            assert json.loads(head)["version"] == __version__
            entries = [line.split("\t") for line in lines]
            assert sorted(json.loads(e[0]) for e in entries) == sorted(_TREE)
            assert all(len(e) == 4 and json.loads(e[3]) for e in entries)


def test_a_cache_file_of_an_unknown_encoding_is_a_miss(tmp_path: Path) -> None:
    body = json.dumps({"version": __version__}).encode()
    path = tmp_path / "x.run.json"
    for encoding, loaded in ((b"raw", {"version": __version__}), (b"gzip", None), (b"", None)):
        header = b"reprolock-audit-cache %d %s %s\n" % (
            cache_module.FORMAT,
            encoding,
            hashlib.sha256(body).hexdigest().encode(),
        )
        path.write_bytes(header + body)
        assert cache_module._load(path) == loaded


class _Boom:
    """Unpickling this creates the canary: what a planted pickle could do."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[object, ...]:
        return (Path.touch, (self.canary,))


def test_a_planted_pickle_is_never_loaded(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    canary = tmp_path / "canary"
    payload = pickle.dumps(_Boom(canary))
    for path in _cache_files(cache):
        # well-formed header and digest around the pickle, and the old file names beside
        header = b"reprolock-audit-cache %d raw %s\n" % (
            cache_module.FORMAT,
            hashlib.sha256(payload).hexdigest().encode(),
        )
        path.write_bytes(header + payload)
        path.with_name(path.name.replace(".json", ".pickle")).write_bytes(payload)
    assert _audit(root, cache) == cold
    assert not canary.exists()


def test_a_flipped_byte_is_a_miss_not_a_wrong_report(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    for path in _cache_files(cache):
        header, body = _body(path)
        # a finding's message and a file's scan changed, still valid JSON, the digest left
        compressed = header.split(b" ")[2] == b"zlib"
        text = zlib.decompress(body) if compressed else body
        assert b"pandas" in text
        changed = text.replace(b"pandas", b"pandaz")
        path.write_bytes(header + b"\n" + (zlib.compress(changed) if compressed else changed))
    warm = _audit(root, cache)
    assert warm == cold
    assert "pandaz" not in repr(warm)
    # a byte flipped on disk, whatever it hits, is a miss too
    for path in _cache_files(cache):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    assert _audit(root, cache) == cold


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        (lambda c: c.chmod(0o777), "{cache} is writable by other users (mode 0777)"),
        (lambda c: c.chmod(0o770), "{cache} is writable by other users (mode 0770)"),
        (
            lambda c: (c / "audit").chmod(0o757),
            "{cache}/audit is writable by other users (mode 0757)",
        ),
        (
            lambda c: ((c / "audit").rmdir(), (c / "audit").symlink_to(c.parent)),
            "{cache}/audit is not a directory",
        ),
    ],
    ids=["world-writable", "group-writable", "audit-dir-writable", "audit-dir-symlink"],
)
def test_a_cache_directory_others_can_write_is_not_used(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arrange: Callable[[Path], object],
    reason: str,
) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "shared"
    (cache / "audit").mkdir(parents=True)
    arrange(cache)
    monkeypatch.setenv("REPROLOCK_CACHE_DIR", str(cache))
    planted = sorted((cache / "audit").iterdir())
    assert main(["check", str(root)]) == 1
    assert main(["check", str(root)]) == 1
    captured = capsys.readouterr()
    warning = f"repro: warning: not using the audit cache: {reason.format(cache=cache)}\n"
    assert captured.err.count("repro: warning") == 2  # once per run
    assert captured.err.startswith(warning)
    assert sorted((cache / "audit").iterdir()) == planted  # nothing written


def test_a_cache_directory_of_another_user_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    # a record that says "no findings", in a directory that now belongs to someone else
    for path in _cache_files(cache):
        path.unlink()
    warnings: list[str] = []
    monkeypatch.setattr(os, "geteuid", lambda: cache.stat().st_uid + 1)
    options = AuditOptions(cache_dir=cache)
    result = run_audit(root, load_config(root), options, warn=warnings.append)
    assert list(result.report.findings) == cold
    assert warnings == [
        f"not using the audit cache: {cache} belongs to another user (uid {cache.stat().st_uid})"
    ]
    assert list((cache / "audit").iterdir()) == []


# --- never a stale answer -----------------------------------------------------------------------

H = hashlib.sha256(b"numpy").hexdigest()


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Runs from now on believe they start ``seconds`` later: files written before look old
    enough for their stat to be trusted next time (see cache.RACY_NS)."""
    shift = int(seconds * 1e9)
    monkeypatch.setattr(engine, "now_ns", lambda: time.time_ns() + shift)


def test_a_change_that_keeps_size_and_mtime_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``touch -d`` restores mtime; the change time it cannot restore keys the cache."""
    root = write_tree(tmp_path / "repo", {"requirements.txt": f"numpy==1.26.4 --hash=sha256:{H}\n"})
    cache = tmp_path / "cache"
    _later(monkeypatch, 10)
    assert _audit(root, cache) == []
    target = root / "requirements.txt"
    before = target.stat()
    time.sleep(0.05)
    target.write_text(f"numpy>=1.26.4 --hash=sha256:{H}\n", encoding="utf-8")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert hits(_audit(root, cache)) == [("RP102", "requirements.txt", 1)]


def test_a_file_written_just_before_a_run_is_hashed_again_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    _audit(root, cache)  # every file is as new as the run: none is trusted by its stat
    reads: list[str] = []
    original = engine.read_file

    def counting(path: Path) -> bytes | OSError:
        reads.append(path.name)
        return original(path)

    # the engine reads to hash, the scanning side to scan: both are counted
    monkeypatch.setattr(engine, "read_file", counting)
    monkeypatch.setattr(scanning, "read_file", counting)
    _later(monkeypatch, 10)
    _audit(root, cache)
    assert sorted(reads) == ["base.txt", "requirements.txt", "requirements.txt"]
    # that run wrote its record again, with the stats it checked: the next one reads nothing
    reads.clear()
    _later(monkeypatch, 20)
    _audit(root, cache)
    assert reads == []


def test_a_gitignored_compiled_lock_is_part_of_the_key(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "repo",
        {
            ".gitignore": "requirements.txt\n",
            "requirements.in": "six>=1.16\n",
            "requirements.txt": f"six==1.16.0 --hash=sha256:{H}\n",
        },
    )
    cache = tmp_path / "cache"
    assert _audit(root, cache) == []
    (root / "requirements.txt").write_text(f"six==1.15.0 --hash=sha256:{H}\n", encoding="utf-8")
    assert hits(_audit(root, cache)) == [("RP202", "requirements.in", 1)]
    assert _audit(root, cache) == _audit(root, tmp_path / "fresh")


def test_a_new_file_no_rule_claims_beside_a_lock_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requirements-dev.txt is a lock once requirements-dev.in exists, even a .gitignore'd one
    root = write_tree(
        tmp_path / "repo",
        {".gitignore": "*.in\n", "deps/requirements-dev.txt": "pytest==8.2.0\n"},
    )
    cache = tmp_path / "cache"
    _later(monkeypatch, 10)  # the tree looks old: its stats are trusted from now on
    assert [f.rule for f in _audit(root, cache)] == ["RP103"]
    # an unchanged directory answers for every name missing from it, with no look at each
    looked: list[str] = []
    original = os.stat

    def spying(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        looked.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", spying)
    assert [f.rule for f in _audit(root, cache)] == ["RP103"]
    assert not [p for p in looked if p.endswith("requirements-dev.in")]
    assert str(root / "deps") in looked
    monkeypatch.setattr(os, "stat", original)
    write_tree(root, {"deps/requirements-dev.in": "pytest>=9\n"})
    found = _audit(root, cache)
    assert [f.rule for f in found] == ["RP202", "RP203"]
    assert found == _audit(root, tmp_path / "fresh")


def test_a_change_deep_in_an_include_chain_reaches_every_includer(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "repo",
        {
            "requirements.txt": "-r requirements-a.txt\nsix\n",
            "requirements-a.txt": "-r requirements-b.txt\n",
            "requirements-b.txt": "-c constraints.txt\n",
            "constraints.txt": f"six==1.16.0 --hash=sha256:{H}\n",
        },
    )
    cache = tmp_path / "cache"
    assert _audit(root, cache) == []  # six is pinned by the constraint three levels down
    (root / "constraints.txt").write_text("# no pins any more\n", encoding="utf-8")
    found = _audit(root, cache)
    assert hits(found) == [("RP101", "requirements.txt", 2)]
    assert found == _audit(root, tmp_path / "fresh")


def test_file_names_that_are_not_utf8_are_cached_like_any_other(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    names = [b"requirements-\xff.txt", b'requirements-"q"\\.txt', "requirements-é.txt".encode()]
    for name in names:
        path = os.path.join(os.fsencode(root), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"numpy\n")
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    assert len(cold) == 3
    assert _audit(root, cache) == cold
    (root / "other.txt").write_text("", encoding="utf-8")  # a new file: per-file entries reused
    assert _audit(root, cache) == cold


def test_stats_of_a_racy_run_are_not_trusted(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    audit_cache = cache_module.AuditCache(tmp_path / "cache", root, Config())
    record = cache_module.RunRecord(tree="t", files_scanned=0, findings=(), ignores={})
    started = 100 * cache_module.RACY_NS
    stats = {
        "old.txt": (
            1,
            started - cache_module.RACY_NS - 1,
            7,
            started - cache_module.RACY_NS - 1,
            "d1",
        ),
        "new.txt": (1, started - 1, 8, started - 1, "d2"),
    }
    (tmp_path / "cache" / "audit").mkdir(parents=True)
    audit_cache.save_run(started=started, stats=stats, absent={}, extra=(), record=record)
    again = cache_module.AuditCache(tmp_path / "cache", root, Config())
    assert again.known_digest("old.txt", stats["old.txt"][:4]) == "d1"
    assert again.known_digest("new.txt", stats["new.txt"][:4]) is None


# --- every file the audit reads is part of the key ----------------------------------------------

_INCLUDES_TREE: dict[str, str | bytes] = {
    ".gitignore": "requirements/dev.txt\n",
    "requirements.txt": "-r requirements/base.txt\n-c constraints.txt\nsix\nnumpy>=1\n",
    "requirements/base.txt": "-r common.txt\npandas==2.2.2\n",
    "requirements/common.txt": f"requests==2.32.3 --hash=sha256:{H}\n",
    "constraints.txt": f"numpy==1.26.4 --hash=sha256:{H}\nsix==1.16.0\n",
    # a .in whose compiled lock is ignored by git: read by the cross-check only
    "requirements/dev.in": "pytest>=8\n-c ../constraints.txt\n",
    "requirements/dev.txt": "pytest==8.2.0\n",
    # a lock whose header names its sources
    "svc/requirements.txt": (
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n"
        "# by the following command:\n#\n"
        "#    pip-compile --output-file=svc/requirements.txt svc/requirements.in\n#\n"
        "flask==3.0.3\n"
    ),
    "svc/requirements.in": "flask>=3,<3.1\n",
}

_TREES = {
    "includes": None,
    "example-ml-project": FIXTURES / "example-ml-project",
    "locks": FIXTURES / "locks",
    "pipfile": FIXTURES / "pipfile",
    "conda": FIXTURES / "conda",
    "frameworks": FIXTURES / "frameworks",
    "requirements": FIXTURES / "requirements",
    "update-lock-only": FIXTURES / "projects" / "update-lock-only",
}


def _place(name: str, root: Path) -> Path:
    """A fresh copy of the tree ``name`` at ``root``."""
    if root.exists():
        shutil.rmtree(root)
    source = _TREES[name]
    if source is None:
        return write_tree(root, _INCLUDES_TREE)
    shutil.copytree(source, root, symlinks=True)
    return root


def _walk_here(
    root: Path, config: Config, notes: list[Finding], listings: Any, meanwhile: Any
) -> Any:
    meanwhile()
    return discover.walk(root, config, notes, listings)


def _read_by_the_audit(root: Path) -> list[str]:
    """Root-relative paths of every file an uncached audit of ``root`` opens (its walk in
    this process, where the hook sees the ``.gitignore`` files it reads)."""
    with opened_files() as opened, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(engine, "walk_aside", _walk_here)
        run_audit(root, load_config(root), AuditOptions(jobs=1))
    prefix = f"{root}{os.sep}"
    return sorted({p[len(prefix) :] for p in opened if p.startswith(prefix)})


def _mutate(path: Path, kind: str, position: float) -> None:
    """Change ``path``: ``same-size`` keeps its size and mtime (what ``touch -d`` allows)."""
    data = path.read_bytes()
    before = path.stat()
    time.sleep(0.02)  # the next write gets a later change time
    if kind == "same-size" and data:
        at = min(int(position * len(data)), len(data) - 1)
        replacement = b"0" if data[at : at + 1] != b"0" else b"1"
        path.write_bytes(data[:at] + replacement + data[at + 1 :])
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif kind == "truncate":
        path.write_bytes(data[: int(position * len(data))])
    elif kind == "delete":
        path.unlink()
    else:
        path.write_bytes(data + b"\nnumpy\n")


def _cached_and_fresh(root: Path, cache: Path) -> tuple[list[Finding], list[Finding]]:
    try:
        config = load_config(root)
    except ConfigError:
        return [], []  # a broken root config stops both runs the same way (exit 2)
    cached = run_audit(root, config, AuditOptions(cache_dir=cache, jobs=1)).report.findings
    fresh = run_audit(root, config, AuditOptions(jobs=1)).report.findings
    return list(cached), list(fresh)


@pytest.mark.parametrize("name", list(_TREES))
def test_every_file_the_audit_reads_is_part_of_the_cached_answer(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For each file the audit opens: change it keeping its size and mtime, and the cached
    answer is the fresh one."""
    _later(monkeypatch, 10)  # stats of the copied tree are trusted: only ctime tells changes
    root = _place(name, tmp_path / "repo")
    read = _read_by_the_audit(root)
    assert len(read) >= 3
    if name == "includes":  # the files only a cross-check or a closure reads are among them
        assert {"requirements/dev.txt", "requirements/common.txt", "svc/requirements.in"} <= set(
            read
        )
    cache = tmp_path / "cache"
    for rel in read:
        _place(name, root)
        _cached_and_fresh(root, cache)  # the cache now holds the pristine tree
        _mutate(root / rel, "same-size", 0.5)
        cached, fresh = _cached_and_fresh(root, cache)
        assert cached == fresh, rel


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_changes_to_read_files_never_leave_a_stale_answer(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(list(_TREES)))
    base = tmp_path_factory.mktemp("mutated")
    root = _place(name, base / "repo")
    cache = base / "cache"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _later(monkeypatch, 10)
        read = _read_by_the_audit(root)
        _cached_and_fresh(root, cache)
        for rel in data.draw(st.lists(st.sampled_from(read), min_size=1, max_size=3, unique=True)):
            kind = data.draw(st.sampled_from(["same-size", "append", "truncate", "delete"]))
            _mutate(root / rel, kind, data.draw(st.floats(0, 1)))
        cached, fresh = _cached_and_fresh(root, cache)
    assert cached == fresh


def test_what_a_run_no_longer_reads_leaves_the_key(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    _audit(root, cache)
    assert "base.txt" in set(
        cache_module.AuditCache(cache, root.resolve(), load_config(root)).extra
    )
    (root / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    _audit(root, cache)
    _audit(root, cache)
    assert "base.txt" not in set(
        cache_module.AuditCache(cache, root.resolve(), load_config(root)).extra
    )
    (root / "base.txt").write_text("pandas\n", encoding="utf-8")  # no longer read: no miss
    assert hits(_audit(root, cache)) == [
        ("RP101", "requirements.txt", 1),
        ("RP101", "svc/requirements.txt", 1),
    ]


def test_a_missing_include_in_a_missing_directory_does_not_defeat_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", {"requirements.txt": "-r nowhere/base.txt\nsix\n"})
    cache = tmp_path / "cache"
    _later(monkeypatch, 10)
    cold = _audit(root, cache)
    assert hits(cold) == [("RP001", "requirements.txt", 1), ("RP101", "requirements.txt", 2)]
    hit: list[bool] = []
    original = cache_module.AuditCache.record

    def record(self: cache_module.AuditCache, tree: str) -> cache_module.RunRecord | None:
        found = original(self, tree)
        hit.append(found is not None)
        return found

    monkeypatch.setattr(cache_module.AuditCache, "record", record)
    assert _audit(root, cache) == cold
    assert _audit(root, cache) == cold
    assert hit == [True, True]  # the whole run answered from its record, not file by file
    write_tree(root, {"nowhere/base.txt": "six==1.16.0\n"})
    assert _audit(root, cache) == _audit(root, tmp_path / "fresh") != cold


def _bench_generate() -> Any:
    """bench/generate.py, loaded once (its dataclasses need it in ``sys.modules``)."""
    name = "bench_generate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, FIXTURES.parent / "bench" / "generate.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _racy_free(root: Path) -> None:
    """Every file's times moved back a minute: the cache trusts their stats at once."""
    past = time.time_ns() - 60 * 10**9
    for path in root.rglob("*"):
        os.utime(path, ns=(past, past), follow_symlinks=False)


@pytest.mark.parametrize("shape", ["lock-heavy", "python-heavy"])
def test_findings_are_the_same_with_and_without_the_cache_on_both_bench_shapes(
    tmp_path: Path, shape: str
) -> None:
    root = tmp_path / "tree"
    _bench_generate().generate(root, projects=12, seed=5, shape=shape)
    _racy_free(root)
    config = load_config(root)
    uncached = run_audit(root, config, AuditOptions(jobs=1)).report
    assert len(uncached.findings) > 20
    cache = tmp_path / "cache"
    first = run_audit(root, config, AuditOptions(cache_dir=cache, jobs=1)).report
    warm = run_audit(root, config, AuditOptions(cache_dir=cache, jobs=1)).report
    assert first == uncached
    assert warm == uncached
    # One file changed: the next run mixes cached scans with a new one, the same answer.
    changed = next(p for p in sorted(root.rglob("requirements.in")))
    changed.write_text(changed.read_text(encoding="utf-8") + "rich\n", encoding="utf-8")
    again = run_audit(root, config, AuditOptions(jobs=1)).report
    assert again != uncached
    assert run_audit(root, config, AuditOptions(cache_dir=cache, jobs=1)).report == again
    # A new file no scanner claims: discovery's recorded claims no longer serve, same answer.
    (changed.parent / "notes.csv").write_text("a,b\n", encoding="utf-8")
    assert run_audit(root, config, AuditOptions(cache_dir=cache, jobs=1)).report == again


def test_files_no_scanner_claims_are_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _bench_generate().generate(root, projects=3, seed=1, shape="python-heavy")
    read = _read_by_the_audit(root)
    assert any(p.endswith(".ipynb") for p in read)
    assert not [p for p in read if p.endswith((".csv", ".md", ".bench-tree"))]


_WARM_IMPORTS = """
import json, sys, time
from reprolock.cli import main
import reprolock.audit.engine as engine
# the tree was written just now: runs that believe they start later trust its stats
engine.now_ns = lambda: time.time_ns() + 10**10
try:
    main(["check", sys.argv[1], "--format", sys.argv[2]])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_run_answered_from_the_cache_imports_no_scanner_and_no_rich(
    tmp_path: Path, fmt: str
) -> None:
    tree = {**_TREE, "Dockerfile": "FROM python:3.11\n", ".gitignore": "build/\n"}
    root = write_tree(tmp_path / "repo", tree)
    _racy_free(root)
    env = {**os.environ, "REPROLOCK_CACHE_DIR": str(tmp_path / "cache")}

    def modules() -> set[str]:
        result = subprocess.run(
            [sys.executable, "-c", _WARM_IMPORTS, str(root), fmt],
            check=False,
            capture_output=True,
            text=True,
            env=env,
        )
        assert "scipy is not pinned" in result.stdout, result.stdout
        return set(json.loads(result.stderr.strip().splitlines()[-1]))

    first = modules()
    assert {"reprolock.audit.requirements", "reprolock.audit.registry", "pathspec"} <= first
    warm = modules()
    assert "reprolock.audit.cache" in warm
    loaded = {m for m in warm if m.startswith(("reprolock.audit.", "rich", "yaml"))}
    assert loaded == {
        "reprolock.audit.aside",
        "reprolock.audit.baseline",
        "reprolock.audit.budget",
        "reprolock.audit.cache",
        "reprolock.audit.discover",
        "reprolock.audit.engine",
        "reprolock.audit.suppress",
    }
    # neither the scanners' types nor any parser: no lock reader, no requirement grammar
    assert not [m for m in warm if m.startswith(("reprolock.formats", "packaging", "tomllib."))]
    assert not {"multiprocessing", "concurrent.futures", "reprolock.specs"} & warm
    # no directory listed anew: no .gitignore pattern compiled
    assert "pathspec" not in warm
    # nothing crashed: the traceback module is for --debug after a crash
    assert "traceback" not in warm


def test_the_recorded_schema_is_the_cached_types_shape() -> None:
    # A field added to FileFacts or to a type in it must change the namespace: update
    # cache.SCHEMA (and think whether FORMAT must change too).
    assert cache_module.schema_of_facts() == cache_module.SCHEMA


def test_a_run_answered_from_the_cache_opens_only_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Files written just now have racy change times (which cannot be set back): trusted
    # here, so that the warm run is the common one, of files written long before.
    monkeypatch.setattr(cache_module, "RACY_NS", 0)
    root = write_tree(tmp_path / "repo", {**_TREE, ".gitignore": "build/\n", "data.csv": "1,2\n"})
    _racy_free(root)
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    with opened_files() as opened:
        assert _audit(root, cache) == cold
    assert sorted(Path(p).name for p in opened) == [
        ".gitignore",
        *(p.name for p in (cache / "audit").glob("*.run.json")),
    ]


def test_recorded_claims_name_only_files_discovery_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "RACY_NS", 0)
    root = write_tree(tmp_path / "repo", _TREE)
    (tmp_path / "outside.txt").write_text("torch\n", encoding="utf-8")
    cache = tmp_path / "cache"
    cold = _audit(root, cache)
    (record,) = (cache / "audit").glob("*.run.json")
    doc = cache_module._load(record)
    assert doc["claims"]["by"]["requirements"] == "requirements.txt\0svc/requirements.txt"
    # A record claiming a path the walk did not keep (here one out of the root) is not used.
    doc["claims"]["by"]["requirements"] += "\0../outside.txt"
    record.write_bytes(cache_module._dump([json.dumps(doc)], compress=False))
    assert cache_module._load(record) == doc
    with opened_files() as opened:
        assert _audit(root, cache) == cold
    assert not [p for p in opened if p.endswith("outside.txt")]


def test_a_warm_run_lists_only_the_directories_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", {**_TREE, "svc/deep/notes.md": "x\n"})
    cache = tmp_path / "cache"
    log = tmp_path / "listed"  # a file: the cold run walks in another process
    original = os.scandir

    def counting(path: str) -> Any:
        with log.open("a", encoding="utf-8") as out:
            out.write(os.path.relpath(path, root) + "\n")
        return original(path)

    def listed() -> list[str]:
        names = log.read_text(encoding="utf-8").split() if log.exists() else []
        log.unlink(missing_ok=True)
        return names

    monkeypatch.setattr(os, "scandir", counting)
    _later(monkeypatch, 10)
    cold = _audit(root, cache)
    assert sorted(listed()) == [".", "svc", "svc/deep"]
    assert _audit(root, cache) == cold
    assert listed() == []
    # a file no scanner claims: only its directory is listed, and recorded for the next run
    (root / "svc/deep/data.csv").write_text("1\n", encoding="utf-8")
    _later(monkeypatch, 20)
    assert _audit(root, cache) == cold
    assert listed() == ["svc/deep"]
    assert _audit(root, cache) == cold
    assert listed() == []
    # a file a scanner claims: listed, scanned, reported
    (root / "svc/deep/requirements.txt").write_text("torch\n", encoding="utf-8")
    _later(monkeypatch, 30)
    assert "torch is not pinned" in " ".join(f.message for f in _audit(root, cache))
    assert listed() == ["svc/deep"]


def test_only_a_run_no_record_can_answer_walks_aside_while_scanning_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", {**_TREE, ".gitignore": "build/\n"})
    cache = tmp_path / "cache"
    _later(monkeypatch, 10)
    aside: list[bool] = []
    original = discover.walk_aside

    def counted(*args: Any) -> Any:
        aside.append(True)
        return original(*args)

    monkeypatch.setattr(engine, "walk_aside", counted)
    uncached = run_audit(root, load_config(root), AuditOptions(jobs=1)).report
    first = _audit(root, cache)
    assert aside == [True, True]  # no cache; an empty one
    assert _audit(root, cache) == first == list(uncached.findings)
    assert aside == [True, True]  # a record: the walk decides whether it answers


def test_the_recorded_files_changed_since_are_named_by_one_stat_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = {**_TREE, "svc/requirements.txt": "-r base.txt\nscipy\n", "svc/base.txt": "six\n"}
    root = write_tree(tmp_path / "repo", tree)
    cache = tmp_path / "cache"
    _later(monkeypatch, 10)
    _audit(root, cache)
    config = load_config(root)
    opened = cache_module.AuditCache(cache, root.resolve(), config)
    assert opened.recorded_files == 4
    assert opened.changed(str(root.resolve())) == set()
    line = opened.recorded("base.txt")
    assert line is not None
    assert line.split(" ", 4)[4] == hashlib.sha256(b"pandas>=2\n").hexdigest()
    (root / "base.txt").write_text("pandas>=3\n", encoding="utf-8")  # same size, later times
    (root / "svc/base.txt").unlink()
    assert opened.changed(str(root.resolve())) == {"base.txt", "svc/base.txt"}
    # a record made too close to the files' last change vouches for none of them
    racy = cache_module.AuditCache(cache, root.resolve(), config)
    monkeypatch.setattr(racy, "_trusted_before", 0)
    assert racy.changed(str(root.resolve())) == set(tree)


@pytest.mark.parametrize("child", ["answers", "fails"])
def test_a_warm_run_of_many_files_looks_at_them_while_it_walks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    monkeypatch.setattr(engine, "_STAT_ASIDE_MIN_FILES", 1)
    root = write_tree(tmp_path / "repo", _TREE)
    cache = tmp_path / "cache"
    _later(monkeypatch, 10)
    cold = _audit(root, cache)
    parent = os.getpid()
    asked: list[int] = []
    original = cache_module.AuditCache.changed

    def changed(self: cache_module.AuditCache, base: str) -> set[str]:
        if child == "fails":
            raise OSError("the looking process fails")
        return original(self, base)

    def counted(work: Any, meanwhile: Any) -> Any:
        asked.append(os.getpid())
        return aside_module.aside(work, meanwhile)

    monkeypatch.setattr(cache_module.AuditCache, "changed", changed)
    monkeypatch.setattr(engine, "aside", counted)
    counter = _Counter(monkeypatch)
    assert _audit(root, cache) == cold
    assert counter.scanned == []
    assert asked == [parent]
    # a file changed since: scanned again, whatever the child said
    (root / "svc/requirements.txt").write_text("scipy==1.13.1\n", encoding="utf-8")
    _later(monkeypatch, 20)
    warm = _audit(root, cache)
    assert counter.scanned == ["svc/requirements.txt"]
    assert warm == _audit(root, tmp_path / "fresh") != cold
    assert asked == [parent, parent]
