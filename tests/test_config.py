"""Config loading: defaults, every key, and the exact message for each kind of bad value."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reprolock.cli import main
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
        "pyproject.toml: [tool.repro] colour: unknown key (known: baseline, environments, "
        "exclude, fail-on, frameworks, profile, require-hashes, severity, suites)",
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
        "repro.toml: colour: unknown key (known: baseline, environments, exclude, fail-on, "
        "frameworks, profile, require-hashes, severity, suites)",
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
    # issue 16: input that crashed or was silently ignored
    ("pyproject.toml", "tool = 3\n", "pyproject.toml: [tool]: expected a table, got 3"),
    (
        "pyproject.toml",
        "x = " + "[" * 500 + "]" * 500 + "\n",
        "pyproject.toml: invalid TOML: nesting too deep to parse",
    ),
    (
        "repro.toml",
        "[a]\nb = " + "{c = " * 500 + "1" + "}" * 500 + "\n",
        "repro.toml: invalid TOML: nesting too deep to parse",
    ),
    *[
        (
            "repro.toml",
            f"exclude = ['legacy/', '{pattern}']\n",
            f"repro.toml: exclude: invalid pattern {shown} ({detail})",
        )
        for pattern, shown, detail in [
            ("!", '"!"', "Invalid git pattern"),
            ("[z-a]", '"[z-a]"', "bad character range z-a at position 10"),
            ("logs\\", '"logs\\\\"', "Invalid git pattern"),
        ]
    ],
    # issue 15: paths that leave the project
    *[
        (
            "pyproject.toml",
            f"[tool.repro]\nbaseline = {path!r}\n",
            f"pyproject.toml: [tool.repro] baseline: expected a relative path inside the project, "
            f'got "{path}"',
        )
        for path in ["/etc/passwd", "../baseline.json", "a/../../b.json", "~/.git-credentials"]
    ],
]

_SUITE = (
    "[suites.churn]\n"
    'lock = "requirements.txt"\n'
    'base-image = "python:3.11-slim"\n'
    'entrypoint = "churn.model:predict"\n'
    'inputs = "data/inputs.npz"\n'
)
_S = "repro.toml: [suites.churn]"

BAD_SUITES: list[tuple[str, str]] = [
    ("timeout = 1e300", f"{_S} timeout: expected at most 86400 seconds (a day), got 1e+300"),
    ("timeout = 86401", f"{_S} timeout: expected at most 86400 seconds (a day), got 86401"),
    (
        'memory = "99999999999999999999g"',
        f'{_S} memory: expected a size of at most 1048576g (1 PiB), got "99999999999999999999g"',
    ),
    (
        'memory = "1048577g"',
        f'{_S} memory: expected a size of at most 1048576g (1 PiB), got "1048577g"',
    ),
    (
        f'memory = "{"9" * 5000}"',
        f'{_S} memory: expected a size of at most 1048576g (1 PiB), got "{"9" * 80}..."',
    ),
    *[
        (
            f"{key} = {path!r}",
            f'{_S} {key}: expected a relative path inside the project, got "{path}"',
        )
        for key in ("lock", "inputs", "golden")
        for path in ["/etc/passwd.npz", "../x.npz", "~/.git-credentials.npz"]
    ],
    (
        'source = ["src", "/home"]',
        f'{_S} source: expected a relative path inside the project, got "/home"',
    ),
    (
        'source = ["src/../../up"]',
        f'{_S} source: expected a relative path inside the project, got "src/../../up"',
    ),
]


@pytest.mark.parametrize(("extra", "message"), BAD_SUITES)
def test_bad_suite_values_are_refused_at_load(tmp_path: Path, extra: str, message: str) -> None:
    # the key is replaced where the suite has it, else added
    key = extra.split(" = ", 1)[0]
    lines = [line for line in _SUITE.splitlines() if not line.startswith(f"{key} = ")]
    _write(tmp_path, "repro.toml", "\n".join([*lines, extra]) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == message
    assert info.value.exit_code == 2


SECRET = "ghp_0123456789abcdefCANARYTOKEN"  # noqa: S105 - a canary, not a credential


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory beside the project, with a secret-looking file in it."""
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / ".git-credentials").write_text(f"https://user:{SECRET}@github.com\n")
    (folder / "inputs.npz").write_bytes(b"PK")
    return folder


@pytest.mark.parametrize(
    ("key", "value", "link"),
    [
        ("lock", '"requirements.txt"', ("requirements.txt", ".git-credentials")),
        ("inputs", '"data/inputs.npz"', ("data", ".")),
        ("golden", '"golden/churn.npz"', ("golden", ".")),
        ("source", '["src"]', ("src", ".")),
        ("source", '["src/models"]', ("src", ".")),
    ],
)
def test_a_symlink_out_of_the_project_is_refused_naming_the_key(
    tmp_path: Path, outside: Path, key: str, value: str, link: tuple[str, str]
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / link[0]).symlink_to(outside / link[1])
    lines = [line for line in _SUITE.splitlines() if not line.startswith(f"{key} = ")]
    _write(root, "repro.toml", "\n".join([*lines, f"{key} = {value}"]) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(root)
    shown = value.strip("[]")
    assert str(info.value) == (
        f"repro.toml: [suites.churn] {key}: {shown} leads outside the project (through a symlink)"
    )
    assert SECRET not in str(info.value)
    assert str(outside) not in str(info.value)


def test_a_baseline_symlinked_out_of_the_project_is_refused(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "project"
    (root / ".repro").mkdir(parents=True)
    (root / ".repro" / "baseline.json").symlink_to(outside / ".git-credentials")
    _write(root, "pyproject.toml", '[tool.repro]\nbaseline = ".repro/baseline.json"\n')
    with pytest.raises(ConfigError) as info:
        load_config(root)
    assert str(info.value) == (
        'pyproject.toml: [tool.repro] baseline: ".repro/baseline.json" leads outside the project '
        "(through a symlink)"
    )


def test_symlinks_that_stay_inside_the_project_are_fine(tmp_path: Path) -> None:
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "prod.txt").write_text("six==1.16.0\n")
    (tmp_path / "requirements.txt").symlink_to("locks/prod.txt")
    (tmp_path / "code").mkdir()
    (tmp_path / "src").symlink_to("code")
    _write(tmp_path, "repro.toml", _SUITE + 'source = ["src"]\n')
    suite = load_config(tmp_path).suites["churn"]
    assert (suite.lock, suite.source) == ("requirements.txt", ("src",))


@pytest.mark.parametrize(
    ("key", "directory"),
    [
        ("lock", "requirements.txt"),
        ("inputs", "data/inputs.npz"),
        ("golden", "golden/churn/golden.npz"),
        ("golden", "golden/churn/golden.json"),
    ],
)
def test_a_file_key_naming_a_directory_is_refused(tmp_path: Path, key: str, directory: str) -> None:
    (tmp_path / directory).mkdir(parents=True)
    _write(tmp_path, "repro.toml", _SUITE)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value) == (
        f'repro.toml: [suites.churn] {key}: expected a file, got "{directory}", a directory'
    )


def test_a_path_too_long_for_the_file_system_is_a_config_error(tmp_path: Path) -> None:
    """Found by the mutation property test: a suite path of thousands of ``[`` made the
    directory check raise ENAMETOOLONG, an internal error."""
    long_name = "[" * 5000
    _write(tmp_path, "repro.toml", _SUITE.replace("requirements.txt", long_name))
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value).startswith(f'{_S} lock: "{long_name[:20]}')
    assert str(info.value).endswith("is not a usable path: File name too long")


def test_a_config_file_symlinked_out_of_the_project_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").symlink_to(outside / ".git-credentials")
    with pytest.raises(ConfigError) as info:
        load_config(root)
    assert str(info.value) == "pyproject.toml: a symlink that leads outside the project"


def test_a_utf8_bom_in_the_config_is_read_as_the_scanners_read_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b'\xef\xbb\xbf[tool.repro]\nfail-on = "note"\n')
    assert load_config(tmp_path).fail_on is FailOn.NOTE


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


@pytest.mark.parametrize(("extra", "message"), BAD_SUITES[:5])
def test_bad_suite_values_exit_2_with_one_line_from_any_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    message: str,
) -> None:
    # issue 16: these ended in an OverflowError at run time or "lost the Docker daemon"
    key = extra.split(" = ", 1)[0]
    lines = [line for line in _SUITE.splitlines() if not line.startswith(f"{key} = ")]
    _write(tmp_path, "repro.toml", "\n".join([*lines, extra]) + "\n")
    monkeypatch.chdir(tmp_path)
    for argv in (["check", "."], ["replay", "--suite", "churn"]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert (captured.out, captured.err) == ("", f"repro: error: {message}\n")
