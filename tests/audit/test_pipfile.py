"""Pipfile and Pipfile.lock: declared requirements, lock pins, pipenv's hash, and their rules."""

from __future__ import annotations

import json
import shutil
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit.engine import run_audit
from reprolock.audit.interface import Role
from reprolock.config import load_config
from reprolock.formats.json import json_key_lines
from reprolock.formats.pipfile import pipfile_hashes
from reprolock.formats.toml import locate
from reprolock.model import Finding
from tests.conftest import FIXTURES, audit_tree, hits, write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

_SHA = "sha256:" + "a" * 64
_COMMIT = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


def _mine(findings: list[Finding]) -> list[tuple[str, str, int]]:
    """Hits in Pipfile-family files only (fixtures carry other files other scanners read)."""
    return [h for h in hits(findings) if h[1].rsplit("/", 1)[-1] in {"Pipfile", "Pipfile.lock"}]


def _copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / "pipfile" / name, root)
    return root


def _lock(default: dict[str, object], *, sources: list[dict[str, object]] | None = None) -> str:
    data = {
        "_meta": {
            "hash": {"sha256": "0" * 64},
            "pipfile-spec": 6,
            "requires": {},
            "sources": sources
            or [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}],
        },
        "default": default,
        "develop": {},
    }
    return json.dumps(data, indent=4, sort_keys=True) + "\n"


# --- real pipenv output ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["app", "legacy", "local-path"])
def test_real_pipenv_locks_are_in_sync_and_clean(name: str) -> None:
    root = FIXTURES / "pipfile" / name
    assert _mine(audit_tree(root)) == []


def test_real_lock_facts_pins_lines_and_hash() -> None:
    root = FIXTURES / "pipfile" / "app"
    facts = run_audit(root, load_config(root)).facts
    lock = facts["Pipfile.lock"]
    assert lock.role is Role.LOCK
    assert [(p.name, p.version, p.line, p.hashed) for p in lock.pins] == [
        ("attrs", "26.1.0", 19, True),
        ("idna", "3.20", 30, True),
        ("six", "1.16.0", 39, True),
        ("iniconfig", "2.0.0", 50, True),
        ("packaging", "26.4", 61, True),
    ]
    assert lock.compiled_from == ("Pipfile",)
    manifest = facts["Pipfile"]
    assert manifest.role is Role.MANIFEST
    assert [(d.spec.name, d.spec.specifier, d.line, d.group) for d in manifest.declared] == [
        ("six", "==1.16.0", 7, ""),
        ("attrs", ">=23", 8, ""),
        ("idna", "", 9, ""),
        ("iniconfig", "==2.0.0", 12, "dev-packages"),
        ("packaging", ">=24", 15, "docs"),
    ]


def test_pipenv_hash_variants_match_real_locks() -> None:
    """Both hash variants, each checked against the lock pipenv itself wrote."""
    for name in ("app", "legacy", "local-path"):
        root = FIXTURES / "pipfile" / name
        data = tomllib.loads((root / "Pipfile").read_text(encoding="utf-8"))
        recorded = json.loads((root / "Pipfile.lock").read_text(encoding="utf-8"))["_meta"]
        assert recorded["hash"]["sha256"] in pipfile_hashes(data), name


# --- RP202 ---------------------------------------------------------------------------------


def test_rp202_when_the_pipfile_changed_after_locking(tmp_path: Path) -> None:
    root = _copy("app", tmp_path)
    pipfile = root / "Pipfile"
    pipfile.write_text(
        pipfile.read_text(encoding="utf-8").replace('idna = "*"', 'idna = ">=3.7"'),
        encoding="utf-8",
    )
    found = audit_tree(root)
    assert _mine(found) == [("RP202", "Pipfile.lock", 4)]
    assert found[0].fix == "pipenv lock"


def test_rp202_not_for_a_name_case_change_under_new_pipenv(tmp_path: Path) -> None:
    # pipenv >= 2025 hashes PEP 503 names: `Six` -> `six` keeps the lock in sync.
    root = _copy("app", tmp_path)
    pipfile = root / "Pipfile"
    pipfile.write_text(
        pipfile.read_text(encoding="utf-8").replace("Six =", "six ="), encoding="utf-8"
    )
    assert _mine(audit_tree(root)) == []


def test_rp202_for_a_name_case_change_under_old_pipenv(tmp_path: Path) -> None:
    # pipenv 2023 hashed names as written, and its lock records that hash.
    root = _copy("legacy", tmp_path)
    pipfile = root / "Pipfile"
    pipfile.write_text(
        pipfile.read_text(encoding="utf-8").replace("PyYAML =", "pyyaml ="), encoding="utf-8"
    )
    assert _mine(audit_tree(root)) == [("RP202", "Pipfile.lock", 4)]


def test_rp202_when_the_lock_records_no_hash(audit: Audit) -> None:
    lock = {"_meta": {"pipfile-spec": 6}, "default": {}, "develop": {}}
    found = audit({"Pipfile": '[packages]\nsix = "*"\n', "Pipfile.lock": json.dumps(lock)})
    assert _mine(found) == [("RP202", "Pipfile.lock", 1)]


# --- RP201 ---------------------------------------------------------------------------------


def test_rp201_pipfile_without_lock(audit: Audit) -> None:
    found = audit({"svc/Pipfile": '[packages]\nrequests = "*"\n'})
    assert hits(found) == [("RP201", "svc/Pipfile", 1)]
    assert found[0].fix == "pipenv lock"


def test_rp201_not_for_a_library(audit: Audit) -> None:
    found = audit(
        {
            "pyproject.toml": '[tool.repro]\nprofile = "library"\n',
            "Pipfile": '[packages]\nrequests = "*"\n',
        }
    )
    assert _mine(found) == []


def test_rp201_not_when_nothing_is_declared(audit: Audit) -> None:
    assert audit({"Pipfile": "[packages]\n\n[dev-packages]\n"}) == []


# --- manifest rules ------------------------------------------------------------------------


def test_pipfile_vcs_url_and_path_entries(audit: Audit) -> None:
    pipfile = f"""
        [[source]]
        url = "https://pypi.org/simple"
        verify_ssl = true
        name = "pypi"

        [packages]
        numpy = ">=1.26"
        mylib = {{git = "https://github.com/org/mylib.git", ref = "main"}}
        other = {{git = "https://github.com/org/other.git"}}
        pinned = {{git = "git@github.com:org/pinned.git", ref = "{_COMMIT}"}}
        inline = "git+https://github.com/org/inline.git@v1.0"
        wheel = {{file = "https://example.org/wheel-1.0-py3-none-any.whl"}}
        outside = {{path = "../shared", editable = true}}
        inside = {{path = "./libs/inside", editable = true}}
        "Jinja2" = {{version = "*", markers = "python_version >= '3.8'"}}
    """
    found = audit({"Pipfile": pipfile, "Pipfile.lock": _lock({})})
    assert [h for h in _mine(found) if h[0] != "RP202"] == [
        ("RP104", "Pipfile", 8),
        ("RP104", "Pipfile", 9),
        ("RP104", "Pipfile", 11),
        ("RP105", "Pipfile", 12),
        ("RP106", "Pipfile", 13),
    ]
    by_line = {f.location.line: f for f in found}
    assert by_line[8].subject == "mylib"
    assert by_line[8].message == "mylib is installed from VCS at 'main', a movable reference"
    assert by_line[13].subject == "outside"


def test_rp107_source_without_tls_verification(audit: Audit) -> None:
    pipfile = """
        [[source]]
        url = "https://pypi.org/simple"
        verify_ssl = true
        name = "pypi"

        [[source]]
        name = "internal"
        url = "http://pypi.internal.example/simple"
        verify_ssl = false

        [packages]
        six = "==1.16.0"
    """
    found = audit({"Pipfile": pipfile, "Pipfile.lock": _lock({})})
    assert [h for h in _mine(found) if h[0] != "RP202"] == [("RP107", "Pipfile", 9)]
    rp107 = next(f for f in found if f.rule == "RP107")
    assert rp107.message == "TLS verification is off for source internal"
    assert rp107.subject == "internal"


# --- Pipfile.lock rules --------------------------------------------------------------------


def test_lock_entries_rp203_rp104_rp106(audit: Audit) -> None:
    lock = _lock(
        {
            "hashed": {"hashes": [_SHA], "version": "==1.0"},
            "nohash": {"version": "==2.0"},
            "emptyhash": {"hashes": [], "version": "==3.0"},
            "vcsbranch": {"git": "https://github.com/org/vcs.git", "ref": "main"},
            "vcscommit": {"git": "https://github.com/org/vcs2.git", "ref": _COMMIT},
            "outside": {"editable": True, "path": "../elsewhere"},
            "inside": {"editable": True, "path": "./libs/x"},
        }
    )
    found = audit({"Pipfile.lock": lock})
    assert hits(found) == [
        ("RP203", "Pipfile.lock", 17),
        ("RP203", "Pipfile.lock", 31),
        ("RP106", "Pipfile.lock", 34),
        ("RP104", "Pipfile.lock", 38),
    ]
    assert {f.subject for f in found} == {"emptyhash", "outside", "vcsbranch", "nohash"}
    assert found[0].message == "emptyhash==3.0 has no hash in Pipfile.lock"


def test_lock_source_without_tls_verification(audit: Audit) -> None:
    sources = [
        {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True},
        {"name": "internal", "url": "http://pypi.internal/simple", "verify_ssl": False},
    ]
    found = audit({"Pipfile.lock": _lock({}, sources=sources)})
    assert hits(found) == [("RP107", "Pipfile.lock", 17)]


def test_lock_pins_first_line_and_hashed_flag(tmp_path: Path) -> None:
    lock = _lock({"a": {"hashes": [_SHA], "version": "==1.0"}, "b": {"version": "==2.0"}})
    write_tree(tmp_path, {"Pipfile.lock": lock})
    facts = run_audit(tmp_path, load_config(tmp_path)).facts["Pipfile.lock"]
    assert [(p.name, p.version, p.line, p.hashed) for p in facts.pins] == [
        ("a", "1.0", 17, True),
        ("b", "2.0", 23, False),
    ]


# --- malformed input -----------------------------------------------------------------------


def test_broken_pipfile_toml_is_rp001_at_its_line(audit: Audit) -> None:
    found = audit({"Pipfile": '[packages]\nsix = "==1.16.0"\nnumpy = \n'})
    assert hits(found) == [("RP001", "Pipfile", 3)]
    assert found[0].message.startswith("Pipfile: invalid TOML")


def test_broken_pipfile_lock_json_is_rp001_at_its_line(audit: Audit) -> None:
    found = audit({"Pipfile.lock": '{\n    "_meta": {},\n    "default": {\n        "six": \n}\n'})
    assert hits(found) == [("RP001", "Pipfile.lock", 5)]


def test_lock_that_is_not_an_object(audit: Audit) -> None:
    assert hits(audit({"Pipfile.lock": "[]\n"})) == [("RP001", "Pipfile.lock", 1)]


def test_bad_entry_is_rp001_and_the_rest_is_still_judged(audit: Audit) -> None:
    pipfile = """
        [packages]
        numpy = 5
        mylib = {git = "https://github.com/org/mylib.git", ref = "main"}
        "bad name!" = "*"
    """
    found = audit({"Pipfile": pipfile, "Pipfile.lock": _lock({})})
    assert [h for h in hits(found) if h[0] != "RP202"] == [
        ("RP001", "Pipfile", 2),
        ("RP104", "Pipfile", 3),
        ("RP001", "Pipfile", 4),
    ]


# --- line finding --------------------------------------------------------------------------


def test_toml_locate_follows_headers_dotted_keys_and_skips_multiline_values() -> None:
    text = (
        "[packages]\n"  # 1
        'numpy = "*"\n'  # 2
        "extras = [\n"  # 3
        '  "fake = 1",\n'  # 4
        "]\n"  # 5
        'notes = """\n'  # 6
        "pandas = 2\n"  # 7
        '"""\n'  # 8
        '"Quoted.Name" = "*"\n'  # 9
        'torch.version = "==2.1"\n'  # 10
        "[packages.scipy]\n"  # 11
        'version = "*"\n'  # 12
        "[[source]]\n"  # 13
        'name = "a"\n'  # 14
        "[[source]]\n"  # 15
        "verify_ssl = false  # [x]\n"  # 16
    )
    lines = locate(text)
    assert lines[("packages",)] == 1
    assert lines[("packages", "numpy")] == 2
    assert ("packages", "fake") not in lines
    assert ("packages", "pandas") not in lines
    assert lines[("packages", "Quoted.Name")] == 9
    assert lines[("packages", "torch")] == 10
    assert lines[("packages", "scipy")] == 11
    assert lines[("source", 0, "name")] == 14
    assert lines[("source", 1)] == 15
    assert lines[("source", 1, "verify_ssl")] == 16


def test_json_key_lines_for_pretty_and_minified_json() -> None:
    pretty = '{\n  "a": {\n    "b\\"c": [\n      {"d": 1}, {"e": "x:y"}\n    ]\n  }\n}\n'
    lines = json_key_lines(pretty)
    assert lines[("a",)] == 2
    assert lines[("a", 'b"c')] == 3
    assert lines[("a", 'b"c', 1, "e")] == 4
    assert json_key_lines('{"a": {"b": 1}}') == {("a",): 1, ("a", "b"): 1}


# --- never crash ---------------------------------------------------------------------------

_VALUES = st.recursive(
    st.one_of(
        st.sampled_from(["*", "==1.0", ">=1", "1.2", "git+https://h/r@main", "../x", "http://["]),
        st.text(max_size=12),
        st.integers(),
        st.booleans(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["version", "git", "ref", "path", "file", "editable", "extras"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    packages=st.dictionaries(st.text(min_size=1, max_size=10), _VALUES, max_size=5),
    sources=st.lists(st.dictionaries(st.sampled_from(["name", "url", "verify_ssl"]), _VALUES)),
)
def test_random_entries_never_crash(packages: dict[str, object], sources: list[object]) -> None:
    root = Path(tempfile.mkdtemp())
    lock = {"_meta": {"sources": sources, "hash": packages}, "default": packages}
    pipfile = tomlkit.dumps({"source": sources, "packages": packages, "docs": packages})
    try:
        write_tree(
            root,
            {
                "Pipfile.lock": json.dumps(lock),
                "a/Pipfile.lock": json.dumps(packages),
                "Pipfile": pipfile,
            },
        )
        for f in audit_tree(root):
            assert f.location.line >= 1
    finally:
        shutil.rmtree(root)
