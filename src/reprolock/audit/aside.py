"""Work done in a forked process while this one does something else.

Two phases of an audit of a large tree need neither the other nor much memory to hand over: a
cold run's walk of the tree and its imports of the scanners, a warm run's ``stat`` of every
recorded file and its walk of the directories. Each pair runs on two CPUs: the work is done in
a child forked for it, whose answer comes back through a pipe, written by :mod:`marshal` (loaded
with the interpreter: ``pickle`` would cost a small audit 8 ms of imports).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Failed:
    """The child could not give an answer."""


FAILED = Failed()
"""What :func:`aside` gives for ``work`` when it could not run in a child or failed there."""


def aside(work: Callable[[], T], meanwhile: Callable[[], R]) -> tuple[T | Failed, R]:
    """``work()`` in a forked process while this one calls ``meanwhile()``: both results, or
    :data:`FAILED` for ``work`` when it could not be forked (threads running, no ``os.fork``,
    the fork refused) or raised in the child. ``work`` must return what :mod:`marshal`
    writes (built-in types: tuples, lists, dicts, sets, strings, numbers, None); whatever it
    changes in its own process is lost. An exception of ``meanwhile`` ends the child before
    it is raised.
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return FAILED, meanwhile()  # a fork with threads running is not safe
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return FAILED, meanwhile()  # out of descriptors: not worth an error
    try:
        pid = os.fork()
    except OSError:  # out of processes or memory, or forbidden: this process does both
        os.close(read_end)
        os.close(write_end)
        return FAILED, meanwhile()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        code = 1
        try:
            os.close(read_end)
            value: Any = work()  # what marshal writes, as the caller promised
            answer = marshal.dumps(value)
            with os.fdopen(write_end, "wb") as out:
                out.write(answer)
            code = 0
        finally:
            os._exit(code)  # never the parent's exit handlers, nor its buffered output
    os.close(write_end)
    try:
        result = meanwhile()
        with os.fdopen(read_end, "rb") as source:
            payload = source.read()
        _, status = os.waitpid(pid, 0)
    except BaseException:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    if status != 0 or not payload:
        return FAILED, result
    return marshal.loads(payload), result  # noqa: S302 - written by the child forked here
