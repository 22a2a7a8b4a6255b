"""Command-line interface: argument parsing only; the library does the work.

Exit codes, the same for every command: 0 clean, 1 findings at or above ``fail-on``,
2 usage or input error, 3 the check could not be carried out, 4 internal error (a bug in
reprolock: an unexpected exception, never confused with a finding).
"""

from __future__ import annotations

import argparse
import atexit
import enum
import io
import json
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn, TextIO, TypeAlias, TypeVar

from reprolock import __version__
from reprolock.audit.baseline import load_baseline, write_baseline
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.config import FailOn, Suite, find_project_root, load_config
from reprolock.errors import ReproError, UsageError
from reprolock.files import atomic_write_text, cache_dir, named_path
from reprolock.report import Format, render
from reprolock.report.text import render_text, summary_line
from reprolock.rules import RULES, expand_selectors, get_rule

if TYPE_CHECKING:
    from reprolock.harness.plan import Work
    from reprolock.harness.replay import RecordOutcome
    from reprolock.report.bisect import MixResult
    from reprolock.report.replay import ReportFormat

F = TypeVar("F", bound=enum.Enum)
_Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_UNANSWERED = 3
EXIT_INTERNAL = 4

_EXIT_CODES = """\
exit codes:
  0  clean: no finding at or above --fail-on
  1  findings at or above --fail-on
  2  usage or input error: bad flag, bad config, unreadable input
  4  internal error: a bug in reprolock (rerun with --debug for the traceback)
"""

_MAIN_EPILOG = """\
examples:
  repro check                 audit the current directory
  repro rules RP101           why a rule exists, and how to fix what it flags
  repro golden record         record the golden outputs of every suite
  repro replay --lock new.txt does the model behave the same with new.txt's packages?
  repro bisect --suite churn --lock new.txt   which of new.txt's updates changed it?
  repro update --write        upgrade the locks when no suite changes behaviour

Run `repro COMMAND --help` for the options of a command.
"""

_CHECK_EPILOG = f"""\
examples:
  repro check                                  audit the current directory
  repro check services/ --fail-on warning      fail on warnings too
  repro check --format json > findings.json
  repro check --format github                  annotations in a GitHub Actions log
  repro check --output sarif=repro.sarif --output markdown=summary.md
  repro check --select RP1 --ignore RP103      only RP1xx rules, but not RP103
  repro check --write-baseline .repro/baseline.json
                                               accept today's findings as known debt
  repro check --baseline .repro/baseline.json  report only what is not accepted

suppress one finding in the file itself, on its line or the line above:
  numpy  # repro: ignore[RP101] pinned by the base image

{_EXIT_CODES}"""

_RULES_EPILOG = """\
examples:
  repro rules                 list every rule
  repro rules RP101           explain one rule, with a bad and a good example
  repro rules --format json   the catalogue as JSON
"""


_HARNESS_EXIT_CODES = """\
exit codes:
  0  identical, or within tolerance
  1  changed, or broken (the environment does not install, or the entrypoint fails)
  2  usage or input error: bad flag, bad config, unreadable lock, golden already recorded
  3  not answered: no Docker daemon, base image unavailable, download failed,
     golden file missing or unreadable
  4  internal error: a bug in reprolock (rerun with --debug for the traceback)
"""

_GOLDEN_EPILOG = """\
examples:
  repro golden record                        record every suite of ./pyproject.toml
  repro golden record --suite churn --force  record one suite again, over its golden

The suite's lock is built into an image (reused while the lock is unchanged), the
entrypoint runs twice in it, and golden.npz plus golden.json are written together. An
output that differs between the two runs beyond its tolerance is not recorded: seed the
model, or set noise = "accept" (float outputs) or max-label-flip-rate (labels) for it.
Accepting a changed lock's behaviour is recording again: repro golden record --force.

exit codes:
  0  recorded
  1  not recorded: the environment does not install, the entrypoint fails, or two runs
     differ beyond the tolerance
  2  usage or config error: bad flag or config (what repro golden check finds), unreadable
     lock, golden already recorded and no --force
  3  not answered: no Docker daemon, base image unavailable, download failed
  4  internal error: a bug in reprolock (rerun with --debug for the traceback)
"""

_GOLDEN_CHECK_EPILOG = """\
examples:
  repro golden check                         every suite of the config found from here
  repro golden check --suite churn

The same checks run at the start of `repro golden record`, `repro replay` and `repro bisect`.

exit codes:
  0  every check passed
  2  a mistake in the config: entrypoint not found, inputs not an .npz, an outputs.NAME
     table naming no recorded output, base image not on this daemon
  3  not answered: no Docker daemon (the other checks are still printed)
"""

_REPLAY_EPILOG = f"""\
examples:
  repro replay                               does the suite's own lock still reproduce?
  repro replay --lock candidate.txt          would this update change the model?
  repro replay --suite churn --lock candidate.txt --format json > replay.json
  repro replay --lock candidate.txt --format markdown >> "$GITHUB_STEP_SUMMARY"
  repro replay --suite churn,fraud --lock new.txt --output json=report-1.json
                                             one job of `repro plan`'s matrix
  repro replay --suite churn --lock new.txt --mix only-scikit-learn-1a2b3c
                                             one mix of `repro plan --bisect`

With --mix the candidate runs as `repro bisect` runs it, then each mix named (the suite's
lock with the mix's updates moved), and the report says whether each reproduces the
candidate's change; `repro merge` combines the reports of every mix.

{_HARNESS_EXIT_CODES}"""


_BISECT_EPILOG = """\
examples:
  repro bisect --suite segments --lock candidate.txt
  repro bisect --suite segments --lock candidate.txt --format json > bisect.json
  repro bisect --suite segments --lock candidate.txt --format markdown >> "$GITHUB_STEP_SUMMARY"
  repro bisect --suite segments --lock candidate.txt --known merged.json
                                  go on from the mixes a matrix tested (`repro merge`)

The candidate's package updates are grouped so that every mixed environment installs
consistently (from the wheels' Requires-Dist and the lock's graph), then delta debugging
moves groups onto the suite's lock until the smallest set that reproduces the change is
left. Each mix is one image build at most: images are found by their lock digest, wheels
come from the cache. With one culprit among k groups it tests at most 2*ceil(log2 k)+2
environments, the candidate and a fresh baseline included.

exit codes:
  0  nothing to bisect: the candidate behaves like the suite's lock
  1  the candidate changes behaviour; the culprits are reported
  2  usage or input error: bad flag, bad config, unreadable lock
  3  not answered: no Docker daemon, golden missing, the suite's own lock does not run
     here, or the candidate installs exactly the suite's lock
"""

_UPDATE_EPILOG = """\
examples:
  repro update                              upgrade everything, replay every suite, report
  repro update --package scikit-learn       upgrade one package (repeatable)
  repro update --write --report pr-body.md  replace the lock when every suite behaves the same
  repro update --write --force --json update.json
                                            replace it even when behaviour changed
  repro update --write --force --no-replay  compile only: a CI matrix replays the new locks

Each lock (a suite's `lock`, or with no suites every pip-compile output at the project's
top level and one directory down) is compiled again from the source its pip-compile header
names (or a `.in` beside it, or pyproject.toml) with the header's own flags plus --upgrade
(or --upgrade-package NAME) and --generate-hashes, by the host's pip-compile and pip
configuration. The candidate is diffed, every suite on it is replayed and, on a behaviour
change, bisected. The Markdown report (stdout, or --report FILE) is written for a pull
request body.

exit codes:
  0  safe: every suite identical or within tolerance, no suites configured, or already up
     to date; with --no-replay, the locks compiled
  1  a suite changed behaviour, or broke
  2  usage or input error: bad flag, bad config, no lock or no lock source found
  3  not answered: pip-compile failed (no resolution, index unreachable), no Docker
     daemon, golden missing, a download failed
"""

_DIFF_EPILOG = """\
examples:
  repro diff requirements.txt candidate.txt
  repro diff poetry.lock uv.lock --format markdown >> "$GITHUB_STEP_SUMMARY"
  git show HEAD~1:uv.lock > /tmp/old.lock && repro diff /tmp/old.lock uv.lock --format json
"""

_FIX_EPILOG = """\
examples:
  repro fix --dry-run          show what would change
  repro fix services/api       pin and hash what the audit flagged under services/api
  repro fix && repro check     the fixed findings are gone
"""


def _add_harness_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--suite",
        action="append",
        metavar="NAME",
        help="only this suite (repeatable, or a comma list; default: every suite in the config)",
    )
    parser.add_argument(
        "--project",
        metavar="DIR",
        default=".",
        help="directory whose pyproject.toml or repro.toml names the suites (default: .)",
    )


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with ``command``, only that command's subparser."""
    parser = argparse.ArgumentParser(
        prog="repro",
        description="Keep machine-learning systems reproducible: audit pins, hashes and "
        "immutable references across manifests, locks and recipes.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"reprolock {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an internal error (exit 4), print the whole traceback",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # Only the command asked for is built (argparse's help texts cost a run answered from
    # the cache a fortieth of its time); help, a bad command or none: all of them.
    builders = [_COMMANDS[command]] if command in _COMMANDS else _COMMANDS.values()
    for build in dict.fromkeys(builders):
        build(sub)
    return parser


def _add_check(sub: _Subparsers) -> None:
    check = sub.add_parser(
        "check",
        help="static audit of a repository",
        epilog=_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Audit every manifest, lock file and recipe under PATH for anything "
        "not pinned, hashed and immutable.",
    )
    check.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="root to audit (default: .)"
    )
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
        help="also write the report in FORMAT to FILE (repeatable, one file per format)",
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
    check.add_argument(
        "--baseline",
        metavar="FILE",
        help="hide findings accepted in FILE (default: the config's baseline key)",
    )
    check.add_argument(
        "--write-baseline",
        metavar="FILE",
        help="write every current finding to FILE as accepted debt, keeping the reason, "
        "owner and expiry of entries already there, then exit 0",
    )
    check.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the audit cache ($REPROLOCK_CACHE_DIR, else "
        "$XDG_CACHE_HOME/reprolock, else ~/.cache/reprolock)",
    )
    check.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour in text output (default: auto, on a terminal without NO_COLOR)",
    )


def _add_rules(sub: _Subparsers) -> None:
    rules = sub.add_parser(
        "rules",
        help="list the rules, or explain one",
        epilog=_RULES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rules.add_argument("rule", nargs="?", metavar="ID", help="rule id, e.g. RP101")
    rules.add_argument(
        "--format", choices=["text", "json"], default="text", help="output format (default: text)"
    )


def _add_golden(sub: _Subparsers) -> None:
    golden = sub.add_parser(
        "golden",
        help="record the golden outputs of a suite",
        description="Golden outputs: what a suite's entrypoint returns in its locked environment.",
    )
    golden_sub = golden.add_subparsers(dest="golden_command", metavar="ACTION")
    golden_sub.required = True
    record = golden_sub.add_parser(
        "record",
        help="build the suite's environment, run it twice, write golden.npz and golden.json",
        epilog=_GOLDEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Record the golden outputs of a suite (all suites without --suite).",
    )
    _add_harness_common(record)
    record.add_argument(
        "--force", action="store_true", help="replace a golden that is already recorded"
    )
    init = golden_sub.add_parser(
        "init",
        help="add a commented suite table guessed from the project, and an inputs script",
        description="Add [tool.repro.suites.NAME] to the config (repro.toml when there is one, "
        "else pyproject.toml), guessed from the project: a src layout gives source and "
        "pythonpath, the first lock found, a local image with Python; and write "
        "golden/NAME/make_inputs.py, which writes the inputs. Nothing is built or run.",
    )
    init.add_argument("name", metavar="NAME", help="the new suite's name")
    init.add_argument(
        "--project", metavar="DIR", default=".", help="the project directory (default: .)"
    )
    check = golden_sub.add_parser(
        "check",
        help="check each suite's config on the host, before anything is built",
        epilog=_GOLDEN_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check suites without building or running anything: the config file read, "
        "the entrypoint's module found from source and pythonpath (and its function), the "
        "inputs' arrays, outputs.NAME tables against the recorded outputs, the base image.",
    )
    _add_harness_common(check)


def _add_replay(sub: _Subparsers) -> None:
    replay = sub.add_parser(
        "replay",
        help="rebuild a suite's environment from a candidate lock and compare with the golden",
        epilog=_REPLAY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Replay golden suites with a candidate lock (default: each suite's own "
        "lock) and report any behaviour change.",
    )
    _add_harness_common(replay)
    replay.add_argument(
        "--lock",
        metavar="CANDIDATE",
        help="the candidate lock, any supported format (default: the suite's own lock)",
    )
    replay.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="report format on stdout (default: text)",
    )
    replay.add_argument(
        "--fresh-baseline",
        action="store_true",
        help="also run the suite's own lock here and compare the candidate with that run, "
        "even when this machine matches the golden's",
    )
    _add_report_outputs(replay)
    replay.add_argument(
        "--mix",
        action="append",
        metavar="ID",
        help="test these mixes of a fanned-out bisect (`repro plan --bisect`; repeatable, or a "
        "comma list); needs one --suite and --lock",
    )


def _add_bisect(sub: _Subparsers) -> None:
    bisect = sub.add_parser(
        "bisect",
        help="find which package update(s) of a candidate lock change a suite's behaviour",
        epilog=_BISECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Replay a suite with a candidate lock and, when its behaviour changed, "
        "find the smallest set of package updates that reproduces the change.",
    )
    bisect.add_argument("--suite", metavar="NAME", required=True, help="the suite to bisect")
    bisect.add_argument(
        "--lock",
        metavar="CANDIDATE",
        required=True,
        help="the candidate lock, any supported format",
    )
    bisect.add_argument(
        "--project",
        metavar="DIR",
        default=".",
        help="directory whose pyproject.toml or repro.toml names the suites (default: .)",
    )
    bisect.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="report format on stdout (default: text)",
    )
    bisect.add_argument(
        "--fresh-baseline",
        action="store_true",
        help="compare with a run of the suite's own lock here, even when this machine "
        "matches the golden's",
    )
    _add_report_outputs(bisect)
    bisect.add_argument(
        "--known",
        metavar="FILE",
        help="a merged report (`repro merge --format json`): the mixes its jobs tested are "
        "not tested again, and the search starts from the smallest that reproduces",
    )


def _add_update(sub: _Subparsers) -> None:
    update = sub.add_parser(
        "update",
        help="compile a candidate lock with pip-tools, replay every suite, bisect, report",
        epilog=_UPDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The dependency-update bot: upgrade the project's locks with pip-compile, "
        "diff them, replay every golden suite against the candidates, bisect any behaviour "
        "change, and write a report fit for a pull request body.",
    )
    update.add_argument(
        "--project",
        metavar="DIR",
        default=".",
        help="the project directory: its config names the suites and locks (default: .)",
    )
    update.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="NAME",
        help="upgrade only this package (repeatable; NAME==VERSION pins it); default: all",
    )
    update.add_argument(
        "--write",
        action="store_true",
        help="replace each updated lock (atomically) when every suite behaves the same",
    )
    update.add_argument(
        "--force",
        action="store_true",
        help="with --write: replace the locks even when behaviour changed or was not checked",
    )
    update.add_argument("--report", metavar="FILE", help="also write the Markdown report to FILE")
    update.add_argument("--json", metavar="FILE", help="write the JSON report to FILE")
    update.add_argument(
        "--no-replay",
        action="store_true",
        help="compile and diff only, and leave the suites to a replay matrix (`repro plan`, "
        "`repro merge`); with --write, --force is needed to replace the locks",
    )


def _add_diff(sub: _Subparsers) -> None:
    diff = sub.add_parser(
        "diff",
        help="package-level diff of two locks, any supported formats",
        epilog=_DIFF_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare two locks (pip-compile, uv.lock, poetry.lock, pylock.toml, "
        "pdm.lock, Pipfile.lock; the two may differ in format): added, removed, upgraded, "
        "downgraded and hash-changed packages, ML frameworks marked. Exits 0 when they "
        "install the same thing, 1 when they differ, as diff(1).",
    )
    diff.add_argument("old", metavar="OLD_LOCK")
    diff.add_argument("new", metavar="NEW_LOCK")
    diff.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="report format on stdout (default: text)",
    )
    diff.add_argument(
        "--project",
        metavar="DIR",
        default=".",
        help="directory whose config adds to the framework list, and the only place a "
        "lock inside it may include files from (default: .)",
    )


def _add_cache(sub: _Subparsers) -> None:
    cache = sub.add_parser(
        "cache",
        help="show or bound what reprolock keeps: wheels, its own images, the audit cache",
        description="What reprolock keeps: wheels, its own Docker images (label reprolock.*, "
        "never anyone else's), the audit cache.",
    )
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    cache_sub.required = True
    info = cache_sub.add_parser(
        "info", help="counts and sizes", description="Count and size what reprolock keeps."
    )
    prune = cache_sub.add_parser(
        "prune",
        help="remove what has not been used for a while",
        epilog=_CACHE_PRUNE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Remove wheels, reprolock's own images and audit-cache files not used "
        "for --older-than days. An image that a container uses stays, and so does every "
        "image a kept image is built on.",
    )
    prune.add_argument(
        "--older-than",
        type=_days,
        default=DEFAULT_PRUNE_DAYS,
        metavar="DAYS",
        help=f"age of last use past which things go (default: {DEFAULT_PRUNE_DAYS:g}; "
        "0: everything not in use)",
    )
    prune.add_argument(
        "--keep-goldens",
        action="store_true",
        help="keep the wheels and environment images of every suite with a golden in "
        "--project's config, whatever their age",
    )
    prune.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    prune.add_argument(
        "--project", metavar="DIR", default=".", help="project for --keep-goldens (default: .)"
    )
    key = cache_sub.add_parser(
        "key",
        help="print a key for a CI cache of the wheel directory",
        epilog=_CACHE_KEY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print a key of the wheels a job can need: the pins and hashes of the "
        "suites' locks and of the candidate, and the pinned uv. It changes only when one of "
        "those locks does, so a CI cache keyed on it is downloaded again only then.",
    )
    _add_harness_common(key)
    key.add_argument(
        "--lock",
        metavar="CANDIDATE",
        default="",
        help="the job's candidate lock too (empty: the suites' own locks only)",
    )
    for each in (info, prune):
        each.add_argument(
            "--format",
            choices=["text", "json"],
            default="text",
            help="report format on stdout (default: text)",
        )


def _add_fix(sub: _Subparsers) -> None:
    fix = sub.add_parser(
        "fix",
        help="write exact pins and hashes where the audit found none",
        epilog=_FIX_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pay the pinning debt down: for every RP101/RP102/RP103 finding in a "
        "concrete environment, write the exact version (the sibling lock's, else resolved "
        "with pip-compile) and, in requirements files, its hashes. Prints a unified diff; "
        "comments and formatting are kept; files are replaced atomically.",
    )
    fix.add_argument("path", nargs="?", default=".", metavar="PATH", help="root (default: .)")
    fix.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")


def main(argv: Sequence[str] | None = None) -> int:
    """The ``repro`` command as a function (tests, embedding); returns the exit code."""
    with _sigterm_as_interrupt():
        return _main(argv)


def run() -> NoReturn:
    """The ``repro`` executable (its console script, ``python -m reprolock``): :func:`main`
    on ``sys.argv``, then :func:`exit_now`."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` without the interpreter freeing its heap object by object.

    After an audit of a large tree that heap is ~100 MB of small objects, and the shutdown
    that deallocates them one by one took a twentieth of a cold audit of 1,000 projects
    (0.1 s, measured on the bench trees); the operating system takes the memory back at once.
    What shutdown does that anyone could see is done first: the ``atexit`` handlers run
    (``logging``, ``weakref.finalize``, coverage) and stdout and stderr are flushed. Where
    that is not certain to be all (another thread still runs, a flush fails on a closed
    pipe), the interpreter's own exit runs instead, exactly as before.
    """
    if threading.active_count() == 1:
        atexit._run_exitfuncs()  # what the interpreter's own exit runs first
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # the interpreter's exit reports it as it always has
        else:
            os._exit(code)
    sys.exit(code)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (CI cancelling a job, ``kill``) cleans up as Ctrl-C does: temporary files of
    atomic writes removed, containers removed, exit 130. The harness sets the same handler
    around its containers and puts this one back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (main() called from a worker thread)
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names, when nothing before it could ask for the list of all
    (``--debug`` alone may come first)."""
    for word in argv:
        if word != "--debug":
            return word if not word.startswith("-") else None
    return None


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = _parser(_command_of(sys.argv[1:] if argv is None else argv)).parse_args(argv)
    except SystemExit as exc:
        # argparse exits 2 on a bad flag and 0 after --help; returning the code keeps
        # `main()` usable as a function (tests, embedding) with the same exit codes.
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_CLEAN
        return EXIT_USAGE
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "rules":
            return _rules(args)
        if args.command == "golden":
            if args.golden_command == "init":
                return _golden_init(args)
            return _golden_check(args) if args.golden_command == "check" else _golden_record(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "bisect":
            return _bisect(args)
        if args.command == "plan":
            return _plan(args)
        if args.command == "merge":
            return _merge(args)
        if args.command == "update":
            return _update(args)
        if args.command == "diff":
            return _diff(args)
        if args.command == "fix":
            return _fix(args)
        if args.command == "cache":
            return _cache(args)
    except ReproError as exc:
        print(f"repro: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`repro rules | head`); stop quietly, as cat and grep do.
        _silence_stdout()
        return EXIT_CLEAN
    except Exception as exc:  # the one place every unexpected failure lands
        return _internal_error(exc, debug=args.debug or bool(os.environ.get("REPROLOCK_DEBUG")))
    raise AssertionError(args.command)  # pragma: no cover - argparse restricts the choices


def _internal_error(exc: BaseException, *, debug: bool) -> int:
    """Exit 4 for an exception no code path expected: CI must never read a crash as exit 1
    ("findings" / "changed"). One line by default; the traceback with ``--debug``."""
    if debug:
        import traceback  # noqa: PLC0415 - only for --debug, after a crash

        traceback.print_exception(exc, file=sys.stderr)
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    name = type(exc).__name__
    print(
        f"repro: internal error: {name}{': ' + detail if detail else ''}\n"
        "repro: this is a bug in reprolock; please report it with the output of "
        "`repro --debug ...` (see SECURITY.md for anything security-related)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def _silence_stdout() -> None:
    # Python flushes stdout at exit and would report the broken pipe again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _parse_outputs(values: list[str], kind: type[F]) -> list[tuple[F, Path]]:
    outputs: list[tuple[F, Path]] = []
    targets: set[str] = set()
    example = "sarif=repro.sarif" if kind is Format else "json=report.json"
    for value in values:
        fmt_name, sep, file_name = value.partition("=")
        if not sep or not fmt_name or not file_name:
            raise UsageError(f"--output {value!r}: expected FORMAT=FILE, e.g. {example}")
        try:
            fmt = kind(fmt_name.strip().lower())
        except ValueError:
            choices = ", ".join(f.value for f in kind)
            raise UsageError(
                f"--output {value!r}: unknown format {fmt_name!r} (choose from {choices})"
            ) from None
        target = os.path.normpath(file_name)
        if target in targets:
            raise UsageError(
                f"--output {value!r}: {file_name} is already written by another --output"
            )
        targets.add(target)
        outputs.append((fmt, Path(file_name)))
    return outputs


def _selectors(flag: str, value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    if not value.replace(",", "").strip():
        raise UsageError(f"{flag}: expected a comma list of rule ids or prefixes, e.g. RP1,RP201")
    try:
        return frozenset(expand_selectors(value.split(",")))
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc} (run `repro rules` for the list)") from None


def _write(path: Path, text: str, flag: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write: {exc.strerror or exc}") from None


def _use_color(choice: str, stream: TextIO) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def _path_prefix(root: Path) -> str:
    """The audited root relative to the working directory, for code-host paths."""
    try:
        rel = root.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return ""  # outside the working directory: root-relative paths are all we can give
    text = rel.as_posix()
    return "" if text == "." else f"{text}/"


def _check(args: argparse.Namespace) -> int:
    root = Path(args.path)
    if not root.exists():
        raise UsageError(f"{args.path}: no such file or directory")
    if not root.is_dir():
        raise UsageError(f"{args.path}: not a directory (give the root of the tree to audit)")
    formats = [Format(f) for f in (args.formats or ["text"])]
    if len(set(formats)) > 1:
        raise UsageError("only one --format goes to stdout; write others with --output FORMAT=FILE")
    outputs = _parse_outputs(args.output, Format)
    select = _selectors("--select", args.select)
    ignore = _selectors("--ignore", args.ignore) or frozenset()
    config = load_config(root)
    fail_on = FailOn(args.fail_on) if args.fail_on else config.fail_on

    baseline_path: Path | None = None
    if args.baseline:
        baseline_path = Path(args.baseline)
        # A mistyped --baseline must not silently report every accepted finding again.
        if not baseline_path.is_file():
            raise UsageError(f"--baseline {args.baseline}: no such file")
    elif config.baseline:
        baseline_path = root / config.baseline
    baseline = load_baseline(baseline_path, str(baseline_path)) if baseline_path else {}
    if args.write_baseline:
        target = Path(args.write_baseline)
        previous = load_baseline(target, str(target))
        baseline = {}

    options = AuditOptions(
        select=select,
        ignore=ignore,
        baseline=baseline,
        cache_dir=None if args.no_cache else cache_dir(),
    )
    result = run_audit(root, config, options)
    report = replace(result.report, path_prefix=_path_prefix(root))

    if args.write_baseline:
        try:
            count = write_baseline(target, result.unbaselined, previous)
        except OSError as exc:
            msg = f"--write-baseline {target}: cannot write: {exc.strerror or exc}"
            raise UsageError(msg) from None
        noun = "entry" if count == 1 else "entries"
        print(f"repro: wrote {count} baseline {noun} to {target}", file=sys.stderr)
        return EXIT_CLEAN

    for fmt, file_path in outputs:
        _write(file_path, render(fmt, report), f"--output {fmt.value}={file_path}")
    stdout_fmt = formats[0]
    if stdout_fmt is Format.TEXT:
        text = render_text(report, color=_use_color(args.color, sys.stdout))
    else:
        text = render(stdout_fmt, report)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # `repro check | head`: the exit code must still say whether the check failed.
        _silence_stdout()
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
        print(textwrap.fill(rule.rationale, width=88, initial_indent="  ", subsequent_indent="  "))
        print()
        print("Flagged:")
        print("".join(f"    {line}\n" for line in rule.bad.splitlines()))
        print("Fixed:")
        print("".join(f"    {line}\n" for line in rule.good.splitlines()), end="")
        print()
        print(f"Fix: {rule.fix}")
        if rule.reads:
            print()
            print("Reads:")
            print("".join(f"  {api}\n" for api in rule.reads), end="")
        return EXIT_CLEAN
    if args.format == "json":
        print(json.dumps([_rule_dict(rid) for rid in RULES], indent=2))
        return EXIT_CLEAN
    width = max(len(rule.name) for rule in RULES.values())
    for rule in RULES.values():
        print(f"{rule.id}  {rule.severity.value:<8} {rule.name:<{width}}  {rule.summary}")
    return EXIT_CLEAN


def _rule_dict(rule_id: str) -> dict[str, str | list[str]]:
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
        "reads": list(rule.reads),
    }


# --- compatibility harness -----------------------------------------------------------------
# The harness modules import docker and numpy; importing them only here keeps them out of
# `repro check`'s start-up.


def _harness_config(args: argparse.Namespace, *, announce: bool) -> tuple[Path | None, list[Suite]]:
    """The config file read (searched upward from ``--project``) and the chosen suites; the
    file is named on stderr when it is not in ``--project`` itself (or ``announce``)."""
    from reprolock.harness import replay as harness  # noqa: PLC0415 - see above
    from reprolock.harness.replay import select_suites  # noqa: PLC0415

    start = Path(args.project)
    if not start.is_dir():
        raise UsageError(f"--project {args.project}: not a directory")
    root = find_project_root(start)
    config = load_config(root)
    path = None if config.source is None else root / config.source
    if path is not None and (announce or root != start):
        print(f"repro: config: {harness.display(path)}", file=sys.stderr)
    named = [args.suite] if isinstance(args.suite, str) else args.suite  # bisect: one suite
    return path, select_suites(config.suites, _names("--suite", named))


def _names(flag: str, values: Sequence[str] | None) -> list[str] | None:
    """Repeated and comma-listed names, in order, each once; None when none were given."""
    if not values:
        return None
    names: list[str] = []
    for value in values:
        parts = [part.strip() for part in value.split(",")]
        if not all(parts):
            raise UsageError(f"{flag} {value!r}: expected a name or a comma list of names")
        names += parts
    return list(dict.fromkeys(names))


def _harness_suites(args: argparse.Namespace) -> list[Suite]:
    from reprolock.harness import preflight  # noqa: PLC0415 - see above

    _, suites = _harness_config(args, announce=False)
    preflight.require(suites)
    return suites


def _golden_check(args: argparse.Namespace) -> int:
    from reprolock.harness import preflight  # noqa: PLC0415 - see above
    from reprolock.harness.docker import DockerUnavailableError, connect  # noqa: PLC0415

    _, suites = _harness_config(args, announce=True)
    checks = [preflight.check_suite(suite) for suite in suites]
    unanswered = None
    images: dict[str, tuple[str | None, str | None]] = {}
    try:
        with closing(connect()) as client:
            for suite in suites:
                images[suite.name] = preflight.check_base_image(client, suite)
    except DockerUnavailableError as exc:
        unanswered = f"base images not checked: {exc}"
    lines = []
    problems = 0
    for suite, check in zip(suites, checks, strict=True):
        fact, image_problem = images.get(suite.name, (None, None))
        found = [*check.problems, *([image_problem] if image_problem else [])]
        problems += len(found)
        lines.append(f"{suite.name}: {'ok' if not found else _count(len(found), 'problem')}")
        lines.extend(f"  {line}" for line in (*check.facts, *([fact] if fact else [])))
        lines.extend(f"  error: {problem}" for problem in found)
    _emit("\n".join(lines) + "\n")
    if problems:
        print(f"repro: error: {_count(problems, 'problem')} in the config", file=sys.stderr)
        return EXIT_USAGE
    if unanswered:
        print(f"repro: error: {unanswered}", file=sys.stderr)
        return EXIT_UNANSWERED
    print(f"repro: {_count(len(suites), 'suite')} checked: no problem found", file=sys.stderr)
    return EXIT_CLEAN


def _golden_init(args: argparse.Namespace) -> int:
    from reprolock.harness import replay as harness  # noqa: PLC0415 - see above
    from reprolock.harness.docker import DockerUnavailableError, connect  # noqa: PLC0415
    from reprolock.harness.scaffold import python_images, scaffold  # noqa: PLC0415

    project = Path(args.project)
    if not project.is_dir():
        raise UsageError(f"--project {args.project}: not a directory")
    existing = list(load_config(project).suites)
    images: list[str] = []
    try:
        with closing(connect()) as client:
            images = python_images(client)
    except DockerUnavailableError as exc:
        print(f"repro: warning: local images not listed: {exc}", file=sys.stderr)
    done = scaffold(args.name, project, images, existing)
    for guess in done.guesses:
        print(f"repro: guessed {guess}", file=sys.stderr)
    print(f"repro: added suite {args.name} to {harness.display(done.config)}", file=sys.stderr)
    if done.stub is not None:
        stub = harness.display(done.stub)
        print(f"repro: wrote {stub}; next: python {stub}, repro golden check", file=sys.stderr)
    return EXIT_CLEAN


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _golden_record(args: argparse.Namespace) -> int:
    from reprolock.harness import replay as harness  # noqa: PLC0415 - see above
    from reprolock.harness.docker import connect, docker_failures  # noqa: PLC0415
    from reprolock.harness.progress import Status  # noqa: PLC0415

    suites = _harness_suites(args)
    if not args.force:
        # Refuse before any build: a long build that ends in "already exists" wastes minutes.
        for suite in suites:
            for path in (suite.golden_path, suite.golden_json_path):
                if path.exists():
                    raise UsageError(
                        f"{harness.display(path)} already exists; pass --force to record over it"
                    )
    with Status() as status, docker_failures(), closing(connect()) as client:
        session = harness.Session(client=client, progress=status, warn=status.log)
        for suite in suites:
            outcome = harness.record(session, suite, force=args.force)
            status.log(
                f"recorded {suite.name}: {harness.display(outcome.golden)} and "
                f"{outcome.meta.name} ({_repeat_summary(outcome)})"
            )
    return EXIT_CLEAN


def _repeat_summary(outcome: RecordOutcome) -> str:
    if outcome.accepted:
        moved = ", ".join(f"{name} {value:.3g}" for name, value in outcome.accepted.items())
        return f"accepted run-to-run noise, max abs: {moved}"
    if outcome.deterministic:
        return "two identical runs"
    return "two runs within tolerance"


def _replay(args: argparse.Namespace) -> int:
    from reprolock.harness import replay as harness  # noqa: PLC0415 - see above
    from reprolock.harness.docker import connect, docker_failures  # noqa: PLC0415
    from reprolock.harness.progress import Status  # noqa: PLC0415
    from reprolock.report.replay import (  # noqa: PLC0415
        ReportFormat,
        Verdict,
        overall,
        render,
        summary_line,
    )

    outputs = _parse_outputs(args.output, ReportFormat)
    if args.mix:
        return _replay_mixes(args, outputs)
    candidate = _named_lock(args) if args.lock else None
    suites = _harness_suites(args)
    reports = []
    with Status() as status, docker_failures(), closing(connect()) as client:
        session = harness.Session(client=client, progress=status, warn=status.log)
        for suite in suites:
            reports.append(
                harness.replay(
                    session, suite, candidate=candidate, fresh_baseline=args.fresh_baseline
                )
            )
    single = len(_names("--suite", args.suite) or ()) == 1
    for fmt, path in outputs:
        _write(path, render(fmt, reports, single=single), f"--output {fmt.value}={path}")
    _emit(render(ReportFormat(args.format), reports, single=single))
    print(f"repro: {summary_line(reports)}", file=sys.stderr)
    failed = overall(reports) in {Verdict.CHANGED, Verdict.BROKEN}
    return EXIT_FINDINGS if failed else EXIT_CLEAN


def _named_lock(args: argparse.Namespace) -> Path:
    """``--lock``: a file anywhere, but never one that a symlink in the checkout points out of it
    (a pull request can turn a lock into a link to the runner's credentials)."""
    candidate = named_path(args.lock, within=(Path.cwd(), Path(args.project)), what="--lock")
    if not candidate.is_file():
        raise UsageError(f"--lock {args.lock}: no such file")
    return candidate


DEFAULT_PRUNE_DAYS = 14.0
_CACHE_PRUNE_EPILOG = """\
examples:
  repro cache prune --dry-run                   what two weeks of disuse would free
  repro cache prune --older-than 7 --keep-goldens --format json
  repro cache prune --older-than 0              everything not in use right now

exit codes: 0 done (a removal another process prevented is listed, not an error);
2 bad flag; 3 the Docker daemon could not be reached (the files were pruned, the images not)
"""


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, got {value!r}") from None
    if not days >= 0 or days == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {value!r}")
    return days


_CACHE_KEY_EPILOG = """\
examples:
  repro cache key --suite segments                      the wheels of the suite's lock
  repro cache key --suite churn,fraud --lock new.txt    a matrix job's, candidate included

In a GitHub workflow (the wheels live in $REPROLOCK_CACHE_DIR/wheels):
  echo "key=$(repro cache key --suite "$SUITE" --lock "$LOCK")" >> "$GITHUB_OUTPUT"
  ... actions/cache with path: ${{ env.REPROLOCK_CACHE_DIR }}/wheels, key: that key,
      restore-keys: reprolock-wheels-

exit codes:
  0  the key was printed
  2  usage or input error: unknown suite, unreadable lock
"""


def _cache_key(args: argparse.Namespace) -> int:
    from reprolock.harness.cache import wheels_key  # noqa: PLC0415 - see above
    from reprolock.harness.lockfile import read_lock  # noqa: PLC0415

    paths = [suite.lock_path for suite in _harness_config(args, announce=False)[1]]
    if args.lock:
        paths.append(_named_lock(args))
    # A lock the harness cannot read is a LockError: exit 2, naming the file and line.
    _emit(wheels_key(read_lock(path) for path in paths) + "\n")
    return EXIT_CLEAN


def _cache(args: argparse.Namespace) -> int:
    import docker  # noqa: PLC0415 - see above

    from reprolock.harness import cache  # noqa: PLC0415
    from reprolock.harness.docker import DockerUnavailableError, connect  # noqa: PLC0415
    from reprolock.report.cache import prune_summary, render_info, render_prune  # noqa: PLC0415

    if args.cache_command == "key":
        return _cache_key(args)
    root = cache_dir()
    keep = cache.Keep()
    if args.cache_command == "prune" and args.keep_goldens:
        project = Path(args.project)
        if not project.is_dir():
            raise UsageError(f"--project {args.project}: not a directory")
        keep = cache.golden_keep(load_config(project).suites.values())
    client: docker.DockerClient | None = None
    problem: str | None = None
    try:
        client = connect()
    except DockerUnavailableError as exc:
        problem = str(exc)
    try:
        if args.cache_command == "info":
            info = cache.survey(root, client, problem)
            _emit(
                json.dumps(info.to_dict(), indent=2) + "\n"
                if args.format == "json"
                else render_info(info)
            )
            problem = info.docker_problem
            if problem:
                print(f"repro: warning: images not counted: {problem}", file=sys.stderr)
            return EXIT_CLEAN
        plan = cache.plan_prune(
            root, client, older_than_days=args.older_than, keep=keep, problem=problem
        )
        result = cache.apply_prune(root, client, plan, dry_run=args.dry_run)
    finally:
        if client is not None:
            client.close()
    _emit(
        json.dumps(result.to_dict(), indent=2) + "\n"
        if args.format == "json"
        else render_prune(result)
    )
    print(f"repro: {prune_summary(result)}", file=sys.stderr)
    if plan.docker_problem:
        print(f"repro: error: images not pruned: {plan.docker_problem}", file=sys.stderr)
        return EXIT_UNANSWERED
    return EXIT_CLEAN


def _bisect(args: argparse.Namespace) -> int:
    from reprolock.harness import replay as harness  # noqa: PLC0415 - see above
    from reprolock.harness.bisection import bisect  # noqa: PLC0415
    from reprolock.harness.docker import connect, docker_failures  # noqa: PLC0415
    from reprolock.harness.progress import Status  # noqa: PLC0415
    from reprolock.report.bisect import render_bisect, summary  # noqa: PLC0415
    from reprolock.report.replay import ReportFormat  # noqa: PLC0415

    outputs = _parse_outputs(args.output, ReportFormat)
    candidate = _named_lock(args)
    (suite,) = _harness_suites(args)
    learned: tuple[MixResult, ...] = ()
    if args.known:
        from reprolock.harness.merge import learned_mixes  # noqa: PLC0415

        known = named_path(args.known, within=(Path.cwd(), Path(args.project)), what="--known")
        learned = learned_mixes(known, suite=suite.name, lock=harness.display(candidate))
    with Status() as status, docker_failures(), closing(connect()) as client:
        session = harness.Session(client=client, progress=status, warn=status.log)
        report = bisect(
            session,
            suite,
            candidate=candidate,
            fresh_baseline=args.fresh_baseline,
            learned=learned,
        )
    for fmt, path in outputs:
        _write(path, render_bisect(fmt, report), f"--output {fmt.value}={path}")
    _emit(render_bisect(ReportFormat(args.format), report))
    print(f"repro: {summary(report)}", file=sys.stderr)
    return report.exit_code


def _emit(text: str) -> None:
    """The report on stdout; a reader that went away (`| head`) is no error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def _replay_mixes(args: argparse.Namespace, outputs: Sequence[tuple[ReportFormat, Path]]) -> int:
    """``repro replay --mix``: the candidate, then each mix, judged as ``repro bisect`` would."""
    from reprolock.harness import replay as harness  # noqa: PLC0415 - see above
    from reprolock.harness.bisection import run_mixes  # noqa: PLC0415
    from reprolock.harness.docker import connect, docker_failures  # noqa: PLC0415
    from reprolock.harness.progress import Status  # noqa: PLC0415
    from reprolock.report.bisect import render_bisect, summary  # noqa: PLC0415
    from reprolock.report.replay import ReportFormat  # noqa: PLC0415

    if not args.lock:
        raise UsageError("--mix needs --lock: a mix moves some of the candidate's updates")
    suites = _harness_suites(args)
    if len(suites) != 1:
        raise UsageError("--mix needs exactly one --suite: a mix belongs to one suite's bisect")
    ids = _names("--mix", args.mix) or []
    candidate = _named_lock(args)
    with Status() as status, docker_failures(), closing(connect()) as client:
        session = harness.Session(client=client, progress=status, warn=status.log)
        report = run_mixes(
            session, suites[0], candidate=candidate, ids=ids, fresh_baseline=args.fresh_baseline
        )
    for fmt, path in outputs:
        _write(path, render_bisect(fmt, report), f"--output {fmt.value}={path}")
    _emit(render_bisect(ReportFormat(args.format), report))
    print(f"repro: {summary(report)}", file=sys.stderr)
    return report.exit_code


_PLAN_EPILOG = """\
examples:
  repro plan --format github                  every suite against its own lock
  repro plan --lock new.txt --max-jobs 20     every suite against new.txt, in at most 20 jobs
  repro plan --candidates .repro-candidates   each suite against the candidate of its lock
  repro plan --bisect --suite churn --lock new.txt --format github
                                              a bisect's first round: each group of updates
                                              moved alone, and all groups but one

In a GitHub workflow:
  echo "matrix=$(repro plan --format github)" >> "$GITHUB_OUTPUT"
  ... strategy: {fail-fast: false, matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}}
  ... repro replay --suite "$SUITE" --lock "$LOCK" --mix "$MIX" --output "json=report-$ID.json"
  ... repro merge --plan plan.json reports/

Each job is one `repro replay`; its id is stable (a digest of its suites, lock and mixes).
A --bisect plan probes the base image and fetches the updated wheels (their Requires-Dist
groups the updates), so it needs the Docker daemon and the index; a replay plan needs neither.

exit codes:
  0  the plan was printed (an empty matrix when there is nothing to do)
  2  usage or input error: bad flag, bad config, unreadable lock, too few --max-jobs
  3  (--bisect) no Docker daemon, base image unavailable, download failed
"""

_MERGE_EPILOG = """\
examples:
  repro merge report-*.json                      one verdict over every job's report
  repro merge --plan plan.json reports/          and name every planned job without a report
  repro merge --plan plan.json reports/ --format markdown >> "$GITHUB_STEP_SUMMARY"
  repro merge reports/ --format json --output markdown=comment.md > merged.json

Reports are read as untrusted input (regular files only, size- and depth-bounded, every field
checked). Replays are merged side by side; the mixes of a bisect are merged into its culprit:
the group of updates that reproduces the change alone. When none does, the change is an
interaction: `repro bisect --known merged.json` goes on from the mixes tested.

exit codes (as one `repro replay`, or `repro bisect`, over the same work):
  0  every suite identical or within tolerance; nothing to bisect
  1  a suite changed or broke; culprits found, or an interaction to bisect further
  2  usage error: bad flag, unreadable --plan, a report given twice or outside the plan
  3  not answered: a job's report is missing or unreadable (named), or a bisect unanswered
"""


def _add_report_outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="FORMAT=FILE",
        help="also write the report in FORMAT (text, json, markdown) to FILE (repeatable)",
    )


def _add_plan_and_merge(sub: _Subparsers) -> None:
    from reprolock.harness import GITHUB_MAX_JOBS  # noqa: PLC0415 - plain data

    plan = sub.add_parser(
        "plan",
        help="print the replays (or a bisect's first round) as jobs for a CI matrix",
        epilog=_PLAN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print the work as independent jobs: a GitHub Actions matrix "
        "(--format github) or JSON for other engines. Every job runs one `repro replay`; "
        "`repro merge` combines their reports.",
    )
    _add_harness_common(plan)
    plan.add_argument(
        "--lock",
        action="append",
        metavar="CANDIDATE",
        help="replay against this candidate lock (repeatable: suites x candidates; default: "
        "each suite's own lock)",
    )
    plan.add_argument(
        "--candidates",
        metavar="DIR",
        help="candidate locks laid out as the project is: a suite is replayed against "
        "DIR/<its lock's path in --project> when that file exists, and left out otherwise",
    )
    plan.add_argument(
        "--bisect",
        action="store_true",
        help="plan a bisect's first round instead: each group of the candidate's updates "
        "moved alone, and all groups but one (needs --lock or --candidates)",
    )
    plan.add_argument(
        "--max-jobs",
        type=int,
        default=GITHUB_MAX_JOBS,
        metavar="N",
        help=f"pack the work into at most N jobs (default and GitHub's limit: {GITHUB_MAX_JOBS})",
    )
    plan.add_argument(
        "--format",
        choices=["github", "json"],
        default="json",
        help='github: {"include": [...]} on one line; json: the jobs with their commands '
        "(default: json)",
    )

    merge = sub.add_parser(
        "merge",
        help="combine the reports of a matrix's jobs into one verdict",
        epilog=_MERGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Merge the JSON reports of `repro replay` jobs (`repro plan`'s matrix) "
        "into one verdict, with every suite's table, and exit as one process over the same "
        "work would.",
    )
    merge.add_argument(
        "reports",
        nargs="*",
        metavar="REPORT",
        help="a job's JSON report, or a directory of report-*.json files",
    )
    merge.add_argument(
        "--plan",
        metavar="FILE",
        help="the plan (`repro plan`'s output, either format): every job it names must have "
        "its report-<id>.json among the REPORTs",
    )
    merge.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="report format on stdout (default: text)",
    )
    _add_report_outputs(merge)


_COMMANDS: dict[str, Callable[[_Subparsers], None]] = {
    "check": _add_check,
    "rules": _add_rules,
    "golden": _add_golden,
    "replay": _add_replay,
    "bisect": _add_bisect,
    "plan": _add_plan_and_merge,
    "merge": _add_plan_and_merge,
    "update": _add_update,
    "diff": _add_diff,
    "cache": _add_cache,
    "fix": _add_fix,
}
"""Each command's subparser, in the order of the help's list (``plan`` and ``merge`` come
together)."""


def _plan(args: argparse.Namespace) -> int:
    from reprolock.harness.plan import (  # noqa: PLC0415 - see above
        GITHUB_MAX_JOBS,
        PlanFormat,
        PlanKind,
        make_plan,
    )

    fmt = PlanFormat(args.format)
    if fmt is PlanFormat.GITHUB and args.max_jobs > GITHUB_MAX_JOBS:
        raise UsageError(
            f"--max-jobs {args.max_jobs}: GitHub runs at most {GITHUB_MAX_JOBS} jobs per matrix"
        )
    if args.lock and args.candidates:
        raise UsageError("--lock and --candidates are exclusive: name candidates one way")
    if args.bisect and not (args.lock or args.candidates):
        raise UsageError("--bisect needs --lock or --candidates: a bisect is of a candidate")
    root = Path(args.project)
    if not root.is_dir():
        raise UsageError(f"--project {args.project}: not a directory")
    config = load_config(root)
    notes: list[str] = []
    if not config.suites and not args.suite:
        suites: list[Suite] = []
        notes.append("no suites are configured: nothing to replay")
    else:
        _, suites = _harness_config(args, announce=False)  # plans only: nothing runs here
    pairs, skipped = _plan_pairs(args, root, suites)
    notes += skipped
    kind = PlanKind.BISECT if args.bisect else PlanKind.REPLAY
    if args.bisect:
        works, more = _bisect_works(pairs)
        notes += more
    else:
        works = [_replay_work(suite, lock) for suite, lock in pairs]
    plan = make_plan(kind, works, max_jobs=args.max_jobs, project=args.project, notes=notes)
    _emit(plan.render(fmt))
    for note in plan.notes:
        print(f"repro: note: {note}", file=sys.stderr)
    print(f"repro: {plan.summary()}", file=sys.stderr)
    return EXIT_CLEAN


def _job_path(path: Path) -> str:
    """``path`` as a job names it: relative to the working directory (the checkout's root, on
    every runner), POSIX."""
    return Path(os.path.relpath(os.path.abspath(path))).as_posix()


def _plan_pairs(
    args: argparse.Namespace, root: Path, suites: Sequence[Suite]
) -> tuple[list[tuple[Suite, str]], list[str]]:
    """(suite, candidate as the job names it; "" for its own lock) for every unit of work, and
    notes on suites left out."""
    if args.candidates:
        folder = named_path(args.candidates, within=(Path.cwd(), root), what="--candidates")
        if not folder.is_dir():
            raise UsageError(f"--candidates {args.candidates}: not a directory")
        pairs, notes = [], []
        for suite in suites:
            try:
                relative = suite.lock_path.resolve().relative_to(root.resolve())
            except ValueError:
                notes.append(f"suite {suite.name}: its lock is outside --project: no candidate")
                continue
            candidate = folder / relative
            if candidate.is_file():
                named_path(candidate, within=(Path.cwd(), root), what="--candidates")
                pairs.append((suite, _job_path(candidate)))
            else:
                notes.append(f"suite {suite.name}: no candidate {_job_path(candidate)}: left out")
        return pairs, notes
    locks = [""]
    if args.lock:
        locks = []
        for value in args.lock:
            path = named_path(value, within=(Path.cwd(), root), what="--lock")
            if not path.is_file():
                raise UsageError(f"--lock {value}: no such file")
            locks.append(_job_path(path))
        locks = list(dict.fromkeys(locks))
    return [(suite, lock) for lock in locks for suite in suites], []


def _environment(lock: Path | str, suite: Suite) -> str:
    return f"{Path(lock).resolve()}\0{suite.base_image}"


def _replay_work(suite: Suite, lock: str) -> Work:
    from reprolock.harness.plan import Work  # noqa: PLC0415

    environment = _environment(lock or suite.lock_path, suite)
    return Work(suite=suite.name, lock=lock, environments=frozenset({environment}))


def _bisect_works(pairs: Sequence[tuple[Suite, str]]) -> tuple[list[Work], list[str]]:
    from reprolock.harness import replay as harness  # noqa: PLC0415 - see above
    from reprolock.harness.bisection import plan_mixes  # noqa: PLC0415
    from reprolock.harness.docker import connect, docker_failures  # noqa: PLC0415
    from reprolock.harness.plan import Work  # noqa: PLC0415
    from reprolock.harness.progress import Status  # noqa: PLC0415

    works: list[Work] = []
    notes: list[str] = []
    if not pairs:
        return works, notes
    with Status() as status, docker_failures(), closing(connect()) as client:
        session = harness.Session(client=client, progress=status, warn=status.log)
        for suite, lock in pairs:
            planned = plan_mixes(session, suite, Path(lock))
            if not planned.mixes:
                notes.append(f"suite {suite.name} with {lock}: {planned.reason}")
                continue
            candidate = _environment(lock, suite)
            for mix in planned.mixes:
                works.append(
                    Work(
                        suite=suite.name,
                        lock=lock,
                        mix=mix.id,
                        environments=frozenset({candidate, f"{candidate}\0{mix.id}"}),
                        runs=2,
                    )
                )
    return works, notes


def _merge(args: argparse.Namespace) -> int:
    from reprolock.harness.merge import merge, read_plan  # noqa: PLC0415 - see above
    from reprolock.report.merge import render_merged, summary_line  # noqa: PLC0415
    from reprolock.report.replay import ReportFormat  # noqa: PLC0415

    outputs = _parse_outputs(args.output, ReportFormat)
    if not args.reports and not args.plan:
        raise UsageError("nothing to merge: name the reports (files or directories), or --plan")
    plan = None
    if args.plan:
        plan_path = Path(args.plan)
        if not plan_path.is_file():
            raise UsageError(f"--plan {args.plan}: no such file")
        plan = read_plan(plan_path)
    merged = merge([Path(report) for report in args.reports], plan)
    for fmt, path in outputs:
        _write(path, render_merged(fmt, merged), f"--output {fmt.value}={path}")
    _emit(render_merged(ReportFormat(args.format), merged))
    print(f"repro: {summary_line(merged)}", file=sys.stderr)
    return merged.exit_code


def _update(args: argparse.Namespace) -> int:
    from reprolock.update import UpdateOptions, run_update  # noqa: PLC0415 - pulls in the harness

    project = Path(args.project)
    if not project.is_dir():
        raise UsageError(f"--project {args.project}: not a directory")
    if args.force and not args.write:
        raise UsageError("--force only applies with --write")
    options = UpdateOptions(
        packages=tuple(args.package),
        write=args.write,
        force=args.force,
        report=Path(args.report) if args.report else None,
        json=Path(args.json) if args.json else None,
        replay=not args.no_replay,
    )
    return run_update(project, options)


def _diff(args: argparse.Namespace) -> int:
    from reprolock.lockdiff import run_diff  # noqa: PLC0415 - loads the lock readers lazily

    project = Path(args.project)
    if not project.is_dir():
        raise UsageError(f"--project {args.project}: not a directory")
    for path in (args.old, args.new):
        named_path(path, within=(Path.cwd(), project), what=path)
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such file")
    text, code = run_diff(
        Path(args.old),
        Path(args.new),
        args.format,
        load_config(project).frameworks,
        project=project,
    )
    sys.stdout.write(text)
    return code


def _fix(args: argparse.Namespace) -> int:
    from reprolock.fix import run_fix  # noqa: PLC0415 - pulls in pip-tools only when fixing

    root = Path(args.path)
    if not root.is_dir():
        raise UsageError(f"{args.path}: not a directory")
    diff_text, code = run_fix(
        root,
        dry_run=args.dry_run,
        progress=lambda message: print(f"repro: {message}", file=sys.stderr),
    )
    sys.stdout.write(diff_text)
    return code
