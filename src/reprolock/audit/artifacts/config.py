"""Configuration (YAML, JSON, TOML): data and schema versions, ``/latest/`` data paths and
registry aliases (RP603, RP604)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from reprolock.audit.artifacts.python import directories as _directories
from reprolock.audit.artifacts.references import (
    WANDB_REF,
    Hit,
    data_ref_hits,
    floating_url,
    latest_hit,
    latest_segment,
    latest_uris,
    located,
    model_hit,
    registry_hits,
    wandb_hit,
)
from reprolock.audit.interface import FileFacts, Role, ScanContext, Scanner, SourceFile
from reprolock.audit.revisions import COMMIT_FIX, hub_repository, revision_problem
from reprolock.formats import yaml as _yaml
from reprolock.formats.json import json_scalars
from reprolock.formats.toml import TomlDocument, locate

KIND_CONFIG = "config"

MAX_CONFIG_CHARS = 2_000_000
"""Larger JSON/YAML/TOML files are data, not configuration, and are not read."""

_TOKEN_SPLIT = re.compile(r"[\s'\"=,;()<>\[\]]+")
_SCHEME = re.compile(r"^([A-Za-z][\w+.-]*):/")

_UNPINNED_VALUES = frozenset({"latest", "*", "current", "newest", "head", ""})
_VERSION_KEYS = frozenset({"schemaversion", "datasetversion", "dataversion", "datasetrevision"})
_DATA_PARENTS = frozenset({"dataset", "datasets", "data", "schema", "dataschema"})
_PARENT_VERSION_KEYS = frozenset({"version", "revision"})


def _latest_paths(text: str) -> list[str]:
    """Like :func:`latest_uris`, and also plain paths (``/mnt/data/latest/``,
    ``${data_dir}/latest/train``): in config every such value is a data location."""
    out = latest_uris(text)
    for token in _TOKEN_SPLIT.split(text):
        if "/" not in token or "latest" not in token.lower() or token in out:
            continue
        if _SCHEME.match(token) or token.startswith("/dbfs/"):
            continue  # URIs: judged above (web URLs are documentation, not data)
        if latest_segment(token.rstrip(".,;:)]}")):
            out.append(token)
    return out


def _norm_key(key: str) -> str:
    return re.sub(r"[-_.\s]", "", key).lower()


def _version_key_hit(keys: Sequence[str], value: str | None, line: int) -> Hit | None:
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
    return Hit(
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


def _leaf_hits(leaves: Iterable[_Leaf]) -> list[Hit]:
    out: list[Hit] = []
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
            out.extend(registry_hits(value, leaf.line))
        if value.lstrip().startswith(("lakefs://", "http")):
            out.extend(data_ref_hits(value.strip(), leaf.line))
        if "latest" in value.lower():
            out.extend(latest_hit(path, leaf.line) for path in _latest_paths(value))
            key = _norm_key(leaf.keys[-1]) if leaf.keys else ""
            stripped = value.strip()
            named = "artifact" in key or "wandb" in key
            if named and stripped.endswith(":latest") and WANDB_REF.match(stripped):
                out.append(wandb_hit(stripped, "latest", leaf.line))
    return out


MODEL_KEYS = frozenset(
    {"modelname", "modelid", "modelnameorpath", "pretrainedmodelnameorpath", "basemodel",
     "basemodelnameorpath", "basemodelid", "tokenizername", "tokenizernameorpath", "pretrained"}
)  # fmt: skip
"""Config keys (normalised: no ``_``, ``-``, ``.``, lower case) whose value a loader passes to
``from_pretrained`` or a serving launcher: ``model_name: facebook/opt-6.7b``."""
_SERVING_CONFIGS = frozenset({"model-config.yaml", "model_config.yaml", "model-config.yml"})
"""TorchServe's per-model config, where ``model:`` too names what the handler loads."""
_REVISION_KEYS = ("revision", "modelrevision", "commit", "commithash")
_RECORD_DIRS = frozenset(
    {"results", "outputs", "output", "runs", "logs", "wandb", "mlruns", "lightning_logs",
     "reports", "benchmarks_results"}
)  # fmt: skip
"""Directories of run records: a model id there says what a past run used, not what a
loader will fetch."""
_SNAPSHOT = re.compile(r"(?:^|/)snapshots/([0-9a-fA-F]{40})(?:/|$)")


def _revision_beside(leaf: _Leaf, by_parent: dict[tuple[str, ...], list[_Leaf]]) -> str | None:
    """The revision written next to a model key (``revision:``, ``model_revision:``,
    ``base_model_revision:``), or the commit of a hub snapshot a sibling path points at
    (``model_path: model/models--org--m/snapshots/<40 hex>``: the loader reads that); None
    when there is neither."""
    key = _norm_key(leaf.keys[-1])
    stem = key.removesuffix("nameorpath").removesuffix("name").removesuffix("id")
    for sibling in by_parent.get(leaf.keys[:-1], []):
        other = _norm_key(sibling.keys[-1]) if sibling.keys else ""
        if other in _REVISION_KEYS or other == f"{stem}revision":
            return sibling.value or ""
        snapshot = _SNAPSHOT.search(sibling.value or "") if sibling.is_string else None
        if snapshot is not None:
            return snapshot.group(1)
    return None


def _model_hits(
    leaves: Sequence[_Leaf], filename: str, directories: frozenset[str]
) -> Iterator[Hit]:
    """RP601 for hub models named in config keys with no pinned revision beside them."""
    by_parent: dict[tuple[str, ...], list[_Leaf]] = {}
    for leaf in leaves:
        by_parent.setdefault(leaf.keys[:-1], []).append(leaf)
    keys = MODEL_KEYS | ({"model"} if filename in _SERVING_CONFIGS else frozenset())
    for leaf in leaves:
        if not leaf.keys or not leaf.is_string or leaf.value is None:
            continue
        if _norm_key(leaf.keys[-1]) not in keys or not hub_repository(leaf.value, directories):
            continue
        revision = _revision_beside(leaf, by_parent)
        problem = revision_problem(revision) if revision else None
        if revision and problem is None:
            continue
        where = ".".join(leaf.keys[-2:])
        yield model_hit(leaf.value.strip(), where, leaf.line, problem=problem)


_KEDRO_CATALOG = re.compile(r"(?:^|/)catalog[\w.-]*\.ya?ml$|(?:^|/)catalog/[^/]+\.ya?ml$")
"""Kedro's data catalog: ``conf/<env>/catalog.yml`` and ``conf/<env>/catalog/*.yml``."""


def _kedro_hits(leaves: Sequence[_Leaf]) -> Iterator[Hit]:
    """RP602 for a catalog entry (a mapping with ``type`` and ``filepath``) that reads a file
    served by a git host at a branch or tag. Local paths, and object-store paths without a
    moving segment, are the project's own data and are not judged."""
    entries: dict[tuple[str, ...], dict[str, _Leaf]] = {}
    for leaf in leaves:
        if leaf.keys and leaf.keys[-1] in {"type", "filepath"} and leaf.is_string:
            entries.setdefault(leaf.keys[:-1], {})[leaf.keys[-1]] = leaf
    for keys, entry in entries.items():
        kind, path = entry.get("type"), entry.get("filepath")
        if kind is None or path is None or not keys or path.value is None:
            continue
        floating = floating_url(path.value)
        if floating is None:
            continue
        ref, problem = floating
        url = path.value.strip()
        yield Hit(
            rule="RP602",
            message=f"catalog dataset {keys[-1]} ({kind.value}) is read from {url}, at {problem}",
            line=path.line,
            subject=keys[-1],
            fix=url.replace(f"/{ref}/", f"/{COMMIT_FIX}/", 1),
        )


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
_MODEL_TRIGGERS = (
    "model_name",
    "model_id",
    "model-name",
    "model-id",
    "modelName",
    "modelId",
    "base_model",
    "pretrained",
    "tokenizer_name",
)
"""Text that must appear for the model keys (:data:`MODEL_KEYS`) to be looked for."""
_CONFIG_TRIGGERS = (
    *_MODEL_TRIGGERS,
    "latest",
    "LATEST",
    "Latest",
    "models:/",
    "lakefs://",
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
    extensions = frozenset({"yaml", "yml", "json", "toml"})

    def claims(self, relpath: str, filename: str) -> bool:
        if not filename.endswith(_CONFIG_SUFFIXES) or filename in _CONFIG_SKIP_NAMES:
            return False
        if filename.startswith(_CONFIG_SKIP_PREFIXES) or "baseline" in filename:
            return False  # baselines (ours, detect-secrets...) are registers, not ML config
        return not any(relpath.startswith(d) or f"/{d}" in relpath for d in _CONFIG_SKIP_DIRS)

    def scan(self, source: SourceFile, ctx: ScanContext) -> FileFacts:
        facts = FileFacts(path=source.path, kind=self.name, role=Role.OTHER)
        text = source.text
        if len(text) > MAX_CONFIG_CHARS:
            return facts
        kedro = "filepath" in text and _KEDRO_CATALOG.search(source.path) is not None
        name = source.name
        if (
            not kedro
            and not any(t in text for t in _CONFIG_TRIGGERS)
            and name not in _SERVING_CONFIGS
        ):
            return facts
        leaves = _config_leaves(name, text)
        if leaves is None:
            return facts
        hits = _leaf_hits(leaves)
        if kedro:
            hits.extend(_kedro_hits(leaves))
        recorded = any(part in _RECORD_DIRS for part in source.path.split("/")[:-1])
        serving = name in _SERVING_CONFIGS
        if (serving or any(t in text for t in _MODEL_TRIGGERS)) and not recorded:
            hits.extend(_model_hits(leaves, name, _directories(ctx.files)))
        if not hits:
            return facts
        return FileFacts(
            path=source.path,
            kind=self.name,
            role=Role.OTHER,
            findings=tuple(located(hits, source)),
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
