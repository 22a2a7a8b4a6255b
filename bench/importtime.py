"""What a warm ``repro check`` imports, and how long that takes.

``python bench/importtime.py TREE [--runs 5] [--compare REF]`` primes the audit cache on TREE,
then runs ``python -X importtime -m reprolock check TREE`` ``--runs`` times (this checkout, and
with ``--compare`` the ``src/`` of git ref REF, alternately) and prints, per variant, the
median of: the total import time (the sum of the top-level imports' cumulative times), the
wall time of the run, how many modules were imported, and which reprolock audit modules and
third-party packages were among them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(kw_only=True, slots=True)
class Variant:
    name: str
    pythonpath: str
    cache: Path
    import_us: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)


def parse(stderr: str) -> tuple[int, set[str]]:
    """(sum of the top-level imports' cumulative microseconds, every module imported)."""
    total = 0
    modules: set[str] = set()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|", 2)
        modules.add(name.strip())
        if not name[1:].startswith(" "):  # a top-level import: one space after the bar
            total += int(cumulative)
    return total, modules


def run(variant: Variant, tree: Path) -> None:
    env = {**os.environ, "REPROLOCK_CACHE_DIR": str(variant.cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if variant.pythonpath:
        env["PYTHONPATH"] = variant.pythonpath
    command = [sys.executable, "-X", "importtime", "-m", "reprolock", "check", str(tree)]
    started = time.perf_counter()
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    variant.wall_s.append(time.perf_counter() - started)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{variant.name}: exit {result.returncode}: {result.stderr[-500:]}")
    total, modules = parse(result.stderr)
    variant.import_us.append(total)
    variant.modules = modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare", metavar="REF", help="also run git ref REF's src/")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reprolock-importtime-") as tmp:
        work = Path(tmp)
        variants = [Variant(name="this checkout", pythonpath="", cache=work / "cache-this")]
        if args.compare:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", args.compare, "src"],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
            variants.append(
                Variant(name=args.compare, pythonpath=str(work / "src"), cache=work / "cache-ref")
            )
        for variant in variants:
            run(variant, args.tree)  # primes the cache (and writes the .pyc files)
            run(variant, args.tree)
            variant.import_us.clear()
            variant.wall_s.clear()
        for _ in range(args.runs):
            for variant in variants:
                run(variant, args.tree)
        for variant in variants:
            ours = sorted(m for m in variant.modules if m.startswith("reprolock.audit."))
            third = sorted(
                {m.split(".")[0] for m in variant.modules}
                & {"rich", "yaml", "packaging", "pathspec"}
            )
            print(
                f"{variant.name}: imports {statistics.median(variant.import_us) / 1000:.1f} ms "
                f"(runs: {', '.join(f'{u / 1000:.0f}' for u in variant.import_us)}), "
                f"wall {statistics.median(variant.wall_s):.3f} s, "
                f"{len(variant.modules)} modules; third-party: {', '.join(third)}; "
                f"reprolock.audit: {len(ours)} modules"
            )
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
