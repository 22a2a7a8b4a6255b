"""pre-commit configuration (``.pre-commit-config.yaml``): hook repositories pinned by ``rev:``
to a tag or branch rather than a commit (RP402), and ``additional_dependencies`` installed into
a hook's environment as written (RP101/RP102/RP104/RP105)."""

from __future__ import annotations

import re
from dataclasses import replace

import yaml

from reprolock.audit.interface import (
    FileFacts,
    Pin,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
)
from reprolock.audit.revisions import COMMIT_FIX, HEX40, revision_problem
from reprolock.formats import yaml as _yaml
from reprolock.model import Finding
from reprolock.rules import finding
from reprolock.specs import SpecKind, classify, judge_concrete

KIND_PRE_COMMIT = "pre-commit"

_LOCAL_REPOS = frozenset({"local", "meta"})
"""``repo:`` values that name no repository: hooks defined in the config or by pre-commit."""
_PYTHON_LANGUAGES = frozenset({"python", "python_venv"})
_NPM_STYLE = re.compile(r"^@?[\w.-]+(?:/[\w.-]+)?@")
"""``prettier@3.1.0``, ``@scope/pkg@1``: a node hook's dependency, not a Python requirement."""


class PreCommitScanner(Scanner):
    """``.pre-commit-config.yaml`` at any depth (not ``.pre-commit-hooks.yaml``, which defines
    hooks a repository offers and installs nothing)."""

    name = KIND_PRE_COMMIT
    extensions = frozenset({"yml", "yaml"})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename in {".pre-commit-config.yaml", ".pre-commit-config.yml"}

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        root = _yaml.compose(source.text)
        scan = _Scan(source, ctx)
        if root is not None:
            if not isinstance(root, yaml.MappingNode):
                raise ScanError(
                    "expected a mapping at the top level",
                    _yaml.node_line(root),
                    _yaml.node_column(root),
                )
            scan.config(root)
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.CONCRETE if scan.installs else Role.OTHER,
            findings=tuple(scan.findings.values()),
            pins=tuple(dict.fromkeys(scan.pins)),
        )


class _Scan:
    def __init__(self, source: SourceFile, ctx: ScanContext) -> None:
        self.source = source
        self.judge = ctx.judge_context(source, hash_capable=False)
        self.findings: dict[tuple[str, int, int, str], Finding] = {}
        self.pins: list[Pin] = []
        self.installs = False
        self.seen: set[int] = set()

    def add(self, found: Finding) -> None:
        loc = found.location
        self.findings.setdefault((found.rule, loc.line, loc.column, found.subject), found)

    def at_node(self, node: yaml.Node) -> tuple[int, int]:
        return _yaml.node_line(node), _yaml.node_column(node)

    def bad(self, message: str, node: yaml.Node) -> None:
        line, column = self.at_node(node)
        self.add(finding("RP001", f"pre-commit: {message}", self.source.at(line, column)))

    def config(self, root: yaml.MappingNode) -> None:
        repos = _yaml.mapping(root).get("repos")
        if repos is None or _yaml.is_null(repos[1]):
            return
        if not isinstance(repos[1], yaml.SequenceNode):
            self.bad("repos must be a list", repos[1])
            return
        for repo in _yaml.unique(repos[1].value, self.seen):
            if not isinstance(repo, yaml.MappingNode):
                self.bad("each entry of repos must be a mapping", repo)
                continue
            self.repo(repo)

    def repo(self, node: yaml.MappingNode) -> None:
        entries = _yaml.mapping(node)
        url_node = entries.get("repo")
        url = _yaml.scalar(url_node[1]) if url_node else None
        if url is None:
            self.bad("a repository needs repo:", node)
            return
        url = url.strip()
        if url not in _LOCAL_REPOS:
            self.rev(url, entries.get("rev"), node)
        hooks = entries.get("hooks")
        for hook in _yaml.unique(_yaml.sequence_items(hooks[1] if hooks else None), self.seen):
            if isinstance(hook, yaml.MappingNode):
                self.hook(_yaml.mapping(hook))

    def rev(self, url: str, rev: tuple[yaml.Node, yaml.Node] | None, repo: yaml.Node) -> None:
        text = _yaml.scalar(rev[1]) if rev else None
        if text is None or not text.strip():
            self.bad(f"repository {url} has no rev:", repo)
            return
        value = text.strip()
        if HEX40.match(value):
            return
        problem = revision_problem(value)
        line, column = self.at_node(rev[1]) if rev else self.at_node(repo)
        message = f"pre-commit hook repository {url} is at rev {problem}"
        fix = f"rev: {COMMIT_FIX}  # {value} (pre-commit autoupdate --freeze writes it)"
        self.add(finding("RP402", message, self.source.at(line, column), subject=url, fix=fix))

    def hook(self, hook: dict[str, tuple[yaml.Node, yaml.Node]]) -> None:
        deps = hook.get("additional_dependencies")
        if deps is None:
            return
        name = (_yaml.scalar(hook["id"][1]) or "?") if "id" in hook else "?"
        language = (_yaml.scalar(hook["language"][1]) or "") if "language" in hook else ""
        if language and language.strip().lower() not in _PYTHON_LANGUAGES:
            return  # node, golang, ruby... dependencies: not Python requirements
        for item in _yaml.sequence_items(deps[1]):
            text = _yaml.scalar(item)
            if text is None or not text.strip() or _NPM_STYLE.match(text.strip()):
                continue
            try:
                spec = classify(text.strip())
            except ValueError:
                continue  # pre-commit's installer would refuse it; nothing to judge
            self.installs = True
            location = self.source.at(*self.at_node(item))
            if spec.kind is SpecKind.EXACT and spec.version is not None and spec.name:
                self.pins.append(Pin(name=spec.name, version=spec.version, line=location.line))
            for found in judge_concrete(spec, location, self.judge):
                where = f" (additional_dependencies of the {name} hook)"
                self.add(replace(found, message=found.message + where))


def pre_commit_scanners() -> list[Scanner]:
    """The pre-commit configuration scanner."""
    return [PreCommitScanner()]
