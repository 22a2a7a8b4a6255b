"""Record and replay golden suites: run the entrypoint in its environment, fingerprint, compare.

A run happens in a container with no network, as an unprivileged user, on a read-only root
file system, with the suite's source and inputs mounted read-only and ``/out`` the only
writable mount; memory, process and CPU limits apply, thread counts are pinned, no host
environment variable passes through, and the container is removed on every way out. It ends
at its own deadline even when this process is killed. What it leaves in ``/out`` is read
without trust (:mod:`reprolock.harness.untrusted`) and removed whatever its modes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import math
import os
import posixpath
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors
import numpy.typing as npt
import requests.exceptions
from docker.types import Mount

from reprolock import __version__
from reprolock.config import Suite
from reprolock.errors import ConfigError, ReproError, UnansweredError, UsageError
from reprolock.files import FileTooLargeError
from reprolock.harness import image as images
from reprolock.harness import runner
from reprolock.harness.compare import Tolerance, compare, measure_noise
from reprolock.harness.docker import (
    SELF_STOP_GRACE,
    DockerUnavailableError,
    confined,
    daemon_errors,
    managed_container,
)
from reprolock.harness.image import BaseImage, BuildError, EnvImage
from reprolock.harness.lockfile import Lock, read_lock
from reprolock.harness.preflight import unknown_outputs
from reprolock.harness.progress import ProgressFn, silent
from reprolock.harness.runner import NpzError, read_npz
from reprolock.harness.untrusted import (
    UntrustedInputError,
    open_regular,
    read_json,
    refusal,
    remove_tree,
)
from reprolock.report.replay import (
    Baseline,
    Comparison,
    LockChange,
    Machine,
    ReplayReport,
    Verdict,
    excerpt,
)

Array = npt.NDArray[Any]

GOLDEN_SCHEMA = 1
"""Version of golden.json; a golden of another version is refused (record it again)."""

WORKDIR = "/work"
CONTAINER_TMP = "/tmp"  # noqa: S108 - the container's own tmpfs, not the host's /tmp
OUT_DIR = "/out"
RUNNER_PATH = "/reprolock/runner.py"
INPUTS_PATH = "/reprolock/inputs.npz"
PIDS_LIMIT = 256
RUNNER_GRACE = SELF_STOP_GRACE
"""Seconds past the suite's timeout at which the runner stops the container by itself."""
RUN_ENVIRONMENT: Mapping[str, str] = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "HOME": CONTAINER_TMP,
}
"""The run's whole environment: nothing from the host passes through."""

_TRACEBACK_LINES = 12
_LOG_LINES = 20
_OK = frozenset({Verdict.IDENTICAL, Verdict.WITHIN_TOLERANCE})


class GoldenError(UnansweredError):
    """The golden file is missing, unreadable or inconsistent (exit 3)."""


class RecordError(ReproError):
    """The suite cannot be recorded: its environment or its entrypoint is broken (exit 1)."""

    exit_code = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Session:
    """What every step of a record or replay shares."""

    client: docker.DockerClient
    """A connected Docker client."""
    cache: Path | None = None
    """The reprolock cache directory; None for the default."""
    progress: ProgressFn = silent
    """Where progress messages go."""
    warn: ProgressFn = silent
    """Where warnings go (lines that stay)."""
    warned: set[str] = dataclasses.field(default_factory=set)
    """Base images already warned about in this session: a warning is said once."""

    def base_image(self, suite: Suite, *, warn_tag: bool = True) -> BaseImage:
        """The suite's base image, probed; a tag rather than ``name@sha256:`` (or an image id)
        is warned about, once per base image and session."""
        base = images.resolve_base_image(
            self.client, suite.base_image, cache=self.cache, progress=self.progress
        )
        if warn_tag and not base.pinned and suite.base_image not in self.warned:
            self.warned.add(suite.base_image)
            if base.digest is None:
                # A local image (docker import, a local build): no registry digest to name.
                advice = f'base-image = "{base.id}" pins it'
            else:
                advice = f'"{base.digest}" pins it'
            self.warn(
                f"warning: suite {suite.name}: base image {suite.base_image} is a tag; its "
                f"image id {base.id[:19]} is recorded ({advice})"
            )
        return base

    def ensure_image(self, lock: Lock, base: BaseImage) -> EnvImage:
        """``lock``'s environment on ``base``: found by its tag, or built."""
        return images.ensure_image(
            self.client, lock, base, cache=self.cache, progress=self.progress
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RunResult:
    """One run of a suite's entrypoint in one environment."""

    env: EnvImage
    """The environment it ran in."""
    outputs: Mapping[str, Array] | None
    """The outputs; None when the run is broken."""
    facts: Mapping[str, Any]
    """What the runner reported about the environment (Python, CPU, BLAS, distributions)."""
    error: str | None = None
    """Why the run is broken: the error and the traceback's tail, a timeout, the memory limit."""
    warnings: tuple[str, ...] = ()
    """Warnings the entrypoint emitted."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Golden:
    """A recorded golden: its outputs and golden.json."""

    outputs: Mapping[str, Array]
    """The golden outputs."""
    meta: Mapping[str, Any]
    """golden.json."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordOutcome:
    """What ``repro golden record`` wrote."""

    golden: Path
    """The golden ``.npz``."""
    meta: Path
    """golden.json."""
    noise: Mapping[str, float]
    """The run-to-run noise of each float output."""
    deterministic: bool
    """True when the two runs were bit for bit identical."""
    accepted: Mapping[str, float] = dataclasses.field(default_factory=dict)
    """The run-to-run noise of each output with ``noise = "accept"`` that moved between runs."""


# --- paths and fingerprints ----------------------------------------------------------------


def display(path: Path) -> str:
    """``path`` relative to the working directory when that is short, else absolute."""
    resolved = path.resolve()
    relative = Path(os.path.relpath(resolved, Path.cwd().resolve()))
    if relative.parts[:3] == ("..", "..", ".."):
        return resolved.as_posix()
    return relative.as_posix()


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_OS_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r"})
"""Files a desktop leaves in any folder it shows: not the project's, never its source."""


def _skipped(relative: PurePosixPath) -> bool:
    return (
        "__pycache__" in relative.parts
        or relative.suffix in {".pyc", ".pyo"}
        or relative.name in _OS_LITTER
        or relative.name.startswith("._")  # macOS AppleDouble files on foreign file systems
    )


def source_files(suite: Suite) -> list[tuple[str, Path]]:
    """Every file of the suite's ``source`` paths: ``(path relative to /work, host path)``."""
    files: dict[str, Path] = {}
    for entry in suite.source:
        root = suite.path(entry)
        base = PurePosixPath(posixpath.normpath(PurePosixPath(Path(entry).as_posix()).as_posix()))
        if root.is_file():
            files[base.as_posix()] = root
            continue
        if not root.is_dir():
            raise UsageError(f"suite {suite.name}: source {entry}: no such file or directory")
        for path in sorted(root.rglob("*")):
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if _skipped(relative) or not path.is_file():
                continue
            files[posixpath.normpath((base / relative).as_posix())] = path
    return sorted(files.items())


def source_tree_sha256(suite: Suite) -> str:
    """sha256 over the sorted relative paths and file digests of the suite's source tree."""
    digest = hashlib.sha256()
    for relative, path in source_files(suite):
        digest.update(f"{relative}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def machine_fingerprint(facts: Mapping[str, Any]) -> dict[str, Any]:
    """What of a run's facts makes floating-point results machine-dependent: CPU and BLAS.

    The facts come from the container (or a golden.json): a value of the wrong type counts
    as absent.
    """
    cpu = facts.get("cpu")
    cpu = cpu if isinstance(cpu, dict) else {}
    blas = facts.get("blas")
    blas = blas if isinstance(blas, list) else []
    flags = cpu.get("flags")
    return {
        "cpu_model": cpu.get("model"),
        "cpu_flags": sorted(str(flag) for flag in flags) if isinstance(flags, list) else [],
        # Lists, not tuples: the fingerprint is compared with its JSON copy in golden.json.
        "blas": [
            list(pair)
            for pair in sorted(
                {
                    (str(lib.get("internal_api")), str(lib.get("architecture") or ""))
                    for lib in blas
                    if isinstance(lib, dict)
                }
            )
        ],
    }


def machine_of(facts: Mapping[str, Any], *, base_id: str | None, image_id: str | None) -> Machine:
    """The report's :class:`Machine` for a run's ``facts`` (empty when nothing ran)."""
    fingerprint = machine_fingerprint(facts)
    flags = fingerprint["cpu_flags"]
    model = fingerprint["cpu_model"]
    return Machine(
        cpu_model=model if isinstance(model, str) else None,
        cpu_flags_sha256=(
            hashlib.sha256("".join(f"{flag}\n" for flag in flags).encode()).hexdigest()
            if flags
            else None
        ),
        blas=tuple((str(api), str(arch)) for api, arch in fingerprint["blas"]),
        base_image_id=base_id,
        image_id=image_id,
    )


_MACHINE_KEYS = ("cpu_model", "cpu_flags")
"""What identifies a machine. The BLAS kernel is not among them: it is chosen by the BLAS
library the lock installs (another numpy or scipy ships another OpenBLAS, which names the same
CPU's kernel differently), so it belongs to the environment: see :func:`kernel_change`."""


def _describe_machine(facts: Mapping[str, Any]) -> str:
    return str(machine_fingerprint(facts)["cpu_model"])


def _kernels(facts: Mapping[str, Any]) -> str:
    fingerprint = machine_fingerprint(facts)
    kernels = ", ".join(
        f"{api} {arch}".strip() for api, arch in fingerprint["blas"] if api != "openmp"
    )
    return kernels or "no BLAS information"


def machine_matches(
    golden: Mapping[str, Any], base_id: str, facts: Mapping[str, Any]
) -> bool | None:
    """Whether a run's CPU model, CPU flags and base image are those ``golden`` (golden.json)
    was recorded on; None when the run reported no facts."""
    if not facts:
        return None
    same_base = (golden.get("base_image") or {}).get("id") == base_id
    recorded = golden.get("machine")
    recorded = recorded if isinstance(recorded, dict) else {}
    here = machine_fingerprint(facts)
    return same_base and all(here[key] == recorded.get(key) for key in _MACHINE_KEYS)


def kernel_change(reference: Mapping[str, Any], facts: Mapping[str, Any]) -> str | None:
    """A note when a run's BLAS kernel differs from the ``reference`` run's (facts of the
    suite's own lock on the same machine: golden.json's ``environment``), else None: a property
    of the candidate's packages, not of the machine."""
    if not facts or not reference.get("blas") or not facts.get("blas"):
        return None
    before, after = _kernels(reference), _kernels(facts)
    if before == after:
        return None
    return (
        f"the candidate's BLAS kernel is {after} ({before} with the golden's lock on this "
        "machine): its packages ship another BLAS build, which may move the last bits"
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Reference:
    """What a candidate's outputs are compared with: the golden, or a fresh baseline (the suite's
    own lock run on this machine). Made by :func:`choose_reference`."""

    fresh: bool
    """Run the suite's own lock here and compare the candidate with that run."""
    same_machine: bool | None
    """Whether this machine's CPU, BLAS and base image are the golden's; None when unknown."""
    same_lock: bool
    """Whether the candidate installs exactly the suite's own lock."""
    notes: tuple[str, ...] = ()
    """How this machine differs from the golden's."""

    def conclude(
        self,
        report: ReplayReport,
        comparison: Comparison | None,
        golden: Comparison | None = None,
        *,
        notes: Sequence[str] = (),
    ) -> ReplayReport:
        """``report`` with the candidate's ``comparison`` (None: broken) against the fresh
        baseline when ``golden`` (the fresh baseline against the golden) is given, else against
        the golden; ``notes`` go after this choice's own."""
        verdict = Verdict.BROKEN if comparison is None else comparison.verdict
        added = [*self.notes, *notes]
        reproduces = (verdict in _OK) if self.same_lock else None
        if golden is not None:
            reproduces = golden.verdict in _OK
        elif self.same_lock and self.same_machine is False and verdict not in _OK:
            added.append("the lock is the golden's: the difference comes from the machine")
        return dataclasses.replace(
            report,
            verdict=verdict,
            comparison=comparison,
            baseline=Baseline.GOLDEN if golden is None else Baseline.FRESH,
            golden_comparison=golden,
            golden_reproduces=reproduces,
            machine_matches_golden=self.same_machine,
            notes=(*report.notes, *added),
        )


def choose_reference(
    golden: Mapping[str, Any],
    base_id: str,
    facts: Mapping[str, Any],
    *,
    same_lock: bool,
    fresh_baseline: bool = False,
    attributable: bool = True,
) -> Reference:
    """The golden (golden.json: ``golden``), or a fresh baseline, as the candidate's reference.

    A fresh baseline when asked for, when the candidate's run (its ``facts``, on ``base_id``)
    shows a machine other than the golden's or shows none, or when the golden is not
    ``attributable`` (a bisect passes that: its mixes must differ by dependencies alone); never
    when the candidate installs the suite's own lock, whose fresh run would be the candidate.
    """
    same_machine = machine_matches(golden, base_id, facts)
    notes: tuple[str, ...] = ()
    if same_machine is False:
        same_base = (golden.get("base_image") or {}).get("id") == base_id
        here, there = _describe_machine(facts), _describe_machine(golden.get("environment") or {})
        if here == there and same_base:
            what = f"{here}, with other CPU flags"
        elif here == there:
            what = f"{here} here and when recorded; the base image id changed too"
        else:
            what = f"{here} here, {there} when recorded" + (
                "" if same_base else "; the base image id changed too"
            )
        notes = (f"this machine differs from the golden's: {what}",)
    fresh = (fresh_baseline or not attributable or same_machine is not True) and not same_lock
    return Reference(fresh=fresh, same_machine=same_machine, same_lock=same_lock, notes=notes)


def lock_diff(old: Lock, new: Lock, base: BaseImage) -> tuple[LockChange, ...]:
    """Packages whose version differs between two locks, for the base image's platform."""
    before = {req.name: req.version for req in old.for_target(base.target)}
    after = {req.name: req.version for req in new.for_target(base.target)}
    return tuple(
        LockChange(name=name, old=before.get(name), new=after.get(name))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    )


def golden_lock_diff(
    golden: Mapping[str, Any], candidate: Lock, base: BaseImage
) -> tuple[LockChange, ...] | None:
    """Packages whose version differs between the lock the golden (golden.json) was recorded
    with and ``candidate``; None when golden.json does not list its lock's requirements."""
    lock = golden.get("lock")
    listed = lock.get("requirements") if isinstance(lock, dict) else None
    if not isinstance(listed, list):
        return None
    before: dict[str, str | None] = {}
    for entry in listed:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            return None
        version = entry.get("version")
        before[entry["name"]] = version if isinstance(version, str) else None
    after = {req.name: req.version for req in candidate.for_target(base.target)}
    return tuple(
        LockChange(name=name, old=before.get(name), new=after.get(name))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    )


def suite_lock_moved(suite: Suite, setup: Setup) -> str | None:
    """A note when the suite's own lock is no longer the one its golden was recorded with (the
    lock was updated, the golden not yet accepted); None when it is the same, or unknown."""
    lock = setup.golden.meta.get("lock")
    recorded = lock.get("sha256") if isinstance(lock, dict) else None
    if not isinstance(recorded, str) or recorded == setup.baseline.digest(setup.base.target):
        return None
    changes = golden_lock_diff(setup.golden.meta, setup.baseline, setup.base)
    listed = ", ".join(str(change) for change in changes or ()) or "its hashes or markers"
    return (
        f"the suite's lock changed since the golden was recorded ({listed}); to accept the "
        f"new behaviour: `repro golden record --suite {suite.name} --force`"
    )


# --- running -------------------------------------------------------------------------------


def _inputs(suite: Suite) -> Path:
    path = suite.inputs_path
    if not path.is_file():
        raise UsageError(f"suite {suite.name}: inputs {display(path)}: no such file")
    return path


def _mounts(suite: Suite, inputs: Path, runner_file: Path, out: Path) -> list[Mount]:
    mounts = []
    for entry in suite.source:
        host = suite.path(entry)
        if not host.exists():
            raise UsageError(f"suite {suite.name}: source {entry}: no such file or directory")
        target = posixpath.normpath(f"{WORKDIR}/{Path(entry).as_posix()}")
        mounts.append(Mount(target, str(host.resolve()), type="bind", read_only=True))
    mounts.append(Mount(INPUTS_PATH, str(inputs.resolve()), type="bind", read_only=True))
    mounts.append(Mount(RUNNER_PATH, str(runner_file), type="bind", read_only=True))
    mounts.append(Mount(OUT_DIR, str(out), type="bind", read_only=False))
    return mounts


def _command(suite: Suite) -> list[str]:
    command = [
        images.PYTHON,
        RUNNER_PATH,
        "--entrypoint",
        suite.entrypoint,
        "--inputs",
        INPUTS_PATH,
        "--out",
        OUT_DIR,
        "--deadline",
        f"{suite.timeout + RUNNER_GRACE:.3f}",
        "--max-input",
        str(suite.memory_bytes),
    ]
    for entry in suite.pythonpath:
        command += ["--pythonpath", posixpath.normpath(f"{WORKDIR}/{Path(entry).as_posix()}")]
    return command


def _tail(text: str, lines: int) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines()]
    if len(kept) > lines:
        kept = ["...", *kept[-lines:]]
    return "\n".join(kept)


_OWN_FRAMES = 4
"""Frames of the project's own code kept above a cut traceback's tail."""


def traceback_excerpt(trace: str, lines: int) -> str:
    """The last ``lines`` lines of a traceback, and above them the project's own frames (files
    under /work) that the cut would drop: where its code called into what failed."""
    kept = [line.rstrip() for line in trace.strip().splitlines()]
    if len(kept) <= lines:
        return "\n".join(kept)
    head, tail = kept[:-lines], kept[-lines:]
    own: list[list[str]] = []
    for index, line in enumerate(head):
        if line.lstrip().startswith(f'File "{WORKDIR}/'):
            frame = [line]
            following = head[index + 1] if index + 1 < len(head) else ""
            if following and not following.lstrip().startswith("File "):
                frame.append(following)
            own.append(frame)
    shown = [line for frame in own[-_OWN_FRAMES:] for line in frame]
    return "\n".join([*head[:1], *shown, "...", *tail])


class OutputError(Exception):
    """What the container left in ``/out`` is refused; the message is the run's error."""


def _read_result(out: Path) -> dict[str, Any] | None:
    """result.json, or None when the run wrote none; raises :class:`OutputError` when refused."""
    path = out / runner.RESULT
    if not os.path.lexists(path):
        return None
    try:
        data = read_json(path, what=f"{OUT_DIR}/{runner.RESULT}", follow_symlinks=False)
    except UntrustedInputError as exc:
        raise OutputError(str(exc)) from None
    return data if isinstance(data, dict) else None


def _read_outputs(out: Path, suite: Suite) -> dict[str, Array]:
    """outputs.npz: a regular file, its arrays' declared size within the suite's max-output."""
    what = f"{OUT_DIR}/{runner.OUTPUTS}"
    limit = suite.max_output_bytes
    try:
        with open_regular(out / runner.OUTPUTS, limit=limit, follow_symlinks=False) as handle:
            return read_npz(handle, limit=limit, what=what)
    except FileTooLargeError as exc:
        raise OutputError(
            f"{what} is {runner.human_size(exc.size)}, over the suite's max-output "
            f"({suite.max_output})"
        ) from None
    except OSError as exc:
        raise OutputError(f"{what}: {refusal(exc)}") from None
    except NpzError as exc:
        raise OutputError(str(exc)) from None


def run_suite(session: Session, suite: Suite, env: EnvImage, *, label: str = "") -> RunResult:
    """Run the suite's entrypoint once in ``env``; a failure of the run is the result, not raised.

    Raises only when the question cannot be answered (the daemon failed) or the suite's own
    files are missing.
    """
    inputs = _inputs(suite)
    session.progress(f"running {suite.name}{label} in {env.tag}")
    # Only the daemon needs to reach what is mounted: no other user of this machine may reach
    # what the container writes (a setuid file, say) while it exists.
    work = Path(tempfile.mkdtemp(prefix="reprolock-run-"))
    try:
        out = work / "out"
        out.mkdir()
        out.chmod(0o777)  # the container's user (10001) writes here
        runner_file = work / "runner.py"
        runner_file.write_text(
            resources.files("reprolock.harness").joinpath("runner.py").read_text("utf-8"),
            encoding="utf-8",
        )
        runner_file.chmod(0o644)
        return _run_in(session, suite, env, inputs=inputs, out=out, runner_file=runner_file)
    finally:
        problem = remove_tree(work)
        if problem is not None:
            session.warn(f"warning: could not remove the run's temporary files: {problem}")


def _run_in(
    session: Session, suite: Suite, env: EnvImage, *, inputs: Path, out: Path, runner_file: Path
) -> RunResult:
    command = _command(suite)
    options: dict[str, Any] = {
        **confined(
            memory=suite.memory_bytes,
            pids=PIDS_LIMIT,
            user=f"{images.USER_ID}:{images.USER_ID}",
            tmp_size=suite.memory_bytes,
        ),
        "entrypoint": command[:1],
        "working_dir": WORKDIR,
        "environment": dict(RUN_ENVIRONMENT),
        "mounts": _mounts(suite, inputs, runner_file, out),
    }
    with managed_container(
        session.client,
        image=env.id,
        command=command[1:],
        purpose="run",
        run_id=uuid.uuid4().hex,
        deadline=suite.timeout + RUNNER_GRACE,
        **options,
    ) as container:
        with daemon_errors("starting the suite's container"):
            container.start()
        started = time.monotonic()
        timed_out = False
        try:
            container.wait(timeout=suite.timeout)
        except requests.exceptions.RequestException as exc:
            if time.monotonic() - started < suite.timeout:
                raise DockerUnavailableError(
                    f"lost the Docker daemon while running {suite.name}: {exc}"
                ) from None
            timed_out = True
            # It may have finished in the meantime: then there is nothing to kill.
            with contextlib.suppress(docker.errors.APIError):
                container.kill()
        with daemon_errors("reading the suite's container"):
            container.reload()
            state = container.attrs.get("State") or {}
            logs = container.logs(stdout=True, stderr=True, tail=_LOG_LINES)
    log_text = logs.decode("utf-8", "replace")
    try:
        result = _read_result(out)
    except OutputError as exc:
        return RunResult(env=env, outputs=None, facts={}, error=f"refused the run's output: {exc}")
    facts = (result or {}).get("facts")
    facts = facts if isinstance(facts, dict) else {}
    found = (result or {}).get("warnings")
    warnings = tuple(str(w) for w in found) if isinstance(found, list) else ()
    error = _failure(suite, state, result, log_text, timed_out=timed_out)
    if error is not None:
        return RunResult(
            env=env, outputs=None, facts=facts, error=excerpt(error), warnings=warnings
        )
    try:
        outputs = _read_outputs(out, suite)
    except OutputError as exc:
        return RunResult(
            env=env,
            outputs=None,
            facts=facts,
            error=excerpt(f"refused the run's output: {exc}"),
        )
    return RunResult(env=env, outputs=outputs, facts=facts, warnings=warnings)


def _failure(
    suite: Suite,
    state: Mapping[str, Any],
    result: Mapping[str, Any] | None,
    logs: str,
    *,
    timed_out: bool,
) -> str | None:
    if timed_out or (state.get("ExitCode") == runner.TIMED_OUT and result is None):
        return f"timed out after {suite.timeout:g} s"
    if state.get("OOMKilled"):
        return f"memory limit {suite.memory} exceeded"
    code = state.get("ExitCode")
    if result is not None and result.get("status") == "error":
        message = str(result.get("error") or "the entrypoint failed")
        trace = result.get("traceback")
        if isinstance(trace, str) and trace.strip():
            # The traceback ends with the full exception text: the headline keeps one line.
            message = message.splitlines()[0] + "\n" + traceback_excerpt(trace, _TRACEBACK_LINES)
        if "MemoryError" in message:
            message = f"memory limit {suite.memory} exceeded: {message}"
        hint = sandbox_hint(message)
        return message if hint is None else f"{message}\n{hint}"
    if code != 0 or result is None or result.get("status") != "ok":
        if code == 137:
            # SIGKILL from the kernel: the memory cgroup, even when the flag was not set.
            return f"killed (exit 137), probably the memory limit {suite.memory}"
        tail = _tail(logs, _LOG_LINES) or "no output"
        return f"the run exited with status {code} and no result:\n{tail}"
    return None


_READ_ONLY = ("Read-only file system", "[Errno 30]")
_OFFLINE = (
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "[Errno -3]",
    "[Errno 101]",
    "Failed to establish a new connection",
    "getaddrinfo failed",
)


def sandbox_hint(error: str) -> str | None:
    """A line saying which of the run's confinements an error comes from, or None."""
    if any(marker in error for marker in _READ_ONLY):
        return (
            f"(the run's file system is read-only but for {CONTAINER_TMP} and {OUT_DIR}: "
            f"write scratch files to {CONTAINER_TMP})"
        )
    if any(marker in error for marker in _OFFLINE):
        return "(the run has no network: ship models and data in the suite's source or inputs)"
    return None


# --- golden --------------------------------------------------------------------------------


def load_golden(suite: Suite) -> Golden:
    """The suite's golden outputs and golden.json; exit 3 when missing or unreadable."""
    npz, meta_path = suite.golden_path, suite.golden_json_path
    for path in (npz, meta_path):
        if not path.is_file():
            raise GoldenError(
                f"{display(path)}: no golden recorded for suite {suite.name} "
                f"(run `repro golden record --suite {suite.name}`)"
            )
    try:
        meta = read_json(meta_path, what="unreadable golden", follow_symlinks=True)
    except UntrustedInputError as exc:
        raise GoldenError(f"{display(meta_path)}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("schema") != GOLDEN_SCHEMA:
        raise GoldenError(
            f"{display(meta_path)}: not a golden.json of schema {GOLDEN_SCHEMA} "
            f"(record it again with `repro golden record --suite {suite.name} --force`)"
        )
    wrong = _wrong_golden_field(meta)
    if wrong is not None:
        raise GoldenError(
            f"{display(meta_path)}: unreadable golden: {wrong} (record it again with "
            f"`repro golden record --suite {suite.name} --force`)"
        )
    limit = suite.max_output_bytes
    try:
        with open_regular(npz, limit=limit, follow_symlinks=True) as handle:
            # The digest first: a golden that golden.json does not vouch for is never unpacked.
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            if meta.get("golden_sha256") != digest.hexdigest():
                raise GoldenError(
                    f"{display(npz)}: does not match {meta_path.name} (sha256 differs); "
                    f"record it again with `repro golden record --suite {suite.name} --force`"
                )
            handle.seek(0)
            outputs = read_npz(handle, limit=limit, what=npz.name)
    except OSError as exc:
        raise GoldenError(f"{display(npz)}: unreadable golden: {refusal(exc)}") from None
    except NpzError as exc:
        raise GoldenError(f"{display(npz)}: unreadable golden: {exc}") from None
    return Golden(outputs=outputs, meta=meta)


_GOLDEN_OBJECTS = ("source", "inputs", "base_image", "environment", "machine", "noise")


def _wrong_golden_field(meta: Mapping[str, Any]) -> str | None:
    """Why golden.json's fields that replay reads have the wrong types, or None."""
    for key in _GOLDEN_OBJECTS:
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            return f"{key} is not an object"
    for name, value in (meta.get("noise") or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"noise of {name} is not a number"
    return None


def _environment_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("python", "implementation", "platform", "machine", "cpu", "blas", "distributions")
    return {key: facts.get(key) for key in keep}


def _write_golden(
    suite: Suite, outputs: Mapping[str, Array], meta: dict[str, Any]
) -> tuple[Path, Path]:
    npz, meta_path = suite.golden_path, suite.golden_json_path
    npz.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_npz_name = tempfile.mkstemp(prefix=f".{npz.name}.", suffix=".tmp", dir=npz.parent)
    os.close(fd)
    fd, tmp_meta_name = tempfile.mkstemp(
        prefix=f".{meta_path.name}.", suffix=".tmp", dir=meta_path.parent
    )
    os.close(fd)
    tmp_npz, tmp_meta = Path(tmp_npz_name), Path(tmp_meta_name)
    try:
        runner.save_npz(str(tmp_npz), outputs)
        meta["golden_sha256"] = file_sha256(tmp_npz)
        tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for tmp in (tmp_npz, tmp_meta):
            tmp.chmod(0o644)
        # Both files are complete before either replaces the old pair; golden_sha256 ties
        # them, so a pair torn by a crash between the two renames is refused at replay.
        os.replace(tmp_npz, npz)
        os.replace(tmp_meta, meta_path)
    finally:
        tmp_npz.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)
    return npz, meta_path


def _relative_to_config(suite: Suite, path: Path) -> str:
    try:
        return path.resolve().relative_to(suite.base_dir.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def record(session: Session, suite: Suite, *, force: bool = False) -> RecordOutcome:
    """Build the suite's environment, run it twice, write golden.npz and golden.json."""
    npz, meta_path = suite.golden_path, suite.golden_json_path
    existing = [p for p in (npz, meta_path) if p.exists()]
    if existing and not force:
        raise UsageError(f"{display(existing[0])} already exists; pass --force to record over it")
    inputs = _inputs(suite)
    source_sha = source_tree_sha256(suite)
    lock = read_lock(suite.lock_path)
    base = session.base_image(suite)
    try:
        env = session.ensure_image(lock, base)
    except BuildError as exc:
        raise RecordError(f"suite {suite.name}: {exc.report}") from None
    runs: list[tuple[RunResult, Mapping[str, Array]]] = []
    for number in (1, 2):
        run = run_suite(session, suite, env, label=f", run {number} of 2,")
        if run.outputs is None:
            raise RecordError(f"suite {suite.name} is broken: {run.error}")
        runs.append((run, run.outputs))
    (first, outputs), (_, again) = runs
    unknown = unknown_outputs(suite, outputs)
    if unknown is not None:
        raise ConfigError(f"suite {suite.name}: nothing recorded: {unknown}")
    noise = measure_noise(outputs, again)
    repeat = repeatability(suite, outputs, again, noise)
    deterministic = repeat.verdict is Verdict.IDENTICAL
    meta: dict[str, Any] = {
        "schema": GOLDEN_SCHEMA,
        "suite": suite.name,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "reprolock_version": __version__,
        "format_version": images.FORMAT_VERSION,
        "entrypoint": suite.entrypoint,
        "lock": {
            "path": _relative_to_config(suite, suite.lock_path),
            "sha256": env.lock_digest,
            "requirements": [
                {"name": req.name, "version": req.version} for req in env.requirements
            ],
        },
        "image": {"tag": env.tag, "id": env.id},
        "base_image": base.to_dict(),
        "inputs": {"path": _relative_to_config(suite, inputs), "sha256": file_sha256(inputs)},
        "source": {"paths": list(suite.source), "sha256": source_sha},
        "environment": _environment_facts(first.facts),
        "machine": machine_fingerprint(first.facts),
        "outputs": {
            name: {"dtype": str(array.dtype), "shape": list(array.shape)}
            for name, array in sorted(outputs.items())
        },
        "noise": noise,
        "warnings": list(first.warnings),
    }
    written = _write_golden(suite, outputs, meta)
    return RecordOutcome(
        golden=written[0],
        meta=written[1],
        noise=noise,
        deterministic=deterministic,
        accepted={name: value for name, value in accepted_noise(suite, meta).items() if value > 0},
    )


def repeatability(
    suite: Suite, first: Mapping[str, Array], again: Mapping[str, Array], noise: Mapping[str, float]
) -> Comparison:
    """The second run against the first, with the suite's tolerances and the noise it accepts;
    raises :class:`RecordError` naming every output that differs beyond them.

    An output that moves between two runs of one environment is not checked by any later
    replay: its golden is one draw among many. Recording it needs a seed, or an explicit
    ``noise = "accept"`` (float outputs) or ``max-label-flip-rate`` (exact ones).
    """
    default, per_output = tolerances(suite)
    allowed = accepted_noise(suite, {"noise": noise})
    repeat = compare(first, again, default=default, per_output=per_output, noise=allowed)
    differing = [out for out in repeat.outputs if out.verdict not in _OK]
    if not differing:
        return repeat
    problems = []
    for out in differing:
        table = suite.output_table(out.name)
        if out.name in noise:
            shown = "?" if out.max_abs is None else f"{out.max_abs:.3g}"
            problems.append(
                f"output {out.name} differs between the two runs (max abs {shown}): set a seed, "
                f'or allow noise for it with `noise = "accept"` in {table}'
            )
        elif out.total and out.label_flips is not None:
            rate = out.label_flips / out.total
            problems.append(
                f"output {out.name} differs between the two runs ({out.label_flips} of "
                f"{out.total} elements): set a seed, or allow it with "
                f"`max-label-flip-rate = {_rate_ceiling(rate)}` in {table}"
            )
        else:
            problems.append(f"output {out.name} differs between the two runs: set a seed")
    raise RecordError(f"suite {suite.name}: nothing recorded: " + "; ".join(problems))


def _rate_ceiling(rate: float) -> str:
    """A round flip rate at least ``rate`` (and at most 1), as a config value."""
    for digits in range(2, 7):
        scale = 10**digits
        ceiling = math.ceil(rate * scale) / scale
        if ceiling < 2 * rate or ceiling >= 1:
            return f"{min(ceiling, 1.0):g}"
    return f"{rate:g}"


# --- replay --------------------------------------------------------------------------------


def _attribution(suite: Suite, golden: Golden, inputs: Path) -> tuple[bool, list[str]]:
    changed = []
    if (golden.meta.get("source") or {}).get("sha256") != source_tree_sha256(suite):
        changed.append("the entrypoint source")
    if (golden.meta.get("inputs") or {}).get("sha256") != file_sha256(inputs):
        changed.append("the inputs")
    if not changed:
        return True, []
    what = " and ".join(changed)
    verb = "changed" if len(changed) == 1 else "both changed"
    return False, [
        f"not attributable: {what} {verb} since the golden was recorded "
        f"(record it again with `repro golden record --suite {suite.name} --force`)"
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class Setup:
    """What a replay and a bisect start from, before anything is built."""

    golden: Golden
    """The suite's golden."""
    baseline: Lock
    """The suite's own lock."""
    candidate: Lock
    """The candidate lock (the suite's own when none was given)."""
    base: BaseImage
    """The suite's base image, probed."""
    report: ReplayReport
    """The report so far: ``broken`` until the candidate runs."""

    @property
    def same_lock(self) -> bool:
        """Whether the candidate installs exactly the suite's own lock on this base image."""
        target = self.base.target
        return self.candidate.digest(target) == self.baseline.digest(target)


def set_up(
    session: Session, suite: Suite, candidate: Path | None, *, warn_tag: bool = False
) -> Setup:
    """Load the golden and both locks, probe the base image, start the report."""
    golden = load_golden(suite)
    inputs = _inputs(suite)
    baseline = read_lock(suite.lock_path)
    candidate_lock = read_lock(candidate) if candidate is not None else baseline
    attributable, notes = _attribution(suite, golden, inputs)
    base = session.base_image(suite, warn_tag=warn_tag)
    report = ReplayReport(
        suite=suite.name,
        verdict=Verdict.BROKEN,
        attributable=attributable,
        candidate_lock=display(candidate if candidate is not None else suite.lock_path),
        lock_diff=lock_diff(baseline, candidate_lock, base),
        notes=tuple(notes),
        machine=Machine(base_image_id=base.id),
    )
    return Setup(
        golden=golden, baseline=baseline, candidate=candidate_lock, base=base, report=report
    )


def tolerances(suite: Suite) -> tuple[Tolerance, dict[str, Tolerance]]:
    """The suite's default tolerance and each output's (its overrides merged with the suite's)."""
    default = Tolerance(
        rtol=suite.rtol, atol=suite.atol, max_label_flip_rate=suite.max_label_flip_rate
    )
    per_output = {
        name: Tolerance(
            rtol=default.rtol if override.rtol is None else override.rtol,
            atol=default.atol if override.atol is None else override.atol,
            max_label_flip_rate=(
                default.max_label_flip_rate
                if override.max_label_flip_rate is None
                else override.max_label_flip_rate
            ),
        )
        for name, override in suite.outputs.items()
    }
    return default, per_output


def accepted_noise(suite: Suite, golden: Mapping[str, Any]) -> dict[str, float]:
    """The recorded run-to-run noise (golden.json: ``golden``) of the outputs whose config says
    ``noise = "accept"``: the noise floor widens only the tolerances that asked for it."""
    recorded = golden.get("noise") or {}
    return {
        name: float(recorded[name])
        for name, override in suite.outputs.items()
        if override.accept_noise and name in recorded
    }


def comparer(
    suite: Suite, golden: Golden
) -> Callable[[Mapping[str, Array], Mapping[str, Array]], Comparison]:
    """``compare(reference, outputs)`` with the suite's tolerances (per output, merged with the
    suite's own) and the run-to-run noise the suite accepts."""
    default, per_output = tolerances(suite)
    noise = accepted_noise(suite, golden.meta)

    def against(reference: Mapping[str, Array], outputs: Mapping[str, Array]) -> Comparison:
        return compare(reference, outputs, default=default, per_output=per_output, noise=noise)

    return against


def replay(
    session: Session,
    suite: Suite,
    *,
    candidate: Path | None = None,
    fresh_baseline: bool = False,
) -> ReplayReport:
    """Replay ``suite`` with the ``candidate`` lock (default: the suite's own) and compare."""
    setup = set_up(session, suite, candidate)
    report = setup.report
    since_golden = golden_lock_diff(setup.golden.meta, setup.candidate, setup.base)
    moved = suite_lock_moved(suite, setup)
    if since_golden is not None:
        # Compared with the golden, what differs is what changed since it was recorded.
        report = dataclasses.replace(report, lock_diff=since_golden)
    if moved is not None:
        report = dataclasses.replace(report, notes=(*report.notes, moved))
    try:
        env = session.ensure_image(setup.candidate, setup.base)
    except BuildError as exc:
        return dataclasses.replace(report, error=excerpt(exc.report))
    run = run_suite(session, suite, env)
    report = dataclasses.replace(
        report, image=env.tag, machine=machine_of(run.facts, base_id=setup.base.id, image_id=env.id)
    )
    if run.outputs is None:
        return dataclasses.replace(report, error=excerpt(run.error or "the run failed"))
    reference = choose_reference(
        setup.golden.meta,
        setup.base.id,
        run.facts,
        same_lock=setup.same_lock,
        fresh_baseline=fresh_baseline,
    )
    if moved is not None:
        # The candidate may be the suite's lock, but that is no longer the golden's.
        reference = dataclasses.replace(reference, same_lock=False)
    if reference.fresh:
        # Compared with the suite's own lock run here: the diff is from that lock.
        report = dataclasses.replace(report, lock_diff=setup.report.lock_diff)
    against = comparer(suite, setup.golden)
    notes = []
    if reference.same_machine:
        kernel = kernel_change(setup.golden.meta.get("environment") or {}, run.facts)
        notes.extend([kernel] if kernel else [])
    if reference.fresh:
        fresh, why = _fresh_baseline(session, suite, setup.baseline, setup.base)
        if fresh is not None:
            golden = against(setup.golden.outputs, fresh)
            return reference.conclude(report, against(fresh, run.outputs), golden, notes=notes)
        notes.append(f"the suite's own lock did not run here ({why}); compared with the golden")
    return reference.conclude(report, against(setup.golden.outputs, run.outputs), notes=notes)


def _fresh_baseline(
    session: Session, suite: Suite, lock: Lock, base: BaseImage
) -> tuple[Mapping[str, Array] | None, str]:
    """The outputs of the suite's own lock run here, or None and why it did not run."""
    try:
        env = session.ensure_image(lock, base)
    except BuildError as exc:
        return None, str(exc)
    run = run_suite(session, suite, env, label=" with its own lock")
    if run.outputs is None:
        return None, (run.error or "it failed").splitlines()[0]
    return run.outputs, ""


def select_suites(suites: Mapping[str, Suite], names: Sequence[str] | None) -> list[Suite]:
    """The suites to work on: the named ones, or all of them (in config order)."""
    if not suites:
        raise UsageError(
            "no suites configured: add a [tool.repro.suites.NAME] table "
            "(see README: Compatibility harness)"
        )
    if not names:
        return list(suites.values())
    chosen = []
    for name in names:
        if name not in suites:
            known = ", ".join(suites)
            raise UsageError(f"--suite {name}: no such suite (configured: {known})")
        chosen.append(suites[name])
    return chosen
