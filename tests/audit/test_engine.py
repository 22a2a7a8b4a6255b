"""The engine's own behaviour: what an audit leaves behind in the process that ran it."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from reprolock.audit import scanning
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.audit.interface import Declared, FileFacts, ImageRef, Pin, PythonVersion, Role
from reprolock.config import Config
from reprolock.formats.spec import NEVER_OVERSIZED
from reprolock.specs import classify, oversized_number
from tests.conftest import write_tree

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_no_collection_runs_during_an_audit_nor_walks_its_objects_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_tree(tmp_path / "repo", {"requirements.txt": "numpy\n"})
    during: list[tuple[tuple[int, int, int], int]] = []
    original = scanning.scan_file

    def observed(*args: object, **kwargs: object) -> object:
        during.append((gc.get_threshold(), gc.get_freeze_count()))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scanning, "scan_file", observed)
    collections: list[int] = []

    def counted(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    gc.callbacks.append(counted)
    try:
        result = run_audit(root, Config(), AuditOptions(jobs=1))
        assert [f.rule for f in result.report.findings] == ["RP101"]
        [(threshold, frozen)] = during
        assert threshold == (0, 10, 10)  # no automatic collection
        assert frozen > 0  # what existed before the audit is out of the collector's sight
        assert collections == []
        assert gc.get_threshold() == (700, 10, 10)
        assert gc.get_freeze_count() == 0
        # what the audit made left the young generation: the next collection does not walk it
        assert gc.get_count()[0] < 100
        assert gc.is_tracked(result.facts["requirements.txt"])
    finally:
        gc.callbacks.remove(counted)
        gc.set_threshold(*before)


def test_an_audit_leaves_no_cyclic_garbage(tmp_path: Path) -> None:
    """What lets the audit run without the collector: nothing it makes needs one."""
    files: dict[str, str | bytes] = {
        "pyproject.toml": "[project\n",
        ".github/workflows/ci.yml": "on: [push\n",
        "nb.ipynb": '{"cells": [',
        "train.py": "def f(:\n",
        "Dockerfile": 'FROM \nRUN pip install "x\n',
        "uv.lock": "[[package]]\nname = \n",
        "environment.yml": "dependencies:\n  - [\n",
        "requirements-dev.txt": b"\xff\xfe\x00",
    }
    broken = write_tree(tmp_path / "broken", files)
    sound = _tree_of_projects(tmp_path / "sound", 3)
    run_audit(sound, Config(), AuditOptions(jobs=1))  # imports and caches made once
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for root in (broken, sound, FIXTURES):
            run_audit(root, Config(), AuditOptions(jobs=1))
            assert gc.collect() == 0, root
    finally:
        if enabled:
            gc.enable()


def _tree_of_projects(root: Path, count: int) -> Path:
    files: dict[str, str | bytes] = {}
    for n in range(count):
        files[f"p{n}/requirements.txt"] = f"numpy>={n}\nrequests==2.{n}.0\n"
        files[f"p{n}/Dockerfile"] = f"FROM python:3.{n}\nRUN pip install torch\n"
        files[f"p{n}/train.py"] = "import torch\n"
    return write_tree(root, files)


def test_this_process_and_a_worker_share_the_scan_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree_of_projects(tmp_path / "repo", 12)
    log = tmp_path / "scanned"
    log.mkdir()
    original = scanning.scan_with_ignores
    main = os.getpid()

    def logged(scanner: Any, rel: str, abspath: Path, ctx: Any) -> Any:
        # slow enough that neither process can take every batch before the other starts
        time.sleep(0.02)
        with (log / str(os.getpid())).open("a", encoding="utf-8") as out:
            out.write(rel + "\n")
        return original(scanner, rel, abspath, ctx)

    monkeypatch.setattr(scanning, "scan_with_ignores", logged)  # forked workers inherit it
    shared = run_audit(root, Config(), AuditOptions(jobs=2))
    by_process = {p.name: p.read_text(encoding="utf-8").split() for p in log.iterdir()}
    assert len(by_process) == 2
    assert by_process[str(main)]  # this process scanned some
    assert sorted(rel for rels in by_process.values() for rel in rels) == sorted(shared.facts)
    monkeypatch.setattr(scanning, "scan_with_ignores", original)
    serial = run_audit(root, Config(), AuditOptions(jobs=1))
    assert shared.facts == serial.facts
    assert list(shared.facts) == list(serial.facts)
    assert shared.report == serial.report
    assert len(serial.report.findings) >= 36


def test_the_checks_load_while_this_process_waits_for_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree_of_projects(tmp_path / "repo", 4)
    calls: list[int] = []
    original = scanning._load_checks

    def load() -> None:
        calls.append(os.getpid())
        original()

    monkeypatch.setattr(scanning, "_load_checks", load)
    parallel = run_audit(root, Config(), AuditOptions(jobs=2)).report
    assert calls == [os.getpid()]  # once, in this process, once no batch was left to take
    calls.clear()
    assert run_audit(root, Config(), AuditOptions(jobs=1)).report == parallel
    assert calls == []  # nothing to wait for


# ---- versions too long to read ------------------------------------------------------------------


def _versioned(text: str, *, declared_raw: str = "n") -> FileFacts:
    """Facts holding ``text`` as a pin's version, a declaration's specifier, a Python and an
    image reference."""
    spec = replace(classify("n==1.0"), raw=declared_raw, specifier=f"=={text}")
    return FileFacts(
        path="f",
        kind="k",
        role=Role.OTHER,
        pins=(Pin(name="n", version=text, line=2),),
        declared=(Declared(spec=spec, line=3),),
        pythons=(PythonVersion(value=text, line=4, origin="ci"),),
        images=(ImageRef(ref=f"img:{text}", line=5),),
    )


def test_versions_too_short_to_hold_a_long_number_are_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # each text as long as allowed: "img:" and the reference, "n ==" and the specifier
    longest = "1." + "2" * (NEVER_OVERSIZED - 6)
    read = mock.Mock(wraps=oversized_number)
    monkeypatch.setattr(scanning, "oversized_number", read)
    facts = _versioned(longest)
    assert scanning._readable_versions(facts) is facts
    assert read.call_count == 0
    # one character more, in the declaration's own text: each text is read, none refused
    longer = _versioned(longest, declared_raw="nn")
    assert scanning._readable_versions(longer) is longer
    assert read.call_count == 4


@pytest.mark.parametrize(
    ("field", "line"), [("pins", 2), ("declared", 3), ("pythons", 4), ("images", 5)]
)
def test_a_version_past_the_lowest_int_limit_is_read_wherever_it_stands(
    field: str, line: int
) -> None:
    long = _versioned("9" * (NEVER_OVERSIZED + 1))
    facts = replace(_versioned("1.0"), **{field: getattr(long, field)})
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(NEVER_OVERSIZED)
    try:
        read = scanning._readable_versions(facts)
    finally:
        sys.set_int_max_str_digits(before)
    assert [(f.rule, f.location.line) for f in read.findings] == [("RP001", line)]
    assert getattr(read, field) == ()


def _children() -> list[int]:
    """Processes this one forked that still run or wait to be reaped."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
                if int(fields[1]) == os.getpid():
                    found.append(int(entry.name))
    return found


def _until_no_children(seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _children()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


def test_the_workers_end_after_the_scan_without_holding_up_the_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree_of_projects(tmp_path / "repo", 4)
    assert _until_no_children() == []
    waited: list[bool] = []
    original = ProcessPoolExecutor.shutdown

    def shutdown(self: ProcessPoolExecutor, wait: bool = True, **kwargs: Any) -> None:
        waited.append(wait)
        original(self, wait, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "shutdown", shutdown)
    run_audit(root, Config(), AuditOptions(jobs=2))
    assert waited == [False]
    assert _until_no_children() == []  # reaped by the pool's thread


def test_a_failure_while_scanning_stops_the_workers_before_it_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree_of_projects(tmp_path / "repo", 4)
    assert _until_no_children() == []
    main = os.getpid()
    original = scanning.scan_with_ignores

    def interrupted(*args: Any) -> Any:
        if os.getpid() == main:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(scanning, "scan_with_ignores", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_audit(root, Config(), AuditOptions(jobs=2))
    assert _children() == []  # waited for: none left, at once
