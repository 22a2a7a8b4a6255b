"""Command-line interface: argument parsing only; the library does the work.

Exit codes, the same for every command: 0 clean, 1 findings at or above ``fail-on``,
2 usage or input error, 3 the check could not be carried out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from reprolock import __version__
from reprolock.audit.baseline import load_baseline, write_baseline
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.config import FailOn, load_config
from reprolock.errors import ReproError, UsageError
from reprolock.files import atomic_write_text
from reprolock.report import Format, render
from reprolock.report.text import render_text, summary_line
from reprolock.rules import RULES, expand_selectors, get_rule

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_UNANSWERED = 3

_CHECK_EPILOG = """\
examples:
  repro check                         audit the current directory
  repro check services/ --fail-on warning
  repro check --format json > findings.json
  repro check --output sarif=repro.sarif --output markdown=summary.md
  repro check --select RP1 --ignore RP103
  repro check --write-baseline .repro/baseline.json   accept today's findings as debt
"""

_RULES_EPILOG = """\
examples:
  repro rules            list every rule
  repro rules RP101      explain one rule, with a bad and a good example
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro",
        description="Keep machine-learning systems reproducible: audit pins, hashes and "
        "immutable references across manifests, locks and recipes.",
    )
    parser.add_argument("--version", action="version", version=f"reprolock {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    check = sub.add_parser(
        "check",
        help="static audit of a repository",
        epilog=_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Audit every manifest, lock file and recipe under PATH for anything "
        "not pinned, hashed and immutable.",
    )
    check.add_argument("path", nargs="?", default=".", help="root to audit (default: .)")
    formats = [f.value for f in Format]
    check.add_argument(
        "--format",
        action="append",
        choices=formats,
        dest="formats",
        metavar="FORMAT",
        help=f"report format on stdout: {', '.join(formats)} (default: text)",
    )
    check.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="FORMAT=FILE",
        help="also write FORMAT to FILE (repeatable)",
    )
    check.add_argument(
        "--fail-on",
        choices=[f.value for f in FailOn],
        help="lowest severity that exits 1 (default: config, else error)",
    )
    check.add_argument(
        "--select", metavar="IDS", help="only these rules (comma list, prefixes allowed)"
    )
    check.add_argument(
        "--ignore", metavar="IDS", help="never these rules (comma list, prefixes allowed)"
    )
    check.add_argument("--baseline", metavar="FILE", help="hide findings accepted in FILE")
    check.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="write every current finding to FILE as accepted debt, then exit 0",
    )
    check.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour in text output (default: auto, on a terminal without NO_COLOR)",
    )

    rules = sub.add_parser(
        "rules",
        help="list the rules, or explain one",
        epilog=_RULES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rules.add_argument("rule", nargs="?", help="rule id, e.g. RP101")
    rules.add_argument("--format", choices=["text", "json"], default="text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``repro`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "rules":
            return _rules(args)
    except ReproError as exc:
        print(f"repro: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(args.command)  # pragma: no cover - argparse restricts the choices


def _parse_outputs(values: list[str]) -> list[tuple[Format, Path]]:
    outputs = []
    for value in values:
        fmt_name, sep, file_name = value.partition("=")
        if not sep or not file_name:
            raise UsageError(f"--output {value!r}: expected FORMAT=FILE")
        try:
            fmt = Format(fmt_name)
        except ValueError:
            choices = ", ".join(f.value for f in Format)
            raise UsageError(
                f"--output {value!r}: unknown format {fmt_name!r} (choose from {choices})"
            ) from None
        outputs.append((fmt, Path(file_name)))
    return outputs


def _selectors(flag: str, value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    try:
        return frozenset(expand_selectors(value.split(",")))
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _use_color(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def _check(args: argparse.Namespace) -> int:
    root = Path(args.path)
    if not root.exists():
        raise UsageError(f"{args.path}: no such file or directory")
    if not root.is_dir():
        raise UsageError(f"{args.path}: not a directory (give the root of the tree to audit)")
    formats = [Format(f) for f in (args.formats or ["text"])]
    if len(set(formats)) > 1:
        raise UsageError("only one --format goes to stdout; write others with --output FORMAT=FILE")
    outputs = _parse_outputs(args.output)
    config = load_config(root)
    fail_on = FailOn(args.fail_on) if args.fail_on else config.fail_on

    baseline_path: Path | None = None
    if args.baseline:
        baseline_path = Path(args.baseline)
    elif config.baseline:
        baseline_path = root / config.baseline
    baseline = load_baseline(baseline_path, str(baseline_path)) if baseline_path else {}
    if args.write_baseline:
        baseline = {}

    options = AuditOptions(
        select=_selectors("--select", args.select),
        ignore=_selectors("--ignore", args.ignore) or frozenset(),
        baseline=baseline,
    )
    result = run_audit(root, config, options)
    report = result.report

    if args.write_baseline:
        target = Path(args.write_baseline)
        previous = load_baseline(target, str(target))
        count = write_baseline(target, result.unbaselined, previous)
        print(f"repro: wrote {count} baseline entries to {target}", file=sys.stderr)
        return EXIT_CLEAN

    for fmt, file_path in outputs:
        atomic_write_text(file_path, render(fmt, report))
    stdout_fmt = formats[0]
    if stdout_fmt is Format.TEXT:
        text = render_text(report, color=_use_color(args.color, sys.stdout))
    else:
        text = render(stdout_fmt, report)
    sys.stdout.write(text)
    sys.stdout.flush()
    print(summary_line(report), file=sys.stderr)
    failed = any(fail_on.fails(f.severity) for f in report.findings)
    return EXIT_FINDINGS if failed else EXIT_CLEAN


def _rules(args: argparse.Namespace) -> int:
    if args.rule:
        try:
            rule = get_rule(args.rule)
        except KeyError:
            raise UsageError(
                f"unknown rule {args.rule!r} (run `repro rules` for the list)"
            ) from None
        if args.format == "json":
            print(json.dumps(_rule_dict(rule.id), indent=2))
            return EXIT_CLEAN
        print(f"{rule.id} {rule.name} ({rule.severity.value})")
        print(f"  {rule.summary}.")
        print()
        print("Why:")
        print(f"  {rule.rationale}")
        print()
        print("Flagged:")
        print("".join(f"    {line}\n" for line in rule.bad.splitlines()), end="")
        print("Fixed:")
        print("".join(f"    {line}\n" for line in rule.good.splitlines()), end="")
        print()
        print(f"Fix: {rule.fix}")
        return EXIT_CLEAN
    if args.format == "json":
        print(json.dumps([_rule_dict(rid) for rid in RULES], indent=2))
        return EXIT_CLEAN
    for rule in RULES.values():
        print(f"{rule.id}  {rule.severity.value:<8} {rule.summary}")
    return EXIT_CLEAN


def _rule_dict(rule_id: str) -> dict[str, str]:
    rule = RULES[rule_id]
    return {
        "id": rule.id,
        "name": rule.name,
        "severity": rule.severity.value,
        "summary": rule.summary,
        "rationale": rule.rationale,
        "fix": rule.fix,
        "bad": rule.bad,
        "good": rule.good,
    }
