"""GitLab CI (``.gitlab-ci.yml`` and the files it includes locally): ``image:`` and
``services:`` (RP301/RP302), every install in ``script:``/``before_script:``/``after_script:``
through the shell reader, and includes from other repositories pinned by tag (RP402) or
fetched without an integrity hash (RP105).

A pipeline is the root file with its local includes merged in, as GitLab merges them; what an
included file says is reported at that file's own lines. Includes are followed within the
repository only (:func:`reprolock.files.inside`), to a bounded depth and count, and each
anchored node is judged once, where it is written.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml

from reprolock import files
from reprolock.audit.budget import ExpansionBudget
from reprolock.audit.images import judge_image
from reprolock.audit.interface import (
    FileFacts,
    ImageRef,
    Include,
    Pin,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
)
from reprolock.audit.revisions import COMMIT_FIX, HEX40, revision_problem
from reprolock.audit.shell import (
    Download,
    ShellAudit,
    ShellCollector,
    audit_shell,
    immutable_url,
    repo_file,
)
from reprolock.audit.workflows import Entries, Mappings, scalar_geometry, yaml_lines
from reprolock.formats import yaml as _yaml
from reprolock.model import Finding, Location
from reprolock.rules import finding

KIND_GITLAB = "gitlab-ci"

MAX_INCLUDED_FILES = 64
"""Local files one pipeline may include, all levels together (GitLab's own limit is 150)."""
MAX_INCLUDE_DEPTH = 16
"""Includes of includes followed this deep (GitLab allows 100)."""
_MAX_EXTENDS = 11
"""``extends:`` levels followed, as GitLab does."""

_GLOBAL_KEYS = frozenset(
    {"default", "include", "stages", "variables", "workflow", "image", "services",
     "before_script", "after_script", "cache", "spec"}
)  # fmt: skip
_SCRIPT_KEYS = ("before_script", "script", "after_script")
_INPUT = re.compile(r"\$\[\[\s*inputs\.([A-Za-z_][\w-]*)[^\]]*\]\]")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_TEMPLATE_TAG = "!reference"


@dataclass(kw_only=True, slots=True)
class _Document:
    """One file of the pipeline."""

    source: SourceFile
    root: yaml.MappingNode
    lines: list[str]
    judged: bool = True
    """False for an included file that is a pipeline of its own (named ``.gitlab-ci.yml``):
    read for what it defines, judged when it is scanned itself."""


@dataclass(kw_only=True, slots=True)
class _Pipeline:
    documents: list[_Document] = field(default_factory=list)
    consulted: list[str] = field(default_factory=list)
    jobs: dict[str, tuple[_Document, Entries]] = field(default_factory=dict)


class GitLabScanner(Scanner):
    """``.gitlab-ci.yml`` at any depth (monorepos keep pipelines per project)."""

    name = KIND_GITLAB
    extensions = frozenset({"yml", "yaml"})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename in {".gitlab-ci.yml", ".gitlab-ci.yaml"}

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        root = _compose(source)
        scan = _Scan(source, ctx)
        if root is not None:
            scan.pipeline(root)
        return scan.facts()


def _compose(source: SourceFile) -> yaml.MappingNode | None:
    """The configuration document: the first, or the second after a ``spec:`` header."""
    documents: list[yaml.Node] = []
    try:
        for document in _yaml.compose_all(source.text):
            documents.append(document)
            if len(documents) == 2:
                break
    except yaml.YAMLError:
        _yaml.compose(source.text)  # raises the ScanError with its position
        raise  # pragma: no cover - compose fails where compose_all did
    if not documents:
        return None
    first = documents[0]
    if len(documents) == 2 and set(_yaml.mapping(first)) == {"spec"}:
        first = documents[1]
    if _yaml.is_null(first):
        return None
    if not isinstance(first, yaml.MappingNode):
        raise ScanError(
            "expected a mapping at the top level", _yaml.node_line(first), _yaml.node_column(first)
        )
    return first


class _Scan(ShellCollector):
    def __init__(self, source: SourceFile, ctx: ScanContext) -> None:
        self.source = source
        self.ctx = ctx
        self.mapping = Mappings()
        self.findings: dict[tuple[str, str, int, int, str], Finding] = {}
        self.pins: dict[Pin, None] = {}
        self.includes: dict[Include, None] = {}
        self.indexes: dict[str, None] = {}
        self.images: dict[tuple[str, int], ImageRef] = {}
        self.installs = False
        self.budget = ExpansionBudget(source.path)
        self.judged: set[int] = set()
        self.variables: dict[str, str | None] = {}
        self.consulted: tuple[str, ...] = ()
        """Included files the scan read: the audit cache scans again when one changes."""

    # --- bookkeeping ------------------------------------------------------------------------

    def add(self, found: Finding) -> None:
        loc = found.location
        key = (found.rule, loc.path, loc.line, loc.column, found.subject)
        self.findings.setdefault(key, found)

    def at(self, doc: _Document, node: yaml.Node) -> Location:
        return doc.source.at(_yaml.node_line(node), _yaml.node_column(node))

    def bad(self, doc: _Document, message: str, node: yaml.Node) -> None:
        self.add(finding("RP001", f"{KIND_GITLAB}: {message}", self.at(doc, node)))

    def first_visit(self, node: yaml.Node) -> bool:
        if id(node) in self.judged:
            return False
        self.judged.add(id(node))
        return True

    def facts(self) -> FileFacts:
        note = self.budget.note()
        if note is not None:
            self.add(note)
        return FileFacts(
            path=self.source.path,
            kind=KIND_GITLAB,
            role=Role.CONCRETE if self.installs else Role.OTHER,
            findings=tuple(self.findings.values()),
            pins=tuple(self.pins),
            includes=tuple(self.includes),
            images=tuple(self.images.values()),
            indexes=tuple(self.indexes),
            consulted=self.consulted,
        )

    # --- the pipeline -----------------------------------------------------------------------

    def pipeline(self, root: yaml.MappingNode) -> None:
        pipeline = _Pipeline()
        main = _Document(source=self.source, root=root, lines=yaml_lines(self.source.text))
        self.read(pipeline, main, depth=0)
        self.consulted = tuple(dict.fromkeys(pipeline.consulted))
        for doc in pipeline.documents:
            top = self.mapping(doc.root)
            self.variables.update(self.variable_table(doc, _yaml_get(top, "variables")))
        for doc in pipeline.documents:
            if doc.judged:
                self.judge_globals(doc)
        for doc, job in pipeline.jobs.values():
            if doc.judged:
                self.job(doc, job, pipeline)

    def read(self, pipeline: _Pipeline, doc: _Document, depth: int) -> None:
        """Take in ``doc``'s jobs, then follow its local includes (files later in the list
        override earlier definitions, as GitLab merges them)."""
        pipeline.documents.append(doc)
        top = self.mapping(doc.root)
        for name, (_key, value) in top.items():
            if name in _GLOBAL_KEYS or not isinstance(value, yaml.MappingNode):
                continue
            pipeline.jobs[name] = (doc, self.mapping(value))
        include = top.get("include")
        if include is not None:
            self.include(pipeline, doc, include[1], depth)
        for _name, (_key, value) in top.items():
            trigger = _yaml_get(self.mapping(value), "trigger")
            child = _yaml_get(self.mapping(trigger), "include")
            if child is not None:
                self.include(pipeline, doc, child, depth)

    def include(self, pipeline: _Pipeline, doc: _Document, node: yaml.Node, depth: int) -> None:
        entries = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for entry in entries:
            if isinstance(entry, yaml.ScalarNode):
                text = (_yaml.scalar(entry) or "").strip()
                if text.lower().startswith(("http://", "https://")):
                    self.remote(doc, text, entry, None)
                elif text:
                    self.local(pipeline, doc, text, entry, depth)
            elif isinstance(entry, yaml.MappingNode):
                self.include_entry(pipeline, doc, self.mapping(entry), entry, depth)
            elif not _yaml.is_null(entry):
                self.bad(doc, "include entries must be strings or mappings", entry)

    def include_entry(
        self, pipeline: _Pipeline, doc: _Document, entry: Entries, node: yaml.Node, depth: int
    ) -> None:
        local = _yaml.scalar(_yaml_get(entry, "local"))
        remote = _yaml.scalar(_yaml_get(entry, "remote"))
        project = _yaml.scalar(_yaml_get(entry, "project"))
        component = _yaml.scalar(_yaml_get(entry, "component"))
        if local:
            self.local(pipeline, doc, local.strip(), _yaml_get(entry, "local") or node, depth)
        elif remote:
            integrity = _yaml.scalar(_yaml_get(entry, "integrity"))
            self.remote(doc, remote.strip(), _yaml_get(entry, "remote") or node, integrity)
        elif project:
            ref_node = _yaml_get(entry, "ref")
            ref = _yaml.scalar(ref_node)
            self.pinned(doc, f"project {project.strip()}", ref, ref_node or node, "ref")
        elif component:
            name, at, version = component.strip().rpartition("@")
            target = _yaml_get(entry, "component") or node
            self.pinned(doc, f"component {name or version}", version if at else None, target, "@")

    def remote(self, doc: _Document, url: str, node: yaml.Node, integrity: str | None) -> None:
        if integrity or immutable_url(url) or "$" in url:
            return
        message = f"include: remote {url} is fetched on every pipeline without an integrity hash"
        fix = "add integrity: sha256-<base64 digest>, or vendor the file into the repository"
        self.add(finding("RP105", message, self.at(doc, node), subject=url, fix=fix))

    def pinned(self, doc: _Document, what: str, ref: str | None, node: yaml.Node, how: str) -> None:
        """RP402 for an include from another repository on a tag, a branch or no ref."""
        if ref is not None and (HEX40.match(ref.strip()) or "$" in ref):
            return
        at = "its default branch" if not ref else revision_problem(ref.strip())
        message = f"include: {what} is taken at {at}"
        fix = f"ref: {COMMIT_FIX}" if how == "ref" else f"@{COMMIT_FIX}"
        subject = what.split(" ", 1)[1]
        self.add(finding("RP402", message, self.at(doc, node), subject=subject, fix=fix))

    def local(
        self, pipeline: _Pipeline, doc: _Document, written: str, node: yaml.Node, depth: int
    ) -> None:
        """A local include: a path from the repository root (a glob too), read within it."""
        if "$" in written:
            return  # decided when the pipeline runs
        pattern = written.lstrip("/")
        targets = (
            sorted(p for p in self.ctx.files if fnmatch.fnmatchcase(p, pattern))
            if any(ch in pattern for ch in "*?[")
            else [posixpath.normpath(pattern)]
        )
        for target in targets:
            if target in pipeline.consulted or target == self.source.path:
                continue  # GitLab refuses a file included twice; judged once here
            if depth + 1 > MAX_INCLUDE_DEPTH or len(pipeline.consulted) >= MAX_INCLUDED_FILES:
                self.budget.refuse(
                    self.at(doc, node),
                    f"includes past {MAX_INCLUDED_FILES} files or {MAX_INCLUDE_DEPTH} levels are "
                    "not followed",
                )
                return
            pipeline.consulted.append(target)
            included = self.open_local(doc, target, node)
            if included is not None:
                self.read(pipeline, included, depth + 1)

    def open_local(self, doc: _Document, target: str, node: yaml.Node) -> _Document | None:
        if target.startswith("../") or target in {"..", "."}:
            self.bad(doc, f"include {target} is outside the repository", node)
            return None
        try:
            path = files.inside(self.ctx.root, target, what="GitLab include")
            text = files.read_text(path, limit=files.MAX_FILE_BYTES)
        except files.OutsideRootError:
            self.bad(doc, f"include {target} is outside the repository", node)
            return None
        except (OSError, UnicodeDecodeError):
            self.bad(doc, f"include {target} cannot be read", node)
            return None
        source = SourceFile(path=target, abspath=path, text=text)
        try:
            root = _compose(source)
        except ScanError as exc:
            location = source.at(exc.line, exc.column)
            self.add(finding("RP001", f"{KIND_GITLAB}: {exc.message}", location))
            return None
        if root is None:
            return None
        own = posixpath.basename(target) in {".gitlab-ci.yml", ".gitlab-ci.yaml"}
        return _Document(source=source, root=root, lines=yaml_lines(text), judged=not own)

    # --- what is judged ---------------------------------------------------------------------

    def variable_table(self, doc: _Document, node: yaml.Node | None) -> dict[str, str | None]:
        """``variables:`` as the shell sees them (a value with ``value:``/``description:``
        too); None for one GitLab decides when the pipeline runs."""
        out: dict[str, str | None] = {}
        for name, (_key, written) in self.mapping(node).items():
            value = written
            if isinstance(written, yaml.MappingNode):
                value = _yaml_get(self.mapping(written), "value") or written
            text = _yaml.scalar(value)
            out[name] = text if text is not None and isinstance(value, yaml.ScalarNode) else None
        return out

    def judge_globals(self, doc: _Document) -> None:
        top = self.mapping(doc.root)
        default = self.mapping(_yaml_get(top, "default"))
        for scope in (top, default):
            self.image_of(doc, scope, self.variables)
            self.scripts(doc, scope, self.variables, ())

    def job(self, doc: _Document, job: Entries, pipeline: _Pipeline) -> None:
        variables = dict(self.variables)
        for parent_doc, parent in reversed(list(self.extended(job, pipeline))):
            variables.update(self.variable_table(parent_doc, _yaml_get(parent, "variables")))
        variables.update(self.variable_table(doc, _yaml_get(job, "variables")))
        self.image_of(doc, job, variables)
        self.scripts(doc, job, variables, ())

    def extended(self, job: Entries, pipeline: _Pipeline) -> Iterator[tuple[_Document, Entries]]:
        """The jobs ``job`` extends, nearest first, to GitLab's depth."""
        pending = [job]
        seen: set[int] = set()
        for _ in range(_MAX_EXTENDS):
            if not pending:
                return
            current = pending.pop(0)
            node = _yaml_get(current, "extends")
            names = _yaml.sequence_items(node) if isinstance(node, yaml.SequenceNode) else [node]
            for item in names:
                name = _yaml.scalar(item)
                found = pipeline.jobs.get(name.strip()) if name else None
                if found is not None and id(found[1]) not in seen:
                    seen.add(id(found[1]))
                    yield found
                    pending.append(found[1])

    def image_of(self, doc: _Document, scope: Entries, variables: dict[str, str | None]) -> None:
        image = _yaml_get(scope, "image")
        if image is not None:
            self.image(doc, image, variables)
        services = _yaml_get(scope, "services")
        for service in _yaml.sequence_items(services):
            self.image(doc, service, variables)

    def image(self, doc: _Document, node: yaml.Node, variables: dict[str, str | None]) -> None:
        """``image: ref`` or ``image: {name: ref, ...}`` (services likewise)."""
        if isinstance(node, yaml.MappingNode):
            node = _yaml_get(self.mapping(node), "name") or node
        text = _yaml.scalar(node)
        if text is None:
            if not _yaml.is_null(node) and not isinstance(node, yaml.ScalarNode):
                self.bad(doc, "an image must be a string or have name:", node)
            return
        if not self.first_visit(node):
            return
        ref = _substitute(text.strip(), variables)
        if not ref:
            return
        location = self.at(doc, node)
        if doc.source.path == self.source.path:
            line = location.line
            self.images.setdefault((ref, line), ImageRef(ref=ref, line=line))
        for found in judge_image(ref, location):
            self.add(found)

    def scripts(
        self,
        doc: _Document,
        scope: Entries,
        variables: dict[str, str | None],
        downloads: tuple[Download, ...],
    ) -> None:
        """``before_script``, ``script`` and ``after_script`` in order: one shell, so what one
        downloads the next may run."""
        for key in _SCRIPT_KEYS:
            node = _yaml_get(scope, key)
            if node is None or _yaml.is_null(node):
                continue
            items = self.script_items(doc, key, node)
            if items is None or not self.first_visit(node):
                continue
            audit = self.audit(doc, items, variables, downloads)
            downloads = audit.downloads
            self.merge(audit)

    def script_items(
        self, doc: _Document, key: str, node: yaml.Node
    ) -> list[yaml.ScalarNode] | None:
        """The command lines of a script (nested lists flattened, ``!reference`` left to where
        it points); None when the value is not a script GitLab accepts."""
        if isinstance(node, yaml.ScalarNode):
            return [node]
        if not isinstance(node, yaml.SequenceNode):
            self.bad(doc, f"{key} must be a string or a list of strings", node)
            return None
        out: list[yaml.ScalarNode] = []
        stack: list[tuple[yaml.Node, int]] = [(item, 0) for item in reversed(node.value)]
        while stack:
            item, level = stack.pop()
            if isinstance(item, yaml.ScalarNode):
                if not _yaml.is_null(item):
                    out.append(item)
            elif isinstance(item, yaml.SequenceNode) and item.tag != _TEMPLATE_TAG and level < 10:
                stack.extend((inner, level + 1) for inner in reversed(item.value))
            elif not isinstance(item, yaml.SequenceNode):
                self.bad(doc, f"{key} must be a string or a list of strings", item)
                return None
        return out

    def audit(
        self,
        doc: _Document,
        items: list[yaml.ScalarNode],
        variables: dict[str, str | None],
        downloads: tuple[Download, ...],
    ) -> ShellAudit:
        texts: list[str] = []
        line_map: list[int] = []
        column_map: list[int] = []
        for item in items:
            text = _INPUT.sub(lambda m: "${INPUTS_" + m.group(1).upper().replace("-", "_") + "}",
                              str(item.value))  # fmt: skip
            lines, columns = scalar_geometry(item, text, doc.lines)
            texts.append(text)
            line_map.extend(lines)
            column_map.extend(columns)
        return audit_shell(
            "\n".join(texts),
            doc.source,
            self.ctx,
            line_map=line_map,
            column_map=column_map,
            variables=variables,
            locate=self.locator(),
            downloaded=downloads,
            budget=self.budget,
        )

    def locator(self) -> _Locate:
        return _Locate(self.ctx)


@dataclass(frozen=True, slots=True)
class _Locate:
    """Jobs run in a checkout of the repository, from its root."""

    ctx: ScanContext

    def __call__(self, written: str) -> str | None:
        if written.startswith(("/", "~", "$")):
            return None
        return repo_file(self.ctx, written)


def _yaml_get(entries: Entries, key: str) -> yaml.Node | None:
    pair = entries.get(key)
    return pair[1] if pair is not None else None


def _substitute(text: str, variables: dict[str, str | None]) -> str:
    """``$NAME``/``${NAME}`` replaced by the pipeline's literal variables, one level deep."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        value = variables.get(name)
        return value if value is not None and "$" not in value else match.group(0)

    return _VARIABLE.sub(one, text)


def gitlab_scanners() -> list[Scanner]:
    """The GitLab CI scanner."""
    return [GitLabScanner()]


__all__ = ["KIND_GITLAB", "MAX_INCLUDED_FILES", "MAX_INCLUDE_DEPTH", "GitLabScanner"]
