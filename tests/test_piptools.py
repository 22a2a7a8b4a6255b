"""What pip-compile is given: checked copies of the inputs, wheels only, no cwd on sys.path."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reprolock.formats.requirements import OptionEntry
from reprolock.piptools import (
    UnsafeInputError,
    has_piptools,
    include_target,
    kept_option,
    pip_compile_command,
    safe_line,
    safe_path_flag,
    sandbox_pins,
    sandbox_pyproject,
    sandbox_requirements,
)
from tests.conftest import write_tree

HASH = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("line", "safe"),
    [
        ("six", True),
        ('six>=1.15,<2; python_version >= "3.8"', True),
        ('six; os_name == " --no-binary :all: "', False),  # pip would split at " --"
        ('six; os_name == "a #b"', False),  # and cut at " #"
        ("six==${VERSION}", False),  # and expand ${VERSION} from the host's environment
        ("six\n--find-links /", False),
        ("six \\", False),
        ("six\x1b[2J", False),
    ],
)
def test_safe_line(line: str, safe: bool) -> None:
    assert safe_line(line) is safe


@pytest.mark.parametrize(
    ("including", "written", "target"),
    [
        ("requirements/prod.in", "base.in", "requirements/base.in"),
        ("requirements/prod.in", "../common.in", "common.in"),
        ("requirements/prod.in", "../../outside.in", None),
        ("prod.in", "/etc/passwd", None),
        ("prod.in", "https://example.org/r.txt", None),
        ("prod.in", "file:base.in", None),
        ("prod.in", "${HOME}/.netrc", None),
        ("prod.in", "a\\b.in", None),
    ],
)
def test_include_target(including: str, written: str, target: str | None) -> None:
    assert include_target(including, written) == target


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("--pre", None, "--pre"),
        ("--prefer-binary", None, "--prefer-binary"),
        ("--only-binary", ":all:", "--only-binary :all:"),
        ("--only-binary", "numpy,scipy", "--only-binary numpy,scipy"),
        ("--only-binary", ":none:", None),  # pip empties its only-binary set on it
        ("--only-binary", ":all:,:none:", None),
        ("--no-binary", ":all:", None),
        ("--find-links", "./dists", None),
        ("--index-url", "https://mirror.example/simple", None),
        ("--extra-index-url", "https://mirror.example/simple", None),
        ("--trusted-host", "mirror.example", None),
        ("--use-feature", "truststore", None),
    ],
)
def test_only_options_that_choose_among_wheels_are_kept(
    name: str, value: str | None, kept: str | None
) -> None:
    assert kept_option(OptionEntry(name=name, value=value, line=1)) == kept


TREE = {
    "requirements/prod.in": f"""
        # the service
        --pre
        six>=1.15 ; python_version >= "3.8"  # shims
        Django[bcrypt] == 5.0 --hash={HASH}
        -r ../common.in
        -c constraints.txt
        """,
    "common.in": "idna\n",
    "requirements/constraints.txt": "idna<4\n",
}


def test_sandbox_copies_are_rebuilt_from_what_was_checked(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "project", dict(TREE))
    sandbox = tmp_path / "sandbox"
    written = sandbox_requirements(root, "requirements/prod.in", sandbox, strict=True)
    assert sorted(written) == ["common.in", "requirements/constraints.txt", "requirements/prod.in"]
    assert (sandbox / "requirements" / "prod.in").read_text() == textwrap.dedent(
        f"""\
        --pre
        six>=1.15; python_version >= "3.8"
        Django[bcrypt]==5.0 --hash={HASH}
        -r ../common.in
        -c constraints.txt
        """
    )
    assert (sandbox / "common.in").read_text() == "idna\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "-e .",
            "prod.in:2: -e . is an editable install: pip-compile would build it; repro "
            "resolves named requirements from wheels only",
        ),
        (
            "git+https://example.org/x.git@main#egg=x",
            "prod.in:2: git+https://example.org/x.git@main#egg=x is a vcs requirement: "
            "pip-compile would build it; repro resolves named requirements from wheels only",
        ),
        (
            "--find-links ./dists",
            "prod.in:2: --find-links is not taken from the repository: set indexes and links "
            "in the host's pip configuration (pip.conf, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL)",
        ),
        ("-r ../outside.in", "prod.in:2: -r ../outside.in leads outside the project"),
        (
            "six==${VERSION}",
            "prod.in:2: six==${VERSION} is not a plain named requirement: "
            "pip-compile would build it; repro resolves named requirements from wheels only",
        ),
        ("six (", "prod.in:2: pip would reject this line"),
    ],
)
def test_strict_copies_refuse_what_could_build_or_leave(
    tmp_path: Path, line: str, message: str
) -> None:
    root = write_tree(tmp_path / "project", {"prod.in": f"idna\n{line}\n"})
    with pytest.raises(UnsafeInputError) as info:
        sandbox_requirements(root, "prod.in", tmp_path / "sandbox", strict=True)
    assert str(info.value) == message
    assert info.value.exit_code == 2
    # not strict (repro fix): the line is left out, the rest kept
    sandbox_requirements(root, "prod.in", tmp_path / "lenient", strict=False)
    assert (tmp_path / "lenient" / "prod.in").read_text() == "idna\n"


def test_an_include_linked_out_of_the_project_is_refused_unread(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "home", {".netrc": "machine x password hunter2\n"})
    root = write_tree(tmp_path / "project", {"prod.in": "-r etc/.netrc\n"})
    (root / "etc").symlink_to(outside)
    with pytest.raises(UnsafeInputError) as info:
        sandbox_requirements(root, "prod.in", tmp_path / "sandbox", strict=True)
    assert str(info.value) == "prod.in:1: -r etc/.netrc leads outside the project"
    assert not (tmp_path / "sandbox" / "etc").exists()


def test_the_seed_holds_the_lock_pins_only(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {"lock.txt": f"--find-links ./dists\n-e .\nsix==1.16.0 \\\n    --hash={HASH}\n"},
    )
    sandbox_pins(root, "lock.txt", tmp_path / "seed.txt")
    assert (tmp_path / "seed.txt").read_text() == f"six==1.16.0 --hash={HASH}\n"


def test_a_pyproject_source_becomes_its_static_dependencies(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "project",
        {
            "pyproject.toml": """
                [build-system]
                requires = ["setuptools"]
                build-backend = "backend"
                backend-path = ["."]
                [project]
                name = "svc"
                version = "1"
                dependencies = ["six>=1.15", 'idna; python_version >= "3.8"']
                [project.optional-dependencies]
                dev = ["pytest"]
                [tool.pip-tools]
                pip-args = "--no-binary :all:"
                """,
        },
    )
    sandbox_pyproject(root, "pyproject.toml", tmp_path / "sandbox")
    assert (tmp_path / "sandbox" / "pyproject.toml").read_text() == (
        "[project]\n"
        'name = "svc"\n'
        'dependencies = ["six>=1.15", "idna; python_version >= \\"3.8\\""]\n'
        "[project.optional-dependencies]\n"
        '"dev" = ["pytest"]\n'
    )


@pytest.mark.parametrize(
    ("project", "message"),
    [
        (
            'name = "svc"\ndynamic = ["dependencies"]',
            "pyproject.toml: [project] dependencies are dynamic: pip-compile would run the "
            "build backend",
        ),
        (
            "version = '1'",
            "pyproject.toml: no [project] name: pip-compile would run the build backend",
        ),
        (
            'name = "svc"\ndependencies = ["x @ file:///tmp/x"]',
            "pyproject.toml: [project] dependencies: 'x @ file:///tmp/x' is a direct "
            "reference: pip-compile would build it; repro resolves named requirements from "
            "wheels only",
        ),
        (
            'name = "svc"\n[project.optional-dependencies]\nall = ["svc[dev]"]',
            "pyproject.toml: [project] optional-dependencies.all: 'svc[dev]' names the project "
            "itself: pip-compile would build the project",
        ),
    ],
)
def test_a_pyproject_that_needs_a_build_is_refused(
    tmp_path: Path, project: str, message: str
) -> None:
    root = write_tree(tmp_path, {"pyproject.toml": f"[project]\n{project}\n"})
    with pytest.raises(UnsafeInputError) as info:
        sandbox_pyproject(root, "pyproject.toml", tmp_path / "sandbox")
    assert str(info.value) == message


@pytest.mark.parametrize(("version", "flag"), [("3.11", "-P"), ("3.13", "-P"), ("3.10", "-I")])
def test_safe_path_flag(version: str, flag: str) -> None:
    assert safe_path_flag(version) == flag


def test_a_module_in_the_working_directory_never_shadows_pip_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 15: `python -m` puts the working directory first on sys.path
    canary = tmp_path / "CANARY"
    repository = tmp_path / "repository"
    for module in ("piptools", "click", "pip"):
        write_tree(
            repository,
            {f"{module}.py": f"import pathlib\npathlib.Path({str(canary)!r}).write_text('ran')\n"},
        )
    monkeypatch.chdir(repository)
    command = pip_compile_command(None, print, doing="compiling")
    proc = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, check=False, cwd=repository
    )
    assert proc.returncode == 0, proc.stderr
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert has_piptools(sys.executable, current)
    assert not canary.exists()
