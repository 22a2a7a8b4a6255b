"""Lock files: pins, hashes, immutable sources, and sync with the pyproject they were made from.

The fixtures under fixtures/locks/ were written by the real tools (Poetry 2.5.1 and 1.8.5,
uv, PDM 2.29 and 2.12, ``uv export --format pylock.toml``); the stale cases edit copies.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reprolock.audit import locks as locks_module
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.audit.interface import Role
from reprolock.config import load_config
from reprolock.formats import uv
from reprolock.formats.lock import LockEntry
from reprolock.model import Finding, Severity
from reprolock.specs import judge_locked, locked_sound
from tests.conftest import FIXTURES, audit_tree, hits

Audit = Callable[[dict[str, str | bytes]], list[Finding]]
LOCKS = FIXTURES / "locks"
SHA = "sha256:" + "ab" * 32
COMMIT = "0d4c3b2a1f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"


def _copy(fixture: str, tmp_path: Path) -> Path:
    target = tmp_path / fixture
    shutil.copytree(LOCKS / fixture, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- real locks are fresh, pinned and hashed -----------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "lock", "expected", "pins"),
    [
        ("poetry", "poetry.lock", [("RP108", "pyproject.toml", 27)], 4),
        ("poetry-1.8", "poetry.lock", [], 3),
        ("uv", "uv.lock", [("RP108", "pyproject.toml", 18)], 6),
        ("pdm", "pdm.lock", [], 5),
        ("pdm-2.12", "pdm.lock", [], 2),
        ("pylock", "pylock.toml", [], 5),
    ],
)
def test_real_locks_are_clean(fixture: str, lock: str, expected: list[object], pins: int) -> None:
    root = LOCKS / fixture
    result = run_audit(root, load_config(root))
    assert hits(list(result.report.findings)) == expected
    facts = result.facts[lock]
    assert facts.role is Role.LOCK
    assert len(facts.pins) == pins
    # every registry package is hashed; a project's own directory entry has nothing to hash
    assert [p.name for p in facts.pins if not p.hashed] == (
        ["churn-service"] if fixture == "uv" else []
    )
    if (root / "pyproject.toml").exists():
        assert facts.compiled_from == ("pyproject.toml",)


def test_pins_carry_the_line_of_each_package_name() -> None:
    result = run_audit(LOCKS / "uv", load_config(LOCKS / "uv"))
    pins = {(p.name, p.version, p.line) for p in result.facts["uv.lock"].pins}
    assert ("attrs", "26.1.0", 6) in pins
    assert ("churn-service", "0.1.0", 15) in pins
    assert ("six", "1.17.0", 71) in pins


def test_workspace_lock_covers_its_members() -> None:
    result = run_audit(LOCKS / "uv-workspace", load_config(LOCKS / "uv-workspace"))
    facts = result.facts["uv.lock"]
    assert facts.compiled_from == ("pyproject.toml", "packages/lib/pyproject.toml")
    # the direct-URL dependency is declared without a hash; uv hashed it in the lock
    assert hits(list(result.report.findings)) == [
        ("RP108", "packages/lib/pyproject.toml", 7),
        ("RP105", "pyproject.toml", 5),
    ]


# --- RP202: poetry.lock --------------------------------------------------------------------


def test_poetry_lock_stale_after_a_dependency_change(tmp_path: Path) -> None:
    root = _copy("poetry", tmp_path)
    _edit(root / "pyproject.toml", '"six>=1.16,<2"', '"six>=1.17,<2"')
    found = audit_tree(root)
    assert hits(found) == [("RP202", "poetry.lock", 78), ("RP108", "pyproject.toml", 27)]
    stale = found[0]
    assert stale.message == (
        "poetry.lock is out of sync with pyproject.toml: "
        "its content-hash does not match the current dependencies"
    )
    assert stale.fix == "poetry lock"


def test_poetry_lock_not_stale_after_an_irrelevant_change(tmp_path: Path) -> None:
    root = _copy("poetry", tmp_path)
    _edit(root / "pyproject.toml", 'version = "0.2.0"', 'version = "0.3.0"')
    _edit(root / "pyproject.toml", "package-mode = false", "package-mode = false\n# tidy")
    assert hits(audit_tree(root)) == [("RP108", "pyproject.toml", 28)]


def test_poetry_dependency_groups_count_from_poetry_2_3(tmp_path: Path) -> None:
    # Poetry < 2.3 hashed without [dependency-groups]; a lock whose header names such a
    # version is fresh when the group changed, and stale when it names a newer Poetry.
    root = _copy("poetry", tmp_path)
    _edit(root / "pyproject.toml", '"pluggy>=1.5"', '"pluggy>=1.6"')
    assert "RP202" in {f.rule for f in audit_tree(root)}
    old_hash = "5890590d7c4be9f2842e09912271442d3f3f3640ed778918cc528247e5be866e"
    _edit(
        root / "poetry.lock",
        "a95ca7cbef9b2d06a5d578deb5124de8f351a998790fc948178feb0c731ca438",
        old_hash,
    )
    _edit(root / "poetry.lock", "Poetry 2.5.1", "Poetry 2.2.1")
    assert "RP202" not in {f.rule for f in audit_tree(root)}
    _edit(root / "poetry.lock", "Poetry 2.2.1", "Poetry 2.4.0")
    assert "RP202" in {f.rule for f in audit_tree(root)}


def test_poetry_1_lock_stale_suggests_no_update(tmp_path: Path) -> None:
    root = _copy("poetry-1.8", tmp_path)
    _edit(root / "pyproject.toml", 'pluggy = "~1.5"', 'pluggy = "~1.6"')
    found = audit_tree(root)
    assert hits(found) == [("RP202", "poetry.lock", 61)]
    assert found[0].fix == "poetry lock --no-update"


# --- RP202: uv.lock ------------------------------------------------------------------------


def _uv_stale(tmp_path: Path, old: str, new: str) -> list[tuple[str, str, int]]:
    root = _copy("uv", tmp_path)
    _edit(root / "pyproject.toml", old, new)
    return [h for h in hits(audit_tree(root)) if h[0] == "RP202"]


def test_uv_lock_stale_when_a_dependency_is_added(tmp_path: Path) -> None:
    root = _copy("uv", tmp_path)
    _edit(root / "pyproject.toml", '"six>=1.16",', '"six>=1.16",\n    "numpy>=1.26",')
    found = [f for f in audit_tree(root) if f.rule == "RP202"]
    assert hits(found) == [("RP202", "uv.lock", 38)]
    assert found[0].message == (
        "uv.lock is out of sync with pyproject.toml: numpy>=1.26 is declared but not locked"
    )
    assert found[0].fix == "uv lock"
    assert found[0].subject == "churn-service"


def test_uv_lock_stale_when_a_dependency_is_removed(tmp_path: Path) -> None:
    # the lock's entry for six (line 41) is no longer declared
    assert _uv_stale(tmp_path, '    "six>=1.16",\n', "") == [("RP202", "uv.lock", 41)]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"six>=1.16"', '"six>=1.17"'),
        ("Attrs[tests-mypy]", "Attrs[tests]"),
        ("python_version >= '3.11'", "python_version >= '3.12'"),
        ("plot = [", "plots = ["),
    ],
)
def test_uv_lock_stale_on_requires_dist_drift(tmp_path: Path, old: str, new: str) -> None:
    assert len(_uv_stale(tmp_path, old, new)) == 1


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"six>=1.16"', '"SIX >= 1.16.0"'),  # names and versions are normalised
        ("python_version >= '3.11'", 'python_version > \\"3.10\\"'),  # same environments
        (" ; python_version >= '3.11'", ""),  # always true under requires-python >= 3.11
        (  # order does not matter
            '    "six>=1.16",\n    "Attrs[tests-mypy]>=23.1 ; python_version >= \'3.11\'",\n',
            '    "Attrs[tests-mypy]>=23.1 ; python_version >= \'3.11\'",\n    "six>=1.16",\n',
        ),
    ],
)
def test_uv_lock_fresh_when_uv_sees_no_change(tmp_path: Path, old: str, new: str) -> None:
    root = _copy("uv", tmp_path)
    _edit(root / "pyproject.toml", old, new)
    assert [h for h in hits(audit_tree(root)) if h[0] == "RP202"] == []


def test_uv_lock_stale_when_a_dependency_group_changes(tmp_path: Path) -> None:
    stale = _uv_stale(tmp_path, 'lint = ["tomli-w>=1.0"]', 'lint = ["tomli-w>=1.0", "six"]')
    assert stale == [("RP202", "uv.lock", 46)]  # dev includes lint, so dev differs first


def test_uv_lock_stale_when_requires_python_changes(tmp_path: Path) -> None:
    assert _uv_stale(tmp_path, 'requires-python = ">=3.11"', 'requires-python = ">=3.12"') == [
        ("RP202", "uv.lock", 3)
    ]


def test_uv_workspace_member_drift_names_the_member(tmp_path: Path) -> None:
    root = _copy("uv-workspace", tmp_path)
    _edit(root / "packages/lib/pyproject.toml", '"pluggy>=1"', '"pluggy>=1.1"')
    found = [f for f in audit_tree(root) if f.rule == "RP202"]
    assert hits(found) == [("RP202", "uv.lock", 35)]
    assert found[0].message.startswith("uv.lock is out of sync with packages/lib/pyproject.toml")


# --- RP202: pdm.lock -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "lock", "old", "new"),
    [
        ("poetry", "poetry.lock", '"six>=1.16,<2"', '"six>=1.17,<2"'),
        ("pdm", "pdm.lock", '"six>=1.16"', '"six>=1.17"'),
    ],
)
def test_a_stale_lock_put_beside_later_is_found_warm_as_cold(
    tmp_path: Path, fixture: str, lock: str, old: str, new: str
) -> None:
    # The pyproject scan hashes for the lock beside it only: a run that cached the scan made
    # with no lock there must not answer for the tree with one.
    root = _copy(fixture, tmp_path)
    written = (root / lock).read_bytes()
    (root / lock).unlink()
    options = AuditOptions(cache_dir=tmp_path / "cache")
    run_audit(root, load_config(root), options)
    _edit(root / "pyproject.toml", old, new)
    run_audit(root, load_config(root), options)  # the edited pyproject, cached, no lock
    (root / lock).write_bytes(written)
    warm = list(run_audit(root, load_config(root), options).report.findings)
    assert ("RP202", lock) in {(f.rule, f.location.path) for f in warm}
    assert warm == audit_tree(root)


@pytest.mark.parametrize("fixture", ["pdm", "pdm-2.12"])
def test_pdm_lock_stale_after_a_dependency_change(tmp_path: Path, fixture: str) -> None:
    root = _copy(fixture, tmp_path)
    _edit(root / "pyproject.toml", '"six>=1.16"', '"six>=1.17"')
    found = audit_tree(root)
    assert hits(found) == [("RP202", "pdm.lock", 8)]
    assert found[0].fix == "pdm lock"


# --- RP203 ---------------------------------------------------------------------------------


def test_rp203_per_format(audit: Audit) -> None:
    found = audit(
        {
            "a/poetry.lock": f"""
            [[package]]
            name = "numpy"
            version = "1.26.4"
            files = []

            [[package]]
            name = "six"
            version = "1.16.0"
            files = [{{file = "six-1.16.0.tar.gz", hash = "{SHA}"}}]
            """,
            "b/uv.lock": f"""
            version = 1
            [[package]]
            name = "numpy"
            version = "1.26.4"
            source = {{ registry = "https://pypi.org/simple" }}
            sdist = {{ url = "https://files.example/numpy-1.26.4.tar.gz" }}

            [[package]]
            name = "six"
            version = "1.16.0"
            source = {{ registry = "https://pypi.org/simple" }}
            wheels = [{{ url = "https://files.example/six.whl", hash = "{SHA}" }}]
            """,
            "c/pdm.lock": f"""
            [[package]]
            name = "numpy"
            version = "1.26.4"
            files = [{{file = "numpy-1.26.4.tar.gz"}}]

            [[package]]
            name = "six"
            version = "1.16.0"
            files = [{{file = "six-1.16.0.tar.gz", hash = "{SHA}"}}]
            """,
            "d/pylock.toml": """
            lock-version = "1.0"
            created-by = "uv"
            [[packages]]
            name = "numpy"
            version = "1.26.4"
            wheels = [{ url = "https://files.example/numpy.whl", hashes = {} }]

            [[packages]]
            name = "six"
            version = "1.16.0"
            wheels = [{ url = "https://files.example/six.whl", hashes = { sha256 = "ab" } }]
            """,
        }
    )
    assert hits(found) == [
        ("RP203", "a/poetry.lock", 2),
        ("RP203", "b/uv.lock", 3),
        ("RP203", "c/pdm.lock", 2),
        ("RP203", "d/pylock.toml", 4),
    ]
    assert found[0].message == "numpy==1.26.4 has no hash in poetry.lock"
    assert [f.fix for f in found] == [
        "poetry lock --regenerate",
        "uv lock --refresh",
        "pdm lock --refresh",
        "regenerate the lock with uv",
    ]


def test_legacy_metadata_files_count_as_hashes(audit: Audit) -> None:
    found = audit(
        {
            "a/poetry.lock": f"""
            [[package]]
            name = "PyYAML"
            version = "6.0.1"

            [[package]]
            name = "six"
            version = "1.16.0"

            [metadata]
            lock-version = "1.1"
            content-hash = "{"0" * 64}"

            [metadata.files]
            pyyaml = [{{file = "PyYAML-6.0.1.tar.gz", hash = "{SHA}"}}]
            six = []
            """,
            "b/pdm.lock": f"""
            [[package]]
            name = "coverage"
            version = "7.4.4"

            [metadata]
            lock_version = "4.0"

            [metadata.files]
            "coverage[toml] 7.4.4" = [
                {{url = "https://files.example/coverage.tar.gz", hash = "{SHA}"}},
            ]
            """,
        }
    )
    assert hits(found) == [("RP203", "a/poetry.lock", 6)]


# --- RP104 / RP105 / RP106 in locks --------------------------------------------------------


def test_poetry_sources(audit: Audit) -> None:
    found = audit(
        {
            "svc/poetry.lock": f"""
            [[package]]
            name = "feature-store"
            version = "0.4.0"
            files = []

            [package.source]
            type = "git"
            url = "https://github.com/acme/feature-store.git"
            reference = "main"
            resolved_reference = ""

            [[package]]
            name = "metrics"
            version = "1.0.0"
            files = []

            [package.source]
            type = "git"
            url = "https://github.com/acme/metrics.git"
            reference = "main"
            resolved_reference = "{COMMIT}"

            [[package]]
            name = "shared-utils"
            version = "2.1.0"
            files = []

            [package.source]
            type = "directory"
            url = "../../shared-utils"

            [[package]]
            name = "plugins"
            version = "0.1.0"
            files = []

            [package.source]
            type = "directory"
            url = "plugins"

            [[package]]
            name = "blob"
            version = "1.0"
            files = [{{file = "blob-1.0-py3-none-any.whl", hash = ""}}]

            [package.source]
            type = "url"
            url = "https://artifacts.example/blob-1.0-py3-none-any.whl"
            """
        }
    )
    assert hits(found) == [
        ("RP104", "svc/poetry.lock", 2),
        ("RP106", "svc/poetry.lock", 24),
        ("RP105", "svc/poetry.lock", 42),
    ]
    assert found[0].message == (
        "feature-store is locked from https://github.com/acme/feature-store.git at 'main', "
        "a movable reference"
    )


def test_uv_sources(audit: Audit) -> None:
    found = audit(
        {
            "uv.lock": f"""
            version = 1
            [[package]]
            name = "feature-store"
            version = "0.4.0"
            source = {{ git = "https://github.com/acme/feature-store?branch=main" }}

            [[package]]
            name = "metrics"
            version = "1.0.0"
            source = {{ git = "https://github.com/acme/metrics?rev=v1#{COMMIT}" }}

            [[package]]
            name = "blob"
            version = "1.0"
            source = {{ url = "https://artifacts.example/blob-1.0-py3-none-any.whl" }}
            wheels = [{{ url = "https://artifacts.example/blob-1.0-py3-none-any.whl" }}]

            [[package]]
            name = "shared-utils"
            version = "2.1.0"
            source = {{ editable = "../shared-utils" }}

            [[package]]
            name = "inner"
            version = "0.1.0"
            source = {{ directory = "packages/inner" }}
            """
        }
    )
    assert hits(found) == [
        ("RP104", "uv.lock", 3),
        ("RP105", "uv.lock", 13),
        ("RP106", "uv.lock", 19),
    ]


def test_pdm_sources(audit: Audit) -> None:
    found = audit(
        {
            "pdm.lock": f"""
            [[package]]
            name = "feature-store"
            version = "0.4.0"
            git = "https://github.com/acme/feature-store.git"
            ref = "main"

            [[package]]
            name = "metrics"
            version = "1.0.0"
            git = "https://github.com/acme/metrics.git"
            ref = "main"
            revision = "{COMMIT}"

            [[package]]
            name = "shared-utils"
            version = "2.1.0"
            path = "../shared-utils"
            editable = true

            [[package]]
            name = "blob"
            version = "1.0"
            url = "https://artifacts.example/blob-1.0-py3-none-any.whl"
            """
        }
    )
    assert hits(found) == [
        ("RP104", "pdm.lock", 2),
        ("RP106", "pdm.lock", 15),
        ("RP105", "pdm.lock", 21),
    ]


def test_pylock_sources(audit: Audit) -> None:
    found = audit(
        {
            "pylock.toml": f"""
            lock-version = "1.0"
            created-by = "hand"

            [[packages]]
            name = "feature-store"
            vcs = {{ type = "git", url = "https://h.example/fs", requested-revision = "main" }}

            [[packages]]
            name = "metrics"
            vcs = {{ type = "git", url = "https://h.example/metrics", commit-id = "{COMMIT}" }}

            [[packages]]
            name = "blob"
            version = "1.0"
            archive = {{ url = "https://artifacts.example/blob-1.0.tar.gz", hashes = {{}} }}

            [[packages]]
            name = "shared-utils"
            directory = {{ path = "../shared-utils", editable = true }}

            [[packages]]
            name = "app"
            directory = {{ path = "." }}
            """
        }
    )
    assert hits(found) == [
        ("RP104", "pylock.toml", 5),
        ("RP105", "pylock.toml", 13),
        ("RP106", "pylock.toml", 18),
    ]


# --- RP001 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["poetry.lock", "uv.lock", "pdm.lock", "pylock.toml"])
def test_broken_lock_is_rp001_at_its_line(audit: Audit, name: str) -> None:
    found = audit({f"app/{name}": '[[package]]\nname = "six"\nversion = 1.16.0"\n'})
    assert hits(found) == [("RP001", f"app/{name}", 3)]


def _one_entry_lock(fmt: str, package: str, version: str) -> str:
    """A lock of ``fmt`` with one package (``package`` at ``version``) on its line 4."""
    if fmt == "uv.lock":
        return (
            f'version = 1\n\n[[package]]\nname = "{package}"\nversion = "{version}"\n'
            f'source = {{ registry = "https://pypi.org/simple" }}\n'
            f'wheels = [{{ url = "https://files.example/x.whl", hash = "{SHA}" }}]\n'
        )
    if fmt == "poetry.lock":
        return (
            f'[metadata]\nlock-version = "2.1"\n[[package]]\nname = "{package}"\n'
            f'version = "{version}"\nfiles = [{{ file = "x.whl", hash = "{SHA}" }}]\n'
        )
    if fmt == "pdm.lock":
        return (
            f'[metadata]\nlock_version = "4.5.0"\n[[package]]\nname = "{package}"\n'
            f'version = "{version}"\nfiles = [{{ file = "x.whl", hash = "{SHA}" }}]\n'
        )
    if fmt == "pylock.toml":
        return (
            f'lock-version = "1.0"\ncreated-by = "t"\n[[packages]]\nname = "{package}"\n'
            f'version = "{version}"\n'
            f'wheels = [{{ url = "https://files.example/x-1-py3-none-any.whl", '
            f'hashes = {{ sha256 = "{"a" * 64}" }} }}]\n'
        )
    if fmt == "Pipfile.lock":
        entry = {package: {"hashes": [SHA], "index": "pypi", "version": f"=={version}"}}
        text = json.dumps({"_meta": {}, "default": entry}, indent=2)
        return "\n" + text  # "{", '"_meta": {},', '"default": {', then the entry on line 4
    if fmt == "conda-lock.yml":
        return (
            "version: 1\nmetadata: {platforms: [linux-64], sources: [environment.yml]}\n"
            "package:\n"
            f"- {{name: {package}, version: '{version}', manager: conda, platform: linux-64,\n"
            "   url: https://conda.anaconda.org/conda-forge/linux-64/x-1-0.conda,\n"
            f"   hash: {{md5: {'a' * 32}}}}}\n"
        )
    assert fmt == "conda-linux-64.lock", fmt
    return (
        "# platform: linux-64\n@EXPLICIT\n\n"
        f"https://conda.anaconda.org/conda-forge/linux-64/{package}-{version}-0.conda"
        f"#{'a' * 32}\n"
    )


LOCK_FORMATS = [
    "uv.lock",
    "poetry.lock",
    "pdm.lock",
    "Pipfile.lock",
    "pylock.toml",
    "conda-lock.yml",
    "conda-linux-64.lock",
]


@pytest.mark.parametrize("fmt", LOCK_FORMATS)
@pytest.mark.parametrize(
    ("package", "version", "message"),
    [
        ("-revil", "1.0", "invalid package name '-revil'"),
        ("six", "1.0;rm", "six has an invalid version '1.0;rm'"),
        (
            "six",
            "1.0 " + "x" * 96,
            f"six has an invalid version '1.0 {'x' * 56}'... (100 characters)",
        ),
    ],
)
def test_an_invalid_name_or_version_in_any_lock_is_rp001_at_its_line(
    audit: Audit, fmt: str, package: str, version: str, message: str
) -> None:
    found = audit({f"app/{fmt}": _one_entry_lock(fmt, package, version)})
    rp001 = [f for f in found if f.rule == "RP001"]
    assert [(f.location.path, f.location.line, f.message) for f in rp001] == [
        (f"app/{fmt}", 4, message)
    ]
    assert rp001[0].severity is Severity.ERROR


def test_pylock_lock_version_must_be_1x(audit: Audit) -> None:
    found = audit(
        {
            "a/pylock.toml": 'created-by = "x"\nlock-version = "2.0"\n',
            "b/pylock.dev.toml": 'created-by = "x"\n',
            "c/pylock.toml": 'lock-version = "1.1"\n',
        }
    )
    assert hits(found) == [("RP001", "a/pylock.toml", 2), ("RP001", "b/pylock.dev.toml", 1)]
    assert found[0].message == "unsupported lock-version '2.0' (only 1.x is defined)"


def test_only_the_entries_that_may_be_faulted_are_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[str] = []
    judge = judge_locked

    def counted(entry: LockEntry, *args: Any, **kwargs: Any) -> list[Finding]:
        judged.append(entry.name)
        return judge(entry, *args, **kwargs)

    monkeypatch.setattr(locks_module, "judge_locked", counted)
    root = LOCKS / "uv"
    run_audit(root, load_config(root), AuditOptions(jobs=1))
    lock = uv.read((root / "uv.lock").read_text(encoding="utf-8"))
    unsound = [e.name for e in lock.entries if not locked_sound(e)]
    assert judged == unsound
    assert 0 < len(unsound) < len(lock.entries)  # the project, not its hashed packages
