"""``[tool.repro.environments.NAME]``: validated at load, one-line errors, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprolock.cli import main
from reprolock.config import EnvironmentGroup, Profile, load_config
from reprolock.errors import ConfigError
from tests.conftest import write_tree


def test_groups_are_read_in_config_order(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "pyproject.toml": (
                "[tool.repro.environments.churn]\n"
                'members = ["training/**", "serving/**"]\n'
                'exclude = ["serving/legacy/**"]\n'
                "[tool.repro.environments.default]\n"
                'exclude = ["experiments/**"]\n'
                "[tool.repro.environments.jobs]\n"
                'members = ["jobs/**"]\n'
                'purpose = "batch"\n'
            )
        },
    )
    config = load_config(tmp_path)
    assert list(config.environments.values()) == [
        EnvironmentGroup(
            name="churn", members=("training/**", "serving/**"), exclude=("serving/legacy/**",)
        ),
        EnvironmentGroup(name="default", exclude=("experiments/**",)),
        EnvironmentGroup(name="jobs", members=("jobs/**",), purpose="batch"),
    ]
    assert (config.profile, config.profile_set) == (Profile.APPLICATION, False)


def test_a_stated_profile_is_remembered(tmp_path: Path) -> None:
    write_tree(tmp_path, {"repro.toml": 'profile = "application"\n'})
    assert load_config(tmp_path).profile_set


P = "pyproject.toml: [tool.repro.environments"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('environments = ["a"]', f"{P}]: expected a table of environment groups, got an array"),
        ("[tool.repro.environments]\nchurn = 1", f"{P}.churn]: expected a table, got 1"),
        (
            '[tool.repro.environments."bad name"]\nmembers = ["a"]',
            f"{P}.bad name]: a group name takes letters, digits, '.', '_' and '-' only",
        ),
        (
            '[tool.repro.environments.churn]\nmembers = ["a"]\nmember = ["b"]',
            f"{P}.churn] member: unknown key (known: exclude, members, purpose)",
        ),
        (
            "[tool.repro.environments.churn]\nexclude = []",
            f"{P}.churn] members: missing (a group needs the paths it takes)",
        ),
        (
            "[tool.repro.environments.churn]\nmembers = []",
            f"{P}.churn] members: expected at least one pattern",
        ),
        (
            '[tool.repro.environments.churn]\nmembers = "training/**"',
            f'{P}.churn] members: expected a list of strings, got "training/**"',
        ),
        (
            '[tool.repro.environments.churn]\nmembers = ["a"]\nexclude = [1]',
            f"{P}.churn] exclude: expected a list of strings, got an array",
        ),
        (
            '[tool.repro.environments.churn]\nmembers = ["a"]\npurpose = "prod"',
            f"{P}.churn] purpose: expected one of serving, training, pipeline, batch, test, "
            'docs, example, benchmark, dev, ci, other, got "prod"',
        ),
    ],
)
def test_bad_groups_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    text = f"[tool.repro]\n{table}\n" if table.startswith("environments") else f"{table}\n"
    write_tree(tmp_path, {"pyproject.toml": text})
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == message
    assert main(["check", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"repro: error: {message}\n"
