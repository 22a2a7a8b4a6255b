"""DVC: ``dvc.yaml`` stages missing from ``dvc.lock`` (RP605) and ``.dvc`` imports without a
locked revision or checksum (RP602)."""

from __future__ import annotations

import itertools
import json
import posixpath
from collections.abc import Iterable, Iterator, Mapping

import yaml

from reprolock.audit.budget import over_limit
from reprolock.audit.interface import FileFacts, Role, ScanContext, ScanError, Scanner, SourceFile
from reprolock.audit.revisions import COMMIT_FIX, HEX40
from reprolock.formats import yaml as _yaml
from reprolock.model import Finding, Location
from reprolock.rules import finding

KIND_DVC_YAML = "dvc.yaml"
KIND_DVC_LOCK = "dvc.lock"
KIND_DVC_FILE = ".dvc file"

_SYNC_STAGES = "dvc.stages"
_SYNC_STAGES_LINE = "dvc.stages.line"
_SYNC_LOCKED = "dvc.locked"


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
    extensions = frozenset({"yaml", "lock", "dvc"})

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
                if locked is not None and HEX40.match(locked):
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
                        fix=f"dvc update --rev {COMMIT_FIX} {source.name}",
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
