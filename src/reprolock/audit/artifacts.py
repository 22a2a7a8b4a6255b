"""Artifact scanners: model and dataset revisions in code and notebooks, registry aliases and
data versions in config, and DVC pipelines (RP601-RP605).

Python is read with :mod:`ast` only: nothing in the audited repository is imported, compiled
to bytecode or run.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import json
import posixpath
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import yaml

from reprolock.audit import _yaml
from reprolock.audit._json import json_scalars
from reprolock.audit._toml import TomlDocument, locate
from reprolock.audit.budget import over_limit
from reprolock.audit.interface import (
    FileFacts,
    Role,
    ScanContext,
    ScanError,
    Scanner,
    SourceFile,
)
from reprolock.audit.pysource import Skipped, parse_bounded
from reprolock.audit.shell import ShellAudit, audit_shell
from reprolock.model import Finding, Location, Severity
from reprolock.rules import finding

KIND_PYTHON = "python"
KIND_NOTEBOOK = "notebook"
KIND_CONFIG = "config"
KIND_DVC_YAML = "dvc.yaml"
KIND_DVC_LOCK = "dvc.lock"
KIND_DVC_FILE = ".dvc file"

MAX_CONFIG_CHARS = 2_000_000
"""Larger JSON/YAML/TOML files are data, not configuration, and are not read."""

_SYNC_STAGES = "dvc.stages"
_SYNC_STAGES_LINE = "dvc.stages.line"
_SYNC_LOCKED = "dvc.locked"

# --- shared judgements ---------------------------------------------------------------------

_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_SHORT_COMMIT = re.compile(r"^(?=.*[a-fA-F])[0-9a-fA-F]{7,39}$")
_COMMIT_FIX = "<40-hex commit>"


def _revision_problem(revision: str) -> str | None:
    """Why a revision string does not name fixed content, or None when it does."""
    if _HEX40.match(revision):
        return None
    if _SHORT_COMMIT.match(revision):
        return f"{revision!r}, an abbreviated commit (name the full 40 hex digits)"
    return f"{revision!r}, a branch or tag that can move"


# MLflow registry URIs: models:/<name>/<version or stage> and models:/<name>@<alias>.
_MODELS_URI = re.compile(
    r"models:/(?P<name>[^/@\s'\"]+)(?:/(?P<ref>[^/\s'\"?#]+)|@(?P<alias>[\w-]+))"
)
# A W&B artifact reference written out in full (entity/project/name:alias). The entity has no
# dots so that registry-qualified container images (ghcr.io/org/img:latest) are not taken.
_WANDB_FULL_LATEST = re.compile(r"^[\w-]+/[\w.-]+/[\w.-]+:latest$")
_WANDB_REF = re.compile(r"^(?P<path>(?:[\w.-]+/){0,2}[\w.-]+)(?::(?P<alias>[\w.-]+))?$")
_WANDB_VERSION = re.compile(r"^v\d+$")

_DATA_SCHEMES = frozenset(
    {
        "s3", "s3a", "s3n", "gs", "gcs", "az", "abfs", "abfss", "wasb", "wasbs", "adl",
        "hdfs", "dbfs", "oss", "r2", "file",
    }
)  # fmt: skip
_DATA_URI = re.compile(
    r"(?<![\w+.-])(?:(?P<scheme>[A-Za-z][\w+.-]*):/{1,3}|(?P<fuse>/dbfs/))[^\s'\"<>]*"
)
_TOKEN_SPLIT = re.compile(r"[\s'\"=,;()<>\[\]]+")
_SCHEME = re.compile(r"^([A-Za-z][\w+.-]*):/")

_UNPINNED_VALUES = frozenset({"latest", "*", "current", "newest", "head", ""})
_VERSION_KEYS = frozenset({"schemaversion", "datasetversion", "dataversion", "datasetrevision"})
_DATA_PARENTS = frozenset({"dataset", "datasets", "data", "schema", "dataschema"})
_PARENT_VERSION_KEYS = frozenset({"version", "revision"})


@dataclass(frozen=True, kw_only=True, slots=True)
class _Hit:
    """A finding before it is placed in a file (notebooks map lines to their JSON)."""

    rule: str
    message: str
    line: int
    column: int = 1
    subject: str = ""
    fix: str | None = None


def _registry_hits(text: str, line: int, column: int = 1) -> list[_Hit]:
    """RP603 for every MLflow ``models:/`` URI in ``text`` that names a stage or alias."""
    out: list[_Hit] = []
    for match in _MODELS_URI.finditer(text):
        name, ref, alias = match.group("name"), match.group("ref"), match.group("alias")
        if "{" in name or "$" in name:
            name = "<name>"
        uri = match.group(0)
        if alias is not None:
            message = f"{uri} names the alias {alias!r}, which can be moved to another version"
        elif ref is not None and not ref.isdigit() and "{" not in ref and "$" not in ref:
            message = f"{uri} names the stage {ref!r}, not a version"
        else:
            continue
        out.append(
            _Hit(
                rule="RP603",
                message=message,
                line=line,
                column=column,
                subject=name,
                fix=f"models:/{name}/<version number>",
            )
        )
    return out


def _latest_segment(path: str) -> bool:
    return any(part.lower() == "latest" for part in path.split("/"))


def _latest_uris(text: str) -> list[str]:
    """Data-store URIs in ``text`` (s3://, gs://, abfss://, dbfs:/, /dbfs/...) with a
    ``latest`` path segment."""
    out: list[str] = []
    for match in _DATA_URI.finditer(text):
        scheme = match.group("scheme")
        if scheme is not None and scheme.lower() not in _DATA_SCHEMES:
            continue
        uri = match.group(0).rstrip(".,;:)]}")
        body = uri.split(":", 1)[1] if scheme is not None else uri
        if _latest_segment(body):
            out.append(uri)
    return out


def _latest_paths(text: str) -> list[str]:
    """Like :func:`_latest_uris`, and also plain paths (``/mnt/data/latest/``,
    ``${data_dir}/latest/train``): in config every such value is a data location."""
    out = _latest_uris(text)
    for token in _TOKEN_SPLIT.split(text):
        if "/" not in token or "latest" not in token.lower() or token in out:
            continue
        if _SCHEME.match(token) or token.startswith("/dbfs/"):
            continue  # URIs: judged above (web URLs are documentation, not data)
        if _latest_segment(token.rstrip(".,;:)]}")):
            out.append(token)
    return out


def _latest_hit(path: str, line: int, column: int = 1) -> _Hit:
    fixed = re.sub(r"(?i)(?<=/)latest(?=/|$)|^latest(?=/)", "<version>", path, count=1)
    return _Hit(
        rule="RP604",
        message=f"data path {path} reads a 'latest' location, whose content can change",
        line=line,
        column=column,
        subject=path,
        fix=fixed,
    )


def _norm_key(key: str) -> str:
    return re.sub(r"[-_.\s]", "", key).lower()


def _version_key_hit(keys: Sequence[str], value: str | None, line: int) -> _Hit | None:
    """RP604 when ``keys`` (mapping keys from the root) name a schema or dataset version that
    is set to a moving value."""
    if not keys:
        return None
    key = keys[-1]
    norm = _norm_key(key)
    parent = _norm_key(keys[-2]) if len(keys) > 1 else ""
    if norm not in _VERSION_KEYS and not (norm in _PARENT_VERSION_KEYS and parent in _DATA_PARENTS):
        return None
    if value is not None and value.strip().lower() not in _UNPINNED_VALUES:
        return None
    name = ".".join(keys[-2:]) if norm in _PARENT_VERSION_KEYS else key
    shown = "empty" if value is None or not value.strip() else f"{value.strip()!r}"
    return _Hit(
        rule="RP604",
        message=f"{name} is {shown}, not a fixed version",
        line=line,
        subject=name,
        fix=f"{key}: <exact version>",
    )


# --- config scalars with their lines -------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Leaf:
    """A scalar of a config file."""

    keys: tuple[str, ...]
    """Mapping keys from the root (list positions left out)."""
    value: str | None
    """The text; None for null."""
    is_string: bool
    """False for numbers, booleans, dates."""
    line: int


def _yaml_leaves(docs: Iterable[yaml.Node]) -> Iterator[_Leaf]:
    seen: set[int] = set()  # aliases share nodes: walk each collection once
    for doc in docs:
        stack: list[tuple[yaml.Node, tuple[str, ...], int | None]] = [(doc, (), None)]
        while stack:
            node, keys, key_line = stack.pop()
            if isinstance(node, yaml.ScalarNode):
                is_null = node.tag == _yaml.NULL_TAG
                yield _Leaf(
                    keys=keys,
                    value=None if is_null else str(node.value),
                    is_string=node.tag == _yaml.STR_TAG,
                    line=key_line if key_line is not None else _yaml.node_line(node),
                )
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                for key, key_node, value in _yaml.mapping_pairs(node):
                    stack.append((value, (*keys, key), _yaml.node_line(key_node)))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((item, keys, None) for item in node.value)


def _json_leaves(text: str) -> Iterator[_Leaf]:
    for path, lexeme, line in json_scalars(text):
        keys = tuple(p for p in path if isinstance(p, str))
        if lexeme.startswith('"'):
            yield _Leaf(keys=keys, value=str(json.loads(lexeme)), is_string=True, line=line)
        else:
            yield _Leaf(
                keys=keys, value=None if lexeme == "null" else lexeme, is_string=False, line=line
            )


def _toml_leaves(text: str, data: dict[str, Any]) -> Iterator[_Leaf]:
    doc = TomlDocument(data=data, lines=locate(text))
    stack: list[tuple[object, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, (*path, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
        else:
            keys = tuple(p for p in path if isinstance(p, str))
            text_value = value if isinstance(value, str) else str(value)
            yield _Leaf(
                keys=keys, value=text_value, is_string=isinstance(value, str), line=doc.line(*path)
            )


def _leaf_hits(leaves: Iterable[_Leaf]) -> list[_Hit]:
    out: list[_Hit] = []
    for leaf in leaves:
        if leaf.value is None or leaf.is_string:
            hit = _version_key_hit(leaf.keys, leaf.value, leaf.line)
            if hit is not None:
                out.append(hit)
                continue
        if not leaf.is_string or leaf.value is None:
            continue
        value = leaf.value
        if "models:/" in value:
            out.extend(_registry_hits(value, leaf.line))
        if "latest" in value.lower():
            out.extend(_latest_hit(path, leaf.line) for path in _latest_paths(value))
            key = _norm_key(leaf.keys[-1]) if leaf.keys else ""
            stripped = value.strip()
            named = "artifact" in key or "wandb" in key
            if named and stripped.endswith(":latest") and _WANDB_REF.match(stripped):
                out.append(_wandb_hit(stripped, "latest", leaf.line))
    return out


def _wandb_hit(ref: str, alias: str | None, line: int, column: int = 1) -> _Hit:
    path = ref.split(":", 1)[0]
    if alias is None:
        message = f"artifact {ref} names no version, so the 'latest' alias is used"
    else:
        message = f"artifact {ref} uses the alias {alias!r}, which moves to each new version"
    return _Hit(
        rule="RP603",
        message=message,
        line=line,
        column=column,
        subject=path,
        fix=f"{path}:v<N>",
    )


# --- Python: names and scopes --------------------------------------------------------------

# Text that must appear for anything in a Python file to be judged; files without any are
# not parsed at all (parsing is most of the cost in a large monorepo).
_PY_TRIGGERS = (
    "from_pretrained",  # also from_pretrained_keras
    "snapshot_download",
    "hf_hub_download",
    "transformers",  # pipeline() counts only when imported from transformers
    "SentenceTransformer",
    "CrossEncoder",
    "SparseEncoder",
    "hub.load",
    "torch.hub",
    "hf-hub:",
    "hf_hub:",
    "load_dataset",
    "dvc",
    "DVCFileSystem",
    "models:/",
    "use_artifact",
    "use_model",
    ".artifact(",
    "/latest",
    ":latest",
)


def _mentions_artifacts(text: str) -> bool:
    return any(token in text for token in _PY_TRIGGERS)


@dataclass(kw_only=True, slots=True)
class _Scope:
    """Names bound in one module, class, function or comprehension body."""

    parent: _Scope | None
    kind: str
    bindings: dict[str, list[ast.expr | None]] = field(default_factory=dict)
    """Each binding's value expression; None where the value is not a simple expression."""
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)

    def bind(self, name: str, value: ast.expr | None) -> None:
        self.bindings.setdefault(name, []).append(value)


def _target_names(target: ast.AST) -> Iterator[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Starred) and isinstance(node.value, ast.Name):
            yield node.value.id


_MAX_DEPTH = 16


class _Names:
    """Flow-insensitive resolution of simple string constants.

    A name resolves when every binding it has in its scope is a string (or an f-string or
    ``+`` of resolvable parts) and all of them agree; parameters, loop variables, imports
    and anything computed do not resolve. This is conservative: an unresolved model id is
    never reported.
    """

    def __init__(self, module: _Scope) -> None:
        self.module = module

    def value(self, expr: ast.expr | None, scope: _Scope, depth: int = 0) -> str | None:
        if expr is None or depth > _MAX_DEPTH:
            return None
        if isinstance(expr, ast.Constant):
            return expr.value if isinstance(expr.value, str) else None
        if isinstance(expr, ast.Name):
            return self.lookup(expr.id, scope, depth + 1)
        if isinstance(expr, ast.JoinedStr):
            parts: list[str] = []
            for part in expr.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    parts.append(part.value)
                elif (
                    isinstance(part, ast.FormattedValue)
                    and part.conversion == -1
                    and part.format_spec is None
                ):
                    resolved = self.value(part.value, scope, depth + 1)
                    if resolved is None:
                        return None
                    parts.append(resolved)
                else:
                    return None
            return "".join(parts)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left = self.value(expr.left, scope, depth + 1)
            right = self.value(expr.right, scope, depth + 1) if left is not None else None
            return left + right if left is not None and right is not None else None
        return None

    def template(self, expr: ast.JoinedStr, scope: _Scope) -> str:
        """An f-string with what cannot be resolved left as ``{}``."""
        parts: list[str] = []
        for part in expr.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append(part.value)
            elif isinstance(part, ast.FormattedValue):
                resolved = None
                if part.conversion == -1 and part.format_spec is None:
                    resolved = self.value(part.value, scope)
                parts.append("{}" if resolved is None else resolved)
        return "".join(parts)

    def lookup(self, name: str, scope: _Scope, depth: int = 0) -> str | None:
        current: _Scope | None = scope
        first = True
        while current is not None:
            if name in current.globals:
                current = self.module
            if current.kind == "class" and not first:
                current = current.parent
                continue
            if name in current.bindings and name not in current.nonlocals:
                return self._binding(current.bindings[name], current, depth)
            first = False
            current = current.parent
        return None

    def _binding(self, values: list[ast.expr | None], scope: _Scope, depth: int) -> str | None:
        found: set[str] = set()
        for expr in values:
            resolved = self.value(expr, scope, depth + 1)
            if resolved is None:
                return None
            found.add(resolved)
        return found.pop() if len(found) == 1 else None


@dataclass(kw_only=True, slots=True)
class _Walked:
    module: _Scope
    calls: list[tuple[ast.Call, _Scope]] = field(default_factory=list)
    strings: list[tuple[ast.Constant | ast.JoinedStr, _Scope]] = field(default_factory=list)
    aliases: dict[str, str | None] = field(default_factory=dict)

    def alias(self, name: str, target: str) -> None:
        known = self.aliases.setdefault(name, target)
        if known != target:
            self.aliases[name] = None  # bound to two different things: trust neither


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _source_lines(text: str) -> list[str]:
    """Lines as the compiler numbers them (``str.splitlines`` also breaks at \\f, \\x1c...)."""
    return _LINE_BREAK.split(text)


# Packages whose imported names, under any local alias, may fetch something.
_FETCHING_PACKAGES = (
    "transformers", "huggingface_hub", "torch", "datasets", "dvc", "wandb", "timm",
    "open_clip", "sentence_transformers", "diffusers", "peft", "mlflow", "modelscope", "nlp",
)  # fmt: skip


def _local_import_names(tree: ast.Module) -> tuple[str, ...]:
    """Names module-level imports give to things from fetching packages (``sd`` in
    ``from huggingface_hub import snapshot_download as sd``), which a function may call
    without spelling any API name."""
    names: list[str] = ["pipeline"]
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, ast.If | ast.Try | ast.With):
            pending.extend(stmt.body)
            pending.extend(getattr(stmt, "orelse", []))
            pending.extend(getattr(stmt, "finalbody", []))
            for handler in getattr(stmt, "handlers", []):
                pending.extend(handler.body)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            module = (stmt.module or "") if isinstance(stmt, ast.ImportFrom) else ""
            for alias in stmt.names:
                full = f"{module}.{alias.name}" if module else alias.name
                if any(package in full for package in _FETCHING_PACKAGES):
                    names.append(alias.asname or alias.name.split(".", 1)[0])
    return tuple(names)


def _worth_walking(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    lines: Sequence[str],
    local_names: tuple[str, ...],
) -> bool:
    """Whether a definition's text could hold anything judged, or rebind an outer name.

    Walking every node of every function is most of the cost of the audit in a large
    repository; a function whose text names no fetching API or imported alias of one, and
    declares nothing ``global``/``nonlocal``, cannot fetch anything, nor change what an
    outer name means.
    """
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or start
    segment = "\n".join(lines[start - 1 : end])
    if _mentions_artifacts(segment) or "global" in segment or "nonlocal" in segment:
        return True
    return any(name in segment for name in local_names)


def _walk_module(tree: ast.Module, lines: Sequence[str] | None = None) -> _Walked:
    """One pass over the tree: scopes and their bindings, calls, string literals, imports.
    With the source ``lines``, definitions that cannot matter are not descended into."""
    walked = _Walked(module=_Scope(parent=None, kind="module"))
    local_names = _local_import_names(tree) if lines is not None else ()
    stack: list[tuple[ast.AST, _Scope]] = [(tree, walked.module)]
    while stack:
        node, scope = stack.pop()
        if (
            lines is not None
            and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and not _worth_walking(node, lines, local_names)
        ):
            scope.bind(node.name, None)
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = _Scope(parent=scope, kind="function")
            if not isinstance(node, ast.Lambda):
                scope.bind(node.name, None)
                stack.extend((d, scope) for d in node.decorator_list)
                if node.returns is not None:
                    stack.append((node.returns, scope))
            args = node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    inner.bind(arg.arg, None)
                    if arg.annotation is not None:
                        stack.append((arg.annotation, scope))
            stack.extend((d, scope) for d in (*args.defaults, *args.kw_defaults) if d is not None)
            body = node.body if isinstance(node.body, list) else [node.body]
            stack.extend((child, inner) for child in body)
            continue
        if isinstance(node, ast.ClassDef):
            scope.bind(node.name, None)
            inner = _Scope(parent=scope, kind="class")
            stack.extend((child, scope) for child in (*node.decorator_list, *node.bases))
            stack.extend((kw.value, scope) for kw in node.keywords)
            stack.extend((child, inner) for child in node.body)
            continue
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            inner = _Scope(parent=scope, kind="function")
            for generator in node.generators:
                for name in _target_names(generator.target):
                    inner.bind(name, None)
            stack.extend((child, inner) for child in ast.iter_child_nodes(node))
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            continue  # docstrings and bare strings document; they fetch nothing
        if isinstance(node, ast.JoinedStr):
            walked.strings.append((node, scope))
            stack.extend(
                (part.value, scope) for part in node.values if isinstance(part, ast.FormattedValue)
            )
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                walked.strings.append((node, scope))
            continue
        _bind(node, scope, walked)
        if isinstance(node, ast.Call):
            walked.calls.append((node, scope))
        stack.extend((child, scope) for child in ast.iter_child_nodes(node))
    return walked


# Every node type _bind reads: one check lets the many others (names, calls, operators) pass.
_BINDING_NODES = (
    ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.NamedExpr,
    ast.withitem, ast.ExceptHandler, ast.Delete, ast.MatchAs, ast.MatchStar, ast.MatchMapping,
    ast.Global, ast.Nonlocal, ast.Import, ast.ImportFrom,
)  # fmt: skip


def _bind(node: ast.AST, scope: _Scope, walked: _Walked) -> None:
    """Record the names ``node`` binds in ``scope``."""
    if not isinstance(node, _BINDING_NODES):
        return
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Name):
                scope.bind(target.id, node.value)
            elif (
                isinstance(target, ast.Tuple | ast.List)
                and isinstance(node.value, ast.Tuple | ast.List)
                and len(target.elts) == len(node.value.elts)
                and not any(isinstance(e, ast.Starred) for e in target.elts)
            ):
                for sub, value in zip(target.elts, node.value.elts, strict=True):
                    if isinstance(sub, ast.Name):
                        scope.bind(sub.id, value)
                    else:
                        for name in _target_names(sub):
                            scope.bind(name, None)
            else:
                for name in _target_names(target):
                    scope.bind(name, None)
    elif isinstance(node, ast.AnnAssign):
        if isinstance(node.target, ast.Name) and node.value is not None:
            scope.bind(node.target.id, node.value)
    elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor):
        for name in _target_names(node.target):
            scope.bind(name, None)
    elif isinstance(node, ast.NamedExpr):
        scope.bind(node.target.id, None)
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        for name in _target_names(node.optional_vars):
            scope.bind(name, None)
    elif isinstance(node, ast.ExceptHandler) and node.name:
        scope.bind(node.name, None)
    elif isinstance(node, ast.Delete):
        for target in node.targets:
            for name in _target_names(target):
                scope.bind(name, None)
    elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
        scope.bind(node.name, None)
    elif isinstance(node, ast.MatchMapping) and node.rest:
        scope.bind(node.rest, None)
    elif isinstance(node, ast.Global):
        scope.globals.update(node.names)
    elif isinstance(node, ast.Nonlocal):
        scope.nonlocals.update(node.names)
    elif isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                scope.bind(alias.asname, None)
                walked.alias(alias.asname, alias.name)
            else:
                root = alias.name.split(".", 1)[0]
                scope.bind(root, None)
                walked.alias(root, root)
    elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
        for alias in node.names:
            local = alias.asname or alias.name
            scope.bind(local, None)
            walked.alias(local, f"{node.module}.{alias.name}")
    elif isinstance(node, ast.ImportFrom):
        for alias in node.names:
            scope.bind(alias.asname or alias.name, None)


def _dotted(expr: ast.expr) -> list[str]:
    """``a.b.c`` as ["a", "b", "c"]; a call in the chain (``wandb.Api().artifact``) is "()"."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
    else:
        parts.append("()")
    parts.reverse()
    return parts


# --- Python: the calls that fetch ----------------------------------------------------------

_LOCAL_FIRST_SEGMENTS = frozenset(
    {"checkpoints", "checkpoint", "ckpt", "ckpts", "outputs", "output", "artifacts",
     "saved_models", "saved_model", "runs", "results", "tmp", "weights", "local"}
)  # fmt: skip
_FILE_SUFFIX = re.compile(
    r"\.(?:bin|pt|pth|ckpt|safetensors|onnx|h5|hdf5|keras|pkl|pickle|joblib|json|ya?ml|txt|"
    r"csv|tsv|parquet|arrow|jsonl|py|zip|gz|tgz|tar|npz|npy|gguf|msgpack|model)$",
    re.IGNORECASE,
)
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")
_TORCH_HUB_REPO = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?::(?P<ref>[^\s:]+))?$")
_DATASET_BUILDERS = frozenset(
    {"csv", "json", "parquet", "text", "arrow", "pandas", "imagefolder", "audiofolder",
     "videofolder", "pdffolder", "webdataset", "sql", "generator", "xml", "spark", "cache"}
)  # fmt: skip
_HF_HUB_PREFIXES = ("hf-hub:", "hf_hub:")
_HUB_CALLS = frozenset({"snapshot_download", "hf_hub_download"})
_ENCODER_CLASSES = frozenset({"SentenceTransformer", "CrossEncoder", "SparseEncoder"})
_CREATE_MODEL = frozenset(
    {"create_model", "create_model_and_transforms", "create_model_from_pretrained"}
)
_DVC_READERS = frozenset({"dvc.api.open", "dvc.api.read", "dvc.api.get_url"})
_PIPELINES = frozenset({"transformers.pipeline", "transformers.pipelines.pipeline"})
# Matched by import, not by name: many projects define a load_dataset() of their own.
_LOAD_DATASET = frozenset(
    {"datasets.load_dataset", "datasets.load_dataset_builder", "nlp.load_dataset"}
)


@lru_cache(maxsize=4)
def _directories(files: frozenset[str]) -> frozenset[str]:
    """Every directory that holds a discovered file (root-relative)."""
    out: set[str] = set()
    for path in files:
        parent = posixpath.dirname(path)
        while parent and parent not in out:
            out.add(parent)
            parent = posixpath.dirname(parent)
    return frozenset(out)


class _Analysis:
    """RP601-RP604 in one parsed Python module."""

    def __init__(
        self,
        tree: ast.Module,
        *,
        lines: Sequence[str] | None,
        parent_dir: str,
        files: frozenset[str],
    ) -> None:
        self.walked = _walk_module(tree, lines)
        self.names = _Names(self.walked.module)
        self.parent_dir = parent_dir
        self.files = files
        self.hits: list[_Hit] = []
        self.judged: set[int] = set()

    def run(self) -> list[_Hit]:
        for call, scope in self.walked.calls:
            if any(isinstance(a, ast.Starred) for a in call.args):
                continue  # positions unknown
            if any(kw.arg is None for kw in call.keywords):
                continue  # **kwargs may carry the revision
            self._call(call, scope)
        for node, scope in self.walked.strings:
            if id(node) not in self.judged:
                self._string(node, scope)
        return self.hits

    # helpers

    def _qualified(self, parts: list[str]) -> str:
        root = self.walked.aliases.get(parts[0])
        return ".".join([root, *parts[1:]] if root else parts)

    def _local_dir(self, value: str) -> bool:
        if not self.files:
            return False
        dirs = _directories(self.files)
        candidate = posixpath.normpath(posixpath.join(self.parent_dir, value))
        return value in dirs or candidate in dirs

    def _hub_id(self, value: str) -> bool:
        """True for a hub repository id (``org/name``, ``bert-base-uncased``), False for
        anything that reads as a local path or file."""
        if not _HUB_ID.match(value) or ".." in value or _FILE_SUFFIX.search(value):
            return False
        if value.split("/", 1)[0].lower() in _LOCAL_FIRST_SEGMENTS:
            return False
        return not self._local_dir(value)

    def _add(self, call: ast.Call, rule: str, message: str, subject: str, fix: str) -> None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.end_lineno is not None:
            line = func.end_lineno
            column = (func.end_col_offset or 0) - len(func.attr) + 1
        else:
            line, column = func.lineno, func.col_offset + 1
        self.hits.append(
            _Hit(rule=rule, message=message, line=line, column=column, subject=subject, fix=fix)
        )

    @staticmethod
    def _arg(call: ast.Call, index: int | None, *names: str) -> ast.expr | None:
        for kw in call.keywords:
            if kw.arg in names:
                return kw.value
        if index is not None and index < len(call.args):
            return call.args[index]
        return None

    def _revision(self, expr: ast.expr | None, scope: _Scope) -> str | None:
        """Why the revision argument is not a commit; None when it is, or cannot be known."""
        if expr is None or (isinstance(expr, ast.Constant) and expr.value is None):
            return "missing"
        value = self.names.value(expr, scope)
        return None if value is None else _revision_problem(value)

    # the calls

    def _call(self, call: ast.Call, scope: _Scope) -> None:
        parts = _dotted(call.func)
        qualified = self._qualified(parts)
        last = qualified.rsplit(".", 1)[-1]  # the imported name, not a local alias
        if last in {"from_pretrained", "from_pretrained_keras"} and len(parts) > 1:
            if parts[-2].startswith("PeftModel"):
                model = self._arg(call, 1, "model_id")
            else:
                model = self._arg(
                    call,
                    0,
                    "pretrained_model_name_or_path",
                    "model_name_or_path",
                    "model_id",
                    "repo_id",
                )
            api = last if parts[-2] == "()" else f"{parts[-2]}.{last}"
            self._model(call, scope, model, api)
        elif last in _HUB_CALLS:
            repo_type = self.names.value(self._arg(call, None, "repo_type"), scope)
            if repo_type == "dataset":
                self._dataset(call, scope, self._arg(call, 0, "repo_id"), last, hub_only=True)
            else:
                self._model(call, scope, self._arg(call, 0, "repo_id"), last)
        elif qualified in _PIPELINES:
            self._model(call, scope, self._arg(call, 1, "model"), "pipeline")
        elif last in _ENCODER_CLASSES:
            model = self._arg(call, 0, "model_name_or_path", "model_name")
            self._model(call, scope, model, last)
        elif qualified == "torch.hub.load":
            self._torch_hub(call, scope)
        elif last in _CREATE_MODEL:
            self._hf_hub_name(call, scope, qualified)
        elif qualified in _LOAD_DATASET:
            self._dataset(call, scope, self._arg(call, 0, "path"), last, hub_only=False)
        elif qualified in _DVC_READERS:
            repo, rev = self._arg(call, 1, "repo"), self._arg(call, 2, "rev")
            self._dvc(call, scope, repo=repo, rev=rev, path=self._arg(call, 0, "path"))
        elif last == "DVCFileSystem":
            repo, rev = self._arg(call, 0, "repo", "url"), self._arg(call, 1, "rev")
            self._dvc(call, scope, repo=repo, rev=rev, path=None)
        elif qualified == "dvc.api.artifacts_download":
            self._dvc_artifact(call, scope)
        elif last in {"use_artifact", "use_model", "artifact"}:
            self._wandb(call, scope, explicit_only=last == "artifact")

    def _model(self, call: ast.Call, scope: _Scope, model: ast.expr | None, api: str) -> None:
        value = self.names.value(model, scope)
        if value is None or not self._hub_id(value):
            return
        if model is not None:
            self.judged.add(id(model))
        problem = self._revision(self._arg(call, None, "revision"), scope)
        if problem is None:
            return
        remote_code = self._arg(call, None, "trust_remote_code")
        suffix = ""
        if isinstance(remote_code, ast.Constant) and remote_code.value is True:
            suffix = " and runs its code (trust_remote_code=True)"
        if problem == "missing":
            message = f"model {value} is fetched by {api} without a revision{suffix}"
        else:
            message = f"model {value} is fetched by {api} at revision {problem}{suffix}"
        self._add(call, "RP601", message, value, f'revision="{_COMMIT_FIX}"')

    def _torch_hub(self, call: ast.Call, scope: _Scope) -> None:
        source = self.names.value(self._arg(call, None, "source"), scope)
        if source == "local":
            return
        value = self.names.value(self._arg(call, 0, "repo_or_dir", "github"), scope)
        match = _TORCH_HUB_REPO.match(value) if value is not None else None
        if match is None or self._local_dir(match.group("repo")):
            return
        repo, ref = match.group("repo"), match.group("ref")
        fix = f'"{repo}:{_COMMIT_FIX}"'
        if ref is None:
            message = f"torch.hub repository {repo} is loaded without a ref (its default branch)"
        else:
            problem = _revision_problem(ref)
            if problem is None:
                return
            message = f"torch.hub repository {repo} is loaded at ref {problem}"
        self._add(call, "RP601", message, repo, fix)

    def _hf_hub_name(self, call: ast.Call, scope: _Scope, qualified: str) -> None:
        value = self.names.value(self._arg(call, 0, "model_name"), scope)
        if value is None or not value.startswith(_HF_HUB_PREFIXES):
            return
        repo = value.split(":", 1)[1]
        if qualified.startswith("open_clip."):
            # open_clip has no revision for hf-hub names: fetch a pinned snapshot instead.
            message = f"model {repo} is fetched by open_clip without a revision"
            fix = f'snapshot_download("{repo}", revision="{_COMMIT_FIX}") + "local-dir:<path>"'
            self._add(call, "RP601", message, repo, fix)
            return
        repo, _, revision = repo.partition("@")
        fix = f"hf-hub:{repo}@{_COMMIT_FIX}"
        if not revision:
            message = (
                f"model {repo} is fetched by {qualified.rsplit('.', 1)[-1]} without a revision"
            )
        else:
            problem = _revision_problem(revision)
            if problem is None:
                return
            message = f"model {repo} is fetched at revision {problem}"
        self._add(call, "RP601", message, repo, fix)

    def _dataset_is_local(self, value: str) -> bool:
        if value in _DATASET_BUILDERS or value.startswith((".", "/", "~")):
            return True
        if "\\" in value or ":" in value or value.count("/") > 1:
            return True
        return not self._hub_id(value)

    def _dataset(
        self, call: ast.Call, scope: _Scope, path: ast.expr | None, api: str, *, hub_only: bool
    ) -> None:
        value = self.names.value(path, scope)
        if value is None:
            return
        if (hub_only and not self._hub_id(value)) or (
            not hub_only and self._dataset_is_local(value)
        ):
            return
        problem = self._revision(self._arg(call, None, "revision"), scope)
        if problem is None:
            return
        if problem == "missing":
            message = f"dataset {value} is loaded by {api} without a revision"
        else:
            message = f"dataset {value} is loaded by {api} at revision {problem}"
        self._add(call, "RP602", message, value, f'revision="{_COMMIT_FIX}"')

    def _dvc(
        self,
        call: ast.Call,
        scope: _Scope,
        *,
        repo: ast.expr | None,
        rev: ast.expr | None,
        path: ast.expr | None,
    ) -> None:
        # Without repo= DVC reads this project's own workspace, which the commit pins.
        if repo is None or (isinstance(repo, ast.Constant) and repo.value is None):
            return
        repo_value = self.names.value(repo, scope)
        if repo_value is not None and (
            repo_value in {"", "."} or repo_value.startswith(("/", "./", "../", "~"))
        ):
            return
        problem = self._revision(rev, scope)
        if problem is None:
            return
        path_value = self.names.value(path, scope)
        subject = repo_value or "<repo>"
        shown = f"{path_value} from {subject}" if path_value else subject
        if problem == "missing":
            message = f"DVC data {shown} is read without a revision"
        else:
            message = f"DVC data {shown} is read at revision {problem}"
        self._add(call, "RP602", message, subject, f'rev="{_COMMIT_FIX}"')

    def _dvc_artifact(self, call: ast.Call, scope: _Scope) -> None:
        name = self.names.value(self._arg(call, 0, "name"), scope) or "<artifact>"
        version = self._arg(call, 1, "version")
        if version is not None and not (
            isinstance(version, ast.Constant) and version.value is None
        ):
            return
        stage = self.names.value(self._arg(call, 2, "stage"), scope)
        if stage:
            message = f"DVC artifact {name} is fetched by stage {stage!r}, not a version"
        else:
            message = f"DVC artifact {name} is fetched without a version (the latest is used)"
        self._add(call, "RP603", message, name, 'version="<version>"')

    def _wandb(self, call: ast.Call, scope: _Scope, *, explicit_only: bool) -> None:
        arg = self._arg(call, 0, "artifact_or_name", "name")
        value = self.names.value(arg, scope)
        if value is None:
            return
        match = _WANDB_REF.match(value)
        if match is None:
            return
        alias = match.group("alias")
        if (alias is None and explicit_only) or (alias is not None and _WANDB_VERSION.match(alias)):
            return
        if arg is not None:
            self.judged.add(id(arg))
        hit = _wandb_hit(value, alias, 0)
        self._add(call, hit.rule, hit.message, hit.subject, hit.fix or "")

    # string literals

    def _string(self, node: ast.Constant | ast.JoinedStr, scope: _Scope) -> None:
        """A literal that *is* a registry URI, data URI or artifact reference. One that only
        contains one (a shell command, a message, a code example) is not judged: in code such
        text is far more often documentation than a reference that gets loaded."""
        value = self.names.template(node, scope) if isinstance(node, ast.JoinedStr) else node.value
        if not isinstance(value, str):
            return
        text = value.strip()
        line, column = node.lineno, node.col_offset + 1
        if text.startswith("models:/") and _MODELS_URI.fullmatch(text):
            self.hits.extend(_registry_hits(text, line, column))
        elif "latest" in text.lower():
            if _DATA_URI.fullmatch(text):
                self.hits.extend(_latest_hit(uri, line, column) for uri in _latest_uris(text))
            elif _WANDB_FULL_LATEST.match(text):
                self.hits.append(_wandb_hit(text, "latest", line, column))


def _skipped_note(
    skipped: Sequence[Skipped], where: Callable[[int], Location], what: str = "Python"
) -> tuple[Finding, ...]:
    """One RP002 note for the statements a bounded parse skipped that could hold a model or
    dataset call (a data literal that cannot is skipped silently)."""
    relevant = [s for s in skipped if s.relevant]
    if not relevant:
        return ()
    first = relevant[0]
    more = f" (and {len(relevant) - 1} more)" if len(relevant) > 1 else ""
    message = f"{what}: a statement is not audited: {first.reason}{more}"
    return (over_limit(where(first.line), message),)


def _syntax_position(exc: SyntaxError | ValueError, text: str) -> tuple[int, int, str]:
    if isinstance(exc, SyntaxError):
        return exc.lineno or 1, exc.offset or 1, exc.msg
    nul = text.find("\0")
    return (text.count("\n", 0, nul) + 1 if nul >= 0 else 1), 1, str(exc)


def _located(
    hits: Iterable[_Hit], source: SourceFile, line_map: Sequence[int] | None = None
) -> list[Finding]:
    out: list[Finding] = []
    for hit in hits:
        if line_map is None:
            location = source.at(hit.line, hit.column)
        else:
            index = min(max(hit.line, 1), len(line_map)) - 1
            location = source.at(line_map[index] if line_map else 1)
        out.append(finding(hit.rule, hit.message, location, subject=hit.subject, fix=hit.fix))
    return out


# --- the scanners --------------------------------------------------------------------------


class PythonScanner(Scanner):
    """``*.py``: model and dataset fetches without a revision, registry aliases, data paths."""

    name = KIND_PYTHON

    def claims(self, relpath: str, filename: str) -> bool:
        return filename.endswith(".py")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        facts = FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        if not _mentions_artifacts(source.text) or "{{" in source.path or "{%" in source.path:
            return facts  # cookiecutter/Jinja template directories are not Python yet
        try:
            parsed = parse_bounded(source.text, source.path, _mentions_artifacts)
        except (SyntaxError, ValueError) as exc:
            # The file names a model or dataset API (it passed the pre-check) and cannot be
            # read, so the audit of it is incomplete: that is RP001 at its default severity.
            line, column, message = _syntax_position(exc, source.text)
            raise ScanError(f"invalid Python syntax: {message}", line, column) from None
        lines = _source_lines(source.text)
        notes = _skipped_note(parsed.skipped, source.at)
        try:
            analysis = _Analysis(
                parsed.tree, lines=lines, parent_dir=source.parent, files=ctx.files
            )
            hits = analysis.run()
        except RecursionError:
            note = over_limit(source.at(1), "Python: nested too deep to analyse; not audited")
            return replace(facts, findings=(note,))
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.OTHER,
            findings=(*_located(hits, source), *notes),
        )


# Cell magics whose body is Python; any other %% magic makes the cell another language.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit", "snakeviz"})
_ASSIGN_MAGIC = re.compile(r"^\s*[\w.,\s]+=\s*[!%]")
_INSTALL = re.compile(r"\b(?:pip3?|conda|mamba|micromamba|uv)\b.*\binstall\b")


@dataclass(kw_only=True, slots=True)
class _NotebookSource:
    python: list[str] = field(default_factory=list)
    """Python lines of all code cells, magics blanked."""
    json_lines: list[int] = field(default_factory=list)
    """For each Python line, its line in the .ipynb file."""
    cells: list[tuple[int, int, int]] = field(default_factory=list)
    """(cell index, first Python line, line count) for each code cell kept."""
    shell: list[tuple[str, int]] = field(default_factory=list)
    """``!``/``%`` lines that install packages, with their .ipynb line."""


def _source_pieces(data: dict[str, Any], text: str) -> dict[int, list[tuple[str, int]]]:
    """For each cell, its source pieces with the .ipynb line each piece is on."""
    lines: dict[tuple[int, int], int] = {}
    for path, _token, line in json_scalars(text):
        if (
            len(path) >= 3
            and path[0] == "cells"
            and path[2] == "source"
            and isinstance(path[1], int)
        ):
            piece = path[3] if len(path) == 4 and isinstance(path[3], int) else -1
            lines[(path[1], piece)] = line
    out: dict[int, list[tuple[str, int]]] = {}
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source")
        if isinstance(source, str):
            out[index] = [(source, lines.get((index, -1), 1))]
        elif isinstance(source, list) and all(isinstance(s, str) for s in source):
            out[index] = [(s, lines.get((index, j), 1)) for j, s in enumerate(source)]
    return out


def _notebook_python(pieces: dict[int, list[tuple[str, int]]]) -> _NotebookSource:
    nb = _NotebookSource()
    for index, cell_pieces in pieces.items():
        # Python ends lines at \r too; split the way the compiler will count.
        cell_pieces = [  # noqa: PLW2901
            (piece.replace("\r\n", "\n").replace("\r", "\n"), line) for piece, line in cell_pieces
        ]
        text = "".join(piece for piece, _line in cell_pieces)
        if not text.strip():
            continue
        starts: list[int] = []
        offset = 0
        for piece, _line in cell_pieces:
            starts.append(offset)
            offset += len(piece)
        raw_lines = text.split("\n")
        if len(raw_lines) > 1 and raw_lines[-1] == "":
            raw_lines.pop()
        lines: list[tuple[str, int]] = []
        offset = 0
        for raw in raw_lines:
            # The piece a line starts in; empty pieces share an offset with the next one.
            piece_index = max(bisect.bisect_right(starts, offset) - 1, 0)
            lines.append((raw, cell_pieces[piece_index][1]))
            offset += len(raw) + 1
        first = lines[0][0].strip()
        if first.startswith("%%"):
            magic = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
            if magic not in _PYTHON_CELL_MAGICS:
                continue
            lines[0] = ("", lines[0][1])
        start = len(nb.python) + 1
        for line, json_line in lines:
            stripped = line.strip()
            if (
                stripped.startswith(("!", "%"))
                or _ASSIGN_MAGIC.match(line)
                or (stripped.endswith("?") and not stripped.startswith("#"))
            ):
                if _INSTALL.search(stripped):
                    nb.shell.append((stripped.lstrip("!%"), json_line))
                line = ""  # noqa: PLW2901 - IPython syntax, blanked to keep line numbers
            nb.python.append(line)
            nb.json_lines.append(json_line)
        nb.cells.append((index, start, len(lines)))
    return nb


class NotebookScanner(Scanner):
    """``*.ipynb``: the Python scanner's checks over the code cells, located in the JSON."""

    name = KIND_NOTEBOOK

    def claims(self, relpath: str, filename: str) -> bool:
        return filename.endswith(".ipynb")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        facts = FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        try:
            data = json.loads(source.text)
        except json.JSONDecodeError as exc:
            raise ScanError(f"invalid notebook JSON: {exc.msg}", exc.lineno, exc.colno) from None
        except RecursionError:
            raise ScanError("invalid notebook JSON: nesting too deep", 1) from None
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            return facts
        mentions = _mentions_artifacts(source.text)
        if not _python_kernel(data) or not (mentions or "install" in source.text):
            return facts
        nb = _notebook_python(_source_pieces(data, source.text))
        findings: list[Finding] = []
        shell = ShellAudit()
        if nb.shell:
            # `!pip install x` / `%pip install x` install into the kernel as written.
            script = "\n".join(text for text, _line in nb.shell)
            line_map = [line for _text, line in nb.shell]
            shell = audit_shell(script, source, ctx, line_map=line_map)
            findings.extend(shell.findings)
        if mentions:
            findings.extend(self._code(source, ctx, nb))
        installs = bool(shell.pins or shell.findings or shell.includes)
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.CONCRETE if installs else Role.OTHER,
            findings=tuple(findings),
            pins=shell.pins,
            includes=shell.includes,
            indexes=shell.indexes,
        )

    @staticmethod
    def _code(source: SourceFile, ctx: ScanContext, nb: _NotebookSource) -> list[Finding]:
        findings: list[Finding] = []
        body: list[ast.stmt] = []
        for index, start, count in nb.cells:
            cell_text = "\n".join(nb.python[start - 1 : start - 1 + count]) + "\n"
            try:
                parsed = parse_bounded(cell_text, source.path, _mentions_artifacts)
            except (SyntaxError, ValueError) as exc:
                line, _column, message = _syntax_position(exc, cell_text)
                json_line = nb.json_lines[min(start - 1 + line - 1, len(nb.json_lines) - 1)]
                # A scratch cell that does not parse is common in notebooks: it is noted,
                # and the other cells are still audited.
                msg = f"notebook cell {index + 1} is not valid Python and was skipped: {message}"
                findings.append(finding("RP001", msg, source.at(json_line), severity=Severity.NOTE))
                continue
            tree = parsed.tree
            ast.increment_lineno(tree, start - 1)
            body.extend(tree.body)

            def cell_line(line: int, start: int = start) -> Location:
                index = min(start - 1 + line - 1, len(nb.json_lines) - 1)
                return source.at(nb.json_lines[index])

            findings.extend(_skipped_note(parsed.skipped, cell_line, f"notebook cell {index + 1}"))
        module = ast.Module(body=body, type_ignores=[])
        try:
            analysis = _Analysis(module, lines=nb.python, parent_dir=source.parent, files=ctx.files)
            hits = analysis.run()
        except RecursionError:
            note = over_limit(source.at(1), "notebook: nested too deep to analyse; not audited")
            return [*findings, note]
        findings.extend(_located(hits, source, nb.json_lines))
        return findings


def _python_kernel(data: dict[str, Any]) -> bool:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return True
    for section, key in (("kernelspec", "language"), ("language_info", "name")):
        block = metadata.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            return str(block[key]).lower().startswith("python")
    return True


_CONFIG_SUFFIXES = (".yaml", ".yml", ".json", ".toml")
_CONFIG_SKIP_NAMES = frozenset(
    {
        "package.json", "package-lock.json", "composer.json", "lerna.json", "bower.json",
        "renovate.json", ".renovaterc.json", "pnpm-lock.yaml", ".pre-commit-config.yaml",
        ".pre-commit-hooks.yaml", "mkdocs.yml", "mkdocs.yaml", ".readthedocs.yml",
        ".readthedocs.yaml", "codecov.yml", ".codecov.yml", "Cargo.toml", "rust-toolchain.toml",
        ".yamllint.yml", ".yamllint.yaml", "ruff.toml", ".ruff.toml", "pyrightconfig.json",
        "devcontainer.json", ".devcontainer.json", "dependabot.yml", "dependabot.yaml",
        "typos.toml", "_typos.toml", ".markdownlint.json", ".markdownlint.yaml", "vercel.json",
        "netlify.toml", "deno.json", "turbo.json", "nx.json", "angular.json", "repro.toml",
    }
)  # fmt: skip
_CONFIG_SKIP_PREFIXES = ("tsconfig", "jsconfig", ".eslintrc", ".prettierrc", ".stylelintrc")
_CONFIG_SKIP_DIRS = (".github/", ".gitlab/", ".vscode/", ".idea/", ".devcontainer/", ".repro/")
_CONFIG_TRIGGERS = (
    "latest",
    "LATEST",
    "Latest",
    "models:/",
    "ersion",
    "ERSION",
    "evision",
    "EVISION",
)


class ConfigScanner(Scanner):
    """YAML, JSON and TOML configuration: data/schema versions, /latest/ data paths and
    registry aliases. A config that does not parse is not reported: a Helm template or a
    JSON-with-comments file is not ours to judge."""

    name = KIND_CONFIG

    def claims(self, relpath: str, filename: str) -> bool:
        if not filename.endswith(_CONFIG_SUFFIXES) or filename in _CONFIG_SKIP_NAMES:
            return False
        if filename.startswith(_CONFIG_SKIP_PREFIXES) or "baseline" in filename:
            return False  # baselines (ours, detect-secrets...) are registers, not ML config
        return not any(relpath.startswith(d) or f"/{d}" in relpath for d in _CONFIG_SKIP_DIRS)

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        facts = FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        text = source.text
        if len(text) > MAX_CONFIG_CHARS or not any(t in text for t in _CONFIG_TRIGGERS):
            return facts
        leaves = _config_leaves(source.name, text)
        if leaves is None:
            return facts
        hits = _leaf_hits(leaves)
        if not hits:
            return facts
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.OTHER,
            findings=tuple(_located(hits, source)),
        )


def _config_leaves(filename: str, text: str) -> list[_Leaf] | None:
    """Every scalar of the file, or None when it does not parse."""
    try:
        if filename.endswith(".json"):
            json.loads(text)
            return list(_json_leaves(text))
        if filename.endswith(".toml"):
            return list(_toml_leaves(text, tomllib.loads(text)))
        return list(_yaml_leaves(_yaml.compose_all(text)))
    except (ValueError, yaml.YAMLError, RecursionError):
        return None  # JSONDecodeError and TOMLDecodeError are ValueErrors


# --- DVC -----------------------------------------------------------------------------------


def _dvc_str(node: yaml.Node) -> str | None:
    """A scalar as DVC names generated stages with it (YAML 1.2 booleans, str() of numbers)."""
    value = _yaml.scalar(node)
    if value is None or "${" in value:
        return None
    if node.tag == _yaml.BOOL_TAG:
        return value.lower() if value.lower() in {"true", "false"} else value
    try:
        if node.tag == _yaml.INT_TAG:
            return str(int(value.replace("_", ""), 0))
        if node.tag == _yaml.FLOAT_TAG:
            return str(float(value.replace("_", "")))
    except ValueError:
        return None
    return value


_MAX_GENERATED = 10_000


def _generated_names(name: str, stage: yaml.Node) -> list[str] | None:
    """The names DVC gives the stages a ``foreach`` or ``matrix`` stage generates (as
    dvc/parsing does: ``name@item``, ``name@key``, ``name@<index>`` for composite items,
    ``name@a-b`` for a matrix); None when they come from params (``${...}``)."""
    fields = {key: value for key, _k, value in _yaml.mapping_pairs(stage)}
    if "foreach" in fields:
        data = fields["foreach"]
        if isinstance(data, yaml.MappingNode):
            keys = [_dvc_str(k) for k, _v in data.value]
            return None if None in keys else [f"{name}@{k}" for k in keys]
        if isinstance(data, yaml.SequenceNode):
            items = list(data.value)
            if any(not isinstance(item, yaml.ScalarNode) for item in items):
                return [f"{name}@{i}" for i in range(len(items))]
            values = [_dvc_str(item) for item in items]
            return None if None in values else [f"{name}@{v}" for v in values]
        return None
    matrix = fields.get("matrix")
    if not isinstance(matrix, yaml.MappingNode):
        return None
    axes: list[list[str]] = []
    total = 1
    for key_node, values in matrix.value:
        key = _dvc_str(key_node)
        if key is None or not isinstance(values, yaml.SequenceNode):
            return None
        axis: list[str] = []
        for i, item in enumerate(values.value):
            text = f"{key}{i}" if not isinstance(item, yaml.ScalarNode) else _dvc_str(item)
            if text is None:
                return None
            axis.append(text)
        total *= max(len(axis), 1)
        if total > _MAX_GENERATED:
            return None
        axes.append(axis)
    return [f"{name}@{'-'.join(combo)}" for combo in itertools.product(*axes)]


class DvcScanner(Scanner):
    """``dvc.yaml`` (stages), ``dvc.lock`` (their recorded state) and ``*.dvc`` files."""

    name = "dvc"

    def claims(self, relpath: str, filename: str) -> bool:
        return filename in {"dvc.yaml", "dvc.lock"} or (
            filename.endswith(".dvc") and len(filename) > len(".dvc")
        )

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        root = _yaml.compose(source.text)
        if source.name == "dvc.yaml":
            return self._pipeline(source, root)
        if source.name == "dvc.lock":
            return self._lock(source, root)
        return self._dvc_file(source, root)

    def _pipeline(self, source: SourceFile, root: yaml.Node | None) -> FileFacts:
        findings: list[Finding] = []
        sync: dict[str, str] = {}
        if root is not None and not isinstance(root, yaml.MappingNode):
            raise ScanError("dvc.yaml must be a mapping", _yaml.node_line(root))
        for key, key_node, value in _yaml.mapping_pairs(root):
            if key != "stages":
                continue
            if value.tag == _yaml.NULL_TAG:
                break
            if not isinstance(value, yaml.MappingNode):
                msg = "dvc.yaml: stages must be a mapping of stage names"
                findings.append(finding("RP001", msg, source.at(_yaml.node_line(key_node))))
                break
            stages: list[tuple[str, int, list[str] | None]] = []
            left = _MAX_GENERATED
            for name, name_node, stage in _yaml.mapping_pairs(value):
                fields = {k for k, _n, _v in _yaml.mapping_pairs(stage)}
                if "foreach" in fields or "matrix" in fields:
                    names = _generated_names(name, stage) if left >= 0 else None
                    left -= len(names or ())
                    if left < 0 and names is not None:
                        # one anchored matrix stage aliased a thousand times: stop generating
                        msg = (
                            f"dvc.yaml: stages generate over {_MAX_GENERATED} names; those "
                            "past the limit are not checked against dvc.lock"
                        )
                        findings.append(over_limit(source.at(_yaml.node_line(name_node)), msg))
                        names = None
                    stages.append((name, _yaml.node_line(name_node), names))
                else:
                    stages.append((name, _yaml.node_line(name_node), [name]))
            if stages:
                sync[_SYNC_STAGES] = json.dumps(stages)
                sync[_SYNC_STAGES_LINE] = str(_yaml.node_line(key_node))
        return FileFacts(
            path=source.path,
            kind=KIND_DVC_YAML,
            role=Role.OTHER,
            findings=tuple(findings),
            sync=sync,
        )

    def _lock(self, source: SourceFile, root: yaml.Node | None) -> FileFacts:
        if root is not None and not isinstance(root, yaml.MappingNode):
            raise ScanError("dvc.lock must be a mapping", _yaml.node_line(root))
        top = {key: value for key, _k, value in _yaml.mapping_pairs(root)}
        # Lock schema 2.0 keeps stages under `stages:`; the 1.0 format has them at the top.
        table = top.get("stages") if "schema" in top else root
        names = [key for key, _k, _v in _yaml.mapping_pairs(table)]
        return FileFacts(
            path=source.path,
            kind=KIND_DVC_LOCK,
            role=Role.OTHER,
            sync={_SYNC_LOCKED: json.dumps(sorted(names))},
        )

    def _dvc_file(self, source: SourceFile, root: yaml.Node | None) -> FileFacts:
        findings: list[Finding] = []
        top = {key: value for key, _k, value in _yaml.mapping_pairs(root)}
        deps = top.get("deps")
        items = _yaml.sequence_items(deps)
        for dep in items:
            entry = {key: (key_node, value) for key, key_node, value in _yaml.mapping_pairs(dep)}
            path_value = _yaml.scalar(entry["path"][1]) if "path" in entry else None
            shown = path_value or source.name
            if "repo" in entry:
                repo_key, repo = entry["repo"]
                fields = {key: value for key, _k, value in _yaml.mapping_pairs(repo)}
                url = _yaml.scalar(fields["url"]) if "url" in fields else None
                locked = _yaml.scalar(fields["rev_lock"]) if "rev_lock" in fields else None
                if locked is not None and _HEX40.match(locked):
                    continue
                rev = _yaml.scalar(fields["rev"]) if "rev" in fields else None
                origin = f" from {url}" if url else ""
                if locked is None:
                    detail = f" (rev {rev!r} can move)" if rev else ""
                    message = f"{shown} is imported{origin} without rev_lock{detail}"
                else:
                    message = f"{shown} is imported{origin} with rev_lock {locked!r}, not a commit"
                findings.append(
                    finding(
                        "RP602",
                        message,
                        source.at(_yaml.node_line(repo_key)),
                        subject=url or shown,
                        fix=f"dvc update --rev {_COMMIT_FIX} {source.name}",
                    )
                )
            elif path_value is not None and "://" in path_value:
                if any(k in entry for k in ("md5", "etag", "checksum", "version_id")):
                    continue
                line = _yaml.node_line(entry["path"][0])
                findings.append(
                    finding(
                        "RP602",
                        f"{path_value} is imported with no checksum or etag recorded",
                        source.at(line),
                        subject=path_value,
                        fix=f"dvc update {source.name}",
                    )
                )
        return FileFacts(
            path=source.path, kind=KIND_DVC_FILE, role=Role.OTHER, findings=tuple(findings)
        )

    def cross_check(self, facts: Mapping[str, FileFacts], ctx: ScanContext) -> Iterable[Finding]:
        for pipeline in facts.values():
            if pipeline.kind != KIND_DVC_YAML or _SYNC_STAGES not in pipeline.sync:
                continue
            stages: list[tuple[str, int, list[str] | None]] = json.loads(
                pipeline.sync[_SYNC_STAGES]
            )
            directory = posixpath.dirname(pipeline.path)
            lock_path = posixpath.join(directory, "dvc.lock") if directory else "dvc.lock"
            lock = facts.get(lock_path)
            if lock is None and lock_path not in ctx.files:
                line = int(pipeline.sync.get(_SYNC_STAGES_LINE, "1"))
                yield finding(
                    "RP605",
                    "dvc.yaml defines stages but has no dvc.lock beside it",
                    Location(path=pipeline.path, line=line),
                    subject=lock_path,
                    fix="dvc repro, then commit dvc.lock",
                )
                continue
            if lock is None or _SYNC_LOCKED not in lock.sync:
                continue  # the lock could not be read: it has its own RP001
            locked = set(json.loads(lock.sync[_SYNC_LOCKED]))
            for name, line, expected in stages:
                yield from _missing_stages(pipeline.path, name, line, expected, locked)


def _missing_stages(
    path: str, name: str, line: int, expected: list[str] | None, locked: set[str]
) -> Iterator[Finding]:
    location = Location(path=path, line=line)
    if expected is None:
        # Generated from params (${...}): which names exist is only known to DVC; require at
        # least one of them in the lock.
        if any(entry.startswith(f"{name}@") for entry in locked):
            return
        expected = [f"{name}@..."]
    for stage in expected:
        if stage not in locked:
            yield finding(
                "RP605",
                f"stage {stage} is missing from dvc.lock",
                location,
                subject=stage,
                fix=f"dvc repro {name}",
            )


def artifact_scanners() -> list[Scanner]:
    """The artifact scanners; DVC first, so that its YAML is not taken for plain config."""
    return [DvcScanner(), PythonScanner(), NotebookScanner(), ConfigScanner()]
