"""conda: environment files (manifest or concrete), conda-lock.yml, explicit locks, and rules."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit import conda
from reprolock.audit.conda import CondaScanner, conda_version_admits, parse_conda_spec
from reprolock.audit.engine import AuditOptions, run_audit
from reprolock.audit.interface import Role
from reprolock.config import load_config
from reprolock.model import Finding
from reprolock.specs import SpecKind
from tests.conftest import FIXTURES, audit_tree, hits, write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

_COMMIT = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


def _env(*deps: str, channels: tuple[str, ...] = ("conda-forge",)) -> str:
    lines = ["name: t"]
    if channels:
        lines += ["channels:", *(f"  - {c}" for c in channels)]
    lines += ["dependencies:", *(f"  - {d}" for d in deps)]
    return "\n".join(lines) + "\n"


def _copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / "conda" / name, root)
    return root


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


# --- conda MatchSpec ---------------------------------------------------------------------

# Exactness checked against conda's own MatchSpec (the copy vendored by conda-lock 4.0.3):
# `MatchSpec(s).get_exact_value("version")` is set for exactly the EXACT rows.
_SPECS = [
    ("numpy", SpecKind.UNPINNED, None),
    ("numpy=*", SpecKind.UNPINNED, "*"),
    ("numpy>=1.2", SpecKind.RANGE, ">=1.2"),
    ("numpy >= 1.2, <2", SpecKind.RANGE, ">=1.2,<2"),
    ("numpy=1.26", SpecKind.RANGE, "1.26*"),
    ("numpy=1.26.4", SpecKind.RANGE, "1.26.4*"),
    ("numpy 1.26.*", SpecKind.RANGE, "1.26.*"),
    ("numpy==1.26.*", SpecKind.RANGE, "1.26.*"),
    ("numpy=1.11.1|1.11.3", SpecKind.RANGE, "=1.11.1|1.11.3"),
    ("numpy[version='>=1.2']", SpecKind.RANGE, ">=1.2"),
    ("numpy==1.26.4", SpecKind.EXACT, "1.26.4"),
    ("numpy ==1.26.4", SpecKind.EXACT, "1.26.4"),
    ("numpy 1.26.4", SpecKind.EXACT, "1.26.4"),
    ("numpy 1.26.4 py311_0", SpecKind.EXACT, "1.26.4"),
    ("numpy=1.26.4=py311h64a7726_0", SpecKind.EXACT, "1.26.4"),
    ("numpy=1.26.4=*mkl*", SpecKind.EXACT, "1.26.4"),
    ("conda-forge::numpy=1.26.4=h123", SpecKind.EXACT, "1.26.4"),
]


@pytest.mark.parametrize(("text", "kind", "version"), _SPECS)
def test_parse_conda_spec_follows_conda(text: str, kind: SpecKind, version: str | None) -> None:
    spec = parse_conda_spec(text)
    assert (spec.name, spec.kind, spec.version) == ("numpy", kind, version)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.sampled_from([text for text, _, _ in _SPECS]),
        st.text(st.sampled_from("numpy=<>!~*|,.[]'1 26:_-"), max_size=24),
        st.text(max_size=200),
    )
)
def test_a_remembered_spec_is_the_spec_parsed_again(text: str) -> None:
    try:
        expected: object = parse_conda_spec(text)
    except ValueError as exc:
        expected = str(exc)
    for _ in range(2):  # the first call fills the cache, the second reads it
        try:
            got: object = conda._parse_listed(text)
        except ValueError as exc:
            got = str(exc)
        assert got == expected


def test_an_environment_file_parses_each_spec_once(tmp_path: Path) -> None:
    conda._parse_remembered.cache_clear()
    root = write_tree(tmp_path, {"a/environment.yml": _env("numpy=1.26.4", "pip=24.0")})
    write_tree(tmp_path, {"b/environment.yml": _env("numpy=1.26.4", "pip=24.0")})
    audit_tree(root, AuditOptions(jobs=1))  # in this process, where the cache is
    info = conda._parse_remembered.cache_info()
    assert (info.misses, info.hits) == (2, 2)


def test_parse_conda_spec_parts() -> None:
    spec = parse_conda_spec("pytorch::pytorch=2.1.0=py3.11_cuda12.1_0")
    assert (spec.channel, spec.name, spec.build, spec.pin_name) == (
        "pytorch",
        "pytorch",
        "py3.11_cuda12.1_0",
        "torch",
    )
    with pytest.raises(ValueError, match="not a conda package spec"):
        parse_conda_spec("numpy 1.2 py_0 extra")


@pytest.mark.parametrize(
    ("spec", "version", "admitted"),
    [
        ("1.26*", "1.26.4", True),
        ("1.26*", "1.27.0", False),
        ("1.2*", "1.20.0", False),
        (">=1.2,<2", "1.26.4", True),
        (">=2", "1.26.4", False),
        ("=1.11.1|1.11.3", "1.11.3", True),
        ("=1.11.1|1.11.3", "1.12", False),
        ("1.26.4", "1.26.4", True),
        ("!=1.26.4", "1.26.4", False),
        ("~=1.26.0", "1.26.4", True),
        (">=1", "1.1.1w", None),
    ],
)
def test_conda_version_admits(spec: str, version: str, admitted: bool | None) -> None:
    assert conda_version_admits(spec, version) is admitted


# --- RP701 (environment file without a lock) -----------------------------------------------


@pytest.mark.parametrize(
    ("dep", "message", "fix"),
    [
        ("numpy", "numpy is not pinned", None),
        ("numpy>=1.2", "numpy>=1.2 is a range, not an exact pin", None),
        ("numpy=1.26", "numpy=1.26 is a fuzzy match in conda (1.26.*), not an exact pin", None),
        (
            "numpy=1.26.4",
            "numpy=1.26.4 is a fuzzy match in conda (1.26.4.*), not an exact pin",
            "numpy==1.26.4",
        ),
        ("numpy 1.26.*", "numpy 1.26.* is a wildcard, not an exact pin", None),
        (
            "python=3.11",
            "python=3.11 is a fuzzy match in conda: any Python 3.11.* can be installed",
            None,
        ),
        (
            "conda-forge::numpy=1.26.4",
            "conda-forge::numpy=1.26.4 is a fuzzy match in conda (1.26.4.*), not an exact pin",
            "conda-forge::numpy==1.26.4",
        ),
    ],
)
def test_rp701_inexact_conda_spec(audit: Audit, dep: str, message: str, fix: str | None) -> None:
    found = audit({"env/environment.yml": _env(dep)})
    assert hits(found) == [("RP701", "env/environment.yml", 5)]
    assert (found[0].message, found[0].fix) == (message, fix)
    assert found[0].subject in {"numpy", "python"}


@pytest.mark.parametrize(
    "dep",
    [
        "numpy==1.26.4",
        "numpy=1.26.4=py311h64a7726_0",
        "numpy 1.26.4 py311h64a7726_0",
        "conda-forge::numpy=1.26.4=h123",
        "__glibc>=2.17",
    ],
)
def test_rp701_not_for_exact_specs(audit: Audit, dep: str) -> None:
    assert audit({"environment.yml": _env(dep)}) == []


def test_concrete_environment_pins_and_lines(tmp_path: Path) -> None:
    text = _env("python==3.11.9", "pytorch::pytorch=2.1.0=py3.11_0", "scipy", "pip:")
    text += "      - requests==2.31.0\n"
    write_tree(tmp_path, {"environment.yml": text})
    facts = run_audit(tmp_path, load_config(tmp_path)).facts["environment.yml"]
    assert facts.role is Role.CONCRETE
    assert [(p.name, p.version, p.line, p.hashed) for p in facts.pins] == [
        ("python", "3.11.9", 5, False),
        ("torch", "2.1.0", 6, False),
        ("requests", "2.31.0", 9, False),
    ]


def test_environment_with_a_lock_beside_is_a_manifest(audit: Audit) -> None:
    found = audit(
        {
            "environment.yml": _env("numpy>=1.26", "python=3.11"),
            "conda-linux-64.lock": "@EXPLICIT\n",
        }
    )
    assert [h for h in hits(found) if h[0] == "RP701"] == []


# --- pip: entries ----------------------------------------------------------------------------


def test_pip_entries_in_a_concrete_environment(audit: Audit) -> None:
    text = _env("python==3.11.9", "pip==24.0", "pip:")
    text += "\n".join(
        f"      - {line}"
        for line in (
            "requests==2.31.0",
            "shap>=0.44",
            "rich",
            f"mylib @ git+https://github.com/org/mylib.git@{_COMMIT}",
            "other @ git+https://github.com/org/other.git@main",
            "-e ../outside",
            "--extra-index-url https://pypi.internal.example/simple",
            "--trusted-host pypi.internal.example",
            "--index-url https://pypi.org/simple",
            "-r requirements-extra.txt",
        )
    )
    found = audit({"environment.yml": text + "\n"})
    assert hits(found) == [
        ("RP102", "environment.yml", 9),
        ("RP101", "environment.yml", 10),
        ("RP104", "environment.yml", 12),
        ("RP106", "environment.yml", 13),
        ("RP107", "environment.yml", 14),
        ("RP107", "environment.yml", 15),
    ]
    rp107 = [f.message for f in found if f.rule == "RP107"]
    assert rp107 == [
        "--extra-index-url https://pypi.internal.example/simple "
        "lets a public package shadow a private one",
        "--trusted-host pypi.internal.example turns off TLS verification for that host",
    ]


def test_pip_requirement_file_is_an_include(tmp_path: Path) -> None:
    text = _env("pip==24.0", "pip:") + "      - -r ../reqs/extra.txt\n      - -r /abs.txt\n"
    write_tree(tmp_path, {"env/environment.yml": text})
    facts = run_audit(tmp_path, load_config(tmp_path)).facts["env/environment.yml"]
    assert [(i.target, i.line, i.constraint) for i in facts.includes] == [
        ("reqs/extra.txt", 7, False)
    ]


def test_pip_entries_in_a_manifest_only_report_immutability(audit: Audit) -> None:
    text = _env("numpy>=1.26", "pip:")
    text += "      - shap>=0.44\n      - --extra-index-url https://x.example/simple\n"
    text += "      - other @ git+https://github.com/org/other.git@main\n"
    found = audit({"environment.yml": text, "conda-lock.yml": _LOCK_MINIMAL})
    assert [h for h in hits(found) if h[0] != "RP202"] == [("RP104", "environment.yml", 9)]


# --- RP703 -----------------------------------------------------------------------------------


def test_rp703_no_channels(audit: Audit) -> None:
    found = audit({"environment.yml": _env("numpy==1.26.4", channels=())})
    assert hits(found) == [("RP703", "environment.yml", 1)]
    assert found[0].message == "no channels: the user's .condarc decides where packages come from"


def test_rp703_defaults_mixed_with_conda_forge(audit: Audit) -> None:
    found = audit({"environment.yml": _env("numpy==1.26.4", channels=("defaults", "conda-forge"))})
    assert hits(found) == [("RP703", "environment.yml", 2)]
    assert found[0].message == (
        "channels mix defaults with conda-forge: their builds are not binary-compatible"
    )


def test_rp703_channel_prefix_mixes_too(audit: Audit) -> None:
    found = audit({"environment.yml": _env("conda-forge::numpy==1.26.4", channels=("defaults",))})
    assert hits(found) == [("RP703", "environment.yml", 2)]


@pytest.mark.parametrize(
    "channels",
    [
        ("conda-forge", "nodefaults"),
        ("defaults",),
        ("pytorch", "nvidia", "defaults"),
        ("https://repo.anaconda.com/pkgs/main",),
        ("conda-forge", "bioconda"),
    ],
)
def test_rp703_not_for_one_channel_family(audit: Audit, channels: tuple[str, ...]) -> None:
    assert audit({"environment.yml": _env("numpy==1.26.4", channels=channels)}) == []


# --- which files are read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "claimed"),
    [
        ("environment.yml", True),
        ("envs/environment-gpu.yaml", True),
        ("conda.yaml", True),
        ("conda-env.yml", True),
        ("conda-lock.yml", True),
        ("train.conda-lock.yml", True),
        ("conda-linux-64.lock", True),
        ("env.yml", True),
        (".github/workflows/conda.yml", False),
        ("recipe/conda_build_config.yaml", False),
        ("poetry.lock", False),
        ("config.yml", False),
    ],
)
def test_claims(relpath: str, claimed: bool) -> None:
    assert CondaScanner().claims(relpath, relpath.rsplit("/", 1)[-1]) is claimed


def test_generic_env_yml_is_read_only_when_it_is_a_conda_environment(audit: Audit) -> None:
    found = audit(
        {
            "a/env.yml": "database:\n  host: localhost\n",
            "b/env.yml": "key: [unclosed\n",
            "c/env.yaml": _env("numpy"),
        }
    )
    assert hits(found) == [("RP701", "c/env.yaml", 5)]


def test_broken_yaml_with_tabs_is_rp001_at_its_line(audit: Audit) -> None:
    found = audit(
        {"environment.yml": "name: x\nchannels:\n  - conda-forge\ndependencies:\n\t- numpy\n"}
    )
    assert hits(found) == [("RP001", "environment.yml", 5)]
    assert found[0].message.startswith("conda: invalid YAML")


def test_bad_dependency_entries_are_rp001_and_the_rest_is_judged(audit: Audit) -> None:
    text = _env("numpy", "[nested, list]", "'a b c d'", "scipy==1.13.0")
    found = audit({"environment.yml": text})
    assert hits(found) == [
        ("RP701", "environment.yml", 5),
        ("RP001", "environment.yml", 6),
        ("RP001", "environment.yml", 7),
    ]


# --- conda-lock.yml ----------------------------------------------------------------------------

_LOCK_MINIMAL = """\
version: 1
metadata:
  channels:
  - url: conda-forge
    used_env_vars: []
  platforms:
  - linux-64
  sources:
  - environment.yml
package:
- name: numpy
  version: 1.26.4
  manager: conda
  platform: linux-64
  url: https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda
  hash:
    md5: 067d49b21e69ad93206cc89fd2493740
    sha256: 7c07234c6bc1e5aec2ff1837951e5dd9d259a5d30dc61d42f371a7fe6291e81a
  category: main
  optional: false
"""


def test_real_shaped_conda_lock_is_in_sync_and_clean() -> None:
    root = FIXTURES / "conda" / "locked"
    assert audit_tree(root) == []
    facts = run_audit(root, load_config(root)).facts
    lock = facts["conda-lock.yml"]
    assert (lock.role, lock.compiled_from) == (Role.LOCK, ("environment.yml",))
    # Deduplicated across platforms: one pin per (name, version), at its first entry.
    assert [(p.name, p.version, p.line, p.hashed) for p in lock.pins] == [
        ("numpy", "1.26.4", 27, True),
        ("pip", "24.0", 57, True),
        ("python", "3.11.9", 85, True),
        ("scikit-learn", "1.4.2", 112, True),
        ("requests", "2.31.0", 142, True),
    ]
    assert facts["environment.yml"].role is Role.MANIFEST


def test_conda_lock_entry_without_hash(audit: Audit) -> None:
    lock = _LOCK_MINIMAL + (
        "- name: tqdm\n"
        "  version: 4.66.4\n"
        "  manager: pip\n"
        "  platform: linux-64\n"
        "  url: https://files.pythonhosted.org/packages/tqdm-4.66.4-py3-none-any.whl\n"
        "  hash: {}\n"
        "- name: mylib\n"
        "  version: 0.1.0\n"
        "  manager: pip\n"
        "  platform: linux-64\n"
        "  url: git+https://github.com/org/mylib.git@main\n"
        "  hash: {}\n"
    )
    found = audit({"conda-lock.yml": lock})
    assert hits(found) == [("RP203", "conda-lock.yml", 21), ("RP104", "conda-lock.yml", 27)]
    assert found[0].message == "tqdm 4.66.4 (linux-64) has no hash in conda-lock.yml"


def test_conda_lock_without_package_list_is_rp001(audit: Audit) -> None:
    found = audit({"conda-lock.yml": "version: 1\nmetadata: {}\npackage: nope\n"})
    assert hits(found) == [("RP001", "conda-lock.yml", 3)]


def test_a_message_quotes_at_most_the_start_of_a_hostile_conda_lock_line(audit: Audit) -> None:
    junk = "https://user:" + "s" * 5000 + "@example.org/not-a-package"
    found = audit(
        {
            "conda-linux-64.lock": f"@EXPLICIT\n{junk}\n",
            "conda-lock.yml": _LOCK_MINIMAL
            + f"- name: -{'n' * 5000}\n  version: 1.0\n  manager: conda\n  platform: linux-64\n",
        }
    )
    assert [(f.location.path, f.location.line, f.message) for f in found] == [
        ("conda-linux-64.lock", 2, f"not a package URL: {junk[:40]!r}..."),
        ("conda-lock.yml", 21, f"invalid package name {'-' + 'n' * 59!r}... (5001 characters)"),
    ]


# --- RP202 (semantic lock sync) ----------------------------------------------------------------


def test_rp202_when_a_spec_is_not_satisfied_by_the_lock(tmp_path: Path) -> None:
    root = _copy("locked", tmp_path)
    _replace(root / "environment.yml", "numpy>=1.26,<2", "numpy>=2")
    found = audit_tree(root)
    assert hits(found) == [("RP202", "environment.yml", 7)]
    assert found[0].message == (
        "numpy>=2 from environment.yml is not satisfied by conda-lock.yml (1.26.4)"
    )


def test_rp202_when_a_dependency_is_missing_from_the_lock(tmp_path: Path) -> None:
    root = _copy("locked", tmp_path)
    _replace(root / "environment.yml", "      - requests==2.31.0\n", "      - rich==13.7.1\n")
    found = audit_tree(root)
    assert hits(found) == [("RP202", "environment.yml", 11)]
    assert found[0].message == "rich==13.7.1 from environment.yml is missing from conda-lock.yml"


def test_rp202_when_channels_changed(tmp_path: Path) -> None:
    root = _copy("locked", tmp_path)
    _replace(root / "environment.yml", "  - conda-forge\n", "  - conda-forge\n  - pytorch\n")
    assert hits(audit_tree(root)) == [("RP202", "environment.yml", 2)]


def test_rp202_for_an_explicit_lock_beside_the_environment(tmp_path: Path) -> None:
    root = _copy("explicit", tmp_path)
    assert audit_tree(root) == []
    _replace(root / "environment.yml", "scikit-learn=1.4", "scikit-learn=1.5")
    assert hits(audit_tree(root)) == [("RP202", "environment.yml", 8)]


# --- explicit locks ----------------------------------------------------------------------------


def test_explicit_lock_pins_and_rules(tmp_path: Path) -> None:
    text = (
        "# platform: linux-64\n"
        "@EXPLICIT\n"
        "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda"
        "#067d49b21e69ad93206cc89fd2493740\n"
        "https://conda.anaconda.org/conda-forge/noarch/pip-24.0-pyhd8ed1ab_0.conda\n"
        "numpy=1.26\n"
        "# pip requests @ https://files.pythonhosted.org/p/requests-2.31.0-py3-none-any.whl\n"
    )
    write_tree(tmp_path, {"conda-linux-64.lock": text})
    result = run_audit(tmp_path, load_config(tmp_path))
    assert hits(list(result.report.findings)) == [
        ("RP203", "conda-linux-64.lock", 4),
        ("RP001", "conda-linux-64.lock", 5),
        ("RP203", "conda-linux-64.lock", 6),
    ]
    facts = result.facts["conda-linux-64.lock"]
    assert [(p.name, p.version, p.line, p.hashed) for p in facts.pins] == [
        ("numpy", "1.26.4", 3, True),
        ("pip", "24.0", 4, False),
        ("requests", "2.31.0", 6, False),
    ]


# --- never crash ---------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "numpy", "=", "==", ">=1,<2", "1.26.4", " ", "*", "|", "::", "[version='1']", "pip",
        "git+https://h/r@main", "-r ", "--extra-index-url ", "http://[", "-e ", "__glibc", "#",
        "conda-forge", "py311_0", "\\", "'", '"', "~=", "!",
    ]
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conda=st.lists(st.lists(_PIECES, max_size=8).map("".join), max_size=6),
    pip=st.lists(st.lists(_PIECES, max_size=8).map("".join), max_size=4),
    lock_url=st.lists(_PIECES, max_size=8).map("".join),
)
def test_random_specs_never_crash(conda: list[str], pip: list[str], lock_url: str) -> None:
    root = Path(tempfile.mkdtemp())
    env = {"channels": ["defaults", lock_url], "dependencies": [*conda, {"pip": pip}]}
    lock = {
        "version": 1,
        "metadata": {"sources": ["environment.yml", lock_url], "channels": [{"url": lock_url}]},
        "package": [{"name": "numpy", "version": lock_url, "url": lock_url, "hash": {}}],
    }
    files: dict[str, str | bytes] = {
        "environment.yml": yaml.safe_dump(env),
        "conda-lock.yml": yaml.safe_dump(lock),
        "conda-linux-64.lock": "@EXPLICIT\n" + "\n".join([lock_url, *conda, *pip]) + "\n",
        "x/environment.yml": yaml.safe_dump(env),
        "x/conda-lock.yml": yaml.safe_dump({**lock, "metadata": {}}),
    }
    try:
        write_tree(root, files)
        for f in audit_tree(root):
            assert f.location.line >= 1
    finally:
        shutil.rmtree(root)


def test_dependencies_that_are_not_a_list(audit: Audit) -> None:
    found = audit(
        {
            "a/environment.yml": "channels: [conda-forge]\ndependencies: numpy\n",
            "b/environment.yml": "channels: [conda-forge]\ndependencies:\n",
        }
    )
    assert hits(found) == [("RP001", "a/environment.yml", 2)]


def test_rp107_does_not_copy_credentials(audit: Audit) -> None:
    text = _env("pip==24.0", "pip:") + "      - --extra-index-url https://u:s3cret@x.example/s\n"
    found = audit({"environment.yml": text})
    assert hits(found) == [("RP107", "environment.yml", 7)]
    assert "s3cret" not in found[0].message + found[0].subject
