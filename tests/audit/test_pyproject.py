"""pyproject.toml: TOML positions, manifest rules, build requirements, missing locks, sync."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit.engine import run_audit
from reprolock.audit.interface import Role, ScanContext, ScanError, SourceFile
from reprolock.audit.pyproject import (
    PyprojectScanner,
    poetry_constraint,
)
from reprolock.config import Config, load_config
from reprolock.formats import locktoml
from reprolock.formats.pdm import _group
from reprolock.formats.pdm import content_hashes as pdm_content_hashes
from reprolock.formats.poetry import content_hash as poetry_content_hash
from reprolock.formats.poetry import content_hashes as poetry_content_hashes
from reprolock.formats.poetry import sha256_json
from reprolock.formats.toml import locate
from reprolock.formats.uv import project_inputs as uv_project_inputs
from reprolock.model import Finding, Location
from reprolock.specs import (
    _JUDGED_IN_A_MANIFEST,
    _MANIFEST_RULES,
    JudgeContext,
    SpecKind,
    classify,
    judge_concrete,
    judge_manifest,
)
from tests.conftest import FIXTURES, audit_tree, hits, write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]
LOCKS = FIXTURES / "locks"


def _scan(tmp_path: Path, text: str, rel: str = "pyproject.toml") -> tuple[SourceFile, ScanContext]:
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    source = SourceFile(path=rel, abspath=path, text=text)
    return source, ScanContext(root=tmp_path, config=Config(), files=frozenset({rel}))


# --- positions -----------------------------------------------------------------------------


TRICKY = """\
# a comment with [brackets] and "quotes"
title = "x # not a comment"
s1 = '''
line ] with } and '' quotes
'''
s2 = \"\"\"a\\\"\"\"b
\"\"\"\"\"
"quoted.key" . bare = 1
[project]
dependencies = [  # comment
    "a",

    'b',  # trailing
    \"\"\"c
\"\"\",
    [1, [2,
       3]],
]
inline = { x = 1, y.z = [
  "q",
], w = { v = 2 } }
[[package]]
name = "one"
[package.source]
type = "git"
[[package]]
name = "two"
[[package.files]]
file = "f1"
[[package.files]]
file = "f2"
when = 1979-05-27 07:32:00Z
"""


def test_locator_finds_every_key_and_item_line() -> None:
    tomllib.loads(TRICKY)
    lines = locate(TRICKY)
    assert lines[("title",)] == 2
    assert lines[("s1",)] == 3
    assert lines[("s2",)] == 6
    assert lines[("quoted.key", "bare")] == 8
    assert lines[("project",)] == 9
    assert lines[("project", "dependencies")] == 10
    assert lines[("project", "dependencies", 0)] == 11
    assert lines[("project", "dependencies", 1)] == 13
    assert lines[("project", "dependencies", 2)] == 14
    assert lines[("project", "dependencies", 3)] == 16
    assert lines[("project", "dependencies", 3, 1, 1)] == 17
    assert lines[("project", "inline", "y", "z", 0)] == 20
    assert lines[("project", "inline", "w", "v")] == 21
    assert lines[("package", 0, "name")] == 23
    assert lines[("package", 0, "source", "type")] == 25
    assert lines[("package", 1, "name")] == 27
    assert lines[("package", 1, "files", 0, "file")] == 29
    assert lines[("package", 1, "files", 1, "file")] == 31
    assert lines[("package", 1, "files", 1, "when")] == 32


_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
_SCALARS = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.floats(allow_nan=False))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


def _paths(value: object, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = []
    items: list[tuple[str | int, object]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        out.append((*path, key))
        out.extend(_paths(child, (*path, key)))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_locator_sees_every_path_tomllib_sees(document: dict[str, object]) -> None:
    text = tomlkit.dumps(document)
    data = tomllib.loads(text)
    lines = locate(text)
    assert [p for p in _paths(data) if p not in lines] == []
    assert all(1 <= line <= max(len(text.splitlines()), 1) for line in lines.values())


def test_locator_handles_crlf_line_endings() -> None:
    text = '[project]\r\nname = "x"\r\ndependencies = [\r\n  "a",\r\n  "b",\r\n]\r\n'
    lines = locate(text)
    assert lines[("project", "dependencies", 1)] == 5


def test_broken_toml_is_rp001_at_the_decoder_line(audit: Audit) -> None:
    found = audit(
        {"svc/pyproject.toml": '[project]\nname = "svc"\ndependencies = ["numpy",\n= 3\n'}
    )
    assert hits(found) == [("RP001", "svc/pyproject.toml", 4)]
    assert "invalid TOML" in found[0].message


def test_broken_toml_at_end_of_file_names_the_last_line(tmp_path: Path) -> None:
    source, ctx = _scan(tmp_path, '[project]\ndependencies = ["numpy",\n  "pandas"\n')
    with pytest.raises(ScanError) as info:
        PyprojectScanner().scan(source, ctx)
    assert info.value.line == 3
    assert "end of file" in info.value.message


# --- build requirements (RP108) ------------------------------------------------------------


def test_rp108_for_unpinned_build_requirements(audit: Audit) -> None:
    found = audit(
        {
            "pyproject.toml": """
            [build-system]
            requires = [
                "setuptools>=61",
                "wheel",
                "setuptools-scm==8.1.0",
            ]
            build-backend = "setuptools.build_meta"
            """
        }
    )
    assert hits(found) == [("RP108", "pyproject.toml", 3), ("RP108", "pyproject.toml", 4)]
    assert found[0].message == "build requirement setuptools>=61 is not pinned"
    assert [f.subject for f in found] == ["setuptools", "wheel"]


def test_no_rp108_for_exact_or_immutable_build_requirements(audit: Audit) -> None:
    digest = "a" * 64
    found = audit(
        {
            "pyproject.toml": f"""
            [build-system]
            requires = [
                "hatchling==1.25.0",
                "hatch-vcs @ https://example.org/hatch_vcs-0.4.0.tar.gz#sha256={digest}",
            ]
            build-backend = "hatchling.build"
            """
        }
    )
    assert hits(found) == []


def test_no_build_system_is_not_a_finding(audit: Audit) -> None:
    assert audit({"pyproject.toml": "[tool.ruff]\nline-length = 100\n"}) == []


def test_build_requirement_from_a_branch_is_rp104_not_rp108(audit: Audit) -> None:
    found = audit(
        {
            "pyproject.toml": """
            [build-system]
            requires = ["backend @ git+https://github.com/acme/backend@main"]
            """
        }
    )
    assert hits(found) == [("RP104", "pyproject.toml", 2)]


# --- manifest entries ----------------------------------------------------------------------


def test_ml_service_fixture_findings() -> None:
    found = audit_tree(FIXTURES / "pyproject" / "ml-service")
    path = "pyproject.toml"
    assert hits(found) == [
        ("RP108", path, 2),  # setuptools>=61
        ("RP108", path, 2),  # wheel
        ("RP201", path, 10),  # no lock beside it
        ("RP104", path, 14),  # git ...@main
        ("RP105", path, 16),  # wheel URL without a hash
        ("RP106", path, 18),  # file:///opt/shared-utils
        ("RP104", path, 25),  # git URL with no revision, in an extra
        ("RP106", path, 33),  # [tool.uv.sources] path outside the repository
        ("RP104", path, 34),  # [tool.uv.sources] git branch
    ]
    rp201 = next(f for f in found if f.rule == "RP201")
    assert rp201.fix == "uv lock"


def test_poetry_fixture_findings_and_declared_lines(tmp_path: Path) -> None:
    found = audit_tree(FIXTURES / "pyproject" / "poetry-trainer")
    path = "pyproject.toml"
    assert hits(found) == [
        ("RP201", path, 7),  # [tool.poetry.dependencies]
        ("RP104", path, 17),  # git branch = "main"
        ("RP106", path, 19),  # path = "../../shared-utils"
        ("RP105", path, 21),  # url without a hash
        ("RP001", path, 22),  # "^^1.0" is no constraint
        ("RP108", path, 34),
    ]
    assert next(f for f in found if f.rule == "RP201").fix == "poetry lock"

    text = (FIXTURES / "pyproject" / "poetry-trainer" / "pyproject.toml").read_text()
    source, ctx = _scan(tmp_path, text)
    facts = PyprojectScanner().scan(source, ctx)
    assert facts.role is Role.MANIFEST
    declared = {(d.spec.name, d.line, d.group): d.spec for d in facts.declared}
    assert declared[("pandas", 9, "")].specifier == "<3,>=2.1"
    assert declared[("torch", 11, "")].kind is SpecKind.EXACT
    assert declared[("mlflow", 12, "")].extras == ("extras",)
    assert declared[("xgboost", 14, "")].marker == 'sys_platform == "linux"'
    assert declared[("xgboost", 15, "")].marker == 'sys_platform == "darwin"'
    assert declared[("acme-metrics", 18, "")].immutable_ref
    assert declared[("local-plugins", 20, "")].kind is SpecKind.PATH
    assert declared[("pytest", 25, "dev")].specifier == "<9,>=8.0"
    assert declared[("black", 26, "dev")].kind is SpecKind.UNPINNED
    assert "python" not in {d.spec.name for d in facts.declared}


def test_ranges_are_fine_in_a_manifest_but_mutable_sources_are_not(audit: Audit) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    found = audit(
        {
            "pdm.lock": '[metadata]\nlock_version = "4.5.0"\n',
            "pyproject.toml": f"""
            [project]
            name = "svc"
            dependencies = [
                "numpy",
                "pandas>=2,<3",
                "lib @ git+https://github.com/acme/lib@{commit}",
                "vendored @ file:./vendor/vendored",
            ]

            [tool.pdm.dev-dependencies]
            test = ["pytest>=8", "-e file:///${{PROJECT_ROOT}}/../sibling#egg=sibling"]
            local = ["-e file:///${{PROJECT_ROOT}}/packages/inner#egg=inner"]
            """,
        }
    )
    assert hits(found) == [("RP106", "pyproject.toml", 11)]


def test_invalid_entries_are_rp001_and_the_scan_goes_on(audit: Audit) -> None:
    found = audit(
        {
            "pyproject.toml": """
            [project]
            name = "svc"
            dependencies = [
                "numpy===",
                42,
                "lib @ git+https://github.com/acme/lib@main",
            ]

            [dependency-groups]
            dev = [{include-group = "missing"}, "pytest>=8"]
            """
        }
    )
    assert hits(found) == [
        ("RP201", "pyproject.toml", 3),
        ("RP001", "pyproject.toml", 4),
        ("RP001", "pyproject.toml", 5),
        ("RP104", "pyproject.toml", 6),
        ("RP001", "pyproject.toml", 10),
    ]


def test_poetry_constraints_become_pep440() -> None:
    assert poetry_constraint("^1.2.3") == (">=1.2.3,<2", True)
    assert poetry_constraint("^0.2.3") == (">=0.2.3,<0.3", True)
    assert poetry_constraint("^0.0.3") == (">=0.0.3,<0.0.4", True)
    assert poetry_constraint("^0") == (">=0,<1", True)
    assert poetry_constraint("~1.2.3") == (">=1.2.3,<1.3", True)
    assert poetry_constraint("~1") == (">=1,<2", True)
    assert poetry_constraint("1.2.3") == ("==1.2.3", True)
    assert poetry_constraint(">= 1.2, < 2.0") == (">=1.2,<2.0", True)
    assert poetry_constraint(">=1.2 <2") == (">=1.2,<2", True)
    assert poetry_constraint("*") == ("", True)
    assert poetry_constraint("^1 || ^2") == ("^1 || ^2", False)
    with pytest.raises(ValueError, match="invalid"):
        poetry_constraint("^^1.0")


# --- RP201 ---------------------------------------------------------------------------------


_APP = """
[project]
name = "svc"
version = "1.0"
dependencies = [
    "numpy>=1.26",
]
"""


def test_rp201_for_an_application_without_a_lock(audit: Audit) -> None:
    found = audit({"svc/pyproject.toml": _APP})
    assert hits(found) == [("RP201", "svc/pyproject.toml", 4)]
    assert found[0].message == (
        "svc/pyproject.toml declares dependencies but no lock file records their resolution"
    )


def test_rp201_for_poetry_dependencies_but_not_for_python_alone(audit: Audit) -> None:
    found = audit(
        {
            "a/pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\nnumpy = "^1.26"\n',
            "b/pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\n',
            "c/pyproject.toml": '[dependency-groups]\ndev = ["pytest>=8"]\n',
        }
    )
    assert hits(found) == [("RP201", "a/pyproject.toml", 1)]


@pytest.mark.parametrize(
    "lock", ["uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "pylock.serving.toml"]
)
def test_no_rp201_with_a_lock_beside_it(audit: Audit, lock: str) -> None:
    found = audit({"svc/pyproject.toml": _APP, f"svc/{lock}": 'lock-version = "1.0"\n'})
    assert "RP201" not in {f.rule for f in found}


def test_no_rp201_for_the_library_profile(audit: Audit) -> None:
    text = _APP + '\n[tool.repro]\nprofile = "library"\n'
    assert hits(audit({"pyproject.toml": text})) == []


def test_no_rp201_for_a_uv_workspace_member() -> None:
    found = audit_tree(LOCKS / "uv-workspace")
    assert "RP201" not in {f.rule for f in found}


def test_no_rp201_when_pip_compile_output_names_the_pyproject(tmp_path: Path) -> None:
    digest = "0" * 64
    write_tree(
        tmp_path,
        {
            "pyproject.toml": _APP,
            "requirements.txt": f"""
            #
            # This file is autogenerated by pip-compile with Python 3.11
            # by the following command:
            #
            #    pip-compile --generate-hashes pyproject.toml
            #
            numpy==1.26.4 \\
                --hash=sha256:{digest}
                # via svc (pyproject.toml)
            """,
        },
    )
    result = run_audit(tmp_path, load_config(tmp_path))
    assert result.facts["requirements.txt"].role is Role.LOCK
    assert "pyproject.toml" in result.facts["requirements.txt"].compiled_from
    assert hits(list(result.report.findings)) == []


# --- sync hashes ---------------------------------------------------------------------------


def _lock_hash(path: Path, key: str) -> str:
    metadata = tomllib.loads(path.read_text())["metadata"]
    value = metadata[key]
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize("fixture", ["poetry", "poetry-1.8"])
def test_poetry_content_hash_matches_real_locks(fixture: str) -> None:
    data = tomllib.loads((LOCKS / fixture / "pyproject.toml").read_text())
    assert poetry_content_hash(data) == _lock_hash(LOCKS / fixture / "poetry.lock", "content-hash")


@pytest.mark.parametrize("fixture", ["pdm", "pdm-2.12"])
def test_pdm_content_hash_matches_real_locks(fixture: str) -> None:
    data = tomllib.loads((LOCKS / fixture / "pyproject.toml").read_text())
    algo, _, recorded = _lock_hash(LOCKS / fixture / "pdm.lock", "content_hash").partition(":")
    candidates = pdm_content_hashes(data)
    assert algo == "sha256"
    assert recorded in candidates
    # PDM 2.29 hashes with today's algorithm, which comes first; 2.12 with the older one
    assert (candidates[0] == recorded) is (fixture == "pdm")


def test_what_the_lock_must_record_is_in_the_facts(tmp_path: Path) -> None:
    text = (LOCKS / "poetry" / "pyproject.toml").read_text()
    source, ctx = _scan(tmp_path, text)
    ctx = replace(ctx, files=frozenset({"pyproject.toml", "poetry.lock", "pdm.lock"}))
    manifest = PyprojectScanner().scan(source, ctx).manifest
    assert manifest is not None
    assert manifest.poetry_hash == _lock_hash(LOCKS / "poetry" / "poetry.lock", "content-hash")
    assert len(manifest.pdm_hashes) == 4
    assert manifest.lock_command == "poetry lock"


# --- less work, the same facts ----------------------------------------------------------------

REPO_ROOT = FIXTURES.parent
PYPROJECTS = [
    *sorted(p for root in (FIXTURES, REPO_ROOT / "tests") for p in root.rglob("pyproject.toml")),
    REPO_ROOT / "pyproject.toml",
]


@pytest.mark.parametrize("path", PYPROJECTS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_the_line_reader_gives_the_facts_tomllib_gives(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(REPO_ROOT).as_posix()
    source = SourceFile(path=rel, abspath=path, text=text)
    ctx = ScanContext(root=REPO_ROOT, config=Config(), files=frozenset({rel}))
    fast = PyprojectScanner().scan(source, ctx)
    with monkeypatch.context() as patch:
        patch.setattr(locktoml, "read_lines", lambda _text, **_: None)
        assert PyprojectScanner().scan(source, ctx) == fast


def test_a_plain_pyproject_is_scanned_without_tomllib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_text: str) -> None:
        raise AssertionError("tomllib was asked")

    monkeypatch.setattr(tomllib, "loads", refuse)
    text = (FIXTURES / "pyproject" / "ml-service" / "pyproject.toml").read_text(encoding="utf-8")
    source, ctx = _scan(tmp_path, text)
    facts = PyprojectScanner().scan(source, ctx)
    assert facts.role is Role.MANIFEST
    assert [d.line for d in facts.declared][:4] == [11, 12, 13, 14]


MANIFEST_SPECS = [
    "numpy",
    "numpy>=1.26",
    "numpy==1.26.4",
    "numpy===1.26.4",
    "numpy~=1.26",
    "numpy!=1.3",
    "numpy==1.*",
    "numpy[extra]>=1 ; python_version < '3.12'",
    "pkg @ git+https://example.com/p.git@main",
    "pkg @ git+https://example.com/p.git@" + "a" * 40,
    "pkg @ git+https://example.com/p.git",
    "pkg @ https://example.com/p-1.0-py3-none-any.whl",
    "pkg @ https://example.com/p-1.0-py3-none-any.whl#sha256=" + "0" * 64,
    "pkg @ file:///elsewhere/p",
    "./inside",
    "../outside",
]


@pytest.mark.parametrize("text", MANIFEST_SPECS)
@pytest.mark.parametrize(
    ("require_hashes", "partial"), [(True, False), (False, False), (True, True)]
)
def test_only_the_kinds_judged_in_a_manifest_can_have_findings_there(
    text: str, require_hashes: bool, partial: bool, tmp_path: Path
) -> None:
    # judge_manifest returns early for the other kinds: the general path finds nothing there.
    spec = classify(text)
    ctx = JudgeContext(
        root=tmp_path / "repo",
        base_dir=tmp_path / "repo",
        require_hashes=require_hashes,
        partial_hashing=partial,
    )
    at = Location(path="pyproject.toml", line=1, column=1)
    general = [f for f in judge_concrete(spec, at, ctx) if f.rule in _MANIFEST_RULES]
    assert judge_manifest(spec, at, ctx) == general
    if spec.kind not in _JUDGED_IN_A_MANIFEST:
        assert general == []


def test_the_kinds_judged_in_a_manifest_do_have_findings(tmp_path: Path) -> None:
    ctx = JudgeContext(root=tmp_path / "repo", base_dir=tmp_path / "repo", require_hashes=True)
    at = Location(path="pyproject.toml", line=1, column=1)
    rules = [
        [f.rule for f in judge_manifest(classify(text), at, ctx)]
        for text in MANIFEST_SPECS
        if classify(text).kind in _JUDGED_IN_A_MANIFEST
    ]
    assert rules == [["RP104"], [], ["RP104"], ["RP105"], [], ["RP106"], [], ["RP106"]]


GROUPS = {
    "project": {"name": "p", "dependencies": ["a>=1"], "requires-python": ">=3.11"},
    "dependency-groups": {"Dev": ["pytest"], "lint": [{"include-group": "Dev"}]},
    "tool": {"pdm": {"dev-dependencies": {"dev": ["ruff"]}}},
}


@pytest.mark.parametrize(
    "data",
    [*(tomllib.loads(p.read_text(encoding="utf-8")) for p in PYPROJECTS), GROUPS],
)
def test_each_content_hash_is_computed_once_but_the_same(data: dict[str, object]) -> None:
    with_groups = poetry_content_hash(data)
    without = poetry_content_hash(data, with_dependency_groups=False)
    assert poetry_content_hashes(data) == (with_groups, without)
    assert pdm_content_hashes(data) == _pdm_every_era(data)


def test_with_dependency_groups_the_two_poetry_hashes_differ() -> None:
    with_groups, without = poetry_content_hashes(GROUPS)
    assert with_groups is not None
    assert without is not None
    assert with_groups != without
    assert len(pdm_content_hashes(GROUPS)) == 4


def _pdm_every_era(data: dict[str, object]) -> tuple[str, ...]:
    """PDM's four candidate hashes, each dumped and hashed: what content_hashes must give."""
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    pdm = tool.get("pdm") if isinstance(tool, dict) and isinstance(tool.get("pdm"), dict) else {}
    assert isinstance(project, dict)
    assert isinstance(pdm, dict)
    if pdm.get("workspace"):
        return ()
    raw_dev = pdm.get("dev-dependencies", {})
    merged: dict[str, list[object]] = {}
    groups = data.get("dependency-groups", {})
    for name, deps in (groups if isinstance(groups, dict) else {}).items():
        merged[_group(name)] = list(deps) if isinstance(deps, list) else []
    for name, deps in (raw_dev if isinstance(raw_dev, dict) else {}).items():
        merged.setdefault(_group(name), []).extend(deps if isinstance(deps, list) else [])
    resolution = pdm.get("resolution", {})
    resolution = resolution if isinstance(resolution, dict) else {}
    overrides = pdm["overrides"] if "overrides" in pdm else resolution.get("overrides", {})
    base = {
        "sources": pdm.get("source", []),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "requires-python": project.get("requires-python", ""),
    }
    out: list[str] = []
    for dev in (merged, raw_dev):
        for extra in ({"resolution": resolution}, {"overrides": overrides}):
            digest = sha256_json({**base, "dev-dependencies": dev, **extra})
            if digest is not None and digest not in out:
                out.append(digest)
    return tuple(out)


@pytest.mark.parametrize(
    ("beside", "poetry_hashed", "pdm_hashed"),
    [((), False, False), (("poetry.lock",), True, False), (("pdm.lock",), False, True)],
)
def test_a_content_hash_is_computed_only_for_the_lock_beside(
    tmp_path: Path, beside: tuple[str, ...], poetry_hashed: bool, pdm_hashed: bool
) -> None:
    text = (LOCKS / "poetry" / "pyproject.toml").read_text()
    data = tomllib.loads(text)
    source, ctx = _scan(tmp_path, text, "app/pyproject.toml")
    files = {"app/pyproject.toml", *(f"app/{name}" for name in beside), "poetry.lock", "pdm.lock"}
    manifest = PyprojectScanner().scan(source, replace(ctx, files=frozenset(files))).manifest
    assert manifest is not None
    with_groups, without = poetry_content_hashes(data)
    expected = (with_groups, without) if poetry_hashed else ("", "")
    assert (manifest.poetry_hash, manifest.poetry_hash_pre_2_3) == expected
    assert manifest.pdm_hashes == (pdm_content_hashes(data) if pdm_hashed else ())
    assert manifest.uv == uv_project_inputs(data)  # whatever lies beside: a workspace's lock


def test_judge_manifest_does_not_judge_a_range_or_a_bare_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(*_: object) -> list[Finding]:
        raise AssertionError("judged")

    monkeypatch.setattr("reprolock.specs.judge_concrete", refuse)
    ctx = JudgeContext(root=tmp_path, base_dir=tmp_path, require_hashes=True)
    at = Location(path="pyproject.toml", line=1, column=1)
    assert judge_manifest(classify("numpy>=1.26"), at, ctx) == []
    assert judge_manifest(classify("numpy"), at, ctx) == []
    with pytest.raises(AssertionError, match="judged"):
        judge_manifest(classify("pkg @ https://example.com/pkg-1.0.tar.gz"), at, ctx)
