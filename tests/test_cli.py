"""The ``repro`` command end to end: exit codes, streams, flags, config, baseline, suppression.

Tests that need a real finding use ``numpy`` alone in a ``requirements.txt``, which the
requirements scanner reports as RP101 at line 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reprolock import __version__
from reprolock.cli import _command_of, _parser, main
from reprolock.report import Format
from reprolock.rules import RULES
from tests.conftest import write_tree
from tests.test_config import BAD_CONFIGS

UNPINNED: dict[str, str | bytes] = {"requirements.txt": "numpy\n"}
CLEAN: dict[str, str | bytes] = {"README.md": "# nothing to install\n"}
RP101_TEXT = "requirements.txt\n  1:1     RP101 error   numpy is not pinned\n\n"
RP101_SUMMARY = "1 file scanned, 1 finding (1 error, 0 warning, 0 note)\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class Run:
    """What one invocation produced."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def rules(self) -> list[str]:
        """Rule ids of the findings in a ``--format json`` report."""
        return [f["rule"] for f in self.json()["findings"]]


@pytest.fixture
def repro(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run ``repro ARGS`` in ``tmp_path`` (the audited tree) and capture its streams."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)

    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return Run(code=code, out=captured.out, err=captured.err)

    return run


# --- exit codes and streams -------------------------------------------------------------


def test_clean_tree_exits_0(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, CLEAN)
    result = repro("check")
    assert (result.code, result.out, result.err) == (0, "", "0 files scanned, no findings\n")


def test_findings_exit_1_report_on_stdout_summary_on_stderr(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, UNPINNED)
    result = repro("check", ".")
    assert (result.code, result.out, result.err) == (1, RP101_TEXT, RP101_SUMMARY)


def test_json_on_stdout_is_the_whole_report(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, UNPINNED)
    result = repro("check", "--format", "json")
    assert result.code == 1
    assert result.err == RP101_SUMMARY
    data = result.json()
    assert data["summary"] == {
        "files_scanned": 1,
        "findings": 1,
        "error": 1,
        "warning": 0,
        "note": 0,
        "suppressed": 0,
    }
    finding = data["findings"][0]
    assert (finding["rule"], finding["path"], finding["line"], finding["subject"]) == (
        "RP101",
        "requirements.txt",
        1,
        "numpy",
    )


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["check", "--nope"], "unrecognized arguments: --nope"),
        (["check", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["check", "--fail-on", "fatal"], "argument --fail-on: invalid choice: 'fatal'"),
        (["check", "--color", "sometimes"], "argument --color: invalid choice: 'sometimes'"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
        (["rules", "--format", "sarif"], "argument --format: invalid choice: 'sarif'"),
    ],
)
def test_bad_flags_exit_2(repro: Any, argv: list[str], fragment: str) -> None:
    result = repro(*argv)
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("usage: repro")
    assert fragment in result.err


def test_unexpected_exception_exits_4_in_one_line(
    tmp_path: Path, repro: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object, **__: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("reprolock.cli.run_audit", crash)
    run = repro("check", ".")
    assert run.code == 4
    assert run.out == ""
    assert run.err.startswith(
        "repro: internal error: RecursionError: maximum recursion depth exceeded\n"
    )
    assert "--debug" in run.err


def test_debug_prints_the_traceback_of_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(*_: object, **__: object) -> None:
        raise ValueError("boom")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("reprolock.cli.run_audit", crash)
    assert main(["--debug", "check", "."]) == 4
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "ValueError: boom" in err


def test_nonexistent_path_exits_2(repro: Any) -> None:
    result = repro("check", "missing")
    assert (result.code, result.out) == (2, "")
    assert result.err == "repro: error: missing: no such file or directory\n"


def test_file_instead_of_directory_exits_2(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, UNPINNED)
    result = repro("check", "requirements.txt")
    assert result.code == 2
    assert result.err == (
        "repro: error: requirements.txt: not a directory (give the root of the tree to audit)\n"
    )


def test_two_different_stdout_formats_exit_2(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, CLEAN)
    result = repro("check", "--format", "json", "--format", "sarif")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "repro: error: only one --format goes to stdout; write others with --output FORMAT=FILE\n"
    )
    same = repro("check", "--format", "json", "--format", "json")
    assert same.code == 0
    assert same.json()["findings"] == []


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_on_a_clean_tree(tmp_path: Path, repro: Any, fmt: Format) -> None:
    write_tree(tmp_path, CLEAN)
    result = repro("check", "--format", fmt.value)
    assert result.code == 0
    assert result.err == "0 files scanned, no findings\n"


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_reports_a_finding(tmp_path: Path, repro: Any, fmt: Format) -> None:
    write_tree(tmp_path, UNPINNED)
    result = repro("check", "--format", fmt.value)
    assert result.code == 1
    assert "RP101" in result.out
    assert "requirements.txt" in result.out


def test_several_outputs_at_once(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, UNPINNED)
    result = repro(
        "check",
        "--output",
        "json=out/report.json",
        "--output",
        "sarif=out/report.sarif",
        "--output",
        "markdown=summary.md",
        "--output",
        "github=annotations.txt",
    )
    assert (result.code, result.out, result.err) == (1, RP101_TEXT, RP101_SUMMARY)
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert [f["rule"] for f in report["findings"]] == ["RP101"]
    sarif = json.loads((tmp_path / "out" / "report.sarif").read_text(encoding="utf-8"))
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["RP101"]
    assert (tmp_path / "summary.md").read_text(encoding="utf-8").startswith("## reprolock\n")
    annotations = (tmp_path / "annotations.txt").read_text(encoding="utf-8")
    assert annotations.startswith(
        "::error file=requirements.txt,line=1,col=1,title=RP101 unpinned-requirement::"
        "numpy is not pinned. Fix: "
    )


def test_outputs_on_a_clean_tree(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, CLEAN)
    result = repro("check", "--output", "github=a.txt", "--output", "markdown=b.md")
    assert result.code == 0
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == ""
    assert (tmp_path / "b.md").read_text(encoding="utf-8") == (
        "## reprolock\n\n**No findings** in 0 files scanned.\n"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["sarif"], "--output 'sarif': expected FORMAT=FILE, e.g. sarif=repro.sarif"),
        (["=x.sarif"], "--output '=x.sarif': expected FORMAT=FILE, e.g. sarif=repro.sarif"),
        (["sarif="], "--output 'sarif=': expected FORMAT=FILE, e.g. sarif=repro.sarif"),
        (
            ["xml=report.xml"],
            "--output 'xml=report.xml': unknown format 'xml' "
            "(choose from text, json, sarif, github, markdown)",
        ),
        (
            ["json=r.json", "sarif=./r.json"],
            "--output 'sarif=./r.json': ./r.json is already written by another --output",
        ),
    ],
)
def test_bad_output_forms_exit_2(
    tmp_path: Path, repro: Any, values: list[str], message: str
) -> None:
    write_tree(tmp_path, CLEAN)
    argv = ["check"]
    for value in values:
        argv += ["--output", value]
    result = repro(*argv)
    assert (result.code, result.out, result.err) == (2, "", f"repro: error: {message}\n")
    assert not (tmp_path / "r.json").exists()


def test_unwritable_output_exits_2(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, {**CLEAN, "taken": "a file, not a directory\n"})
    result = repro("check", "--output", "json=taken/report.json")
    assert result.code == 2
    assert result.err.startswith("repro: error: --output json=taken/report.json: cannot write: ")
    assert result.err.count("\n") == 1


# --- rule selection and severity ------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "code", "rules"),
    [
        ([], 1, ["RP101"]),
        (["--select", "RP101"], 1, ["RP101"]),
        (["--select", "RP1"], 1, ["RP101"]),
        (["--select", "rp10"], 1, ["RP101"]),
        (["--select", "RP2,RP101"], 1, ["RP101"]),
        (["--select", "RP2"], 0, []),
        (["--ignore", "RP1"], 0, []),
        (["--ignore", "RP102,RP2"], 1, ["RP101"]),
        (["--select", "RP1", "--ignore", "RP101"], 0, []),
    ],
)
def test_select_and_ignore(
    tmp_path: Path, repro: Any, flags: list[str], code: int, rules: list[str]
) -> None:
    write_tree(tmp_path, UNPINNED)
    result = repro("check", "--format", "json", *flags)
    assert (result.code, result.rules()) == (code, rules)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--select", "RP9"],
            "--select: unknown rule or prefix 'RP9' (run `repro rules` for the list)",
        ),
        (
            ["--ignore", "RP101,X1"],
            "--ignore: unknown rule or prefix 'X1' (run `repro rules` for the list)",
        ),
        (
            ["--select", ","],
            "--select: expected a comma list of rule ids or prefixes, e.g. RP1,RP201",
        ),
    ],
)
def test_bad_selectors_exit_2(tmp_path: Path, repro: Any, flags: list[str], message: str) -> None:
    write_tree(tmp_path, CLEAN)
    result = repro("check", *flags)
    assert (result.code, result.out, result.err) == (2, "", f"repro: error: {message}\n")


@pytest.mark.parametrize(
    ("config", "flags", "code"),
    [
        ("", [], 1),
        ("", ["--fail-on", "warning"], 1),
        ("", ["--fail-on", "never"], 0),
        ('[severity]\nRP101 = "note"\n', [], 0),
        ('[severity]\nRP101 = "note"\n', ["--fail-on", "warning"], 0),
        ('[severity]\nRP101 = "note"\n', ["--fail-on", "note"], 1),
        ('fail-on = "note"\n[severity]\nRP101 = "note"\n', [], 1),
        ('fail-on = "note"\n[severity]\nRP101 = "note"\n', ["--fail-on", "error"], 0),
        ('fail-on = "never"\n', [], 0),
    ],
)
def test_fail_on(tmp_path: Path, repro: Any, config: str, flags: list[str], code: int) -> None:
    write_tree(tmp_path, {**UNPINNED, "repro.toml": config})
    result = repro("check", *flags)
    assert result.code == code
    assert "RP101" in result.out  # reported either way; fail-on only decides the exit code


def test_severity_off_hides_the_rule(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, {**UNPINNED, "pyproject.toml": '[tool.repro.severity]\nRP101 = "off"\n'})
    result = repro("check", "--format", "json")
    assert (result.code, result.rules()) == (0, [])


def test_severity_note_downgrades_the_finding(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, {**UNPINNED, "pyproject.toml": '[tool.repro.severity]\nRP101 = "note"\n'})
    result = repro("check", "--format", "json")
    assert result.code == 0
    assert [(f["rule"], f["severity"]) for f in result.json()["findings"]] == [("RP101", "note")]
    # pyproject.toml is scanned too
    assert result.err == "2 files scanned, 1 finding (0 error, 0 warning, 1 note)\n"


# --- config errors ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "message"), BAD_CONFIGS)
def test_bad_config_exits_2_with_one_line(
    tmp_path: Path, repro: Any, name: str, content: str, message: str
) -> None:
    write_tree(tmp_path, {**UNPINNED, name: content})
    result = repro("check", ".")
    assert (result.code, result.out, result.err) == (2, "", f"repro: error: {message}\n")


def test_bad_config_of_a_subdirectory_root(tmp_path: Path, repro: Any) -> None:
    # The file is named relative to the audited root, as finding paths are.
    write_tree(tmp_path, {"services/repro.toml": 'fail-on = "fatal"\n'})
    result = repro("check", "services")
    assert result.code == 2
    assert result.err == (
        "repro: error: repro.toml: fail-on: expected one of error, warning, note, "
        'never, got "fatal"\n'
    )


# --- baseline -------------------------------------------------------------------------------


def _baseline(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_write_baseline_then_baseline_hides_the_finding(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, UNPINNED)
    written = repro("check", "--write-baseline", "baseline.json")
    assert (written.code, written.out) == (0, "")
    assert written.err == "repro: wrote 1 baseline entry to baseline.json\n"
    data = _baseline(tmp_path / "baseline.json")
    assert data["schema"] == 1
    [entry] = data["entries"]
    assert {k: entry[k] for k in ("rule", "path", "subject", "reason", "owner", "expires")} == {
        "rule": "RP101",
        "path": "requirements.txt",
        "subject": "numpy",
        "reason": "",
        "owner": "",
        "expires": None,
    }

    hidden = repro("check", "--baseline", "baseline.json")
    assert (hidden.code, hidden.out) == (0, "")
    assert hidden.err == "1 file scanned, no findings, 1 suppressed\n"


def test_baseline_survives_a_line_move(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, UNPINNED)
    assert repro("check", "--write-baseline", "baseline.json").code == 0
    write_tree(tmp_path, {"requirements.txt": "# moved down\n\nnumpy\n"})
    assert repro("check", "--baseline", "baseline.json").code == 0


@pytest.mark.parametrize(
    ("days", "code"),
    [(-1, 1), (0, 0), (30, 0)],
)
def test_expired_baseline_entry_is_reported_again(
    tmp_path: Path, repro: Any, days: int, code: int
) -> None:
    write_tree(tmp_path, UNPINNED)
    assert repro("check", "--write-baseline", "baseline.json").code == 0
    expires = dt.date.today() + dt.timedelta(days=days)
    data = _baseline(tmp_path / "baseline.json")
    data["entries"][0].update(expires=expires.isoformat(), reason="waiting on 2.0", owner="ml")
    (tmp_path / "baseline.json").write_text(json.dumps(data), encoding="utf-8")

    result = repro("check", "--baseline", "baseline.json", "--format", "json")
    assert result.code == code
    if code:
        [finding] = result.json()["findings"]
        assert finding["message"] == f"numpy is not pinned (baseline entry expired {expires})"
    else:
        assert result.rules() == []


def test_rewriting_the_baseline_keeps_reason_owner_and_expiry(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, UNPINNED)
    assert repro("check", "--write-baseline", "baseline.json").code == 0
    data = _baseline(tmp_path / "baseline.json")
    data["entries"][0].update(reason="pinned by the base image", owner="ml", expires="2999-01-01")
    (tmp_path / "baseline.json").write_text(json.dumps(data), encoding="utf-8")
    assert repro("check", "--write-baseline", "baseline.json").code == 0
    entry = _baseline(tmp_path / "baseline.json")["entries"][0]
    assert (entry["reason"], entry["owner"], entry["expires"]) == (
        "pinned by the base image",
        "ml",
        "2999-01-01",
    )


def test_config_baseline_key(tmp_path: Path, repro: Any) -> None:
    write_tree(
        tmp_path,
        {**UNPINNED, "pyproject.toml": '[tool.repro]\nbaseline = ".repro/baseline.json"\n'},
    )
    assert repro("check").code == 1  # no baseline file yet: nothing is accepted
    assert repro("check", "--write-baseline", ".repro/baseline.json").code == 0
    result = repro("check")
    assert (result.code, result.err) == (0, "2 files scanned, no findings, 1 suppressed\n")


def test_missing_baseline_flag_file_exits_2(tmp_path: Path, repro: Any) -> None:
    write_tree(tmp_path, CLEAN)
    result = repro("check", "--baseline", "nope.json")
    assert (result.code, result.err) == (2, "repro: error: --baseline nope.json: no such file\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "bad.json:1: invalid JSON: Expecting value"),
        ("[]", 'bad.json: expected an object with an "entries" list'),
        ('{"entries": [{}]}', "bad.json: entries[0]: expected an object with a string fingerprint"),
        (
            '{"entries": [{"fingerprint": "x", "expires": "soon"}]}',
            "bad.json: entries[0].expires: expected a date YYYY-MM-DD, got 'soon'",
        ),
    ],
)
def test_malformed_baseline_exits_2(tmp_path: Path, repro: Any, content: str, message: str) -> None:
    write_tree(tmp_path, {**CLEAN, "bad.json": content})
    result = repro("check", "--baseline", "bad.json")
    assert (result.code, result.err) == (2, f"repro: error: {message}\n")


# --- inline suppression -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirements", "code"),
    [
        ("numpy  # repro: ignore[RP101] pinned by the base image\n", 0),
        ("# repro: ignore[RP101] pinned by the base image\nnumpy\n", 0),
        ("numpy  # repro: ignore[RP1] prefix\n", 0),
        ("numpy  # repro: ignore[RP102, RP101] several\n", 0),
        ("numpy  # repro: ignore[RP102] another rule\n", 1),
        ("# repro: ignore[RP101] too far above\n\nnumpy\n", 1),
        ("numpy  # ignore[RP101] not our marker\n", 1),
    ],
)
def test_inline_ignore(tmp_path: Path, repro: Any, requirements: str, code: int) -> None:
    write_tree(tmp_path, {"requirements.txt": requirements})
    result = repro("check", "--format", "json")
    assert result.code == code
    assert result.rules() == (["RP101"] if code else [])
    if not code:
        assert result.json()["summary"]["suppressed"] == 1


# --- colour -------------------------------------------------------------------------------


def test_color_never_has_no_ansi_codes(
    tmp_path: Path, repro: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, UNPINNED)
    monkeypatch.setenv("FORCE_COLOR", "1")
    result = repro("check", "--color", "never")
    assert result.out == RP101_TEXT
    assert "\x1b" not in result.out + result.err


def test_color_always_and_auto(tmp_path: Path, repro: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, UNPINNED)
    assert "\x1b[" in repro("check", "--color", "always").out
    # auto: captured output is not a terminal
    assert "\x1b" not in repro("check").out
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in repro("check").out
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in repro("check").out


# --- repro rules ---------------------------------------------------------------------------


def test_rules_lists_every_rule(repro: Any) -> None:
    result = repro("rules")
    assert result.code == 0
    lines = result.out.splitlines()
    assert [line.split()[0] for line in lines] == list(RULES)
    for line, rule in zip(lines, RULES.values(), strict=True):
        assert line.split()[1:3] == [rule.severity.value, rule.name]
        assert line.endswith(rule.summary)


def _section(out: str, heading: str) -> list[str]:
    """The words of the indented block under ``heading``."""
    block = out.split(f"\n{heading}\n", 1)[1].split("\n\n", 1)[0]
    return block.split()


@pytest.mark.parametrize("rule_id", ["RP101", "rp101"])
def test_rules_explains_one_rule_with_examples(repro: Any, rule_id: str) -> None:
    result = repro("rules", rule_id)
    assert result.code == 0
    rule = RULES["RP101"]
    assert result.out.startswith("RP101 unpinned-requirement (error)\n")
    assert "Flagged:\n    numpy\n" in result.out
    assert f"Fixed:\n    {rule.good.strip()}\n" in result.out
    assert rule.rationale.split() == _section(result.out, "Why:")
    assert f"Fix: {rule.fix}\n" in result.out


@pytest.mark.parametrize("rule_id", list(RULES))
def test_every_rule_explains_itself(repro: Any, rule_id: str) -> None:
    result = repro("rules", rule_id)
    assert result.code == 0
    rule = RULES[rule_id]
    for line in (*rule.bad.splitlines(), *rule.good.splitlines()):
        assert f"    {line}\n" in result.out


def test_unknown_rule_exits_2(repro: Any) -> None:
    result = repro("rules", "RP999")
    assert (result.code, result.out) == (2, "")
    assert result.err == "repro: error: unknown rule 'RP999' (run `repro rules` for the list)\n"


def test_rules_json(repro: Any) -> None:
    result = repro("rules", "--format", "json")
    assert result.code == 0
    data = result.json()
    assert [r["id"] for r in data] == list(RULES)
    for item in data:
        rule = RULES[item["id"]]
        assert item == {
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
    one = repro("rules", "RP101", "--format", "json")
    assert one.json() == data[list(RULES).index("RP101")]


# --- help ---------------------------------------------------------------------------------


def test_help_and_version(repro: Any) -> None:
    top = repro("--help")
    assert top.code == 0
    assert "examples:" in top.out
    assert "repro COMMAND --help" in top.out
    check = repro("check", "--help")
    assert check.code == 0
    for text in ("examples:", "exit codes:", "--output FORMAT=FILE", "# repro: ignore[RP101]"):
        assert text in check.out
    for fmt in Format:
        assert fmt.value in check.out
    rules = repro("rules", "--help")
    assert (rules.code, "repro rules RP101" in rules.out) == (0, True)
    version = repro("--version")
    assert (version.code, version.out) == (0, f"reprolock {__version__}\n")


# --- a real process -----------------------------------------------------------------------


def _python_m(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR"}}
    return subprocess.run(
        [sys.executable, "-m", "reprolock", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_python_m_reprolock(tmp_path: Path) -> None:
    write_tree(tmp_path, {"requirements.txt": "numpy\n", "bad/repro.toml": 'fail-on = "fatal"\n'})
    found = _python_m(tmp_path, "check", ".", "--format", "json")
    assert (found.returncode, found.stderr) == (1, RP101_SUMMARY)
    assert [f["rule"] for f in json.loads(found.stdout)["findings"]] == ["RP101"]

    bad = _python_m(tmp_path, "check", "bad")
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == (
        "repro: error: repro.toml: fail-on: expected one of error, warning, note, never, "
        'got "fatal"\n'
    )

    usage = _python_m(tmp_path, "check", "--bogus")
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr
    assert "unrecognized arguments: --bogus" in usage.stderr


_EXIT_PROBE = """
import atexit, sys, threading, time
from reprolock.cli import run

class Finalized:
    def __del__(self):
        sys.stderr.write("heap freed\\n")

KEEP = Finalized()
atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
if sys.argv[1] == "thread":
    def late():
        time.sleep(0.2)
        sys.stdout.write("thread finished\\n")
    threading.Thread(target=late).start()
sys.argv = ["repro", *sys.argv[2:]]
run()
"""


def _exit_probe(cwd: Path, mode: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _EXIT_PROBE, mode, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_executable_exits_without_freeing_its_heap_after_flushing_and_atexit(
    tmp_path: Path,
) -> None:
    # Enough findings that the report is far larger than stdout's buffer.
    write_tree(tmp_path, {"requirements.txt": "".join(f"pkg{i}\n" for i in range(3000))})
    done = _exit_probe(tmp_path, "alone", "check", ".", "--format", "json")
    assert done.returncode == 1
    assert len(json.loads(done.stdout)["findings"]) == 3000
    # atexit handlers ran and stderr was flushed; the heap was left to the operating system.
    assert done.stderr.endswith("atexit ran\n")
    assert "heap freed" not in done.stderr

    rules = _exit_probe(tmp_path, "alone", "rules")
    assert (rules.returncode, rules.stdout.count("\nRP"), rules.stderr) == (
        0,
        len(RULES) - 1,
        "atexit ran\n",
    )


def test_the_executable_exits_as_python_does_while_another_thread_runs(tmp_path: Path) -> None:
    done = _exit_probe(tmp_path, "thread", "rules")
    assert done.returncode == 0
    # The thread was waited for and the interpreter's own shutdown ran.
    assert done.stdout.endswith("thread finished\n")
    assert done.stderr == "atexit ran\nheap freed\n"


def test_code_host_formats_use_paths_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, {"services/api/requirements.txt": "numpy\n"})
    monkeypatch.chdir(tmp_path)
    assert main(["check", "services", "--format", "github"]) == 1
    assert "file=services/api/requirements.txt," in capsys.readouterr().out
    assert main(["check", "services", "--format", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    result = sarif["runs"][0]["results"][0]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "services/api/requirements.txt"
    assert sarif["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    assert main(["check", "services", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["findings"][0]["path"] == "api/requirements.txt"


def test_diff_command_reports_changes_with_diff_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    locks = Path(__file__).resolve().parent.parent / "fixtures" / "harness" / "locks"
    old, new = locks / "sklearn-1.3.2.txt", locks / "sklearn-1.4.2.txt"
    assert main(["diff", str(old), str(old)]) == 0
    capsys.readouterr()
    assert main(["diff", str(old), str(new), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["changes"] == [
        {
            "name": "scikit-learn",
            "kind": "upgraded",
            "old": "1.3.2",
            "new": "1.4.2",
            "framework": True,
        }
    ]
    assert main(["diff", str(old), "nowhere.txt"]) == 2
    assert capsys.readouterr().err.strip() == "repro: error: nowhere.txt: no such file"


@pytest.mark.network
def test_fix_command_dry_run_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, {"requirements.txt": "six<=1.16.0  # helpers\n"})
    before = (tmp_path / "requirements.txt").read_text(encoding="utf-8")
    assert main(["fix", str(tmp_path / "missing")]) == 2
    capsys.readouterr()
    assert main(["fix", str(tmp_path), "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert (tmp_path / "requirements.txt").read_text(encoding="utf-8") == before
    assert "-six<=1.16.0  # helpers" in captured.out
    assert "+six==1.16.0 \\" in captured.out
    assert "would fix" in captured.err


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _helps(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, str]:
    """Every (sub)command's help text, by its command words."""
    out = {prefix: parser.format_help()}
    if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
        for name, sub in _subcommands(parser).items():
            out.update(_helps(sub, f"{prefix} {name}".strip()))
    return out


def test_the_parser_of_one_command_is_that_of_the_whole_command_line() -> None:
    whole = _parser()
    commands = list(_subcommands(whole))
    assert commands[:3] == ["check", "rules", "golden"]
    full = _helps(whole)
    for command in commands:
        alone = _parser(command)
        built = list(_subcommands(alone))
        assert built == (["plan", "merge"] if command in {"plan", "merge"} else [command])
        for words, text in _helps(alone).items():
            if words:  # the top level's list of commands is the only difference
                assert text == full[words], words


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["check", "."], "check"),
        (["--debug", "replay", "--lock", "x"], "replay"),
        (["--help", "check"], None),
        (["-h"], None),
        (["--version"], None),
        ([], None),
        (["--debug"], None),
        (["bogus"], "bogus"),
    ],
)
def test_the_command_is_the_first_word_after_debug(argv: list[str], command: str | None) -> None:
    assert _command_of(argv) == command


def test_a_word_that_is_no_command_still_lists_every_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bogus"]) == 2
    assert (
        "invalid choice: 'bogus' (choose from 'check', 'rules', 'golden'" in capsys.readouterr().err
    )
