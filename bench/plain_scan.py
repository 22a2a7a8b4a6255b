"""The benchmark's baseline: a plain Python scan of the files reprolock audits.

``python bench/plain_scan.py TREE`` walks TREE with ``os.walk``, picks the files reprolock's
scanners claim (by the same names), and parses each one the obvious way, with no rules at all:
TOML with ``tomllib`` (``pyproject.toml`` dependency strings also through ``Requirement``),
requirements files one ``packaging.requirements.Requirement`` per logical line, YAML with
``yaml.safe_load``, JSON with ``json.loads``, and every other claimed file (Dockerfiles, shell
scripts, Makefiles, Python) read and decoded. It prints a JSON summary on stdout.

This is what "reading and parsing the manifests" costs in Python before any judgement; the
issue's speed target for a cold audit is half of it.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement

SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "vendor", "third_party", "__pycache__"})
_SCRIPT_DIRS = frozenset({"scripts", "script", "bin", "ci", ".ci", "tools", "hack"})
_SCRIPT_NAMES = ("script-", "install", "setup", "entrypoint", "build")
_CONFIG_SKIP_DIRS = (".github/", ".gitlab/", ".vscode/", ".idea/", ".devcontainer/", ".repro/")


def kind_of(rel: str, name: str) -> str | None:
    """What the file is to a plain scan, or None when reprolock would not read it."""
    lower = name.lower()
    if lower.endswith((".txt", ".in")):
        stem = lower.rsplit(".", 1)[0]
        in_requirements_dir = "/requirements/" in f"/{rel}"
        if "requirements" in stem or "constraints" in stem or in_requirements_dir:
            return "requirements"
        return "requirements" if lower.endswith(".in") and "." not in stem else None
    if lower.endswith(".toml") or name in {"poetry.lock", "uv.lock", "pdm.lock", "Pipfile"}:
        return "toml"
    if lower.endswith((".yml", ".yaml", ".dvc")) or name == "dvc.lock":
        workflow = rel.startswith(".github/workflows/") or "/.github/workflows/" in rel
        if not workflow and any(rel.startswith(d) or f"/{d}" in rel for d in _CONFIG_SKIP_DIRS):
            return None  # reprolock reads YAML there only as workflows and actions
        return "yaml"
    if lower.endswith((".json", ".ipynb")):
        return "json"
    if lower in {"dockerfile", "containerfile"} or name.startswith(("Dockerfile", "Containerfile")):
        return "text"
    if lower.endswith((".sh", ".bash", ".py", ".mk")) or name in {"Makefile", ".python-version"}:
        return "text"
    if "." not in name:
        directories = rel.split("/")[:-1]
        if any(d in _SCRIPT_DIRS for d in directories) or lower.startswith(_SCRIPT_NAMES):
            return "text"
    return None


def walk(root: str) -> Iterator[tuple[str, str, str]]:
    """``(kind, relative path, absolute path)`` of every file a plain scan reads."""
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        rel_dir = os.path.relpath(directory, root)
        prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        for name in sorted(files):
            rel = prefix + name
            kind = kind_of(rel, name)
            if kind is not None:
                yield kind, rel, os.path.join(directory, name)


def logical_lines(text: str) -> Iterator[str]:
    """Requirements-file lines with continuations joined and comments dropped."""
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            yield line
    if pending.strip():
        yield pending.strip()


def parse_requirements(text: str, stats: Counter[str]) -> None:
    for line in logical_lines(text):
        if line.startswith("-"):
            stats["options"] += 1
            continue
        spec = line.split(" --", 1)[0].strip()
        try:
            Requirement(spec)
        except InvalidRequirement:
            stats["invalid"] += 1
        else:
            stats["requirements"] += 1


def parse_toml(text: str, name: str, stats: Counter[str]) -> None:
    data = tomllib.loads(text)
    if name != "pyproject.toml":
        return
    project = data.get("project")
    if not isinstance(project, dict):
        return
    specs: list[Any] = list(project.get("dependencies") or [])
    for group in (project.get("optional-dependencies") or {}).values():
        specs.extend(group)
    for spec in specs:
        try:
            Requirement(str(spec))
        except InvalidRequirement:
            stats["invalid"] += 1
        else:
            stats["requirements"] += 1


def scan(root: str) -> dict[str, Any]:
    """Read and parse every file; the counts say what was done."""
    stats: Counter[str] = Counter()
    for kind, rel, path in walk(root):
        with open(path, "rb") as handle:
            data = handle.read()
        text = data.decode("utf-8", errors="replace")
        stats["files"] += 1
        stats[f"kind.{kind}"] += 1
        try:
            if kind == "requirements":
                parse_requirements(text, stats)
            elif kind == "toml":
                parse_toml(text, rel.rsplit("/", 1)[-1], stats)
            elif kind == "yaml":
                yaml.safe_load(text)
            elif kind == "json":
                json.loads(text)
        except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError):
            stats["unparsable"] += 1
    return dict(sorted(stats.items()))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: plain_scan.py TREE", file=sys.stderr)
        return 2
    json.dump(scan(args[0]), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
