"""Locks for the harness: every format read into exact, hashed pins; markers; digest; probe."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from reprolock.cli import main
from reprolock.harness.lockfile import (
    LockError,
    ProbeError,
    TargetEnvironment,
    read_lock,
)
from tests.conftest import FIXTURES
from tests.harness.conftest import BASE_IMAGE

LOCKS = FIXTURES / "harness" / "locks"
PROBE_FIXTURE = FIXTURES / "harness" / "targets" / "python-3.11-bookworm.json"

SIX_WHEEL = "sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
SIX_SDIST = "sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"
TPC_WHEEL = "sha256:56c1e26c150397e58c4926da8eeee87533b1e32bef131bd4bf6a2f45f3185467"
TPC_SDIST = "sha256:082433502dd922bf738de0d8bcc4fdcbf0979ff44c42bd40f5af8a282f6fa107"
SMALL = ["six==1.16.0", "threadpoolctl==3.5.0"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def target() -> TargetEnvironment:
    """The target recorded from the real base image (Python 3.11.2, glibc 2.36, x86_64)."""
    return TargetEnvironment.from_probe(json.loads(PROBE_FIXTURE.read_text(encoding="utf-8")))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def pins(reqs: tuple[object, ...]) -> list[str]:
    return [getattr(r, "pin") for r in reqs]  # noqa: B009 - typed loosely on purpose


def lock_error(path: Path) -> str:
    with pytest.raises(LockError) as info:
        read_lock(path)
    assert info.value.exit_code == 2
    return str(info.value)


# --------------------------------------------------------------------------------------------
# requirements files


def test_pip_compile_lock_reads_every_pin_with_its_line_and_sha256_hashes() -> None:
    lock = read_lock(LOCKS / "small" / "requirements.txt")
    assert lock.format == "requirements"
    path = LOCKS / "small" / "requirements.txt"
    assert [(r.pin, r.source, r.hashes, r.marker) for r in lock.requirements] == [
        ("six==1.16.0", f"{path}:7", (SIX_SDIST, SIX_WHEEL), None),
        ("threadpoolctl==3.5.0", f"{path}:11", (TPC_SDIST, TPC_WHEEL), None),
    ]


def test_sklearn_fixture_locks_differ_exactly_where_their_names_say(
    target: TargetEnvironment,
) -> None:
    locks = {p.stem: read_lock(p) for p in LOCKS.glob("sklearn-*.txt")}
    assert sorted(locks) == [
        "sklearn-1.2.2",
        "sklearn-1.3.2",
        "sklearn-1.3.2-threadpoolctl-bump",
        "sklearn-1.4.2",
        "sklearn-1.4.2-joblib-threadpoolctl",
    ]
    base = {r.name: r for r in locks["sklearn-1.3.2"].for_target(target)}
    assert [r.pin for r in base.values()] == [
        "cloudpickle==3.1.3",
        "joblib==1.6.0",
        "numpy==1.26.4",
        "scikit-learn==1.3.2",
        "scipy==1.11.4",
        "threadpoolctl==3.8.0",
    ]
    changed = {}
    for stem, lock in locks.items():
        reqs = {r.name: r for r in lock.for_target(target)}
        assert sorted(reqs) == sorted(base)
        changed[stem] = sorted(n for n in base if reqs[n].version != base[n].version)
    assert changed == {
        "sklearn-1.2.2": ["scikit-learn"],
        "sklearn-1.3.2": [],
        "sklearn-1.3.2-threadpoolctl-bump": ["threadpoolctl"],
        "sklearn-1.4.2": ["scikit-learn"],
        "sklearn-1.4.2-joblib-threadpoolctl": ["joblib", "scikit-learn", "threadpoolctl"],
    }
    # unchanged packages carry the very same hashes in every lock
    for lock in locks.values():
        for req in lock.for_target(target):
            if req.version == base[req.name].version:
                assert req.hashes == base[req.name].hashes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("numpy>=1\n", "1: numpy>=1 is not an exact, hashed pin"),
        ("numpy\n", "1: numpy is not an exact, hashed pin"),
        (
            "numpy==1.*  --hash=sha256:" + "a" * 64 + "\n",
            "1: numpy==1.* is not an exact, hashed pin",
        ),
        (
            "# compiled\nnumpy==1.26.4\n",
            "2: numpy==1.26.4 is not an exact, hashed pin (no --hash; pip-compile "
            "--generate-hashes writes them)",
        ),
        (
            "six==1.16.0 --hash=sha512:" + "b" * 128 + "\n",
            "1: six==1.16.0 is not an exact, hashed pin (no sha256 hash)",
        ),
        (
            "six==1.16.0 --hash=sha256:" + "c" * 64 + "\n"
            "pkg @ https://example.org/pkg-1.0-py3-none-any.whl#sha256=" + "d" * 64 + "\n",
            "2: pkg @ https://example.org/pkg-1.0-py3-none-any.whl#sha256="
            + "d" * 22
            + "... (122 characters) is a direct URL; the harness installs only wheels from the "
            "package index, checked by hash",
        ),
        (
            "\n\ngit+https://github.com/org/pkg@0123456789abcdef0123456789abcdef01234567#egg=pkg\n",
            "3: git+https://github.com/org/pkg@0123456789abcdef0123456789abcdef01234567#egg=pkg "
            "is a VCS checkout; the harness installs only wheels from the package index, "
            "checked by hash",
        ),
        (
            "./vendor/pkg\n",
            "1: ./vendor/pkg is a local path; the harness installs only wheels from the package "
            "index, checked by hash",
        ),
        (
            "-e .\n",
            "1: -e . is an editable install; the harness installs only wheels from the package "
            "index, checked by hash",
        ),
        (
            "six==1.16.0 --hash=sha256:" + "c" * 64 + "\n-r base.txt\n",
            "2: -r base.txt: a lock for the harness must be self-contained (compile it into one "
            "file)",
        ),
        (
            "six==1.16.0 --hash=sha256:abc\n",
            "1: --hash=sha256:abc is not a sha256 digest (64 hex digits)",
        ),
    ],
)
def test_requirements_entries_that_are_not_exact_and_hashed_are_refused_at_their_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(text, encoding="utf-8")
    assert lock_error(path) == f"{path}:{message}"


def test_continuation_lines_report_the_line_where_the_entry_starts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "lock.txt",
        f"""
        six==1.16.0 \\
            --hash={SIX_WHEEL}
        # a comment
        numpy>=1.26 \\
            --hash=sha256:{"e" * 64}
        """,
    )
    assert lock_error(path) == f"{path}:4: numpy>=1.26 is not an exact, hashed pin"


def test_index_options_are_ignored_and_hashes_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "requirements.txt",
        f"""
        --index-url https://mirror.example/simple
        --extra-index-url https://other.example/simple
        Six==1.16.0 --hash={SIX_WHEEL.upper().replace("SHA256", "sha256")} --hash={SIX_SDIST} \\
            --hash=sha512:{"f" * 128}
        """,
    )
    (req,) = read_lock(path).requirements
    assert (req.name, req.version, req.hashes, req.source) == (
        "six",
        "1.16.0",
        (SIX_SDIST, SIX_WHEEL),
        f"{path}:3",
    )


# --------------------------------------------------------------------------------------------
# markers for the target


def test_markers_for_another_platform_or_older_python_are_dropped(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    path = write(
        tmp_path,
        "requirements.txt",
        f"""
        pywin32==306 ; sys_platform == "win32" --hash=sha256:{"1" * 64}
        six==1.16.0 --hash={SIX_WHEEL}
        tomli==2.0.1 ; python_version < "3.11" --hash=sha256:{"2" * 64}
        threadpoolctl==3.5.0 ; python_version >= "3.11" and platform_machine == "x86_64" \\
            --hash={TPC_WHEEL}
        """,
    )
    lock = read_lock(path)
    assert pins(lock.requirements) == ["pywin32==306", "six==1.16.0", "tomli==2.0.1", *SMALL[1:]]
    assert [r.marker for r in lock.requirements] == [
        'sys_platform == "win32"',
        None,
        'python_version < "3.11"',
        'python_version >= "3.11" and platform_machine == "x86_64"',
    ]
    assert pins(lock.for_target(target)) == SMALL


def test_for_target_sorts_by_name(tmp_path: Path, target: TargetEnvironment) -> None:
    path = write(
        tmp_path,
        "requirements.txt",
        f"threadpoolctl==3.5.0 --hash={TPC_WHEEL}\nsix==1.16.0 --hash={SIX_WHEEL}\n",
    )
    assert pins(read_lock(path).for_target(target)) == SMALL


def test_two_versions_applying_to_the_target_are_refused(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    path = write(
        tmp_path,
        "requirements.txt",
        f"""
        six==1.16.0 ; python_version >= "3.10" --hash={SIX_WHEEL}
        six==1.15.0 ; python_version < "3.12" --hash=sha256:{"3" * 64}
        """,
    )
    with pytest.raises(LockError) as info:
        read_lock(path).for_target(target)
    assert str(info.value) == (
        f"{path}:2: six==1.15.0 and six==1.16.0 (at {path}:1) both apply to "
        "Python 3.11.2 (cp311, manylinux_2_36_x86_64)"
    )


def test_a_marker_that_cannot_be_evaluated_is_a_lock_error(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    path = write(
        tmp_path,
        "requirements.txt",
        f'six==1.16.0 ; "dev" in dependency_groups --hash={SIX_WHEEL}\n',
    )
    with pytest.raises(LockError) as info:
        read_lock(path).for_target(target)
    assert str(info.value) == (
        f"{path}:1: cannot evaluate marker '\"dev\" in dependency_groups': "
        "'dependency_groups' is not defined in this kind of lock"
    )


# --------------------------------------------------------------------------------------------
# digest


def test_digest_ignores_entry_order_hash_order_and_dropped_entries(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    one = write(
        tmp_path,
        "a.txt",
        f"""
        six==1.16.0 --hash={SIX_SDIST} --hash={SIX_WHEEL}
        threadpoolctl==3.5.0 --hash={TPC_SDIST} --hash={TPC_WHEEL}
        """,
    )
    two = write(
        tmp_path,
        "b.txt",
        f"""
        # reordered, with a Windows-only extra entry
        pywin32==306 ; sys_platform == "win32" --hash=sha256:{"1" * 64}
        threadpoolctl==3.5.0 --hash={TPC_WHEEL} --hash={TPC_SDIST}
        six==1.16.0 --hash={SIX_WHEEL} --hash={SIX_SDIST}
        """,
    )
    bumped = write(
        tmp_path,
        "c.txt",
        f"""
        six==1.16.0 --hash={SIX_SDIST} --hash={SIX_WHEEL}
        threadpoolctl==3.6.0 --hash={TPC_SDIST} --hash={TPC_WHEEL}
        """,
    )
    rehashed = write(
        tmp_path,
        "d.txt",
        f"""
        six==1.16.0 --hash={SIX_WHEEL}
        threadpoolctl==3.5.0 --hash={TPC_SDIST} --hash={TPC_WHEEL}
        """,
    )
    digest = read_lock(one).digest(target)
    assert len(digest) == 64
    assert read_lock(two).digest(target) == digest
    assert read_lock(bumped).digest(target) != digest
    assert read_lock(rehashed).digest(target) != digest


def test_the_same_environment_has_the_same_digest_in_every_format(
    target: TargetEnvironment,
) -> None:
    paths = [
        LOCKS / "small" / "requirements.txt",
        LOCKS / "uv" / "uv.lock",
        LOCKS / "poetry-2" / "poetry.lock",
        LOCKS / "pylock" / "pylock.toml",
    ]
    digests = {read_lock(p).digest(target) for p in paths}
    assert len(digests) == 1


# --------------------------------------------------------------------------------------------
# uv.lock


def test_uv_lock_follows_the_dependency_graph_for_the_target(target: TargetEnvironment) -> None:
    path = LOCKS / "uv" / "uv.lock"
    lock = read_lock(path)
    assert lock.format == "uv.lock"
    assert lock.requires_python == ">=3.10"
    assert [(r.pin, r.source, r.marker) for r in lock.requirements] == [
        ("colorama==0.4.6", f"{path}:10", None),
        ("six==1.15.0", f"{path}:48", 'python_full_version < "3.11"'),
        ("six==1.16.0", f"{path}:60", 'python_full_version >= "3.11"'),
        ("threadpoolctl==3.5.0", f"{path}:72", None),
        ("tomli==2.0.1", f"{path}:81", None),
    ]
    # colorama: win32 only; tomli and six 1.15.0: Python < 3.11 only
    assert pins(lock.for_target(target)) == SMALL
    older = TargetEnvironment.from_probe(
        {**target.to_dict(), "python_version": "3.10", "python_full_version": "3.10.14"}
    )
    assert pins(lock.for_target(older)) == ["six==1.15.0", "threadpoolctl==3.5.0", "tomli==2.0.1"]
    windows = TargetEnvironment.from_probe({**target.to_dict(), "sys_platform": "win32"})
    assert pins(lock.for_target(windows)) == ["colorama==0.4.6", *SMALL]


def test_uv_lock_requires_python_excluding_the_target_is_refused(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    text = (LOCKS / "uv" / "uv.lock").read_text(encoding="utf-8")
    path = tmp_path / "uv.lock"
    path.write_text(text.replace('requires-python = ">=3.10"', 'requires-python = ">=3.12"'))
    with pytest.raises(LockError) as info:
        read_lock(path).for_target(target)
    assert str(info.value) == (
        f"{path}: the lock requires Python >=3.12; the target is "
        "Python 3.11.2 (cp311, manylinux_2_36_x86_64)"
    )


@pytest.mark.parametrize(
    ("package", "message"),
    [
        (
            f"""
            [[package]]
            name = "pkg"
            version = "1.0"
            source = {{ git = "https://github.com/org/pkg?rev=main#{COMMIT}" }}
            """,
            "4: pkg is a VCS checkout (https://github.com/org/pkg); the harness installs only "
            "wheels from the package index, checked by hash",
        ),
        (
            """
            [[package]]
            name = "pkg"
            version = "1.0"
            source = { path = "vendor/pkg-1.0-py3-none-any.whl" }
            wheels = [{ filename = "pkg-1.0-py3-none-any.whl", hash = "sha256:%s" }]
            """
            % ("a" * 64),
            "4: pkg is a local path (vendor/pkg-1.0-py3-none-any.whl); the harness installs "
            "only wheels from the package index, checked by hash",
        ),
        (
            """
            [[package]]
            name = "pkg"
            version = "1.0"
            source = { registry = "https://pypi.org/simple" }
            sdist = { url = "https://files.example/pkg-1.0.tar.gz", size = 10 }
            """,
            "4: pkg==1.0 is not an exact, hashed pin (no hash)",
        ),
        (
            """
            [[package]]
            name = "pkg"
            source = { registry = "https://pypi.org/simple" }
            """,
            "4: pkg has no version; it is not an exact, hashed pin",
        ),
    ],
)
def test_uv_lock_entries_that_are_not_hashed_registry_wheels_are_refused(
    tmp_path: Path, package: str, message: str
) -> None:
    path = write(tmp_path, "uv.lock", "version = 1\n\n" + textwrap.dedent(package).lstrip("\n"))
    assert lock_error(path) == f"{path}:{message}"


def test_uv_lock_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "uv.lock", 'version = 1\n[[package]]\nname = "six\n')
    assert lock_error(path).startswith(f"{path}:3: invalid TOML: ")


# --------------------------------------------------------------------------------------------
# poetry.lock


def test_poetry_2_lock_uses_the_per_package_markers(target: TargetEnvironment) -> None:
    path = LOCKS / "poetry-2" / "poetry.lock"
    lock = read_lock(path)
    assert lock.format == "poetry.lock"
    assert lock.graph is None
    assert [(r.pin, r.source, r.marker) for r in lock.requirements] == [
        ("colorama==0.4.6", f"{path}:4", 'sys_platform == "win32"'),
        ("six==1.16.0", f"{path}:17", None),
        ("threadpoolctl==3.5.0", f"{path}:29", None),
        ("tomli==2.0.1", f"{path}:41", 'python_version < "3.11"'),
    ]
    assert pins(lock.for_target(target)) == SMALL


def test_poetry_2_markers_per_group_and_extras_select_everything(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    path = write(
        tmp_path,
        "poetry.lock",
        f"""
        [[package]]
        name = "six"
        version = "1.16.0"
        optional = true
        groups = ["main"]
        markers = 'extra == "compat"'
        files = [{{file = "six-1.16.0-py2.py3-none-any.whl", hash = "{SIX_WHEEL}"}}]

        [[package]]
        name = "threadpoolctl"
        version = "3.5.0"
        optional = false
        groups = ["main", "dev"]
        markers = {{main = 'sys_platform == "win32"', dev = 'python_version >= "3.11"'}}
        files = [{{file = "threadpoolctl-3.5.0-py3-none-any.whl", hash = "{TPC_WHEEL}"}}]

        [[package]]
        name = "tomli"
        version = "2.0.1"
        optional = false
        groups = ["main", "dev"]
        markers = {{main = 'sys_platform == "win32"', dev = 'sys_platform == "darwin"'}}
        files = [{{file = "tomli-2.0.1.tar.gz", hash = "sha256:{"4" * 64}"}}]

        [extras]
        compat = ["six"]

        [metadata]
        lock-version = "2.1"
        python-versions = ">=3.10"
        content-hash = "0"
        """,
    )
    assert pins(read_lock(path).for_target(target)) == SMALL


def test_poetry_1_lock_reads_the_graph_from_the_pyproject_roots(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    path = LOCKS / "poetry-1.8" / "poetry.lock"
    lock = read_lock(path)
    assert lock.graph is not None
    assert [(r.pin, r.source) for r in lock.requirements] == [
        ("click==8.1.7", f"{path}:4"),
        ("colorama==0.4.6", f"{path}:18"),
        ("six==1.16.0", f"{path}:29"),
        ("threadpoolctl==3.5.0", f"{path}:40"),
        ("tomli==2.0.1", f"{path}:51"),
    ]
    # colorama: click needs it on Windows only; tomli: a root for Python < 3.11 only
    assert pins(lock.for_target(target)) == ["click==8.1.7", *SMALL]
    windows = TargetEnvironment.from_probe({**target.to_dict(), "platform_system": "Windows"})
    assert pins(lock.for_target(windows)) == ["click==8.1.7", "colorama==0.4.6", *SMALL]
    # Without the pyproject, a package nothing depends on is taken as a root.
    alone = tmp_path / "poetry.lock"
    shutil.copy(path, alone)
    assert pins(read_lock(alone).for_target(target)) == ["click==8.1.7", *SMALL, "tomli==2.0.1"]


def test_poetry_lock_1_1_keeps_hashes_under_metadata_files(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    path = write(
        tmp_path,
        "poetry.lock",
        f"""
        [[package]]
        name = "six"
        version = "1.16.0"
        category = "main"
        optional = false
        python-versions = ">=2.7"

        [metadata]
        lock-version = "1.1"
        python-versions = "^3.10"
        content-hash = "0"

        [metadata.files]
        six = [
            {{file = "six-1.16.0-py2.py3-none-any.whl", hash = "{SIX_WHEEL}"}},
        ]
        """,
    )
    assert [(r.pin, r.hashes) for r in read_lock(path).for_target(target)] == [
        ("six==1.16.0", (SIX_WHEEL,))
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            '[package.source]\ntype = "git"\nurl = "https://github.com/org/pkg.git"\n'
            'reference = "main"\nresolved_reference = "0123456789abcdef0123456789abcdef01234567"\n',
            "2: pkg is a VCS checkout (https://github.com/org/pkg.git); the harness installs "
            "only wheels from the package index, checked by hash",
        ),
        (
            '[package.source]\ntype = "directory"\nurl = "../pkg"\n',
            "2: pkg is a local path (../pkg); the harness installs only wheels from the package "
            "index, checked by hash",
        ),
        (
            '[package.source]\ntype = "url"\nurl = "https://example.org/pkg-1.0.tar.gz"\n',
            "2: pkg is a direct URL (https://example.org/pkg-1.0.tar.gz); the harness installs "
            "only wheels from the package index, checked by hash",
        ),
    ],
)
def test_poetry_sources_other_than_an_index_are_refused(
    tmp_path: Path, source: str, message: str
) -> None:
    path = tmp_path / "poetry.lock"
    path.write_text(
        '[[package]]\nname = "pkg"\nversion = "1.0"\nfiles = []\n\n'
        + source
        + '\n[metadata]\nlock-version = "2.0"\n',
        encoding="utf-8",
    )
    assert lock_error(path) == f"{path}:{message}"


def test_poetry_package_without_files_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "poetry.lock",
        """
        [[package]]
        name = "six"
        version = "1.16.0"
        files = []

        [metadata]
        lock-version = "2.0"
        """,
    )
    assert lock_error(path) == f"{path}:2: six==1.16.0 is not an exact, hashed pin (no hash)"


# --------------------------------------------------------------------------------------------
# pylock.toml


def test_pylock_evaluates_markers_with_every_extra_and_group(target: TargetEnvironment) -> None:
    path = LOCKS / "pylock" / "pylock.toml"
    lock = read_lock(path)
    assert lock.format == "pylock"
    assert (lock.requires_python, lock.dependency_groups) == (">=3.10", ("dev",))
    # the editable project itself is the suite's source: not a requirement
    assert [(r.pin, r.source, r.marker) for r in lock.requirements] == [
        ("colorama==0.4.6", f"{path}:10", 'sys_platform == "win32"'),
        ("six==1.16.0", f"{path}:22", None),
        ("threadpoolctl==3.5.0", f"{path}:29", '"dev" in dependency_groups'),
        ("tomli==2.0.1", f"{path}:37", 'python_full_version < "3.11"'),
    ]
    assert pins(lock.for_target(target)) == SMALL


@pytest.mark.parametrize(
    ("package", "message"),
    [
        (
            'vcs = { type = "git", url = "https://github.com/org/pkg", commit-id = "0123" }',
            "is a VCS checkout (https://github.com/org/pkg)",
        ),
        ('directory = { path = "../pkg" }', "is a local path (../pkg)"),
        (
            'archive = { url = "https://example.org/pkg-1.0.tar.gz", hashes = { sha256 = "%s" } }'
            % ("a" * 64),
            "is a direct URL (https://example.org/pkg-1.0.tar.gz)",
        ),
    ],
)
def test_pylock_non_index_packages_are_refused(tmp_path: Path, package: str, message: str) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text(
        f'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "pkg"\n{package}\n',
        encoding="utf-8",
    )
    assert lock_error(path) == (
        f"{path}:5: pkg {message}; the harness installs only wheels from the package index, "
        "checked by hash"
    )


def test_pylock_version_may_come_from_the_wheel_names(
    tmp_path: Path, target: TargetEnvironment
) -> None:
    wheel = "six-1.16.0-py2.py3-none-any.whl"
    path = write(
        tmp_path,
        "pylock.toml",
        f"""
        lock-version = "1.0"
        created-by = "test"

        [[packages]]
        name = "six"
        wheels = [
            {{ name = "{wheel}", hashes = {{ sha256 = "{SIX_WHEEL[7:]}" }} }},
        ]
        """,
    )
    assert pins(read_lock(path).for_target(target)) == ["six==1.16.0"]


def test_pylock_with_another_lock_version_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "pylock.toml", 'created-by = "x"\nlock-version = "2.0"\n')
    assert lock_error(path) == f"{path}:2: unsupported lock-version '2.0' (only 1.x is defined)"


# --------------------------------------------------------------------------------------------
# unsupported or unreadable files


def test_unsupported_and_unreadable_locks(tmp_path: Path) -> None:
    conda = write(tmp_path, "conda-lock.yml", "version: 1\n")
    assert lock_error(conda) == (
        f"{conda}: conda-lock.yml is not supported by the harness; "
        "the harness installs pip wheels, not conda packages"
    )
    missing = tmp_path / "nope.txt"
    assert lock_error(missing) == f"{missing}: cannot read the lock: No such file or directory"
    binary = tmp_path / "lock.txt"
    binary.write_bytes(b"six==1.16.0\n\0\0")
    assert lock_error(binary) == f"{binary}:2: cannot read the lock: binary content (NUL byte)"


# --------------------------------------------------------------------------------------------
# the target and its probe


def test_probe_fixture_describes_the_base_image(target: TargetEnvironment) -> None:
    assert (
        target.python_version,
        target.python_full_version,
        target.implementation_name,
        target.platform_machine,
        target.sys_platform,
        target.platform_system,
        target.os_name,
    ) == ("3.11", "3.11.2", "cpython", "x86_64", "linux", "Linux", "posix")
    assert target.abis == ("cp311",)
    assert target.platform_tags[:3] == (
        "cp311-cp311-linux_x86_64",
        "cp311-cp311-manylinux_2_36_x86_64",
        "cp311-cp311-manylinux_2_35_x86_64",
    )
    assert target.platform_tags[-2:] == ("py31-none-any", "py30-none-any")
    for tag in (
        "cp311-cp311-manylinux2014_x86_64",
        "cp311-cp311-manylinux_2_17_x86_64",
        "cp311-cp311-manylinux1_x86_64",
        "cp311-abi3-manylinux2010_x86_64",
        "cp38-abi3-manylinux_2_28_x86_64",
        "cp311-none-any",
        "py3-none-any",
    ):
        assert tag in target.platform_tags
    assert not any("musllinux" in t or "cp312" in t for t in target.platform_tags)
    assert target.platforms[:3] == (
        "linux_x86_64",
        "manylinux_2_36_x86_64",
        "manylinux_2_35_x86_64",
    )
    assert target.platforms[-1] == "manylinux1_x86_64"
    assert target.markers() == {
        "implementation_name": "cpython",
        "implementation_version": "3.11.2",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": target.platform_release,
        "platform_system": "Linux",
        "platform_version": target.platform_version,
        "python_full_version": "3.11.2",
        "python_version": "3.11",
        "sys_platform": "linux",
    }
    assert TargetEnvironment.from_probe(target.to_dict()) == target


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"python_version": None}, "the base image probe gave no usable 'python_version': None"),
        ({"platform_tags": []}, "the base image probe gave no compatible wheel tags"),
        (
            {"implementation_name": "pypy"},
            "the base image's python3 is pypy; the harness installs CPython wheels",
        ),
        ({"python_version": "3"}, "the base image probe gave python_version '3'"),
    ],
)
def test_from_probe_refuses_unusable_output(
    target: TargetEnvironment, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ProbeError) as info:
        TargetEnvironment.from_probe({**target.to_dict(), **change})
    assert (str(info.value), info.value.exit_code) == (message, 3)


# --------------------------------------------------------------------------------------------
# hostile locks: names and versions are checked before anything else sees them

HASH = "sha256:" + "a" * 64
HUGE = "1" * 4400  # more digits than int() converts (sys.int_info.default_max_str_digits)


def hostile_lock(tmp_path: Path, fmt: str, name: str, version: str) -> Path:
    """A one-package lock of ``fmt`` whose package is ``name`` at ``version``."""
    if fmt == "requirements.txt":
        return write(tmp_path, fmt, f"{name}=={version} --hash={HASH}\n")
    if fmt == "uv.lock":
        return write(
            tmp_path,
            fmt,
            f"""
            version = 1
            [[package]]
            name = "{name}"
            version = "{version}"
            source = {{ registry = "https://pypi.org/simple" }}
            wheels = [{{ url = "https://files.example/x.whl", hash = "{HASH}" }}]
            """,
        )
    if fmt == "poetry.lock":
        return write(
            tmp_path,
            fmt,
            f"""
            [metadata]
            lock-version = "2.1"
            [[package]]
            name = "{name}"
            version = "{version}"
            files = [{{ file = "x.whl", hash = "{HASH}" }}]
            """,
        )
    if fmt == "pdm.lock":
        return write(
            tmp_path,
            fmt,
            f"""
            [metadata]
            lock_version = "4.5.0"
            [[package]]
            name = "{name}"
            version = "{version}"
            files = [{{ file = "x.whl", hash = "{HASH}" }}]
            """,
        )
    if fmt == "Pipfile.lock":
        entry = {name: {"hashes": [HASH], "index": "pypi", "version": f"=={version}"}}
        body = {"_meta": {"pipfile-spec": 6}, "default": entry, "develop": {}}
        return write(tmp_path, fmt, json.dumps(body, indent=4))
    return write(
        tmp_path,
        fmt,
        f"""
        lock-version = "1.0"
        created-by = "test"
        [[packages]]
        name = "{name}"
        version = "{version}"
        wheels = [{{ url = "https://files.example/x-1-py3-none-any.whl", hashes = {{ sha256 = "{"a" * 64}" }} }}]
        """,  # noqa: E501 - one TOML line
    )


# (format, line of the name, line of the version)
FORMATS = [
    ("requirements.txt", 1, 1),
    ("uv.lock", 3, 3),
    ("poetry.lock", 4, 4),
    ("pdm.lock", 4, 4),
    ("Pipfile.lock", 6, 6),
    ("pylock.toml", 4, 4),
]


@pytest.mark.parametrize(("fmt", "line", "_"), FORMATS)
@pytest.mark.parametrize("strict", [True, False])
def test_an_option_like_package_name_is_refused_in_every_format(
    tmp_path: Path, fmt: str, line: int, _: int, strict: bool
) -> None:
    # issue 15: `name = "-revil"` reached `pip download` as `-revil==1.0`, i.e. `-r evil==1.0`.
    name = "-revil" if fmt != "requirements.txt" else "re vil"
    path = hostile_lock(tmp_path, fmt, name, "1.0")
    with pytest.raises(LockError) as info:
        read_lock(path, strict=strict)
    if fmt == "requirements.txt":
        # a line starting with "-" is an option to pip; a bad name is its parser's problem
        assert str(info.value).startswith(f"{path}:1: ")
    else:
        assert str(info.value) == f"{path}:{line}: invalid package name '-revil'"
    assert info.value.exit_code == 2


@pytest.mark.parametrize("name", ["-revil", "--no-binary", ".hidden", "a b", "é", "x;y", ""])
def test_uv_lock_names_must_be_pep_508(tmp_path: Path, name: str) -> None:
    path = hostile_lock(tmp_path, "uv.lock", name, "1.0")
    expected = (
        f"{path}:2: [[package]] has no name"
        if not name
        else f"{path}:3: invalid package name {name!r}"
    )
    assert lock_error(path) == expected


def test_a_dependency_name_of_a_graph_lock_must_be_pep_508(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "uv.lock",
        f"""
        version = 1
        [[package]]
        name = "six"
        version = "1.16.0"
        source = {{ registry = "https://pypi.org/simple" }}
        dependencies = [{{ name = "-r evil" }}]
        wheels = [{{ url = "https://files.example/x.whl", hash = "{HASH}" }}]
        """,
    )
    assert lock_error(path) == f"{path}:6: invalid package name '-r evil'"


@pytest.mark.parametrize(("fmt", "_", "line"), FORMATS)
@pytest.mark.parametrize("strict", [True, False])
def test_a_version_of_4400_digits_is_a_lock_error_not_a_crash(
    tmp_path: Path, fmt: str, _: int, line: int, strict: bool
) -> None:
    path = hostile_lock(tmp_path, fmt, "numpy", HUGE)
    with pytest.raises(LockError) as info:
        read_lock(path, strict=strict)
    message = str(info.value)
    if fmt == "requirements.txt":
        # the requirements parser's own problem, relayed at its line
        assert message.startswith(f"{path}:1: invalid requirement 'numpy==1111")
        assert message.endswith(
            "a number of 4400 digits, more than any installer reads as a version (4300)"
        )
    else:
        assert message == (
            f"{path}:{line}: numpy has an invalid version '{'1' * 60}'... (4400 characters)"
        )


@pytest.mark.parametrize(("fmt", "_", "line"), FORMATS)
def test_a_version_that_is_shell_text_is_refused_in_every_format(
    tmp_path: Path, fmt: str, _: int, line: int
) -> None:
    path = hostile_lock(tmp_path, fmt, "six", "1.0; rm -rf")
    with pytest.raises(LockError) as info:
        read_lock(path)
    if fmt == "requirements.txt":  # the marker after ";" is the requirement parser's problem
        assert str(info.value) == (
            f"{path}:1: invalid requirement at 'rm': Expected a marker variable or quoted string"
        )
    else:
        assert str(info.value) == f"{path}:{line}: six has an invalid version '1.0; rm -rf'"
    assert info.value.exit_code == 2


def test_a_lock_nested_too_deep_is_a_lock_error(tmp_path: Path) -> None:
    path = write(tmp_path, "uv.lock", "version = " + "[" * 600 + "]" * 600 + "\n")
    assert lock_error(path) == f"{path}:1: invalid TOML: nesting too deep to parse"


def test_a_fifo_lock_is_refused_unread(tmp_path: Path) -> None:
    fifo = tmp_path / "requirements.txt"
    os.mkfifo(fifo)  # opened blocking, reading it would hang
    assert lock_error(fifo) == f"{fifo}: cannot read the lock: not a regular file"


def test_lenient_includes_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "project"
    outside = write(tmp_path, "secret/tokens.txt", "machine example.org password hunter2\n")
    (root / "etc").parent.mkdir(parents=True, exist_ok=True)
    (root / "etc").symlink_to(outside.parent)
    lock = write(root, "requirements.txt", "six==1.16.0\n-r etc/tokens.txt\n")
    with pytest.raises(LockError) as info:
        read_lock(lock, strict=False, root=root)
    assert str(info.value) == (f"{lock}:2: -r etc/tokens.txt leads outside {root.resolve()}")
    assert "hunter2" not in str(info.value)
    write(root, "base.txt", "threadpoolctl==3.5.0\n")
    lock.write_text("six==1.16.0\n-r base.txt\n", encoding="utf-8")
    assert pins(read_lock(lock, strict=False, root=root).requirements) == SMALL


@pytest.mark.usefixtures("docker_client")  # the CLI connects before it reads the lock
def test_an_option_like_name_stops_the_harness_before_pip_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 15: a PR's uv.lock with `name = "-revil"` reached `pip download` on the host.
    root = tmp_path / "project"
    hostile_lock(root, "uv.lock", "-revil", "1.0")
    canary = root / "evil==1.0"
    canary.write_text("--no-binary :all:\n-e .\n", encoding="utf-8")
    np.savez(root / "inputs.npz", X=np.zeros(3))
    write(
        root,
        "repro.toml",
        f"""
        [suites.x]
        lock = "uv.lock"
        base-image = "{BASE_IMAGE}"
        entrypoint = "m:f"
        inputs = "inputs.npz"
        """,
    )

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a subprocess was started: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.chdir(root)
    assert main(["golden", "record", "--suite", "x"]) == 2
    assert capsys.readouterr().err == "repro: error: uv.lock:3: invalid package name '-revil'\n"
    assert not (root / "golden").exists()


# --------------------------------------------------------------------------------------------
# messages name an entry, never repeat a whole hostile one

_LONG = "https://user:" + "s" * 5000 + "@example.org/pkg-1.0-py3-none-any.whl"


@pytest.mark.parametrize(
    ("text", "start"),
    [
        (f"pkg @ {_LONG}\n", "pkg @ https://user:sss"),
        (f"-e {_LONG}\n", "-e https://user:sss"),
        ("numpy>=1 ; sys_platform == '" + "l" * 5000 + "'\n", "numpy>=1 ; sys_platform == 'lll"),
        ("-r " + "x" * 5000 + ".txt\n", "-r xxx"),
    ],
)
@pytest.mark.parametrize("strict", [True, False])
def test_a_message_quotes_at_most_the_start_of_a_long_entry(
    tmp_path: Path, text: str, start: str, strict: bool
) -> None:
    path = write(tmp_path, "requirements.txt", text)
    try:
        read_lock(path, strict=strict, root=tmp_path)
    except LockError as exc:
        message = str(exc).removeprefix(f"{path}:1: ")
    else:
        assert not strict  # the lenient reader keeps a direct reference
        assert text.startswith(("pkg @ ", "-e "))
        return
    assert message.startswith(start)
    assert len(message) < 250, message
    assert re.search(r"\.\.\. \(\d{4} characters\)", message), message


def test_a_lenient_direct_reference_is_kept_and_a_long_url_named_in_short(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "uv.lock",
        f"""
        version = 1
        [[package]]
        name = "pkg"
        version = "1.0"
        source = {{ url = "{_LONG}" }}
        """,
    )
    message = lock_error(path)
    assert message.startswith(f"{path}:3: pkg is a direct URL (https://user:sss")
    assert len(message) - len(str(path)) < 250
    assert read_lock(path, strict=False).requirements[0].url is not None
