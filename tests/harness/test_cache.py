"""repro cache info|prune: counts and sizes; age limits; only reprolock's own images go."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import yaml

from reprolock.cli import main
from reprolock.config import load_config
from reprolock.harness import build, cache, wheelhouse
from reprolock.harness.cache import Keep, apply_prune, golden_keep, lock_key, plan_prune, survey
from reprolock.harness.lockfile import LockedRequirement, TargetEnvironment, read_lock
from tests.harness.conftest import BASE_IMAGE, LOCKS, PROJECT

DAY = 86400
NOW = 1_900_000_000.0


def _file(path: Path, size: int, age_days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = NOW - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


def _wheel(root: Path, hex_digest: str, size: int, age_days: float) -> Path:
    return _file(
        root / "wheels" / "sha256" / hex_digest[:2] / hex_digest / "p-1-py3-none-any.whl",
        size,
        age_days,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "cache"
    _wheel(root, "a" * 64, 100, 30)  # old
    _wheel(root, "b" * 64, 200, 1)  # recent
    _wheel(root, "c" * 64, 300, 30)  # old, but a golden's
    _wheel(root, build.UV_WHEELS["x86_64"][1], 400, 90)  # reprolock's own uv: always kept
    _file(root / "audit" / "old.run.pickle", 10, 30)
    _file(root / "audit" / "new.run.pickle", 20, 0)
    _file(root / "base-images" / "v2-x.json", 5, 30)
    _file(root / "tmp" / "build-dead" / "wheels" / "w.whl", 7, 3)
    return root


def test_info_counts_and_sizes_each_part_of_the_cache(tree: Path) -> None:
    info = survey(tree, None, "no daemon here")
    assert (info.wheels.count, info.wheels.bytes) == (4, 1000)
    assert (info.audit.count, info.audit.bytes) == (2, 30)
    assert (info.other.count, info.other.bytes) == (2, 12)
    assert info.images is None
    assert info.to_dict() == {
        "schema": 1,
        "root": str(tree),
        "wheels": {"count": 4, "bytes": 1000},
        "images": None,
        "images_total_bytes": None,
        "audit": {"count": 2, "bytes": 30},
        "other": {"count": 2, "bytes": 12},
        "docker": "no daemon here",
    }


def test_prune_removes_what_is_older_than_the_limit_and_keeps_goldens_and_tools(
    tree: Path,
) -> None:
    keep = Keep(wheel_hashes=frozenset({"c" * 64}))
    plan = plan_prune(tree, None, older_than_days=14, keep=keep, now=NOW)
    assert [(i.kind, i.name, i.bytes) for i in plan.remove] == [
        ("wheel", f"wheels/sha256/aa/{'a' * 64}/p-1-py3-none-any.whl", 100),
        ("audit", "audit/old.run.pickle", 10),
        ("tmp", "tmp/build-dead", 7),
    ]
    dry = apply_prune(tree, None, plan, dry_run=True)
    assert dry.freed == 117
    assert (tree / "audit" / "old.run.pickle").exists()
    done = apply_prune(tree, None, plan)
    assert (done.freed, done.failed) == (117, ())
    assert not (tree / "audit" / "old.run.pickle").exists()
    assert not (tree / "wheels" / "sha256" / "aa").exists()  # empty folders go too
    assert not (tree / "tmp" / "build-dead").exists()
    assert survey(tree, None).wheels.count == 3


def test_older_than_zero_removes_every_unused_wheel_but_the_goldens(tree: Path) -> None:
    plan = plan_prune(tree, None, older_than_days=0, now=NOW + 1)
    names = {i.name.split("/")[3] for i in plan.remove if i.kind == "wheel"}
    assert names == {"a" * 64, "b" * 64, "c" * 64}


def test_a_wheel_taken_from_the_cache_is_marked_used(tmp_path: Path) -> None:
    data = b"wheel bytes"
    digest = hashlib.sha256(data).hexdigest()
    path = wheelhouse.wheel_path(tmp_path, digest, "p-1-py3-none-any.whl")
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    os.utime(path, (NOW - 30 * DAY, NOW - 30 * DAY))
    req = LockedRequirement(
        name="p", version="1", hashes=(f"sha256:{digest}",), marker=None, source="x:1"
    )
    target = TargetEnvironment(
        python_version="3.11",
        python_full_version="3.11.2",
        implementation_name="cpython",
        platform_machine="x86_64",
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        platform_tags=("py3-none-any",),
    )
    assert wheelhouse.cached_wheel(req, target, tmp_path) == path
    assert path.stat().st_mtime > time.time() - 60


def test_the_lock_key_depends_on_the_pins_and_hashes_only(tmp_path: Path) -> None:
    lines = [
        "numpy==1.26.4 --hash=sha256:" + "a" * 64,
        "scipy==1.11.4 --hash=sha256:" + "b" * 64 + " --hash=sha256:" + "c" * 64,
    ]
    one = tmp_path / "one.txt"
    one.write_text("\n".join(lines) + "\n", encoding="utf-8")
    two = tmp_path / "two.txt"
    two.write_text("# reordered\n" + "\n".join(reversed(lines)) + "\n", encoding="utf-8")
    three = tmp_path / "three.txt"
    three.write_text(lines[0].replace("a" * 64, "d" * 64) + "\n" + lines[1], encoding="utf-8")
    key = lock_key(read_lock(one))
    assert len(key) == 64
    assert lock_key(read_lock(two)) == key
    assert lock_key(read_lock(three)) != key


def test_cache_key_is_the_lock_key_of_what_a_job_installs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "kmeans"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(LOCKS / "sklearn-1.4.2.txt", root / "new.txt")
    monkeypatch.chdir(root)

    def key(*argv: str) -> tuple[int, str, str]:
        code = main(["cache", "key", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    suites = load_config(root).suites
    own = lock_key(read_lock(suites["segments"].lock_path))
    assert key("--suite", "segments") == (0, f"reprolock-wheels-{own}\n", "")
    # A job's suites and its candidate: one key over their lock keys, in any order.
    keys = sorted(
        lock_key(read_lock(path))
        for path in (suites["segments"].lock_path, suites["pickled"].lock_path, root / "new.txt")
    )
    union = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    assert key("--suite", "segments,pickled", "--lock", "new.txt") == (
        0,
        f"reprolock-wheels-{union}\n",
        "",
    )
    assert key("--suite", "pickled", "--suite", "segments", "--lock", "new.txt")[1] == (
        f"reprolock-wheels-{union}\n"
    )
    assert key("--lock", "new.txt")[1] == f"reprolock-wheels-{union}\n"  # every suite
    # --lock "" (a matrix entry replaying the suites' own locks) is no candidate.
    assert key("--suite", "segments", "--lock", "")[1] == f"reprolock-wheels-{own}\n"
    # The candidate's pins decide: another candidate, another key.
    other = key("--suite", "segments", "--lock", "locks/sklearn-1.2.2.txt")[1]
    assert other not in {f"reprolock-wheels-{own}\n", f"reprolock-wheels-{union}\n"}
    assert key("--suite", "nope") == (
        2,
        "",
        "repro: error: --suite nope: no such suite (configured: segments, pickled)\n",
    )
    assert key("--suite", "segments", "--lock", "gone.txt") == (
        2,
        "",
        "repro: error: --lock gone.txt: no such file\n",
    )
    (root / "bad.txt").write_text("numpy>=1\n", encoding="utf-8")
    code, out, err = key("--suite", "segments", "--lock", "bad.txt")
    assert (code, out) == (2, "")
    assert err.startswith("repro: error: bad.txt:1:")


def test_goldens_keep_their_locks_wheels_and_their_recorded_image(tmp_path: Path) -> None:
    root = tmp_path / "kmeans"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "golden" / "pickled" / "golden.json").unlink()  # no golden: not kept
    suites = load_config(root).suites
    keep = golden_keep(suites.values())
    segments = json.loads((root / "golden" / "segments" / "golden.json").read_text())
    assert keep.images == {segments["image"]["tag"], segments["image"]["id"]}
    assert keep.wheel_hashes == cache.lock_hashes(read_lock(suites["segments"].lock_path))
    assert keep.reasons[segments["image"]["tag"]] == (
        "the environment of the golden of suite segments"
    )


# --- the command ---------------------------------------------------------------------------


def test_cache_info_without_a_daemon_reports_the_files_and_says_why_not_the_images(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPROLOCK_CACHE_DIR", str(tree))
    assert main(["cache", "info", "--format", "json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert (data["wheels"], data["images"]) == ({"count": 4, "bytes": 1000}, None)
    assert data["docker"].startswith("cannot reach the Docker daemon at unix:///nonexistent/")
    assert "repro: warning: images not counted: cannot reach the Docker daemon" in captured.err
    assert main(["cache", "info"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[:3] == [
        f"cache: {tree}",
        "  wheels             4  1.0 kB",
        "  images             ?  " + data["docker"],
    ]


def test_cache_prune_without_a_daemon_prunes_the_files_and_exits_3(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPROLOCK_CACHE_DIR", str(tree))
    old = tree / "audit" / "old.run.pickle"
    os.utime(old, (time.time() - 30 * DAY, time.time() - 30 * DAY))
    assert main(["cache", "prune", "--older-than", "14", "--dry-run"]) == 3
    assert old.exists()
    assert "would remove audit audit/old.run.pickle (10 B)\n" in capsys.readouterr().out
    assert main(["cache", "prune", "--older-than", "14", "--format", "json"]) == 3
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert {"kind": "audit", "name": "audit/old.run.pickle", "bytes": 10} in report["removed"]
    assert not old.exists()
    assert "repro: error: images not pruned: cannot reach the Docker daemon" in captured.err


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "inf"])
def test_a_bad_age_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "prune", "--older-than", value]) == 2
    assert "--older-than: expected a number of days" in capsys.readouterr().err


# --- against the daemon --------------------------------------------------------------------


@pytest.fixture
def label(monkeypatch: pytest.MonkeyPatch) -> str:
    """Prunes in these tests see only the images the test labels: the daemon is shared, and
    every other reprolock image on it belongs to someone else's run."""
    own = f"reprolock.test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(cache, "OWN_IMAGE_LABELS", (own,))
    return own


@pytest.fixture
def made(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Ids of images and containers a test makes, removed afterwards whatever happened."""
    ids: list[str] = []
    yield ids
    for each in reversed(ids):
        try:
            docker_client.containers.get(each).remove(force=True)
        except docker.errors.NotFound:
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(each, force=True)


def _image(
    client: docker.DockerClient, made: list[str], labels: dict[str, str], *, on: str = BASE_IMAGE
) -> str:
    container = client.containers.create(on, ["true"], network_mode="none")
    try:
        tag = f"reprolock-test-cache:{uuid.uuid4().hex[:12]}"
        repository, _, name = tag.partition(":")
        image = container.commit(repository=repository, tag=name, conf={"Labels": labels})
    finally:
        container.remove(force=True)
    made.append(str(image.id))
    return tag


def test_prune_removes_only_labelled_images_not_in_use_and_not_built_on(
    docker_client: docker.DockerClient, made: list[str], label: str, tmp_path: Path
) -> None:
    old = _image(docker_client, made, {label: "1"})
    parent = _image(docker_client, made, {label: "1"})
    child = _image(docker_client, made, {label: "1"}, on=parent)
    busy = _image(docker_client, made, {label: "1"})
    recent = _image(docker_client, made, {label: "1"})
    unrelated = _image(docker_client, made, {})
    runner = docker_client.containers.create(busy, ["sleep", "60"], network_mode="none")
    made.append(str(runner.id))
    runner.start()
    # An unlabelled container of someone else's on an unrelated image: untouched.
    stranger = docker_client.containers.create(unrelated, ["sleep", "60"], network_mode="none")
    made.append(str(stranger.id))
    stranger.start()
    root = tmp_path / "cache"
    cache.touch_image(root, recent)
    cache.touch_image(root, child)
    usage = cache._usage_path(root, recent)
    os.utime(usage, (time.time() + 3600, time.time() + 3600))
    os.utime(cache._usage_path(root, child), (time.time() + 3600, time.time() + 3600))
    plan = plan_prune(root, docker_client, older_than_days=0, now=time.time() + 60)
    assert [i.name for i in plan.remove if i.kind == "image"] == [old]
    kept = {i.name: i.reason for i in plan.keep}
    assert kept[busy].startswith("used by the running container ")
    assert kept[parent] == f"built on by {child}"
    result = apply_prune(root, docker_client, plan)
    assert [i.name for i in result.removed] == [old]
    for tag in (parent, child, busy, recent, unrelated):
        docker_client.images.get(tag)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(old)
    stranger.reload()
    assert stranger.status == "running"


def test_the_real_labels_never_select_an_unrelated_image(
    docker_client: docker.DockerClient, made: list[str], tmp_path: Path
) -> None:
    unrelated = _image(docker_client, made, {"org.example.owner": "someone"})
    plan = plan_prune(tmp_path, docker_client, older_than_days=0, now=time.time() + 60)
    chosen = {i.ref for i in plan.remove if i.kind == "image"}
    assert docker_client.images.get(unrelated).id not in chosen
    for image_id in chosen:  # a dry plan: every image it names carries a reprolock label
        labels = docker_client.images.get(image_id).labels or {}
        assert set(labels) & set(cache.OWN_IMAGE_LABELS)


# --- the workflows -------------------------------------------------------------------------

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


@pytest.mark.parametrize(
    ("workflow", "job", "command"),
    [
        ("reproducibility.yml", "replay", "repro replay"),
        ("replay-on-lock-change.yml", "replay", "repro replay"),
        ("dependency-update.yml", "replay", "repro replay"),
    ],
)
def test_the_workflows_prune_the_cache_before_their_docker_work(
    workflow: str, job: str, command: str
) -> None:
    data = yaml.safe_load((WORKFLOWS / workflow).read_text(encoding="utf-8"))
    runs = [str(step.get("run", "")) for step in data["jobs"][job]["steps"]]
    prune = [i for i, run in enumerate(runs) if "repro cache prune" in run]
    work = [i for i, run in enumerate(runs) if command in run]
    assert prune
    assert work
    assert prune[0] < work[0]
    assert "repro cache prune --older-than 7 --keep-goldens" in runs[prune[0]]
