"""Runs inside the suite's container: load the inputs, call the entrypoint, write outputs and facts.

Standalone on purpose (the standard library and numpy only): it is mounted read-only into an
environment that holds the project's pinned dependencies, not reprolock. It writes
``outputs.npz`` and ``result.json`` to the output directory; on failure ``result.json`` carries
the error and the traceback, and the exit status is 1. With ``--deadline`` the work runs in a
child process that :func:`supervise` kills at the deadline, so the container ends on time even
when the host process that started it is gone.

The host reads ``.npz`` files with :func:`read_npz` too (a container's outputs, a committed
golden): every member's ``.npy`` header is checked before anything is decompressed.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import os
import platform
import re
import struct
import sys
import traceback
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import IO, Any

try:
    import numpy as np

    _NUMPY_MISSING: str | None = None
except ImportError as _exc:
    # Reported as the run's error by main(): the environment lacks what the runner needs.
    _NUMPY_MISSING = f"numpy is not installed in this environment; the runner needs it ({_exc})"

RESULT = "result.json"
OUTPUTS = "outputs.npz"
SINGLE_OUTPUT = "output"
"""The name an entrypoint's lone array is stored under."""

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_MAX_WARNINGS = 20
_MAX_ERROR_CHARS = 2000
"""The error line result.json carries: its head (the exception's type and message)."""
_MAX_TRACEBACK_CHARS = 8000
"""The traceback result.json carries: its tail (where it failed)."""
TIMED_OUT = 124
"""Exit status of a run that :func:`supervise` stopped at its deadline (as timeout(1))."""

MAX_NPZ_MEMBERS = 4096
"""More arrays than this in one ``.npz`` is not a model's output."""
_MAX_DIRECTORY_BYTES = 4 * 2**20
"""Largest zip central directory read: bounds the entries parsed before any check."""
_MAX_NPY_HEADER = 65536
_DEFLATE_MAX_RATIO = 1032
"""Deflate cannot expand data more than this: a larger declared size is a lie."""
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")


class RunnerError(Exception):
    """An expected failure: the message is the report; ``stage`` says where it happened."""

    def __init__(self, stage: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.detail = detail


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distributions() -> list[dict[str, str]]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[_canonical(name)] = dist.version
    return [{"name": name, "version": found[name]} for name in sorted(found)]


def _cpu() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    flags: list[str] = []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return {"model": model, "flags": flags}
    # The first processor's block speaks for all: containers do not mix CPU models.
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in {"model name", "cpu model", "hardware"} and value.strip():
            model = value.strip()
        elif key in {"flags", "features"}:
            flags = sorted(set(value.split()))
    return {"model": model, "flags": flags}


def _blas() -> list[dict[str, Any]] | None:
    keep = ("user_api", "internal_api", "version", "architecture", "threading_layer", "prefix")
    try:
        # Imported by name: threadpoolctl is the project's dependency, not reprolock's.
        info = importlib.import_module("threadpoolctl").threadpool_info()
    except Exception:
        # Absent or broken: the facts simply lack BLAS.
        return None
    libraries = [{key: lib.get(key) for key in keep if key in lib} for lib in info]
    return sorted(libraries, key=lambda lib: json.dumps(lib, sort_keys=True))


def facts() -> dict[str, Any]:
    """What the environment is: Python, platform, CPU, installed distributions, BLAS."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu(),
        "distributions": _distributions(),
        "blas": _blas(),
    }


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the project's code on: the runner's own frame is noise."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _load_entrypoint(entrypoint: str) -> Any:
    module_name, _, function_name = entrypoint.partition(":")
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:
        raise RunnerError(
            "import",
            f"cannot import {module_name}: {type(exc).__name__}: {exc}",
            _user_traceback(exc),
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise RunnerError("import", f"{module_name} has no function {function_name}")
    return function


def _load_inputs(path: str, limit: int) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return read_npz(handle, limit=limit, what="the inputs")
    except NpzError as exc:
        raise RunnerError("inputs", f"cannot read the inputs: {exc}") from None
    except Exception as exc:
        raise RunnerError(
            "inputs", f"cannot read the inputs: {type(exc).__name__}: {exc}"
        ) from None


# --- .npz without trust ------------------------------------------------------------------


class NpzError(ValueError):
    """An ``.npz`` refused before decompression: malformed, too large, or needing pickle."""


def human_size(size: int) -> str:
    """``1.5 MiB``: a size as messages give it."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _directory_size(handle: IO[bytes], what: str) -> tuple[int, int]:
    """``(entries, bytes)`` of the zip's central directory, read from its end records.

    zipfile parses every entry of the directory into an object before anything can be
    checked; these two numbers bound that work first.
    """
    end = handle.seek(0, os.SEEK_END)
    start = max(0, end - _EOCD.size - 65535)
    handle.seek(start)
    tail = handle.read(end - start)
    # As zipfile looks for it: right at the end (no comment), else the last signature.
    position = len(tail) - _EOCD.size
    if position < 0 or tail[position : position + 4] != b"PK\x05\x06":
        position = tail.rfind(b"PK\x05\x06")
    if position < 0 or position + _EOCD.size > len(tail):
        raise NpzError(f"{what} is not a zip archive")
    fields = _EOCD.unpack_from(tail, position)
    entries, size = fields[4], fields[5]
    locator = position - _EOCD64_LOCATOR.size
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        offset = _EOCD64_LOCATOR.unpack_from(tail, locator)[2]
        handle.seek(offset)
        record = handle.read(_EOCD64.size)
        if len(record) != _EOCD64.size or record[:4] != b"PK\x06\x06":
            raise NpzError(f"{what} has a damaged zip64 end record")
        zip64 = _EOCD64.unpack(record)
        entries, size = zip64[7], zip64[8]
    handle.seek(0)
    return entries, size


def _npy_header(member: IO[bytes], name: str) -> tuple[tuple[int, ...], Any, int]:
    """``(shape, dtype, header length)`` of an ``.npy`` stream, reading only its header."""
    prefix = member.read(12)
    if len(prefix) < 10 or prefix[:6] != b"\x93NUMPY":
        raise NpzError(f"{name} is not an .npy array")
    major = prefix[6]
    if major == 1:
        length, start = struct.unpack("<H", prefix[8:10])[0], 10
    elif major == 2 and len(prefix) == 12:
        length, start = struct.unpack("<I", prefix[8:12])[0], 12
    else:
        raise NpzError(f"{name}: unsupported .npy format version {major}")
    if length > _MAX_NPY_HEADER:
        raise NpzError(f"{name}: an .npy header of {length} bytes")
    rest = member.read(start + length - len(prefix))
    stream = io.BytesIO(prefix + rest)
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(stream)
        else:
            shape, _, dtype = fmt.read_array_header_2_0(stream)
    except (ValueError, SyntaxError, TypeError) as exc:
        raise NpzError(f"{name}: a malformed .npy header ({exc})") from None
    return tuple(int(n) for n in shape), dtype, start + length


def read_npz(handle: IO[bytes], *, limit: int, what: str = "the archive") -> dict[str, Any]:
    """The arrays of an ``.npz`` whose declared size fits ``limit`` bytes; never unpickles.

    Before any member is decompressed: the central directory's size, each member's
    compression and declared size (which deflate must be able to produce from its compressed
    size), and each ``.npy`` header (dtype and shape, whose size must be what the member
    declares) are checked, and their total against ``limit``. Object dtypes are refused.
    Raises :class:`NpzError`; ``what`` names the archive in its messages.
    """
    entries, directory = _directory_size(handle, what)
    if entries > MAX_NPZ_MEMBERS or directory > _MAX_DIRECTORY_BYTES:
        raise NpzError(f"{what} has {entries} members; at most {MAX_NPZ_MEMBERS} are read")
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise NpzError(f"{what} is not a readable zip archive: {exc}") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_NPZ_MEMBERS:
            raise NpzError(f"{what} has {len(members)} members; at most {MAX_NPZ_MEMBERS}")
        # Sizes as the directory declares them (what zipfile will decompress, at most) ...
        _check_total(sum(info.file_size for info in members), limit, what)
        total = 0
        names: list[str] = []
        for info in members:
            # ... and as each array's header states them, zero-size items counted as one.
            name, cost = _check_member(archive, info, what)
            if name in names:
                raise NpzError(f"{what} holds {info.filename} twice")
            names.append(name)
            total += cost
            _check_total(total, limit, what)
        arrays: dict[str, Any] = {}
        for info, name in zip(members, names, strict=True):
            try:
                with archive.open(info) as member:
                    arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise NpzError(f"{what}: {info.filename} cannot be read: {exc}") from None
    return arrays


def npz_members(handle: IO[bytes], *, what: str) -> dict[str, tuple[tuple[int, ...], Any]]:
    """``{name: (shape, dtype)}`` of an ``.npz``, from its ``.npy`` headers only (nothing is
    decompressed past them); raises :class:`NpzError` as :func:`read_npz` does."""
    entries, directory = _directory_size(handle, what)
    if entries > MAX_NPZ_MEMBERS or directory > _MAX_DIRECTORY_BYTES:
        raise NpzError(f"{what} has {entries} members; at most {MAX_NPZ_MEMBERS} are read")
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise NpzError(f"{what} is not a readable zip archive: {exc}") from None
    found: dict[str, tuple[tuple[int, ...], Any]] = {}
    with archive:
        for info in archive.infolist():
            name, _ = _check_member(archive, info, what)
            with archive.open(info) as member:
                shape, dtype, _ = _npy_header(member, f"{what}: {info.filename}")
            found[name] = (shape, dtype)
    return found


def _check_total(total: int, limit: int, what: str) -> None:
    if total > limit:
        raise NpzError(
            f"{what} declares {human_size(total)} of arrays, over its {human_size(limit)} limit"
        )


def _check_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> tuple[str, int]:
    """The array name of one member and what it costs to load, checked without decompressing.

    The cost is its declared size, or its element count when larger (zero-size items).
    """
    filename = info.filename
    if not filename.endswith(".npy") or info.is_dir():
        raise NpzError(f"{what}: {filename} is not an .npy array")
    if info.compress_type == zipfile.ZIP_STORED:
        consistent = info.compress_size == info.file_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        consistent = info.file_size <= info.compress_size * _DEFLATE_MAX_RATIO + 1024
    else:
        raise NpzError(f"{what}: {filename} uses zip compression method {info.compress_type}")
    if not consistent:
        raise NpzError(
            f"{what}: {filename} declares {info.file_size} bytes, which "
            f"{info.compress_size} compressed bytes cannot hold"
        )
    try:
        with archive.open(info) as member:
            shape, dtype, header = _npy_header(member, f"{what}: {filename}")
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise NpzError(f"{what}: {filename} cannot be read: {exc}") from None
    if dtype.hasobject:
        raise NpzError(
            f"{what}: {filename} has dtype object, which only loads with pickle; refused "
            "(allow_pickle=False)"
        )
    count = math.prod(shape)
    if header + count * dtype.itemsize != info.file_size:
        raise NpzError(
            f"{what}: {filename}'s header declares shape {shape} of {dtype} "
            f"({human_size(count * dtype.itemsize)}), but the member holds "
            f"{human_size(info.file_size)}"
        )
    return filename[: -len(".npy")], max(info.file_size, count)


_SCALARS = (bool, int, float, complex, str, bytes)


def _frame_columns(value: Any) -> list[tuple[str, Any]] | None:
    """A pandas DataFrame's ``(column, values)`` pairs (duck-typed: pandas is the project's
    dependency, not the runner's); None for anything else."""
    if hasattr(value, "columns") and hasattr(value, "items") and hasattr(value, "to_numpy"):
        return [(str(column), series) for column, series in value.items()]
    return None


def _as_output(name: str, value: Any) -> Any:
    """One output as an array: arrays as they are; numpy and Python scalars as 0-d arrays; a
    list, a pandas Series or Index by its values."""
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
    elif isinstance(value, _SCALARS) or hasattr(value, "to_numpy") or isinstance(value, list):
        source = value.to_numpy() if hasattr(value, "to_numpy") else value
        try:
            array = np.asarray(source)
            if array.dtype.hasobject:
                # Strings in an object column (pandas' default) become a string array.
                array = np.asarray(array.tolist())
        except (TypeError, ValueError) as exc:
            what = "the entrypoint's result" if name == SINGLE_OUTPUT else f"output {name}"
            raise RunnerError("outputs", f"{what} cannot be made an array: {exc}") from None
    else:
        raise RunnerError(
            "outputs",
            f"output {name} is of type {type(value).__name__}; expected an ndarray, a list, "
            "a scalar or a pandas Series",
        )
    if array.dtype.hasobject:
        raise RunnerError(
            "outputs",
            f"output {name} has dtype object; only numeric, bool and string arrays can be compared",
        )
    return array


def _named_outputs(result: Any) -> list[tuple[Any, Any]]:
    """The entrypoint's result as ``(name, value)`` pairs."""
    columns = _frame_columns(result)
    if columns is not None:
        return list(columns)
    if isinstance(result, tuple):
        # Several return values: one output each.
        return [(f"{SINGLE_OUTPUT}_{index}", value) for index, value in enumerate(result)]
    if isinstance(result, Mapping):
        pairs: list[tuple[Any, Any]] = []
        for name, value in result.items():
            inner = _frame_columns(value)
            if inner is None:
                pairs.append((name, value))
            else:
                pairs.extend((f"{name}.{column}", series) for column, series in inner)
        return pairs
    return [(SINGLE_OUTPUT, result)]


def _check_outputs(result: Any) -> dict[str, Any]:
    if result is None:
        raise RunnerError(
            "outputs", "the entrypoint returned None; expected an ndarray or a dict of ndarrays"
        )
    pairs = _named_outputs(result)
    if not pairs:
        raise RunnerError("outputs", "the entrypoint returned no output (an empty dict)")
    outputs: dict[str, Any] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not _OUTPUT_NAME.match(name):
            raise RunnerError("outputs", f"output name {name!r} is not a valid identifier")
        if name in outputs:
            raise RunnerError("outputs", f"output {name} is returned twice")
        outputs[name] = _as_output(name, value)
    return outputs


def save_npz(path: str, arrays: Mapping[str, Any]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz``, refusing anything that needs pickling."""
    # np.savez(file, **arrays) breaks on an output named "file" and, before numpy 2.1, has no
    # allow_pickle switch; writing the members directly avoids both, in the same format.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def _warning_texts(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    texts: list[str] = []
    for item in caught:
        text = f"{item.category.__name__}: {item.message}"
        if text not in texts:
            texts.append(text)
    return texts[:_MAX_WARNINGS]


def run(
    entrypoint: str,
    inputs_path: str,
    out_dir: str,
    pythonpath: Sequence[str],
    *,
    max_input: int = 2**62,
) -> dict[str, Any]:
    """Call the entrypoint and write the outputs; returns the result written to result.json."""
    # The runner's own directory is not the project: import from the mounted sources only.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p) != os.path.dirname(__file__)]
    sys.path[0:0] = [*pythonpath, os.getcwd()]
    if _NUMPY_MISSING:
        raise RunnerError("import", _NUMPY_MISSING)
    inputs = _load_inputs(inputs_path, max_input)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        function = _load_entrypoint(entrypoint)
        try:
            result = function(inputs)
        except BaseException as exc:
            raise RunnerError(
                "call",
                f"{entrypoint} raised {type(exc).__name__}: {exc}",
                _user_traceback(exc),
            ) from None
    outputs = _check_outputs(result)
    save_npz(os.path.join(out_dir, OUTPUTS), outputs)
    return {
        "status": "ok",
        "outputs": {
            name: {"dtype": str(array.dtype), "shape": list(array.shape)}
            for name, array in outputs.items()
        },
        "warnings": _warning_texts(caught),
    }


def supervise(seconds: float, out: str = "") -> None:
    """Carry on in a child process that is killed ``seconds`` from now; return only in it.

    The calling process (the container's PID 1) runs nothing of the project: it waits for the
    child, and at the deadline, or when the child exits, kills every other process of the
    container, makes the directories under ``out`` removable and the files there plain (no
    setuid, setgid or exec bit), and exits with the child's status, or 124 at the deadline.
    The container ends with it, even when the host process that started it was killed.

    Self-contained (imports inside, no other name of this module): its source also runs
    before the base-image probe, on whatever Python the base image has.
    """
    # Imported here: the function's source must run on its own (see above).
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import stat  # noqa: PLC0415
    import time  # noqa: PLC0415

    deadline = time.monotonic() + seconds
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        return
    try:
        import ctypes  # noqa: PLC0415

        # PR_SET_DUMPABLE = 0: a process of the same user cannot ptrace this one.
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
    except Exception:  # noqa: S110 - best effort: no ctypes, no libc, not Linux
        pass
    status = 124
    while time.monotonic() < deadline:
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            exited = os.WIFEXITED(code)
            status = os.WEXITSTATUS(code) if exited else 128 + os.WTERMSIG(code)
            break
        time.sleep(0.05)
    try:
        # PID 1 of the container's namespace reaches every process of the container and
        # nothing else; elsewhere (a test on the host) only the child's process group.
        if os.getpid() == 1:
            os.kill(-1, signal.SIGKILL)
        else:
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if out:
        # The host may run as any user: it must be able to empty every directory. The walk
        # is relative to one descriptor at a time and never recursive: any depth, any length
        # of path, never through a symlink.
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        fd = -1
        try:
            fd = os.open(out, flags)
            levels = [os.listdir(fd)]
            while levels:
                if not levels[-1]:
                    levels.pop()
                    if levels:
                        parent = os.open("..", flags, dir_fd=fd)
                        os.close(fd)
                        fd = parent
                    continue
                name = levels[-1].pop()
                try:
                    mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
                    if stat.S_ISDIR(mode):
                        os.chmod(name, 0o777, dir_fd=fd)  # noqa: S103 - see above
                        child = os.open(name, flags, dir_fd=fd)
                        os.close(fd)
                        fd = child
                        levels.append(os.listdir(fd))
                    elif stat.S_ISREG(mode):
                        os.chmod(name, stat.S_IMODE(mode) & 0o666, dir_fd=fd)
                except OSError:
                    continue
        except Exception:  # noqa: S110 - the host copes with what is left
            pass
        finally:
            if fd >= 0:
                os.close(fd)
    os._exit(status)


def _clip_head(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " [...]"


def _clip_tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point inside the container; the exit status is 0 on success, 1 on failure."""
    parser = argparse.ArgumentParser(prog="reprolock-runner")
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pythonpath", action="append", default=[])
    parser.add_argument("--deadline", type=float, default=None, help="seconds the run may take")
    parser.add_argument(
        "--max-input", type=int, default=2**62, help="bytes of arrays the inputs may declare"
    )
    args = parser.parse_args(argv)
    if args.deadline is not None:
        supervise(args.deadline, args.out)
    result: dict[str, Any]
    status = 0
    try:
        result = run(
            args.entrypoint, args.inputs, args.out, args.pythonpath, max_input=args.max_input
        )
    except RunnerError as exc:
        result = {"status": "error", "stage": exc.stage, "error": str(exc)}
        if exc.detail:
            result["traceback"] = exc.detail
        status = 1
    except BaseException as exc:
        result = {
            "status": "error",
            "stage": "runner",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
        status = 1
    if status:
        result["error"] = _clip_head(str(result["error"]), _MAX_ERROR_CHARS)
        if "traceback" in result:
            result["traceback"] = _clip_tail(str(result["traceback"]), _MAX_TRACEBACK_CHARS)
    try:
        result["facts"] = facts()
    except Exception as exc:
        # Facts are best effort; the run's own result must still be written.
        result["facts"] = {"error": f"{type(exc).__name__}: {exc}"}
    _write_json(os.path.join(args.out, RESULT), result)
    if status:
        print(result["error"], file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
