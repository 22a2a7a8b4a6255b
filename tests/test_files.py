"""Root confinement, bounded reads and atomic writes (``reprolock.files``)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from reprolock.errors import UsageError
from reprolock.files import (
    FileTooLargeError,
    NotRegularFileError,
    OutsideRootError,
    atomic_write_bytes,
    atomic_write_text,
    inside,
    is_inside,
    named_path,
    read_bytes,
    read_text,
)

# --- inside -------------------------------------------------------------------------------


def test_relative_path_inside_resolves(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert inside(tmp_path, "a/b.txt") == tmp_path.resolve() / "a" / "b.txt"
    assert inside(tmp_path, ".") == tmp_path.resolve()


def test_absolute_path_inside_is_accepted(tmp_path: Path) -> None:
    assert inside(tmp_path, tmp_path / "x") == tmp_path.resolve() / "x"


@pytest.mark.parametrize("path", ["../outside", "a/../../outside", "/etc/passwd", "/"])
def test_paths_that_climb_out_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(OutsideRootError) as info:
        inside(tmp_path, path, what="pyproject.toml: [tool.repro.suites.x] lock")
    assert str(info.value).startswith("pyproject.toml: [tool.repro.suites.x] lock: ")
    assert path in str(info.value)
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == 2
    assert not is_inside(tmp_path, path)


def test_symlink_out_of_the_root_is_refused_wherever_it_sits(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("token=hunter2\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").symlink_to(outside)
    (root / "direct").symlink_to(outside / "secret")
    for path in ("etc/secret", "direct", "etc"):
        with pytest.raises(OutsideRootError) as info:
            inside(root, path)
        assert "hunter2" not in str(info.value)


def test_symlink_that_stays_inside_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert inside(tmp_path, "alias/f") == tmp_path.resolve() / "real" / "f"


def test_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert inside(tmp_path / "link", "f") == tmp_path.resolve() / "real" / "f"


def test_tilde_is_a_literal_name_not_the_home_directory(tmp_path: Path) -> None:
    assert inside(tmp_path, "~/.git-credentials") == tmp_path.resolve() / "~" / ".git-credentials"


def test_unusable_paths_are_a_usage_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(UsageError, match="k: loop/x is not a usable path: symlink loop"):
        inside(tmp_path, "loop/x", what="k")
    assert not is_inside(tmp_path, "loop/x")


# --- read_bytes ---------------------------------------------------------------------------


def test_reads_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"\xef\xbb\xbfhello\n")
    assert read_bytes(tmp_path / "f") == b"\xef\xbb\xbfhello\n"
    assert read_text(tmp_path / "f") == "hello\n"


def test_size_is_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "sparse"
    with big.open("wb") as handle:
        handle.truncate(10 * 2**30)  # 10 GiB, sparse: reading it would take the machine
    with pytest.raises(FileTooLargeError) as info:
        read_bytes(big, limit=2**20)
    assert info.value.size == 10 * 2**30
    assert "10240 MiB is larger than the 1 MiB limit" in str(info.value)


def test_small_limit_message_in_bytes(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 11)
    with pytest.raises(FileTooLargeError, match="11 bytes is larger than the 10 byte limit"):
        read_bytes(tmp_path / "f", limit=10)


def test_a_file_of_the_size_fstat_counts_is_read_in_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    asked: list[int] = []
    real_read = os.read

    def counted(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", counted)
    assert read_bytes(tmp_path / "f") == b"0123456789"
    assert asked == [11]  # one byte more than fstat counts, and no read of the end


@pytest.mark.parametrize(("counted", "limit"), [(4, 100), (10, 100), (30, 100), (0, 100), (4, 8)])
def test_a_file_that_grows_or_shrinks_after_its_fstat_is_read_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted: int, limit: int
) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    real_fstat = os.fstat

    def fstat(fd: int) -> os.stat_result:
        info = real_fstat(fd)
        return os.stat_result((*info[:6], counted, *info[7:10]))  # st_size as fstat saw it

    monkeypatch.setattr(os, "fstat", fstat)
    if limit < 10:
        with pytest.raises(FileTooLargeError, match="larger than the 8 byte limit"):
            read_bytes(tmp_path / "f", limit=limit)
    else:
        assert read_bytes(tmp_path / "f", limit=limit) == b"0123456789"


def test_devices_are_refused_without_reading(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFileError):
        read_bytes("/dev/zero")
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(NotRegularFileError):
        read_bytes(tmp_path / "zero")


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_bytes(fifo)
        except BaseException as exc:  # handed back to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert len(outcome) == 1
    assert isinstance(outcome[0], NotRegularFileError)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"directory|regular"):
        read_bytes(tmp_path)


def test_final_symlink_refused_when_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_bytes(tmp_path / "link") == b"x"
    with pytest.raises(OSError, match=r"symbolic links|Too many levels"):
        read_bytes(tmp_path / "link", follow_symlinks=False)


# --- atomic writes ------------------------------------------------------------------------


def test_atomic_write_keeps_the_mode_of_the_replaced_file(tmp_path: Path) -> None:
    target = tmp_path / "baseline.json"
    target.write_text("old")
    target.chmod(0o664)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o664


def test_atomic_write_of_a_new_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "new.txt", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_atomic_write_explicit_mode(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "private", b"x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_atomic_write_leaves_nothing_behind_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


# --- named_path -----------------------------------------------------------------------------


def test_a_named_path_may_be_anywhere_outside_the_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    elsewhere = tmp_path / "old.lock"
    elsewhere.write_text("x")
    assert named_path(elsewhere, within=(checkout,), what="--lock") == elsewhere
    assert named_path(checkout / "uv.lock", within=(checkout,), what="--lock") == (
        checkout / "uv.lock"
    )


def test_a_named_path_in_the_checkout_may_not_link_out_of_it(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (tmp_path / "credentials").write_text("token")
    (checkout / "requirements.txt").symlink_to(tmp_path / "credentials")
    with pytest.raises(OutsideRootError, match=r"--lock: .*requirements.txt leads outside"):
        named_path(checkout / "requirements.txt", within=(checkout,), what="--lock")
