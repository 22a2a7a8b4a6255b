"""Environment builds side by side: the ways to build one locked environment, timed in one run.

``python bench/run.py --harness-only`` runs this through ``run.py --worker builds``. Every build
starts from a base image of the bench's own (the suite's base committed again with a
``reprolock.bench`` label: another image id, so no environment image of anyone else's run is
found or touched, and none is reused), with the wheels already in a warm wheel cache: what is
timed is the build alone, with no layer cache. What the bench built is removed at the end.

Variants (the last two are what reprolock does):

- ``plain docker build + pip``: the peer. ``COPY`` the wheels, ``pip install --no-index`` them
  into a venv (pip compiles bytecode), ``rm`` the wheels.
- ``before: build context + pip``: reprolock before this change (the classic builder, the
  wheels in the context, pip from a throwaway venv with ``--require-hashes``).
- ``build context + uv``: the same Dockerfile with uv (``--compile-bytecode``) instead of pip.
- ``mount + pip + commit``: no context: the wheels mounted into a container, pip, ``docker
  commit``.
- ``mount + uv + commit (all bytecode)``: uv ``--compile-bytecode`` (every module, tests too).
- ``mount + uv + commit (no bytecode)``: what the import then compiles at every run.
- ``reprolock: mount + uv + commit``: :func:`reprolock.harness.build.build_image`: uv, the
  installed modules compiled in parallel (tests aside), the venv verified, committed.
- ``reprolock: on a built environment``: the same for a lock a few packages away, built on
  the first lock's image (only the packages that differ are installed); its ratio is taken
  against the cold build of that same lock.
"""

# ruff: noqa: PLC0415 - the harness is imported inside functions, as in run.py

from __future__ import annotations

import io
import json
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STACKS: dict[str, tuple[Path, str, str, str]] = {
    # name: (project, suite, the lock built cold, a lock a few packages away)
    "kmeans (scikit-learn, 6 packages)": (
        REPO / "fixtures" / "projects" / "kmeans-segmenter",
        "segments",
        "fixtures/harness/locks/sklearn-1.3.2.txt",
        "fixtures/harness/locks/sklearn-1.4.2.txt",
    ),
    "jax-features (JAX/jaxlib, 6 packages)": (
        REPO / "fixtures" / "projects" / "jax-features",
        "rff",
        "fixtures/projects/jax-features/locks/jax-0.4.38.txt",
        "fixtures/projects/jax-features/locks/jax-0.5.0.txt",
    ),
}
BENCH_LABEL = "reprolock.bench"
VENV = "/opt/venv"
CHOSEN = "reprolock: mount + uv + commit"
STEP = "reprolock: on a built environment"
COLD_STEP = "reprolock: cold build of that lock"
PLAIN = "plain docker build + pip"


@dataclass(kw_only=True)
class Timing:
    """Every timed build of one variant on one stack."""

    stack: str
    variant: str
    seconds: list[float] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "variant": self.variant,
            "seconds": self.seconds,
            "median": statistics.median(self.seconds) if self.seconds else None,
            "note": self.note,
        }


# --- the bench's own base image --------------------------------------------------------------


@contextmanager
def bench_base(client: Any, reference: str) -> Iterator[str]:
    """A copy of ``reference`` with its own image id; everything built on it is removed after."""
    run_id = uuid.uuid4().hex[:12]
    container = client.containers.create(reference, ["true"], network_mode="none")
    try:
        image = container.commit(
            repository="reprolock-bench-base", tag=run_id, conf={"Labels": {BENCH_LABEL: run_id}}
        )
    finally:
        container.remove(force=True)
    tag = f"reprolock-bench-base:{run_id}"
    try:
        yield tag
    finally:
        remove_built_on(client, str(image.id))
        client.images.remove(tag, force=True)


def remove_built_on(client: Any, base_id: str) -> None:
    """Remove every environment image built on ``base_id`` (children first)."""
    for _ in range(20):
        found = client.images.list(filters={"label": f"reprolock.base-image={base_id}"})
        if not found:
            return
        for image in found:
            try:
                client.images.remove(str(image.id), force=True)
            except Exception:  # noqa: S112 - a parent goes on the next round
                continue


# --- variants ---------------------------------------------------------------------------------


def _requirements(wheels: Sequence[Any]) -> str:
    from reprolock.harness.build import requirements_lines

    return requirements_lines(wheels)


def _context(files: dict[str, bytes | Path]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in sorted(files.items()):
            if isinstance(content, Path):
                tar.add(str(content), arcname=name)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mode = 0o755 if name == "uv" else 0o644
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _docker_build(client: Any, context: bytes, tag: str) -> float:
    started = time.perf_counter()
    error = None
    for chunk in client.api.build(
        fileobj=io.BytesIO(context),
        custom_context=True,
        tag=tag,
        rm=True,
        forcerm=True,
        decode=True,
        pull=False,
        nocache=True,
        network_mode="none",
        labels={"reprolock.bench-build": "1"},
    ):
        if isinstance(chunk, dict) and "error" in chunk:
            error = str(chunk["error"])
    elapsed = time.perf_counter() - started
    client.images.remove(tag, force=True)
    if error:
        raise RuntimeError(f"build failed: {error}")
    return elapsed


_OLD_RUN = f"""\
RUN set -eu; \\
    python3 -m venv --without-pip {VENV}; \\
    python3 -m venv /tmp/reprolock-pip; \\
    /tmp/reprolock-pip/bin/python -m pip --python {VENV}/bin/python install \\
        --no-index --no-deps --require-hashes --only-binary=:all: \\
        --no-cache-dir --disable-pip-version-check --no-input \\
        --find-links /wheels -r /wheels/requirements.txt; \\
    rm -rf /tmp/reprolock-pip /wheels
"""


def plain_build(client: Any, base: str, wheels: Sequence[Any], uv: Path, tag: str) -> float:
    dockerfile = (
        f"FROM {base}\nCOPY wheels/ /wheels/\n"
        f"RUN python3 -m venv {VENV} && {VENV}/bin/pip install --no-index "
        "--find-links /wheels -r /wheels/requirements.txt && rm -rf /wheels\n"
    )
    files: dict[str, bytes | Path] = {
        "Dockerfile": dockerfile.encode(),
        "wheels/requirements.txt": _requirements(wheels).encode(),
    }
    files.update({f"wheels/{w.path.name}": w.path for w in wheels})
    return _docker_build(client, _context(files), tag)


def old_build(client: Any, base: str, wheels: Sequence[Any], uv: Path, tag: str) -> float:
    files: dict[str, bytes | Path] = {
        "Dockerfile": f"FROM {base}\nCOPY wheels/ /wheels/\n{_OLD_RUN}".encode(),
        "wheels/requirements.txt": _requirements(wheels).encode(),
    }
    files.update({f"wheels/{w.path.name}": w.path for w in wheels})
    return _docker_build(client, _context(files), tag)


def _uv_install(compile_all: bool) -> str:
    flag = " --compile-bytecode" if compile_all else ""
    return (
        f"python3 -m venv --without-pip {VENV} && /reprolock/uv pip install --python "
        f"{VENV}/bin/python --offline --no-config --no-index --no-deps --require-hashes "
        f"--no-build --quiet --link-mode hardlink --cache-dir {VENV}/.uv-cache "
        f"--find-links /reprolock/wheels -r /reprolock/requirements.txt{flag} && "
        f"rm -rf {VENV}/.uv-cache"
    )


def context_uv_build(client: Any, base: str, wheels: Sequence[Any], uv: Path, tag: str) -> float:
    dockerfile = (
        f"FROM {base}\nCOPY . /reprolock/\nRUN {_uv_install(compile_all=True)} && "
        "rm -rf /reprolock\n"
    )
    files: dict[str, bytes | Path] = {
        "Dockerfile": dockerfile.encode(),
        "requirements.txt": _requirements(wheels).encode(),
        "uv": uv,
    }
    files.update({f"wheels/{w.path.name}": w.path for w in wheels})
    return _docker_build(client, _context(files), tag)


def _mounted(
    client: Any, base: str, wheels: Sequence[Any], uv: Path, tag: str, *, cmd: str
) -> float:
    from docker.types import Mount

    with tempfile.TemporaryDirectory(prefix="reprolock-bench-stage-") as tmp:
        stage = Path(tmp)
        (stage / "wheels").mkdir()
        for wheel in wheels:
            shutil.copyfile(wheel.path, stage / "wheels" / wheel.path.name)
        shutil.copyfile(uv, stage / "uv")
        (stage / "uv").chmod(0o755)
        (stage / "requirements.txt").write_text(_requirements(wheels), encoding="utf-8")
        stage.chmod(0o755)
        started = time.perf_counter()
        container = client.containers.create(
            base,
            ["sh", "-c", cmd],
            network_mode="none",
            user="0:0",
            mounts=[Mount("/reprolock", str(stage), type="bind", read_only=True)],
            tmpfs={"/tmp": "rw,size=1g"},  # noqa: S108 - the container's own
            labels={"reprolock.run": "bench", "reprolock.purpose": "bench"},
        )
        try:
            container.start()
            status = container.wait()
            if status.get("StatusCode") != 0:
                raise RuntimeError(container.logs().decode()[-500:])
            repository, _, name = tag.partition(":")
            container.commit(repository=repository, tag=name, conf={"Labels": {}})
        finally:
            container.remove(force=True)
        elapsed = time.perf_counter() - started
    client.images.remove(tag, force=True)
    return elapsed


def mount_pip_build(client: Any, base: str, wheels: Sequence[Any], uv: Path, tag: str) -> float:
    cmd = (
        f"python3 -m venv --without-pip {VENV} && python3 -m venv /tmp/pip && /tmp/pip/bin/python "
        f"-m pip --python {VENV}/bin/python install --no-index --no-deps --require-hashes "
        "--only-binary=:all: --no-cache-dir --disable-pip-version-check -q --find-links "
        "/reprolock/wheels -r /reprolock/requirements.txt"
    )
    return _mounted(client, base, wheels, uv, tag, cmd=cmd)


def mount_uv_all(client: Any, base: str, wheels: Sequence[Any], uv: Path, tag: str) -> float:
    return _mounted(client, base, wheels, uv, tag, cmd=_uv_install(compile_all=True))


def mount_uv_none(client: Any, base: str, wheels: Sequence[Any], uv: Path, tag: str) -> float:
    return _mounted(client, base, wheels, uv, tag, cmd=_uv_install(compile_all=False))


def _spec(base_id: str, tag: str) -> Any:
    from reprolock.harness import build
    from reprolock.harness import image as images

    return build.BuildSpec(
        base_id=base_id,
        venv=images.VENV,
        user=images.USER_ID,
        python=images.PYTHON,
        workdir=images.WORKDIR,
        tag=tag,
        # The base image's label, so that the bench's teardown finds what a failed run left.
        labels={"reprolock.bench-build": "1", "reprolock.base-image": base_id},
    )


Variant = Callable[[Any, str, Sequence[Any], Path, str], float]
VARIANTS: dict[str, Variant] = {
    PLAIN: plain_build,
    "before: build context + pip": old_build,
    "build context + uv": context_uv_build,
    "mount + pip + commit": mount_pip_build,
    "mount + uv + commit (all bytecode)": mount_uv_all,
    "mount + uv + commit (no bytecode)": mount_uv_none,
}


# --- one stack --------------------------------------------------------------------------------


def bench_stack(client: Any, stack: str, runs: int, cache: Path) -> list[Timing]:
    """Every variant on one stack, ``runs`` rounds, the variants interleaved in each round."""
    from reprolock.config import load_config
    from reprolock.harness import build, wheelhouse
    from reprolock.harness import image as images
    from reprolock.harness.lockfile import read_lock

    project, suite_name, cold_lock, step_lock = STACKS[stack]
    suite = load_config(project).suites[suite_name]
    timings = {name: Timing(stack=stack, variant=name) for name in [*VARIANTS, CHOSEN]}
    timings[COLD_STEP] = Timing(stack=stack, variant=COLD_STEP)
    timings[STEP] = Timing(stack=stack, variant=STEP)
    with bench_base(client, suite.base_image) as base_tag:
        base = images.resolve_base_image(client, base_tag, cache=cache)

        def wheels_of(path: str) -> tuple[Any, ...]:
            reqs = read_lock(REPO / path).for_target(base.target)
            paths = wheelhouse.fetch_wheels(reqs, base.target, cache=cache)
            return build.wheels_for(reqs, paths)

        cold, step = wheels_of(cold_lock), wheels_of(step_lock)
        uv = build.uv_binary(base.target, cache=cache)
        size = sum(w.size for w in cold) / 1e6
        for timing in timings.values():
            timing.note = f"{len(cold)} wheels, {size:.0f} MB"
        for round_ in range(runs):
            for name, variant in VARIANTS.items():
                tag = f"reprolock-bench:{uuid.uuid4().hex[:12]}"
                timings[name].seconds.append(variant(client, base.id, cold, uv, tag))
            # reprolock's own path: cold, then the step lock cold, then the step on the first.
            first = f"reprolock-bench:{uuid.uuid4().hex[:12]}"
            started = time.perf_counter()
            build.build_image(client, _spec(base.id, first), cold, uv=uv, cache=cache)
            timings[CHOSEN].seconds.append(time.perf_counter() - started)
            other = f"reprolock-bench:{uuid.uuid4().hex[:12]}"
            started = time.perf_counter()
            build.build_image(client, _spec(base.id, other), step, uv=uv, cache=cache)
            timings[COLD_STEP].seconds.append(time.perf_counter() - started)
            client.images.remove(other, force=True)
            found = client.images.get(first)
            remove, install = build.plan_on(
                build.parse_installed(found.labels[build.INSTALLED_LABEL]) or {}, step
            )
            parent = build.Parent(
                tag=first, id=str(found.id), depth=1, remove=remove, install=install
            )
            started = time.perf_counter()
            build.build_image(
                client, _spec(base.id, other), step, uv=uv, cache=cache, parent=parent
            )
            timings[STEP].seconds.append(time.perf_counter() - started)
            timings[STEP].note = (
                f"{len(install)} of {len(step)} wheels installed "
                f"({sum(w.size for w in install) / 1e6:.0f} MB), {len(remove)} removed"
            )
            client.images.remove(other, force=True)
            client.images.remove(first, force=True)
            print(f"builds: {stack}: round {round_ + 1} of {runs} done", file=sys.stderr)
    return list(timings.values())


# --- repro update, before and after --------------------------------------------------------------


def update_demo(client: Any, runs: int, cache: Path, before: str) -> list[Timing]:
    """``repro update`` of fixtures/projects/update-demo end to end, with the source tree of
    ``before`` (a git ref) and with this checkout, alternately; the wheels are warm, every
    environment image is built anew (on the bench's own base image)."""
    import os
    import subprocess

    from reprolock.config import load_config

    demo = REPO / "fixtures" / "projects" / "update-demo"
    suite = load_config(demo).suites["segments"]
    timings = {
        "before": Timing(stack="update-demo", variant=f"repro update, {before}"),
        "after": Timing(stack="update-demo", variant="repro update, this checkout"),
    }
    with tempfile.TemporaryDirectory(prefix="reprolock-bench-update-") as tmp:
        work = Path(tmp)
        old = work / "before"
        old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", before, "src"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(old, filter="data")
        with bench_base(client, suite.base_image) as base_tag:
            base_id = str(client.images.get(base_tag).id)
            for round_ in range(runs):
                for side, src in (("before", old / "src"), ("after", REPO / "src")):
                    project = work / f"project-{side}-{round_}"
                    shutil.copytree(demo, project)
                    config = project / "pyproject.toml"
                    config.write_text(
                        config.read_text(encoding="utf-8").replace(suite.base_image, base_tag),
                        encoding="utf-8",
                    )
                    env = dict(os.environ)
                    env["PYTHONPATH"] = str(src)
                    env["REPROLOCK_CACHE_DIR"] = str(cache)
                    started = time.perf_counter()
                    result = subprocess.run(
                        [sys.executable, "-m", "reprolock", "update", "--report", "report.md"],
                        cwd=project,
                        env=env,
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    elapsed = time.perf_counter() - started
                    remove_built_on(client, base_id)
                    if result.returncode not in (0, 1):
                        raise RuntimeError(f"repro update ({side}): {result.stderr[-800:]}")
                    timings[side].seconds.append(elapsed)
                    timings[side].note = f"exit {result.returncode}; " + (
                        result.stderr.strip().splitlines() or ["?"]
                    )[-1].removeprefix("repro: ")
    return list(timings.values())


def warm_wheels(cache: Path) -> None:
    """Fetch every wheel the benchmarks install, untimed."""
    from reprolock.harness import build, wheelhouse
    from reprolock.harness import image as images
    from reprolock.harness.docker import connect
    from reprolock.harness.lockfile import read_lock

    client = connect()
    paths = [lock for _, _, a, b in STACKS.values() for lock in (a, b)]
    paths += [
        "fixtures/projects/update-demo/requirements/model.txt",
        "fixtures/harness/locks/sklearn-1.4.2-joblib-threadpoolctl.txt",
        "fixtures/harness/locks/sklearn-1.3.2-threadpoolctl-bump.txt",
        "fixtures/harness/locks/sklearn-1.4.2.txt",
    ]
    base = images.resolve_base_image(client, "reprolock-test/python:3.11-bookworm", cache=cache)
    for path in paths:
        reqs = read_lock(REPO / path).for_target(base.target)
        wheelhouse.fetch_wheels(reqs, base.target, cache=cache)
    build.uv_binary(base.target, cache=cache)


def worker(runs: int, cache: Path, before: str, *, update: bool = True) -> dict[str, Any]:
    from reprolock.harness.docker import connect

    warm_wheels(cache)
    client = connect()
    timings: list[Timing] = []
    for stack in STACKS:
        timings += bench_stack(client, stack, runs, cache)
    if update:
        timings += update_demo(client, runs, cache, before)
    return {"timings": [t.to_dict() for t in timings]}


def ratio_lines(timings: Sequence[Mapping[str, Any]]) -> list[str]:
    """The targets: reprolock's cold build / the plain peer (<= 0.5), a build on a built
    environment / a cold build of the same lock (<= 0.25); repro update after / before."""
    by = {(t["stack"], t["variant"]): t["median"] for t in timings}
    lines = []
    for stack in STACKS:
        chosen, plain = by.get((stack, CHOSEN)), by.get((stack, PLAIN))
        step, cold = by.get((stack, STEP)), by.get((stack, COLD_STEP))
        if chosen and plain:
            lines.append(
                f"{stack}: cold build / plain docker+pip = {chosen / plain:.2f} (target <= 0.5)"
            )
        if step and cold:
            lines.append(
                f"{stack}: build on a built environment / cold build of that lock = "
                f"{step / cold:.2f} (target <= 0.25)"
            )
    after = [t["median"] for t in timings if t["stack"] == "update-demo" and "this" in t["variant"]]
    before = [
        t["median"] for t in timings if t["stack"] == "update-demo" and "this" not in t["variant"]
    ]
    if after and before and after[0] and before[0]:
        lines.append(f"update-demo: repro update after / before = {after[0] / before[0]:.2f}")
    return lines


if __name__ == "__main__":  # pragma: no cover - run through run.py --worker builds
    print(json.dumps(worker(1, Path(tempfile.mkdtemp()), "main")))
