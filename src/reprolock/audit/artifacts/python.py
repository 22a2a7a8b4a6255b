"""Python: model and dataset fetches without a revision, registry aliases and data paths
in code (RP601-RP604). Python is read with :mod:`ast` only: nothing in the audited repository
is imported, compiled to bytecode or run."""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from reprolock.audit.artifacts.dataref import (
    judge_reference,
    shared_table,
    spark_read,
    written_table,
)
from reprolock.audit.artifacts.references import (
    DATA_URI,
    MODELS_URI,
    WANDB_FULL_LATEST,
    Hit,
    data_ref_hits,
    latest_hit,
    latest_uris,
    located,
    registry_hits,
    wandb_hit,
)
from reprolock.audit.budget import over_limit
from reprolock.audit.interface import FileFacts, Role, ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.pysource import Skipped, parse_bounded
from reprolock.audit.revisions import COMMIT_FIX, revision_problem
from reprolock.dataapis import DATA_APIS, DataApi, Form, Match
from reprolock.model import Finding, Location
from reprolock.rules import finding

KIND_PYTHON = "python"


def mentions_artifacts(text: str) -> bool:
    """Whether ``text`` holds one of :data:`_PY_TRIGGERS` (searched by their anchors)."""
    for anchor, triggers in _TRIGGER_GROUPS:
        if anchor in text and (not triggers or any(token in text for token in triggers)):
            return True
    return False


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
    if isinstance(target, ast.Name):  # the usual target, and all ast.walk would find in it
        yield target.id
        return
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

    def mapping(self, expr: ast.expr, scope: _Scope, depth: int = 0) -> dict[str, ast.expr] | None:
        """The keys of a dict written out (``{"revision": r}``, ``dict(revision=r)``, or a name
        bound once to one), each with its value expression; None when the keys cannot all be
        known from the text."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, ast.Dict):
            out: dict[str, ast.expr] = {}
            for key, value in zip(expr.keys, expr.values, strict=True):
                if not isinstance(key, ast.Constant) or not isinstance(key.value, str):
                    return None  # a ** inside, or a computed key
                out[key.value] = value
            return out
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Name)
            and expr.func.id == "dict"
            and not expr.args
            and all(kw.arg is not None for kw in expr.keywords)
        ):
            return {str(kw.arg): kw.value for kw in expr.keywords}
        if isinstance(expr, ast.Name):
            found = self.binding(expr.id, scope)
            return self.mapping(found[0], found[1], depth + 1) if found is not None else None
        return None

    def binding(self, name: str, scope: _Scope) -> tuple[ast.expr, _Scope] | None:
        """The one expression ``name`` is bound to where ``scope`` sees it, and that scope."""
        current: _Scope | None = scope
        first = True
        while current is not None:
            if name in current.globals:
                current = self.module
            if current.kind == "class" and not first:
                current = current.parent
                continue
            if name in current.bindings and name not in current.nonlocals:
                values = current.bindings[name]
                if len(values) != 1 or values[0] is None:
                    return None
                return values[0], current
            first = False
            current = current.parent
        return None

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
    if "\r" not in text:
        return text.split("\n")  # the same lines, without the pattern
    return _LINE_BREAK.split(text)


# Packages whose imported names, under any local alias, may fetch something.
_FETCHING_PACKAGES = (
    "transformers", "huggingface_hub", "torch", "datasets", "dvc", "wandb", "timm",
    "open_clip", "sentence_transformers", "diffusers", "peft", "mlflow", "modelscope", "nlp",
    "kagglehub", "tensorflow_datasets", "clearml", "deltalake",
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


_CALL_AFTER_NAME = re.compile(r"[\s\\]*(?:\(|\.[\s\\]*[^\W\d])")
"""What follows a name that is called or whose attribute is read."""


class _Calls:
    """Text that calls one of ``names`` or reads an attribute of it (``sd(``, ``hub.load``):
    the only way code can reach an API through a name an import gave it. A name met only in
    a docstring or a comment ("the pipeline") is not a use; nor is one inside a longer word
    (``my_sd(``)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def found_in(self, text: str) -> bool:
        r"""Whether ``text`` holds such a use: a match of
        ``\b(?:names)[\s\\]*(?:\(|\.[\s\\]*[^\W\d])``, looked for name by name. Each
        module imports names of its own: one pattern of them was compiled per module, which
        cost more than the searches (0.2 ms a module)."""
        after = _CALL_AFTER_NAME.match
        for name in self.names:
            start = text.find(name)
            while start >= 0:
                # \b as re sees it: a word character on one side of the start and not the other.
                before = start > 0 and _is_word(text[start - 1])
                if _is_word(text[start]) is not before and after(text, start + len(name)):
                    return True
                start = text.find(name, start + 1)
        return False


def _is_word(char: str) -> bool:
    r"""What ``\w`` matches in a str pattern."""
    return char.isalnum() or char == "_"


class _Relevance:
    """What makes a definition of one module worth walking (:func:`_worth_walking`): the
    triggers of :func:`mentions_artifacts`, ``global``/``nonlocal``, and a call of a name an
    import gave (:class:`_Calls`). A definition's lines are lines of its module, so only what
    the module holds at all is looked for in each: most modules that pass the prefilter hold
    one or two triggers of the many, and no imported name in most of their definitions."""

    def __init__(self, lines: Sequence[str], names: tuple[str, ...]) -> None:
        text = "\n".join(lines)
        self.words = (*_triggers_in(text), *(w for w in ("global", "nonlocal") if w in text))
        used = tuple(name for name in names if name in text)
        self.calls = _Calls(used) if used else None


def _triggers_in(text: str) -> tuple[str, ...]:
    """The triggers ``text`` holds (:func:`mentions_artifacts` searched them all)."""
    found: list[str] = []
    for anchor, triggers in _TRIGGER_GROUPS:
        if anchor in text:
            found.extend(token for token in triggers or (anchor,) if token in text)
    return tuple(found)


def _worth_walking(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    lines: Sequence[str],
    relevance: _Relevance,
) -> bool:
    """Whether a definition's text could hold anything judged, or rebind an outer name.

    Walking every node of every function is most of the cost of the audit in a large
    repository; a function whose text names no fetching API and uses no imported alias of
    one (:class:`_Calls`), and declares nothing ``global``/``nonlocal``, cannot fetch
    anything, nor change what an outer name means.
    """
    if not relevance.words and relevance.calls is None:
        return False
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or start
    segment = "\n".join(lines[start - 1 : end])
    if any(word in segment for word in relevance.words):
        return True
    return relevance.calls is not None and relevance.calls.found_in(segment)


# Fields the walk does not descend: markers with nothing under them (Load/Store, operators: a
# third of the nodes of a module, and none of them a scope, a string, a binding or a call), and
# the names, numbers and flags, which are never nodes (a Name then has nothing to look at).
_NOT_DESCENDED = frozenset(
    {"ctx", "op", "ops", "id", "attr", "name", "arg", "asname", "module", "level", "kind",
     "conversion", "is_async", "simple", "rest", "tag", "type_comment"}
)  # fmt: skip
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(kind: type) -> tuple[str, ...]:
    """The fields of a node type the walk descends (none for what is not a node: a None or a
    name among the items of a list field, such as ``Dict.keys`` or ``Global.names``)."""
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        names = getattr(kind, "_fields", ())
        fields = _CHILD_FIELDS[kind] = tuple(f for f in names if f not in _NOT_DESCENDED)
    return fields


def _children_in(node: ast.AST) -> list[ast.AST]:
    """:func:`ast.iter_child_nodes` without the markers, in the same order."""
    out: list[ast.AST] = []
    for name in _child_fields(type(node)):
        value = getattr(node, name, None)
        if isinstance(value, list):
            out.extend([item for item in value if isinstance(item, ast.AST)])
        elif isinstance(value, ast.AST):
            out.append(value)
    return out


class _ScopeEnd(ast.AST):
    """Put on the walk's stack under the nodes of an inner scope: the nodes under it are in
    ``scope`` again."""

    _fields = ()

    def __init__(self, scope: _Scope) -> None:
        super().__init__()
        self.scope = scope


# The node types the walk does more with than descend (scopes, strings, bindings, calls).
_SPECIAL_NODES = frozenset(
    {ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
     ast.DictComp, ast.GeneratorExp, ast.Expr, ast.JoinedStr, ast.Constant, ast.Call, _ScopeEnd}
)  # fmt: skip


def _walk_module(tree: ast.Module, lines: Sequence[str] | None = None) -> _Walked:
    """One pass over the tree: scopes and their bindings, calls, string literals, imports.
    With the source ``lines``, definitions that cannot matter are not descended into.

    Most nodes are only descended into: their children go on the stack as they are (the
    items of a list field unfiltered: what is not a node has no children), in the order of
    :func:`ast.iter_child_nodes`, and the scope they are in is the walk's current one. An
    inner scope's nodes go on last, over a :class:`_ScopeEnd`.
    """
    walked = _Walked(module=_Scope(parent=None, kind="module"))
    relevance = _Relevance(lines, _local_import_names(tree)) if lines is not None else None
    scope = walked.module
    stack: list[ast.AST] = [tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    fields_of = _CHILD_FIELDS.get
    special, binding, node_type = _SPECIAL_NODES, _BINDING_TYPES, ast.AST
    while stack:
        node = pop()
        kind = type(node)
        if kind not in special:
            if kind in binding:
                _bind(node, scope, walked)
            fields = fields_of(kind)
            for name in _child_fields(kind) if fields is None else fields:
                value = getattr(node, name, None)
                if value.__class__ is list:
                    extend(value)
                elif isinstance(value, node_type):
                    push(value)
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                walked.strings.append((node, scope))
            continue
        if isinstance(node, ast.Call):
            walked.calls.append((node, scope))
            extend(_children_in(node))
            continue
        if isinstance(node, _ScopeEnd):
            scope = node.scope
            continue
        if (
            relevance is not None
            and lines is not None
            and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and not _worth_walking(node, lines, relevance)
        ):
            scope.bind(node.name, None)
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = _Scope(parent=scope, kind="function")
            if not isinstance(node, ast.Lambda):
                scope.bind(node.name, None)
                extend(node.decorator_list)
                if node.returns is not None:
                    push(node.returns)
            args = node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    inner.bind(arg.arg, None)
                    if arg.annotation is not None:
                        push(arg.annotation)
            extend([d for d in (*args.defaults, *args.kw_defaults) if d is not None])
            push(_ScopeEnd(scope))
            extend(node.body if isinstance(node.body, list) else [node.body])
            scope = inner
            continue
        if isinstance(node, ast.ClassDef):
            scope.bind(node.name, None)
            inner = _Scope(parent=scope, kind="class")
            extend([*node.decorator_list, *node.bases])
            extend([kw.value for kw in node.keywords])
            push(_ScopeEnd(scope))
            extend(node.body)
            scope = inner
            continue
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            inner = _Scope(parent=scope, kind="function")
            for generator in node.generators:
                for name in _target_names(generator.target):
                    inner.bind(name, None)
            push(_ScopeEnd(scope))
            extend(_children_in(node))
            scope = inner
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            continue  # docstrings and bare strings document; they fetch nothing
        if isinstance(node, ast.JoinedStr):
            walked.strings.append((node, scope))
            extend([part.value for part in node.values if isinstance(part, ast.FormattedValue)])
            continue
        extend(_children_in(node))  # an expression statement
    return walked


# Every node type _bind reads: one check lets the many others (names, calls, operators) pass.
_BINDING_NODES = (
    ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.NamedExpr,
    ast.withitem, ast.ExceptHandler, ast.Delete, ast.MatchAs, ast.MatchStar, ast.MatchMapping,
    ast.Global, ast.Nonlocal, ast.Import, ast.ImportFrom,
)  # fmt: skip
_BINDING_TYPES = frozenset(_BINDING_NODES)


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


# Text that must appear for anything in a Python file to be judged; files without any are
# not parsed at all (parsing is most of the cost in a large monorepo). Names matched by a
# table of their own come from it; for the rest, a test reads Analysis._call and DATA_APIS and
# checks that the plainest call of every API they match holds one of these, so that a name
# added to a table is never silently passed over.
_PY_TRIGGERS = (
    "from_pretrained",  # also from_pretrained_keras
    *sorted(_HUB_CALLS),
    *sorted(_ENCODER_CLASSES),
    "transformers",  # pipeline() counts only when imported from transformers
    "hub.load",
    "torch.hub",
    "hf-hub:",  # create_model() and its kin judge only hf-hub names
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
    # the data APIs of reprolock.dataapis
    "kagglehub",
    "tensorflow_datasets",
    "clearml",
    "DeltaTable",
    "read_delta",
    "scan_delta",
    '"delta"',
    "'delta'",
    '"iceberg"',
    "'iceberg'",
    '"hudi"',
    "'hudi'",
    "get_latest_version",  # also get_latest_versions
    "get_model_version_by_alias",
    "lakefs://",
    "/versions/latest",
)


# Substrings that several triggers share, longest-hitting first. A text without an anchor holds
# none of the triggers that contain it, so most files are passed over after 16 searches of
# their text rather than one per trigger (the prefilter's cost on a large tree was as much as
# parsing what passes it). Every trigger holds one (a test checks).
_TRIGGER_ANCHORS = (
    "from_pretrained", "hub", "ransformer", "latest", "elta", "model", "ncoder", "artifact",
    "_dataset", "iceberg", "hudi", "dvc", "DVCFileSystem", "snapshot_download", "clearml",
    "lakefs://",
)  # fmt: skip


def _trigger_groups(
    anchors: Sequence[str], triggers: Sequence[str]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each anchor with the triggers it is the first anchor of; no triggers where the anchor
    is itself the only one (finding it is enough)."""
    groups: list[tuple[str, tuple[str, ...]]] = []
    left = list(dict.fromkeys(triggers))
    for anchor in anchors:
        mine = tuple(token for token in left if anchor in token)
        left = [token for token in left if anchor not in token]
        if not mine:
            msg = f"prefilter anchor {anchor!r} is in no trigger"
            raise AssertionError(msg)
        groups.append((anchor, () if mine == (anchor,) else mine))
    if left:
        msg = f"prefilter triggers without an anchor: {left}"
        raise AssertionError(msg)
    return tuple(groups)


_TRIGGER_GROUPS = _trigger_groups(_TRIGGER_ANCHORS, _PY_TRIGGERS)


_IMPORTED_APIS = {c: api for api in DATA_APIS if api.match is Match.IMPORT for c in api.calls}
_METHOD_APIS = {c: api for api in DATA_APIS if api.match is Match.METHOD for c in api.calls}


def _last_name(dotted: str) -> str:
    return dotted.rsplit(".", 1)[-1]


# The last name of every call Analysis._call judges: the attribute called (``x.load``), or what
# the name called was imported as (``sd`` -> ``snapshot_download``). A call of any other name
# is passed over before its arguments are read (most calls of real code: print, len, torch.cat).
# A test reads Analysis._call for the names it spells out.
_JUDGED_NAMES = frozenset(
    {"from_pretrained", "from_pretrained_keras", "load", "DVCFileSystem", "artifacts_download",
     *_HUB_CALLS, *_ENCODER_CLASSES, *_CREATE_MODEL,
     *map(_last_name, (*_PIPELINES, *_LOAD_DATASET, *_DVC_READERS, *_IMPORTED_APIS, *_METHOD_APIS))}
)  # fmt: skip

_TEMPLATE_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
"""Jinja/cookiecutter markup, which makes a template, not Python."""
_SAVES = frozenset({"save_pretrained", "save_model", "save"})
"""Methods that write a model to the directory they are given."""
_MUTATORS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "__setitem__"})
"""dict methods that change it in place."""


@lru_cache(maxsize=4)
def directories(files: frozenset[str]) -> frozenset[str]:
    """Every directory that holds a discovered file (root-relative)."""
    out: set[str] = set()
    for path in files:
        parent = posixpath.dirname(path)
        while parent and parent not in out:
            out.add(parent)
            parent = posixpath.dirname(parent)
    return frozenset(out)


class Analysis:
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
        self.hits: list[Hit] = []
        self.judged: set[int] = set()
        self._saved: list[tuple[str, _Scope, int]] = []
        self._mutated_names: frozenset[str] | None = None
        self._written_tables: frozenset[str] | None = None

    def run(self) -> list[Hit]:
        self._saved = self._saved_paths()
        aliases = self.walked.aliases
        for call, scope in self.walked.calls:
            func = call.func
            if isinstance(func, ast.Attribute):
                last = func.attr
            elif isinstance(func, ast.Name):
                last = _last_name(aliases.get(func.id) or func.id)  # as _call qualifies it
            else:
                continue  # a call of a call or of an item: _call judges none
            if last not in _JUDGED_NAMES:
                continue
            if any(isinstance(a, ast.Starred) for a in call.args):
                continue  # positions unknown
            spread = self._spread(call, scope)
            if spread is None:
                continue  # **kwargs that may carry the revision
            self._call(spread, scope)
        for node, scope in self.walked.strings:
            if id(node) not in self.judged:
                self._string(node, scope)
        return self.hits

    # helpers

    def _spread(self, call: ast.Call, scope: _Scope) -> ast.Call | None:
        """``call`` with each ``**name`` replaced by the keywords of the dict literal ``name``
        is bound to (``from_pretrained(m, **kwargs)``); None when one cannot be known: a
        parameter, a dict built at run time, or one changed in place (``kwargs.update``)."""
        if all(kw.arg is not None for kw in call.keywords):
            return call
        keywords: list[ast.keyword] = []
        for kw in call.keywords:
            if kw.arg is not None:
                keywords.append(kw)
                continue
            if isinstance(kw.value, ast.Name) and kw.value.id in self._mutated:
                return None
            entries = self.names.mapping(kw.value, scope)
            if entries is None:
                return None
            keywords.extend(
                ast.copy_location(ast.keyword(arg=key, value=value), kw)
                for key, value in entries.items()
            )
        spread = ast.Call(func=call.func, args=call.args, keywords=keywords)
        return ast.copy_location(spread, call)

    @property
    def _mutated(self) -> frozenset[str]:
        """Names a method changes in place somewhere (``kwargs.update(...)``,
        ``kwargs.setdefault(...)``): their literal is not what a call receives."""
        if self._mutated_names is None:
            self._mutated_names = frozenset(
                call.func.value.id
                for call, _ in self.walked.calls
                if isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.attr in _MUTATORS
            )
        return self._mutated_names

    def _saved_paths(self) -> list[tuple[str, _Scope, int]]:
        """Paths a model is saved to (``model.save_pretrained("out")``, ``trainer.save_model``),
        with the scope and line of the save: loading one of them later is local."""
        out: list[tuple[str, _Scope, int]] = []
        for call, scope in self.walked.calls:
            func = call.func
            if not isinstance(func, ast.Attribute) or func.attr not in _SAVES:
                continue
            value = self.names.value(
                self._arg(call, 0, "save_directory", "output_dir", "path"), scope
            )
            if value:
                out.append((value.rstrip("/"), scope, call.lineno))
        return out

    def _written_earlier(self, value: str, call: ast.Call, scope: _Scope) -> bool:
        """True when ``value`` names a path saved to earlier in this scope (or at module level,
        as a notebook or script runs top to bottom)."""
        wanted = value.rstrip("/")
        for path, saved_in, line in self._saved:
            if line > call.lineno or (saved_in is not scope and saved_in.kind != "module"):
                continue
            if wanted == path or wanted.startswith(path + "/"):
                return True
        return False

    def _qualified(self, parts: list[str]) -> str:
        root = self.walked.aliases.get(parts[0])
        return ".".join([root, *parts[1:]] if root else parts)

    def _local_dir(self, value: str) -> bool:
        if not self.files:
            return False
        dirs = directories(self.files)
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
            Hit(rule=rule, message=message, line=line, column=column, subject=subject, fix=fix)
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
        return None if value is None else revision_problem(value)

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
        else:
            self._data_call(call, scope, parts, qualified)

    def _model(self, call: ast.Call, scope: _Scope, model: ast.expr | None, api: str) -> None:
        value = self.names.value(model, scope)
        if value is None or not self._hub_id(value) or self._written_earlier(value, call, scope):
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
        self._add(call, "RP601", message, value, f'revision="{COMMIT_FIX}"')

    def _torch_hub(self, call: ast.Call, scope: _Scope) -> None:
        source = self.names.value(self._arg(call, None, "source"), scope)
        if source == "local":
            return
        value = self.names.value(self._arg(call, 0, "repo_or_dir", "github"), scope)
        match = _TORCH_HUB_REPO.match(value) if value is not None else None
        if match is None or self._local_dir(match.group("repo")):
            return
        repo, ref = match.group("repo"), match.group("ref")
        fix = f'"{repo}:{COMMIT_FIX}"'
        if ref is None:
            message = f"torch.hub repository {repo} is loaded without a ref (its default branch)"
        else:
            problem = revision_problem(ref)
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
            fix = f'snapshot_download("{repo}", revision="{COMMIT_FIX}") + "local-dir:<path>"'
            self._add(call, "RP601", message, repo, fix)
            return
        repo, _, revision = repo.partition("@")
        fix = f"hf-hub:{repo}@{COMMIT_FIX}"
        if not revision:
            message = (
                f"model {repo} is fetched by {qualified.rsplit('.', 1)[-1]} without a revision"
            )
        else:
            problem = revision_problem(revision)
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
        self._add(call, "RP602", message, value, f'revision="{COMMIT_FIX}"')

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
        self._add(call, "RP602", message, subject, f'rev="{COMMIT_FIX}"')

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

    # the data APIs of the table (reprolock.dataapis)

    @property
    def _written(self) -> frozenset[str]:
        """Tables this file writes (``.save(p)``, ``write_deltalake(p, ...)``)."""
        if self._written_tables is None:
            found: set[str] = set()
            for call, scope in self.walked.calls:
                target = written_table(call)
                value = self.names.value(target, scope) if target is not None else None
                if value:
                    found.add(value.strip().rstrip("/"))
            self._written_tables = frozenset(found)
        return self._written_tables

    def _imports(self, package: str) -> bool:
        return any(
            target is not None and (target == package or target.startswith(package + "."))
            for target in self.walked.aliases.values()
        )

    def _data_call(self, call: ast.Call, scope: _Scope, parts: list[str], qualified: str) -> None:
        api = _IMPORTED_APIS.get(qualified)
        written = ".".join(parts)
        if api is None and parts[-1] == "load" and len(parts) > 1:
            read = spark_read(call)
            if read is not None:
                api, options = read
                self._data_api(call, scope, api, "spark.read", options=options)
            return
        if api is None:
            api = _METHOD_APIS.get(parts[-1]) if len(parts) > 1 else None
            if api is None or (api.package and not self._imports(api.package)):
                return
        self._data_api(call, scope, api, written)

    def _data_api(
        self,
        call: ast.Call,
        scope: _Scope,
        api: DataApi,
        written: str,
        *,
        options: frozenset[str] = frozenset(),
    ) -> None:
        """A call of a row of the table: reported when what it reads resolves to text, no
        pinning argument is given, and the reference itself names no fixed version."""
        ref = self._arg(call, api.ref.position, *api.ref.names)
        value = self.names.value(ref, scope)
        if value is None or not value.strip():
            return
        for pin in api.pins:
            if any(name.lower() in options for name in pin.names):
                return
            given = self._arg(call, pin.position, *pin.names)
            if given is not None and not (isinstance(given, ast.Constant) and given.value is None):
                return
        if api.shared_only and (
            not shared_table(value.strip()) or value.strip().rstrip("/") in self._written
        ):
            return
        judged = judge_reference(api, value.strip())
        if judged is None:
            return
        if ref is not None:
            self.judged.add(id(ref))
        if api.form is Form.WANDB:
            alias = judged.alias
            hit = wandb_hit(value.strip(), alias, 0)
            self._add(call, hit.rule, hit.message, hit.subject, hit.fix or "")
            return
        message = f"{api.what} {value.strip()} is read by {written} {api.unpinned}"
        fix = api.fix.format(ref=value.strip(), base=judged.base)
        self._add(call, api.rule, message, judged.base, fix)

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
        if text.startswith("models:/") and MODELS_URI.fullmatch(text):
            self.hits.extend(registry_hits(text, line, column))
        elif text.startswith(("lakefs://", "http")):
            self.hits.extend(data_ref_hits(text, line, column))
        elif "latest" in text.lower():
            if DATA_URI.fullmatch(text):
                self.hits.extend(latest_hit(uri, line, column) for uri in latest_uris(text))
            elif WANDB_FULL_LATEST.match(text):
                self.hits.append(wandb_hit(text, "latest", line, column))


def skipped_note(
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


def syntax_position(exc: SyntaxError | ValueError, text: str) -> tuple[int, int, str]:
    if isinstance(exc, SyntaxError):
        return exc.lineno or 1, exc.offset or 1, exc.msg
    nul = text.find("\0")
    return (text.count("\n", 0, nul) + 1 if nul >= 0 else 1), 1, str(exc)


class PythonScanner(Scanner):
    """``*.py``: model and dataset fetches without a revision, registry aliases, data paths."""

    name = KIND_PYTHON
    extensions = frozenset({"py"})

    def claims(self, relpath: str, filename: str) -> bool:
        return filename.endswith(".py")

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        facts = FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        if not mentions_artifacts(source.text) or "{{" in source.path or "{%" in source.path:
            return facts  # cookiecutter/Jinja template directories are not Python yet
        try:
            parsed = parse_bounded(source.text, source.path, mentions_artifacts)
        except (SyntaxError, ValueError) as exc:
            line, column, message = syntax_position(exc, source.text)
            if _TEMPLATE_MARKUP.search(source.text):
                # Jinja or cookiecutter markup: a template rendered into Python later, which
                # Python itself never reads as it is. Not understood, so a note.
                what = f"a template with {{{{ }}}} or {{% %}} markup, not Python: {message}"
                note = finding("RP002", what, source.at(line, column))
                return replace(facts, findings=(note,))
            # The file names a model or dataset API (it passed the pre-check) and cannot be
            # read, so the audit of it is incomplete: that is RP001 at its default severity.
            raise ScanError(f"invalid Python syntax: {message}", line, column) from None
        lines = _source_lines(source.text)
        notes = skipped_note(parsed.skipped, source.at)
        try:
            analysis = Analysis(parsed.tree, lines=lines, parent_dir=source.parent, files=ctx.files)
            hits = analysis.run()
        except RecursionError:
            note = over_limit(source.at(1), "Python: nested too deep to analyse; not audited")
            return replace(facts, findings=(note,))
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.OTHER,
            findings=(*located(hits, source), *notes),
        )
