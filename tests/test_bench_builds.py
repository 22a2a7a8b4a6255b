"""bench/builds.py: the targets' ratios and the builds table, from timings."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _module(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


builds = _module("builds")


def _timing(stack: str, variant: str, *seconds: float, note: str = "") -> dict[str, Any]:
    return {
        "stack": stack,
        "variant": variant,
        "seconds": list(seconds),
        "median": sorted(seconds)[len(seconds) // 2],
        "note": note,
    }


def test_the_ratios_are_the_targets_of_issue_11() -> None:
    stack = next(iter(builds.STACKS))
    timings = [
        _timing(stack, builds.PLAIN, 12.0, 14.0, 13.0),
        _timing(stack, builds.CHOSEN, 5.0, 6.5, 6.0),
        _timing(stack, builds.COLD_STEP, 6.0),
        _timing(stack, builds.STEP, 1.2),
        _timing("update-demo", "repro update, main", 90.0),
        _timing("update-demo", "repro update, this checkout", 45.0),
    ]
    assert builds.ratio_lines(timings) == [
        f"{stack}: cold build / plain docker+pip = 0.46 (target <= 0.5)",
        f"{stack}: build on a built environment / cold build of that lock = 0.20 (target <= 0.25)",
        "update-demo: repro update after / before = 0.50",
    ]


def test_every_variant_is_a_function_of_the_same_shape() -> None:
    assert builds.PLAIN in builds.VARIANTS
    assert builds.CHOSEN not in builds.VARIANTS  # reprolock's own path runs separately
    for variant in builds.VARIANTS.values():
        assert callable(variant)
