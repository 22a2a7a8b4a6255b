"""``repro diff``: package-level diffs of two locks, across formats, with exact renderings."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reprolock import files, lockdiff
from reprolock.cli import main
from reprolock.config import BUILTIN_FRAMEWORKS
from reprolock.errors import UsageError
from reprolock.harness.lockfile import LockError, read_lock
from reprolock.lockdiff import ChangeKind, diff_packages, read_packages, run_diff
from tests.conftest import FIXTURES

DIFF = FIXTURES / "diff"
LOCKS = FIXTURES / "harness" / "locks"
OLD = DIFF / "old" / "requirements.txt"
NEW = DIFF / "new" / "pylock.toml"
SIX_SDIST = "sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"
SIX_WHEEL = "sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
SIX_REUPLOADED = "sha256:5e94a1ebabf4f94513d2a7245dbbd8ad60fdcde3be171f7afdad0c91cbaba7a6"


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Paths in reports are shown as given; run from the repository root so they are stable.
    monkeypatch.chdir(FIXTURES.parent)


def rel(path: Path) -> Path:
    return path.relative_to(FIXTURES.parent)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def changes(old: Path, new: Path, frameworks: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    diff = diff_packages(
        read_packages(old),
        read_packages(new),
        old_path=str(old),
        new_path=str(new),
        frameworks=frameworks,
    )
    return [(c.name, c.kind.value, c.old or "-", c.new or "-") for c in diff.changes]


# --- snapshots -------------------------------------------------------------------------------

EXPECTED_TEXT = """\
fixtures/diff/old/requirements.txt -> fixtures/diff/new/pylock.toml

package         old       new     change
certifi         2024.2.2  -       removed
idna            3.6       3.7     upgraded
keras *         3.3.3     3.4.1   upgraded
scikit-learn *  1.4.2     1.3.2   downgraded
six             1.16.0    1.16.0  HASH CHANGED, same version (1 hash removed, 1 added)
tomli           -         2.0.1   added

6 changes: 1 added, 1 removed, 2 upgraded, 1 downgraded, 1 hash-changed; 2 to an ML framework (*)
HASH CHANGED: the same version now has other artifacts; check the index before trusting the new lock
"""

EXPECTED_MARKDOWN = """\
### Lock changes

`fixtures/diff/old/requirements.txt` → `fixtures/diff/new/pylock.toml`: 6 changes: 1 added, \
1 removed, 2 upgraded, 1 downgraded, 1 hash-changed, 2 to an ML framework.

| Package | Old | New | Change |
|---|---|---|---|
| certifi | 2024.2.2 | — | removed |
| idna | 3.6 | 3.7 | upgraded |
| **keras** (ML framework) | 3.3.3 | 3.4.1 | upgraded |
| **scikit-learn** (ML framework) | 1.4.2 | 1.3.2 | downgraded |
| six | 1.16.0 | 1.16.0 | :warning: **hash changed, same version** (1 hash removed, 1 added) |
| tomli | — | 2.0.1 | added |

> [!WARNING]
> A package kept its version but its artifacts' hashes changed: a file was replaced on the \
index, or the lock was edited. Check before merging.
"""


def test_text_snapshot_across_formats() -> None:
    text, code = run_diff(rel(OLD), rel(NEW), "text", BUILTIN_FRAMEWORKS)
    assert text == EXPECTED_TEXT
    assert code == 1


def test_markdown_snapshot_for_a_pull_request_body() -> None:
    text, code = run_diff(rel(OLD), rel(NEW), "markdown", BUILTIN_FRAMEWORKS)
    assert text == EXPECTED_MARKDOWN
    assert code == 1


def test_json_document() -> None:
    text, code = run_diff(rel(OLD), rel(NEW), "json", BUILTIN_FRAMEWORKS)
    assert code == 1
    assert json.loads(text) == {
        "schema": 1,
        "old": "fixtures/diff/old/requirements.txt",
        "new": "fixtures/diff/new/pylock.toml",
        "changes": [
            {
                "name": "certifi",
                "kind": "removed",
                "old": "2024.2.2",
                "new": None,
                "framework": False,
            },
            {"name": "idna", "kind": "upgraded", "old": "3.6", "new": "3.7", "framework": False},
            {
                "name": "keras",
                "kind": "upgraded",
                "old": "3.3.3",
                "new": "3.4.1",
                "framework": True,
            },
            {
                "name": "scikit-learn",
                "kind": "downgraded",
                "old": "1.4.2",
                "new": "1.3.2",
                "framework": True,
            },
            {
                "name": "six",
                "kind": "hash-changed",
                "old": "1.16.0",
                "new": "1.16.0",
                "framework": False,
                "hashes": {"added": [SIX_REUPLOADED], "removed": [SIX_WHEEL]},
            },
            {"name": "tomli", "kind": "added", "old": None, "new": "2.0.1", "framework": False},
        ],
        "summary": {
            "total": 6,
            "added": 1,
            "removed": 1,
            "upgraded": 2,
            "downgraded": 1,
            "changed": 0,
            "hash-changed": 1,
            "frameworks": 2,
        },
        "notes": [],
    }


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_identical_locks_exit_0(fmt: str) -> None:
    text, code = run_diff(rel(OLD), rel(OLD), fmt, BUILTIN_FRAMEWORKS)
    assert code == 0
    if fmt == "json":
        document = json.loads(text)
        assert document["changes"] == []
        assert document["summary"]["total"] == 0
    elif fmt == "text":
        assert text == (
            "no package changes between fixtures/diff/old/requirements.txt and "
            "fixtures/diff/old/requirements.txt\n"
        )
    else:
        assert text == (
            "### Lock changes\n\nNo package changes between `fixtures/diff/old/requirements.txt`"
            " → `fixtures/diff/old/requirements.txt`.\n"
        )


# --- across formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "small/requirements.txt",
            "uv/uv.lock",
            [
                ("colorama", "added", "-", "0.4.6"),
                # uv forks six per Python version: two versions, neither up nor down
                ("six", "changed", "1.16.0", "1.15.0, 1.16.0"),
                ("tomli", "added", "-", "2.0.1"),
            ],
        ),
        ("uv/uv.lock", "pylock/pylock.toml", [("six", "changed", "1.15.0, 1.16.0", "1.16.0")]),
        (
            "small/requirements.txt",
            "pylock/pylock.toml",
            [("colorama", "added", "-", "0.4.6"), ("tomli", "added", "-", "2.0.1")],
        ),
        # the same hashes written by Poetry and by uv: no hash change across formats
        ("poetry-2/poetry.lock", "pylock/pylock.toml", []),
        ("poetry-2/poetry.lock", "poetry-1.8/poetry.lock", [("click", "added", "-", "8.1.7")]),
        (
            "sklearn-1.3.2.txt",
            "sklearn-1.4.2-joblib-threadpoolctl.txt",
            [
                ("joblib", "downgraded", "1.6.0", "1.5.3"),
                ("scikit-learn", "upgraded", "1.3.2", "1.4.2"),
                ("threadpoolctl", "downgraded", "3.8.0", "3.5.0"),
            ],
        ),
    ],
)
def test_cross_format(old: str, new: str, expected: list[tuple[str, ...]]) -> None:
    assert changes(LOCKS / old, LOCKS / new) == expected


def test_pdm_and_pipfile_locks_are_compared_like_any_lock() -> None:
    pdm = FIXTURES / "locks" / "pdm" / "pdm.lock"
    pipenv = FIXTURES / "pipfile" / "app" / "Pipfile.lock"
    assert changes(pdm, pipenv) == [
        ("idna", "added", "-", "3.20"),
        ("iniconfig", "downgraded", "2.3.1", "2.0.0"),
        ("packaging", "added", "-", "26.4"),
        ("pluggy", "removed", "1.7.0", "-"),
        ("six", "downgraded", "1.17.0", "1.16.0"),
        ("tomli-w", "removed", "1.2.0", "-"),
    ]


# --- hashes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fixture"),
    [
        ("pdm.lock", FIXTURES / "locks" / "pdm" / "pdm.lock"),
        ("Pipfile.lock", FIXTURES / "pipfile" / "app" / "Pipfile.lock"),
    ],
)
def test_a_hash_only_change_in_pdm_and_pipfile_locks_is_a_change(
    tmp_path: Path, name: str, fixture: Path
) -> None:
    # issue 9: both read by an adapter that dropped hashes gave "No package changes", exit 0
    text = fixture.read_text(encoding="utf-8")
    digest = re.findall(r"""(?:\bhash = |\[\s*)["']sha256:([0-9a-f]{64})""", text)[0]
    old = write(tmp_path / "old" / name, text)
    new = write(tmp_path / "new" / name, text.replace(digest, "f" * 64, 1))
    report, code = run_diff(old, new, "json", ())
    (change,) = json.loads(report)["changes"]
    assert (change["kind"], code) == ("hash-changed", 1)
    assert change["hashes"] == {"added": ["sha256:" + "f" * 64], "removed": [f"sha256:{digest}"]}


def test_hash_only_change_names_the_hashes(tmp_path: Path) -> None:
    old = write(
        tmp_path / "old.txt",
        f"""
        six==1.16.0 \\
            --hash={SIX_SDIST} \\
            --hash={SIX_WHEEL}
        """,
    )
    new = write(
        tmp_path / "new.txt",
        f"""
        six==1.16.0 \\
            --hash={SIX_SDIST} \\
            --hash={SIX_REUPLOADED}
        """,
    )
    diff = diff_packages(read_packages(old), read_packages(new), old_path="a", new_path="b")
    (change,) = diff.changes
    assert change.kind is ChangeKind.HASH_CHANGED
    assert change.hashes_removed == (SIX_WHEEL,)
    assert change.hashes_added == (SIX_REUPLOADED,)


def test_a_new_artifact_for_the_same_version_is_a_hash_change(tmp_path: Path) -> None:
    old = write(tmp_path / "old.txt", f"six==1.16.0 --hash={SIX_SDIST}\n")
    new = write(tmp_path / "new.txt", f"six==1.16.0 --hash={SIX_SDIST} --hash={SIX_WHEEL}\n")
    text, code = run_diff(old, new, "text", ())
    assert code == 1
    assert "six      1.16.0  1.16.0  HASH CHANGED, same version (1 added)" in text


def test_hash_order_and_file_order_are_not_changes(tmp_path: Path) -> None:
    old = write(
        tmp_path / "old.txt",
        f"idna==3.7 --hash=sha256:{'a' * 64}\nsix==1.16.0 --hash={SIX_SDIST} --hash={SIX_WHEEL}\n",
    )
    new = write(
        tmp_path / "new.txt",
        f"six==1.16.0 --hash={SIX_WHEEL} --hash={SIX_SDIST}\nidna==3.7 --hash=sha256:{'A' * 64}\n",
    )
    assert run_diff(old, new, "text", ())[1] == 0


def test_a_lock_without_hashes_is_compared_by_version_only() -> None:
    unhashed = rel(DIFF / "unhashed" / "requirements.txt")
    text, code = run_diff(unhashed, rel(OLD), "text", ())
    assert code == 0
    assert text == (
        "no package changes between fixtures/diff/unhashed/requirements.txt and "
        "fixtures/diff/old/requirements.txt\n"
        "note: fixtures/diff/unhashed/requirements.txt records no hashes: artifacts were "
        "compared by version only\n"
    )


# --- versions, references, frameworks --------------------------------------------------------


def test_equal_versions_spelled_differently_are_not_a_change(tmp_path: Path) -> None:
    old = write(tmp_path / "old.txt", "torch==2.1\nNumPy==1.26.4\n")
    new = write(tmp_path / "new.txt", "torch==2.1.0\nnumpy==1.26.4.0\n")
    assert changes(old, new) == []


def test_a_moved_vcs_reference_is_a_change() -> None:
    old = DIFF / "poetry-git" / "old" / "poetry.lock"
    new = DIFF / "poetry-git" / "new" / "poetry.lock"
    repo = "git+https://github.com/example-ml/featurekit.git"
    assert changes(old, new) == [
        (
            "featurekit",
            "changed",
            f"0.4.0 ({repo}@3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a)",
            f"0.4.0 ({repo}@9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b)",
        )
    ]


def test_requirements_direct_references_and_included_files(tmp_path: Path) -> None:
    write(tmp_path / "base.txt", "six==1.16.0\n")
    old = write(
        tmp_path / "old.txt",
        """
        -r base.txt
        -c never-read.txt
        featurekit @ git+https://github.com/example-ml/featurekit.git@v0.4
        -e .
        """,
    )
    new = write(
        tmp_path / "new.txt",
        """
        six==1.17.0
        featurekit @ git+https://github.com/example-ml/featurekit.git@v0.5
        """,
    )
    repo = "git+https://github.com/example-ml/featurekit.git"
    assert changes(old, new) == [
        ("featurekit", "changed", f"{repo}@v0.4", f"{repo}@v0.5"),
        ("six", "upgraded", "1.16.0", "1.17.0"),
    ]


def test_configured_frameworks_are_marked(tmp_path: Path) -> None:
    old = write(tmp_path / "old.txt", "my-internal-ml-lib==1.0\nrequests==2.31.0\n")
    new = write(tmp_path / "new.txt", "my_internal_ML_lib==1.1\nrequests==2.32.0\n")
    text, _ = run_diff(old, new, "json", ["My_Internal.ML-Lib"])
    marks = {c["name"]: c["framework"] for c in json.loads(text)["changes"]}
    assert marks == {"my-internal-ml-lib": True, "requests": False}


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("requirements.in", "six==1.16.0\nnumpy>=1\n", "{path}:2: numpy>=1 is not an exact pin"),
        (
            "uv.lock",
            "version = 1\n[[package]\n",
            "{path}:2: invalid TOML: Expected ']]' at the end of an array declaration",
        ),
        (
            "Pipfile.lock",
            '{\n  "_meta": {},\n  "default": {\n',
            "{path}:4: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        (
            "requirements.txt",
            "six==1.16.0\n-r https://example.com/base.txt\n",
            "{path}:2: -r https://example.com/base.txt: only a local file can be read",
        ),
        (
            "conda-lock.yml",
            "version: 1\n",
            "{path}: a conda lock; repro diff compares Python package locks (requirements files, "
            "uv.lock, poetry.lock, pylock.toml, pdm.lock, Pipfile.lock)",
        ),
    ],
)
def test_unreadable_locks_are_usage_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    bad = write(tmp_path / name, content)
    good = write(tmp_path / "good.txt", "six==1.16.0\n")
    for old, new in ((bad, good), (good, bad)):
        with pytest.raises(UsageError) as info:
            run_diff(old, new, "text", ())
        assert info.value.exit_code == 2
        assert str(info.value) == message.format(path=bad)


def test_missing_file_directory_and_include_cycle(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"missing\.txt: cannot read the lock: No such file"):
        run_diff(tmp_path / "missing.txt", tmp_path / "missing.txt", "text", ())
    with pytest.raises(UsageError, match="is a directory"):
        run_diff(tmp_path, tmp_path, "text", ())
    loop = write(tmp_path / "loop.txt", "six==1.16.0\n-r loop.txt\n")
    with pytest.raises(UsageError, match=r"loop\.txt:2: -r loop\.txt leads to an include cycle"):
        run_diff(loop, loop, "text", ())


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--format 'html': choose from text, json, markdown"):
        run_diff(rel(OLD), rel(OLD), "html", ())


# --- lenient reading (read_lock(strict=False)) -----------------------------------------------


def test_strict_reads_refuse_what_lenient_reads_keep() -> None:
    git = DIFF / "poetry-git" / "new" / "poetry.lock"
    unhashed = DIFF / "unhashed" / "requirements.txt"
    for path in (git, unhashed):
        with pytest.raises(LockError):
            read_lock(path)
    featurekit, six = read_lock(git, strict=False).requirements
    assert (featurekit.name, featurekit.version, featurekit.hashes) == ("featurekit", "0.4.0", ())
    assert featurekit.url == (
        "git+https://github.com/example-ml/featurekit.git@9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
    )
    assert (six.pin, six.hashes, six.url) == ("six==1.16.0", (SIX_SDIST, SIX_WHEEL), None)
    assert [(r.pin, r.hashes) for r in read_lock(unhashed, strict=False).requirements][:2] == [
        ("certifi==2024.2.2", ()),
        ("idna==3.6", ()),
    ]


def test_lenient_uv_and_pylock_direct_references(tmp_path: Path) -> None:
    commit = "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
    uv = write(
        tmp_path / "uv" / "uv.lock",
        f"""
        version = 1
        requires-python = ">=3.11"

        [[package]]
        name = "featurekit"
        version = "0.4.0"

        [package.source]
        git = "https://git.example.com/fk.git?rev=main#{commit}"
        """,
    )
    pylock = write(
        tmp_path / "pylock" / "pylock.toml",
        f"""
        lock-version = "1.0"
        created-by = "hand"

        [[packages]]
        name = "featurekit"

        [packages.vcs]
        type = "git"
        url = "https://git.example.com/fk.git"
        commit-id = "{commit}"

        [[packages]]
        name = "six"
        version = "1.16.0"

        [packages.archive]
        url = "https://example.com/six-1.16.0.tar.gz"
        hashes = {{ sha256 = "{SIX_SDIST[7:]}" }}
        """,
    )
    (featurekit,) = read_lock(uv, strict=False).requirements
    assert (featurekit.pin, featurekit.url) == (
        "featurekit==0.4.0",
        f"https://git.example.com/fk.git?rev=main#{commit}",
    )
    vcs, archive = read_lock(pylock, strict=False).requirements
    assert (vcs.version, vcs.url) == ("", f"git+https://git.example.com/fk.git@{commit}")
    assert (archive.pin, archive.hashes, archive.url) == (
        "six==1.16.0",
        (SIX_SDIST,),
        "https://example.com/six-1.16.0.tar.gz",
    )
    with pytest.raises(LockError, match="is a VCS checkout"):
        read_lock(pylock)
    with pytest.raises(LockError, match="is a VCS checkout"):
        read_lock(uv)


# --- includes stay inside the project ----------------------------------------------------------

_SECRET = "machine pypi.org login __token__ password pypi-SECRET123"  # noqa: S105 - a canary


def _outside_secret(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    write(home / ".netrc", _SECRET + "\n")
    return home


@pytest.mark.parametrize(
    "include",
    ["home/.netrc", "../home/.netrc", "{home}/.netrc", "file:{home}/.netrc"],
)
def test_an_include_that_leaves_the_project_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], include: str
) -> None:
    home = _outside_secret(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "home").symlink_to(home)
    written = include.format(home=home)
    lock = write(project / "requirements.txt", f"six==1.16.0\n-r {written}\n")
    with pytest.raises(UsageError) as info:
        run_diff(lock, lock, "text", (), project=project)
    assert str(info.value) == (f"{lock}:2: -r {written} leads outside {project}; it was not read")
    assert "SECRET" not in str(info.value)
    assert capsys.readouterr() == ("", "")


def test_the_cli_refuses_an_include_out_of_the_project_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = _outside_secret(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "etc").symlink_to(home)
    write(project / "requirements.txt", "-r etc/.netrc\n")
    monkeypatch.chdir(project)
    assert main(["diff", "requirements.txt", "requirements.txt"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"repro: error: requirements.txt:1: -r etc/.netrc leads outside {project}; "
        "it was not read\n"
    )


def test_includes_may_go_anywhere_in_the_project_but_not_past_a_lone_locks_directory(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    write(project / "base.txt", "six==1.16.0\n")
    lock = write(project / "requirements" / "prod.txt", "-r ../base.txt\n")
    text, code = run_diff(lock, lock, "json", (), project=project)
    assert code == 0
    assert json.loads(text)["changes"] == []
    with pytest.raises(
        UsageError, match=r"prod\.txt:1: -r \.\./base\.txt leads outside .*requirements; "
    ):
        run_diff(lock, lock, "json", (), project=tmp_path / "elsewhere")


def test_an_include_that_is_a_fifo_or_a_device_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    lock = write(tmp_path / "requirements.txt", "six==1.16.0\n-r pipe.txt\n")
    with pytest.raises(UsageError) as info:
        run_diff(lock, lock, "text", (), project=tmp_path)
    assert str(info.value) == f"{lock}:2: -r pipe.txt: not a regular file; it was not read"


def test_a_long_include_chain_is_read_once_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as deep as the lock reader follows (32 levels); the check itself has no depth limit
    for i in range(30):
        write(tmp_path / f"r{i}.txt", f"-r r{i + 1}.txt\npkg{i}==1.0\n")
    write(tmp_path / "r30.txt", "six==1.16.0\n")
    reads: list[str] = []
    original = files.read_bytes

    def counting(path: Path, **kwargs: Any) -> bytes:
        reads.append(Path(path).name)
        return original(path, **kwargs)

    monkeypatch.setattr(lockdiff, "read_bytes", counting)
    packages = read_packages(tmp_path / "r0.txt", root=tmp_path)
    assert len(packages) == 31
    assert sorted(reads) == sorted(f"r{i}.txt" for i in range(31))


def test_an_include_through_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    lock = write(tmp_path / "requirements.txt", "six==1.16.0\n-r a\n")
    with pytest.raises(UsageError) as info:
        run_diff(lock, lock, "text", (), project=tmp_path)
    assert str(info.value) == f"{lock}:2: -r a: not a usable path; it was not read"
