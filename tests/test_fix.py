"""``repro fix``: exact pins and hashes written in place, formatting kept, check clean after."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from reprolock.errors import UsageError
from reprolock.fix import (
    PipCompile,
    Resolved,
    ResolveError,
    pin_requirement,
    plan_fix,
    read_compiled,
    run_fix,
    unified_diff,
)
from tests.conftest import FIXTURES, audit_tree, hits, write_tree
from tests.sdist_canary import CANARY_NAME, write_project, write_sdist

FIX = FIXTURES / "fix"
FIXED_RULES = ("RP101", "RP102", "RP103")


def digest(text: str) -> str:
    return "sha256:" + (text * 64)[:64]


# A small index for the stand-in resolver: versions, their hashes, their dependencies.
INDEX: dict[str, dict[str, tuple[str, ...]]] = {
    "six": {"1.16.0": (digest("1"), digest("2")), "1.17.0": (digest("3"),)},
    "idna": {"3.6": (digest("4"),), "3.7": (digest("5"), digest("6"))},
    "python-dateutil": {"2.9.0.post0": (digest("7"),)},
    "requests": {"2.32.3": (digest("8"),)},
}
DEPENDENCIES = {"python-dateutil": ["six"]}


class FakeResolver:
    """pip-compile's contract over :data:`INDEX`: highest admitted version, constraints
    followed, dependencies added, markers evaluated for this interpreter."""

    def __init__(self, *, fail: Sequence[str] = ()) -> None:
        self.calls: list[tuple[list[str], list[str], str | None]] = []
        self.fail = set(fail)

    def resolve(
        self,
        lines: Sequence[str],
        *,
        options: Sequence[str] = (),
        constraints: Sequence[str] = (),
        python: str | None = None,
    ) -> dict[str, Resolved]:
        self.calls.append((list(lines), list(constraints), python))
        limits: dict[str, Requirement] = {}
        for line in constraints:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate():
                limits[str(canonicalize_name(req.name))] = req
        chosen: dict[str, Resolved] = {}
        pending = [(Requirement(line), "") for line in lines]
        while pending:
            req, parent = pending.pop(0)
            if req.marker is not None and not req.marker.evaluate():
                continue
            name = str(canonicalize_name(req.name))
            if name in self.fail or name not in INDEX:
                raise ResolveError(f"No matching distribution found for {req}")
            versions = sorted(INDEX[name], key=Version, reverse=True)
            allowed = [
                v
                for v in versions
                if req.specifier.contains(v, prereleases=True)
                and (name not in limits or limits[name].specifier.contains(v, prereleases=True))
            ]
            if not allowed:
                raise ResolveError(f"Could not find a version that satisfies {req}")
            if name in chosen:
                if not req.specifier.contains(chosen[name].version, prereleases=True):
                    raise ResolveError(f"conflict on {name}")
                continue
            via = (parent,) if parent else ()
            chosen[name] = Resolved(version=allowed[0], hashes=INDEX[name][allowed[0]], via=via)
            pending += [(Requirement(dep), name) for dep in DEPENDENCIES.get(name, [])]
        return chosen


def fix_tree(
    tmp_path: Path, files: Mapping[str, str | bytes], resolver: FakeResolver | None = None
) -> tuple[str, int, list[str]]:
    write_tree(tmp_path, dict(files))
    messages: list[str] = []
    diff, code = run_fix(
        tmp_path, dry_run=False, progress=messages.append, resolver=resolver or FakeResolver()
    )
    return diff, code, messages


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def remaining(root: Path) -> list[tuple[str, str, int]]:
    return [h for h in hits(audit_tree(root)) if h[0] in FIXED_RULES]


# --- real pip-compile, through the host's pip configuration ---------------------------------

RESOLVE_DIFF = """\
--- a/Dockerfile
+++ b/Dockerfile
@@ -1,3 +1,3 @@
 FROM python:3.11-slim@sha256:4c2cf9917bd1cbacc5e9b07320025bdb7cdf2df7b0ceaccb55e9dd7e30987419
-RUN pip install --no-cache-dir six<=1.16.0 \\
-    "idna<=3.7"
+RUN pip install --no-cache-dir six==1.16.0 \\
+    "idna==3.7"
--- a/requirements.txt
+++ b/requirements.txt
@@ -1,5 +1,7 @@
 # Runtime requirements of the batch scorer, installed as written.
-six<=1.16.0 ; python_version >= "3.8"  # compatibility shims
-idna==3.7
-python-dateutil \\
-    <=2.9.0.post0  # date parsing
+six==1.16.0 ; python_version >= "3.8" \\
+    --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254  # compatibility shims
+idna==3.7 \\
+    --hash=sha256:82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0
+python-dateutil==2.9.0.post0 \\
+    --hash=sha256:a8b2bc7bffae282281c8140a97d3aa9c14da0b136dfe83f850eea9a5f7470427  # date parsing
"""  # noqa: E501 - pip-compile's hash lines, kept whole

LOCKED_DIFF = """\
--- a/Dockerfile
+++ b/Dockerfile
@@ -2,6 +2,6 @@
 FROM python:3.11-slim@sha256:4c2cf9917bd1cbacc5e9b07320025bdb7cdf2df7b0ceaccb55e9dd7e30987419
 WORKDIR /srv
 # The model server; versions as in requirements.txt.
-RUN pip install --no-cache-dir numpy scikit-learn>=1.3
+RUN pip install --no-cache-dir numpy==1.26.4 scikit-learn==1.3.2
 COPY serve.py .
 CMD ["python", "serve.py"]
--- a/requirements-notebooks.txt
+++ b/requirements-notebooks.txt
@@ -1,2 +1,9 @@
 # Extra tools for the analysis notebooks (not compiled: installed as written).
-python-dateutil>=2.8  # date parsing
+python-dateutil==2.9.0.post0 \\
+    --hash=sha256:a8b2bc7bffae282281c8140a97d3aa9c14da0b136dfe83f850eea9a5f7470427  # date parsing
+
+# Dependencies of the requirements above, pinned and hashed by `repro fix`: with hashes,
+# pip installs only packages listed with theirs.
+six==1.16.0 \\
+    --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254
+    # via python-dateutil
"""


class Recording(PipCompile):
    """The real resolver, remembering what it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[list[str]] = []

    def resolve(
        self,
        lines: Sequence[str],
        *,
        options: Sequence[str] = (),
        constraints: Sequence[str] = (),
        python: str | None = None,
    ) -> dict[str, Resolved]:
        self.asked.append(list(lines))
        return super().resolve(lines, options=options, constraints=constraints, python=python)


@pytest.fixture
def resolve_project(tmp_path: Path) -> Path:
    root = tmp_path / "resolve"
    shutil.copytree(FIX / "resolve", root)
    return root


@pytest.fixture
def locked_project(tmp_path: Path) -> Path:
    root = tmp_path / "locked"
    shutil.copytree(FIX / "locked", root)
    return root


@pytest.mark.network
def test_dry_run_resolves_with_pip_compile_and_writes_nothing(resolve_project: Path) -> None:
    before = {p.name: p.read_bytes() for p in resolve_project.iterdir()}
    messages: list[str] = []
    diff, code = run_fix(resolve_project, dry_run=True, progress=messages.append)
    assert diff == RESOLVE_DIFF
    assert code == 0
    assert {p.name: p.read_bytes() for p in resolve_project.iterdir()} == before
    assert messages[-1] == "would fix 5 findings in 2 files"


@pytest.mark.network
def test_after_fix_check_reports_none_of_the_fixed_findings(resolve_project: Path) -> None:
    fixed = remaining(resolve_project)
    assert fixed == [
        ("RP101", "Dockerfile", 2),
        ("RP102", "Dockerfile", 3),
        ("RP102", "requirements.txt", 2),
        ("RP103", "requirements.txt", 3),
        ("RP102", "requirements.txt", 4),
    ]
    (resolve_project / "requirements.txt").chmod(0o640)
    pyproject = (resolve_project / "pyproject.toml").read_bytes()
    diff, code = run_fix(resolve_project, dry_run=False)
    assert diff == RESOLVE_DIFF
    assert code == 0
    # Hashes cannot go on a command line: the exact pins there now only lack hashes.
    assert remaining(resolve_project) == [("RP103", "Dockerfile", 2), ("RP103", "Dockerfile", 3)]
    assert stat.S_IMODE((resolve_project / "requirements.txt").stat().st_mode) == 0o640
    # A manifest keeps its ranges.
    assert (resolve_project / "pyproject.toml").read_bytes() == pyproject
    # A second run has nothing left that it can fix.
    assert run_fix(resolve_project, dry_run=False) == ("", 0)


@pytest.mark.network
def test_versions_come_from_the_sibling_lock(locked_project: Path) -> None:
    resolver = Recording()
    diff, code = run_fix(locked_project, dry_run=False, resolver=resolver)
    assert diff == LOCKED_DIFF
    assert code == 0
    # The Dockerfile needed nothing but the lock; the notebook file was resolved at the
    # lock's version, for its hashes and dependencies.
    assert resolver.asked == [["python-dateutil==2.9.0.post0"]]
    assert remaining(locked_project) == [("RP103", "Dockerfile", 5), ("RP103", "Dockerfile", 5)]


@pytest.mark.network
def test_a_fixed_requirements_file_installs_in_hash_checking_mode(locked_project: Path) -> None:
    run_fix(locked_project, dry_run=False)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "-r",
            str(locked_project / "requirements-notebooks.txt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.network
def test_pip_compile_failure_is_reported_not_raised(tmp_path: Path) -> None:
    write_tree(tmp_path, {"requirements.txt": "six<=1.16.0\nno-such-package-reprolock-test\n"})
    messages: list[str] = []
    diff, code = run_fix(tmp_path, dry_run=True, progress=messages.append)
    assert code == 1
    assert "+six==1.16.0\n" in diff
    assert any(
        m.startswith(
            "requirements.txt:2: RP101 no-such-package-reprolock-test is not pinned: not fixed: "
            "pip-compile: "
        )
        for m in messages
    )


# --- requirements files: formatting kept -----------------------------------------------------


@pytest.mark.parametrize(
    ("written", "pinned"),
    [
        ("numpy", "numpy==1.26.4"),
        ("numpy>=1.24,<2", "numpy==1.26.4"),
        ("NumPy >= 1.24", "NumPy==1.26.4"),
        ("numpy (>=1.24)", "numpy==1.26.4"),
        ("scikit-learn[alldeps]~=1.3", "scikit-learn[alldeps]==1.26.4"),
        ("requests [socks] >=2", "requests [socks]==1.26.4"),
        ('numpy>=1.24 ; python_version >= "3.9"', 'numpy==1.26.4 ; python_version >= "3.9"'),
        ("numpy;sys_platform=='linux'", "numpy==1.26.4;sys_platform=='linux'"),
        ("numpy @ https://example.com/numpy.whl", None),
    ],
)
def test_pin_requirement(written: str, pinned: str | None) -> None:
    assert pin_requirement(written, "1.26.4") == pinned


def test_library_profile_pins_without_hashes_and_keeps_the_line(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[tool.repro]\nprofile = "library"\n',
        "requirements.txt": (
            "# tools\n"
            "six>=1.15  # compatibility\n"
            "idna ; python_version >= '3.8'\n"
            "requests[socks] >=2 --config-settings=key=value\n"
        ),
    }
    resolver = FakeResolver()
    _, code, _ = fix_tree(tmp_path, files, resolver)
    assert code == 0
    assert read(tmp_path / "requirements.txt") == (
        "# tools\n"
        "six==1.17.0  # compatibility\n"
        "idna==3.7 ; python_version >= '3.8'\n"
        "requests[socks]==2.32.3 --config-settings=key=value\n"
    )
    assert remaining(tmp_path) == []


def test_crlf_bom_and_no_final_newline_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    content = "\ufeff# serving\r\nidna==3.7\r\nsix<=1.16.0  # shims"
    _, code, _ = fix_tree(tmp_path, {"requirements.txt": content.encode("utf-8")})
    assert code == 0
    assert path.read_bytes().decode("utf-8") == (
        "\ufeff# serving\r\n"
        f"idna==3.7 \\\r\n    --hash={digest('5')} \\\r\n    --hash={digest('6')}\r\n"
        f"six==1.16.0 \\\r\n    --hash={digest('1')} \\\r\n    --hash={digest('2')}  # shims"
    )
    assert remaining(tmp_path) == []


def test_continuation_lines_options_and_old_hashes(tmp_path: Path) -> None:
    files = {
        "requirements.txt": (
            "  idna \\\n"
            "      >=3.6 \\\n"
            f"      --hash={digest('9')} --config-settings=a=b  # url parsing\n"
            "six==1.16.0 \\\n"
            f"    --hash={digest('1')} \\\n"
            f"    --hash={digest('2')}\n"
        )
    }
    _, code, _ = fix_tree(tmp_path, files)
    assert code == 0
    assert read(tmp_path / "requirements.txt") == (
        "  idna==3.7 --config-settings=a=b \\\n"
        f"      --hash={digest('5')} \\\n"
        f"      --hash={digest('6')}  # url parsing\n"
        "six==1.16.0 \\\n"
        f"    --hash={digest('1')} \\\n"
        f"    --hash={digest('2')}\n"
    )


def test_dependencies_missing_from_a_hashed_file_are_appended(tmp_path: Path) -> None:
    _, code, _ = fix_tree(tmp_path, {"requirements.txt": "python-dateutil\n"})
    assert code == 0
    assert read(tmp_path / "requirements.txt") == (
        f"python-dateutil==2.9.0.post0 \\\n    --hash={digest('7')}\n"
        "\n"
        "# Dependencies of the requirements above, pinned and hashed by `repro fix`: with hashes,\n"
        "# pip installs only packages listed with theirs.\n"
        f"six==1.17.0 \\\n    --hash={digest('3')}\n"
        "    # via python-dateutil\n"
    )


def test_the_file_is_resolved_as_a_whole_with_the_lock_as_constraints(tmp_path: Path) -> None:
    resolver = FakeResolver()
    files = {
        "requirements.in": "python-dateutil\nsix\n",
        "requirements.txt": (
            "# This file is autogenerated by pip-compile with Python 3.11\n"
            "#    pip-compile --output-file=requirements.txt requirements.in\n"
            "python-dateutil==2.9.0.post0\nsix==1.16.0\n"
        ),
        "requirements-extra.txt": "python-dateutil>=2\nidna==3.6\n",
    }
    _, code, _ = fix_tree(tmp_path, files, resolver)
    assert code == 0
    assert resolver.calls == [
        (
            ["python-dateutil==2.9.0.post0", "idna==3.6"],
            ["python-dateutil==2.9.0.post0", "six==1.16.0"],
            None,
        )
    ]
    assert read(tmp_path / "requirements-extra.txt").endswith(
        f"six==1.16.0 \\\n    --hash={digest('1')} \\\n    --hash={digest('2')}\n"
        "    # via python-dateutil\n"
    )


# --- what is left alone, and why -------------------------------------------------------------


def test_a_vcs_line_stops_hashes_but_not_pins(tmp_path: Path) -> None:
    files = {
        "requirements.txt": (
            "six\n"
            "idna==3.7\n"
            "featurekit @ git+https://github.com/example-ml/featurekit.git@"
            "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a\n"
        )
    }
    _, code, messages = fix_tree(tmp_path, files)
    # RP103 is a warning: left unfixed, it does not fail the default fail-on (error)
    assert code == 0
    assert read(tmp_path / "requirements.txt").startswith("six==1.17.0\nidna==3.7\n")
    assert remaining(tmp_path) == [
        ("RP103", "requirements.txt", 1),
        ("RP103", "requirements.txt", 2),
    ]
    assert (
        "requirements.txt:2: RP103 idna==3.7 has no hash: not fixed: line 3 installs featurekit "
        "from git+https://github.com/example-ml/featurekit.git@"
        "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a, which pip's hash-checking mode cannot verify; "
        "hashes on other lines would make pip refuse the file"
    ) in messages


def test_hashes_for_all_or_none(tmp_path: Path) -> None:
    files = {"requirements.txt": "six\nidna==3.7\nleftpad-internal\n"}
    _, code, messages = fix_tree(tmp_path, files, FakeResolver())
    assert code == 1  # leftpad-internal stays unpinned: an error
    assert read(tmp_path / "requirements.txt") == "six==1.17.0\nidna==3.7\nleftpad-internal\n"
    assert remaining(tmp_path) == [
        ("RP103", "requirements.txt", 1),
        ("RP103", "requirements.txt", 2),
        ("RP101", "requirements.txt", 3),
    ]
    assert messages[-1] == "fixed 1 finding in 1 file; 2 not fixed"
    assert (
        "requirements.txt:2: RP103 idna==3.7 has no hash: not fixed: pip-compile could not "
        "resolve the file's requirements together"
    ) in messages


def test_suppressed_variables_constraints_and_locks_are_not_edited(tmp_path: Path) -> None:
    files = {
        "requirements.txt": "six  # repro: ignore[RP101] pinned by the base image\n",
        "requirements-ci.txt": "idna==${IDNA_VERSION}\n",
        "constraints.txt": "six==1.16.0\n",
        "environment.yml": "name: x\ndependencies:\n  - pip:\n    - six\n",
    }
    before = {name: (tmp_path / name) for name in files}
    _, code, messages = fix_tree(tmp_path, files)
    assert code == 1
    for name, path in before.items():
        assert read(path) == textwrap.dedent(files[name]).lstrip("\n"), name
    assert any(
        m.startswith("requirements-ci.txt:1: RP102") and "set it where the variable is set" in m
        for m in messages
    )
    assert any(m.startswith("constraints.txt:1: RP103") and "pypa/pip#12956" in m for m in messages)
    assert any(
        m.startswith("environment.yml:4: RP101")
        and "repro fix edits requirements files and install commands, not environment.yml files"
        in m
        for m in messages
    )


def test_nothing_to_fix(tmp_path: Path) -> None:
    resolver = FakeResolver()
    diff, code, messages = fix_tree(tmp_path, {"README.md": "# nothing\n"}, resolver)
    assert (diff, code) == ("", 0)
    assert resolver.calls == []
    assert messages == ["fixed 0 findings in 0 files"]


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        run_fix(tmp_path / "missing", dry_run=True)


# --- install commands ------------------------------------------------------------------------


def test_install_commands_in_dockerfiles_scripts_and_workflows(tmp_path: Path) -> None:
    files = {
        "Dockerfile": (
            "FROM python:3.10-slim@sha256:" + "0" * 64 + "\n"
            'RUN ["pip", "install", "six"]\n'
            "RUN pip install --no-cache-dir idna>=3.6 \\\n"
            "    'python-dateutil' six==1.16.0\n"
        ),
        "scripts/setup.sh": '#!/bin/sh\nset -e\npip install "six<1.17" requests\n',
        ".github/workflows/ci.yml": textwrap.dedent(
            """
            on: push
            jobs:
              test:
                runs-on: ubuntu-24.04
                steps:
                  - run: python -m pip install idna "six>=1.16"
            """
        ).lstrip(),
    }
    resolver = FakeResolver()
    _, code, messages = fix_tree(tmp_path, files, resolver)
    assert code == 0
    assert read(tmp_path / "Dockerfile").splitlines()[1:] == [
        'RUN ["pip", "install", "six==1.17.0"]',
        "RUN pip install --no-cache-dir idna==3.7 \\",
        "    'python-dateutil==2.9.0.post0' six==1.16.0",
    ]
    assert read(tmp_path / "scripts/setup.sh").splitlines()[2] == (
        'pip install "six==1.16.0" requests==2.32.3'
    )
    assert read(tmp_path / ".github/workflows/ci.yml").splitlines()[-1] == (
        '      - run: python -m pip install idna==3.7 "six==1.17.0"'
    )
    # The Dockerfile's environment is Python 3.10 (its base image); pip-compile is asked for it.
    assert [python for _, _, python in resolver.calls] == [None, "3.10", None]
    # Hashes cannot go on a command line.
    assert (
        "Dockerfile:4: RP103 six==1.16.0 is installed without a hash (pip takes hashes only from "
        "a requirements file): not fixed: a command line cannot carry hashes: install from a "
        "hashed requirements file (pip install --require-hashes -r FILE)"
    ) in messages
    assert [h for h in remaining(tmp_path) if h[0] != "RP103"] == []


def test_a_word_that_cannot_be_rewritten_is_reported(tmp_path: Path) -> None:
    files = {"setup.sh": '#!/bin/sh\nV=1\npip install "six"$V idna\n'}
    _, code, messages = fix_tree(tmp_path, files)
    assert read(tmp_path / "setup.sh") == '#!/bin/sh\nV=1\npip install "six"$V idna==3.7\n'
    assert code == 1
    assert any("not fixed: the requirement is not a plain word" in m for m in messages)


# --- pieces ----------------------------------------------------------------------------------


def test_read_compiled_takes_versions_hashes_and_via() -> None:
    text = textwrap.dedent(
        f"""
        python-dateutil==2.9.0.post0 \\
            --hash={digest("7")}
            # via -r fix.in
        six==1.16.0 ; python_version >= "3" \\
            --hash={digest("1")} \\
            --hash=md5:{"0" * 32}
            # via
            #   -c constraints.txt
            #   python-dateutil
            #   Some-Thing

        # The following packages are considered to be unsafe in a requirements file:
        setuptools==75.0.0 \\
            --hash={digest("a")}
            # via some-thing
        """
    )
    assert read_compiled(text) == {
        "python-dateutil": Resolved(version="2.9.0.post0", hashes=(digest("7"),)),
        "six": Resolved(
            version="1.16.0",
            hashes=(digest("1"),),
            marker='python_version >= "3"',
            via=("python-dateutil", "some-thing"),
        ),
        "setuptools": Resolved(version="75.0.0", hashes=(digest("a"),), via=("some-thing",)),
    }


def test_unified_diff_marks_a_missing_final_newline() -> None:
    assert unified_diff("r.txt", "six\n", "six==1.17.0") == (
        "--- a/r.txt\n+++ b/r.txt\n@@ -1 +1 @@\n-six\n+six==1.17.0\n\\ No newline at end of file\n"
    )


def test_plan_fix_honours_the_baseline(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "pyproject.toml": '[tool.repro]\nbaseline = "baseline.json"\n',
            "requirements.txt": "six\nidna\n",
        },
    )
    (fingerprint,) = [
        f.fingerprint for f in audit_tree(tmp_path) if f.subject == "six" and f.rule == "RP101"
    ]
    entries = [{"fingerprint": fingerprint, "rule": "RP101"}]
    (tmp_path / "baseline.json").write_text(
        json.dumps({"schema": 1, "entries": entries}), encoding="utf-8"
    )
    result = plan_fix(tmp_path, resolver=FakeResolver())
    assert [f.location.line for fix in result.files for f in fix.fixed] == [2]
    assert result.files[0].after == "six\nidna==3.7\n"


def test_pip_compile_runs_under_this_python_when_the_target_has_no_pip_tools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("reprolock.piptools.shutil.which", lambda name: None)
    said: list[str] = []
    resolver = PipCompile(progress=said.append)
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    this_python = [sys.executable, "-P", "-m", "piptools", "compile"]
    assert resolver._command(f"{current}.2") == this_python
    assert said == []
    assert resolver._command("3.9") == this_python
    assert said == [
        f"resolving with Python {current}: the project targets 3.9, and no python3.9 with "
        "pip-tools is on PATH (check the versions chosen)"
    ]


# --- hostile repositories: nothing built, nothing outside the tree read or written ----------


class OptionsSeen(FakeResolver):
    """The stand-in resolver, remembering the option lines it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.options: list[list[str]] = []

    def resolve(
        self,
        lines: Sequence[str],
        *,
        options: Sequence[str] = (),
        constraints: Sequence[str] = (),
        python: str | None = None,
    ) -> dict[str, Resolved]:
        self.options.append(list(options))
        return super().resolve(lines, options=options, constraints=constraints, python=python)


def test_fix_never_builds_an_sdist_the_repository_links_to(tmp_path: Path) -> None:
    # issue 15: `--find-links ./dists` in an included file made `fix --dry-run` run a
    # repository sdist's setup.py on the host.
    canary = tmp_path / "CANARY"
    root = tmp_path / "project"
    write_tree(
        root,
        {
            "requirements.txt": "six>=1.15\n-r extra.txt\n",
            "extra.txt": f"--find-links ./dists\n{CANARY_NAME}\n",
        },
    )
    write_sdist(root / "dists", canary)
    messages: list[str] = []
    diff, code = run_fix(root, dry_run=True, progress=messages.append)
    assert not canary.exists()
    assert (diff, code) == ("", 1)
    # the sdist in ./dists is not looked at: the index has no such project
    reason = (
        f"pip-compile: Could not find a version that satisfies the requirement {CANARY_NAME} "
        "(from versions: none)"
    )
    assert messages[-3:] == [
        f"extra.txt:2: RP101 {CANARY_NAME} is not pinned: not fixed: {reason}",
        f"requirements.txt:1: RP102 six>=1.15 is a range, not an exact pin: not fixed: {reason}",
        "would fix 0 findings in 0 files; 2 not fixed",
    ]


@pytest.mark.network
def test_fix_leaves_out_what_an_included_file_would_build(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    root = tmp_path / "project"
    write_tree(
        root,
        {
            "requirements.txt": "six>=1.15,<=1.16.0\n-r extra.txt\n",
            "extra.txt": "-e .\n./pkg\nidna==3.7\n",
        },
    )
    write_project(root, canary)
    write_project(root / "pkg", canary, name="other-canary")
    diff, code = run_fix(root, dry_run=True, progress=lambda _: None)
    assert not canary.exists()
    assert code == 0
    assert "+six==1.16.0 \\\n" in diff


def test_fix_takes_no_index_or_link_options_from_the_repository(tmp_path: Path) -> None:
    resolver = OptionsSeen()
    fix_tree(
        tmp_path,
        {
            "requirements.txt": (
                "--index-url https://mirror.invalid/simple\n"
                "--extra-index-url https://other.invalid/simple\n"
                "--trusted-host other.invalid\n"
                "--find-links ./dists\n"
                "--pre\n"
                "six>=1.15\n"
                "-r more.txt\n"
                "-r ../outside.txt\n"
            ),
            "more.txt": "--find-links /tmp\n--no-binary :all:\nidna==3.7\n",
        },
        resolver,
    )
    given = {tuple(options) for options in resolver.options}
    # more.txt's own findings: nothing from it is passed on either
    assert () in given
    (options,) = given - {()}
    assert options[0] == "--pre"
    assert options[1].startswith("-r ")
    copy = Path(options[1].removeprefix("-r "))
    # a copy holding the named requirements only; ../outside.txt left out
    assert copy.name == "more.txt"
    assert copy.parent != tmp_path
    assert len(options) == 2


def test_pip_compile_gets_only_lines_it_reads_as_written() -> None:
    resolver = PipCompile()
    with pytest.raises(ResolveError) as info:
        resolver.resolve(['six ; os_name == " --no-binary :all: "'])
    assert "cannot be passed to pip-compile as written" in str(info.value)
    with pytest.raises(ResolveError):
        resolver.resolve(["six"], constraints=["idna==${IDNA}"])


class SwapsForALink(FakeResolver):
    """Resolves ``six``, and meanwhile (as a race would) replaces the file that asked for it
    by a link out of the tree, after it was read."""

    def __init__(self, victim: Path, target: Path) -> None:
        super().__init__()
        self.victim = victim
        self.target = target

    def resolve(
        self,
        lines: Sequence[str],
        *,
        options: Sequence[str] = (),
        constraints: Sequence[str] = (),
        python: str | None = None,
    ) -> dict[str, Resolved]:
        if any(line.startswith("six") for line in lines) and not self.victim.is_symlink():
            self.victim.unlink()
            self.victim.symlink_to(self.target)
        return super().resolve(lines, options=options, constraints=constraints, python=python)


def test_fix_never_writes_through_a_link_out_of_the_tree(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "requirements.txt").write_text("six>=1.15\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in host.iterdir()}
    root = tmp_path / "project"
    write_tree(root, {"a/requirements.txt": "idna>=3.6\n", "requirements.txt": "six>=1.15\n"})
    resolver = SwapsForALink(root / "requirements.txt", host / "requirements.txt")
    with pytest.raises(UsageError) as info:
        run_fix(root, dry_run=False, resolver=resolver)
    assert str(info.value) == (f"requirements.txt: requirements.txt leads outside {root.resolve()}")
    assert {p.name: p.read_bytes() for p in host.iterdir()} == before
    # checked before anything is written: the other file is as it was too
    assert (root / "a" / "requirements.txt").read_text(encoding="utf-8") == "idna>=3.6\n"


def test_fix_never_reads_through_a_link_out_of_the_tree(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "requirements.txt").write_text("six>=1.15\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in host.iterdir()}
    root = tmp_path / "project"
    # "a/" sorts first: its resolution swaps "b/requirements.txt" before that is read
    write_tree(root, {"a/requirements.txt": "six>=1.15\n", "b/requirements.txt": "six>=1.15\n"})
    resolver = SwapsForALink(root / "b" / "requirements.txt", host / "requirements.txt")
    messages: list[str] = []
    diff, code = run_fix(root, dry_run=False, resolver=resolver, progress=messages.append)
    assert code == 1
    assert diff.startswith("--- a/a/requirements.txt\n")
    assert "b/requirements.txt" not in diff
    assert f"not fixed: leads outside {root.resolve()}" in "\n".join(messages)
    assert {p.name: p.read_bytes() for p in host.iterdir()} == before
