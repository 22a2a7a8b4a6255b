"""Precision of the audit on the field corpus: excerpts of public ML repositories, every finding
graded by a person who read the file.

``python bench/field.py`` audits every ``fixtures/field/<repo>/`` with ``repro check --no-cache
--format json --fail-on never`` and compares what is reported with ``expected.json`` beside it:

- ``findings``: every finding reported when the repo was graded, keyed by (rule, path, line,
  subject), with ``grade`` ``true`` / ``false`` / ``debatable`` and a one-line ``why``; a
  graded-false finding that the audit still reports carries ``"known": true``;
- ``missed``: what a reviewer flags at once and the audit does not report (rule, path, line,
  subject, why).

It prints, per rule, the findings reported and how they are graded, precision
(true / (true + false), debatable and ungraded left out), the graded-true findings no longer
reported, and the misses still missed. ``--json`` prints the same as JSON. docs/field.md keeps
the table and says how to grade a new finding.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "field"
EXPECTED = "expected.json"
OWN_FILES = frozenset({EXPECTED, "SOURCE.md", "LICENSE", "LICENSE.md"})
"""Files of the corpus itself, not of the upstream excerpt: never audited material."""
GRADES = ("true", "false", "debatable")
REWORKED = frozenset({"RP001", "RP002", "RP501", "RP502", "RP503", "RP504"})
"""Rules whose every finding on the corpus must be graded (tests/test_field.py)."""

Key = tuple[str, str, int, str]
"""(rule, path, line, subject): how a reported finding is matched with its grade."""


class CorpusError(Exception):
    """An expected.json that is not of the documented shape, or an audit that failed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Graded:
    """One graded finding of expected.json."""

    key: Key
    """(rule, path, line, subject)."""
    grade: str
    """true, false or debatable."""
    why: str
    """One line: the reason, from reading the file."""
    known: bool
    """Graded false and still reported when it was graded."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Missed:
    """Something a reviewer flags that the audit did not report when the repo was graded."""

    rule: str
    """The rule that should report it."""
    path: str
    """POSIX path inside the excerpt."""
    line: int
    """1-based line."""
    subject: str
    """What the finding would name."""
    why: str
    """One line."""

    def found_by(self, key: Key) -> bool:
        """True when a reported finding ``key`` is this miss (the subject may be worded
        differently by the rule that comes to report it, so rule, path and line decide)."""
        return key[:3] == (self.rule, self.path, self.line)


@dataclass(frozen=True, kw_only=True, slots=True)
class Expected:
    """The grades of one corpus repo."""

    repo: str
    """Upstream owner/name."""
    graded: Mapping[Key, Graded]
    """Grades by key."""
    missed: tuple[Missed, ...]
    """Known misses."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """One corpus repo audited and compared with its grades."""

    name: str
    """Directory name under fixtures/field/."""
    expected: Expected
    """Its grades."""
    reported: Counter[Key] = field(default_factory=Counter)
    """Each reported key and how many times it was reported (more than once: a duplicate)."""

    def grade_of(self, key: Key) -> str:
        """The key's grade, or ``ungraded``."""
        graded = self.expected.graded.get(key)
        return graded.grade if graded else "ungraded"

    @property
    def ungraded(self) -> list[Key]:
        """Reported keys with no grade."""
        return sorted(k for k in self.reported if k not in self.expected.graded)

    @property
    def lost_true(self) -> list[Key]:
        """Graded-true keys no longer reported: a regression."""
        return sorted(
            k
            for k, g in self.expected.graded.items()
            if g.grade == "true" and k not in self.reported
        )

    @property
    def false_back(self) -> list[Key]:
        """Graded-false keys reported though not marked known: a regression."""
        return sorted(
            k
            for k, g in self.expected.graded.items()
            if g.grade == "false" and not g.known and k in self.reported
        )

    @property
    def known_gone(self) -> list[Key]:
        """Graded-false keys marked known that are no longer reported: unmark them."""
        return sorted(
            k
            for k, g in self.expected.graded.items()
            if g.grade == "false" and g.known and k not in self.reported
        )

    @property
    def misses_found(self) -> list[tuple[Missed, Key]]:
        """Listed misses that a reported finding now covers: move them to the findings."""
        return [
            (m, k) for m in self.expected.missed for k in sorted(self.reported) if m.found_by(k)
        ]

    @property
    def misses_left(self) -> list[Missed]:
        """Listed misses still missed."""
        return [m for m in self.expected.missed if not any(m.found_by(k) for k in self.reported)]

    @property
    def own_files(self) -> list[Key]:
        """Reported keys on the corpus's own bookkeeping files."""
        return sorted(k for k in self.reported if k[1] in OWN_FILES)


def _str(item: Mapping[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str):
        raise CorpusError(f"{where}: {name!r} must be a string, got {value!r}")
    return value


def _line(item: Mapping[str, Any], where: str) -> int:
    value = item.get("line")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise CorpusError(f"{where}: 'line' must be a positive integer, got {value!r}")
    return value


def load_expected(path: Path) -> Expected:
    """Read and check one expected.json."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a JSON object")
    graded: dict[Key, Graded] = {}
    for index, item in enumerate(data.get("findings") or []):
        where = f"{path}: findings[{index}]"
        if not isinstance(item, dict):
            raise CorpusError(f"{where}: expected an object")
        key = (_str(item, "rule", where), _str(item, "path", where), _line(item, where),
               _str(item, "subject", where))  # fmt: skip
        grade = _str(item, "grade", where)
        if grade not in GRADES:
            raise CorpusError(f"{where}: grade must be one of {', '.join(GRADES)}, got {grade!r}")
        known = item.get("known", False)
        if not isinstance(known, bool) or (known and grade != "false"):
            raise CorpusError(f"{where}: 'known' is true only on a finding graded false")
        if key in graded:
            raise CorpusError(f"{where}: {key} is graded twice")
        graded[key] = Graded(key=key, grade=grade, why=_str(item, "why", where), known=known)
    missed = []
    for index, item in enumerate(data.get("missed") or []):
        where = f"{path}: missed[{index}]"
        if not isinstance(item, dict):
            raise CorpusError(f"{where}: expected an object")
        missed.append(
            Missed(
                rule=_str(item, "rule", where),
                path=_str(item, "path", where),
                line=_line(item, where),
                subject=_str(item, "subject", where),
                why=_str(item, "why", where),
            )
        )
    return Expected(repo=_str(data, "repo", str(path)), graded=graded, missed=tuple(missed))


def corpus_repos(corpus: Path = CORPUS) -> list[Path]:
    """Every corpus repo directory (one with an expected.json), sorted by name."""
    return sorted(p.parent for p in corpus.glob(f"*/{EXPECTED}"))


def audit(repo: Path) -> Counter[Key]:
    """What ``repro check`` reports on ``repo`` now, by key."""
    argv = [sys.executable, "-m", "reprolock", "check", str(repo), "--no-cache",
            "--format", "json", "--fail-on", "never"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CorpusError(f"repro check {repo} exited {done.returncode}: {done.stderr.strip()}")
    findings = json.loads(done.stdout)["findings"]
    return Counter((f["rule"], f["path"], f["line"], f["subject"]) for f in findings)


def outcome(repo: Path) -> Outcome:
    """Audit one corpus repo and pair the result with its grades."""
    expected = load_expected(repo / EXPECTED)
    return Outcome(name=repo.name, expected=expected, reported=audit(repo))


@dataclass(kw_only=True, slots=True)
class RuleRow:
    """One rule over the whole corpus."""

    rule: str
    """Rule id."""
    reported: int = 0
    """Distinct findings reported (duplicates counted once)."""
    duplicates: int = 0
    """Extra reports of a key already reported."""
    true: int = 0
    """Reported and graded true."""
    false: int = 0
    """Reported and graded false."""
    debatable: int = 0
    """Reported and graded debatable."""
    ungraded: int = 0
    """Reported with no grade."""
    lost_true: int = 0
    """Graded true, no longer reported."""
    missed: int = 0
    """Listed misses still missed."""

    @property
    def precision(self) -> float | None:
        """true / (true + false); None when nothing of either grade is reported."""
        judged = self.true + self.false
        return self.true / judged if judged else None


def rule_rows(outcomes: Iterable[Outcome]) -> list[RuleRow]:
    """Per-rule counts over every outcome, sorted by rule id."""
    rows: dict[str, RuleRow] = {}

    def row(rule: str) -> RuleRow:
        return rows.setdefault(rule, RuleRow(rule=rule))

    for result in outcomes:
        for key, count in result.reported.items():
            r = row(key[0])
            r.reported += 1
            r.duplicates += count - 1
            grade = result.grade_of(key)
            setattr(r, grade, getattr(r, grade) + 1)
        for key in result.lost_true:
            row(key[0]).lost_true += 1
        for miss in result.misses_left:
            row(miss.rule).missed += 1
    return [rows[k] for k in sorted(rows)]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table_lines(rows: Sequence[RuleRow]) -> list[str]:
    """The per-rule table in Markdown (also readable as plain text)."""
    head = "| rule | reported | true | false | debatable | ungraded | precision | true lost |"
    lines = [f"{head} missed |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    total = RuleRow(rule="all")
    for r in rows:
        lines.append(
            f"| {r.rule} | {r.reported} | {r.true} | {r.false} | {r.debatable} | {r.ungraded} "
            f"| {_pct(r.precision)} | {r.lost_true} | {r.missed} |"
        )
        for name in ("reported", "duplicates", "true", "false", "debatable", "ungraded",
                     "lost_true", "missed"):  # fmt: skip
            setattr(total, name, getattr(total, name) + getattr(r, name))
    lines.append(
        f"| all | {total.reported} | {total.true} | {total.false} | {total.debatable} "
        f"| {total.ungraded} | {_pct(total.precision)} | {total.lost_true} | {total.missed} |"
    )
    return lines


def _key_text(key: Key) -> str:
    rule, path, line, subject = key
    return f"{rule} {path}:{line} [{subject}]"


def detail_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """What changed against the grades, repo by repo, and the misses still missed."""
    lines: list[str] = []
    for result in outcomes:
        sections = [
            ("ungraded (grade them in expected.json)", [_key_text(k) for k in result.ungraded]),
            ("graded true, no longer reported", [_key_text(k) for k in result.lost_true]),
            ("graded false, reported again", [_key_text(k) for k in result.false_back]),
            ("known false, gone (drop \"known\")", [_key_text(k) for k in result.known_gone]),
            ("misses now reported (move them to findings)",
             [f"{m.rule} {m.path}:{m.line} by {_key_text(k)}" for m, k in result.misses_found]),
            ("on the corpus's own files", [_key_text(k) for k in result.own_files]),
            ("misses still missed",
             [f"{m.rule} {m.path}:{m.line} [{m.subject}] {m.why}" for m in result.misses_left]),
        ]  # fmt: skip
        dups = sum(c - 1 for c in result.reported.values())
        head = f"{result.name} ({result.expected.repo}): {len(result.reported)} findings"
        lines.append(head + (f", {dups} duplicate reports" if dups else ""))
        for title, items in sections:
            if items:
                lines.append(f"  {title}: {len(items)}")
                lines.extend(f"    {item}" for item in items)
    return lines


def as_json(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The table and the details as one JSON document."""

    def keys(items: Iterable[Key]) -> list[dict[str, Any]]:
        return [dict(zip(("rule", "path", "line", "subject"), k, strict=True)) for k in items]

    return {
        "rules": [
            {"rule": r.rule, "reported": r.reported, "duplicates": r.duplicates, "true": r.true,
             "false": r.false, "debatable": r.debatable, "ungraded": r.ungraded,
             "precision": r.precision, "true_lost": r.lost_true, "missed": r.missed}
            for r in rule_rows(outcomes)
        ],
        "repos": [
            {"name": o.name, "repo": o.expected.repo, "reported": len(o.reported),
             "ungraded": keys(o.ungraded), "true_lost": keys(o.lost_true),
             "false_back": keys(o.false_back), "known_false_gone": keys(o.known_gone),
             "misses_found": [{"rule": m.rule, "path": m.path, "line": m.line}
                              for m, _ in o.misses_found],
             "missed": [{"rule": m.rule, "path": m.path, "line": m.line, "subject": m.subject,
                         "why": m.why} for m in o.misses_left]}
            for o in outcomes
        ],
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Print the precision table (or JSON); exit 1 on a regression against the grades."""
    parser = argparse.ArgumentParser(prog="bench/field.py", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="default: fixtures/field")
    parser.add_argument("--quiet", action="store_true", help="the table only, no details")
    args = parser.parse_args(argv)
    try:
        outcomes = [outcome(repo) for repo in corpus_repos(args.corpus)]
    except CorpusError as exc:
        print(f"bench/field.py: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(outcomes), indent=2))
    else:
        print("\n".join(table_lines(rule_rows(outcomes))))
        if not args.quiet:
            print()
            print("\n".join(detail_lines(outcomes)))
    regressed = any(o.lost_true or o.false_back for o in outcomes)
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())
