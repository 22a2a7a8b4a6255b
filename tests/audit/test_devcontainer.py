"""Dev containers: JSON with comments, the image, the Dockerfile built, features, and the
installs in lifecycle commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reprolock.audit.devcontainer import DevcontainerScanner, strip_jsonc
from reprolock.audit.engine import run_audit
from reprolock.audit.interface import Role
from reprolock.config import load_config
from reprolock.model import Finding
from tests.conftest import write_tree

Audit = Callable[[dict[str, str | bytes]], list[Finding]]
DC = ".devcontainer/devcontainer.json"
DIGEST = "sha256:" + "4a" * 32

TRY_PYTHON = """\
// For format details, see https://aka.ms/vscode-remote/devcontainer.json or this file's README
{
\t"name": "Python 3",
\t"build": {
\t\t"dockerfile": "Dockerfile",
\t\t"context": "..",
\t\t// Update 'VARIANT' to pick a Python version: 3, 3.6, 3.7, 3.8
\t\t"args": { "VARIANT": "3" }
\t},
\t/* Set *default* container specific settings.json values on container create. */
\t"settings": { "terminal.integrated.shell.linux": "/bin/bash", },
\t"forwardPorts": [9000],
\t// Use 'postCreateCommand' to run commands after the container is created.
\t"postCreateCommand": "pip3 install -r requirements.txt",
\t"remoteUser": "vscode",
}
"""


def _found(findings: list[Finding]) -> list[tuple[str, str, int, str]]:
    return [(f.rule, f.location.path, f.location.line, f.subject) for f in findings]


def test_the_try_python_shape(tmp_path: Path) -> None:
    """microsoft/vscode-remote-try-python ``.devcontainer/devcontainer.json``: comments and
    trailing commas, ``build.dockerfile`` beside it (audited by the Dockerfile scanner, as it
    is named Dockerfile), and ``postCreateCommand`` installing the repository's requirements
    file, which is then audited as a concrete environment (issue 14 section 5)."""
    write_tree(
        tmp_path,
        {
            DC: TRY_PYTHON,
            ".devcontainer/Dockerfile": "ARG VARIANT=3\nFROM python:${VARIANT}\n",
            "requirements.txt": "flask\n",
        },
    )
    result = run_audit(tmp_path, load_config(tmp_path))
    assert _found(list(result.report.findings)) == [
        ("RP301", ".devcontainer/Dockerfile", 2, "python"),
        ("RP101", "requirements.txt", 1, "flask"),
    ]
    facts = result.facts[DC]
    assert [i.target for i in facts.includes] == ["requirements.txt"]
    assert facts.role is Role.CONCRETE
    assert facts.consulted == ()


def test_image_features_and_commands(audit: Audit) -> None:
    """The shape of the devcontainers/templates Python template: an image on a moving tag,
    features by major version, and an ``onCreateCommand`` that installs tools."""
    found = audit(
        {
            ".devcontainer.json": f"""\
            {{
              "image": "mcr.microsoft.com/devcontainers/python:1-3.12-bullseye",
              "features": {{
                "ghcr.io/devcontainers/features/node:1": {{}},
                "ghcr.io/devcontainers/features/docker-in-docker@{DIGEST}": {{}},
                "ghcr.io/org/features/tool": {{"version": "latest"}},
                "https://example.com/feature.tgz": {{}},
                "./local-feature": {{}}
              }},
              "onCreateCommand": ["pip", "install", "--user", "black"],
              "postStartCommand": {{
                "server": "uvicorn app:app",
                "tools": "pip install pre-commit==3.7.1"
              }}
            }}
            """,
            "repro.toml": "require-hashes = false\n",
        }
    )
    assert [(f.rule, f.location.line, f.message) for f in found] == [
        ("RP301", 2, "mcr.microsoft.com/devcontainers/python:1-3.12-bullseye is not pinned by "
         "digest"),
        ("RP301", 4, "devcontainer feature ghcr.io/devcontainers/features/node:1 is not pinned "
         "by digest"),
        ("RP302", 6, "devcontainer feature ghcr.io/org/features/tool has no tag, so it means "
         "ghcr.io/org/features/tool:latest"),
        ("RP105", 7, "devcontainer feature https://example.com/feature.tgz is downloaded "
         "without a checksum"),
        ("RP101", 10, "black is not pinned"),
    ]  # fmt: skip


def test_a_dockerfile_no_other_scanner_reads_is_audited_here(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            DC: '{"build": {"dockerfile": "dev.df"}}\n',
            ".devcontainer/dev.df": "FROM python:3.11\nRUN pip install pylint\n",
        },
    )
    result = run_audit(tmp_path, load_config(tmp_path))
    assert _found(list(result.report.findings)) == [
        ("RP301", ".devcontainer/dev.df", 1, "python"),
        ("RP101", ".devcontainer/dev.df", 2, "pylint"),
    ]
    assert result.facts[DC].consulted == (".devcontainer/dev.df",)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"image": 3}\n', 1, "devcontainer: image must be a string"),
        ('{\n  "image": "x",\n  oops\n}\n', 3, "invalid JSON: Expecting property name enclosed "
         "in double quotes"),
        ("[1]\n", 1, "expected a JSON object at the top level"),
        ('{"build": {"dockerfile": "../../x"}}\n', 1,
         "devcontainer: build.dockerfile ../../x is outside the repository"),
        ('{"build": {"dockerfile": "missing"}}\n', 1,
         "devcontainer: build.dockerfile missing cannot be read"),
    ],
)  # fmt: skip
def test_configs_the_tool_refuses_are_rp001(
    audit: Audit, text: str, line: int, message: str
) -> None:
    found = [f for f in audit({DC: text}) if f.rule == "RP001"]
    assert [(f.location.line, f.message.removeprefix("devcontainer: ")) for f in found] == [
        (line, message.removeprefix("devcontainer: "))
    ]


def test_strip_jsonc_keeps_lines_and_strings() -> None:
    text = '{\n  "a": "// not a comment", // a comment\n  "b": [1, 2,], /* x\n y */ "c": 3,\n}'
    stripped = strip_jsonc(text)
    assert stripped.count("\n") == text.count("\n")
    assert len(stripped) == len(text)
    assert '"// not a comment"' in stripped
    assert stripped.replace(" ", "").replace("\n", "") == '{"a":"//notacomment","b":[1,2],"c":3}'


def test_claims() -> None:
    scanner = DevcontainerScanner()
    assert scanner.claims(".devcontainer.json", ".devcontainer.json")
    assert scanner.claims(".devcontainer/devcontainer.json", "devcontainer.json")
    assert scanner.claims(".devcontainer/gpu/devcontainer.json", "devcontainer.json")
    assert scanner.claims("svc/.devcontainer/devcontainer.json", "devcontainer.json")
    assert not scanner.claims("docs/devcontainer.json", "devcontainer.json")
