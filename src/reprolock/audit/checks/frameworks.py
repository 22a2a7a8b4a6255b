"""RP501-RP504 as one check: the environment model is built once and every ML rule reads it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reprolock.audit.checks.environments import Model
from reprolock.audit.checks.interface import Check
from reprolock.audit.checks.mismatch import cuda_mismatch
from reprolock.audit.checks.python_drift import python_drift
from reprolock.audit.checks.skew import framework_skew
from reprolock.audit.checks.variants import variant_unpinned
from reprolock.audit.interface import FileFacts, ScanContext
from reprolock.model import Finding


class FrameworkCheck(Check):
    """Framework skew, accelerator variants, CUDA mismatches and Python drift, judged over the
    repository's environments (:mod:`reprolock.audit.checks.environments`)."""

    name = "frameworks"
    rules = ("RP501", "RP502", "RP503", "RP504")

    def run(self, facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterable[Finding]:
        model = Model(facts, ctx.config, ctx.root)
        found = [
            *framework_skew(model, ctx.config.frameworks),
            *variant_unpinned(model),
            *cuda_mismatch(model),
            *python_drift(model),
        ]
        return _dedupe(found)


def _dedupe(found: Iterable[Finding]) -> list[Finding]:
    """One finding per rule, place and subject: a file installed by several environments is
    reached once from each."""
    seen: set[tuple[str, str, int, str]] = set()
    out: list[Finding] = []
    for f in found:
        key = (f.rule, f.location.path, f.location.line, f.subject)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
