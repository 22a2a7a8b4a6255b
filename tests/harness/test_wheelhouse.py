"""The wheel cache: real downloads through the host's pip, hash checks, cache hits, metadata."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from reprolock.harness import wheelhouse
from reprolock.harness.lockfile import LockedRequirement, LockError, TargetEnvironment, read_lock
from reprolock.harness.wheelhouse import (
    HashMismatchError,
    WheelhouseError,
    cache_dir,
    fetch_wheels,
    read_wheel_metadata,
    wheel_rank,
)
from tests.conftest import FIXTURES

LOCKS = FIXTURES / "harness" / "locks"
PROBE_FIXTURE = FIXTURES / "harness" / "targets" / "python-3.11-bookworm.json"
SIX_WHEEL = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
TPC_WHEEL = "56c1e26c150397e58c4926da8eeee87533b1e32bef131bd4bf6a2f45f3185467"
DOCOPT_SDIST = "49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491"


@pytest.fixture(scope="module")
def target() -> TargetEnvironment:
    return TargetEnvironment.from_probe(json.loads(PROBE_FIXTURE.read_text(encoding="utf-8")))


def requirement(name: str, version: str, *hex_digests: str) -> LockedRequirement:
    return LockedRequirement(
        name=name,
        version=version,
        hashes=tuple(f"sha256:{h}" for h in hex_digests),
        marker=None,
        source="locks/test.txt:1",
    )


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> Path:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(wheelhouse, "_download", refuse)
    monkeypatch.setattr("subprocess.run", refuse)


# --------------------------------------------------------------------------------------------


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REPROLOCK_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "reprolock"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "reprolock"
    monkeypatch.setenv("REPROLOCK_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.setenv("REPROLOCK_CACHE_DIR", "")
    assert cache_dir() == tmp_path / "xdg" / "reprolock"


def test_wheel_rank_prefers_the_most_specific_tag(target: TargetEnvironment) -> None:
    manylinux = "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert wheel_rank("six-1.16.0-py2.py3-none-any.whl", target) == target.platform_tags.index(
        "py3-none-any"
    )
    assert wheel_rank(manylinux, target) == target.platform_tags.index(
        "cp311-cp311-manylinux_2_17_x86_64"
    )
    assert wheel_rank("numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.whl", target) is None
    assert wheel_rank("numpy-1.26.4-cp311-cp311-win_amd64.whl", target) is None
    assert wheel_rank("numpy-1.26.4-cp311-cp311-musllinux_1_1_x86_64.whl", target) is None
    assert wheel_rank("not-a-wheel.tar.gz", target) is None


@pytest.mark.network
def test_fetch_downloads_verifies_and_caches_then_never_downloads_again(
    tmp_path: Path, target: TargetEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = read_lock(LOCKS / "small" / "requirements.txt")
    reqs = lock.for_target(target)
    cache = tmp_path / "cache"
    lines: list[str] = []
    wheels = fetch_wheels(reqs, target, cache=cache, progress=lines.append)
    six = cache / "wheels/sha256/8a" / SIX_WHEEL / "six-1.16.0-py2.py3-none-any.whl"
    tpc = cache / "wheels/sha256/56" / TPC_WHEEL / "threadpoolctl-3.5.0-py3-none-any.whl"
    assert wheels == [six, tpc]
    assert hashlib.sha256(six.read_bytes()).hexdigest() == SIX_WHEEL
    assert hashlib.sha256(tpc.read_bytes()).hexdigest() == TPC_WHEEL
    # the two downloads run in parallel: numbering follows start order, not lock order
    assert sorted(line.split()[1] for line in lines) == ["1/2", "2/2"]
    assert sorted((line.split()[0], line.split()[2]) for line in lines) == [
        ("downloading", "six==1.16.0"),
        ("downloading", "threadpoolctl==3.5.0"),
    ]
    assert files_under(cache) == sorted(str(w.relative_to(cache)) for w in wheels)

    no_downloads(monkeypatch)
    again: list[str] = []
    assert fetch_wheels(reqs, target, cache=cache, progress=again.append) == wheels
    assert again == []


@pytest.mark.network
def test_a_damaged_cached_wheel_is_downloaded_again(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    req = requirement("six", "1.16.0", SIX_WHEEL)
    cache = tmp_path / "cache"
    (first,) = fetch_wheels([req], target, cache=cache)
    first.write_bytes(b"not the wheel any more")
    lines: list[str] = []
    (second,) = fetch_wheels([req], target, cache=cache, progress=lines.append)
    assert second == first
    assert hashlib.sha256(second.read_bytes()).hexdigest() == SIX_WHEEL
    assert lines == ["downloading 1/1 six==1.16.0"]


@pytest.mark.network
def test_a_wrong_hash_raises_and_caches_nothing(tmp_path: Path, target: TargetEnvironment) -> None:
    wrong = "0" * 64
    req = requirement("six", "1.16.0", wrong)
    cache = tmp_path / "cache"
    with pytest.raises(HashMismatchError) as info:
        fetch_wheels([req], target, cache=cache)
    assert str(info.value) == (
        f"six==1.16.0 (locks/test.txt:1): six-1.16.0-py2.py3-none-any.whl has sha256:{SIX_WHEEL}, "
        f"expected sha256:{wrong}; the file was deleted"
    )
    assert info.value.exit_code == 3
    assert files_under(cache) == []


def test_a_package_with_only_an_sdist_has_no_wheel_for_the_target(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    req = requirement("docopt", "0.6.2", DOCOPT_SDIST)
    with pytest.raises(WheelhouseError) as info:
        fetch_wheels([req], target, cache=tmp_path / "cache")
    assert str(info.value) == (
        "docopt==0.6.2 (locks/test.txt:1): no wheel for the target Python 3.11.2 "
        f"(cp311, manylinux_2_36_x86_64) among its {len(target.platform_tags)} compatible "
        "tags; the harness installs binary wheels only"
    )
    assert not isinstance(info.value, HashMismatchError)
    assert info.value.exit_code == 3
    assert files_under(tmp_path / "cache") == []


@pytest.mark.network
def test_a_version_that_does_not_exist_names_the_package(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    good = requirement("six", "1.16.0", SIX_WHEEL)
    bad = requirement("threadpoolctl", "0.0.99", TPC_WHEEL)
    with pytest.raises(WheelhouseError, match=r"^threadpoolctl==0\.0\.99 \(locks/test\.txt:1\): "):
        fetch_wheels([good, bad], target, cache=tmp_path / "cache")


def test_pip_download_command_targets_the_image_not_the_host(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    command = wheelhouse.pip_download_command(
        requirement("six", "1.16.0", SIX_WHEEL), target, tmp_path
    )
    assert command[1:9] == [
        "-P",
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        *[
            "--no-input",
            "--disable-pip-version-check",
        ],
    ]
    text = " ".join(command)
    assert "--python-version 3.11 --implementation cp --abi cp311 " in text
    assert "--platform manylinux_2_36_x86_64 " in text
    assert "--platform manylinux1_x86_64 " in text
    assert text.endswith(f"--dest {tmp_path} -- six==1.16.0")
    assert "install" not in command


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("-revil", "1.0", "locks/test.txt:1: invalid package name '-revil'"),
        ("six", "--no-binary=:all:", "locks/test.txt:1: invalid version '--no-binary=:all:'"),
        ("six", "", "locks/test.txt:1: invalid version ''"),
    ],
)
def test_pip_download_command_refuses_an_option_like_pin(
    tmp_path: Path, target: TargetEnvironment, name: str, version: str, message: str
) -> None:
    # Lock readers refuse these names and versions; this is the last check before pip.
    with pytest.raises(LockError) as info:
        wheelhouse.pip_download_command(requirement(name, version, SIX_WHEEL), target, tmp_path)
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_pip_never_reads_a_requirements_file_named_by_a_pin(
    tmp_path: Path, target: TargetEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 15: `name = "-revil"` made `pip download ... -revil==1.0` read `-r evil==1.0` from
    # the working directory (the audited repository). Even a pin that got past the readers
    # reaches pip after `--`, run in a directory of its own: the canary is never read.
    repository = tmp_path / "repository"
    repository.mkdir()
    (repository / "evil==1.0").write_text("-r canary-was-read.txt\n", encoding="utf-8")
    monkeypatch.chdir(repository)
    runs: list[tuple[list[str], object]] = []
    real_run = subprocess.run

    def spy(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        runs.append((command, kwargs.get("cwd")))
        return real_run(command, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(wheelhouse, "pip_download_command", _unchecked_command)
    monkeypatch.setattr(subprocess, "run", spy)
    evil = requirement("-revil", "1.0", SIX_WHEEL)
    with pytest.raises(WheelhouseError) as info:
        fetch_wheels([evil], target, cache=tmp_path / "cache")
    ((command, cwd),) = runs
    assert command[-2:] == ["--", "-revil==1.0"]
    assert cwd is not None
    assert Path(str(cwd)).resolve() != repository.resolve()
    assert "canary-was-read" not in str(info.value)
    assert "Invalid requirement" in str(info.value)


def _unchecked_command(req: LockedRequirement, target: TargetEnvironment, dest: Path) -> list[str]:
    """pip_download_command without its own name check, to prove the `--` alone holds."""
    checked = requirement("placeholder", "1.0", SIX_WHEEL)
    command = ORIGINAL_COMMAND(checked, target, dest)
    return [*command[:-1], req.pin]


ORIGINAL_COMMAND = wheelhouse.pip_download_command


def test_pip_failures_become_one_line_errors(target: TargetEnvironment) -> None:
    req = requirement("six", "1.16.0", SIX_WHEEL)
    error = wheelhouse._pip_failure(
        req,
        target,
        "Looking in indexes: https://pypi.org/simple\n"
        "WARNING: Retrying (Retry(total=4)) after connection broken\n"
        "ERROR: Could not install packages due to an OSError: "
        "HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded\n",
    )
    assert str(error) == (
        "six==1.16.0 (locks/test.txt:1): pip download failed: Could not install packages due "
        "to an OSError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded"
    )
    missing_pip = wheelhouse._pip_failure(req, target, "/usr/bin/python3: No module named pip\n")
    assert str(missing_pip).startswith("six==1.16.0: pip is not installed for ")


@pytest.mark.network
def test_read_wheel_metadata_of_a_real_wheel(tmp_path: Path, target: TargetEnvironment) -> None:
    (wheel,) = fetch_wheels(
        [requirement("threadpoolctl", "3.5.0", TPC_WHEEL)], target, cache=tmp_path
    )
    metadata = read_wheel_metadata(wheel)
    assert (metadata["Name"], metadata["Version"]) == ("threadpoolctl", "3.5.0")
    assert metadata["Requires-Python"] == ">=3.8"


def test_read_wheel_metadata_picks_the_distribution_the_file_name_names(tmp_path: Path) -> None:
    wheel = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "vendored-2.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: vendored\n"
        )
        archive.writestr(
            "demo_pkg-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n"
            "Requires-Dist: numpy>=1.24\nRequires-Dist: scipy; extra == 'full'\n",
        )
        archive.writestr("demo_pkg/sub/x.dist-info/METADATA", "Name: nested\n")
    metadata = read_wheel_metadata(wheel)
    assert metadata["Name"] == "demo-pkg"
    assert metadata.get_all("Requires-Dist") == ["numpy>=1.24", "scipy; extra == 'full'"]


def test_read_wheel_metadata_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(WheelhouseError, match=r"^broken-1\.0-py3-none-any\.whl: not a readable"):
        read_wheel_metadata(broken)
    empty = tmp_path / "empty-1.0-py3-none-any.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("empty/__init__.py", "")
    with pytest.raises(WheelhouseError) as info:
        read_wheel_metadata(empty)
    assert str(info.value) == "empty-1.0-py3-none-any.whl: no .dist-info/METADATA in the wheel"
