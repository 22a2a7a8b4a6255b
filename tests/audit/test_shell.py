"""The shell reader (audit_shell), the shell-script scanner and the Makefile scanner."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit.engine import run_audit
from reprolock.audit.interface import Include, Pin, Role, ScanContext, SourceFile
from reprolock.audit.shell import (
    Download,
    MakefileScanner,
    ShellAudit,
    ShellScriptScanner,
    audit_shell,
    fetch,
    immutable_url,
    installers,
    make_recipes,
    models,
    shell_shebang,
    vcs,
)
from reprolock.audit.shell.analyzer import BUILTINS, WRAPPERS, Arg, command_name
from reprolock.audit.shell.scanner import COMMANDS
from reprolock.audit.shell.syntax import Word
from reprolock.config import Config, load_config
from reprolock.model import Finding, Severity
from tests.conftest import FIXTURES, hits, write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

SHA = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
DIGEST = hashlib.sha256(b"script").hexdigest()


@pytest.fixture
def shell(tmp_path: Path) -> Callable[..., ShellAudit]:
    """``shell(text, files={...}, **audit_shell options)`` audited as ``ci/run.sh``."""

    def run(
        text: str,
        files: dict[str, str | bytes] | None = None,
        config: Config | None = None,
        **options: object,
    ) -> ShellAudit:
        write_tree(tmp_path, files or {})
        ctx = ScanContext(root=tmp_path, config=config or Config())
        source = SourceFile(path="ci/run.sh", abspath=tmp_path / "ci" / "run.sh", text=text)
        return audit_shell(text, source, ctx, **options)  # type: ignore[arg-type]

    return run


def _lines(audit: ShellAudit) -> list[tuple[str, int]]:
    return [(f.rule, f.location.line) for f in audit.findings]


def _rules(audit: ShellAudit) -> list[str]:
    return [f.rule for f in audit.findings]


# --- pip spellings and the rules for their arguments -------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "pip install numpy",
        "pip3 install numpy",
        "pip3.11 install numpy",
        "/usr/local/bin/pip install numpy",
        ".venv/bin/pip install numpy",
        "python -m pip install numpy",
        "python3 -m pip install numpy",
        "python3.11 -m pip install numpy",
        "python2.7 -m pip install -X -H numpy",
        "py -3.11 -m pip install numpy",
        "python -u -m pip install numpy",
        "uv pip install --system numpy",
        "pip --disable-pip-version-check --cache-dir /tmp/c install numpy",
        "$PIP install numpy",
        '"${PYTHON}" -m pip install numpy',
        "sudo -H -u app pip install numpy",
        "env PIP_NO_CACHE_DIR=1 pip install numpy",
        "PIP_NO_CACHE_DIR=1 pip install numpy",
        "time nice -n 5 pip install numpy",
        "exec pip install numpy",
        "conda run -n base pip install numpy",
        "timeout 300 pip install numpy",
        "pip install -U --user --no-deps numpy",
        "pip install 'numpy'",
        "pip install num\\\npy",
    ],
)
def test_pip_spellings(shell: Callable[..., ShellAudit], command: str) -> None:
    audit = shell(command)
    assert _lines(audit) == [("RP101", 1)]
    assert audit.findings[0].subject == "numpy"
    assert audit.findings[0].message == "numpy is not pinned"
    assert audit.installs_python


def test_not_an_install(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "pip freeze\npip --version\npython -m notpip install x\npip install\n"
        "command -v pip install\npip download --help\necho pip install numpy\n"
    )
    assert audit.findings == ()
    assert not audit.installs_python


def test_rp102_ranges(shell: Callable[..., ShellAudit]) -> None:
    audit = shell("pip install 'numpy>=1.26' \"pandas~=2.2\" 'scipy==1.*' 'torch!=2.0.0'")
    assert _rules(audit) == ["RP102"] * 4
    assert audit.findings[0].message == "numpy>=1.26 is a range, not an exact pin"


def test_rp103_exact_pin_without_hash(shell: Callable[..., ShellAudit]) -> None:
    audit = shell("pip install numpy==1.26.4")
    (f,) = audit.findings
    assert (f.rule, f.severity, f.subject) == ("RP103", Severity.WARNING, "numpy")
    assert f.message == (
        "numpy==1.26.4 is installed without a hash (pip takes hashes only from a requirements file)"
    )
    assert f.fix == "install from a hashed requirements file with --require-hashes"
    assert audit.pins == (Pin(name="numpy", version="1.26.4", line=1),)


def test_rp103_off_without_require_hashes(shell: Callable[..., ShellAudit]) -> None:
    audit = shell("pip install numpy==1.26.4", config=Config(require_hashes=False))
    assert audit.findings == ()
    assert audit.pins == (Pin(name="numpy", version="1.26.4", line=1),)


def test_unquoted_range_is_a_redirection(shell: Callable[..., ShellAudit]) -> None:
    audit = shell("pip install numpy>=1.26")
    (f,) = audit.findings
    assert f.rule == "RP101"
    assert f.message == (
        "numpy is not pinned: the shell reads >=1.26 as a redirection, so quote the requirement"
    )


def test_option_values_are_not_packages(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "pip install --target /opt/site -t /opt/t --prefix /p --root /r "
        "--platform manylinux2014_x86_64 --python-version 3.11 --implementation cp "
        "--abi cp311 --only-binary=:all: --no-binary :none: --upgrade-strategy eager "
        "-f ./wheels --find-links ./more -i https://mirror.example/simple "
        "--index-url https://mirror.example/simple -C key=value --src /src "
        "--progress-bar off --log /tmp/log --timeout 60 --retries 3 "
        "numpy==1.26.4",
        config=Config(require_hashes=False),
    )
    assert audit.findings == ()
    assert audit.indexes == ("https://mirror.example/simple",)
    assert audit.pins == (Pin(name="numpy", version="1.26.4", line=1),)


def test_short_option_clusters(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "pip install -qUr requirements.txt -ihttps://m.example/simple attrs",
        files={"ci/requirements.txt": "attrs==23.2.0\n"},
    )
    assert _lines(audit) == [("RP101", 1)]
    assert audit.includes == (Include(target="ci/requirements.txt", line=1),)
    assert audit.indexes == ("https://m.example/simple",)


def test_vcs_url_and_local_paths(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        f"pip install git+https://github.com/o/r.git@main\n"
        f"pip install 'pkg @ git+https://github.com/o/r.git@{SHA}'\n"
        "pip install https://example.com/pkg-1.0.tar.gz\n"
        f"pip install 'https://example.com/pkg-1.0.tar.gz#sha256={DIGEST}'\n"
        "pip install . && pip install -e . && pip install -e ./libs/core\n"
        "pip install -e ../../outside\n"
        "pip install /tmp/build/dist/*.whl\n"
        "pip install git://github.com/o/r.git#egg=r\n"
    )
    assert _lines(audit) == [("RP104", 1), ("RP105", 3), ("RP106", 6), ("RP104", 8)]


def test_extra_index_and_trusted_host_are_rp107(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "pip install --extra-index-url https://user:secret@pypi.internal.example/simple "
        "--trusted-host pypi.internal.example x==1\n"
        "PIP_EXTRA_INDEX_URL=https://more.example/simple pip install y==1\n"
        "export PIP_TRUSTED_HOST=insecure.example\n"
        "pip config set global.extra-index-url https://conf.example/simple\n",
        config=Config(require_hashes=False),
    )
    assert _lines(audit) == [("RP107", 1), ("RP107", 1), ("RP107", 2), ("RP107", 3), ("RP107", 4)]
    assert audit.findings[0].message == (
        "--extra-index-url https://***@pypi.internal.example/simple lets a public package "
        "shadow a private one"
    )
    assert "secret" not in "".join(audit.indexes)


def test_uv_extra_index_only_with_an_unsafe_strategy(shell: Callable[..., ShellAudit]) -> None:
    safe = shell("uv pip install --extra-index-url https://x.example/simple a==1")
    unsafe = shell(
        "uv pip install --index-strategy unsafe-best-match "
        "--extra-index-url https://x.example/simple a==1"
    )
    assert "RP107" not in _rules(safe)
    assert "RP107" in _rules(unsafe)


def test_constraints_file_pins_the_command_line(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "pip install -c constraints.txt numpy 'pandas>=2' scipy",
        files={"constraints.txt": "numpy==1.26.4\npandas==2.2.2\n"},
    )
    assert _lines(audit) == [("RP101", 1)]
    assert audit.findings[0].subject == "scipy"
    assert audit.includes == (Include(target="constraints.txt", line=1, constraint=True),)
    assert {p.name: p.version for p in audit.pins} == {"numpy": "1.26.4", "pandas": "2.2.2"}


def test_no_index_with_local_wheels_is_not_judged(shell: Callable[..., ShellAudit]) -> None:
    audit = shell("pip install --no-index --find-links ./wheels numpy")
    assert audit.findings == ()
    remote = shell("pip install --no-index --find-links https://x.example/wheels numpy")
    assert _rules(remote) == ["RP101"]


def test_variables_set_in_the_script_are_used(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "VER=1.26.4\nPKGS='pandas scipy'\n"
        'pip install "numpy==$VER" $PKGS torch==${TORCH} "$WHEEL"\n'
        "for p in attrs rich; do pip install $p; done\n",
        config=Config(require_hashes=False),
    )
    assert [(f.rule, f.subject) for f in audit.findings] == [
        ("RP101", "pandas"),
        ("RP101", "scipy"),
        ("RP102", "torch"),
        ("RP101", "attrs"),
        ("RP101", "rich"),
    ]
    assert audit.findings[2].message == (
        "torch==${TORCH}: the version comes from ${TORCH} at install time"
    )


def test_variables_given_by_the_caller(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "pip install torch==${TORCH} numpy==$NUMPY",
        variables={"TORCH": "2.3.1", "NUMPY": None},
        config=Config(require_hashes=False),
    )
    assert [(f.rule, f.subject) for f in audit.findings] == [("RP102", "numpy")]
    assert audit.pins == (Pin(name="torch", version="2.3.1", line=1),)


# --- requirement files -------------------------------------------------------------------------


def test_requirements_file_in_the_repo_is_an_include(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "pip install -r requirements/dev.txt -r ci/local.txt --requirement=missing.txt",
        files={"requirements/dev.txt": "numpy\n", "ci/local.txt": "attrs\n"},
    )
    assert audit.findings == ()
    assert audit.includes == (
        Include(target="requirements/dev.txt", line=1),
        Include(target="ci/local.txt", line=1),
    )
    assert audit.installs_python


def test_remote_requirements_file_is_rp105(shell: Callable[..., ShellAudit]) -> None:
    audit = shell("pip install -r https://example.com/requirements.txt")
    assert _lines(audit) == [("RP105", 1)]
    pinned = shell(f"pip install -r https://raw.githubusercontent.com/o/r/{SHA}/req.txt")
    assert pinned.findings == ()


def test_included_file_is_audited_by_the_engine(audit: Audit) -> None:
    found = audit(
        {
            "scripts/setup.sh": "#!/bin/sh\npip install -r requirements/base.txt\n",
            "requirements/base.txt": "numpy\n",
        }
    )
    assert hits(found) == [("RP101", "requirements/base.txt", 1)]


# --- other Python installers -------------------------------------------------------------------


def test_uv_pipx_poetry_pdm(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "uv add requests\n"
        "uv add 'httpx==0.27.0'\n"
        "uv tool install ruff@0.4.1\n"
        "uvx black\n"
        "uvx --from 'mypy>=1' mypy .\n"
        "uv run --with rich python x.py\n"
        "pipx install poetry\n"
        "pipx run --spec pre-commit==3.7.1 pre-commit run\n"
        "poetry add pendulum@^3.0 click@8.1.7\n"
        "pdm add 'flask>=3'\n"
        "pipenv install attrs\n"
        "uv sync --frozen && poetry install && pipenv sync\n"
    )
    assert [(f.rule, f.subject, f.location.line) for f in audit.findings] == [
        ("RP101", "requests", 1),
        ("RP101", "black", 4),
        ("RP102", "mypy", 5),
        ("RP101", "rich", 6),
        ("RP101", "poetry", 7),
        ("RP102", "pendulum", 9),
        ("RP102", "flask", 10),
        ("RP101", "attrs", 11),
    ]
    # these record their own hashes in a lock, or cannot take one: no RP103
    assert {p.name for p in audit.pins} == {"httpx", "ruff", "pre-commit", "click"}


def test_conda_specs(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "conda install -y -c conda-forge numpy=1.26 'scipy>=1.11' pandas\n"
        "mamba create -n env python=3.11.9=h955ad1f_0 scikit-learn==1.4.2\n"
        "micromamba install --file env.txt\n"
        "conda env create -f environment.yml\n"
    )
    assert [(f.rule, f.subject) for f in audit.findings] == [
        ("RP701", "numpy"),
        ("RP701", "scipy"),
        ("RP701", "pandas"),
    ]
    assert (
        audit.findings[0].message
        == "numpy=1.26 is a fuzzy match in conda (1.26.*), not an exact pin"
    )
    assert {p.name: p.version for p in audit.pins} == {"python": "3.11.9", "scikit-learn": "1.4.2"}


# --- OS packages: RP304 ------------------------------------------------------------------------


def test_os_packages_without_versions(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "apt-get update && apt-get install -y --no-install-recommends \\\n"
        "    -o Dpkg::Options::=--force-confold \\\n"
        "    curl=7.88.1-10+deb12u5 git ca-certificates\n"
        "apk add --no-cache --virtual .build-deps gcc=13.2.1_git20231014-r0 musl-dev\n"
        "dnf install -y curl-7.88.1-2.fc38 python3-devel\n"
        "yum -y install gcc\n"
        "zypper in -y make\n"
        "apt install ./local.deb\n"
        "apt-get install -y python3.11=3.11.2-6\n"
        "apt-get upgrade -y\n"
    )
    assert _lines(audit) == [("RP304", 3), ("RP304", 4), ("RP304", 5), ("RP304", 6), ("RP304", 7)]
    first = audit.findings[0]
    assert first.severity is Severity.NOTE
    assert first.message == "apt-get install git, ca-certificates without versions"
    assert first.subject == "apt-get: ca-certificates git"
    assert first.location.column == 28
    assert audit.findings[1].message == "apk add musl-dev without versions"
    assert audit.findings[2].message == "dnf install python3-devel without versions"


# --- remote scripts: RP105 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        "curl -fsSL https://example.com/install.sh | sh",
        "curl -s https://example.com/install.sh | sudo bash -s -- --yes",
        "wget -qO- https://example.com/install.sh | bash",
        "wget -O - https://example.com/install.sh | /bin/sh",
        "curl https://example.com/install.sh | tee /tmp/log | sh",
        "curl -sSL https://example.com/install.sh | bash /dev/stdin",
        "curl -sSL https://example.com/install.sh | python3 -",
        "bash <(curl -s https://example.com/install.sh)",
        'bash -c "$(curl -fsSL https://example.com/install.sh)"',
        'sh -c "$(wget -O- https://example.com/install.sh)"',
        'eval "$(curl -fsSL https://example.com/install.sh)"',
        "source <(curl -s https://example.com/install.sh)",
        "su -c 'curl https://example.com/install.sh | sh' root",
        'sh -c "curl https://example.com/install.sh | sh"',
        'bash <<< "$(curl -s https://example.com/install.sh)"',
    ],
)
def test_remote_script_piped_to_a_shell(shell: Callable[..., ShellAudit], command: str) -> None:
    audit = shell(command)
    assert _lines(audit) == [("RP105", 1)]
    (f,) = audit.findings
    assert f.message == "remote script https://example.com/install.sh runs without a hash check"
    assert f.subject == "https://example.com/install.sh"
    assert f.fix is not None


@pytest.mark.parametrize(
    "script",
    [
        "curl -o x.sh https://example.com/x.sh && sh x.sh",
        "curl -fsSLO https://example.com/x.sh\nbash ./x.sh",
        "curl https://example.com/x.sh > x.sh; bash x.sh",
        "wget https://example.com/x.sh; chmod +x x.sh; ./x.sh",
        "wget -P /opt https://example.com/x.sh && /opt/x.sh",
        "curl --output /tmp/x.sh https://example.com/x.sh\n. /tmp/x.sh",
        "curl -o x.py https://example.com/x.sh && python3 x.py",
        "curl -Lo /usr/local/bin/t https://example.com/x.sh && chmod +x /usr/local/bin/t\nt -v",
    ],
)
def test_download_saved_then_run(shell: Callable[..., ShellAudit], script: str) -> None:
    audit = shell(script)
    assert _rules(audit) == ["RP105"]
    assert audit.findings[0].subject == "https://example.com/x.sh"
    assert audit.findings[0].location.line == script.count("\n") + 1


@pytest.mark.parametrize(
    "script",
    [
        f'curl -o x.sh https://e.io/x.sh && echo "{DIGEST}  x.sh" | sha256sum -c - && sh x.sh',
        f"curl -o x.sh https://e.io/x.sh\necho '{DIGEST} *x.sh' | sha256sum --check\nsh x.sh",
        "curl -o x.sh https://e.io/x.sh\nsha256sum -c x.sh.sha256\nbash x.sh",
        f'wget https://e.io/x.sh\nshasum -a 256 -c <<< "{DIGEST}  x.sh"\n./x.sh',
        f'curl -o x.sh https://e.io/x.sh\n[ "$(sha256sum x.sh | cut -d" " -f1)" = "{DIGEST}" ]'
        "\nsh x.sh",
        "curl -o x.sh https://e.io/x.sh && gpg --verify x.sh.asc x.sh && sh x.sh",
        f"curl -fsSL https://raw.githubusercontent.com/o/r/{SHA}/install.sh | sh",
        "curl -o x.sh https://e.io/x.sh && cat x.sh",
        "curl https://example.com/data.json | jq .",
        "curl -fsSL https://e.io/x.sh -o x.sh\nbash other.sh",
        # a bare name is looked up on PATH, not in the working directory
        "curl -o tool https://e.io/x.sh && tool",
    ],
)
def test_checked_or_not_run_downloads_are_fine(
    shell: Callable[..., ShellAudit], script: str
) -> None:
    assert shell(script).findings == ()


def test_downloads_carry_over_between_texts(shell: Callable[..., ShellAudit]) -> None:
    first = shell("curl -o /tmp/i.sh https://example.com/i.sh", first_line=3)
    assert first.downloads == (
        Download(path="/tmp/i.sh", url="https://example.com/i.sh", line=3, column=19),
    )
    second = shell("sh /tmp/i.sh", first_line=7, downloaded=first.downloads)
    assert _lines(second) == [("RP105", 7)]
    assert "downloaded on line 3" in second.findings[0].message
    assert second.downloads == ()


def test_downloaded_wheel_installed_without_a_check(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "wget https://example.com/pkg-1.0-py3-none-any.whl\npip install pkg-1.0-py3-none-any.whl"
    )
    assert _lines(audit) == [("RP105", 2)]
    assert audit.findings[0].message.startswith("pkg-1.0-py3-none-any.whl is downloaded from")


@pytest.mark.parametrize(
    ("url", "immutable"),
    [
        (f"https://raw.githubusercontent.com/o/r/{SHA}/x.sh", True),
        (f"https://github.com/o/r/raw/{SHA}/x.sh", True),
        (f"https://cdn.jsdelivr.net/gh/o/r@{SHA}/x.sh", True),
        ("https://raw.githubusercontent.com/o/r/main/x.sh", False),
        (f"https://example.com/{SHA}/x.sh", False),
        ("not a url", False),
    ],
)
def test_immutable_url(url: str, immutable: bool) -> None:
    assert immutable_url(url) is immutable


# --- the reader: grammar, positions, errors ----------------------------------------------------


def test_grammar_finds_commands_everywhere(shell: Callable[..., ShellAudit]) -> None:
    script = """\
set -euo pipefail  # a comment: pip install not-this
if [ -n "$CI" ]; then
  pip install a1
elif true; then pip install a2; else pip install a3; fi
while read -r line; do pip install a4; done < list.txt
case "$MODE" in
  gpu|cuda) pip install a5 ;;
  (cpu) pip install a6 ;&
  *) pip install a7;;
esac
setup() {
  pip install a8
}
function teardown { pip install a9; }
( cd sub && pip install a10 ) | tee log
{ pip install a11; } 2>&1
x=$(pip install a12) y=`pip install a13`
[[ -f x && -n "$y" ]] && pip install a14 || pip install a15
cat <<'EOF' > notes.txt
pip install not-a-command
EOF
bash <<EOF
pip install a16
EOF
for ((i = 0; i < 3; i++)); do pip install a17; done
echo "pip install not-a-command-either" 'pip install nor-this'
"""
    audit = shell(script)
    subjects = [f.subject for f in audit.findings]
    assert subjects == [f"a{i}" for i in range(1, 18)]
    assert [f.location.line for f in audit.findings] == [
        3, 4, 4, 5, 7, 8, 9, 12, 14, 15, 16, 17, 17, 18, 18, 23, 25,
    ]  # fmt: skip
    assert all(f.rule == "RP101" for f in audit.findings)


def test_positions_after_continuations_and_in_substitutions(
    shell: Callable[..., ShellAudit],
) -> None:
    audit = shell(
        "pip install \\\n    --no-cache-dir \\\n    numpy \\\n  pandas\necho $(pip install x)"
    )
    assert [(f.subject, f.location.line, f.location.column) for f in audit.findings] == [
        ("numpy", 3, 5),
        ("pandas", 4, 3),
        ("x", 5, 20),
    ]


def test_line_map_and_column_map(shell: Callable[..., ShellAudit]) -> None:
    audit = shell(
        "pip install a\\\n  b\ncurl https://x.example/i | sh",
        line_map=[10, 11, 14],
        column_map=[5, 1, 9],
    )
    assert [(f.rule, f.location.line, f.location.column) for f in audit.findings] == [
        ("RP101", 10, 17),
        ("RP101", 11, 3),
        ("RP105", 14, 14),
    ]
    shifted = shell("\npip install a", first_line=20)
    assert [(f.location.line, f.location.column) for f in shifted.findings] == [(21, 13)]


@pytest.mark.parametrize(
    ("script", "line", "message"),
    [
        ("pip install a\necho 'open", 2, "unterminated single quote"),
        ('echo "open\npip install a', 1, "unterminated double quote"),
        ("if true; then\npip install a\n", 1, "if without fi (found end of text)"),
        ("pip install a\nfi\n", 2, "unexpected 'fi'"),
        ("cat <<EOF\npip install a\n", 1, "here-document <<EOF is not terminated"),
        ("echo $(pip install a\n", 1, "unterminated $("),
        ("while true; pip install a; done", 1, "unexpected 'done'"),
        ("case x in a) pip install a;;", 1, "case without esac"),
        ("pip install a &&", 1, "&& is not followed by a command"),
        ("pip install a; ;; echo", 1, "unexpected ';;'"),
    ],
)
def test_syntax_errors_are_rp002_notes(
    shell: Callable[..., ShellAudit], script: str, line: int, message: str
) -> None:
    """The shell is the judge of shell text, not this reader: what the reader cannot follow
    is a note (RP002), never the error RP001 (issue 14 section 1)."""
    audit = shell(script)
    notes = [f for f in audit.findings if f.rule == "RP002"]
    assert len(notes) == 1
    assert notes[0].severity is Severity.NOTE
    assert notes[0].location.line == line
    assert notes[0].message == f"shell text not understood: {message}; the rest is audited"
    assert not [f for f in audit.findings if f.rule == "RP001"]


def test_syntax_error_does_not_hide_other_findings(shell: Callable[..., ShellAudit]) -> None:
    audit = shell("curl https://x.example/i | bash\nfi\npip install numpy\n")
    assert _lines(audit) == [("RP105", 1), ("RP002", 2), ("RP101", 3)]


def test_syntax_errors_can_be_silenced(shell: Callable[..., ShellAudit]) -> None:
    audit = shell('if "%python%"=="3.8" echo hello', report_syntax=False)
    assert audit.findings == ()


def test_deep_nesting_is_a_note_not_a_crash(shell: Callable[..., ShellAudit]) -> None:
    audit = shell("$(" * 500)
    assert _rules(audit) == ["RP002"]
    assert "too deep" in audit.findings[0].message


def test_container_paths_are_not_judged(shell: Callable[..., ShellAudit]) -> None:
    script = "pip install -e ../../lib /opt/wheels/x.whl"
    assert _rules(shell(script)) == ["RP106"]
    assert shell(script, container=True).findings == ()


# --- the shell-script scanner ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "claimed"),
    [
        ("run.sh", True),
        ("deploy/go.bash", True),
        ("scripts/bootstrap", True),
        ("bin/setup-env", True),
        ("ci/test", True),
        (".ci/test", True),
        ("hack/verify", True),
        ("tools/lint", True),
        ("script-pkg-managers", True),
        ("install-deps", True),
        ("entrypoint", True),
        ("src/pkg/module.py", False),
        ("scripts/helper.py", False),
        ("docs/usage", False),
        ("README", False),
    ],
)
def test_shell_claims(path: str, claimed: bool) -> None:
    assert ShellScriptScanner().claims(path, path.rsplit("/", 1)[-1]) is claimed


@pytest.mark.parametrize(
    ("first_line", "shell"),
    [
        ("#!/bin/sh", True),
        ("#!/bin/bash -e", True),
        ("#!/usr/bin/env bash", True),
        ("#!/bin/env sh -e", True),
        ("#!/usr/bin/env -S bash -eu", True),
        ("#!/bin/zsh", True),
        ("#!/bin/mksh", True),
        ("#!/usr/bin/awk -f", False),
        ("#!/usr/bin/env python3", False),
        ("#!", False),
        ("# no shebang", None),
    ],
)
def test_shell_shebang(first_line: str, shell: bool | None) -> None:
    assert shell_shebang(first_line + "\necho hi\n") is shell


def test_shell_scanner_checks_the_shebang(audit: Audit) -> None:
    found = audit(
        {
            "scripts/setup": "#!/usr/bin/env bash\npip install requests\n",
            "scripts/report": "#!/usr/bin/env python3\nimport os\nos.system('pip install x')\n",
            "scripts/notes": "pip install not-a-script\n",
            "tools/fmt.sh": "#!/usr/bin/awk -f\n{ print }\n",
            "run.sh": "pip install numpy\n",
        }
    )
    assert hits(found) == [("RP101", "run.sh", 1), ("RP101", "scripts/setup", 2)]


def test_shell_scanner_roles(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "install.sh": "#!/bin/sh\npip install numpy==1.26.4\n",
            "clean.sh": "#!/bin/sh\nrm -rf build\n",
            "repro.toml": "require-hashes = false\n",
        },
    )
    facts = run_audit(tmp_path, load_config(tmp_path)).facts
    assert facts["install.sh"].role is Role.CONCRETE
    assert facts["install.sh"].pins == (Pin(name="numpy", version="1.26.4", line=2),)
    assert facts["clean.sh"].role is Role.OTHER
    assert facts["install.sh"].kind == "shell"


_C = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


# --- downloads installed without a checksum -------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # huggingface/text-generation-inference Dockerfile_gaudi: a .deb over plain http
        ("wget http://nz2.archive.ubuntu.com/o/libssl1.1_1.1.1f_amd64.deb && \\\n"
         "    dpkg -i ./libssl1.1_1.1.1f_amd64.deb",
         [(1, 6, "http://nz2.archive.ubuntu.com/o/libssl1.1_1.1.1f_amd64.deb is installed by "
           "dpkg on line 2 without a checksum (over plain HTTP, so anyone on the network path "
           "can replace it)")]),
        # huggingface/text-generation-inference Dockerfile: a release zip unzipped into /usr/local
        ("PROTOC_ZIP=protoc-21.12-linux-x86_64.zip && \\\n"
         "    curl -OL https://github.com/p/protobuf/releases/download/v21.12/$PROTOC_ZIP && \\\n"
         "    unzip -o $PROTOC_ZIP -d /usr/local bin/protoc && \\\n"
         "    unzip -o $PROTOC_ZIP -d /usr/local 'include/*'",
         [(2, 14, "https://github.com/p/protobuf/releases/download/v21.12/"
           "protoc-21.12-linux-x86_64.zip is unpacked into /usr/local by unzip on line 3 "
           "without a checksum")]),
        # pytorch/serve .github/workflows/kserve_cpu_tests.yml: piped into tar -C /usr/local/bin
        ("sudo curl -sSL https://github.com/f/grpcurl/releases/download/v1.8.0/g.tar.gz | "
         "sudo tar -xz -C /usr/local/bin grpcurl",
         [(1, 16, "https://github.com/f/grpcurl/releases/download/v1.8.0/g.tar.gz is unpacked "
           "into /usr/local/bin by tar without a checksum")]),
        # pytorch/serve .github/workflows/kubernetes_tests.yml: latest releases, installed
        ("curl -LO https://storage.googleapis.com/minikube/releases/latest/minikube-linux-amd64\n"
         "sudo install minikube-linux-amd64 /usr/local/bin/minikube\n"
         'curl -LO "https://dl.k8s.io/release/$(curl -L -s https://dl.k8s.io/release/stable.txt)'
         '/bin/linux/amd64/kubectl"\n'
         "sudo install -o root -g root -m 0755 kubectl /usr/local/bin/kubectl",
         [(1, 10, "https://storage.googleapis.com/minikube/releases/latest/minikube-linux-amd64 "
           "is installed into /usr/local/bin/minikube by install on line 2 without a checksum "
           "(from a URL that moves to each new release)"),
          (3, 10, "https://dl.k8s.io/release/$(curl -L -s https://dl.k8s.io/release/stable.txt)"
           "/bin/linux/amd64/kubectl is installed into /usr/local/bin/kubectl by install on "
           "line 4 without a checksum (from a URL that moves to each new release)")]),
        ("curl -fsSLo x.deb https://h.example/x.deb\napt-get install -y ./x.deb",
         [(1, 19, "https://h.example/x.deb is installed by apt-get install on line 2 without "
           "a checksum")]),
        ("curl -o t.tgz https://h.example/t.tgz\nmv t.tgz /tmp/t.tgz\n"
         "tar xzf /tmp/t.tgz -C /opt",
         [(1, 15, "https://h.example/t.tgz is unpacked into /opt by tar on line 3 without a "
           "checksum")]),
        # checked, unpacked elsewhere, or never installed: nothing
        ("curl -o x.deb https://h.example/x.deb\necho 'ab  x.deb' | sha256sum -c\ndpkg -i x.deb",
         []),
        ("wget https://h.example/data.zip && unzip data.zip -d data/", []),
        ("curl -L https://h.example/d.tgz | tar -xz -C ./data", []),
        ("curl -o x.deb https://h.example/x.deb && dpkg --info x.deb", []),
    ],
)  # fmt: skip
def test_downloads_installed_without_a_checksum(
    shell: Callable[..., ShellAudit], script: str, expected: list[tuple[int, int, str]]
) -> None:
    """Binaries and packages downloaded and installed unchecked: the RP105 family of remote
    scripts, reported where the download is (issue 14 section 4)."""
    audit = shell(script, config=Config(require_hashes=False))
    found = [f for f in audit.findings if f.rule == "RP105"]
    assert [(f.location.line, f.location.column, f.message) for f in found] == expected


# --- git clones that are then built ------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("git clone https://github.com/facebookresearch/detectron2 detectron2_repo\n"
         "pip install --user -e detectron2_repo",
         [(1, 11, "https://github.com/facebookresearch/detectron2 is cloned at its default "
           "branch, then used by pip on line 2")]),
        ("git clone --branch v0.11.1 https://github.com/pytorch/vision/\n"
         "mkdir vision/build && cd vision/build && cmake .. && make install",
         [(1, 28, "https://github.com/pytorch/vision/ is cloned at 'v0.11.1' (a branch or tag "
           "that can move), then used by cmake on line 2")]),
        ("git clone https://github.com/danieldk/marlin-kernels.git && \\\n"
         "    cd marlin-kernels && git checkout v0.3.6 && \\\n"
         "    python3 setup.py bdist_wheel --dist-dir=dist",
         [(1, 11, "https://github.com/danieldk/marlin-kernels.git is cloned at 'v0.3.6' (a "
           "branch or tag that can move), then used by python on line 3")]),
        ("git clone --recursive $REPO_URL -b $BRANCH_NAME serve\ncd serve && pip install .",
         [(1, 23, "${REPO_URL} is cloned at ${BRANCH_NAME} (a ref chosen when it runs), then used "
           "by pip on line 2")]),
        (f"git clone https://github.com/o/r r && git -C r checkout {_C}\npip install -e r", []),
        ('git clone --no-checkout -- "$ROOT" "$W/r"\ngit -C "$W/r" checkout --detach "$commit"\n'
         'cd "$W/r" && bash .ci/run', []),
        (f"git clone https://github.com/o/r && cd r && git reset --hard {_C} && pip install .",
         []),
        ("git clone https://github.com/o/r\nls r && rm -rf r", []),
        ("git clone https://github.com/o/r docs-src", []),
    ],
)  # fmt: skip
def test_git_clones_then_built(
    shell: Callable[..., ShellAudit], script: str, expected: list[tuple[int, int, str]]
) -> None:
    """facebookresearch/detectron2 ``docker/Dockerfile`` (the default branch, then ``pip
    install -e``) and ``docker/deploy.Dockerfile`` (``--branch v0.11.1``, built with cmake),
    huggingface/text-generation-inference ``Dockerfile_amd`` (``git checkout`` of a tag),
    pytorch/serve ``docker/Dockerfile`` (``-b $BRANCH_NAME``): RP104 in shell form (issue 14
    section 4); a checkout of a 40-hex commit fixes the clone."""
    audit = shell(script, config=Config(require_hashes=False))
    found = [f for f in audit.findings if f.rule == "RP104"]
    assert [(f.location.line, f.location.column, f.message) for f in found] == expected


# --- model launchers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("lm_eval --model hf \\\n  --model_args pretrained=EleutherAI/pythia-2.8b \\\n  --tasks x",
         [("RP601", 2, "EleutherAI/pythia-2.8b",
           "model EleutherAI/pythia-2.8b is fetched by lm_eval --model_args pretrained= "
           "without a revision")]),
        (f"lm_eval --model hf --model_args pretrained=org/m,revision={_C}", []),
        ("lm_eval --model hf --model_args pretrained=org/m,revision=main",
         [("RP601", 1, "org/m", "model org/m is fetched by lm_eval --model_args pretrained= "
           "at revision 'main', a branch or tag that can move")]),
        ("python -m lm_eval --model_args pretrained=org/m,parallelize=true",
         [("RP601", 1, "org/m", "model org/m is fetched by python -m lm_eval --model_args "
           "pretrained= without a revision")]),
        ("vllm serve meta-llama/Llama-3.1-8B --port 8000",
         [("RP601", 1, "meta-llama/Llama-3.1-8B",
           "model meta-llama/Llama-3.1-8B is fetched by vllm serve without a revision")]),
        (f"vllm serve meta-llama/Llama-3.1-8B --revision {_C}", []),
        ("python3 -m vllm.entrypoints.openai.api_server --model org/m",
         [("RP601", 1, "org/m", "model org/m is fetched by python -m "
           "vllm.entrypoints.openai.api_server --model without a revision")]),
        ("text-generation-launcher --model-id bigscience/bloom-560m --port 80",
         [("RP601", 1, "bigscience/bloom-560m", "model bigscience/bloom-560m is fetched by "
           "text-generation-launcher --model-id without a revision")]),
        ("docker run --gpus all -p 8080:80 -v $PWD/data:/data "
         "ghcr.io/huggingface/text-generation-inference:3.0 --model-id org/m",
         [("RP601", 1, "org/m", "model org/m is fetched by text-generation-inference "
           "--model-id without a revision")]),
        ("docker run --runtime nvidia vllm/vllm-openai:v0.6.0 --model org/m",
         [("RP601", 1, "org/m", "model org/m is fetched by vllm --model without a revision")]),
        ("huggingface-cli download org/m config.json --local-dir m",
         [("RP601", 1, "org/m", "model org/m is fetched by huggingface-cli download "
           "without a revision")]),
        ("hf download org/d --repo-type dataset",
         [("RP602", 1, "org/d", "dataset org/d is fetched by hf download without a revision")]),
        ("vllm serve $MODEL", []),
        ("vllm serve ./checkpoints/m", []),
        ("lm_eval --model openai-chat-completions --model_args model=openai/gpt-4o", []),
        ("text-generation-launcher --model-id /data/m", []),
    ],
)  # fmt: skip
def test_model_launchers(
    shell: Callable[..., ShellAudit], script: str, expected: list[tuple[str, int, str, str]]
) -> None:
    """EleutherAI/lm-evaluation-harness ``examples/lm-eval-overview.ipynb`` (``!lm_eval
    --model_args pretrained=EleutherAI/pythia-2.8b``) and the vLLM/TGI launchers: a hub model
    named on a serving or evaluation command line is fetched at its newest commit unless a
    revision is given (issue 14 section 4)."""
    audit = shell(script)
    assert [(f.rule, f.location.line, f.subject, f.message) for f in audit.findings] == expected


# --- Makefiles ---------------------------------------------------------------------------------

MAKEFILE = """\
VENV := .venv
PIP ?= $(VENV)/bin/pip
PY = python3
TORCH_VERSION = 2.3.1

.PHONY: install lint
install: ## set up
\t@$(PIP) install -r requirements.txt
\t-$(PIP) install torch==$(TORCH_VERSION) \\
\t    numpy
\t$(PY) -m pip install "pandas>=2"
\techo $$HOME && curl -fsSL https://x.example/i.sh | sh

lint: ; pip install ruff

define HELP
\tpip install not-a-recipe
endef

ifeq ($(CI),true)
ci:
\tpip install black
endif
"""


def test_makefile_recipes(audit: Audit) -> None:
    found = audit(
        {
            "Makefile": MAKEFILE,
            "requirements.txt": "attrs==23.2.0\n",
            "repro.toml": "require-hashes = false\n",
        }
    )
    assert [(f.rule, f.location.line, f.location.column, f.subject) for f in found] == [
        ("RP101", 10, 6, "numpy"),
        ("RP102", 11, 23, "pandas"),
        ("RP105", 12, 28, "https://x.example/i.sh"),
        ("RP101", 14, 21, "ruff"),
        ("RP101", 22, 14, "black"),
    ]


def test_make_recipes_text() -> None:
    recipes = list(make_recipes(MAKEFILE))
    assert recipes[1].text == ".venv/bin/pip install torch==2.3.1 \\\n    numpy"
    assert recipes[1].lines == (9, 10)
    assert recipes[3].text == "echo $HOME && curl -fsSL https://x.example/i.sh | sh"
    assert len(recipes) == 6


TGI_GAUDI_MAKEFILE = """\
mkfile_path := $(abspath $(lastword $(MAKEFILE_LIST)))
mkfile_dir := $(dir $(mkfile_path))
root_dir := ${mkfile_dir}/../..

image:
\tdocker build -t tgi -f ${root_dir}/Dockerfile_gaudi ${root_dir} --build-arg V=$(V)

install-server:
\tmake -C ${root_dir}/backends/gaudi/server install PROTO_PATH=../../../proto/v3

install-dependencies:
\tpip install outlines~=0.0.34
"""


def test_gnu_make_functions_are_expanded_not_syntax_errors(audit: Audit) -> None:
    """huggingface/text-generation-inference ``backends/gaudi/Makefile``: ``${root_dir}``
    expands to ``$(dir $(mkfile_path))/../..``; make runs it, so nothing about it is RP001
    or RP002, and the install after it is still audited (issue 14 section 1)."""
    found = audit({"Makefile": TGI_GAUDI_MAKEFILE})
    assert [(f.rule, f.location.line, f.location.column, f.subject) for f in found] == [
        ("RP102", 12, 14, "outlines"),
    ]


PEFT_MAKEFILE = """\
tests_core_multi_gpu:
\tpython -m pytest tests/test_gpu.py $(if $(IS_GITHUB_CI),--report-log "multi_gpu.log",)
\tpip install $(if $(CI),torch==2.3.1,torch)
\tpip install $(if $(PINNED),torch==2.3.1,torch)
"""


def test_make_if_with_an_unknown_condition_is_decided_at_run_time(audit: Audit) -> None:
    """huggingface/peft ``Makefile``: ``$(if $(IS_GITHUB_CI),--report-log "ci.log",)``. With
    a condition the file does not set, the result is a value decided when make runs."""
    found = audit({"Makefile": "PINNED = yes\n" + PEFT_MAKEFILE})
    assert [(f.rule, f.location.line, f.subject) for f in found] == [("RP103", 5, "torch")]


@pytest.mark.parametrize(
    ("makefile", "text"),
    [
        ("P = a.proto b.proto\nx:\n\techo $(P:.proto=_pb2.py)\n", "echo a_pb2.py b_pb2.py"),
        ("P = a b\nx:\n\techo $(foreach p, $(P),$(p).txt)\n", "echo a.txt b.txt"),
        ("P = a b\nx:\n\techo $(addprefix -r ,$(P))\n", "echo -r a -r b"),
        ("x:\n\techo $(subst .,-,1.2.3) $(patsubst %.c,%.o,a.c b.h)\n", "echo 1-2-3 a.o b.h"),
        (
            "x:\n\techo $(dir src/a.c b) $(notdir src/a.c) $(basename a.tar.gz)\n",
            "echo src/ ./ a.c a.tar",
        ),
        (
            "x:\n\techo $(word 2,a b c) $(words a b) $(firstword a b) $(lastword a b)\n",
            "echo b 2 a b",
        ),
        (
            "x:\n\techo $(filter %.py,a.py b.c) $(filter-out %.py,a.py b.c) $(sort b a b)\n",
            "echo a.py b.c a b",
        ),
        ("f = pip install $(1)==$(2)\nx:\n\t$(call f,numpy,1.26.4)\n", "pip install numpy==1.26.4"),
        (
            "x:\n\techo $(shell git rev-parse HEAD) $(wildcard *.txt)\n",
            "echo ${make_shell} ${make_wildcard}",
        ),
        (
            "x:\n\techo $(if ,yes,no) $(if x,yes,no) $(or ,b) $(and a,b)$(info hi)\n",
            "echo no yes b b",
        ),
        ("x:\n\techo $(strip  a   b ) $(findstring a,cat) $(join a b,1 2)\n", "echo a b a a1 b2"),
        ("x:\n\techo $@ $(MAKE) $$HOME\n", "echo ${_} ${MAKE} $HOME"),
    ],
)
def test_make_expansion(makefile: str, text: str) -> None:
    assert [r.text for r in make_recipes(makefile)] == [text]


def test_make_expansion_keeps_columns_as_written(audit: Audit) -> None:
    found = audit({"Makefile": "D = $(dir a/b)\nx:\n\tcd $(D) && pip install numpy\n"})
    assert [(f.rule, f.location.line, f.location.column) for f in found] == [("RP101", 3, 25)]


def test_makefile_claims_and_role(tmp_path: Path) -> None:
    scanner = MakefileScanner()
    assert scanner.claims("Makefile", "Makefile")
    assert scanner.claims("build/rules.mk", "rules.mk")
    assert scanner.claims("GNUmakefile", "GNUmakefile")
    assert not scanner.claims("CMakeLists.txt", "CMakeLists.txt")
    write_tree(
        tmp_path, {"Makefile": "all:\n\techo hi\n", "sub/Makefile": "i:\n\tpip install -e .\n"}
    )
    facts = run_audit(tmp_path, load_config(tmp_path)).facts
    assert facts["Makefile"].role is Role.OTHER
    assert facts["sub/Makefile"].role is Role.CONCRETE


def test_fixture_shell_project() -> None:
    root = FIXTURES / "shell" / "train-job"
    result = run_audit(root, load_config(root))
    assert hits(list(result.report.findings)) == [
        ("RP101", "Makefile", 9),
        ("RP105", "Makefile", 12),
        ("RP304", "scripts/bootstrap", 5),
        ("RP105", "scripts/bootstrap", 8),
        ("RP701", "scripts/bootstrap", 13),
        ("RP103", "scripts/bootstrap", 14),
        ("RP101", "scripts/setup_env.sh", 9),
        ("RP107", "scripts/setup_env.sh", 12),
        ("RP103", "scripts/setup_env.sh", 12),
    ]


# --- robustness --------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "pip", " install ", "numpy", "==1", ">=2", "'", '"', "\\", "\n", "$(", ")", "`", "${",
        "}", "<<EOF\n", "EOF\n", "<<-X\n", "|", "&&", ";", "if ", "then ", "fi", "case x in ",
        "esac", "for x in a b; do ", "done", "(", "curl http://x", " | sh", "-r ", "-c ", "-e ",
        "git+https://h/r@v1", "{ ", " }", "#", "<(", "sudo ", "env A=b ", "((", "))", "[[", "]]",
        "eval ", "sh -c ", "$X", "x=(", "$'", "conda install ", "apt-get install ", "\t",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=300), st.lists(_PIECES, max_size=80).map("".join)))
def test_random_text_never_raises(text: str) -> None:
    root = Path("/nonexistent-reprolock-root")
    ctx = ScanContext(root=root, config=Config())
    source = SourceFile(path="x.sh", abspath=root / "x.sh", text=text)
    audit = audit_shell(text, source, ctx)
    assert all(f.location.line >= 1 for f in audit.findings)
    make = MakefileScanner().scan(SourceFile(path="Makefile", abspath=root / "M", text=text), ctx)
    assert all(f.location.line >= 1 for f in make.findings)


def test_binary_under_bin_is_skipped_silently(tmp_path: Path) -> None:
    from tests.conftest import audit_tree, write_tree

    write_tree(
        tmp_path,
        {
            "bin/tool": b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00",
            "scripts/setup.sh": b"\x7fELF\x02\x01\x00",
        },
    )
    assert [(f.rule, f.location.path) for f in audit_tree(tmp_path)] == [
        ("RP001", "scripts/setup.sh")
    ]


def test_each_program_has_one_handler() -> None:
    # The tables are merged into one dict: a name in two of them would lose a handler silently.
    tables = [BUILTINS, fetch.HANDLERS, installers.HANDLERS, models.HANDLERS, vcs.HANDLERS]
    names = [name for table in tables for name in table]
    assert sorted(names) == sorted(set(names))
    assert set(COMMANDS.handlers) == set(names)
    wrappers = [name for table in (WRAPPERS, installers.WRAPPERS) for name in table]
    assert sorted(wrappers) == sorted(set(wrappers))
    assert {"pip", "python", "curl", "apt-get", "sh", "export"} <= set(names)


@pytest.mark.parametrize(
    ("program", "name"),
    [
        ("pip3.11", "pip"),
        ("/opt/venv/bin/pip", "pip"),
        ("$PIP_CMD", "pip"),
        ("python3", "python"),
        ("pypy3.10", "python"),
        ("${PYTHON_BIN}", "python"),
        ("py", "python"),
        ("python3-config", "python3-config"),
        ("C:/tools/curl.exe", "curl"),
        ("$TOOL", ""),
    ],
)
def test_command_name(program: str, name: str) -> None:
    word = Word(raw=program, text=program, line=0, column=1)
    assert command_name(Arg(text=program, word=word, dynamic="$" in program)) == name
