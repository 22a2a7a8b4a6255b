"""Dev containers (``.devcontainer.json``, ``.devcontainer/devcontainer.json``, and one folder
deeper): the ``image`` (RP301/RP302), the Dockerfile ``build`` names (audited here when no
other scanner reads it), ``features`` pinned by version only or not at all, and the installs
in the lifecycle commands (``postCreateCommand``...) through the shell reader.

The file is JSON with comments and trailing commas, as VS Code reads it: both are blanked
(never removed) before ``json`` reads it, so every line stays where it was written.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from reprolock import files
from reprolock.audit.budget import ExpansionBudget
from reprolock.audit.dockerfile import DockerfileScanner
from reprolock.audit.images import judge_image
from reprolock.audit.interface import (
    FileFacts,
    ImageRef,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
)
from reprolock.audit.shell import ShellAudit, audit_shell, immutable_url, repo_file
from reprolock.formats.json import JsonPath, json_key_lines, json_scalars
from reprolock.model import Finding
from reprolock.rules import finding

KIND_DEVCONTAINER = "devcontainer"

LIFECYCLE_COMMANDS = (
    "initializeCommand",
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "postAttachCommand",
)
"""Commands the container (or, for ``initializeCommand``, the host) runs as it is set up."""

_JSONC_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/|,(?=\s*[\]}])', re.DOTALL)
_TARBALL = re.compile(r"^https?://", re.IGNORECASE)


def strip_jsonc(text: str) -> str:
    """JSON with comments and trailing commas as plain JSON of the same lines and columns:
    each comment and trailing comma is replaced by spaces (line breaks kept)."""

    def blank(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith('"'):
            return token
        return re.sub(r"[^\n]", " ", token)

    return _JSONC_TOKEN.sub(blank, text)


class DevcontainerScanner(Scanner):
    """``.devcontainer.json`` and ``devcontainer.json`` under a ``.devcontainer`` folder."""

    name = KIND_DEVCONTAINER
    extensions = frozenset({"json"})

    def claims(self, relpath: str, filename: str) -> bool:
        if filename == ".devcontainer.json":
            return True
        parts = relpath.split("/")
        return filename == "devcontainer.json" and ".devcontainer" in parts[-3:-1]

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        text = strip_jsonc(source.text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScanError(f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
        except RecursionError:
            raise ScanError("invalid JSON: nesting too deep", 1) from None
        if not isinstance(data, dict):
            raise ScanError("expected a JSON object at the top level")
        scan = _Scan(source, ctx, _scalar_lines(text))
        scan.config(data)
        return scan.facts()


def _scalar_lines(text: str) -> dict[JsonPath, int]:
    """The line of every scalar by its path (the first, when a path repeats), and of every
    object key a few levels deep (a feature's key, whose options may be ``{}``)."""
    out: dict[JsonPath, int] = dict(json_key_lines(text, max_depth=3))
    for path, _lexeme, line in json_scalars(text):
        if len(path) > 3 or path not in out:
            out[path] = line
    return out


class _Scan:
    def __init__(self, source: SourceFile, ctx: ScanContext, lines: dict[JsonPath, int]) -> None:
        self.source = source
        self.ctx = ctx
        self.lines = lines
        self.findings: list[Finding] = []
        self.images: list[ImageRef] = []
        self.audits: list[ShellAudit] = []
        self.consulted: list[str] = []
        self.budget = ExpansionBudget(source.path)

    def line(self, *path: str | int) -> int:
        """The line of the scalar at ``path`` (or of the first scalar under it)."""
        if path in self.lines:
            return self.lines[path]
        under = [line for key, line in self.lines.items() if key[: len(path)] == path]
        return min(under) if under else 1

    def bad(self, message: str, *path: str | int) -> None:
        where = self.source.at(self.line(*path))
        self.findings.append(finding("RP001", f"{KIND_DEVCONTAINER}: {message}", where))

    def facts(self) -> FileFacts:
        note = self.budget.note()
        return FileFacts(
            path=self.source.path,
            kind=KIND_DEVCONTAINER,
            role=Role.CONCRETE if any(a.installs_python for a in self.audits) else Role.OTHER,
            findings=(
                *self.findings,
                *(f for a in self.audits for f in a.findings),
                *((note,) if note is not None else ()),
            ),
            pins=tuple(dict.fromkeys(p for a in self.audits for p in a.pins)),
            includes=tuple(dict.fromkeys(i for a in self.audits for i in a.includes)),
            images=tuple(self.images),
            indexes=tuple(dict.fromkeys(x for a in self.audits for x in a.indexes)),
            consulted=tuple(self.consulted),
        )

    def config(self, data: dict[str, Any]) -> None:
        image = data.get("image")
        if isinstance(image, str):
            self.image(image, ("image",))
        elif image is not None:
            self.bad("image must be a string", "image")
        build = data.get("build")
        dockerfile = build.get("dockerfile") if isinstance(build, dict) else None
        if dockerfile is None:
            dockerfile = data.get("dockerFile")  # the older spelling
        if isinstance(dockerfile, str):
            self.dockerfile(dockerfile)
        features = data.get("features")
        if isinstance(features, dict):
            for feature in features:
                self.feature(str(feature))
        for key in LIFECYCLE_COMMANDS:
            if key in data:
                for command, path in _commands(data[key], (key,)):
                    self.command(command, path)

    def image(self, ref: str, path: tuple[str | int, ...]) -> None:
        line = self.line(*path)
        location = self.source.at(line)
        if ref.strip() and "$" not in ref:
            self.images.append(ImageRef(ref=ref.strip(), line=line))
        self.findings.extend(judge_image(ref, location))

    def dockerfile(self, written: str) -> None:
        """The Dockerfile the container is built from: audited by its own scanner when it is
        one by name; else here, its findings at its own path."""
        relative = posixpath.normpath(posixpath.join(self.source.parent, written))
        if relative in self.ctx.files or "$" in written:
            return
        if relative.startswith("../") or relative == "..":
            self.bad(f"build.dockerfile {written} is outside the repository", "build")
            return
        try:
            path = files.inside(self.ctx.root, relative, what=f"{self.source.path}: dockerfile")
            text = files.read_text(path, limit=files.MAX_FILE_BYTES)
        except files.OutsideRootError:
            self.bad(f"build.dockerfile {written} is outside the repository", "build")
            return
        except (OSError, UnicodeDecodeError):
            self.bad(f"build.dockerfile {written} cannot be read", "build")
            return
        self.consulted.append(relative)
        target = SourceFile(path=relative, abspath=path, text=text)
        facts = DockerfileScanner().scan(target, self.ctx)
        self.findings.extend(facts.findings)

    def feature(self, feature: str) -> None:
        """A feature: an OCI reference (``ghcr.io/devcontainers/features/python:1``) pinned by
        digest or not, a tarball URL, or a folder in the repository."""
        text = feature.strip()
        location = self.source.at(self.line("features", feature))
        if not text or text.startswith((".", "/")):
            return
        if _TARBALL.match(text):
            if immutable_url(text):
                return
            message = f"devcontainer feature {text} is downloaded without a checksum"
            fix = "publish the feature to a registry and pin its digest, or vendor it"
            self.findings.append(finding("RP105", message, location, subject=text, fix=fix))
            return
        for found in judge_image(text, location):
            message = f"devcontainer feature {found.message}"
            self.findings.append(replace(found, message=message))

    def command(self, command: str, path: tuple[str | int, ...]) -> None:
        line = self.line(*path)
        count = command.count("\n") + 1
        self.audits.append(
            audit_shell(
                command,
                self.source,
                self.ctx,
                line_map=[line] * count,
                locate=self.locate,
                budget=self.budget,
            )
        )

    def locate(self, written: str) -> str | None:
        """Lifecycle commands run in the workspace folder: the repository root."""
        if written.startswith(("/", "~", "$")):
            return None
        return repo_file(self.ctx, written)


def _commands(value: object, path: tuple[str | int, ...]) -> Iterator[tuple[str, JsonPath]]:
    """A lifecycle command as shell text: a string, an argument list (run without a shell,
    read as the command line it amounts to), or an object of such commands run in parallel."""
    if isinstance(value, str):
        yield value, path
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        yield " ".join(shlex.quote(v) for v in value), path
    elif isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, str | list):
                yield from _commands(inner, (*path, str(key)))


def devcontainer_scanners() -> list[Scanner]:
    """The dev container scanner."""
    return [DevcontainerScanner()]
