"""Finding pip-compile for a target Python: shared by ``repro fix`` and ``repro update``."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable

from reprolock.errors import UnansweredError


class PipToolsMissing(UnansweredError):
    """No pip-compile could be found (exit 3)."""


def pip_compile_command(python: str | None, say: Callable[[str], None], *, doing: str) -> list[str]:
    """pip-compile under ``pythonX.Y`` when the target is another Python and one with pip-tools
    is on PATH, else under this interpreter (said through ``say``), else from PATH.

    ``doing`` names the work in that message ("resolving", "compiling")."""
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    wanted = ".".join(python.split(".")[:2]) if python else current
    if wanted != current:
        exe = shutil.which(f"python{wanted}")
        if exe is not None and has_piptools(exe):
            return [exe, "-m", "piptools", "compile"]
        say(
            f"{doing} with Python {current}: the project targets {wanted}, and no "
            f"python{wanted} with pip-tools is on PATH (check the versions chosen)"
        )
    if importlib.util.find_spec("piptools") is not None:
        return [sys.executable, "-m", "piptools", "compile"]
    exe = shutil.which("pip-compile")
    if exe is not None:
        return [exe]
    raise PipToolsMissing("pip-tools is not installed (pip install pip-tools)")


def has_piptools(python: str) -> bool:
    """True when ``python`` can import pip-tools."""
    try:
        proc = subprocess.run(
            [python, "-c", "import piptools"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0
