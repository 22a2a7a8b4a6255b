"""Expansion budgets per scanner: past a limit only that part is skipped, the rest of the file
is audited, and one RP002 note per file says where."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from reprolock.audit import budget, pysource
from reprolock.audit.budget import ExpansionBudget
from reprolock.model import Finding, Location
from tests.conftest import hits

Audit = Callable[[dict[str, str | bytes]], list[Finding]]


def _notes(found: list[Finding]) -> list[tuple[str, str, int, str]]:
    return [
        (f.rule, f.location.path, f.location.line, f.message) for f in found if f.rule == "RP002"
    ]


def test_budget_charges_values_and_refuses_past_each_limit() -> None:
    spent = ExpansionBudget("x")
    assert spent.value("a" * budget.MAX_VALUE_CHARS)
    assert not spent.value("a" * (budget.MAX_VALUE_CHARS + 1))
    assert spent.refused == 1
    assert spent.note() is None  # refusals are noted only where a caller says where
    spent.refuse(Location(path="x", line=3, column=1), "first")
    spent.refuse(Location(path="x", line=9, column=1), "second")
    note = spent.note()
    assert note is not None
    assert (note.rule, note.location.line, note.message) == (
        "RP002",
        3,
        "first (limits: docs/robustness.md)",
    )
    assert ExpansionBudget().unroll(budget.MAX_UNROLLED_COMMANDS)
    assert not ExpansionBudget().unroll(budget.MAX_UNROLLED_COMMANDS + 1)
    assert not ExpansionBudget().split(budget.MAX_SPLIT_WORDS + 1)


def test_shell_value_past_the_limit_is_unknown_and_the_rest_is_audited(audit: Audit) -> None:
    script = "#!/bin/sh\nA=numpy\n" + 'A="$A $A"\n' * 20 + "pip install $A\npip install pandas\n"
    found = audit({"install.sh": script})
    assert hits(found) == [("RP002", "install.sh", 15), ("RP101", "install.sh", 24)]
    assert found[0].message.startswith("$A passes 64 KiB or the file's expansion budget")


def test_shell_append_past_the_limit_is_unknown(audit: Audit) -> None:
    script = "#!/bin/sh\n" + f"A+={'x' * 30_000}\n" * 3 + "pip install $A\n"
    assert hits(audit({"install.sh": script})) == [("RP002", "install.sh", 4)]


def test_loops_unroll_within_the_budget_then_run_once(audit: Audit) -> None:
    values = " ".join(f"p{i}" for i in range(32))
    script = textwrap.dedent(
        f"""\
        #!/bin/sh
        for a in {values}; do
          for b in {values}; do
            for c in {values}; do
              pip install "$a$b$c"
            done
          done
        done
        for p in numpy pandas; do pip install $p; done
        """
    )
    found = audit({"install.sh": script})
    # the innermost loop unrolls 32 times per outer value until 4,096 commands are spent
    assert _notes(found) == [
        (
            "RP002",
            "install.sh",
            4,
            "unrolling for loops passes 4096 commands; from here each loop body is audited "
            "once, its variable unknown (limits: docs/robustness.md)",
        )
    ]
    inner = [h for h in hits(found) if h[0] == "RP101" and h[2] == 5]
    assert 0 < len(inner) < 32**3
    # past the budget `$p` is unknown: nothing literal is left on line 9 to judge
    assert [h for h in hits(found) if h[2] == 9] == []


def test_make_references_charged_as_they_expand(audit: Audit) -> None:
    lines = ["A0 := numpy"] + [f"A{i + 1} = " + " ".join([f"$(A{i})"] * 10) for i in range(8)]
    text = "\n".join([*lines, "", "install:", "\tpip install $(A8)", "\tpip install pandas", ""])
    found = audit({"Makefile": text})
    assert hits(found) == [("RP002", "Makefile", 12), ("RP101", "Makefile", 13)]


def test_dockerfile_arg_past_the_limit_is_unknown(audit: Audit) -> None:
    lines = ["ARG B0=python"] + [f"ARG B{i + 1}=${{B{i}}}${{B{i}}}" for i in range(20)]
    text = "\n".join([*lines, "FROM ${B20}:3.11", "RUN pip install ${B20} numpy", ""])
    found = audit({"Dockerfile": text})
    # the image name of megabytes is not judged (no false "no default"); numpy still is
    assert hits(found) == [("RP002", "Dockerfile", 16), ("RP101", "Dockerfile", 23)]


def test_python_large_file_parsed_statement_by_statement(audit: Audit) -> None:
    big = "DATA = [" + '"abcdefg", ' * 120_000 + "]\n"
    text = (
        'import transformers\n"""A docstring\nwith text at column 0\n"""\n'
        + big
        + 'm = transformers.AutoModel.from_pretrained("bert-base-uncased")\n'
        + "CALLS = ["
        + 'transformers.AutoModel.from_pretrained("x"), ' * 8_000
        + "]\n"
    )
    assert len(text) > pysource.MAX_WHOLE_PARSE_CHARS
    found = audit({"train.py": text})
    assert [(f.rule, f.location.line) for f in found] == [("RP601", 6), ("RP002", 7)]
    assert found[1].message == (
        "Python: a statement is not audited: a statement of 351 KiB is over the 64 KiB limit "
        "(limits: docs/robustness.md)"
    )


def test_workflow_step_aliases_judged_once_at_the_anchor(audit: Audit) -> None:
    text = textwrap.dedent(
        """\
        on: push
        jobs:
          a:
            runs-on: ubuntu-latest
            steps:
              - &install
                run: |
                  curl -o tool.sh https://example.org/tool.sh
                  pip install numpy
              - run: sh tool.sh
          b:
            runs-on: ubuntu-latest
            steps:
              - *install
              - *install
              - run: sh tool.sh
        """
    )
    found = audit({".github/workflows/ci.yml": text})
    assert hits(found) == [
        ("RP101", ".github/workflows/ci.yml", 9),
        ("RP105", ".github/workflows/ci.yml", 10),
        ("RP105", ".github/workflows/ci.yml", 16),  # the download is still known in job b
    ]


def test_conda_pip_list_aliases_judged_once(audit: Audit) -> None:
    text = textwrap.dedent(
        """\
        channels: [conda-forge]
        dependencies:
          - &pip
            pip:
              - numpy
              - pandas
          - *pip
          - *pip
        """
    )
    assert hits(audit({"environment.yml": text})) == [
        ("RP101", "environment.yml", 5),
        ("RP101", "environment.yml", 6),
    ]
