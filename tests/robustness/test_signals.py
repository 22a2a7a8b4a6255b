"""SIGTERM (CI cancelling a job) cleans up as Ctrl-C does, for every command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprolock.cli import main
from tests.conftest import write_tree
from tests.robustness import inputs


def test_sigterm_while_writing_the_baseline_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, {"requirements.txt": "numpy\n"})
    monkeypatch.chdir(tmp_path)

    def terminated(fd: int) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives half-way through the atomic write

    monkeypatch.setattr(os, "fsync", terminated)
    # Should main() not handle SIGTERM, this one fails the test instead of killing pytest.
    previous = signal.signal(signal.SIGTERM, _unhandled)
    try:
        assert main(["check", "--no-cache", "--write-baseline", "baseline.json"]) == 130
        assert signal.getsignal(signal.SIGTERM) is _unhandled  # the handler is put back
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert capsys.readouterr().err == "repro: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requirements.txt"]


class _UnhandledError(Exception):
    pass


def _unhandled(signum: int, frame: object) -> None:
    raise _UnhandledError


def test_sigterm_during_an_audit_exits_130_without_a_traceback(tmp_path: Path) -> None:
    inputs.write(tmp_path, inputs.requirements_unpinned(200_000))
    child = subprocess.Popen(
        [sys.executable, "-m", "reprolock", "check", "--no-cache", "--write-baseline", "b.json"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(2.5)  # well into the audit (about ten seconds here), past start-up
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.decode() == "repro: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requirements.txt"]
