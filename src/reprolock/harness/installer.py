"""The build container's driver: install the planned wheels with uv, compile them, list the venv.

Runs as ``python3 -B -I installer.py PLAN`` inside a container of the base image (or of the
environment image it builds on), as root, with no network; its text is mounted read-only. Only
the standard library and Python 3.8 syntax: the base image's python3 may be old. It prints one
line, ``reprolock-installed: <json>``, that lists every distribution in the venv with the
digest of its RECORD, which the host checks against the wheels it verified before the image
is committed (:mod:`reprolock.harness.build`).
"""

from __future__ import annotations

import compileall
import csv
import email.parser
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from typing import Any

MARK = "reprolock-installed: "
_TESTS = re.compile(r"[/\\]tests?[/\\]")
"""Test packages are never imported by a model: not worth compiling."""


def record_kept(path: str) -> str | None:
    """The site-packages path a RECORD row names, or None when the row is left out of the digest.

    The wheel's own RECORD and the installed one agree on every file the wheel puts in
    site-packages; they differ on the dist-info (the installer adds INSTALLER and rewrites
    RECORD), on scripts and data (moved out of site-packages) and on bytecode. A wheel's
    ``<name>.data/purelib/`` and ``platlib/`` files land in site-packages itself.
    """
    parts = path.replace("\\", "/").split("/")
    if len(parts) > 2 and parts[0].endswith(".data") and parts[1] in ("purelib", "platlib"):
        parts = parts[2:]
    if parts[0].endswith((".dist-info", ".data")) or ".." in parts or "__pycache__" in parts:
        return None
    if parts[-1].endswith(".pyc"):
        return None
    return "/".join(parts)


def record_digest(text: str) -> str:
    """sha256 of the sorted ``path,hash`` rows of a RECORD that :func:`record_kept` keeps."""
    rows = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2 or not row[1]:
            continue
        kept = record_kept(row[0])
        if kept is not None:
            rows.append(kept + "," + row[1])
    return hashlib.sha256("\n".join(sorted(rows)).encode("utf-8")).hexdigest()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def site_packages(venv: str) -> str:
    lib = os.path.join(venv, "lib")
    found = [
        os.path.join(lib, entry, "site-packages")
        for entry in sorted(os.listdir(lib))
        if entry.startswith("python") and os.path.isdir(os.path.join(lib, entry, "site-packages"))
    ]
    if len(found) != 1:
        raise SystemExit(f"reprolock: expected one site-packages in {lib}, found {found}")
    return found[0]


def installed(site: str) -> list[dict[str, Any]]:
    """Every distribution in ``site``: canonical name, version, RECORD digest, top-level entries."""
    out = []
    for entry in sorted(os.listdir(site)):
        if not entry.endswith(".dist-info"):
            continue
        folder = os.path.join(site, entry)
        with open(os.path.join(folder, "METADATA"), "rb") as handle:
            meta = email.parser.BytesParser().parse(handle, headersonly=True)
        try:
            with open(os.path.join(folder, "RECORD"), encoding="utf-8") as handle:
                record = handle.read()
        except OSError:
            record = ""
        tops: set[str] = set()
        for row in csv.reader(io.StringIO(record)):
            kept = record_kept(row[0]) if row else None
            if kept is not None:
                tops.add(kept.split("/")[0])
        out.append(
            {
                "name": _canonical(str(meta["Name"] or "")),
                "version": str(meta["Version"] or ""),
                "record": record_digest(record),
                "top": sorted(tops),
            }
        )
    return out


def _record_paths(site: str, name: str) -> list[str]:
    """The site-packages paths in the RECORD of the installed distribution ``name``."""
    for entry in os.listdir(site):
        if (
            entry.endswith(".dist-info")
            and _canonical(entry[: -len(".dist-info")].rsplit("-", 1)[0]) == name
        ):
            try:
                with open(os.path.join(site, entry, "RECORD"), encoding="utf-8") as handle:
                    rows = list(csv.reader(handle))
            except OSError:
                return []
            return [kept for kept in (record_kept(r[0]) for r in rows if r) if kept is not None]
    return []


def _purge_bytecode(site: str, paths: list[str]) -> None:
    """Remove what compiling ``paths`` left and the directories that are empty then.

    The installer removes what RECORD lists; bytecode compiled after the install is not in it,
    and a package directory left holding only ``__pycache__`` would still import (as a
    namespace package).
    """
    folders: set[str] = set()
    for path in paths:
        folder, _, filename = path.rpartition("/")
        if not filename.endswith(".py"):
            continue
        cache = os.path.join(site, folder, "__pycache__")
        stem = filename[: -len(".py")] + "."
        if os.path.isdir(cache):
            for entry in os.listdir(cache):
                if entry.startswith(stem) and entry.endswith(".pyc"):
                    os.unlink(os.path.join(cache, entry))
            folders.add(cache)
        folders.add(os.path.join(site, folder))
    for deepest in sorted(folders, key=len, reverse=True):
        folder = deepest
        while folder.startswith(site + "/"):
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)


def strays(site: str, listing: list[dict[str, Any]]) -> list[str]:
    """Entries of site-packages that no installed distribution's RECORD accounts for."""
    owned = {top for d in listing for top in d["top"]}
    return sorted(
        entry
        for entry in os.listdir(site)
        if entry not in owned
        and entry != "__pycache__"
        and not entry.endswith(".dist-info")
        and _holds_files(os.path.join(site, entry))
    )


def _holds_files(path: str) -> bool:
    # A wheel may carry an empty directory that its RECORD cannot list (ml_dtypes.libs/).
    if not os.path.isdir(path) or os.path.islink(path):
        return True
    return any(files for _, _, files in os.walk(path))


def _add_user(user_id: int) -> None:
    # Appended, never rewritten: the base image's own users stay as they are.
    for path, line in (
        ("/etc/group", f"reprolock:x:{user_id}:"),
        ("/etc/passwd", f"reprolock:x:{user_id}:{user_id}::/tmp:/usr/sbin/nologin"),
    ):
        try:
            with open(path, encoding="utf-8") as handle:
                if any(existing.startswith("reprolock:") for existing in handle):
                    continue
        except FileNotFoundError:
            pass
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _uv(plan: dict[str, Any], *args: str) -> None:
    # uv reads no configuration and no UV_* variable of the base image.
    home = "/tmp"  # noqa: S108 - the container's own tmpfs
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "NO_COLOR": "1"}
    command = [plan["uv"], "pip", *args]
    code = subprocess.call(command, env=environment)
    if code != 0:
        raise SystemExit(f"reprolock: uv pip {args[0]} exited {code}")


def _compile(site: str, tops: list[str]) -> None:
    for top in sorted(set(tops)):
        path = os.path.join(site, top)
        if os.path.isdir(path):
            # A file that does not compile (a Python 2 leftover, say) is no error: pip and uv
            # ignore it too, and it fails at import if it is ever imported.
            compileall.compile_dir(path, quiet=2, workers=0, rx=_TESTS)
        elif path.endswith(".py") and os.path.isfile(path):
            compileall.compile_file(path, quiet=2)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        plan = json.load(handle)
    # Ends the build by itself, even when nobody is left to stop the container.
    signal.alarm(int(plan["timeout"]))
    venv = plan["venv"]
    python = venv + "/bin/python"
    common = ["--python", python, "--offline", "--no-config", "--quiet"]
    if plan["create"]:
        _add_user(int(plan["user"]))
        subprocess.check_call([sys.executable, "-B", "-I", "-m", "venv", "--without-pip", venv])
    site = site_packages(venv)
    before = {d["name"] for d in installed(site)}
    if plan["remove"]:
        leftovers = [path for name in plan["remove"] for path in _record_paths(site, name)]
        _uv(plan, "uninstall", *common, "--", *plan["remove"])
        _purge_bytecode(site, leftovers)
    cache = os.path.join(venv, ".reprolock-uv-cache")
    if plan["install"]:
        # The cache on the venv's own file system: uv unpacks each wheel once and hard-links it.
        _uv(
            plan,
            "install",
            *common,
            "--no-index",
            "--no-deps",
            "--require-hashes",
            "--no-build",
            "--link-mode",
            "hardlink",
            "--cache-dir",
            cache,
            "--find-links",
            plan["wheels"],
            "-r",
            plan["requirements"],
        )
        shutil.rmtree(cache, ignore_errors=True)
    after = installed(site)
    wanted = set(plan["install"])
    _compile(site, [top for d in after if d["name"] in wanted for top in d["top"]])
    listing = [{k: d[k] for k in ("name", "version", "record")} for d in after]
    report = {"before": sorted(before), "installed": listing, "strays": strays(site, after)}
    sys.stdout.write(MARK + json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
