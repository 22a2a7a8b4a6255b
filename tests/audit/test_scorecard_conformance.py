"""Conformance with OpenSSF Scorecard's Pinned-Dependencies test data: Dockerfiles and scripts.

The data is Scorecard's own (fixtures/scorecard, Apache-2.0). For each file these tests state
what Scorecard counts as unpinned (read from its testdata expectations and, for pip lines, from
its ``isUnpinnedPipInstall`` logic), and assert that reprolock flags every one of those in its
scope, or that the difference is one of the deliberate ones listed in docs/conformance.md.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from reprolock.audit.engine import AuditResult, run_audit
from reprolock.audit.interface import Role
from reprolock.config import load_config
from tests.conftest import FIXTURES

ROOT = FIXTURES / "scorecard"
IMAGE_RULES = frozenset({"RP301", "RP302"})
PYTHON_RULES = frozenset({"RP101", "RP102", "RP103", "RP104", "RP105"})

# Deliberate differences (docs/conformance.md explains each).
NOT_IN_REPO = "-r FILE that is not in the repository: nothing says what it holds"
NOTHING = "pip install with no requirement installs nothing (pip exits with an error)"
COMMIT = "a VCS URL at a full commit is immutable, whatever the VCS"
DEPENDENCIES = "pinned at a commit; its dependencies are pip's to resolve, as for any package"
STAGE = "a stage built on an unpinned image: reported once, at the image"


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return run_audit(ROOT, load_config(ROOT))


@pytest.fixture(scope="module")
def by_file(result: AuditResult) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for f in result.report.findings:
        out[f.location.path].append((f.rule, f.location.line))
    return out


# --- base images -----------------------------------------------------------------------------

# file -> (Scorecard's count, reprolock's image findings)
IMAGES: dict[str, tuple[int, list[tuple[str, int]]]] = {
    "Dockerfile-pinned": (0, []),
    "Dockerfile-pinned-as": (0, []),
    "Dockerfile-from-scratch": (0, []),
    "Dockerfile-pinned-arg": (0, []),
    "Dockerfile-empty": (0, []),
    "Dockerfile-comments": (0, []),
    # `FROM pk@sha256:${ARG}` with ARG never declared: the build command supplies the digest,
    # so the file does not pin it (Scorecard accepts any @sha256:).
    "Dockerfile-base": (0, [("RP301", 1)]),
    "Dockerfile-not-pinned": (1, [("RP301", 17)]),
    "Dockerfile-not-pinned-as": (2, [("RP301", 17)]),
    "Dockerfile-not-pinned-as-simple": (1, [("RP301", 16)]),
    "Dockerfile-not-pinned-with-parser-error": (1, [("RP301", 1)]),
    "Dockerfile-pinned-as-without-hash": (4, [("RP301", 16), ("RP301", 28)]),
    # Scorecard counts lines 18 and 19; lines 16 and 17 take a name or digest from an ARG
    # that is never declared, which reprolock also reports.
    "Dockerfile-args": (2, [("RP302", 16), ("RP301", 17), ("RP302", 18), ("RP302", 19)]),
}

# The FROM lines Scorecard counts, and how reprolock covers each.
SCORECARD_IMAGE_LINES: dict[str, dict[int, str]] = {
    "Dockerfile-not-pinned": {17: "flagged"},
    "Dockerfile-not-pinned-as": {17: "flagged", 23: STAGE + " (line 17)"},
    "Dockerfile-not-pinned-as-simple": {16: "flagged"},
    "Dockerfile-not-pinned-with-parser-error": {1: "flagged"},
    "Dockerfile-pinned-as-without-hash": {
        16: "flagged",
        18: STAGE + " (line 16)",
        23: STAGE + " (line 16)",
        28: "flagged",
    },
    "Dockerfile-args": {18: "flagged", 19: "flagged"},
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_base_images(by_file: dict[str, list[tuple[str, int]]], name: str) -> None:
    scorecard_count, expected = IMAGES[name]
    found = [h for h in by_file.get(name, []) if h[0] in IMAGE_RULES]
    assert found == expected
    counted = SCORECARD_IMAGE_LINES.get(name, {})
    assert len(counted) == scorecard_count
    for line, how in counted.items():
        if how == "flagged":
            assert any(h[1] == line for h in found), (name, line)
        else:
            assert how.startswith(STAGE)
            image_line = int(how.rsplit("line ", 1)[1].rstrip(")"))
            assert any(h[1] == image_line for h in found), (name, line, image_line)


def test_every_dockerfile_has_an_image_expectation(result: AuditResult) -> None:
    # Dockerfiles outside the table pull no unpinned image, or have no FROM at all.
    extra = {
        path: [
            f.location.line
            for f in result.report.findings
            if f.rule in IMAGE_RULES and f.location.path == path
        ]
        for path in result.facts
        if path.startswith("Dockerfile-") and path not in IMAGES
    }
    assert extra == {
        "Dockerfile-aws-file": [],
        "Dockerfile-curl-file-sh": [],
        "Dockerfile-curl-sh": [],
        "Dockerfile-download-heredoc": [17],
        "Dockerfile-download-lines": [16],
        "Dockerfile-download-multi-runs": [16],
        "Dockerfile-empty-run-array": [],
        "Dockerfile-gsutil-file": [],
        "Dockerfile-invalid": [],
        "Dockerfile-no-curl-sh": [],
        "Dockerfile-no-curl-sh-with-parser-error": [],
        "Dockerfile-pkg-managers": [],
        "Dockerfile-proc-subs": [],
        "Dockerfile-script-ok": [],
        "Dockerfile-some-python": [],
        "Dockerfile-wget-bin-sh": [],
        "Dockerfile-wget-file": [],
    }


def test_vendor_is_skipped(result: AuditResult) -> None:
    assert not any(path.startswith("vendor/") for path in result.facts)


# --- parse errors ------------------------------------------------------------------------------


def test_parse_errors_keep_the_image_finding(by_file: dict[str, list[tuple[str, int]]]) -> None:
    # shell text the reader cannot follow is a note (RP002): the shell, not this reader, would
    # reject it, and the rest of the file is still audited
    assert by_file["Dockerfile-not-pinned-with-parser-error"] == [("RP301", 1), ("RP002", 7)]
    assert by_file["Dockerfile-no-curl-sh-with-parser-error"] == [("RP002", 22)]
    assert by_file["script-invalid.sh"] == [("RP105", 16), ("RP002", 19), ("RP105", 21)]


# --- remote scripts ----------------------------------------------------------------------------


def test_curl_sh_gives_five_rp105(by_file: dict[str, list[tuple[str, int]]]) -> None:
    assert by_file["Dockerfile-curl-sh"] == [
        ("RP105", 18),
        ("RP105", 19),
        ("RP105", 20),
        ("RP105", 21),
        ("RP105", 24),
    ]


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        # piped, process substitution, -c "$(...)": unpinned ones only (a commit URL is fine)
        ("Dockerfile-download-lines", [36, 68, 69, 70]),
        ("Dockerfile-wget-bin-sh", [18, 19, 23]),
        ("Dockerfile-proc-subs", [18, 19, 22, 23]),
        # saved, then run in the same or a later RUN
        ("Dockerfile-download-multi-runs", [28, 30]),
        ("Dockerfile-wget-file", [19, 21, 22, 24, 27, 29, 30, 32, 33]),
        ("script-bash", [34, 38, 40, 45, 47, 50, 52, 53, 54, 59]),
        ("shell-download-lines.sh", [6, 11, 14, 18, 20, 28, 69, 70, 71]),
        ("Dockerfile-script-ok", []),
        ("script-free-from-download.sh", []),
        ("script-wget-pinned", []),
        ("Dockerfile-no-curl-sh", []),
    ],
)
def test_remote_scripts(
    by_file: dict[str, list[tuple[str, int]]], name: str, lines: list[int]
) -> None:
    assert [line for rule, line in by_file.get(name, []) if rule == "RP105"] == lines


# --- Python installs ---------------------------------------------------------------------------

# Each line where Scorecard counts an unpinned Python install, with the rule reprolock raises
# there or the deliberate difference that explains why it raises none.
DOCKERFILE_PIP: dict[int, str] = {
    43: NOT_IN_REPO,
    44: NOT_IN_REPO,
    45: NOT_IN_REPO,
    46: NOTHING,
    47: NOTHING,
    48: NOTHING,
    49: NOTHING,
    50: NOTHING,
    51: NOT_IN_REPO,
    52: NOT_IN_REPO,
    55: NOT_IN_REPO,
    56: NOTHING,
    60: "RP101",
    61: "RP103",
    62: "RP101",
    66: COMMIT,
    67: COMMIT,
    68: COMMIT,
    69: "RP104",
    70: "RP104",
    71: "RP104",
    72: "RP104",
    80: DEPENDENCIES,
    86: "RP101",
    90: "RP101",
    94: "RP101",
    98: "RP102",
    99: "RP102",
    100: "RP102",
    103: NOT_IN_REPO,
    104: "RP103",
    105: "RP102",
    107: "RP104",
}
# Flagged by reprolock only: `-e . git+URL` with no revision (Scorecard's editable check
# passes the whole line because `-e .` is local), and the extra requirements on lines that
# Scorecard counts once.
DOCKERFILE_PIP_EXTRA = [("RP104", 81), ("RP103", 87), ("RP102", 88)]

SCRIPT_PIP: dict[int, str] = {
    49: NOT_IN_REPO,
    50: NOT_IN_REPO,
    51: NOTHING,
    52: NOTHING,
    53: NOTHING,
    54: NOT_IN_REPO,
    55: NOT_IN_REPO,
    59: "RP101",
    60: "RP103",
    61: "RP101",
    65: COMMIT,
    66: COMMIT,
    67: COMMIT,
    68: "RP104",
    69: "RP104",
    70: "RP104",
    71: "RP104",
    79: DEPENDENCIES,
    85: NOT_IN_REPO,
    86: "RP103",
    87: "RP102",
    89: "RP102",
    90: "RP102",
    91: "RP102",
    93: "RP102",
    95: "RP101",
    99: "RP101",
    103: "RP101",
    107: "RP104",
}
SCRIPT_PIP_EXTRA = [
    ("RP104", 80),
    ("RP103", 96),
    ("RP102", 97),
    ("RP103", 100),
    ("RP102", 101),
    ("RP103", 104),
    ("RP102", 105),
]


@pytest.mark.parametrize(
    ("name", "expected", "extra"),
    [
        ("Dockerfile-pkg-managers", DOCKERFILE_PIP, DOCKERFILE_PIP_EXTRA),
        ("script-pkg-managers", SCRIPT_PIP, SCRIPT_PIP_EXTRA),
    ],
)
def test_python_installs(
    by_file: dict[str, list[tuple[str, int]]],
    name: str,
    expected: dict[int, str],
    extra: list[tuple[str, int]],
) -> None:
    # Scorecard's totals (63 and 56) count every ecosystem; npm, go, choco and nuget are out
    # of scope, so only the Python lines are compared.
    found = [h for h in by_file[name] if h[0] in PYTHON_RULES]
    first_per_line: dict[int, str] = {}
    for rule, line in found:
        first_per_line.setdefault(line, rule)
    for line, verdict in expected.items():
        if verdict.startswith("RP"):
            assert first_per_line.get(line) == verdict, (name, line)
        else:
            assert line not in first_per_line, (name, line, verdict)
    flagged_by_us_only = [
        h for h in found if h[1] not in expected or h != (first_per_line[h[1]], h[1])
    ]
    assert sorted(flagged_by_us_only, key=lambda h: h[1]) == extra
    assert set(by_file[name]) <= {*found}  # nothing outside the Python rules


def test_some_python_download_installed(by_file: dict[str, list[tuple[str, int]]]) -> None:
    # Scorecard counts the `pip install ${PACKAGE}` of a wheel fetched with wget: reprolock
    # reports that the install takes an unchecked download.
    assert by_file["Dockerfile-some-python"] == [("RP105", 31)]


# --- which files are shell scripts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "audited"),
    [
        ("shell_file_bash_shebang1.sh", True),
        ("shell_file_bash_shebang2.sh", True),
        ("shell_file_bash_shebang3.sh", True),
        ("shell_file_sh_shebang.sh", True),
        ("shell_file_zsh_shebang.sh", True),
        ("shell_file_mksh_shebang.sh", True),
        ("shell_file_no_shebang.sh", True),
        ("shell_file_awk_shebang.sh", False),
        ("script-bash", True),
        ("script-pkg-managers", True),
        ("script-empty.sh", True),
    ],
)
def test_shell_files(result: AuditResult, name: str, audited: bool) -> None:
    facts = result.facts[name]
    assert facts.kind == "shell"
    assert facts.role in {Role.OTHER, Role.CONCRETE}
    if not audited:
        assert facts.findings == ()
        assert facts.role is Role.OTHER
    assert (facts.role is Role.CONCRETE) == (name == "script-pkg-managers")
