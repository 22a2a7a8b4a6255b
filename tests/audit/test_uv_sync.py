"""RP202 on uv.lock agrees with uv: each project's lock is written by ``uv lock --offline``
(the ``uv`` wheel's binary), then edited, and reprolock's verdict must be
``uv lock --check --offline``'s.

Everything resolves with no network: registry packages come from flat indexes of tiny
wheels written here (a default one, and explicit ``cpu``/``cu121`` ones for a torch split by
marker, as in text-generation-inference's pyproject.toml), the git source is a local
repository, and path sources and workspace members are directories of the project.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import uv

from tests.conftest import audit_tree, write_tree


@dataclass(frozen=True, kw_only=True, slots=True)
class Case:
    files: dict[str, str]
    edits: dict[str, tuple[tuple[str, str, str], ...]]
    """Edit name -> ``(file, old, new)`` replacements applied after locking."""


_INDEX = """
[[tool.uv.index]]
name = "local"
url = "{index}/local"
format = "flat"
default = true
"""

CASES: dict[str, Case] = {
    "index-sources-split-by-marker": Case(
        files={
            "pyproject.toml": """
                [project]
                name = "app"
                version = "0.1.0"
                requires-python = ">=3.11"
                dependencies = ["torch>=2.3", "attrs[tests]>=23", "six>=1.16"]
                {local_index}
                [[tool.uv.index]]
                name = "cpu"
                url = "{index}/cpu"
                format = "flat"
                explicit = true

                [[tool.uv.index]]
                name = "cu121"
                url = "{index}/cu121"
                format = "flat"
                explicit = true

                [tool.uv.sources]
                torch = [
                    { index = "cpu", marker = "sys_platform == 'darwin'" },
                    { index = "cu121", marker = "sys_platform == 'linux'" },
                ]
                """,
        },
        edits={
            "spelled differently": (("pyproject.toml", '"torch>=2.3"', '"Torch >= 2.3.0"'),),
            "source marker changed": (
                ("pyproject.toml", "sys_platform == 'linux'", "sys_platform == 'win32'"),
            ),
            "one source removed": (
                (
                    "pyproject.toml",
                    '    { index = "cpu", marker = "sys_platform == \'darwin\'" },\n',
                    "",
                ),
            ),
            "sources removed": (
                ("pyproject.toml", "[tool.uv.sources]\ntorch = [", "[tool.other]\ntorch = ["),
            ),
            "specifier changed": (("pyproject.toml", '"torch>=2.3"', '"torch>=2.3.0,<3"'),),
            "extra dropped": (("pyproject.toml", '"attrs[tests]>=23"', '"attrs>=23"'),),
            "dependency added": (("pyproject.toml", '"six>=1.16"]', '"six>=1.16", "gitdep"]'),),
        },
    ),
    "git-source": Case(
        files={
            "pyproject.toml": """
                [project]
                name = "app"
                version = "0.1.0"
                requires-python = ">=3.11"
                dependencies = ["gitdep", "six"]
                {local_index}
                [tool.uv.sources]
                gitdep = { git = "file://{git}" }
                """,
        },
        edits={
            "source dropped: the index's gitdep": (
                ("pyproject.toml", "gitdep = {", "unrelated = {"),
            ),
            "git source as a direct reference": (
                ("pyproject.toml", '"gitdep", "six"', '"gitdep @ git+file://{git}", "six"'),
                ("pyproject.toml", "gitdep = {", "unrelated = {"),
            ),
            "git source became a path": (
                (
                    "pyproject.toml",
                    'gitdep = { git = "file://{git}" }',
                    'gitdep = { path = "{git}" }',
                ),
            ),
            "git source became an index": (
                (
                    "pyproject.toml",
                    'gitdep = { git = "file://{git}" }',
                    'gitdep = { index = "local" }',
                ),
            ),
            "dependency removed": (("pyproject.toml", '"gitdep", "six"', '"gitdep"'),),
        },
    ),
    "path-source": Case(
        files={
            "pyproject.toml": """
                [project]
                name = "app"
                version = "0.1.0"
                requires-python = ">=3.11"
                dependencies = ["a", "six>=1.16"]
                {local_index}
                [tool.uv.sources]
                a = { path = "libs/a" }
                """,
            "libs/a/pyproject.toml": """
                [project]
                name = "a"
                version = "1.0"
                dependencies = ["attrs"]
                """,
        },
        edits={
            "path source became the index": (
                ("pyproject.toml", 'a = { path = "libs/a" }', 'a = { index = "local" }'),
            ),
            "path as a direct reference": (
                ("pyproject.toml", '"a", "six>=1.16"', '"a @ file://{root}/libs/a", "six>=1.16"'),
                ("pyproject.toml", "a = {", "unrelated = {"),
            ),
            "marker added": (
                ("pyproject.toml", '"a", "six', '"a ; sys_platform == \'linux\'", "six'),
            ),
        },
    ),
    "extras-and-groups": Case(
        files={
            "pyproject.toml": """
                [project]
                name = "app"
                version = "0.1.0"
                requires-python = ">=3.11"
                dependencies = ["six>=1.16"]

                [project.optional-dependencies]
                plot = ["attrs>=23 ; python_version >= '3.11'"]
                gpu = ["torch==2.3.0"]

                [dependency-groups]
                lint = ["six>=1.17"]
                dev = [{ include-group = "lint" }, "attrs[tests]"]
                {local_index}""",
        },
        edits={
            "extra renamed": (("pyproject.toml", "plot = [", "plots = ["),),
            "marker always true here": (
                ("pyproject.toml", "python_version >= '3.11'", "python_full_version >= '3.11'"),
            ),
            "extra's marker narrowed": (
                ("pyproject.toml", "python_version >= '3.11'", "python_version >= '3.12'"),
            ),
            "included group grew": (
                ("pyproject.toml", 'lint = ["six>=1.17"]', 'lint = ["six>=1.17", "gitdep"]'),
            ),
            "group reordered": (
                (
                    "pyproject.toml",
                    'dev = [{ include-group = "lint" }, "attrs[tests]"]',
                    'dev = ["attrs[tests]", { include-group = "lint" }]',
                ),
            ),
            "group's extra dropped": (("pyproject.toml", '"attrs[tests]"]', '"attrs"]'),),
            "group renamed": (("pyproject.toml", "dev = [", "test = ["),),
        },
    ),
    "workspace": Case(
        files={
            "pyproject.toml": """
                [project]
                name = "app"
                version = "0.1.0"
                requires-python = ">=3.11"
                dependencies = ["lib", "six>=1.16"]

                [tool.uv.workspace]
                members = ["packages/*"]

                [tool.uv.sources]
                lib = { workspace = true }
                {local_index}""",
            "packages/lib/pyproject.toml": """
                [project]
                name = "lib"
                version = "0.1.0"
                requires-python = ">=3.11"
                dependencies = ["attrs>=23"]

                [dependency-groups]
                test = ["six"]
                """,
        },
        edits={
            "member's dependency changed": (
                ("packages/lib/pyproject.toml", '"attrs>=23"', '"attrs>=23.1"'),
            ),
            "member's group grew": (
                ("packages/lib/pyproject.toml", 'test = ["six"]', 'test = ["six", "torch"]'),
            ),
            "member's dependency respelled": (
                ("packages/lib/pyproject.toml", '"attrs>=23"', '"ATTRS >= 23.0"'),
            ),
            "root dependency added": (("pyproject.toml", '"six>=1.16"]', '"six>=1.16", "torch"]'),),
        },
    ),
}

_Wheel = tuple[str, str, tuple[str, ...], tuple[str, ...]]
"""(name, version, Requires-Dist lines, extras)."""

_WHEELS: dict[str, list[_Wheel]] = {
    "local": [
        ("six", "1.16.0", (), ()),
        ("six", "1.17.0", (), ()),
        ("attrs", "23.2.0", ("six ; extra == 'tests'",), ("tests",)),
        ("torch", "2.3.0", (), ()),
        ("gitdep", "0.2.0", (), ()),
        ("a", "1.0", ("attrs",), ()),
    ],
    "cpu": [("torch", "2.3.0+cpu", (), ())],
    "cu121": [("torch", "2.3.0+cu121", (), ())],
}


def _wheel(
    directory: Path, name: str, version: str, requires: tuple[str, ...], extras: tuple[str, ...]
) -> None:
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Provides-Extra: {e}\n" for e in extras)
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": "",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record += f"{path},sha256={digest.decode()},{len(text)}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), text)


@dataclass(frozen=True, kw_only=True, slots=True)
class World:
    index: Path
    git: Path
    env: dict[str, str]
    locked: Path
    """One directory per case, locked by uv."""


def _uv(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv.find_uv_bin(), *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _expand(text: str, world: World, root: Path) -> str:
    """``text`` with its placeholders filled (``str.replace``: TOML has braces of its own)."""
    for key, value in (
        ("{local_index}", _INDEX),
        ("{index}", str(world.index)),
        ("{git}", str(world.git)),
        ("{root}", str(root)),
    ):
        text = text.replace(key, value)
    return text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("uv-sync")
    for index, wheels in _WHEELS.items():
        (base / "index" / index).mkdir(parents=True)
        for wheel in wheels:
            _wheel(base / "index" / index, *wheel)
    git = base / "gitdep"
    write_tree(git, {"pyproject.toml": '[project]\nname = "gitdep"\nversion = "0.2.0"\n'})
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "."], [*identity, "commit", "-qm", "gitdep 0.2.0"]):
        subprocess.run(["git", *args], cwd=git, check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env |= {
        "UV_CACHE_DIR": str(base / "uv-cache"),
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
        "XDG_CONFIG_HOME": str(base / "config"),  # no user uv.toml
    }
    made = World(index=base / "index", git=git, env=env, locked=base / "locked")
    for name, case in CASES.items():
        root = made.locked / name
        files: dict[str, str | bytes] = {
            rel: _expand(textwrap.dedent(text), made, root) for rel, text in case.files.items()
        }
        write_tree(root, files)
        done = _uv(["lock", "--offline"], root, env)
        assert done.returncode == 0, done.stderr
    return made


def _verdicts(root: Path, world: World) -> tuple[bool, bool]:
    """(uv says in sync, reprolock says in sync)."""
    done = _uv(["lock", "--check", "--offline"], root, world.env)
    # 1 with this message is uv's "out of date"; anything else means uv could not judge
    assert done.returncode == 0 or "needs to be updated" in done.stderr, done.stderr
    stale = [f for f in audit_tree(root) if f.rule == "RP202"]
    return done.returncode == 0, not stale


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_lock_uv_just_wrote_is_in_sync(case: str, world: World, tmp_path: Path) -> None:
    root = tmp_path / case
    shutil.copytree(world.locked / case, root)
    assert _verdicts(root, world) == (True, True)


@pytest.mark.parametrize(("case", "edit"), [(c, e) for c in sorted(CASES) for e in CASES[c].edits])
def test_rp202_agrees_with_uv_lock_check(
    case: str, edit: str, world: World, tmp_path: Path
) -> None:
    root = tmp_path / case
    shutil.copytree(world.locked / case, root)
    for rel, old_text, new_text in CASES[case].edits[edit]:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        old, new = _expand(old_text, world, root), _expand(new_text, world, root)
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    uv_in_sync, ours_in_sync = _verdicts(root, world)
    assert ours_in_sync == uv_in_sync, f"uv says in sync: {uv_in_sync}"
