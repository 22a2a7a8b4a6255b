"""Config loading: defaults, every key, and the exact message for each kind of bad value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reprolock.config import (
    BUILTIN_FRAMEWORKS,
    Config,
    FailOn,
    Profile,
    find_config_file,
    load_config,
)
from reprolock.errors import ConfigError, UsageError
from reprolock.model import Severity

# (file, content, message) — the message names the file and the key path. Shared with the CLI
# tests, which expect `repro: error: <message>` and exit 2.
BAD_CONFIGS: list[tuple[str, str, str]] = [
    (
        "pyproject.toml",
        '[tool.repro]\nfail-on = "fatal"\n',
        "pyproject.toml: [tool.repro] fail-on: expected one of error, warning, note, never, "
        'got "fatal"',
    ),
    (
        "pyproject.toml",
        "[tool.repro]\nfail-on = 1\n",
        "pyproject.toml: [tool.repro] fail-on: expected one of error, warning, note, never, got 1",
    ),
    (
        "pyproject.toml",
        '[tool.repro]\nprofile = "app"\n',
        'pyproject.toml: [tool.repro] profile: expected one of application, library, got "app"',
    ),
    (
        "pyproject.toml",
        '[tool.repro]\nrequire-hashes = "yes"\n',
        'pyproject.toml: [tool.repro] require-hashes: expected true or false, got "yes"',
    ),
    (
        "pyproject.toml",
        '[tool.repro]\nexclude = "legacy/**"\n',
        'pyproject.toml: [tool.repro] exclude: expected a list of strings, got "legacy/**"',
    ),
    (
        "pyproject.toml",
        "[tool.repro]\nexclude = [1]\n",
        "pyproject.toml: [tool.repro] exclude: expected a list of strings, got an array",
    ),
    (
        "pyproject.toml",
        '[tool.repro]\nbaseline = ""\n',
        'pyproject.toml: [tool.repro] baseline: expected a path, got ""',
    ),
    (
        "pyproject.toml",
        "[tool.repro]\nframeworks = { torch = true }\n",
        "pyproject.toml: [tool.repro] frameworks: expected a list of strings, got a table",
    ),
    (
        "pyproject.toml",
        '[tool.repro]\ncolour = "never"\n',
        "pyproject.toml: [tool.repro] colour: unknown key (known: baseline, exclude, fail-on, "
        "frameworks, profile, require-hashes, severity, suites)",
    ),
    (
        "pyproject.toml",
        '[tool.repro]\nseverity = "off"\n',
        'pyproject.toml: [tool.repro.severity]: expected a table, got "off"',
    ),
    (
        "pyproject.toml",
        '[tool.repro.severity]\nRP999 = "off"\n',
        "pyproject.toml: [tool.repro.severity] RP999: unknown rule id (see `repro rules`)",
    ),
    (
        "pyproject.toml",
        '[tool.repro.severity]\nRP101 = "fatal"\n',
        "pyproject.toml: [tool.repro.severity] RP101: expected one of error, warning, note, off, "
        'got "fatal"',
    ),
    (
        "pyproject.toml",
        "[tool]\nrepro = 3\n",
        "pyproject.toml: [tool.repro]: expected a table, got 3",
    ),
    (
        "pyproject.toml",
        "[tool.repro]\nfail-on = \n",
        "pyproject.toml: invalid TOML: Invalid value (at line 2, column 11)",
    ),
    (
        "repro.toml",
        'fail-on = "fatal"\n',
        'repro.toml: fail-on: expected one of error, warning, note, never, got "fatal"',
    ),
    (
        "repro.toml",
        'colour = "never"\n',
        "repro.toml: colour: unknown key (known: baseline, exclude, fail-on, frameworks, "
        "profile, require-hashes, severity, suites)",
    ),
    (
        "repro.toml",
        "require-hashes = 1\n",
        "repro.toml: require-hashes: expected true or false, got 1",
    ),
    (
        "repro.toml",
        "[tool.repro]\nfail-on = 'error'\n",
        "repro.toml: [tool]: repro.toml takes the keys at the top level, no [tool.repro]",
    ),
    (
        "repro.toml",
        "[severity]\nRP101 = 0.5\n",
        "repro.toml: [severity] RP101: expected one of error, warning, note, off, got 0.5",
    ),
    (
        "repro.toml",
        "[severity]\nrp101 = 'off'\n",
        "repro.toml: [severity] rp101: unknown rule id (see `repro rules`)",
    ),
]


def _write(root: Path, name: str, content: str) -> None:
    (root / name).write_text(textwrap.dedent(content), encoding="utf-8")


@pytest.mark.parametrize(("name", "content", "message"), BAD_CONFIGS)
def test_bad_config_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str, message: str
) -> None:
    _write(tmp_path, name, content)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(Path("."))
    assert str(info.value) == message
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == 2


def test_message_names_the_file_relative_to_the_root_as_findings_do(tmp_path: Path) -> None:
    (tmp_path / "services").mkdir()
    _write(tmp_path / "services", "pyproject.toml", '[tool.repro]\nfail-on = "fatal"\n')
    with pytest.raises(ConfigError, match=r"^pyproject\.toml: \[tool\.repro\] fail-on:"):
        load_config(tmp_path / "services")


def test_no_config_file_gives_defaults(tmp_path: Path) -> None:
    assert find_config_file(tmp_path) is None
    config = load_config(tmp_path)
    assert config == Config()
    assert config.source is None
    assert config.profile is Profile.APPLICATION
    assert config.fail_on is FailOn.ERROR
    assert config.require_hashes is True
    assert config.frameworks == BUILTIN_FRAMEWORKS


def test_pyproject_without_tool_repro_gives_defaults(tmp_path: Path) -> None:
    _write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nline-length = 1\n')
    assert load_config(tmp_path) == Config()


def test_every_key(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "pyproject.toml",
        """
        [tool.repro]
        profile = "library"
        fail-on = "warning"
        require-hashes = true
        exclude = ["legacy/**", "docs/"]
        baseline = ".repro/baseline.json"
        frameworks = ["my-ml-lib", "torch"]

        [tool.repro.severity]
        RP703 = "off"
        RP101 = "note"
        """,
    )
    config = load_config(tmp_path)
    assert config.source == "pyproject.toml"
    assert config.profile is Profile.LIBRARY
    assert config.fail_on is FailOn.WARNING
    assert config.require_hashes is True
    assert config.exclude == ("legacy/**", "docs/")
    assert config.baseline == ".repro/baseline.json"
    # Added to the built-in list once, in order.
    assert config.frameworks == (*BUILTIN_FRAMEWORKS, "my-ml-lib")
    assert config.severity == {"RP703": None, "RP101": Severity.NOTE}
    assert config.severity_of("RP703", Severity.NOTE) is None
    assert config.severity_of("RP101", Severity.ERROR) is Severity.NOTE
    assert config.severity_of("RP102", Severity.ERROR) is Severity.ERROR


def test_repro_toml_keys_are_top_level_and_win_over_pyproject(tmp_path: Path) -> None:
    _write(tmp_path, "pyproject.toml", '[tool.repro]\nfail-on = "fatal"\n')
    _write(tmp_path, "repro.toml", 'fail-on = "note"\n[severity]\nRP101 = "warning"\n')
    found = find_config_file(tmp_path)
    assert found == (tmp_path / "repro.toml", False)
    config = load_config(tmp_path)
    assert config.source == "repro.toml"
    assert config.fail_on is FailOn.NOTE
    assert config.severity == {"RP101": Severity.WARNING}


@pytest.mark.parametrize(
    ("table", "require_hashes"),
    [
        ('profile = "application"', True),
        ('profile = "library"', False),
        ('profile = "library"\nrequire-hashes = true', True),
        ('profile = "application"\nrequire-hashes = false', False),
    ],
)
def test_require_hashes_defaults_follow_the_profile(
    tmp_path: Path, table: str, require_hashes: bool
) -> None:
    _write(tmp_path, "repro.toml", table + "\n")
    assert load_config(tmp_path).require_hashes is require_hashes


@pytest.mark.parametrize(
    ("fail_on", "fails"),
    [
        (FailOn.ERROR, {Severity.ERROR}),
        (FailOn.WARNING, {Severity.ERROR, Severity.WARNING}),
        (FailOn.NOTE, {Severity.ERROR, Severity.WARNING, Severity.NOTE}),
        (FailOn.NEVER, set()),
    ],
)
def test_fail_on(fail_on: FailOn, fails: set[Severity]) -> None:
    assert {s for s in Severity if fail_on.fails(s)} == fails


def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "repro.toml").write_bytes(b"fail-on = '\xff'\n")
    with pytest.raises(ConfigError, match=r"repro\.toml: cannot read: 'utf-8' codec"):
        load_config(tmp_path)
