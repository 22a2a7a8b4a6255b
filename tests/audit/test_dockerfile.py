"""The Dockerfile scanner: BuildKit's reading of the file, base images, ADD, and RUN commands."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprolock.audit import dockerfile
from reprolock.audit.dockerfile import (
    DockerfileScanner,
    HereDoc,
    Instruction,
    ParsedDockerfile,
    Part,
    _after,
    _cut,
    _is_dir,
    _onbuild_heredoc,
    parse_dockerfile,
    substitute,
)
from reprolock.audit.engine import run_audit
from reprolock.audit.images import judge_image, python_of_image, split_image
from reprolock.audit.interface import (
    FileFacts,
    ImageRef,
    Include,
    PythonVersion,
    Role,
    ScanContext,
    ScanError,
    Section,
    SourceFile,
)
from reprolock.config import Config, load_config
from reprolock.model import Finding, Location, Severity
from tests.conftest import FIXTURES, hits, write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]

DIGEST = hashlib.sha256(b"image").hexdigest()
SHA = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
MINE = {"RP001", "RP101", "RP102", "RP103", "RP104", "RP105", "RP106", "RP107", "RP301"}
MINE |= {"RP302", "RP304", "RP701"}


def _mine(found: list[Finding]) -> list[tuple[str, str, int]]:
    """Hits of the rules this scanner raises (framework checks run on its facts too)."""
    return [h for h in hits(found) if h[0] in MINE]


def _facts(tmp_path: Path, text: str, name: str = "Dockerfile", **files: str) -> FileFacts:
    write_tree(tmp_path, {name: text, **files})
    result = run_audit(tmp_path, load_config(tmp_path))
    return result.facts[name]


# --- claims ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "claimed"),
    [
        ("Dockerfile", True),
        ("dockerfile", True),
        ("Containerfile", True),
        ("Dockerfile.gpu", True),
        ("Dockerfile.ubuntu22.04", True),
        ("Dockerfile-not-pinned", True),
        ("serve.Dockerfile", True),
        ("serve.dockerfile", True),
        ("Containerfile.dev", True),
        ("dockerfile.py", False),
        ("Dockerfile.j2", False),
        ("Dockerfile.dockerignore", False),
        ("Dockerfile.md", False),
        ("Dockerfiles", False),
        ("README.md", False),
    ],
)
def test_claims(name: str, claimed: bool) -> None:
    assert DockerfileScanner().claims(f"docker/{name}", name) is claimed


# --- base images: RP301 / RP302 ----------------------------------------------------------------


def test_tag_without_digest_is_rp301_at_the_image(audit: Audit) -> None:
    found = audit({"Dockerfile": "FROM python:3.11-slim\n"})
    assert hits(found) == [("RP301", "Dockerfile", 1)]
    (f,) = found
    assert f.severity is Severity.WARNING
    assert f.location.column == 6
    assert f.subject == "python"
    assert f.message == "python:3.11-slim is not pinned by digest"
    assert f.fix is not None
    assert f.fix.startswith("python:3.11-slim@sha256:<digest>")


def test_digest_pins_the_image(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11-slim@sha256:{DIGEST}
            FROM python@sha256:{DIGEST}
            FROM python:latest@sha256:{DIGEST}
            """
        }
    )
    assert hits(found) == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FROM ubuntu", "ubuntu has no tag, so it means ubuntu:latest"),
        ("FROM ubuntu:latest", "ubuntu:latest uses the mutable tag latest"),
        ("FROM registry.example.com:5000/team/img", "has no tag"),
        ("FROM --platform=$BUILDPLATFORM ubuntu AS build", "ubuntu has no tag"),
    ],
)
def test_latest_or_no_tag_is_rp302_and_not_also_rp301(
    audit: Audit, line: str, message: str
) -> None:
    found = audit({"Dockerfile": line + "\n"})
    assert hits(found) == [("RP302", "Dockerfile", 1)]
    assert message in found[0].message
    assert found[0].severity is Severity.ERROR


def test_registry_port_is_not_a_tag(audit: Audit) -> None:
    found = audit({"Dockerfile": "FROM registry.example.com:5000/team/img:1.2\n"})
    assert hits(found) == [("RP301", "Dockerfile", 1)]
    assert found[0].subject == "registry.example.com:5000/team/img"


def test_invalid_digest_is_not_a_pin(audit: Audit) -> None:
    found = audit({"Dockerfile": "FROM python:3.7@sha256:v2\n"})
    assert hits(found) == [("RP301", "Dockerfile", 1)]
    assert "not a valid sha256 digest" in found[0].message


def test_arg_without_default_is_rp302(audit: Audit) -> None:
    found = audit({"Dockerfile": "ARG BASE\nFROM $BASE\nFROM ${UNDECLARED}:1.0\n"})
    assert hits(found) == [("RP302", "Dockerfile", 2), ("RP302", "Dockerfile", 3)]
    expected = "$BASE: ${BASE} has no default, so the build command decides the image"
    assert found[0].message == expected


def test_arg_default_is_resolved(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            ARG REGISTRY=docker.io
            ARG TAG=3.11-slim@sha256:{DIGEST}
            ARG OTHER=3.11-bookworm
            FROM ${{REGISTRY}}/library/python:${{TAG}} AS pinned
            FROM python:${{OTHER}}
            FROM python:${{MISSING:-3.11-alpine}}
            """
        }
    )
    assert hits(found) == [("RP301", "Dockerfile", 5), ("RP301", "Dockerfile", 6)]
    assert found[0].message == "python:3.11-bookworm is not pinned by digest"
    assert found[1].message == "python:3.11-alpine is not pinned by digest"


def test_digest_from_an_arg_without_default_is_rp301(audit: Audit) -> None:
    found = audit({"Dockerfile": "ARG HASH\nFROM python:3.11@sha256:${HASH}\n"})
    assert hits(found) == [("RP301", "Dockerfile", 2)]
    assert "digest comes from ${HASH}" in found[0].message


def test_stage_references_and_scratch_are_not_images(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            ARG VARIANT=gpu
            FROM python:3.11@sha256:{DIGEST} AS Base
            FROM base AS build-gpu
            FROM BUILD-GPU
            FROM build-${{VARIANT}}
            FROM scratch AS export
            FROM export
            COPY --from=build-gpu /x /x
            COPY --from=0 /y /y
            RUN --mount=type=bind,from=base,target=/src true
            """
        }
    )
    assert hits(found) == []


def test_later_stage_named_like_an_image_is_still_the_image(tmp_path: Path) -> None:
    facts = _facts(tmp_path, "FROM ubuntu:22.04 AS ubuntu\nFROM ubuntu\n")
    # `FROM ubuntu` names the earlier stage, so only the first line pulls an image
    assert [f.rule for f in facts.findings] == ["RP301"]
    assert facts.images == (ImageRef(ref="ubuntu:22.04", line=1),)


def test_copy_from_and_mount_from_an_image_are_judged(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            COPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/
            COPY --from=ghcr.io/astral-sh/uv:0.4.18@sha256:{DIGEST} /uv /bin/
            RUN --mount=type=bind,from=busybox:1.36,target=/bb true
            """
        }
    )
    assert hits(found) == [("RP302", "Dockerfile", 2), ("RP301", "Dockerfile", 4)]


def test_images_and_pythons_facts(tmp_path: Path) -> None:
    facts = _facts(
        tmp_path,
        f"""\
        FROM python:3.11.9-slim@sha256:{DIGEST} AS build
        FROM build AS test
        FROM nvidia/cuda:12.1.1-runtime-ubuntu22.04
        FROM scratch
        FROM cimg/python:3.12
        """,
    )
    assert facts.images == (
        ImageRef(ref=f"python:3.11.9-slim@sha256:{DIGEST}", line=1),
        ImageRef(ref="nvidia/cuda:12.1.1-runtime-ubuntu22.04", line=3),
        ImageRef(ref="cimg/python:3.12", line=5),
    )
    assert facts.pythons == (
        PythonVersion(value="3.11", line=1, origin="base image"),
        PythonVersion(value="3.12", line=5, origin="base image"),
    )
    assert facts.role is Role.OTHER


@pytest.mark.parametrize(
    ("ref", "python"),
    [
        ("python:3.11-slim", "3.11"),
        ("docker.io/library/python:3.10.14-bookworm", "3.10"),
        ("python:3", None),
        ("python", None),
        ("pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime", None),
        ("ubuntu:22.04", None),
    ],
)
def test_python_of_image(ref: str, python: str | None) -> None:
    assert python_of_image(ref) == python


def test_split_image() -> None:
    image = split_image(f"host:5000/a/b:1.0@sha256:{DIGEST}")
    assert (image.name, image.tag, image.digest) == ("host:5000/a/b", "1.0", f"sha256:{DIGEST}")
    assert split_image("host:5000/a/b").tag is None


def test_substitute() -> None:
    known: dict[str, str | None] = {"A": "1", "B": None, "E": ""}
    assert substitute("$A-${A}", known) == ("1-1", [])
    assert substitute("${B:-x}${C:-y}${E:-z}", known) == ("xyz", [])
    assert substitute("${A:+set}${C:+set}", known) == ("set", [])
    assert substitute("${B}/$C", known) == ("${B}/${C}", ["B", "C"])


# --- ADD ---------------------------------------------------------------------------------------


def test_add_url_without_checksum_is_rp105(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            ADD https://example.com/model.tar.gz /models/
            ADD --checksum=sha256:{DIGEST} https://example.com/ok.tar.gz /models/
            ADD https://raw.githubusercontent.com/o/r/{SHA}/setup.sh /setup.sh
            ADD local.tar.gz /opt/
            """
        }
    )
    assert hits(found) == [("RP105", "Dockerfile", 2)]
    assert found[0].message == "ADD https://example.com/model.tar.gz downloads without a checksum"
    assert found[0].fix == "ADD --checksum=sha256:<hex> https://example.com/model.tar.gz <dest>"


def test_add_git_source_needs_a_commit(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            ADD https://github.com/moby/buildkit.git#v0.10.1 /bk
            ADD git@github.com:moby/buildkit.git /bk
            ADD https://github.com/moby/buildkit.git#{SHA}:docs /bk
            ADD --checksum={SHA} https://github.com/moby/buildkit.git#v0.10.1 /bk
            ADD https://github.com/moby/buildkit.git?ref=main&subdir=docs /bk
            """
        }
    )
    assert hits(found) == [
        ("RP104", "Dockerfile", 2),
        ("RP104", "Dockerfile", 3),
        ("RP104", "Dockerfile", 6),
    ]
    assert "'v0.10.1' is a movable git reference" in found[0].message
    assert "with no revision" in found[1].message
    assert found[0].subject == "https://github.com/moby/buildkit.git"


# --- RUN: shell commands at their exact lines ---------------------------------------------------


def test_run_pip_forms_and_continuation_lines(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            RUN pip install --no-cache-dir \\
                    numpy \\
                    # comment lines inside a continuation are dropped

                    "pandas>=2" \\
                    scipy==1.11.4
            RUN python3 -m pip install -U torch
            """
        }
    )
    assert hits(found) == [
        ("RP101", "Dockerfile", 3),
        ("RP102", "Dockerfile", 6),
        ("RP103", "Dockerfile", 7),
        ("RP101", "Dockerfile", 8),
    ]
    assert [f.location.column for f in found] == [9, 9, 9, 31]


def test_escape_directive_backtick(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            # escape=`
            FROM python:3.11@sha256:{DIGEST}
            RUN pip install `
                numpy `
                pandas==2.2.2
            """
        }
    )
    assert hits(found) == [("RP101", "Dockerfile", 4), ("RP103", "Dockerfile", 5)]


def test_escape_directive_must_come_first(audit: Audit) -> None:
    # after a comment it is a comment: the backslash stays the escape character
    found = audit(
        {
            "Dockerfile": f"""\
            # a comment
            # escape=`
            FROM python:3.11@sha256:{DIGEST}
            RUN pip install \\
                numpy
            """
        }
    )
    assert hits(found) == [("RP101", "Dockerfile", 5)]


def test_bad_escape_directive_is_rp001_and_the_file_is_still_audited(audit: Audit) -> None:
    found = audit({"Dockerfile": "# escape=x\nFROM python:3.11\n"})
    assert hits(found) == [("RP001", "Dockerfile", 1), ("RP301", "Dockerfile", 2)]


def test_heredoc_run(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            RUN <<EOF
            set -e
            pip install requests
            curl -fsSL https://example.com/install.sh | sh
            EOF
            RUN <<-EOT bash
            \tpip install "flask>=3"
            \tEOT
            RUN python3 <<EOF
            import subprocess
            subprocess.run(["pip", "install", "not-shell"])
            EOF
            RUN <<EOF
            #!/usr/bin/env python3
            print("pip install not-shell-either")
            EOF
            RUN pip install ok==1.0
            """
        }
    )
    assert hits(found) == [
        ("RP101", "Dockerfile", 4),
        ("RP105", "Dockerfile", 5),
        ("RP102", "Dockerfile", 8),
        ("RP103", "Dockerfile", 18),
    ]


def test_several_heredocs_on_one_run(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            RUN <<ONE <<TWO
            pip install first
            ONE
            pip install second
            TWO
            COPY <<EOF /etc/app.conf
            pip install not-a-command
            EOF
            """
        }
    )
    assert hits(found) == [("RP101", "Dockerfile", 3), ("RP101", "Dockerfile", 5)]


def test_unterminated_heredoc_is_rp001(audit: Audit) -> None:
    found = audit({"Dockerfile": "FROM python:3.11\nRUN <<EOF\npip install x\n"})
    assert ("RP001", "Dockerfile", 2) in hits(found)
    assert ("RP301", "Dockerfile", 1) in hits(found)


def test_exec_form_run(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            RUN ["pip", "install", "scipy"]
            RUN ["python3", "-m", "pip", "install", \\
                 "numpy"]
            RUN ["/bin/sh", "-c", "pip install pandas && curl https://x.example/i.sh | sh"]
            RUN ["pip", "install", "-r", "requirements.txt"]
            RUN []
            """,
            "requirements.txt": "attrs==23.2.0\n",
            "repro.toml": "require-hashes = false\n",
        }
    )
    assert hits(found) == [
        ("RP101", "Dockerfile", 2),
        ("RP101", "Dockerfile", 4),
        ("RP101", "Dockerfile", 5),
        ("RP105", "Dockerfile", 5),
    ]
    # the column of the element itself, inside its quotes
    assert [f.location.column for f in found[:2]] == [25, 7]


def test_broken_exec_form_is_rp001_and_run_as_shell(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            RUN ["pip", "install", numpy]
            RUN [ -f /etc/os-release ] && pip install pandas
            """
        }
    )
    assert hits(found) == [
        ("RP001", "Dockerfile", 2),
        ("RP101", "Dockerfile", 3),
    ]


def test_instruction_case_and_onbuild(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            from python:3.11@sha256:{DIGEST} as base
            run pip install lower
            Onbuild RUN pip install triggered
            ONBUILD FROM python
            """
        }
    )
    assert hits(found) == [
        ("RP101", "Dockerfile", 2),
        ("RP101", "Dockerfile", 3),
        ("RP001", "Dockerfile", 4),
    ]


def test_parse_problems_do_not_hide_the_rest(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": """\
            FROM python:3.11
            BOGUS something
            RUN if true; echo no-then
            RUN pip install after-the-problems
            """
        }
    )
    assert hits(found) == [
        ("RP301", "Dockerfile", 1),
        ("RP001", "Dockerfile", 2),
        ("RP002", "Dockerfile", 3),
        ("RP101", "Dockerfile", 4),
    ]
    # BuildKit rejects an unknown instruction (RP001); the shell text is not this reader's to
    # reject, so what it cannot follow is a note (RP002)
    assert found[1].message == "unknown instruction BOGUS"
    assert found[2].message == (
        "shell text not understood: if without then (found end of text); the rest is audited"
    )


def test_windows_shell_reports_no_shell_syntax(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM mcr.microsoft.com/windows/servercore:ltsc2022@sha256:{DIGEST}
            RUN if "%python%"=="3.8" echo hello
            SHELL ["powershell", "-Command"]
            RUN if ($x) {{ pip install pwsh-pkg }}
            """
        }
    )
    assert hits(found) == [("RP101", "Dockerfile", 4)]


def test_arg_and_env_values_reach_run(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            ARG TORCH=2.3.1
            FROM python:3.11@sha256:{DIGEST}
            ARG TORCH
            ARG NUMPY
            ENV PANDAS_VERSION=2.2.2 \\
                SKLEARN="1.4.2"
            RUN pip install torch==$TORCH numpy==${{NUMPY}} pandas==${{PANDAS_VERSION}} \\
                scikit-learn==$SKLEARN
            """,
            "repro.toml": "require-hashes = false\n",
        }
    )
    assert hits(found) == [("RP102", "Dockerfile", 7)]
    assert found[0].message == "numpy==${NUMPY}: the version comes from ${NUMPY} at install time"


def test_pins_include_arg_values(tmp_path: Path) -> None:
    facts = _facts(
        tmp_path,
        f"""\
        FROM python:3.11@sha256:{DIGEST}
        ARG TORCH=2.3.1
        RUN pip install "torch==${{TORCH}}+cu121" && pip install ./dist/pkg-1.0-py3-none-any.whl
        """,
    )
    assert [(p.name, p.version, p.line) for p in facts.pins] == [
        ("torch", "2.3.1+cu121", 3),
        ("pkg", "1.0", 3),
    ]
    assert facts.role is Role.CONCRETE


def test_requirements_file_copied_in_is_an_include_and_is_audited(audit: Audit) -> None:
    files: dict[str, str | bytes] = {
        "docker/Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST}
            WORKDIR /app
            COPY requirements/ ./requirements/
            COPY constraints.txt /tmp/
            RUN pip install -r requirements/serve.txt -c /tmp/constraints.txt
            RUN pip install -r /elsewhere/generated.txt
            """,
        "requirements/serve.txt": "flask\n",
        "constraints.txt": "numpy==1.26.4\n",
        "repro.toml": "require-hashes = false\n",
    }
    found = audit(files)
    # the command line gets no finding of its own: the file is judged where it is written
    assert hits(found) == [("RP101", "requirements/serve.txt", 1)]


def test_requirements_include_facts(tmp_path: Path) -> None:
    facts = _facts(
        tmp_path,
        f"""\
        FROM python:3.11@sha256:{DIGEST}
        COPY req.txt .
        RUN pip install -r req.txt
        """,
        **{"req.txt": "attrs==23.2.0\n"},
    )
    assert facts.includes == (Include(target="req.txt", line=3),)
    assert facts.role is Role.CONCRETE


def test_download_in_one_run_executed_in_a_later_one(audit: Audit) -> None:
    found = audit(
        {
            "Dockerfile": f"""\
            FROM python:3.11@sha256:{DIGEST} AS build
            RUN curl -fsSLo /tmp/install.sh https://example.com/install.sh
            FROM build
            RUN sh /tmp/install.sh
            RUN wget -O /tmp/ok.sh https://example.com/ok.sh \\
                && echo "{DIGEST}  /tmp/ok.sh" | sha256sum -c - \\
                && sh /tmp/ok.sh
            """
        }
    )
    assert hits(found) == [("RP105", "Dockerfile", 4)]
    assert "downloaded on line 2" in found[0].message


def test_index_options_in_run(tmp_path: Path) -> None:
    facts = _facts(
        tmp_path,
        f"""\
        FROM python:3.11@sha256:{DIGEST}
        ENV PIP_EXTRA_INDEX_URL=https://pypi.internal.example/simple
        RUN pip install -i https://mirror.example/simple --trusted-host mirror.example x==1
        """,
        **{"repro.toml": "require-hashes = false\n"},
    )
    assert [(f.rule, f.location.line) for f in facts.findings] == [("RP107", 3)]
    assert facts.indexes == ("https://mirror.example/simple",)


# --- the parser on its own ---------------------------------------------------------------------


def test_parse_dockerfile_lines_and_heredocs() -> None:
    parsed = parse_dockerfile(
        "# syntax=docker/dockerfile:1\n"
        "FROM a\n"
        "RUN echo one \\\n"
        "\n"
        "  # dropped\n"
        "  two\n"
        "RUN <<EOF\n"
        "body\n"
        "EOF\n"
    )
    run = parsed.instructions[1]
    assert (run.keyword, run.line, run.text) == ("RUN", 3, "echo one   two")
    assert [p.line for p in run.parts] == [3, 6]
    heredoc = parsed.instructions[2].heredocs[0]
    assert (heredoc.delimiter, [p.text for p in heredoc.body], heredoc.end_line) == (
        "EOF",
        ["body"],
        9,
    )
    assert parsed.problems == ()


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        # the escape, then only blanks, continues the line; the escape is dropped, blanks
        # before it are kept
        ("RUN a \\ \t\nb\n", [(1, 5, "a "), (2, 1, "b")]),
        ("RUN a \\\r\nb\n", [(1, 5, "a "), (2, 1, "b")]),
        # an escape that is not last continues nothing
        ("RUN a \\ b\nRUN c\n", [(1, 5, "a \\ b")]),
        # of two escapes at the end, the last continues
        ("RUN a \\\\\nb\n", [(1, 5, "a \\"), (2, 1, "b")]),
        # with the backtick escape, a backslash at the end is text
        ("# escape=`\nRUN a \\\nRUN b `\nc\n", [(2, 5, "a \\")]),
        ("  RUN\ta `  \n  c\n", [(1, 7, "a `  ")]),
        ("RUN a\n", [(1, 5, "a")]),
    ],
)
def test_parse_dockerfile_continuations(text: str, parts: list[tuple[int, int, str]]) -> None:
    first = parse_dockerfile(text).instructions[0]
    assert [(p.line, p.column, p.text) for p in first.parts] == parts
    assert first.text == "".join(p for _, _, p in parts)


def test_fixture_ml_service() -> None:
    root = FIXTURES / "dockerfile" / "ml-service"
    result = run_audit(root, load_config(root))
    assert _mine(list(result.report.findings)) == [
        ("RP103", "Dockerfile", 12),
        ("RP101", "Dockerfile", 13),
        ("RP102", "Dockerfile", 14),
        ("RP301", "Dockerfile", 16),
        ("RP304", "Dockerfile", 20),
        ("RP105", "Dockerfile", 23),
        ("RP301", "Dockerfile", 24),
        ("RP105", "Dockerfile", 25),
    ]
    facts = result.facts["Dockerfile"]
    assert facts.includes == (Include(target="requirements/serve.txt", line=10),)
    assert [i.ref.split("@")[0] for i in facts.images] == [
        "python:3.11.9-slim-bookworm",
        "nvidia/cuda:12.1.1-runtime-ubuntu22.04",
    ]
    assert facts.pythons == (PythonVersion(value="3.11", line=5, origin="base image"),)
    assert facts.role is Role.CONCRETE


# --- robustness --------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "FROM ", "RUN ", "ARG ", "ENV ", "ADD ", "COPY ", "ONBUILD ", "SHELL ", "WORKDIR ",
        "python:3.11", "@sha256:", "${A}", "$B", "=", " AS x", "--from=x ", "--mount=from=y ",
        "<<EOF\n", "EOF\n", "<<-EOT\n", "\tEOT\n", "\\\n", "`\n", "# escape=`\n", "# c\n",
        '["pip", ', '"install"', "]", "[", "pip install ", "numpy", ">=1", "'", '"', "\n",
        "curl x | sh", "if ", "then ", "fi", "$(", ")", "https://h/x.git#v1 ", "\t", " ",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=300), st.lists(_PIECES, max_size=60).map("".join)))
def test_random_text_raises_nothing_but_scan_error(text: str) -> None:
    root = Path("/nonexistent-reprolock-root")
    ctx = ScanContext(root=root, config=Config())
    source = SourceFile(path="Dockerfile", abspath=root / "Dockerfile", text=text)
    try:
        facts = DockerfileScanner().scan(source, ctx)
    except ScanError:
        return
    for f in facts.findings:
        assert f.location.path == "Dockerfile"
        assert f.location.line >= 1


def _read_by_keyword(text: str) -> ParsedDockerfile:
    """:func:`parse_dockerfile` written plainly: each instruction and line made by the
    dataclasses' own ``__init__``, its keyword found by a regular expression, a continuation
    by a function of one line."""

    def continued(line: str, escape: str) -> tuple[str, bool]:
        end = line.rstrip(" \t")
        return (end[:-1], True) if end.endswith(escape) else (line, False)

    lines = [line.rstrip("\r") for line in text.split("\n")]
    directives = parse_dockerfile("\n".join(lines[: _directive_lines(lines)]))
    escape, problems = directives.escape, list(directives.problems)
    index = _directive_lines(lines)
    instructions: list[Instruction] = []
    while index < len(lines):
        raw = lines[index]
        index += 1
        head = re.match(r"^(\s*)(\S+)(\s*)", raw)
        if head is None or head.group(2).startswith("#"):
            continue
        number, keyword, start = index, head.group(2), head.end()
        body, more = continued(raw[start:], escape)
        parts = [Part(line=number, column=start + 1, text=body)]
        while more and index < len(lines):
            following = lines[index]
            index += 1
            if not following.strip() or following.lstrip().startswith("#"):
                continue
            body, more = continued(following, escape)
            parts.append(Part(line=index, column=1, text=body))
        arguments = "".join(p.text for p in parts)
        heredocs: tuple[HereDoc, ...] = ()
        upper = keyword.upper()
        if upper in {"RUN", "COPY", "ADD"} or (upper == "ONBUILD" and _onbuild_heredoc(parts)):
            heredocs, index = dockerfile._heredocs(arguments, lines, index, number, problems)
        instructions.append(
            Instruction(
                keyword=upper,
                line=number,
                parts=tuple(parts),
                text=arguments,
                heredocs=heredocs,
            )
        )
    return ParsedDockerfile(
        instructions=tuple(instructions), problems=tuple(problems), escape=escape
    )


def _directive_lines(lines: list[str]) -> int:
    """How many of ``lines`` are parser directives (as :func:`parse_dockerfile` reads them)."""
    count = 0
    for line in lines:
        match = dockerfile._DIRECTIVE.match(line.strip())
        if match is None or match.group(1).lower() not in dockerfile._KNOWN_DIRECTIVES:
            break
        count += 1
    return count


# Every character either way of reading takes for a blank, and a few that neither does.
_BLANKS = st.sampled_from(
    [
        *(" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2003"),
        *("\u3000", "\u200b", "\ufeff", "RUN", "a", "#", "\\"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.lists(_PIECES, max_size=60).map("".join),
        st.lists(_BLANKS, max_size=30).map("".join),
    )
)
def test_the_reader_agrees_with_reading_line_by_line(text: str) -> None:
    assert parse_dockerfile(text) == _read_by_keyword(text)


def test_lines_and_instructions_are_made_with_every_field_the_constructors_set() -> None:
    assert [f.name for f in fields(Part)] == ["line", "column", "text"]
    assert [f.name for f in fields(Instruction)] == ["keyword", "line", "parts", "text", "heredocs"]
    part = dockerfile._PART(2, 5, "pip install x")
    assert type(part) is Part
    assert part == Part(line=2, column=5, text="pip install x")
    made = dockerfile._INSTRUCTION("RUN", 2, (part,), "pip install x", ())
    assert type(made) is Instruction
    assert made == Instruction(keyword="RUN", line=2, parts=(part,), text="pip install x")
    section = dockerfile._SECTION(kind="stage", name="b", start=1, end=4, parent="a", labels=())
    assert type(section) is Section
    assert section == Section(kind="stage", name="b", start=1, end=4, parent="a")
    facts = dockerfile._FILE_FACTS(path="Dockerfile", kind="dockerfile", role=Role.OTHER)
    assert type(facts) is FileFacts
    assert facts == FileFacts(path="Dockerfile", kind="dockerfile", role=Role.OTHER)


# --- git clones, pip -r of a remote file on an ARG (issue 14 section 4) ------------------------


def test_a_clone_entered_by_workdir_or_built_in_a_later_run(audit: Audit) -> None:
    """pytorch/serve ``docker/Dockerfile``: ``git clone --recursive $REPO_URL -b $BRANCH_NAME
    serve`` then ``WORKDIR "serve"``; facebookresearch/detectron2 ``docker/Dockerfile``: the
    clone is installed by ``pip install -e`` in a later ``RUN``."""
    found = audit(
        {
            "Dockerfile": """\
            FROM python:3.11@sha256:"""
            + "a" * 64
            + """
            ARG BRANCH_NAME
            ARG REPO_URL=https://github.com/pytorch/serve.git
            WORKDIR /home
            RUN git clone --recursive $REPO_URL -b $BRANCH_NAME serve
            WORKDIR "serve"
            RUN git clone https://github.com/facebookresearch/detectron2 detectron2_repo
            ENV FORCE_CUDA="1"
            RUN pip install --user -e detectron2_repo
            """,
        }
    )
    assert [(f.rule, f.location.line, f.message) for f in found] == [
        ("RP104", 5, "https://github.com/pytorch/serve.git is cloned at ${BRANCH_NAME} (a ref "
         "chosen when it runs), then entered by WORKDIR on line 6"),
        ("RP104", 7, "https://github.com/facebookresearch/detectron2 is cloned at its default "
         "branch, then used by pip on line 9"),
    ]  # fmt: skip


def test_remote_requirements_on_an_arg_without_default(audit: Audit) -> None:
    """pytorch/serve ``docker/Dockerfile`` line 191: ``pip install -r
    https://raw.githubusercontent.com/pytorch/serve/$BRANCH_NAME/requirements/developer.txt``
    with ``ARG BRANCH_NAME`` and no default: RP105 as for a fixed branch."""
    found = audit(
        {
            "Dockerfile": """\
            FROM python:3.11@sha256:"""
            + "a" * 64
            + """
            ARG BRANCH_NAME
            RUN python -m pip install -r https://raw.githubusercontent.com/pytorch/serve/$BRANCH_NAME/requirements/developer.txt
            """,
        }
    )
    url = (
        "https://raw.githubusercontent.com/pytorch/serve/${BRANCH_NAME}/requirements/developer.txt"
    )
    assert [(f.rule, f.location.line, f.subject, f.message) for f in found] == [
        ("RP105", 3, url, f"requirements file {url} is downloaded at install time without a "
         "hash (a variable in the URL decides what is fetched)"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("copy", "install", "target"),
    [
        # a directory copied without a trailing slash: only the context says it is one
        ("COPY conf /app/conf", "-r /app/conf/req.txt", "conf/req.txt"),
        ("COPY conf/ /app/conf/", "-r /app/conf/req.txt", "conf/req.txt"),
        # a file copied into a directory, by name and by pattern
        ("COPY conf/req.txt /app/", "-r /app/req.txt", "conf/req.txt"),
        ("COPY conf/*.txt /app/", "-r /app/req.txt", "conf/req.txt"),
        # a file copied to a file of another name
        ("COPY conf/req.txt /app/r.txt", "-r /app/r.txt", "conf/req.txt"),
        ("COPY conf/req.txt /app/r.txt", "-r /app/req.txt", None),
        ("COPY . /app", "-r /app/conf/req.txt", "conf/req.txt"),
        ("COPY conf /", "-r /req.txt", "conf/req.txt"),
    ],
)
def test_files_named_in_run_found_through_copies(
    tmp_path: Path, copy: str, install: str, target: str | None
) -> None:
    facts = _facts(
        tmp_path,
        f"""\
        FROM python:3.11@sha256:{DIGEST}
        {copy}
        RUN pip install {install}
        """,
        **{"conf/req.txt": "attrs==23.2.0\n"},
    )
    expected = (Include(target=target, line=3),) if target is not None else ()
    assert facts.includes == expected


def test_is_dir_answers_as_path_is_dir(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    for name in ("d", "f", "missing", "f/under-a-file", "bad\0name"):
        assert _is_dir(str(tmp_path / name)) is (tmp_path / name).is_dir()
    # pathlib raises for a name too long; no such name is a directory the build copies from
    with pytest.raises(OSError, match="too long"):
        (tmp_path / ("x" * 300)).is_dir()
    assert _is_dir(str(tmp_path / ("x" * 300))) is False


def test_a_copy_source_with_a_name_too_long_for_the_disk_is_no_directory(
    audit: Callable[[dict[str, str | bytes]], list[Finding]],
) -> None:
    # The RUN line's file is looked for under the COPY's source: the disk is asked whether
    # that source is a directory, and its name is longer than any the disk allows.
    dockerfile = (
        f"FROM python:3.11@sha256:{'a' * 64}\n"
        f"COPY {'a' * 5000} /app\n"
        "RUN pip install -r /app/requirements.txt\n"
    )
    assert hits(audit({"Dockerfile": dockerfile})) == []


@settings(max_examples=200)
@given(
    texts=st.lists(st.sampled_from(["", " ", "pip install x", "&& y", "\t"]), min_size=1),
    offset=st.integers(min_value=0, max_value=30),
)
def test_parts_after_an_offset(texts: list[str], offset: int) -> None:
    parts = [Part(line=i + 1, column=1 + i, text=t) for i, t in enumerate(texts)]
    cut = _cut(parts, offset)
    assert _after(parts, offset) == cut
    # what is left is the joined text from the offset on
    assert "".join(p.text for p in cut) == "".join(texts)[offset:]


def test_a_directory_of_the_build_context_is_asked_of_the_disk_once(tmp_path: Path) -> None:
    write_tree(tmp_path, {"src/a.py": "", "p/Dockerfile": ""})
    ctx = ScanContext(root=tmp_path, config=Config(), files=frozenset({"src/a.py"}))
    directories = dockerfile._DIRECTORIES
    assert [directories.is_dir(ctx, p) for p in ("src", "src/a.py", "nothing")] == [
        True,
        False,
        False,
    ]
    assert directories.known == {"src": True, "src/a.py": False, "nothing": False}
    other = ScanContext(root=tmp_path / "p", config=Config())
    assert directories.is_dir(other, "src") is False  # another audit asks again
    assert directories.known == {"src": False}


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from([" ", "\t", "\u00a0", "-", "--", "a", "=", "'", "x y"])))
def test_flags_read_at_once_agree_with_flags_read_one_by_one(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert dockerfile._Audit.flags(text) == dockerfile._read_flags(text)


def test_text_without_flags_is_not_read_flag_by_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> object:
        raise AssertionError(text)

    monkeypatch.setattr(dockerfile, "_read_flags", refuse)
    assert dockerfile._Audit.flags("  pip install x") == ({}, "pip install x", 2)
    with pytest.raises(AssertionError):
        dockerfile._Audit.flags(" --mount=type=cache x")


def test_blank_and_comment_lines_between_instructions_are_passed_over() -> None:
    parsed = parse_dockerfile("FROM a\n \u00a0\t\n   # RUN x\n#\n\u2003RUN  y\n")
    assert [(i.keyword, i.line, i.parts[0].column, i.text) for i in parsed.instructions] == [
        ("FROM", 1, 6, "a"),
        ("RUN", 5, 7, "y"),
    ]


def test_an_instruction_s_text_is_its_parts_joined() -> None:
    paths = [p for p in FIXTURES.rglob("*") if p.is_file() and p.name.startswith("Dockerfile")]
    assert len(paths) > 20
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in paths]
    texts.append("ONBUILD RUN pip install \\\n  numpy\nONBUILD\n")
    for text in texts:
        for instruction in parse_dockerfile(text).instructions:
            assert instruction.text == "".join(p.text for p in instruction.parts)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="ab{}\\:-+?_ "),
    known=st.dictionaries(st.sampled_from(["a", "b", "A"]), st.none() | st.text(max_size=3)),
)
def test_text_without_a_dollar_is_substituted_as_it_is(
    text: str, known: dict[str, str | None]
) -> None:
    class Refuse:
        def sub(self, *args: object) -> str:
            raise AssertionError(args)

    expected: tuple[str, list[str]] = (dockerfile._VARIABLE.sub(lambda m: "!", text), [])
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dockerfile, "_VARIABLE", Refuse())
        assert substitute(text, known) == expected == (text, [])


def test_a_stage_s_variables_are_one_view_of_its_env_and_args() -> None:
    stage = dockerfile._Stage()
    view = stage.variables
    stage.args["A"] = "1"
    stage.env["B"] = None
    stage.args["B"] = "2"
    assert stage.variables is view
    assert dict(view) == {"A": "1", "B": None}
    assert stage.inherit("next").variables is not view


@pytest.mark.parametrize(
    ("resolved", "written", "missing"),
    [
        (f"python:3.11@{'sha256:' + 'ab' * 32}", f"python:3.11@{'sha256:' + 'ab' * 32}", ()),
        ("python:3.11", "python:3.11", ()),
        ("python:latest", "python:latest", ()),
        ("python", "python", ()),
        ("${BASE}", "${BASE}", ("BASE",)),
        ("python:3.11@${DIGEST}", "python:3.11@${DIGEST}", ("DIGEST",)),
        ("python:3.11@sha256:bad", "$IMAGE", ()),
        ("scratch", "scratch", ()),
    ],
)
def test_an_image_is_known_pinned_exactly_when_it_is_judged_clean(
    resolved: str, written: str, missing: tuple[str, ...]
) -> None:
    location = Location(path="Dockerfile", line=3, column=6)
    judged = judge_image(resolved, location, written=written, unresolved=missing)
    assert dockerfile._pinned_image(resolved, written, missing) == (judged == [])


def test_a_pinned_base_image_is_judged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dockerfile._pinned_image.cache_clear()
    judged: list[str] = []

    def counted(ref: str, location: Location, **options: object) -> list[Finding]:
        judged.append(ref)
        return judge_image(ref, location, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(dockerfile, "judge_image", counted)
    pinned = f"python:3.11@sha256:{'ab' * 32}"
    files: dict[str, str | bytes] = {
        f"p{i}/Dockerfile": f"FROM {pinned}\nFROM python:3.12\n" for i in range(3)
    }
    write_tree(tmp_path, files)
    ctx = ScanContext(root=tmp_path, config=Config(), files=frozenset(files))
    found: list[tuple[str, str, int]] = []
    for path, text in files.items():
        source = SourceFile(path=path, abspath=tmp_path / path, text=str(text))
        found += [
            (f.rule, f.location.path, f.location.line)
            for f in DockerfileScanner().scan(source, ctx).findings
        ]
    assert found == [("RP301", f"p{i}/Dockerfile", 2) for i in range(3)]
    # the pinned image once; the one that is not, once to learn it, then in each file
    assert judged == [pinned, "python:3.12", "python:3.12", "python:3.12", "python:3.12"]


_TWO_STAGES = (
    "FROM python:3.11 AS build\n"
    "WORKDIR /app\n"
    "COPY requirements.txt ./\n"
    "RUN pip wheel --wheel-dir /w -r requirements.txt\n"
    "FROM python:3.11\n"
    "WORKDIR /app\n"
    "COPY requirements.txt ./\n"
    "RUN pip install -r requirements.txt\n"
)


def _scan_two_stages(tmp_path: Path) -> FileFacts:
    files: dict[str, str | bytes] = {
        "svc/Dockerfile": _TWO_STAGES,
        "svc/requirements.txt": "numpy==1.26.4\n",
    }
    write_tree(tmp_path, files)
    ctx = ScanContext(root=tmp_path, config=Config(), files=frozenset(files))
    source = SourceFile(
        path="svc/Dockerfile", abspath=tmp_path / "svc/Dockerfile", text=_TWO_STAGES
    )
    return DockerfileScanner().scan(source, ctx)


def test_a_context_path_is_asked_about_once_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    for name in ("_context_dir_asked", "_context_file_asked"):
        general = getattr(dockerfile._Audit, name)

        def counted(
            self: object, relative: str, general: Callable[..., object] = general
        ) -> object:
            asked.append(relative)
            return general(self, relative)

        monkeypatch.setattr(dockerfile._Audit, name, counted)
    facts = _scan_two_stages(tmp_path)
    # both stages install the copied file: the context is asked about it once each way
    assert asked == ["requirements.txt", "requirements.txt"]
    assert [(i.target, i.line) for i in facts.includes] == [
        ("svc/requirements.txt", 4),
        ("svc/requirements.txt", 8),
    ]


def test_a_context_path_asked_again_gets_the_first_answer(tmp_path: Path) -> None:
    remembered = _scan_two_stages(tmp_path)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(dockerfile._Audit, "_context_dir", dockerfile._Audit._context_dir_asked)
        m.setattr(dockerfile._Audit, "_context_file", dockerfile._Audit._context_file_asked)
        asked_each_time = _scan_two_stages(tmp_path)
    assert remembered == asked_each_time
