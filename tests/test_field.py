"""The field corpus (fixtures/field/): every finding graded true is still reported, none graded
false comes back, and a new finding of a reworked rule must be graded before it lands.

Findings are matched with their grades on (rule, path, line, subject); docs/field.md says why.
A graded-false finding that the audit still reports is marked ``"known": true``: it does not
fail the suite, and once it is gone the suite fails until the mark is dropped, as an xfail that
passes does under ``xfail_strict`` (so the fix cannot silently come undone).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT / "fixtures" / "field"
NAMES = sorted(p.parent.name for p in CORPUS.glob("*/expected.json"))


@cache
def _field() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_field", REPO_ROOT / "bench" / "field.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is built
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@cache
def _outcome(name: str) -> Any:
    return _field().outcome(CORPUS / name)


def _listed(keys: list[tuple[str, str, int, str]]) -> str:
    return "\n".join(f"  {rule} {path}:{line} [{subject}]" for rule, path, line, subject in keys)


def test_corpus_has_the_repositories_the_issues_name() -> None:
    assert NAMES == [
        "clearml",
        "delta",
        "detectron2",
        "flax",
        "kedro-starters",
        "lakefs-spec",
        "lm-evaluation-harness",
        "pytorch-lightning",
        "pytorch-serve",
        "text-generation-inference",
        "whisper",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_excerpt_carries_its_licence_and_source(name: str) -> None:
    root = CORPUS / name
    licences = [p.name for p in root.iterdir() if p.name.startswith("LICENSE")]
    assert len(licences) == 1
    text = (root / licences[0]).read_text(encoding="utf-8")
    assert "Apache License" in text or "MIT License" in text
    source = (root / "SOURCE.md").read_text(encoding="utf-8")
    assert re.search(r"\| commit \| `[0-9a-f]{40}`", source)
    assert re.search(r"\| licence \| (Apache-2\.0|MIT|BSD-[23]-Clause),", source)
    assert re.search(r"\| upstream \| https://github\.com/[\w.-]+/[\w.-]+ \|", source)


@pytest.mark.parametrize("name", NAMES)
def test_grades_name_files_of_the_excerpt(name: str) -> None:
    root = CORPUS / name
    expected = _field().load_expected(root / "expected.json")
    paths = {k[1] for k in expected.graded} | {m.path for m in expected.missed}
    assert sorted(p for p in paths if not (root / p).is_file()) == []
    assert [g.key for g in expected.graded.values() if not g.why.strip()] == []


@pytest.mark.parametrize("name", NAMES)
def test_every_true_finding_is_still_reported(name: str) -> None:
    lost = _outcome(name).lost_true
    assert lost == [], f"{name}: graded true in expected.json, no longer reported:\n{_listed(lost)}"


@pytest.mark.parametrize("name", NAMES)
def test_no_false_finding_comes_back(name: str) -> None:
    back = _outcome(name).false_back
    assert back == [], f"{name}: graded false in expected.json, reported again:\n{_listed(back)}"


@pytest.mark.parametrize("name", NAMES)
def test_known_false_findings_that_are_gone_are_unmarked(name: str) -> None:
    gone = _outcome(name).known_gone
    assert gone == [], (
        f'{name}: these known-false findings are no longer reported; drop their "known": true '
        f"in fixtures/field/{name}/expected.json so that they stay gone:\n{_listed(gone)}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_every_finding_of_a_reworked_rule_is_graded(name: str) -> None:
    result = _outcome(name)
    new = [k for k in result.ungraded if k[0] in _field().REWORKED]
    assert new == [], (
        f"{name}: new findings; read each file and grade them in fixtures/field/{name}/"
        f"expected.json (docs/field.md says how):\n{_listed(new)}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_misses_that_are_now_reported_leave_the_missed_list(name: str) -> None:
    found = [(m.rule, m.path, m.line, m.subject) for m, _ in _outcome(name).misses_found]
    assert found == [], (
        f"{name}: reported now; move these from 'missed' to 'findings' (grade true) in "
        f"fixtures/field/{name}/expected.json:\n{_listed(found)}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_corpus_files_themselves_are_not_audited_material(name: str) -> None:
    assert _outcome(name).own_files == []


# ---- the comparison itself, on a made-up repo -------------------------------------------------


def _write(tmp_path: Path, findings: list[dict[str, Any]], missed: list[dict[str, Any]]) -> Path:
    path = tmp_path / "expected.json"
    path.write_text(json.dumps({"repo": "o/r", "findings": findings, "missed": missed}))
    return path


def _g(rule: str, line: int, grade: str, **extra: Any) -> dict[str, Any]:
    return {"rule": rule, "path": "a.txt", "line": line, "subject": "torch", "grade": grade,
            "why": "w", **extra}  # fmt: skip


def test_outcome_classifies_each_key(tmp_path: Path) -> None:
    field = _field()
    expected = field.load_expected(
        _write(
            tmp_path,
            [_g("RP501", 1, "true"), _g("RP501", 2, "true"), _g("RP502", 3, "false", known=True),
             _g("RP502", 4, "false", known=True), _g("RP502", 5, "false"),
             _g("RP101", 6, "debatable")],
            [{"rule": "RP302", "path": "Dockerfile", "line": 1, "subject": "ubuntu", "why": "w"},
             {"rule": "RP105", "path": "Dockerfile", "line": 9, "subject": "u", "why": "w"}],
        )
    )  # fmt: skip
    reported = Counter(
        {("RP501", "a.txt", 1, "torch"): 2, ("RP502", "a.txt", 3, "torch"): 1,
         ("RP502", "a.txt", 5, "torch"): 1, ("RP503", "a.txt", 7, "torch"): 1,
         ("RP302", "Dockerfile", 1, "docker.io/ubuntu"): 1, ("RP101", "SOURCE.md", 1, "x"): 1}
    )  # fmt: skip
    result = field.Outcome(name="r", expected=expected, reported=reported)
    assert result.lost_true == [("RP501", "a.txt", 2, "torch")]
    assert result.false_back == [("RP502", "a.txt", 5, "torch")]
    assert result.known_gone == [("RP502", "a.txt", 4, "torch")]
    assert result.ungraded == [
        ("RP101", "SOURCE.md", 1, "x"),
        ("RP302", "Dockerfile", 1, "docker.io/ubuntu"),
        ("RP503", "a.txt", 7, "torch"),
    ]
    assert [(m.rule, m.line) for m, _ in result.misses_found] == [("RP302", 1)]
    assert [(m.rule, m.line) for m in result.misses_left] == [("RP105", 9)]
    assert result.own_files == [("RP101", "SOURCE.md", 1, "x")]
    rows = {r.rule: r for r in field.rule_rows([result])}
    assert (rows["RP501"].reported, rows["RP501"].duplicates, rows["RP501"].true) == (1, 1, 1)
    assert rows["RP501"].lost_true == 1
    assert (rows["RP502"].false, rows["RP502"].precision) == (2, 0.0)
    assert rows["RP501"].precision == 1.0
    assert rows["RP101"].precision is None
    assert (rows["RP105"].reported, rows["RP105"].missed) == (0, 1)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({**_g("RP501", 1, "true"), "grade": "maybe"}, "grade must be one of"),
        (_g("RP501", 1, "true", known=True), "'known' is true only on a finding graded false"),
        ({**_g("RP501", 1, "true"), "line": 0}, "'line' must be a positive integer"),
        ({**_g("RP501", 1, "true"), "why": None}, "'why' must be a string"),
    ],
)
def test_malformed_grades_are_refused(tmp_path: Path, item: dict[str, Any], message: str) -> None:
    field = _field()
    with pytest.raises(field.CorpusError, match=re.escape(message)):
        field.load_expected(_write(tmp_path, [item], []))


def test_a_key_graded_twice_is_refused(tmp_path: Path) -> None:
    field = _field()
    item = _g("RP501", 1, "true")
    with pytest.raises(field.CorpusError, match="graded twice"):
        field.load_expected(_write(tmp_path, [item, item], []))


def test_bench_prints_the_table_and_exits_zero_on_the_graded_corpus(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _field().main(["--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| rule | reported | true | false | debatable | ungraded |")
    assert lines[-1].startswith("| all |")
    assert any(line.startswith("| RP501 |") for line in lines)
