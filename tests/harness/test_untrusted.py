"""Reading what a container or a committed golden hands the host: npz, JSON, files, temp dirs."""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from reprolock.harness import runner
from reprolock.harness.runner import MAX_NPZ_MEMBERS, NpzError, read_npz
from reprolock.harness.untrusted import (
    MAX_JSON_DEPTH,
    UntrustedInputError,
    load_json,
    open_regular,
    read_json,
    remove_tree,
)
from tests.harness.npz_bombs import deflate_bomb, npy_header, stored_member

MiB = 2**20


def _read(path: Path, limit: int = 64 * MiB) -> dict[str, np.ndarray]:
    with path.open("rb") as handle:
        return read_npz(handle, limit=limit, what=path.name)


def _refused(path: Path, limit: int = 64 * MiB) -> str:
    with pytest.raises(NpzError) as info:
        _read(path, limit)
    return str(info.value)


# --- npz -----------------------------------------------------------------------------------


def test_what_the_runner_writes_reads_back_exactly(tmp_path: Path) -> None:
    arrays: dict[str, np.ndarray] = {
        "proba": np.linspace(0, 1, 12).reshape(3, 4),
        "labels": np.arange(5, dtype=np.int32),
        "names": np.array(["a", "bb"]),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "empty": np.zeros((0, 3)),
    }
    runner.save_npz(str(tmp_path / "out.npz"), arrays)
    back = _read(tmp_path / "out.npz")
    assert list(back) == list(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        np.testing.assert_array_equal(back[name], array)
    # Compressed archives (np.savez_compressed) are read too.
    np.savez_compressed(tmp_path / "compressed.npz", proba=arrays["proba"], names=arrays["names"])
    compressed = _read(tmp_path / "compressed.npz")
    assert sorted(compressed) == ["names", "proba"]
    np.testing.assert_array_equal(compressed["proba"], arrays["proba"])


def test_a_deflate_bomb_is_refused_from_its_header_in_no_time(tmp_path: Path) -> None:
    declared = deflate_bomb(tmp_path / "bomb.npz", mib=4)
    assert declared > 3.9 * 2**30
    started = time.monotonic()
    message = _refused(tmp_path / "bomb.npz", limit=2**30)
    assert time.monotonic() - started < 1
    assert message == "bomb.npz declares 3.9 GiB of arrays, over its 1.0 GiB limit"


def test_the_limit_is_on_the_total_of_all_members(tmp_path: Path) -> None:
    arrays = {f"a{i}": np.zeros(MiB // 8) for i in range(3)}  # 1 MiB each
    runner.save_npz(str(tmp_path / "three.npz"), arrays)
    assert sorted(_read(tmp_path / "three.npz", limit=4 * MiB)) == ["a0", "a1", "a2"]
    assert _refused(tmp_path / "three.npz", limit=2 * MiB) == (
        "three.npz declares 3.0 MiB of arrays, over its 2.0 MiB limit"
    )


@pytest.mark.parametrize(
    ("payload", "size", "message"),
    [
        # The header promises 1000 float64 but the member holds 80 bytes of data.
        (
            npy_header((1000,)) + bytes(80),
            len(npy_header((1000,))) + 80,
            "x.npz: y.npy's header declares shape (1000,) of float64 (7.8 KiB), "
            "but the member holds 208 bytes",
        ),
        # Stored, yet the zip declares more than it holds.
        (
            npy_header((10,)) + bytes(80),
            10**7,
            "x.npz: y.npy declares 10000000 bytes, which 208 compressed bytes cannot hold",
        ),
        (b"PK\x03\x04 not an array at all", 24, "x.npz: y.npy is not an .npy array"),
        (
            npy_header((3,), "|O") + bytes(24),
            len(npy_header((3,), "|O")) + 24,
            "x.npz: y.npy has dtype object, which only loads with pickle; refused "
            "(allow_pickle=False)",
        ),
    ],
)
def test_a_member_that_lies_is_refused(
    tmp_path: Path, payload: bytes, size: int, message: str
) -> None:
    stored_member(tmp_path / "x.npz", payload, size=size)
    assert _refused(tmp_path / "x.npz") == message


def test_zero_size_items_count_against_the_limit(tmp_path: Path) -> None:
    header = npy_header((10**12,), "|V0")
    stored_member(tmp_path / "x.npz", header, size=len(header))
    assert _refused(tmp_path / "x.npz") == (
        "x.npz declares 931.3 GiB of arrays, over its 64.0 MiB limit"
    )


def test_members_must_be_npy_arrays_once_each_in_plain_or_deflate(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "extra.npz", "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert _refused(tmp_path / "extra.npz") == "extra.npz: notes.txt is not an .npy array"
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.arange(3))
    with zipfile.ZipFile(tmp_path / "twice.npz", "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate name
        archive.writestr("y.npy", buffer.getvalue())
        archive.writestr("y.npy", buffer.getvalue())
    assert _refused(tmp_path / "twice.npz") == "twice.npz holds y.npy twice"
    with zipfile.ZipFile(tmp_path / "bz.npz", "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("y.npy", buffer.getvalue())
    assert _refused(tmp_path / "bz.npz") == "bz.npz: y.npy uses zip compression method 12"


def test_a_huge_central_directory_is_refused_before_zipfile_parses_it(tmp_path: Path) -> None:
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(MAX_NPZ_MEMBERS + 1):
            archive.writestr(f"a{i}.npy", b"")
    assert _refused(path) == f"many.npz has {MAX_NPZ_MEMBERS + 1} members; at most 4096 are read"
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 100)
    assert _refused(tmp_path / "junk.npz") == "junk.npz is not a zip archive"


# --- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deep_json_is_refused_in_one_line(depth: int) -> None:
    with pytest.raises(UntrustedInputError) as info:
        load_json("[" * depth + "]" * depth, what="result.json")
    assert str(info.value) == "result.json: nested more than 64 levels deep"


def test_json_at_the_depth_limit_and_bad_json() -> None:
    deep = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert load_json(deep, what="x") == json.loads(deep)
    with pytest.raises(
        UntrustedInputError,
        match=r"^x: not valid JSON: Expecting property name enclosed in double quotes: line 1 ",
    ):
        load_json(b"{", what="x")
    with pytest.raises(UntrustedInputError, match=r"^x: not valid JSON: 'utf-8' codec"):
        load_json(b"\xff", what="x")


# --- files a container wrote ---------------------------------------------------------------


def test_a_symlink_to_dev_zero_or_a_host_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    (tmp_path / "secret").write_text('{"token": "s3cret"}')
    (tmp_path / "host.json").symlink_to(tmp_path / "secret")
    for name in ("zero.json", "host.json"):
        with pytest.raises(UntrustedInputError) as info:
            read_json(tmp_path / name, what=f"/out/{name}", follow_symlinks=False)
        assert str(info.value) == f"/out/{name}: a symbolic link (refused)"
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        open_regular(tmp_path / "host.json", limit=MiB, follow_symlinks=False)


def test_a_fifo_does_not_hang_and_a_large_file_is_refused_before_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "result.json")
    started = time.monotonic()
    with pytest.raises(UntrustedInputError) as info:
        read_json(tmp_path / "result.json", what="result.json", follow_symlinks=False)
    assert str(info.value) == "result.json: not a regular file"
    assert time.monotonic() - started < 1
    with (tmp_path / "big.npz").open("wb") as handle:
        handle.truncate(10 * 2**30)  # sparse: costs nothing, and must not be read
    with pytest.raises(OSError, match=r"10240 MiB is larger than the 1 MiB limit"):
        open_regular(tmp_path / "big.npz", limit=MiB, follow_symlinks=False)


# --- temporary directories a container wrote into ------------------------------------------

_OWNER = 4242


def _litter(root: Path, outside: Path) -> None:
    """What a hostile container leaves: modes that block removal, odd files, great depth."""
    root.mkdir()
    locked = root / "locked"
    locked.mkdir()
    (locked / "file").write_text("x")
    (root / "hidden").mkdir()
    (root / "hidden" / "sub").mkdir()
    (root / "hidden" / "sub" / "file").write_text("x")
    (root / "setuid").write_text("#!/bin/sh\n")
    (root / "setuid").chmod(0o4755)
    os.mkfifo(root / "fifo")
    (root / "link-out").symlink_to(outside)
    (root / "dir-link-out").symlink_to(outside.parent)
    for path in (root, *root.rglob("*")):
        if not path.is_symlink():
            os.chown(path, _OWNER, _OWNER)
    # 3000 levels: deeper than recursion or PATH_MAX allow.
    fd = os.open(root, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        os.chown("d", _OWNER, _OWNER, dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    (root / "hidden").chmod(0)
    locked.chmod(0o500)


def _as_user(uid: int, path: Path) -> tuple[int, str | None]:
    """remove_tree(path) in a child process running as ``uid``: its exit and its answer."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgid(uid)
            os.setuid(uid)
            answer = remove_tree(path)
            os.write(write, (answer or "").encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as handle:
        answer = handle.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), answer or None


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory like /tmp, which another user can use (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="reprolock-test-"))
    path.chmod(0o1777)
    yield path
    remove_tree(path)


def test_remove_tree_empties_what_its_owner_made_unremovable(shared_tmp: Path) -> None:
    tmp_path = shared_tmp
    outside = tmp_path / "outside"
    outside.write_text("keep")
    outside.chmod(0o640)
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, _OWNER, _OWNER)
    _litter(work / "out", outside)
    # Not as root: its capabilities would make the modes moot.
    assert _as_user(_OWNER, work) == (0, None)
    assert not work.exists()
    assert outside.read_text() == "keep"
    assert stat.S_IMODE(outside.stat().st_mode) == 0o640


def test_remove_tree_reports_what_it_cannot_remove_in_one_line(shared_tmp: Path) -> None:
    tmp_path = shared_tmp
    work = tmp_path / "work"
    (work / "locked").mkdir(parents=True)
    (work / "locked" / "file").write_text("x")
    (work / "locked").chmod(0o555)
    os.chown(work, _OWNER, _OWNER)
    # Another user (as the host is when the container's user made it) cannot open it up.
    code, answer = _as_user(_OWNER, work)
    assert code == 0
    assert answer == f"{work}: cannot remove (file): Permission denied"
    assert remove_tree(work) is None  # root can
    assert not work.exists()
    assert remove_tree(work) is None  # already gone
