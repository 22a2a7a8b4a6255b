"""Run ``repro`` in a child process under a time and memory budget.

A regression in an expansion budget or a size cap can cost tens of GB or minutes: run under
``RLIMIT_AS`` and a wall-clock timeout, it fails its test instead of taking the machine down.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_ADDRESS_SPACE_SLACK = 1024 * 2**20
"""Address space a Python process with reprolock imported maps before it does anything
(shared libraries, arenas, thread stacks): the hard limit is the budget plus this."""

PEAK_KIB = """\
def peak_kib():
    # VmHWM of this process's own memory map. Not ru_maxrss: Linux carries that across
    # execve from the process that forked this one, so it would report the test runner's size.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")
"""
"""Source of ``peak_kib()``, for a child script that reports its own peak RSS in KiB."""

_CHILD = (
    PEAK_KIB
    + """\
import sys
from reprolock.cli import main
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as report:
        report.write(str(peak_kib()))
sys.exit(code)
"""
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How a budgeted run ended."""

    exit_code: int
    """The child's exit code (negative: killed by that signal)."""
    stdout: str
    """What it printed on stdout (decoded with backslash escapes)."""
    stderr: str
    """What it printed on stderr."""
    seconds: float
    """Wall-clock time."""
    peak_mb: float
    """Peak resident memory of the child, in MiB."""
    timed_out: bool
    """True when the wall-clock budget ran out and the child was killed."""


def run_repro(
    args: Sequence[str],
    *,
    cwd: Path,
    seconds: float,
    memory_mb: int,
    env: dict[str, str] | None = None,
) -> Outcome:
    """``repro ARGS`` in a child process limited to ``memory_mb`` of address space (plus the
    interpreter's own) and killed after ``seconds`` of wall-clock time."""
    limit = memory_mb * 2**20 + _ADDRESS_SPACE_SLACK
    cpu = int(seconds) + 2

    def limits() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        os.setsid()

    child_env = {**os.environ, **(env or {})}
    handle, name = tempfile.mkstemp(prefix="repro-peak-")
    os.close(handle)
    peak_file = Path(name)
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(peak_file), *args],
        cwd=cwd,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=limits,  # noqa: PLW1509 - the test process is single-threaded here
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    elapsed = time.monotonic() - start
    try:
        peak = int(peak_file.read_text()) / 1024  # KiB to MiB
    except ValueError:
        peak = float("inf")  # killed before it could say: over any budget
    finally:
        peak_file.unlink()
    return Outcome(
        exit_code=proc.returncode,
        stdout=out.decode("utf-8", "backslashreplace"),
        stderr=err.decode("utf-8", "backslashreplace"),
        seconds=elapsed,
        peak_mb=peak,
        timed_out=timed_out,
    )
