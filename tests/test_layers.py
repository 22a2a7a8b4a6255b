"""The house reads top-down: ``cli`` -> the verbs (``update``, ``fix``, ``lockdiff``,
``harness``, ``audit``) -> ``formats``/``specs``/``rules``/``report``/``config`` -> ``model``/
``errors``/``files``; no module imports a layer above its own, and lock formats are read only
in ``formats/``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import reprolock

SRC = Path(reprolock.__file__).parent
LAYERS = {
    "reprolock.cli": 3,
    "reprolock.__main__": 3,
    "reprolock.update": 2,
    "reprolock.fix": 2,
    "reprolock.lockdiff": 2,
    "reprolock.piptools": 2,
    "reprolock.harness": 2,
    "reprolock.audit": 2,
    "reprolock.formats": 1,
    "reprolock.specs": 1,
    "reprolock.rules": 1,
    "reprolock.report": 1,
    "reprolock.config": 1,
    "reprolock.model": 0,
    "reprolock.errors": 0,
    "reprolock.files": 0,
    "reprolock": 0,
}
"""Each package or module's layer; a module may import its own layer's and those below."""
FORMATS_MAY_USE = {"reprolock.formats", "reprolock.model", "reprolock.errors", "reprolock.files"}


def layer(module: str) -> int:
    """The layer of a module: that of its longest listed prefix."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = LAYERS.get(".".join(parts[:end]))
        if found is not None:
            return found
    raise KeyError(module)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every reprolock module ``path`` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] == "reprolock"}


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    own = layer(module_name(path))
    assert sorted(name for name in imported(path) if layer(name) > own) == []


@pytest.mark.parametrize("path", sorted((SRC / "formats").rglob("*.py")), ids=lambda p: p.name)
def test_formats_use_only_model_errors_and_files(path: Path) -> None:
    outside = {
        n
        for n in imported(path)
        if not any(n.startswith(m) for m in FORMATS_MAY_USE) or n == "reprolock"
    }
    assert outside == set()


# What reading a lock format looks like in code: its keys, as a reader walks them.
_LOCK_READING = re.compile(
    r"""["'](?:content-hash|content_hash|resolution-markers|resolved_reference|lock-version"""
    r"""|lock_version|commit-id|requires-dist|provides-extras)["']"""
)


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if (SRC / "formats") not in p.parents],
    ids=module_name,
)
def test_no_module_outside_formats_parses_a_lock(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _LOCK_READING.findall(text) == []


def test_the_lock_check_sees_a_reader(tmp_path: Path) -> None:
    assert _LOCK_READING.findall('metadata.get("content-hash")') == ['"content-hash"']


def test_the_walk_sees_an_import_from_above(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from reprolock.harness import replay\n", encoding="utf-8")
    assert imported(module) == {"reprolock.harness"}
    assert layer("reprolock.harness.replay") > layer("reprolock.formats.lock")
