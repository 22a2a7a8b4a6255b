"""Runs inside the suite's container: load the inputs, call the entrypoint, write outputs and facts.

Standalone on purpose (the standard library and numpy only): it is mounted read-only into an
environment that holds the project's pinned dependencies, not reprolock. It writes
``outputs.npz`` and ``result.json`` to the output directory; on failure ``result.json`` carries
the error and the traceback, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import sys
import traceback
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

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


def _load_inputs(path: str) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except Exception as exc:
        raise RunnerError(
            "inputs", f"cannot read the inputs: {type(exc).__name__}: {exc}"
        ) from None


def _check_outputs(result: Any) -> dict[str, Any]:
    if isinstance(result, np.ndarray | np.generic):
        result = {SINGLE_OUTPUT: result}
    if not isinstance(result, Mapping):
        raise RunnerError(
            "outputs",
            f"the entrypoint returned {type(result).__name__}; "
            "expected an ndarray or a dict of ndarrays",
        )
    if not result:
        raise RunnerError("outputs", "the entrypoint returned an empty dict")
    outputs: dict[str, Any] = {}
    for name, value in result.items():
        if not isinstance(name, str) or not _OUTPUT_NAME.match(name):
            raise RunnerError("outputs", f"output name {name!r} is not a valid identifier")
        if not isinstance(value, np.ndarray | np.generic):
            raise RunnerError(
                "outputs",
                f"output {name} is a {type(value).__name__}; expected an ndarray",
            )
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise RunnerError(
                "outputs",
                f"output {name} has dtype object; only numeric, bool and string arrays "
                "can be compared",
            )
        outputs[name] = array
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
    entrypoint: str, inputs_path: str, out_dir: str, pythonpath: Sequence[str]
) -> dict[str, Any]:
    """Call the entrypoint and write the outputs; returns the result written to result.json."""
    # The runner's own directory is not the project: import from the mounted sources only.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p) != os.path.dirname(__file__)]
    sys.path[0:0] = [*pythonpath, os.getcwd()]
    if _NUMPY_MISSING:
        raise RunnerError("import", _NUMPY_MISSING)
    inputs = _load_inputs(inputs_path)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point inside the container; the exit status is 0 on success, 1 on failure."""
    parser = argparse.ArgumentParser(prog="reprolock-runner")
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pythonpath", action="append", default=[])
    args = parser.parse_args(argv)
    result: dict[str, Any]
    status = 0
    try:
        result = run(args.entrypoint, args.inputs, args.out, args.pythonpath)
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
