"""The shared spec classifier and the one judgement of what "pinned" means."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprolock.formats.lock import LockEntry, Source
from reprolock.model import Location, Severity
from reprolock.specs import (
    JudgeContext,
    SpecError,
    SpecKind,
    classify,
    is_within,
    judge_concrete,
    judge_locked,
    local_path,
    locked_sound,
    looks_like_url_or_path,
    oversized_number,
    sound,
    vcs_revision,
)

COMMIT = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
SHA256 = "a" * 64


@pytest.mark.parametrize(
    ("text", "kind", "name", "specifier", "version"),
    [
        ("numpy", SpecKind.UNPINNED, "numpy", "", None),
        ("numpy ; sys_platform == 'linux'", SpecKind.UNPINNED, "numpy", "", None),
        ("NumPy==1.26.4", SpecKind.EXACT, "numpy", "==1.26.4", "1.26.4"),
        ("numpy===1.26.4", SpecKind.EXACT, "numpy", "===1.26.4", "1.26.4"),
        ("torch==2.3.0+cu121", SpecKind.EXACT, "torch", "==2.3.0+cu121", "2.3.0+cu121"),
        ("numpy>=1,==1.26.4", SpecKind.EXACT, "numpy", "==1.26.4,>=1", "1.26.4"),
        ("Scikit_Learn[alldeps]==1.3.2", SpecKind.EXACT, "scikit-learn", "==1.3.2", "1.3.2"),
        ("numpy==1.26.*", SpecKind.RANGE, "numpy", "==1.26.*", None),
        ("numpy>=1.2", SpecKind.RANGE, "numpy", ">=1.2", None),
        ("numpy~=1.2", SpecKind.RANGE, "numpy", "~=1.2", None),
        ("numpy<2", SpecKind.RANGE, "numpy", "<2", None),
        ("numpy!=1.0", SpecKind.RANGE, "numpy", "!=1.0", None),
        ("numpy (>=1.0)", SpecKind.RANGE, "numpy", ">=1.0", None),
        ("numpy==${NUMPY_VERSION}", SpecKind.RANGE, "numpy", "==${NUMPY_VERSION}", None),
        ("numpy[x]==${V}", SpecKind.RANGE, "numpy", "==${V}", None),
    ],
)
def test_classify_pep508(
    text: str, kind: SpecKind, name: str, specifier: str, version: str | None
) -> None:
    spec = classify(text)
    assert (spec.kind, spec.name, spec.specifier, spec.version) == (kind, name, specifier, version)
    assert spec.url is None


def test_classify_keeps_display_name_extras_marker_and_env_vars() -> None:
    spec = classify("Scikit_Learn[b,a]==1.3.2 ; python_version < '3.12'")
    assert spec.display_name == "Scikit_Learn"
    assert spec.label == "Scikit_Learn"
    assert spec.extras == ("a", "b")
    assert spec.marker == 'python_version < "3.12"'
    assert classify("numpy==${A}").env_vars == ("A",)


@pytest.mark.parametrize(
    ("text", "kind", "name", "url", "ref"),
    [
        (
            "pkg @ https://example.org/pkg-1.0.tar.gz",
            SpecKind.URL,
            "pkg",
            "https://example.org/pkg-1.0.tar.gz",
            None,
        ),
        (
            "https://example.org/pkg-1.0.whl",
            SpecKind.URL,
            "",
            "https://example.org/pkg-1.0.whl",
            None,
        ),
        (
            "git+https://github.com/org/mylib@main#egg=mylib",
            SpecKind.VCS,
            "mylib",
            "git+https://github.com/org/mylib@main#egg=mylib",
            "main",
        ),
        (
            f"mylib @ git+https://github.com/org/mylib@{COMMIT}",
            SpecKind.VCS,
            "mylib",
            f"git+https://github.com/org/mylib@{COMMIT}",
            COMMIT,
        ),
        (
            "git+https://github.com/org/mylib",
            SpecKind.VCS,
            "",
            "git+https://github.com/org/mylib",
            None,
        ),
        ("./pkg", SpecKind.PATH, "", "./pkg", None),
        ("../shared", SpecKind.PATH, "", "../shared", None),
        ("file:///opt/pkg", SpecKind.PATH, "", "file:///opt/pkg", None),
        ("dist/pkg-1.0-py3-none-any.whl", SpecKind.PATH, "", "dist/pkg-1.0-py3-none-any.whl", None),
    ],
)
def test_classify_locations(
    text: str, kind: SpecKind, name: str, url: str, ref: str | None
) -> None:
    spec = classify(text)
    assert (spec.kind, spec.name, spec.url, spec.vcs_ref) == (kind, name, url, ref)


def test_hash_fragment_is_a_hash() -> None:
    spec = classify("pkg @ https://example.org/pkg-1.0.tar.gz#sha256=ABCDEF&md5=00")
    assert spec.hashes == ("sha256:abcdef",)
    assert classify("numpy==1", hashes=("sha256:x",)).hashes == ("sha256:x",)
    merged = classify("numpy==1", hashes=("sha256:x",)).with_hashes(("sha256:x", "sha256:y"))
    assert merged.hashes == ("sha256:x", "sha256:y")
    assert merged.kind is SpecKind.EXACT


def test_editable_is_always_a_location() -> None:
    spec = classify("../x", editable=True)
    assert (spec.kind, spec.editable, spec.url) == (SpecKind.PATH, True, "../x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty requirement"),
        ("   ", "empty requirement"),
        ("numpy==", "Expected semicolon (after name with no version specifier) or end"),
        ("numpy>=>1", "Expected semicolon (after name with no version specifier) or end"),
    ],
)
def test_invalid_requirement(text: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        classify(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numpy", False),
        ("numpy==1.0", False),
        ("pkg @ https://x/y.whl", True),  # callers check the `name @` form first
        ("https://x/y.whl", True),
        ("git+https://x/y", True),
        ("file:pkg", True),
        (".", True),
        ("./pkg", True),
        ("~/pkg", True),
        ("/abs/pkg", True),
        ("sub/pkg", True),
        ("sub\\pkg", True),
        ("pkg-1.0.tar.gz", True),
        ("pkg-1.0-py3-none-any.whl", True),
    ],
)
def test_looks_like_url_or_path(text: str, expected: bool) -> None:
    assert looks_like_url_or_path(text) is expected


@pytest.mark.parametrize(
    ("url", "ref"),
    [
        ("git+https://github.com/org/repo", None),
        ("git+https://github.com/org/repo@", None),
        ("git+https://github.com/org/repo@v1.0", "v1.0"),
        ("git+https://github.com/org/repo.git@main#egg=repo", "main"),
        ("git+ssh://git@github.com/org/repo.git", None),
        (f"git+ssh://git@github.com/org/repo.git@{COMMIT}", COMMIT),
        ("hg+https://hg.example.org/repo@tip", "tip"),
    ],
)
def test_vcs_revision(url: str, ref: str | None) -> None:
    assert vcs_revision(url) == ref


def _judge(
    tmp_path: Path,
    text: str,
    *,
    editable: bool = False,
    hashes: tuple[str, ...] = (),
    require_hashes: bool = True,
    partial_hashing: bool = False,
    hash_capable: bool = True,
) -> list[tuple[str, Severity, str, str]]:
    root = tmp_path / "repo"
    ctx = JudgeContext(
        root=root,
        base_dir=root / "serve",
        require_hashes=require_hashes,
        partial_hashing=partial_hashing,
        hash_capable=hash_capable,
    )
    spec = classify(text, editable=editable, hashes=hashes)
    location = Location(path="serve/requirements.txt", line=4)
    found = judge_concrete(spec, location, ctx)
    assert all(f.location == location for f in found)
    return [(f.rule, f.severity, f.message, f.subject) for f in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numpy", [("RP101", Severity.ERROR, "numpy is not pinned", "numpy")]),
        (
            "NumPy>=1.2",
            [("RP102", Severity.ERROR, "NumPy>=1.2 is a range, not an exact pin", "numpy")],
        ),
        (
            "numpy==1.*",
            [("RP102", Severity.ERROR, "numpy==1.* is a range, not an exact pin", "numpy")],
        ),
        (
            "numpy!=1.0,!=1.1",
            [
                (
                    "RP102",
                    Severity.ERROR,
                    "numpy!=1.0,!=1.1 only excludes versions; it is not an exact pin",
                    "numpy",
                )
            ],
        ),
        (
            "numpy==${NUMPY}",
            [
                (
                    "RP102",
                    Severity.ERROR,
                    "numpy==${NUMPY}: the version comes from ${NUMPY} at install time",
                    "numpy",
                )
            ],
        ),
        ("numpy==1.26.4", [("RP103", Severity.WARNING, "numpy==1.26.4 has no hash", "numpy")]),
        (
            "git+https://github.com/org/mylib#egg=mylib",
            [
                (
                    "RP104",
                    Severity.ERROR,
                    "mylib is installed from git+https://github.com/org/mylib#egg=mylib with no "
                    "revision",
                    "mylib",
                )
            ],
        ),
        (
            "mylib @ git+https://github.com/org/mylib@v1.0",
            [
                (
                    "RP104",
                    Severity.ERROR,
                    "mylib is installed from VCS at 'v1.0', a movable reference",
                    "mylib",
                )
            ],
        ),
        (
            "mylib @ git+https://github.com/org/mylib@3f2a1c9",
            [
                (
                    "RP104",
                    Severity.ERROR,
                    "mylib is installed from VCS at '3f2a1c9', a movable reference",
                    "mylib",
                )
            ],
        ),
        (
            "https://example.org/pkg-1.0.tar.gz",
            [
                (
                    "RP105",
                    Severity.ERROR,
                    "https://example.org/pkg-1.0.tar.gz is downloaded from "
                    "https://example.org/pkg-1.0.tar.gz without a hash",
                    "https://example.org/pkg-1.0.tar.gz",
                )
            ],
        ),
        (
            "../../outside",
            [
                (
                    "RP106",
                    Severity.WARNING,
                    "local path ../../outside is outside the repository",
                    "../../outside",
                )
            ],
        ),
        (
            "file:///opt/elsewhere/pkg",
            [
                (
                    "RP106",
                    Severity.WARNING,
                    "local path file:///opt/elsewhere/pkg is outside the repository",
                    "file:///opt/elsewhere/pkg",
                )
            ],
        ),
        (
            "file://otherhost/pkg",
            [
                (
                    "RP106",
                    Severity.WARNING,
                    "local path file://otherhost/pkg is outside the repository",
                    "file://otherhost/pkg",
                )
            ],
        ),
    ],
)
def test_judge_flags(
    tmp_path: Path, text: str, expected: list[tuple[str, Severity, str, str]]
) -> None:
    assert _judge(tmp_path, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"mylib @ git+https://github.com/org/mylib@{COMMIT}",
        f"mylib @ git+https://github.com/org/mylib@{COMMIT.upper()}",
        f"mylib @ git+https://github.com/org/mylib@{SHA256}",
        f"pkg @ https://example.org/pkg-1.0.tar.gz#sha256={SHA256}",
        "./vendored/pkg",
        "../serve-utils",  # serve/../serve-utils: still inside the repository
        ".",
    ],
)
def test_judge_accepts(tmp_path: Path, text: str) -> None:
    assert _judge(tmp_path, text) == []


def test_exact_pin_with_a_hash_is_clean(tmp_path: Path) -> None:
    assert _judge(tmp_path, "numpy==1.26.4", hashes=(f"sha256:{SHA256}",)) == []
    assert _judge(tmp_path, "https://x.org/p.whl", hashes=(f"sha256:{SHA256}",)) == []


def test_hashes_not_required(tmp_path: Path) -> None:
    assert _judge(tmp_path, "numpy==1.26.4", require_hashes=False) == []
    assert _judge(tmp_path, "numpy==1.26.4", hash_capable=False) == []
    # Still unpinned whatever the hash policy.
    assert _judge(tmp_path, "numpy", require_hashes=False)[0][0] == "RP101"


def test_partial_hashing_is_an_error_even_when_hashes_are_not_required(tmp_path: Path) -> None:
    assert _judge(tmp_path, "numpy==1.26.4", require_hashes=False, partial_hashing=True) == [
        (
            "RP103",
            Severity.ERROR,
            "numpy==1.26.4 has no hash, but other requirements in this file do: pip refuses "
            "to install the file",
            "numpy",
        )
    ]


def test_editable_outside_is_named_as_such(tmp_path: Path) -> None:
    assert _judge(tmp_path, "../../x", editable=True) == [
        ("RP106", Severity.WARNING, "editable install ../../x is outside the repository", "../../x")
    ]


def test_local_path_and_is_within(tmp_path: Path) -> None:
    base = tmp_path / "repo" / "serve"
    assert local_path(classify("../lib"), base) == tmp_path / "repo" / "lib"
    assert local_path(classify("file:///opt/x%20y"), base) == Path("/opt/x y")
    assert local_path(classify("file://host/x"), base) is None
    assert local_path(classify("numpy"), base) is None
    assert is_within(tmp_path / "repo" / "a" / ".." / "b", tmp_path / "repo")
    assert is_within(tmp_path / "repo", tmp_path / "repo")
    assert not is_within(tmp_path / "repo" / ".." / "other", tmp_path / "repo")
    assert not is_within(tmp_path / "repository", tmp_path / "repo")


def test_a_version_number_past_the_int_limit_is_a_spec_error() -> None:
    assert oversized_number("1" * 4300) is None
    assert oversized_number("numpy==1." + "9" * 4301) == (
        "a number of 4301 digits, more than any installer reads as a version (4300)"
    )
    with pytest.raises(SpecError, match="a number of 5000 digits"):
        classify("numpy==" + "1" * 5000)


def test_a_number_is_measured_against_the_lowest_limit_python_allows() -> None:
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert oversized_number("9" * 640) is None
        assert oversized_number("9" * 641) == (
            "a number of 641 digits, more than any installer reads as a version (640)"
        )
    finally:
        sys.set_int_max_str_digits(before)


_SPEC_TEXTS = (
    "numpy", "numpy==1.26.4", "numpy===1.26.4", "numpy>=1", "numpy==1.*", "numpy!=1.0",
    "numpy==${V}", f"pkg @ git+https://github.com/org/pkg@{COMMIT}",
    "pkg @ git+https://github.com/org/pkg@main", "pkg @ https://x.org/pkg-1.0.tar.gz",
    "https://x.org/pkg-1.0-py3-none-any.whl", "./vendored/pkg", "../../outside", ".",
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(_SPEC_TEXTS),
    hashed=st.booleans(),
    editable=st.booleans(),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_a_sound_spec_is_found_nothing_in_anywhere(
    tmp_path_factory: pytest.TempPathFactory,
    text: str,
    hashed: bool,
    editable: bool,
    flags: tuple[bool, bool, bool],
) -> None:
    """Callers pass over a sound spec without judging it: the judgement must agree."""
    root = tmp_path_factory.getbasetemp()
    try:
        spec = classify(text, editable=editable, hashes=(f"sha256:{SHA256}",) if hashed else ())
    except SpecError:
        return
    require, partial, capable = flags
    ctx = JudgeContext(
        root=root,
        base_dir=root / "serve",
        require_hashes=require,
        partial_hashing=partial,
        hash_capable=capable,
    )
    found = judge_concrete(spec, Location(path="requirements.txt", line=1), ctx)
    assert sound(spec) == (spec.kind is SpecKind.EXACT and hashed)
    if sound(spec):
        assert found == []


_LOCKED = (
    ("url", "https://x.org/pkg-1.0.tar.gz"), ("url", "git+https://github.com/org/pkg"),
    ("url", "../../outside"), ("url", "./vendored"), ("url", ""), ("commit", COMMIT),
    ("ref", "main"), ("ref", COMMIT), ("manager", "conda"), ("platform", "linux-64"),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    source=st.sampled_from(list(Source)),
    hashed=st.booleans(),
    fields=st.lists(st.sampled_from(_LOCKED), max_size=4),
    require=st.booleans(),
)
def test_a_sound_lock_entry_is_found_nothing_in_anywhere(
    tmp_path_factory: pytest.TempPathFactory,
    source: Source,
    hashed: bool,
    fields: list[tuple[str, str]],
    require: bool,
) -> None:
    """Callers pass over a sound entry without judging it: the judgement must agree."""
    root = tmp_path_factory.getbasetemp()
    entry = LockEntry(
        name="pkg",
        version="1.0",
        source=source,
        hashed=hashed,
        hashes=(f"sha256:{SHA256}",) if hashed else (),
        **dict(fields),  # type: ignore[arg-type]
    )
    ctx = JudgeContext(root=root, base_dir=root / "serve", require_hashes=require)
    found = judge_locked(entry, Location(path="uv.lock", line=1), ctx, lock="uv.lock")
    assert locked_sound(entry) == (hashed and source in (Source.REGISTRY, Source.URL))
    if locked_sound(entry):
        assert found == []
