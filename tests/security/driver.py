"""Run ``repro ARGS`` as the real command does, recording what the process touches.

An audit hook appends one JSON line per event to ``$REPRO_SECURITY_LOG``: every path
opened (``open()``, ``os.open``), every directory listed, and every subprocess started
(argv and working directory). The log file is opened with ``O_APPEND`` before anything
else, so forked workers add their lines too. Run with ``python -I``: the working
directory (the hostile repository) is not on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_LOG = os.open(os.environ["REPRO_SECURITY_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def _text(value: Any) -> str:
    if isinstance(value, bytes | str | os.PathLike):
        return os.fsdecode(value)
    return repr(value)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and args and isinstance(args[0], bytes | str | os.PathLike):
        record: list[Any] = ["open", _text(args[0]), os.getcwd()]
    elif event in {"os.listdir", "os.scandir"} and args:
        record = ["list", _text(args[0]), os.getcwd()]
    elif event == "subprocess.Popen":
        _, argv, cwd, _ = args
        words = [_text(a) for a in argv] if isinstance(argv, list | tuple) else [_text(argv)]
        record = ["popen", words, _text(cwd) if cwd is not None else os.getcwd()]
    elif event in {"os.exec", "os.posix_spawn", "os.spawn"}:
        record = ["exec", [_text(a) for a in args[1]], os.getcwd()]
    else:
        return
    os.write(_LOG, (json.dumps(record) + "\n").encode("utf-8", "surrogateescape"))


sys.addaudithook(_hook)

from reprolock.cli import main  # noqa: E402 - the hook must be in place before reprolock loads

sys.exit(main(sys.argv[1:]))
