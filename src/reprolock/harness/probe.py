"""Runs inside a base image: print its python3's marker values and compatible wheel tags as JSON.

Standalone on purpose (the standard library only, Python 3.8 syntax): the base image's python3
has no ``packaging`` and may be old. :func:`reprolock.harness.image.probe_command` runs this
file's text in a confined container. The tag order follows ``packaging.tags.sys_tags()``
(packaging 26) for CPython on Linux.
"""

from __future__ import annotations

import json
import os
import platform
import re
import struct
import subprocess
import sys
import sysconfig

_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_MANYLINUX_ARCHS = frozenset(
    {"x86_64", "aarch64", "ppc64", "ppc64le", "s390x", "loongarch64", "riscv64", "i686", "armv7l"}
)


def _confstr_glibc() -> str | None:
    try:
        found = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, OSError, ValueError):
        return None
    parts = (found or "").rsplit()
    return parts[1] if len(parts) == 2 else None


def _glibc_version() -> tuple[int, int] | None:
    text = _confstr_glibc()
    if text is None:
        try:
            import ctypes  # noqa: PLC0415 - a Python built without ctypes still probes

            function = ctypes.CDLL(None).gnu_get_libc_version
            function.restype = ctypes.c_char_p
            text = function().decode("ascii")
        except (AttributeError, ImportError, OSError, UnicodeDecodeError):
            return None
    match = re.match(r"([0-9]+)\.([0-9]+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _elf_interpreter(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            ident = handle.read(16)
            if ident[:4] != b"\x7fELF":
                return None
            wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
            header = handle.read(48 if wide else 36)
            fields = struct.unpack(order + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH"), header)
            phoff, phentsize, phnum = fields[4], fields[8], fields[9]
            for index in range(phnum):
                handle.seek(phoff + index * phentsize)
                if wide:
                    kind, _, offset, _, _, size = struct.unpack(order + "IIQQQQ", handle.read(40))
                else:
                    kind, offset, _, _, size = struct.unpack(order + "IIIII", handle.read(20))
                if kind == 3:
                    handle.seek(offset)
                    return handle.read(size).rstrip(b"\0").decode("ascii")
    except (OSError, struct.error, UnicodeDecodeError, IndexError):
        return None
    return None


def _musl_version() -> tuple[int, int] | None:
    loader = _elf_interpreter(sys.executable)
    if not loader or "musl" not in loader:
        return None
    try:
        proc = subprocess.run([loader], stderr=subprocess.PIPE, text=True, check=False)
    except OSError:
        return None
    match = re.search(r"^Version (\d+)\.(\d+)", proc.stderr, re.MULTILINE)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _manylinux_allowed(arch: str, version: tuple[int, int], glibc: tuple[int, int]) -> bool:
    if glibc < version:
        return False
    try:
        import _manylinux  # type: ignore[import-not-found]  # noqa: PLC0415 - rarely present
    except ImportError:
        return True
    if hasattr(_manylinux, "manylinux_compatible"):
        result = _manylinux.manylinux_compatible(version[0], version[1], arch)
        return True if result is None else bool(result)
    legacy = {
        (2, 5): "manylinux1_compatible",
        (2, 12): "manylinux2010_compatible",
        (2, 17): "manylinux2014_compatible",
    }.get(version)
    if legacy and hasattr(_manylinux, legacy):
        return bool(getattr(_manylinux, legacy))
    return True


def _linux_platforms() -> list[str]:
    linux = sysconfig.get_platform().replace(".", "_").replace("-", "_").replace(" ", "_")
    if not linux.startswith("linux_"):
        return [linux]
    if struct.calcsize("P") == 4:
        linux = {"linux_x86_64": "linux_i686", "linux_aarch64": "linux_armv8l"}.get(linux, linux)
    arch = linux.split("_", 1)[1]
    archs = ["armv8l", "armv7l"] if arch == "armv8l" else [arch]
    out = ["linux_" + a for a in archs]
    glibc = _glibc_version()
    if glibc is not None and any(a in _MANYLINUX_ARCHS for a in archs):
        oldest = (2, 4) if set(archs) & {"x86_64", "i686"} else (2, 16)
        ceilings = [glibc] + [(major, 50) for major in range(glibc[0] - 1, 1, -1)]
        for a in archs:
            for ceiling in ceilings:
                floor = oldest[1] if ceiling[0] == oldest[0] else -1
                for minor in range(ceiling[1], floor, -1):
                    version = (ceiling[0], minor)
                    if _manylinux_allowed(a, version, glibc):
                        out.append(f"manylinux_{version[0]}_{minor}_{a}")
                        if version in _LEGACY:
                            out.append(_LEGACY[version] + "_" + a)
    musl = _musl_version()
    if musl is not None:
        for a in archs:
            out.extend(f"musllinux_{musl[0]}_{minor}_{a}" for minor in range(musl[1], -1, -1))
    return out


def _cpython_tags(platforms: list[str]) -> list[str]:
    major, minor = sys.version_info[:2]
    nodot = f"{major}{minor}"
    debug = sysconfig.get_config_var("Py_DEBUG")
    if debug is None:
        debug = hasattr(sys, "gettotalrefcount")
    free_threaded = (major, minor) >= (3, 13) and sysconfig.get_config_var("Py_GIL_DISABLED")
    threading = "t" if free_threaded else ""
    abis = ["cp" + nodot + threading + ("d" if debug else "")]
    if debug:
        abis.append("cp" + nodot + threading)
    interpreter = "cp" + nodot
    tags = [interpreter + "-" + abi + "-" + p for abi in abis for p in platforms]
    stable = "abi3t" if threading else "abi3"
    tags += [interpreter + "-" + stable + "-" + p for p in platforms]
    tags += [interpreter + "-none-" + p for p in platforms]
    for older in range(minor - 1, 1, -1):
        tags += [f"cp{major}{older}-{stable}-{p}" for p in platforms]
    versions = ["py" + nodot, f"py{major}"]
    versions += [f"py{major}{m}" for m in range(minor - 1, -1, -1)]
    tags += [v + "-none-" + p for v in versions for p in platforms]
    tags.append(interpreter + "-none-any")
    tags += [v + "-none-any" for v in versions]
    return tags


def _full_version(info: tuple[int, int, int, str, int]) -> str:
    major, minor, micro, level, serial = info
    text = f"{major}.{minor}.{micro}"
    if level != "final":
        text += level[0] + str(serial)
    return text


def main() -> None:
    """Print the JSON :meth:`~reprolock.harness.lockfile.TargetEnvironment.from_probe` reads."""
    platforms = _linux_platforms() if sys.platform.startswith("linux") else []
    cpython = sys.implementation.name == "cpython"
    facts = {
        "python_version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "python_full_version": platform.python_version(),
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "sys_platform": sys.platform,
        "os_name": os.name,
        "platform_tags": _cpython_tags(platforms) if cpython else [],
    }
    print(json.dumps(facts, sort_keys=True))


if __name__ == "__main__":
    main()
