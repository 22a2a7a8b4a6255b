"""The wheel cache: download each locked wheel once with the host's pip, verify it, keep it."""

from __future__ import annotations

import contextlib
import email.message
import email.parser
import email.policy
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from reprolock.errors import UnansweredError
from reprolock.files import cache_dir
from reprolock.harness.installer import record_digest
from reprolock.harness.lockfile import LockedRequirement, LockError, TargetEnvironment, pin_problem

MAX_PARALLEL_DOWNLOADS = 4
"""pip processes running at once."""

DOWNLOAD_TIMEOUT = 900.0
"""Seconds one ``pip download`` may take."""


class WheelhouseError(UnansweredError):
    """A locked wheel could not be obtained (exit 3); the message names the package."""


class HashMismatchError(WheelhouseError):
    """A downloaded file's sha256 is not one the lock lists; the file was deleted."""


def wheel_path(cache: Path, sha256_hex: str, filename: str) -> Path:
    """The content-addressed place of a wheel: ``wheels/sha256/<hex[:2]>/<hex>/<filename>``."""
    return _hash_dir(cache, sha256_hex) / filename


def _hash_dir(cache: Path, sha256_hex: str) -> Path:
    return cache / "wheels" / "sha256" / sha256_hex[:2] / sha256_hex


def wheel_rank(filename: str, target: TargetEnvironment) -> int | None:
    """Preference of wheel ``filename`` on ``target`` (0 is best); None when it cannot install."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except (InvalidWheelFilename, InvalidVersion):
        return None
    ranks = _tag_ranks(target.platform_tags)
    found = [ranks[str(tag)] for tag in tags if str(tag) in ranks]
    return min(found) if found else None


@functools.lru_cache(maxsize=8)
def _tag_ranks(tags: tuple[str, ...]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for rank, tag in enumerate(tags):
        ranks.setdefault(tag, rank)
    return ranks


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_wheel(req: LockedRequirement, target: TargetEnvironment, cache: Path) -> Path | None:
    """The best cached wheel for ``req`` on ``target`` whose bytes still match its hash."""
    candidates: list[tuple[int, Path, str]] = []
    for value in req.hashes:
        hex_digest = value.removeprefix("sha256:")
        folder = _hash_dir(cache, hex_digest)
        if not folder.is_dir():
            continue
        for wheel in folder.glob("*.whl"):
            rank = wheel_rank(wheel.name, target)
            if rank is not None:
                candidates.append((rank, wheel, hex_digest))
    for _, wheel, hex_digest in sorted(candidates):
        try:
            if file_sha256(wheel) == hex_digest:
                # Its last use, for `repro cache prune` (a read-only cache is no error).
                with contextlib.suppress(OSError):
                    os.utime(wheel)
                return wheel
            wheel.unlink()  # damaged on disk: downloaded again below
        except OSError:
            continue
    return None


def fetch_wheels(
    reqs: Sequence[LockedRequirement],
    target: TargetEnvironment,
    *,
    cache: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """One verified wheel per requirement, in the order given, from the cache or downloaded.

    A wheel already cached under one of the requirement's hashes is used as is (no network).
    Otherwise the host's pip downloads it (its configuration, index mirrors and certificates
    apply; nothing is installed) for ``target``'s tags, its sha256 is checked against the lock,
    and it is moved atomically into the cache. Raises :class:`WheelhouseError` (a download
    failed, or no wheel exists for the target) or :class:`HashMismatchError`.
    """
    root = cache if cache is not None else cache_dir()
    out: list[Path | None] = [cached_wheel(req, target, root) for req in reqs]
    missing = [index for index, found in enumerate(out) if found is None]
    if not missing:
        return [path for path in out if path is not None]
    emit = _serialised(progress)
    counter = _Counter(len(missing))

    def job(index: int) -> Path:
        req = reqs[index]
        emit(f"downloading {counter.next()}/{counter.total} {req.pin}")
        return _download(req, target, root)

    workers = min(MAX_PARALLEL_DOWNLOADS, len(missing))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wheelhouse") as pool:
        futures: dict[Future[Path], int] = {pool.submit(job, index): index for index in missing}
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for future in pending:
                future.cancel()
            # report the failure of the earliest requirement that failed
            first = min(failed, key=lambda f: futures[f])
            error = first.exception()
            if error is not None:
                raise error
        for future, index in futures.items():
            out[index] = future.result()
    return [path for path in out if path is not None]


class _Counter:
    """``3/12`` numbering shared by the download threads."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._value = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


def _serialised(progress: Callable[[str], None] | None) -> Callable[[str], None]:
    lock = threading.Lock()

    def emit(message: str) -> None:
        if progress is not None:
            with lock:
                progress(message)

    return emit


def pip_download_command(
    req: LockedRequirement, target: TargetEnvironment, dest: Path
) -> list[str]:
    """The host pip command that downloads ``req``'s wheel for ``target`` into ``dest``.

    Wheels only (nothing is built), and the pin after ``--`` so that pip never reads it as an
    option. Raises :class:`LockError` for a name or version that is not PEP 508/440: every
    lock reader refuses those, this is the last check before a command line.
    """
    problem = pin_problem(req.name, req.version)
    if problem is not None:
        raise LockError(f"{req.source}: {problem}")
    command = [
        sys.executable,
        "-P",  # the working directory is not put on sys.path: its pip.py is not imported
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar=off",
        "--python-version",
        target.python_version,
        "--implementation",
        "cp",
    ]
    for abi in target.abis:
        command += ["--abi", abi]
    for platform in target.platforms:
        command += ["--platform", platform]
    return [*command, "--dest", str(dest), "--", req.pin]


def _download(req: LockedRequirement, target: TargetEnvironment, cache: Path) -> Path:
    staging = cache / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    # Staged inside the cache so that the final move is a rename on one file system.
    dest = Path(tempfile.mkdtemp(prefix="download-", dir=staging))
    try:
        command = pip_download_command(req, target, dest)
        try:
            # cwd: an empty directory of ours, never the audited repository (pip resolves
            # relative requirement files and paths from it).
            proc = subprocess.run(
                command,
                cwd=dest,
                capture_output=True,
                text=True,
                check=False,
                stdin=subprocess.DEVNULL,
                timeout=DOWNLOAD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise WheelhouseError(
                f"{req.pin} ({req.source}): pip download took longer than {DOWNLOAD_TIMEOUT:g}s"
            ) from None
        if proc.returncode != 0:
            raise _pip_failure(req, target, proc.stderr or proc.stdout)
        wheels = sorted(dest.glob("*.whl"))
        if len(wheels) != 1:
            found = ", ".join(p.name for p in dest.iterdir()) or "nothing"
            raise WheelhouseError(
                f"{req.pin} ({req.source}): pip download gave {found}, not one wheel"
            )
        wheel = wheels[0]
        got = file_sha256(wheel)
        if f"sha256:{got}" not in req.hashes:
            wheel.unlink()
            raise HashMismatchError(
                f"{req.pin} ({req.source}): {wheel.name} has sha256:{got}, expected "
                f"{_expected(req.hashes)}; the file was deleted"
            )
        if wheel_rank(wheel.name, target) is None:
            raise WheelhouseError(
                f"{req.pin} ({req.source}): pip chose {wheel.name}, which does not install on "
                f"{target.describe()}"
            )
        final = wheel_path(cache, got, wheel.name)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(wheel, final)
        return final
    except OSError as exc:
        raise WheelhouseError(f"{req.pin}: cannot write the wheel cache {cache}: {exc}") from None
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def _expected(hashes: Sequence[str]) -> str:
    shown = list(hashes[:3])
    more = len(hashes) - len(shown)
    text = " or ".join(shown) if len(shown) < 3 else ", ".join(shown)
    return f"one of {text} (and {more} more)" if more else text


_NO_MATCH = ("No matching distribution found", "Could not find a version that satisfies")


def _pip_failure(req: LockedRequirement, target: TargetEnvironment, output: str) -> WheelhouseError:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if any(marker in line for line in lines for marker in _NO_MATCH):
        return WheelhouseError(
            f"{req.pin} ({req.source}): no wheel for the target {target.describe()} among "
            f"its {len(target.platform_tags)} compatible tags; the harness installs binary "
            "wheels only"
        )
    if any("No module named pip" in line for line in lines):
        return WheelhouseError(f"{req.pin}: pip is not installed for {sys.executable}")
    errors = [line for line in lines if line.startswith("ERROR:")]
    detail = (errors or lines or ["no output"])[-1].removeprefix("ERROR:").strip()
    return WheelhouseError(f"{req.pin} ({req.source}): pip download failed: {detail}")


def read_wheel_metadata(wheel: Path) -> email.message.Message:
    """The wheel's ``*.dist-info/METADATA`` (``Requires-Dist`` and the rest), parsed."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if not names:
                raise WheelhouseError(f"{wheel.name}: no .dist-info/METADATA in the wheel")
            data = archive.read(_metadata_member(wheel.name, names))
    except (OSError, zipfile.BadZipFile) as exc:
        raise WheelhouseError(f"{wheel.name}: not a readable wheel: {exc}") from None
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)


def wheel_record_digest(wheel: Path) -> str:
    """:func:`reprolock.harness.installer.record_digest` of the wheel's own RECORD: what the
    installed distribution's RECORD must give once the wheel is installed."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/RECORD")
            ]
            if not names:
                raise WheelhouseError(f"{wheel.name}: no .dist-info/RECORD in the wheel")
            data = archive.read(_metadata_member(wheel.name, names))
    except (OSError, zipfile.BadZipFile) as exc:
        raise WheelhouseError(f"{wheel.name}: not a readable wheel: {exc}") from None
    return record_digest(data.decode("utf-8", "replace"))


def _metadata_member(filename: str, names: Sequence[str]) -> str:
    """The METADATA of the distribution the file name announces (a wheel may vendor others)."""
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return names[0]
    for member in names:
        folder = member.split("/", 1)[0].removesuffix(".dist-info")
        dist, _, dist_version = folder.rpartition("-")
        try:
            if canonicalize_name(dist) == name and Version(dist_version) == version:
                return member
        except InvalidVersion:
            continue
    return names[0]


__all__ = [
    "HashMismatchError",
    "WheelhouseError",
    "cache_dir",
    "cached_wheel",
    "fetch_wheels",
    "read_wheel_metadata",
    "wheel_path",
    "wheel_rank",
    "wheel_record_digest",
]
