"""``report/`` sits below the harness and the bot: none of its modules imports anything above."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reprolock.report

REPORT = Path(reprolock.report.__file__).parent
BENEATH = {"reprolock", "reprolock.model", "reprolock.rules", "reprolock.errors", "reprolock.files"}
"""What report/ may use besides itself (``reprolock`` for ``__version__``)."""


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(REPORT.glob("*.py")), ids=lambda path: path.name)
def test_report_imports_nothing_above_it(path: Path) -> None:
    above = {
        name
        for name in imported(path)
        if name.split(".")[0] == "reprolock"
        and name not in BENEATH
        and not name.startswith("reprolock.report.")
    }
    assert above == set()


def test_the_walk_sees_an_import_from_above(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from reprolock.harness import replay\n", encoding="utf-8")
    assert imported(module) == {"reprolock.harness"}
